#!/bin/sh
# Make sure the Debian packages formdrop needs are here: `deps.sh run`
# those to build and run the demo (make run), `deps.sh` those and the
# test tools (make check).  As root, install what is missing; otherwise
# print the exact apt-get line and fail.
set -eu

# Build and run: compiler, libfcgi (FastCGI devkit), OpenSSL, inih,
# libcrypt, libmicrohttpd, libseccomp; curl for the demo's
# fetch-newest-order.sh.
BUILD="gcc make pkg-config libc6-dev libfcgi-dev libssl-dev openssl
libinih-dev libcrypt-dev libmicrohttpd-dev libseccomp-dev curl"
# Tests: cmocka, cgi-fcgi, spawn-fcgi, nginx, Apache (apache2-bin: the
# server and mod_proxy_fcgi, without the apache2 service) and lighttpd
# for the contrib examples, strace (to see that they write no form to
# disk), curl, pytest and cryptography, real POP3 clients (mpop,
# fetchmail), Dovecot, gpgsm, sslscan, Chromium; cppcheck and mandoc for
# make lint.
TEST="libfcgi-bin libcmocka-dev spawn-fcgi nginx apache2-bin lighttpd strace curl
python3 python3-pytest python3-cryptography mpop fetchmail dovecot-pop3d gpgsm
sslscan chromium cppcheck mandoc"

case "${1:-check}" in
run)	PACKAGES=$BUILD ;;
check)	PACKAGES="$BUILD $TEST" ;;
*)	echo "usage: deps.sh [run | check]" >&2; exit 2 ;;
esac

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
# Node.js and npm (for the browser test's playwright-core) may come from
# elsewhere than Debian (NodeSource ships npm inside nodejs).
if [ "${1:-check}" = check ]; then
	command -v node >/dev/null 2>&1 || missing="$missing nodejs"
	command -v npm >/dev/null 2>&1 || missing="$missing npm"
fi
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
