#!/bin/sh
# Make sure the Debian packages formdrop builds and tests with are here.
# As root, install what is missing; otherwise print the exact apt-get
# line and fail.  Used by `make run` and `make check`.
set -eu

# Build: compiler, libfcgi (FastCGI devkit), OpenSSL, inih, libcrypt,
# libmicrohttpd.  Tests: cmocka, cgi-fcgi, nginx, curl, pytest, real
# POP3 clients (mpop, fetchmail), Dovecot, gpgsm, sslscan, Chromium.
PACKAGES="gcc make pkg-config libc6-dev libfcgi-dev libfcgi-bin libssl-dev
openssl libinih-dev libcrypt-dev libmicrohttpd-dev libseccomp-dev
libcmocka-dev nginx curl
python3 python3-pytest mpop fetchmail dovecot-pop3d gpgsm sslscan chromium"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
# Node.js and npm (for the browser test's playwright-core) may come from
# elsewhere than Debian (NodeSource ships npm inside nodejs).
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "formdrop needs these Debian packages:$missing" >&2
	echo "install them as root with:" >&2
	echo "  apt-get install -y$missing" >&2
	exit 1
fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! apt-get install -y --no-install-recommends $missing; then
	apt-get update
	apt-get install -y --no-install-recommends $missing
fi
