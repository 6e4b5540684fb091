"""
formdrop-devserver end to end: the static site (types, index.html, 301,
404, traversal and symlinks refused, 405), every /submit/ outcome compared
with nginx in front of a handler with the same configuration (status,
Location / Content-Type / Allow / Retry-After, body, exactly one message
per success), a 5 MB upload, the handler it starts being killed and
restarted, 20 concurrent submissions, the loopback-only rule, slow
clients, the request log and SIGTERM / SIGINT.

The devserver runs the real cgi/formdrop.fcgi it starts itself (-c) or
the stack's handler (-H).  Where the handler cannot show a case (the CGI
variables it was given, a handler that never answers or sends odd
headers), a small FastCGI responder in this process stands in for it,
on a unix socket in the test's folder.
"""

import concurrent.futures
import hashlib
import os
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

import devserver_helpers as dh
import e2e_helpers as h

URLENC = "application/x-www-form-urlencoded"
JSON = "application/json"
PASSWD_MARK = b"root:x:0:0"


def _need_devserver():
    if not dh.DEVSERVER.exists():
        pytest.fail(f"{dh.DEVSERVER} does not exist: build it with make first",
                    pytrace=False)


@pytest.fixture(scope="module")
def ds(request, stack):
    """The devserver over www/, starting its own handler with the stack's
    configuration (same forms, limits and Maildirs as nginx's handler)."""
    _need_devserver()
    d = dh.Devserver(stack.root, conf=stack.conf, workers=2)
    request.addfinalizer(d.stop)
    return d.start()


@pytest.fixture
def make_ds(request):
    """make_ds(root, **Devserver kwargs): a private devserver, stopped when
    the test ends."""
    _need_devserver()

    def make(root, **kw):
        d = dh.Devserver(root, **kw)
        request.addfinalizer(d.stop)
        return d.start()
    return make


def contact(name="Ann Example", email="ann@example.org",
            message="Hello,\nplease call me back.\nThanks! ✓"):
    return {"name": name, "email": email, "message": message}


def order_pairs(marker="m"):
    return [("name", f"Zoë Buyer {marker}"), ("email", "zoe@example.org"),
            ("phone", "+49 30 1234567"),
            ("address", f"Straße des 17. Juni 1\n10623 Berlin {marker}"),
            ("item", "Widget — large"), ("quantity", "2"),
            ("item", "Gadget"), ("quantity", "1"),
            ("notes", f"Ring twice.\n{marker}")]


def order_expect(pairs):
    exp = {}
    for k, v in pairs:
        if k in ("item", "quantity"):
            exp.setdefault(k, []).append(v)
        else:
            exp[k] = v
    return exp


def check_contact_delivery(stack, snap, r, fields, accept_json=False):
    id = h.check_success(r, "contact", accept_json)
    d = stack.delivered(snap, "contact")
    h.check_message(d, form="contact", id=id, fields=fields,
                    subject="Contact form: " + fields["name"],
                    reply_to=fields["email"])
    return id


def check_order_delivery(stack, snap, r, pairs, files=(), accept_json=False):
    id = h.check_success(r, "order", accept_json)
    d = stack.delivered(snap, "orders")
    exp = order_expect(pairs)
    h.check_message(d, form="order", id=id, fields=exp,
                    subject="Order from " + exp["name"], reply_to=exp["email"],
                    files=files, optional_empty=("phone", "notes",
                                                 "attachment"))
    return id


# ------------------------------------------------------------------ static

@pytest.mark.parametrize("path,ctype,file", [
    ("/", "text/html", "index.html"),
    ("/index.html", "text/html", "index.html"),
    ("/style.css", "text/css", "style.css"),
    ("/form.js", "text/javascript", "form.js"),
    ("/thanks.html", "text/html", "thanks.html"),
])
def test_static_files_and_types(ds, path, ctype, file):
    r = ds.get(path)
    assert r.status == 200, r
    assert r.content_type == ctype, r
    if ctype != "text/javascript":
        assert "charset=utf-8" in r.header("Content-Type").replace(" ", ""), r
    assert r.body == (dh.WWW / file).read_bytes()
    assert r.header("X-Content-Type-Options") == "nosniff", r


def test_more_content_types(tmp_root, make_ds, stack):
    """Types a site commonly has, served as what they are (nosniff makes
    a browser refuse a module script sent as octet-stream)."""
    www = tmp_root / "site"
    www.mkdir()
    types = {"app.mjs": "text/javascript", "a.jpeg": "image/jpeg",
             "a.gif": "image/gif", "a.webp": "image/webp",
             "f.woff2": "font/woff2", "terms.pdf": "application/pdf",
             "data.bin": "application/octet-stream"}
    for name in types:
        (www / name).write_bytes(b"x")
    d = make_ds(tmp_root, handler=f"unix:{stack.handler.sock}", www=www)
    for name, ctype in types.items():
        r = d.get("/" + name)
        assert r.status == 200 and r.content_type == ctype, (name, r)


def test_head_is_get_without_body(ds):
    g = ds.get("/style.css")
    r = ds.request("HEAD", "/style.css")
    assert r.status == 200 and r.body == b"", r
    assert r.content_type == "text/css"
    assert r.header("Content-Length") == g.header("Content-Length") == str(
        len(g.body))


def test_form_page_gets_a_token_rendered(ds):
    """order.html holds {{token}}: the devserver fills it in (the intake
    forms have no token, so it is empty) and never serves the braces."""
    r = ds.get("/order.html")
    assert r.status == 200 and r.content_type == "text/html", r
    assert b"{{token}}" not in r.body
    assert b'action="/submit/order"' in r.body
    assert r.header("Cache-Control") == "private, no-cache", r
    assert r.header("X-Frame-Options") == "DENY", r
    assert "frame-ancestors 'none'" in r.header("Content-Security-Policy")
    assert r.header("Referrer-Policy") == "same-origin", r


def test_folder_without_slash_redirects(tmp_root, make_ds, stack):
    www = tmp_root / "site"
    (www / "sub" / "deeper").mkdir(parents=True)
    (www / "index.html").write_text("<p>top</p>\n")
    (www / "sub" / "index.html").write_text("<p>sub</p>\n")
    (www / "sub" / "deeper" / "page.txt").write_text("plain\n")
    d = make_ds(tmp_root, handler=f"unix:{stack.handler.sock}", www=www)
    r = d.get("/sub")
    assert r.status == 301, r
    assert r.header("Location") == "/sub/", r
    r = d.get("/sub/deeper")
    assert r.status == 301 and r.header("Location") == "/sub/deeper/", r
    # The Location is %-encoded again: a "?" stays part of the path, a
    # space is no raw space, and "//sub" is a path here, not a host.
    (www / "q?x").mkdir()
    (www / "a b").mkdir()
    for path, loc in (("/q%3fx", "/q%3Fx/"), ("/a%20b", "/a%20b/"),
                      ("//sub", "/sub/")):
        r = d.get(path)
        assert r.status == 301 and r.header("Location") == loc, (path, r)
    r = d.get("/sub/")
    assert r.status == 200 and r.body == b"<p>sub</p>\n", r
    assert r.content_type == "text/html"
    r = d.get("/sub/deeper/page.txt")
    assert r.status == 200 and r.body == b"plain\n", r
    assert r.content_type == "text/plain"
    # A folder without index.html is not listed.
    r = d.get("/sub/deeper/")
    assert r.status == 404, r
    assert b"page.txt" not in r.body
    # -H: submissions go to the stack's handler.
    r = d.post("contact", list(contact().items()), accept=JSON)
    assert r.status == 200 and r.json()["ok"] is True, r


def test_404_page(ds):
    r = ds.get("/no-such-page.html")
    assert r.status == 404, r
    assert r.content_type == "text/html", r
    assert r.body == (dh.WWW / "404.html").read_bytes()
    r = ds.get("/no/such/folder/")
    assert r.status == 404 and r.body == (dh.WWW / "404.html").read_bytes()


def test_404_without_404_page(tmp_root, make_ds, stack):
    www = tmp_root / "bare"
    www.mkdir()
    (www / "index.html").write_text("x")
    d = make_ds(tmp_root, handler=f"unix:{stack.handler.sock}", www=www)
    r = d.get("/missing")
    assert r.status == 404 and r.content_type == "text/html", r
    assert b"not found" in r.body.lower()


TRAVERSALS = [
    "/../etc/passwd",
    "/../../../../../../etc/passwd",
    "/%2e%2e/etc/passwd",
    "/%2E%2E/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/.%2e/.%2e/.%2e/.%2e/etc/passwd",
    "/..%2fetc/passwd",
    "/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/a/../../etc/passwd",
    "/a/../../../../../../etc/passwd",
    "/./../etc/passwd",
    "/..\\etc\\passwd",
    "/..\\..\\..\\..\\etc\\passwd",
    "/%5c..%5c..%5c..%5cetc%5cpasswd",
    "/..%5c..%5c..%5c..%5cetc%5cpasswd",
    "/%2e%2e%5c%2e%2e%5cetc%5cpasswd",
    "/..",
    "/../",
    "/.",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_refused(ds, path):
    raw = ds.raw(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n"
                 "Connection: close\r\n\r\n".encode())
    status, headers, body = dh.parse_raw_response(raw)
    assert PASSWD_MARK not in raw, f"{path} served /etc/passwd"
    assert status == 403, (path, raw[:400])
    assert b"Forbidden" in body


@pytest.mark.parametrize("path", ["//etc/passwd", "/etc/passwd",
                                  "/%2fetc%2fpasswd", "/index.html/../..",
                                  "/index.html%00/../../etc/passwd"])
def test_absolute_looking_paths_stay_inside(ds, path):
    raw = ds.raw(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n"
                 "Connection: close\r\n\r\n".encode())
    assert PASSWD_MARK not in raw, f"{path} served /etc/passwd"
    status, _, body = dh.parse_raw_response(raw)
    assert status in (200, 400, 403, 404), (path, raw[:300])
    if status == 200:       # only ever a file of the site
        assert body in {f.read_bytes() for f in dh.WWW.iterdir()}, path


@pytest.mark.parametrize("path", ["/index.html%00.txt",
                                  "/index.html%00/../../etc/passwd",
                                  "/style.css%00.html"])
def test_nul_in_path_refused(ds, path):
    """static_url_is_safe() means to refuse a NUL in the path; a %00 must
    not silently cut the path short and serve another file."""
    raw = ds.raw(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n"
                 "Connection: close\r\n\r\n".encode())
    status, _, _ = dh.parse_raw_response(raw)
    assert status in (400, 403, 404), (path, raw[:300])


def test_symlinks_out_of_root_refused(tmp_root, make_ds, stack):
    www = tmp_root / "site"
    (www / "in").mkdir(parents=True)
    (www / "in" / "ok.txt").write_text("inside\n")
    (www / "index.html").write_text("top\n")
    outside = tmp_root / "secret"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP SECRET outside the root\n")
    (outside / "index.html").write_text("TOP SECRET index\n")
    os.symlink("/etc/passwd", www / "pw")
    os.symlink("/etc", www / "etc")
    os.symlink(outside / "secret.txt", www / "secret.txt")
    os.symlink(outside, www / "secretdir")
    os.symlink("../../secret/secret.txt", www / "in" / "rel.txt")
    os.symlink("ok.txt", www / "in" / "good-link.txt")   # inside: fine
    d = make_ds(tmp_root, handler=f"unix:{stack.handler.sock}", www=www)
    for path in ("/pw", "/etc/passwd", "/secret.txt", "/secretdir/secret.txt",
                 "/secretdir/", "/secretdir/index.html", "/in/rel.txt",
                 "/etc/hostname"):
        r = d.get(path)
        assert r.status == 403, (path, r)
        assert PASSWD_MARK not in r.body and b"SECRET" not in r.body, path
    r = d.get("/in/good-link.txt")
    assert r.status == 200 and r.body == b"inside\n", r


def test_symlink_out_of_root_is_no_existence_oracle(tmp_root, make_ds, stack):
    """Through a symlink to a folder outside the root, a file that exists
    and one that does not get the same 403: the answer must not tell which
    files exist outside the site."""
    www = tmp_root / "site"
    www.mkdir()
    (www / "index.html").write_text("top\n")
    os.symlink("/etc", www / "etc")
    d = make_ds(tmp_root, handler=f"unix:{stack.handler.sock}", www=www)
    statuses = {p: d.get(p).status for p in (
        "/etc/passwd", "/etc/no-such-file-here", "/etc/", "/etc/nope/")}
    assert set(statuses.values()) == {403}, statuses
    # Also through a chain: a relative link to a link that leads out,
    # to a file there that exists and one that does not.
    outside = tmp_root / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    os.symlink(outside, www / "out")
    os.symlink("out/secret.txt", www / "chain_exists")
    os.symlink("out/nothere.txt", www / "chain_missing")
    statuses = {p: d.get(p).status for p in ("/chain_exists",
                                              "/chain_missing")}
    assert set(statuses.values()) == {403}, statuses


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_405_for_other_methods_on_static_paths_without_body(ds, method):
    r = ds.request(method, "/index.html", headers={"Content-Length": "0"})
    assert r.status == 405, r
    assert r.header("Allow") == "GET, HEAD", r


@pytest.mark.parametrize("path, method", [
    ("/index.html", "POST"), ("/", "POST"), ("/contact.html", "POST"),
    ("/no-such-page", "POST"), ("/contact.html", "PUT")])
def test_405_for_post_with_body_to_static_path(ds, path, method):
    """A form posted to a static page (a wrong action=, a stale page) gets
    a short HTML page that says why, with Allow.  Before: an empty body
    without a Content-Type."""
    r = h.curl(ds.url(path), method=method,
               data=h.urlencode(contact().items()), content_type=URLENC,
               workdir=ds.root)
    assert r.status == 405 and r.header("Allow") == "GET, HEAD", r
    assert r.header("Content-Type") == "text/html; charset=utf-8", r
    assert b"Method not allowed" in r.body, r


# ------------------------------------------------ /submit/ compared to nginx

def _multipart_order(marker, blob=None):
    pairs = order_pairs(marker)
    files = [("attachment", "plan-ü.pdf", "application/pdf",
              blob if blob is not None else
              b"%PDF-1.4\n" + bytes(range(256)) * 4 + marker.encode())]
    body, ctype = h.multipart(pairs + files)
    return pairs, files, body, ctype


def _cases():
    good = list(contact().items())
    bad_email = list(contact(email="not-an-email").items())
    big = [("name", "Big"), ("email", "big@example.org"),
           ("message", "x" * 1100000)]
    many = [("name", "Many"), ("email", "m@example.org")] + [
        ("notes", "n")] * 150
    o_pairs, o_files, o_body, o_ctype = _multipart_order("cmp")
    _, _, big_file_body, big_file_ctype = _multipart_order(
        "bigfile", blob=os.urandom(600 * 1024))
    trunc_body, trunc_ctype = h.multipart(good)
    return {
        "303-contact": dict(form="contact", data=h.urlencode(good),
                            content_type=URLENC, ok=("contact", good, False)),
        "200-json-contact": dict(form="contact", data=h.urlencode(good),
                                 content_type=URLENC, accept=JSON,
                                 ok=("contact", good, True)),
        "303-order-multipart": dict(form="order", data=o_body,
                                    content_type=o_ctype,
                                    ok=("order", (o_pairs, o_files), False)),
        "200-json-order-multipart": dict(form="order", data=o_body,
                                         content_type=o_ctype, accept=JSON,
                                         ok=("order", (o_pairs, o_files),
                                             True)),
        "422-html": dict(form="contact", data=h.urlencode(bad_email),
                         content_type=URLENC),
        "422-json": dict(form="contact", data=h.urlencode(bad_email),
                         content_type=URLENC, accept=JSON),
        "422-empty": dict(form="contact", data=b"", content_type=URLENC,
                          accept=JSON),
        "413-body": dict(form="contact", data=h.urlencode(big),
                         content_type=URLENC),
        "413-body-json": dict(form="contact", data=h.urlencode(big),
                              content_type=URLENC, accept=JSON),
        "413-file": dict(form="order", data=big_file_body,
                         content_type=big_file_ctype),
        "413-fields": dict(form="order", data=h.urlencode(many),
                           content_type=URLENC, accept=JSON),
        "415": dict(form="contact", data=b"hello", content_type="text/plain"),
        "415-json": dict(form="contact", data=b"{}", content_type=JSON,
                         accept=JSON),
        "405-get": dict(form="contact", method="GET"),
        "405-put": dict(form="contact", method="PUT", data=h.urlencode(good),
                        content_type=URLENC),
        "405-delete-json": dict(form="contact", method="DELETE", accept=JSON),
        "404": dict(form="no-such-form", data=h.urlencode(good),
                    content_type=URLENC),
        "404-json": dict(form="no-such-form", data=h.urlencode(good),
                         content_type=URLENC, accept=JSON),
        "400-percent": dict(form="contact", data=b"name=%zz&email=a%40b.c",
                            content_type=URLENC),
        "400-utf8": dict(form="contact", data=b"name=%ff%fe&email=a%40b.c",
                         content_type=URLENC, accept=JSON),
        "400-multipart-truncated": dict(form="contact",
                                        data=trunc_body[:-20],
                                        content_type=trunc_ctype),
    }


CASES = _cases()


def _send(base, case, workdir):
    kw = {k: v for k, v in case.items() if k not in ("form", "ok")}
    return h.curl(f"{base}/submit/{case['form']}", workdir=workdir, **kw)


def _check_outcome(stack, snap, r, case):
    if "ok" not in case:
        stack.nothing_delivered(snap)
        return None
    form, what, accept_json = case["ok"]
    if form == "contact":
        return check_contact_delivery(stack, snap, r, dict(what), accept_json)
    pairs, files = what
    return check_order_delivery(stack, snap, r, pairs, files, accept_json)


@pytest.mark.parametrize("name", list(CASES))
def test_submit_same_as_nginx(stack, ds, name):
    case = CASES[name]
    snap = stack.snap()
    ng = _send(stack.nginx.base, case, stack.root)
    id_ng = _check_outcome(stack, snap, ng, case)
    snap = stack.snap()
    dv = _send(ds.base, case, stack.root)
    id_ds = _check_outcome(stack, snap, dv, case)
    dh.compare(ng, dv, name)
    expected = int(name.split("-")[0])
    assert dv.status == expected, dv
    if id_ng is not None:
        assert id_ng != id_ds
    if expected == 405:
        assert dv.header("Allow") == "POST", dv


# What the devserver adds to every answer: no framing by other sites, no
# address leaked to them.
PAGE_HEADERS = {
    "x-frame-options": "DENY",
    "content-security-policy":
        "frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    "referrer-policy": "same-origin",
}


@pytest.mark.parametrize("name", ["303-contact", "200-json-contact",
                                  "422-html", "413-body", "415", "405-get",
                                  "404", "400-percent"])
def test_submit_headers_passed_through_unchanged(stack, ds, name):
    """Every header the handler sends arrives once, as nginx passes it:
    nothing dropped, nothing added twice.  The devserver adds its own
    page headers (the contrib nginx example adds the same), once."""
    case = CASES[name]
    ng = _send(stack.nginx.base, case, stack.root)
    dv = _send(ds.base, case, stack.root)
    got = dh.header_multiset(dv)
    for own, value in PAGE_HEADERS.items():
        assert got.pop(own, None) == [value], (own, dv.headers)
    assert got == dh.header_multiset(ng), (
        f"devserver {dv.headers}\nnginx {ng.headers}")


def test_large_upload(tmp_root, make_ds):
    conf, maildirs = h.write_config(tmp_root, limits=dict(
        body_max=8 * 1024 * 1024, file_max=6 * 1024 * 1024))
    d = make_ds(tmp_root, conf=conf)
    blob = os.urandom(5 * 1024 * 1024)
    pairs, files, body, ctype = _multipart_order("large", blob=blob)
    snap = h.snapshot(maildirs)
    r = h.curl(d.url("/submit/order"), data=body, content_type=ctype,
               workdir=tmp_root, timeout=60)
    id = h.check_success(r, "order")
    msg = h.single_delivery(maildirs, snap, "orders")
    data = h.check_message(msg, form="order", id=id, fields=order_expect(pairs),
                           subject="Order from " + dict(pairs)["name"],
                           reply_to="zoe@example.org", files=files)
    assert data["files"][0]["sha256"] == hashlib.sha256(blob).hexdigest()
    assert data["files"][0]["size"] == len(blob)
    # Over file_max (6 MB) but under body_max: 413 and nothing delivered.
    _, _, body, ctype = _multipart_order("toolarge",
                                         blob=os.urandom(6 * 1024 * 1024 + 1))
    snap = h.snapshot(maildirs)
    r = h.curl(d.url("/submit/order"), data=body, content_type=ctype,
               workdir=tmp_root, timeout=60)
    assert r.status == 413, r
    h.assert_nothing_delivered(maildirs, snap)
    # The devserver stays usable after the refused upload.
    snap = h.snapshot(maildirs)
    f = contact(name="After Large")
    r = d.post("contact", list(f.items()))
    h.check_success(r, "contact")
    h.single_delivery(maildirs, snap, "contact")


# ------------------------------------------------------ handler restarts

def _private(tmp_root, make_ds, workers=2):
    conf, maildirs = h.write_config(tmp_root)
    return make_ds(tmp_root, conf=conf, workers=workers), maildirs


def _submit_until_ok(d, maildirs, name, timeout=8):
    """Submit until one is accepted; every answer before must be 502 (and
    deliver nothing).  Returns (seconds, statuses)."""
    start = time.monotonic()
    statuses = []
    while time.monotonic() - start < timeout:
        f = contact(name=f"{name} {len(statuses)}")
        snap = h.snapshot(maildirs)
        r = d.post("contact", list(f.items()), accept=JSON)
        statuses.append(r.status)
        if r.status == 200:
            id = h.check_success(r, "contact", accept_json=True)
            msg = h.single_delivery(maildirs, snap, "contact")
            h.check_message(msg, form="contact", id=id, fields=f,
                            subject="Contact form: " + f["name"],
                            reply_to=f["email"])
            return time.monotonic() - start, statuses
        assert r.status == 502, r
        assert r.content_type == "text/html"
        h.assert_nothing_delivered(maildirs, snap)
        time.sleep(0.1)
    raise AssertionError(f"no submission accepted within {timeout}s: "
                         f"{statuses}")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_handler_is_restarted(tmp_root, make_ds, sig):
    d, maildirs = _private(tmp_root, make_ds)
    _submit_until_ok(d, maildirs, "Before", timeout=2)
    old = d.handler_pid()
    assert old is not None, f"no handler child of {d.proc.pid}"
    os.kill(old, sig)
    new = dh.wait_for(lambda: (d.handler_pid() not in (None, old) and
                               d.handler_pid()), timeout=5,
                      what="a new handler process")
    assert new != old
    secs, statuses = _submit_until_ok(d, maildirs, "After")
    assert secs < 5, statuses
    assert ("the form handler was killed by signal 9" if sig == signal.SIGKILL
            else "the form handler exited with status 0") in d.log_text()
    assert "restarting it in " in d.log_text()
    # Once restarted, every submission is accepted.
    for i in range(5):
        snap = h.snapshot(maildirs)
        r = d.post("contact", list(contact(name=f"Steady {i}").items()))
        h.check_success(r, "contact")
        h.single_delivery(maildirs, snap, "contact")
    assert d.alive()


def test_reloads_do_not_fail_requests(tmp_root, make_ds):
    """A reload ends the handler's idle workers at once, with the kept
    connections they hold: a request sent on one of those is sent again
    on another (it was not taken), not answered 502.  Before: 2-4 of 600
    requests failed like this."""
    d, _ = _private(tmp_root, make_ds)
    stop = threading.Event()

    def reload_often():
        while not stop.is_set():
            pid = d.handler_pid()
            if pid:
                os.kill(pid, signal.SIGHUP)
            time.sleep(0.1)
    t = threading.Thread(target=reload_often)
    t.start()
    statuses = []
    try:
        for _ in range(600):
            statuses.append(d.get("/token/contact").status)
    finally:
        stop.set()
        t.join(5)
    why = [line for line in d.log_text().splitlines()
           if "form handler at" in line or " 502 " in line]
    assert statuses.count(200) == 600, (
        {s: statuses.count(s) for s in set(statuses)}, why)
    assert "reloaded" in d.log_text()


def test_handler_with_a_bad_config_is_reported(tmp_root, make_ds):
    conf, _ = h.write_config(tmp_root, extra_formdrop="colour = blue")
    d = make_ds(tmp_root, conf=conf)
    h.wait_until(lambda: "the form handler exited with status 78 (its "
                 "configuration is wrong" in d.log_text(), timeout=15,
                 what="how the handler ended", log=d.log)
    # Restarted ever more slowly, not every second for ever.
    h.wait_until(lambda: "restarting it in 4 s" in d.log_text(),
                 timeout=30, what="the third restart", log=d.log)
    assert "restarting it in 2 s" in d.log_text()
    assert d.alive()


def test_killed_handler_leaves_no_workers_behind(tmp_root, make_ds):
    """The workers of a handler that was killed must not outlive it: they
    would go on serving the old socket for ever, invisible to the
    devserver, and survive its stop."""
    d, maildirs = _private(tmp_root, make_ds, workers=3)
    old_tree = d.handler_tree()
    assert len(old_tree) == 4, old_tree         # master + 3 workers
    os.kill(old_tree[0], signal.SIGKILL)
    dh.wait_for(lambda: d.handler_pid() not in (None, old_tree[0]),
                timeout=5, what="a new handler process")
    _submit_until_ok(d, maildirs, "After kill")
    try:
        dh.wait_for(lambda: not any(dh.alive(p) for p in old_tree),
                    timeout=5, what="the killed handler's workers to exit")
    finally:
        left = [p for p in old_tree if dh.alive(p)]
    assert not left, (f"workers {left} of the killed handler {old_tree[0]} "
                      f"are still running: {[dh.cmdline(p) for p in left]}")


def test_submission_after_a_page_with_token(tmp_root, make_ds):
    """A form page makes the devserver fetch a token over FastCGI and keep
    that connection; the submission typed a few seconds later must not
    get a 502 from a pooled connection the handler has closed meanwhile
    (a person needs more than 2 s to fill a form)."""
    d, maildirs = _private(tmp_root, make_ds, workers=1)
    statuses = []
    for i in range(3):
        page = d.get("/contact.html")
        assert page.status == 200, page
        time.sleep(2.5)
        f = contact(name=f"Typed slowly {i}")
        snap = h.snapshot(maildirs)
        r = d.post("contact", list(f.items()), accept=JSON)
        statuses.append(r.status)
        if r.status == 200:
            h.single_delivery(maildirs, snap, "contact")
    assert statuses == [200, 200, 200], (statuses, d.log_text()[-1500:])


def test_502_when_handler_not_running(tmp_root, make_ds):
    d = make_ds(tmp_root, handler=f"unix:{tmp_root}/nothing.sock")
    for accept in (None, JSON):
        r = d.post("contact", list(contact().items()), accept=accept)
        assert r.status == 502, r
        assert r.content_type == "text/html" and b"Bad gateway" in r.body
    r = d.get("/index.html")           # the site itself still works
    assert r.status == 200
    # The log says which handler, and why.
    assert (f"form handler at unix:{tmp_root}/nothing.sock: No such file "
            "or directory") in d.log_text()


def _fake_handler(path, stop, serve):
    """A fake FastCGI handler on a unix socket: serve(conn) for every
    connection, in a thread, until stop is set."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(8)
    srv.settimeout(0.2)

    def run():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except socket.timeout:
                continue
            c.settimeout(5)
            try:
                serve(c)
            except (OSError, EOFError):
                pass
            c.close()
        srv.close()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _fcgi_quitter(path, stop):
    """One that reads a little of each request and then closes the
    connection, as a crashing one would."""
    return _fake_handler(path, stop, lambda c: c.recv(4096))


def test_502_after_the_body_when_handler_stops_reading(tmp_root, make_ds):
    stop = threading.Event()
    t = _fcgi_quitter(tmp_root / "quit.sock", stop)
    try:
        d = make_ds(tmp_root, handler=f"unix:{tmp_root}/quit.sock")
        blob = tmp_root / "big.bin"
        blob.write_bytes(os.urandom(3 * 1024 * 1024))
        r = h.curl(d.base + "/submit/order", form=[("-F", f"file=@{blob}")],
                   workdir=tmp_root)
        # An answer, not a cut connection: the browser shows the page.
        assert r.status == 502, r
        assert b"stopped reading the form" in r.body, (r, d.log_text())
        h.wait_until(lambda: "stopped reading the form" in d.log_text() and
                     " 502 " in d.log_text(), timeout=5,
                     what="the log lines")
    finally:
        stop.set()
        t.join(5)


def test_answer_over_1_mib_is_502_and_logged(tmp_root, make_ds, responder):
    fake = responder(lambda p: b"Status: 200 OK\r\n"
                     b"Content-Type: text/plain\r\n\r\n" +
                     b"x" * (1100 * 1024), "big.sock")
    d = make_ds(tmp_root, handler=fake.addr)
    r = d.post("contact", list(contact().items()))
    assert r.status == 502, r
    h.wait_until(lambda: "no complete answer: longer than 1 MiB" in
                 d.log_text(), timeout=5, what="the log line")


@pytest.mark.parametrize("status", [b"2000 OK", b"20", b"abc"])
def test_malformed_status_from_handler_is_502(tmp_root, make_ds, responder,
                                              status):
    fake = responder(lambda p: b"Status: " + status +
                     b"\r\nContent-Type: text/plain\r\n\r\nhi", "odd.sock")
    d = make_ds(tmp_root, handler=fake.addr)
    r = d.post("contact", list(contact().items()))
    assert r.status == 502 and b"malformed answer" in r.body, r
    assert "malformed answer" in d.log_text()


# ------------------------- what the handler is sent, and what is passed back

def _fcgi_record(rtype, content):
    return struct.pack("!BBHHBx", 1, rtype, 1, len(content), 0) + content


def _fcgi_pairs(data):
    """The FastCGI name-value pairs in data, as [(name, value)], repeats
    kept (the spec's one- or four-byte lengths)."""
    out, i = [], 0

    def length():
        nonlocal i
        if data[i] < 128:
            i += 1
            return data[i - 1]
        i += 4
        return struct.unpack("!I", data[i - 4:i])[0] & 0x7fffffff
    while i < len(data):
        nl = length()
        vl = length()
        out.append((data[i:i + nl].decode("latin-1"),
                    data[i + nl:i + nl + vl].decode("latin-1")))
        i += nl + vl
    return out


class FcgiResponder:
    """A FastCGI responder on a unix socket in the test's folder, one
    thread per connection, kept connections served request after request.
    answer(params) gives each request's CGI answer (bytes); b"" closes
    the connection unanswered, as a crashing worker would; None never
    answers (until the devserver closes, or stop()).  requests holds the
    params of every request read, in order."""

    def __init__(self, path, answer):
        self.path = str(path)
        self.answer = answer
        self.requests = []
        self.stopping = threading.Event()
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(self.path)
        self.srv.listen(16)
        self.srv.settimeout(0.2)
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    @property
    def addr(self):
        return f"unix:{self.path}"

    def _accept(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.srv.accept()
            except socket.timeout:
                continue
            t = threading.Thread(target=self._serve, args=(c,), daemon=True)
            self.threads.append(t)
            t.start()
        self.srv.close()

    def _serve(self, c):
        c.settimeout(0.2)
        buf = b""

        def need(n):
            nonlocal buf
            while len(buf) < n:
                try:
                    data = c.recv(65536)
                except socket.timeout:
                    if self.stopping.is_set():
                        raise EOFError
                    continue
                if not data:
                    raise EOFError
                buf += data
        try:
            while True:
                params = b""
                while True:         # up to the empty FCGI_STDIN record
                    need(8)
                    _, rtype, _, clen, plen = struct.unpack("!BBHHBx",
                                                            buf[:8])
                    need(8 + clen + plen)
                    if rtype == 4:
                        params += buf[8:8 + clen]
                    buf = buf[8 + clen + plen:]
                    if rtype == 5 and clen == 0:
                        break
                p = _fcgi_pairs(params)
                self.requests.append(p)
                answer = self.answer(p)
                if answer is None:
                    need(len(buf) + 1)      # until closed or stopped
                if not answer:
                    break
                c.sendall(b"".join(_fcgi_record(6, answer[i:i + 65535])
                                   for i in range(0, len(answer), 65535)) +
                          _fcgi_record(6, b"") +
                          _fcgi_record(3, b"\0" * 8))
        except (OSError, EOFError):
            pass
        finally:
            c.close()

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(5)


@pytest.fixture
def responder(request, tmp_root):
    """responder(answer, name): an FcgiResponder, stopped when the test
    ends."""
    def make(answer, name="fake.sock"):
        r = FcgiResponder(tmp_root / name, answer)
        request.addfinalizer(r.stop)
        return r
    return make


def _echo(params):
    """A CGI answer whose body is the request's variables, one a line."""
    return (b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n" +
            "".join(f"{k}={v}\n" for k, v in params).encode("latin-1"))


def _echoed(body):
    """{name: [values]} from an _echo body: a name twice is a list of two."""
    out = {}
    for line in body.decode("latin-1").splitlines():
        k, _, v = line.partition("=")
        out.setdefault(k, []).append(v)
    return out


def _raw_get(d, path, version="HTTP/1.1", headers=()):
    """A request written byte by byte (repeated headers, odd names, other
    HTTP versions), its answer parsed: (status, headers, body)."""
    head = f"GET {path} {version}\r\nHost: 127.0.0.1\r\n"
    head += "".join(f"{line}\r\n" for line in headers)
    head += "Connection: close\r\n\r\n"
    return dh.parse_raw_response(d.raw(head.encode("latin-1")))


def test_request_dropped_by_handler_is_resent_twice_at_most(tmp_root,
                                                             make_ds,
                                                             responder):
    """A handler that closes GET /token/ connections unanswered (a worker
    ending at a reload, or crashing): the request, which has no body and
    changes nothing, is sent again twice at most, and the browser gets a
    502 at once, not after a timeout."""
    fake = responder(lambda p: b"")
    d = make_ds(tmp_root, handler=fake.addr)
    start = time.monotonic()
    r = d.get("/token/contact", timeout=10)
    assert r.status == 502 and r.content_type == "text/html", r
    assert time.monotonic() - start < 5
    tokens = [p for p in fake.requests if ("REQUEST_URI", "/token/contact")
              in p]
    assert len(tokens) == 3, f"the handler got it {len(tokens)} times"
    assert "no complete answer" in d.log_text()


def test_handler_that_does_not_answer_gets_502_after_t(tmp_root, make_ds,
                                                       responder):
    """-t 2: a handler that never answers gives a 502 after 2 s, sent to
    it once, and a log line that says it timed out.  Before: no -t, three
    tries of 60 s each (185 s), and "Resource temporarily unavailable"."""
    fake = responder(lambda p: None)
    d = make_ds(tmp_root, handler=fake.addr, args=["-t", "2"])
    start = time.monotonic()
    r = d.get("/token/contact", timeout=15)
    took = time.monotonic() - start
    assert r.status == 502 and r.content_type == "text/html", r
    assert 1.5 < took < 6, took
    assert len(fake.requests) == 1, len(fake.requests)
    h.wait_until(lambda: "did not answer within 2 s" in d.log_text(),
                 timeout=5, what="the log line", log=d.log)
    assert "Resource temporarily unavailable" not in d.log_text()


def test_page_with_token_not_held_by_a_stuck_handler(tmp_root, make_ds,
                                                     responder):
    """A form page whose token the handler does not give comes within a
    few seconds, without a token (form.js asks for one), and the log
    says why.  Before: the page took 60 s."""
    fake = responder(lambda p: None)
    d = make_ds(tmp_root, handler=fake.addr)
    start = time.monotonic()
    r = d.get("/contact.html", timeout=12)
    took = time.monotonic() - start
    assert r.status == 200 and b"{{token}}" not in r.body, r
    assert b'name="_token" value=""' in r.body, r
    assert took < 8, took
    assert len(fake.requests) == 1, len(fake.requests)
    assert ("no token for the contact page from the form handler at "
            f"{fake.addr}: did not answer within 3 s") in d.log_text()


def test_repeated_accept_headers_reach_the_handler_as_one(ds):
    """Two Accept lines are one HTTP_ACCEPT "text/html, application/json"
    (RFC 3875 4.1.18; nginx from 1.23.0): the handler answers JSON.
    Before: it saw two HTTP_ACCEPT and used the first, and answered HTML."""
    r = h.curl(ds.url("/submit/contact"), data=b"name=", content_type=URLENC,
               headers=["Accept: text/html", "Accept: application/json"],
               workdir=ds.root)
    assert r.status == 422 and r.content_type == JSON, r
    assert r.json()["ok"] is False


def test_request_headers_merged_and_underscores_dropped(tmp_root, make_ds,
                                                        responder):
    fake = responder(_echo)
    d = make_ds(tmp_root, handler=fake.addr)
    status, _, body = _raw_get(d, "/token/contact", headers=[
        "X-Dup: 1", "x-dup: 2", "Cookie: a=1", "Cookie: b=2", "X-Only: one",
        "X_Dup: underscore", "X_Only: underscore"])
    assert status == 200, body
    env = _echoed(body)
    assert env["HTTP_X_DUP"] == ["1, 2"], env
    assert env["HTTP_COOKIE"] == ["a=1; b=2"], env
    assert env["HTTP_X_ONLY"] == ["one"], env
    assert b"underscore" not in body, env


def test_long_and_many_answer_headers_passed_on_whole(tmp_root, make_ds,
                                                      responder):
    """Every header of the handler's answer arrives as sent: 40 of them,
    one of 1,500 and one of 4,000 bytes.  Before: values were cut at
    1,023 bytes and headers after the 32nd dropped."""
    sent = [(f"X-H-{i:02}", f"value {i}") for i in range(40)]
    sent += [("X-Long", "a" * 1500), ("X-Longer", "b" * 4000)]
    fake = responder(lambda p: b"Status: 200 OK\r\nContent-Type: text/plain"
                     b"\r\n" + b"".join(f"{k}: {v}\r\n".encode()
                                        for k, v in sent) + b"\r\nhi")
    d = make_ds(tmp_root, handler=fake.addr)
    r = d.get("/token/contact")
    assert r.status == 200 and r.body == b"hi", r
    for k, v in sent:
        assert r.header_all(k) == [v], (k, r.header_all(k)[:1])


@pytest.mark.parametrize("header", [b"Transfer-Encoding: gzip",
                                    b"X-Empty:"])
def test_answer_header_that_cannot_be_passed_on_is_502(tmp_root, make_ds,
                                                       responder, header):
    """A header libmicrohttpd refuses is not dropped without a word: the
    answer would differ from the handler's.  Before: a 200 without it."""
    fake = responder(lambda p: b"Status: 200 OK\r\nContent-Type: text/plain"
                     b"\r\n" + header + b"\r\n\r\nhi")
    d = make_ds(tmp_root, handler=fake.addr)
    r = d.get("/token/contact")
    assert r.status == 502 and b"cannot be passed on" in r.body, r
    name = header.split(b":")[0].decode()
    assert f"its header {name} " in d.log_text()


def test_content_length_with_transfer_encoding_is_400(stack, tmp_root,
                                                      make_ds, responder):
    """Content-Length and Transfer-Encoding: chunked together are refused
    with 400 and the connection closed, as nginx does (RFC 9112 6.3); the
    handler is not asked.  Before: it was given the Content-Length, not
    the body's.  A chunked body alone is relayed, without one."""
    fake = responder(_echo)
    d = make_ds(tmp_root, handler=fake.addr)
    both = (b"POST /submit/contact HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: " + URLENC.encode() + b"\r\n"
            b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"6\r\nname=a\r\n0\r\n\r\n")
    ng, _, _ = dh.parse_raw_response(dh.raw_http(stack.nginx.port, both))
    status, headers, body = dh.parse_raw_response(d.raw(both))
    assert status == ng == 400, (status, body)
    hdrs = {k.lower(): v for k, v in headers}
    assert hdrs["content-type"] == "text/html; charset=utf-8", headers
    assert hdrs["connection"].lower() == "close", headers
    assert b"Bad request" in body
    assert fake.requests == [], fake.requests
    chunked = both.replace(b"Content-Length: 5\r\n", b"")
    status, _, body = dh.parse_raw_response(d.raw(chunked))
    assert status == 200, body
    env = _echoed(body)
    assert "CONTENT_LENGTH" not in env and env["REQUEST_METHOD"] == ["POST"]


@pytest.mark.parametrize("version", ["HTTP/1.0", "HTTP/1.1"])
def test_server_port_and_protocol_sent(tmp_root, make_ds, responder, version):
    """SERVER_PORT is the listening port (RFC 3875 4.1.15 requires it) and
    SERVER_PROTOCOL the request's version.  Before: no SERVER_PORT, and
    HTTP/1.1 always."""
    fake = responder(_echo)
    d = make_ds(tmp_root, handler=fake.addr)
    status, _, body = _raw_get(d, "/token/contact", version=version)
    assert status == 200, body
    env = _echoed(body)
    assert env["SERVER_PORT"] == [str(d.port)], env
    assert env["SERVER_PROTOCOL"] == [version], env


def test_port_in_use_starts_nothing(tmp_root):
    _need_devserver()
    conf, _ = h.write_config(tmp_root)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        p = subprocess.run([str(dh.DEVSERVER), "-l", f"127.0.0.1:{port}",
                            "-r", str(dh.WWW), "-c", str(conf)],
                           capture_output=True, timeout=15,
                           env=h.clean_env(), cwd=tmp_root,
                           start_new_session=True)
    err = p.stderr.decode()
    assert p.returncode != 0, err
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" \
        in err, err
    # Nothing was started: no handler left behind with that config.
    assert not dh.pids_matching(str(conf))


# ------------------------------------------------------------ concurrency

def test_20_concurrent_submissions(stack, ds):
    snap = stack.snap()
    names = [f"Concurrent {i:02d} ✓" for i in range(20)]

    def one(name):
        return ds.post("contact", list(contact(name=name).items()),
                       accept=JSON, timeout=20)

    with concurrent.futures.ThreadPoolExecutor(20) as ex:
        results = list(ex.map(one, names))
    ids = [h.check_success(r, "contact", accept_json=True) for r in results]
    assert len(set(ids)) == 20
    new = h.new_messages(stack.maildirs, snap, "contact")
    assert len(new) == 20, new
    seen = {}
    for n in new:
        msg = h.Delivered(stack.maildirs["contact"] / "new" / n)
        name = msg.data["fields"]["name"]
        h.check_message(msg, form="contact", id=msg.data["id"],
                        fields=contact(name=name),
                        subject="Contact form: " + name,
                        reply_to="ann@example.org")
        seen[name] = msg.data["id"]
    assert sorted(seen) == sorted(names)
    assert sorted(seen.values()) == sorted(ids)


# ---------------------------------------------------------- loopback only

@pytest.mark.parametrize("addr", ["0.0.0.0", "192.0.2.10", "[::]",
                                  "[2001:db8::1]", "10.0.0.1"])
def test_non_loopback_refused_without_public(tmp_root, addr):
    _need_devserver()
    conf, _ = h.write_config(tmp_root)
    port = h.free_port()
    p = subprocess.run([str(dh.DEVSERVER), "-l", f"{addr}:{port}", "-r",
                        str(dh.WWW), "-c", str(conf)], capture_output=True,
                       timeout=15, env=h.clean_env(), cwd=tmp_root,
                       start_new_session=True)
    assert p.returncode == 64, (p.returncode, p.stderr)
    err = p.stderr.decode()
    assert "loopback" in err and "--public" in err, err
    assert h.can_connect_tcp("127.0.0.1", port) is False
    # It exited before starting a handler.
    assert not dh.pids_matching(str(conf))


@pytest.mark.parametrize("spec", ["localhost", "127.0.0.1", "127.0.0.1:0",
                                  "127.0.0.1:70000", "host.example:8080",
                                  "[::1:8080"])
def test_bad_listen_address_is_a_usage_error(tmp_root, spec):
    _need_devserver()
    conf, _ = h.write_config(tmp_root)
    p = subprocess.run([str(dh.DEVSERVER), "-l", spec, "-c", str(conf),
                        "-r", str(dh.WWW)], capture_output=True, timeout=15,
                       env=h.clean_env(), cwd=tmp_root)
    assert p.returncode == 64, (spec, p.returncode, p.stderr)


@pytest.mark.parametrize("args", [[], ["-c", "x.conf", "-H", "unix:/x"],
                                  ["-w", "0", "-H", "unix:/x"],
                                  ["-H", "unix:/x", "extra"]])
def test_usage_errors(tmp_root, args):
    _need_devserver()
    p = subprocess.run([str(dh.DEVSERVER), *args], capture_output=True,
                       timeout=15, env=h.clean_env(), cwd=tmp_root)
    assert p.returncode == 64, (args, p.returncode, p.stderr)
    assert b"usage" in p.stderr


def test_loopback_other_than_127_0_0_1_allowed(tmp_root, stack):
    _need_devserver()
    port = h.free_port()
    proc = subprocess.Popen([str(dh.DEVSERVER), "-l", f"127.0.0.2:{port}",
                             "-r", str(dh.WWW), "-H",
                             f"unix:{stack.handler.sock}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=h.clean_env(), start_new_session=True)
    try:
        dh.wait_for(lambda: h.can_connect_tcp("127.0.0.2", port) or
                    proc.poll() is not None, what="127.0.0.2 listening")
        assert proc.poll() is None, proc.stderr.read()
    finally:
        h.stop_process(proc)


# ------------------------------------------------------------ slow clients

def _stall(port, data):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(data)
    return s


def test_slow_clients_do_not_block_others(stack, ds):
    stalled = [
        # Half the request line and headers.
        _stall(ds.port, b"GET /index.html HTTP/1.1\r\nHost: loc"),
        # Headers complete, half the body, to a form: the devserver has
        # already opened the FastCGI request.
        _stall(ds.port, b"POST /submit/contact HTTP/1.1\r\nHost: localhost\r\n"
               b"Content-Type: application/x-www-form-urlencoded\r\n"
               b"Content-Length: 200\r\n\r\nname=Slow+Client&email=slo"),
    ]
    try:
        time.sleep(0.3)
        for i in range(3):
            t = time.monotonic()
            r = ds.get("/style.css", timeout=5)
            assert r.status == 200
            snap = stack.snap()
            f = contact(name=f"Not blocked {i}")
            r = h.curl(ds.url("/submit/contact"), data=h.urlencode(f.items()),
                       content_type=URLENC, timeout=5, workdir=stack.root)
            check_contact_delivery(stack, snap, r, f)
            assert time.monotonic() - t < 3
    finally:
        refused = h.read_log(ds.log).count("status=400")
        for s in stalled:
            s.close()
    # The abandoned half submission ends as a short body, delivered
    # nothing.
    h.wait_until(lambda: h.read_log(ds.log).count("status=400") >
                 refused, timeout=10, what="the handler to end the "
                 "abandoned submission")
    box = stack.maildirs["contact"] / "new"
    assert not any(b"Slow Client" in (box / n).read_bytes()
                   for n in os.listdir(box))


@pytest.mark.xfail(reason="by design (formdrop-devserver(1)): bodies are "
                   "streamed to the handler, so each stalled upload holds a "
                   "handler worker until the 30 s connection timeout; nginx "
                   "buffers the body first", strict=True)
def test_slow_bodies_as_many_as_handler_workers(tmp_root, make_ds):
    """As many stalled submissions as the handler has workers: is the next
    submission still answered promptly?  (Behind nginx, which buffers the
    whole body before it talks to the handler, it is.)"""
    d, maildirs = _private(tmp_root, make_ds, workers=2)
    stalled = [_stall(d.port, b"POST /submit/contact HTTP/1.1\r\n"
                      b"Host: localhost\r\nContent-Type: application/"
                      b"x-www-form-urlencoded\r\nContent-Length: 300\r\n\r\n"
                      b"name=Stalled&email=s") for _ in range(2)]
    try:
        time.sleep(0.3)
        f = contact(name="Behind the stalled")
        snap = h.snapshot(maildirs)
        t = time.monotonic()
        try:
            r = h.curl(d.url("/submit/contact"), data=h.urlencode(f.items()),
                       content_type=URLENC, timeout=5, workdir=tmp_root)
        except RuntimeError as e:
            raise AssertionError(
                f"a submission waited {time.monotonic() - t:.1f}s behind 2 "
                f"stalled uploads (devserver -w 2): {e}") from None
        h.check_success(r, "contact")
        h.single_delivery(maildirs, snap, "contact")
    finally:
        for s in stalled:
            s.close()


# ------------------------------------------------------------ log, signals

def test_request_log_lines(ds):
    before = len(ds.requests_logged())
    ds.get("/style.css")
    ds.get("/no-such-thing")
    ds.post("contact", list(contact(name="Logged").items()))
    dh.wait_for(lambda: len(ds.requests_logged()) >= before + 3,
                what="three log lines")
    got = ds.requests_logged()[before:]
    css = (dh.WWW / "style.css").stat().st_size
    assert {"method": "GET", "path": "/style.css", "status": "200",
            "bytes": str(css)} in [
        {k: g[k] for k in ("method", "path", "status", "bytes")} for g in got]
    assert any(g["path"] == "/no-such-thing" and g["status"] == "404"
               for g in got), got
    assert any(g["method"] == "POST" and g["path"] == "/submit/contact" and
               g["status"] == "303" for g in got), got
    # Nothing the client sent beyond method and path lands in the log.
    assert "Logged" not in ds.log_text().split("ready:")[-1].replace(
        "Contact form", "")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_devserver_and_its_handler(tmp_root, make_ds, sig):
    d, maildirs = _private(tmp_root, make_ds)
    _submit_until_ok(d, maildirs, "Before stop", timeout=2)
    tree = d.handler_tree()
    assert len(tree) == 3, tree                  # master + 2 workers
    sockdir = d.handler_tmp
    assert sockdir is not None and sockdir.exists()
    os.kill(d.proc.pid, sig)
    rc = d.proc.wait(timeout=10)
    assert rc == 0, d.log_text()
    dh.wait_for(lambda: not any(dh.alive(p) for p in tree), timeout=5,
                what="the handler to stop")
    assert not sockdir.exists(), "the handler's socket folder is left behind"
    assert dh.port_free(d.port)
    assert "stopping" in d.log_text()
