"""
Operating S/MIME (the demo PKI of scripts/demo-certs.sh via smime_helpers):

  * formdrop.fcgi -c CONF --selftest MAILBOX --key KEY, as README's "prove
    the set-up before the first real order": a mailbox encrypting to the
    merchant (RSA), staff (EC) and escrow (RSA) and signed by the gateway
    passes with each of the three keys (exit 0; "decrypted with",
    "signature verified", "MIME round trip ok", "OK"); a key that is not a
    recipient (the CA's, a fresh one) fails (exit 1, "FAILED: decrypting");
    a mailbox without recipients says "NOT encrypted" and fails with
    --key; an unknown mailbox fails.
  * SIGHUP on a running handler: a configuration whose recipient is an
    expired certificate is refused (logged) and submissions keep being
    encrypted to the old certificate, by the same workers; then a
    configuration listing a second merchant certificate beside the old one
    is taken ("reloaded"), the workers are replaced, and new submissions
    open with either key: a key rollover without a gap.

Every handler listens on a unix socket in a temp folder and is stopped by
its PID; temp folders are removed.
"""

import datetime
import os
import re
import shutil
import signal
import subprocess

import pytest

import e2e_helpers as h
import ops_helpers as oh
import smime_helpers as s

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)
SELFTEST_OK = ("selftest: decrypted with", "selftest: signature verified",
               "selftest: MIME round trip ok", "selftest: OK")


def keep():
    return bool(os.environ.get("FORMDROP_E2E_KEEP"))


@pytest.fixture(scope="module")
def pki(request):
    if not h.HANDLER.exists():
        pytest.fail(f"{h.HANDLER} does not exist: run make", pytrace=False)
    if not os.path.exists(s.OPENSSL):
        pytest.skip("openssl not installed")
    root = h.make_tmpdir("fd-ops-pki-")
    request.addfinalizer(lambda: keep() or shutil.rmtree(root, True))
    p = s.PKI(root / "pki")
    # Own keys, so that which key opens a message tells which
    # certificate it was encrypted to.
    p.issue("expired", "rsa:2048", "Test expired merchant",
            key_usage="digitalSignature,keyEncipherment",
            not_before=NOW - 400 * DAY, not_after=NOW - 2 * DAY)
    p.issue("merchant2", "rsa:2048", "Test merchant, next certificate",
            key_usage="digitalSignature,keyEncipherment")
    s.run([s.OPENSSL, "genpkey", "-algorithm", "EC", "-pkeyopt",
           "ec_paramgen_curve:P-256", "-out", p / "stranger.key"])
    return p


@pytest.fixture
def root(request):
    d = h.make_tmpdir("fd-ops-")
    request.addfinalizer(lambda: keep() or shutil.rmtree(d, True))
    return d


def selftest(conf, mailbox, key=None):
    cmd = [str(h.HANDLER), "-c", str(conf), "--selftest", mailbox]
    if key is not None:
        cmd += ["--key", str(key)]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=60, env=h.clean_env(), cwd="/")
    return p.returncode, p.stdout.decode(errors="replace"), \
        p.stderr.decode(errors="replace")


# ------------------------------------------------------------- selftest

@pytest.fixture
def full_conf(root, pki):
    conf, _ = h.write_config(root, mailbox_extra={
        "orders": s.smime_lines(pki, ["merchant", "staff"], escrow="escrow",
                                sign=True)})
    return conf


@pytest.mark.parametrize("who", ["merchant", "escrow", "staff"])
def test_selftest_each_recipient_key(full_conf, pki, who):
    rc, out, err = selftest(full_conf, "orders", pki.key(who))
    print(f"\n--selftest orders --key {who}.key -> {rc}\n{out}{err}")
    assert rc == 0, out + err
    lines = out.splitlines()
    for want in SELFTEST_OK:
        assert any(l.startswith(want) for l in lines), (want, out)
    assert f"decrypted with {pki.key(who)}" in out
    assert "against the chain in sign_cert" in out, out
    assert re.search(r"recipients: 3 certificate\(s\)", out), out
    assert "signed, encrypted" in out, out
    assert "FAILED" not in out


def test_selftest_without_key_composes(full_conf):
    rc, out, err = selftest(full_conf, "orders")
    assert rc == 0, out + err
    assert "signed, encrypted" in out and "selftest: OK" in out, out
    assert "decrypted with" not in out


@pytest.mark.parametrize("key", ["ca", "stranger"])
def test_selftest_key_not_a_recipient(full_conf, pki, key):
    rc, out, err = selftest(full_conf, "orders", pki.key(key))
    print(f"\n--selftest orders --key {key}.key -> {rc}\n{out}{err}")
    assert rc == 1, out + err
    assert re.search(r"^selftest: FAILED: decrypting", out, re.M), out
    assert "selftest: OK" not in out
    assert "decrypted with" not in out


def test_selftest_no_recipients(root, pki):
    conf, _ = h.write_config(root)
    rc, out, err = selftest(conf, "orders")
    assert rc == 0, out + err
    assert "NOT encrypted" in out, out
    rc, out, err = selftest(conf, "orders", pki.key("merchant"))
    print(f"\n--selftest (no recipients) --key merchant.key -> {rc}\n{out}")
    assert rc == 1, out + err
    assert "NOT encrypted" in out
    assert re.search(r"^selftest: FAILED:", out, re.M), out
    assert "selftest: OK" not in out


def test_selftest_unknown_mailbox(full_conf, pki):
    for key in (None, pki.key("merchant")):
        rc, out, err = selftest(full_conf, "nosuchbox", key)
        assert rc == 1, out + err
        assert re.search(r"^selftest: FAILED: .*nosuchbox", out, re.M), out
        assert "selftest: OK" not in out


# ---------------------------------------------------------------- SIGHUP

ORDER = [("name", "Rollover Test"), ("email", "roll@example.org"),
         ("address", "Hauptstraße 1\nBerlin"), ("item", "Widget"),
         ("quantity", "1"), ("notes", "key rollover")]


def submit(handler, maildirs):
    body = h.urlencode(ORDER)
    snap = h.snapshot(maildirs)
    # A new connection per request: after a reload it reaches a new worker.
    with oh.FcgiConn(str(handler.sock), keep=False) as c:
        r = c.request(oh.fcgi_params("order", body), body)
    assert r.status == 200, r
    id = r.json()["id"]
    d = h.single_delivery(maildirs, snap, "orders")
    assert str(d.msg["X-Formdrop-Id"]).strip() == id
    assert d.msg.get_content_type() == "application/pkcs7-mime"
    return d


def opens_with(pki, d, name):
    rc, plain = s.cms_decrypt(d.path, pki.key(name), pki.crt(name),
                              check=False)
    if rc != 0:
        return False
    # Signed by the gateway inside; the signature verifies.
    s.cms_verify(plain, pki.crt("ca"))
    return True


def write_orders_conf(root, pki, recipients):
    return h.write_config(root, mailbox_extra={
        "orders": s.smime_lines(pki, recipients, sign=True)})


def test_sighup_refuses_expired_then_rolls_over(root, pki, request):
    conf, maildirs = write_orders_conf(root, pki, ["merchant"])
    hd = h.Handler(root, conf, workers=2)
    request.addfinalizer(hd.stop)
    hd.start()
    sup = hd.proc.pid
    workers = sorted(oh.wait_workers(sup, 2))

    d = submit(hd, maildirs)
    assert opens_with(pki, d, "merchant")

    # 1. The recipient replaced by an expired certificate: refused.
    before = conf.read_text()
    conf, _ = write_orders_conf(root, pki, ["expired"])
    assert str(pki.crt("expired")) in conf.read_text() != before
    mark = oh.LogMark(hd.log)
    os.kill(sup, signal.SIGHUP)
    log = mark.wait_for("refused")
    print(f"\n[reload, expired recipient] log:\n{log.strip()}")
    assert re.search(r"reload of \S+ refused", log), log
    assert "expired" in log.lower(), log
    assert "reloaded" not in log
    assert hd.alive()
    for _ in range(3):
        d = submit(hd, maildirs)
        assert opens_with(pki, d, "merchant"), "not encrypted to the old cert"
        assert not opens_with(pki, d, "expired"), "encrypted to the expired"
    assert sorted(h.child_pids(sup)) == workers, "workers replaced"

    # 2. A second merchant certificate beside the old one: taken.
    conf, _ = write_orders_conf(root, pki, ["merchant", "merchant2"])
    mark = oh.LogMark(hd.log)
    os.kill(sup, signal.SIGHUP)
    log = mark.wait_for("reloaded")
    print(f"[reload, merchant + merchant2] log:\n{log.strip()}")
    assert "refused" not in log and "failed" not in log, log
    new = oh.wait_workers(sup, 2, exclude=workers)
    assert not set(new) & set(workers)
    for _ in range(3):
        d = submit(hd, maildirs)
        assert opens_with(pki, d, "merchant2"), "new key cannot open it"
        assert opens_with(pki, d, "merchant"), "old key cannot open it"
    assert str(d.msg["Subject"]).endswith("(encrypted)")
    print(f"[rollover] workers {workers} -> {sorted(new)}; messages open "
          f"with merchant.key and merchant2.key")
