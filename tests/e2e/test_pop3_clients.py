"""
Real POP3 clients from Debian against formdrop-pop3d, on Maildirs filled
by the form handler (real submissions through nginx):

  mpop       implicit TLS with USER/PASS, STLS with AUTH PLAIN, certificate
             checked against the demo CA (GnuTLS), delivery to a Maildir,
             keep on (then only_new: nothing new the second time, by UIDL)
             and keep off (the server's Maildir is emptied).
  fetchmail  implicit TLS and STLS with --sslcertck against the demo CA
             (OpenSSL), an MDA writing one file per message, keep + uidl
             (nothing new the second time) and nokeep.

Every downloaded message equals the stored file byte for byte once the
client's own trace header (Received:) at the top is set aside; the
client's line ends are LF like the store's.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import e2e_helpers as h
import pop3_helpers as ph
from pop3_helpers import make_pop3d, pki  # noqa: F401  (fixtures)

MPOP = shutil.which("mpop")
FETCHMAIL = shutil.which("fetchmail")
CLIENT_HEADERS = {"received", "delivered-to", "return-path", "status",
                  "x-uidl"}


@pytest.fixture(scope="module")
def delivered(stack):
    return ph.fill_from_handler(stack, stack.root)


@pytest.fixture
def box(tmp_root, delivered):
    """A private copy of the handler's messages (the clients delete)."""
    md = tmp_root / "served"
    ph.copy_delivered(delivered, md)
    return md


def split_client_prefix(got, originals):
    """(added header lines, original) for one downloaded message: the
    message must be one of the originals, preceded only by whole header
    fields the client adds."""
    for raw in originals:
        if got.endswith(raw):
            prefix = got[:len(got) - len(raw)]
            names = re.findall(rb"^([!-9;-~]+):", prefix, re.M)
            for line in prefix.split(b"\n")[:-1]:
                assert re.match(rb"^([!-9;-~]+:|[ \t])", line), (
                    f"not a header line added by the client: {line!r}")
            assert {n.decode().lower() for n in names} <= CLIENT_HEADERS, \
                names
            return prefix, raw
    raise AssertionError("downloaded message matches no stored file:\n" +
                         got[:600].decode(errors="replace"))


def check_downloads(files, delivered):
    originals = [d.raw for d in delivered]
    got = [Path(p).read_bytes() for p in files]
    matched = [split_client_prefix(g, originals)[1] for g in got]
    # No message lost or duplicated.
    assert sorted(matched) == sorted(originals)
    return got


def run(cmd, env, timeout=60):
    p = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env,
                       stdin=subprocess.DEVNULL)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


# ------------------------------------------------------------------ mpop

def mpoprc(path, srv, out, *, starttls, auth, keep, uidls, only_new=False):
    port = srv.port if starttls else srv.tls_port
    path.write_text(f"""\
defaults
tls on
tls_trust_file {srv.pki.ca}
tls_starttls {'on' if starttls else 'off'}
timeout 20

account formdrop
host 127.0.0.1
port {port}
user shop
auth {auth}
passwordeval echo {ph.PASSWORD}
delivery maildir {out}
keep {'on' if keep else 'off'}
only_new {'on' if only_new else 'off'}
uidls_file {uidls}
""")
    os.chmod(path, 0o600)
    return path


@pytest.mark.skipif(MPOP is None, reason="mpop not installed")
def test_mpop(make_pop3d, box, tmp_root, delivered):
    srv = make_pop3d({"shop": box})
    env = h.clean_env(HOME=str(tmp_root))
    out = h.make_maildir(tmp_root / "mpop-out")
    uidls = tmp_root / "mpop-uidls"
    # 1. Implicit TLS, USER/PASS, keep on.
    rc_file = mpoprc(tmp_root / "mpoprc", srv, out, starttls=False,
                     auth="user", keep=True, uidls=uidls)
    rc, log = run([MPOP, "-C", str(rc_file), "--serverinfo", "formdrop"],
                  env)
    assert rc == 0, log
    assert "formdrop POP3 server ready" in log and "PIPELINING" in log
    assert "TLS1.3" in log or "TLS1.2" in log
    rc, log = run([MPOP, "-q", "-C", str(rc_file), "formdrop"], env)
    assert rc == 0, log + srv.log_text()
    files = [out / "new" / n for n in os.listdir(out / "new")]
    assert len(files) == len(delivered)
    got = check_downloads(files, delivered)
    assert all(g.startswith(b"Received: ") for g in got)
    assert len(os.listdir(box / "cur")) == len(delivered)     # kept
    # 2. only_new: the UIDLs are the same, so nothing new.
    rc_file = mpoprc(tmp_root / "mpoprc", srv, out, starttls=False,
                     auth="user", keep=True, uidls=uidls, only_new=True)
    rc, log = run([MPOP, "-C", str(rc_file), "formdrop"], env)
    assert rc == 0, log
    assert f"new: no messages, total: {len(delivered)} messages" in log, log
    assert len(os.listdir(out / "new")) == len(delivered)
    # 3. STLS with AUTH PLAIN, keep off: downloaded again, then deleted.
    out2 = h.make_maildir(tmp_root / "mpop-out2")
    rc_file = mpoprc(tmp_root / "mpoprc", srv, out2, starttls=True,
                     auth="plain", keep=False, uidls=uidls)
    rc, log = run([MPOP, "-d", "-C", str(rc_file), "formdrop"], env)
    assert rc == 0, log + srv.log_text()
    assert "--> STLS" in log and "--> AUTH PLAIN" in log, log[:3000]
    files = [out2 / "new" / n for n in os.listdir(out2 / "new")]
    check_downloads(files, delivered)
    assert os.listdir(box / "cur") == [] and os.listdir(box / "new") == []
    assert f"logout: {len(delivered)} retrieved, {len(delivered)} deleted" \
        in srv.log_text()


# ------------------------------------------------------------- fetchmail

def fetchmailrc(path, srv, mda_dir, *, starttls, keep, fetchall=True):
    port = srv.port if starttls else srv.tls_port
    # fetchmail checks names, not IP addresses: ask for "localhost" and
    # connect to 127.0.0.1.
    tls = ("sslproto 'TLS1.2+'" if starttls else "ssl sslproto 'TLS1.2+'")
    path.write_text(f"""\
set no bouncemail
poll localhost via 127.0.0.1 with proto POP3 service {port} auth password
    timeout 20 uidl
  user "shop" there with password "{ph.PASSWORD}" is "root" here
  {tls} sslcertck sslcertfile "{srv.pki.ca}" sslcommonname "localhost"
  {'fetchall' if fetchall else ''} no rewrite {'keep' if keep else 'nokeep'}
  mda "/bin/sh -c 'cat > {mda_dir}/msg.$$'"
""")
    os.chmod(path, 0o600)
    return path


@pytest.mark.skipif(FETCHMAIL is None, reason="fetchmail not installed")
def test_fetchmail(make_pop3d, box, tmp_root, delivered):
    srv = make_pop3d({"shop": box})
    home = tmp_root / "fmhome"
    home.mkdir(mode=0o700)
    env = h.clean_env(HOME=str(home), FETCHMAILHOME=str(home))
    base = [FETCHMAIL, "-N", "-d0", "--nosyslog", "-v"]
    # 1. STLS (required by sslcertck), keep.
    d1 = tmp_root / "fm1"
    d1.mkdir()
    rc_file = fetchmailrc(tmp_root / "fetchmailrc", srv, d1, starttls=True,
                          keep=True)
    rc, log = run(base + ["-f", str(rc_file)], env)
    assert rc == 0, log + srv.log_text()
    assert "POP3> STLS" in log and "POP3> PASS *" in log
    assert re.search(r"using protocol TLSv1\.[23]", log), log
    files = [d1 / n for n in os.listdir(d1)]
    assert len(files) == len(delivered), log
    got = check_downloads(files, delivered)
    assert all(g.startswith(b"Received: ") for g in got)
    assert len(os.listdir(box / "cur")) == len(delivered)
    # 2. Again without fetchall: by UIDL nothing is new (exit 1: no mail).
    rc_file = fetchmailrc(tmp_root / "fetchmailrc", srv, d1, starttls=True,
                          keep=True, fetchall=False)
    rc, log = run(base + ["-f", str(rc_file)], env)
    assert rc == 1, log
    assert f"{len(delivered)} messages ({len(delivered)} seen)" in log, log
    assert sorted(os.listdir(d1)) == sorted(f.name for f in files)
    # 3. Implicit TLS, nokeep, fresh ids: everything, then deleted.
    (home / ".fetchids").unlink(missing_ok=True)
    d2 = tmp_root / "fm2"
    d2.mkdir()
    rc_file = fetchmailrc(tmp_root / "fetchmailrc", srv, d2, starttls=False,
                          keep=False)
    rc, log = run(base + ["-f", str(rc_file)], env)
    assert rc == 0, log + srv.log_text()
    assert "POP3> STLS" not in log
    files = [d2 / n for n in os.listdir(d2)]
    check_downloads(files, delivered)
    assert os.listdir(box / "cur") == [] and os.listdir(box / "new") == []
