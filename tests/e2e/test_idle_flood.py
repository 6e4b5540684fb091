"""
1,000 idle connections from one address: pop3d and the devserver keep
serving other clients, the per-address limits apply (and are logged),
and the connections they accepted are closed by their timeouts.
"""

import socket
import time

import e2e_helpers as h
import fault_helpers as fh

FLOOD = 1000


def _flood(port, source):
    socks = []
    for _ in range(FLOOD):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.bind((source, 0))
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        socks.append(s)
    return socks


def test_pop3d_1000_idle_connections(request, tmp_root):
    md = h.make_maildir(tmp_root / "md")
    fh.write_hand_message(md / "new", 1)
    p = fh.Pop3d(tmp_root, {"shop": md}, timeout=5, max_per_client=10,
                 max_connections=100)
    request.addfinalizer(p.stop)
    p.start()
    socks = _flood(p.port, "127.0.0.2")
    request.addfinalizer(lambda: [s.close() for s in socks])
    time.sleep(0.5)
    # Another address logs in and reads its mail at once.
    start = time.monotonic()
    c = p.login("shop", source="127.0.0.1")
    assert c.cmd("STAT").startswith(b"+OK 1 ")
    c.cmd("QUIT")
    assert time.monotonic() - start < 3
    # At most max_per_client of the flood got a session...
    assert len(p.sessions()) <= 10 + 1
    log = p.log_text()
    assert "refused: connection limit" in log
    # ... and the timeout ends those (5 s here; at least 600 in service).
    h.wait_until(lambda: len(p.sessions()) == 0, timeout=15,
                 what="idle sessions closed by the timeout")


def test_devserver_1000_idle_connections(request, tmp_root):
    conf, _ = h.write_config(tmp_root)
    d = fh.Devserver(tmp_root, conf)
    request.addfinalizer(d.stop)
    d.start()
    socks = _flood(d.port, "127.0.0.2")
    request.addfinalizer(lambda: [s.close() for s in socks])
    time.sleep(0.5)
    start = time.monotonic()
    r = d.get("/", timeout=5)
    assert r.status == 200 and time.monotonic() - start < 3
    # The idle ones are closed after the header timeout (10 s).
    time.sleep(12)
    assert "no complete request in" in \
        d.log.read_text(errors="replace")
    r = d.get("/", timeout=5)
    assert r.status == 200
