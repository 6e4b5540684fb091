"""
The shipped Apache and lighttpd examples (contrib/apache-formdrop.conf,
contrib/lighttpd-formdrop.conf) are exercised, not just written, as
test_contrib_nginx does for nginx: each runs as shipped (only the
site-specific names, paths and the port substituted) in a real server on
127.0.0.1, unprivileged, in front of the real handler on a unix socket.

Checks, through each server:
  (a) urlencoded posts reach the handler and deliver, with the client's
      address (a second loopback address, so the server's own cannot
      pass for it); the handler's 303, JSON 200, 422, 404 and 429 (with
      Retry-After) come back as it sent them; a chunked body works too;
  (b) GET /token/<form> is routed as with nginx: the same JSON document,
      404 and 405 (Allow) as nginx's, and a token fetched through the
      server lets a submission to a token = required form through;
  (c) a 400 KB multipart upload (also chunked) is delivered, and the
      server writes no file of it outside RAM: the server runs under
      strace, and every file it creates during the upload must be on a
      tmpfs (Apache: none at all; lighttpd: its upload-dirs, which the
      example puts on /dev/shm);
  (d) a body over the handler's body_max (1M) gets the handler's own 413
      (the servers' limits sit above it), with or without Content-Length;
  (e) the site's static pages are served.
Every server is started in its own session and stopped by its PID.
"""

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
import urllib.parse

import pytest

import e2e_helpers as h
import test_contrib_nginx

APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
APACHE_MODULES = "/usr/lib/apache2/modules"
LIGHTTPD = shutil.which("lighttpd") or "/usr/sbin/lighttpd"
STRACE = shutil.which("strace") or "/usr/bin/strace"
APACHE_CONTRIB = h.REPO / "contrib" / "apache-formdrop.conf"
LIGHTTPD_CONTRIB = h.REPO / "contrib" / "lighttpd-formdrop.conf"
# The syscalls that make or open a file; those that write to one it opened.
STRACE_CALLS = "open,openat,openat2,creat"
OPEN_RE = re.compile(r'^\d+\s+(?:open|openat|openat2|creat)\((?:AT_FDCWD, )?'
                     r'"([^"]*)", ([A-Z0-9_|]+)(.*)$')
CLIENT = "127.0.0.2"          # the address the tests post from
UPLOAD = b"%PDF-1.4\n" + b"Kept in memory. " * 25000     # ~400 KB


# ------------------------------------------------------------ set-up

def _forms(root):
    """The intake forms (no screening), plus "feedback": the shipped
    contact form as it is (token = required, decoy, rate 5/60) but for a
    token_min_age of 1 s, so that (b) can spend a token it fetched."""
    forms = h.intake_forms(root)
    text = (h.TEMPLATES / "contact.form").read_text(encoding="utf-8")
    assert re.search(r"^token\s*=\s*required$", text, re.M)
    text = re.sub(r"^(token\s*=\s*required)$", r"\1\ntoken_min_age = 1",
                  text, flags=re.M)
    (forms / "feedback.form").write_text(text, encoding="utf-8")
    return forms


def _strace_works():
    if not os.path.exists(STRACE):
        return False
    try:
        return subprocess.run([STRACE, "-f", "-qq", "-o", "/dev/null", "true"],
                              capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _unprivileged(cmd):
    """As root, the server runs as nobody (setpriv), as an unprivileged
    user would run it; otherwise as the user running the tests."""
    if not h.is_root():
        return cmd
    pw = pwd.getpwnam("nobody")
    return ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
            "--clear-groups", "--"] + cmd


def _give_to_server(path):
    if h.is_root():
        pw = pwd.getpwnam("nobody")
        for d, dirs, files in os.walk(path):
            for n in [d] + [os.path.join(d, f) for f in files]:
                os.chown(n, pw.pw_uid, pw.pw_gid)


def _site(root):
    site = root / "site"
    site.mkdir()
    (site / "index.html").write_text("<!doctype html><p>shop</p>\n")
    shutil.copy(h.REPO / "www" / "form.js", site / "form.js")
    return site


class Server:
    """One web server started (under strace when it works) in its own
    session; stopped by its PID (its pid file's, under strace)."""

    def __init__(self, name, root, cmd, pidfile, log, port, scheme,
                 traced):
        self.name, self.root, self.port, self.scheme = name, root, port, scheme
        self.pidfile, self.log = pidfile, log
        self.trace = root / "strace.log" if traced else None
        if traced:
            cmd = [STRACE, "-f", "-qq", "-s", "512", "-e",
                   f"trace={STRACE_CALLS}", "-o", str(self.trace), "--"] + cmd
        with open(root / "stderr.log", "ab") as out:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                env=h.clean_env(), cwd=root, start_new_session=True)
        try:
            h.wait_until(lambda: h.can_connect_tcp("127.0.0.1", port),
                         proc=self.proc, what=f"{name} (contrib config)",
                         log=log)
        except RuntimeError:
            self.stop()
            raise

    def stop(self):
        if self.proc.poll() is None and self.trace is not None:
            # strace's child is the server: stop the server, strace follows.
            try:
                pid = int(self.pidfile.read_text().split()[0])
                os.kill(pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (OSError, ValueError, IndexError,
                    subprocess.TimeoutExpired):
                pass
        h.stop_process(self.proc)
        h.kill_group_leftovers(self.proc.pid)

    def trace_mark(self):
        return self.trace.stat().st_size if self.trace else 0

    def files_opened(self, mark, path):
        """Files the server opened since mark, up to its opening of path
        (a static page fetched to know that strace has written all that
        came before): [(path, flags)] of successful opens."""
        deadline = time.monotonic() + 10
        while True:
            with open(self.trace, "rb") as f:
                f.seek(mark)
                text = f.read().decode("utf-8", "replace")
            if path in text or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert path in text, f"strace did not show {path}:\n{text[-3000:]}"
        text = text[:text.index(path)]
        # A call strace shows unfinished counts: it may have succeeded.
        return [(m.group(1), m.group(2))
                for m in map(OPEN_RE.match, text.splitlines())
                if m and not re.search(r"\) = -1 ", m.group(3))]


def _cert(root):
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
         "-keyout", str(root / "key.pem"), "-out", str(root / "cert.pem"),
         "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30)


def _apache_vhost(port, root, cert, key, sock):
    text = APACHE_CONTRIB.read_text()
    text = text.replace("<VirtualHost *:443>", f"<VirtualHost 127.0.0.1:{port}>")
    text = text.replace("/etc/ssl/shop.example.com/fullchain.pem", str(cert))
    text = text.replace("/etc/ssl/shop.example.com/privkey.pem", str(key))
    text = text.replace("DocumentRoot /var/www/shop", f"DocumentRoot {root}")
    text = text.replace("proxy:unix:/run/formdrop/fcgi.sock",
                        f"proxy:unix:{sock}")
    assert "/etc/ssl/shop" not in text and "/run/formdrop" not in text
    assert "/var/www/shop" not in text and "*:443" not in text
    return text


def _start_apache(root, site, sock, traced):
    ap = root / "apache"
    ap.mkdir()
    _cert(ap)

    def attempt():
        port = h.free_port()
        m = APACHE_MODULES
        (ap / "httpd.conf").write_text(
            f"ServerRoot {ap}\nServerName localhost\n"
            f"Listen 127.0.0.1:{port} https\n"
            f"PidFile {ap}/httpd.pid\nErrorLog {ap}/error.log\n"
            f"LogLevel info\nMutex file:{ap}\nDefaultRuntimeDir {ap}\n" +
            "".join(f"LoadModule {n}_module {m}/mod_{n}.so\n" for n in (
                "mpm_event", "authz_core", "mime", "dir", "ssl",
                "socache_shmcb", "proxy", "proxy_fcgi")) +
            "TypesConfig /dev/null\nAddType text/html .html\n"
            "AddType text/javascript .js\nDirectoryIndex index.html\n"
            f'LogFormat "%a %r %>s" plain\nCustomLog {ap}/access.log plain\n'
            "StartServers 1\nServerLimit 2\nThreadsPerChild 8\n"
            "MaxRequestWorkers 16\nTimeout 30\n"
            f"Include {ap}/vhost.conf\n")
        (ap / "vhost.conf").write_text(_apache_vhost(
            port, site, ap / "cert.pem", ap / "key.pem", sock) + "\n")
        _give_to_server(ap)
        return Server("apache", ap, _unprivileged(
            [APACHE, "-f", str(ap / "httpd.conf"), "-DFOREGROUND"]),
            ap / "httpd.pid", ap / "error.log", port, "https", traced)

    return _started(attempt)


def _started(attempt):
    """attempt() (a Server on a free port) retried on a port taken
    meanwhile, as h.start_retrying does; the last one stopped if all
    failed."""
    box = {}

    def start():
        box["s"] = attempt()
        return box["s"]

    def stop():
        if "s" in box:
            box.pop("s").stop()
    try:
        return h.start_retrying(start, stop)
    except RuntimeError:
        stop()
        raise


def _lighttpd_snippet(sock):
    text = LIGHTTPD_CONTRIB.read_text()
    text = text.replace('"/run/formdrop/fcgi.sock"', f'"{sock}"')
    assert "/run/formdrop" not in text
    return text


def _start_lighttpd(root, site, sock, traced):
    lt = root / "lighttpd"
    lt.mkdir()

    def attempt():
        port = h.free_port()
        (lt / "formdrop.conf").write_text(_lighttpd_snippet(sock))
        (lt / "lighttpd.conf").write_text(
            'server.modules = ( "mod_indexfile", "mod_staticfile" )\n'
            f'server.bind = "127.0.0.1"\nserver.port = {port}\n'
            f'server.document-root = "{site}"\n'
            f'server.errorlog = "{lt}/error.log"\n'
            f'server.pid-file = "{lt}/lighttpd.pid"\n'
            'index-file.names = ( "index.html" )\n'
            'mimetype.assign = ( ".html" => "text/html; charset=utf-8",'
            ' ".js" => "text/javascript" )\n'
            f'include "{lt}/formdrop.conf"\n')
        _give_to_server(lt)
        return Server("lighttpd", lt, _unprivileged(
            [LIGHTTPD, "-D", "-f", str(lt / "lighttpd.conf")]),
            lt / "lighttpd.pid", lt / "error.log", port, "http", traced)
    return _started(attempt)


def _start_nginx(root, site, sock):
    """The nginx example as test_contrib_nginx runs it: the reference
    for /token/."""
    ng = root / "nginx"
    ng.mkdir()
    _cert(ng)
    port = h.free_port()
    (ng / "nginx.conf").write_text(
        ("user root;\n" if h.is_root() else "") +
        f"pid {ng}/nginx.pid;\nerror_log {ng}/error.log info;\n"
        "events { worker_connections 64; }\nhttp {\n"
        f"  access_log {ng}/access.log;\n"
        f"  client_body_temp_path {ng}/body;\n"
        f"  fastcgi_temp_path {ng}/fastcgi;\n" +
        test_contrib_nginx._server_block(port, site, ng / "cert.pem",
                                         ng / "key.pem", sock) + "}\n")
    return Server("nginx", ng, [h.NGINX, "-p", str(ng), "-c",
                                str(ng / "nginx.conf"), "-e",
                                str(ng / "error.log"), "-g", "daemon off;"],
                  ng / "nginx.pid", ng / "error.log", port, "https", False)


SERVERS = {"apache": (APACHE, _start_apache),
           "lighttpd": (LIGHTTPD, _start_lighttpd)}


@pytest.fixture(scope="module", params=sorted(SERVERS))
def web(request):
    binary, start = SERVERS[request.param]
    if not os.path.exists(binary):
        pytest.skip(f"{request.param} not installed ({binary})")
    if not h.HANDLER.exists():
        pytest.fail(f"{h.HANDLER} does not exist: run make first",
                    pytrace=False)
    traced = _strace_works()
    with _served("fd-web-", lambda root, site, sock:
                 start(root, site, sock, traced)) as web:
        web.update(name=request.param, traced=traced)
        yield web


@pytest.fixture(scope="module")
def nginx_ref():
    if not os.path.exists(h.NGINX):
        pytest.skip(f"nginx not installed ({h.NGINX})")
    with _served("fd-web-ng-", _start_nginx) as web:
        yield web["server"]


@contextlib.contextmanager
def _served(prefix, start):
    """The handler and a web server started by start(root, site, socket)
    in a new temp folder: {"server", "handler", "root", "site",
    "maildirs"}; both stopped, and the folder removed (unless
    FORMDROP_E2E_KEEP=1), at the end."""
    root = h.make_tmpdir(prefix)
    handler = server = None
    try:
        conf, maildirs = h.write_config(root, forms=_forms(root),
                                        limits={"body_max": "1M"})
        handler = h.Handler(root, conf).start()
        site = _site(root)
        server = start(root, site, handler.sock)
        yield {"server": server, "handler": handler, "root": root,
               "site": site, "maildirs": maildirs}
    finally:
        if server is not None:
            server.stop()
        if handler is not None:
            handler.stop()
        if os.environ.get("FORMDROP_E2E_KEEP") != "1":
            shutil.rmtree(root, ignore_errors=True)


# ------------------------------------------------------------ clients

def request(srv, path, *args, source=CLIENT, data=None):
    """One request with curl through srv (a Server); data (bytes) is
    sent as the body.  Returns an e2e_helpers.Response."""
    tmp = srv.root / "curl"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    cmd = [h.CURL, "-sS", "--noproxy", "*", "--max-time", str(h.TIMEOUT),
           "--interface", source, "-H", "Expect:",
           "-o", str(tmp / "body"), "-D", str(tmp / "headers")]
    if srv.scheme == "https":
        cmd += ["--cacert", str(srv.root / "cert.pem"), "--resolve",
                f"localhost:{srv.port}:127.0.0.1"]
        url = f"https://localhost:{srv.port}{path}"
    else:
        url = f"http://127.0.0.1:{srv.port}{path}"
    if data is not None:
        (tmp / "data").write_bytes(data)
        cmd += ["--data-binary", f"@{tmp / 'data'}"]
    p = subprocess.run(cmd + list(args) + [url], capture_output=True,
                       timeout=h.TIMEOUT + 5, env=h.clean_env())
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    status, reason, headers = h.parse_http_headers(
        (tmp / "headers").read_bytes())
    return h.Response(status, reason, headers, (tmp / "body").read_bytes())


URLENC = "Content-Type: application/x-www-form-urlencoded"
CHUNKED = "Transfer-Encoding: chunked"


def contact(name, message="Sent through the contrib example"):
    return h.urlencode([("name", name), ("email", "ada@example.com"),
                        ("message", message)])


def order_form(upload):
    return ["-F", "name=Ada Lovelace", "-F", "email=ada@example.com",
            "-F", "address=12 Analytical Row", "-F", "item=Engine",
            "-F", "quantity=1", "-F",
            f"attachment=@{upload};type=application/pdf"]


# ------------------------------------------------------------ (a)

def test_submission_delivered_with_client_address(web):
    srv, boxes = web["server"], web["maildirs"]
    snap = h.snapshot(boxes)
    r = request(srv, "/submit/contact", "-H", URLENC,
                data=contact(f"Ada via {web['name']}"))
    id = h.check_success(r, "contact")
    d = h.single_delivery(boxes, snap, "contact")
    assert str(d.msg["Subject"]) == f"Contact form: Ada via {web['name']}"
    assert str(d.msg["X-Formdrop-Id"]).strip() == id
    assert CLIENT in str(d.msg["Received"]), str(d.msg["Received"])
    assert f"client={CLIENT}" in web["handler"].log_text()


def test_handler_answers_pass_through(web):
    srv, boxes = web["server"], web["maildirs"]
    snap = h.snapshot(boxes)
    js = "Accept: application/json"
    r = request(srv, "/submit/contact", "-H", URLENC, "-H", js,
                data=contact("Ada JSON"))
    h.check_success(r, "contact", accept_json=True)
    h.single_delivery(boxes, snap, "contact")
    snap = h.snapshot(boxes)
    r = request(srv, "/submit/contact", "-H", URLENC, "-H", js,
                data=h.urlencode([("name", "Ada")]))
    h.check_error(r, 422, accept_json=True, fields=["email", "message"])
    r = request(srv, "/submit/nosuchform", "-H", URLENC, "-H", js,
                data=b"a=b")
    h.check_error(r, 404, accept_json=True)
    r = request(srv, "/submit/contact", "-H", js)           # a GET
    h.check_error(r, 405, accept_json=True)
    h.assert_nothing_delivered(boxes, snap)


def test_chunked_body_delivered(web):
    """No Content-Length (Transfer-Encoding: chunked): delivered all the
    same (lighttpd gives FastCGI the length once it has the body)."""
    srv, boxes = web["server"], web["maildirs"]
    snap = h.snapshot(boxes)
    r = request(srv, "/submit/contact", "-H", URLENC, "-H", CHUNKED,
                data=contact("Ada chunked", "x" * 3000))
    h.check_success(r, "contact")
    d = h.single_delivery(boxes, snap, "contact")
    assert "x" * 3000 in d.data["fields"]["message"]


def test_rate_limit_429_passes_through(web):
    """The shipped contact form's rate (5/60 per network), from an
    address of its own: the handler's 429 and Retry-After arrive."""
    srv = web["server"]
    source = "127.0.0.3" if web["name"] == "apache" else "127.0.0.4"
    codes, r = [], None
    for i in range(7):
        r = request(srv, "/submit/feedback", "-H", URLENC, source=source,
                    data=contact(f"Ada {i}") + b"&fd_hp=")
        codes.append(r.status)
        if r.status == 429:
            break
    assert codes[-1] == 429, codes
    assert int(r.header("Retry-After")) > 0, r


# ------------------------------------------------------------ (b)

def _token_doc(r, form):
    assert r.status == 200 and r.content_type == "application/json", r
    doc = r.json()
    assert set(doc) == {"form", "token", "field", "min_age", "max_age"}
    assert doc["form"] == form and doc["field"] == "_token", doc
    return doc


def _token_answers(srv):
    """What the token route answers: shape of a token, 404, 405 + Allow,
    and the Cache-Control the handler sets."""
    ok = request(srv, "/token/feedback")
    doc = _token_doc(ok, "feedback")
    head = request(srv, "/token/feedback", "-I")
    nf = request(srv, "/token/nosuchform")
    post = request(srv, "/token/feedback", "-H", URLENC, data=b"a=b")
    return {"token": (ok.status, ok.content_type, doc["min_age"],
                      doc["max_age"], ok.header("Cache-Control"),
                      doc["token"].split(".")[:2]),
            "head": (head.status, head.content_type),
            "404": (nf.status, nf.content_type, b"no such form" in nf.body),
            "405": (post.status, post.header("Allow"))}


def test_token_route_as_with_nginx(web, nginx_ref):
    got = _token_answers(web["server"])
    assert got == _token_answers(nginx_ref)
    assert got["token"][:2] == (200, "application/json")
    assert got["404"][0] == 404 and got["405"] == (405, "GET, HEAD")


def test_token_fetched_through_server_is_accepted(web):
    """feedback is the shipped contact form (token = required, refused
    without one): a token from GET /token/feedback, through the server,
    gets a submission delivered; none gets the 422 naming _token."""
    srv, boxes = web["server"], web["maildirs"]
    snap = h.snapshot(boxes)
    js = "Accept: application/json"
    r = request(srv, "/submit/feedback", "-H", URLENC, "-H", js,
                source="127.0.0.5", data=contact("No token") + b"&fd_hp=")
    h.check_error(r, 422, accept_json=True, fields=["_token"])
    h.assert_nothing_delivered(boxes, snap)
    doc = _token_doc(request(srv, "/token/feedback"), "feedback")
    time.sleep(doc["min_age"] + 0.2)
    body = contact("Ada with a token") + b"&fd_hp=&" + urllib.parse.urlencode(
        {"_token": doc["token"]}).encode()
    r = request(srv, "/submit/feedback", "-H", URLENC, source="127.0.0.5",
                data=body)
    h.check_success(r, "contact")
    d = h.single_delivery(boxes, snap, "contact")
    assert "Ada with a token" in str(d.msg["Subject"])
    assert d.msg["X-Formdrop-Spam"] is None


# ------------------------------------------------------------ (c)

@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_upload_never_on_disk_in_clear(web, chunked):
    """A 400 KB upload (over every server's in-memory default, under the
    limits) is delivered, and the server creates no file for it except in
    RAM (tmpfs): seen with strace on the server's processes."""
    srv, boxes = web["server"], web["maildirs"]
    if not web["traced"]:
        pytest.skip("strace cannot trace here: install strace (deps.sh)")
    upload = web["root"] / f"scan-{chunked}.pdf"
    upload.write_bytes(UPLOAD)
    marker = f"marker-{web['name']}-{int(chunked)}.html"
    (web["site"] / marker).write_text("<p>marker</p>\n")
    _give_to_server(web["site"])
    # A relayed request first: what a server makes at its first one (its
    # logs, Apache's proxy mutex file) is not the body.
    assert request(srv, "/token/contact").status == 200
    snap = h.snapshot(boxes)
    mark = srv.trace_mark()
    extra = ["-H", CHUNKED] if chunked else []
    r = request(srv, "/submit/order", *extra, *order_form(upload))
    h.check_success(r, "order")
    d = h.single_delivery(boxes, snap, "orders")
    (att,) = d.attachments
    assert att.get_payload(decode=True) == UPLOAD
    assert request(srv, "/" + marker).status == 200
    opened = srv.files_opened(mark, str(web["site"] / marker))
    written = [(p, f) for p, f in opened
               if re.search(r"O_(WRONLY|RDWR|CREAT|TMPFILE)", f)]
    for path, flags in written:
        fs = subprocess.run(["stat", "-f", "-c", "%T", os.path.dirname(path)],
                            capture_output=True, text=True, timeout=10)
        assert fs.stdout.strip() == "tmpfs", (
            f"{web['name']} wrote the body to {path} ({flags}), on "
            f"{fs.stdout.strip() or fs.stderr}: in clear, on disk")
    if web["name"] == "apache":
        assert written == [], written    # mod_proxy_fcgi streams it
    else:               # lighttpd keeps it, in the example's upload-dirs
        assert any(p.startswith("/dev/shm/") for p, _ in written), written


# ------------------------------------------------------------ (d)

@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_handler_not_server_answers_413(web, chunked):
    """The servers' own limits (2 MB) sit above body_max (1M): the
    person gets the handler's clear 413 page, not the server's."""
    srv = web["server"]
    extra = ["-H", CHUNKED] if chunked else []
    r = request(srv, "/submit/contact", "-H", URLENC, *extra,
                data=b"x" * (1536 * 1024))
    assert r.status == 413, r
    assert b"too large" in r.body, r
    assert b"apache" not in r.body.lower() and b"lighttpd" not in r.body


# ------------------------------------------------------------ (e)

def test_static_pages(web):
    srv = web["server"]
    for path in ("/", "/index.html"):
        r = request(srv, path)
        assert r.status == 200 and b"shop" in r.body, r
        assert r.content_type == "text/html", r
    r = request(srv, "/form.js")
    assert r.status == 200 and b"/token/" in r.body, r
    # Only /submit/<form> and /token/<form> go to the handler.
    r = request(srv, "/submitted.html")
    assert r.status == 404 and b"no such form" not in r.body, r
