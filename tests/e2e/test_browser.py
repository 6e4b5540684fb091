"""
The demo forms in a real browser: Debian's headless chromium driven by
playwright-core (tests/e2e/browser/drive.js; npm installs playwright-core
there when node_modules is missing, no browser is ever downloaded)
against formdrop-devserver over www/ with the shipped forms (form token,
decoy field, rate limit) and an orders mailbox that signs and encrypts to
the demo certificates of scripts/demo-certs.sh.

  - an order typed into /order.html with two item rows and a file lands on
    the thank-you page; the message found in the Maildir decrypts with the
    merchant's key, verifies against the demo CA, and its JSON copy holds
    exactly what was typed and the file's SHA-256;
  - the contact form with an address the browser accepts but the handler
    refuses: with JavaScript the JSON error appears beside the email field
    (#error-email); without, the handler's 422 page names the field;
    nothing is delivered either way.

Screenshots go to tests/e2e/artifacts/.
"""

import email
import email.policy
import hashlib
import json
import os
import shutil
import subprocess

import pytest

import devserver_helpers as dh
import e2e_helpers as h

BROWSER_DIR = h.REPO / "tests" / "e2e" / "browser"
ARTIFACTS = h.REPO / "tests" / "e2e" / "artifacts"
DEMO_CERTS = h.REPO / "scripts" / "demo-certs.sh"
CHROMIUM = "/usr/bin/chromium"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
NODE = shutil.which("node")
NPM = shutil.which("npm")
MIN_AGE_MS = 4000       # the shipped forms refuse a token younger than 3 s


# ------------------------------------------------------------ set-up

def _need_tools():
    if not shutil.which("chromium") or not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed: apt-get install -y chromium "
                    "(Debian's package; the tests never download a browser)")
    if not NODE or not NPM:
        pytest.skip("node and npm are not installed: apt-get install -y "
                    "nodejs npm")
    if not dh.DEVSERVER.exists():
        pytest.fail(f"{dh.DEVSERVER} does not exist: build it with make "
                    "first", pytrace=False)


def _need_playwright():
    if (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        return
    lock = (BROWSER_DIR / "package-lock.json").exists()
    cmd = [NPM, "ci" if lock else "install", "--no-audit", "--no-fund"]
    env = h.clean_env(PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        if k in os.environ:         # npm may need the proxy clean_env drops
            env[k] = os.environ[k]
    p = subprocess.run(cmd, cwd=BROWSER_DIR, capture_output=True, env=env,
                       timeout=300)
    if p.returncode != 0:
        pytest.skip("npm could not install playwright-core:\n"
                    + p.stderr.decode(errors="replace")[-2000:])


class Site:
    def __init__(self, root, pki, conf, maildirs, devserver):
        self.root, self.pki, self.conf = root, pki, conf
        self.maildirs, self.ds = maildirs, devserver


def _start_site(request, prefix, forms, with_pki=False):
    """A devserver over www/ and its handler in a fresh folder, stopped
    and removed when the module ends.  forms: a folder, or a function
    that makes one in the root; with_pki: the demo PKI signs and encrypts
    the orders mailbox."""
    _need_tools()
    _need_playwright()
    root = h.make_tmpdir(prefix)
    if not os.environ.get("FORMDROP_E2E_KEEP"):
        request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
    pki = root / "pki" if with_pki else None
    conf, maildirs = h.write_config(
        root, forms=forms(root) if callable(forms) else forms,
        mailbox_extra=_demo_pki(pki) if pki else None)
    d = dh.Devserver(root, conf=conf, workers=2)
    request.addfinalizer(d.stop)
    d.start()
    ARTIFACTS.mkdir(exist_ok=True)
    return Site(root, pki, conf, maildirs, d)


def _demo_pki(pki):
    """The demo PKI made in pki; [mailbox orders] lines that use it."""
    p = subprocess.run(["sh", str(DEMO_CERTS), str(pki)], capture_output=True,
                       timeout=120, env=h.clean_env())
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    return {"orders": [
        f"recipients = {pki / 'merchant.crt'} {pki / 'staff.crt'}",
        f"escrow = {pki / 'escrow.crt'}",
        f"sign_cert = {pki / 'gateway-chain.crt'}",
        f"sign_key = {pki / 'gateway.key'}",
        "encrypted_subject = Order {{id}} (encrypted)"]}


@pytest.fixture(scope="module")
def site(request):
    # The shipped forms as they are: token, decoy and rate limit included.
    return _start_site(request, "fd-browser-", h.TEMPLATES, with_pki=True)


def drive(site, scenario, name, **spec):
    """Run drive.js with a fresh chromium profile; its JSON result."""
    profile = site.root / f"profile-{name}"
    spec.update(scenario=scenario, base=site.ds.base,
                userDataDir=str(profile), artifacts=str(ARTIFACTS),
                executablePath=CHROMIUM, minAgeMs=MIN_AGE_MS)
    spec_file = site.root / f"spec-{name}.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    env = h.clean_env(PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1", HOME=str(
        site.root))
    p = subprocess.run([NODE, str(BROWSER_DIR / "drive.js"), str(spec_file)],
                       cwd=BROWSER_DIR, capture_output=True, env=env,
                       timeout=150)
    assert p.returncode == 0, (
        f"drive.js {scenario} failed:\n{p.stderr.decode(errors='replace')}\n"
        f"devserver log:\n{site.ds.log_text()[-3000:]}")
    return json.loads(p.stdout.decode().strip().splitlines()[-1])


def all_files(folder):
    """Every file under folder (Maildirs, .Junk included), relative."""
    out = set()
    for dirpath, _, files in os.walk(folder):
        for f in files:
            out.add(os.path.relpath(os.path.join(dirpath, f), folder))
    return out


def openssl(args, data=None, what="openssl"):
    p = subprocess.run([OPENSSL, *map(str, args)], input=data,
                       capture_output=True, timeout=h.TIMEOUT,
                       env=h.clean_env())
    assert p.returncode == 0, f"{what} failed:\n" + p.stderr.decode(
        errors="replace")
    return p.stdout


# ------------------------------------------------------------------ order

ORDER = {
    "name": "Zoë Browser-Käufer",
    "email": "zoe.buyer@example.org",
    "phone": "+49 30 1234567",
    "address": "Straße des 17. Juni 135\n10623 Berlin\nGermany",
    "items": [["Widget — large “deluxe”", "2"], ["Gadget ünï 日本", "15"]],
    "notes": "Please ring twice.\nLeave it with the neighbour ☺ if nobody "
             "is in.",
}


def test_order_in_chromium_arrives_encrypted_and_signed(site):
    attachment = site.root / "delivery-plan.pdf"
    blob = (b"%PDF-1.4\n% formdrop browser test\n" + bytes(range(256)) * 40
            + os.urandom(4096) + b"\n%%EOF\n")
    attachment.write_bytes(blob)
    before = all_files(site.root / "spool")
    out = drive(site, "order", "order", javaScript=True, values=ORDER,
                attachment=str(attachment))
    id = out["id"]
    assert out["pageStatus"] == 200, out
    assert out["token"], "order.html was served without a form token"
    assert h.ID_RE.match(id or ""), out
    assert out["url"].endswith(f"/thanks.html?id={id}"), out
    assert out["ref"] == f" (reference {id})", out
    assert out["keepShown"], out
    assert out["heading"] == "Thank you"
    assert ["POST", "/submit/order", 200] in out["requests"], out["requests"]
    unexpected = [r for r in out["requests"] if r[2] >= 400 and
                  r[1] != "/favicon.ico"]
    assert not unexpected, unexpected
    for shot in ("order-form-filled.png", "order-thanks.png"):
        png = (ARTIFACTS / shot).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000, shot

    # Exactly one new file, in orders/new (not in .Junk: the token passed).
    new = all_files(site.root / "spool") - before
    assert len(new) == 1, new
    rel = new.pop()
    assert rel.startswith("orders/new/"), rel
    path = site.root / "spool" / rel
    raw = path.read_bytes()
    outer = email.message_from_bytes(raw, policy=email.policy.default)
    assert outer.get_content_type() == "application/pkcs7-mime", outer
    assert str(outer["Subject"]) == f"Order {id} (encrypted)"
    for secret in (b"Browser", b"zoe.buyer", b"Widget", "Straße".encode(),
                   b"delivery-plan"):
        assert secret not in raw, f"{secret!r} readable in the stored message"

    pki = site.pki
    signed = openssl(["cms", "-decrypt", "-in", path, "-inkey",
                      pki / "merchant.key", "-recip", pki / "merchant.crt"],
                     what="openssl cms -decrypt (merchant)")
    inner_raw = openssl(["cms", "-verify", "-CAfile", pki / "ca.crt"],
                        data=signed, what="openssl cms -verify")
    inner = email.message_from_bytes(inner_raw, policy=email.policy.default)
    assert str(inner["Subject"]) == f"Order from {ORDER['name']}", inner[
        "Subject"]
    assert "X-Formdrop-Spam" not in inner
    json_parts = [p for p in inner.walk()
                  if p.get_filename() == "submission.json"]
    assert len(json_parts) == 1, [p.get_content_type() for p in inner.walk()]
    data = json.loads(json_parts[0].get_payload(decode=True).decode("utf-8"))
    assert data["form"] == "order" and data["id"] == id, data
    typed = {k: ORDER[k] for k in ("name", "email", "phone", "address",
                                   "notes")}
    typed["item"] = [i for i, _ in ORDER["items"]]
    typed["quantity"] = [q for _, q in ORDER["items"]]
    fields = dict(data["fields"])
    # The file field may be listed by its file name; the file itself is in
    # "files".  Nothing else: no token, no decoy, no empty third row.
    if "attachment" in fields:
        assert fields.pop("attachment") in ("delivery-plan.pdf", ""), data
    # Browsers send a textarea's line breaks as CRLF (HTML form
    # submission); the JSON copy keeps them as sent.
    fields = {k: v.replace("\r\n", "\n") if isinstance(v, str) else v
              for k, v in fields.items()}
    assert fields == typed, json.dumps(data["fields"], ensure_ascii=False)
    sha = hashlib.sha256(blob).hexdigest()
    assert len(data["files"]) == 1, data["files"]
    f = data["files"][0]
    assert (f["field"], f["filename"], f["type"], int(f["size"]),
            f["sha256"].lower()) == ("attachment", "delivery-plan.pdf",
                                     "application/pdf", len(blob), sha), f
    atts = [p for p in inner.walk() if p.get_filename() == "delivery-plan.pdf"]
    assert len(atts) == 1
    assert hashlib.sha256(atts[0].get_payload(decode=True)).hexdigest() == sha
    text = next(p for p in inner.walk()
                if p.get_content_type() == "text/plain").get_content()
    for v in (ORDER["name"], ORDER["email"], "2 x Widget — large “deluxe”",
              "15 x Gadget ünï 日本", "Straße des 17. Juni 135"):
        assert v in text, (v, text)

    # The escrow key reads it too; the gateway's signature is checked
    # above against the demo CA.
    openssl(["cms", "-decrypt", "-in", path, "-inkey", pki / "escrow.key",
             "-recip", pki / "escrow.crt"], what="decrypt with escrow key")

    # Last, as it is about the page rather than the delivery: the page
    # runs without errors in the console (a failed favicon.ico aside).
    errors = [e for e in out["consoleErrors"]
              if not e.startswith("Failed to load resource")]
    assert errors == [], errors


# ---------------------------------------------------------------- contact

BAD = {"name": "Erin Error", "email": "erin@localhost",     # no dot: refused
       "message": "This must not be delivered.\nZweite Zeile ✓"}


def test_contact_error_beside_field_with_javascript(site):
    before = all_files(site.root / "spool")
    out = drive(site, "contact-error", "contact-js", javaScript=True,
                values=BAD)
    assert out["token"], "contact.html was served without a form token"
    assert out["status"] == 422, out
    assert out["contentType"].startswith("application/json"), out
    doc = out["json"]
    assert doc["ok"] is False and set(doc["fields"]) == {"email"}, doc
    assert out["errorEmail"] == doc["fields"]["email"], out
    assert "email" in out["errorEmail"].lower(), out
    assert out["errorIds"] == ["error-email"], out
    assert out["ariaInvalid"] == "true"
    assert out["describedBy"] == "error-email"
    assert out["nextToEmail"] == "error-email", "error not beside the field"
    assert out["summaryHidden"] is False and out["summary"] == doc["error"]
    assert out["url"].endswith("/contact.html"), out["url"]
    assert out["typedKept"] == BAD["message"]
    errors = [e for e in out["consoleErrors"]
              if not e.startswith("Failed to load resource")]
    assert errors == [], errors
    unexpected = [r for r in out["requests"] if r[2] >= 400 and
                  r[1] not in ("/favicon.ico", "/submit/contact")]
    assert not unexpected, unexpected
    assert all_files(site.root / "spool") == before, "something was delivered"
    assert (ARTIFACTS / "contact-error-js.png").stat().st_size > 5000


def test_contact_error_page_without_javascript(site):
    before = all_files(site.root / "spool")
    out = drive(site, "contact-error", "contact-nojs", javaScript=False,
                values=BAD)
    assert out["token"], "without JavaScript the token must be in the page"
    assert out["status"] == 422, out
    assert out["contentType"].startswith("text/html"), out
    assert out["url"].endswith("/submit/contact"), out["url"]
    text = out["text"]
    assert "Email address" in text or "email" in text.lower(), text
    assert "must be an email address" in text, text
    for other in ("Your name", "Message"):
        # Only the failing field is listed as an error.
        assert f"{other}:" not in text and f"{other} must" not in text, text
    assert "erin@localhost" not in out["html"] or "&" not in BAD["email"]
    assert all_files(site.root / "spool") == before, "something was delivered"
    assert (ARTIFACTS / "contact-error-nojs.png").stat().st_size > 5000


def test_row_error_marks_the_row_it_is_in(site):
    """The handler's error for row 2 ("Quantity is required in row 2")
    is shown beside row 2's quantity and focuses it; the page used to
    mark the first quantity, which was filled and valid."""
    box = site.maildirs["orders"]
    before = set(os.listdir(box / "new"))
    values = dict(ORDER, items=[["Widget", "2"], ["Gadget", ""]])
    out = drive(site, "order-row-error", "row-error", values=values)
    assert out["status"] == 422, out
    assert out["json"]["rows"] == {"quantity": 2}, out["json"]
    assert out["invalidQuantity"][:3] == [False, True, False], out
    assert out["errorAfter"] == 1 and out["focused"] == 1, out
    assert out["errorText"] == "is required in row 2", out
    assert set(os.listdir(box / "new")) == before


def test_contact_sent_without_javascript_names_its_reference(site):
    """A plain form post ends on the thank-you page by the handler's 303;
    without script the page cannot print the id, so it says where the
    reference is instead of asking to keep one it does not show."""
    box = site.maildirs["contact"]
    before = set(os.listdir(box / "new"))
    out = drive(site, "contact-timed", "sent-nojs", javaScript=False,
                sendAfterMs=MIN_AGE_MS + 500, values={
                    "name": "Nora Noscript", "email": "nora@example.org",
                    "message": "Sent without JavaScript."})
    assert h.ID_RE.match(out["id"] or ""), out
    text = out["text"]
    assert "We received your submission." in text, text
    assert "part after id= in this page's address" in text, text
    assert "Keep the reference" not in text, text
    new = set(os.listdir(box / "new")) - before
    assert len(new) == 1, (new, out)
    d = h.Delivered(box / "new" / new.pop())
    assert str(d.msg["X-Formdrop-Id"]).strip() == out["id"]


def _order_files(site):
    box = site.maildirs["orders"]
    junk = box / ".Junk" / "new"
    return (set(os.listdir(box / "new")),
            set(os.listdir(junk)) if junk.exists() else set())


def test_page_without_token_fetches_one_before_sending(site):
    """The page as nginx serves it (literal {{token}}) whose token fetch
    at load was lost: it said "could not get ready", then sent the
    placeholder, and the order went to .Junk behind a thank-you page."""
    new0, junk0 = _order_files(site)
    out = drive(site, "order-no-token", "no-token",
                rawPage=str(dh.WWW / "order.html"),
                values=dict(ORDER, items=[["Widget", "1"]]))
    assert "could not get ready" in out["summaryAtLoad"], out
    assert out["postedToken"].startswith("v1.order."), out
    new1, junk1 = _order_files(site)
    assert junk1 == junk0, "the order went to the spam folder"
    assert len(new1 - new0) == 1, out


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_back_and_send_again_is_one_order(site, js):
    """Sent, Back, Send again: the page's token is the one already sent
    (restored by form.js; kept by the browser's history copy without
    script), so the order is delivered once and both answers carry the
    same reference."""
    new0, _ = _order_files(site)
    out = drive(site, "order-back-resend", f"back-resend-{js}",
                javaScript=js, values=dict(ORDER, items=[["Widget", "1"]]))
    assert out["nameKept"] == ORDER["name"], out
    assert h.ID_RE.match(out["firstId"] or ""), out
    assert out["secondId"] == out["firstId"], out
    new1, _ = _order_files(site)
    assert len(new1 - new0) == 1, out


def test_lost_answer_then_change_says_it_arrived(site):
    """The answer to a delivered order lost, then a change sent: the page
    used to take a new token at once and deliver a second order, telling
    the customer of one.  It now names the first (its reference) and
    sends the change only when asked again."""
    new0, _ = _order_files(site)
    out = drive(site, "order-answer-lost", "answer-lost",
                values=dict(ORDER, items=[["Widget", "1"]]))
    first = out["firstAnswer"]["id"]
    assert out["secondStatus"] == 422, out
    assert f"already sent once (reference {first})" in out["summary"], out
    assert "press Send again" in out["summary"], out
    assert out["thirdId"] != first, out
    new1, _ = _order_files(site)
    assert len(new1 - new0) == 2, out


def _short_token_forms(root):
    forms = root / "forms"
    shutil.copytree(h.TEMPLATES, forms)
    contact = forms / "contact.form"
    contact.write_text(contact.read_text().replace(
        "token    = required\n", "token    = required\ntoken_max_age = 8\n"))
    return forms


@pytest.fixture(scope="module")
def short_site(request):
    """The shipped forms, but contact's token lives 8 s (3 s minimum)."""
    return _start_site(request, "fd-browser-short-", _short_token_forms)


@pytest.mark.parametrize("when, after_ms", [("at-once", 0),
                                            ("page-left-open", 11000)])
def test_token_age_never_costs_the_customer(short_site, when, after_ms):
    """Sent faster than a person (token too young) or from a page left
    open past the token's life: the page waits or takes a new token, and
    the message is in the inbox, sent once (the page used to show "sent
    too quickly" or "this page has expired", and reloading as told lost
    what was typed)."""
    box = short_site.maildirs["contact"]
    before = set(os.listdir(box / "new"))
    out = drive(short_site, "contact-timed", f"timed-{when}",
                sendAfterMs=after_ms, values={
                    "name": f"Tess Timed {when}", "email": "tess@example.org",
                    "message": f"Sent {when}."})
    posts = [r for r in out["requests"] if r[0] == "POST"]
    assert [r[2] for r in posts] == [200], out["requests"]
    new = set(os.listdir(box / "new")) - before
    assert len(new) == 1, (new, out)
    d = h.Delivered(box / "new" / new.pop())
    assert str(d.msg["X-Formdrop-Id"]).strip() == out["id"]
    assert d.data["fields"]["message"] == f"Sent {when}."
    junk = box / ".Junk" / "new"
    assert not junk.exists() or os.listdir(junk) == []


def test_handler_down_said_in_words(tmp_root):
    """The devserver cannot reach the handler and answers with its 502
    page: the form says the shop could not take it, keeps what was typed,
    and the script throws nothing (it took the page for JSON and said
    "check your connection")."""
    _need_tools()
    _need_playwright()
    d = dh.Devserver(tmp_root, handler=f"unix:{tmp_root / 'nobody.sock'}")
    d.start()
    try:
        site = Site(tmp_root, None, None, {}, d)
        out = drive(site, "contact-down", "down", values={
            "name": "Dora Down", "email": "dora@example.org",
            "message": "Is anyone there?"})
    finally:
        d.stop()
    assert "could not get ready" in out["summaryAtLoad"], out
    assert "could not take the form just now (error 502)" in \
        out["summary"], out
    assert out["typedKept"] == "Is anyone there?"
    assert out["url"].endswith("/contact.html"), out
    errors = [e for e in out["consoleErrors"]
              if not e.startswith("Failed to load resource")]
    assert errors == [], errors
