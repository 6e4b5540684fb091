#!/bin/sh
# Fetch the newest message of the demo's "merchant" POP3 account over
# TLS (curl, checking the server against the demo CA), decrypt it with
# the merchant's key, verify the gateway's signature, and print it.
# Usage: scripts/fetch-newest-order.sh [user] [host:port]
set -eu
cd "$(dirname "$0")/.."
demo=spool/demo
user=${1:-merchant}
server=${2:-localhost:9950}
auth="$user:$(cat "$demo/merchant.password")"
n=$(curl -sS --cacert "$demo/ca.crt" -u "$auth" "pop3s://$server/" |
    tail -n 1 | cut -d ' ' -f 1)
if [ -z "$n" ]; then
	echo "no messages for $user yet" >&2
	exit 1
fi
curl -sS --cacert "$demo/ca.crt" -u "$auth" "pop3s://$server/$n" |
    openssl cms -decrypt -inkey "$demo/merchant.key" \
	-recip "$demo/merchant.crt" |
    openssl cms -verify -CAfile "$demo/ca.crt"
