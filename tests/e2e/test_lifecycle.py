"""
The handler as a server process: its unix socket (mode 0666, removed at
SIGTERM), TCP with -b, fd 0 from spawn-fcgi, worker processes (gone after
SIGTERM, replaced when one dies), and refusing to start on a bad config.
"""

import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import time

import pytest

import e2e_helpers as h
import fault_helpers as fh

URLENC = "application/x-www-form-urlencoded"
FIELDS = [("name", "Life Cycle"), ("email", "life@example.org"),
          ("message", "hello")]
BODY = h.urlencode(FIELDS)


def fcgi_submit(target):
    env = h.cgi_env(body=BODY, content_type=URLENC, accept="application/json")
    return h.run_cgi_fcgi(target, env, BODY)


def test_unix_socket_mode_and_removal(make_stack, need_cgi_fcgi):
    s = make_stack(nginx=False)
    sock = s.handler.sock
    st = os.stat(sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o666, oct(st.st_mode)
    r = fcgi_submit(sock)
    assert r.status == 200, r
    pid = s.handler.proc.pid
    assert len(h.child_pids(pid)) == 4, "expected 4 workers with -w 4"
    os.kill(pid, signal.SIGTERM)
    rc = s.handler.proc.wait(timeout=10)
    assert rc == 0, f"exit status {rc} after SIGTERM"
    assert not os.path.exists(sock), "socket not removed at SIGTERM"
    deadline = time.monotonic() + 5
    while h.pids_in_group(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert h.pids_in_group(pid) == [], "workers outlived the handler"


def test_sigterm_while_busy_finishes_request(make_stack):
    """A request in flight when SIGTERM arrives is still answered."""
    s = make_stack(workers=1)
    import threading
    result = {}

    def slow():
        result["r"] = s.post("contact", FIELDS)
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.05)
    os.kill(s.handler.proc.pid, signal.SIGTERM)
    t.join(30)
    s.handler.proc.wait(timeout=10)
    r = result["r"]
    # Either the request was finished (303 + a message) or it never reached
    # the handler (nginx answers 502); never a 303 without a message.
    if r.status == 303:
        new = os.listdir(s.maildirs["contact"] / "new")
        assert len(new) == 1
    else:
        assert r.status in (502, 503), r
        assert os.listdir(s.maildirs["contact"] / "new") == []
    assert os.listdir(s.maildirs["contact"] / "tmp") == []


@pytest.mark.parametrize("sig", ["SIGHUP", "SIGTERM"])
def test_signal_during_body_read_finishes_request(tmp_root, request, sig):
    """A reload (SIGHUP) or stop (SIGTERM) that reaches a worker blocked
    reading a request's body does not fail the read: the request is
    answered and delivered (it got 400, "could not be read", which tells
    the client not to send it again).  The worker is known to be in the
    body when it has read everything sent so far; the signal has reached
    it when the idle workers, signalled in the same loop, are gone."""
    s = fh.start_stack(request, tmp_root, nginx=False, workers=3)
    idle_before = set(s.workers_pids())
    body = h.urlencode(FIELDS[:2] + [("message", "x" * 4000)])
    first, rest = body[:10], body[10:]
    log = s.handler.log
    state = {}

    def parts():
        yield first
        sock = state["sock"]
        fh.wait_for(lambda: fh.unread_bytes(sock) == 0,
                    what="the worker to read the first bytes")
        os.kill(s.supervisor, getattr(signal, sig))
        fh.wait_for(lambda: len(idle_before - set(s.workers_pids())) >= 2,
                    what="the idle workers to be signalled and gone")
        yield rest

    env = fh.fcgi_env(body_len=len(body))
    env["HTTP_ACCEPT"] = "application/json"
    snap = s.snap()
    r = fh.fcgi_request(str(s.handler.sock), env, parts(),
                        connected=lambda sock: state.update(sock=sock))
    assert r.response is not None, (r, h.read_log(log))
    assert r.response.status == 200, (r.response, h.read_log(log))
    h.single_delivery(s.maildirs, snap, "contact")
    if sig == "SIGTERM":
        assert s.handler.proc.wait(timeout=10) == 0
        assert "stopped" in h.read_log(log)


def test_reload_cleans_tmp_and_junk_tmp(tmp_root, request):
    """Files a crash left in tmp/ for over 36 hours (maildir(5)) are
    removed at a reload too, also from the spam folder's tmp/ (only the
    inbox's, at start, before)."""
    s = fh.start_stack(request, tmp_root, nginx=False, workers=1)
    box = s.maildirs["contact"]
    junk = h.make_maildir(box / ".Junk")
    old = {d: d / "tmp" / f"1.M1P1Q1R{i}.crashed" for i, d in
           enumerate((box, junk))}
    young = junk / "tmp" / "2.M2P2Q2R2.delivering"
    for path, age in [(p, fh.STALE_AGE + 3600) for p in old.values()] + \
            [(young, 60)]:
        path.write_bytes(b"partial\n")
        fh.age_file(path, age)
    os.kill(s.supervisor, signal.SIGHUP)
    fh.wait_for(lambda: f"removed 1 stale file(s) from {junk}/tmp" in
                s.handler.log_text(), what="the spam folder cleaned")
    assert f"removed 1 stale file(s) from {box}/tmp" in s.handler.log_text()
    assert not any(p.exists() for p in old.values())
    assert young.exists()


def test_tcp_listener(make_stack, need_cgi_fcgi):
    port = h.free_port()
    s = make_stack(nginx=True, listen=f"127.0.0.1:{port}")
    snap = s.snap()
    r = fcgi_submit(f"127.0.0.1:{port}")
    assert r.status == 200, r
    s.delivered(snap, "contact")
    snap = s.snap()
    r = s.post("contact", FIELDS)
    h.check_success(r, "contact")
    s.delivered(snap, "contact")


def test_spawn_fcgi_fd0(tmp_root, need_spawn_fcgi, need_cgi_fcgi):
    """spawn-fcgi -n binds the socket and execs the handler with it as
    fd 0 (as systemd socket activation does)."""
    conf, boxes = h.write_config(tmp_root)
    sock = tmp_root / "spawn.sock"
    log = tmp_root / "spawn.log"
    with open(log, "ab") as logf:
        proc = subprocess.Popen(
            [h.SPAWN_FCGI, "-n", "-s", str(sock), "-M", "0666", "--",
             str(h.HANDLER), "-f", "-c", str(conf), "-w", "2"],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
            env=h.clean_env(), start_new_session=True)
    try:
        h.wait_until(lambda: h.can_connect_unix(sock), proc=proc,
                     what="spawn-fcgi socket", log=log)
        snap = h.snapshot(boxes)
        r = fcgi_submit(sock)
        assert r.status == 200, (r, h.read_log(log))
        h.single_delivery(boxes, snap, "contact")
    finally:
        h.stop_process(proc)
        h.kill_group_leftovers(proc.pid)


def test_worker_dumps_no_core(tmp_root):
    """A worker holds forms in clear: a crash must not write them to disk
    in a core file, even when started with core dumps allowed.  Run as
    nobody, so that not being dumpable shows: the /proc/PID files of a
    process that is not dumpable belong to root."""
    if not h.is_root():
        pytest.skip("runs the handler as nobody")
    nobody = pwd.getpwnam("nobody")
    conf, _ = h.write_config(tmp_root)
    for d, _, files in os.walk(tmp_root):
        os.chown(d, nobody.pw_uid, nobody.pw_gid)
        for f in files:
            os.chown(os.path.join(d, f), nobody.pw_uid, nobody.pw_gid)
    sock, log = tmp_root / "h.sock", tmp_root / "handler.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            ["setpriv", "--reuid", str(nobody.pw_uid), "--regid",
             str(nobody.pw_gid), "--clear-groups", "prlimit",
             "--core=unlimited", "--", str(h.HANDLER), "-f", "-c", str(conf),
             "-s", f"unix:{sock}", "-w", "1"], cwd=tmp_root,
            stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            env=h.clean_env(), start_new_session=True)
    try:
        h.wait_until(lambda: h.can_connect_unix(sock) and h.child_pids(proc.pid),
                     proc=proc, what="the worker", log=log)
        worker = h.child_pids(proc.pid)[0]
        limits = open(f"/proc/{worker}/limits").read()
        assert re.search(r"^Max core file size +0 +0 ", limits, re.M), limits
        for pid in (proc.pid, worker):      # supervisor and worker
            assert os.stat(f"/proc/{pid}/status").st_uid == 0, \
                f"process {pid} is dumpable"
        os.kill(worker, signal.SIGSEGV)
        h.wait_until(lambda: f"worker {worker} killed by signal 11" in
                     h.read_log(log), proc=proc, what="the crash logged",
                     log=log)
    finally:
        h.stop_process(proc)
    cores = [p for p in tmp_root.rglob("core*")]
    assert cores == [], cores


def test_worker_death_is_survived(make_stack, need_cgi_fcgi):
    s = make_stack(nginx=False, workers=2)
    pid = s.handler.proc.pid
    kids = h.child_pids(pid)
    assert len(kids) == 2
    os.kill(kids[0], signal.SIGKILL)
    time.sleep(0.2)
    ok = 0
    for _ in range(10):
        r = fcgi_submit(s.handler.sock)
        ok += r.status == 200
    assert ok == 10
    assert s.handler.alive()
    deadline = time.monotonic() + 5
    while len(h.child_pids(pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(h.child_pids(pid)) == 2, "dead worker not replaced"


def test_replaced_maildir_folder_heals(make_stack):
    """A worker's Landlock rules hold the folder of the Maildirs as it was
    when the worker started; one restored from a backup (a new inode)
    was refused to it for good, 503 to every order until a reload.  Now
    the worker that meets the refusal answers 503, ends, and its
    replacement delivers."""
    s = make_stack(nginx=True, workers=1)
    fields = [("name", "Rev"), ("email", "r@example.org"), ("message", "hi")]
    assert s.post("contact", fields).status == 303
    spool = s.root / "spool"
    os.rename(spool, s.root / "spool.old")
    shutil.copytree(s.root / "spool.old", spool, symlinks=True)
    assert s.post("contact", fields).status == 503
    assert "the worker restarts" in s.handler.log_text()
    h.wait_until(lambda: s.post("contact", fields).status == 303, timeout=5,
                 interval=0.1, what="a replacement worker to deliver",
                 log=s.handler.log)
    # The first message, copied with the folder, and this one.
    assert len(os.listdir(spool / "contact" / "new")) == 2


def test_bad_config_refuses_to_start(tmp_root):
    conf, boxes = h.write_config(tmp_root, extra_formdrop="colour = blue")
    sock = tmp_root / "bad.sock"
    p = subprocess.run([str(h.HANDLER), "-f", "-c", str(conf), "-s",
                        f"unix:{sock}"], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=10, env=h.clean_env())
    assert p.returncode == 78, (p.returncode, p.stderr)
    assert not sock.exists()
    assert str(conf).encode() in p.stderr, p.stderr


def test_missing_config_file(tmp_root):
    p = subprocess.run([str(h.HANDLER), "-f", "-c",
                        str(tmp_root / "nope.conf"), "--check"],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=10, env=h.clean_env())
    assert p.returncode != 0
    assert b"nope.conf" in p.stderr, p.stderr


@pytest.mark.parametrize("args", [["-w", "0"], ["-w", "abc"], ["-b", "nonsense"],
                                  ["-x"], ["-s", "tcp:1.2.3.4"]])
def test_bad_arguments(tmp_root, args):
    conf, _ = h.write_config(tmp_root)
    p = subprocess.run([str(h.HANDLER), "-f", "-c", str(conf)] + args,
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=10, env=h.clean_env())
    assert p.returncode in (64, 78), (args, p.returncode, p.stderr)
    assert p.stderr.strip()
