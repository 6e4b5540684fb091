#!/bin/sh
# `make run`: the whole system on loopback, in the foreground.
#
# Creates once, in spool/demo/: the demo PKI (CA, merchant, staff, escrow,
# gateway, POP3 server; the merchant's PKCS#12), the POP3 account
# "merchant" with a random password, a configuration and the Maildirs.
# Then runs formdrop-devserver (which starts formdrop.fcgi) on :8080 and
# formdrop-pop3d on :9950 (TLS) and :1100 (STLS) until Ctrl-C.
# A second run reuses all of it and keeps the mail already delivered.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
demo="$root/spool/demo"
HTTP=${FORMDROP_DEMO_HTTP:-127.0.0.1:8080}
POP3S=${FORMDROP_DEMO_POP3S:-127.0.0.1:9950}
POP3=${FORMDROP_DEMO_POP3:-127.0.0.1:1100}

mkdir -p "$demo"
scripts/demo-certs.sh "$demo" >/dev/null
for box in contact orders; do
	mkdir -p "$demo/mail/$box/tmp" "$demo/mail/$box/new" "$demo/mail/$box/cur"
done
if [ ! -f "$demo/merchant.password" ]; then
	(umask 077; openssl rand -hex 12 > "$demo/merchant.password")
fi
if [ ! -f "$demo/users" ]; then
	hash=$(pop3d/formdrop-pop3d --hash < "$demo/merchant.password")
	# The redirection inside the subshell, so that umask 077 applies to it.
	(umask 077
	 { echo "merchant:$hash::::mail/orders::"
	   echo "contact:$hash::::mail/contact::"; } > "$demo/users")
fi
# formdrop-pop3d refuses a users file every user may read; earlier runs
# made it 0644.
chmod 600 "$demo/users"
# Written on every run (with this run's ports); everything else is kept.
cat > "$demo/formdrop.conf" <<CONF
; Demo configuration written by make run on every start (edit
; scripts/run-demo.sh, not this file).  See formdrop.conf(5).
[formdrop]
forms = $root/templates
hostname = formdrop.localhost

[mailbox contact]
maildir = mail/contact
from = formdrop demo <forms@formdrop.localhost>
to = Demo shop <shop@formdrop.localhost>
recipients = merchant.crt staff.crt
escrow = escrow.crt
sign_cert = gateway-chain.crt
sign_key = gateway.key

[mailbox orders]
maildir = mail/orders
from = formdrop demo <forms@formdrop.localhost>
to = Demo orders <orders@formdrop.localhost>
recipients = merchant.crt staff.crt
escrow = escrow.crt
sign_cert = gateway-chain.crt
sign_key = gateway.key
encrypted_subject = Order {{id}} (encrypted)

[pop3]
listen_tls = $POP3S
listen = $POP3
certificate = pop3.crt
key = pop3.key
users = users
user = $(id -un)
CONF

# The handler's state folder, made now so that the check sees its owner.
mkdir -p -m 700 "$demo/state"
cgi/formdrop.fcgi -c "$demo/formdrop.conf" --check
pop3d/formdrop-pop3d -c "$demo/formdrop.conf" --check

pids=""
stop() {
	trap - INT TERM EXIT
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	echo "formdrop demo stopped."
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

pop3d/formdrop-pop3d -f -c "$demo/formdrop.conf" &
pop3d=$!
pids="$pids $pop3d"
devserver/formdrop-devserver -l "$HTTP" -r www -c "$demo/formdrop.conf" &
devserver=$!
pids="$pids $devserver"

# Both bind their ports before anything else and exit at once when one
# is taken: still running after a moment means serving.
failed() {
	echo "" >&2
	echo "formdrop demo: $1 stopped (see its message above)." >&2
	echo "If a port is taken, choose others, e.g.:" >&2
	echo "  FORMDROP_DEMO_HTTP=127.0.0.1:8081 FORMDROP_DEMO_POP3S=127.0.0.1:9951 \\" >&2
	echo "  FORMDROP_DEMO_POP3=127.0.0.1:1101 make run" >&2
	exit 1
}
sleep 1
kill -0 "$pop3d" 2>/dev/null || failed "formdrop-pop3d ($POP3S, $POP3)"
kill -0 "$devserver" 2>/dev/null || failed "formdrop-devserver ($HTTP)"

cat <<MSG

================================================================
formdrop demo is ready.

  Shop:      http://$HTTP/            (order and contact forms)
  POP3:      $POP3S with TLS, or $POP3 with STLS
             user merchant, password $(cat "$demo/merchant.password")
             (also in spool/demo/merchant.password)
  CA:        spool/demo/ca.crt  (trust it in the mail client)
  Your key:  spool/demo/merchant.p12, password $(cat "$demo/merchant.p12.password")
             (import it into Thunderbird or Outlook to read the orders)

Fetch and decrypt the newest order from a shell:

  scripts/fetch-newest-order.sh merchant $POP3S

Ctrl-C stops everything; the mail stays in spool/demo/mail/.
================================================================
MSG
# Until Ctrl-C, or until one of them stops: then the demo stops too.
while kill -0 "$pop3d" 2>/dev/null && kill -0 "$devserver" 2>/dev/null; do
	sleep 1
done
kill -0 "$pop3d" 2>/dev/null || failed "formdrop-pop3d"
failed "formdrop-devserver"
