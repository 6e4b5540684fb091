"""
Helpers for the end-to-end tests of formdrop-devserver (test_devserver.py,
test_browser.py, test_make_run.py): the development server as a
subprocess (with its own handler, -c, or a running one, -H), its process
tree, its request log, raw HTTP clients, comparisons with nginx, and
process and port checks for the demo.

Only the Python standard library is used; e2e_helpers does the rest
(configurations, Maildirs, the message checker).
"""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import e2e_helpers as h

DEVSERVER = Path(os.environ.get(
    "FORMDROP_DEVSERVER", h.REPO / "devserver" / "formdrop-devserver"))
WWW = h.REPO / "www"

READY_RE = re.compile(r"ready: open http://(\S+)/")
LOG_RE = re.compile(r"^formdrop-devserver: (?P<method>[A-Z]+) (?P<path>\S+) "
                    r"(?P<status>[0-9]{3}) (?P<bytes>[0-9]+)B "
                    r"(?P<ms>[0-9]+)ms(?P<aborted> \(aborted\))?$")
ID_IN_TEXT = re.compile(rb"[0-9]{8}-[0-9]{6}-[0-9a-f]{8}")

# The headers whose values must be the same behind nginx and the devserver.
COMPARED_HEADERS = ("Location", "Content-Type", "Allow", "Retry-After")
# Headers each web server sets on its own: not compared.
SERVER_HEADERS = {"date", "server", "connection", "content-length",
                  "transfer-encoding", "keep-alive"}


# ------------------------------------------------------------- processes

def cmdline(pid):
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def proc_state(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2:].split()[0]


def alive(pid):
    s = proc_state(pid)
    return s is not None and s != "Z"


def children(pid):
    """Direct children of pid (every thread's), from /proc."""
    out = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out.update(int(c) for c in (task / "children").read_text().split())
        except OSError:
            pass
    return sorted(out)


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        for c in children(todo.pop()):
            out.append(c)
            todo.append(c)
    return out


def pids_matching(text):
    """Live PIDs (not this test's) whose command line mentions text."""
    me = os.getpid()
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        if any(text in a for a in cmdline(int(d))) and alive(int(d)):
            out.append(int(d))
    return sorted(out)


def kill_pids(pids, sig=signal.SIGKILL):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def port_free(port, host="127.0.0.1"):
    """Nothing listens on host:port (a bind would succeed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def free_ports(n):
    """n distinct free loopback ports."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


# ------------------------------------------------------------- devserver

class Devserver:
    """formdrop-devserver on a free loopback port, its stderr in a file.
    conf: start its own handler (-c); handler: use that one (-H)."""

    def __init__(self, root, conf=None, handler=None, www=WWW, workers=2,
                 args=(), name="devserver"):
        self.root = Path(root)
        self.conf = conf
        self.handler = handler
        self.www = Path(www)
        self.workers = workers
        self.args = list(args)
        self.log = self.root / f"{name}.log"
        self.proc = None
        self.port = None
        self.handler_tmp = None     # the private folder of its handler socket

    def command(self, port):
        cmd = [str(DEVSERVER), "-l", f"127.0.0.1:{port}", "-r", str(self.www),
               "-w", str(self.workers)]
        if self.conf is not None:
            cmd += ["-c", str(self.conf)]
        if self.handler is not None:
            cmd += ["-H", str(self.handler)]
        return cmd + self.args

    def start(self, timeout=20):
        if not DEVSERVER.exists():
            raise RuntimeError(f"{DEVSERVER} does not exist: run make first")
        return h.start_retrying(
            lambda: self._start_once(timeout), self.stop,
            retry_if=lambda e: "cannot listen" in h.read_log(self.log))

    def _start_once(self, timeout):
        self.port = h.free_port()
        self.log.write_bytes(b"")
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(
                self.command(self.port), stdin=subprocess.DEVNULL,
                stdout=logf, stderr=logf, env=h.clean_env(),
                cwd=self.root, start_new_session=True)
        want = f"ready: open http://127.0.0.1:{self.port}/"
        h.wait_until(lambda: want in h.read_log(self.log) and
                     h.can_connect_tcp("127.0.0.1", self.port),
                     timeout=timeout, proc=self.proc,
                     what="the devserver's ready line", log=self.log)
        m = re.search(r"form handler at unix:(\S+)/fcgi\.sock",
                      h.read_log(self.log))
        if m and self.conf is not None:
            self.handler_tmp = Path(m.group(1))
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return None
        tree = descendants(self.proc.pid) if self.proc.poll() is None else []
        rc = h.stop_process(self.proc, sig)
        # Whatever it started and left behind is in its process group.
        h.kill_group_leftovers(self.proc.pid)
        kill_pids([p for p in tree if alive(p)])
        return rc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # -- its handler
    def handler_pid(self):
        """The formdrop.fcgi master the devserver started (its child)."""
        for c in children(self.proc.pid):
            if any("formdrop.fcgi" in a for a in cmdline(c)[:1]):
                return c
        return None

    def handler_tree(self):
        """The handler master and its workers."""
        pid = self.handler_pid()
        return [] if pid is None else [pid] + descendants(pid)

    # -- clients
    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def url(self, path):
        return self.base + path

    def request(self, method, path, body=None, headers=None, timeout=h.TIMEOUT):
        return h.http_request(self.port, method, path, body, headers,
                              timeout=timeout)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def raw(self, data, timeout=10):
        """Send raw bytes, read the answer until the server closes or the
        timeout; returns the bytes."""
        return raw_http(self.port, data, timeout)

    def post(self, form, data=None, **kw):
        if isinstance(data, (list, tuple)):
            data = h.urlencode(data)
            kw.setdefault("content_type", "application/x-www-form-urlencoded")
        return h.curl(self.url(f"/submit/{form}"), data=data,
                      workdir=self.root, **kw)

    # -- its log
    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def requests_logged(self):
        out = []
        for line in self.log_text().splitlines():
            m = LOG_RE.match(line)
            if m:
                out.append(m.groupdict())
        return out


def raw_http(port, data, timeout=10):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
        except socket.timeout:
            pass
    return b"".join(chunks)


def parse_raw_response(raw):
    """(status, headers [(name, value)], body) of one raw HTTP/1.1 answer
    (Content-Length bodies only, which is all the devserver sends)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] ([0-9]{3})", lines[0])
    if not m:
        raise AssertionError(f"not an HTTP answer: {raw[:300]!r}")
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    for k, v in headers:
        if k.lower() == "content-length":
            body = body[:int(v)]
    return int(m.group(1)), headers, body


# ------------------------------------------------------------ comparisons

def mask_ids(data):
    if isinstance(data, str):
        return ID_IN_TEXT.sub(b"<id>", data.encode()).decode()
    return ID_IN_TEXT.sub(b"<id>", data)


def compare(ng, ds, what=""):
    """The devserver's answer ds is nginx's answer ng: same status, same
    compared headers, same body, after masking submission ids."""
    assert ds.status == ng.status, f"{what}: status {ds.status} != nginx " \
        f"{ng.status}\nnginx: {ng!r}\ndevserver: {ds!r}"
    for name in COMPARED_HEADERS:
        a = [mask_ids(v) for v in ng.header_all(name)]
        b = [mask_ids(v) for v in ds.header_all(name)]
        assert a == b, f"{what}: {name} {b} != nginx {a}"
    assert mask_ids(ds.body) == mask_ids(ng.body), (
        f"{what}: bodies differ\nnginx: {ng.body[:800]!r}\n"
        f"devserver: {ds.body[:800]!r}")


def header_multiset(r):
    """{lower-case name: [values]} without the headers each server sets."""
    out = {}
    for k, v in r.headers:
        if k.lower() not in SERVER_HEADERS:
            out.setdefault(k.lower(), []).append(mask_ids(v))
    return out


def wait_for(pred, timeout=10, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
