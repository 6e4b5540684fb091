"""
Helpers for the end-to-end tests of submission screening (test_screening):
form tokens, the honeypot, exactly-once submissions and rate limits.

Built on e2e_helpers: the real handler (cgi/formdrop.fcgi) behind nginx,
with a location for GET /token/<form> besides /submit/, cgi-fcgi for
requests that need another REMOTE_ADDR, the Maildir inbox and its .Junk
folder, the handler's log lines, and tokens minted here with the key of
the state folder (to make tokens of any age without waiting, and to check
the token format of token.h).  Only the Python standard library is used.
"""

import hashlib
import hmac
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import e2e_helpers as h

URLENC = "application/x-www-form-urlencoded"
JSON = "application/json"
TOKEN_FIELD = "_token"
HONEYPOT = "fd_hp"
DEVSERVER = Path(os.environ.get(
    "FORMDROP_DEVSERVER", h.REPO / "devserver" / "formdrop-devserver"))
WWW = h.REPO / "www"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"

TOKEN_RE = re.compile(
    r"^v1\.(?P<form>[A-Za-z0-9_-]+)\.(?P<nonce>[0-9a-f]{32})\."
    r"(?P<time>[0-9]+)\.(?P<mac>[0-9a-f]{32})$")
LOG_RE = re.compile(
    r"(?P<id>\S+) form=(?P<form>\S+) client=(?P<client>\S+) "
    r"status=(?P<status>[0-9]+) bytes=[0-9]+ ms=-?[0-9]+ "
    r"(?P<kind>file|reason)=(?P<what>.*)$")


# ------------------------------------------------------------------ forms

def forms_copy(root, edits=None, name="forms"):
    """The shipped forms copied to root/name, with [form] keys edited:
    edits = {"contact": {"token_min_age": 1, "rate": None}} sets a key
    (replacing its line, or adding it under [form]) or, for None, removes
    it.  Returns the folder."""
    dst = Path(root) / name
    shutil.copytree(h.TEMPLATES, dst)
    for form, keys in (edits or {}).items():
        f = dst / f"{form}.form"
        text = f.read_text(encoding="utf-8")
        for key, value in keys.items():
            pat = re.compile(rf"^{re.escape(key)}\s*=.*\n", re.M)
            line = "" if value is None else f"{key} = {value}\n"
            if pat.search(text):
                text = pat.sub(line, text, count=1)
            elif value is not None:
                text = text.replace("[form]\n", "[form]\n" + line, 1)
        f.write_text(text, encoding="utf-8")
    return dst


# ------------------------------------------------------------ the servers

TOKEN_LOCATION = """\
        location ~ ^/token(/.*)$ {{
            fastcgi_pass {upstream};
            include {params};
            fastcgi_param SCRIPT_NAME /token;
            fastcgi_param PATH_INFO $1;
            fastcgi_read_timeout 30s;
        }}
"""
NGINX_CONF = h.NGINX_CONF.replace(
    "        location = /thanks.html",
    TOKEN_LOCATION + "        location = /thanks.html", 1)
assert NGINX_CONF != h.NGINX_CONF, "e2e_helpers.NGINX_CONF changed shape"


class TokenNginx(h.Nginx):
    """The e2e nginx with /token/<form> routed like /submit/ (as
    contrib/nginx-formdrop.conf does)."""

    conf_template = NGINX_CONF


class ScreenStack(h.HandlerStack):
    """The handler (-w workers) on a unix socket and nginx with /submit/ and
    /token/ over one temp folder; forms is a folder of .form files (the
    shipped h.TEMPLATES or a forms_copy)."""

    def __init__(self, root, forms, workers=4, nginx=True):
        self.root = Path(root)
        self.forms = Path(forms)
        self.conf, self.maildirs = h.write_config(root, forms=forms)
        self.state = self.root / "state"        # the default: beside conf
        self.handler = h.Handler(root, self.conf, workers=workers)
        self.nginx = (TokenNginx(root, f"unix:{self.handler.sock}")
                      if nginx else None)

    def restart_handler(self):
        self.handler.stop()
        self.handler.start()

    def reload_handler(self, settle=1.5):
        """SIGHUP: the supervisor reloads and replaces its workers."""
        mark = self.log_mark()
        os.kill(self.handler.proc.pid, signal.SIGHUP)
        h.wait_until(lambda: "reloaded" in self.log_since(mark),
                     what="handler reload", log=self.handler.log)
        time.sleep(settle)          # the old workers finish and are replaced

    def maildir(self, form):
        return self.maildirs[h.FORM_MAILBOX[form]]

    # -- tokens
    def token(self, form):
        """GET /token/<form> through nginx; the JSON document."""
        r = h.http_request(self.nginx.port, "GET", f"/token/{form}")
        assert r.status == 200, r
        assert r.content_type == JSON, r
        return r.json()

    def cgi_token(self, form, remote_addr="127.0.0.1"):
        env = h.cgi_env(method="GET", path_info=f"/{form}",
                        remote_addr=remote_addr,
                        extra={"SCRIPT_NAME": "/token",
                               "REQUEST_URI": f"/token/{form}",
                               "DOCUMENT_URI": f"/token/{form}"})
        r = h.run_cgi_fcgi(self.handler.target, env)
        assert r.status == 200, r
        return r.json()

    def key(self, name="token.key"):
        return read_key(self.state / name)

    # -- submissions
    def post(self, form, fields, **kw):
        """POST through nginx (see body()); the Response (not followed)."""
        body, headers = request_parts(fields, **kw)
        return h.http_request(self.nginx.port, "POST", f"/submit/{form}",
                              body, headers)

    def curl_post(self, form, fields, **kw):
        """The same with curl (a separate client process)."""
        body, headers = request_parts(fields, **kw)
        hdrs = [f"{k}: {v}" for k, v in headers.items()
                if k not in ("Content-Type", "Accept")]
        return h.curl(f"{self.nginx.base}/submit/{form}", data=body,
                      content_type=headers["Content-Type"],
                      accept=headers.get("Accept"), headers=hdrs,
                      workdir=self.root)

    def cgi_post(self, form, fields, remote_addr, **kw):
        """POST over FastCGI with cgi-fcgi, as from remote_addr."""
        body, headers = request_parts(fields, **kw)
        extra = {"HTTP_" + k.upper().replace("-", "_"): v
                 for k, v in headers.items()
                 if k not in ("Content-Type", "Accept")}
        env = h.cgi_env(path_info=f"/{form}", body=body,
                        content_type=headers["Content-Type"],
                        accept=headers.get("Accept"),
                        remote_addr=remote_addr, extra=extra)
        return h.run_cgi_fcgi(self.handler.target, env, body)

    # -- the handler's log
    def log_mark(self):
        try:
            return self.handler.log.stat().st_size
        except FileNotFoundError:
            return 0

    def log_since(self, mark):
        with open(self.handler.log, "rb") as f:
            f.seek(mark)
            return f.read().decode("utf-8", errors="replace")

    def outcomes_since(self, mark):
        """The per-request log lines since mark, parsed (LOG_RE)."""
        out = []
        for line in self.log_since(mark).splitlines():
            m = LOG_RE.search(line)
            if m:
                out.append(m.groupdict())
        return out

    def outcome_since(self, mark):
        lines = [o for o in self.outcomes_since(mark)
                 if o["what"] != "token issued"]
        assert len(lines) == 1, (
            f"expected one request line in the log, got {lines}\n"
            f"{self.log_since(mark)}")
        return lines[0]


def request_parts(fields, token=None, hp="", encoding="url", accept=None,
                  idempotency_key=None, headers=None):
    """The body and headers of a submission: fields (a dict or pairs) plus
    _token (when token is not None) and fd_hp (when hp is not None).
    encoding: "url" (a browser's form post), "multipart" (a browser's post
    with enctype multipart/form-data) or "json" (an API client: urlencoded
    with Accept: application/json)."""
    pairs = list(fields.items()) if isinstance(fields, dict) else list(fields)
    if token is not None:
        for t in (token if isinstance(token, list) else [token]):
            pairs.insert(0, (TOKEN_FIELD, t))
    if hp is not None:
        pairs.insert(1 if token is not None else 0, (HONEYPOT, hp))
    hdrs = dict(headers or {})
    if encoding == "multipart":
        body, ctype = h.multipart(pairs)
    else:
        body, ctype = h.urlencode(pairs), URLENC
    hdrs["Content-Type"] = ctype
    if encoding == "json":
        accept = JSON
    if accept is not None:
        hdrs["Accept"] = accept
    if idempotency_key is not None:
        hdrs["Idempotency-Key"] = idempotency_key
    return body, hdrs


def is_json(encoding):
    return encoding == "json"


# ---------------------------------------------------------------- tokens

def read_key(path):
    """The 32-byte key of a token.key file (64 hex digits and a newline)."""
    text = Path(path).read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", text), f"{path}: {text!r}"
    return bytes.fromhex(text)


def mint(key, form, issued, nonce=None):
    """A token as token.h makes it: v1.form.nonce.time.mac, the MAC being
    the first 128 bits of HMAC-SHA256(key, "v1.form.nonce.time") in hex."""
    nonce = nonce or os.urandom(16).hex()
    signed = f"v1.{form}.{nonce}.{int(issued)}"
    mac = hmac.new(key, signed.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{signed}.{mac}"


def once_key(form, value):
    """The name of the idempotency record of (form, nonce or
    Idempotency-Key) in <state>/once (once.h): SHA-256 of form, NUL,
    value."""
    return hashlib.sha256(form.encode() + b"\0" + value.encode()).hexdigest()


def parse_token(tok):
    m = TOKEN_RE.match(tok)
    assert m, f"token {tok!r} does not have the documented format"
    return m.groupdict()


def flip_hex(s, i):
    """s with the hex digit at index i changed."""
    c = s[i]
    return s[:i] + ("0" if c != "0" else "1") + s[i + 1:]


def forge(tok, part):
    """Variants of a genuine token that no key signed."""
    p = parse_token(tok)
    if part == "mac":
        p["mac"] = flip_hex(p["mac"], 7)
    elif part == "time":
        p["time"] = str(int(p["time"]) - 1)
    elif part == "nonce":
        p["nonce"] = flip_hex(p["nonce"], 0)
    elif part == "form":
        p["form"] = "order" if p["form"] == "contact" else "contact"
    else:
        raise ValueError(part)
    return "v1.{form}.{nonce}.{time}.{mac}".format(**p)


# -------------------------------------------------------------- Maildirs

def listdir(path):
    return set(os.listdir(path)) if Path(path).is_dir() else set()


class Boxes:
    """What the inbox and the .Junk folder of one Maildir hold now (new/,
    cur/ and tmp/), to compare with later."""

    def __init__(self, maildir):
        self.maildir = Path(maildir)
        self.junk = self.maildir / ".Junk"
        self.before = self._state()

    def _state(self):
        return {(d, sub): listdir(d / sub)
                for d in (self.maildir, self.junk)
                for sub in ("new", "cur", "tmp")}

    def new_in(self, where):
        d = self.junk if where == "junk" else self.maildir
        return sorted(listdir(d / "new") - self.before[(d, "new")])

    def changes(self):
        now = self._state()
        return {f"{'.Junk/' if d == self.junk else ''}{sub}":
                sorted(now[(d, sub)] ^ self.before[(d, sub)])
                for (d, sub) in now if now[(d, sub)] != self.before[(d, sub)]}

    def one(self, where):
        """The single message delivered since, into "inbox" or "junk";
        nothing else changed."""
        new = self.new_in(where)
        other = self.new_in("inbox" if where == "junk" else "junk")
        assert len(new) == 1 and not other, (
            f"expected one new message in {where}: {self.changes()}")
        ch = self.changes()
        assert set(ch) == {(".Junk/" if where == "junk" else "") + "new"}, ch
        d = self.junk if where == "junk" else self.maildir
        return h.Delivered(d / "new" / new[0])

    def nothing(self):
        assert self.changes() == {}, (
            f"expected no delivery, got {self.changes()}")


def spam_reason(d):
    """The reason of X-Formdrop-Spam: yes (<reason>), or None."""
    v = d.msg.get_all("X-Formdrop-Spam")
    if v is None:
        return None
    assert len(v) == 1, v
    m = re.fullmatch(r"yes \((.+)\)", str(v[0]).strip())
    assert m, f"X-Formdrop-Spam: {v[0]!r}"
    return m.group(1)


def check_clean(d, form, id, fields):
    """A message in the inbox: every header and part as e2e_helpers checks
    them (which also says: no X-Formdrop-Spam, no _token or fd_hp in the
    JSON copy)."""
    sub = {"contact": "Contact form: ", "order": "Order from "}[form]
    return h.check_message(
        d, form=form, id=id, fields=expected_fields(form, fields),
        subject=sub + dict(pairs_of(fields))["name"],
        reply_to=dict(pairs_of(fields))["email"],
        optional_empty=("phone", "notes", "attachment"))


def check_junk(d, form, id, fields, reason):
    """A message in .Junk: the reason, and otherwise the message as the
    inbox would have had it (the screening fields removed)."""
    assert spam_reason(d) == reason, (spam_reason(d), reason)
    assert str(d.msg["X-Formdrop-Id"]).strip() == id
    assert str(d.msg["X-Formdrop-Form"]).strip() == form
    assert str(d.msg["Message-ID"]).strip() == f"<{id}@{h.HOSTNAME}>"
    h.check_raw_headers(d)
    h.check_maildir_name(d)
    data = d.data
    assert data["id"] == id and data["form"] == form, data
    exp = expected_fields(form, fields)
    for k, v in exp.items():
        assert data["fields"].get(k) == v, (k, data["fields"])
    assert TOKEN_FIELD not in data["fields"], data["fields"]
    assert HONEYPOT not in data["fields"], data["fields"]
    return data


def pairs_of(fields):
    return list(fields.items()) if isinstance(fields, dict) else list(fields)


def expected_fields(form, fields):
    exp = {}
    for k, v in pairs_of(fields):
        if form == "order" and k in ("item", "quantity"):
            exp.setdefault(k, []).append(v)
        else:
            exp[k] = v
    return exp


def success_id(r, form, encoding):
    return h.check_success(r, form, accept_json=is_json(encoding))


def same_answer(a, b):
    """Two answers a client cannot tell apart: status, Location, type and
    body."""
    return (a.status, a.header("Location"), a.content_type, a.body) == (
        b.status, b.header("Location"), b.content_type, b.body)


# ------------------------------------------------------------ devserver

class Devserver:
    """formdrop-devserver -l 127.0.0.1:PORT -r www -c CONF: it starts its
    own handler, renders {{token}} into the pages and relays /submit/ and
    /token/."""

    def __init__(self, root, conf, workers=2):
        self.root = Path(root)
        self.conf = conf
        self.workers = workers
        self.log = self.root / "devserver.log"
        self.proc = None
        self.port = None

    def start(self):
        return h.start_retrying(self._start_once, self.stop, tries=3)

    def _start_once(self):
        self.port = h.free_port()
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(
                [str(DEVSERVER), "-l", f"127.0.0.1:{self.port}",
                 "-r", str(WWW), "-c", str(self.conf),
                 "-x", str(h.HANDLER), "-w", str(self.workers)],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                env=h.clean_env(), cwd=self.root, start_new_session=True)
        h.wait_until(self._ready, proc=self.proc, what="devserver",
                     log=self.log)
        return self

    def _ready(self):
        if not h.can_connect_tcp("127.0.0.1", self.port):
            return False
        try:
            r = h.http_request(self.port, "GET", "/token/contact", timeout=2)
        except OSError:
            return False
        return r.status == 200

    def stop(self):
        if self.proc is not None:
            h.stop_process(self.proc)
            h.kill_group_leftovers(self.proc.pid)

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"


# -------------------------------------------------------------- Dovecot

DOVECOT_CONF = """\
base_dir = {root}/run
state_dir = {root}/lib
log_path = {root}/dovecot.log
instance_name = {instance}
protocols =
listen = 127.0.0.1
ssl = no
default_internal_user = {internal_user}
default_login_user = {login_user}
first_valid_uid = 1
mail_location = maildir:{maildir}
passdb {{
  driver = static
  args = password=unused
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home
}}
"""


class Doveadm:
    """A private dovecot.conf (no protocols: doveadm needs only the auth
    service of a running Dovecot) whose every user's mail is maildir, read
    as mail_user (Dovecot refuses UID 0); run() calls doveadm with it."""

    def __init__(self, root, maildir, mail_user="nobody",
                 internal_user="dovecot", login_user="dovenull"):
        import pwd
        self.root = Path(root) / "dovecot"
        for d in ("run", "lib", "home"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        os.chmod(self.root / "run", 0o755)
        u = pwd.getpwnam(mail_user)
        os.chown(self.root / "home", u.pw_uid, u.pw_gid)
        self.conf = self.root / "dovecot.conf"
        self.log = self.root / "dovecot.log"
        self.conf.write_text(DOVECOT_CONF.format(
            root=self.root, maildir=maildir, uid=u.pw_uid, gid=u.pw_gid,
            internal_user=internal_user, login_user=login_user,
            instance=f"fd-screen-{os.getpid()}-{self.root.parent.name}"))

    def command(self):
        return ["/usr/sbin/dovecot", "-F", "-c", str(self.conf)]

    def ready(self):
        return (self.root / "run" / "auth-userdb").exists()

    def run(self, *args):
        p = subprocess.run([DOVEADM, "-c", str(self.conf), *args],
                           capture_output=True, timeout=h.TIMEOUT,
                           env=h.clean_env())
        return p.returncode, p.stdout.decode(errors="replace"), \
            p.stderr.decode(errors="replace")


# ----------------------------------------------------------- concurrency

def race(n, send, timeout=60):
    """Run send(i) in n threads released at the same moment (a barrier);
    the n results (or exceptions) in order."""
    import threading
    barrier = threading.Barrier(n)
    out = [None] * n

    def run(i):
        try:
            barrier.wait(timeout=timeout)
            out[i] = send(i)
        except Exception as e:          # reported by the caller
            out[i] = e
    threads = [threading.Thread(target=run, args=(i,), daemon=True)
               for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return out


def answers_summary(rs):
    """{(status, Location or body): count} of a list of responses."""
    out = {}
    for r in rs:
        k = (repr(r) if isinstance(r, Exception) else
             (r.status, r.header("Location") or r.body.decode(errors="replace")
              .strip()[:120]))
        out[k] = out.get(k, 0) + 1
    return out
