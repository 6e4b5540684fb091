"""
Accepted submissions through nginx -> FastCGI -> formdrop.fcgi, sent with
curl: the response (303 to the thank-you page, or JSON), and the delivered
Maildir message compared header by header and field by field, including the
JSON copy and uploaded files (SHA-256).
"""

import hashlib
import os
import re

import pytest

import e2e_helpers as h

URLENC = "application/x-www-form-urlencoded"
UNICODE_NAME = "Zoë Ünïcødé 日本"


def contact_fields(name="Ann Example", email="ann@example.org",
                   message="Hello,\nplease call me back.\nThanks!"):
    return {"name": name, "email": email, "message": message}


def post_contact(stack, fields, **kw):
    snap = stack.snap()
    r = stack.post("contact", list(fields.items()), **kw)
    return snap, r


def expect_contact(stack, snap, r, fields, accept_json=False):
    id = h.check_success(r, "contact", accept_json)
    d = stack.delivered(snap, "contact")
    h.check_message(d, form="contact", id=id, fields=fields,
                    subject="Contact form: " + fields["name"],
                    reply_to=fields["email"])
    return id, d


# ------------------------------------------------------------ contact form

def test_contact_urlencoded(stack):
    f = contact_fields()
    snap, r = post_contact(stack, f)
    id, d = expect_contact(stack, snap, r, f)
    assert d.data["fields"] == f
    assert d.data["files"] == []
    # The subject of an ASCII name is readable as it is.
    assert b"\nSubject: Contact form: Ann Example\n" in b"\n" + d.raw_head + b"\n"


def test_contact_json_accept(stack):
    f = contact_fields(name="Json Client")
    snap, r = post_contact(stack, f, accept="application/json")
    id, d = expect_contact(stack, snap, r, f, accept_json=True)
    assert r.json() == {"ok": True, "id": id}


def test_contact_utf8_urlencoded(stack):
    f = contact_fields(name=UNICODE_NAME, email="zoe+shop@mail.example.org",
                       message="Grüße aus Köln ☕\n日本語のテキスト\n🎉 emoji too")
    snap, r = post_contact(stack, f)
    id, d = expect_contact(stack, snap, r, f)
    # Non-ASCII subject is RFC 2047 encoded in the file (check_message has
    # already checked that every header byte is ASCII).
    start = d.raw_head.lower().find(b"\nsubject:") + 1
    assert start > 0
    end = re.search(rb"\n(?![ \t])", d.raw_head[start:] + b"\n").start()
    assert re.search(rb"=\?utf-8\?[bq]\?", d.raw_head[start:start + end], re.I)
    # Reply-To is exactly the submitted address.
    assert h.addr(d.msg["Reply-To"])[1] == "zoe+shop@mail.example.org"


def test_contact_utf8_multipart_curl(stack):
    f = contact_fields(name=UNICODE_NAME, message="Zeile 1\nZeile 2 — ñ")
    snap = stack.snap()
    r = h.curl(stack.url("contact"), form=[f"{k}={v}" for k, v in f.items()],
               workdir=stack.root)
    expect_contact(stack, snap, r, f)


def test_contact_multipart_quoted_boundary(stack):
    f = contact_fields(name="Quoted Boundary")
    boundary = "simple boundary:=?'()+_,-./x"
    body, _ = h.multipart(list(f.items()), boundary=boundary)
    snap = stack.snap()
    r = stack.post("contact", body,
                   content_type=f'multipart/form-data; boundary="{boundary}"')
    expect_contact(stack, snap, r, f)


@pytest.mark.parametrize("ctype", [
    "application/x-www-form-urlencoded; charset=UTF-8",
    "Application/X-WWW-Form-Urlencoded",
])
def test_urlencoded_content_type_variants(stack, ctype):
    f = contact_fields(name="Variant " + ctype.split(";")[0][-4:])
    snap = stack.snap()
    r = stack.post("contact", h.urlencode(f.items()), content_type=ctype)
    expect_contact(stack, snap, r, f)


@pytest.mark.parametrize("template", [
    "multipart/form-data; charset=utf-8; boundary={b}",
    "Multipart/Form-Data; BOUNDARY={b}",
    "multipart/form-data;boundary={b}",
])
def test_multipart_content_type_variants(stack, template):
    f = contact_fields(name="Multipart variant")
    b = "XyZ123boundary"
    body, _ = h.multipart(list(f.items()), boundary=b)
    snap = stack.snap()
    r = stack.post("contact", body, content_type=template.format(b=b))
    expect_contact(stack, snap, r, f)


def test_plus_and_percent_decoding(stack):
    body = (b"name=Ann+Lee%2B%26%3d+%c3%a9%C3%A9"
            b"&email=ann.lee%40example.org"
            b"&message=a%0Ab+c%25d%20e+%2B+f%3B%0D%0Aline")
    f = {"name": "Ann Lee+&= éé", "email": "ann.lee@example.org",
         "message": "a\nb c%d e + f;\r\nline"}
    snap = stack.snap()
    r = stack.post("contact", body, content_type=URLENC)
    id = h.check_success(r, "contact")
    d = stack.delivered(snap, "contact")
    # The JSON copy holds the exact decoded values.  Browsers send textarea
    # line breaks as CRLF; keeping them or normalising to LF are both fine.
    got = dict(d.data["fields"])
    assert got.pop("message") in (f["message"],
                                  f["message"].replace("\r\n", "\n"))
    assert got == {k: v for k, v in f.items() if k != "message"}
    text = d.text
    assert "Ann Lee+&= éé" in text and "ann.lee@example.org" in text
    assert "b c%d e + f;" in text
    h.check_message(d, form="contact", id=id,
                    fields={k: v for k, v in f.items() if k != "message"},
                    subject="Contact form: Ann Lee+&= éé",
                    reply_to="ann.lee@example.org", ignore=("message",))


def test_values_kept_verbatim(stack):
    """No HTML escaping, no template expansion of user input."""
    msg = ("<b>bold</b> &amp; \"quotes\" 'single' \\ backslash\n"
           "{{email}} {{name}} {{#rows}}x{{/rows}} ${HOME} %s %n\n"
           "=3D =?utf-8?q?not_encoded?= \n.\n..\nFrom me\n--boundary")
    f = contact_fields(name="O'Brien & <Sons> \"Ltd\"", message=msg)
    snap, r = post_contact(stack, f)
    id, d = expect_contact(stack, snap, r, f)
    assert d.data["fields"]["message"] == msg
    assert msg in d.text


def test_boundary_lengths_accepted(stack):
    f = contact_fields(name="N" * 200, message="m" * 5000)
    snap, r = post_contact(stack, f)
    id, d = expect_contact(stack, snap, r, f)
    # A 200-character subject must be folded into lines of at most 998.
    h.check_raw_headers(d)


def test_browser_accept_gets_redirect(stack):
    f = contact_fields(name="Browser Accept")
    snap, r = post_contact(stack, f, accept=(
        "text/html,application/xhtml+xml,application/xml;q=0.9,"
        "image/avif,image/webp,*/*;q=0.8"))
    expect_contact(stack, snap, r, f)


def test_fetch_style_accept_gets_json(stack):
    f = contact_fields(name="Axios Accept")
    snap, r = post_contact(stack, f,
                           accept="application/json, text/plain, */*")
    expect_contact(stack, snap, r, f, accept_json=True)


def test_successive_submissions_distinct(stack):
    ids, names = set(), set()
    for i in range(3):
        f = contact_fields(name=f"Repeat {i}")
        snap, r = post_contact(stack, f)
        id, d = expect_contact(stack, snap, r, f)
        ids.add(id)
        names.add(d.name)
    assert len(ids) == 3 and len(names) == 3


def test_log_has_no_field_values(stack):
    """DESIGN.md: logs name request id, client, form, sizes, outcome --
    never field values."""
    secret = "Sekr3tValue" + os.urandom(4).hex()
    f = contact_fields(name="Log " + secret, email=f"{secret}@example.org",
                       message="body " + secret)
    snap, r = post_contact(stack, f)
    id, _ = expect_contact(stack, snap, r, f)
    log = stack.handler.log_text()
    assert secret not in log, "handler log contains a submitted value"


# ------------------------------------------------------------- order form

ORDER_BASE = [
    ("name", "Bob Buyer"),
    ("email", "bob@example.com"),
    ("phone", "+49 30 1234567"),
    ("address", "Hauptstraße 1\n10115 Berlin\nGermany"),
]


def order_expect(pairs, files=()):
    exp = {}
    for k, v in pairs:
        if k in ("item", "quantity"):
            exp.setdefault(k, []).append(v)
        else:
            exp[k] = v
    return exp


def check_order(stack, snap, r, pairs, files=(), accept_json=False,
                dropped=None):
    id = h.check_success(r, "order", accept_json)
    d = stack.delivered(snap, "orders")
    exp = order_expect(pairs)
    data = h.check_message(
        d, form="order", id=id, fields=exp,
        subject="Order from " + exp["name"], reply_to=exp["email"],
        files=files, optional_empty=("phone", "notes", "attachment"),
        dropped=dropped)
    return id, d, data


def test_order_urlencoded_repeated_items(stack):
    pairs = ORDER_BASE + [
        ("item", "Widget"), ("quantity", "2"),
        ("item", "Gadget – deluxe"), ("quantity", "1"),
        ("item", "Sprocket"), ("quantity", "999"),
        ("notes", "Please ring twice.\nBack door."),
    ]
    snap = stack.snap()
    r = stack.post("order", pairs)
    id, d, data = check_order(stack, snap, r, pairs)
    assert data["fields"]["item"] == ["Widget", "Gadget – deluxe", "Sprocket"]
    assert data["fields"]["quantity"] == ["2", "1", "999"]


def test_order_single_item_is_array(stack):
    pairs = ORDER_BASE[:2] + [("address", "1 Main St"), ("item", "Only"),
                              ("quantity", "1")]
    snap = stack.snap()
    r = stack.post("order", pairs, accept="application/json")
    id, d, data = check_order(stack, snap, r, pairs, accept_json=True)
    assert data["fields"]["item"] == ["Only"]
    assert data["fields"]["quantity"] == ["1"]


def test_order_ten_items(stack):
    pairs = ORDER_BASE[:]
    for i in range(10):
        pairs += [("item", f"Item {i}"), ("quantity", str(i + 1))]
    snap = stack.snap()
    r = stack.post("order", pairs)
    id, d, data = check_order(stack, snap, r, pairs)
    assert len(data["fields"]["item"]) == 10


def test_order_unknown_fields_dropped(stack):
    pairs = ORDER_BASE + [("item", "Widget"), ("quantity", "3")]
    extra = [("coupon", "FREESTUFF123"), ("to", "attacker@evil.example"),
             ("mailbox", "contact"), ("x", "droppedvalue987")]
    snap = stack.snap()
    r = stack.post("order", pairs + extra)
    id, d, data = check_order(
        stack, snap, r, pairs,
        dropped={"coupon": "FREESTUFF123", "x": "droppedvalue987",
                 "to": "attacker@evil.example"})
    assert "attacker@evil.example" not in d.raw.decode("utf-8", "replace")
    assert h.addr(d.msg["To"]) == h.TO["orders"]


def test_order_empty_optional_fields(stack):
    pairs = ORDER_BASE[:2] + [("phone", ""), ("address", "Somewhere 5"),
                              ("item", "Thing"), ("quantity", "7"),
                              ("notes", "")]
    snap = stack.snap()
    r = stack.post("order", pairs)
    id = h.check_success(r, "order")
    d = stack.delivered(snap, "orders")
    exp = order_expect([p for p in pairs if p[1] != ""])
    data = h.check_message(d, form="order", id=id, fields=exp,
                           subject="Order from Bob Buyer",
                           reply_to="bob@example.com",
                           optional_empty=("phone", "notes", "attachment"))


@pytest.mark.parametrize("accept_json", [False, True])
def test_order_with_attachment_utf8_filename(stack, tmp_root, accept_json):
    blob = os.urandom(100 * 1024)
    path = tmp_root / "upload.bin"
    path.write_bytes(blob)
    filename = "Bestellung Zoë 日本 (v2).bin"
    pairs = [("name", UNICODE_NAME)] + ORDER_BASE[1:] + [
        ("item", "Widget"), ("quantity", "2"),
        ("item", "Gadget"), ("quantity", "5"),
        ("notes", "Siehe Anhang — danke.")]
    form = [f"{k}={v}" for k, v in pairs]
    form.append(("-F", f"attachment=@{path};type=application/octet-stream;"
                       f"filename={filename}"))
    snap = stack.snap()
    r = h.curl(stack.url("order"), form=form, workdir=stack.root,
               accept="application/json" if accept_json else None)
    id, d, data = check_order(
        stack, snap, r, pairs, accept_json=accept_json,
        files=[("attachment", filename, "application/octet-stream", blob)])
    assert data["files"][0]["sha256"] == hashlib.sha256(blob).hexdigest()
    # The non-ASCII file name is encoded in the file (RFC 2231 or 2047),
    # never raw 8-bit in a MIME header (check_message checks every part's
    # raw headers are ASCII); here: the raw name is not in any header.
    for block in h.raw_part_headers(d):
        assert "Zoë".encode() not in block


def test_order_attachment_exactly_file_max(stack):
    blob = os.urandom(h.LIMITS["file_max"])
    pairs = ORDER_BASE + [("item", "Big"), ("quantity", "1")]
    body, ctype = h.multipart(
        pairs + [("attachment", "exact.dat", "application/x-test", blob)])
    assert len(body) < h.LIMITS["body_max"]
    snap = stack.snap()
    r = stack.post("order", body, content_type=ctype)
    check_order(stack, snap, r, pairs,
                files=[("attachment", "exact.dat", "application/x-test", blob)])


def test_order_text_attachment_type_kept(stack):
    blob = "Zeile eins\r\nZeile zwei ünïcode\n".encode()
    pairs = ORDER_BASE + [("item", "Doc"), ("quantity", "1")]
    body, ctype = h.multipart(
        pairs + [("attachment", "liste.csv", "text/csv", blob)])
    snap = stack.snap()
    r = stack.post("order", body, content_type=ctype)
    check_order(stack, snap, r, pairs,
                files=[("attachment", "liste.csv", "text/csv", blob)])


def test_order_no_file_chosen(stack):
    """A browser submits an empty file input as a part with filename=""
    and no content: that is no file, not an empty attachment."""
    pairs = ORDER_BASE + [("item", "Nothing attached"), ("quantity", "1")]
    body, ctype = h.multipart(
        pairs + [("attachment", "", "application/octet-stream", b"")])
    snap = stack.snap()
    r = stack.post("order", body, content_type=ctype)
    id, d, data = check_order(stack, snap, r, pairs)
    assert data["files"] == []


def test_order_multipart_windows_path_filename(stack):
    """Old IE sent the full client path; only the base name should be kept
    (and the backslashes must not be taken as quoting)."""
    blob = b"%PDF-1.4 fake\n"
    pairs = ORDER_BASE + [("item", "Path"), ("quantity", "1")]
    raw = (b'Content-Disposition: form-data; name="attachment"; '
           b'filename="C:\\Users\\bob\\order.pdf"\r\n'
           b"Content-Type: application/pdf\r\n\r\n" + blob)
    body, ctype = h.multipart(pairs + [raw])
    snap = stack.snap()
    r = stack.post("order", body, content_type=ctype)
    id = h.check_success(r, "order")
    d = stack.delivered(snap, "orders")
    att = d.attachments[0]
    assert att.get_filename() in ("order.pdf", "C:\\Users\\bob\\order.pdf")
    assert att.get_payload(decode=True) == blob


def test_order_blank_rows_ignored(stack):
    """order.form: rows left blank in the page (item and quantity both
    empty) are ignored."""
    pairs = ORDER_BASE + [("item", "Widget"), ("quantity", "2"),
                          ("item", ""), ("quantity", ""),
                          ("item", "Gadget"), ("quantity", "1"),
                          ("item", ""), ("quantity", "")]
    snap = stack.snap()
    r = stack.post("order", pairs)
    kept = [p for p in pairs if p[1] != ""]
    id, d, data = check_order(stack, snap, r, kept)
    assert data["fields"]["item"] == ["Widget", "Gadget"]
    assert data["fields"]["quantity"] == ["2", "1"]


def test_chunked_request_body(stack):
    """A client that streams the body (Transfer-Encoding: chunked, no
    Content-Length): nginx buffers it and the handler gets it whole."""
    f = contact_fields(name="Chunked Sender", message="streamed " * 200)
    snap = stack.snap()
    r = stack.post("contact", list(f.items()),
                   headers=["Transfer-Encoding: chunked"])
    expect_contact(stack, snap, r, f)


def test_pattern_counts_characters_in_the_sandboxed_worker(make_stack, tmp_root):
    """A field's pattern runs on characters (C.UTF-8) in the real,
    confined worker too: the locale is loaded before confinement."""
    forms = h.intake_forms(tmp_root)
    path = forms / "contact.form"
    path.write_text(path.read_text().replace(
        "[field name]\n", "[field name]\npattern = .{1,4}\n", 1))
    s = make_stack(forms=forms)
    snap = s.snap()
    r = s.post("contact", [("name", "\u00e9\u00e9\u00e9\u00e9"),
                           ("email", "a@example.org"), ("message", "hi")],
               accept="application/json")
    assert r.status == 200, r
    s.delivered(snap, "contact")
    r = s.post("contact", [("name", "\u00e9" * 5),
                           ("email", "a@example.org"), ("message", "hi")],
               accept="application/json")
    assert r.status == 422 and r.json()["fields"]["name"] == \
        "is not in the expected format", r
