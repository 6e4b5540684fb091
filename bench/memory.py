"""
Memory group, handler side: the sum of VmRSS of the formdrop.fcgi
workers (the children of the master; the master's own RSS beside it),
sampled every 50 ms from /proc, at rest, under wrk load (8 connections)
and during one large multipart upload by curl -F through nginx, with
body_max and file_max at 128M.  Like every figure, the upload is
measured after a warm-up: four 1 MB uploads first (so each worker has
served one), whose growth is reported too (what a worker touches once:
code pages, buffers).  The pop3d side is in pop3.py.
"""

import os
import threading
import time

import benchlib as b
import intake
import webstack as ws


class Sampler(threading.Thread):
    def __init__(self, master_pid, interval=0.05):
        super().__init__(daemon=True)
        self.master = master_pid
        self.interval = interval
        self.samples = []           # (t, sum worker kib, {pid: kib})
        self.stop_ev = threading.Event()

    def sample(self):
        pids = b.children(self.master)
        per = {p: b.status_kib(p) for p in pids}
        per = {p: v for p, v in per.items() if v is not None}
        return (time.monotonic(), sum(per.values()), per)

    def run(self):
        while not self.stop_ev.is_set():
            self.samples.append(self.sample())
            self.stop_ev.wait(self.interval)

    def finish(self):
        self.stop_ev.set()
        self.join(5)
        return self.samples


def _summ(samples, base=None):
    if not samples:
        return {}
    sums = [s[1] for s in samples]
    per_max = {}
    for _, _, per in samples:
        for p, v in per.items():
            per_max[p] = max(per_max.get(p, 0), v)
    out = {"samples": len(samples), "min_kib": min(sums),
           "max_kib": max(sums), "workers": len(samples[-1][2])}
    if base is not None:
        out["baseline_kib"] = base[1]
        out["growth_kib"] = max(sums) - base[1]
        out["worker_growth_kib"] = max(
            (per_max[p] - base[2].get(p, per_max[p]) for p in per_max),
            default=0)
    return out


def handler_memory(stack, prof, log):
    big = stack.big
    res = {"interval_ms": 50, "workers": len(b.children(big.pid))}
    s = Sampler(big.pid)
    # rest
    rest = [s.sample()]
    for _ in range(10):
        time.sleep(0.05)
        rest.append(s.sample())
    res["rest"] = _summ(rest)
    res["master_kib"] = b.status_kib(big.pid)
    body = ws.order_body()
    if b.WRK:
        lua = intake.write_lua(stack.root, body)
        base = s.sample()
        s = Sampler(big.pid)
        s.start()
        try:
            intake.wrk(stack.url("/big/submit/order"), lua, 8,
                       max(prof.duration, 1))
        finally:
            samples = s.finish()
        res["load"] = _summ(samples, base)
        intake.clear_maildir(stack.maildirs["big"])
        res["after_load"] = _summ([Sampler(big.pid).sample()])
    else:
        res["load"] = "skipped: wrk missing"
    if not b.CURL:
        res["upload"] = "skipped: curl missing"
        return res
    up = stack.root / "upload.bin"
    mb = prof.upload_mb
    with open(up, "wb") as f:
        chunk = os.urandom(1 << 20)
        for _ in range(mb):
            f.write(chunk)
    warm = stack.root / "warm.bin"
    with open(warm, "wb") as f:
        f.write(os.urandom(1 << 20))

    def upload(path):
        """curl -F the order with path attached; (samples, base, status)."""
        fields = ["-F", "name=Jane Q. Customer", "-F",
                  "email=jane@example.com", "-F", "address=221B Baker Street",
                  "-F", "item=Large file", "-F", "quantity=1",
                  "-F", f"attachment=@{path};type=application/octet-stream"]
        base = Sampler(big.pid).sample()
        s = Sampler(big.pid)
        s.start()
        try:
            p = b.run([b.CURL, "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                       "--max-time", "240", *fields,
                       stack.url("/big/submit/order")], timeout=260,
                      check=False)
        finally:
            samples = s.finish()
        return samples, base, p.stdout.decode().strip()

    warm_samples, warm_base = [], None
    for _ in range(4):
        samples, base, _ = upload(warm)
        warm_base = warm_base or base
        warm_samples += samples
    res["upload_warmup"] = _summ(warm_samples, warm_base)
    warm.unlink()
    intake.clear_maildir(stack.maildirs["big"])
    t0 = time.monotonic()
    samples, base, status = upload(up)
    res["upload"] = _summ(samples, base)
    res["upload"]["mb"] = mb
    res["upload"]["seconds"] = time.monotonic() - t0
    res["upload"]["status"] = status
    md = stack.maildirs["big"]
    sizes = [os.path.getsize(e.path) for e in os.scandir(md / "new")]
    res["upload"]["message_bytes"] = max(sizes) if sizes else None
    up.unlink()
    intake.clear_maildir(md)
    log(f"  upload {mb} MB: status {res['upload']['status']}, "
        f"growth {res['upload']['growth_kib'] / 1024:.1f} MiB (warm-up "
        f"uploads: {res['upload_warmup']['growth_kib'] / 1024:.1f} MiB)")
    return res


def rows(res):
    out = []
    mib = lambda k: "-" if k is None else f"{k / 1024:.1f}"   # noqa: E731
    if isinstance(res.get("rest"), dict):
        out.append(["at rest", mib(res["rest"]["max_kib"]), "-", "-",
                    f"{res['workers']} workers; master {mib(res['master_kib'])} MiB"])
    ld = res.get("load")
    if isinstance(ld, dict):
        out.append(["under load (wrk c=8)", mib(ld["max_kib"]),
                    mib(ld["growth_kib"]), mib(ld["worker_growth_kib"]),
                    f"{ld['samples']} samples"])
    wu = res.get("upload_warmup")
    if isinstance(wu, dict):
        out.append(["warm-up: 4 x 1 MB upload", mib(wu["max_kib"]),
                    mib(wu["growth_kib"]), mib(wu["worker_growth_kib"]),
                    "first uploads a worker serves"])
    up = res.get("upload")
    if isinstance(up, dict):
        out.append([f"{up['mb']} MB upload", mib(up["max_kib"]),
                    mib(up["growth_kib"]), mib(up["worker_growth_kib"]),
                    f"HTTP {up['status']}, {up['seconds']:.1f}s, message "
                    f"{mib((up['message_bytes'] or 0) / 1024)} MiB"])
    return out
