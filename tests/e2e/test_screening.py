"""
End-to-end tests of submission screening (README "Double submits and
spam", formdrop.form(5): token, token_min_age, token_max_age,
token_failure, honeypot, rate; formdrop.conf(5): state), through nginx
(with /token/ routed like /submit/), cgi-fcgi, formdrop-devserver and
headless Chromium, on the shipped forms or copies with shorter ages.

  tokens        valid after min age -> inbox; forged (mac, time, nonce,
                form part, unknown key), malformed, missing, empty, two of
                them, of the other form, too young, expired (minted with
                the state key, and one real wait), future -> 422 on contact
                (nothing written) / .Junk with X-Formdrop-Spam on order,
                and the reason in the handler's log line; for urlencoded,
                multipart and JSON clients; key rotation + SIGHUP.
  exactly once  the same token twice -> one message, identical answers;
                50 racing twins across 8 handler processes; the same with
                Idempotency-Key on a form with token = off; across a
                handler restart; a 422 does not consume the token.
  honeypot      present-empty -> inbox, filled/absent -> .Junk (Maildir++),
                which Dovecot (doveadm) lists and reads as the folder Junk.
  rate          rate = 3/60: the 4th from one address -> 429 + Retry-After;
                other IPv4 addresses and IPv6 /64s have their own bucket;
                a repeat of a delivered submission is answered anyway.
  autofill      Chromium with a saved profile, its own autofill and a
                password-manager-like filler, through formdrop-devserver:
                fd_hp stays empty and the message is in the inbox; the
                devserver renders a token into every page and relays every
                post.
"""

import fcntl
import json
import os
import pwd
import re
import shutil
import subprocess
import threading
import time
import warnings

import pytest

import e2e_helpers as h
import screening_helpers as s

CONTACT = {"name": "Ann Example", "email": "ann@example.org",
           "message": "Hello,\nplease call me back."}
ORDER = [("name", "Bob Buyer"), ("email", "bob@example.com"),
         ("address", "1 Main St\nSpringfield"),
         ("item", "Widget"), ("quantity", "2"),
         ("item", "Gadget"), ("quantity", "1")]
FIELDS = {"contact": CONTACT, "order": ORDER}
ENCODINGS = ("url", "multipart", "json")
FORMS = ("contact", "order")
# The field message of a refused token in a 422 (handler.c respond_retry).
RETRY_REASON = {"token too young": "was sent too quickly",
                "token expired": "has expired"}
DAY = 86400


def _need(path, what):
    if not os.path.exists(path):
        pytest.skip(f"{what} not installed ({path})")


def _cleanup(root):
    if not os.environ.get("FORMDROP_E2E_KEEP"):
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def make(request):
    """make(edits=None, shipped=False, workers=4): a started ScreenStack
    over a forms_copy with edits (or the shipped forms as they are),
    stopped at the end of the module."""
    if not h.HANDLER.exists():
        pytest.fail(f"{h.HANDLER} does not exist: build it with make first",
                    pytrace=False)
    _need(h.NGINX, "nginx")

    def start(edits=None, shipped=False, workers=4):
        root = h.make_tmpdir("fd-screen-")
        request.addfinalizer(lambda: _cleanup(root))
        forms = h.TEMPLATES if shipped else s.forms_copy(root, edits)
        st = s.ScreenStack(root, forms, workers=workers)
        request.addfinalizer(st.stop)
        return st.start()
    return start


FAST = {"contact": {"token_min_age": 1, "rate": None},
        "order": {"token_min_age": 1, "rate": None}}


@pytest.fixture(scope="module")
def st(make):
    """The main stack: the shipped forms with token_min_age = 1 and no rate
    limit (so that many tests can share 127.0.0.1), 8 workers."""
    return make(FAST, workers=8)


class Pool:
    """Tokens from GET /token/<form>, handed out once they are old enough
    (fetched in batches, so the tests wait for token_min_age rarely)."""

    def __init__(self, stack, min_age=1):
        self.stack = stack
        self.min_age = min_age
        self.tokens = {f: [] for f in FORMS}

    def take(self, form):
        if not self.tokens[form]:
            self.tokens[form] = [self.stack.token(form)["token"]
                                 for _ in range(12)]
        tok = self.tokens[form].pop()
        ready = int(s.parse_token(tok)["time"]) + self.min_age + 0.05
        if time.time() < ready:
            time.sleep(ready - time.time())
        return tok


@pytest.fixture(scope="module")
def pool(st):
    return Pool(st)


def expect_refused(stack, r, encoding, boxes, mark, reason):
    """A refused token on contact: 422 naming _token, nothing written, the
    reason in the log."""
    js = s.is_json(encoding)
    doc = h.check_error(r, 422, accept_json=js, fields=[s.TOKEN_FIELD])
    if js:
        assert doc["fields"][s.TOKEN_FIELD] == RETRY_REASON.get(
            reason, "must be reloaded before sending"), doc
    boxes.nothing()
    line = stack.outcome_since(mark)
    assert (line["status"], line["kind"], line["what"]) == (
        "422", "reason", reason), line


def expect_junk(stack, r, form, encoding, boxes, mark, reason, fields):
    """A submission judged as spam: the usual success answer, one message
    in .Junk with the reason, the reason in the log."""
    id = s.success_id(r, form, encoding)
    d = boxes.one("junk")
    s.check_junk(d, form, id, fields, reason)
    line = stack.outcome_since(mark)
    assert line["id"] == id and line["kind"] == "file", line
    assert line["what"].endswith(f" spam={reason}"), line
    assert f"/.Junk/new/{d.name}" in line["what"], line
    return id, d


def expect_inbox(stack, r, form, encoding, boxes, mark, fields):
    id = s.success_id(r, form, encoding)
    d = boxes.one("inbox")
    s.check_clean(d, form, id, fields)
    line = stack.outcome_since(mark)
    assert line["id"] == id and line["kind"] == "file", line
    assert " spam=" not in line["what"], line
    return id, d


def send(stack, form, encoding, token, hp="", fields=None, **kw):
    boxes = s.Boxes(stack.maildir(form))
    mark = stack.log_mark()
    r = stack.post(form, FIELDS[form] if fields is None else fields,
                   token=token, hp=hp, encoding=encoding, **kw)
    return r, boxes, mark


# ================================================================ tokens

def test_token_endpoint(st):
    for form in FORMS:
        doc = st.token(form)
        assert set(doc) == {"form", "token", "field", "min_age", "max_age"}
        assert doc["form"] == form and doc["field"] == "_token"
        assert (doc["min_age"], doc["max_age"]) == (1, DAY), doc
        p = s.parse_token(doc["token"])
        assert p["form"] == form
        assert abs(int(p["time"]) - time.time()) < 5
        # Authenticated with the key in the state folder, as token.h says.
        assert doc["token"] == s.mint(st.key(), form, int(p["time"]),
                                      p["nonce"])
    a, b = st.token("contact")["token"], st.token("contact")["token"]
    assert s.parse_token(a)["nonce"] != s.parse_token(b)["nonce"]
    # The same over FastCGI without nginx, and the errors.
    assert s.parse_token(st.cgi_token("order")["token"])["form"] == "order"
    r = h.http_request(st.nginx.port, "GET", "/token/nosuchform")
    assert r.status == 404, r
    r = h.http_request(st.nginx.port, "POST", "/token/contact", b"",
                       {"Content-Type": s.URLENC})
    assert r.status == 405 and "GET" in (r.header("Allow") or ""), r
    # The key file: 64 hex digits, readable by the handler only.
    assert (st.state / "token.key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("form", FORMS)
def test_valid_token_delivered(st, pool, form, encoding):
    r, boxes, mark = send(st, form, encoding, pool.take(form))
    id, d = expect_inbox(st, r, form, encoding, boxes, mark, FIELDS[form])
    assert s.spam_reason(d) is None


def bad_token(st, pool, form, case):
    """(token value(s) or None, the reason the handler logs)."""
    key, now = st.key(), int(time.time())
    other = "order" if form == "contact" else "contact"
    if case in ("mac", "time", "nonce", "form-part"):
        return s.forge(pool.take(form), case.split("-")[0]), "token forged"
    if case == "unknown-key":
        return s.mint(os.urandom(32), form, now - 10), "token forged"
    if case == "garbage":
        return "not-a-token", "token malformed"
    if case == "truncated":
        return pool.take(form)[:-1], "token malformed"
    if case == "too-long":
        return f"v1.{form}." + "a" * 400, "token malformed"
    if case == "two":
        return [pool.take(form), pool.take(form)], "token malformed"
    if case == "future":
        # Ahead by more than a token lives (a day): not our clock's.
        return s.mint(key, form, now + DAY + 3600), "token malformed"
    if case == "missing":
        return None, "token missing"
    if case == "empty":
        return "", "token missing"
    if case == "other-form":
        return pool.take(other), "token for another form"
    if case == "too-young":
        return st.token(form)["token"], "token too young"
    if case == "expired":
        return s.mint(key, form, now - DAY - 30), "token expired"
    raise ValueError(case)


BAD = ("mac", "time", "nonce", "form-part", "unknown-key", "garbage",
       "truncated", "too-long", "two", "future", "missing", "empty",
       "other-form", "too-young", "expired")


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("case", BAD)
def test_bad_token_contact_refused(st, pool, case, encoding):
    tok, reason = bad_token(st, pool, "contact", case)
    r, boxes, mark = send(st, "contact", encoding, tok)
    expect_refused(st, r, encoding, boxes, mark, reason)


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("case", BAD)
def test_bad_token_order_junk(st, pool, case, encoding):
    tok, reason = bad_token(st, pool, "order", case)
    r, boxes, mark = send(st, "order", encoding, tok)
    expect_junk(st, r, "order", encoding, boxes, mark, reason, ORDER)


def test_too_young_refusal_keeps_token(st):
    """A refused (too young) token is not spent: sent again once old enough
    it delivers, and then counts once."""
    tok = st.token("contact")["token"]
    r, boxes, mark = send(st, "contact", "json", tok)
    expect_refused(st, r, "json", boxes, mark, "token too young")
    time.sleep(int(s.parse_token(tok)["time"]) + 1.05 - time.time())
    r1, boxes, mark = send(st, "contact", "json", tok)
    id, _ = expect_inbox(st, r1, "contact", "json", boxes, mark, CONTACT)
    r2, boxes, _ = send(st, "contact", "json", tok)
    assert s.same_answer(r1, r2), (r1, r2)
    boxes.nothing()


def test_expiry_real_wait(make):
    """token_max_age = 2: a token is good at 1 s and expired at 3.5 s."""
    ex = make({f: {"token_min_age": 1, "token_max_age": 2, "rate": None}
               for f in FORMS})
    fresh = {f: [ex.token(f)["token"] for _ in range(4)] for f in FORMS}
    t0 = min(int(s.parse_token(t[0])["time"]) for t in fresh.values())
    time.sleep(max(0, t0 + 1.1 - time.time()))
    r, boxes, mark = send(ex, "contact", "url", fresh["contact"].pop())
    expect_inbox(ex, r, "contact", "url", boxes, mark, CONTACT)
    time.sleep(max(0, t0 + 3.5 - time.time()))
    for enc in ENCODINGS:
        r, boxes, mark = send(ex, "contact", enc, fresh["contact"].pop())
        expect_refused(ex, r, enc, boxes, mark, "token expired")
        r, boxes, mark = send(ex, "order", enc, fresh["order"].pop())
        expect_junk(ex, r, "order", enc, boxes, mark, "token expired", ORDER)


def rotate(stack):
    p = subprocess.run([str(h.HANDLER), "-c", str(stack.conf),
                        "--rotate-token-key"], capture_output=True,
                       timeout=h.TIMEOUT, env=h.clean_env())
    assert p.returncode == 0, p
    assert b"token.key" in p.stdout, p


def test_key_rotation(make):
    """--rotate-token-key + SIGHUP: tokens of the previous key still work;
    a key neither current nor previous (two rotations back) is refused."""
    ro = make(FAST)
    key0 = ro.key()
    old = {f: [ro.token(f)["token"] for _ in range(5)] for f in FORMS}
    rotate(ro)
    assert ro.key("token.key.previous") == key0
    key1 = ro.key()
    assert key1 != key0
    ro.reload_handler()
    new = {f: ro.token(f)["token"] for f in FORMS}
    for f in FORMS:
        p = s.parse_token(new[f])
        assert new[f] == s.mint(key1, f, int(p["time"]), p["nonce"]), (
            "after SIGHUP the handler signs with the new key")
    time.sleep(max(0, max(int(s.parse_token(t)["time"])
                          for t in new.values()) + 1.05 - time.time()))
    for enc, f in (("url", "contact"), ("json", "order"),
                   ("multipart", "contact")):
        r, boxes, mark = send(ro, f, enc, old[f].pop())
        expect_inbox(ro, r, f, enc, boxes, mark, FIELDS[f])
    rotate(ro)
    assert ro.key("token.key.previous") == key1
    for name in ("token.key", "token.key.previous"):
        assert (ro.state / name).stat().st_mode & 0o777 == 0o600, name
    ro.reload_handler()
    for enc in ENCODINGS:
        r, boxes, mark = send(ro, "contact", enc, old["contact"].pop())
        expect_refused(ro, r, enc, boxes, mark, "token forged")
    r, boxes, mark = send(ro, "order", "multipart", old["order"].pop())
    expect_junk(ro, r, "order", "multipart", boxes, mark, "token forged",
                ORDER)
    for f in FORMS:     # made with key1, now the previous key
        r, boxes, mark = send(ro, f, "url", new[f])
        expect_inbox(ro, r, f, "url", boxes, mark, FIELDS[f])


# =========================================================== exactly once

@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("form", FORMS)
def test_same_token_twice(st, pool, form, encoding):
    tok = pool.take(form)
    r1, boxes, mark = send(st, form, encoding, tok)
    id, d = expect_inbox(st, r1, form, encoding, boxes, mark, FIELDS[form])
    r2, boxes, mark = send(st, form, encoding, tok)
    assert s.same_answer(r1, r2), (r1, r2)
    assert s.success_id(r2, form, encoding) == id
    boxes.nothing()
    line = st.outcome_since(mark)
    assert (line["id"], line["what"]) == (
        id, "duplicate of an earlier submission"), line


def test_same_token_junk_once(st, pool):
    """A submission judged as spam counts once as well (valid token, filled
    decoy): the same token again gets the same answer, no second copy."""
    tok = pool.take("contact")
    r1, boxes, mark = send(st, "contact", "url", tok, hp="http://spam")
    id, _ = expect_junk(st, r1, "contact", "url", boxes, mark,
                        "honeypot field filled", CONTACT)
    r2, boxes, _ = send(st, "contact", "url", tok, hp="http://spam")
    assert s.same_answer(r1, r2), (r1, r2)
    boxes.nothing()


@pytest.mark.parametrize("case", ["too-young", "expired"])
def test_authentic_junk_token_double_submit_once(st, case):
    """Order form (token_failure = junk): a double click with an authentic
    token that is too young or expired sends the same token twice.  The
    README: "the second request writes nothing and gets the first answer"
    (token.h even hands out the nonce of such tokens)."""
    if case == "too-young":
        tok = st.token("order")["token"]
    else:
        tok = s.mint(st.key(), "order", int(time.time()) - DAY - 30)
    reason = "token too young" if case == "too-young" else "token expired"
    r1, boxes, mark = send(st, "order", "url", tok)
    expect_junk(st, r1, "order", "url", boxes, mark, reason, ORDER)
    r2, boxes, _ = send(st, "order", "url", tok)
    assert boxes.changes() == {}, (
        f"a second .Junk copy for the same {case} token: {boxes.changes()}")
    assert s.same_answer(r1, r2), (r1, r2)


def race_twins(stack, form, n, token=None, encoding="url", **kw):
    boxes = s.Boxes(stack.maildir(form))
    body, headers = s.request_parts(FIELDS[form], token=token,
                                    encoding=encoding, **kw)
    rs = s.race(n, lambda i: h.http_request(
        stack.nginx.port, "POST", f"/submit/{form}", body, headers))
    return rs, boxes


def check_twins(rs, boxes, form, encoding, n):
    summary = s.answers_summary(rs)
    assert len(summary) == 1, f"{n} twins got different answers: {summary}"
    assert all(s.same_answer(rs[0], r) for r in rs), summary
    id = s.success_id(rs[0], form, encoding)
    d = boxes.one("inbox")
    assert str(d.msg["X-Formdrop-Id"]).strip() == id
    return id


def test_race_50_twins_one_message(st):
    """50 identical submissions at once, through nginx to 8 handler
    processes: one message, 50 identical answers."""
    tok = s.mint(st.key(), "contact", int(time.time()) - 10)
    rs, boxes = race_twins(st, "contact", 50, token=tok)
    check_twins(rs, boxes, "contact", "url", 50)
    # All handler workers are still there (none crashed or hung).
    assert len(h.pids_in_group(st.handler.proc.pid)) >= 9


def twins_in_flight(stack, form, n, hold=1.5):
    """n twins of one submission while the first of them is still
    delivering: the test holds the claim of its token locked (as a slow
    delivery would), then drops it as a delivery that failed would.
    (responses, Boxes)."""
    tok = s.mint(stack.key(), form, int(time.time()) - 10)
    claim = (stack.state / "once" /
             (s.once_key(form, s.parse_token(tok)["nonce"]) + ".claim"))
    fd = os.open(claim, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)

    def drop():
        claim.unlink(missing_ok=True)
        os.close(fd)
    timer = threading.Timer(hold, drop)
    timer.start()
    try:
        return race_twins(stack, form, n, token=tok, encoding="json")
    finally:
        timer.join()


def test_twins_in_flight_wait_for_first_answer(st):
    """Twins that arrive while the first is being delivered wait for it
    and get its answer (once_begin)."""
    rs, boxes = twins_in_flight(st, "contact", 8)
    check_twins(rs, boxes, "contact", "json", 8)


def test_twins_in_flight_shipped_form_not_rate_limited(make):
    """The same on the shipped contact form (rate = 5/60): the twins of a
    submission in flight are one submission and must get its answer, not
    429 (here 8 twins are a double click with 7 retries)."""
    sh = make(shipped=True, workers=8)
    rs, boxes = twins_in_flight(sh, "contact", 8)
    check_twins(rs, boxes, "contact", "json", 8)


@pytest.fixture(scope="module")
def idem(make):
    """contact with token = off (Idempotency-Key is its only key)."""
    return make({"contact": {"token": "off", "rate": None}}, workers=8)


def test_idempotency_key(idem):
    key = "order-7f3a9c1e-" + os.urandom(8).hex()
    r1, boxes, mark = send(idem, "contact", "json", None,
                           idempotency_key=key)
    id, _ = expect_inbox(idem, r1, "contact", "json", boxes, mark, CONTACT)
    r2, boxes, mark = send(idem, "contact", "json", None,
                           idempotency_key=key)
    assert s.same_answer(r1, r2), (r1, r2)
    boxes.nothing()
    # With curl too, as a separate client.
    r3 = idem.curl_post("contact", CONTACT, encoding="json",
                        idempotency_key=key)
    assert r3.json() == r1.json() == {"ok": True, "id": id}
    boxes.nothing()
    # Another key: another submission.  No key: every post delivers.
    r4, boxes, mark = send(idem, "contact", "url", None,
                           idempotency_key=key + "-2")
    assert s.success_id(r4, "contact", "url") != id
    boxes.one("inbox")
    for _ in range(2):
        r5, boxes, mark = send(idem, "contact", "url", None)
        expect_inbox(idem, r5, "contact", "url", boxes, mark, CONTACT)


def test_idempotency_key_reused_for_other_content(idem):
    """Another client (or a bug) sends other content with a key already
    used: refused with 422, never answered with the first submission's
    id (it was: Alice's order was dropped behind a success answer, found
    by review).  The first client's resend still gets its answer, in any
    encoding: the print is of the fields, not of the bytes."""
    key = "api-order-" + os.urandom(6).hex()
    mallory = dict(CONTACT, name="Mallory", message="decoy")
    r1, boxes, mark = send(idem, "contact", "json", None, fields=mallory,
                           idempotency_key=key)
    id, _ = expect_inbox(idem, r1, "contact", "json", boxes, mark, mallory)
    alice = dict(CONTACT, name="Alice", message="500 widgets, please.")
    r2, boxes, mark = send(idem, "contact", "json", None, fields=alice,
                           idempotency_key=key)
    doc = h.check_error(r2, 422, accept_json=True)
    assert "Idempotency-Key" in doc["error"] and "fields" not in doc, doc
    assert id not in r2.body.decode(), doc
    boxes.nothing()
    line = idem.outcome_since(mark)
    assert (line["status"], line["what"]) == (
        "422", "Idempotency-Key reused with other content"), line
    # Mallory's own resend, as multipart this time: the same submission.
    r3, boxes, mark = send(idem, "contact", "multipart", None,
                           fields=mallory, idempotency_key=key)
    assert s.success_id(r3, "contact", "multipart") == id
    boxes.nothing()


def test_token_spent_then_page_changed_is_refused(st, pool):
    """A page sent, then changed (Back, another quantity) and sent again
    with the same token: refused as a spent token naming the first
    submission (form.js sends the change only when asked again: see
    test_browser); answered with the first id, the change was lost behind
    a success.  The unchanged resend is still a duplicate."""
    tok = pool.take("order")
    r1, boxes, mark = send(st, "order", "json", tok)
    id, _ = expect_inbox(st, r1, "order", "json", boxes, mark, ORDER)
    changed = [(k, "5" if v == "2" else v) for k, v in ORDER]
    r2, boxes, mark = send(st, "order", "json", tok, fields=changed)
    doc = h.check_error(r2, 422, accept_json=True, fields=[s.TOKEN_FIELD])
    assert doc["fields"][s.TOKEN_FIELD] == "was already sent", doc
    assert doc["earlier_id"] == id, doc
    boxes.nothing()
    line = st.outcome_since(mark)
    assert (line["status"], line["what"]) == (
        "422", "token spent on other content"), line
    r3, boxes, mark = send(st, "order", "url", tok)
    assert s.success_id(r3, "order", "url") == id
    boxes.nothing()


def test_idempotency_key_with_spaces_and_invalid_keys(idem):
    # Spaces inside a key are part of it: twice, one delivery.
    key = "order 7f3a " + os.urandom(4).hex()
    r1, boxes, mark = send(idem, "contact", "json", None,
                           idempotency_key=key)
    expect_inbox(idem, r1, "contact", "json", boxes, mark, CONTACT)
    r2, boxes, mark = send(idem, "contact", "json", None,
                           idempotency_key=key)
    assert s.same_answer(r1, r2), (r1, r2)
    boxes.nothing()
    # A key that cannot be one is refused, not ignored (ignored, the
    # client's retry would deliver twice).
    for bad in ("x" * 256, "caf\u00e9".encode().decode("latin-1")):
        r, boxes, mark = send(idem, "contact", "json", None,
                              idempotency_key=bad)
        assert r.status == 400, r
        boxes.nothing()


def test_idempotency_key_cannot_take_a_token_nonce(st, pool):
    """Idempotency-Key values and token nonces are different namespaces:
    a post with a forged token and Idempotency-Key = the nonce of someone
    else's genuine token (order: delivered to .Junk) must not make that
    person's genuine order, sent afterwards, a "duplicate"."""
    tok = pool.take("order")
    nonce = s.parse_token(tok)["nonce"]
    r, boxes, mark = send(st, "order", "url", s.forge(tok, "mac"),
                          idempotency_key=nonce)
    spam_id, _ = expect_junk(st, r, "order", "url", boxes, mark,
                             "token forged", ORDER)
    r, boxes, mark = send(st, "order", "url", tok)
    id = s.success_id(r, "order", "url")
    assert id != spam_id and boxes.new_in("inbox"), (
        f"the genuine order was answered as a duplicate of the forged post "
        f"{spam_id} and not delivered: {boxes.changes()}")
    expect_inbox(st, r, "order", "url", boxes, mark, ORDER)


def test_idempotency_key_race_50(idem):
    key = "race-" + os.urandom(12).hex()
    rs, boxes = race_twins(idem, "contact", 50, idempotency_key=key)
    check_twins(rs, boxes, "contact", "url", 50)


def test_records_survive_restart(st, pool, idem):
    tok = pool.take("order")
    r1, boxes, mark = send(st, "order", "url", tok)
    expect_inbox(st, r1, "order", "url", boxes, mark, ORDER)
    key = "restart-" + os.urandom(8).hex()
    k1, kboxes, mark = send(idem, "contact", "json", None,
                            idempotency_key=key)
    expect_inbox(idem, k1, "contact", "json", kboxes, mark, CONTACT)
    st.restart_handler()
    idem.restart_handler()
    r2, boxes, _ = send(st, "order", "url", tok)
    assert s.same_answer(r1, r2), (r1, r2)
    boxes.nothing()
    k2, kboxes, _ = send(idem, "contact", "json", None, idempotency_key=key)
    assert s.same_answer(k1, k2), (k1, k2)
    kboxes.nothing()


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_validation_error_keeps_token(st, pool, encoding):
    tok = pool.take("contact")
    bad = dict(CONTACT, email="not an address")
    r, boxes, mark = send(st, "contact", encoding, tok, fields=bad)
    h.check_error(r, 422, accept_json=s.is_json(encoding), fields=["email"])
    boxes.nothing()
    assert st.outcome_since(mark)["what"] == "1 invalid field(s)"
    r1, boxes, mark = send(st, "contact", encoding, tok)
    id, _ = expect_inbox(st, r1, "contact", encoding, boxes, mark, CONTACT)
    r2, boxes, _ = send(st, "contact", encoding, tok)
    assert s.same_answer(r1, r2)
    boxes.nothing()


# ============================================================== honeypot

@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("hp", ["empty", "filled", "spaces", "nul",
                                "absent"])
def test_honeypot(st, pool, form, encoding, hp):
    # "nul": one NUL byte, which a copy of the value took for the end of
    # an empty string.
    value = {"empty": "", "filled": "http://cheap.example/",
             "spaces": "  ", "nul": "\0", "absent": None}[hp]
    r, boxes, mark = send(st, form, encoding, pool.take(form), hp=value)
    if hp == "empty":
        expect_inbox(st, r, form, encoding, boxes, mark, FIELDS[form])
    else:
        reason = ("honeypot field missing" if hp == "absent"
                  else "honeypot field filled")
        expect_junk(st, r, form, encoding, boxes, mark, reason, FIELDS[form])


@pytest.mark.parametrize("form", FORMS)
def test_honeypot_sent_as_file(st, pool, form):
    """A one-byte file under the honeypot's name fills it: a file's value
    is in the spool, not an empty string."""
    pairs = FIELDS[form]
    pairs = list(pairs.items() if isinstance(pairs, dict) else pairs)
    fields = pairs + [(s.HONEYPOT, "x.txt", "text/plain", b"x")]
    r, boxes, mark = send(st, form, "multipart", pool.take(form), hp=None,
                          fields=fields)
    expect_junk(st, r, form, "multipart", boxes, mark,
                "honeypot field filled", FIELDS[form])


def test_junk_is_maildir_plus_plus_folder(st, pool):
    send(st, "contact", "url", pool.take("contact"), hp="x")
    for form in FORMS:
        junk = st.maildir(form) / ".Junk"
        for sub in ("tmp", "new", "cur"):
            assert (junk / sub).is_dir(), junk / sub
        assert (junk / "maildirfolder").is_file()
        assert os.listdir(junk / "tmp") == []
        assert junk.stat().st_mode & 0o077 == 0, oct(junk.stat().st_mode)


@pytest.fixture
def dovecot(request):
    """start(maildir copy) -> s.Doveadm with a running Dovecot (auth only,
    no protocols) as root; mail as nobody (Dovecot refuses UID 0)."""
    _need("/usr/sbin/dovecot", "dovecot")
    _need(s.DOVEADM, "doveadm")
    if not h.is_root():
        pytest.skip("Dovecot is started as root here")
    try:
        nobody = pwd.getpwnam("nobody")
        pwd.getpwnam("dovenull")
        pwd.getpwnam("dovecot")
    except KeyError as e:
        pytest.skip(f"no user: {e}")

    def start(maildir):
        root = h.make_tmpdir("fd-screen-dv-")
        request.addfinalizer(lambda: _cleanup(root))
        md = root / "Maildir"
        shutil.copytree(maildir, md)
        for d, _, files in os.walk(md):
            os.chown(d, nobody.pw_uid, nobody.pw_gid)
            for f in files:
                os.chown(os.path.join(d, f), nobody.pw_uid, nobody.pw_gid)
        dv = s.Doveadm(root, md, mail_user="nobody")
        os.chmod(root, 0o755)
        with open(dv.root / "stderr.log", "ab") as out:
            proc = subprocess.Popen(dv.command(), stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=out,
                                    env=h.clean_env(), start_new_session=True)
        request.addfinalizer(lambda: h.stop_process(proc))
        try:
            h.wait_until(dv.ready, proc=proc, what="dovecot auth socket",
                         log=dv.log)
        except RuntimeError as e:
            pytest.skip(f"Dovecot does not start here: {e}")
        return dv
    return start


def test_dovecot_reads_junk_folder(st, pool, dovecot):
    ids = {}
    for hp, where in (("", "inbox"), ("filled", "junk"), (None, "junk2")):
        r, boxes, mark = send(st, "contact", "url", pool.take("contact"),
                              hp=hp)
        ids[where] = s.success_id(r, "contact", "url")
    dv = dovecot(st.maildir("contact"))
    rc, out, err = dv.run("mailbox", "list", "-u", "fd")
    if rc != 0:
        pytest.skip(f"doveadm cannot be made to work here: {err.strip()}")
    assert set(out.split()) == {"INBOX", "Junk"}, out
    rc, out, err = dv.run("fetch", "-u", "fd",
                          "hdr.x-formdrop-id hdr.x-formdrop-spam",
                          "mailbox", "Junk", "all")
    assert rc == 0, err
    assert f"hdr.x-formdrop-id: {ids['junk']}" in out, out
    assert f"hdr.x-formdrop-id: {ids['junk2']}" in out, out
    assert "hdr.x-formdrop-spam: yes (honeypot field filled)" in out, out
    assert "hdr.x-formdrop-spam: yes (honeypot field missing)" in out, out
    assert ids["inbox"] not in out
    junk = st.maildir("contact") / ".Junk"
    n = len(os.listdir(junk / "new")) + len(os.listdir(junk / "cur"))
    assert out.count("hdr.x-formdrop-id:") == n, out
    rc, out, err = dv.run("fetch", "-u", "fd", "hdr.x-formdrop-id",
                          "mailbox", "INBOX", "all")
    assert rc == 0 and f"hdr.x-formdrop-id: {ids['inbox']}" in out, (out, err)
    assert ids["junk"] not in out


# ============================================================ rate limits

@pytest.fixture(scope="module")
def rl(make):
    return make({"contact": {"token_min_age": 1, "rate": "3/60"},
                 "order": {"token_min_age": 1, "rate": None}})


@pytest.fixture(scope="module")
def rl_pool(rl):
    return Pool(rl)


def cgi_send(stack, tok, addr, encoding="url"):
    return stack.cgi_post("contact", CONTACT, addr, token=tok,
                          encoding=encoding)


def check_429(r, encoding="url"):
    h.check_error(r, 429, accept_json=s.is_json(encoding))
    ra = r.header("Retry-After")
    assert ra is not None and ra.isdigit(), r
    assert 0 < int(ra) <= 60, ra


def test_rate_limit_ipv4(rl, rl_pool):
    for i in range(3):
        r, boxes, mark = send(rl, "contact", "url", rl_pool.take("contact"))
        expect_inbox(rl, r, "contact", "url", boxes, mark, CONTACT)
    for enc in ("url", "json"):
        r, boxes, mark = send(rl, "contact", enc, rl_pool.take("contact"))
        check_429(r, enc)
        boxes.nothing()
        assert rl.outcome_since(mark)["what"] == "rate limit"
    # Another address is served: over FastCGI with its REMOTE_ADDR.
    r = cgi_send(rl, rl_pool.take("contact"), "192.0.2.7")
    assert r.status == 303, r


def test_rate_limit_repeat_not_counted(rl, rl_pool):
    addr = "198.51.100.20"
    toks = [rl_pool.take("contact") for _ in range(4)]
    answers = []
    for t in toks[:3]:
        r = cgi_send(rl, t, addr)
        assert r.status == 303, r
        answers.append(r)
    r = cgi_send(rl, toks[3], addr)
    check_429(r)
    boxes = s.Boxes(rl.maildir("contact"))
    for t, first in zip(toks[:3], answers):
        again = cgi_send(rl, t, addr)
        assert (again.status, again.header("Location")) == (
            303, first.header("Location")), again
    boxes.nothing()
    check_429(cgi_send(rl, toks[3], addr))


def test_rate_limit_ipv6_per_64(rl, rl_pool):
    for i in range(3):
        assert cgi_send(rl, rl_pool.take("contact"),
                        "2001:db8::1").status == 303
    # Same /64: the same bucket.
    check_429(cgi_send(rl, rl_pool.take("contact"), "2001:db8::2"))
    check_429(cgi_send(rl, rl_pool.take("contact"), "2001:db8::ffff:1"))
    # Another /64: its own bucket.
    assert cgi_send(rl, rl_pool.take("contact"),
                    "2001:db8:0:1::1").status == 303
    # Other forms have their own buckets (order has no limit here).
    r = rl.cgi_post("order", ORDER, "2001:db8::3", token=rl_pool.take("order"))
    assert r.status == 303, r


def test_rate_limit_ipv4_mapped_addresses(rl, rl_pool):
    """A server on a dual-stack socket reports IPv4 clients as
    ::ffff:a.b.c.d.  Those are IPv4 addresses (one bucket each), not one
    IPv6 /64 shared by every IPv4 client of the site."""
    for i in range(3):
        assert cgi_send(rl, rl_pool.take("contact"),
                        "::ffff:203.0.113.10").status == 303
    check_429(cgi_send(rl, rl_pool.take("contact"), "::ffff:203.0.113.10"))
    r = cgi_send(rl, rl_pool.take("contact"), "::ffff:203.0.113.11")
    assert r.status == 303, (
        f"another IPv4 client (::ffff:203.0.113.11) shares the bucket of "
        f"::ffff:203.0.113.10: {r!r}")


# ============================================================== autofill

# playwright-core comes from the browser tests' package (tests/e2e/browser:
# package.json pins it, node_modules is not committed); the script is ours.
BROWSER_DIR = h.REPO / "tests" / "e2e" / "browser"
SCRIPT = h.REPO / "tests" / "e2e" / "screening_browser" / "autofill.js"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def _playwright_core():
    """tests/e2e/browser/node_modules, installed from its package.json
    (npm ci) when missing; never a browser download."""
    mods = BROWSER_DIR / "node_modules"
    if (mods / "playwright-core").is_dir():
        return mods
    npm = shutil.which("npm")
    if npm is None or not (BROWSER_DIR / "package.json").exists():
        return None
    lock = (BROWSER_DIR / "package-lock.json").exists()
    env = h.clean_env(PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        if k in os.environ:         # npm may need the proxy clean_env drops
            env[k] = os.environ[k]
    p = subprocess.run([npm, "ci" if lock else "install", "--no-audit",
                        "--no-fund"], cwd=BROWSER_DIR, capture_output=True,
                       timeout=300, env=env)
    return mods if p.returncode == 0 and (mods / "playwright-core").is_dir() \
        else None


def devserver(request, edits=None):
    _need(str(s.DEVSERVER), "formdrop-devserver (make)")
    root = h.make_tmpdir("fd-screen-dev-")
    request.addfinalizer(lambda: _cleanup(root))
    forms = s.forms_copy(root, edits or {"contact": {"token_min_age": 1,
                                                     "rate": None}})
    conf, maildirs = h.write_config(root, forms=forms)
    dev = s.Devserver(root, conf)
    request.addfinalizer(dev.stop)
    return dev.start(), root, maildirs


def test_devserver_relay_reliable(request):
    """formdrop-devserver, one client, one request at a time: the page it
    renders carries a token, and the post that follows reaches the handler
    (no "502 The form handler is not running")."""
    dev, root, maildirs = devserver(request)
    key = s.read_key(root / "state" / "token.key")
    got = []
    for i in range(12):
        r = h.http_request(dev.port, "GET", "/contact.html")
        m = re.search(rb'name="_token" value="([^"]*)"', r.body)
        rendered = m is not None and m.group(1).startswith(b"v1.contact.")
        tok = s.mint(key, "contact", int(time.time()) - 5)
        body, headers = s.request_parts(CONTACT, token=tok, encoding="json")
        p = h.http_request(dev.port, "POST", "/submit/contact", body, headers)
        got.append(("rendered" if rendered else "NOT RENDERED", p.status))
    bad = [g for g in got if g != ("rendered", 200)]
    assert not bad, f"{len(bad)} of 12 page+post rounds failed: {got}"
    assert len(os.listdir(maildirs["contact"] / "new")) == 12


def test_autofill_keeps_honeypot_empty(request):
    _need(CHROMIUM, "chromium")
    _need(str(s.DEVSERVER), "formdrop-devserver (make)")
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed")
    mods = _playwright_core()
    if mods is None:
        pytest.skip("playwright-core (tests/e2e/browser) not installable")
    dev, root, maildirs = devserver(request)
    p = subprocess.run([node, str(SCRIPT), dev.base, str(root / "profile"),
                        "1"], capture_output=True, timeout=120,
                       env=h.clean_env(CHROMIUM=CHROMIUM,
                                       NODE_PATH=str(mods)),
                       cwd=root)
    assert p.returncode == 0 and p.stdout.strip(), p
    out = json.loads(p.stdout.decode().strip().splitlines()[-1])
    assert "error" not in out, out["error"]
    if out.get("retries"):
        warnings.warn(f"the browser had to send {out['retries']} time(s) "
                      f"again (devserver 502, see test_devserver_relay_"
                      f"reliable)")
    # The devserver rendered a token into the page.
    assert s.parse_token(out["rendered_token"])["form"] == "contact"
    assert out["first_hp"] == "" and out["second_hp"] == "", out
    # The browser's own autofill (DevTools Autofill.trigger) fills name and
    # email and leaves the decoy alone.
    na = out["native_autofill"]
    if "error" not in na:
        assert na == {"name": "Ann Autofill",
                      "email": "ann.autofill@example.org", "fd_hp": ""}, na
    # A filler that fills what a person sees never sees the decoy.
    assert out["seen"] == ["name", "email", "message"], out
    box = maildirs["contact"]
    got = {}
    for name in os.listdir(box / "new"):
        d = h.Delivered(box / "new" / name)
        got[str(d.msg["X-Formdrop-Id"]).strip()] = d
    assert out["third_hp"] == "", out
    # Back brings the page with the token it was sent with: the change is
    # refused as already sent, naming the second, then sent as new.
    assert out["rendered_token"] != out["second_token"], out
    assert out["third_token"] == out["second_token"], out
    assert f"(reference {out['second_id']})" in out["third_summary"], out
    ids = [out["first_id"], out["second_id"], out["third_id"]]
    assert len(set(ids)) == 3 and set(got) == set(ids), (got, out)
    assert got[out["third_id"]].data["fields"]["message"] == (
        "Third message, after going back.")
    for id, d in got.items():
        assert s.spam_reason(d) is None
        assert d.data["fields"]["name"] == "Ann Autofill"
        assert d.data["fields"]["email"] == "ann.autofill@example.org"
    assert s.listdir(box / ".Junk" / "new") == set()
    # The saved profile keeps what was typed (the data autofill offers),
    # and nothing for the decoy (autocomplete="off").
    web = root / "profile" / "Default" / "Web Data"
    if web.exists():
        import sqlite3
        con = sqlite3.connect(f"file:{web}?mode=ro", uri=True)
        try:
            rows = set(con.execute("select name, value from autofill"))
        except sqlite3.Error:
            rows = None
        finally:
            con.close()
        if rows is not None:
            assert ("name", "Ann Autofill") in rows, rows
            assert not any(n == s.HONEYPOT for n, _ in rows), rows
