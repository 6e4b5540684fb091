"""
Small helpers for the operations tests (test_memory.py, test_smime_ops.py,
test_contrib_dovecot.py):

  * FcgiConn: a minimal FastCGI client that keeps one connection open
    (FCGI_KEEP_CONN) and sends request after request on it, falling back
    to a new connection when the handler closes it -- the fastest way to
    push thousands of submissions through the real handler without nginx;
  * resident memory of a process and of the handler's workers;
  * a plain-CGI run of any handler binary (the ASan build included), with
    its exit status and standard error kept;
  * text helpers for log files that grow while a test runs.

Only the standard library; every process started here is stopped by its
PID by the caller's finalizer.
"""

import os
import shutil
import struct
import subprocess
import time
from pathlib import Path

import e2e_helpers as h
import fault_helpers as fh
import pop3_helpers as ph

FCGI_BEGIN_REQUEST, FCGI_END_REQUEST = 1, 3
FCGI_PARAMS, FCGI_STDIN, FCGI_STDOUT, FCGI_STDERR = 4, 5, 6, 7
FCGI_RESPONDER, FCGI_KEEP_CONN = 1, 1


def _record(rtype, content, rid):
    pad = (8 - len(content) % 8) % 8
    return (struct.pack("!BBHHBx", 1, rtype, rid, len(content), pad)
            + content + b"\0" * pad)


def fcgi_request_bytes(params, body, rid=1, keep=True):
    """Every record of one request, ready to send in one write."""
    out = bytearray(_record(FCGI_BEGIN_REQUEST, struct.pack(
        "!HB5x", FCGI_RESPONDER, FCGI_KEEP_CONN if keep else 0), rid))
    pb = fh.fcgi_params_bytes(params)
    for i in range(0, len(pb), 65535):
        out += _record(FCGI_PARAMS, pb[i:i + 65535], rid)
    out += _record(FCGI_PARAMS, b"", rid)
    for i in range(0, len(body), 65535):
        out += _record(FCGI_STDIN, body[i:i + 65535], rid)
    out += _record(FCGI_STDIN, b"", rid)
    return bytes(out)


class FcgiConn:
    """One FastCGI connection to the handler, reused while the handler
    keeps it open.  request() returns an e2e_helpers.Response.
    .connections counts the connections opened (1 when keep-conn is
    honoured all along)."""

    def __init__(self, target, timeout=h.TIMEOUT, keep=True):
        self.target = target
        self.timeout = timeout
        self.keep = keep
        self.sock = None
        self.buf = b""
        self.connections = 0

    def _open(self):
        self.close()
        self.sock = fh._connect(self.target, self.timeout)
        self.buf = b""
        self.connections += 1

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def _need(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("handler closed the connection")
            self.buf += data

    def _once(self, data):
        if self.sock is None:
            self._open()
        self.sock.sendall(data)
        out = b""
        while True:
            self._need(8)
            _, rtype, _, clen, plen = struct.unpack("!BBHHBx", self.buf[:8])
            self._need(8 + clen + plen)
            content = self.buf[8:8 + clen]
            self.buf = self.buf[8 + clen + plen:]
            if rtype == FCGI_STDOUT:
                out += content
            elif rtype == FCGI_END_REQUEST:
                if not self.keep:
                    self.close()
                return out

    def request(self, params, body=b""):
        data = fcgi_request_bytes(params, body, keep=self.keep)
        try:
            out = self._once(data)
        except (EOFError, ConnectionError, BrokenPipeError):
            # The handler closed an idle kept connection (worker replaced
            # or FCGI_KEEP_CONN not honoured): one more try, new socket.
            self._open()
            out = self._once(data)
        return h.parse_cgi_output(out)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def fcgi_params(form, body, content_type=fh.URLENC, accept=fh.JSON,
                remote_addr="127.0.0.9"):
    return fh.fcgi_env(form=form, body_len=len(body),
                       content_type=content_type, accept=accept,
                       remote_addr=remote_addr)


# ------------------------------------------------------------- memory

def status_kb(pid, field):
    """A 'Field:   N kB' line of /proc/PID/status in KiB (0 if gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kb(pid):
    return status_kb(pid, "VmRSS")


def workers_rss(parent_pid):
    """{worker pid: VmRSS KiB} of the handler's (or pop3d's) children."""
    return {pid: rss_kb(pid) for pid in h.child_pids(parent_pid)}


# ---------------------------------------------------------------- CGI

class CgiRun:
    def __init__(self, returncode, stdout, stderr):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr.decode("utf-8", "replace")
        try:
            self.response = h.parse_cgi_output(stdout) if stdout else None
        except ValueError:
            self.response = None

    @property
    def status(self):
        return self.response.status if self.response else None


def run_cgi(binary, env, body=b"", timeout=h.TIMEOUT):
    """Exec binary as a plain CGI program (CGI variables in env, body on
    stdin); unlike e2e_helpers.run_plain_cgi any binary, and a run without
    output is returned too (its stderr says why)."""
    p = subprocess.run([str(binary)], env=env, input=body,
                       capture_output=True, timeout=timeout)
    return CgiRun(p.returncode, p.stdout, p.stderr)


# ---------------------------------------------------------------- logs

class LogMark:
    """The part of a growing log written after the mark was taken."""

    def __init__(self, path):
        self.path = Path(path)
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def text(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_for(self, needle, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text():
                return self.text()
            time.sleep(0.02)
        raise AssertionError(f"{needle!r} not logged within {timeout}s; "
                             f"log since the mark:\n{self.text()[-4000:]}")


def maildir_count(maildir):
    return len(os.listdir(Path(maildir) / "new"))


def socket_target(handler):
    """What fault_helpers._connect wants for a Handler."""
    return str(handler.sock) if handler.sock else handler.tcp


def wait_workers(parent_pid, n, timeout=10, exclude=()):
    """The PIDs of n live children of parent_pid not in exclude."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = [k for k in h.child_pids(parent_pid) if k not in exclude]
        if len(kids) >= n:
            return kids
        time.sleep(0.02)
    raise AssertionError(f"{n} new workers of {parent_pid} not up within "
                         f"{timeout}s (have {h.child_pids(parent_pid)})")



# ------------------------------------------------------- pop3d binaries

class Pop3dBinary(ph.Pop3d):
    """pop3_helpers.Pop3d started from another binary (the ASan build)
    with extra environment variables (ASAN_OPTIONS, LD_PRELOAD) given to
    that process only."""

    start_timeout = 30

    def __init__(self, root, users, binary, env=None, **kw):
        super().__init__(root, users, **kw)
        self.binary = Path(binary)
        self.env_extra = dict(env or {})


def sha512_crypt(password, workdir):
    """A {SHA512-CRYPT} hash made by openssl passwd -6 (5,000 rounds):
    a few ms per login instead of yescrypt's ~50 ms, for tests that log in
    a thousand times."""
    p = subprocess.run(["openssl", "passwd", "-6", "-stdin"],
                       input=password.encode() + b"\n", capture_output=True,
                       timeout=h.TIMEOUT, env=h.clean_env(), cwd=workdir)
    assert p.returncode == 0, p.stderr
    return "{SHA512-CRYPT}" + p.stdout.decode().strip()


# ------------------------------------------------------ LeakSanitizer

CC = shutil.which("cc") or shutil.which("gcc")

# _exit() that runs LeakSanitizer's check first.  Processes forked per
# session (formdrop-pop3d) or per worker (formdrop.fcgi) end with _exit(),
# which skips the atexit handler where LSan checks for leaks: preloaded
# after the ASan runtime, this makes LSan check them too.
EXIT_SHIM_C = r"""
#define _GNU_SOURCE
#include <sys/syscall.h>
#include <unistd.h>
extern void __lsan_do_leak_check(void) __attribute__((weak));
void _exit(int status)
{
	if (__lsan_do_leak_check)
		__lsan_do_leak_check();
	syscall(SYS_exit_group, status);
	for (;;)
		;
}
"""

# A forked child leaks and leaves with _exit(); the parent leaks nothing.
FORK_LEAK_C = r"""
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		char *volatile p = malloc(43210);
		memset(p, 1, 43210);
		p = NULL;
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	return 0;
}
"""


def asan_runtime():
    """The path of the shared ASan runtime the sanitizer builds link."""
    if CC is None:
        return None
    p = subprocess.run([CC, "-print-file-name=libasan.so"],
                       capture_output=True, timeout=h.TIMEOUT)
    path = p.stdout.decode().strip()
    return os.path.realpath(path) if os.path.isabs(path) and \
        os.path.exists(path) else None


def compile_c(src, out, *flags):
    c = Path(str(out) + ".c")
    c.write_text(src)
    p = subprocess.run([CC, *flags, "-o", str(out), str(c)],
                       capture_output=True, timeout=120, env=h.clean_env())
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    return Path(out)


def lsan_reports(log_prefix):
    """{pid: text} of the ASan log files log_prefix.PID that hold a
    LeakSanitizer report."""
    out = {}
    d, base = Path(log_prefix).parent, Path(log_prefix).name
    for f in d.glob(base + ".*"):
        text = f.read_text(errors="replace")
        if "LeakSanitizer" in text:
            out[int(f.suffix[1:])] = text
    return out
