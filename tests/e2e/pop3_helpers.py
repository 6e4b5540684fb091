"""
Helpers for the end-to-end tests of formdrop-pop3d: a throw-away PKI made
with openssl at test time (a demo root CA, an intermediate CA and a server
certificate for localhost/127.0.0.1), the real server as a subprocess on
free loopback ports, users files, hand-written Maildir messages, a raw
POP3 client (plain, STLS or implicit TLS, byte exact) and poplib clients
bound to a chosen loopback source address.

The form handler and nginx come from e2e_helpers/conftest (the `stack`
fixture): messages the tests read over POP3 are real submissions.
Only the Python standard library is used; nothing is mocked.

Fixtures defined here are imported by the test_pop3_*.py modules.
"""

import atexit
import base64
import hashlib
import os
import poplib
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

import e2e_helpers as h

POP3D = Path(os.environ.get("FORMDROP_POP3D",
                            h.REPO / "pop3d" / "formdrop-pop3d"))
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
GREETING = b"+OK formdrop POP3 server ready"
EX_CONFIG = 78
EX_USAGE = 64
PASSWORD = "secret"
UIDL_MAX = 70
LOCK_NAME = "formdrop-pop3d.lock"
CLIENT_TIMEOUT = 15

CAPA_ALWAYS = {"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
               "IMPLEMENTATION"}


# ------------------------------------------------------------------- PKI

class PKI:
    """root CA -> intermediate CA -> server certificate (localhost,
    127.0.0.1, ::1).  cert.pem is the leaf followed by the intermediate
    (a chain), clients trust only ca.pem."""

    def __init__(self, root):
        self.dir = Path(root)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca = self.dir / "ca.pem"
        self.cert = self.dir / "cert.pem"
        self.key = self.dir / "key.pem"
        self.leaf = self.dir / "leaf.pem"
        self.other_key = self.dir / "other-key.pem"
        self.rsa_cert = self.dir / "rsa-cert.pem"
        self.rsa_key = self.dir / "rsa-key.pem"
        self._make()

    def _run(self, *args):
        p = subprocess.run([OPENSSL, *args], cwd=self.dir, capture_output=True,
                           timeout=h.TIMEOUT, env=h.clean_env())
        if p.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(args)} failed: "
                               f"{p.stderr.decode(errors='replace')}")

    def _ext(self, name, text):
        (self.dir / name).write_text(text)
        return name

    def _key_req(self, key, csr, cn):
        self._run("req", "-new", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                  "-out", csr, "-subj", f"/CN={cn}")

    def _make(self):
        self._run("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
                  "-out", "ca.pem", "-days", "2", "-subj",
                  "/O=formdrop e2e/CN=formdrop e2e demo root CA",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self._key_req("int.key", "int.csr", "formdrop e2e intermediate CA")
        self._run("x509", "-req", "-in", "int.csr", "-CA", "ca.pem",
                  "-CAkey", "ca.key", "-set_serial", "2", "-days", "2",
                  "-out", "int.pem", "-extfile", self._ext("int.ext", (
                      "basicConstraints=critical,CA:TRUE,pathlen:0\n"
                      "keyUsage=critical,keyCertSign,cRLSign\n"
                      "subjectKeyIdentifier=hash\n"
                      "authorityKeyIdentifier=keyid\n")))
        self._key_req("key.pem", "srv.csr", "localhost")
        self._run("x509", "-req", "-in", "srv.csr", "-CA", "int.pem",
                  "-CAkey", "int.key", "-set_serial", "3", "-days", "2",
                  "-out", "leaf.pem", "-extfile", self._ext("srv.ext", (
                      "basicConstraints=critical,CA:FALSE\n"
                      "keyUsage=critical,digitalSignature\n"
                      "extendedKeyUsage=serverAuth\n"
                      "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
                      "subjectKeyIdentifier=hash\n"
                      "authorityKeyIdentifier=keyid\n")))
        self.cert.write_bytes(self.leaf.read_bytes() +
                              (self.dir / "int.pem").read_bytes())
        # The same names with an RSA key (to show that no RSA key
        # exchange, i.e. no suite without forward secrecy, is accepted).
        self._run("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout",
                  "rsa-key.pem", "-out", "rsa.csr", "-subj", "/CN=localhost")
        self._run("x509", "-req", "-in", "rsa.csr", "-CA", "int.pem",
                  "-CAkey", "int.key", "-set_serial", "4", "-days", "2",
                  "-out", "rsa-leaf.pem", "-extfile", self._ext("rsa.ext", (
                      "basicConstraints=critical,CA:FALSE\n"
                      # keyEncipherment: RSA key transport would be
                      # possible if the server allowed it.
                      "keyUsage=critical,digitalSignature,keyEncipherment\n"
                      "extendedKeyUsage=serverAuth\n"
                      "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n")))
        self.rsa_cert.write_bytes(
            (self.dir / "rsa-leaf.pem").read_bytes() +
            (self.dir / "int.pem").read_bytes())
        self._run("genpkey", "-algorithm", "EC", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-out", "other-key.pem")
        # Certificates readable by dovecot etc.; the keys as a server
        # wants them (formdrop-pop3d refuses a key every user may read,
        # Dovecot reads ssl_key as root).
        for p in self.dir.iterdir():
            os.chmod(p, 0o600 if p.name.endswith(("key.pem", ".key"))
                     else 0o644)

    def context(self):
        """A client context that verifies the chain up to the demo CA and
        the host name or address."""
        ctx = ssl.create_default_context(cafile=str(self.ca))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx


_PKI = None
_TMP = []


def _cleanup_tmp():
    if os.environ.get("FORMDROP_E2E_KEEP"):
        return
    for d in _TMP:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup_tmp)


def get_pki():
    """One PKI per test run (made on first use, removed at exit)."""
    global _PKI
    if _PKI is None:
        d = h.make_tmpdir("fd-pki-")
        _TMP.append(d)
        _PKI = PKI(d)
    return _PKI


# ------------------------------------------------------------ passwords

_HASHES = {}


def password_hash(password=PASSWORD):
    """A {CRYPT}$y$ hash made by `formdrop-pop3d --hash` (cached)."""
    if password not in _HASHES:
        p = subprocess.run([str(POP3D), "--hash"],
                           input=(password + "\n").encode(),
                           capture_output=True, timeout=h.TIMEOUT,
                           env=h.clean_env())
        assert p.returncode == 0, p.stderr
        out = p.stdout.decode().strip()
        assert out.startswith("{CRYPT}$y$"), out
        _HASHES[password] = out
    return _HASHES[password]


def users_line(name, maildir, users_dir, password=PASSWORD, absolute=False,
               hash=None):
    md = Path(maildir)
    path = str(md) if absolute else os.path.relpath(md, users_dir)
    return f"{name}:{hash or password_hash(password)}:0:0::{path}::\n"


# --------------------------------------------------------------- server

class Pop3d:
    """formdrop-pop3d -f -c CONF, its stderr in a log file.

    users: {name: maildir} (password PASSWORD) or {name: (password,
    maildir)}.  Maildir paths are written relative to the users file's
    folder (the server resolves them against it)."""

    def __init__(self, root, users, *, pki=None, timeout=None,
                 archive_days=None, max_per_client=None,
                 max_connections=None, allow_plaintext=None, plain=True,
                 tls=True, ipv6=False, name="pop3d", extra="",
                 extra_users="", users_text=None, rsa=False):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.pki = pki or get_pki()
        self.users = {}
        for k, v in users.items():
            self.users[k] = (v if isinstance(v, tuple) else (PASSWORD, v))
        self.opts = dict(timeout=timeout, archive_days=archive_days,
                         max_per_client=max_per_client,
                         max_connections=max_connections)
        self.allow_plaintext = allow_plaintext
        self.want_plain, self.want_tls, self.ipv6 = plain, tls, ipv6
        self.name = name
        self.extra = extra
        self.extra_users = extra_users
        self.users_text = users_text
        self.rsa = rsa
        self.conf = self.root / f"{name}.conf"
        self.users_file = self.root / f"{name}.users"
        self.log = self.root / f"{name}.log"
        self.proc = None
        self.port = self.tls_port = self.port6 = None

    def write_users(self):
        if self.users_text is not None:
            self.users_file.write_text(self.users_text)
            os.chmod(self.users_file, 0o600)
            return
        text = "# formdrop-pop3d e2e users (Dovecot passwd-file format)\n"
        for name, (pw, md) in self.users.items():
            text += users_line(name, md, self.root, pw)
        text += self.extra_users
        self.users_file.write_text(text)
        os.chmod(self.users_file, 0o600)

    def write_config(self):
        lines = ["[pop3]"]
        if self.want_plain:
            lines.append(f"listen = 127.0.0.1:{self.port}")
            if self.ipv6:
                lines.append(f"listen = [::1]:{self.port6}")
        if self.want_tls:
            lines.append(f"listen_tls = 127.0.0.1:{self.tls_port}")
        # Relative paths: resolved against the config file's folder.
        cert, key = ((self.pki.rsa_cert, self.pki.rsa_key) if self.rsa
                     else (self.pki.cert, self.pki.key))
        lines.append(f"certificate = {os.path.relpath(cert, self.root)}")
        lines.append(f"key = {os.path.relpath(key, self.root)}")
        lines.append(f"users = {self.users_file.name}")
        if h.is_root():
            lines.append("user = root")
        for k, v in self.opts.items():
            if v is not None:
                lines.append(f"{k} = {v}")
        if self.allow_plaintext is not None:
            lines.append("allow_plaintext = " +
                         ("yes" if self.allow_plaintext else "no"))
        if self.extra:
            lines.append(self.extra)
        self.conf.write_text("\n".join(lines) + "\n")

    def _ready(self):
        text = h.read_log(self.log)
        want = []
        if self.want_plain:
            want.append(f"listening on 127.0.0.1:{self.port} (STLS)")
            if self.ipv6:
                want.append(f"listening on [::1]:{self.port6} (STLS)")
        if self.want_tls:
            want.append(f"listening on 127.0.0.1:{self.tls_port} "
                        "(implicit TLS)")
        return all(w in text for w in want)

    # The binary, extra environment and start timeout: a subclass may
    # start another build (ops_helpers.Pop3dBinary: the ASan one).
    binary = POP3D
    env_extra = {}
    start_timeout = h.START_TIMEOUT

    def start(self):
        if not self.binary.exists():
            raise RuntimeError(f"{self.binary} does not exist: run make "
                               "first")
        self.write_users()
        return h.start_retrying(self._start_once, self.stop)

    def _start_once(self):
        self.port, self.tls_port = h.free_port(), h.free_port()
        if self.ipv6:
            self.port6 = free_port6()
        self.write_config()
        self.log.write_bytes(b"")
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(
                [str(self.binary), "-f", "-c", str(self.conf)],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                env=h.clean_env(**self.env_extra), cwd="/",
                start_new_session=True)
        h.wait_until(self._ready, proc=self.proc,
                     what=f"{self.binary.name} listening", log=self.log,
                     timeout=self.start_timeout)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return None
        rc = h.stop_process(self.proc)
        h.kill_group_leftovers(self.proc.pid)
        return rc

    def log_text(self):
        return h.read_log(self.log)

    def sessions_left(self):
        """Session processes of the server not yet reaped by it (a zombie
        counts: the server counts a session's failures when it reaps)."""
        return h.child_pids(self.proc.pid, zombies=True)

    def wait_sessions_reaped(self):
        h.wait_until(lambda: not self.sessions_left(), timeout=10,
                     proc=self.proc, what="the server to reap its sessions",
                     log=self.log)

    # -- clients
    def ssl(self, source=None, timeout=CLIENT_TIMEOUT):
        return POP3SSL("127.0.0.1", self.tls_port, self.pki.context(),
                       source=source, timeout=timeout)

    def plain(self, source=None, timeout=CLIENT_TIMEOUT):
        return POP3("127.0.0.1", self.port, source=source, timeout=timeout)

    def stls(self, source=None, timeout=CLIENT_TIMEOUT):
        p = self.plain(source, timeout)
        p.stls(self.pki.context())
        return p

    def login(self, user, password=PASSWORD, source=None, retry_in_use=5.0):
        """A logged-in POP3_SSL client (retries while the maildrop is
        still locked by a session that is going away)."""
        deadline = time.monotonic() + retry_in_use
        while True:
            p = self.ssl(source)
            p.user(user)
            try:
                p.pass_(password)
                return p
            except poplib.error_proto as e:
                p.close()
                if b"[IN-USE]" not in e.args[0] or \
                        time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def raw(self, tls=True, source=None, timeout=CLIENT_TIMEOUT):
        return Raw(self.tls_port if tls else self.port,
                   self.pki.context() if tls else None, source=source,
                   timeout=timeout)


def free_port6():
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind(("::1", 0))
        return s.getsockname()[1]


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


# -------------------------------------------------------------- clients

class POP3(poplib.POP3):
    """poplib.POP3 with an optional loopback source address (the server
    keeps per-address counters: connections, failed logins)."""

    def __init__(self, host, port, source=None, timeout=CLIENT_TIMEOUT):
        self._source = source
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout):
        return socket.create_connection(
            (self.host, self.port), timeout,
            source_address=(self._source, 0) if self._source else None)


class POP3SSL(poplib.POP3_SSL):
    def __init__(self, host, port, context, source=None,
                 timeout=CLIENT_TIMEOUT):
        self._source = source
        super().__init__(host, port, timeout=timeout, context=context)

    def _create_socket(self, timeout):
        sock = socket.create_connection(
            (self.host, self.port), timeout,
            source_address=(self._source, 0) if self._source else None)
        return self.context.wrap_socket(sock, server_hostname=self.host)


def poplib_data(lines):
    """The message as poplib hands it over (dot-stuffing undone) with the
    CRLF line ends put back: what the server's octet count counts."""
    return b"".join(line + b"\r\n" for line in lines)


class Raw:
    """A byte-exact POP3 client: what is sent is what the test wrote, and
    multi-line answers are returned as they crossed the wire."""

    def __init__(self, port, ctx=None, source=None, timeout=CLIENT_TIMEOUT,
                 host="127.0.0.1"):
        self.host = host
        self.sock = socket.create_connection(
            (host, port), timeout,
            source_address=(source, 0) if source else None)
        if ctx is not None:
            self.sock = ctx.wrap_socket(self.sock, server_hostname=host)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError(f"connection closed; unread {self.buf[:200]!r}")
        self.buf += chunk

    def readline(self):
        """One line including its CRLF."""
        while b"\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\n") + 1
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def resp(self):
        line = self.readline()
        assert line.endswith(b"\r\n"), f"line not CRLF-ended: {line!r}"
        return line[:-2]

    def cmd(self, line):
        self.send(line + "\r\n" if isinstance(line, str) else line + b"\r\n")
        return self.resp()

    def multi(self):
        """The data lines of a multi-line answer, as sent (still
        dot-stuffed, CRLF included), without the final '.' line."""
        out = []
        while True:
            line = self.readline()
            assert line.endswith(b"\r\n"), f"line not CRLF-ended: {line!r}"
            if line == b".\r\n":
                return b"".join(out)
            out.append(line)

    def starttls(self, ctx, hostname=None):
        assert self.buf == b"", f"unread data before TLS: {self.buf!r}"
        self.sock = ctx.wrap_socket(self.sock,
                                    server_hostname=hostname or self.host)

    def pending(self, wait=0.3):
        """Whatever arrives within `wait` seconds (b'' if nothing)."""
        self.sock.settimeout(wait)
        try:
            self._fill()
        except (socket.timeout, ssl.SSLError, EOFError, OSError):
            pass
        finally:
            self.sock.settimeout(CLIENT_TIMEOUT)
        data, self.buf = self.buf, b""
        return data

    def wait_closed(self, timeout):
        """Seconds until the server closed the connection, or None."""
        start = time.monotonic()
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(65536):
                    return time.monotonic() - start
        except (ConnectionError, ssl.SSLError, ssl.SSLEOFError):
            return time.monotonic() - start
        except socket.timeout:
            return None

    def login(self, user, password=PASSWORD):
        assert self.cmd(f"USER {user}").startswith(b"+OK")
        r = self.cmd(f"PASS {password}")
        assert r.startswith(b"+OK"), r
        return r

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ------------------------------------------------------------ messages

def pop3_octets(raw):
    """A stored message as POP3 sends it before dot-stuffing: every bare
    LF becomes CRLF, and an unterminated last line gets a CRLF."""
    out = re.sub(rb"(?<!\r)\n", b"\r\n", raw)
    if out and not out.endswith(b"\n"):
        out += b"\r\n"
    return out


def dot_stuff(data):
    return re.sub(rb"(?m)^\.", b"..", data)


def dot_unstuff(wire):
    return re.sub(rb"(?m)^\.", b"", wire)


def top_octets(raw, n):
    """What TOP msg n sends before dot-stuffing: the header, the blank
    line, and n lines of the body."""
    data = pop3_octets(raw)
    lines = data.split(b"\r\n")[:-1]
    out = []
    body = None
    for line in lines:
        if body is not None:
            if body >= n:
                break
            body += 1
        elif line == b"":
            body = 0
        out.append(line + b"\r\n")
    return b"".join(out)


def uidl_of(name):
    base = re.split(r"[,:]", name, maxsplit=1)[0]
    if 0 < len(base) <= UIDL_MAX and all(0x21 <= ord(c) <= 0x7e
                                         for c in base):
        return base
    return hashlib.sha256(base.encode()).hexdigest()


_SEQ = [0]


def maildir_name(raw, secs=1700000000, host="host", with_w=True, base=None):
    _SEQ[0] += 1
    base = base or f"{secs}.M{_SEQ[0]}P{os.getpid()}Q{_SEQ[0]}R{_SEQ[0]:08x}.{host}"
    name = f"{base},S={len(raw)}"
    if with_w:
        name += f",W={len(pop3_octets(raw))}"
    return name


def write_message(maildir, raw, sub="new", name=None, **kw):
    """Hand-deliver one message as a Maildir MDA does (tmp/ then rename)."""
    maildir = h.make_maildir(maildir)
    name = name or maildir_name(raw, **kw)
    tmp = Path(maildir) / "tmp" / name
    tmp.write_bytes(raw)
    os.rename(tmp, Path(maildir) / sub / name)
    return Path(maildir) / sub / name


def maildir_messages(maildir):
    """{uidl: path} of every message in new/ and cur/."""
    out = {}
    for sub in ("new", "cur"):
        d = Path(maildir) / sub
        for n in os.listdir(d):
            if not n.startswith("."):
                out[uidl_of(n)] = d / n
    return out


def copy_messages(paths, maildir):
    """Copy delivered messages (their names too) into another Maildir's
    new/, so a test can delete them without touching the original."""
    maildir = h.make_maildir(maildir)
    out = []
    for p in paths:
        name = Path(p).name.split(":", 1)[0]
        dst = Path(maildir) / "new" / name
        shutil.copyfile(p, dst)
        out.append(dst)
    return out


def copy_delivered(delivered, maildir):
    """Write the handler's messages (bytes and names) into another
    Maildir's new/, so a test can delete them without touching the
    original."""
    maildir = h.make_maildir(maildir)
    out = []
    for d in delivered:
        out.append(write_message(maildir, d.raw, name=d.name))
    return out


def fetch_all(raw_client):
    """[(number, size, uidl, wire bytes)] of a logged-in Raw client."""
    raw_client.send(b"LIST\r\n")
    assert raw_client.resp().startswith(b"+OK")
    sizes = [tuple(int(x) for x in l.split())
             for l in raw_client.multi().split(b"\r\n") if l]
    raw_client.send(b"UIDL\r\n")
    assert raw_client.resp().startswith(b"+OK")
    uidls = dict((int(a), b.decode()) for a, b in
                 (l.split() for l in raw_client.multi().split(b"\r\n") if l))
    out = []
    for n, size in sizes:
        r = raw_client.cmd(f"RETR {n}")
        assert r.startswith(b"+OK"), r
        out.append((n, size, uidls[n], raw_client.multi()))
    return out


def sasl_plain(user, password, authz=""):
    return base64.b64encode(f"{authz}\0{user}\0{password}".encode()).decode()


# ---------------------------------------------------------- submissions

CONTACT_MESSAGES = [
    ("Ann Example", "ann@example.org", "Hello,\nplease call me back.\nThanks!"),
    # Lines that start with dots: ".." and ".hidden" (the handler's
    # quoted-printable encodes a leading dot; the POP3 layer must still
    # deliver the stored bytes exactly).
    ("Dot Starter", "dots@example.org", "..\n.hidden\n.\n. and more"),
    ("Zoë Ünïcødé 日本", "zoe@example.org",
     "Grüße aus Köln — “quotes” ✓\n" + "long line " * 60),
    ("Blank Lines", "blank@example.org", "\n\nafter blanks\n\n\nend\n"),
]


def submit_contact(stack, name, email, message):
    """POST one contact form through nginx; the delivered message."""
    snap = stack.snap()
    r = stack.post("contact", [("name", name), ("email", email),
                               ("message", message)])
    h.check_success(r, "contact")
    return stack.delivered(snap, "contact")


def submit_order_with_attachment(stack, workdir, blob):
    path = Path(workdir) / "upload.bin"
    path.write_bytes(blob)
    form = ["name=Bob Buyer", "email=bob@example.com",
            "address=Hauptstraße 1\n10115 Berlin", "item=Widget",
            "quantity=2", "notes=.starts with a dot\n..two dots",
            ("-F", f"attachment=@{path};type=application/octet-stream;"
                   "filename=data.bin")]
    snap = stack.snap()
    r = h.curl(stack.url("order"), form=form, workdir=stack.root)
    h.check_success(r, "order")
    return stack.delivered(snap, "orders")


def fill_from_handler(stack, workdir, attachment=True):
    """Real submissions for the tests: the contact messages above and an
    order with a binary attachment.  Returns the Delivered objects."""
    out = [submit_contact(stack, *m) for m in CONTACT_MESSAGES]
    if attachment:
        out.append(submit_order_with_attachment(
            stack, workdir, bytes(range(256)) * 64 + b"\n.\r\n.."))
    return out


# -------------------------------------------------------------- fixtures

def _need_pop3d():
    if not POP3D.exists():
        pytest.fail(f"{POP3D} does not exist: build it with make first",
                    pytrace=False)


@pytest.fixture
def pki():
    return get_pki()


@pytest.fixture
def make_pop3d(request):
    """make_pop3d(users={name: maildir}, **Pop3d options) -> started
    server in a private temp folder, stopped by PID when the test ends."""
    _need_pop3d()

    def make(users, root=None, **kw):
        root = root or h.make_tmpdir("fd-pop3-")
        srv = Pop3d(root, users, **kw)
        request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True)
                             if not os.environ.get("FORMDROP_E2E_KEEP")
                             else None)
        request.addfinalizer(srv.stop)
        return srv.start()
    return make


def module_pop3d(request, users, **kw):
    """A started server for a whole module (call from a module fixture)."""
    _need_pop3d()
    root = h.make_tmpdir("fd-pop3-")
    srv = Pop3d(root, users, **kw)
    request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True)
                         if not os.environ.get("FORMDROP_E2E_KEEP") else None)
    request.addfinalizer(srv.stop)
    return srv.start()


def stop_by_pid(proc, timeout=10):
    """Stop a client/server subprocess we started."""
    rc = h.stop_process(proc, signal.SIGTERM, timeout)
    h.kill_group_leftovers(proc.pid)
    return rc
