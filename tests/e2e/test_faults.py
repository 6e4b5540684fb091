"""
Faults: the disk fills up, the spool turns read-only, the Maildir goes
away, formdrop-pop3d dies mid-session (DELEs pending, or in the UPDATE
state), and slow or silent clients hold connections open.

Expected throughout: a submission that cannot be stored gets 503 with
Retry-After, leaves nothing in tmp/ or new/, and delivery resumes once the
fault is repaired; a POP3 session that dies deletes either nothing
(before QUIT) or some of the messages marked, never damaging one; slow
clients neither starve others nor stay forever.
"""

import os
import random
import re
import shutil
import signal
import socket
import threading
import time

import pytest

import e2e_helpers as h
import fault_helpers as fh


def contact(i, size=5000, seed=None):
    rng = random.Random(seed if seed is not None else i)
    # Random letters: nothing compresses, every message is about as big.
    text = "".join(rng.choice("abcdefghij klmnopqrstuvwxyz\n")
                   for _ in range(size))
    return [("name", f"Fault {i}"), ("email", f"f{i}@example.org"),
            ("message", text.strip() or "x")]


def assert_503(r):
    h.check_error(r, 503, accept_json=True)
    ra = r.header("Retry-After")
    assert ra is not None and ra.isdigit() and int(ra) > 0, r


def assert_clean(box):
    """Every file in new/ complete; nothing left in tmp/."""
    _, problems = fh.all_messages(box / "new")
    assert not problems, problems
    assert os.listdir(box / "tmp") == [], os.listdir(box / "tmp")


# --------------------------------------------------------- disk full

def test_disk_full_503_then_resumes(request, tmp_root):
    box = tmp_root / "spool" / "contact"
    fh.mount_tmpfs(request, box, "256k")          # undone after the stack
    mailboxes = {"contact": h.make_maildir(box),
                 "orders": h.make_maildir(tmp_root / "spool" / "orders")}
    s = fh.start_stack(request, tmp_root, mailboxes=mailboxes)
    accepted, refused = [], 0
    for i in range(200):
        before = set(os.listdir(box / "new"))
        r = s.post("contact", contact(i))
        if r.status == 200:
            assert refused == 0, "accepted again after the disk was full"
            accepted.append(h.check_success(r, "contact", accept_json=True))
            assert len(os.listdir(box / "new")) == len(before) + 1
            continue
        assert_503(r)
        assert set(os.listdir(box / "new")) == before, "delivered on 503"
        assert os.listdir(box / "tmp") == [], "partial file left in tmp/"
        refused += 1
        if refused == 3:
            break
    assert refused == 3 and 5 <= len(accepted), (len(accepted), refused)
    # Each refusal's line names its submission id, to match the retry.
    full = [l for l in s.handler.log_text().splitlines()
            if "No space left on device" in l]
    assert len(full) == 3, full
    for line in full:
        assert h.ID_RE.match(line.split(": ", 1)[-1].split()[0]), line
    by_id, problems = fh.all_messages(box / "new")
    assert not problems, problems
    assert set(by_id) == set(accepted)
    # Make room: delivery resumes, complete.
    for name in sorted(os.listdir(box / "new"))[:3]:
        os.unlink(box / "new" / name)
    snap = s.snap()
    r = s.post("contact", contact(999))
    id_ = h.check_success(r, "contact", accept_json=True)
    d = h.single_delivery(s.maildirs, snap, "contact")
    fields = dict(contact(999))
    h.check_message(d, form="contact", id=id_, fields=fields,
                    subject="Contact form: Fault 999",
                    reply_to=fields["email"])
    assert_clean(box)


# ---------------------------------------------------- read-only spool

@pytest.mark.parametrize("size,where", [
    (3 << 20, "cannot write the upload spool"),
    (1200 << 10, "delivery to"),
])
def test_disk_full_during_large_upload(request, tmp_root, size, where):
    """An upload onto a Maildir with 2 MiB of room: 3 MiB do not fit in
    the spool (in tmp/), 1.2 MiB do, but the message (base64, 1.6 MiB)
    beside it does not.  503, the log names the step and the full disk,
    nothing is left in tmp/ or new/, and a small order goes through once
    the upload has been refused."""
    box = tmp_root / "spool" / "orders"
    fh.mount_tmpfs(request, box, "2m")
    mailboxes = {"contact": h.make_maildir(tmp_root / "spool" / "contact"),
                 "orders": h.make_maildir(box)}
    s = fh.start_stack(request, tmp_root, mailboxes=mailboxes,
                       limits={"body_max": 8 << 20, "file_max": 6 << 20})
    fields = [("name", "Fay Full"), ("email", "fay@example.org"),
              ("address", "Full Road 1"), ("item", "Disk"),
              ("quantity", "1")]
    big = os.urandom(size)
    body, ctype = h.multipart(fields + [
        ("attachment", "big.bin", "application/octet-stream", big)])
    r = s.post("order", data=body, content_type=ctype, timeout=60)
    assert_503(r)
    log = s.handler.log_text()
    assert f"{where} " in log and "No space left on device" in log, log
    assert os.listdir(box / "new") == []
    assert os.listdir(box / "tmp") == []
    body, ctype = h.multipart(fields + [
        ("attachment", "small.txt", "text/plain", b"fits\n")])
    r = s.post("order", data=body, content_type=ctype)
    h.check_success(r, "order", accept_json=True)
    assert_clean(box)
    assert len(os.listdir(box / "new")) == 1


def test_full_state_folder_never_delivers_twice(request, tmp_root):
    """The idempotency records' folder is full: a submission with a key is
    refused before anything is delivered (it was delivered, then its record
    could not be written, and the client's retry was delivered again)."""
    once = tmp_root / "state" / "once"
    once.mkdir(parents=True)
    fh.mount_tmpfs(request, once, "64k")
    fd = os.open(once / "fill", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"\0" * 4096) > 0:
            pass
    except OSError:
        pass
    os.close(fd)
    s = fh.start_stack(request, tmp_root)
    box = s.maildirs["contact"]

    def post():
        return h.http_request(
            s.nginx.port, "POST", "/submit/contact", h.urlencode(contact(1)),
            {"Content-Type": "application/x-www-form-urlencoded",
             "Accept": "application/json",
             "Idempotency-Key": "order-42"})

    r = post()
    assert_503(r)
    assert os.listdir(box / "new") == [], "delivered, then refused"
    assert "cannot record the idempotency key" in s.handler.log_text()
    (once / "fill").unlink()
    first = h.check_success(post(), "contact", accept_json=True)
    again = h.check_success(post(), "contact", accept_json=True)
    assert first == again
    assert len(os.listdir(box / "new")) == 1


@pytest.mark.parametrize("what", ["maildir", "new", "tmp"])
def test_readonly_spool_503_then_recovers(request, tmp_root, what):
    s = fh.start_stack(request, tmp_root, nginx=True)
    box = s.maildirs["contact"]
    target = box if what == "maildir" else box / what
    if h.is_root():
        # A read-only bind mount of the folder onto itself.  Repaired by
        # unmounting it (a bind mount of new/ or tmp/ alone, even made
        # writable again, is another mount: rename() across it is EXDEV).
        fh.bind_readonly(request, target)
        undo = lambda: fh.umount(target)           # noqa: E731
    else:
        dirs = [box / "new", box / "tmp"] if what == "maildir" else [target]
        for d in dirs:
            os.chmod(d, 0o555)
        request.addfinalizer(lambda: [os.chmod(d, 0o755) for d in dirs])
        undo = lambda: [os.chmod(d, 0o755) for d in dirs]   # noqa: E731
    snap = s.snap()
    for i in range(3):
        assert_503(s.post("contact", contact(i, 200)))
    r = s.post("contact", contact(3, 200), accept=None)
    assert r.status == 503 and r.header("Retry-After"), r
    h.assert_nothing_delivered(s.maildirs, snap)
    undo()
    r = s.post("contact", contact(4, 200))
    id_ = h.check_success(r, "contact", accept_json=True)
    d = h.single_delivery(s.maildirs, snap, "contact")
    assert str(d.msg["X-Formdrop-Id"]).strip() == id_
    assert_clean(box)


# ---------------------------------------------------- Maildir removed

def test_maildir_removed_while_running(request, tmp_root):
    s = fh.start_stack(request, tmp_root)
    box = s.maildirs["contact"]
    r = s.post("contact", contact(1, 100))
    h.check_success(r, "contact", accept_json=True)
    shutil.rmtree(box)
    for i in range(3):
        assert_503(s.post("contact", contact(2 + i, 100)))
    assert not box.exists(), "the handler created the Maildir itself"
    # The other mailbox is not affected.
    r = s.post("order", [("name", "O"), ("email", "o@example.org"),
                         ("address", "Street 1"), ("item", "A"),
                         ("quantity", "1")])
    h.check_success(r, "order", accept_json=True)
    h.make_maildir(box)
    snap = s.snap()
    r = s.post("contact", contact(9, 100))
    id_ = h.check_success(r, "contact", accept_json=True)
    d = h.single_delivery(s.maildirs, snap, "contact")
    assert str(d.msg["X-Formdrop-Id"]).strip() == id_
    assert f"mailbox contact: {box} is not a writable Maildir" in \
        s.handler.log_text()


# ------------------------------------------------------ pop3d crashes

def pop3_setup(request, root, n, **kw):
    md = h.make_maildir(root / "md")
    msgs = dict(fh.write_hand_message(md / "new", i) for i in range(n))
    p = fh.Pop3d(root, {"shop": md}, **kw)
    request.addfinalizer(p.stop)
    p.start()
    return p, md, msgs


def remaining(md):
    """{base name: file name} of the messages in new/ and cur/."""
    out = {}
    for sub in ("new", "cur"):
        for name in os.listdir(md / sub):
            out[name.split(":", 1)[0]] = md / sub / name
    return out


def pop3_crlf(raw):
    out = re.sub(rb"(?<!\r)\n", b"\r\n", raw)
    return out if out.endswith(b"\r\n") else out + b"\r\n"


@pytest.mark.parametrize("victim", ["session", "server"])
def test_pop3d_killed_with_deletes_pending(request, tmp_root, victim):
    """SIGKILL before QUIT: nothing is deleted."""
    p, md, msgs = pop3_setup(request, tmp_root, 25)
    c = p.login("shop")
    assert c.cmd("STAT").startswith(b"+OK 25 ")
    for i in range(1, 26):
        assert c.cmd(f"DELE {i}").startswith(b"+OK"), i
    assert c.cmd("STAT") == b"+OK 0 0"
    sessions = p.sessions()
    assert len(sessions) == 1, sessions
    if victim == "session":
        fh.kill_pid(sessions[0])
    else:
        # The whole server: the listener and its session.
        os.killpg(p.proc.pid, signal.SIGKILL)
        p.proc.wait(5)
    assert c.wait_closed(5) is not None
    c.close()
    left = remaining(md)
    assert set(left) == set(msgs), "messages deleted without QUIT"
    for base, path in left.items():
        assert path.read_bytes() == msgs[base], f"{path} changed"
    if victim == "server":
        p.start()
    c = p.login("shop")
    assert c.cmd("STAT").startswith(b"+OK 25 "), "messages lost"
    # Every message intact over POP3.
    by_uidl = {}
    assert c.cmd("UIDL").startswith(b"+OK")
    for line in c.multi():
        num, uidl = line.split()
        by_uidl[uidl.decode()] = int(num)
    assert len(by_uidl) == 25
    for name, raw in msgs.items():
        num = by_uidl[name.split(",", 1)[0]]
        assert c.cmd(f"RETR {num}").startswith(b"+OK")
        assert b"".join(l + b"\r\n" for l in c.multi()) == pop3_crlf(raw)
    assert c.cmd("QUIT").startswith(b"+OK")
    c.close()
    if victim == "session":
        assert "killed by signal 9" in p.log_text()


def test_pop3d_session_killed_in_update_state(request, tmp_root):
    """SIGKILL while QUIT deletes 2000 messages: each one is either still
    there, byte for byte, and listed on the next login, or gone."""
    n = 2000
    p, md, msgs = pop3_setup(request, tmp_root, n)
    c = p.login("shop")
    assert c.greeting.startswith(b"+OK")
    assert c.cmd("STAT").startswith(f"+OK {n} ".encode())
    c.send("".join(f"DELE {i}\r\n" for i in range(1, n + 1)))
    for i in range(n):
        assert c.line().startswith(b"+OK"), i
    session = p.sessions()[0]
    cur = sorted(os.listdir(md / "cur"),
                 key=lambda x: (int(x.split(".")[0]), x))
    first = md / "cur" / cur[0]
    c.send("QUIT\r\n")
    # Kill as soon as the first deletion shows (or give up after 2 s).
    deadline = time.monotonic() + 2
    while first.exists() and time.monotonic() < deadline:
        pass
    fh.kill_pid(session)
    c.wait_closed(5)
    c.close()
    left = remaining(md)
    deleted = n - len(left)
    print(f"\nUPDATE kill: {deleted} of {n} deleted before SIGKILL")
    for base, path in left.items():
        assert base in msgs, f"unknown file {path}"
        assert path.read_bytes() == msgs[base], f"{path} damaged"
    assert os.listdir(md / "tmp") == []
    c = p.login("shop")
    st = c.cmd("STAT")
    assert st.startswith(f"+OK {len(left)} ".encode()), st
    assert c.cmd("UIDL").startswith(b"+OK")
    listed = {line.split()[1].decode() for line in c.multi()}
    assert listed == {b.split(",", 1)[0] for b in left}
    if left:
        assert c.cmd("RETR 1").startswith(b"+OK")
        c.multi()
    assert c.cmd("QUIT").startswith(b"+OK")


# ------------------------------------------------------- slow clients

SLOW_CONNS = 60
DEVSERVER_TIMEOUT = 30          # devserver's CONNECTION_TIMEOUT


def test_devserver_slowloris(request, tmp_root):
    conf, boxes = h.write_config(tmp_root)
    d = fh.Devserver(tmp_root, conf)
    request.addfinalizer(d.stop)
    d.start()
    socks, closed = [], {}
    stop = threading.Event()
    t0 = time.monotonic()
    for i in range(SLOW_CONNS):
        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        s.sendall(b"POST /submit/contact HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Type: application/x-www-form-urlencoded\r\n"
                  b"X-Slow: ")
        socks.append(s)
    request.addfinalizer(lambda: [s.close() for s in socks])

    def dribble():
        while not stop.is_set() and len(closed) < len(socks):
            for i, s in enumerate(socks):
                if i in closed:
                    continue
                try:
                    s.sendall(b"a")
                    s.setblocking(False)
                    try:
                        if s.recv(4096) == b"":
                            closed[i] = time.monotonic() - t0
                    except BlockingIOError:
                        pass
                    finally:
                        s.setblocking(True)
                except OSError:
                    closed[i] = time.monotonic() - t0
            stop.wait(1)

    t = threading.Thread(target=dribble, daemon=True)
    t.start()
    request.addfinalizer(stop.set)
    # Others are served meanwhile, promptly.
    for i in range(3):
        time.sleep(1)
        start = time.monotonic()
        r = d.get("/")
        assert r.status == 200 and time.monotonic() - start < 2, r
        r = h.http_request(d.port, "POST", "/submit/contact",
                           h.urlencode(contact(i, 100)),
                           {"Content-Type": fh.URLENC, "Accept": fh.JSON},
                           timeout=5)
        h.check_success(r, "contact", accept_json=True)
    # Nobody may hold a connection by dribbling: each is closed after the
    # connection timeout (+ a margin), although it sends a byte a second.
    t.join(DEVSERVER_TIMEOUT + 12 - (time.monotonic() - t0))
    stop.set()
    still = [i for i in range(len(socks)) if i not in closed]
    assert not still, (
        f"{len(still)} of {len(socks)} slowloris connections still open "
        f"after {time.monotonic() - t0:.0f}s (connection timeout "
        f"{DEVSERVER_TIMEOUT}s); closed ones: {sorted(closed.values())[:5]}")
    assert d.get("/").status == 200


def test_pop3d_silent_clients(request, tmp_root):
    """A TLS client that never sends its ClientHello and idle plain
    clients up to max_per_client: another address is still served, the
    silent ones are closed after `timeout` seconds."""
    p, md, msgs = pop3_setup(request, tmp_root, 3, timeout=3,
                             max_per_client=4)
    assert re.search(r"timeout below 600", p.log_text()), p.log_text()
    t0 = time.monotonic()
    silent_tls = socket.socket()
    silent_tls.bind(("127.0.0.1", 0))
    silent_tls.connect(("127.0.0.1", p.tls_port))
    idle = [p.client(tls=False) for _ in range(3)]
    for c in idle:
        assert c.greeting.startswith(b"+OK")
    time.sleep(0.3)
    # The fifth from 127.0.0.1 is over max_per_client.
    extra = p.client(tls=False, timeout=5)
    assert extra.greeting.startswith(b"-ERR [SYS/TEMP]"), extra.greeting
    assert extra.wait_closed(2) is not None
    extra.close()
    # 127.0.0.2 is served at once.
    start = time.monotonic()
    c = p.login("shop", source="127.0.0.2")
    assert c.cmd("STAT").startswith(b"+OK 3 ")
    assert c.cmd("QUIT").startswith(b"+OK")
    c.close()
    assert time.monotonic() - start < 2
    # The silent ones are closed after the timeout (3 s), not much later.
    silent_tls.settimeout(8)
    try:
        data = silent_tls.recv(100)
    except ConnectionError:
        data = b""
    t_tls = time.monotonic() - t0
    assert data == b"", data
    closed = [c.wait_closed(8) for c in idle]
    assert all(x is not None for x in closed), closed
    t_idle = time.monotonic() - t0
    assert 2.5 <= t_tls <= 7, t_tls
    assert t_idle <= 7, t_idle
    silent_tls.close()
    for c in idle:
        c.close()
    # 127.0.0.1 is welcome again.
    time.sleep(1.2)         # the listener reaps its sessions each second
    c = p.login("shop")
    assert c.cmd("QUIT").startswith(b"+OK")
    assert ("TLS handshake failed: closed by the client or timed out"
            in p.log_text())


def test_devserver_slowloris_beyond_connection_limit(request, tmp_root):
    """300 stalled connections from 127.0.0.2 (more than the devserver's
    256 in total) must not lock out a client from 127.0.0.1."""
    conf, boxes = h.write_config(tmp_root)
    d = fh.Devserver(tmp_root, conf)
    request.addfinalizer(d.stop)
    d.start()
    socks = []
    request.addfinalizer(lambda: [s.close() for s in socks])
    for i in range(300):
        s = socket.socket()
        s.bind(("127.0.0.2", 0))
        s.settimeout(5)
        s.connect(("127.0.0.1", d.port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        socks.append(s)
    time.sleep(0.5)
    start = time.monotonic()
    try:
        r = d.get("/", timeout=5)
    except OSError as e:
        pytest.fail(f"a client from 127.0.0.1 was not served while 300 "
                    f"stalled connections from 127.0.0.2 were open: {e!r} "
                    f"after {time.monotonic() - start:.1f}s")
    assert r.status == 200, r
