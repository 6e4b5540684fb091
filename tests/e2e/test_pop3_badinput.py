"""
formdrop-pop3d against hostile or broken clients: garbage and NUL bytes,
the 255-octet line limit (RFC 2449) at its boundary and far beyond it,
10 KB without a newline, a TLS client that never sends its ClientHello,
a silent client after login (autologout, RFC 1939: no UPDATE), a flood
of pipelined commands, and more connections from one address than
max_per_client / max_connections allow.  After each, the server still
serves everyone else.

The module's server runs with timeout = 3 (below RFC 1939's 10 minutes,
allowed with a warning for tests like these).
"""

import shutil
import socket
import ssl
import threading
import time

import pytest

import e2e_helpers as h
import pop3_helpers as ph
from pop3_helpers import make_pop3d, pki  # noqa: F401  (fixtures)

TIMEOUT = 3


@pytest.fixture(scope="module")
def box(request):
    root = h.make_tmpdir("fd-pop3-box-")
    request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
    md = h.make_maildir(root / "box")
    for i in range(3):
        ph.write_message(md, f"Subject: m{i}\n\nbody {i}\n.dot\n".encode(),
                         secs=1700000000 + i)
    return md


@pytest.fixture(scope="module")
def srv(request, box):
    s = ph.module_pop3d(request, {"shop": box}, timeout=TIMEOUT)
    assert "timeout below 600 seconds" in s.log_text()
    return s


def still_serves(srv, source=None):
    """A complete TLS session works (the server was not disturbed)."""
    assert srv.alive(), srv.log_text()
    p = srv.login("shop", source=source)
    try:
        assert p.stat()[0] == 3
        assert p.retr(1)[0].startswith(b"+OK")
        assert p.quit() == b"+OK Bye"
    finally:
        p.close()


def plain(srv, **kw):
    r = srv.raw(tls=False, **kw)
    assert r.resp() == ph.GREETING
    return r


def tls_logged_in(srv):
    r = srv.raw()
    assert r.resp() == ph.GREETING
    r.login("shop")
    return r


# ----------------------------------------------------------- bad bytes

def test_garbage_and_nul_bytes(srv):
    r = plain(srv)
    try:
        for junk in (b"\x80\xff\xfe\x01garbage \x1b[2J\r\n", b"\r\n",
                     b"   \r\n", b"\xff\xfb\x01\xff\xfd\x03\r\n",
                     b"GET / HTTP/1.1\r\n"):
            assert r.cmd(junk.rstrip(b"\r\n")).startswith(b"-ERR"), junk
        assert r.cmd(b"CA\x00PA") == b"-ERR NUL byte in command"
        assert r.cmd(b"\x00") == b"-ERR NUL byte in command"
        assert r.cmd(b"USER shop\x00admin").startswith(b"-ERR")
        # Nothing the client sent is echoed back.
        r.send(b"CAPA\r\n")
        assert r.resp().startswith(b"+OK")
        caps = r.multi()
        assert b"STLS" in caps and b"garbage" not in caps
        assert r.cmd("STLS").startswith(b"+OK")
        r.starttls(srv.pki.context())
        r.login("shop")
        assert r.cmd(b"NOOP\x00") == b"-ERR NUL byte in command"
        assert r.cmd(b"DELE 1\x00") == b"-ERR NUL byte in command"
        assert r.cmd(b"RETR \xff").startswith(b"-ERR")
        assert r.cmd("STAT").startswith(b"+OK 3 ")
        assert r.cmd("QUIT") == b"+OK Bye"
    finally:
        r.close()
    still_serves(srv)


def test_garbage_instead_of_a_tls_handshake(srv):
    r = ph.Raw(srv.tls_port)            # no TLS on the TLS port
    try:
        r.send(b"USER shop\r\nPASS secret\r\n" + bytes(range(256)) * 8)
        took = r.wait_closed(TIMEOUT + 5)
        assert took is not None and took < 2, "junk handshake not refused"
        assert r.buf == b""
    finally:
        r.close()
    still_serves(srv)


# --------------------------------------------------------- line length

def test_line_limit_boundary_and_300_octets(srv):
    r = tls_logged_in(srv)
    try:
        ok = b"NOOP " + b"x" * (255 - 7) + b"\r\n"      # 255 with CRLF
        assert len(ok) == 255
        r.send(ok)
        assert r.resp() == b"+OK", "a 255-octet command line was refused"
        over = b"NOOP " + b"x" * (256 - 7) + b"\r\n"
        r.send(over)
        assert r.resp() == b"-ERR Line too long"
        r.send(b"RETR 1 " + b"9" * 291 + b"\r\n")        # 300 octets
        assert r.resp() == b"-ERR Line too long"
        # Nothing of the long lines was run; the session goes on.
        assert r.cmd("STAT").startswith(b"+OK 3 ")
        assert r.cmd("RETR 1").startswith(b"+OK")
        assert b"body 0" in r.multi()
        assert r.cmd("QUIT") == b"+OK Bye"
    finally:
        r.close()
    # The same in the AUTHORIZATION state on the plain port.
    r = plain(srv)
    try:
        r.send(b"USER " + b"a" * 293 + b"\r\n")
        assert r.resp() == b"-ERR Line too long"
        r.send(b"CAPA\r\n")
        assert r.resp().startswith(b"+OK")
        r.multi()
        assert r.cmd("QUIT") == b"+OK Bye"
    finally:
        r.close()


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_10kb_without_newline(srv, tls):
    r = srv.raw(tls=tls)
    try:
        assert r.resp() == ph.GREETING
        r.send(b"A" * 10240)
        # No answer before the line ends ...
        assert r.pending(0.3) == b""
        r.send(b"B" * 5000 + b"\r\nCAPA\r\n")
        # ... then exactly one error for the whole line, and CAPA.
        assert r.resp() == b"-ERR Line too long"
        assert r.resp().startswith(b"+OK Capability")
        r.multi()
        assert r.cmd("QUIT") == b"+OK Bye"
    finally:
        r.close()
    still_serves(srv)


def test_auth_plain_continuation_too_long(srv):
    r = srv.raw()
    try:
        assert r.resp() == ph.GREETING
        assert r.cmd("AUTH PLAIN") == b"+ "
        r.send(b"QUFB" * 2000 + b"\r\n")
        assert r.resp().startswith(b"-ERR")
        r.login("shop")
        assert r.cmd("QUIT") == b"+OK Bye"
    finally:
        r.close()


def test_pipelined_flood(srv):
    """1000 commands in one write: 1000 answers, in order."""
    r = tls_logged_in(srv)
    try:
        cmds = b"".join(b"NOOP\r\n" if i % 2 else b"LIST 2\r\n"
                        for i in range(1000))
        r.send(cmds + b"QUIT\r\n")
        list2 = None
        for i in range(1000):
            line = r.resp()
            if i % 2:
                assert line == b"+OK", (i, line)
            else:
                assert line.startswith(b"+OK 2 "), (i, line)
                assert list2 in (None, line)
                list2 = line
        assert r.resp() == b"+OK Bye"
    finally:
        r.close()


# -------------------------------------------------------- idle clients

def test_silent_tls_client_is_dropped_while_others_are_served(srv):
    silent = ph.Raw(srv.tls_port)           # TCP only: no ClientHello
    silent_stls = plain(srv)
    assert silent_stls.cmd("STLS").startswith(b"+OK")   # ... then nothing
    try:
        t0 = time.monotonic()
        still_serves(srv)                    # served meanwhile
        still_serves(srv)
        assert time.monotonic() - t0 < 2
        a = silent.wait_closed(TIMEOUT + 5)
        b = silent_stls.wait_closed(TIMEOUT + 5)
        assert a is not None, "a client that never sent a ClientHello " \
                              "was not dropped"
        assert b is not None, "a client silent after STLS was not dropped"
        assert TIMEOUT - 1 <= time.monotonic() - t0 <= TIMEOUT + 5
        assert ("TLS handshake failed: closed by the client or timed out"
                in srv.log_text())
    finally:
        silent.close()
        silent_stls.close()
    still_serves(srv)


def test_autologout_after_login_deletes_nothing(srv, box):
    before = sorted(ph.maildir_messages(box))
    r = tls_logged_in(srv)
    try:
        assert r.cmd("DELE 1").startswith(b"+OK")
        assert r.cmd("DELE 2").startswith(b"+OK")
        t0 = time.monotonic()
        took = r.wait_closed(TIMEOUT + 5)
        assert took is not None, "no autologout"
        assert TIMEOUT - 1 <= time.monotonic() - t0 <= TIMEOUT + 5
        # RFC 1939 section 3: close without removing any messages and
        # without sending any response.
        assert r.buf == b"", f"sent at autologout: {r.buf!r}"
    finally:
        r.close()
    after = sorted(ph.maildir_messages(box))
    assert len(after) == 3 and after == before
    # The lock was released: a new session logs in at once.
    p = srv.login("shop", retry_in_use=2)
    try:
        assert p.stat()[0] == 3
        p.quit()
    finally:
        p.close()


# --------------------------------------------------- connection limits

def test_connection_limits(make_pop3d, tmp_root):
    md = h.make_maildir(tmp_root / "box")
    for i in range(3):
        ph.write_message(md, b"Subject: x\n\ny\n")
    srv = make_pop3d({"shop": md}, max_per_client=3, max_connections=5)
    held = []
    try:
        for _ in range(3):
            held.append(plain(srv))             # greeted: 3 of 3
        # Over max_per_client on the plain port: an answer, then closed.
        r = ph.Raw(srv.port)
        try:
            line = r.readline()
            assert line.startswith(b"-ERR [SYS/TEMP]"), line
            assert r.wait_closed(5) is not None
        finally:
            r.close()
        # On the TLS port: closed (no TLS, no cleartext answer).
        s = socket.create_connection(("127.0.0.1", srv.tls_port), 5)
        try:
            with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
                srv.pki.context().wrap_socket(s, server_hostname="127.0.0.1")
        finally:
            s.close()
        # Another address is still served (2 more: 5 of max_connections).
        held.append(plain(srv, source="127.0.0.2"))
        still_serves(srv, source="127.0.0.2")
        # (the session that just ended frees its slot when the server has
        # reaped it: a few milliseconds)
        held.append(greeted(srv, "127.0.0.2"))
        # max_connections reached: a third address is refused too.
        r = ph.Raw(srv.port, source="127.0.0.3")
        try:
            assert r.readline().startswith(b"-ERR [SYS/TEMP]")
        finally:
            r.close()
        # One of 127.0.0.1's sessions ends: it may connect again.
        assert held[0].cmd("QUIT") == b"+OK Bye"
        held.pop(0).close()
        held.append(greeted(srv, "127.0.0.1"))
        assert srv.alive()
        assert "refused: connection limit" in srv.log_text()
    finally:
        for r in held:
            r.close()
    # Everyone gone: full service again.
    h.wait_until(lambda: _greets(srv), timeout=5, what="free slots")
    still_serves(srv)


def greeted(srv, source, timeout=5):
    """A plain connection that got the greeting (retried while the
    server still counts a session that has just ended)."""
    deadline = time.monotonic() + timeout
    while True:
        r = ph.Raw(srv.port, source=source)
        line = r.readline()
        if line.startswith(b"+OK") or time.monotonic() > deadline:
            assert line.rstrip() == ph.GREETING, line
            return r
        assert line.startswith(b"-ERR [SYS/TEMP]"), line
        r.close()
        time.sleep(0.05)


def _greets(srv):
    try:
        r = ph.Raw(srv.port, timeout=2)
    except OSError:
        return False
    try:
        return r.readline().startswith(b"+OK")
    except (OSError, EOFError):
        return False
    finally:
        r.close()


def test_many_parallel_sessions(srv):
    """Ten concurrent TLS clients from different loopback addresses, each
    reading the maildrop in turn (one wins the lock at a time, the
    others get [IN-USE] and retry): all succeed."""
    errors = []

    def worker(i):
        try:
            still_serves(srv, source=f"127.0.1.{i + 1}")
        except Exception as e:                  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
