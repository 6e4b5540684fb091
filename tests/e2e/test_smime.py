"""
S/MIME end to end: orders submitted with curl through nginx to the real
handler, whose orders mailbox signs with the gateway key and encrypts to
the merchant (RSA-2048), staff (EC P-256) and escrow (RSA-3072)
certificates of the demo PKI (scripts/demo-certs.sh).  The stored message
is taken apart with the merchant's tools: openssl cms (each key decrypts,
the signature verifies against the demo CA) and GnuPG's gpgsm; the
decrypted entity is compared field by field with a plain delivery of the
same submission.  Also: no plaintext byte on disk (even when delivery
fails half-way), tampering detected, the encryption policies of a form,
key types and ciphers.
"""

import datetime
import email
import hashlib
import email.policy
import os
import re
import shutil
import tempfile
import time

import pytest

import e2e_helpers as h
import smime_helpers as s

MARKER = "XyzzyMarker-7f3a9c1e"


def _need_tools():
    for path, what in ((h.NGINX, "nginx"), (s.OPENSSL, "openssl")):
        if not os.path.exists(path):
            pytest.skip(f"{what} not installed ({path})")
    if not h.HANDLER.exists():
        pytest.fail(f"{h.HANDLER} does not exist: build it with make first",
                    pytrace=False)


def _keep():
    return bool(os.environ.get("FORMDROP_E2E_KEEP"))


@pytest.fixture(scope="module")
def pki(request):
    _need_tools()
    root = h.make_tmpdir("fd-pki-")
    request.addfinalizer(lambda: _keep() or shutil.rmtree(root, True))
    p = s.PKI(root / "pki")
    now = datetime.datetime.now(datetime.timezone.utc)
    p.issue("big", "rsa:4096", "Test RSA-4096 recipient")
    p.issue("expired", "merchant", "Test expired recipient",
            not_before=now - datetime.timedelta(days=400),
            not_after=now - datetime.timedelta(days=35))
    return p


@pytest.fixture(scope="module")
def stacks(request, pki):
    """start(name, orders=[...], forms=None) -> a running SmimeStack,
    stopped at the end of the module."""
    started = []

    def start(orders=(), forms=None, encryption=None, contact=()):
        root = h.make_tmpdir()
        if encryption is not None:
            forms = s.copy_forms(root, encryption)
        st = s.SmimeStack(root, orders=orders, contact=contact, forms=forms)
        started.append(st)
        return st.start()

    def fin():
        for st in started:
            st.stop()
            if not _keep():
                shutil.rmtree(st.root, ignore_errors=True)
    request.addfinalizer(fin)
    return start


@pytest.fixture(scope="module")
def enc(stacks, pki):
    """Orders encrypted to merchant + staff + escrow, signed by the
    gateway."""
    return stacks(orders=s.smime_lines(pki, ["merchant", "staff"],
                                       escrow="escrow", sign=True))


@pytest.fixture(scope="module")
def plain(stacks):
    return stacks()


@pytest.fixture(scope="module")
def order(enc, plain, pki):
    """The same order submitted to enc and to plain; both deliveries."""
    body, ctype, fields, files = s.order_body(MARKER)
    out = {"fields": fields, "files": files}
    for name, st in (("enc", enc), ("plain", plain)):
        snap = st.snap()
        r = st.post("order", body, ctype)
        id = h.check_success(r, "order")
        out[name] = (id, st.delivered(snap, "orders"))
    id, d = out["enc"]
    _, out["decrypted"] = s.cms_decrypt(d.path, pki.key("merchant"),
                                        pki.crt("merchant"))
    return out


# --------------------------------------------------------- 1: the order

def test_outer_headers_are_generic(order):
    id, d = order["enc"]
    h.check_maildir_name(d)
    h.check_raw_headers(d)
    m = d.msg
    names = d.header_names
    expected = {"received", "date", "from", "to", "subject", "message-id",
                "mime-version", "x-formdrop-form", "x-formdrop-id",
                "content-type", "content-transfer-encoding"}
    for n in expected:
        assert names.count(n) == 1, (n, names)
    assert "reply-to" not in names, "Reply-To (the customer) outside"
    assert set(names) - expected <= {"content-disposition"}, names
    assert str(m["Subject"]) == f"Form submission {id} (encrypted)"
    assert str(m["Message-ID"]).strip() == f"<{id}@{h.HOSTNAME}>"
    assert h.addr(m["From"]) == h.FROM
    assert h.addr(m["To"]) == h.TO["orders"]
    assert str(m["X-Formdrop-Id"]).strip() == id
    assert str(m["X-Formdrop-Form"]).strip() == "order"
    assert m.get_content_type() == "application/pkcs7-mime"
    assert m.get_param("smime-type") == "enveloped-data"
    assert m.get_param("name") == "smime.p7m"
    assert m["Content-Transfer-Encoding"].lower() == "base64"
    # Nothing of the customer in the clear header section.
    head = d.raw_head.decode("ascii")
    for leak in ("zoe", "Order from", "example.org", "Berlin"):
        assert leak.lower() not in head.lower(), (leak, head)


@pytest.mark.parametrize("who", ["merchant", "staff", "escrow"])
def test_each_recipient_decrypts(order, pki, who):
    id, d = order["enc"]
    rc, data = s.cms_decrypt(d.path, pki.key(who), pki.crt(who))
    assert data == order["decrypted"], f"{who} decrypts something else"
    assert data.startswith(b"Content-Type: multipart/signed")
    s.assert_crlf_canonical(data)


def test_decrypted_is_signed_by_gateway(order, pki):
    data = order["decrypted"]
    m = email.message_from_bytes(data, policy=email.policy.default)
    assert m.get_content_type() == "multipart/signed"
    assert m.get_param("protocol") == "application/pkcs7-signature"
    assert m.get_param("micalg") == "sha-256"
    rc, content, err = s.cms_verify(data, pki / "ca.crt")
    assert "Verification successful" in err, err
    signed, _ = s.signed_parts(data)
    assert content.replace(b"\r\n", b"\n") == signed.replace(b"\r\n", b"\n")
    # The signer is the gateway, and its chain travels with it.
    signer = s.run([s.OPENSSL, "cms", "-verify", "-CAfile", pki / "ca.crt",
                    "-signer", "/dev/stdout", "-out", "/dev/null"],
                   input=data).stdout.decode()
    assert "BEGIN CERTIFICATE" in signer
    subj = s.run([s.OPENSSL, "x509", "-noout", "-subject"],
                 input=signer.encode()).stdout.decode()
    assert "Demo gateway" in subj, subj


def test_protected_headers_inside(order):
    id, d = order["enc"]
    signed, _ = s.signed_parts(order["decrypted"])
    inner = email.message_from_bytes(signed, policy=email.policy.default)
    assert inner.get_content_type() == "multipart/mixed"
    assert inner.get_param("hp") == "cipher", inner["Content-Type"]
    fields = order["fields"]
    assert str(inner["Subject"]) == "Order from " + fields["name"]
    assert h.addr(inner["Reply-To"])[1] == fields["email"]
    assert h.addr(inner["From"]) == h.FROM
    assert h.addr(inner["To"]) == h.TO["orders"]
    assert str(inner["Message-ID"]).strip() == f"<{id}@{h.HOSTNAME}>"
    assert str(inner["Date"]) == str(d.msg["Date"])
    # The plain delivery's real Subject is the same one.
    _, p = order["plain"]
    assert str(inner["Subject"]) == str(p.msg["Subject"])


def test_decrypted_entity_equals_plain_delivery(order):
    id, d = order["enc"]
    pid, p = order["plain"]
    # The plain delivery is a complete, correct message.
    h.check_message(p, form="order", id=pid, fields=order["fields"],
                    subject="Order from " + order["fields"]["name"],
                    reply_to=order["fields"]["email"], files=order["files"],
                    optional_empty=("attachment",), ignore=("attachment",))
    signed, _ = s.signed_parts(order["decrypted"])
    inner = email.message_from_bytes(signed, policy=email.policy.default)
    got = s.entity_summary(inner, id)
    want = s.entity_summary(p.msg, pid)
    assert got[0] == want[0], "text part differs"
    assert got[1] == want[1], "JSON copy differs"
    assert got[2] == want[2], "attachments differ"
    att = order["files"][0]
    assert got[2] == [(att[1], att[2],
                       hashlib.sha256(att[3]).hexdigest())]
    assert MARKER in got[0] and MARKER in got[1]["fields"]["notes"]


# ------------------------------------------------------------- gpgsm

@pytest.fixture(scope="module")
def gpgsm_home(request, pki):
    if not os.path.exists(s.GPGSM):
        pytest.skip("gpgsm not installed")
    homes = []

    def make(name):
        g = s.Gpgsm(pki.dir.parent / f"gnupg-{name}", pki)
        homes.append(g)
        return g
    request.addfinalizer(lambda: [g.stop() for g in homes])
    return make


def test_demo_merchant_p12_imports_into_gpgsm(gpgsm_home, pki):
    """The demo's merchant.p12 is "the merchant's key for a mail client";
    gpgsm (Debian 12's S/MIME engine, used by KMail/Kleopatra) must be able
    to import it."""
    g = gpgsm_home("demo-p12")
    p = g.import_p12(pki / "merchant.p12")
    err = p.stderr.decode(errors="replace")
    assert p.returncode == 0 and "secret keys imported: 1" in err, err
    assert any("Demo merchant" in x for x in g.secret_subjects())


@pytest.mark.parametrize("who", ["merchant", "escrow"])
def test_gpgsm_decrypts_and_verifies(gpgsm_home, pki, order, who):
    """gpgsm 2.2.40 reads RSA recipients only (ECDH keys cannot be
    imported from PKCS#12, and its decryption of ECDH gives "Invalid
    session key"), so the RSA merchant and escrow keys are used."""
    g = gpgsm_home(who)
    p12 = s.legacy_p12(pki, who, g.home / f"{who}.p12")
    p = g.import_p12(p12)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    id, d = order["enc"]
    der = g.home / "msg.p7m"
    der.write_bytes(s.p7m_der(d.raw))
    p = g.gpgsm("--decrypt", der, passphrase=True, check=False)
    err = p.stderr.decode(errors="replace")
    assert p.stdout == order["decrypted"], f"gpgsm did not decrypt:\n{err}"
    if p.returncode != 0:
        # gpgsm tries the recipients in order and exits 2 after "No
        # secret key" for those ahead of ours even when ours succeeds.
        failed = [ln for ln in err.splitlines()
                  if "failed" in ln or "error" in ln]
        assert failed and all("No secret key" in ln for ln in failed), err
    # The signature of the inner multipart/signed, with gpgsm.
    signed, sig = s.signed_parts(p.stdout)
    (g.home / "content").write_bytes(signed)
    (g.home / "sig.p7s").write_bytes(sig)
    p = g.gpgsm("--verify", g.home / "sig.p7s", g.home / "content")
    err = p.stderr.decode(errors="replace")
    assert "Good signature" in err and "Demo gateway" in err, err
    # ... which is bound to the content.
    (g.home / "content").write_bytes(signed.replace(MARKER.encode(),
                                                    b"XyzzyMarker-00000000"))
    p = g.gpgsm("--verify", g.home / "sig.p7s", g.home / "content",
                check=False)
    err = p.stderr.decode(errors="replace")
    assert p.returncode != 0, err
    assert "Good signature" not in err, err
    assert "BAD signature" in err or "invalid signature" in err, err


# ------------------------------------------------- 2: nothing on disk

def test_marker_never_on_disk(enc, order):
    hits = s.files_containing(enc.root / "spool", MARKER)
    assert not hits, f"plaintext on disk: {hits}"
    assert os.listdir(enc.maildirs["orders"] / "tmp") == []
    # The plain run is the control: there it is on disk.
    _, p = order["plain"]
    assert s.files_containing(p.path.parent, MARKER)


def _fail_delivery(stacks, pki, how):
    st = stacks(orders=s.smime_lines(pki, ["merchant", "staff"],
                                     escrow="escrow", sign=True))
    box = st.maildirs["orders"]
    elsewhere = None
    if how == "new-missing":
        shutil.rmtree(box / "new")
    else:
        # new/ on another file system: the message is written and synced
        # in tmp/, then the rename into new/ fails (EXDEV), half-way.
        if not os.path.isdir("/dev/shm") or (
                os.stat("/dev/shm").st_dev == os.stat(box).st_dev):
            pytest.skip("no second file system for new/")
        elsewhere = tempfile.mkdtemp(prefix="fd-e2e-new-", dir="/dev/shm")
        shutil.rmtree(box / "new")
        os.symlink(elsewhere, box / "new")
    try:
        body, ctype, _, _ = s.order_body(MARKER)
        for accept in (None, "application/json"):
            r = st.post("order", body, ctype, accept=accept)
            assert r.status == 503, r
            assert r.header("Retry-After"), r
        assert os.listdir(box / "tmp") == [], "tmp/ not cleaned up"
        if elsewhere:
            assert os.listdir(elsewhere) == [], "a message in new/"
            assert not s.files_containing(elsewhere, MARKER)
        assert not s.files_containing(st.root / "spool", MARKER)
        assert not s.files_containing(st.root, MARKER), "marker in logs"
        log = st.handler.log_text()
        assert "status=503" in log, log
        if elsewhere:
            # Either the message was written to tmp/ and removed after
            # the rename failed, or the confined worker (Landlock: the
            # spool only) could not even open the new/ that leads out.
            assert ("cross-device" in log.lower() or
                    "permission denied" in log.lower()), log
    finally:
        if elsewhere:
            shutil.rmtree(elsewhere, ignore_errors=True)


@pytest.mark.parametrize("how", ["new-missing", "rename-fails"])
def test_failed_delivery_leaves_no_plaintext(stacks, pki, how):
    _fail_delivery(stacks, pki, how)


# ------------------------------------------------------- 3: signatures

def _flip_base64(raw, offset_fraction):
    """raw with one base64 character of the body changed."""
    cut = raw.index(b"\n\n") + 2
    body = bytearray(raw)
    pos = cut + int((len(raw) - cut) * offset_fraction)
    while not chr(body[pos]).isalnum():
        pos += 1
    body[pos] = ord("B") if body[pos] != ord("B") else ord("C")
    return bytes(body)


@pytest.mark.parametrize("where", [0.5, 0.8, 0.97])
def test_tampered_ciphertext_detected(order, pki, where, tmp_path):
    id, d = order["enc"]
    bad = tmp_path / "bad.eml"
    bad.write_bytes(_flip_base64(d.raw, where))
    p = s.run([s.OPENSSL, "cms", "-decrypt", "-in", bad, "-inkey",
               pki.key("merchant"), "-recip", pki.crt("merchant")],
              check=False)
    if p.returncode == 0:
        rc, _, err = s.cms_verify(p.stdout, pki / "ca.crt", check=False)
        assert rc != 0, "tampered message decrypts and verifies"


@pytest.fixture(scope="module")
def signonly(stacks, pki):
    return stacks(orders=s.smime_lines(pki, sign=True))


def test_signed_only_message_in_clear(signonly, pki, tmp_path):
    body, ctype, fields, files = s.order_body(MARKER)
    snap = signonly.snap()
    r = signonly.post("order", body, ctype)
    id = h.check_success(r, "order")
    d = signonly.delivered(snap, "orders")
    h.check_raw_headers(d)
    m = d.msg
    assert m.get_content_type() == "multipart/signed"
    assert m.get_param("protocol") == "application/pkcs7-signature"
    assert str(m["Subject"]) == "Order from " + fields["name"]
    assert h.addr(m["Reply-To"])[1] == fields["email"]
    p = s.run([s.OPENSSL, "cms", "-verify", "-in", d.path, "-CAfile",
               pki / "ca.crt"])
    assert "Verification successful" in p.stderr.decode()
    inner = list(m.iter_parts())[0]
    assert inner.get_param("hp") == "clear"
    assert str(inner["Subject"]) == "Order from " + fields["name"]
    # The content is the submission.
    text, data, atts = s.entity_summary(inner, id)
    assert MARKER in text
    assert data["fields"]["notes"] == fields["notes"]
    # One byte changed in the clear text part: verification fails.
    raw = d.raw
    pos = raw.index(b"Marker: " + MARKER.encode())
    bad = raw[:pos] + b"marker" + raw[pos + 6:]
    f = tmp_path / "bad.eml"
    f.write_bytes(bad)
    p = s.run([s.OPENSSL, "cms", "-verify", "-in", f, "-CAfile",
               pki / "ca.crt"], check=False)
    assert p.returncode != 0, "tampered text part still verifies"


# ----------------------------------------------------------- 4: policy

def _post_order(st, marker=MARKER, accept=None):
    body, ctype, fields, files = s.order_body(marker)
    snap = st.snap()
    r = st.post("order", body, ctype, accept=accept)
    return snap, r, fields, files


def _expect_503(st, snap, r):
    assert r.status == 503, r
    assert r.header("Retry-After"), r
    st.nothing_delivered(snap)
    assert not s.files_containing(st.root / "spool", MARKER)


def test_required_without_recipients_503(stacks, pki):
    # No S/MIME at all, and a signing key only: both have no recipients.
    for orders in ((), s.smime_lines(pki, sign=True)):
        st = stacks(orders=orders, encryption="required")
        snap, r, _, _ = _post_order(st)
        _expect_503(st, snap, r)
        snap, r, _, _ = _post_order(st, accept="application/json")
        _expect_503(st, snap, r)
        assert r.json()["ok"] is False


def test_required_with_expired_recipient_503(stacks, pki):
    st = stacks(orders=s.smime_lines(pki, ["expired"]),
                encryption="required")
    assert st.handler.alive(), "handler did not start"
    assert "expired" in st.handler.log_text()
    snap, r, _, _ = _post_order(st)
    _expect_503(st, snap, r)


def _recipient_serials(path):
    """The serial numbers of the certificates a stored message is
    encrypted to (openssl cms -print)."""
    return {int(n, 0) for n in
            re.findall(r"serialNumber: (\S+)", s.cms_print(path))}


def _serial(pki, name):
    return s.run([s.OPENSSL, "x509", "-noout", "-serial", "-in",
                  pki.crt(name)]).stdout.decode().split("=")[1].strip()


def _serials(pki, *names):
    return {int(_serial(pki, n), 16) for n in names}


def test_expired_recipient_beside_a_valid_one_is_left_out(stacks, pki):
    """formdrop.conf(5): list the next certificate beside the current
    one, and the old one may expire with no gap.  The expired one is
    left out (said at start), never a 503, never plaintext."""
    st = stacks(orders=s.smime_lines(pki, ["merchant", "expired"]))
    assert "has expired: it is left out" in st.handler.log_text()
    snap, r, _, _ = _post_order(st)
    h.check_success(r, "order")
    d = st.delivered(snap, "orders")
    assert d.msg.get_param("smime-type") == "enveloped-data"
    assert _recipient_serials(d.path) == _serials(pki, "merchant")
    rc, data = s.cms_decrypt(d.path, pki.key("merchant"), pki.crt("merchant"))
    assert MARKER.encode() in data
    assert MARKER.encode() not in d.raw


def test_expired_escrow_is_left_out(stacks, pki):
    st = stacks(orders=s.smime_lines(pki, ["merchant"], escrow="expired"))
    snap, r, _, _ = _post_order(st)
    h.check_success(r, "order")
    d = st.delivered(snap, "orders")
    assert _recipient_serials(d.path) == _serials(pki, "merchant")


def test_valid_escrow_alone_is_no_reader_503(stacks, pki):
    """Staff whose certificates all expired: the escrow, kept offline,
    does not read the mailbox, so the form fails closed."""
    st = stacks(orders=s.smime_lines(pki, ["expired"], escrow="escrow"))
    assert "no certificate in recipients is valid now" in \
        st.handler.log_text()
    snap, r, _, _ = _post_order(st)
    _expect_503(st, snap, r)


def test_rollover_while_running(stacks, pki):
    """The old certificate expires and the next one starts while the
    handler runs, with no reload: each message goes to the one valid at
    its moment, and the change is logged once."""
    handover = (datetime.datetime.now(datetime.timezone.utc)
                + datetime.timedelta(seconds=6)).replace(microsecond=0)
    pki.issue("old", "merchant", "Test old merchant certificate",
              not_after=handover)
    pki.issue("next", "merchant", "Test next merchant certificate",
              not_before=handover)
    st = stacks(orders=s.smime_lines(pki, ["old", "next"]))
    assert "is not valid yet: messages are encrypted to it" in \
        st.handler.log_text()
    snap, r, _, _ = _post_order(st)
    h.check_success(r, "order")
    assert _recipient_serials(st.delivered(snap, "orders").path) == \
        _serials(pki, "old")
    wait = (handover - datetime.datetime.now(datetime.timezone.utc)
            ).total_seconds() + 1.5
    assert wait > 0, "the first order took past the handover"
    time.sleep(wait)
    sent = 8
    for _ in range(sent):
        snap, r, _, _ = _post_order(st)
        h.check_success(r, "order")
        d = st.delivered(snap, "orders")
        assert _recipient_serials(d.path) == _serials(pki, "next")
        rc, data = s.cms_decrypt(d.path, pki.key("next"), pki.crt("next"))
        assert MARKER.encode() in data
    # Each worker says it once for each certificate, not at every message.
    lines = st.handler.log_text().splitlines()
    expired = [l for l in lines if "Test old merchant certificate" in l
               and "left out of the messages: it has expired" in l]
    not_yet = [l for l in lines if "Test next merchant certificate" in l
               and "left out of the messages until it is" in l]
    assert 1 <= len(expired) <= st.handler.workers < sent, lines
    assert 1 <= len(not_yet) <= st.handler.workers, lines


def test_optional_without_certificates_is_plain(plain, order):
    pid, p = order["plain"]
    assert p.msg.get_content_type() == "multipart/mixed"
    assert p.msg.get_param("hp") is None
    assert "pkcs7" not in p.raw.decode("utf-8", "replace")


def test_off_with_recipients_is_signed_plain(stacks, pki):
    st = stacks(orders=s.smime_lines(pki, ["merchant", "staff"],
                                     escrow="escrow", sign=True),
                encryption="off")
    snap, r, fields, _ = _post_order(st)
    h.check_success(r, "order")
    d = st.delivered(snap, "orders")
    assert d.msg.get_content_type() == "multipart/signed"
    assert str(d.msg["Subject"]) == "Order from " + fields["name"]
    s.run([s.OPENSSL, "cms", "-verify", "-in", d.path, "-CAfile",
           pki / "ca.crt"])
    assert MARKER.encode() in d.raw


def test_off_with_recipients_no_signer_is_plain(stacks, pki):
    st = stacks(orders=s.smime_lines(pki, ["merchant"], escrow="escrow"),
                encryption="off")
    snap, r, fields, files = _post_order(st)
    id = h.check_success(r, "order")
    d = st.delivered(snap, "orders")
    h.check_message(d, form="order", id=id, fields=fields,
                    subject="Order from " + fields["name"],
                    reply_to=fields["email"], files=files,
                    optional_empty=("attachment",), ignore=("attachment",))


def test_off_with_expired_recipient_no_signer_is_plain(stacks, pki):
    """A form with encryption = off neither encrypts nor (without
    sign_cert) signs, so the mailbox's unusable recipient certificate does
    not concern it: formdrop.conf(5) says 503 is for "every form that
    would encrypt or sign", the start-up warning for "its encrypting
    forms"."""
    st = stacks(orders=s.smime_lines(pki, ["expired"]), encryption="off")
    snap, r, fields, files = _post_order(st)
    assert r.status == 303, r
    d = st.delivered(snap, "orders")
    assert d.msg.get_content_type() == "multipart/mixed"


# ------------------------------------------- 5: key types and ciphers

def test_rsa2048_rsa4096_p256_recipients(stacks, pki):
    st = stacks(orders=s.smime_lines(pki, ["merchant", "big", "staff"]))
    snap, r, _, _ = _post_order(st)
    h.check_success(r, "order")
    d = st.delivered(snap, "orders")
    assert d.msg.get_param("smime-type") == "enveloped-data"
    printed = s.cms_print(d.path)
    assert printed.count("d.ktri:") == 2 and printed.count("d.kari:") == 1
    assert "aes-256-cbc" in printed
    outs = set()
    for who in ("merchant", "big", "staff"):
        _, data = s.cms_decrypt(d.path, pki.key(who), pki.crt(who))
        outs.add(data)
        assert MARKER.encode() in data
        # Unsigned: the entity itself, with its protected headers.
        inner = email.message_from_bytes(data, policy=email.policy.default)
        assert inner.get_content_type() == "multipart/mixed"
        assert inner.get_param("hp") == "cipher"
    assert len(outs) == 1
    # A key that is not a recipient cannot.
    rc, _ = s.cms_decrypt(d.path, pki.key("gateway"), pki.crt("gateway"),
                          check=False)
    assert rc != 0


def test_aes256_gcm_auth_enveloped(stacks, pki):
    st = stacks(orders=s.smime_lines(pki, ["merchant", "staff"],
                                     sign=True, cipher="aes-256-gcm"))
    snap, r, _, _ = _post_order(st)
    h.check_success(r, "order")
    d = st.delivered(snap, "orders")
    assert d.msg.get_content_type() == "application/pkcs7-mime"
    assert d.msg.get_param("smime-type") == "authEnveloped-data"
    printed = s.cms_print(d.path)
    assert "id-smime-ct-authEnvelopedData" in printed or \
        "authEnvelopedData" in printed, printed[:400]
    assert "aes-256-gcm" in printed
    for who in ("merchant", "staff"):
        _, data = s.cms_decrypt(d.path, pki.key(who), pki.crt(who))
        s.cms_verify(data, pki / "ca.crt")
        assert MARKER.encode() in data
    # GCM authenticates: one changed byte and decryption fails.
    bad = d.path.parent.parent / "bad.eml"
    bad.write_bytes(_flip_base64(d.raw, 0.9))
    try:
        rc, _ = s.cms_decrypt(bad, pki.key("merchant"), pki.crt("merchant"),
                              check=False)
        assert rc != 0, "tampered GCM message decrypts"
    finally:
        bad.unlink()


def test_rsa_oaep_key_transport(stacks, pki):
    st = stacks(orders=s.smime_lines(pki, ["merchant", "staff"],
                                     escrow="escrow",
                                     key_transport="rsa-oaep"))
    snap, r, _, _ = _post_order(st)
    h.check_success(r, "order")
    d = st.delivered(snap, "orders")
    printed = s.cms_print(d.path)
    algs = re.findall(r"keyEncryptionAlgorithm:\s*\n\s*algorithm: (\S+)",
                      printed)
    assert algs.count("rsaesOaep") == 2, algs
    assert "rsaEncryption" not in algs, algs
    for who in ("merchant", "staff", "escrow"):
        _, data = s.cms_decrypt(d.path, pki.key(who), pki.crt(who))
        assert MARKER.encode() in data


def test_pkcs1_is_default_key_transport(order, pki):
    id, d = order["enc"]
    algs = re.findall(r"keyEncryptionAlgorithm:\s*\n\s*algorithm: (\S+)",
                      s.cms_print(d.path))
    assert algs.count("rsaEncryption") == 2, algs


def test_encrypted_subject_template(stacks, pki):
    st = stacks(orders=s.smime_lines(
        pki, ["merchant"],
        encrypted_subject="New {{form}} {{id}} via formdrop"))
    snap, r, _, _ = _post_order(st)
    id = h.check_success(r, "order")
    d = st.delivered(snap, "orders")
    assert str(d.msg["Subject"]) == f"New order {id} via formdrop"
