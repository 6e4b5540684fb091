"""
Helpers for the S/MIME end-to-end tests (test_smime*.py): a demo PKI plus
certificates made to order (expired, not yet valid, wrong key usage, ...),
a handler + nginx stack whose mailboxes carry S/MIME settings, OpenSSL CMS
and GnuPG gpgsm as the merchant's tools, and comparisons of the decrypted
entity with a plain delivery of the same submission.

Only the standard library and the openssl / gpgsm command-line tools are
used; every certificate is made with openssl (the demo PKI by
scripts/demo-certs.sh, the odd ones with `openssl ca`, which accepts any
-startdate/-enddate, so no faketime is needed).
"""

import base64
import datetime
import email
import email.policy
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import e2e_helpers as h

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
GPGSM = shutil.which("gpgsm") or "/usr/bin/gpgsm"
GPGCONF = shutil.which("gpgconf") or "/usr/bin/gpgconf"
DEMO_CERTS = h.REPO / "scripts" / "demo-certs.sh"

URLENC = "application/x-www-form-urlencoded"


def run(cmd, input=None, check=True, env=None, timeout=h.TIMEOUT, cwd=None):
    p = subprocess.run([str(c) for c in cmd], input=input,
                       capture_output=True, timeout=timeout,
                       env=env or h.clean_env(), cwd=cwd)
    if check and p.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd))} exited {p.returncode}:\n"
            f"{p.stderr.decode(errors='replace')}")
    return p


# ------------------------------------------------------------------- PKI

CA_CNF = """\
[ca]
default_ca = c
[c]
database = {db}/index.txt
new_certs_dir = {db}
serial = {db}/serial
default_md = sha256
policy = p
unique_subject = no
email_in_dn = no
copy_extensions = none
[p]
organizationName = optional
commonName = supplied
[ext]
basicConstraints = critical, CA:FALSE
{usage}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = email:{email}
"""


def asn1_time(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y%m%d%H%M%SZ")


class PKI:
    """scripts/demo-certs.sh in dir, plus issue() for certificates made to
    order by the same demo CA."""

    def __init__(self, dir):
        self.dir = Path(dir)
        env = h.clean_env()
        env.pop("DEMO_CERT_DAYS", None)
        run(["sh", DEMO_CERTS, self.dir], env=env, timeout=120)
        self.password = (self.dir / "merchant.p12.password").read_text().strip()
        db = self.dir / "ca-db"
        db.mkdir(exist_ok=True)
        (db / "index.txt").touch()
        (db / "serial").write_text("1000\n")
        self.db = db

    def __truediv__(self, name):
        return self.dir / name

    def crt(self, name):
        return self.dir / f"{name}.crt"

    def key(self, name):
        return self.dir / f"{name}.key"

    def subject_cn(self, name):
        out = run([OPENSSL, "x509", "-in", self.crt(name), "-noout",
                   "-subject", "-nameopt", "multiline"]).stdout.decode()
        return re.search(r"commonName\s*=\s*(.+)", out).group(1).strip()

    def newkey(self, name, keyspec):
        key = self.key(name)
        if keyspec.startswith("rsa:"):
            run([OPENSSL, "genpkey", "-algorithm", "RSA", "-pkeyopt",
                 f"rsa_keygen_bits:{keyspec[4:]}", "-out", key])
        elif keyspec == "ec":
            run([OPENSSL, "genpkey", "-algorithm", "EC", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-out", key])
        else:                       # reuse the key of another certificate
            shutil.copy(self.key(keyspec), key)
        return key

    def issue(self, name, keyspec, cn, key_usage="keyEncipherment",
              eku="emailProtection", not_before=None, not_after=None):
        """Issue name.crt/name.key signed by the demo CA.  keyspec: rsa:BITS,
        ec, or the name of an existing key to reuse (fast).  key_usage /
        eku: extension values, or None to leave the extension out.
        not_before / not_after: datetimes (default now-1h / now+365d)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        not_before = not_before or now - datetime.timedelta(hours=1)
        not_after = not_after or now + datetime.timedelta(days=365)
        key = self.newkey(name, keyspec)
        csr = self.dir / f"{name}.csr"
        run([OPENSSL, "req", "-new", "-key", key, "-subj",
             f"/O=formdrop test/CN={cn}", "-out", csr])
        usage = []
        if key_usage:
            usage.append(f"keyUsage = critical, {key_usage}")
        if eku:
            usage.append(f"extendedKeyUsage = {eku}")
        cnf = self.dir / f"{name}.cnf"
        cnf.write_text(CA_CNF.format(db=self.db, usage="\n".join(usage),
                                     email=f"{name}@formdrop.localhost"))
        run([OPENSSL, "ca", "-batch", "-config", cnf, "-cert", self.crt("ca"),
             "-keyfile", self.key("ca"), "-in", csr, "-out", self.crt(name),
             "-startdate", asn1_time(not_before),
             "-enddate", asn1_time(not_after), "-extensions", "ext",
             "-notext"])
        csr.unlink()
        cnf.unlink()
        return self.crt(name)


# ------------------------------------------------------------ forms, stack

def copy_forms(root, encryption=None):
    """templates/ copied to root/forms; encryption = off|optional|required
    set in every form's [form] section when given."""
    dst = h.intake_forms(root)
    if encryption is not None:
        for f in dst.glob("*.form"):
            text = f.read_text(encoding="utf-8")
            text = re.sub(r"^\[form\]\n", f"[form]\nencryption = {encryption}\n",
                          text, count=1, flags=re.M)
            f.write_text(text, encoding="utf-8")
    return dst


def smime_lines(pki, recipients=(), escrow=None, sign=False, **more):
    """[mailbox] lines for the S/MIME keys; more: cipher=..., etc."""
    lines = []
    if recipients:
        lines.append("recipients = " + " ".join(
            str(pki.crt(r)) if isinstance(r, str) else str(r)
            for r in recipients))
    if escrow:
        lines.append(f"escrow = {pki.crt(escrow)}")
    if sign:
        lines.append(f"sign_cert = {pki / 'gateway-chain.crt'}")
        lines.append(f"sign_key = {pki.key('gateway')}")
    for k, v in more.items():
        lines.append(f"{k} = {v}")
    return lines


class SmimeStack(h.HandlerStack):
    """The real handler (+ nginx) over a temp folder whose orders (and
    optionally contact) mailbox has S/MIME settings."""

    def __init__(self, root, orders=(), contact=(), forms=None, nginx=True):
        self.root = Path(root)
        self.conf, self.maildirs = h.write_config(
            self.root, forms=forms,
            mailbox_extra={"orders": list(orders), "contact": list(contact)})
        self.handler = h.Handler(self.root, self.conf, workers=2)
        self.nginx = (h.Nginx(self.root, f"unix:{self.handler.sock}")
                      if nginx else None)

    def post(self, form, body, content_type, **kw):
        return h.curl(f"{self.nginx.base}/submit/{form}", data=body,
                      content_type=content_type, workdir=self.root, **kw)

    def snap(self):
        return h.snapshot(self.maildirs)

    def delivered(self, snap, box="orders"):
        return h.single_delivery(self.maildirs, snap, box)

    def nothing_delivered(self, snap):
        h.assert_nothing_delivered(self.maildirs, snap)


# ---------------------------------------------------------------- bodies

def order_body(marker, attachment=None, name="Zoë Ünïcødé 日本"):
    """A multipart order with UTF-8 values, marker in several fields and an
    attachment.  Returns (body, content_type, fields, files) with fields
    and files as check_message wants them."""
    attachment = attachment if attachment is not None else (
        b"%PDF-1.4\n" + bytes(range(256)) + marker.encode() + b"\r\n\0end")
    fields = {
        "name": name,
        "email": "zoe.buyer@example.org",
        "phone": "+49 30 1234567",
        "address": f"Straße des 17. Juni 1\n10623 Berlin ({marker})",
        "item": ["Widget — großes Modell", "Gadget ünï"],
        "quantity": ["2", "1"],
        "notes": f"Bitte schnell liefern.\nMarker: {marker}\n€ ✓",
    }
    parts = []
    for k, v in fields.items():
        for one in (v if isinstance(v, list) else [v]):
            parts.append((k, one))
    files = [("attachment", "plan-ü.pdf", "application/pdf", attachment)]
    parts.append(files[0])
    body, ctype = h.multipart(parts)
    return body, ctype, fields, files


# ------------------------------------------------------------ OpenSSL CMS

def outer_message(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def p7m_der(raw):
    """The DER of the application/pkcs7-mime body of a stored message."""
    m = outer_message(raw)
    assert m.get_content_type() == "application/pkcs7-mime", m["Content-Type"]
    return m.get_payload(decode=True)


def cms_decrypt(path, key, crt, check=True):
    """openssl cms -decrypt of a stored message file: (rc, plaintext)."""
    p = run([OPENSSL, "cms", "-decrypt", "-in", path, "-inkey", key,
             "-recip", crt], check=check)
    return p.returncode, p.stdout


def cms_verify(data, ca, check=True, workdir=None):
    """openssl cms -verify of an S/MIME multipart/signed entity (bytes):
    (rc, signed content, stderr)."""
    p = subprocess.run([OPENSSL, "cms", "-verify", "-CAfile", str(ca)],
                       input=data, capture_output=True, timeout=h.TIMEOUT,
                       env=h.clean_env())
    if check and p.returncode != 0:
        raise AssertionError("openssl cms -verify failed:\n"
                             + p.stderr.decode(errors="replace"))
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def cms_print(path):
    return run([OPENSSL, "cms", "-cmsout", "-print", "-in", path]
               ).stdout.decode(errors="replace")


def assert_crlf_canonical(data):
    """Every line of S/MIME content ends in CRLF (RFC 8551 3.1.1)."""
    bare = re.findall(rb"(?<!\r)\n", data)
    assert not bare, f"{len(bare)} bare LF in CMS content: {data[:300]!r}"


def signed_parts(data):
    """Split a multipart/signed entity (CRLF) into (the signed first part
    exactly as signed, the DER of the signature)."""
    m = email.message_from_bytes(data, policy=email.policy.default)
    assert m.get_content_type() == "multipart/signed", m["Content-Type"]
    b = m.get_boundary().encode()
    delim = b"\r\n--" + b
    start = data.index(b"--" + b + b"\r\n") + len(b) + 4
    end = data.index(delim, start)
    sig = list(m.iter_parts())[1]
    assert sig.get_content_type() == "application/pkcs7-signature"
    return data[start:end], sig.get_payload(decode=True)


# ------------------------------------------------------- entity compared

def normalise_text(text, id):
    """The text part without what differs between two submissions."""
    text = text.replace("\r\n", "\n").replace(id, "<ID>")
    return re.sub(r"^Received .* from .* through", "Received <DATE> through",
                  text, flags=re.M)


def entity_summary(msg, id):
    """What a multipart/mixed submission entity says, minus ids/dates:
    (text, JSON copy, [(filename, type, sha256)])."""
    assert msg.get_content_type() == "multipart/mixed", msg["Content-Type"]
    parts = list(msg.iter_parts())
    text = parts[0]
    assert text.get_content_type() == "text/plain"
    assert text["Content-Transfer-Encoding"].lower() == "quoted-printable"
    js = parts[1]
    assert js.get_content_type() == "application/json"
    assert js.get_filename() == "submission.json"
    data = json.loads(js.get_payload(decode=True).decode("utf-8"))
    assert data["id"] == id, (data["id"], id)
    data = {k: v for k, v in data.items() if k not in ("id", "received")}
    files = [(p.get_filename(), p.get_content_type(),
              hashlib.sha256(p.get_payload(decode=True)).hexdigest())
             for p in parts[2:]]
    return normalise_text(text.get_content(), id), data, files


# ---------------------------------------------------------------- on disk

def marker_forms(marker):
    """The marker as it could appear in a stored file: raw, and base64 of
    it at every alignment (an attachment or a base64 text part)."""
    m = marker.encode()
    out = {m}
    for pad in range(3):
        b64 = base64.b64encode(b"\0" * pad + m)
        out.add(b64[4:-4] if len(b64) > 12 else b64)
    return out


def files_containing(root, marker):
    """Every file under root (any depth, tmp/ included) holding marker."""
    needles = marker_forms(marker)
    hits = []
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = Path(dirpath) / n
            try:
                data = p.read_bytes()
            except OSError:
                continue
            if any(x in data for x in needles):
                hits.append(p)
    return hits


def all_files(root):
    return sorted(str(Path(d) / n) for d, _, ns in os.walk(root) for n in ns)


# ------------------------------------------------------------------ gpgsm

class Gpgsm:
    """A private GNUPGHOME for gpgsm: CRL/policy checks off, the demo CA
    trusted, every public certificate of pki imported (so gpgsm finds each
    recipient of a message), loopback pinentry.  stop() ends its agent."""

    def __init__(self, home, pki, publics=("merchant", "staff", "escrow",
                                           "gateway")):
        self.home = Path(home)
        self.home.mkdir(mode=0o700, parents=True)
        self.pki = pki
        (self.home / "gpg-agent.conf").write_text("allow-loopback-pinentry\n")
        (self.home / "gpgsm.conf").write_text(
            "disable-crl-checks\ndisable-policy-checks\n"
            "disable-dirmngr\n")
        self.env = h.clean_env(GNUPGHOME=str(self.home))
        self.passfile = self.home / "pass"
        self.passfile.write_text(pki.password + "\n")
        self.gpgsm("--import", pki.crt("ca"))
        for name in publics:
            self.gpgsm("--import", pki.crt(name))
        fpr = self.fingerprint("formdrop demo CA")
        (self.home / "trustlist.txt").write_text(f"{fpr} S relax\n")

    def gpgsm(self, *args, check=True, passphrase=False):
        cmd = [GPGSM, "--batch", "--pinentry-mode", "loopback"]
        if passphrase:
            cmd += ["--passphrase-fd", "0"]
        cmd += list(args)
        p = subprocess.run([str(c) for c in cmd],
                           input=(self.pki.password + "\n").encode()
                           if passphrase else None,
                           capture_output=True, timeout=h.TIMEOUT,
                           env=self.env)
        if check and p.returncode != 0:
            raise AssertionError(
                f"gpgsm {' '.join(map(str, args))} exited {p.returncode}:\n"
                f"{p.stderr.decode(errors='replace')}")
        return p

    def fingerprint(self, pattern):
        out = self.gpgsm("--with-colons", "--list-keys", pattern
                         ).stdout.decode()
        return re.search(r"^fpr:(?:[^:]*:){8}([0-9A-F]{40}):", out,
                         re.M).group(1)

    def import_p12(self, p12):
        return self.gpgsm("--import", p12, passphrase=True, check=False)

    def secret_subjects(self):
        out = self.gpgsm("--list-secret-keys", check=False).stdout.decode()
        return re.findall(r"Subject: (.*)", out)

    def stop(self):
        subprocess.run([GPGCONF, "--kill", "all"], env=self.env,
                       capture_output=True, timeout=h.TIMEOUT)


def legacy_p12(pki, name, out):
    """name's key and certificate as PKCS#12 with SHA-1/3DES (the
    encodings gpgsm 2.2 reads), protected by the demo password: made by
    scripts/p12-export.sh, as the demo's, so that gpgsm can read it."""
    run(["sh", h.REPO / "scripts" / "p12-export.sh", pki.key(name),
         pki.crt(name), pki.crt("ca"), name,
         pki / "merchant.p12.password", out])
    return out
