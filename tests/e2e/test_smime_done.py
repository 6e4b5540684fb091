"""
The S/MIME issue's "done means", literally: an order submitted through
nginx to the real handler lands encrypted to two staff certificates
(both RSA here: gpgsm 2.2 cannot decrypt ECDH recipients, see
test_smime.py) plus escrow and signed by the gateway; each of the three
keys decrypts it with openssl cms AND with gpgsm, and the signature
verifies with both.
"""

import shutil

import pytest

import e2e_helpers as h
import smime_helpers as s

MARKER = "DoneMeans-7f3a9c"


@pytest.fixture(scope="module")
def delivered(request):
    if not shutil.which("gpgsm"):
        pytest.skip("gpgsm not installed")
    root = h.make_tmpdir("fd-done-")
    request.addfinalizer(lambda: shutil.rmtree(root, True))
    pki = s.PKI(root / "pki")
    pki.issue("staff2", "rsa:2048", "Second staff (RSA)",
              key_usage="digitalSignature, keyEncipherment")
    st = s.SmimeStack(root / "stack", orders=s.smime_lines(
        pki, ["merchant", "staff2"], escrow="escrow", sign=True))
    request.addfinalizer(st.stop)
    st.start()
    body, ctype, _, _ = s.order_body(MARKER)
    snap = st.snap()
    h.check_success(st.post("order", body, ctype), "order")
    return pki, st.delivered(snap, "orders")


@pytest.mark.parametrize("who", ["merchant", "staff2", "escrow"])
def test_each_key_decrypts_with_openssl_and_gpgsm(delivered, who, tmp_path):
    pki, d = delivered
    # openssl cms, and the signature against the demo CA.
    _, plain = s.cms_decrypt(d.path, pki.key(who), pki.crt(who))
    assert MARKER.encode() in plain.replace(b"=\r\n", b"")
    s.cms_verify(plain, pki.crt("ca"), workdir=tmp_path)
    # gpgsm, an independent CMS implementation.
    g = s.Gpgsm(tmp_path / "gnupg", pki,
                publics=("merchant", "staff2", "escrow", "gateway"))
    try:
        p = g.import_p12(s.legacy_p12(pki, who, tmp_path / f"{who}.p12"))
        assert p.returncode == 0, p.stderr.decode(errors="replace")
        der = tmp_path / "msg.p7m"
        der.write_bytes(s.p7m_der(d.raw))
        p = g.gpgsm("--decrypt", der, passphrase=True, check=False)
        assert p.stdout == plain, p.stderr.decode(errors="replace")
        signed, sig = s.signed_parts(p.stdout)
        (tmp_path / "content").write_bytes(signed)
        (tmp_path / "sig.p7s").write_bytes(sig)
        p = g.gpgsm("--verify", tmp_path / "sig.p7s", tmp_path / "content")
        assert "Good signature" in p.stderr.decode(errors="replace")
    finally:
        g.stop()
