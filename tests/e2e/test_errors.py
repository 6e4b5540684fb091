"""
Every error status of the handler, through nginx, with nothing delivered
(new/, tmp/ and cur/ of every Maildir unchanged) and a human-readable body;
with Accept: application/json the body is {"ok":false,"error":"..."} and a
422 names every failing field.
"""

import os
import shutil

import pytest

import e2e_helpers as h

URLENC = "application/x-www-form-urlencoded"
JSON = "application/json"

GOOD_CONTACT = [("name", "Ann Example"), ("email", "ann@example.org"),
                ("message", "Hello there")]
GOOD_ORDER = [("name", "Bob Buyer"), ("email", "bob@example.com"),
              ("address", "1 Main St\nTown"), ("item", "Widget"),
              ("quantity", "2")]


def replace(pairs, **new):
    out = [(k, new.pop(k) if k in new else v) for k, v in pairs]
    return out + list(new.items())


def without(pairs, *names):
    return [(k, v) for k, v in pairs if k not in names]


def post_error(stack, form, status, body=None, content_type=URLENC,
               accept_json=False, fields=None):
    """POST, check the error response and that nothing was delivered."""
    if isinstance(body, list):
        body = h.urlencode(body)
    snap = stack.snap()
    r = stack.post(form, body if body is not None else b"",
                   content_type=content_type,
                   accept=JSON if accept_json else None)
    try:
        return h.check_error(r, status, accept_json, fields)
    finally:
        stack.nothing_delivered(snap)


# ------------------------------------------------------------------- 405

@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("accept_json", [False, True])
def test_405_wrong_method(stack, method, accept_json):
    snap = stack.snap()
    headers = {"Accept": JSON} if accept_json else {}
    body = None
    if method in ("PUT", "PATCH"):
        body = h.urlencode(GOOD_CONTACT)
        headers["Content-Type"] = URLENC
    r = stack.request(method, "/submit/contact", body, headers)
    stack.nothing_delivered(snap)
    h.check_error(r, 405, accept_json)
    allow = [m.strip().upper() for v in r.header_all("Allow")
             for m in v.split(",")]
    assert "POST" in allow and "GET" not in allow, r


def test_405_with_curl_get(stack):
    snap = stack.snap()
    r = h.curl(stack.url("contact"), workdir=stack.root)
    stack.nothing_delivered(snap)
    h.check_error(r, 405)
    assert "POST" in (r.header("Allow") or ""), r


def test_405_head(stack):
    r = stack.request("HEAD", "/submit/contact")
    assert r.status == 405, r
    assert "POST" in (r.header("Allow") or ""), r


# ------------------------------------------------------------------- 404

@pytest.mark.parametrize("path", ["nosuchform", "error", "contact.form",
                                  "contact.txt", "Contact%20Form", ""])
@pytest.mark.parametrize("accept_json", [False, True])
def test_404_unknown_form(stack, path, accept_json):
    snap = stack.snap()
    r = h.curl(f"{stack.nginx.base}/submit/{path}",
               data=h.urlencode(GOOD_CONTACT), content_type=URLENC,
               accept=JSON if accept_json else None, workdir=stack.root)
    stack.nothing_delivered(snap)
    h.check_error(r, 404, accept_json)


# ------------------------------------------------------------------- 413

@pytest.mark.parametrize("accept_json", [False, True])
def test_413_body_over_body_max_multipart(stack, accept_json):
    """Three files each under file_max, together over body_max: only the
    body limit is broken."""
    files = [("attachment", f"f{i}.bin", "application/octet-stream",
              os.urandom(400 * 1024)) for i in range(3)]
    body, ctype = h.multipart(GOOD_ORDER + files)
    assert len(body) > h.LIMITS["body_max"]
    post_error(stack, "order", 413, body, ctype, accept_json)


def test_413_body_over_body_max_urlencoded(stack):
    body = h.urlencode(GOOD_CONTACT) + b"&message=" + b"x" * h.LIMITS["body_max"]
    post_error(stack, "contact", 413, body)


@pytest.mark.parametrize("accept_json", [False, True])
def test_413_file_over_file_max(stack, accept_json):
    blob = os.urandom(h.LIMITS["file_max"] + 1)
    body, ctype = h.multipart(
        GOOD_ORDER + [("attachment", "big.bin", "application/octet-stream",
                       blob)])
    assert len(body) < h.LIMITS["body_max"]
    post_error(stack, "order", 413, body, ctype, accept_json)


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_413_value_over_field_max(stack, encoding):
    pairs = GOOD_ORDER + [("notes", "n" * (h.LIMITS["field_max"] + 1))]
    if encoding == "urlencoded":
        post_error(stack, "order", 413, pairs)
    else:
        body, ctype = h.multipart(pairs)
        post_error(stack, "order", 413, body, ctype)


def test_413_value_over_field_max_in_contact(stack):
    pairs = replace(GOOD_CONTACT, message="m" * (h.LIMITS["field_max"] + 1))
    post_error(stack, "contact", 413, pairs, accept_json=True)


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_413_too_many_fields(stack, encoding):
    n = h.LIMITS["fields_max"] + 1 - len(GOOD_ORDER)
    pairs = GOOD_ORDER + [(f"extra{i}", "1") for i in range(n)]
    assert len(pairs) == h.LIMITS["fields_max"] + 1
    if encoding == "urlencoded":
        post_error(stack, "order", 413, pairs)
    else:
        body, ctype = h.multipart(pairs)
        post_error(stack, "order", 413, body, ctype)


def test_exactly_fields_max_fields_accepted(stack):
    """fields_max is inclusive: 100 fields (the 95 unknown ones dropped)."""
    n = h.LIMITS["fields_max"] - len(GOOD_ORDER)
    pairs = GOOD_ORDER + [(f"extra{i}", "1") for i in range(n)]
    snap = stack.snap()
    r = stack.post("order", pairs)
    h.check_success(r, "order")
    stack.delivered(snap, "orders")


def test_413_too_many_files(stack):
    files = [("attachment", f"f{i}.txt", "text/plain", b"small file %d" % i)
             for i in range(h.LIMITS["files_max"] + 1)]
    body, ctype = h.multipart(GOOD_ORDER + files)
    post_error(stack, "order", 413, body, ctype, accept_json=True)


# ------------------------------------------------------------------- 415

@pytest.mark.parametrize("ctype", [
    "text/plain", "application/json", "application/xml", "multipart/mixed; boundary=x",
    "text/html; charset=utf-8", "application/octet-stream", None,
])
@pytest.mark.parametrize("accept_json", [False, True])
def test_415_unsupported_content_type(stack, ctype, accept_json):
    body = (b'{"name":"Ann","email":"ann@example.org","message":"hi"}'
            if ctype == "application/json" else h.urlencode(GOOD_CONTACT))
    snap = stack.snap()
    headers = ["Content-Type:"] if ctype is None else []
    r = h.curl(stack.url("contact"), data=body, content_type=ctype,
               accept=JSON if accept_json else None, headers=headers,
               workdir=stack.root)
    stack.nothing_delivered(snap)
    h.check_error(r, 415, accept_json)


def test_multipart_without_boundary(stack):
    body, _ = h.multipart(GOOD_CONTACT)
    snap = stack.snap()
    r = stack.post("contact", body, content_type="multipart/form-data")
    stack.nothing_delivered(snap)
    assert r.status in (400, 415), r
    h.check_error(r, r.status)


# ------------------------------------------------------------------- 400

@pytest.mark.parametrize("raw", [
    b"name=%ZZ",            # not hex
    b"name=%4",             # truncated escape
    b"name=abc%",           # lone percent at end
    b"name=%G1",
    b"na%zzme=x",           # bad escape in a name
    b"name=%FF",            # not UTF-8
    b"name=%C3",            # truncated UTF-8 sequence
    b"name=%C0%AF",         # overlong encoding of '/'
    b"name=%ED%A0%80",      # UTF-16 surrogate
    b"name=%F4%90%80%80",   # beyond U+10FFFF
    b"name=caf\xe9",        # raw Latin-1 byte
    b"na%FFme=x",           # invalid UTF-8 in a field name
])
@pytest.mark.parametrize("accept_json", [False, True])
def test_400_bad_urlencoded(stack, raw, accept_json):
    body = b"email=ann%40example.org&message=hi&" + raw
    post_error(stack, "contact", 400, body, URLENC, accept_json)


def _good_multipart():
    return h.multipart(GOOD_CONTACT)


def test_400_multipart_truncated_no_close(stack):
    body, ctype = _good_multipart()
    body = body[:body.rindex(b"\r\n--")]     # drop the closing delimiter
    post_error(stack, "contact", 400, body, ctype)


def test_400_multipart_truncated_mid_part(stack):
    body, ctype = h.multipart(GOOD_ORDER + [
        ("attachment", "a.bin", "application/octet-stream", os.urandom(5000))])
    post_error(stack, "order", 400, body[:len(body) - 3000], ctype)


def test_400_multipart_truncated_in_headers(stack):
    body, ctype = _good_multipart()
    cut = body.find(b'name="message"')
    post_error(stack, "contact", 400, body[:cut], ctype, accept_json=True)


def test_400_multipart_missing_boundary_in_body(stack):
    body, _ = _good_multipart()
    post_error(stack, "contact", 400, body,
               "multipart/form-data; boundary=notInTheBody123")


def test_400_multipart_invalid_utf8_value(stack):
    body, ctype = h.multipart(replace(GOOD_CONTACT, message=b"caf\xe9 \xff\xfe"))
    post_error(stack, "contact", 400, body, ctype, accept_json=True)


def test_400_multipart_part_without_disposition(stack):
    body, ctype = h.multipart(GOOD_CONTACT + [
        b"Content-Type: text/plain\r\n\r\nno disposition"])
    post_error(stack, "contact", 400, body, ctype)


def test_400_multipart_part_without_name(stack):
    body, ctype = h.multipart(GOOD_CONTACT + [
        b"Content-Disposition: form-data\r\n\r\nno name"])
    post_error(stack, "contact", 400, body, ctype)


# ------------------------------------------------------------------- 422

CONTACT_FIELDS = ("name", "email", "message")


@pytest.mark.parametrize("accept_json", [False, True])
def test_422_empty_body_names_every_field(stack, accept_json):
    post_error(stack, "contact", 422, b"", URLENC, accept_json,
               fields=CONTACT_FIELDS)


@pytest.mark.parametrize("accept_json", [False, True])
def test_422_empty_values(stack, accept_json):
    post_error(stack, "contact", 422, b"name=&email=&message=", URLENC,
               accept_json, fields=CONTACT_FIELDS)


@pytest.mark.parametrize("bad", [
    "not-an-email", "ann@", "@example.org", "ann example@example.org",
    "ann@@example.org", "ann@exa mple.org", "Ann <ann@example.org>",
    "ann@example.org, eve@example.org", "ann@example.org;eve@example.org",
    "ann", "ann@example.org>", "<ann@example.org>",
])
def test_422_bad_email(stack, bad):
    post_error(stack, "contact", 422, replace(GOOD_CONTACT, email=bad),
               accept_json=True, fields=["email"])


def test_422_name_too_long(stack):
    post_error(stack, "contact", 422, replace(GOOD_CONTACT, name="N" * 201),
               accept_json=True, fields=["name"])


def test_422_message_too_long(stack):
    post_error(stack, "contact", 422,
               replace(GOOD_CONTACT, message="m" * 5001),
               accept_json=True, fields=["message"])


@pytest.mark.parametrize("accept_json", [False, True])
def test_422_contact_unknown_field(stack, accept_json):
    post_error(stack, "contact", 422, GOOD_CONTACT + [("colour", "blue")],
               accept_json=accept_json, fields=["colour"])


@pytest.mark.parametrize("accept_json", [False, True])
def test_422_many_failures_all_named(stack, accept_json):
    pairs = [("email", "nope"), ("message", ""), ("website", "spam")]
    post_error(stack, "contact", 422, pairs, accept_json=accept_json,
               fields=["name", "email", "message", "website"])


def test_422_multipart_also_validated(stack):
    body, ctype = h.multipart(replace(GOOD_CONTACT, email="bad"))
    post_error(stack, "contact", 422, body, ctype, accept_json=True,
               fields=["email"])


def test_422_html_escapes_user_input(stack):
    xss = "<script>alert(1)</script>"
    pairs = [("name", xss), ("email", xss), ("message", xss), (xss, xss)]
    snap = stack.snap()
    r = stack.post("contact", pairs)
    stack.nothing_delivered(snap)
    assert r.status == 422, r
    assert r.content_type == "text/html", r
    assert xss.encode() not in r.body, "user input echoed unescaped in HTML"
    assert b"<script" not in r.body.lower()


@pytest.mark.parametrize("quantity", ["0", "1000", "abc", "1.5", "-1", "1e2",
                                      "0x10", "٣"])
def test_422_order_bad_quantity(stack, quantity):
    post_error(stack, "order", 422, replace(GOOD_ORDER, quantity=quantity),
               accept_json=True, fields=["quantity"])


def test_422_order_too_many_items(stack):
    pairs = without(GOOD_ORDER, "item", "quantity")
    for i in range(11):
        pairs += [("item", f"Item {i}"), ("quantity", "1")]
    snap = stack.snap()
    r = stack.post("order", pairs, accept=JSON)
    stack.nothing_delivered(snap)
    doc = h.check_error(r, 422, True)
    assert "item" in doc.get("fields", {}), doc
    assert set(doc["fields"]) <= {"item", "quantity"}, doc


@pytest.mark.parametrize("accept_json", [False, True])
def test_422_order_missing_required(stack, accept_json):
    pairs = [("phone", "123"), ("notes", "x"), ("unknown", "dropped")]
    post_error(stack, "order", 422, pairs, accept_json=accept_json,
               fields=["name", "email", "address", "item", "quantity"])


def test_422_duplicate_single_value_field(stack):
    post_error(stack, "contact", 422, GOOD_CONTACT + [("name", "Second")],
               accept_json=True, fields=["name"])


def test_422_order_row_with_empty_quantity(stack):
    pairs = without(GOOD_ORDER, "item", "quantity") + [
        ("item", "A"), ("quantity", ""), ("item", "B"), ("quantity", "3")]
    post_error(stack, "order", 422, pairs, accept_json=True,
               fields=["quantity"])


@pytest.mark.parametrize("rows,failing", [
    ([("item", "A"), ("item", "B"), ("quantity", "1")], "quantity"),
    ([("item", "A"), ("quantity", "1"), ("quantity", "2")], "item"),
])
def test_422_order_rows_not_paired(stack, rows, failing):
    """item and quantity repeat together (rows = item quantity, both
    required): an item without a quantity, or a quantity without an item,
    is a row with a missing required value, just as an empty one is."""
    pairs = without(GOOD_ORDER, "item", "quantity") + rows
    post_error(stack, "order", 422, pairs, accept_json=True,
               fields=[failing])


def test_422_order_missing_address(stack):
    post_error(stack, "order", 422, without(GOOD_ORDER, "address"),
               accept_json=True, fields=["address"])


def test_422_order_bad_email(stack):
    post_error(stack, "order", 422, replace(GOOD_ORDER, email="bob"),
               accept_json=True, fields=["email"])


# ------------------------------------------------------------------- 503

def break_maildir(maildir, how):
    if how == "no_new":
        shutil.rmtree(maildir / "new")
    elif how == "no_tmp":
        shutil.rmtree(maildir / "tmp")
    elif how == "no_maildir":
        shutil.rmtree(maildir)
    elif how == "tmp_not_dir":
        shutil.rmtree(maildir / "tmp")
        (maildir / "tmp").write_text("not a directory\n")
    elif how == "new_not_dir":
        shutil.rmtree(maildir / "new")
        (maildir / "new").write_text("not a directory\n")
    elif how == "tmp_readonly":
        os.chmod(maildir / "tmp", 0o500)
    elif how == "new_readonly":
        os.chmod(maildir / "new", 0o500)


def repair_maildir(maildir, how):
    for sub in ("tmp", "new"):
        p = maildir / sub
        if p.exists() and not p.is_dir():
            p.unlink()
        if p.is_dir():
            os.chmod(p, 0o755)
    h.make_maildir(maildir)


BREAKAGES = ["no_new", "no_tmp", "no_maildir", "tmp_not_dir", "new_not_dir"]
if not h.is_root():           # root ignores permission bits
    BREAKAGES += ["tmp_readonly", "new_readonly"]


def check_retry_after(r):
    ra = r.header("Retry-After")
    assert ra, f"503 without Retry-After: {r!r}"
    if ra.isdigit():
        assert int(ra) > 0
    else:
        import email.utils
        assert email.utils.parsedate_to_datetime(ra), ra


@pytest.mark.parametrize("how", BREAKAGES)
def test_503_delivery_impossible(make_stack, how):
    s = make_stack()
    box = s.maildirs["contact"]
    break_maildir(box, how)
    try:
        for accept_json in (False, True):
            snap = s.snap()
            r = s.post("contact", GOOD_CONTACT,
                       accept=JSON if accept_json else None)
            h.check_error(r, 503, accept_json)
            check_retry_after(r)
            s.nothing_delivered(snap)
        # The other mailbox still works.
        snap = s.snap()
        r = s.post("order", GOOD_ORDER)
        h.check_success(r, "order")
        s.delivered(snap, "orders")
    finally:
        if how.endswith("readonly"):
            repair_maildir(box, how)


@pytest.mark.parametrize("how", ["no_new", "tmp_not_dir", "new_not_dir"])
def test_503_then_repaired(make_stack, how):
    """Once the Maildir is repaired, delivery works again without a restart,
    and the failed attempt left nothing behind."""
    s = make_stack()
    box = s.maildirs["contact"]
    break_maildir(box, how)
    r = s.post("contact", GOOD_CONTACT)
    assert r.status == 503, r
    repair_maildir(box, how)
    assert os.listdir(box / "tmp") == [] and os.listdir(box / "new") == []
    snap = s.snap()
    r = s.post("contact", GOOD_CONTACT)
    h.check_success(r, "contact")
    s.delivered(snap, "contact")


def test_503_maildir_missing_at_start_then_created(make_stack):
    """A handler may start before its Maildir exists: 503 until it does."""
    s = make_stack()
    box = s.maildirs["contact"]
    # Stop, remove the Maildir, start again without it.
    s.stop()
    shutil.rmtree(box)
    s.start()
    snap = s.snap()
    r = s.post("contact", GOOD_CONTACT, accept=JSON)
    h.check_error(r, 503, True)
    check_retry_after(r)
    s.nothing_delivered(snap)
    h.make_maildir(box)
    snap = s.snap()
    r = s.post("contact", GOOD_CONTACT)
    h.check_success(r, "contact")
    s.delivered(snap, "contact")
