"""
The web side of the benchmark, all on loopback in one temp folder:

  nginx (2 workers) --FastCGI--> formdrop.fcgi        /submit/<form>
                    --FastCGI--> formdrop.fcgi (big limits, memory group)
                                                      /big/submit/<form>
                    --FastCGI--> fcgi_ok (libfcgi, reads body, 200)  /ok
                    --FastCGI--> fcgiwrap -> classic.cgi (sh) -> dovecot-lda
                                                      /classic

plus the PKI (scripts/demo-certs.sh and openssl for the other key types)
and the forms: the shipped templates with token, token_failure,
honeypot and rate removed (so each POST delivers), and one copy of the
order form per S/MIME set-up, each with its own mailbox and Maildir.
"""

import os
import pwd
import re
import shutil
import urllib.parse
from pathlib import Path

import benchlib as b

WORKERS = 8           # formdrop.fcgi -w, fcgi_ok workers, fcgiwrap -c
FROM = "Web forms <forms@bench.localhost>"
TO = "Orders <orders@bench.localhost>"

SCREENING = re.compile(
    r"^(token|token_failure|token_min_age|token_max_age|honeypot|rate)"
    r"\s*=.*\n", re.M)

# name -> (mailbox extra lines (filled in with the PKI), description)
ENC_SETUPS = [
    ("rsa2x", "encrypt to 2 x RSA-2048"),
    ("rsa4096", "encrypt to RSA-4096"),
    ("p256", "encrypt to P-256 (ECDH)"),
    ("sign_rsa", "sign RSA-2048 + encrypt 2 x RSA-2048"),
    ("sign_p256", "sign P-256 + encrypt 2 x RSA-2048"),
]


def order_body(target=2048):
    """A ~2 KiB urlencoded order for the shipped order form."""
    pairs = [("name", "Jane Q. Customer"),
             ("email", "jane.customer@example.com"),
             ("phone", "+44 20 7946 0958"),
             ("address", "Flat 4, 221B Baker Street\r\nLondon NW1 6XE\r\n"
                         "United Kingdom")]
    for i in range(5):
        pairs.append(("item", f"Widget model {i} (blue, size M)"))
        pairs.append(("quantity", str(i + 1)))
    base = urllib.parse.urlencode(pairs)
    filler = ("Please leave the parcel with the neighbour at number 12 "
              "if nobody answers. ")
    notes = ""
    while len(base) + len(urllib.parse.urlencode([("notes", notes)])) + 1 \
            < target:
        notes += filler
    body = base + "&" + urllib.parse.urlencode([("notes", notes)])
    # trim to about target bytes on a word boundary of the notes
    while len(body) > target + 40:
        notes = notes[:-10]
        body = base + "&" + urllib.parse.urlencode([("notes", notes)])
    return body.encode()


NGINX_CONF = """\
{user}
worker_processes 2;
error_log {root}/error.log warn;
pid {root}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/client_body;
    fastcgi_temp_path {root}/fastcgi_temp;
    proxy_temp_path {root}/proxy_temp;
    uwsgi_temp_path {root}/uwsgi_temp;
    scgi_temp_path {root}/scgi_temp;
    client_max_body_size 300m;
    client_body_buffer_size 16k;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        location ~ ^/submit(/.*)?$ {{
            fastcgi_pass unix:{handler_sock};
            include {params};
            fastcgi_param SCRIPT_NAME /submit;
            fastcgi_param PATH_INFO $1;
            fastcgi_read_timeout 60s;
        }}
        location ~ ^/big/submit(/.*)?$ {{
            fastcgi_pass unix:{big_sock};
            include {params};
            fastcgi_param SCRIPT_NAME /submit;
            fastcgi_param PATH_INFO $1;
            fastcgi_read_timeout 300s;
        }}
        location = /ok {{
            fastcgi_pass unix:{ok_sock};
            include {params};
        }}
        location = /classic {{
            fastcgi_pass unix:{classic_sock};
            include {params};
            fastcgi_param SCRIPT_FILENAME {classic_cgi};
            fastcgi_read_timeout 60s;
        }}
        location = /thanks.html {{ return 200 "thanks\\n"; }}
    }}
}}
"""

CLASSIC_CGI = """\
#!/bin/sh
# The classic form-mailer shape: a fork-per-request CGI program that
# wraps the posted body in a message and pipes it to the local delivery
# agent (here Dovecot's dovecot-lda into a Maildir).
export HOME={home}
n=${{CONTENT_LENGTH:-0}}
if {{
	printf 'From: %s\\nTo: %s\\nSubject: Order from the web form\\n' \\
	    '{frm}' '{to}'
	printf 'Date: %s\\nMessage-ID: <%s.%s@bench.localhost>\\n' \\
	    "$(date -R)" "$(date +%s%N)" "$$"
	printf 'MIME-Version: 1.0\\nContent-Type: text/plain; charset=utf-8\\n\\n'
	head -c "$n" | tr '&+' '\\n '
	printf '\\n'
}} | {lda} -c {conf} -f forms@bench.localhost; then
	printf 'Status: 303 See Other\\r\\nLocation: /thanks.html\\r\\n\\r\\n'
else
	printf 'Status: 503 Service Unavailable\\r\\nContent-Type: text/plain\\r\\n\\r\\nnot delivered\\n'
fi
"""

LDA_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/lda.log
first_valid_uid = 0
mail_location = maildir:{maildir}
"""


def nobody_ids():
    try:
        pw = pwd.getpwnam("nobody")
        return pw.pw_uid, pw.pw_gid
    except KeyError:
        return None


class PKI:
    """demo-certs.sh's CA and keys plus a second RSA-2048 recipient, an
    RSA-4096 recipient and an RSA-2048 gateway (signing) certificate."""

    def __init__(self, root):
        self.dir = Path(root)
        self.dir.mkdir(parents=True, exist_ok=True)
        b.run(["sh", b.REPO / "scripts" / "demo-certs.sh", self.dir],
              timeout=120)
        self._issue("merchant2", "rsa:2048", "digitalSignature,keyEncipherment")
        self._issue("rsa4096", "rsa:4096", "keyEncipherment")
        self._issue("gateway_rsa", "rsa:2048", "digitalSignature")
        (self.dir / "gateway_rsa-chain.crt").write_bytes(
            (self.dir / "gateway_rsa.crt").read_bytes() +
            (self.dir / "ca.crt").read_bytes())
        for p in self.dir.iterdir():     # the handler refuses a key all read
            os.chmod(p, 0o600 if p.suffix == ".key" else 0o644)

    def p(self, name):
        return self.dir / name

    def _issue(self, name, spec, usage):
        d = self.dir
        if (d / f"{name}.crt").exists():
            return
        bits = spec.split(":")[1]
        b.run([b.OPENSSL, "genpkey", "-algorithm", "RSA", "-pkeyopt",
               f"rsa_keygen_bits:{bits}", "-out", d / f"{name}.key"],
              timeout=300)
        b.run([b.OPENSSL, "req", "-new", "-key", d / f"{name}.key", "-subj",
               f"/O=formdrop bench/CN={name}", "-out", d / f"{name}.csr"])
        (d / f"{name}.ext").write_text(
            "basicConstraints = critical, CA:FALSE\n"
            f"keyUsage = critical, {usage}\n"
            "extendedKeyUsage = emailProtection\n"
            "subjectKeyIdentifier = hash\n"
            "authorityKeyIdentifier = keyid\n"
            f"subjectAltName = email:{name}@bench.localhost\n")
        b.run([b.OPENSSL, "x509", "-req", "-in", d / f"{name}.csr", "-CA",
               d / "ca.crt", "-CAkey", d / "ca.key", "-CAcreateserial",
               "-days", "30", "-extfile", d / f"{name}.ext", "-out",
               d / f"{name}.crt"])

    def setup(self, name):
        """[mailbox] lines, the cms_ceiling arguments (mode, args)."""
        p = self.p
        two = [p("merchant.crt"), p("merchant2.crt")]
        if name == "rsa2x":
            return ([f"recipients = {two[0]} {two[1]}"],
                    ("encrypt", [*two]))
        if name == "rsa4096":
            return ([f"recipients = {p('rsa4096.crt')}"],
                    ("encrypt", [p("rsa4096.crt")]))
        if name == "p256":
            return ([f"recipients = {p('staff.crt')}"],
                    ("encrypt", [p("staff.crt")]))
        if name == "sign_rsa":
            return ([f"recipients = {two[0]} {two[1]}",
                     f"sign_cert = {p('gateway_rsa-chain.crt')}",
                     f"sign_key = {p('gateway_rsa.key')}"],
                    ("sign", [p("gateway_rsa.crt"), p("gateway_rsa.key")]))
        if name == "sign_p256":
            return ([f"recipients = {two[0]} {two[1]}",
                     f"sign_cert = {p('gateway-chain.crt')}",
                     f"sign_key = {p('gateway.key')}"],
                    ("sign", [p("gateway.crt"), p("gateway.key")]))
        raise KeyError(name)


class WebStack:
    def __init__(self, root, procs, peers):
        self.root = Path(root)
        self.procs = procs
        self.peers = peers          # {"fcgi_ok": path or None}
        self.notes = []
        self.pki = None
        self.maildirs = {}
        self.handler = self.big = self.ok = self.classic = self.nginx = None
        self.port = None
        self.classic_maildir = None

    # ---------------------------------------------------------- config
    def _forms(self, setups):
        dst = self.root / "forms"
        shutil.copytree(b.TEMPLATES, dst)
        (dst / "contact.form").unlink()
        order = SCREENING.sub("", (dst / "order.form").read_text())
        (dst / "order.form").write_text(order)
        for name in setups:
            text = order.replace("mailbox  = orders",
                                 f"mailbox  = orders_{name}")
            text = text.replace("[form]\n", "[form]\nencryption = required\n",
                                1)
            (dst / f"order_{name}.form").write_text(text)
        return dst

    def _config(self, path, forms, boxes, limits):
        lines = ["[formdrop]", f"forms = {forms}",
                 f"state = {path.parent / (path.stem + '-state')}",
                 "hostname = bench.localhost", "", "[limits]"]
        lines += [f"{k} = {v}" for k, v in limits.items()]
        for name, (md, extra) in boxes.items():
            lines += ["", f"[mailbox {name}]", f"maildir = {md}",
                      f"from = {FROM}", f"to = {TO}"] + list(extra)
        path.write_text("\n".join(lines) + "\n")
        (path.parent / (path.stem + "-state")).mkdir(exist_ok=True)
        return path

    def build(self):
        setups = [n for n, _ in ENC_SETUPS]
        try:
            self.pki = PKI(self.root / "pki")
        except Exception as e:          # no S/MIME figures, intake still
            self.notes.append(f"PKI failed, encrypted group skipped: {e}")
            setups = []
        forms = self._forms(setups)
        spool = self.root / "spool"
        boxes = {"orders": (b.make_maildir(spool / "orders"), [])}
        self.maildirs["plain"] = boxes["orders"][0]
        self.cms_args = {}
        for name in setups:
            md = b.make_maildir(spool / f"orders_{name}")
            extra, cms = self.pki.setup(name)
            boxes[f"orders_{name}"] = (md, extra)
            self.maildirs[name] = md
            self.cms_args[name] = cms
        self.setups = setups
        self.conf = self._config(self.root / "formdrop.conf", forms, boxes,
                                 {"body_max": "1M"})
        big_md = b.make_maildir(spool / "big")
        self.maildirs["big"] = big_md
        big_boxes = {"orders": (big_md, [])}
        for name in setups:         # the forms folder names them all
            big_boxes[f"orders_{name}"] = boxes[f"orders_{name}"]
        self.big_conf = self._config(self.root / "big.conf", forms, big_boxes,
                                     {"body_max": "128M", "file_max": "128M",
                                      "field_max": "1M"})
        for conf in (self.conf, self.big_conf):
            p = b.run([b.HANDLER, "-c", conf, "--check"], check=False)
            if p.returncode != 0:
                raise RuntimeError(f"formdrop.fcgi --check {conf}: "
                                   f"{(p.stdout + p.stderr).decode()}")

    # ---------------------------------------------------------- start
    def start(self):
        r = self.root
        self.handler_sock = r / "h.sock"
        self.big_sock = r / "big.sock"
        self.ok_sock = r / "ok.sock"
        cdir = r / "classic"
        cdir.mkdir()
        os.chmod(cdir, 0o777)
        self.classic_sock = cdir / "fcgiwrap.sock"
        self.classic_cgi = r / "classic.cgi"
        self.handler = self.procs.start(
            [b.HANDLER, "-f", "-c", self.conf, "-s",
             f"unix:{self.handler_sock}", "-w", WORKERS], r / "handler.log",
            cwd=r, name="formdrop.fcgi")
        self.big = self.procs.start(
            [b.HANDLER, "-f", "-c", self.big_conf, "-s",
             f"unix:{self.big_sock}", "-w", 2], r / "big.log", cwd=r,
            name="formdrop.fcgi (big limits)")
        for p, s in ((self.handler, self.handler_sock),
                     (self.big, self.big_sock)):
            b.wait_until(lambda: b.can_connect_unix(s), proc=p,
                         what=f"handler socket {s}", log=p.bench_log)
        if self.peers.get("fcgi_ok"):
            try:
                self.ok = self.procs.start(
                    [self.peers["fcgi_ok"], f"unix:{self.ok_sock}", WORKERS],
                    r / "fcgi_ok.log", name="fcgi_ok")
                b.wait_until(lambda: b.can_connect_unix(self.ok_sock),
                             proc=self.ok, what="fcgi_ok socket")
            except RuntimeError as e:   # a peer, not the suite, failed
                self.notes.append(f"fcgi_ok did not start: {e}")
                self.procs.stop(self.ok)
                self.ok = None
        else:
            self.notes.append("fcgi_ok not built (libfcgi-dev?): FastCGI "
                              "ceiling skipped")
        try:
            self._start_classic()
        except (RuntimeError, OSError) as e:
            self.notes.append(f"classic CGI+LDA did not start: {e}")
            self.procs.stop(self.classic)
            self.classic = None
        self._start_nginx()

    def _start_classic(self):
        if not b.FCGIWRAP or not os.path.exists(b.LDA):
            self.notes.append("fcgiwrap or dovecot-lda missing: classic "
                              "CGI+LDA skipped")
            return
        r = self.root / "classic"
        owner = nobody_ids() if b.is_root() else None
        self.classic_maildir = b.make_maildir(r / "Maildir", owner)
        for d in ("run", "state"):
            (r / d).mkdir()
        (r / "lda.conf").write_text(LDA_CONF.format(
            root=r, maildir=self.classic_maildir))
        self.classic_cgi.write_text(CLASSIC_CGI.format(
            home=r, frm=FROM, to=TO, lda=b.LDA, conf=r / "lda.conf"))
        os.chmod(self.classic_cgi, 0o755)
        if owner:
            for p in [r, r / "run", r / "state", r / "lda.conf"]:
                os.chown(p, *owner)
        cmd = [b.FCGIWRAP, "-c", WORKERS, "-s", f"unix:{self.classic_sock}"]
        if owner:
            cmd = ["setpriv", "--reuid", str(owner[0]), "--regid",
                   str(owner[1]), "--clear-groups"] + cmd
        self.classic = self.procs.start(cmd, self.root / "fcgiwrap.log",
                                        name="fcgiwrap")
        b.wait_until(lambda: b.can_connect_unix(self.classic_sock),
                     proc=self.classic, what="fcgiwrap socket",
                     log=self.root / "fcgiwrap.log")
        self.maildirs["classic"] = self.classic_maildir

    def _start_nginx(self):
        nr = self.root / "nginx"
        nr.mkdir()

        def attempt():
            self.port = b.free_port()
            conf = nr / "nginx.conf"
            conf.write_text(NGINX_CONF.format(
                user="user root;" if b.is_root() else "", root=nr,
                port=self.port, handler_sock=self.handler_sock,
                big_sock=self.big_sock, ok_sock=self.ok_sock,
                classic_sock=self.classic_sock,
                classic_cgi=self.classic_cgi, params=b.FASTCGI_PARAMS))
            self.nginx = self.procs.start(
                [b.NGINX, "-p", nr, "-c", conf, "-e", nr / "error.log",
                 "-g", "daemon off;"], nr / "stderr.log", name="nginx")
            b.wait_until(lambda: b.can_connect_tcp(self.port),
                         proc=self.nginx, what="nginx port",
                         log=nr / "error.log")

        b.start_retrying(attempt, lambda: self.procs.stop(self.nginx))

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def workers(self, which="handler"):
        p = self.handler if which == "handler" else self.big
        return b.children(p.pid)

    def stop(self):
        for p in (self.nginx, self.classic, self.ok, self.big, self.handler):
            self.procs.stop(p)
