"""
The same handler driven without nginx: over FastCGI by cgi-fcgi (the
libfcgi client, given the CGI variables in its environment), and as a plain
CGI program exec'd with the CGI variables and the body on stdin.  The same
contact submission gives the same kind of message on every path.
"""

import os
import shutil
import subprocess
import time

import pytest

import e2e_helpers as h

URLENC = "application/x-www-form-urlencoded"
JSON = "application/json"
CLIENT = "127.0.0.5"        # only a string in REMOTE_ADDR, never contacted

FIELDS = {"name": "Zoë Ünïcødé 日本", "email": "zoe@example.org",
          "message": "Hallo!\nZweite Zeile — ✓"}
BODY = h.urlencode(FIELDS.items())


def fcgi(stack, body=BODY, **kw):
    kw.setdefault("content_type", URLENC)
    env = h.cgi_env(remote_addr=CLIENT, body=body, **kw)
    return h.run_cgi_fcgi(stack.handler.target, env, body)


def plain(conf, body=BODY, args=(), env_conf=True, **kw):
    kw.setdefault("content_type", URLENC)
    env = h.cgi_env(remote_addr=CLIENT, body=body, **kw)
    if env_conf:
        env["FORMDROP_CONF"] = str(conf)
    return h.run_plain_cgi(env, body, args)


def check_contact(stack, snap, r, accept_json=False, client=CLIENT):
    id = h.check_success(r, "contact", accept_json)
    d = stack.delivered(snap, "contact")
    h.check_message(d, form="contact", id=id, fields=FIELDS,
                    subject="Contact form: " + FIELDS["name"],
                    reply_to=FIELDS["email"], client=client)
    return d


# ---------------------------------------------------------------- cgi-fcgi

def test_cgi_fcgi_contact(stack, need_cgi_fcgi):
    snap = stack.snap()
    r = fcgi(stack)
    check_contact(stack, snap, r)


def test_cgi_fcgi_contact_json(stack, need_cgi_fcgi):
    snap = stack.snap()
    r = fcgi(stack, accept=JSON)
    check_contact(stack, snap, r, accept_json=True)


def test_cgi_fcgi_multipart(stack, need_cgi_fcgi):
    body, ctype = h.multipart(list(FIELDS.items()))
    snap = stack.snap()
    r = fcgi(stack, body, content_type=ctype)
    check_contact(stack, snap, r)


@pytest.mark.parametrize("extra", [
    {"PATH_INFO": "", "DOCUMENT_URI": "/submit/contact",
     "REQUEST_URI": "/submit/contact"},
    {"PATH_INFO": "", "DOCUMENT_URI": "", "REQUEST_URI": "/submit/contact?x=1"},
])
def test_cgi_fcgi_form_from_uri(stack, need_cgi_fcgi, extra):
    env = h.cgi_env(remote_addr=CLIENT, body=BODY, content_type=URLENC,
                    extra=extra)
    if not extra["DOCUMENT_URI"]:
        del env["DOCUMENT_URI"]
    snap = stack.snap()
    r = h.run_cgi_fcgi(stack.handler.target, env, BODY)
    check_contact(stack, snap, r)


@pytest.mark.parametrize("path_info", [
    "/../contact", "/../../etc/passwd", "/contact/../../etc/passwd",
    "/.contact", "/contact%00", "/contact\x01", "/" + "a" * 300, "//contact/x",
])
def test_cgi_fcgi_bad_form_names_404(stack, need_cgi_fcgi, path_info):
    env = h.cgi_env(remote_addr=CLIENT, body=BODY, content_type=URLENC,
                    path_info=path_info)
    snap = stack.snap()
    r = h.run_cgi_fcgi(stack.handler.target, env, BODY)
    stack.nothing_delivered(snap)
    h.check_error(r, 404)


def test_cgi_fcgi_errors(stack, need_cgi_fcgi):
    snap = stack.snap()
    r = h.run_cgi_fcgi(stack.handler.target,
                       h.cgi_env(method="GET", remote_addr=CLIENT))
    h.check_error(r, 405)
    assert "POST" in (r.header("Allow") or "")
    r = fcgi(stack, b"name=x&email=bad", accept=JSON)
    h.check_error(r, 422, True, fields=["email", "message"])
    r = fcgi(stack, b"name=%ZZ", accept=JSON)
    h.check_error(r, 400, True)
    r = fcgi(stack, BODY, content_type="text/plain", accept=JSON)
    h.check_error(r, 415, True)
    stack.nothing_delivered(snap)


def test_cgi_fcgi_content_length_over_limit(stack, need_cgi_fcgi):
    body = b"message=" + b"x" * (h.LIMITS["body_max"] + 10)
    snap = stack.snap()
    start = time.monotonic()
    r = fcgi(stack, body)
    assert time.monotonic() - start < 15
    stack.nothing_delivered(snap)
    h.check_error(r, 413)


# --------------------------------------------------------------- plain CGI

def test_plain_cgi_contact_env_conf(stack):
    snap = stack.snap()
    r = plain(stack.conf)
    check_contact(stack, snap, r)
    assert r.returncode == 0, r.stderr


def test_plain_cgi_reads_no_further_than_content_length(stack):
    """RFC 3875 4.2: the server need not close stdin after the body, and
    bytes after CONTENT_LENGTH are not the form's."""
    snap = stack.snap()
    env = h.cgi_env(remote_addr=CLIENT, body=BODY, content_type=URLENC)
    env["FORMDROP_CONF"] = str(stack.conf)
    # More bytes than declared: the rest is not read.
    r = h.run_plain_cgi(env, BODY + b"&name=Mallory&x=", ())
    check_contact(stack, snap, r)
    # stdin left open after the body: the answer comes all the same.
    snap = stack.snap()
    p = subprocess.Popen([str(h.HANDLER)], env=env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        p.stdin.write(BODY)
        p.stdin.flush()
        deadline = time.monotonic() + 10
        while p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert p.poll() is not None, "handler waits for EOF after the body"
        out = p.stdout.read()
    finally:
        if p.poll() is None:
            p.kill()
        p.stdin.close()
        p.wait(timeout=10)
    check_contact(stack, snap, h.parse_cgi_output(out))


def test_plain_cgi_contact_dash_c(stack):
    snap = stack.snap()
    r = plain(stack.conf, args=("-f", "-c", str(stack.conf)), env_conf=False,
              accept=JSON)
    check_contact(stack, snap, r, accept_json=True)


def test_plain_cgi_order_with_file(stack):
    blob = os.urandom(20000)
    pairs = [("name", "Plain Cgi"), ("email", "p@example.org"),
             ("address", "Road 2"), ("item", "X"), ("quantity", "4")]
    body, ctype = h.multipart(pairs + [("attachment", "daten-ä.bin",
                                        "application/octet-stream", blob)])
    snap = stack.snap()
    r = plain(stack.conf, body, content_type=ctype, path_info="/order")
    id = h.check_success(r, "order")
    d = stack.delivered(snap, "orders")
    h.check_message(d, form="order", id=id,
                    fields={"name": "Plain Cgi", "email": "p@example.org",
                            "address": "Road 2", "item": ["X"],
                            "quantity": ["4"]},
                    subject="Order from Plain Cgi", reply_to="p@example.org",
                    client=CLIENT, optional_empty=("phone", "notes", "attachment"),
                    files=[("attachment", "daten-ä.bin",
                            "application/octet-stream", blob)])


def test_plain_cgi_errors(stack):
    snap = stack.snap()
    r = plain(stack.conf, b"", method="GET", content_type=None)
    h.check_error(r, 405)
    assert "POST" in (r.header("Allow") or "")
    r = plain(stack.conf, path_info="/nosuchform", accept=JSON)
    h.check_error(r, 404, True)
    r = plain(stack.conf, b"name=x&email=ann%40example.org&message=hi&zz=1",
              accept=JSON)
    h.check_error(r, 422, True, fields=["zz"])
    r = plain(stack.conf, BODY, content_type="application/json", accept=JSON)
    h.check_error(r, 415, True)
    stack.nothing_delivered(snap)


def test_plain_cgi_body_too_large(stack):
    body = b"message=" + b"x" * (2 * h.LIMITS["body_max"])
    snap = stack.snap()
    r = plain(stack.conf, body)
    stack.nothing_delivered(snap)
    h.check_error(r, 413)


def test_plain_cgi_short_body(stack):
    """CONTENT_LENGTH promises more than stdin gives: a 400, not a hang."""
    env = h.cgi_env(remote_addr=CLIENT, body=BODY, content_type=URLENC)
    env["FORMDROP_CONF"] = str(stack.conf)
    env["CONTENT_LENGTH"] = str(len(BODY) + 100)
    snap = stack.snap()
    r = h.run_plain_cgi(env, BODY, timeout=20)
    stack.nothing_delivered(snap)
    h.check_error(r, 400)


def test_plain_cgi_503(tmp_root):
    conf, boxes = h.write_config(tmp_root)
    shutil.rmtree(boxes["contact"] / "new")
    r = plain(conf, accept=JSON)
    h.check_error(r, 503, True)
    assert r.header("Retry-After"), r
    assert os.listdir(boxes["contact"] / "tmp") == []


# ------------------------------------------------------- the same message

def test_same_message_on_every_path(stack, need_cgi_fcgi):
    """nginx, cgi-fcgi and plain CGI give messages that differ only in ID,
    date, client address and file name."""
    msgs = []
    snap = stack.snap()
    r = stack.post("contact", list(FIELDS.items()))
    msgs.append(check_contact(stack, snap, r, client="127.0.0.1"))
    snap = stack.snap()
    msgs.append(check_contact(stack, snap, fcgi(stack)))
    snap = stack.snap()
    msgs.append(check_contact(stack, snap, plain(stack.conf)))

    def shape(d):
        return {
            "headers": sorted(d.header_names),
            "subject": str(d.msg["Subject"]),
            "from": str(d.msg["From"]),
            "to": str(d.msg["To"]),
            "reply-to": str(d.msg["Reply-To"]),
            "parts": [(p.get_content_type(), p.get_filename(),
                       (p["Content-Transfer-Encoding"] or "").lower())
                      for p in d.parts],
            "fields": d.data["fields"],
            "files": d.data["files"],
            "form": d.data["form"],
            "text": d.text.replace(d.data["id"], "ID")
                          .replace(d.data["received"], "RECEIVED"),
        }
    shapes = [shape(d) for d in msgs]
    for key in shapes[0]:
        if key == "text":
            continue
        assert shapes[0][key] == shapes[1][key] == shapes[2][key], key
    for other in shapes[1:]:
        assert abs(len(shapes[0]["text"]) - len(other["text"])) < 64
