"""
Least privilege: a confined handler worker cannot read outside the
spool (Landlock, where the kernel has it) and is killed by seccomp when
it tries to start a program.  formdrop.fcgi --sandbox-test confines
itself exactly as a worker does and then tries both.
"""

import signal
import subprocess

import e2e_helpers as h


def test_forbidden_calls_are_stopped(tmp_root):
    conf, _ = h.write_config(tmp_root)
    p = subprocess.run([str(h.HANDLER), "-c", str(conf), "--sandbox-test"],
                       capture_output=True, timeout=30, env=h.clean_env())
    out = p.stdout.decode()
    # The exec was never reached: the process died of SIGSYS.
    assert p.returncode == -signal.SIGSYS, (p.returncode, out, p.stderr)
    assert "shell started" not in out
    assert "exec /bin/sh" not in out
    # Outside the spool: denied where Landlock exists.
    assert ("open /etc/passwd: Permission denied" in out or
            "no Landlock in this kernel" in out), out


def test_confined_workers_still_deliver(stack):
    """The shared stack's workers are confined (the default build): a
    submission still goes all the way into the Maildir."""
    snap = h.snapshot(stack.maildirs)
    r = h.curl(stack.nginx.base + "/submit/contact",
               data=h.urlencode([("name", "Sandboxed"),
                                 ("email", "s@example.com"),
                                 ("message", "inside the sandbox")]),
               content_type="application/x-www-form-urlencoded")
    assert r.status == 303, r
    h.single_delivery(stack.maildirs, snap, "contact")
