"""
formdrop-pop3d started as root binds its ports, reads its users file
(readable by root only) and its TLS key, then becomes the configured
user before it reads a client byte: its session processes run as that
user, which cannot regain root, and still serve the Maildir it owns.
"""

import os
import poplib
import pwd
import shutil
import subprocess
import time

import pytest

import e2e_helpers as h
import pop3_helpers as p3


def _status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split()[1:]
    return None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop from")
def test_sessions_run_as_the_configured_user(request):
    nobody = pwd.getpwnam("nobody")
    root = h.make_tmpdir("fd-priv-")
    request.addfinalizer(lambda: shutil.rmtree(root, True))
    pki = p3.get_pki()
    md = h.make_maildir(root / "md")
    (md / "new" / "1700000000.M1P1Q1R0.host,S=12,W=14").write_bytes(
        b"Subject: x\n\nhi\n")
    for dirpath, dirs, files in os.walk(md):
        os.chown(dirpath, nobody.pw_uid, nobody.pw_gid)
        for f in files:
            os.chown(os.path.join(dirpath, f), nobody.pw_uid, nobody.pw_gid)
    users = root / "users"
    users.write_text(p3.users_line("shop", md, root, absolute=True))
    os.chmod(users, 0o600)                      # root only
    port, tls_port = h.free_port(), h.free_port()
    conf = root / "pop3d.conf"
    conf.write_text(
        "[pop3]\n"
        f"listen = 127.0.0.1:{port}\nlisten_tls = 127.0.0.1:{tls_port}\n"
        f"certificate = {pki.cert}\nkey = {pki.key}\n"
        f"users = {users}\nuser = nobody\n")
    log = root / "pop3d.log"
    with open(log, "ab") as logf:
        proc = subprocess.Popen([str(p3.POP3D), "-f", "-c", str(conf)],
                                stdout=logf, stderr=logf,
                                env=h.clean_env(), start_new_session=True)
    request.addfinalizer(lambda: h.stop_process(proc))
    h.wait_until(lambda: h.can_connect_tcp("127.0.0.1", tls_port),
                 proc=proc, what="pop3d", log=log)
    # The listening process itself already dropped root.
    uids = _status(proc.pid, "Uid")
    assert uids == [str(nobody.pw_uid)] * 4, uids
    assert _status(proc.pid, "NoNewPrivs") == ["1"]
    c = poplib.POP3_SSL("127.0.0.1", tls_port, context=pki.context(),
                        timeout=10)
    c.user("shop")
    assert c.pass_(p3.PASSWORD).startswith(b"+OK")
    # The session process: the same unprivileged user.
    kids = subprocess.run(["pgrep", "-P", str(proc.pid)],
                          capture_output=True, text=True).stdout.split()
    assert kids, "no session process"
    assert _status(kids[0], "Uid") == [str(nobody.pw_uid)] * 4
    assert c.stat()[0] == 1
    assert b"hi" in b"\n".join(c.retr(1)[1])
    c.quit()
    # It moved the message into cur/ as nobody.
    time.sleep(0.2)
    cur = os.listdir(md / "cur")
    assert len(cur) == 1 and os.stat(md / "cur" / cur[0]).st_uid == \
        nobody.pw_uid
