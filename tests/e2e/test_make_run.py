"""
`make run` end to end, in a copy of the repository (the tracked and
untracked-but-not-ignored files plus the three built programs, so that
spool/demo/ is made from scratch): scripts/run-demo.sh on free loopback
ports (FORMDROP_DEMO_HTTP / _POP3S / _POP3), an order submitted with curl
as a browser would (form token from the page, decoy field, a file), the
printed scripts/fetch-newest-order.sh fetching it over POP3 with TLS,
decrypting and verifying it; then Ctrl-C / SIGTERM leaves no process and
no port behind, and a second run reuses the credentials and keeps the
mail.
"""

import email
import email.policy
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

import devserver_helpers as dh
import e2e_helpers as h

PROGRAMS = ("cgi/formdrop.fcgi", "pop3d/formdrop-pop3d",
            "devserver/formdrop-devserver")
READY = "formdrop demo is ready"
MIN_AGE = 3.5           # the shipped order form refuses younger tokens


def _copy_repo(dst):
    p = subprocess.run(["git", "-C", str(h.REPO), "ls-files", "-z", "-co",
                        "--exclude-standard"], capture_output=True,
                       timeout=60)
    if p.returncode != 0:
        pytest.skip("not a git checkout: " + p.stderr.decode())
    for rel in p.stdout.decode().split("\0"):
        if not rel or rel.startswith("spool/"):
            continue
        src = h.REPO / rel
        if not src.is_file():
            continue
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst / rel)
    for prog in PROGRAMS:
        if not (h.REPO / prog).exists():
            pytest.fail(f"{prog} is not built: run make first", pytrace=False)
        (dst / prog).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(h.REPO / prog, dst / prog)
    (dst / "spool").mkdir(exist_ok=True)


class Demo:
    """One run of scripts/run-demo.sh in the copy, in its own session."""

    def __init__(self, copy, name, ports=None):
        self.copy = copy
        self.http, self.pop3s, self.pop3 = ports or dh.free_ports(3)
        self.out = copy.parent / f"{name}.out"
        self.proc = None

    def launch(self):
        """run-demo.sh started, not waited for."""
        env = h.clean_env(FORMDROP_DEMO_HTTP=f"127.0.0.1:{self.http}",
                          FORMDROP_DEMO_POP3S=f"127.0.0.1:{self.pop3s}",
                          FORMDROP_DEMO_POP3=f"127.0.0.1:{self.pop3}")
        with open(self.out, "wb") as f:
            self.proc = subprocess.Popen(
                ["sh", "scripts/run-demo.sh"], cwd=self.copy, env=env,
                stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                start_new_session=True)
        return self

    def start(self, timeout=60, wait_ports=True):
        self.launch()
        h.wait_until(lambda: READY in self.text(), timeout=timeout,
                     proc=self.proc, what="the ready message", log=self.out)
        if not wait_ports:
            h.wait_until(lambda: h.can_connect_tcp("127.0.0.1", self.http),
                         timeout=15, proc=self.proc, what="the shop's port",
                         log=self.out)
            time.sleep(1)
            return self
        h.wait_until(lambda: h.can_connect_tcp("127.0.0.1", self.http) and
                     h.can_connect_tcp("127.0.0.1", self.pop3s) and
                     h.can_connect_tcp("127.0.0.1", self.pop3),
                     timeout=15, proc=self.proc, what="the demo's ports",
                     log=self.out)
        return self

    def text(self):
        return self.out.read_text(errors="replace") if self.out.exists() \
            else ""

    def ours(self):
        """Live processes started from the copy (its programs, their
        workers, the script itself)."""
        return dh.pids_matching(str(self.copy))

    def group(self):
        return h.pids_in_group(self.proc.pid)

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            h.stop_process(self.proc)
        h.kill_group_leftovers(self.proc.pid)
        dh.kill_pids(self.ours())


@pytest.fixture(scope="module")
def copy(request):
    for tool in ("git", "openssl", "curl"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed")
    base = h.make_tmpdir("fd-makerun-")
    if not os.environ.get("FORMDROP_E2E_KEEP"):
        request.addfinalizer(lambda: shutil.rmtree(base, ignore_errors=True))
    dst = base / "formdrop"
    dst.mkdir()
    _copy_repo(dst)
    return dst


@pytest.fixture
def demo(request, copy):
    runs = []

    def start(name, ports=None, **kw):
        d = Demo(copy, name, ports)
        runs.append(d)
        return d.start(**kw)
    request.addfinalizer(lambda: [d.cleanup() for d in runs])
    return start


def submit_order(d, marker, blob):
    """GET /order.html for its token, wait as a person would, POST the
    order as multipart/form-data the way the page does without script."""
    page = h.curl(f"http://127.0.0.1:{d.http}/order.html")
    assert page.status == 200, page
    m = re.search(r'name="_token" value="([^"]+)"', page.text)
    assert m, "order.html holds no token"
    time.sleep(MIN_AGE)
    fields = [("_token", m.group(1)), ("fd_hp", ""),
              ("name", f"Demo Buyer {marker}"), ("email", "buyer@example.org"),
              ("phone", "+1 555 0100"),
              ("address", f"1 Demo Street\nSpringfield {marker}"),
              ("item", f"Blue widget {marker}"), ("quantity", "3"),
              ("item", "Red gadget"), ("quantity", "1"),
              ("notes", f"Note {marker}")]
    body, ctype = h.multipart(fields + [("attachment", "spec.txt",
                                         "text/plain", blob)])
    r = h.curl(f"http://127.0.0.1:{d.http}/submit/order", data=body,
               content_type=ctype)
    assert r.status == 303, (f"order answered {r!r}\ndemo output:\n"
                             f"{d.text()[-3000:]}")
    id = h.check_success(r, "order")
    return id, {k: v for k, v in fields if k not in ("_token", "fd_hp")}


def printed_fetch_command(d):
    """The fetch command the ready banner tells the user to run."""
    m = re.search(r"^  (scripts/fetch-newest-order\.sh .*)$", d.text(), re.M)
    assert m, d.text()[-2000:]
    assert f"127.0.0.1:{d.pop3s}" in m.group(1), m.group(1)
    return m.group(1)


def fetch_newest(d):
    """Run exactly the printed command, as the user would paste it."""
    p = subprocess.run(["sh", "-c", printed_fetch_command(d)], cwd=d.copy,
                       capture_output=True, timeout=60, env=h.clean_env())
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    assert "Verification successful" in p.stderr.decode(), p.stderr
    return p.stdout


def check_fetched(raw, id, marker, blob):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(msg["Subject"]).startswith("Order from Demo Buyer"), msg[
        "Subject"]
    js = [p for p in msg.walk() if p.get_filename() == "submission.json"]
    assert len(js) == 1
    data = json.loads(js[0].get_payload(decode=True))
    assert data["id"] == id and data["form"] == "order"
    f = data["fields"]
    assert f["name"] == f"Demo Buyer {marker}"
    assert f["item"] == [f"Blue widget {marker}", "Red gadget"]
    assert f["quantity"] == ["3", "1"]
    assert f["notes"] == f"Note {marker}"
    assert "_token" not in f and "fd_hp" not in f
    assert data["files"][0]["sha256"] == hashlib.sha256(blob).hexdigest()
    text = next(p for p in msg.walk()
                if p.get_content_type() == "text/plain").get_content()
    assert f"3 x Blue widget {marker}" in text, text
    return data


def stop_and_check(d, how):
    tree = d.ours()
    assert tree, "no process of the demo found"
    names = {os.path.basename(dh.cmdline(p)[0]) for p in tree
             if dh.cmdline(p)}
    assert {"formdrop-devserver", "formdrop-pop3d",
            "formdrop.fcgi"} <= names, names
    if how == "SIGINT":             # Ctrl-C: the whole foreground group
        os.killpg(d.proc.pid, signal.SIGINT)
    else:
        os.kill(d.proc.pid, signal.SIGTERM)
    rc = d.proc.wait(timeout=20)
    try:
        dh.wait_for(lambda: not d.ours(), timeout=10,
                    what="every process of the demo to exit")
    finally:
        left = {p: dh.cmdline(p) for p in d.ours()}
    assert not left, f"left running after {how}: {left}"
    assert "formdrop demo stopped." in d.text(), d.text()[-2000:]
    for port in (d.http, d.pop3s, d.pop3):
        assert dh.port_free(port), f"port {port} still in use after {how}"
    return rc


def maildir_names(copy):
    box = copy / "spool" / "demo" / "mail" / "orders"
    return {n.split(":")[0] for sub in ("new", "cur")
            for n in os.listdir(box / sub)}


def test_make_run_twice(copy, demo):
    # ---- first run: makes the PKI, the account and the configuration.
    d = demo("run1")
    demo_dir = copy / "spool" / "demo"
    password = (demo_dir / "merchant.password").read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{24}", password), password
    out = d.text()
    assert f"http://127.0.0.1:{d.http}/" in out
    assert f"password {password}" in out
    assert f"127.0.0.1:{d.pop3s} with TLS" in out
    assert (demo_dir / "merchant.p12").exists()
    ca_before = (demo_dir / "ca.crt").read_bytes()
    conf_before = (demo_dir / "formdrop.conf").read_bytes()
    users_before = (demo_dir / "users").read_bytes()

    # Nothing delivered yet: said so, and a server that does not answer
    # is not "no messages".
    cmd = printed_fetch_command(d)
    p = subprocess.run(["sh", "-c", cmd], cwd=d.copy, capture_output=True,
                       timeout=60, env=h.clean_env())
    assert p.returncode == 1 and p.stderr.decode().strip() == \
        "no messages for merchant yet", p.stderr
    closed = dh.free_ports(1)[0]
    p = subprocess.run(["sh", "-c", cmd.replace(f":{d.pop3s}",
                                                f":{closed}")],
                       cwd=d.copy, capture_output=True, timeout=60,
                       env=h.clean_env())
    assert p.returncode == 1 and "cannot list the messages of merchant" \
        in p.stderr.decode(), p.stderr

    blob = b"Specification\n" + os.urandom(2000)
    id1, _ = submit_order(d, "first-run", blob)
    fetched = fetch_newest(d)
    check_fetched(fetched, id1, "first-run", blob)
    first = maildir_names(copy)
    assert len(first) == 1, first
    stop_and_check(d, "SIGTERM")

    # ---- second run (same ports, as `make run` twice): the same
    # credentials, the same mail.
    d2 = demo("run2", ports=(d.http, d.pop3s, d.pop3))
    assert (demo_dir / "merchant.password").read_text().strip() == password
    assert f"password {password}" in d2.text()
    assert (demo_dir / "ca.crt").read_bytes() == ca_before
    assert (demo_dir / "users").read_bytes() == users_before
    assert (demo_dir / "formdrop.conf").read_bytes() == conf_before
    assert first <= maildir_names(copy), "the first order is gone"
    # The first order is still the newest, and still readable.
    check_fetched(fetch_newest(d2), id1, "first-run", blob)
    id2, _ = submit_order(d2, "second-run", blob)
    check_fetched(fetch_newest(d2), id2, "second-run", blob)
    assert len(maildir_names(copy)) == 2
    stop_and_check(d2, "SIGINT")


def test_demo_ports_follow_the_environment(copy, demo):
    """Every listener of a run is on the ports given in the environment,
    also in a copy whose formdrop.conf was written by an earlier run."""
    if not (copy / "spool" / "demo" / "formdrop.conf").exists():
        stop_and_check(demo("run3-first"), "SIGTERM")
    d = demo("run3", wait_ports=False)
    try:
        assert f"127.0.0.1:{d.pop3s} with TLS" in d.text()
        assert h.can_connect_tcp("127.0.0.1", d.pop3s), (
            f"POP3S not on {d.pop3s}")
        assert h.can_connect_tcp("127.0.0.1", d.pop3), (
            f"POP3 not on {d.pop3}")
    finally:
        stop_and_check(d, "SIGTERM")


def test_taken_port_is_reported_not_ready(copy, request):
    """A port already in use: no "ready" banner, but which server
    stopped and how to choose other ports; make run fails and leaves
    nothing running."""
    ports = dh.free_ports(3)
    d = Demo(copy, "run4-taken", ports)
    request.addfinalizer(d.cleanup)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports[0]))
        taken.listen(1)
        d.launch()
        rc = d.proc.wait(timeout=60)
    text = d.text()
    assert rc != 0, text[-2000:]
    assert "formdrop demo is ready" not in text, text[-2000:]
    assert f"formdrop-devserver (127.0.0.1:{ports[0]}) stopped" in text, \
        text[-2000:]
    assert "FORMDROP_DEMO_HTTP=" in text, text[-2000:]
    dh.wait_for(lambda: not d.ours(), timeout=10,
                what="every process of the demo to exit")
