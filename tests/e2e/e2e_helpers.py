"""
Helpers for the formdrop end-to-end tests: temporary configurations and
Maildirs, the real handler and nginx as subprocesses, real clients (curl,
cgi-fcgi, http.client, plain CGI exec) and a strict reader for the messages
the handler delivers.

Nothing here mocks the handler: every request goes to the binary built in
cgi/formdrop.fcgi.  Only the Python standard library is used.
"""

import base64
import datetime
import email
import email.policy
import email.utils
import hashlib
import html
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HANDLER = Path(os.environ.get("FORMDROP_FCGI", REPO / "cgi" / "formdrop.fcgi"))
TEMPLATES = Path(os.environ.get("FORMDROP_TEMPLATES", REPO / "templates"))
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CURL = shutil.which("curl") or "/usr/bin/curl"
CGI_FCGI = shutil.which("cgi-fcgi") or "/usr/bin/cgi-fcgi"
SPAWN_FCGI = shutil.which("spawn-fcgi") or "/usr/bin/spawn-fcgi"
FASTCGI_PARAMS = "/etc/nginx/fastcgi_params"

HOSTNAME = "test.example"
# The address of the demo gateway's signing certificate, so that signed
# mailboxes pass --check without a warning.
FROM = ("Formdrop", "forms@formdrop.localhost")
TO = {"contact": ("Shop", "shop@test.example"),
      "orders": ("Orders", "orders@test.example")}
FORM_MAILBOX = {"contact": "contact", "order": "orders"}
THANKS = {"contact": "/thanks.html", "order": "/thanks.html"}

LIMITS = dict(body_max=1048576, fields_max=100, field_max=8192,
              files_max=4, file_max=524288)

ID_RE = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{8}$")
MAILDIR_NAME_RE = re.compile(
    r"^(?P<secs>[0-9]+)\.M(?P<usec>[0-9]+)P(?P<pid>[0-9]+)Q(?P<q>[0-9]+)"
    r"R(?P<rand>[0-9a-fA-F]+)\.(?P<host>[^,/:]+),S=(?P<S>[0-9]+),W=(?P<W>[0-9]+)$")

# Headers every delivered message carries exactly once.
REQUIRED_HEADERS = {
    "date", "from", "to", "subject", "message-id", "mime-version",
    "reply-to", "received", "x-formdrop-form", "x-formdrop-id",
    "content-type",
}
# Headers a message may carry besides those (none of them user-controlled).
OPTIONAL_HEADERS = {"content-transfer-encoding", "return-path", "delivered-to"}
# Headers an attachment or body part may carry.
PART_HEADERS = {"content-type", "content-transfer-encoding",
                "content-disposition", "content-description", "content-id",
                "mime-version"}

CGI_VARS = ("GATEWAY_INTERFACE", "REQUEST_METHOD", "CONTENT_TYPE",
            "CONTENT_LENGTH", "PATH_INFO", "QUERY_STRING", "SCRIPT_NAME",
            "REQUEST_URI", "DOCUMENT_URI", "REMOTE_ADDR", "HTTP_ACCEPT",
            "SERVER_PROTOCOL", "FORMDROP_CONF", "FCGI_WEB_SERVER_ADDRS")

TIMEOUT = 30          # seconds for any single client subprocess
START_TIMEOUT = 10    # seconds for a server to come up


def html_escape(s):
    return html.escape(s, quote=True)


def is_root():
    return os.geteuid() == 0


def clean_env(**extra):
    """The test's environment without anything that could make the handler
    think it runs as CGI, or make curl use a proxy."""
    env = {k: v for k, v in os.environ.items()
           if k not in CGI_VARS and not k.lower().endswith("_proxy")}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
    env.update(extra)
    return env


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_retrying(attempt, stop, tries=5, retry_if=None):
    """Start a server on ports from free_port(): attempt() picks them,
    starts the process and waits until it is ready, raising RuntimeError
    when it is not.  Another process may take a port between free_port()
    and the server's bind, so a failed attempt is stopped and made again
    with new ports, while retry_if(error) (if given) says the port was the
    cause.  Returns what attempt() returns."""
    for i in range(tries):
        try:
            return attempt()
        except RuntimeError as e:
            stop()
            if i == tries - 1 or (retry_if is not None and not retry_if(e)):
                raise


def make_tmpdir(prefix="fd-e2e-"):
    """A private temporary folder whose path is short enough for a unix
    socket (sun_path is 108 bytes) and traversable by nginx workers."""
    base = tempfile.gettempdir()
    if len(base) > 40:
        base = "/tmp"
    d = Path(tempfile.mkdtemp(prefix=prefix, dir=base)).resolve()
    os.chmod(d, 0o755)
    return d


def make_maildir(path):
    path = Path(path)
    for sub in ("tmp", "new", "cur"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


SCREENING_KEYS = re.compile(
    r"^(token|token_failure|token_min_age|token_max_age|honeypot|rate)\s*=.*\n",
    re.M)


def intake_forms(root):
    """The shipped forms copied to root/forms without their spam and
    double-submit screening (token, honeypot, rate): the intake tests post
    straight to /submit/ as a client of the parser would.  The screening
    itself is tested on the shipped forms as they are (test_screening)."""
    dst = Path(root) / "forms"
    if not dst.exists():
        shutil.copytree(TEMPLATES, dst)
        for f in dst.glob("*.form"):
            f.write_text(SCREENING_KEYS.sub("", f.read_text(encoding="utf-8")),
                         encoding="utf-8")
    return dst


def write_config(root, forms=None, limits=None, mailboxes=None,
                 hostname=HOSTNAME, extra_formdrop="", extra="",
                 mailbox_extra=None):
    """Write root/formdrop.conf; returns (path, {mailbox: maildir path}).
    mailbox_extra: {mailbox: "key = value" lines (str or list)} appended
    to that [mailbox] section after its maildir/from/to."""
    root = Path(root)
    forms = intake_forms(root) if forms is None else forms
    lim = dict(LIMITS)
    lim.update(limits or {})
    if mailboxes is None:
        mailboxes = {name: make_maildir(root / "spool" / name)
                     for name in ("contact", "orders")}
    text = ["[formdrop]",
            f"forms = {forms}",
            f"hostname = {hostname}"]
    if extra_formdrop:
        text.append(extra_formdrop)
    text.append("")
    text.append("[limits]")
    for k in ("body_max", "fields_max", "field_max", "files_max", "file_max"):
        text.append(f"{k} = {lim[k]}")
    for name, path in mailboxes.items():
        disp, addr = TO[name]
        text += ["", f"[mailbox {name}]",
                 f"maildir = {path}",
                 f"from = {FROM[0]} <{FROM[1]}>",
                 f"to = {disp} <{addr}>"]
        more = (mailbox_extra or {}).get(name)
        if more:
            text += [more] if isinstance(more, str) else list(more)
    if extra:
        text += ["", extra]
    conf = root / "formdrop.conf"
    conf.write_text("\n".join(text) + "\n", encoding="utf-8")
    return conf, {k: Path(v) for k, v in mailboxes.items()}


def spoil_not_after(path):
    """Rewrite the PEM certificate at path with the month of its notAfter
    set to 99: it still parses, but OpenSSL cannot compare the date with
    the time.  The certificate's first two UTCTimes are its validity."""
    lines = path.read_text().splitlines()
    der = bytearray(base64.b64decode("".join(lines[1:-1])))
    first = der.index(b"\x17\x0d")
    month = der.index(b"\x17\x0d", first + 1) + 4
    der[month:month + 2] = b"99"
    path.write_text("-----BEGIN CERTIFICATE-----\n" +
                    base64.encodebytes(bytes(der)).decode() +
                    "-----END CERTIFICATE-----\n")
    return path


def wait_until(pred, timeout=START_TIMEOUT, interval=0.02, proc=None,
               what="condition", log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"process exited with {proc.returncode} while waiting for "
                f"{what}; log:\n{read_log(log)}")
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}; "
                       f"log:\n{read_log(log)}")


def read_log(path):
    if path is None:
        return ""
    try:
        return Path(path).read_text(errors="replace")[-6000:]
    except OSError:
        return ""


def can_connect_unix(path):
    if not os.path.exists(path):
        return False
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def can_connect_tcp(host, port):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def stop_process(proc, sig=signal.SIGTERM, timeout=10):
    """Stop a process we started (by its PID); escalate to SIGKILL of it and
    of its own process group (created by us with start_new_session)."""
    if proc is None or proc.poll() is not None:
        return proc.returncode if proc else None
    try:
        os.kill(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return proc.wait(timeout=timeout)


def _proc_stats():
    """(pid, state, ppid, pgrp) of every process in /proc."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            st = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        state, ppid, pgrp = st[st.rfind(")") + 2:].split()[:3]
        yield int(d), state, int(ppid), int(pgrp)


def child_pids(pid, zombies=False):
    """Child PIDs of pid; with zombies, also those it has not reaped yet."""
    return [p for p, state, ppid, _ in _proc_stats()
            if ppid == pid and (zombies or state != "Z")]


def pids_in_group(pgid):
    """PIDs of live (non-zombie) processes whose process group is pgid."""
    return [p for p, state, _, pgrp in _proc_stats()
            if pgrp == pgid and state != "Z"]


def kill_group_leftovers(pgid):
    """Last resort for worker processes of a handler we started that
    outlived it: they are in the process group we created for it."""
    for pid in pids_in_group(pgid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Handler:
    """formdrop.fcgi started in the foreground with -f, its log in a file."""

    def __init__(self, root, conf, listen=None, workers=4, args=None,
                 env=None, name="handler"):
        self.root = Path(root)
        self.conf = Path(conf)
        self.workers = workers
        self.log = self.root / f"{name}.log"
        if listen is None:
            listen = "unix:" + str(self.root / f"{name}.sock")
        self.listen = listen
        if listen.startswith("unix:"):
            self.sock = Path(listen[5:])
            self.tcp = None
        else:
            self.sock = None
            host, port = listen.rsplit(":", 1)
            self.tcp = (host, int(port))
        self.args = args
        self.env = env
        self.proc = None

    @property
    def target(self):
        """What cgi-fcgi -connect and nginx fastcgi_pass want."""
        return str(self.sock) if self.sock else "%s:%d" % self.tcp

    def command(self):
        if self.args is not None:
            return [str(HANDLER)] + list(self.args)
        flag = "-s" if self.sock else "-b"
        return [str(HANDLER), "-f", "-c", str(self.conf), flag, self.listen,
                "-w", str(self.workers)]

    def start(self):
        if not HANDLER.exists():
            raise RuntimeError(f"{HANDLER} does not exist: run make first")
        logf = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=logf,
                stderr=logf, env=self.env or clean_env(), cwd=self.root,
                start_new_session=True)
        finally:
            logf.close()
        if self.sock:
            wait_until(lambda: can_connect_unix(self.sock), proc=self.proc,
                       what=f"handler socket {self.sock}", log=self.log)
        else:
            wait_until(lambda: can_connect_tcp(*self.tcp), proc=self.proc,
                       what=f"handler port {self.tcp}", log=self.log)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return None
        rc = stop_process(self.proc)
        kill_group_leftovers(self.proc.pid)
        return rc

    def log_text(self):
        return read_log(self.log)


NGINX_CONF = """\
{user}
worker_processes 2;
error_log {root}/error.log info;
pid {root}/nginx.pid;
events {{ worker_connections 512; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/client_body;
    fastcgi_temp_path {root}/fastcgi_temp;
    proxy_temp_path {root}/proxy_temp;
    uwsgi_temp_path {root}/uwsgi_temp;
    scgi_temp_path {root}/scgi_temp;
    client_max_body_size 20m;
    client_body_buffer_size 4m;
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        location ~ ^/submit(/.*)?$ {{
            fastcgi_pass {upstream};
            include {params};
            fastcgi_param SCRIPT_NAME /submit;
            fastcgi_param PATH_INFO $1;
            fastcgi_read_timeout 30s;
        }}
        location = /thanks.html {{ return 200 "thanks\\n"; }}
    }}
}}
"""


class Nginx:
    conf_template = NGINX_CONF

    def __init__(self, root, upstream):
        self.root = Path(root) / "nginx"
        self.root.mkdir(exist_ok=True)
        self.upstream = upstream
        self.proc = None
        self.port = None

    def start(self):
        return start_retrying(self._start_once, self.stop)

    def _start_once(self):
        self.port = free_port()
        conf = self.root / "nginx.conf"
        conf.write_text(self.conf_template.format(
            user="user root;" if is_root() else "",
            root=self.root, port=self.port, upstream=self.upstream,
            params=FASTCGI_PARAMS))
        with open(self.root / "stderr.log", "ab") as logf:
            self.proc = subprocess.Popen(
                [NGINX, "-p", str(self.root), "-c", str(conf),
                 "-e", str(self.root / "error.log"), "-g", "daemon off;"],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                env=clean_env(), start_new_session=True)
        wait_until(lambda: can_connect_tcp("127.0.0.1", self.port),
                   proc=self.proc, what="nginx port",
                   log=self.root / "error.log")
        return self

    def stop(self):
        if self.proc is not None:
            stop_process(self.proc, signal.SIGTERM)
            kill_group_leftovers(self.proc.pid)

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"


# ---------------------------------------------------------------- responses

class HandlerStack:
    """The handler, and nginx in front of it when there is one: started in
    that order, stopped in the other.  Subclasses set self.handler and
    self.nginx (None without nginx)."""

    handler = None
    nginx = None

    def start(self):
        self.handler.start()
        if self.nginx:
            self.nginx.start()
        return self

    def stop(self):
        try:
            if self.nginx:
                self.nginx.stop()
        finally:
            self.handler.stop()


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers          # list of (name, value)
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def content_type(self):
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def __repr__(self):
        return (f"<Response {self.status} {self.reason!r} {self.headers!r} "
                f"body={self.body[:600]!r}>")


def parse_http_headers(raw):
    """Parse curl -D output; keep the last non-1xx block."""
    blocks = [b for b in re.split(rb"\r?\n\r?\n", raw) if b.strip()]
    for block in reversed(blocks):
        lines = block.decode("latin-1").splitlines()
        m = re.match(r"HTTP/[0-9.]+ ([0-9]{3}) ?(.*)$", lines[0])
        if not m:
            continue
        status = int(m.group(1))
        if 100 <= status < 200 and block is not blocks[-1]:
            continue
        headers = []
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers.append((k.strip(), v.strip()))
        return status, m.group(2).strip(), headers
    raise ValueError(f"no HTTP status in {raw!r}")


def curl(url, *, data=None, content_type=None, form=None, accept=None,
         method=None, headers=(), timeout=TIMEOUT, workdir=None):
    """Send one request with curl; data is bytes (sent as-is), form is a list
    of "name=value" strings or ("-F", spec) tuples (curl builds the
    multipart/form-data body)."""
    tmp = Path(tempfile.mkdtemp(prefix="curl-", dir=workdir))
    try:
        cmd = [CURL, "-sS", "--noproxy", "*", "--max-time", str(timeout),
               "-o", str(tmp / "body"), "-D", str(tmp / "headers"),
               "-H", "Expect:"]
        if method:
            cmd += ["-X", method]
        if content_type is not None:
            cmd += ["-H", f"Content-Type: {content_type}"]
        if accept is not None:
            cmd += ["-H", f"Accept: {accept}"]
        for h in headers:
            cmd += ["-H", h]
        if data is not None:
            (tmp / "data").write_bytes(data)
            cmd += ["--data-binary", "@" + str(tmp / "data")]
        for spec in form or ():
            # "name=value" is sent literally (--form-string); a tuple
            # ("-F", spec) uses curl's -F syntax (@file, ;type=, ;filename=).
            if isinstance(spec, tuple):
                cmd += list(spec)
            else:
                cmd += ["--form-string", spec]
        cmd.append(url)
        p = subprocess.run(cmd, capture_output=True, timeout=timeout + 5,
                           env=clean_env())
        if p.returncode != 0:
            raise RuntimeError(f"curl failed ({p.returncode}): "
                               f"{p.stderr.decode(errors='replace')}")
        status, reason, hdrs = parse_http_headers((tmp / "headers").read_bytes())
        return Response(status, reason, hdrs, (tmp / "body").read_bytes())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def http_request(port, method, path, body=None, headers=None,
                 timeout=TIMEOUT):
    """One request with Python's http.client (for methods and raw cases)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        body = r.read()
        return Response(r.status, r.reason, r.getheaders(), body)
    finally:
        conn.close()


def parse_cgi_output(out):
    """Parse a CGI response (Status: line, headers, blank line, body)."""
    m = re.search(rb"\r?\n\r?\n", out)
    if m is None:
        raise ValueError(f"no end of CGI headers in {out[:500]!r}")
    head, body = out[:m.start()], out[m.end():]
    headers = []
    for line in head.decode("latin-1").splitlines():
        if not line.strip():
            continue
        if ":" not in line:
            raise ValueError(f"bad CGI header line {line!r}")
        k, v = line.split(":", 1)
        headers.append((k.strip(), v.strip()))
    status, reason = 200, "OK"
    for k, v in headers:
        if k.lower() == "status":
            parts = v.split(None, 1)
            status = int(parts[0])
            reason = parts[1] if len(parts) > 1 else ""
            break
    else:
        if any(k.lower() == "location" for k, _ in headers):
            status, reason = 302, "Found"
    return Response(status, reason, headers, body)


def cgi_env(method="POST", path_info="/contact", body=b"", content_type=None,
            accept=None, remote_addr="127.0.0.5", extra=None):
    env = {
        "PATH": "/usr/bin:/bin",
        "GATEWAY_INTERFACE": "CGI/1.1",
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "/submit",
        "PATH_INFO": path_info,
        "REQUEST_URI": "/submit" + path_info,
        "DOCUMENT_URI": "/submit" + path_info,
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_SOFTWARE": "formdrop-e2e",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_ADDR": "127.0.0.1",
        "REMOTE_ADDR": remote_addr,
        "REMOTE_PORT": "40000",
        "HTTP_HOST": "localhost",
    }
    if method not in ("GET", "HEAD") or body:
        env["CONTENT_LENGTH"] = str(len(body))
    if content_type is not None:
        env["CONTENT_TYPE"] = content_type
    if accept is not None:
        env["HTTP_ACCEPT"] = accept
    env.update(extra or {})
    return env


def run_cgi_fcgi(target, env, body=b"", timeout=TIMEOUT):
    """Send one request over FastCGI with cgi-fcgi (it passes its whole
    environment as the request's parameters, so env is all it gets)."""
    p = subprocess.run([CGI_FCGI, "-bind", "-connect", str(target)],
                       env=env, input=body, capture_output=True,
                       timeout=timeout)
    if not p.stdout:
        raise RuntimeError(f"cgi-fcgi gave no output (rc {p.returncode}): "
                           f"{p.stderr.decode(errors='replace')}")
    return parse_cgi_output(p.stdout)


def run_plain_cgi(env, body=b"", args=(), timeout=TIMEOUT):
    """Exec the handler as a web server execs a CGI program: CGI variables
    in the environment, the body on stdin (a pipe, not a socket)."""
    p = subprocess.run([str(HANDLER), *args], env=env, input=body,
                       capture_output=True, timeout=timeout)
    if not p.stdout:
        raise RuntimeError(f"CGI run gave no output (rc {p.returncode}): "
                           f"{p.stderr.decode(errors='replace')}")
    r = parse_cgi_output(p.stdout)
    r.returncode = p.returncode
    r.stderr = p.stderr
    return r


# ----------------------------------------------------------------- bodies

def urlencode(pairs):
    """application/x-www-form-urlencoded as browsers make it (space as +)."""
    return urllib.parse.urlencode(list(pairs), encoding="utf-8").encode()


def multipart(parts, boundary="----formdropE2EBoundary7MA4YWxkTrZu0gW"):
    """Build a multipart/form-data body.  parts: (name, value) for plain
    fields, (name, filename, content_type, data) for files, or raw bytes for
    a part whose headers and content the test writes itself (without the
    boundary line).  Returns (body, content_type)."""
    out = bytearray()
    for p in parts:
        out += b"--" + boundary.encode() + b"\r\n"
        if isinstance(p, (bytes, bytearray)):
            out += p
        elif len(p) == 2:
            name, value = p
            if isinstance(value, str):
                value = value.encode("utf-8")
            out += (f'Content-Disposition: form-data; name="{name}"\r\n\r\n'
                    .encode("utf-8"))
            out += value
        else:
            name, filename, ctype, data = p
            out += (f'Content-Disposition: form-data; name="{name}"; '
                    f'filename="{filename}"\r\n'
                    f"Content-Type: {ctype}\r\n\r\n").encode("utf-8")
            out += data
        out += b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return bytes(out), f"multipart/form-data; boundary={boundary}"


# ---------------------------------------------------------------- Maildirs

class Snapshot:
    def __init__(self, maildirs):
        self.state = {name: {sub: set(os.listdir(path / sub))
                             if (path / sub).is_dir() else None
                             for sub in ("tmp", "new", "cur")}
                      for name, path in maildirs.items()}


def snapshot(maildirs):
    return Snapshot(maildirs)


def new_messages(maildirs, snap, box):
    path = maildirs[box] / "new"
    return sorted(set(os.listdir(path)) - snap.state[box]["new"])


def assert_nothing_delivered(maildirs, snap):
    for name, path in maildirs.items():
        for sub in ("tmp", "new", "cur"):
            p = path / sub
            now = set(os.listdir(p)) if p.is_dir() else None
            assert now == snap.state[name][sub], (
                f"{name}/{sub} changed: before {snap.state[name][sub]}, "
                f"after {now}")
        tmp = path / "tmp"
        if tmp.is_dir():
            assert os.listdir(tmp) == [], f"{name}/tmp not empty"


def single_delivery(maildirs, snap, box):
    """The one message delivered into box since snap (checked right after
    the response: the spec says it is in new/ before the response is sent),
    and that nothing went anywhere else."""
    new = new_messages(maildirs, snap, box)
    assert len(new) == 1, f"expected 1 new message in {box}/new, got {new}"
    for name, path in maildirs.items():
        if (path / "tmp").is_dir():
            assert os.listdir(path / "tmp") == [], f"{name}/tmp not empty"
        if name != box:
            assert listdir_or_none(path / "new") == snap.state[name]["new"]
    return Delivered(maildirs[box] / "new" / new[0])


def listdir_or_none(path):
    return set(os.listdir(path)) if Path(path).is_dir() else None


class Delivered:
    """One delivered message, parsed."""

    def __init__(self, path):
        self.path = Path(path)
        self.name = self.path.name
        self.raw = self.path.read_bytes()
        with open(self.path, "rb") as f:
            self.msg = email.message_from_binary_file(
                f, policy=email.policy.default)
        cut = self.raw.find(b"\n\n")
        self.raw_head = self.raw[:cut] if cut >= 0 else self.raw
        self.parts = (list(self.msg.iter_parts())
                      if self.msg.is_multipart() else [])

    @property
    def header_names(self):
        return [k.lower() for k in self.msg.keys()]

    @property
    def text_part(self):
        return self.parts[0]

    @property
    def text(self):
        return self.parts[0].get_content()

    @property
    def json_part(self):
        return self.parts[1]

    @property
    def data(self):
        payload = self.parts[1].get_payload(decode=True)
        return json.loads(payload.decode("utf-8"))

    @property
    def attachments(self):
        return self.parts[2:]


def check_maildir_name(d):
    m = MAILDIR_NAME_RE.match(d.name)
    assert m, f"maildir file name {d.name!r} does not match the spec"
    assert m.group("host") == HOSTNAME, d.name
    size = len(d.raw)
    assert int(m.group("S")) == size, f"S= {m.group('S')} but size {size}"
    crlf_size = size + d.raw.count(b"\n")
    assert int(m.group("W")) == crlf_size, (
        f"W= {m.group('W')} but CRLF size {crlf_size}")
    assert int(m.group("usec")) < 1000000, d.name
    assert abs(int(m.group("secs")) - time.time()) < 600, d.name


def check_raw_headers(d):
    """Header section: ASCII only (user input RFC 2047 encoded), LF line
    endings, every line a field or a continuation, none over 998 bytes."""
    assert b"\r\n" not in d.raw, "message is not stored with LF line endings"
    assert b"\r" not in d.raw_head and b"\0" not in d.raw_head
    for line in d.raw_head.split(b"\n"):
        assert len(line) <= 998, f"header line over 998 bytes: {line[:80]!r}"
        assert all(b < 128 for b in line), f"8-bit header line {line!r}"
        assert (line[:1] in (b" ", b"\t")
                or re.match(rb"^[!-9;-~]+:", line)), f"bad header line {line!r}"


def raw_part_headers(d):
    """The raw header blocks of every MIME part of the message, as stored."""
    blocks = []

    def walk(raw, boundary):
        sep = b"\n--" + boundary.encode("ascii")
        for seg in raw.split(sep)[1:]:
            if seg.startswith(b"--"):
                break
            seg = seg[seg.find(b"\n") + 1:]
            cut = seg.find(b"\n\n")
            head = seg[:cut] if cut >= 0 else seg
            blocks.append(head)
            m = re.search(rb'boundary="?([^";\s]+)"?', head, re.I)
            if m and b"multipart/" in head.lower():
                walk(seg[cut:], m.group(1).decode("ascii"))

    b = d.msg.get_boundary()
    if b:
        walk(d.raw, b)
    return blocks


def check_raw_part_headers(d):
    blocks = raw_part_headers(d)
    assert len(blocks) >= len(d.parts), "could not find the parts' headers"
    for block in blocks:
        for line in block.split(b"\n"):
            assert len(line) <= 998, f"part header line too long {line[:80]!r}"
            assert all(b < 128 for b in line), f"8-bit part header {line!r}"
            assert b"\r" not in line and b"\0" not in line, line
            assert (line[:1] in (b" ", b"\t")
                    or re.match(rb"^[!-9;-~]+:", line)), (
                f"bad part header line {line!r}")


def check_header_set(d):
    names = d.header_names
    for h in REQUIRED_HEADERS:
        assert names.count(h) == 1, (
            f"header {h!r} appears {names.count(h)} times; headers: {names}")
    extra = set(names) - REQUIRED_HEADERS - OPTIONAL_HEADERS
    assert not extra, f"unexpected headers {extra}"


def check_part_headers(d):
    for part in d.msg.walk():
        if part is d.msg:
            continue
        extra = {k.lower() for k in part.keys()} - PART_HEADERS
        assert not extra, f"unexpected part headers {extra} in {part.keys()}"


def addr(header):
    """(display name, addr-spec) of a one-address header."""
    a = header.addresses
    assert len(a) == 1, f"{header!r} has {len(a)} addresses"
    return a[0].display_name, a[0].addr_spec


def check_message(d, *, form, id, fields, subject, reply_to,
                  client="127.0.0.1", files=(), optional_empty=(),
                  dropped=None, ignore=()):
    """Check every header and part of a delivered message against what was
    submitted.  fields: {name: str or [str]} as the JSON copy must hold
    them; files: [(field, filename, ctype, data)]."""
    box = FORM_MAILBOX[form]
    check_maildir_name(d)
    check_raw_headers(d)
    check_header_set(d)
    check_part_headers(d)
    check_raw_part_headers(d)
    m = d.msg
    # Date: parseable, near now.
    date = email.utils.parsedate_to_datetime(str(m["Date"]))
    assert date.tzinfo is not None, m["Date"]
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - date).total_seconds()) < 600, m["Date"]
    assert addr(m["From"]) == FROM, str(m["From"])
    assert addr(m["To"]) == TO[box], str(m["To"])
    assert str(m["Subject"]) == subject, (str(m["Subject"]), subject)
    assert str(m["Message-ID"]).strip() == f"<{id}@{HOSTNAME}>"
    assert str(m["MIME-Version"]).strip() == "1.0"
    assert addr(m["Reply-To"])[1] == reply_to, str(m["Reply-To"])
    received = str(m["Received"])
    assert client in received, received
    assert form in received, received
    assert str(m["X-Formdrop-Form"]).strip() == form
    assert str(m["X-Formdrop-Id"]).strip() == id
    # Structure.
    assert m.get_content_type() == "multipart/mixed"
    assert len(d.parts) == 2 + len(files), [p.get_content_type() for p in d.parts]
    text = d.text_part
    assert text.get_content_type() == "text/plain"
    assert (text.get_content_charset() or "").lower() == "utf-8"
    assert text["Content-Transfer-Encoding"].lower() == "quoted-printable"
    assert text.get_filename() is None
    body = d.text
    for k, v in fields.items():
        for one in (v if isinstance(v, list) else [v]):
            assert one in body, f"value of {k!r} ({one!r}) not in text body"
    dropped = dropped or {}
    for k, v in dropped.items():
        assert v not in body, f"dropped field {k!r} ({v!r}) in text body"
    jp = d.json_part
    assert jp.get_content_type() == "application/json"
    assert jp.get_filename() == "submission.json"
    data = d.data
    assert set(data) >= {"form", "id", "received", "fields", "files"}, data
    assert data["form"] == form
    assert data["id"] == id
    assert isinstance(data["received"], str) and data["received"]
    got = data["fields"]
    for k, v in fields.items():
        assert k in got, f"field {k!r} missing from JSON copy {got}"
        assert got[k] == v, f"JSON field {k!r}: {got[k]!r} != {v!r}"
    for k in set(got) - set(fields) - set(ignore):
        assert k in optional_empty, f"unexpected field {k!r} in JSON copy"
        assert got[k] in ("", [], None), f"{k!r} not empty: {got[k]!r}"
    for k in dropped:
        assert k not in got, f"dropped field {k!r} in JSON copy"
    # Files: JSON entries and attachments, in order.
    assert len(data["files"]) == len(files), data["files"]
    for entry, att, (field, filename, ctype, blob) in zip(
            data["files"], d.attachments, files):
        sha = hashlib.sha256(blob).hexdigest()
        assert entry["field"] == field
        assert entry["filename"] == filename
        assert entry["type"] == ctype
        assert int(entry["size"]) == len(blob)
        assert entry["sha256"].lower() == sha
        assert att.get_filename() == filename, (att.get_filename(), filename)
        assert att.get_content_type() == ctype
        assert att["Content-Transfer-Encoding"].lower() == "base64"
        payload = att.get_payload(decode=True)
        assert hashlib.sha256(payload).hexdigest() == sha, "attachment differs"
    return data


def check_success(r, form, accept_json=False):
    """The response of an accepted submission; returns its ID."""
    if accept_json:
        assert r.status == 200, r
        assert r.content_type == "application/json", r
        doc = r.json()
        assert doc.get("ok") is True, doc
        id = doc.get("id")
    else:
        assert r.status == 303, r
        assert r.reason.lower() == "see other", r
        loc = r.header("Location")
        assert loc, r
        u = urllib.parse.urlsplit(loc)
        assert u.path == THANKS[form], loc
        q = urllib.parse.parse_qs(u.query)
        assert list(q) == ["id"] and len(q["id"]) == 1, loc
        id = q["id"][0]
    assert isinstance(id, str) and ID_RE.match(id), id
    return id


def check_error(r, status, accept_json=False, fields=None):
    """An error response: the status, a human-readable body, and for JSON
    {"ok":false,"error":"..."} (plus "fields" for 422)."""
    assert r.status == status, r
    assert r.body.strip(), f"empty body in {r!r}"
    if accept_json:
        assert r.content_type == "application/json", r
        doc = r.json()
        assert doc.get("ok") is False, doc
        assert isinstance(doc.get("error"), str), doc
        assert len(re.findall(r"[A-Za-z]{2,}", doc["error"])) >= 2, (
            f"error is not a sentence: {doc!r}")
        if fields is not None:
            assert isinstance(doc.get("fields"), dict), doc
            assert set(doc["fields"]) == set(fields), doc
            for k, v in doc["fields"].items():
                assert isinstance(v, str) and v.strip(), doc
        return doc
    assert r.content_type in ("text/html", "text/plain"), r
    text = r.body.decode("utf-8")       # must be valid UTF-8
    words = re.sub(r"<[^>]*>", " ", text)
    assert len(re.findall(r"[A-Za-z]{2,}", words)) >= 3, (
        f"no human-readable sentence in {text!r}")
    if fields is not None:
        assert r.content_type == "text/html", r
        assert "charset=utf-8" in r.header("Content-Type").lower().replace(
            " ", ""), r
        page = re.sub(r"(?is)<head>.*?</head>", "", text).lower()
        for f in fields:
            assert html_escape(f).lower() in page, (
                f"field {f!r} not named in {text}")
    return text
