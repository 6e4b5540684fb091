"""
Abuse: malformed and hostile input, header injection, password guessing.

  * malformed bodies through nginx (and, where nginx would refuse them
    itself, straight over FastCGI) each get a clear 4xx, deliver nothing,
    and leave the workers' memory small;
  * a table of every header-injection pattern known for form mailers, in
    every field of both shipped forms and in file names, gives either
    400/422 or a message whose header set is exactly the expected one;
  * formdrop-pop3d slows password guessing per address, not for others,
    and logs an unknown user exactly as a wrong password.
"""

import re
import shutil
import threading
import time

import pytest

import e2e_helpers as h
import fault_helpers as fh

RSS_MAX_KB = 64 * 1024
BOUNDARY = "----formdropAbuse7MA4YWxkTrZu0gW"
MP = f"multipart/form-data; boundary={BOUNDARY}"

CONTACT = [("name", "Ann Example"), ("email", "ann@example.org"),
           ("message", "Hello")]
ORDER = [("name", "Bob Buyer"), ("email", "bob@example.com"),
         ("phone", "12345"), ("address", "1 Main St"), ("item", "Widget"),
         ("quantity", "2"), ("notes", "none")]


def workers_rss(s):
    return {pid: fh.vm_rss_kb(pid) for pid in s.workers_pids()}


def assert_small(s, when):
    rss = workers_rss(s)
    assert rss and max(rss.values()) < RSS_MAX_KB, (when, rss)


def part(name, value, filename=None, ctype=None, extra=b""):
    """A raw multipart part (headers + content, no delimiter line)."""
    name = name.encode() if isinstance(name, str) else name
    value = value.encode() if isinstance(value, str) else value
    head = b'Content-Disposition: form-data; name="' + name + b'"'
    if filename is not None:
        fn = filename.encode() if isinstance(filename, str) else filename
        head += b'; filename="' + fn + b'"'
    head += b"\r\n"
    if ctype:
        head += b"Content-Type: " + ctype.encode() + b"\r\n"
    return head + extra + b"\r\n" + value


def mp_body(parts, boundary=BOUNDARY, close=True):
    b = boundary.encode()
    out = b"".join(b"--" + b + b"\r\n" + p + b"\r\n" for p in parts)
    return out + (b"--" + b + b"--\r\n" if close else b"")


def contact_parts(**override):
    vals = dict(CONTACT)
    vals.update(override)
    return [part(k, v) for k, v in vals.items()]


@pytest.fixture(scope="module")
def abuse_stack(request):
    root = h.make_tmpdir()
    s = fh.Stack(root)
    request.addfinalizer(lambda: fh.keep() or shutil.rmtree(
        root, ignore_errors=True))
    request.addfinalizer(s.stop)
    return s.start()


# ------------------------------------------------------ malformed bodies

NESTED = part("message", (
    b"--inner\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nhi\r\n"
    b"--inner--"), ctype="multipart/mixed; boundary=inner")
NESTED_FILE = part("attachment", (
    b"--inner\r\nContent-Disposition: file; filename=\"a.txt\"\r\n"
    b"Content-Type: text/plain\r\n\r\nhi\r\n--inner--"),
    ctype="multipart/mixed; boundary=inner")

MALFORMED = {
    # name: (form, content type, body, allowed statuses)
    "urlenc-bad-utf8-value": ("contact", fh.URLENC,
                              b"name=%FF%FEAnn&email=a%40b.example"
                              b"&message=x", {400}),
    "urlenc-bad-utf8-name": ("contact", fh.URLENC,
                             b"na%FFme=Ann&email=a%40b.example&message=x",
                             {400}),
    "urlenc-raw-bad-utf8": ("contact", fh.URLENC,
                            b"name=\xff\xfeAnn&email=a%40b.example"
                            b"&message=x", {400}),
    "urlenc-overlong-slash": ("contact", fh.URLENC,
                              b"name=%C0%AFAnn&email=a%40b.example"
                              b"&message=x", {400}),
    "urlenc-surrogate": ("contact", fh.URLENC,
                         b"name=%ED%A0%80&email=a%40b.example&message=x",
                         {400}),
    "urlenc-truncated-utf8": ("contact", fh.URLENC,
                              b"name=Ann%E2%82&email=a%40b.example"
                              b"&message=x", {400}),
    "urlenc-nul-value": ("contact", fh.URLENC,
                         b"name=A%00nn&email=a%40b.example&message=x",
                         {400, 422}),
    "urlenc-nul-name": ("contact", fh.URLENC,
                        b"name%00=Ann&email=a%40b.example&message=x",
                        {400, 422}),
    "urlenc-nul-raw": ("contact", fh.URLENC,
                       b"name=A\x00nn&email=a%40b.example&message=x",
                       {400, 422}),
    "mp-bad-utf8-name": ("contact", MP, mp_body(
        contact_parts() + [part(b"n\xffme", "x")]), {400}),
    "mp-bad-utf8-value": ("contact", MP, mp_body(
        contact_parts(name=b"A\xc3\x28nn")), {400}),
    "mp-bad-utf8-filename": ("order", MP, mp_body(
        [part(k, v) for k, v in ORDER] +
        [part("attachment", b"data", filename=b"r\xe9sum\xe9.txt",
              ctype="text/plain")]), {400}),
    "mp-overlong-filename": ("order", MP, mp_body(
        [part(k, v) for k, v in ORDER] +
        [part("attachment", b"data", filename=b"a\xc0\xae\xc0\xae.txt",
              ctype="text/plain")]), {400}),
    "mp-nul-in-value": ("contact", MP, mp_body(
        contact_parts(name=b"A\x00nn")), {400, 422}),
    "mp-nul-in-name": ("contact", MP, mp_body(
        contact_parts() + [part(b"na\x00me", "x")]), {400, 422}),
    "mp-nul-in-filename": ("order", MP, mp_body(
        [part(k, v) for k, v in ORDER] +
        [part("attachment", b"data", filename=b"a\x00.txt",
              ctype="text/plain")]), {400, 422}),
    "mp-duplicate-boundary-param": (
        "contact", f"multipart/form-data; boundary={BOUNDARY}; "
        f"boundary=other", mp_body(contact_parts()), {400}),
    "mp-duplicate-delimiter-lines": (
        "contact", MP, (f"--{BOUNDARY}\r\n".encode() +
                        mp_body(contact_parts())), {400}),
    "mp-empty-part": ("contact", MP, mp_body(contact_parts() + [b""]),
                      {400}),
    "mp-nested-multipart-field": ("contact", MP, mp_body(
        [part("name", "Ann"), part("email", "ann@example.org"), NESTED]),
        {400, 415, 422}),
    "mp-nested-multipart-file": ("order", MP, mp_body(
        [part(k, v) for k, v in ORDER] + [NESTED_FILE]), {400, 415, 422}),
    "mp-missing-final-boundary": ("contact", MP, mp_body(
        contact_parts(), close=False), {400}),
    "mp-final-boundary-without-dashes": ("contact", MP, mp_body(
        contact_parts(), close=False) + f"--{BOUNDARY}\r\n".encode(),
        {400}),
    "mp-boundary-too-long": ("contact", "multipart/form-data; boundary=" +
                             "b" * 71, mp_body(contact_parts(),
                                               boundary="b" * 71), {400}),
    "mp-headers-never-end": ("contact", MP, (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"name\"\r\n"
        + "X-Pad: " + "a" * 5000).encode(), {400, 413}),
    "urlenc-100000-fields": ("contact", fh.URLENC, b"a=1&" * 100000, {413}),
    "mp-5000-parts": ("contact", MP, mp_body(
        [part(f"f{i}", "1") for i in range(5000)]), {413}),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_body_4xx_nothing_delivered(abuse_stack, case):
    s = abuse_stack
    form, ctype, body, allowed = MALFORMED[case]
    snap = s.snap()
    r = s.post(form, data=body, content_type=ctype)
    assert r.status in allowed, (case, r)
    h.check_error(r, r.status, accept_json=True)
    h.assert_nothing_delivered(s.maildirs, snap)
    assert_small(s, case)


def fcgi_contact(s, body, content_length="auto", **kw):
    env = fh.fcgi_env("contact", len(body), content_length=content_length)
    return s.fcgi(env, body, **kw)


@pytest.mark.parametrize("declared,allowed", [
    (lambda n: str(n + 500), {400}),          # body shorter than promised
    (lambda n: str(n - 10), {400}),           # body longer than promised
    (lambda n: "0", {400}),
    (lambda n: "abc", {400}),
    (lambda n: "-1", {400}),
    (lambda n: " 42", {400}),
    (lambda n: "4e2", {400}),
    (lambda n: "0x20", {400}),
    (lambda n: "99999999999999999999999999", {400, 413}),
], ids=["longer", "shorter", "zero", "abc", "negative", "space", "exp",
        "hex", "huge"])
def test_content_length_mismatch_over_fastcgi(abuse_stack, declared, allowed):
    """nginx refuses such requests itself, so they go straight to the
    handler's socket."""
    s = abuse_stack
    body = h.urlencode(CONTACT)
    snap = s.snap()
    res = fcgi_contact(s, body, content_length=declared(len(body)))
    assert res.ended and res.response is not None, res
    r = res.response
    assert r.status in allowed, r
    h.check_error(r, r.status, accept_json=True)
    h.assert_nothing_delivered(s.maildirs, snap)
    # And the same body with the right length is accepted.
    res = fcgi_contact(s, body)
    h.check_success(res.response, "contact", accept_json=True)


@pytest.mark.parametrize("declared", [True, False],
                         ids=["content-length", "no-content-length"])
def test_100mb_field_413_quickly(abuse_stack, declared):
    """One 100 MB field against body_max 1M: 413 without the handler
    reading it all (quick, little memory)."""
    s = abuse_stack
    total = 100 * 1024 * 1024
    body = fh.repeat_bytes(total)

    def gen():
        yield b"name=Ann&email=a%40b.example&message="
        yield from body
    env = fh.fcgi_env("contact", total + 37,
                      content_length="auto" if declared else None)
    snap = s.snap()
    with fh.RssSampler(s.supervisor) as rss:
        res = s.fcgi(env, gen(), timeout=30)
    assert res.ended and res.response is not None, res
    print(f"\n100 MB field: 413 after {res.elapsed:.2f}s, "
          f"{res.sent >> 10} KiB taken, worker peak RSS {rss.peak_kb} KiB")
    h.check_error(res.response, 413, accept_json=True)
    if declared:
        # Refused on its Content-Length, before reading: what was taken
        # is what the socket buffers hold (64 KiB here), not body_max.
        assert res.sent < 1024 * 1024, res
    else:
        # Read up to body_max, and what sits in buffers; not to the end.
        assert res.sent < 20 * 1024 * 1024, res
    assert rss.peak_kb < RSS_MAX_KB, rss.peak_kb
    h.assert_nothing_delivered(s.maildirs, snap)
    assert_small(s, "after 100 MB")
    # The worker that refused is still good for a normal submission.
    for _ in range(4):
        res = fcgi_contact(s, h.urlencode(CONTACT))
        h.check_success(res.response, "contact", accept_json=True)


# ------------------------------------------------------ header injection

BCC = "Bcc: victim@evil.example"
SEPARATORS = {
    "CR": "\r", "LF": "\n", "CRLF": "\r\n", "CRLFCRLF": "\r\n\r\n",
    "lit-%0d%0a": "%0d%0a", "lit-%0a": "%0a", "lit-%0d": "%0d",
    "lit-%0D%0A": "%0D%0A", "lit-%250d%250a": "%250d%250a",
    "lit-%25%30d": "%25%30d", "lit-\\r\\n": "\\r\\n",
    "U+2028": "\u2028", "U+2029": "\u2029", "U+0085": "\u0085",
    "U+000B": "\x0b", "U+000C": "\x0c", "tab": "\t",
    "encoded-word-crlf": "=?utf-8?q?=0d=0a?=",
    "encoded-word-b": "=?utf-8?b?DQo=?=",
}
HEADERS = {
    "CRLF-Bcc": "\r\nBcc: victim@evil.example",
    "LF-To": "\nTo: victim@evil.example",
    "LF-Cc": "\nCc: victim@evil.example",
    "CR-Subject": "\rSubject: injected",
    "CRLF-Content-Type": "\r\nContent-Type: text/html",
}
OVERLONG = {
    "overlong-CR-C0-8D": b"\xc0\x8d", "overlong-LF-C0-8A": b"\xc0\x8a",
    "overlong-LF-E0-80-8A": b"\xe0\x80\x8a",
    "overlong-CR-F0-80-80-8D": b"\xf0\x80\x80\x8d",
}

PATTERNS = {}
for k, v in SEPARATORS.items():
    PATTERNS[k] = v + BCC
PATTERNS.update(HEADERS)

# C0 and C1 control characters (U+0085 NEL is one).
CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
SINGLE_LINE = {"name", "email", "phone", "item", "quantity"}

FIELDS = [("contact", f) for f, _ in CONTACT] + \
    [("order", f) for f, _ in ORDER]


def injected(value_of, field, pattern):
    return [(k, (v + pattern) if k == field else v) for k, v in value_of]


def outcome(s, form, snap, r, fields, files=0):
    """400/422 with nothing delivered, or a message with the exact header
    set; returns the message or None."""
    box = h.FORM_MAILBOX[form]
    assert r.status in (200, 400, 422), r
    if r.status != 200:
        h.check_error(r, r.status, accept_json=True)
        h.assert_nothing_delivered(s.maildirs, snap)
        return None
    id_ = h.check_success(r, form, accept_json=True)
    d = h.single_delivery(s.maildirs, snap, box)
    assert str(d.msg["X-Formdrop-Id"]).strip() == id_
    fh.check_headers_exact(d, box)
    subject = str(d.msg["Subject"])
    # formdrop.form(5): control characters (C0 and C1, U+0085 NEL among
    # them) never reach the Subject; U+2028/U+2029 are not controls and
    # travel RFC 2047-encoded.
    assert not CONTROLS.search(subject), subject
    prefix = "Contact form: " if form == "contact" else "Order from "
    name = dict(fields)["name"]
    want = {prefix + name, prefix + re.sub(r"[\x00-\x1f\x7f\x85\u2028"
                                           r"\u2029]", " ", name)}
    assert subject in want, (subject, want)
    assert h.addr(d.msg["Reply-To"])[1] == dict(fields)["email"]
    assert len(d.parts) == 2 + files
    return d


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
@pytest.mark.parametrize("pattern", sorted(PATTERNS))
@pytest.mark.parametrize("form,field", FIELDS,
                         ids=[f"{a}-{b}" for a, b in FIELDS])
def test_header_injection(abuse_stack, form, field, pattern, encoding):
    s = abuse_stack
    fields = injected(CONTACT if form == "contact" else ORDER, field,
                      PATTERNS[pattern])
    if encoding == "urlencoded":
        body, ctype = h.urlencode(fields), fh.URLENC
    else:
        body, ctype = mp_body([part(k, v) for k, v in fields]), MP
    snap = s.snap()
    r = s.post(form, data=body, content_type=ctype)
    d = outcome(s, form, snap, r, fields)
    if d is not None:
        got = d.data["fields"][field]
        got = got[0] if isinstance(got, list) else got
        sent = dict(fields)[field]
        if field in SINGLE_LINE:
            # "Other text fields reject every control character"
            assert not CONTROLS.search(got), (
                f"control character accepted in single-line field "
                f"{field!r}: {got!r}")
        # The value is kept (as sent, or with its line breaks normalised)
        assert got.replace("\r\n", "\n") in (sent.replace("\r\n", "\n"),
                                             sent), (got, sent)


@pytest.mark.parametrize("pattern", sorted(OVERLONG))
@pytest.mark.parametrize("form,field", FIELDS,
                         ids=[f"{a}-{b}" for a, b in FIELDS])
def test_header_injection_overlong_utf8(abuse_stack, form, field, pattern):
    """Overlong UTF-8 for CR/LF is invalid UTF-8: 400."""
    s = abuse_stack
    base = CONTACT if form == "contact" else ORDER
    body = b"&".join(
        k.encode() + b"=" + (h.urlencode([("x", v)])[2:] +
                             (OVERLONG[pattern] + BCC.encode().replace(
                                 b" ", b"+") if k == field else b""))
        for k, v in base)
    snap = s.snap()
    r = s.post(form, data=body, content_type=fh.URLENC)
    assert r.status == 400, r
    h.check_error(r, 400, accept_json=True)
    h.assert_nothing_delivered(s.maildirs, snap)


FILENAMES = {k: "cv" + v + ".txt" for k, v in PATTERNS.items()
             if "\r" not in v and "\n" not in v}
FILENAMES.update({
    "pct-CRLF-Bcc": "cv%0D%0ABcc: victim@evil.example.txt",
    "quote-break": 'cv.txt"; name="x\r\nBcc: victim@evil.example',
})
FILENAME_RAW = {
    "raw-CRLF-in-quotes": b'cv\r\nBcc: victim@evil.example.txt',
    "raw-LF-in-quotes": b'cv\nBcc: victim@evil.example.txt',
    "raw-CR-in-quotes": b'cv\rBcc: victim@evil.example.txt',
    "overlong-LF": b'cv\xc0\x8aBcc: victim@evil.example.txt',
}
FILENAME_STAR = {
    "rfc5987-CRLF": "utf-8''cv%0D%0ABcc%3A%20victim%40evil.example.txt",
    "rfc5987-LF": "utf-8''cv%0ATo%3A%20victim%40evil.example.txt",
    "rfc5987-U2028": "utf-8''cv%E2%80%A8Bcc%3A%20x%40evil.example.txt",
    "rfc5987-overlong": "utf-8''cv%C0%8ABcc%3A%20x%40evil.example.txt",
}


def file_case(kind, key):
    if kind == "quoted":
        return FILENAMES[key].encode(), None
    if kind == "raw":
        return FILENAME_RAW[key], None
    return b"cv.txt", FILENAME_STAR[key].encode()


FILE_CASES = ([("quoted", k) for k in sorted(FILENAMES)] +
              [("raw", k) for k in sorted(FILENAME_RAW)] +
              [("star", k) for k in sorted(FILENAME_STAR)])


@pytest.mark.parametrize("kind,key", FILE_CASES,
                         ids=[f"{a}-{b}" for a, b in FILE_CASES])
def test_header_injection_in_file_names(abuse_stack, kind, key):
    s = abuse_stack
    fn, star = file_case(kind, key)
    head = b'Content-Disposition: form-data; name="attachment"; filename="'
    head += fn + b'"'
    if star is not None:
        head += b"; filename*=" + star
    filepart = head + b"\r\nContent-Type: text/plain\r\n\r\nfile content"
    body = mp_body([part(k, v) for k, v in ORDER] + [filepart])
    snap = s.snap()
    r = s.post("order", data=body, content_type=MP)
    d = outcome(s, "order", snap, r, ORDER, files=1)
    if d is not None:
        att = d.attachments[0]
        name = att.get_filename() or ""
        # File names have their control characters replaced.
        assert not CONTROLS.search(name), name
        assert d.data["files"][0]["filename"] == name
        assert att.get_payload(decode=True) == b"file content"


# ------------------------------------------------ POP3 password guessing

def pop3(request, tmp_root):
    md = h.make_maildir(tmp_root / "md")
    fh.write_hand_message(md / "new", 1)
    p = fh.Pop3d(tmp_root, {"shop": md})
    request.addfinalizer(p.stop)
    return p.start()


def timed_fail(c, user, password="wrong"):
    assert c.cmd(f"USER {user}").startswith(b"+OK")
    start = time.monotonic()
    r = c.cmd(f"PASS {password}")
    return r, time.monotonic() - start


def test_pop3_password_guessing_slowed_per_address(request, tmp_root):
    p = pop3(request, tmp_root)
    delays = []
    # Two failures in one session, the third in a new one: the delay
    # doubles (1, 2, 4 s) and carries over from session to session.
    c = p.client()
    for _ in range(2):
        r, t = timed_fail(c, "shop")
        assert r == b"-ERR [AUTH] Invalid user name or password", r
        delays.append(t)
    assert c.cmd("QUIT").startswith(b"+OK")
    assert c.wait_closed(5) is not None
    c.close()
    p.wait_sessions_reaped()        # the listener counts the failures
    c = p.client()
    result = {}

    def third():
        result["r"], result["t"] = timed_fail(c, "shop")
    t = threading.Thread(target=third)
    t.start()
    time.sleep(0.5)
    # Meanwhile a valid login from another address goes through at once.
    start = time.monotonic()
    other = p.login("shop", source="127.0.0.2")
    other_t = time.monotonic() - start
    assert other.cmd("STAT").startswith(b"+OK 1 ")
    assert other.cmd("QUIT").startswith(b"+OK")
    other.close()
    t.join(40)
    c.close()
    delays.append(result["t"])
    assert result["r"].startswith(b"-ERR [AUTH]"), result
    print(f"\nguessing delays: {[round(x, 2) for x in delays]}, "
          f"login from 127.0.0.2 took {other_t:.2f}s")
    assert delays[0] >= 0.95, delays
    for a, b in zip(delays, delays[1:]):
        assert b >= a * 0.95, f"delay did not grow: {delays}"
    assert delays[1] >= 1.9 and delays[2] >= 3.8, delays
    assert other_t < 1.0, other_t


def test_pop3_log_does_not_reveal_users(request, tmp_root):
    p = pop3(request, tmp_root)
    c = p.client(source="127.0.0.2")
    r1, t1 = timed_fail(c, "nosuchuser")
    r2, t2 = timed_fail(c, "shop")
    assert r1 == r2 == b"-ERR [AUTH] Invalid user name or password"
    c.close()
    h.wait_until(lambda: "user=shop" in p.log_text(), what="log line")
    lines = [ln for ln in p.log_text().splitlines()
             if "nosuchuser" in ln or "user=shop" in ln]
    assert len(lines) == 2, lines
    a = re.sub(r"\bms=\d+", "", lines[0]).replace("nosuchuser", "USER")
    b = re.sub(r"\bms=\d+", "", lines[1]).replace("shop", "USER")
    assert a == b, lines
    assert not re.search(r"unknown|no such|not found|exist", p.log_text(),
                         re.I), p.log_text()
