"""
formdrop-pop3d through Python's poplib (and a byte-exact raw client where
poplib hides the wire): implicit TLS (RFC 8314) and STLS (RFC 2595), CAPA
(RFC 2449) in every state, USER/PASS and AUTH PLAIN (RFC 5034) with and
without an initial response, every command of RFC 1939 in its state and
out of it, pipelining over TLS, failed logins and their delay.

The Maildirs are filled by real submissions: the form handler behind
nginx (the conftest `stack`), messages POSTed with curl.
"""

import os
import poplib
import time

import pytest

import e2e_helpers as h
import pop3_helpers as ph
from pop3_helpers import make_pop3d, pki  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def delivered(stack):
    return ph.fill_from_handler(stack, stack.root)


@pytest.fixture(scope="module")
def srv(request, stack, delivered):
    """One server for the read-only tests of this module: user shop reads
    the handler's contact Maildir, user orders its orders Maildir."""
    return ph.module_pop3d(request, {"shop": stack.maildirs["contact"],
                                     "orders": stack.maildirs["orders"]})


def contact_msgs(delivered):
    return [d for d in delivered if "X-Formdrop-Form: contact" in
            d.raw.decode("utf-8", "replace")]


# ------------------------------------------------------------ TLS + CAPA

def test_implicit_tls_greeting_capa_and_certificate(srv):
    p = srv.ssl()
    try:
        assert p.getwelcome() == ph.GREETING
        # The chain (leaf + intermediate) verified up to the demo CA, for
        # the address we connected to.
        assert p.sock.version() in ("TLSv1.2", "TLSv1.3")
        cert = p.sock.getpeercert()
        assert ("IP Address", "127.0.0.1") in cert["subjectAltName"]
        caps = p.capa()
        assert ph.CAPA_ALWAYS <= set(caps), caps
        assert caps["IMPLEMENTATION"] == ["formdrop"]
        assert "USER" in caps and caps["SASL"] == ["PLAIN"], caps
        assert "STLS" not in caps, "STLS offered on the implicit-TLS port"
        # STLS on a TLS connection is refused; the session goes on.
        with pytest.raises(poplib.error_proto, match=r"^b'-ERR"):
            p._shortcmd("STLS")
        assert p.user("shop").startswith(b"+OK")
        assert p.pass_(ph.PASSWORD).startswith(b"+OK shop has ")
        # In the TRANSACTION state CAPA still answers (RFC 2449), without
        # login mechanisms.
        caps = p.capa()
        assert ph.CAPA_ALWAYS <= set(caps)
        assert "STLS" not in caps and "USER" not in caps and "SASL" not in caps
        assert p.quit() == b"+OK Bye"
    finally:
        p.close()


def test_stls_capa_before_and_after_tls(srv):
    p = srv.plain()
    try:
        assert p.getwelcome() == ph.GREETING
        caps = p.capa()
        assert ph.CAPA_ALWAYS <= set(caps), caps
        assert "STLS" in caps
        assert "USER" not in caps and "SASL" not in caps, (
            "login offered before TLS: " + repr(caps))
        # No password crosses the wire in the clear.
        for cmd in ("USER shop", "PASS secret",
                    "AUTH PLAIN " + ph.sasl_plain("shop", "secret")):
            with pytest.raises(poplib.error_proto) as e:
                p._shortcmd(cmd)
            assert e.value.args[0].startswith(b"-ERR [AUTH] Use STLS first")
        # AUTH without a mechanism lists none before TLS.
        resp, mechs, _ = p._longcmd("AUTH")
        assert resp.startswith(b"+OK") and mechs == []
        assert p.stls(srv.pki.context()).startswith(b"+OK")
        assert p.sock.version() in ("TLSv1.2", "TLSv1.3")
        caps = p.capa()
        assert ph.CAPA_ALWAYS <= set(caps)
        assert "USER" in caps and caps["SASL"] == ["PLAIN"], caps
        assert "STLS" not in caps, "STLS still offered after TLS is active"
        with pytest.raises(poplib.error_proto, match="-ERR"):
            p._shortcmd("STLS")
        p.user("shop")
        assert p.pass_(ph.PASSWORD).startswith(b"+OK")
        assert p.stat()[0] >= 4
        assert p.quit() == b"+OK Bye"
    finally:
        p.close()


def test_stls_discards_plaintext_pipelined_after_it(srv):
    """STARTTLS command injection (cf. CVE-2011-0411): commands sent in
    the clear in the same packet as STLS must not run inside TLS."""
    r = srv.raw(tls=False)
    try:
        assert r.resp() == ph.GREETING
        r.send(b"STLS\r\nUSER mallory\r\nCAPA\r\n")
        assert r.resp().startswith(b"+OK")
        r.buf = b""             # the injected bytes, if echoed, are not TLS
        r.starttls(srv.pki.context())
        r.send(b"QUIT\r\n")
        assert r.resp() == b"+OK Bye", (
            "a command sent before the TLS handshake was executed after it")
    finally:
        r.close()


def test_auth_mechanism_list_over_tls(srv):
    p = srv.ssl()
    try:
        resp, mechs, _ = p._longcmd("AUTH")
        assert resp.startswith(b"+OK")
        assert mechs == [b"PLAIN"]
        with pytest.raises(poplib.error_proto, match="-ERR"):
            p._shortcmd("AUTH CRAM-MD5")
        p.quit()
    finally:
        p.close()


# ------------------------------------------------------------- AUTH PLAIN

def test_auth_plain_with_initial_response(srv):
    p = srv.ssl()
    try:
        r = p._shortcmd("AUTH PLAIN " + ph.sasl_plain("shop", ph.PASSWORD))
        assert r.startswith(b"+OK shop has ")
        assert p.stat()[0] >= 4
        p.quit()
    finally:
        p.close()
    # An authorization identity equal to the user is accepted too.
    p = srv.ssl()
    try:
        r = p._shortcmd("AUTH PLAIN " + ph.sasl_plain("orders", ph.PASSWORD,
                                                      authz="orders"))
        assert r.startswith(b"+OK orders has 1 message")
        p.quit()
    finally:
        p.close()


def test_auth_plain_without_initial_response(srv):
    p = srv.plain()
    try:
        p.stls(srv.pki.context())
        p._putcmd("AUTH PLAIN")
        line, _ = p._getline()
        assert line == b"+ ", line          # an empty challenge (RFC 5034)
        p._putcmd(ph.sasl_plain("shop", ph.PASSWORD))
        assert p._getresp().startswith(b"+OK shop has ")
        assert p.noop() == b"+OK"
        p.quit()
    finally:
        p.close()


def test_auth_plain_cancelled(srv):
    p = srv.ssl()
    try:
        p._putcmd("AUTH PLAIN")
        assert p._getline()[0] == b"+ "
        p._putcmd("*")
        with pytest.raises(poplib.error_proto, match="-ERR"):
            p._getresp()
        # Still in the AUTHORIZATION state: login works.
        p.user("shop")
        assert p.pass_(ph.PASSWORD).startswith(b"+OK")
        p.quit()
    finally:
        p.close()


def test_auth_plain_zero_length_initial_response(srv):
    """RFC 5034 section 4: "=" is a zero-length initial response, not a
    missing one; for PLAIN that is a malformed response: -ERR, no
    challenge.  (From its own address: the failure delay is per address.)"""
    r = ph.Raw(srv.tls_port, srv.pki.context(), source="127.0.0.9",
               timeout=5)
    try:
        assert r.resp() == ph.GREETING
        r.send(b"AUTH PLAIN =\r\n")
        line = r.resp()
        if line.startswith(b"+"):
            r.send(b"*\r\n")             # leave the exchange cleanly
            r.resp()
        assert line.startswith(b"-ERR"), f"AUTH PLAIN = -> {line!r}"
    finally:
        r.close()


def test_failed_logins_are_delayed_and_do_not_end_the_session(
        make_pop3d, tmp_root):
    """Bad base64 in AUTH PLAIN, a wrong password (from 127.0.0.2) and an
    unknown user (from 127.0.0.3): -ERR [AUTH] after the delay, which
    doubles per failure from the same address only.  Kept to three
    failures (about 4 s of waiting); then a new session from
    127.0.0.3, whose delay doubles from the earlier session's failure
    (2 s)."""
    md = h.make_maildir(tmp_root / "box")
    ph.write_message(md, b"Subject: one\n\nbody\n")
    srv = make_pop3d({"shop": md})
    p = srv.ssl(source="127.0.0.2")
    try:
        t = time.monotonic()
        with pytest.raises(poplib.error_proto) as e:
            p._shortcmd("AUTH PLAIN not*base64!")
        assert e.value.args[0].startswith(b"-ERR [AUTH]")
        first = time.monotonic() - t
        assert 0.9 <= first < 5, first
        p.user("shop")
        t = time.monotonic()
        with pytest.raises(poplib.error_proto) as e:
            p.pass_("wrong password")
        assert e.value.args[0].startswith(b"-ERR [AUTH]")
        second = time.monotonic() - t
        assert 1.9 <= second < 8, second      # doubled: 2 s
        # The same session may still log in.
        p.user("shop")
        assert p.pass_(ph.PASSWORD).startswith(b"+OK shop has 1 message")
        p.quit()
    finally:
        p.close()
    # Another address starts at 1 s; an unknown user gets the same answer
    # as a wrong password (no user enumeration).
    q = srv.ssl(source="127.0.0.3")
    try:
        q.user("nobody-here")
        t = time.monotonic()
        with pytest.raises(poplib.error_proto) as e2:
            q.pass_(ph.PASSWORD)
        took = time.monotonic() - t
        assert e2.value.args[0] == e.value.args[0]
        assert 0.9 <= took < 1.9, took
        q.quit()
    finally:
        q.close()
    # The count outlives the session: the next session from 127.0.0.3
    # waits 2 s for its first failure.
    time.sleep(0.3)                 # the server reaps the ended session
    q = srv.ssl(source="127.0.0.3")
    try:
        q.user("shop")
        t = time.monotonic()
        with pytest.raises(poplib.error_proto):
            q.pass_("another wrong password")
        took = time.monotonic() - t
        assert 1.9 <= took < 8, took
        q.quit()
    finally:
        q.close()
    log = srv.log_text()
    assert "login failed" in log and ph.PASSWORD not in log
    assert "wrong password" not in log, "a password was logged"


# ------------------------------------------------- TRANSACTION commands

def test_every_transaction_command(srv, stack, delivered):
    msgs = contact_msgs(delivered)
    by_uidl = {ph.uidl_of(d.name): d for d in msgs}
    p = srv.ssl()
    try:
        p.user("shop")
        greet = p.pass_(ph.PASSWORD)
        count, total = p.stat()
        assert greet == f"+OK shop has {count} message(s)".encode()
        # Login moved new/ to cur/ with ":2," (as Dovecot does).
        md = stack.maildirs["contact"]
        cur = sorted(os.listdir(md / "cur"))
        assert os.listdir(md / "new") == []
        assert len(cur) == count and all(n.endswith(":2,") for n in cur)
        assert (md / ph.LOCK_NAME).exists()

        resp, listing, _ = p.list()
        assert resp.startswith(b"+OK")
        sizes = {int(a): int(b) for a, b in (l.split() for l in listing)}
        assert sorted(sizes) == list(range(1, count + 1))
        assert sum(sizes.values()) == total
        resp, ulist, _ = p.uidl()
        uidls = {int(a): b.decode() for a, b in (l.split() for l in ulist)}
        assert set(uidls.values()) == {ph.uidl_of(n) for n in cur}
        assert len(set(uidls.values())) == count
        for n in range(1, count + 1):
            assert p.list(n) == f"+OK {n} {sizes[n]}".encode()
            assert p.uidl(n) == f"+OK {n} {uidls[n]}".encode()
            d = by_uidl.get(uidls[n])
            resp, lines, octets = p.retr(n)
            assert resp == f"+OK {sizes[n]} octets".encode()
            data = ph.poplib_data(lines)
            assert octets == len(data) == sizes[n]
            if d is not None:
                assert data == ph.pop3_octets(d.raw)
                # TOP n 0: the header and the blank line; TOP n 3: three
                # body lines more; TOP with a huge count: everything.
                resp, lines, _ = p.top(n, 0)
                assert resp.startswith(b"+OK")
                assert ph.poplib_data(lines) == ph.top_octets(d.raw, 0)
                assert ph.poplib_data(lines).endswith(b"\r\n\r\n")
                assert ph.poplib_data(p.top(n, 3)[1]) == \
                    ph.top_octets(d.raw, 3)
                assert ph.poplib_data(p.top(n, 99999999)[1]) == data
        assert {ph.uidl_of(d.name) for d in msgs} <= set(uidls.values())
        assert p.noop() == b"+OK"
        # DELE: gone from STAT/LIST/RETR in this session, not on disk.
        assert p.dele(1).startswith(b"+OK")
        assert p.stat() == (count - 1, total - sizes[1])
        assert b"1 " + str(sizes[1]).encode() not in p.list()[1]
        for cmd in ("LIST 1", "UIDL 1", "RETR 1", "TOP 1 0", "DELE 1"):
            with pytest.raises(poplib.error_proto, match="-ERR"):
                p._shortcmd(cmd)
        assert len(p.uidl()[1]) == count - 1
        # RSET undeletes.
        assert p.rset().startswith(b"+OK")
        assert p.stat() == (count, total)
        assert p.list(1) == f"+OK 1 {sizes[1]}".encode()
        # No such messages; bad arguments.
        for cmd in (f"LIST {count + 1}", "LIST 0", "LIST -1", "LIST x",
                    f"RETR {count + 1}", "RETR", "TOP 1", "TOP 1 x",
                    "TOP x 0", "DELE 0", "UIDL 99999999999999999999"):
            with pytest.raises(poplib.error_proto, match="-ERR"):
                p._shortcmd(cmd)
        assert p.quit() == b"+OK Bye"
    finally:
        p.close()
    # Nothing was deleted (DELE then RSET then QUIT).
    assert len(os.listdir(md / "cur")) == count


def test_commands_in_the_wrong_state(srv):
    p = srv.ssl()
    try:
        for cmd in ("STAT", "LIST", "LIST 1", "UIDL", "RETR 1", "TOP 1 0",
                    "DELE 1", "RSET", "NOOP", "XYZZY", "PASS secret"):
            with pytest.raises(poplib.error_proto, match="-ERR"):
                p._shortcmd(cmd)
        p.user("shop")
        p.pass_(ph.PASSWORD)
        for cmd in ("USER shop", "PASS secret", "AUTH PLAIN " +
                    ph.sasl_plain("shop", "secret"), "AUTH", "STLS",
                    "XYZZY", "APOP shop 0123456789abcdef0123456789abcdef"):
            with pytest.raises(poplib.error_proto, match="-ERR"):
                p._shortcmd(cmd)
        assert p.noop() == b"+OK"
        assert p.quit() == b"+OK Bye"
    finally:
        p.close()
    # QUIT in the AUTHORIZATION state.
    p = srv.plain()
    try:
        assert p.quit() == b"+OK Bye"
    finally:
        p.close()


def test_commands_are_case_insensitive(srv):
    r = srv.raw()
    try:
        assert r.resp() == ph.GREETING
        assert r.cmd("user shop").startswith(b"+OK")
        assert r.cmd("pass " + ph.PASSWORD).startswith(b"+OK")
        assert r.cmd("sTaT").startswith(b"+OK ")
        assert r.cmd("noop") == b"+OK"
        assert r.cmd("quit") == b"+OK Bye"
    finally:
        r.close()


# ------------------------------------------------------------ pipelining

def test_pipelining_over_tls(srv):
    """RFC 2449 PIPELINING: the login and a batch of commands in single
    writes over a TLS socket; the answers come back in order and equal
    the answers to the same commands sent one by one."""
    cmds = ["STAT", "LIST", "UIDL", "LIST 2", "UIDL 2", "RETR 1",
            "TOP 2 0", "NOOP", "DELE 1", "STAT", "RSET", "STAT", "RETR 3",
            "LIST 999"]
    multi = {"LIST", "UIDL", "RETR 1", "TOP 2 0", "RETR 3"}

    def read_answers(r):
        out = []
        for c in cmds:
            first = r.resp()
            body = r.multi() if c in multi and first.startswith(b"+OK") \
                else None
            out.append((first, body))
        return out

    # One by one.
    r = srv.raw()
    try:
        assert r.resp() == ph.GREETING
        r.login("shop")
        single = []
        for c in cmds:
            r.send(c + "\r\n")
            first = r.resp()
            single.append((first, r.multi() if c in multi and
                           first.startswith(b"+OK") else None))
        assert r.cmd("QUIT") == b"+OK Bye"
    finally:
        r.close()
    # Pipelined: USER, PASS and everything else in one TLS write.
    r = srv.raw()
    try:
        assert r.resp() == ph.GREETING
        batch = ("USER shop\r\nPASS " + ph.PASSWORD + "\r\n" +
                 "".join(c + "\r\n" for c in cmds) + "QUIT\r\n")
        r.send(batch.encode())
        assert r.resp() == b"+OK Send PASS"
        assert r.resp().startswith(b"+OK shop has ")
        piped = read_answers(r)
        assert r.resp() == b"+OK Bye"
    finally:
        r.close()
    assert piped == single
    assert piped[-1][0].startswith(b"-ERR")
    assert piped[8][0].startswith(b"+OK")                    # DELE 1
    n, size = (int(x) for x in piped[0][0].split()[1:3])
    assert piped[9][0] == f"+OK {n - 1} ".encode() + piped[9][0].split()[2]
    assert piped[11][0] == piped[0][0]                         # after RSET


def test_quit_after_dele_rset_keeps_everything_for_orders(srv, stack):
    before = sorted(os.listdir(stack.maildirs["orders"] / "new")
                    + os.listdir(stack.maildirs["orders"] / "cur"))
    p = srv.login("orders")
    try:
        assert p.stat()[0] == 1
        p.dele(1)
        assert p.stat() == (0, 0)
        assert p.list()[1] == [] and p.uidl()[1] == []
        p.rset()
        assert p.stat()[0] == 1
        p.quit()
    finally:
        p.close()
    after = os.listdir(stack.maildirs["orders"] / "cur")
    assert [n.split(":")[0] for n in after] == [n.split(":")[0]
                                                for n in before]


def test_ipv6_loopback_listener(make_pop3d, tmp_root):
    if not ph.have_ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    md = h.make_maildir(tmp_root / "box")
    ph.write_message(md, b"Subject: v6\n\nhello\n")
    srv = make_pop3d({"shop": md}, ipv6=True)
    p = ph.POP3("::1", srv.port6)
    try:
        assert p.getwelcome() == ph.GREETING
        p.stls(srv.pki.context())        # the cert names ::1 as well
        p.user("shop")
        p.pass_(ph.PASSWORD)
        assert p.stat() == (1, len(ph.pop3_octets(b"Subject: v6\n\nhello\n")))
        p.quit()
    finally:
        p.close()
