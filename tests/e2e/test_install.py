"""
`make install` as a sysadmin would run it, then the installed example
configuration served by an unprivileged user as contrib/formdrop.service
runs it: User=formdrop (here nobody), ProtectSystem=strict with only the
spool and the StateDirectory= writable.  The paths under /var are moved
into a temp folder; everything else is what was installed.
"""

import configparser
import json
import os
import pwd
import shutil
import subprocess
import time
import urllib.parse

import pytest

import e2e_helpers as h

PREFIX = "/usr/local"


@pytest.fixture(scope="module")
def installed(request):
    if not h.is_root():
        pytest.skip("serving as another user needs root")
    root = h.make_tmpdir("fd-install-")
    os.chmod(root, 0o755)
    request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
    p = subprocess.run(["make", "-s", "install", f"DESTDIR={root}",
                        f"PREFIX={PREFIX}"], cwd=h.REPO,
                       capture_output=True, timeout=300)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    return root


def unit_value(unit, key):
    values = [line.split("=", 1)[1] for line in unit.read_text().splitlines()
              if line.startswith(key + "=")]
    assert len(values) == 1, (key, values)
    return values[0]


def test_example_configuration_serves_as_the_unit_user(installed):
    conf = installed / PREFIX.lstrip("/") / "etc/formdrop/formdrop.conf"
    unit = h.REPO / "contrib" / "formdrop.service"
    parsed = configparser.ConfigParser(inline_comment_prefixes=(";",))
    parsed.read_string(conf.read_text())
    state = parsed["formdrop"]["state"]
    # The state folder is the one the unit makes and may write.
    assert state == "/var/lib/" + unit_value(unit, "StateDirectory"), state
    spool = unit_value(unit, "ReadWritePaths")
    boxes = [parsed[s]["maildir"] for s in parsed.sections()
             if s.startswith("mailbox ")]
    assert boxes and all(b.startswith(spool + "/") for b in boxes), boxes

    nobody = pwd.getpwnam("nobody")
    var = installed / "var"
    text = conf.read_text().replace(spool, f"{var}/spool/formdrop")
    conf.write_text(text.replace(state, f"{var}/lib/formdrop"))
    for b in boxes:
        h.make_maildir(f"{var}/spool/formdrop/{os.path.basename(b)}")
    state_dir = var / "lib" / "formdrop"     # as StateDirectory= makes it
    state_dir.mkdir(parents=True)
    os.chmod(state_dir, 0o700)
    for d, _, _ in os.walk(var):
        os.chown(d, nobody.pw_uid, nobody.pw_gid)
    handler = installed / PREFIX.lstrip("/") / "bin" / "formdrop.fcgi"
    as_nobody = ["setpriv", "--reuid", str(nobody.pw_uid), "--regid",
                 str(nobody.pw_gid), "--clear-groups"]
    p = subprocess.run(as_nobody + [str(handler), "-c", str(conf), "--check"],
                       capture_output=True, timeout=30, env=h.clean_env(),
                       cwd="/")
    assert p.returncode == 0, p.stderr.decode(errors="replace")

    # And it serves: a contact message lands in the installed mailbox.
    sock = installed / "fcgi.sock"
    os.chown(installed, nobody.pw_uid, nobody.pw_gid)
    log = installed / "handler.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            as_nobody + [str(handler), "-f", "-c", str(conf), "-s",
                         f"unix:{sock}", "-w", "1"], stdout=out, stderr=out,
            env=h.clean_env(), cwd="/", start_new_session=True)
    try:
        h.wait_until(lambda: h.can_connect_unix(sock), proc=proc,
                     what="the installed handler's socket", log=log)
        # The shipped contact form wants a token from the state folder's
        # key, at least token_min_age (3 s) old.
        r = h.run_cgi_fcgi(sock, h.cgi_env(
            method="GET", path_info="/contact",
            extra={"SCRIPT_NAME": "/token", "REQUEST_URI": "/token/contact"}))
        assert r.status == 200, (r, h.read_log(log))
        token = json.loads(r.body)["token"]
        time.sleep(3.5)
        body = urllib.parse.urlencode({
            "name": "Ann", "email": "ann@example.com", "fd_hp": "",
            "message": "Installed and serving", "_token": token}).encode()
        r = h.run_cgi_fcgi(sock, h.cgi_env(
            path_info="/contact", body=body,
            content_type="application/x-www-form-urlencoded"), body)
        assert r.status == 303, (r, h.read_log(log))
    finally:
        h.stop_process(proc)
    new = var / "spool/formdrop/contact/new"
    assert len(os.listdir(new)) == 1, h.read_log(log)
    assert (state_dir / "token.key").exists()


def make_target(target, destdir):
    p = subprocess.run(["make", "-s", target, f"DESTDIR={destdir}",
                        f"PREFIX={PREFIX}"], cwd=h.REPO, capture_output=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    return p.stdout.decode(errors="replace")


def test_install_again_keeps_edits_uninstall_keeps_config(tmp_root):
    """A second `make install` (an upgrade) used to overwrite the forms,
    their body templates and error.html the admin had edited; it keeps
    everything under etc/formdrop, while the binaries are replaced.
    `make uninstall` removes what install put in bin, sbin and share and
    keeps the configuration, forms and keys."""
    prefix = tmp_root / PREFIX.lstrip("/")
    etc = prefix / "etc" / "formdrop"
    make_target("install", tmp_root)
    edited = {etc / "formdrop.conf": "; edited conf\n",
              etc / "forms" / "contact.form": "; edited form\n",
              etc / "forms" / "contact.txt": "edited template\n",
              etc / "forms" / "error.html": "<p>edited</p>\n"}
    for path, text in edited.items():
        assert path.exists(), path
        path.write_text(path.read_text() + text)
    (etc / "forms" / "order.form").unlink()     # lost: installed again
    keys = [etc / "users", etc / "pop3.key"]
    for k in keys:
        k.write_text("secret\n")
    before = {p: p.read_text() for p in edited}
    make_target("install", tmp_root)
    for path, text in before.items():
        assert path.read_text() == text, f"{path} overwritten"
    # A missing file is installed again; the shipped versions are there
    # to compare with.
    assert (etc / "forms" / "order.form").read_bytes() == \
        (h.REPO / "templates" / "order.form").read_bytes()
    assert (prefix / "share/formdrop/forms/contact.form").read_bytes() == \
        (h.REPO / "templates" / "contact.form").read_bytes()

    installed = [prefix / "bin/formdrop.fcgi",
                 prefix / "bin/formdrop-devserver",
                 prefix / "sbin/formdrop-pop3d",
                 prefix / "share/man/man8/formdrop-pop3d.8",
                 prefix / "share/man/man5/formdrop.conf.5",
                 prefix / "share/formdrop"]
    assert all(p.exists() for p in installed)
    out = make_target("uninstall", tmp_root)
    assert "kept" in out, out
    assert [p for p in installed if p.exists()] == []
    assert not list((prefix / "share" / "man").rglob("formdrop*"))
    for path, text in before.items():
        assert path.read_text() == text, f"{path} removed by uninstall"
    assert all(k.exists() for k in keys)
