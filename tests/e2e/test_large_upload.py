"""
Large uploads are streamed: a worker's memory does not grow with them, and
no plaintext byte of them is written to disk on the way.

The real handler (one worker, its own unix socket, seccomp and Landlock
on) gets a 48 MiB file in a multipart order over FastCGI, once to a plain
mailbox and once to an S/MIME one (signed, encrypted to the merchant).
Half-way through the body the sender pauses, and the test looks into the
worker: every file it has open (the upload spool, an unlinked file in the
Maildir's tmp/, among them) is read through /proc/PID/fd and must not
contain the upload's text, and the spool must already hold the part of
the file received (it is on disk, not in memory).  Then:

  * the worker's peak RSS (VmHWM, sampled) grew by less than RSS_GROWTH
    over its peak after a warm-up order with a 1 MiB file (it was +336 MiB
    for 100 MB when the body was held in memory);
  * exactly one message was delivered, whose attachment (decrypted by
    `openssl cms` for the S/MIME mailbox) is the file, byte for byte, and
    whose JSON copy gives the file's size and SHA-256;
  * nothing is left in tmp/.

Figures are printed (pytest -s).
"""

import email
import email.policy
import hashlib
import json
import os
import shutil
import threading

import pytest

import e2e_helpers as h
import fault_helpers as fh
import ops_helpers as oh
import smime_helpers as s

FILE_BYTES = 48 * 1024 * 1024
RSS_GROWTH_KB = 2 * 1024
MARKER = b"FORMDROP-LARGE-UPLOAD-PLAINTEXT-"
LIMITS = {"body_max": 64 * 1024 * 1024, "file_max": 56 * 1024 * 1024}


@pytest.fixture(scope="module")
def pki(request):
    if not h.HANDLER.exists():
        pytest.fail(f"{h.HANDLER} does not exist: run make", pytrace=False)
    root = h.make_tmpdir("fd-big-pki-")
    request.addfinalizer(lambda: fh.keep() or shutil.rmtree(root, True))
    return s.PKI(root / "pki")


def upload_file():
    """48 MiB of lines that each carry MARKER, so any 95 bytes of it in
    the clear would be found."""
    line = MARKER + b"0123456789abcdefghijklmnopqrstu\n"
    assert len(line) == 64
    return line * (FILE_BYTES // len(line))


def open_files(pid, read=True):
    """(link target, bytes or size) of every regular file pid has open."""
    out = []
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        path = os.path.join(fd_dir, fd)
        try:
            target = os.readlink(path)
            if not os.path.isfile(path):
                continue
            if not read:
                out.append((target, os.stat(path).st_size))
                continue
            with open(path, "rb") as f:
                out.append((target, f.read()))
        except OSError:
            continue
    return out


def attachment_and_json(msg):
    parts = list(msg.iter_parts())
    js = json.loads(parts[1].get_payload(decode=True).decode("utf-8"))
    files = [p for p in parts[2:] if p.get_filename() == "big.bin"]
    assert len(files) == 1, [p.get_filename() for p in parts]
    return files[0].get_payload(decode=True), js


@pytest.mark.parametrize("kind", ["plain", "smime"])
def test_large_upload_streamed(request, pki, kind):
    root = h.make_tmpdir("fd-big-")
    request.addfinalizer(lambda: fh.keep() or shutil.rmtree(root, True))
    extra = None
    if kind == "smime":
        extra = {"orders": s.smime_lines(pki, ["merchant"], sign=True)}
    conf, maildirs = h.write_config(root, limits=LIMITS, mailbox_extra=extra)
    hd = h.Handler(root, conf, workers=1)
    request.addfinalizer(hd.stop)
    hd.start()
    worker = oh.wait_workers(hd.proc.pid, 1)[0]

    data = upload_file()
    body, ctype = h.multipart([
        ("name", "Bea Big"), ("email", "bea@example.com"),
        ("address", "Large Street 1"), ("item", "Crate"),
        ("quantity", "1"),
        ("attachment", "big.bin", "application/octet-stream", data)])
    params = oh.fcgi_params("order", body, content_type=ctype)
    # A warm-up order with a 1 MiB file: what every request needs
    # (OpenSSL's tables, the templates) is then in place.
    warm, wctype = h.multipart([
        ("name", "Wim Warm"), ("email", "wim@example.com"),
        ("address", "Warm Street 1"), ("item", "Box"), ("quantity", "1"),
        ("attachment", "warm.bin", "application/octet-stream",
         data[:1 << 20])])
    w = fh.fcgi_request(str(hd.sock),
                        oh.fcgi_params("order", warm, content_type=wctype),
                        warm).response
    assert w is not None and w.status == 200, w
    for f in (maildirs["orders"] / "new").iterdir():
        f.unlink()
    half, resume = threading.Event(), threading.Event()

    def body_chunks():
        step = 1 << 20
        for i in range(0, len(body), step):
            if i >= len(body) // 2 and not half.is_set():
                half.set()
                resume.wait(60)
            yield body[i:i + step]

    result = {}

    def send():
        result["r"] = fh.fcgi_request(str(hd.sock), params, body_chunks(),
                                      timeout=300)

    before_kb = fh.vm_hwm_kb(worker)
    with fh.RssSampler(hd.proc.pid) as rss:
        t = threading.Thread(target=send, daemon=True)
        t.start()
        assert half.wait(120), "the body was not sent"
        tmp = maildirs["orders"] / "tmp"
        fh.wait_for(lambda: any(str(tmp) in name and size > FILE_BYTES // 3
                                for name, size in open_files(worker, False)),
                    timeout=30, what="the spool to hold the first half")
        seen = open_files(worker)
        mid_rss_kb = fh.vm_rss_kb(worker)
        resume.set()
        t.join(300)
    r = result["r"].response
    assert r is not None and r.status == 200, (result["r"], hd.log_text())

    print(f"\n[{kind}] {len(body) / 2**20:.0f} MiB body: worker VmHWM "
          f"{before_kb} kB before, peak {rss.peak_kb} kB during "
          f"(+{rss.peak_kb - before_kb} kB), VmRSS {mid_rss_kb} kB half-way")
    for name, content in seen:
        print(f"[{kind}] open half-way: {name} ({len(content)} bytes)")
    spools = [c for n, c in seen if str(tmp) in n and "(deleted)" in n]
    assert spools, [n for n, _ in seen]
    for name, content in seen:
        assert MARKER not in content, f"plaintext upload in {name}"
    assert rss.peak_kb - before_kb < RSS_GROWTH_KB, (before_kb, rss.peak_kb)

    new = list((maildirs["orders"] / "new").iterdir())
    assert len(new) == 1, new
    assert os.listdir(tmp) == []
    path = new[0]
    if kind == "plain":
        raw = path.read_bytes()
        assert f",S={len(raw)},".encode() in path.name.encode()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
    else:
        _, inner = s.cms_decrypt(path, pki.key("merchant"),
                                 pki.crt("merchant"))
        signed = email.message_from_bytes(inner,
                                          policy=email.policy.default)
        assert signed.get_content_type() == "multipart/signed"
        content, _ = s.signed_parts(inner)
        s.cms_verify(inner, pki / "ca.crt")
        msg = email.message_from_bytes(content, policy=email.policy.default)
    got, js = attachment_and_json(msg)
    assert len(got) == len(data) and got == data
    want_sha = hashlib.sha256(data).hexdigest()
    assert js["files"][0]["size"] == len(data)
    assert js["files"][0]["sha256"] == want_sha
