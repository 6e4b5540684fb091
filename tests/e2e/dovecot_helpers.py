"""
Dovecot as a test peer: a standalone `dovecot -F -c CONF` instance in a
test folder, on a free loopback port, stopped by its PID; and reading a
whole maildrop through poplib.  Used by test_pop3_dovecot.py (Dovecot
serving the Maildir formdrop writes) and test_contrib_dovecot.py (the
shipped contrib configuration).
"""

import os
import pwd
import shutil
import subprocess

import pytest

import e2e_helpers as h
import pop3_helpers as ph

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def user(name):
    """The passwd entry of name, or None."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def require_dovecot():
    """Skip unless Dovecot can be started here (as root, with its
    users)."""
    if not os.path.exists(DOVECOT):
        pytest.skip("dovecot not installed")
    if not h.is_root():
        pytest.skip("dovecot is started as root here")
    for u in ("nobody", "dovenull", "dovecot"):
        if user(u) is None:
            pytest.skip(f"no user {u}")


class Dovecot:
    """dovecot -F with the configuration conf(port) returns, written to
    root/dovecot.conf; start() retries on another port if it is taken."""

    def __init__(self, root, conf):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        for d in ("run", "state"):
            (self.root / d).mkdir(exist_ok=True)
            os.chmod(self.root / d, 0o755)
        self.make_conf = conf
        self.conf = self.root / "dovecot.conf"
        self.log = self.root / "dovecot.log"
        self.proc = None
        self.port = None

    def start(self):
        try:
            return h.start_retrying(self._start_once, self.stop, tries=3)
        except RuntimeError as e:
            raise RuntimeError(
                f"{e}\n{h.read_log(self.root / 'stderr.log')}") from None

    def _start_once(self):
        self.port = h.free_port()
        self.conf.write_text(self.make_conf(self.port))
        with open(self.root / "stderr.log", "ab") as out:
            self.proc = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(self.conf)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                env=h.clean_env(), start_new_session=True)
        h.wait_until(lambda: h.can_connect_tcp("127.0.0.1", self.port),
                     proc=self.proc, what="dovecot pop3 port", log=self.log)
        return self

    def stop(self):
        if self.proc is not None:
            h.stop_process(self.proc)
            h.kill_group_leftovers(self.proc.pid)


def read_all(p):
    """[(uidl, LIST size, RETR bytes with CRLF)] of a logged-in poplib
    session."""
    out = []
    _, listing, _ = p.list()
    _, ulist, _ = p.uidl()
    uidls = {int(a): b.decode() for a, b in (l.split() for l in ulist)}
    for line in listing:
        n, size = (int(x) for x in line.split())
        _, lines, octets = p.retr(n)
        data = ph.poplib_data(lines)
        assert octets == len(data)
        out.append((uidls[n], size, data))
    return out
