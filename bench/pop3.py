"""
POP3 group: formdrop-pop3d and Dovecot (dovecot-pop3d) serving the SAME
Maildirs with the SAME passwd-file users file ({CRYPT}$y$ from
`formdrop-pop3d --hash`), both with implicit TLS on loopback with the
same certificate and key.  Maildirs owned by `nobody` (both servers run
the sessions as nobody when started as root).

Before each "first login" the maildrop is put back as delivered: every
message in new/, no Dovecot index; then both servers do the same work
(move new/ -> cur/, Dovecot also builds its index).

Measured: login+STAT+UIDL time (connect, TLS, USER/PASS, STAT, UIDL) at
each maildrop size, first and repeat; RETR of every message one at a
time and pipelined (64 in flight); TLS login sessions/s with 4 client
processes (one user each); RSS (and PSS) per session.  The client is
Python's ssl module, the same for both servers.
"""

import grp
import multiprocessing
import os
import pwd
import shutil
import socket
import ssl
import time
from pathlib import Path

import benchlib as b

PASSWORD = "bench-password"
HOST = "bench.localhost"

DOVECOT_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
instance_name = formdrop-bench-{port}
protocols = pop3
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain
default_login_user = dovenull
default_internal_user = dovecot
mail_location = maildir:~
pop3_uidl_format = %f
passdb {{
  driver = passwd-file
  args = scheme=CRYPT username_format=%u {users}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {users}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
"""


# ----------------------------------------------------------- maildrops

def message(i):
    head = (f"Return-Path: <forms@{HOST}>\n"
            f"Date: Sat, 28 Nov 2026 12:{i // 60 % 60:02d}:{i % 60:02d} +0000\n"
            f"From: Web forms <forms@{HOST}>\n"
            f"To: Orders <orders@{HOST}>\n"
            f"Subject: Order {i} from the web form\n"
            f"Message-ID: <{i}.bench@{HOST}>\n"
            "MIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\n\n")
    line = f"order {i}: 3 x Widget (blue, size M) - please ship soon.\n"
    body = line * 30 + ".\n..dot-stuffed line\nend\n"
    return (head + body).encode()


def msg_name(i, raw):
    lines = raw.count(b"\n")
    return (f"{1764000000 + i // 100}.M{i % 1000000}P4242Q{i}"
            f"R{i * 2654435761 % (1 << 32):08x}.{HOST},S={len(raw)},"
            f"W={len(raw) + lines}")


def make_maildrop(path, n, owner):
    md = b.make_maildir(path, owner)
    names = []
    for i in range(n):
        raw = message(i)
        name = msg_name(i, raw)
        fd = os.open(md / "new" / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                     0o600)
        os.write(fd, raw)
        if owner:
            os.fchown(fd, *owner)
        os.close(fd)
        names.append(name)
    return md


def reset_maildrop(md, owner):
    """Back to 'as delivered': cur/ -> new/ (flags stripped), no Dovecot
    index or lock files; the .Archive etc. left alone."""
    with os.scandir(md / "cur") as it:
        for e in it:
            os.rename(e.path, md / "new" / e.name.split(":", 1)[0])
    for e in os.scandir(md):
        if e.name.startswith("dovecot") or e.name.startswith("formdrop-pop3d"):
            if e.is_dir():
                shutil.rmtree(e.path, ignore_errors=True)
            else:
                os.unlink(e.path)


# -------------------------------------------------------------- client

class Client:
    def __init__(self, port, ctx, timeout=120):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s = ctx.wrap_socket(raw, server_hostname="localhost")
        self.buf = bytearray()
        self.pos = 0
        self.greeting = self.line()

    def _fill(self):
        d = self.s.recv(262144)
        if not d:
            raise ConnectionError("server closed the connection")
        if self.pos > 1 << 20:      # keep a few bytes before pos: the
            cut = self.pos - 8      # terminator search looks back 2
            del self.buf[:cut]
            self.pos -= cut
        self.buf += d

    def line(self):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                out = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return out
            self._fill()

    def multi(self):
        """A multi-line response: (status line, payload length)."""
        first = self.line()
        if not first.startswith(b"+OK"):
            return first, 0
        rel = -2            # search start, relative to self.pos
        while True:
            i = self.buf.find(b"\r\n.\r\n", max(0, self.pos + rel))
            if i >= 0:
                n = i + 2 - self.pos
                self.pos = i + 5
                return first, n
            rel = max(-2, len(self.buf) - self.pos - 4)
            self._fill()    # may move the buffer: rel stays valid

    def cmd(self, text):
        self.s.sendall(text.encode() + b"\r\n")
        return self.line()

    def login(self, user, password=PASSWORD):
        r = self.cmd(f"USER {user}")
        if not r.startswith(b"+OK"):
            raise RuntimeError(f"USER: {r!r}")
        r = self.cmd(f"PASS {password}")
        if not r.startswith(b"+OK"):
            raise LoginError(r)
        return r

    def quit(self):
        try:
            self.cmd("QUIT")
            # wait for the server to close (the maildrop lock goes with it)
            while self.s.recv(4096):
                pass
        except (OSError, ConnectionError):
            pass
        finally:
            self.s.close()


class LoginError(RuntimeError):
    pass


def session(port, ctx, user, tries=50):
    """A logged-in client, retrying while the previous session of the
    same user still holds the maildrop ([IN-USE])."""
    for _ in range(tries):
        c = Client(port, ctx)
        try:
            c.login(user)
            return c
        except LoginError as e:
            c.quit()
            if b"IN-USE" not in e.args[0]:
                raise
            time.sleep(0.05)
    raise RuntimeError(f"{user}: maildrop stayed in use")


def login_stat_uidl(port, ctx, user):
    """Seconds from connect to the end of UIDL; (seconds, count)."""
    for _ in range(50):
        t0 = time.monotonic()
        c = Client(port, ctx)
        try:
            c.login(user)
        except LoginError as e:
            c.quit()
            if b"IN-USE" not in e.args[0]:
                raise
            time.sleep(0.05)
            continue
        st = c.cmd("STAT")
        c.s.sendall(b"UIDL\r\n")
        first, n = c.multi()
        t1 = time.monotonic()
        c.quit()
        if not st.startswith(b"+OK") or not first.startswith(b"+OK"):
            raise RuntimeError(f"STAT/UIDL: {st!r} {first!r}")
        return t1 - t0, int(st.split()[1])
    raise RuntimeError(f"{user}: maildrop stayed in use")


class RetrStall(RuntimeError):
    pass


def retr_all(port, ctx, user, depth=1, timeout=30):
    """RETR of every message, `depth` commands in flight; seconds, octets.
    A server that stops answering for `timeout` seconds raises RetrStall
    saying how many responses had come back."""
    c = session(port, ctx, user)
    c.s.settimeout(timeout)
    sent = done = count = 0
    try:
        st = c.cmd("STAT")
        count = int(st.split()[1])
        total = 0
        t0 = time.monotonic()
        if depth <= 1:
            for i in range(1, count + 1):
                c.s.sendall(b"RETR %d\r\n" % i)
                sent += 1
                first, n = c.multi()
                if not first.startswith(b"+OK"):
                    raise RuntimeError(f"RETR {i}: {first!r}")
                total += n
                done += 1
        else:
            while done < count:
                if sent - done <= depth // 2 and sent < count:
                    k = min(depth - (sent - done), count - sent)
                    c.s.sendall(b"".join(b"RETR %d\r\n" % (sent + j + 1)
                                         for j in range(k)))
                    sent += k
                first, n = c.multi()
                if not first.startswith(b"+OK"):
                    raise RuntimeError(f"RETR {done + 1}: {first!r}")
                total += n
                done += 1
        t = time.monotonic() - t0
        info = {"tls": c.s.version(), "cipher": c.s.cipher()[0]}
    except (TimeoutError, socket.timeout) as e:
        raise RetrStall(f"no answer for {timeout}s after {done} of {count} "
                        f"RETR responses ({sent} sent, depth {depth})") from e
    finally:
        c.quit()
    return t, count, total, info


def _login_loop(port, cafile, user, seconds, q):
    ctx = client_context(cafile)
    n = err = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            c = Client(port, ctx, timeout=30)
            c.login(user)
            c.cmd("STAT")
            c.quit()
            n += 1
        except Exception:
            err += 1
            time.sleep(0.01)
    q.put((n, err))


def logins_per_s(port, cafile, users, seconds):
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    ps = [ctx.Process(target=_login_loop,
                      args=(port, cafile, u, seconds, q)) for u in users]
    t0 = time.monotonic()
    for p in ps:
        p.start()
    res = [q.get(timeout=seconds + 120) for _ in ps]
    for p in ps:
        p.join(30)
        if p.is_alive():
            p.kill()
            p.join(5)
    t = time.monotonic() - t0
    n = sum(r[0] for r in res)
    return {"sessions": n, "errors": sum(r[1] for r in res),
            "seconds": t, "rate": n / t}


def client_context(cafile):
    ctx = ssl.create_default_context(cafile=str(cafile))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


# -------------------------------------------------------------- servers

class Pop3d:
    name = "formdrop-pop3d"

    def __init__(self, root, procs, users, cert, key, run_as):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.procs, self.users, self.cert, self.key = procs, users, cert, key
        self.run_as = run_as
        self.proc = None

    def start(self):
        return b.start_retrying(self._start_once, self.stop)

    def _start_once(self):
        self.port = b.free_port()
        conf = self.root / "pop3d.conf"
        lines = ["[pop3]", f"listen_tls = 127.0.0.1:{self.port}",
                 f"certificate = {self.cert}", f"key = {self.key}",
                 f"users = {self.users}", "max_connections = 1000",
                 "max_per_client = 1000", "timeout = 600"]
        if self.run_as:
            lines.append(f"user = {self.run_as}")
        conf.write_text("\n".join(lines) + "\n")
        log = self.root / "pop3d.log"
        log.write_bytes(b"")
        self.proc = self.procs.start([b.POP3D, "-f", "-c", conf], log,
                                     cwd="/", name="formdrop-pop3d")
        want = f"listening on 127.0.0.1:{self.port} (implicit TLS)"
        b.wait_until(lambda: want in log.read_text(errors="replace"),
                     proc=self.proc, what="formdrop-pop3d", log=log)
        return self

    def session_pids(self, before):
        return [p for p in b.descendants(self.proc.pid) if p not in before]

    def known_pids(self):
        return set(b.descendants(self.proc.pid))

    def stop(self):
        self.procs.stop(self.proc)


class Dovecot:
    name = "dovecot"

    def __init__(self, root, procs, users, cert, key, run_as):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        for d in ("run", "state"):
            (self.root / d).mkdir(exist_ok=True)
            os.chmod(self.root / d, 0o755)
        self.procs, self.users, self.cert, self.key = procs, users, cert, key
        self.proc = None

    def start(self):
        return b.start_retrying(self._start_once, self.stop, tries=3)

    def _start_once(self):
        self.port = b.free_port()
        conf = self.root / "dovecot.conf"
        conf.write_text(DOVECOT_CONF.format(
            root=self.root, port=self.port, users=self.users,
            cert=self.cert, key=self.key))
        self.proc = self.procs.start([b.DOVECOT, "-F", "-c", conf],
                                     self.root / "stderr.log", name="dovecot")
        b.wait_until(lambda: b.can_connect_tcp(self.port),
                     proc=self.proc, what="dovecot pop3s port",
                     log=self.root / "dovecot.log")
        return self

    def known_pids(self):
        return set(b.descendants(self.proc.pid))

    def session_pids(self, before):
        t = b.proc_table()
        return [p for p in b.descendants(self.proc.pid, t)
                if p not in before and t[p][1] in ("pop3", "pop3-login")]

    def stop(self):
        self.procs.stop(self.proc)


# ---------------------------------------------------------------- group

def rss_session(srv, ctx, user):
    before = srv.known_pids()
    c = session(srv.port, ctx, user)
    try:
        c.cmd("STAT")
        c.s.sendall(b"UIDL\r\n")
        c.multi()
        time.sleep(0.1)
        pids = srv.session_pids(before)
        t = b.proc_table()
        maps = [b.smaps_kib(p) for p in pids]
        out = {"pids": {str(p): t.get(p, (0, "?"))[1] for p in pids},
               "rss_kib": b.rss_sum(pids),
               "pss_kib": sum(m.get("Pss", 0) for m in maps),
               "private_kib": sum(m.get("Private_Clean", 0) +
                                  m.get("Private_Dirty", 0) for m in maps)}
    finally:
        c.quit()
    return out


def run_group(root, procs, prof, pki_dir, log):
    if not b.POP3D.exists():
        raise b.Skip("pop3d/formdrop-pop3d not built")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    owner = None
    run_as = None
    if b.is_root():
        pw = pwd.getpwnam("nobody")
        owner = (pw.pw_uid, pw.pw_gid)
        run_as = "nobody"
    uid, gid = owner if owner else (os.getuid(), os.getgid())
    cert, key = pki_dir / "pop3.crt", pki_dir / "pop3.key"
    cafile = pki_dir / "ca.crt"
    ctx = client_context(cafile)
    # maildrops
    sizes = sorted(set(prof.pop3_sizes) | {prof.retr_size})
    mds = {}
    t0 = time.monotonic()
    for n in sizes:
        mds[n] = make_maildrop(root / f"m{n}", n, owner)
    for i in range(1, 5):
        mds[f"u{i}"] = make_maildrop(root / f"u{i}", 10, owner)
    gen_s = time.monotonic() - t0
    log(f"  generated {sum(sizes)} messages in {gen_s:.1f}s")
    hashed = b.run([b.POP3D, "--hash"],
                   input=(PASSWORD + "\n").encode()).stdout.decode().strip()
    users = root / "users"
    users.write_text("".join(
        f"{'m%s' % k if isinstance(k, int) else k}:{hashed}:{uid}:{gid}::"
        f"{md}::\n" for k, md in mds.items()))
    # Shared as a site would share it: Dovecot's auth process reads it as
    # dovecot, formdrop-pop3d refuses one every user may read.
    try:
        os.chown(users, -1, grp.getgrnam("dovecot").gr_gid)
    except (KeyError, PermissionError):
        pass
    os.chmod(users, 0o640)
    res = {"sizes": sizes, "generate_seconds": gen_s, "hash": hashed[:12],
           "servers": {}}
    servers = [Pop3d(root / "pop3d", procs, users, cert, key, run_as)]
    if b.DOVECOT and b.is_root():
        servers.append(Dovecot(root / "dovecot", procs, users, cert, key,
                               run_as))
    elif b.DOVECOT:
        res["dovecot"] = "skipped: Dovecot is started as root here"
    else:
        res["dovecot"] = "skipped: dovecot-pop3d not installed"
    for srv in servers:
        if isinstance(srv, Dovecot):
            try:
                srv.start()
            except RuntimeError as e:   # the peer failed, not the suite
                res["dovecot"] = f"skipped: Dovecot did not start: {e}"
                log(f"  {res['dovecot']}")
                srv.stop()
                continue
        else:
            srv.start()
        r = res["servers"][srv.name] = {}
        try:
            log(f"  {srv.name}: login+STAT+UIDL")
            r["login_stat_uidl"] = {}
            for n in sizes:
                firsts, repeats = [], []
                for _ in range(prof.pop3_runs):
                    reset_maildrop(mds[n], owner)
                    t, count = login_stat_uidl(srv.port, ctx, f"m{n}")
                    if count != n:
                        raise RuntimeError(f"{srv.name}: STAT {count} != {n}")
                    firsts.append(t)
                for _ in range(prof.pop3_runs + 2):
                    repeats.append(login_stat_uidl(srv.port, ctx, f"m{n}")[0])
                r["login_stat_uidl"][str(n)] = {
                    "first_s": b.summary(firsts),
                    "repeat_s": b.summary(repeats)}
            log(f"  {srv.name}: RSS per session")
            r["rss"] = {str(n): rss_session(srv, ctx, f"m{n}")
                        for n in sizes}
            log(f"  {srv.name}: RETR all {prof.retr_size}")
            one, pipe, stalls = [], [], []
            info = None
            count = octets = None
            for depth, out in ((1, one), (64, pipe)):
                for i in range(prof.pop3_runs + 1):     # first: warm-up
                    try:
                        t, count, octets, info = retr_all(
                            srv.port, ctx, f"m{prof.retr_size}", depth)
                    except RetrStall as e:
                        stalls.append(str(e))
                        log(f"  {srv.name}: RETR stalled: {e}")
                        continue
                    if i > 0:
                        out.append(t)
            r["retr"] = {"messages": count or prof.retr_size,
                         "octets": octets, "one_s": b.summary(one),
                         "pipelined64_s": b.summary(pipe), "tls": info,
                         "stalls": stalls}
            log(f"  {srv.name}: TLS logins/s, 4 clients")
            runs = [logins_per_s(srv.port, cafile,
                                 ["u1", "u2", "u3", "u4"], prof.login_seconds)
                    for _ in range(prof.pop3_runs)]
            r["logins"] = {"rate": b.summary([x["rate"] for x in runs]),
                           "errors": sum(x["errors"] for x in runs),
                           "raw": runs}
        finally:
            srv.stop()
    return res


def session_mib(m):
    if not m:
        return "-"
    return "; ".join(b.fmt((m.get(k) or 0) / 1024, 1)
                     for k in ("rss_kib", "pss_kib", "private_kib"))


def rows(res):
    """Table rows: metric, formdrop-pop3d, dovecot, ratio."""
    fd = res["servers"].get("formdrop-pop3d", {})
    dv = res["servers"].get("dovecot", {})
    out = []

    def add(label, a, c, unit_time):
        am = a.get("median") if isinstance(a, dict) else a
        cm = c.get("median") if isinstance(c, dict) else c
        # ratio as "formdrop is x times better"
        if unit_time:
            rt = b.ratio(cm, am)
        else:
            rt = b.ratio(am, cm)
        fa = b.fmt_range(a, 3) if isinstance(a, dict) else b.fmt(a)
        fc = b.fmt_range(c, 3) if isinstance(c, dict) else b.fmt(c)
        out.append([label, fa, fc, b.fmt(rt, 2)])

    for n in res["sizes"]:
        k = str(n)
        fl = fd.get("login_stat_uidl", {}).get(k, {})
        dl = dv.get("login_stat_uidl", {}).get(k, {})
        add(f"login+STAT+UIDL {n} first (s)", fl.get("first_s"),
            dl.get("first_s"), True)
        add(f"login+STAT+UIDL {n} repeat (s)", fl.get("repeat_s"),
            dl.get("repeat_s"), True)
    fr, dr = fd.get("retr", {}), dv.get("retr", {})
    n = fr.get("messages")
    add(f"RETR all {n}, one at a time (s)", fr.get("one_s"), dr.get("one_s"),
        True)
    add(f"RETR all {n}, 64 in flight (s)", fr.get("pipelined64_s"),
        dr.get("pipelined64_s"), True)
    add("TLS login sessions/s, 4 clients",
        fd.get("logins", {}).get("rate"), dv.get("logins", {}).get("rate"),
        False)
    for n in res["sizes"]:
        k = str(n)
        a = fd.get("rss", {}).get(k, {})
        c = dv.get("rss", {}).get(k, {})
        ra, rc = a.get("rss_kib"), c.get("rss_kib")
        out.append([f"RSS per session, {n} msgs (MiB; PSS; private)",
                    session_mib(a), session_mib(c),
                    b.fmt(b.ratio(rc, ra), 2)])
    return out
