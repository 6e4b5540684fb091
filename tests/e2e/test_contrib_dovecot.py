"""
The shipped contrib/dovecot-formdrop.conf, exercised as shipped: copied
with only its site-specific values substituted (ssl_cert / ssl_key with a
test certificate made by openssl, the users file path, uid/gid in
default_fields with a system uid), included (!include) from a main file that
adds only what a standalone test instance needs (base_dir, state_dir,
log_path, listen = 127.0.0.1, a pop3s listener on a free port, the login
and internal users), and served by `dovecot -F -c CONF` as root.

Two submissions delivered by the real handler (formdrop.fcgi as a CGI
program, its config pointing at the Maildir named in the users file) are
fetched with poplib.POP3_SSL, verifying the test certificate: the same
messages, byte for byte; the UIDLs given by the contrib file's
pop3_uidl_format are the same in a second session (after Dovecot moved the
messages to cur/) and are valid RFC 1939 unique-ids (1 to 70 characters
0x21-0x7E).

Dovecot's mail processes run as a system user's uid, as the `formdrop`
account that `adduser --system` makes has one (from 100 up, below
Dovecot's default first_valid_uid of 500, which made every login
"-ERR [SYS/TEMP]"), so the Maildir is handed to that uid after delivery;
in production the handler and Dovecot share the user named in
default_fields.  The users file is 0640, group dovecot: the mode
formdrop-pop3d accepts for the same file.
"""

import grp
import os
import poplib
import re

import pytest

import dovecot_helpers as dh
import e2e_helpers as h
import pop3_helpers as ph

CONTRIB = h.REPO / "contrib" / "dovecot-formdrop.conf"
UIDL_RE = re.compile(r"^[\x21-\x7e]{1,70}$")
# The lowest uid and gid Debian's `adduser --system` gives
# (FIRST_SYSTEM_UID, FIRST_SYSTEM_GID in adduser.conf): the formdrop
# user's may be as low.
SYSTEM_UID = SYSTEM_GID = 100

# What the contrib file names that is site-specific, and nothing else.
SITE = {
    "ssl_cert = </etc/ssl/formdrop/pop3.crt": "ssl_cert = <{cert}",
    "ssl_key = </etc/ssl/formdrop/pop3.key": "ssl_key = <{key}",
    " /usr/local/etc/formdrop/users": " {users}",
    "default_fields = uid=formdrop gid=formdrop":
        "default_fields = uid={user} gid={group}",
}

MAIN_CONF = """\
# Standalone test instance around the shipped contrib file.
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
instance_name = formdrop-contrib-{port}
listen = 127.0.0.1
default_login_user = dovenull
default_internal_user = dovecot
!include {contrib}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
"""

FIELDS = [
    [("name", "Ann Example"), ("email", "ann@example.org"),
     ("message", "Hello,\nplease call me back.\n.\n..\nThanks!")],
    [("name", "Zoë Ünïcødé 日本"), ("email", "zoe@example.org"),
     # A long message (within the form's 5,000 characters): its file
     # is over 10 kB, as an order with an attachment is.
     ("message", "Grüße — “quotes” ✓\n" + "Schöne Grüße aus Köln. " * 200)],
]


@pytest.fixture(scope="module")
def dovecot_ok():
    dh.require_dovecot()
    if not h.HANDLER.exists():
        pytest.fail(f"{h.HANDLER} does not exist: run make", pytrace=False)


def fetch(port, pki):
    """[(uidl, LIST size, RETR bytes)] over POP3 with implicit TLS,
    verifying the server certificate against the test CA."""
    p = poplib.POP3_SSL("127.0.0.1", port, context=pki.context(),
                        timeout=ph.CLIENT_TIMEOUT)
    try:
        assert p.getwelcome().startswith(b"+OK")
        p.user("shop")
        assert p.pass_(ph.PASSWORD).startswith(b"+OK")
        out = dh.read_all(p)
        assert p.quit().startswith(b"+OK")
        return out
    finally:
        p.close()


def test_contrib_dovecot_serves_handler_maildir(dovecot_ok, tmp_root,
                                                request):
    pki = ph.get_pki()
    root = tmp_root
    os.chmod(root, 0o755)
    md = h.make_maildir(root / "spool" / "orders")
    conf, maildirs = h.write_config(root, mailboxes={
        "contact": md, "orders": h.make_maildir(root / "spool" / "other")})

    # The users file: formdrop-pop3d's format, an absolute Maildir,
    # uid/gid left to default_fields.
    users = root / "users"
    users.write_text(f"shop:{ph.password_hash()}::::{md}::\n")
    os.chown(users, 0, grp.getgrnam("dovecot").gr_gid)
    os.chmod(users, 0o640)

    # The contrib file with only its site-specific values replaced.
    text = CONTRIB.read_text()
    for old, new in SITE.items():
        assert old in text, f"contrib file no longer has {old!r}"
        text = text.replace(old, new.format(
            cert=pki.cert, key=pki.key, users=users, user=SYSTEM_UID,
            group=SYSTEM_GID))
    contrib = root / "dovecot-formdrop.conf"
    contrib.write_text(text)
    changed = [(a, b) for a, b in zip(CONTRIB.read_text().splitlines(),
                                      text.splitlines()) if a != b]
    assert len(changed) == 5, changed      # cert, key, 2 x users, uid/gid

    # Two submissions by the real handler (plain CGI).
    delivered = []
    for fields in FIELDS:
        body = h.urlencode(fields)
        env = h.cgi_env(remote_addr="127.0.0.5", body=body,
                        content_type="application/x-www-form-urlencoded")
        env["FORMDROP_CONF"] = str(conf)
        snap = h.snapshot(maildirs)
        r = h.run_plain_cgi(env, body)
        h.check_success(r, "contact")
        delivered.append(h.single_delivery(maildirs, snap, "contact"))
    for dirpath, dirnames, filenames in os.walk(md):
        for n in dirnames + filenames:
            os.chown(os.path.join(dirpath, n), SYSTEM_UID, SYSTEM_GID)
    os.chown(md, SYSTEM_UID, SYSTEM_GID)

    dv = dh.Dovecot(root / "dovecot", lambda port: MAIN_CONF.format(
        root=root / "dovecot", port=port, contrib=contrib))
    request.addfinalizer(dv.stop)
    dv.start()
    first = fetch(dv.port, pki)
    second = fetch(dv.port, pki)
    log = h.read_log(dv.log)
    print(f"\n[dovecot contrib] UIDLs: {[u for u, _, _ in first]}")

    # The same messages, byte for byte (as POP3 sends them).
    want = sorted(ph.pop3_octets(d.raw) for d in delivered)
    assert sorted(data for _, _, data in first) == want, log
    for _, size, data in first:
        assert size == len(data)
    assert "Error" not in log and "Fatal" not in log, log
    # Dovecot took them out of new/ (seen), so the second session read
    # them from cur/: the UIDLs must not change.
    assert os.listdir(md / "new") == []
    assert sorted(first) == sorted(second), (first, second)
    uidls = [u for u, _, _ in first]
    assert len(set(uidls)) == len(uidls)
    for u in uidls:
        assert UIDL_RE.match(u), (
            f"UIDL {u!r} ({len(u)} characters) is not an RFC 1939 "
            "unique-id (1 to 70 characters 0x21-0x7E)")
