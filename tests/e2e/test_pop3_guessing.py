"""
Password guessing against formdrop-pop3d: each failure from an address
slows the next answer, and after max_login_failures the session ends and
the address is refused at connect for a while; another address still
logs in at once.  A client that does not log in within login_timeout is
closed however busy it keeps the line.
"""

import poplib
import ssl
import time

import pytest

import e2e_helpers as h
import pop3_helpers as p3
from pop3_helpers import make_pop3d, pki  # noqa: F401  (fixtures)


def test_guessing_is_refused_other_addresses_served(make_pop3d, tmp_root):
    box = h.make_maildir(tmp_root / "box")
    srv = make_pop3d({"shop": box}, extra="max_login_failures = 3")
    # Three wrong passwords from 127.0.0.3, one session each (the count
    # is kept by the server across sessions): 1 s, 2 s, 4 s delays.
    for i in range(3):
        c = srv.ssl(source="127.0.0.3")
        c.user("shop")
        with pytest.raises(poplib.error_proto) as e:
            c.pass_("wrong")
        assert b"[AUTH]" in e.value.args[0]
        if i < 2:
            c.quit()
            srv.wait_sessions_reaped()      # counted when it is reaped
        else:       # the third failure ends the session
            assert b"Too many failed logins" in e.value.args[0]
            c.close()
    srv.wait_sessions_reaped()
    # Now refused at connect, on the plain port with a clear -ERR.
    r = srv.raw(tls=False, source="127.0.0.3")
    line = r.readline()
    assert line.startswith(b"-ERR [AUTH] Too many failed logins"), line
    # ... and on the TLS port, before any password is read.
    with pytest.raises((OSError, poplib.error_proto, EOFError)):
        c = srv.ssl(source="127.0.0.3")
        c.user("shop")
        c.pass_(p3.PASSWORD)
    # Another address is not affected: logs in without delay.
    start = time.monotonic()
    c = srv.ssl(source="127.0.0.4")
    c.user("shop")
    assert c.pass_(p3.PASSWORD).startswith(b"+OK")
    c.quit()
    assert time.monotonic() - start < 1.0
    assert "refused: 3 failed logins" in srv.log_text()


def test_one_session_cannot_guess_past_the_limit(make_pop3d, tmp_root):
    box = h.make_maildir(tmp_root / "box")
    srv = make_pop3d({"shop": box}, extra="max_login_failures = 2")
    r = srv.raw(source="127.0.0.5")
    assert r.resp().startswith(b"+OK")
    assert r.cmd("USER shop").startswith(b"+OK")
    assert r.cmd("PASS wrong").startswith(b"-ERR [AUTH] Invalid")
    assert r.cmd("USER shop").startswith(b"+OK")
    # The second failure reaches the limit: answered, then closed, so
    # the right password can no longer be tried in this session.
    assert r.cmd("PASS wrong").startswith(
        b"-ERR [AUTH] Too many failed logins")
    with pytest.raises((EOFError, OSError)):
        r.cmd("USER shop")
    srv.wait_sessions_reaped()
    line = srv.raw(tls=False, source="127.0.0.5").readline()
    assert line.startswith(b"-ERR [AUTH] Too many failed logins"), line
    assert "client=127.0.0.5 closed: 2 failed logins" in srv.log_text()


@pytest.mark.parametrize("tls", [True, False])
def test_no_login_within_login_timeout_is_closed(make_pop3d, tmp_root, tls):
    box = h.make_maildir(tmp_root / "box")
    srv = make_pop3d({"shop": box}, extra="login_timeout = 2")
    r = srv.raw(tls=tls, source="127.0.0.6")
    assert r.resp().startswith(b"+OK")
    # A byte every 0.3 s keeps the idle timeout from ever firing.
    start = time.monotonic()
    with pytest.raises((EOFError, OSError, ssl.SSLError)):
        while time.monotonic() - start < 10:
            r.send(b"C")
            time.sleep(0.3)
            r.pending(0.01)
    assert 1.5 < time.monotonic() - start < 6
    h.wait_until(lambda: "client=127.0.0.6 closed: no login within "
                 "login_timeout" in srv.log_text(), timeout=5,
                 what="the login_timeout log line")
    # A login in time cancels it: the session outlives the deadline.
    c = srv.login("shop")
    time.sleep(2.5)
    assert c.stat() == (0, 0)
    c.quit()


def test_failures_count_when_login_timeout_ends_the_session(make_pop3d,
                                                            tmp_root):
    """Failing, then waiting for login_timeout, must not reset the count:
    the failures of a session ended by the deadline are counted too."""
    box = h.make_maildir(tmp_root / "box")
    srv = make_pop3d({"shop": box}, extra="max_login_failures = 3\n"
                     "login_timeout = 6")
    for i in range(2):          # two sessions, one failure each, then idle
        r = srv.raw(source="127.0.0.7")
        assert r.resp().startswith(b"+OK")
        assert r.cmd("USER shop").startswith(b"+OK")
        assert r.cmd("PASS wrong").startswith(b"-ERR [AUTH]")
        with pytest.raises((EOFError, OSError, ssl.SSLError)):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                r.pending(0.5)
                r.send(b"N")
        r.close()
        h.wait_until(lambda: srv.log_text().count(
            "client=127.0.0.7 closed: no login within login_timeout") > i,
            timeout=5, what="the session's end", log=srv.log)
    # 2 failures counted: the next one reaches the limit of 3 at once.
    r = srv.raw(source="127.0.0.7")
    assert r.resp().startswith(b"+OK")
    assert r.cmd("USER shop").startswith(b"+OK")
    assert r.cmd("PASS wrong").startswith(b"-ERR [AUTH] Too many")
    r.close()
