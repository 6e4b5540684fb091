"""
Intake groups: durable (formdrop vs raw Maildir ceiling vs FastCGI
ceiling vs classic CGI+LDA), encrypted (five S/MIME set-ups vs the raw
CMS rate of the same keys) and scaling (intake with 1k vs 100k messages
already in new/).  Load comes from wrk with a Lua script (POST body,
Content-Type, JSON summary from done()).
"""

import http.client
import itertools
import json
import os
import re
import stat
import time

import benchlib as b
import webstack as ws

LUA = """\
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
done = function(summary, latency, requests)
  io.write(string.format(
    "BENCHJSON {{\\"requests\\":%d,\\"duration_us\\":%d,\\"connect\\":%d," ..
    "\\"read\\":%d,\\"write\\":%d,\\"status\\":%d,\\"timeout\\":%d," ..
    "\\"p50_us\\":%d,\\"p99_us\\":%d,\\"max_us\\":%d}}\\n",
    summary.requests, summary.duration, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout, latency:percentile(50), latency:percentile(99),
    latency.max))
end
"""


def write_lua(root, body):
    path = root / "post.lua"
    path.write_text(LUA.format(body=body.decode()))
    return path


def wrk(url, lua, conc, seconds):
    threads = max(1, min(conc, 2))
    cmd = [b.WRK, "-t", threads, "-c", conc, "-d", f"{max(1, int(round(seconds)))}s",
           "--timeout", "30s", "-s", lua, url]
    p = b.run(cmd, timeout=seconds + 60, check=False)
    out = p.stdout.decode(errors="replace")
    m = re.search(r"^BENCHJSON (\{.*\})$", out, re.M)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({p.returncode}): {out[-1000:]}"
                           f"{p.stderr.decode(errors='replace')[-1000:]}")
    r = json.loads(m.group(1))
    dur = r["duration_us"] / 1e6
    r["rate"] = r["requests"] / dur if dur > 0 else None
    r["errors"] = sum(r[k] for k in ("connect", "read", "write", "status",
                                     "timeout"))
    r["p50_ms"] = r["p50_us"] / 1000
    r["p99_ms"] = r["p99_us"] / 1000
    return r


def post_once(port, path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("POST", path, body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse()
        data = r.read()
        return r.status, data
    finally:
        c.close()


def check_system(stack, path, body, maildir, want):
    """One POST before measuring: the expected status and, with a
    Maildir, exactly one new message."""
    before = b.count_files(maildir / "new") if maildir else 0
    status, data = post_once(stack.port, path, body)
    if status != want:
        raise RuntimeError(f"POST {path}: status {status} (want {want}): "
                           f"{data[:300]!r}")
    if maildir:
        files = [e.path for sub in ("new", "cur")
                 for e in os.scandir(maildir / sub)]
        if len(files) < before + 1:
            raise RuntimeError(f"POST {path}: nothing delivered to {maildir}")
        return max(os.path.getsize(f) for f in files)
    return None


_parked = itertools.count()


def clear_maildir(md):
    """Empty md's new/, cur/ and tmp/ without deleting a file: each is
    moved aside into a .parked folder beside md (removed with the temp
    folder at the end) and made again, same owner and mode.  Deleting
    thousands of messages between points slowed the next point: ext4
    without a journal (this VM's) skips inodes freed in the last minutes
    when it allocates one, and scans past every one of them on each
    create (1.5 ms an open(O_CREAT) under strace, longer than the
    fsync)."""
    if md is None:
        return
    park = md.parent / ".parked"
    park.mkdir(exist_ok=True)
    for sub in ("new", "cur", "tmp"):
        d = md / sub
        with os.scandir(d) as it:
            if next(it, None) is None:
                continue
        st = d.stat()
        d.rename(park / f"{next(_parked)}-{md.name}-{sub}")
        d.mkdir()
        os.chmod(d, stat.S_IMODE(st.st_mode))
        if b.is_root():
            os.chown(d, st.st_uid, st.st_gid)


class HttpSystem:
    """One system behind nginx, measured by wrk one run at a time; its
    Maildir is emptied before the warm-up and after the last run.  With
    cpu_pids (the handler's workers), a run also records the CPU they
    spent per request, user and system."""

    def __init__(self, stack, path, lua, conc, maildir, cpu_pids=None):
        self.url = stack.url(path)
        self.lua, self.conc, self.maildir = lua, conc, maildir
        self.cpu_pids = cpu_pids

    def warm(self, prof):
        clear_maildir(self.maildir)
        wrk(self.url, self.lua, self.conc, prof.warmup)

    def run_once(self, prof):
        before = _count(self.maildir)
        ticks = b.cpu_ticks(self.cpu_pids) if self.cpu_pids else None
        r = wrk(self.url, self.lua, self.conc, prof.duration)
        r["delivered"] = (_count(self.maildir) - before) if self.maildir \
            else None
        if ticks and r["requests"] > 0:
            after = b.cpu_ticks(self.cpu_pids)
            per = 1000 / b.CLK_TCK / r["requests"]
            r["cpu_user_ms"] = (after[0] - ticks[0]) * per
            r["cpu_sys_ms"] = (after[1] - ticks[1]) * per
        return r

    def done(self):
        clear_maildir(self.maildir)


class CeilingSystem:
    """maildir_ceiling with as many threads as connections, 2 KiB a
    message; its Maildir is emptied after every run."""

    def __init__(self, binary, maildir, conc):
        self.binary, self.maildir, self.conc = binary, maildir, conc

    def warm(self, prof):
        b.run([self.binary, self.maildir, self.conc, prof.warmup, 2048, 0],
              timeout=prof.warmup + 60)
        clear_maildir(self.maildir)

    def run_once(self, prof):
        p = b.run([self.binary, self.maildir, self.conc, prof.duration,
                   2048, 0.2], timeout=prof.duration + 60)
        r = json.loads(p.stdout.decode())
        r["rate"] = r["ops_per_s"]
        r["errors"] = 0
        clear_maildir(self.maildir)
        return r

    def done(self):
        pass


def side_by_side(systems, runs, prof):
    """{name: point}: each system warmed up, then the runs taken in turn
    (A B C, A B C, ...).  This disk's fsync speed swings 2-3 x within
    minutes, so points measured one after the other compare the swing;
    taken in turn, every system sees the same disk."""
    for s in systems.values():
        s.warm(prof)
    out = {name: [] for name in systems}
    for _ in range(runs):
        for name, s in systems.items():
            out[name].append(s.run_once(prof))
    for s in systems.values():
        s.done()
    return {name: point(r) for name, r in out.items()}


def _count(md):
    if md is None:
        return 0
    return b.count_files(md / "new") + b.count_files(md / "cur")


def point(runs):
    pt = {
        "rate": b.summary([r["rate"] for r in runs]),
        "p50_ms": b.summary([r["p50_ms"] for r in runs]),
        "p99_ms": b.summary([r["p99_ms"] for r in runs]),
        "errors": sum(r["errors"] for r in runs),
        "raw": runs,
    }
    for k in ("cpu_user_ms", "cpu_sys_ms"):
        if all(k in r for r in runs):
            pt[k] = b.summary([r[k] for r in runs])
    return pt


def cms_point(binary, mode, args, threads, prof):
    runs = []
    for _ in range(prof.enc_runs):
        p = b.run([binary, mode, threads, prof.cms_seconds, *args],
                  timeout=60)
        runs.append(json.loads(p.stdout.decode()))
    return {"rate": b.summary([r["ops_per_s"] for r in runs]), "raw": runs}


# ------------------------------------------------------------- groups

def durable(stack, prof, peers, log):
    if not b.WRK:
        raise b.Skip("wrk missing")
    body = ws.order_body()
    lua = write_lua(stack.root, body)
    systems = [("formdrop", "/submit/order", stack.maildirs["plain"], 303)]
    if stack.ok:
        systems.append(("fastcgi_ceiling", "/ok", None, 200))
    if stack.classic:
        systems.append(("classic_cgi_lda", "/classic",
                        stack.maildirs["classic"], 303))
    usable, sizes = [], {}
    for name, path, md, want in systems:
        try:
            size = check_system(stack, path, body, md, want)
            usable.append((name, path, md, want))
            sizes[name] = size
        except Exception as e:
            stack.notes.append(f"{name}: {e}")
            log(f"  {name}: check failed, skipped: {e}")
    res = {"body_bytes": len(body), "workers": ws.WORKERS, "points": {},
           "message_bytes": sizes, "ceiling_bytes": 2048}
    ceil_md = b.make_maildir(stack.root / "spool" / "ceiling")
    for conc in prof.conc:
        systems = {name: HttpSystem(
            stack, path, lua, conc, md,
            cpu_pids=stack.workers() if name == "formdrop" else None)
            for name, path, md, _ in usable}
        if peers.get("maildir_ceiling"):
            systems["maildir_ceiling"] = CeilingSystem(
                peers["maildir_ceiling"], ceil_md, conc)
        log(f"  c={conc}: {', '.join(systems)} in turn")
        res["points"][str(conc)] = side_by_side(systems, prof.runs, prof)
    return res


def cpu_ms(pt):
    """The handler workers' CPU per request (user + system, medians),
    or None where it was not measured."""
    u, s = (pt or {}).get("cpu_user_ms"), (pt or {}).get("cpu_sys_ms")
    if not u or not s:
        return None
    return u["median"] + s["median"]


def fmt_cpu(pt):
    if cpu_ms(pt) is None:
        return ""
    return (f"{b.fmt(pt['cpu_user_ms']['median'], 2)} + "
            f"{b.fmt(pt['cpu_sys_ms']['median'], 2)}")


def durable_rows(res):
    rows = []
    for conc, pts in res["points"].items():
        fd = pts.get("formdrop", {}).get("rate", {}).get("median")
        for name in ("formdrop", "maildir_ceiling", "fastcgi_ceiling",
                     "classic_cgi_lda"):
            if name not in pts:
                continue
            pt = pts[name]
            r = pt["rate"]["median"]
            rows.append([conc, name, b.fmt_range(pt["rate"]),
                         b.fmt_range(pt["p50_ms"], 2),
                         b.fmt_range(pt["p99_ms"], 2),
                         pt.get("errors", 0), fmt_cpu(pt),
                         "" if name == "formdrop" else
                         b.fmt(b.ratio(fd, r), 2)])
    return rows


def encrypted(stack, prof, peers, log):
    if not b.WRK:
        raise b.Skip("wrk missing")
    if not stack.setups:
        raise b.Skip("no PKI")
    body = ws.order_body()
    lua = write_lua(stack.root, body)
    res = {"points": {}, "setups": dict(ws.ENC_SETUPS)}
    for name in stack.setups:
        path = f"/submit/order_{name}"
        check_system(stack, path, body, stack.maildirs[name], 303)
        for conc in prof.enc_conc:
            log(f"  {name} c={conc}, unencrypted in turn")
            pids = stack.workers()
            pts = side_by_side({
                name: HttpSystem(stack, path, lua, conc, stack.maildirs[name],
                                 cpu_pids=pids),
                "plain": HttpSystem(stack, "/submit/order", lua, conc,
                                    stack.maildirs["plain"], cpu_pids=pids)},
                prof.enc_runs, prof)
            pt, plain = pts[name], pts["plain"]
            pt["plain"] = plain
            mode, args = stack.cms_args[name]
            if peers.get("cms_ceiling"):
                pt["cms_ceiling"] = cms_point(peers["cms_ceiling"], mode,
                                              args, conc, prof)
                pt["cms_mode"] = mode
                if mode == "sign":      # also the full sign+encrypt op
                    rc = [stack.pki.p("merchant.crt"),
                          stack.pki.p("merchant2.crt")]
                    pt["cms_signencrypt"] = cms_point(
                        peers["cms_ceiling"], "signencrypt",
                        list(args) + rc, conc, prof)
            pt["plain_rate"] = plain["rate"]["median"]
            pt["plain_cpu_ms"] = cpu_ms(plain)
            res["points"].setdefault(name, {})[str(conc)] = pt
    return res


def encrypted_rows(res):
    rows = []
    for name, byc in res["points"].items():
        for conc, pt in byc.items():
            cm = pt.get("cms_ceiling", {}).get("rate", {})
            se = pt.get("cms_signencrypt", {}).get("rate", {})
            r = pt["rate"]["median"]
            rows.append([name, conc, b.fmt_range(pt["rate"]),
                         b.fmt_range(pt["p50_ms"], 2),
                         b.fmt_range(pt["p99_ms"], 2), pt["errors"],
                         b.fmt(b.ratio(r, pt.get("plain_rate")), 2),
                         fmt_cpu(pt),
                         b.fmt(b.ratio(pt.get("plain_cpu_ms"), cpu_ms(pt)),
                               2),
                         f"{pt.get('cms_mode', '-')} {b.fmt(cm.get('median'))}"
                         + (f" / s+e {b.fmt(se.get('median'))}"
                            if se else ""),
                         b.fmt(b.ratio(r, cm.get("median")), 3)])
    return rows


def prefill(md, n):
    """n entries in new/ (hard links of one 2 KiB message, with distinct,
    valid Maildir names): only the directory size matters here."""
    src = md / "prefill-src"
    data = (b"Subject: prefill\n\n" + b"x" * 2000 + b"\n")
    size, lines = len(data), data.count(b"\n")
    have = b.count_files(md / "new")
    base = 1700000000
    for i in range(have, n):
        if (i - have) % 50000 == 0:     # ext4 allows 65000 links a file
            if src.exists():
                src.unlink()
            src.write_bytes(data)
        os.link(src, md / "new" /
                f"{base + i // 1000}.M{i % 1000}P1Q{i}R0.prefill,"
                f"S={size},W={size + lines}")
    if src.exists():
        src.unlink()


def scaling(stack, prof, log):
    if not b.WRK:
        raise b.Skip("wrk missing")
    body = ws.order_body()
    lua = write_lua(stack.root, body)
    md = stack.maildirs["plain"]
    conc = 2
    res = {"conc": conc, "points": {}}
    for n in prof.scale_sizes:
        clear_maildir(md)
        t0 = time.monotonic()
        prefill(md, n)
        log(f"  intake with {n} messages in new/ (prefill "
            f"{time.monotonic() - t0:.1f}s)")
        wrk(stack.url("/submit/order"), lua, conc, prof.warmup)
        runs = [wrk(stack.url("/submit/order"), lua, conc, prof.duration)
                for _ in range(prof.runs)]
        res["points"][str(n)] = point(runs)
    clear_maildir(md)
    return res
