"""
Password guessing against formdrop-pop3d: each failure from an address
slows the next answer, and after max_login_failures the address is
refused at connect for a while; another address still logs in at once.
"""

import poplib
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
    for _ in range(3):
        c = srv.ssl(source="127.0.0.3")
        c.user("shop")
        with pytest.raises(poplib.error_proto) as e:
            c.pass_("wrong")
        assert b"[AUTH]" in e.value.args[0]
        c.quit()
    time.sleep(0.3)        # the parent counts a session when it ends
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
