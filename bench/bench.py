#!/usr/bin/python3
"""
formdrop benchmark suite (driver).  Run through bench/run.sh:

    bench/run.sh              full run        (make bench)
    QUICK=1 bench/run.sh      shorter runs
    bench/run.sh --smoke      tiny; what `make check` runs (bench-quick)

Groups: intake (durable), encrypted, memory, pop3, scaling.  Each figure
is a warm-up then several runs, reported as median (min-max).  Prints one
table per group, the target table, and writes bench/results/<stamp>.json
(+ .png plot of intake rate vs concurrency when gnuplot is there).

Nothing here asserts timings: the exit status is non-zero only when a
benchmark script itself breaks (a group that cannot run for a missing
peer is skipped and says so).
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as b          # noqa: E402
import intake                 # noqa: E402
import memory                 # noqa: E402
import pop3                   # noqa: E402
import webstack as ws         # noqa: E402

GROUPS = ["intake", "encrypted", "memory", "pop3", "scaling"]
T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", file=sys.stderr,
          flush=True)


def build_peers(out):
    out.mkdir(parents=True, exist_ok=True)
    peers = {}
    src = b.BENCH / "peers"
    specs = {
        "maildir_ceiling": ["-pthread"],
        "fcgi_ok": ["-lfcgi"],
        "cms_ceiling": ["-pthread", "-lcrypto"],
    }
    for name, libs in specs.items():
        exe = out / name
        p = subprocess.run([b.CC, "-O2", "-std=c11", "-Wall", "-o", str(exe),
                            str(src / f"{name}.c"), *libs],
                           capture_output=True, timeout=120)
        if p.returncode == 0:
            peers[name] = exe
        else:
            peers[name] = None
            log(f"peer {name} did not build: "
                f"{p.stderr.decode(errors='replace')[-500:]}")
    return peers


# --------------------------------------------------------------- targets

def med(d, *keys):
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def targets(R):
    """[(target, figure, met?, note)]"""
    out = []

    def add(name, fig, ok, note=""):
        out.append({"target": name, "figure": fig,
                    "met": None if ok is None else bool(ok), "note": note})

    dur = R.get("intake") if isinstance(R.get("intake"), dict) else None
    if dur:
        for c, pts in dur.get("points", {}).items():
            fd = med(pts, "formdrop", "rate", "median")
            ce = med(pts, "maildir_ceiling", "rate", "median")
            cl = med(pts, "classic_cgi_lda", "rate", "median")
            r1 = b.ratio(fd, ce)
            add(f"durable intake >= 0.8 x Maildir ceiling (c={c})",
                f"{b.fmt(fd)} vs {b.fmt(ce)}/s = {b.fmt(r1, 2)} x",
                None if r1 is None else r1 >= 0.8,
                "" if r1 is None or r1 >= 0.8 else
                f"short by {(0.8 - r1) / 0.8 * 100:.0f}% of the target")
            r2 = b.ratio(fd, cl)
            add(f"durable intake >= 50 x classic CGI+LDA (c={c})",
                f"{b.fmt(fd)} vs {b.fmt(cl)}/s = {b.fmt(r2, 1)} x",
                None if r2 is None else r2 >= 50,
                "" if r2 is None or r2 >= 50 else
                f"{r2:.1f} x of the 50 x asked")
    enc = R.get("encrypted") if isinstance(R.get("encrypted"), dict) else None
    if enc:
        for c, pt in enc.get("points", {}).get("rsa2x", {}).items():
            r = b.ratio(pt["rate"]["median"], pt.get("plain_rate"))
            cpu = intake.cpu_ms(pt)
            note = ("" if r is None or r >= 0.8 else
                    f"short by {(0.8 - r) / 0.8 * 100:.0f}%")
            if cpu is not None and pt.get("plain_cpu_ms") is not None:
                note += (f"{'; ' if note else ''}worker CPU "
                         f"{b.fmt(pt['plain_cpu_ms'], 2)} -> "
                         f"{b.fmt(cpu, 2)} ms/req")
            add(f"encrypted (2 x RSA-2048) >= 0.8 x unencrypted (c={c})",
                f"{b.fmt(pt['rate']['median'])} vs "
                f"{b.fmt(pt.get('plain_rate'))}/s = {b.fmt(r, 2)} x",
                None if r is None else r >= 0.8, note)
        for name in ("sign_rsa", "sign_p256"):
            for c, pt in enc.get("points", {}).get(name, {}).items():
                sg = med(pt, "cms_ceiling", "rate", "median")
                r = b.ratio(pt["rate"]["median"], sg)
                add(f"sign+encrypt ({name}) >= 0.8 x raw sign rate (c={c})",
                    f"{b.fmt(pt['rate']['median'])} vs {b.fmt(sg)}/s = "
                    f"{b.fmt(r, 3)} x", None if r is None else r >= 0.8,
                    "" if r is None or r >= 0.8 else
                    f"{r * 100:.1f}% of the raw rate")
    mem = R.get("memory") if isinstance(R.get("memory"), dict) else None
    if mem and isinstance(mem.get("upload"), dict):
        g = mem["upload"]["growth_kib"]
        add(f"handler RSS flat (<= 1 MiB) during a {mem['upload']['mb']} MB "
            "upload", f"+{g / 1024:.1f} MiB (sum of workers)", g <= 1024,
            "" if g <= 1024 else f"{g / 1024:.0f} x the 1 MiB allowed")
    p = R.get("pop3") if isinstance(R.get("pop3"), dict) else None
    if p and "dovecot" in p.get("servers", {}):
        fd, dv = p["servers"]["formdrop-pop3d"], p["servers"]["dovecot"]
        for key, label in (("one_s", "one at a time"),
                           ("pipelined64_s", "64 in flight")):
            a, c = med(fd, "retr", key, "median"), med(dv, "retr", key,
                                                        "median")
            r = b.ratio(c, a)
            add(f"pop3d RETR all {fd['retr']['messages']} ({label}) >= 1.5 x "
                "Dovecot", f"{b.fmt(a, 3)} s vs {b.fmt(c, 3)} s = "
                f"{b.fmt(r, 2)} x", None if r is None else r >= 1.5,
                "" if r is None or r >= 1.5 else
                f"{r:.2f} x of the 1.5 x asked")
        a, c = med(fd, "logins", "rate", "median"), med(dv, "logins", "rate",
                                                        "median")
        r = b.ratio(a, c)
        add("TLS logins/s >= 10 x Dovecot (4 clients)",
            f"{b.fmt(a)} vs {b.fmt(c)}/s = {b.fmt(r, 2)} x",
            None if r is None else r >= 10,
            "" if r is None or r >= 10 else f"{r:.2f} x of the 10 x asked")
        for n, rs in fd.get("rss", {}).items():
            a = rs.get("rss_kib")
            c = med(dv, "rss", n, "rss_kib")
            r = b.ratio(a, c)
            note = "" if r is None or r <= 0.25 else f"{r:.2f} of Dovecot's"
            pa, pc = rs.get("private_kib"), med(dv, "rss", n, "private_kib")
            if pa is not None and pc:
                note += (f"{'; ' if note else ''}private (USS) "
                         f"{b.fmt(pa / 1024, 1)} vs {b.fmt(pc / 1024, 1)} "
                         f"MiB = {b.fmt(b.ratio(pa, pc), 2)}")
            add(f"RSS per session <= 1/4 of Dovecot pop3+login ({n} msgs)",
                f"{b.fmt(a / 1024, 1)} vs {b.fmt((c or 0) / 1024, 1)} MiB = "
                f"{b.fmt(r, 2)}", None if r is None else r <= 0.25, note)
        big = str(max(p["sizes"]))
        a = med(fd, "login_stat_uidl", big, "first_s", "median")
        a2 = med(fd, "login_stat_uidl", big, "repeat_s", "median")
        c = med(dv, "login_stat_uidl", big, "repeat_s", "median")
        for lab, x in (("first", a), ("repeat", a2)):
            r = b.ratio(x, c)
            add(f"login+STAT+UIDL on {big} ({lab}) <= Dovecot repeat login",
                f"{b.fmt(x, 3)} s vs {b.fmt(c, 3)} s",
                None if r is None else r <= 1.0,
                "" if r is None or r <= 1 else f"{r:.2f} x slower")
    return out


# --------------------------------------------------------------- report

def plot(R, png, work):
    dur = R.get("intake")
    if not b.GNUPLOT or not isinstance(dur, dict):
        return None
    series = ["formdrop", "maildir_ceiling", "fastcgi_ceiling",
              "classic_cgi_lda"]
    enc = R.get("encrypted") if isinstance(R.get("encrypted"), dict) else {}
    for name in (enc or {}).get("points", {}):
        series.append(f"enc:{name}")
    concs = sorted(int(c) for c in dur["points"])
    dat = work / "intake.dat"
    lines = []
    for c in concs:
        row = [str(c)]
        for s in series:
            if s.startswith("enc:"):
                v = med(enc, "points", s[4:], str(c), "rate", "median")
            else:
                v = med(dur["points"][str(c)], s, "rate", "median")
            row.append("NaN" if v is None else f"{v:.2f}")
        lines.append(" ".join(row))
    dat.write_text("\n".join(lines) + "\n")
    plots = [f"'{dat}' using 1:{i + 2} with linespoints title '{s}'"
             for i, s in enumerate(series)]
    gp = work / "intake.gp"
    gp.write_text(
        "set terminal png size 900,600 noenhanced\n"
        f"set output '{png}'\n"
        "set title 'formdrop intake: submissions/s vs concurrency "
        "(median of runs)'\n"
        "set xlabel 'connections'\nset ylabel 'submissions/s (log)'\n"
        "set logscale y\nset logscale x 2\nset key outside right\n"
        f"set xrange [{concs[0] * 0.8}:{concs[-1] * 1.25}]\n"
        f"set xtics ({', '.join(str(c) for c in concs)})\n"
        "set grid\n"
        "plot " + ", \\\n  ".join(plots) + "\n")
    p = subprocess.run([b.GNUPLOT, str(gp)], capture_output=True, timeout=60)
    if p.returncode != 0:
        log(f"gnuplot failed: {p.stderr.decode(errors='replace')[-300:]}")
        return None
    return png


def report(R):
    out = []
    d = R.get("intake")
    if isinstance(d, dict):
        out.append(b.table(
            f"Intake, durable (~{d['body_bytes']} B urlencoded order, wrk -> "
            f"nginx -> FastCGI; {d['workers']} workers)",
            ["conns", "system", "req/s med (min-max)", "p50 ms", "p99 ms",
             "errors", "worker CPU ms/req (user + sys)", "formdrop/this"],
            intake.durable_rows(d)))
    e = R.get("encrypted")
    if isinstance(e, dict):
        out.append(b.table(
            "Intake, encrypted (formdrop vs raw CMS rate of the same keys)",
            ["setup", "conns", "req/s med (min-max)", "p50 ms", "p99 ms",
             "errors", "/plain", "worker CPU ms/req (user + sys)",
             "CPU plain/this", "raw CMS ops/s", "formdrop/raw"],
            intake.encrypted_rows(e)))
    m = R.get("memory")
    if isinstance(m, dict):
        out.append(b.table(
            "Memory, formdrop.fcgi workers (sum of VmRSS, 50 ms samples)",
            ["phase", "max MiB", "growth MiB", "max worker growth MiB",
             "note"], memory.rows(m)))
    p = R.get("pop3")
    if isinstance(p, dict):
        out.append(b.table(
            "POP3 over TLS, same Maildir and users file "
            "(ratio: how many times formdrop-pop3d is better)",
            ["measure", "formdrop-pop3d med (min-max)",
             "Dovecot med (min-max)", "ratio"], pop3.rows(p)))
    s = R.get("scaling")
    if isinstance(s, dict):
        rows = [[f"{n} in new/", b.fmt_range(pt["rate"]),
                 b.fmt_range(pt["p50_ms"], 2), b.fmt_range(pt["p99_ms"], 2)]
                for n, pt in s["points"].items()]
        if isinstance(p, dict):
            fd = p["servers"].get("formdrop-pop3d", {})
            dv = p["servers"].get("dovecot", {})
            for n in p["sizes"]:
                rows.append([
                    f"pop3 login+STAT+UIDL, {n} msgs (repeat, s)",
                    "pop3d " + b.fmt(med(fd, "login_stat_uidl", str(n),
                                         "repeat_s", "median"), 3),
                    "Dovecot " + b.fmt(med(dv, "login_stat_uidl", str(n),
                                           "repeat_s", "median"), 3), ""])
        out.append(b.table(f"Scaling (formdrop intake at c={s['conc']})",
                           ["maildrop", "req/s med (min-max)", "p50 ms",
                            "p99 ms"], rows))
    t = R.get("targets") or []
    if t:
        out.append(b.table("Targets", ["target", "figure", "met", "note"],
                           [[x["target"], x["figure"],
                             "-" if x["met"] is None else
                             ("yes" if x["met"] else "NO"), x["note"]]
                            for x in t]))
    if isinstance(p, dict):
        for sname, sv in p.get("servers", {}).items():
            for st in sv.get("retr", {}).get("stalls", []):
                out.append(f"\n== pop3: {sname} RETR stalled: {st}")
    if isinstance(p, dict) and isinstance(p.get("dovecot"), str):
        out.append(f"\n== pop3: Dovecot {p['dovecot']}")
    for g in GROUPS:
        if isinstance(R.get(g), str):
            out.append(f"\n== {g}: {R[g]}")
    return "\n".join(out)


# ----------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true",
                    help="tiny run (make check): 1 run, few requests")
    ap.add_argument("--groups", default=",".join(GROUPS),
                    help="comma-separated subset of " + ",".join(GROUPS))
    ap.add_argument("--keep", action="store_true",
                    help="keep the temp folder (for debugging)")
    ap.add_argument("--results", default=str(b.BENCH / "results"))
    a = ap.parse_args()
    name = "smoke" if a.smoke else ("quick" if os.environ.get("QUICK")
                                    else "full")
    prof = b.Profile(name)
    groups = [g.strip() for g in a.groups.split(",") if g.strip()]
    bad = [g for g in groups if g not in GROUPS]
    if bad:
        ap.error(f"unknown group(s): {', '.join(bad)}")
    for exe in (b.HANDLER, b.POP3D):
        if not exe.exists():
            print(f"bench: {exe} is missing: run make first", file=sys.stderr)
            return 2

    def on_signal(sig, frame):
        raise KeyboardInterrupt(f"signal {sig}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    work = b.make_tmpdir()
    procs = b.Procs()
    stamp = time.strftime("%Y%m%dT%H%M%S")
    resdir = Path(a.results)
    resdir.mkdir(parents=True, exist_ok=True)
    R = {"profile": prof.as_dict(), "started": stamp,
         "machine": b.machine(work), "versions": b.versions(),
         "groups": groups, "errors": {}, "notes": []}
    broken = False
    stack = None
    log(f"profile {name}; work folder {work}")
    try:
        peers = build_peers(work / "peers")
        R["peers_built"] = {k: v is not None for k, v in peers.items()}
        web_groups = [g for g in groups if g in ("intake", "encrypted",
                                                 "memory", "scaling")]
        if web_groups:
            try:
                stack = ws.WebStack(work / "web", procs, peers)
                stack.root.mkdir()
                os.chmod(stack.root, 0o755)
                stack.build()
                stack.start()
                log(f"web stack up: nginx on 127.0.0.1:{stack.port}")
            except Exception as e:
                broken = True
                R["errors"]["webstack"] = traceback.format_exc()
                log(f"web stack failed: {e}")
                for g in web_groups:
                    R[g] = f"not run: web stack failed: {e}"
                stack = None

        def group(gname, fn):
            nonlocal broken
            if gname not in groups or (gname in ("intake", "encrypted",
                                                 "memory", "scaling")
                                       and stack is None):
                return
            log(f"group {gname}")
            t = time.monotonic()
            try:
                R[gname] = fn()
            except b.Skip as e:
                R[gname] = f"skipped: {e}"
                log(f"  skipped: {e}")
            except KeyboardInterrupt:
                raise
            except Exception as e:
                broken = True
                R[gname] = f"failed: {e}"
                R["errors"][gname] = traceback.format_exc()
                log(f"  FAILED: {e}")
                traceback.print_exc()
            R.setdefault("group_seconds", {})[gname] = time.monotonic() - t

        group("intake", lambda: intake.durable(stack, prof, peers, log))
        group("encrypted", lambda: intake.encrypted(stack, prof, peers,
                                                    log))
        group("memory", lambda: memory.handler_memory(stack, prof, log))
        group("scaling", lambda: intake.scaling(stack, prof, log))
        if stack is not None:
            R["notes"] += stack.notes
            R["handler_log_tail"] = b.Path(stack.handler.bench_log).read_text(
                errors="replace")[-2000:]
            stack.stop()
        if "pop3" in groups:
            pki_dir = stack.pki.dir if stack and stack.pki else None
            if pki_dir is None:
                pki_dir = work / "pki"
                ws.PKI(pki_dir)
            group("pop3", lambda: pop3.run_group(work / "pop3", procs, prof,
                                                 pki_dir, log))
    except KeyboardInterrupt as e:
        broken = True
        R["errors"]["interrupted"] = str(e)
        log(f"interrupted: {e}")
    finally:
        procs.stop_all()
        R["targets"] = targets(R)
        R["seconds"] = time.monotonic() - T0
        out = resdir / f"{stamp}-{name}.json"
        try:
            png = plot(R, resdir / f"{stamp}-{name}.png", work)
            R["plot"] = str(png) if png else None
        except Exception as e:
            R["plot"] = f"failed: {e}"
        b.dump_json(out, R)
        print(f"formdrop benchmark ({name} profile), "
              f"{R['machine']['cpu_model']}, {R['machine']['cores']} cores, "
              f"kernel {R['machine']['kernel']}, temp fs "
              f"{R['machine']['tmpdir_fs_stat']}")
        print(report(R))
        for n in R["notes"]:
            print(f"note: {n}")
        print(f"\nresults: {out}" + (f"\nplot:    {R['plot']}"
                                      if R.get("plot") else ""))
        print(f"total {R['seconds']:.0f} s")
        if a.keep:
            print(f"kept {work}")
        else:
            t = time.monotonic()
            shutil.rmtree(work, ignore_errors=True)
            log(f"removed {work} in {time.monotonic() - t:.1f}s")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
