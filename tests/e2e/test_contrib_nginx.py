"""
The shipped nginx example (contrib/nginx-formdrop.conf) is exercised, not
just written: its server block, with only the site-specific names and
paths substituted, runs in a real nginx over HTTPS in front of the real
handler.  Checks: a submission through it delivers one message, static
pages are served from root, nginx's own body limit sits above the
handler's (so the handler answers 413 itself), and limit_req turns a
flood from one address into 429s.
"""

import re
import shutil
import subprocess

import pytest

import e2e_helpers as h

CONTRIB = h.REPO / "contrib" / "nginx-formdrop.conf"


def _server_block(port, root, cert, key, sock):
    text = CONTRIB.read_text()
    text = text.replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
    text = text.replace("listen [::]:443 ssl;", "")
    text = text.replace("/etc/ssl/shop.example.com/fullchain.pem", str(cert))
    text = text.replace("/etc/ssl/shop.example.com/privkey.pem", str(key))
    text = text.replace("root /var/www/shop;", f"root {root};")
    text = text.replace("unix:/run/formdrop/fcgi.sock", f"unix:{sock}")
    text = text.replace("include fastcgi_params;",
                        f"include {h.FASTCGI_PARAMS};")
    assert "/etc/ssl/shop" not in text and "/run/formdrop" not in text
    return text


@pytest.fixture
def contrib_stack():
    root = h.make_tmpdir("fd-contrib-")
    procs = []
    try:
        conf, maildirs = h.write_config(root, limits={"body_max": "1M"})
        handler = h.Handler(root, conf).start()
        procs.append(handler)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
             "-keyout", str(root / "key.pem"), "-out",
             str(root / "cert.pem"), "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True, timeout=30)
        site = root / "site"
        site.mkdir()
        (site / "index.html").write_text("<!doctype html><p>shop</p>\n")
        ngroot = root / "nginx"
        ngroot.mkdir()
        port = h.free_port()
        (ngroot / "nginx.conf").write_text(
            ("user root;\n" if h.is_root() else "") +
            f"pid {ngroot}/nginx.pid;\n"
            f"error_log {ngroot}/error.log info;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            f"  access_log {ngroot}/access.log;\n"
            f"  client_body_temp_path {ngroot}/body;\n"
            f"  fastcgi_temp_path {ngroot}/fastcgi;\n"
            f"  proxy_temp_path {ngroot}/proxy;\n"
            f"  uwsgi_temp_path {ngroot}/uwsgi;\n"
            f"  scgi_temp_path {ngroot}/scgi;\n" +
            _server_block(port, site, root / "cert.pem", root / "key.pem",
                          handler.sock) +
            "}\n")
        proc = subprocess.Popen(
            [h.NGINX, "-p", str(ngroot), "-c", str(ngroot / "nginx.conf"),
             "-e", str(ngroot / "error.log"), "-g", "daemon off;"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        h.wait_until(lambda: h.can_connect_tcp("127.0.0.1", port), proc=proc,
                     what="nginx (contrib config)", log=ngroot / "error.log")
        yield {"port": port, "root": root, "maildirs": maildirs,
               "cacert": root / "cert.pem", "nginx": ngroot}
        h.stop_process(proc)
        h.kill_group_leftovers(proc.pid)
    finally:
        for p in procs:
            p.stop()
        shutil.rmtree(root, ignore_errors=True)


def _curl(st, path, *args):
    out = subprocess.run(
        ["curl", "-sS", "--noproxy", "*", "--cacert", str(st["cacert"]),
         "--resolve", f"localhost:{st['port']}:127.0.0.1", "-o", "-",
         "-w", "\n%{http_code}", *args,
         f"https://localhost:{st['port']}{path}"],
        capture_output=True, timeout=30, check=True)
    body, _, code = out.stdout.rpartition(b"\n")
    return int(code), body


def test_submission_through_contrib_nginx(contrib_stack):
    st = contrib_stack
    snap = h.snapshot(st["maildirs"])
    code, body = _curl(st, "/submit/contact", "--data-urlencode",
                       "name=Ada Lovelace", "--data-urlencode",
                       "email=ada@example.com", "--data-urlencode",
                       "message=Sent through the contrib nginx example")
    assert code == 303, body
    d = h.single_delivery(st["maildirs"], snap, "contact")
    assert "Ada Lovelace" in str(d.msg["Subject"])


def test_body_never_written_to_disk_by_nginx(contrib_stack):
    """A 400 KB upload (over nginx's default 16k body buffer, under the
    limits) is relayed from memory: nginx writes no temp file of it, which
    would hold the form in clear even when the handler encrypts."""
    st = contrib_stack
    snap = h.snapshot(st["maildirs"])
    upload = st["root"] / "scan.pdf"
    upload.write_bytes(b"%PDF-1.4\n" + b"Kept in memory. " * 25000)
    code, body = _curl(st, "/submit/order", "-F", "name=Ada Lovelace",
                       "-F", "email=ada@example.com", "-F",
                       "address=12 Analytical Row", "-F", "item=Engine",
                       "-F", "quantity=1", "-F",
                       f"attachment=@{upload};type=application/pdf")
    assert code == 303, body
    h.single_delivery(st["maildirs"], snap, "orders")
    log = (st["nginx"] / "error.log").read_text()
    assert "buffered to a temporary file" not in log, log[-2000:]


def test_static_root(contrib_stack):
    code, body = _curl(contrib_stack, "/index.html")
    assert code == 200 and b"shop" in body


@pytest.mark.parametrize("path", ["/index.html", "/submit/nosuchform"])
def test_pages_may_not_be_framed(contrib_stack, path):
    """Pages and the handler's own error pages: no framing by another
    site, no address leaked to one."""
    code, head = _curl(contrib_stack, path, "-D", "-", "-o", "/dev/null")
    head = head.decode().lower()
    assert "x-frame-options: deny" in head, head
    assert "content-security-policy: frame-ancestors 'none'" in head, head
    assert "referrer-policy: same-origin" in head, head


def test_handler_not_nginx_answers_413(contrib_stack):
    """client_max_body_size (2m) sits above body_max (1M): the person
    gets the handler's clear 413 page, not nginx's."""
    st = contrib_stack
    big = st["root"] / "big.bin"
    big.write_bytes(b"x" * (1536 * 1024))
    code, body = _curl(st, "/submit/contact", "-H",
                       "Content-Type: application/x-www-form-urlencoded",
                       "--data-binary", f"@{big}")
    assert code == 413
    assert b"too large" in body and b"nginx" not in body


def test_limit_req_answers_429(contrib_stack):
    st = contrib_stack
    codes = []
    for _ in range(25):
        code, _ = _curl(st, "/submit/nope", "-d", "a=b")
        codes.append(code)
    assert 404 in codes          # the handler's answer for an unknown form
    assert 429 in codes          # then nginx's limit_req, burst=10
    assert re.match(r"^4\d\d$", str(codes[-1]))
