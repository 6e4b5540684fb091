"""
formdrop.fcgi -c CONF --check on the S/MIME settings of a mailbox: every
unusable certificate or key is an error (exit 78, EX_CONFIG) printed as
FILE:LINE: reason, on the line of the [mailbox] section or of the key that
names the file, with a reason that names the certificate; a certificate
expiring within cert_warn_days is a warning (exit 0, "expires in").
"""

import datetime
import os
import re
import shutil
import subprocess

import pytest

import e2e_helpers as h
import smime_helpers as s

EX_CONFIG = 78
NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


@pytest.fixture(scope="module")
def pki(request):
    if not h.HANDLER.exists():
        pytest.fail(f"{h.HANDLER} does not exist", pytrace=False)
    root = h.make_tmpdir("fd-pki-")
    request.addfinalizer(lambda: os.environ.get("FORMDROP_E2E_KEEP")
                         or shutil.rmtree(root, True))
    p = s.PKI(root / "pki")
    # Cheap: every odd certificate reuses a demo key.
    p.issue("expired", "merchant", "Test expired recipient",
            not_before=NOW - 400 * DAY, not_after=NOW - 2 * DAY)
    p.issue("notyet", "merchant", "Test future recipient",
            not_before=NOW + 5 * DAY, not_after=NOW + 400 * DAY)
    p.issue("nokeyenc", "merchant", "Test RSA signing-only",
            key_usage="digitalSignature")
    p.issue("noeku", "merchant", "Test no emailProtection",
            eku="clientAuth")
    p.issue("ecnoka", "staff", "Test EC without keyAgreement",
            key_usage="digitalSignature")
    p.issue("soon", "merchant", "Test expiring soon",
            not_after=NOW + 10 * DAY)
    p.issue("expiredesc", "escrow", "Test expired escrow",
            not_before=NOW - 400 * DAY, not_after=NOW - DAY)
    h.spoil_not_after(p.issue("baddate", "merchant", "Test unreadable date"))
    return p


def run_check(conf):
    p = subprocess.run([str(h.HANDLER), "-c", str(conf), "--check"],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=20, env=h.clean_env(), cwd="/")
    return p.returncode, p.stderr.decode("utf-8", "replace")


def line_of(path, needle):
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in {path}")


def diags(stderr, conf):
    """[(line, reason)] of the FILE:LINE: diagnostics about conf."""
    out = []
    for p in {str(conf), os.path.realpath(conf)}:
        out += [(int(m.group(1)), m.group(2)) for m in re.finditer(
            rf"^{re.escape(p)}:([0-9]+): (.+)$", stderr, re.M)]
    return out


def write(root, pki, lines):
    conf, _ = h.write_config(root, mailbox_extra={"orders": lines})
    return conf


def expect_error(conf, key, *words):
    """exit 78 and an error (not a warning) on the [mailbox orders] line
    or on the line of key, whose reason has every word."""
    rc, err = run_check(conf)
    assert rc == EX_CONFIG, f"exit {rc}, stderr:\n{err}"
    found = [(n, r) for n, r in diags(err, conf)
             if not r.startswith("warning:")]
    assert found, f"no {conf}:LINE: error in:\n{err}"
    for w in words:
        assert any(w.lower() in r.lower() for _, r in found), (w, err)
    ok = {line_of(conf, "[mailbox orders]"), line_of(conf, f"{key} =")}
    at = [n for n, r in found if all(w.lower() in r.lower() for w in words)]
    assert set(at) & ok, (
        f"the error is on line(s) {at}, expected one of {sorted(ok)} "
        f"([mailbox orders] or the {key} line):\n{err}\n"
        + conf.read_text())
    return err


# ------------------------------------------------------------ good ones

def test_full_smime_config_passes(tmp_root, pki):
    conf = write(tmp_root, pki, s.smime_lines(
        pki, ["merchant", "staff"], escrow="escrow", sign=True,
        cipher="aes-256-gcm", key_transport="rsa-oaep",
        cert_warn_days=30))
    rc, err = run_check(conf)
    assert rc == 0, err
    assert "warning" not in err.lower(), err


def test_from_not_in_signing_certificate_is_a_warning(tmp_root, pki):
    """RFC 8550 3: clients compare From with the signer's addresses and
    flag a signature whose certificate names another."""
    conf = write(tmp_root, pki, s.smime_lines(pki, ["merchant"], sign=True))
    text = conf.read_text()
    assert f"<{h.FROM[1]}>" in text
    conf.write_text(text.replace(f"<{h.FROM[1]}>", "<shop@elsewhere.example>"))
    expect_warning(conf, "from shop@elsewhere.example is not an address of "
                   "sign_cert")


def test_relative_paths_resolve_against_config_folder(tmp_root, pki):
    shutil.copytree(pki.dir, tmp_root / "certs")
    conf = write(tmp_root, pki, [
        "recipients = certs/merchant.crt ./certs/staff.crt",
        "sign_cert = certs/gateway-chain.crt",
        "sign_key = certs/gateway.key"])
    rc, err = run_check(conf)
    assert rc == 0, err


def test_expiring_soon_is_a_warning(tmp_root, pki):
    conf = write(tmp_root, pki, s.smime_lines(pki, ["merchant", "soon"],
                                              cert_warn_days=30))
    rc, err = run_check(conf)
    assert rc == 0, err
    warn = [(n, r) for n, r in diags(err, conf) if "expires in" in r]
    assert warn, err
    n, reason = warn[0]
    assert reason.startswith("warning:"), reason
    assert "Test expiring soon" in reason, reason
    days = int(re.search(r"expires in ([0-9]+) day", reason).group(1))
    assert days in (9, 10), reason
    assert n in {line_of(conf, "[mailbox orders]"),
                 line_of(conf, "recipients =")}, (n, err)
    # Outside the window: quiet.
    conf = write(tmp_root, pki, s.smime_lines(pki, ["merchant", "soon"],
                                              cert_warn_days=5))
    rc, err = run_check(conf)
    assert rc == 0 and "expires in" not in err, err


def test_expiring_soon_handler_still_serves(tmp_root, pki):
    conf = write(tmp_root, pki, s.smime_lines(pki, ["soon"]))
    hd = h.Handler(tmp_root, conf, workers=1)
    hd.start()
    try:
        assert hd.alive()
    finally:
        hd.stop()
    assert "expires in" in hd.log_text()


# ---------------------------------------------------------- bad ones

def expect_warning(conf, *words):
    """exit 0 and a warning whose reason has every word."""
    rc, err = run_check(conf)
    assert rc == 0, f"exit {rc}, stderr:\n{err}"
    assert any(r.startswith("warning:") and
               all(w.lower() in r.lower() for w in words)
               for _, r in diags(err, conf)), (words, err)


def test_expired_recipient_beside_a_valid_one(tmp_root, pki):
    """The rollover formdrop.conf(5) describes: the old certificate may
    expire while the next one is listed; it is left out, said each
    start."""
    conf = write(tmp_root, pki, s.smime_lines(pki, ["merchant", "expired"]))
    expect_warning(conf, "has expired: it is left out",
                   "Test expired recipient")


def test_expired_escrow(tmp_root, pki):
    conf = write(tmp_root, pki, s.smime_lines(pki, ["merchant"],
                                              escrow="expiredesc"))
    expect_warning(conf, "has expired", "Test expired escrow")


def test_only_expired_recipients(tmp_root, pki):
    conf = write(tmp_root, pki, s.smime_lines(pki, ["expired"],
                                              escrow="escrow"))
    err = expect_error(conf, "recipients", "no certificate in recipients "
                       "is valid now")
    assert "Test expired recipient" in err, err


def test_not_yet_valid_recipient(tmp_root, pki):
    conf = write(tmp_root, pki, s.smime_lines(pki, ["notyet"]))
    err = expect_error(conf, "recipients", "is valid now")
    assert re.search(r"warning: .*Test future recipient.* is not valid yet",
                     err), err
    conf = write(tmp_root, pki, s.smime_lines(pki, ["merchant", "notyet"]))
    expect_warning(conf, "not valid yet", "from its start date on",
                   "Test future recipient")


def test_expired_signer(tmp_root, pki):
    """Signing is no rollover: an expired gateway certificate is an
    error."""
    conf = write(tmp_root, pki, [f"sign_cert = {pki.crt('expired')}",
                                 f"sign_key = {pki.key('merchant')}"])
    expect_error(conf, "sign_cert", "has expired", "Test expired recipient")


def test_unreadable_date_recipient(tmp_root, pki):
    """A notAfter OpenSSL cannot compare with the time is an error (it
    passed both date checks)."""
    conf = write(tmp_root, pki, s.smime_lines(pki, ["merchant", "baddate"]))
    expect_error(conf, "recipients", "validity date that cannot be read",
                 "Test unreadable date")


def test_rsa_recipient_without_key_encipherment(tmp_root, pki):
    conf = write(tmp_root, pki, s.smime_lines(pki, ["nokeyenc"]))
    expect_error(conf, "recipients", "keyEncipherment",
                 "Test RSA signing-only")


def test_ec_recipient_without_key_agreement(tmp_root, pki):
    conf = write(tmp_root, pki, s.smime_lines(pki, ["ecnoka"]))
    expect_error(conf, "recipients", "keyAgreement",
                 "Test EC without keyAgreement")


def test_recipient_without_email_protection(tmp_root, pki):
    conf = write(tmp_root, pki, s.smime_lines(pki, ["noeku"]))
    expect_error(conf, "recipients", "emailProtection",
                 "Test no emailProtection")


def test_signer_without_email_protection(tmp_root, pki):
    """sign_cert = a certificate that may not protect mail."""
    conf = write(tmp_root, pki, [f"sign_cert = {pki.crt('noeku')}",
                                 f"sign_key = {pki.key('noeku')}"])
    expect_error(conf, "sign_cert", "emailProtection",
                 "Test no emailProtection")


def test_two_certificates_in_one_recipient_file(tmp_root, pki):
    """Two people's certificates bundled in one file: only the first was
    used, and the second could not read the orders."""
    both = tmp_root / "both.crt"
    both.write_bytes(pki.crt("merchant").read_bytes() +
                     pki.crt("staff").read_bytes())
    conf = write(tmp_root, pki, s.smime_lines(pki, [both]))
    expect_error(conf, "recipients", f"{both} holds 2 certificates")


@pytest.mark.parametrize("what", ["missing", "garbage", "directory"])
def test_unreadable_recipient_file(tmp_root, pki, what):
    path = tmp_root / "broken.crt"
    if what == "garbage":
        path.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n"
                        "-----END CERTIFICATE-----\n")
    elif what == "directory":
        path.mkdir()
    conf = write(tmp_root, pki, [f"recipients = {pki.crt('merchant')} "
                                 f"{path}"])
    expect_error(conf, "recipients", str(path))


def test_sign_key_not_matching_sign_cert(tmp_root, pki):
    conf = write(tmp_root, pki, [f"sign_cert = {pki / 'gateway-chain.crt'}",
                                 f"sign_key = {pki.key('staff')}"])
    err = expect_error(conf, "sign_key", str(pki.key("staff")), "match")
    assert str(pki / "gateway-chain.crt") in err, err


def test_sign_key_readable_by_everyone(tmp_root, pki):
    key = tmp_root / "gateway.key"
    key.write_bytes(pki.key("gateway").read_bytes())
    os.chmod(key, 0o644)
    conf = write(tmp_root, pki, [f"sign_cert = {pki / 'gateway-chain.crt'}",
                                 f"sign_key = {key}"])
    expect_error(conf, "sign_key", f"{key} is readable by every user "
                 "(mode 0644)")
    os.chmod(key, 0o640)
    rc, err = run_check(conf)
    assert rc == 0, err


def test_sign_cert_without_sign_key(tmp_root, pki):
    conf = write(tmp_root, pki, [f"sign_cert = {pki / 'gateway-chain.crt'}"])
    expect_error(conf, "sign_cert", "sign_key")


def test_every_problem_reported(tmp_root, pki):
    """Several broken certificates: each one is named, not only the
    first."""
    conf = write(tmp_root, pki, s.smime_lines(
        pki, ["expired", "noeku"], escrow="expiredesc"))
    rc, err = run_check(conf)
    assert rc == EX_CONFIG, err
    for cn in ("Test expired recipient", "Test no emailProtection",
               "Test expired escrow"):
        assert cn in err, (cn, err)


@pytest.mark.parametrize("tpl", ["Order from {{name}}", "{{email}} {{id}}"])
def test_encrypted_subject_only_builtins(tmp_root, pki, tpl):
    """A form field in the clear Subject would reveal the content."""
    conf = write(tmp_root, pki, s.smime_lines(pki, ["merchant"]) +
                 [f"encrypted_subject = {tpl}"])
    expect_error(conf, "encrypted_subject", "encrypted_subject")
