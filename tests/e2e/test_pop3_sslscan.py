"""
The TLS configuration of formdrop-pop3d as Debian's sslscan sees it, on
the implicit-TLS port (with an ECDSA and with an RSA certificate) and on
the STLS port (--starttls-pop3): only TLSv1.2 and TLSv1.3, only AEAD
suites with (EC)DHE key exchange, no renegotiation, not vulnerable to
Heartbleed.  openssl s_client cross-checks that the refusals are the
server's (TLS 1.0/1.1, RSA key transport, CBC).

Run with -s to see the summary: pytest -s tests/e2e/test_pop3_sslscan.py
"""

import re
import shutil
import subprocess

import pytest

import e2e_helpers as h
import pop3_helpers as ph
from pop3_helpers import make_pop3d, pki  # noqa: F401  (fixtures)

SSLSCAN = shutil.which("sslscan") or "/usr/bin/sslscan"

TLS13_AEAD = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
              "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_CCM_SHA256"}

PROTO_RE = re.compile(r"^(SSLv2|SSLv3|TLSv1\.[0-3])\s+(enabled|disabled)\s*$",
                      re.M)
CIPHER_RE = re.compile(r"^(Preferred|Accepted)\s+(SSLv\d|TLSv1\.[0-3])\s+"
                       r"(\d+) bits\s+(\S+)\s*(.*)$", re.M)


def sslscan(target, *extra):
    p = subprocess.run([SSLSCAN, "--no-colour", *extra, target],
                       capture_output=True, timeout=60, env=h.clean_env())
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, out + p.stderr.decode(errors="replace")
    return out


def parse(out):
    protos = dict(PROTO_RE.findall(out))
    ciphers = [(v, int(bits), name, rest.strip())
               for _, v, bits, name, rest in CIPHER_RE.findall(out)]
    return protos, ciphers


def forward_secret_aead(version, name):
    if version == "TLSv1.3":
        return name in TLS13_AEAD
    return (version == "TLSv1.2" and re.match(r"^(ECDHE|DHE)-", name)
            is not None and re.search(r"GCM|CHACHA20-POLY1305|CCM", name)
            is not None)


def summary(title, out):
    keep = []
    section = None
    for line in out.splitlines():
        s = line.strip()
        if s.endswith(":") and not s.startswith(("Signature", "Subject")):
            section = s
        if section in ("SSL/TLS Protocols:", "Supported Server Cipher(s):",
                       "TLS renegotiation:", "Heartbleed:",
                       "TLS Fallback SCSV:", "TLS Compression:") and s:
            keep.append("  " + s)
    return f"--- sslscan {title}\n" + "\n".join(keep)


@pytest.fixture(scope="module", autouse=True)
def _need_sslscan():
    if not shutil.which("sslscan"):
        pytest.skip("sslscan not installed")


@pytest.mark.parametrize("rsa", [False, True], ids=["ecdsa", "rsa"])
def test_sslscan_implicit_tls(make_pop3d, tmp_root, rsa):
    md = h.make_maildir(tmp_root / "box")
    srv = make_pop3d({"shop": md}, rsa=rsa)
    out = sslscan(f"127.0.0.1:{srv.tls_port}")
    print("\n" + summary(f"127.0.0.1:{srv.tls_port} implicit TLS, "
                         f"{'RSA' if rsa else 'ECDSA P-256'} certificate",
                         out))
    check_scan(out, "RSA" if rsa else "ECDSA")
    assert srv.alive()


def test_sslscan_stls(make_pop3d, tmp_root):
    md = h.make_maildir(tmp_root / "box")
    srv = make_pop3d({"shop": md}, rsa=True)
    out = sslscan(f"127.0.0.1:{srv.port}", "--starttls-pop3")
    print("\n" + summary(f"127.0.0.1:{srv.port} STLS (--starttls-pop3), "
                         "RSA certificate", out))
    check_scan(out, "RSA")
    assert srv.alive()


def check_scan(out, keytype):
    protos, ciphers = parse(out)
    assert set(protos) >= {"TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"}, out
    enabled = {p for p, state in protos.items() if state == "enabled"}
    assert enabled == {"TLSv1.2", "TLSv1.3"}, protos
    assert ciphers, "sslscan found no cipher suite:\n" + out
    bad = [c for c in ciphers if not forward_secret_aead(c[0], c[2])]
    assert not bad, f"suites without forward secrecy or AEAD: {bad}"
    assert all(bits >= 128 for _, bits, _, _ in ciphers), ciphers
    assert {v for v, _, _, _ in ciphers} == {"TLSv1.2", "TLSv1.3"}
    for v, _, name, _ in ciphers:
        if v == "TLSv1.2":
            assert f"-{keytype}-" in name, name
    assert "Session renegotiation not supported" in out or \
        "Secure session renegotiation supported" in out, out
    assert "Insecure session renegotiation supported" not in out
    assert "vulnerable to heartbleed" in out and \
        not re.search(r"(?<!not )vulnerable to heartbleed", out)
    assert "Compression enabled" not in out


def s_client(port, *args):
    p = subprocess.run([ph.OPENSSL, "s_client", "-connect",
                        f"127.0.0.1:{port}", "-servername", "localhost",
                        "-crlf", "-ign_eof", *args], input=b"QUIT\n",
                       capture_output=True, timeout=30,
                       env=h.clean_env())
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


def test_refusals_are_the_servers(make_pop3d, tmp_root, pki):
    """What the scan says is not a limit of the local OpenSSL: at
    security level 0 the client offers old protocols and suites, and the
    server answers with an alert."""
    md = h.make_maildir(tmp_root / "box")
    srv = make_pop3d({"shop": md}, rsa=True)
    low = "DEFAULT:@SECLEVEL=0"
    for proto in ("-tls1", "-tls1_1"):
        rc, out = s_client(srv.tls_port, proto, "-cipher", low)
        assert rc != 0 and "alert protocol version" in out, out[-800:]
    for suite in ("AES128-GCM-SHA256", "AES256-SHA",     # RSA key transport
                  "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384"):  # CBC
        rc, out = s_client(srv.tls_port, "-tls1_2", "-cipher",
                           suite + ":@SECLEVEL=0")
        assert rc != 0 and "alert handshake failure" in out, (suite,
                                                               out[-800:])
    # The server's log says why each handshake failed.
    h.wait_until(lambda: "TLS handshake failed: unsupported protocol" in
                 srv.log_text() and "TLS handshake failed: no shared "
                 "cipher" in srv.log_text(), timeout=5,
                 what="the handshake failures in the log", log=srv.log)
    rc, out = s_client(srv.tls_port, "-tls1_2", "-CAfile", str(pki.ca),
                       "-verify_return_error", "-verify_hostname",
                       "localhost")
    assert rc == 0 and "+OK formdrop POP3 server ready" in out, out[-800:]
    assert "Verify return code: 0 (ok)" in out and "+OK Bye" in out
    rc, out = s_client(srv.port, "-starttls", "pop3", "-tls1_3", "-CAfile",
                       str(pki.ca), "-verify_return_error")
    assert rc == 0 and "Verify return code: 0 (ok)" in out, out[-800:]
    assert "+OK Bye" in out and "TLSv1.3" in out
