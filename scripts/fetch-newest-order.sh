#!/bin/sh
# Fetch the newest message of the demo's "merchant" POP3 account over
# TLS (curl, checking the server against the demo CA), decrypt it with
# the merchant's key, verify the gateway's signature, and print it.
# Usage: scripts/fetch-newest-order.sh [user] [host:port]
# (the server defaults to $FORMDROP_DEMO_POP3S, as make run does).
set -eu
cd "$(dirname "$0")/.."
demo=spool/demo
user=${1:-merchant}
server=${2:-${FORMDROP_DEMO_POP3S:-127.0.0.1:9950}}
auth="$user:$(cat "$demo/merchant.password")"
message=$(mktemp)
trap 'rm -f "$message"' EXIT

# The LIST answer, one "N SIZE" line a message, CRLF-ended: the last one
# is the newest.  A failed connection or login fails here, not later.
if ! list=$(curl -sS --cacert "$demo/ca.crt" -u "$auth" "pop3s://$server/")
then
	echo "cannot list the messages of $user on $server" >&2
	exit 1
fi
n=$(printf '%s\n' "$list" | tr -d '\r' | sed '/^$/d' | tail -n 1 |
    cut -d ' ' -f 1)
if [ -z "$n" ]; then
	echo "no messages for $user yet" >&2
	exit 1
fi
curl -sS --cacert "$demo/ca.crt" -u "$auth" -o "$message" \
    "pop3s://$server/$n"
openssl cms -decrypt -inkey "$demo/merchant.key" \
    -recip "$demo/merchant.crt" -in "$message" |
    openssl cms -verify -CAfile "$demo/ca.crt"
