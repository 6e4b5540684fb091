"""
formdrop-pop3d's command line: `-c CONF --check` on good and broken
configurations and users files (exit 78 = EX_CONFIG with FILE:LINE),
refusing to start on a broken one, and `--hash` (a yescrypt {CRYPT}$y$
hash that Python's crypt verifies and that logs in), plus SHA-512-crypt
hashes as Dovecot's doveadm makes them.
"""

import datetime
import os
import pwd
import re
import shutil
import signal
import subprocess
import warnings

import pytest

import e2e_helpers as h
import pop3_helpers as ph
from pop3_helpers import make_pop3d, pki  # noqa: F401  (fixtures)

HASH_RE = re.compile(r"^\{CRYPT\}\$y\$[./0-9A-Za-z]+\$[./0-9A-Za-z]{1,86}"
                     r"\$[./0-9A-Za-z]{43}$")


def run(args, input=None, cwd="/"):
    p = subprocess.run([str(ph.POP3D), *args], input=input,
                       capture_output=True, timeout=h.TIMEOUT, cwd=cwd,
                       env=h.clean_env())
    return p.returncode, p.stdout.decode(errors="replace"), \
        p.stderr.decode(errors="replace")


@pytest.fixture
def good(tmp_root, pki):
    """A complete configuration, not started: (Pop3d, conf path)."""
    md = h.make_maildir(tmp_root / "mail" / "shop")
    srv = ph.Pop3d(tmp_root, {"shop": md,
                              "orders": h.make_maildir(tmp_root / "mail" /
                                                       "o")},
                   pki=pki)
    srv.port, srv.tls_port = 1110, 1995     # never bound by --check
    srv.write_users()
    srv.write_config()
    return srv


def check(conf, cwd="/"):
    return run(["-c", str(conf), "--check"], cwd=cwd)


def test_check_good_config(good):
    rc, out, err = check(good.conf)
    assert rc == 0, err
    assert out.strip() == f"{good.conf}: OK, 2 POP3 user(s)"
    assert "error" not in err.lower()
    # Relative paths (certificate, key, users; Maildirs in the users
    # file) resolve against their files' folders, not the working folder.
    text = good.conf.read_text()
    assert "certificate = ../" in text and "users = pop3d.users" in text
    assert ":mail/shop::" in good.users_file.read_text()
    rc, out, err = run(["-c", good.conf.name, "--check"], cwd=good.root)
    assert rc == 0, err


def test_check_warns_about_short_timeout(good):
    good.opts["timeout"] = 3
    good.write_config()
    rc, out, err = check(good.conf)
    assert rc == 0, err
    assert re.search(re.escape(str(good.conf)) +
                     r":\d+: warning: timeout below 600", err), err


def test_check_timeout_warning_names_its_line(good):
    good.opts["timeout"] = 3
    good.write_config()
    rc, out, err = check(good.conf)
    line = good.conf.read_text().splitlines().index("timeout = 3") + 1
    assert f"{good.conf}:{line}: warning: timeout below 600" in err, err


def test_check_empty_pop3_section(good):
    good.conf.write_text("; nothing set\n[pop3]\n")
    err = expect_config_error(good.conf, re.escape(f"{good.conf}:2: [pop3] "
                                                   "needs listen"))
    assert f"{good.conf}:2: [pop3] needs users" in err
    assert "no [pop3] section" not in err


def rewrite(conf, drop=(), add=(), replace=None):
    lines = [l for l in conf.read_text().splitlines()
             if not any(l.startswith(d) for d in drop)]
    if replace:
        lines = [replace.get(l.split(" =")[0], l) for l in lines]
    conf.write_text("\n".join(lines + list(add)) + "\n")


def expect_config_error(conf, pattern):
    rc, out, err = check(conf)
    assert rc == ph.EX_CONFIG, (rc, out, err)
    assert re.search(pattern, err, re.M), err
    assert "OK" not in out
    return err


def test_check_missing_pop3_section(good):
    good.conf.write_text("; no [pop3] here\n[limits]\nbody_max = 1000\n")
    expect_config_error(good.conf, re.escape(f"{good.conf}: no [pop3] "
                                             "section"))


def test_check_missing_users(good):
    rewrite(good.conf, drop=["users"])
    expect_config_error(good.conf, re.escape(f"{good.conf}:1: [pop3] needs "
                                             "users"))


def test_check_missing_listen_and_tls(good):
    rewrite(good.conf, drop=["listen"])
    expect_config_error(good.conf, r"needs listen")
    good.write_config()
    rewrite(good.conf, drop=["certificate", "key"])
    expect_config_error(good.conf, r"needs certificate and key")


def test_check_bad_values(good):
    rewrite(good.conf, add=["timeout = abc", "max_connections = 0",
                            "frobnicate = yes"])
    n = len(good.conf.read_text().splitlines())
    err = expect_config_error(good.conf, re.escape(f"{good.conf}:{n - 2}:") +
                              " timeout must be a number")
    assert f"{good.conf}:{n - 1}: max_connections" in err
    assert f"{good.conf}:{n}: unknown key \"frobnicate\"" in err


def test_check_login_timeout_bounds(good):
    rewrite(good.conf, add=["login_timeout = 0"])
    expect_config_error(good.conf, r"login_timeout")
    good.write_config()
    rewrite(good.conf, add=["login_timeout = 30"])
    rc, out, err = check(good.conf)
    assert rc == 0, err


def self_signed(pki, path, not_before, not_after):
    """A certificate for the PKI's server key, valid between the two
    times (the openssl command line of Debian 12 cannot backdate)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = serialization.load_pem_private_key(pki.key.read_bytes(), None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7)
            .not_valid_before(not_before).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_check_certificate_dates(good, pki):
    now = datetime.datetime.now(datetime.timezone.utc)
    day = datetime.timedelta(days=1)
    old = self_signed(pki, good.root / "old.pem", now - 60 * day,
                      now - 30 * day)
    rewrite(good.conf, replace={"certificate": f"certificate = {old}"})
    expect_config_error(good.conf, re.escape(f"certificate {old} has "
                                             "expired"))
    later = self_signed(pki, good.root / "later.pem", now + day,
                        now + 60 * day)
    rewrite(good.conf, replace={"certificate": f"certificate = {later}"})
    expect_config_error(good.conf, re.escape(f"certificate {later} is not "
                                             "valid yet"))
    soon = self_signed(pki, good.root / "soon.pem", now - day,
                       now + 5 * day + datetime.timedelta(hours=1))
    rewrite(good.conf, replace={"certificate": f"certificate = {soon}"})
    rc, out, err = check(good.conf)
    assert rc == 0, err
    assert f"the TLS certificate {soon} expires in 5 day(s)" in err, err
    month = self_signed(pki, good.root / "month.pem", now - day,
                        now + 30 * day)
    rewrite(good.conf, replace={"certificate": f"certificate = {month}"})
    rc, out, err = check(good.conf)
    assert rc == 0 and "expires" not in err, err


def test_check_certificate_date_unreadable(good, pki):
    """A date OpenSSL cannot read is refused, not taken as valid (it
    was, with a warning that the certificate expired in 0 days)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    path = h.spoil_not_after(self_signed(
        pki, good.root / "bad-date.pem", now - datetime.timedelta(days=1),
        now + datetime.timedelta(days=30)))
    rewrite(good.conf, replace={"certificate": f"certificate = {path}"})
    err = expect_config_error(good.conf, re.escape(
        f"certificate {path} has a validity date that cannot be read"))
    assert "expires in" not in err, err


@pytest.mark.skipif(os.geteuid() != 0, reason="the user matters as root")
def test_check_as_root_needs_the_service_user(good):
    """--check passes only what starts: as root, a [pop3] without user =
    (or naming no account) is an error, as it is at start."""
    rewrite(good.conf, drop=["user ="])
    expect_config_error(good.conf, re.escape("started as root: set user = "
                                             "NAME in [pop3]"))
    rewrite(good.conf, add=["user = no-such-account-here"])
    expect_config_error(good.conf, re.escape("no such user: "
                                             "no-such-account-here"))


def test_check_plaintext_password_in_users_file(good):
    with open(good.users_file, "a") as f:
        f.write("mallory:plaintext:0:0::mail/m::\n")
    n = len(good.users_file.read_text().splitlines())
    err = expect_config_error(good.conf, re.escape(
        f"{good.users_file}:{n}: user mallory: the password must be a "
        "crypt(3) hash"))
    assert "plaintext" not in err.replace("plaintext:", ""), err


@pytest.mark.parametrize("line, what", [
    ("shop2:{CRYPT}$y$j9T$x$y:0:0", r"expected user:hash"),
    ("shop:{CRYPT}$y$j9T$x$y:0:0::mail/x::", r"user shop listed twice"),
    (":{CRYPT}$y$j9T$x$y:0:0::mail/x::", r"bad user name"),
    ("eve:{CRYPT}$y$j9T$x$y:0:0::::", r"bad Maildir path"),
])
def test_check_bad_users_lines(good, line, what):
    with open(good.users_file, "a") as f:
        f.write(line + "\n")
    n = len(good.users_file.read_text().splitlines())
    expect_config_error(good.conf, re.escape(f"{good.users_file}:{n}: ") +
                        ".*" + what)


def test_check_missing_files(good, pki):
    good.users_file.unlink()
    expect_config_error(good.conf, re.escape(str(good.users_file)) +
                        r".*cannot open")
    good.write_users()
    rewrite(good.conf, replace={"key": f"key = {pki.other_key}"})
    expect_config_error(good.conf, r"key .*(mismatch|does not match)")
    rewrite(good.conf, replace={"key": f"key = {pki.dir / 'nonexistent'}"})
    expect_config_error(good.conf, r"nonexistent")
    rc, out, err = check(good.root / "no-such.conf")
    assert rc == ph.EX_CONFIG and "cannot open" in err


def users_line_no(srv, name):
    lines = srv.users_file.read_text().splitlines()
    return next(i + 1 for i, l in enumerate(lines)
                if l.startswith(name + ":"))


def test_check_names_each_broken_maildir(good, tmp_root):
    """A user whose Maildir is missing or incomplete used to pass --check
    and then got [SYS/TEMP] at every login: each problem is an error
    naming the users file's line, the user and the path."""
    shutil.rmtree(tmp_root / "mail" / "o")
    nocur = h.make_maildir(tmp_root / "mail" / "nocur")
    (nocur / "cur").rmdir()
    (tmp_root / "mail" / "file").write_text("not a Maildir\n")
    good.users.update({"nocur": (ph.PASSWORD, nocur),
                       "file": (ph.PASSWORD, tmp_root / "mail" / "file")})
    good.write_users()
    uf = str(good.users_file)
    err = expect_config_error(good.conf, re.escape(
        f"{uf}:{users_line_no(good, 'orders')}: user orders: Maildir "
        f"{tmp_root}/mail/o: No such file or directory"))
    assert (f"{uf}:{users_line_no(good, 'nocur')}: user nocur: Maildir "
            f"{nocur}/cur: No such file or directory") in err, err
    assert (f"{uf}:{users_line_no(good, 'file')}: user file: Maildir "
            f"{tmp_root}/mail/file is not a folder") in err, err
    assert "user shop" not in err, err


def test_start_warns_about_a_broken_maildir(make_pop3d, tmp_root):
    """At start the same problems are warnings: the other users' mail is
    still served."""
    md = h.make_maildir(tmp_root / "box")
    ph.write_message(md, b"Subject: hi\n\nx\n")
    srv = make_pop3d({"shop": md, "gone": tmp_root / "gone"},
                     root=tmp_root / "srv")
    assert re.search(re.escape(str(srv.users_file)) + r":\d+: warning: "
                     r"user gone: Maildir .*/gone: No such file or "
                     r"directory", srv.log_text()), srv.log_text()
    p = srv.login("shop")
    assert p.stat()[0] == 1
    p.quit()


@pytest.mark.skipif(os.geteuid() != 0, reason="checks as the service user")
def test_check_maildir_as_the_service_user(good, tmp_root):
    """Run as root, --check tests the Maildirs as [pop3] user, not as
    root (which may write everywhere)."""
    nobody = pwd.getpwnam("nobody")
    rewrite(good.conf, drop=["user ="], add=["user = nobody"])
    # Root's Maildirs (0755): nobody may read them but not write.
    err = expect_config_error(good.conf, re.escape(
        f"user shop: nobody cannot read and write {tmp_root}/mail/shop: "
        "Permission denied"))
    assert "user orders: nobody cannot read and write" in err, err
    for d, _, _ in os.walk(tmp_root / "mail"):
        os.chown(d, nobody.pw_uid, nobody.pw_gid)
    rc, out, err = check(good.conf)
    assert rc == 0, err
    # Its cur/ taken away again: only that is named.
    os.chown(tmp_root / "mail" / "o" / "cur", 0, 0)
    err = expect_config_error(good.conf, re.escape(
        f"user orders: nobody cannot read and write {tmp_root}/mail/o/cur"))
    assert "user shop" not in err, err


def test_secrets_readable_by_every_user_are_refused(good, pki):
    """The TLS key and the users file (password hashes) are refused when
    every user may read them, as formdrop.fcgi refuses such a sign_key:
    at --check and at start.  Group-readable is fine (Dovecot sharing
    the users file)."""
    key = good.root / "pop3.key"
    shutil.copyfile(pki.key, key)
    os.chmod(key, 0o644)
    rewrite(good.conf, replace={"key": f"key = {key}"})
    err = expect_config_error(good.conf, re.escape(
        f"{key} is readable by every user (mode 0644): chmod o-r it"))
    assert str(good.users_file) not in err, err
    os.chmod(good.users_file, 0o604)
    err = expect_config_error(good.conf, re.escape(
        f"{good.users_file} is readable by every user (mode 0604): chmod "
        "o-r it"))
    assert f"{key} is readable" in err, err
    p = subprocess.run([str(ph.POP3D), "-f", "-c", str(good.conf)],
                       capture_output=True, timeout=h.TIMEOUT,
                       env=h.clean_env())
    assert p.returncode == ph.EX_CONFIG, p.stderr
    assert b"chmod o-r it" in p.stderr
    os.chmod(key, 0o640)
    os.chmod(good.users_file, 0o640)
    rc, out, err = check(good.conf)
    assert rc == 0, err


def test_refuses_to_start_on_bad_config(good):
    with open(good.users_file, "a") as f:
        f.write("mallory:plaintext:0:0::mail/m::\n")
    p = subprocess.run([str(ph.POP3D), "-f", "-c", str(good.conf)],
                       capture_output=True, timeout=h.TIMEOUT,
                       env=h.clean_env())
    assert p.returncode == ph.EX_CONFIG
    assert b"must be a crypt(3) hash" in p.stderr


# ------------------------------------------------------------------ hash

def test_hash_format_and_salt():
    rc, out, err = run(["--hash"], input=b"correct horse battery staple\n")
    assert rc == 0, err
    one = out.strip()
    assert HASH_RE.match(one), one
    rc, out, _ = run(["--hash"], input=b"correct horse battery staple\n")
    assert HASH_RE.match(out.strip()) and out.strip() != one, "no salt"
    assert "correct horse" not in one
    rc, out, err = run(["--hash"], input=b"\n")
    assert rc == ph.EX_USAGE and out == "" and "empty password" in err
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt
    except ImportError:
        return                      # checked by logging in below
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        setting = one[len("{CRYPT}"):]
        assert crypt.crypt("correct horse battery staple", setting) == setting
        assert crypt.crypt("correct horse battery stable", setting) != setting


def test_hash_logs_in_with_spaces_and_sha512_crypt(make_pop3d, tmp_root):
    """The --hash output of a password with spaces logs in with PASS
    (the argument is the rest of the line); a {SHA512-CRYPT}$6$ hash as
    `doveadm pw -s SHA512-CRYPT` writes (made here with openssl passwd
    -6) works too."""
    md = h.make_maildir(tmp_root / "box")
    ph.write_message(md, b"Subject: hi\n\nx\n")
    pw = "correct horse battery staple"
    p6 = subprocess.run([ph.OPENSSL, "passwd", "-6", "-stdin"],
                        input=b"sha512 pass\n", capture_output=True,
                        timeout=h.TIMEOUT).stdout.decode().strip()
    assert p6.startswith("$6$")
    md6 = h.make_maildir(tmp_root / "box6")
    srv = make_pop3d({"spaces": (pw, md)}, root=tmp_root / "srv",
                     extra_users=ph.users_line(
                         "six", md6, tmp_root / "srv",
                         hash="{SHA512-CRYPT}" + p6))
    p = srv.login("spaces", password=pw)
    assert p.stat()[0] == 1
    p.quit()
    p = srv.login("six", password="sha512 pass")
    assert p.stat() == (0, 0)
    p.quit()


def test_certificate_expiry_reported_while_running(make_pop3d, pki,
                                                   tmp_root):
    """A server running for months keeps the certificate it read at
    start: its expiry is reported again while it runs, with what to do;
    before, only at start and --check.  Tested at SIGHUP; the daily check
    (CERT_CHECK_EVERY) calls the same warn_certificate()."""
    import types
    now = datetime.datetime.now(datetime.timezone.utc)
    soon = self_signed(pki, tmp_root / "soon.pem",
                       now - datetime.timedelta(days=1),
                       now + datetime.timedelta(days=5, hours=1))
    short = types.SimpleNamespace(cert=soon, key=pki.key)
    md = h.make_maildir(tmp_root / "box")
    srv = make_pop3d({"shop": md}, pki=short)
    at_start = f"{soon.name} expires in 5 day(s)"
    h.wait_until(lambda: at_start in srv.log_text(), timeout=5,
                 what="the warning at start", log=srv.log)
    assert "restart formdrop-pop3d once it is renewed" not in \
        srv.log_text()
    os.kill(srv.proc.pid, signal.SIGHUP)
    h.wait_until(lambda: "expires in 5 day(s); restart formdrop-pop3d "
                 "once it is renewed" in srv.log_text(), timeout=5,
                 what="the warning at SIGHUP", log=srv.log)
    assert srv.alive()
