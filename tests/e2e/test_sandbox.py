"""
Least privilege: a confined handler worker cannot read outside the
spool (Landlock, where the kernel has it) and is killed by seccomp when
it tries to start a program.  formdrop.fcgi --sandbox-test confines
itself exactly as a worker does and then tries both.
"""

import ctypes
import signal
import subprocess

import e2e_helpers as h

SYS_LANDLOCK_CREATE_RULESET = 444     # the same number on every arch
LANDLOCK_CREATE_RULESET_VERSION = 1


def landlock_abi():
    """The kernel's Landlock ABI version, asked as the handler asks; 0
    when there is none (or it is disabled)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                       ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    return max(abi, 0)


def test_forbidden_calls_are_stopped(tmp_root):
    conf, _ = h.write_config(tmp_root)
    p = subprocess.run([str(h.HANDLER), "-c", str(conf), "--sandbox-test"],
                       capture_output=True, timeout=30, env=h.clean_env())
    out = p.stdout.decode()
    # The exec was never reached: the process died of SIGSYS.
    assert p.returncode == -signal.SIGSYS, (p.returncode, out, p.stderr)
    assert "shell started" not in out
    assert "exec /bin/sh" not in out
    # Outside the spool: denied where the kernel has Landlock ABI 2 (the
    # handler's minimum); an "allowed" there would be a handler that
    # failed to use it.
    if landlock_abi() >= 2:
        assert "open /etc/passwd: Permission denied" in out, out
    else:
        assert "no Landlock in this kernel" in out, out


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


def _status(pid):
    """/proc/PID/status as {field: value}."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def test_cgi_mode_is_confined(tmp_root):
    """Run as a plain CGI program, the handler confines itself before it
    reads the body (it ran unconfined: found by review): seccomp and
    no_new_privs seen here (Landlock is the same confine() call), and it
    still delivers."""
    conf, maildirs = h.write_config(tmp_root)
    body = h.urlencode([("name", "Cee Gee"), ("email", "c@example.com"),
                        ("message", "sent as CGI")])
    env = h.cgi_env(remote_addr="127.0.0.5", body=body,
                    content_type="application/x-www-form-urlencoded")
    env["FORMDROP_CONF"] = str(conf)
    snap = h.snapshot(maildirs)
    p = subprocess.Popen([str(h.HANDLER)], env=env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # The body is held back: the handler waits for it, confined.
        h.wait_until(lambda: _status(p.pid).get("Seccomp") == "2",
                     proc=p, timeout=10,
                     what="the CGI process to confine itself")
        st = _status(p.pid)
        assert st["NoNewPrivs"] == "1", st
        out, err = p.communicate(body, timeout=h.TIMEOUT)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
    r = h.parse_cgi_output(out)
    assert r.status == 303, (r, err)
    h.single_delivery(maildirs, snap, "contact")
