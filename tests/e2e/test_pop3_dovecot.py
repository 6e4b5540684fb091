"""
Dovecot (dovecot-pop3d) serving the SAME Maildir after formdrop-pop3d has
served it: the handler's submissions (plus hand-written edge cases), read
first through formdrop-pop3d (which moved new/ -> cur/ with ":2,"), then
through Dovecot with the same users file (passwd-file, {CRYPT}$y$ from
`formdrop-pop3d --hash`).  Both servers list the same number of messages
with the same sizes and send the same bytes: nothing lost or duplicated.
Then formdrop-pop3d again, after Dovecot renamed the files (":2,S"): the
same UIDLs and bytes.

Dovecot runs as root in the foreground (-F) with its own base_dir,
state_dir and log in a temp folder; mail processes run as `nobody`
(Dovecot refuses UID 0), so the Maildir is handed to nobody first.
"""

import os
import grp
import shutil

import pytest

import dovecot_helpers as dh
import e2e_helpers as h
import pop3_helpers as ph
from pop3_helpers import make_pop3d, pki  # noqa: F401  (fixtures)


EXTRA = [
    b"Subject: dots\n\n.\n..\n.hidden\nend\n",
    b"Subject: no final newline\n\nfirst\n.last",
    b".first byte\nX: y\n\nbody\n",
]


@pytest.fixture(scope="module")
def dovecot_ok():
    dh.require_dovecot()


DOVECOT_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
instance_name = formdrop-e2e-{port}
protocols = pop3
listen = 127.0.0.1
ssl = no
# Loopback test only: USER/PASS without TLS.
disable_plaintext_auth = no
auth_mechanisms = plain
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = 0
mail_location = maildir:~
passdb {{
  driver = passwd-file
  args = scheme=CRYPT username_format=%u {users}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {users}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
"""


def test_dovecot_serves_the_same_maildir(dovecot_ok, stack, make_pop3d,
                                         tmp_root, request):
    md = stack.maildirs["contact"]
    delivered = [ph.submit_contact(stack, *m) for m in ph.CONTACT_MESSAGES]
    for i, raw in enumerate(EXTRA):
        ph.write_message(md, raw, secs=1700000000 + i)
    n_msgs = len(delivered) + len(EXTRA)
    nobody = dh.user("nobody")
    group = grp.getgrgid(nobody.pw_gid).gr_name
    # One users file for both servers: absolute Maildir ("home"), the
    # UID/GID Dovecot's mail processes take.
    users = tmp_root / "users"
    users.write_text(f"shop:{ph.password_hash()}:{nobody.pw_uid}:"
                     f"{nobody.pw_gid}::{md}::\n")
    os.chmod(users, 0o644)

    # 1. formdrop-pop3d.
    srv = make_pop3d({}, root=tmp_root / "fd", users_text=users.read_text())
    p = srv.login("shop")
    ours = dh.read_all(p)
    p.quit()
    p.close()
    assert len(ours) == n_msgs
    assert os.listdir(md / "new") == []
    raws = sorted(ph.pop3_octets(d.raw) for d in delivered) + \
        [ph.pop3_octets(r) for r in EXTRA]
    assert sorted(d for _, _, d in ours) == sorted(raws)
    for _, size, data in ours:
        assert size == len(data)
    srv.stop()

    # 2. Dovecot, on the same folder (handed to nobody).
    for dirpath, dirnames, filenames in os.walk(md):
        for n in dirnames + filenames:
            shutil.chown(os.path.join(dirpath, n), "nobody", group)
    shutil.chown(md, "nobody", group)
    dv = dh.Dovecot(tmp_root / "dovecot", lambda port: DOVECOT_CONF.format(
        root=tmp_root / "dovecot", port=port, users=users))
    request.addfinalizer(dv.stop)
    dv.start()
    p = ph.POP3("127.0.0.1", dv.port)
    try:
        assert p.getwelcome().startswith(b"+OK Dovecot")
        p.user("shop")
        assert p.pass_(ph.PASSWORD).startswith(b"+OK")
        count, total = p.stat()
        theirs = dh.read_all(p)
        p.quit()
    finally:
        p.close()
    log = h.read_log(dv.log)
    assert count == n_msgs, log
    assert total == sum(s for _, s, _ in ours), log
    # Same sizes and same bytes, as multisets (the numbering may differ).
    assert sorted((s, d) for _, s, d in theirs) == \
        sorted((s, d) for _, s, d in ours), log
    assert "Error" not in log, log
    dv.stop()

    # 3. formdrop-pop3d again, after Dovecot (which may rename files to
    # add flags): the same UIDLs, sizes and bytes.
    srv.proc = None
    srv.start()
    p = srv.login("shop")
    again = dh.read_all(p)
    p.quit()
    p.close()
    assert sorted(again) == sorted(ours)
