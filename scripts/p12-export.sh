#!/bin/sh
# p12-export.sh KEY CERT CA NAME PASSFILE OUT: KEY and CERT (with the CA
# certificate) as PKCS#12 in OUT, protected by the password in PASSFILE.
# The older PBE-SHA1-3DES encoding: gpgsm 2.2 and older Outlook versions
# cannot read OpenSSL 3's default PBES2/AES.  gpgsm 2.2 also fails on
# about one file in thirty of these (it depends on the random salts: the
# same key and password exported again is read), so where gpgsm is
# installed the file is exported again until gpgsm imports it (5 tries).
set -eu
[ $# -eq 6 ] || { echo "usage: p12-export.sh KEY CERT CA NAME PASSFILE OUT" >&2; exit 2; }
key=$1 cert=$2 ca=$3 name=$4 passfile=$5 out=$6

# 0 if gpgsm imports OUT, or is not installed.
gpgsm_reads() {
	command -v gpgsm >/dev/null 2>&1 || return 0
	home=$(mktemp -d)
	echo allow-loopback-pinentry > "$home/gpg-agent.conf"
	if GNUPGHOME=$home gpgsm --batch --pinentry-mode loopback \
	    --passphrase-fd 0 --import "$out" < "$passfile" 2>&1 |
	    grep -q "secret keys imported: 1"
	then ok=0; else ok=1; fi
	GNUPGHOME=$home gpgconf --kill all 2>/dev/null || true
	rm -rf "$home"
	return $ok
}

for try in 1 2 3 4 5; do
	openssl pkcs12 -export -inkey "$key" -in "$cert" -certfile "$ca" \
	    -name "$name" -certpbe PBE-SHA1-3DES -keypbe PBE-SHA1-3DES \
	    -macalg sha1 -passout "file:$passfile" -out "$out"
	gpgsm_reads && exit 0
	echo "p12-export.sh: gpgsm cannot read $out (try $try); again" >&2
done
