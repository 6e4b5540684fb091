"""
formdrop-pop3d and the Maildir: what RETR/TOP send is the stored file
with LF -> CRLF, dot-stuffed, byte for byte (checked on the wire with a
raw TLS client and through poplib); LIST/STAT octets are exactly what
RETR sends; UIDLs are the Maildir base names and survive the new/ ->
cur/ move and later sessions; DELE acts only at QUIT (not on RSET, not on
a dropped connection); one session per maildrop ([IN-USE]); and
archive_days moves deleted messages to .Archive/cur.

Handler messages are real submissions through nginx; the edge cases the
handler never writes (lines starting with '.', a first byte '.', no final
newline, CRLF already in the file, no ",W=" in the name, long names) are
hand-written Maildir files.
"""

import email
import email.policy
import hashlib
import os
import poplib
import signal
import socket
import struct
import time

import pytest

import e2e_helpers as h
import pop3_helpers as ph
from pop3_helpers import make_pop3d, pki  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def delivered(stack):
    return ph.fill_from_handler(stack, stack.root)


def check_wire(srv, user, expected, uidls=None):
    """Every message of the maildrop, fetched over TLS with the raw client:
    LIST octets, RETR header line, wire bytes (dot-stuffed), TOP n 0 and
    UIDL against `expected` ({uidl: stored bytes})."""
    r = srv.raw()
    try:
        assert r.resp() == ph.GREETING
        r.login(user)
        got = ph.fetch_all(r)
        assert len(got) == len(expected), (
            f"{len(got)} messages listed, {len(expected)} stored")
        assert sorted(u for _, _, u, _ in got) == sorted(expected)
        stat = r.cmd("STAT")
        assert stat == f"+OK {len(got)} {sum(s for _, s, _, _ in got)}" \
            .encode()
        for n, size, uidl, wire in got:
            raw = expected[uidl]
            want = ph.pop3_octets(raw)
            assert size == len(want), f"LIST {n}: {size} != {len(want)}"
            assert wire == ph.dot_stuff(want), (
                f"RETR {n} ({uidl}) differs:\n{wire[:400]!r}\n"
                f"{ph.dot_stuff(want)[:400]!r}")
            assert len(ph.dot_unstuff(wire)) == size
            assert r.cmd(f"TOP {n} 0").startswith(b"+OK")
            assert r.multi() == ph.dot_stuff(ph.top_octets(raw, 0))
            assert r.cmd(f"TOP {n} 1").startswith(b"+OK")
            assert r.multi() == ph.dot_stuff(ph.top_octets(raw, 1))
        assert r.cmd("QUIT") == b"+OK Bye"
        return got
    finally:
        r.close()


def check_poplib(srv, user, expected):
    """The same through poplib: the unstuffed lines + CRLF equal the
    stored message, and poplib's octet count equals LIST."""
    p = srv.login(user)
    try:
        _, listing, _ = p.list()
        _, ulist, _ = p.uidl()
        uidls = {int(a): b.decode() for a, b in (l.split() for l in ulist)}
        for line in listing:
            n, size = (int(x) for x in line.split())
            resp, lines, octets = p.retr(n)
            assert resp == f"+OK {size} octets".encode()
            assert octets == size
            assert ph.poplib_data(lines) == ph.pop3_octets(
                expected[uidls[n]])
        p.quit()
    finally:
        p.close()


# ------------------------------------------------------- handler messages

def test_handler_messages_byte_for_byte(make_pop3d, stack, delivered):
    md = stack.maildirs["contact"]
    orders = stack.maildirs["orders"]
    expected = {ph.uidl_of(d.name): d.raw for d in delivered
                if d.path.parent.parent == md}
    assert len(expected) == len(ph.CONTACT_MESSAGES)
    order = {ph.uidl_of(d.name): d.raw for d in delivered
             if d.path.parent.parent == orders}
    assert len(order) == 1
    srv = make_pop3d({"shop": md, "orders": orders})
    check_wire(srv, "shop", expected)
    check_poplib(srv, "shop", expected)
    got = check_wire(srv, "orders", order)
    # The attachment survived: its base64 in the message decodes to the
    # bytes that were uploaded.
    msg = email.message_from_bytes(ph.dot_unstuff(got[0][3]),
                                   policy=email.policy.default)
    att = [a for a in msg.iter_attachments()
           if a.get_filename() == "data.bin"]
    assert len(att) == 1 and att[0].get_payload(decode=True) == \
        bytes(range(256)) * 64 + b"\n.\r\n.."
    # The files are in cur/ now, unchanged.
    for d in delivered:
        box = d.path.parent.parent
        assert (box / "cur" / (d.name + ":2,")).read_bytes() == d.raw


# ----------------------------------------------------- hand-written files

HAND = [
    # (label, stored bytes, write_message options)
    ("dot lines", b"Subject: dots\nFrom: a@example.org\n\n.\n..\n...\n"
                  b".leading\nmid . dot\n.\n\n.\r\n", {}),
    ("first byte dot", b".Not-a-header: first byte is a dot\nX: y\n\nbody\n",
     {}),
    ("no final newline", b"Subject: nfn\n\nfirst\nlast line without end",
     {}),
    ("final line is a dot", b"Subject: dot end\n\nbody\n.", {}),
    ("CRLF and bare LF", b"Subject: mixed\r\nX-A: b\n\r\nline crlf\r\n"
                         b"line lf\n.dot crlf\r\n.dot lf\n", {}),
    ("no W= in name", b"Subject: noW\n\nsize counted from the file\n.\nend",
     {"with_w": False}),
    ("empty body", b"Subject: empty\n\n", {}),
    ("no header", b"\nno header at all\n.\n", {}),
    ("long line", b"Subject: long\n\n" + b"x" * 1500 + b"\n.y\n", {}),
    ("binary 8-bit", b"Subject: 8bit\nContent-Type: text/plain; "
                     b"charset=latin1\n\n\xe4\xf6\xfc\xff\x80\n\x00nul\n",
     {}),
]


def test_handwritten_maildir_files(make_pop3d, tmp_root):
    md = h.make_maildir(tmp_root / "hand")
    expected, names = {}, []
    for i, (label, raw, kw) in enumerate(HAND):
        p = ph.write_message(md, raw, secs=1700000000 + i, **kw)
        names.append(p.name)
        expected[ph.uidl_of(p.name)] = raw
    # A name whose base is longer than 70 characters: the UIDL is its
    # SHA-256; one with a space in the base: not a valid UIDL either.
    long_base = "1700000100.M1P1Q1R" + "a" * 70 + ".host"
    p = ph.write_message(md, b"Subject: long name\n\nx\n", base=long_base)
    expected[hashlib.sha256(long_base.encode()).hexdigest()] = \
        b"Subject: long name\n\nx\n"
    sp_base = "1700000101.M1P1Q1R1.my host"
    ph.write_message(md, b"Subject: space\n\ny\n", base=sp_base)
    expected[hashlib.sha256(sp_base.encode()).hexdigest()] = \
        b"Subject: space\n\ny\n"
    # One already in cur/ with flags (seen by another client).
    raw = b"Subject: seen\n\nalready read\n"
    name = ph.maildir_name(raw, secs=1700000102)
    ph.write_message(md, raw, sub="cur", name=name + ":2,S")
    expected[ph.uidl_of(name)] = raw
    srv = make_pop3d({"hand": md})
    got = check_wire(srv, "hand", expected)
    # Messages are numbered in delivery order (the leading seconds).
    order = [u for _, _, u, _ in got]
    assert order[:len(HAND)] == [ph.uidl_of(n) for n in names]
    assert order[len(HAND)] == \
        hashlib.sha256(long_base.encode()).hexdigest()
    assert order[-1] == ph.uidl_of(name)
    for uidl in order:
        assert 1 <= len(uidl) <= 70 and all(0x21 <= ord(c) <= 0x7e
                                            for c in uidl)
    check_poplib(srv, "hand", expected)
    # Every message moved to cur/ with ":2," and unchanged bytes.
    assert os.listdir(md / "new") == []
    cur = os.listdir(md / "cur")
    assert len(cur) == len(expected)
    for n in cur:
        assert n.endswith(":2,") or n.endswith(":2,S"), n


def test_line_only_dot_does_not_end_the_message_early(make_pop3d, tmp_root):
    """poplib view: a message with a line "." in the middle arrives
    whole (the server stuffs it to ".."), and LIST equals the octets."""
    md = h.make_maildir(tmp_root / "dot")
    raw = b"Subject: dot\n\nbefore\n.\nafter\n..\nend"
    ph.write_message(md, raw)
    srv = make_pop3d({"dot": md})
    p = srv.login("dot")
    try:
        size = int(p.list(1).split()[2])
        resp, lines, octets = p.retr(1)
        assert lines == [b"Subject: dot", b"", b"before", b".", b"after",
                         b"..", b"end"]
        assert octets == size == len(ph.pop3_octets(raw))
        p.quit()
    finally:
        p.close()


# ------------------------------------------------------------------ UIDL

def test_uidl_stable_across_sessions_and_new_to_cur(make_pop3d, tmp_root,
                                                    delivered):
    md = tmp_root / "box"
    paths = ph.copy_delivered(delivered[:3], md)
    want = {ph.uidl_of(p.name) for p in paths}
    assert all(p.parent.name == "new" for p in paths)
    srv = make_pop3d({"shop": md})
    p = srv.login("shop")
    first = p.uidl()[1]
    p.quit()
    assert {l.split()[1].decode() for l in first} == want
    assert os.listdir(md / "new") == []
    # A new delivery between sessions: the old UIDLs stay, the new
    # message has its own (numbers are per session: RFC 1939 asks no
    # order, and same-second names from the handler do not sort by time).
    ph.copy_delivered(delivered[3:4], md)
    p = srv.login("shop")
    second = {l.split()[1].decode(): int(l.split()[0]) for l in p.uidl()[1]}
    assert set(second) == want | {ph.uidl_of(delivered[3].name)}
    # Each UIDL still names the same message.
    raw = {ph.uidl_of(d.name): d.raw for d in delivered}
    for u, n in second.items():
        assert ph.poplib_data(p.retr(n)[1]) == ph.pop3_octets(raw[u])
    # After deleting one, the others keep their UIDLs.
    gone = next(u for u, n in second.items() if n == 1)
    p.dele(1)
    p.quit()
    p = srv.login("shop")
    third = {l.split()[1].decode() for l in p.uidl()[1]}
    p.quit()
    assert third == set(second) - {gone}


# ------------------------------------------------------------------ DELE

def _box(tmp_root, delivered, name="box"):
    md = tmp_root / name
    ph.copy_delivered(delivered, md)
    return md


def cur_bases(md):
    return sorted(n.split(":")[0] for n in os.listdir(md / "cur"))


def test_dele_rset_quit_keeps(make_pop3d, tmp_root, delivered):
    md = _box(tmp_root, delivered)
    srv = make_pop3d({"shop": md})
    p = srv.login("shop")
    n = p.stat()[0]
    for i in range(1, n + 1):
        p.dele(i)
    assert p.stat() == (0, 0)
    p.rset()
    assert p.quit() == b"+OK Bye"
    p.close()
    assert cur_bases(md) == sorted(d.name for d in delivered)


def test_dele_then_dropped_connection_keeps(make_pop3d, tmp_root, delivered):
    md = _box(tmp_root, delivered)
    srv = make_pop3d({"shop": md})
    r = srv.raw()
    assert r.resp() == ph.GREETING
    r.login("shop")
    r.send(b"DELE 1\r\nDELE 2\r\n")
    assert r.resp().startswith(b"+OK") and r.resp().startswith(b"+OK")
    r.close()                               # no QUIT
    h.wait_until(lambda: "connection lost: nothing deleted" in
                 srv.log_text(), timeout=10, what="session end",
                 log=srv.log)
    assert cur_bases(md) == sorted(d.name for d in delivered)
    # A connection reset (RST) after DELE: nothing deleted either.
    p = srv.login("shop")
    assert p.stat()[0] == len(delivered)
    p.dele(1)
    p.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                      struct.pack("ii", 1, 0))
    p.close()                               # RST (linger 0)
    h.wait_until(lambda: srv.log_text().count(
        "connection lost: nothing deleted") >= 2, timeout=10,
        what="second session end", log=srv.log)
    assert cur_bases(md) == sorted(d.name for d in delivered)


def test_dele_quit_deletes(make_pop3d, tmp_root, delivered):
    md = _box(tmp_root, delivered)
    srv = make_pop3d({"shop": md})
    p = srv.login("shop")
    count, total = p.stat()
    uidls = [l.split()[1].decode() for l in p.uidl()[1]]
    sizes = [int(l.split()[1]) for l in p.list()[1]]
    p.dele(1)
    p.dele(3)
    assert p.quit() == b"+OK Bye"
    p.close()
    left = [u for i, u in enumerate(uidls) if i not in (0, 2)]
    assert cur_bases(md) == sorted(
        d.name for d in delivered if ph.uidl_of(d.name) in left)
    p = srv.login("shop")
    assert p.stat() == (count - 2, total - sizes[0] - sizes[2])
    assert [l.split()[1].decode() for l in p.uidl()[1]] == left
    p.quit()
    p.close()
    assert not (md / ".Archive").exists()
    assert "2 deleted" in srv.log_text()


@pytest.mark.parametrize("archive_days", [None, 7])
def test_dele_of_a_message_renamed_meanwhile(make_pop3d, tmp_root, delivered,
                                             archive_days):
    """Another client on the same Maildir (Dovecot over IMAP, a MUA)
    marks a message seen during the session: only the flags after ':'
    change.  DELE then QUIT still removes that message, and only it."""
    md = _box(tmp_root, delivered)
    srv = make_pop3d({"shop": md}, archive_days=archive_days)
    p = srv.login("shop")
    uidls = [l.split()[1].decode() for l in p.uidl()[1]]
    p.dele(1)
    gone = next(d for d in delivered if ph.uidl_of(d.name) == uidls[0])
    os.rename(md / "cur" / (gone.name + ":2,"),
              md / "cur" / (gone.name + ":2,S"))
    assert p.quit() == b"+OK Bye"
    p.close()
    assert gone.name not in cur_bases(md)
    assert len(cur_bases(md)) == len(delivered) - 1
    if archive_days:
        assert os.listdir(md / ".Archive" / "cur") == [gone.name + ":2,S"]
    h.wait_until(lambda: "1 deleted" in srv.log_text(), timeout=5,
                 what="the logout line", log=srv.log)


def test_retr_top_of_a_message_renamed_meanwhile(make_pop3d, tmp_root,
                                                delivered):
    """A flag change by another client during the session: RETR and TOP
    still serve the message under its new name (they answered
    "[SYS/TEMP] That message cannot be read now" for the rest of the
    session, while DELE coped)."""
    md = _box(tmp_root, delivered)
    srv = make_pop3d({"shop": md})
    p = srv.login("shop")
    try:
        uidls = [l.split()[1].decode() for l in p.uidl()[1]]
        d = next(d for d in delivered if ph.uidl_of(d.name) == uidls[1])
        os.rename(md / "cur" / (d.name + ":2,"),
                  md / "cur" / (d.name + ":2,S"))
        stored = (md / "cur" / (d.name + ":2,S")).read_bytes()
        _, lines, _ = p.retr(2)
        assert ph.poplib_data(lines) == stored.replace(b"\n", b"\r\n")
        _, head, _ = p.top(2, 0)
        assert ph.poplib_data(head) == stored.split(b"\n\n", 1)[0].replace(
            b"\n", b"\r\n") + b"\r\n\r\n"
        _, again, _ = p.retr(2)             # by the name now kept
        assert again == lines
        p.dele(2)
        assert p.quit() == b"+OK Bye"
    finally:
        p.close()
    assert d.name not in cur_bases(md)


def test_only_regular_files_are_messages(make_pop3d, tmp_root):
    """Whoever can write the Maildir (the form handler's user) must not
    make the POP3 session read other files: a symbolic link in cur/ is no
    message, nor a FIFO (its read would never end)."""
    md = h.make_maildir(tmp_root / "box")
    ph.write_message(md, b"Subject: real\n\nbody\n", secs=1700000000)
    secret = tmp_root / "secret.txt"
    secret.write_bytes(b"root:x:0:0\n")
    os.symlink(secret, md / "cur" / "1700000001.M1P1Q1.h,S=11,W=12:2,")
    os.mkfifo(md / "cur" / "1700000002.M1P1Q1.h,S=5,W=5:2,")
    srv = make_pop3d({"shop": md})
    p = srv.login("shop")
    try:
        assert p.stat()[0] == 1
        _, lines, _ = p.retr(1)
        assert b"Subject: real" in lines
        p.quit()
    finally:
        p.close()


# ---------------------------------------------------------------- IN-USE

def test_second_session_gets_in_use(make_pop3d, tmp_root, delivered):
    md = _box(tmp_root, delivered[:2])
    srv = make_pop3d({"shop": md})
    a = srv.login("shop")
    try:
        assert (md / ph.LOCK_NAME).exists()
        b = srv.ssl()
        try:
            b.user("shop")
            t = time.monotonic()
            with pytest.raises(poplib.error_proto) as e:
                b.pass_(ph.PASSWORD)
            assert e.value.args[0].startswith(b"-ERR [IN-USE]")
            assert time.monotonic() - t < 0.9, "IN-USE treated as failure"
            # Also through AUTH PLAIN; the session is still usable.
            with pytest.raises(poplib.error_proto) as e:
                b._shortcmd("AUTH PLAIN " + ph.sasl_plain("shop",
                                                          ph.PASSWORD))
            assert e.value.args[0].startswith(b"-ERR [IN-USE]")
            with pytest.raises(poplib.error_proto):
                b.stat()
            assert b.quit() == b"+OK Bye"
        finally:
            b.close()
        assert a.stat()[0] == 2
        a.dele(1)
        a.quit()
    finally:
        a.close()
    c = srv.login("shop", retry_in_use=0)
    try:
        assert c.stat()[0] == 1
        c.quit()
    finally:
        c.close()


# --------------------------------------------------------------- archive

def test_archive_days_moves_deleted_messages(make_pop3d, tmp_root, delivered):
    md = _box(tmp_root, delivered)
    srv = make_pop3d({"shop": md}, archive_days=7)
    p = srv.login("shop")
    uidls = [l.split()[1].decode() for l in p.uidl()[1]]
    p.dele(2)
    assert p.quit() == b"+OK Bye"
    p.close()
    gone = next(d for d in delivered if ph.uidl_of(d.name) == uidls[1])
    arch = md / ".Archive"
    for sub in ("tmp", "new", "cur"):
        assert (arch / sub).is_dir()
    assert os.listdir(arch / "cur") == [gone.name + ":2,"]
    assert (arch / "cur" / (gone.name + ":2,")).read_bytes() == gone.raw
    assert gone.name not in cur_bases(md)
    assert len(cur_bases(md)) == len(delivered) - 1
    # The next session does not list it, and a fresh archive is kept.
    p = srv.login("shop")
    assert [l.split()[1].decode() for l in p.uidl()[1]] == \
        [u for u in uidls if u != uidls[1]]
    p.quit()
    p.close()
    assert os.listdir(arch / "cur") == [gone.name + ":2,"]


# ------------------------------------------------- outside interference

def test_retr_of_a_message_removed_behind_the_servers_back(make_pop3d,
                                                          tmp_root):
    """Another agent (a Dovecot/IMAP on the same Maildir, the merchant's
    MUA, an admin) removes a listed message during the session: RFC 1939
    has only +OK (with the message) or -ERR for RETR; the session must
    stay usable for the other messages."""
    md = h.make_maildir(tmp_root / "box")
    for i in range(2):
        ph.write_message(md, f"Subject: {i}\n\nbody {i}\n".encode(),
                         secs=1700000000 + i)
    srv = make_pop3d({"shop": md})
    r = srv.raw()
    transcript = []
    try:
        assert r.resp() == ph.GREETING
        r.login("shop")
        gone = sorted(os.listdir(md / "cur"))[0]
        os.unlink(md / "cur" / gone)
        r.send(b"RETR 1\r\n")
        try:
            first = r.resp()
        except (EOFError, OSError) as e:
            first = repr(e).encode()
        transcript.append((b"RETR 1", first))
        if not first.startswith(b"-ERR"):
            after = r.pending(1.0)
            closed = r.wait_closed(2) is not None
            transcript.append((b"(then)", after, b"closed" if closed
                               else b"open"))
        assert first.startswith(b"-ERR"), transcript
        r.send(b"TOP 1 0\r\n")
        assert r.resp().startswith(b"-ERR")
        assert r.cmd("RETR 2") == b"+OK " + str(
            len(ph.pop3_octets(b"Subject: 1\n\nbody 1\n"))).encode() + \
            b" octets"
        assert r.multi() == b"Subject: 1\r\n\r\nbody 1\r\n"
        assert r.cmd("QUIT") == b"+OK Bye"
    finally:
        r.close()


def test_sigterm_stops_server_and_sessions(make_pop3d, tmp_root, delivered):
    """SIGTERM: the server exits, its sessions end without UPDATE (a
    session's DELE is not carried out), the ports are free again."""
    md = _box(tmp_root, delivered)
    srv = make_pop3d({"shop": md})
    r = srv.raw()
    assert r.resp() == ph.GREETING
    r.login("shop")
    assert r.cmd("DELE 1").startswith(b"+OK")
    t = time.monotonic()
    rc = srv.stop()
    assert rc == 0 and time.monotonic() - t < 5, rc
    assert r.wait_closed(5) is not None, "session outlived the server"
    r.close()
    assert not h.can_connect_tcp("127.0.0.1", srv.tls_port)
    assert not h.can_connect_tcp("127.0.0.1", srv.port)
    assert cur_bases(md) == sorted(d.name for d in delivered)
    assert "stopped" in srv.log_text()


QUIT_MESSAGES = 30000       # an UPDATE long enough to signal in its midst


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_signal_during_quit_finishes_and_answers(make_pop3d, tmp_root, sig):
    """A signal that lands while QUIT deletes: every marked message goes,
    the logout is logged and the client still gets "+OK Bye" (SIGTERM:
    the answer was lost, so fetchmail and mpop called the session
    failed; SIGHUP killed the session halfway, 36,896 of 40,000 left,
    unlogged).  A session also survives SIGHUP when idle."""
    md = tmp_root / "big"
    for d in ("tmp", "new", "cur"):
        (md / d).mkdir(parents=True)
    for i in range(QUIT_MESSAGES):
        (md / "cur" / f"{1700000000 + i}.M{i:06d}P1Q1R00.host,S=15,W=17"
         ":2,").write_bytes(b"Subject: x\n\nb\n\n")
    srv = make_pop3d({"shop": md})
    r = srv.raw()
    try:
        assert r.resp() == ph.GREETING
        r.login("shop")
        (session,) = srv.sessions_left()
        os.kill(session, signal.SIGHUP)         # idle: nothing happens
        assert r.cmd("NOOP") == b"+OK"
        r.send(b"".join(b"DELE %d\r\n" % i
                        for i in range(1, QUIT_MESSAGES + 1)))
        for _ in range(QUIT_MESSAGES):
            assert r.resp().startswith(b"+OK")
        r.send(b"QUIT\r\n")
        # The signal must land during the UPDATE: once it has begun
        # (files going), before it has ended (no answer yet).
        h.wait_until(lambda: len(os.listdir(md / "cur")) < QUIT_MESSAGES,
                     timeout=10, what="the UPDATE to begin")
        early = r.pending(0)
        assert early == b"", (
            f"QUIT was answered before the signal ({early!r}): the UPDATE "
            f"was too quick to test; raise QUIT_MESSAGES")
        os.kill(session, getattr(signal, sig))
        assert r.resp() == b"+OK Bye"
    finally:
        r.close()
    srv.wait_sessions_reaped()
    assert os.listdir(md / "cur") == []
    log = srv.log_text()
    assert f"logout: 0 retrieved, {QUIT_MESSAGES} deleted" in log, log[-2000:]
    if sig == "SIGHUP":     # SIGTERM still ends it, once it answered
        assert "killed by signal" not in log, log[-2000:]
