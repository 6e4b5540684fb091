"""
Helpers for the crash-safety, fault and abuse tests (test_crash.py,
test_faults.py, test_abuse.py):

  * a raw FastCGI client (byte-exact parameters and STDIN records, a body
    sent from a generator while the answer is read, a Content-Length that
    lies) talking straight to the handler's socket;
  * the handler's worker processes (children of its supervisor) and their
    resident memory from /proc;
  * a handler (+ optional nginx) over Maildirs the test chooses (on a
    tmpfs, behind a read-only bind mount, ...);
  * mounts that are undone in a finalizer;
  * formdrop-pop3d with a self-signed certificate made by openssl at test
    time, a users file, a byte-exact POP3 client bound to a chosen
    loopback source address (127.0.0.1 or 127.0.0.2);
  * formdrop-devserver;
  * Maildir integrity checks (every file complete: parses, size == S=).

Only the standard library; every process started here is stopped by its
PID.
"""

import email
import fcntl
import email.policy
import json
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import termios
import threading
import time
from pathlib import Path

import pytest

import e2e_helpers as h

POP3D = Path(os.environ.get("FORMDROP_POP3D",
                            h.REPO / "pop3d" / "formdrop-pop3d"))
DEVSERVER = Path(os.environ.get("FORMDROP_DEVSERVER",
                                h.REPO / "devserver" / "formdrop-devserver"))
WWW = h.REPO / "www"
OPENSSL = "/usr/bin/openssl"
MOUNT = "/usr/bin/mount" if os.path.exists("/usr/bin/mount") else "/bin/mount"
UMOUNT = ("/usr/bin/umount" if os.path.exists("/usr/bin/umount")
          else "/bin/umount")
URLENC = "application/x-www-form-urlencoded"
JSON = "application/json"
PASSWORD = "correct horse"
STALE_AGE = 36 * 3600          # maildir(5): tmp/ files older are removed


def keep():
    return bool(os.environ.get("FORMDROP_E2E_KEEP"))


# ------------------------------------------------------------ processes

def vm_rss_kb(pid):
    """Resident set size of pid in KiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def vm_hwm_kb(pid):
    """Peak resident set size of pid in KiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def kill_pid(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


class RssSampler:
    """Samples the VmRSS of the children of a supervisor every few ms in a
    thread; .peak_kb is the largest seen (VmHWM of each worker too)."""

    def __init__(self, parent_pid, interval=0.005):
        self.parent = parent_pid
        self.interval = interval
        self.peak_kb = 0
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop_ev.is_set():
            for pid in h.child_pids(self.parent):
                self.peak_kb = max(self.peak_kb, vm_rss_kb(pid),
                                   vm_hwm_kb(pid))
            time.sleep(self.interval)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        self.t.join(5)


# ---------------------------------------------------- FastCGI, raw client

FCGI_BEGIN_REQUEST, FCGI_ABORT_REQUEST, FCGI_END_REQUEST = 1, 2, 3
FCGI_PARAMS, FCGI_STDIN, FCGI_STDOUT, FCGI_STDERR = 4, 5, 6, 7
FCGI_RESPONDER = 1


def _record(rtype, content, rid=1):
    pad = (8 - len(content) % 8) % 8
    return (struct.pack("!BBHHBx", 1, rtype, rid, len(content), pad)
            + content + b"\0" * pad)


def _nv_len(n):
    return bytes([n]) if n < 128 else struct.pack("!I", n | 0x80000000)


def fcgi_params_bytes(params):
    out = bytearray()
    for k, v in params.items():
        k = k.encode() if isinstance(k, str) else k
        v = v.encode() if isinstance(v, str) else v
        out += _nv_len(len(k)) + _nv_len(len(v)) + k + v
    return bytes(out)


def fcgi_env(form="contact", body_len=0, content_type=URLENC, accept=JSON,
             content_length="auto", remote_addr="127.0.0.9", method="POST"):
    """The CGI variables nginx sends for POST /submit/<form>.
    content_length: "auto" (body_len), None (no CONTENT_LENGTH) or a
    string sent as-is."""
    env = h.cgi_env(method=method, path_info="/" + form,
                    content_type=content_type, accept=accept,
                    remote_addr=remote_addr)
    env.pop("PATH", None)
    if content_length == "auto":
        env["CONTENT_LENGTH"] = str(body_len)
    elif content_length is None:
        env.pop("CONTENT_LENGTH", None)
    else:
        env["CONTENT_LENGTH"] = content_length
    return env


class FcgiResult:
    def __init__(self):
        self.stdout = b""
        self.stderr = b""
        self.ended = False          # FCGI_END_REQUEST seen
        self.app_status = None
        self.sent = 0               # body bytes the handler took
        self.send_error = None
        self.elapsed = None
        self.response = None

    def __repr__(self):
        return (f"<FcgiResult ended={self.ended} sent={self.sent} "
                f"elapsed={self.elapsed} response={self.response!r} "
                f"send_error={self.send_error!r}>")


def _connect(target, timeout):
    if isinstance(target, (tuple, list)):
        return socket.create_connection(tuple(target), timeout=timeout)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(target))
    return s


def unread_bytes(sock):
    """Bytes sent on a unix stream socket that the peer has not read yet
    (SIOCOUTQ counts them until the reader takes them)."""
    return struct.unpack("i", fcntl.ioctl(sock, termios.TIOCOUTQ,
                                          b"\0" * 4))[0]


def fcgi_request(target, params, body=b"", *, chunk=32768, send_eof=True,
                 timeout=h.TIMEOUT, connected=None):
    """One FastCGI request, byte-exact: params as given (CONTENT_LENGTH is
    whatever the test put there), the body as STDIN records; body may be
    bytes or an iterable of bytes, sent from a thread while the answer is
    read (so a handler that answers early is not blocked by us).
    connected(sock) is called once connected.  Returns an FcgiResult with
    .response parsed when the handler answered."""
    res = FcgiResult()
    start = time.monotonic()
    s = _connect(target, timeout)
    if connected:
        connected(s)
    try:
        s.sendall(_record(FCGI_BEGIN_REQUEST,
                          struct.pack("!HB5x", FCGI_RESPONDER, 0)))
        pb = fcgi_params_bytes(params)
        for i in range(0, len(pb), 65535):
            s.sendall(_record(FCGI_PARAMS, pb[i:i + 65535]))
        s.sendall(_record(FCGI_PARAMS, b""))

        def chunks():
            if isinstance(body, (bytes, bytearray)):
                for i in range(0, len(body), chunk):
                    yield bytes(body[i:i + chunk])
            else:
                yield from body

        done = threading.Event()

        def sender():
            try:
                for c in chunks():
                    if done.is_set():
                        return
                    for i in range(0, len(c), 65535):
                        s.sendall(_record(FCGI_STDIN, c[i:i + 65535]))
                        res.sent += len(c[i:i + 65535])
                if send_eof:
                    s.sendall(_record(FCGI_STDIN, b""))
            except OSError as e:
                res.send_error = e

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        buf = b""
        try:
            while True:
                while len(buf) < 8:
                    data = s.recv(65536)
                    if not data:
                        raise EOFError
                    buf += data
                _, rtype, _, clen, plen = struct.unpack("!BBHHBx", buf[:8])
                while len(buf) < 8 + clen + plen:
                    data = s.recv(65536)
                    if not data:
                        raise EOFError
                    buf += data
                content = buf[8:8 + clen]
                buf = buf[8 + clen + plen:]
                if rtype == FCGI_STDOUT:
                    res.stdout += content
                elif rtype == FCGI_STDERR:
                    res.stderr += content
                elif rtype == FCGI_END_REQUEST:
                    res.app_status = struct.unpack("!I", content[:4])[0]
                    res.ended = True
                    break
        except (EOFError, ConnectionResetError):
            pass
        done.set()
        res.elapsed = time.monotonic() - start
        # Unblock the sender if the handler stopped reading.
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        t.join(10)
    finally:
        s.close()
    if res.stdout:
        try:
            res.response = h.parse_cgi_output(res.stdout)
        except ValueError:
            res.response = None
    return res


def repeat_bytes(total, byte=b"a", chunk=1 << 20):
    """A generator of `total` bytes (for bodies too large to build)."""
    block = byte * chunk
    left = total
    while left > 0:
        n = min(left, chunk)
        yield block[:n]
        left -= n


# ---------------------------------------------- handler over own Maildirs

class Stack(h.HandlerStack):
    """formdrop.fcgi (+ nginx) over Maildirs the test chose.  Like
    conftest's Stack, with `mailboxes` and `extra` config."""

    def __init__(self, root, mailboxes=None, limits=None, workers=4,
                 nginx=True, name="handler"):
        self.root = Path(root)
        self.conf, self.maildirs = h.write_config(root, limits=limits,
                                                  mailboxes=mailboxes)
        self.workers = workers
        self.name = name
        self.handler = h.Handler(root, self.conf, workers=workers, name=name)
        self.nginx = (h.Nginx(root, f"unix:{self.handler.sock}")
                      if nginx else None)

    def start(self):
        self.handler.start()
        wait_for(lambda: len(self.workers_pids()) == self.workers,
                 what="handler workers")
        if self.nginx:
            self.nginx.start()
        return self

    def restart_handler(self, name="handler2"):
        """Stop the handler and start a fresh one on the same config and
        socket (nginx keeps its upstream), logging to <name>.log."""
        self.handler.stop()
        self.handler = h.Handler(self.root, self.conf, workers=self.workers,
                                 listen=self.handler.listen, name=name)
        self.handler.start()
        return self.handler

    @property
    def supervisor(self):
        return self.handler.proc.pid

    def workers_pids(self):
        return h.child_pids(self.handler.proc.pid)

    def post(self, form, pairs=None, data=None, content_type=URLENC,
             accept=JSON, timeout=h.TIMEOUT):
        """POST through nginx with http.client (lighter than curl)."""
        if data is None:
            data = h.urlencode(pairs)
        headers = {"Content-Type": content_type}
        if accept:
            headers["Accept"] = accept
        return h.http_request(self.nginx.port, "POST", f"/submit/{form}",
                              data, headers, timeout=timeout)

    def fcgi(self, params, body=b"", **kw):
        return fcgi_request(str(self.handler.sock), params, body, **kw)

    def snap(self):
        return h.snapshot(self.maildirs)


def wait_for(pred, timeout=10, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def start_stack(request, root, **kw):
    s = Stack(root, **kw)
    request.addfinalizer(s.stop)
    return s.start()


def need(path, what):
    if not os.path.exists(path):
        pytest.skip(f"{what} not installed ({path})")


# ------------------------------------------------------------- mounts

def _run(cmd):
    return subprocess.run(cmd, capture_output=True, timeout=30,
                          env=h.clean_env())


def mount_tmpfs(request, path, size="256k"):
    """Mount a tmpfs of `size` on path (root only; skips otherwise);
    unmounted in a finalizer (after the servers stopped: register it
    before starting them)."""
    if not h.is_root():
        pytest.skip("mounting a tmpfs needs root")
    Path(path).mkdir(parents=True, exist_ok=True)
    p = _run([MOUNT, "-t", "tmpfs", "-o", f"size={size},mode=0755",
              "tmpfs", str(path)])
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {p.stderr.decode().strip()}")
    request.addfinalizer(lambda: umount(path))


def bind_readonly(request, path):
    """A read-only bind mount of path onto itself (root only)."""
    p = _run([MOUNT, "--bind", str(path), str(path)])
    if p.returncode != 0:
        pytest.skip(f"cannot bind-mount: {p.stderr.decode().strip()}")
    request.addfinalizer(lambda: umount(path))
    p = _run([MOUNT, "-o", "remount,ro,bind", str(path)])
    if p.returncode != 0:
        pytest.skip(f"cannot remount read-only: {p.stderr.decode().strip()}")


def is_mountpoint(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def umount(path):
    for _ in range(5):
        if not is_mountpoint(path):
            return
        if _run([UMOUNT, str(path)]).returncode != 0:
            time.sleep(0.2)
    if is_mountpoint(path):
        _run([UMOUNT, "-l", str(path)])


# ------------------------------------------------------- Maildir checks

NAME_RE = re.compile(r"^(?P<base>[^,:]+),S=(?P<S>[0-9]+),W=(?P<W>[0-9]+)"
                     r"(?::2,[A-Za-z]*)?$")
# A message still being written: tmp/ holds it under its unique base
# name; the sizes are added when it moves to new/.
TMP_NAME_RE = re.compile(r"^[0-9]+\.M[0-9]{6}P[0-9]+Q[0-9]+R[0-9a-f]{16}"
                         r"\.[^,:/]+$")


class Quick:
    """A message parsed the fast way (email's compat32 policy): enough to
    tell it is complete and whose it is.  .full() gives e2e_helpers'
    Delivered for the header-by-header checks."""

    def __init__(self, path, raw):
        self.path = Path(path)
        self.name = self.path.name
        self.raw = raw
        self.msg = email.message_from_bytes(raw)
        self.parts = (self.msg.get_payload()
                      if self.msg.is_multipart() else [])

    @property
    def id(self):
        return (self.msg["X-Formdrop-Id"] or "").strip()

    @property
    def data(self):
        return json.loads(self.parts[1].get_payload(decode=True)
                          .decode("utf-8"))

    def full(self):
        return h.Delivered(self.path)


def read_message(path):
    """(Quick, problem) for a file of new/ or cur/: problem is None when
    the file is a complete message (name says S= and W= that match its
    bytes, it parses as multipart/mixed with its closing boundary, its
    JSON copy is readable)."""
    path = Path(path)
    m = NAME_RE.match(path.name)
    if not m:
        return None, f"{path.name}: not a formdrop Maildir name"
    raw = path.read_bytes()
    if int(m.group("S")) != len(raw):
        return None, f"{path.name}: S={m.group('S')} but {len(raw)} bytes"
    if int(m.group("W")) != len(raw) + raw.count(b"\n"):
        return None, f"{path.name}: W= does not match"
    try:
        d = Quick(path, raw)
        boundary = d.msg.get_boundary()
        if not boundary or len(d.parts) < 2:
            return None, f"{path.name}: not multipart/mixed with 2 parts"
        if f"\n--{boundary}--".encode() not in raw:
            return None, f"{path.name}: no closing boundary"
        d.data  # the JSON copy decodes
    except Exception as e:      # noqa: BLE001 - any parse failure counts
        return None, f"{path.name}: does not parse: {e!r}"
    return d, None


def all_messages(folder):
    """{X-Formdrop-Id: [Quick, ...]} and a list of problems."""
    by_id, problems = {}, []
    for name in sorted(os.listdir(folder)):
        d, problem = read_message(Path(folder) / name)
        if problem:
            problems.append(problem)
            continue
        by_id.setdefault(d.id, []).append(d)
    return by_id, problems


def age_file(path, seconds):
    t = time.time() - seconds
    os.utime(path, (t, t))


def write_hand_message(folder, i, when=1700000000, host="hand.example"):
    """A small hand-written message with a proper Maildir name; returns
    (name, bytes)."""
    raw = (f"From: Sender {i} <s{i}@example.org>\n"
           f"To: shop@test.example\n"
           f"Subject: hand-written message {i}\n"
           f"Message-ID: <hand{i}@hand.example>\n\n"
           f"Body of message {i}.\n.\nEnd {i}.\n").encode()
    crlf = len(raw) + raw.count(b"\n")
    name = (f"{when + i}.M{i % 1000000}P4242Q{i}R{i:016x}.{host},"
            f"S={len(raw)},W={crlf}")
    with open(Path(folder) / name, "wb") as f:
        f.write(raw)
    return name, raw


# ------------------------------------------------------------------ TLS

def self_signed(folder):
    """A self-signed certificate for 127.0.0.1/localhost; (cert, key)."""
    folder = Path(folder)
    cert, key = folder / "pop3.crt", folder / "pop3.key"
    p = _run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
              "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key),
              "-out", str(cert), "-days", "2", "-subj",
              "/CN=localhost", "-addext",
              "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:127.0.0.2",
              "-addext", "extendedKeyUsage=serverAuth"])
    assert p.returncode == 0, p.stderr
    os.chmod(key, 0o600)
    return cert, key


_HASH = {}


def password_hash(pw=PASSWORD):
    if pw not in _HASH:
        p = subprocess.run([str(POP3D), "--hash"], input=(pw + "\n").encode(),
                           capture_output=True, timeout=30,
                           env=h.clean_env())
        assert p.returncode == 0, p.stderr
        _HASH[pw] = p.stdout.decode().strip()
    return _HASH[pw]


# ---------------------------------------------------------------- pop3d

class Pop3d:
    """formdrop-pop3d -f -c <conf>: implicit TLS and STLS ports on
    127.0.0.1 and 127.0.0.2, users {name: maildir} with PASSWORD."""

    def __init__(self, root, users, timeout=None, max_per_client=None,
                 max_connections=None):
        self.root = Path(root)
        self.users = users
        self.opts = dict(timeout=timeout, max_per_client=max_per_client,
                         max_connections=max_connections)
        self.conf = self.root / "pop3d.conf"
        self.users_file = self.root / "pop3d.users"
        self.log = self.root / "pop3d.log"
        self.proc = None
        self.cert, self.key = self_signed(self.root)

    def _write(self):
        self.users_file.write_text("".join(
            f"{u}:{password_hash()}::::{md}::\n"
            for u, md in self.users.items()))
        os.chmod(self.users_file, 0o600)
        lines = ["[pop3]",
                 f"listen = 127.0.0.1:{self.port}",
                 f"listen = 127.0.0.2:{self.port}",
                 f"listen_tls = 127.0.0.1:{self.tls_port}",
                 f"listen_tls = 127.0.0.2:{self.tls_port}",
                 f"certificate = {self.cert}",
                 f"key = {self.key}",
                 f"users = {self.users_file}"]
        if h.is_root():
            lines.append("user = root")
        for k, v in self.opts.items():
            if v is not None:
                lines.append(f"{k} = {v}")
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self):
        need(POP3D, "formdrop-pop3d (make)")
        return h.start_retrying(self._start_once, self.stop)

    def _start_once(self):
        self.port, self.tls_port = h.free_port(), h.free_port()
        self._write()
        self.log.write_bytes(b"")
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(
                [str(POP3D), "-f", "-c", str(self.conf)],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                env=h.clean_env(), cwd=str(self.root),
                start_new_session=True)
        h.wait_until(lambda: self.log_text().count("listening on") >= 4,
                     proc=self.proc, what="pop3d listening", log=self.log)
        return self

    def stop(self):
        if self.proc is not None:
            h.stop_process(self.proc)
            h.kill_group_leftovers(self.proc.pid)

    def sessions(self):
        return h.child_pids(self.proc.pid)

    def wait_sessions_reaped(self):
        """The server counts a session's failures when it reaps it."""
        wait_for(lambda: not h.child_pids(self.proc.pid, zombies=True),
                 what="the server to reap its sessions")

    def log_text(self):
        return self.log.read_text(errors="replace")

    def context(self):
        ctx = ssl.create_default_context(cafile=str(self.cert))
        return ctx

    def client(self, tls=True, source="127.0.0.1", timeout=15):
        return Pop3Client(self.tls_port if tls else self.port,
                          self.context() if tls else None, source, timeout)

    def login(self, user, password=PASSWORD, source="127.0.0.1",
              retries=50):
        """A logged-in TLS client (retries while a dying session still
        holds the maildrop lock)."""
        for _ in range(retries):
            c = self.client(source=source)
            assert c.greeting.startswith(b"+OK"), c.greeting
            assert c.cmd(f"USER {user}").startswith(b"+OK")
            r = c.cmd(f"PASS {password}")
            if r.startswith(b"+OK"):
                return c
            c.close()
            if b"[IN-USE]" not in r:
                raise AssertionError(f"login failed: {r!r}")
            time.sleep(0.1)
        raise AssertionError("maildrop stays locked")


class Pop3Client:
    """A byte-exact POP3 client over plain TCP or implicit TLS, bound to a
    loopback source address."""

    def __init__(self, port, ctx=None, source="127.0.0.1", timeout=15,
                 greet=True, host="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.bind((source, 0))
        self.sock.connect((host, port))
        if ctx is not None:
            self.sock = ctx.wrap_socket(self.sock, server_hostname=host)
        self.buf = b""
        self.greeting = self.line() if greet else None

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"closed; unread {self.buf[:200]!r}")
            self.buf += chunk
        i = self.buf.index(b"\r\n")
        out, self.buf = self.buf[:i], self.buf[i + 2:]
        return out

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.line()

    def multi(self):
        out = []
        while True:
            ln = self.line()
            if ln == b".":
                return out
            out.append(ln[1:] if ln.startswith(b"..") else ln)

    def wait_closed(self, timeout):
        """Seconds until the peer closed, or None."""
        start = time.monotonic()
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(65536):
                    return time.monotonic() - start
        except (ConnectionError, ssl.SSLError):
            return time.monotonic() - start
        except (socket.timeout, TimeoutError):
            return None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ------------------------------------------------------------ devserver

class Devserver:
    """formdrop-devserver -l 127.0.0.1:PORT -r www -c conf (it starts its
    own handler)."""

    def __init__(self, root, conf):
        self.root = Path(root)
        self.conf = conf
        self.log = self.root / "devserver.log"
        self.proc = None

    def start(self):
        need(DEVSERVER, "formdrop-devserver (make)")
        return h.start_retrying(self._start_once, self.stop)

    def _start_once(self):
        self.port = h.free_port()
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(
                [str(DEVSERVER), "-l", f"127.0.0.1:{self.port}", "-r",
                 str(WWW), "-c", str(self.conf), "-x", str(h.HANDLER)],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                env=h.clean_env(), cwd=str(self.root),
                start_new_session=True)
        h.wait_until(lambda: h.can_connect_tcp("127.0.0.1", self.port),
                     proc=self.proc, what="devserver port", log=self.log)
        return self

    def stop(self):
        if self.proc is not None:
            h.stop_process(self.proc)
            h.kill_group_leftovers(self.proc.pid)

    def get(self, path, timeout=5):
        return h.http_request(self.port, "GET", path, timeout=timeout)


# ---------------------------------------------------- header injection

def check_headers_exact(d, box):
    """The message's header set is exactly the expected one, To and From as
    configured, nothing user-made became a header (also in the parts)."""
    h.check_raw_headers(d)
    h.check_header_set(d)
    h.check_part_headers(d)
    h.check_raw_part_headers(d)
    assert h.addr(d.msg["To"]) == h.TO[box], str(d.msg["To"])
    assert h.addr(d.msg["From"]) == h.FROM, str(d.msg["From"])
    for name in ("bcc", "cc", "resent-to", "resent-bcc", "x-injected"):
        assert d.msg[name] is None, (name, d.msg[name])
    assert len(d.msg.get_all("To")) == 1
    assert len(d.msg["Reply-To"].addresses) == 1, str(d.msg["Reply-To"])
