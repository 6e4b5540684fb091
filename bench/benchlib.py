"""
Shared helpers of the formdrop benchmark suite: the run profile (full,
QUICK, smoke), processes started and stopped by PID with bounded waits,
loopback ports, statistics (median, min-max), RSS from /proc, the
machine description and peer versions, and a `Skip` for groups whose
peers are missing.  Python standard library only.
"""

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
HANDLER = REPO / "cgi" / "formdrop.fcgi"
POP3D = REPO / "pop3d" / "formdrop-pop3d"
TEMPLATES = REPO / "templates"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
WRK = shutil.which("wrk")
FCGIWRAP = shutil.which("fcgiwrap") or (
    "/usr/sbin/fcgiwrap" if os.path.exists("/usr/sbin/fcgiwrap") else None)
DOVECOT = shutil.which("dovecot") or (
    "/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)
LDA = "/usr/lib/dovecot/dovecot-lda"
GNUPLOT = shutil.which("gnuplot")
CURL = shutil.which("curl")
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
CC = os.environ.get("CC") or shutil.which("cc") or "cc"
FASTCGI_PARAMS = "/etc/nginx/fastcgi_params"
CMD_TIMEOUT = 120


class Skip(Exception):
    """A group or a part of it cannot run here (a peer is missing)."""


class Profile:
    """How much to measure.  full: `make bench`; quick: QUICK=1;
    smoke: --smoke (the `make check` path: tiny, one run)."""

    def __init__(self, name):
        self.name = name
        if name == "smoke":
            self.runs, self.warmup, self.duration = 1, 1, 1
            self.conc = [2]
            self.enc_conc = [2]
            self.pop3_sizes = [1000]
            self.retr_size = 1000
            self.scale_sizes = [1000, 2000]
            self.upload_mb = 4
            self.login_seconds = 0.5
            self.pop3_runs = 1
            self.enc_runs = 1
            self.cms_seconds = 0.3
        elif name == "quick":
            self.runs, self.warmup, self.duration = 2, 1, 2
            self.conc = [1, 2, 8]
            self.enc_conc = [2]
            self.pop3_sizes = [1000, 10000]
            self.retr_size = 10000
            self.scale_sizes = [1000, 20000]
            self.upload_mb = 100
            self.login_seconds = 1.5
            self.pop3_runs = 2
            self.enc_runs = 1       # and the unencrypted form in turn
            self.cms_seconds = 0.5
        else:
            self.runs, self.warmup, self.duration = 4, 1, 3
            self.conc = [1, 2, 8]
            self.enc_conc = [1, 2, 8]
            self.pop3_sizes = [1000, 10000, 100000]
            self.retr_size = 10000
            self.scale_sizes = [1000, 100000]
            self.upload_mb = 100
            self.login_seconds = 3.0
            self.pop3_runs = 3
            self.enc_runs = 3
            self.cms_seconds = 0.5

    def as_dict(self):
        return {k: v for k, v in vars(self).items()}


# ------------------------------------------------------------ statistics

def summary(values):
    """{median, min, max, runs:[...]} of a list of numbers (None kept out)."""
    vals = [v for v in values if v is not None]
    if not vals:
        return {"median": None, "min": None, "max": None, "runs": []}
    return {"median": statistics.median(vals), "min": min(vals),
            "max": max(vals), "runs": vals}


def fmt(x, digits=None):
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if digits is None:
        digits = 0 if abs(x) >= 100 else (1 if abs(x) >= 10 else 2)
    return f"{x:.{digits}f}"


def fmt_range(s, digits=None):
    """'median (min-max)' of a summary()."""
    if not s or s.get("median") is None:
        return "-"
    return (f"{fmt(s['median'], digits)} "
            f"({fmt(s['min'], digits)}-{fmt(s['max'], digits)})")


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def table(title, header, rows):
    """An aligned text table as a string."""
    cols = [header] + [[str(c) for c in r] for r in rows]
    w = [max(len(r[i]) for r in cols) for i in range(len(header))]
    out = [f"\n== {title}"]
    line = "  ".join(h.ljust(w[i]) for i, h in enumerate(header))
    out.append(line)
    out.append("  ".join("-" * w[i] for i in range(len(header))))
    for r in cols[1:]:
        out.append("  ".join(c.ljust(w[i]) for i, c in enumerate(r)))
    return "\n".join(out)


# ------------------------------------------------------------- processes

def clean_env(**extra):
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "LANG": "C", "LC_ALL": "C"}
    env.update(extra)
    return env


def run(cmd, timeout=CMD_TIMEOUT, check=True, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("env", clean_env())
    p = subprocess.run([str(c) for c in cmd], timeout=timeout, **kw)
    if check and p.returncode != 0:
        err = p.stderr.decode(errors="replace") if p.stderr else ""
        raise RuntimeError(f"{' '.join(map(str, cmd))}: exit "
                           f"{p.returncode}: {err[-2000:]}")
    return p


class Procs:
    """Every long-running process the suite starts, each in its own
    session (process group), stopped by PID: SIGTERM, a bounded wait,
    SIGKILL; then whatever is left of its own process group."""

    def __init__(self):
        self.procs = []

    def start(self, cmd, log, cwd=None, env=None, name=None):
        logf = open(log, "ab")
        try:
            p = subprocess.Popen([str(c) for c in cmd],
                                 stdin=subprocess.DEVNULL, stdout=logf,
                                 stderr=logf, cwd=cwd,
                                 env=env or clean_env(),
                                 start_new_session=True)
        finally:
            logf.close()
        p.bench_name = name or Path(str(cmd[0])).name
        p.bench_log = log
        self.procs.append(p)
        return p

    def stop(self, p, timeout=10):
        if p is None:
            return
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(5)
        # Leftovers in the process group we created for it.
        for pid in pids_in_group(p.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in list(reversed(self.procs)):
            try:
                self.stop(p)
            except Exception as e:          # keep stopping the others
                print(f"bench: stopping {p.pid}: {e}", file=sys.stderr)


def pids_in_group(pgid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if os.getpgid(int(d)) == pgid:
                out.append(int(d))
        except (ProcessLookupError, PermissionError):
            pass
    return out


def proc_table():
    """{pid: (ppid, comm)} of every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")]
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        out[int(d)] = (ppid, comm)
    return out


def children(pid, table=None):
    t = table or proc_table()
    return [p for p, (pp, _) in t.items() if pp == pid]


def descendants(pid, table=None):
    t = table or proc_table()
    out, todo = [], [pid]
    while todo:
        cur = todo.pop()
        for p in children(cur, t):
            out.append(p)
            todo.append(p)
    return out


def status_kib(pid, field="VmRSS"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def smaps_kib(pid):
    """/proc/PID/smaps_rollup as {field: kB}, or {} if it is gone."""
    out = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[0].endswith(":"):
                    out[parts[0][:-1]] = int(parts[1])
    except OSError:
        return {}
    return out


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pids):
    """(user, system) clock ticks used so far by pids, summed; a pid
    that is gone counts 0."""
    user = system = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rindex(")") + 2:].split()
        user += int(fields[11])
        system += int(fields[12])
    return user, system


def rss_sum(pids):
    vals = [status_kib(p) for p in pids]
    return sum(v for v in vals if v is not None)


def wait_until(pred, timeout=15, interval=0.02, proc=None, what="",
               log=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(interval)
    text = ""
    if log and os.path.exists(log):
        text = Path(log).read_text(errors="replace")[-3000:]
    raise RuntimeError(f"timed out waiting for {what}\n{text}")


def can_connect_tcp(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def can_connect_unix(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(0.5)
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_retrying(attempt, stop, tries=5):
    """Start a server on ports from free_port(): attempt() picks them,
    starts it and waits until it is ready (RuntimeError if not).  Another
    process may take a port before the server binds it, so a failed
    attempt is stopped and made again with new ports."""
    for i in range(tries):
        try:
            return attempt()
        except RuntimeError:
            stop()
            if i == tries - 1:
                raise


def make_tmpdir(prefix="fd-bench-"):
    base = os.environ.get("BENCH_TMPDIR") or tempfile.gettempdir()
    if len(base) > 40:
        base = "/tmp"
    d = Path(tempfile.mkdtemp(prefix=prefix, dir=base)).resolve()
    os.chmod(d, 0o755)
    return d


def make_maildir(path, owner=None):
    path = Path(path)
    for sub in ("tmp", "new", "cur"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    if owner:
        for p in (path, path / "tmp", path / "new", path / "cur"):
            os.chown(p, owner[0], owner[1])
    return path


def count_files(path):
    with os.scandir(path) as it:
        return sum(1 for _ in it)


def is_root():
    return os.geteuid() == 0


# --------------------------------------------------------------- machine

def _first_line(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=10,
                           env=clean_env())
        out = (p.stdout + p.stderr).decode(errors="replace").strip()
        return out.splitlines()[0] if out else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def machine(tmpdir):
    cpu = None
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1])
    except OSError:
        pass
    fs = _first_line(["stat", "-f", "-c", "%T", str(tmpdir)])
    dfT = None
    try:
        p = subprocess.run(["df", "-T", str(tmpdir)], capture_output=True,
                           timeout=10)
        lines = p.stdout.decode().splitlines()
        if len(lines) > 1:
            parts = lines[1].split()
            dfT = {"device": parts[0], "type": parts[1]}
    except (OSError, subprocess.TimeoutExpired):
        pass
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "mem_total_kib": mem,
        "kernel": os.uname().release,
        "os": _first_line(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"]),
        "debian_version": (Path("/etc/debian_version").read_text().strip()
                           if os.path.exists("/etc/debian_version") else None),
        "tmpdir": str(tmpdir),
        "tmpdir_fs_stat": fs,
        "tmpdir_df": dfT,
        "euid": os.geteuid(),
    }


def versions():
    v = {
        "nginx": _first_line([NGINX, "-v"]),
        "wrk": _first_line([WRK, "-v"]) if WRK else None,
        "dovecot": _first_line([DOVECOT, "--version"]) if DOVECOT else None,
        "openssl": _first_line([OPENSSL, "version"]),
        "curl": _first_line([CURL, "--version"]) if CURL else None,
        "gnuplot": _first_line([GNUPLOT, "--version"]) if GNUPLOT else None,
        "cc": _first_line([CC, "--version"]),
        "python": sys.version.split()[0],
    }
    for pkg in ("fcgiwrap", "libfcgi-dev", "libfcgi0ldbl", "dovecot-core",
                "dovecot-pop3d", "nginx", "wrk", "libssl3"):
        v["deb:" + pkg] = _first_line(["dpkg-query", "-W", "-f=${Version}",
                                       pkg])
    try:
        v["formdrop_git"] = _first_line(["git", "-C", str(REPO), "describe",
                                         "--always", "--dirty"])
    except Exception:
        v["formdrop_git"] = None
    return v


def dump_json(path, data):
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str))
    os.replace(tmp, path)
