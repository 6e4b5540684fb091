"""
scripts/deps.sh, as a user who is not root: it names the missing Debian
packages and prints the exact apt-get line, and fails; `deps.sh run`
(make run) asks only for what builds and runs formdrop, not for the test
tools.  dpkg-query is a stub that says which packages are "installed".
"""

import os
import shutil
import subprocess

import e2e_helpers as h

DEPS = h.REPO / "scripts" / "deps.sh"
STUB = """#!/bin/sh
# dpkg-query -W -f='${{Status}}' PACKAGE: installed unless listed.
for a; do p=$a; done
case " {missing} " in *" $p "*) exit 1 ;; esac
printf 'install ok installed'
"""


def deps(tmp_root, missing, *args):
    bindir = tmp_root / "bin"
    bindir.mkdir(exist_ok=True)
    stub = bindir / "dpkg-query"
    stub.write_text(STUB.format(missing=" ".join(missing)))
    stub.chmod(0o755)
    os.chmod(tmp_root, 0o755)
    # A copy: the user may not be able to reach the checkout.
    script = tmp_root / "deps.sh"
    shutil.copyfile(DEPS, script)
    os.chmod(script, 0o644)
    cmd = ["sh", str(script), *args]
    if h.is_root():     # the line is printed for those who cannot install
        cmd = ["setpriv", "--reuid", "nobody", "--regid", "nogroup",
               "--clear-groups"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True,
                          timeout=h.TIMEOUT, cwd="/",
                          env=h.clean_env(PATH=f"{bindir}:/usr/bin:/bin"))


def test_run_asks_only_for_build_packages(tmp_root):
    p = deps(tmp_root, ["libfcgi-dev", "mpop", "chromium"], "run")
    assert p.returncode == 1, p
    assert "formdrop needs these Debian packages: libfcgi-dev\n" in p.stderr
    assert "  apt-get install -y libfcgi-dev\n" in p.stderr
    assert "mpop" not in p.stderr and "chromium" not in p.stderr


def test_check_asks_for_test_tools_too(tmp_root):
    p = deps(tmp_root, ["libfcgi-dev", "mpop", "python3-cryptography"])
    assert p.returncode == 1, p
    assert ("  apt-get install -y libfcgi-dev python3-cryptography mpop\n"
            in p.stderr), p.stderr


def test_nothing_missing_is_silent(tmp_root):
    p = deps(tmp_root, [], "run")
    assert p.returncode == 0 and p.stderr == "", p


def test_unknown_argument(tmp_root):
    p = deps(tmp_root, [], "install")
    assert p.returncode == 2 and "usage" in p.stderr
