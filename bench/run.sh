#!/bin/sh
# formdrop benchmark suite: `make bench` (full), `make bench-quick`
# (QUICK=1 ... --smoke, what `make check` runs).  Installs the Debian
# peers when run as root; otherwise prints the apt-get line and the
# groups that need a missing peer are skipped.  Everything is bounded:
# the whole run is killed after BENCH_TIMEOUT seconds.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
export PYTHONDONTWRITEBYTECODE=1

smoke=0
for a in "$@"; do [ "$a" = "--smoke" ] && smoke=1; done
if [ $smoke = 1 ]; then limit=${BENCH_TIMEOUT:-240}
elif [ -n "${QUICK:-}" ]; then limit=${BENCH_TIMEOUT:-600}
else limit=${BENCH_TIMEOUT:-1800}; fi

# Peers: wrk (load), fcgiwrap (classic CGI), dovecot-core (dovecot-lda)
# and dovecot-pop3d (POP3 peer), gnuplot-nox (plot), nginx, curl, and the
# headers the C peers build with.
PACKAGES="wrk fcgiwrap dovecot-core dovecot-pop3d gnuplot-nox nginx curl
openssl gcc libc6-dev libfcgi-dev libssl-dev"
missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ] && [ -z "${BENCH_NO_INSTALL:-}" ]; then
	if [ "$(id -u)" -eq 0 ]; then
		echo "bench: installing:$missing" >&2
		export DEBIAN_FRONTEND=noninteractive
		# shellcheck disable=SC2086
		timeout 600 apt-get install -y --no-install-recommends $missing \
		    >&2 || { timeout 300 apt-get update >&2 &&
		    timeout 600 apt-get install -y --no-install-recommends \
		    $missing >&2; } ||
		    echo "bench: install failed; groups needing them are skipped" >&2
	else
		echo "bench: missing peers; as root run:" >&2
		echo "  apt-get install -y$missing" >&2
		echo "bench: groups that need them are skipped" >&2
	fi
fi

# --foreground: the suite stops its own processes on SIGTERM.
exec timeout --foreground -k 30 "$limit" "$PYTHON" "$here/bench.py" "$@"
