#!/bin/sh
# `make run`: the demo.  Sets up (once) a demo configuration and Maildirs
# in spool/demo/, then runs the form handler in the foreground on a
# FastCGI socket until Ctrl-C.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
demo="$root/spool/demo"

mkdir -p "$demo"
for box in contact orders; do
	mkdir -p "$demo/mail/$box/tmp" "$demo/mail/$box/new" "$demo/mail/$box/cur"
done
if [ ! -f "$demo/formdrop.conf" ]; then
	cat > "$demo/formdrop.conf" <<CONF
; Demo configuration written by make run.
[formdrop]
forms = $root/templates
hostname = formdrop.localhost

[mailbox contact]
maildir = mail/contact
from = formdrop demo <forms@formdrop.localhost>
to = Demo shop <shop@formdrop.localhost>

[mailbox orders]
maildir = mail/orders
from = formdrop demo <forms@formdrop.localhost>
to = Demo orders <orders@formdrop.localhost>
CONF
fi

cgi/formdrop.fcgi -c "$demo/formdrop.conf" --check
sock="$demo/fcgi.sock"
cat <<MSG

formdrop demo: the form handler serves FastCGI on
    $sock
(the development web server and POP3 server are not built yet, so the
demo is the handler alone).  Submit the contact form through it with:

    printf 'name=Ada&email=ada%%40example.com&message=Hello' |
      REQUEST_METHOD=POST PATH_INFO=/contact REMOTE_ADDR=127.0.0.1 \\
      CONTENT_TYPE=application/x-www-form-urlencoded CONTENT_LENGTH=44 \\
      cgi-fcgi -bind -connect $sock

and find the message in $demo/mail/contact/new/.
Ctrl-C stops the handler.

MSG
exec cgi/formdrop.fcgi -f -c "$demo/formdrop.conf" -s "unix:$sock"
