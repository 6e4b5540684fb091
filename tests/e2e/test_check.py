"""
formdrop.fcgi --check: exit 0 on a good configuration (with the shipped
form definitions); on a broken one exit 78 (EX_CONFIG) and print
FILE:LINE: reason for each problem, naming the right line.  Also: relative
paths resolve against the configuration file's folder.
"""

import os
import re
import shutil
import subprocess

import pytest

import e2e_helpers as h

EX_CONFIG = 78


def run_check(conf=None, env_conf=None, cwd="/"):
    args = [str(h.HANDLER)]
    if conf is not None:
        args += ["-c", str(conf)]
    args.append("--check")
    env = h.clean_env()
    if env_conf is not None:
        env["FORMDROP_CONF"] = str(env_conf)
    p = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=20, env=env, cwd=cwd)
    return p.returncode, p.stderr.decode("utf-8", "replace")


def line_of(path, needle):
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in {path}")


def diag_lines(stderr, path):
    """Line numbers of FILE:LINE: diagnostics about path."""
    out = []
    for p in {str(path), os.path.realpath(path)}:
        for m in re.finditer(rf"^{re.escape(p)}:([0-9]+): (.+)$", stderr,
                             re.M):
            out.append((int(m.group(1)), m.group(2)))
    return out


def expect_error(stderr, rc, path, line, *words):
    assert rc == EX_CONFIG, f"exit {rc}, stderr:\n{stderr}"
    found = diag_lines(stderr, path)
    assert found, f"no {path}:LINE: diagnostic in:\n{stderr}"
    lines = line if isinstance(line, (set, tuple)) else {line}
    at = [reason for n, reason in found if n in lines]
    assert at, f"no diagnostic for line {line}; got {found}"
    for w in words:
        assert any(w.lower() in r.lower() for r in at), (w, at)


def copy_templates(root):
    """The shipped forms without screening (see e2e_helpers.intake_forms),
    at root/templates."""
    dst = root / "templates"
    shutil.copytree(h.intake_forms(root), dst)
    return dst


@pytest.fixture(autouse=True)
def _handler_built():
    if not h.HANDLER.exists():
        pytest.fail(f"{h.HANDLER} does not exist", pytrace=False)


# ----------------------------------------------------------------- good

def test_good_config_passes(tmp_root):
    conf, _ = h.write_config(tmp_root)
    rc, err = run_check(conf)
    assert rc == 0, err
    # Root passes what the handler's user may not: said so, unless root
    # owns the state folder (as in the demo).
    assert ("checked as root" in err) == (os.geteuid() == 0), err
    if os.geteuid() == 0:
        (conf.parent / "state").mkdir()
        rc, err = run_check(conf)
        assert rc == 0 and "checked as root" not in err, err


def test_missing_config_is_one_error(tmp_root):
    """A file that cannot be opened: that, and not also the keys it
    "lacks" (it went on to say "[formdrop] has no forms = FOLDER")."""
    missing = tmp_root / "nowhere.conf"
    rc, err = run_check(missing)
    assert rc == EX_CONFIG, err
    assert err.strip() == f"{missing}: cannot open: No such file or " \
        "directory", err


def test_bad_option_names_the_program():
    p = subprocess.run([str(h.HANDLER), "-w", "0"], capture_output=True,
                       timeout=20, env=h.clean_env())
    assert p.returncode == 64
    assert p.stderr.decode().startswith("formdrop.fcgi: -w wants 1 to "), \
        p.stderr


def test_good_config_from_environment(tmp_root):
    conf, _ = h.write_config(tmp_root)
    rc, err = run_check(env_conf=conf)
    assert rc == 0, err


def test_shipped_forms_are_the_expected_ones():
    names = sorted(p.name for p in h.TEMPLATES.iterdir())
    for need in ("contact.form", "order.form", "error.html"):
        assert need in names, names


def test_relative_paths_resolve_against_config_folder(tmp_root):
    copy_templates(tmp_root)
    for box in ("contact", "orders"):
        h.make_maildir(tmp_root / "spool" / box)
    conf, boxes = h.write_config(
        tmp_root, forms="templates",
        mailboxes={"contact": "spool/contact", "orders": "./spool/orders"})
    rc, err = run_check(conf, cwd="/")
    assert rc == 0, err
    # And the handler started elsewhere delivers into those folders.
    env = h.cgi_env(body=b"name=Rel&email=rel%40example.org&message=hi",
                    content_type="application/x-www-form-urlencoded")
    env["FORMDROP_CONF"] = str(conf)
    p = subprocess.run([str(h.HANDLER)], env=env, cwd="/",
                       input=b"name=Rel&email=rel%40example.org&message=hi",
                       capture_output=True, timeout=20)
    r = h.parse_cgi_output(p.stdout)
    assert r.status == 303, (r, p.stderr)
    assert len(os.listdir(tmp_root / "spool" / "contact" / "new")) == 1


# --------------------------------------------------------------- broken

@pytest.mark.parametrize("section,key", [
    ("formdrop", "colour = blue"),
    ("limits", "bodymax = 5"),
    ("mailbox contact", "cc = boss@test.example"),
])
def test_unknown_key(tmp_root, section, key):
    conf, _ = h.write_config(tmp_root)
    lines = conf.read_text().splitlines()
    i = lines.index(f"[{section}]")
    lines.insert(i + 2, key)
    conf.write_text("\n".join(lines) + "\n")
    rc, err = run_check(conf)
    expect_error(err, rc, conf, i + 3, key.split()[0])


@pytest.mark.parametrize("value", ["lots", "-5", "12abc", "",
                                   "99999999999999999999999", "1.5", "0x10"])
def test_bad_number(tmp_root, value):
    conf, _ = h.write_config(tmp_root)
    text = conf.read_text().replace(
        f"body_max = {h.LIMITS['body_max']}", f"body_max = {value}")
    conf.write_text(text)
    rc, err = run_check(conf)
    expect_error(err, rc, conf, line_of(conf, "body_max ="), "body_max")


@pytest.mark.parametrize("key", ["fields_max", "files_max", "file_max",
                                 "field_max"])
def test_bad_number_each_limit(tmp_root, key):
    conf, _ = h.write_config(tmp_root)
    text = conf.read_text().replace(f"{key} = {h.LIMITS[key]}",
                                    f"{key} = ten")
    conf.write_text(text)
    rc, err = run_check(conf)
    expect_error(err, rc, conf, line_of(conf, f"{key} ="), key)


def test_missing_maildir(tmp_root):
    missing = tmp_root / "spool" / "nowhere"
    conf, _ = h.write_config(tmp_root, mailboxes={
        "contact": missing, "orders": h.make_maildir(tmp_root / "o")})
    rc, err = run_check(conf)
    assert rc == EX_CONFIG, err
    found = diag_lines(err, conf)
    ok_lines = {line_of(conf, f"maildir = {missing}"),
                line_of(conf, "[mailbox contact]")}
    assert any(n in ok_lines for n, _ in found), (found, ok_lines, err)
    assert "nowhere" in err


def test_maildir_without_new(tmp_root):
    conf, boxes = h.write_config(tmp_root)
    shutil.rmtree(boxes["orders"] / "new")
    rc, err = run_check(conf)
    assert rc == EX_CONFIG, err
    found = diag_lines(err, conf)
    ok_lines = {line_of(conf, f"maildir = {boxes['orders']}"),
                line_of(conf, "[mailbox orders]")}
    assert any(n in ok_lines for n, _ in found), (found, ok_lines, err)


def test_form_files_must_be_utf8(tmp_root):
    """A form definition or body template saved as Latin-1: refused with
    its line (the bytes went into a Subject labelled UTF-8, and an
    encoded-word copied past the end of the text)."""
    conf, _ = h.write_config(tmp_root)
    forms = tmp_root / "forms"
    form = forms / "contact.form"
    text = form.read_bytes()
    subject = line_of(form, "subject")
    form.write_bytes(text.replace(b"subject  = Contact form: {{name}}",
                                  b"subject  = Anfrage f\xfcr {{name}}"))
    rc, err = run_check(conf)
    expect_error(err, rc, form, subject, "not UTF-8")
    form.write_bytes(text)
    body = forms / "contact.txt"
    body.write_bytes(body.read_bytes() + b"Gr\xfc\xdfe\n")
    rc, err = run_check(conf)
    assert rc == EX_CONFIG and f"{body}: not UTF-8" in err, err


def test_unknown_section(tmp_root):
    conf, _ = h.write_config(tmp_root, extra="[colours]\nred = 1")
    rc, err = run_check(conf)
    expect_error(err, rc, conf,
                 {line_of(conf, "red = 1"), line_of(conf, "[colours]")},
                 "colours")


def test_bad_from_address(tmp_root):
    conf, _ = h.write_config(tmp_root)
    text = conf.read_text().replace("to = Shop <shop@test.example>",
                                    "to = not an address")
    conf.write_text(text)
    rc, err = run_check(conf)
    expect_error(err, rc, conf, line_of(conf, "to = not an address"), "to")


def test_forms_folder_missing(tmp_root):
    conf, _ = h.write_config(tmp_root, forms=tmp_root / "no-such-folder")
    rc, err = run_check(conf)
    expect_error(err, rc, conf, line_of(conf, "forms ="), "no-such-folder")


def test_every_problem_reported(tmp_root):
    conf, _ = h.write_config(tmp_root)
    text = conf.read_text()
    text = text.replace("files_max = 4", "files_max = four")
    text = text.replace("hostname = test.example",
                        "hostname = test.example\nflavour = vanilla")
    conf.write_text(text)
    rc, err = run_check(conf)
    assert rc == EX_CONFIG
    found = {n for n, _ in diag_lines(err, conf)}
    assert line_of(conf, "files_max = four") in found, err
    assert line_of(conf, "flavour = vanilla") in found, err


# ------------------------------------------------------ form definitions

BROKEN_FORM = """\
[form]
mailbox = contact
subject = Broken: {{{{name}}}}
body = broken.txt
thanks = /thanks.html
unknown = reject

[field name]
type = text
required = yes

[field colour]
{bad}
"""


@pytest.mark.parametrize("bad,words", [
    ("type = colour", ("colour",)),
    ("type = text\nrequired = perhaps", ("required",)),
    ("type = integer\nmax = many", ("max",)),
    ("type = text\nshade = dark", ("shade",)),
    ("type = text\npattern = ([a-z", ("pattern",)),
])
def test_form_definition_errors(tmp_root, bad, words):
    forms = copy_templates(tmp_root)
    broken = forms / "broken.form"
    broken.write_text(BROKEN_FORM.format(bad=bad))
    (forms / "broken.txt").write_text("Name: {{name}}\n")
    conf, _ = h.write_config(tmp_root, forms=forms)
    rc, err = run_check(conf)
    bad_line = bad.splitlines()[-1]
    expect_error(err, rc, broken, line_of(broken, bad_line), *words)


def test_form_names_unconfigured_mailbox(tmp_root):
    forms = copy_templates(tmp_root)
    broken = forms / "broken.form"
    broken.write_text(BROKEN_FORM.format(bad="type = text").replace(
        "mailbox = contact", "mailbox = nonesuch"))
    (forms / "broken.txt").write_text("Name: {{name}} {{colour}}\n")
    conf, _ = h.write_config(tmp_root, forms=forms)
    rc, err = run_check(conf)
    assert rc == EX_CONFIG, err
    assert "nonesuch" in err and "broken" in err, err


def test_shipped_form_with_unknown_type(tmp_root):
    """Break the shipped contact.form itself: its own line is named."""
    forms = copy_templates(tmp_root)
    cf = forms / "contact.form"
    lines = cf.read_text().splitlines()
    idx = [i for i, l in enumerate(lines)
           if re.match(r"\s*type\s*=\s*email\s*$", l)]
    assert idx, "contact.form has no 'type = email' line"
    lines[idx[0]] = "type = e-mail-address"
    cf.write_text("\n".join(lines) + "\n")
    conf, _ = h.write_config(tmp_root, forms=forms)
    rc, err = run_check(conf)
    expect_error(err, rc, cf, idx[0] + 1, "e-mail-address")


def test_template_with_unknown_name(tmp_root):
    """A body template naming a field the form does not have."""
    forms = copy_templates(tmp_root)
    (forms / "broken.form").write_text(BROKEN_FORM.format(bad="type = text"))
    (forms / "broken.txt").write_text("Name: {{name}}\nAge: {{age}}\n")
    conf, _ = h.write_config(tmp_root, forms=forms)
    rc, err = run_check(conf)
    expect_error(err, rc, forms / "broken.txt", 2, "age")


def test_good_extra_form_passes(tmp_root):
    """The broken-form fixture itself is valid when nothing is broken."""
    forms = copy_templates(tmp_root)
    (forms / "broken.form").write_text(BROKEN_FORM.format(bad="type = text"))
    (forms / "broken.txt").write_text("Name: {{name}} {{colour}}\n")
    conf, _ = h.write_config(tmp_root, forms=forms)
    rc, err = run_check(conf)
    assert rc == 0, err


def _as_service_user(args):
    """args run as the handler's unprivileged user would run them: as
    nobody when the tests run as root (root may write anywhere), else as
    the tests' own user."""
    if os.geteuid() != 0:
        return args
    return ["setpriv", "--reuid=nobody", "--regid=nogroup",
            "--clear-groups", "--"] + args


def _give_to_nobody(*paths):
    if os.geteuid() == 0:
        import pwd
        pw = pwd.getpwnam("nobody")
        for top in paths:
            for d, dirs, files in os.walk(top):
                for n in [d] + [os.path.join(d, f) for f in files]:
                    os.chown(n, pw.pw_uid, pw.pw_gid)


def test_state_folder_checked_as_a_start_would(tmp_root):
    """--check said OK where the start then failed: a state folder that
    does not exist yet is made in its parent folder (not the
    configuration's), and a token key there must be readable (a key
    left by a root --rotate-token-key stopped the handler)."""
    ro = tmp_root / "ro"
    ro.mkdir()
    conf, _ = h.write_config(tmp_root,
                             extra_formdrop=f"state = {ro / 'state'}")
    _give_to_nobody(tmp_root / "spool", tmp_root / "forms")
    os.chmod(tmp_root, 0o777)           # the configuration's folder
    os.chmod(ro, 0o555)
    run = [str(h.HANDLER), "-c", str(conf), "--check"]
    p = subprocess.run(_as_service_user(run), capture_output=True,
                       timeout=20, env=h.clean_env(), cwd="/")
    err = p.stderr.decode()
    assert p.returncode == EX_CONFIG, err
    assert f"state folder {ro / 'state'} is not writable and cannot be " \
           f"created" in err, err
    # The folder exists, writable; its key is not readable.
    os.chmod(ro, 0o755)
    state = ro / "state"
    state.mkdir()
    (state / "token.key").write_text("00" * 32 + "\n")
    os.chmod(state / "token.key", 0o600)
    _give_to_nobody(state)
    if os.geteuid() == 0:
        os.chown(state / "token.key", 0, 0)
    else:
        os.chmod(state / "token.key", 0o000)
    p = subprocess.run(_as_service_user(run), capture_output=True,
                       timeout=20, env=h.clean_env(), cwd="/")
    err = p.stderr.decode()
    assert p.returncode == EX_CONFIG, err
    assert f"{state / 'token.key'}: Permission denied" in err, err
    # Readable: OK.
    _give_to_nobody(state)
    if os.geteuid() != 0:
        os.chmod(state / "token.key", 0o600)
    p = subprocess.run(_as_service_user(run), capture_output=True,
                       timeout=20, env=h.clean_env(), cwd="/")
    assert p.returncode == 0, p.stderr.decode()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: sudo's case")
def test_rotate_token_key_as_root_keeps_the_owner(tmp_root):
    """`sudo formdrop.fcgi --rotate-token-key` made a root-owned 0600 key
    that the handler's user could not read: the next reload failed and
    said "not a 64-digit hex key (remove it...)", the wrong advice.  The
    new key now belongs to the state folder's owner, and an unreadable
    key is reported as such."""
    import pwd
    nobody = pwd.getpwnam("nobody")
    state = tmp_root / "state"
    state.mkdir()
    conf, _ = h.write_config(tmp_root, extra_formdrop=f"state = {state}")
    _give_to_nobody(tmp_root / "spool", tmp_root / "forms", state)
    p = subprocess.run([str(h.HANDLER), "-c", str(conf),
                        "--rotate-token-key"], capture_output=True,
                       timeout=20, env=h.clean_env())
    assert p.returncode == 0, p
    st = os.stat(state / "token.key")
    assert (st.st_uid, st.st_gid) == (nobody.pw_uid, nobody.pw_gid), st
    # The handler's user can read it (--check tries).
    run = [str(h.HANDLER), "-c", str(conf), "--check"]
    p = subprocess.run(_as_service_user(run), capture_output=True,
                       timeout=20, env=h.clean_env(), cwd="/")
    assert p.returncode == 0, p.stderr.decode()
    # A key the user cannot read: said as such when the handler starts.
    os.chown(state / "token.key", 0, 0)
    srv = subprocess.run(_as_service_user(
        [str(h.HANDLER), "-c", str(conf), "-f", "-s",
         f"unix:{tmp_root / 'h.sock'}", "-w", "1"]), capture_output=True,
        timeout=20, env=h.clean_env(), cwd="/")
    err = srv.stderr.decode()
    assert srv.returncode == EX_CONFIG, err
    assert "Permission denied" in err and "64-digit" not in err, err
