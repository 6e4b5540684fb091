#!/bin/sh
# Make the demo PKI in DIR (default spool/demo), once: a CA, the merchant
# (RSA-2048) and a second staff member (EC P-256) who read the orders, an
# escrow/backup recipient (RSA-3072), the gateway's signing certificate
# (EC P-256), and the merchant's key as PKCS#12 for a mail client.
# Files that exist are kept.  For demos and tests only: the keys are not
# protected by a passphrase (except inside the PKCS#12).
set -eu
scripts=$(cd "$(dirname "$0")" && pwd)
dir=${1:-spool/demo}
days=${DEMO_CERT_DAYS:-825}
mkdir -p "$dir"
cd "$dir"
umask 077

ext() {	# name usage -> extension file
	cat > "$1.ext" <<EXT
basicConstraints = critical, CA:FALSE
keyUsage = critical, $2
extendedKeyUsage = emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = email:$3
EXT
}

if [ ! -f ca.crt ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt \
	    -days "$days" -subj "/O=formdrop demo/CN=formdrop demo CA" \
	    -addext "basicConstraints=critical,CA:TRUE" \
	    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

issue() {	# name keyspec usage email cn
	[ -f "$1.crt" ] && return 0
	case $2 in
	rsa:*) openssl genpkey -algorithm RSA \
	    -pkeyopt "rsa_keygen_bits:${2#rsa:}" -out "$1.key" 2>/dev/null ;;
	ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$1.key" 2>/dev/null ;;
	esac
	openssl req -new -key "$1.key" -subj "/O=formdrop demo/CN=$5" \
	    -out "$1.csr" 2>/dev/null
	ext "$1" "$3" "$4"
	openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key \
	    -CAcreateserial -days "$days" -extfile "$1.ext" -out "$1.crt" \
	    2>/dev/null
	rm -f "$1.csr" "$1.ext"
}

issue merchant rsa:2048 "digitalSignature,keyEncipherment" \
    orders@formdrop.localhost "Demo merchant"
issue staff ec "digitalSignature,keyAgreement" \
    staff@formdrop.localhost "Demo staff"
issue escrow rsa:3072 "keyEncipherment" \
    escrow@formdrop.localhost "Demo escrow (backup)"
issue gateway ec "digitalSignature" \
    forms@formdrop.localhost "Demo gateway"
# The POP3 server's TLS certificate, for localhost.
if [ ! -f pop3.crt ]; then
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out pop3.key 2>/dev/null
	openssl req -new -key pop3.key -subj "/O=formdrop demo/CN=localhost" \
	    -out pop3.csr 2>/dev/null
	cat > pop3.ext <<EXT
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
EXT
	openssl x509 -req -in pop3.csr -CA ca.crt -CAkey ca.key \
	    -CAcreateserial -days "$days" -extfile pop3.ext -out pop3.crt \
	    2>/dev/null
	rm -f pop3.csr pop3.ext
fi
# The gateway sends its chain with each signature.
[ -f gateway-chain.crt ] || cat gateway.crt ca.crt > gateway-chain.crt

if [ ! -f merchant.p12 ]; then
	[ -f merchant.p12.password ] ||
	    openssl rand -hex 8 > merchant.p12.password
	sh "$scripts/p12-export.sh" merchant.key merchant.crt ca.crt \
	    "Demo merchant" merchant.p12.password merchant.p12
fi
chmod 644 ca.crt merchant.crt staff.crt escrow.crt gateway.crt \
    gateway-chain.crt pop3.crt
