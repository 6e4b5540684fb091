"""
No leak, flat memory: the real programs serving many requests.

  * formdrop.fcgi with 2 workers, driven over FastCGI directly (one kept
    connection per worker): 10,000 submissions (fewer if they do not fit
    in SUBMIT_SECONDS; the figures printed with -s say how many), once to
    plain mailboxes and once to S/MIME mailboxes (signed, encrypted to
    merchant + staff + escrow).  Each worker's VmRSS after the first 1,000
    and after the last submission differs by less than HANDLER_GROWTH.
  * The ASan+UBSan build of the handler (make build/asan/formdrop.fcgi) as
    a plain CGI program for a few hundred requests of every kind (success
    plain / multipart / S/MIME / JSON, 400, 404, 405, 413, 415, 422) with
    LeakSanitizer on: every run exits 0, has no LeakSanitizer report and
    went through exit() (ASan's exit statistics are printed), and every
    success is one message.
  * formdrop-pop3d serving 1,000 sessions (login, STAT, UIDL, RETR 1,
    QUIT): the parent's VmRSS after 100 and after 1,000 sessions differs
    by less than POP3D_GROWTH.  Logins use a SHA512-CRYPT hash: a
    yescrypt login costs ~55 ms (1,000 sessions would take a minute), and
    the hash is checked in the session process, not in the parent
    measured here.
  * The ASan build of formdrop-pop3d for 100 sessions with LeakSanitizer:
    sessions end with _exit(), which skips LSan's check, so the test
    preloads a tiny _exit() that runs __lsan_do_leak_check() first (a
    control program shows the check is blind without it and sees a leak
    with it); no session may leak, and the parent's report at exit must be
    empty too.

Figures are printed (pytest -s).  Every server listens on 127.0.0.1 and is
stopped by its PID; temp folders are removed.
"""

import concurrent.futures
import os
import re
import shutil
import subprocess
import threading
import time

import pytest

import e2e_helpers as h
import fault_helpers as fh
import ops_helpers as oh
import pop3_helpers as ph
import smime_helpers as s

SUBMISSIONS = 10000
WARMUP = 1000
SUBMIT_SECONDS = 40          # per mailbox kind; fewer submissions if slow
HANDLER_GROWTH_KB = 2048
POP3D_SESSIONS = 1000
POP3D_WARMUP = 100
POP3D_GROWTH_KB = 1024
ASAN_SESSIONS = 100
CGI_ROUNDS = 20              # requests of each kind under ASan

ASAN_FCGI = h.REPO / "build" / "asan" / "formdrop.fcgi"
ASAN_POP3D = h.REPO / "build" / "asan" / "formdrop-pop3d"

CONTACT = [("name", "Zoë Ünïcødé"), ("email", "zoe@example.org"),
           ("message", "Hallo!\nZweite Zeile — ✓ " + "x" * 300)]
ORDER = [("name", "Bob Buyer"), ("email", "bob@example.com"),
         ("phone", "+49 30 1234567"), ("address", "Hauptstraße 1\nBerlin"),
         ("item", "Widget"), ("quantity", "2"), ("item", "Gadget"),
         ("quantity", "1"), ("notes", "schnell bitte"),
         ("attachment", "plan.pdf", "application/pdf",
          b"%PDF-1.4\n" + bytes(range(256)) * 8)]


def keep():
    return bool(os.environ.get("FORMDROP_E2E_KEEP"))


def cleanup(request, root):
    request.addfinalizer(lambda: keep() or shutil.rmtree(root, True))


@pytest.fixture(scope="module")
def pki(request):
    if not h.HANDLER.exists():
        pytest.fail(f"{h.HANDLER} does not exist: run make", pytrace=False)
    root = h.make_tmpdir("fd-mem-pki-")
    cleanup(request, root)
    return s.PKI(root / "pki")


# ------------------------------------------------------ handler: RSS

def bodies():
    """(form, params, body, expected status) of the requests sent in
    turn: urlencoded contact, multipart order with an attachment."""
    c = h.urlencode(CONTACT)
    o, octype = h.multipart(ORDER)
    return [
        ("contact", oh.fcgi_params("contact", c), c),
        ("order", oh.fcgi_params("order", o, content_type=octype), o),
    ]


@pytest.mark.parametrize("kind", ["plain", "smime"])
def test_handler_workers_rss_flat(request, pki, kind):
    root = h.make_tmpdir("fd-mem-")
    cleanup(request, root)
    extra = None
    if kind == "smime":
        lines = s.smime_lines(pki, ["merchant", "staff"], escrow="escrow",
                              sign=True)
        extra = {"orders": lines, "contact": lines}
    conf, maildirs = h.write_config(root, mailbox_extra=extra)
    hd = h.Handler(root, conf, workers=2)
    request.addfinalizer(hd.stop)
    hd.start()
    sup = hd.proc.pid
    workers = oh.wait_workers(sup, 2)
    reqs = bodies()

    counts = [0, 0]
    errors = []
    warm = threading.Barrier(3)
    go = threading.Event()
    deadline = [time.monotonic() + SUBMIT_SECONDS]

    def client(i):
        # One kept connection: the worker that accepted it serves every
        # request of this thread, so both workers get half the load.
        try:
            with oh.FcgiConn(str(hd.sock)) as conn:
                n = 0
                while n < SUBMISSIONS // 2:
                    if n == WARMUP // 2:
                        warm.wait(60)
                        go.wait(60)
                    elif n > WARMUP // 2 and time.monotonic() > deadline[0]:
                        break
                    form, params, body = reqs[n % len(reqs)]
                    r = conn.request(params, body)
                    if r.status != 200:
                        errors.append(r)
                        warm.abort()
                        return
                    n += 1
                    counts[i] = n
                assert conn.connections == 1, conn.connections
        except Exception as e:      # noqa: BLE001 - reported below
            errors.append(e)
            warm.abort()

    threads = [threading.Thread(target=client, args=(i,), daemon=True)
               for i in range(2)]
    start = time.monotonic()
    for t in threads:
        t.start()
    try:
        warm.wait(120)
    except threading.BrokenBarrierError:
        pass
    assert not errors, errors[:3]
    rss_warm = oh.workers_rss(sup)
    hwm_warm = {p: oh.status_kb(p, "VmHWM") for p in rss_warm}
    t_warm = time.monotonic() - start
    deadline[0] = time.monotonic() + SUBMIT_SECONDS
    go.set()
    for t in threads:
        t.join(SUBMIT_SECONDS + 60)
    elapsed = time.monotonic() - start
    assert not errors, errors[:3]
    rss_end = oh.workers_rss(sup)
    hwm_end = {p: oh.status_kb(p, "VmHWM") for p in rss_end}
    total = sum(counts)

    print(f"\n[handler {kind}] {total} submissions in {elapsed:.1f} s "
          f"({total / elapsed:.0f}/s; first {WARMUP} in {t_warm:.1f} s)"
          + ("" if total >= SUBMISSIONS else
             f" -- fewer than {SUBMISSIONS}: the {SUBMIT_SECONDS} s budget "
             "ran out"))
    for p in sorted(rss_end):
        print(f"[handler {kind}] worker {p}: VmRSS {rss_warm.get(p)} kB "
              f"after {WARMUP}, {rss_end[p]} kB after {total} "
              f"(growth {rss_end[p] - rss_warm.get(p, 0)} kB); VmHWM "
              f"{hwm_warm.get(p)} -> {hwm_end[p]} kB")

    # The same two workers all along (a restart would hide a leak).
    assert sorted(rss_warm) == sorted(workers) == sorted(rss_end), (
        workers, rss_warm, rss_end, hd.log_text())
    assert "restarting" not in hd.log_text()
    assert total >= 2 * WARMUP, total
    # Every answer was one message, spread over both workers.
    delivered = (oh.maildir_count(maildirs["contact"])
                 + oh.maildir_count(maildirs["orders"]))
    assert delivered == total
    by_pid = {}
    for box in maildirs.values():
        for name in os.listdir(box / "new"):
            pid = int(re.search(r"P([0-9]+)Q", name).group(1))
            by_pid[pid] = by_pid.get(pid, 0) + 1
    assert set(by_pid) == set(workers), by_pid
    for p in workers:
        growth = rss_end[p] - rss_warm[p]
        assert growth < HANDLER_GROWTH_KB, (
            f"worker {p} grew by {growth} kB between submission "
            f"{WARMUP} and {total} ({kind})")
    # The last message of each kind is whole (and, for S/MIME, opens).
    last = sorted(os.listdir(maildirs["orders"] / "new"))[-1]
    path = maildirs["orders"] / "new" / last
    if kind == "smime":
        _, plain = s.cms_decrypt(path, pki.key("merchant"),
                                 pki.crt("merchant"))
        assert b"multipart/signed" in plain
    else:
        d, problem = fh.read_message(path)
        assert problem is None, problem
        assert d.data["fields"]["name"] == "Bob Buyer"


# --------------------------------------------------- handler under ASan

@pytest.fixture(scope="module")
def asan_fcgi():
    p = subprocess.run(["make", "-C", str(h.REPO), "build/asan/formdrop.fcgi"],
                       capture_output=True, timeout=600, env=h.clean_env())
    if p.returncode != 0:
        pytest.fail("make build/asan/formdrop.fcgi failed:\n"
                    + p.stderr.decode(errors="replace")[-3000:],
                    pytrace=False)
    return ASAN_FCGI


@pytest.fixture(scope="module")
def lsan_works(request):
    """LeakSanitizer works here (ptrace allowed, ...): a program with a
    leak is reported, and the exit code is the one asked for."""
    if oh.CC is None:
        pytest.skip("no C compiler")
    root = h.make_tmpdir("fd-lsan-")
    cleanup(request, root)
    prog = oh.compile_c("#include <stdlib.h>\nvoid *volatile g;\n"
                        "int main(void){g = malloc(77); g = 0; return 0;}\n",
                        root / "leak", "-fsanitize=address", "-g")
    p = subprocess.run([str(prog)], capture_output=True, timeout=60,
                       env=h.clean_env(ASAN_OPTIONS="detect_leaks=1:"
                                       "exitcode=23"))
    err = p.stderr.decode(errors="replace")
    if p.returncode != 23 or "LeakSanitizer" not in err:
        pytest.skip(f"LeakSanitizer does not work here: rc {p.returncode}"
                    f"\n{err[-1500:]}")
    return root


def cgi_cases(pki):
    """[(name, env-kw, body, status, success box)]."""
    c = h.urlencode(CONTACT)
    cm, cmtype = h.multipart(CONTACT)
    o, otype = h.multipart(ORDER)
    trunc = cm[:len(cm) // 2]
    many = h.urlencode([(f"f{i}", "x") for i in range(150)])
    J = "application/json"
    U = fh.URLENC
    return [
        ("contact 303", dict(content_type=U), c, 303, "contact"),
        ("contact json", dict(content_type=U, accept=J), c, 200, "contact"),
        ("contact multipart", dict(content_type=cmtype), cm, 303,
         "contact"),
        ("order smime", dict(content_type=otype, path_info="/order"), o, 303,
         "orders"),
        ("order smime json", dict(content_type=otype, path_info="/order",
                                  accept=J), o, 200, "orders"),
        ("422 html", dict(content_type=U), b"name=x&email=bad", 422, None),
        ("422 json", dict(content_type=U, accept=J), b"email=bad", 422,
         None),
        ("400 escape", dict(content_type=U), b"name=%ZZ", 400, None),
        ("400 utf8", dict(content_type=U, accept=J),
         b"name=%C3%28&email=a@b.c&message=x", 400, None),
        ("400 truncated multipart", dict(content_type=cmtype), trunc, 400,
         None),
        ("413 body", dict(content_type=U),
         b"message=" + b"x" * (h.LIMITS["body_max"] + 10), 413, None),
        ("413 fields", dict(content_type=U, accept=J), many, 413, None),
        ("415", dict(content_type="text/plain"), c, 415, None),
        ("404", dict(content_type=U, path_info="/nosuchform"), c, 404,
         None),
        ("405", dict(method="GET"), b"", 405, None),
    ]


def test_handler_asan_cgi_no_leaks(request, pki, asan_fcgi, lsan_works):
    root = h.make_tmpdir("fd-mem-asan-")
    cleanup(request, root)
    conf, maildirs = h.write_config(root, mailbox_extra={
        "orders": s.smime_lines(pki, ["merchant", "staff"],
                                escrow="escrow", sign=True)})
    cases = cgi_cases(pki)
    # The first run makes the state folder and token key; concurrent
    # first runs race (test_cgi_concurrent_first_runs), not tested here.
    warm = h.cgi_env(method="GET")
    warm["FORMDROP_CONF"] = str(conf)
    assert oh.run_cgi(h.HANDLER, warm).status == 405
    jobs = []
    for rnd in range(CGI_ROUNDS):
        for name, kw, body, status, box in cases:
            env = h.cgi_env(remote_addr="127.0.0.5", body=body, **kw)
            env["FORMDROP_CONF"] = str(conf)
            env["ASAN_OPTIONS"] = ("detect_leaks=1:exitcode=23:atexit=1:"
                                   "print_stats=0")
            env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
            jobs.append((name, env, body, status, box))

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        results = list(ex.map(
            lambda j: (j, oh.run_cgi(asan_fcgi, j[1], j[2], timeout=60)),
            jobs))
    elapsed = time.monotonic() - start

    bad = []
    ok = {"contact": 0, "orders": 0}
    for (name, env, body, status, box), r in results:
        problems = []
        if r.returncode != 0:
            problems.append(f"exit {r.returncode}")
        if "LeakSanitizer" in r.stderr:
            problems.append("LeakSanitizer report")
        if "runtime error" in r.stderr or "AddressSanitizer:" in \
                r.stderr.replace("AddressSanitizer exit stats", ""):
            problems.append("sanitizer report")
        if "AddressSanitizer exit stats" not in r.stderr:
            problems.append("did not end through exit(): LSan did not run")
        if r.status != status:
            problems.append(f"status {r.status}, expected {status}")
        if problems:
            bad.append((name, problems, r.stderr[-3000:]))
        elif box:
            ok[box] += 1
    print(f"\n[asan cgi] {len(results)} runs ({len(cases)} kinds x "
          f"{CGI_ROUNDS}) in {elapsed:.1f} s; {len(bad)} with problems; "
          f"successes {ok}")
    assert not bad, "\n\n".join(f"{n}: {p}\n{e}" for n, p, e in bad[:3])
    for box, n in ok.items():
        assert oh.maildir_count(maildirs[box]) == n, box
        assert os.listdir(maildirs[box] / "tmp") == []


def test_cgi_concurrent_first_runs(request):
    """A web server starts CGI processes in parallel; on a new
    installation the first ones find no state folder and no token key
    yet.  Every one of them must answer (found by the ASan run above:
    one got exit 78 "state folder ...: File exists" and no answer)."""
    bad, runs = [], 0
    body = h.urlencode(CONTACT)
    for trial in range(20):
        root = h.make_tmpdir("fd-mem-race-")
        try:
            conf, maildirs = h.write_config(root)
            env = h.cgi_env(remote_addr="127.0.0.5", body=body,
                            content_type=fh.URLENC)
            env["FORMDROP_CONF"] = str(conf)
            with concurrent.futures.ThreadPoolExecutor(12) as ex:
                rs = list(ex.map(lambda _: oh.run_cgi(h.HANDLER, env, body),
                                 range(12)))
            runs += len(rs)
            bad += [(r.returncode, r.stderr.strip()) for r in rs
                    if r.status != 303]
            assert oh.maildir_count(maildirs["contact"]) == \
                sum(r.status == 303 for r in rs)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\n[cgi first runs] {len(bad)} of {runs} concurrent first runs "
          f"failed" + (f", e.g. {bad[0]}" if bad else ""))
    assert not bad, bad[:3]


# ---------------------------------------------------------- pop3d: RSS

def pop3_users(root, n, msgs=3):
    """n users, each with a Maildir of msgs hand-written messages, all
    with the same SHA512-CRYPT password hash."""
    pw_hash = oh.sha512_crypt(ph.PASSWORD, root)
    text, mds = "", {}
    for i in range(n):
        md = h.make_maildir(root / f"md{i}")
        for j in range(msgs):
            ph.write_message(md, (f"Subject: message {j} of user{i}\n\n"
                                  f"body {j}\n.\n..\nend\n").encode())
        mds[f"user{i}"] = md
        text += f"user{i}:{pw_hash}:0:0::{md}::\n"
    return text, mds


def session(srv, user):
    p = srv.login(user)
    try:
        count, _ = p.stat()
        assert count >= 1
        _, uidls, _ = p.uidl()
        assert len(uidls) == count
        _, lines, _ = p.retr(1)
        assert lines
        assert p.quit().startswith(b"+OK")
    finally:
        p.close()


def run_sessions(srv, users, n):
    """n sessions, one thread per user (each user's maildrop is locked
    by its session, so a user's sessions follow each other)."""
    per = n // len(users)
    errors = []

    def worker(u):
        try:
            for _ in range(per):
                session(srv, u)
        except Exception as e:      # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=worker, args=(u,)) for u in users]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    assert not errors, errors[:3]
    return per * len(users)


def test_pop3d_parent_rss_flat(request):
    root = h.make_tmpdir("fd-mem-pop3-")
    cleanup(request, root)
    text, mds = pop3_users(root, 2)
    srv = ph.Pop3d(root / "srv", {}, users_text=text, max_per_client=20)
    request.addfinalizer(srv.stop)
    srv.start()
    pid = srv.proc.pid
    start = time.monotonic()
    done = run_sessions(srv, list(mds), POP3D_WARMUP)
    fh.wait_for(lambda: not h.child_pids(pid), what="sessions ended")
    rss_warm = oh.rss_kb(pid)
    done += run_sessions(srv, list(mds), POP3D_SESSIONS - POP3D_WARMUP)
    fh.wait_for(lambda: not h.child_pids(pid), what="sessions ended")
    rss_end = oh.rss_kb(pid)
    elapsed = time.monotonic() - start
    log = srv.log_text()
    print(f"\n[pop3d] {done} sessions in {elapsed:.1f} s; parent VmRSS "
          f"{rss_warm} kB after {POP3D_WARMUP}, {rss_end} kB after {done} "
          f"(growth {rss_end - rss_warm} kB); VmHWM "
          f"{oh.status_kb(pid, 'VmHWM')} kB")
    assert srv.alive()
    assert done == POP3D_SESSIONS
    assert rss_end - rss_warm < POP3D_GROWTH_KB, (rss_warm, rss_end)
    assert "failed" not in log.lower().replace("failed logins", ""), log


# ------------------------------------------------------- pop3d under ASan

@pytest.fixture(scope="module")
def lsan_shim(request, lsan_works):
    """(LD_PRELOAD value, folder): the ASan runtime and an _exit() that
    runs the leak check first."""
    rt = oh.asan_runtime()
    if rt is None:
        pytest.skip("no shared ASan runtime (libasan.so)")
    shim = oh.compile_c(oh.EXIT_SHIM_C, lsan_works / "exit_lsan.so",
                        "-shared", "-fPIC", "-O1")
    return f"{rt} {shim}", lsan_works


def test_lsan_blind_to_children_that_exit_with__exit(lsan_shim):
    """The fact behind the pop3d session check: a forked child that leaks
    and leaves with _exit() (as pop3d's sessions and the handler's
    workers do) is never leak-checked; the preloaded _exit() fixes that."""
    preload, root = lsan_shim
    prog = oh.compile_c(oh.FORK_LEAK_C, root / "forkleak",
                        "-fsanitize=address", "-g")
    opts = "detect_leaks=1:exitcode=0:log_path="
    plain = subprocess.run([str(prog)], capture_output=True, timeout=60,
                           env=h.clean_env(ASAN_OPTIONS=opts + str(
                               root / "plain")))
    shimmed = subprocess.run([str(prog)], capture_output=True, timeout=60,
                             env=h.clean_env(ASAN_OPTIONS=opts + str(
                                 root / "shim"), LD_PRELOAD=preload))
    assert plain.returncode == 0 and shimmed.returncode == 0
    blind = oh.lsan_reports(root / "plain")
    seen = oh.lsan_reports(root / "shim")
    print(f"\n[lsan] child leak of 43210 bytes + _exit(): reported "
          f"{'yes' if blind else 'NO'} without the shim, "
          f"{'yes' if seen else 'NO'} with it")
    assert not blind, "LSan saw a leak in an _exit() child on its own?"
    assert any("43210 byte(s)" in t for t in seen.values()), seen


@pytest.fixture(scope="module")
def asan_pop3d_run(request, lsan_shim):
    """The ASan pop3d, every session leak-checked, for ASAN_SESSIONS
    sessions; stopped; returns (server, parent pid, log prefix)."""
    p = subprocess.run(["make", "-C", str(h.REPO),
                        "build/asan/formdrop-pop3d"],
                       capture_output=True, timeout=600, env=h.clean_env())
    if p.returncode != 0:
        pytest.fail("make build/asan/formdrop-pop3d failed:\n"
                    + p.stderr.decode(errors="replace")[-3000:],
                    pytrace=False)
    preload, _ = lsan_shim
    root = h.make_tmpdir("fd-mem-asan-pop3-")
    cleanup(request, root)
    text, mds = pop3_users(root, 2)
    # The session process inherits the parent's SSL_CTX; its only pointer
    # lives in a register of main()'s loop, which the noreturn session
    # path does not preserve, so LSan in the child cannot see it: the
    # context made once at start-up is not a session leak.
    supp = root / "lsan.supp"
    supp.write_text("leak:tls_server_ctx\n")
    prefix = root / "asan"
    srv = oh.Pop3dBinary(
        root / "srv", {}, ASAN_POP3D, users_text=text, max_per_client=20,
        env={"ASAN_OPTIONS": f"detect_leaks=1:exitcode=0:"
                             f"fast_unwind_on_malloc=0:log_path={prefix}",
             "LSAN_OPTIONS": f"suppressions={supp}:print_suppressions=0",
             "LD_PRELOAD": preload})
    request.addfinalizer(srv.stop)
    srv.start()
    start = time.monotonic()
    done = run_sessions(srv, list(mds), ASAN_SESSIONS)
    fh.wait_for(lambda: not h.child_pids(srv.proc.pid), timeout=30,
                what="sessions ended")
    pid = srv.proc.pid
    rc = srv.stop()
    elapsed = time.monotonic() - start
    logouts = len(re.findall(r"user=user[0-9]+ logout",
                             srv.log.read_text(errors="replace")))
    print(f"\n[asan pop3d] {done} sessions (each leak-checked at _exit) in "
          f"{elapsed:.1f} s; parent exit {rc}; logouts logged "
          f"{logouts}")
    return srv, pid, prefix, done


def test_pop3d_asan_sessions_do_not_leak(asan_pop3d_run):
    srv, pid, prefix, done = asan_pop3d_run
    reports = oh.lsan_reports(prefix)
    child = {p: t for p, t in reports.items() if p != pid}
    print(f"[asan pop3d] session processes with a leak report: "
          f"{len(child)} of {done}")
    assert not child, next(iter(child.values()))[:6000]
    assert "AddressSanitizer" not in srv.log_text()


def test_pop3d_asan_parent_no_leak_report(asan_pop3d_run):
    """The parent's own report at exit (after SIGTERM) must be empty:
    otherwise every leak check of the ASan build fails on it, and a real
    leak is lost in the noise."""
    srv, pid, prefix, done = asan_pop3d_run
    report = oh.lsan_reports(prefix).get(pid, "")
    summary = re.findall(r"SUMMARY: .*", report)
    frames = sorted(set(re.findall(r"in (\w+) ((?:lib|pop3d)/[\w.]+:\d+)",
                                   report)))
    print(f"[asan pop3d] parent {pid} at exit: "
          f"{summary[0] if summary else 'no leak report'}")
    for f in frames[:20]:
        print(f"    {f[0]} {f[1]}")
    assert not report, (
        "formdrop-pop3d (ASan build) reports leaks at exit:\n"
        + "\n".join(summary) + "\n" + report[:4000])
