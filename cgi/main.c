/*
 * formdrop.fcgi: the form handler.  This file alone touches argv, the
 * environment, sockets, signals and processes; everything a request does
 * is in handler.c and lib/.
 *
 * Modes:
 *	-s unix:PATH | -b HOST:PORT	listen there, prefork workers
 *	(fd 0 is a listening socket)	spawn-fcgi / systemd: the same on fd 0
 *	(CGI variables, no socket)	answer one request as plain CGI
 *	--check				validate the configuration and exit
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "bounds.h"
#include "conf.h"
#include "handler.h"
#include "log.h"
#include "maildir.h"
#include "once.h"
#include "sandbox.h"
#include "selftest.h"
#include "token.h"
#include "util.h"

#define LISTEN_BACKLOG	128
#define RESTART_DELAY	1	/* seconds between restarts of a worker */

static volatile sig_atomic_t stopping;
static volatile sig_atomic_t reloading;
static pid_t parent_pid;
static volatile sig_atomic_t in_request;
static sigset_t worker_mask;	/* the signal mask workers run with */

static void
usage(void)
{
	fprintf(stderr, "usage: formdrop.fcgi [-f] [-c file] "
	    "[-s unix:path | -b host:port] [-w workers]\n"
	    "       formdrop.fcgi [-c file] --check\n"
	    "       formdrop.fcgi [-c file] --selftest mailbox [--key key]\n"
	    "       formdrop.fcgi [-c file] --rotate-token-key\n");
	exit(EX_USAGE);
}

static void
on_parent_signal(int sig)
{
	if (sig == SIGHUP)
		reloading = 1;
	else if (sig != SIGCHLD)	/* SIGCHLD only ends sigsuspend() */
		stopping = 1;
}

/* 1 if a mailbox of c has certificates configured but unusable. */
static int
has_broken_certs(const struct conf *c)
{
	size_t i;

	for (i = 0; i < c->nboxes; i++)
		if (c->boxes[i].smime_broken)
			return 1;
	return 0;
}

/* Each diagnostic line as a log line of its own. */
static void
log_diag(const struct diag *d)
{
	const char *p = d->text.data, *nl;

	while (p != NULL && *p != '\0') {
		nl = strchr(p, '\n');
		log_warnx("  %.*s", nl != NULL ? (int)(nl - p) : (int)strlen(p),
		    p);
		p = nl != NULL ? nl + 1 : NULL;
	}
}

/*
 * SIGHUP: read the configuration again.  Only a configuration without
 * errors and with every certificate usable replaces the running one;
 * otherwise the old one keeps serving (fail closed: a bad new
 * certificate never means plaintext) and the log says why.
 */
static int
reload_conf(struct conf *conf)
{
	struct conf next;
	struct diag d;
	char *path = xstrdup(conf->path);
	int r = -1;

	memset(&next, 0, sizeof(next));
	diag_init(&d);
	if (conf_load(path, CONF_SERVE, &next, &d) == -1) {
		log_warnx("reload of %s failed; the running configuration "
		    "stays", path);
		log_diag(&d);
	} else if (has_broken_certs(&next)) {
		log_warnx("reload of %s refused: unusable certificates; the "
		    "running configuration stays", path);
		log_diag(&d);
		conf_free(&next);
	} else {
		conf_free(conf);
		*conf = next;
		log_info("reloaded %s: %zu form(s)", path, conf->nforms);
		r = 0;
	}
	diag_free(&d);
	free(path);
	return r;
}

/* A worker stops at once when idle, else after its current request. */
static void
on_worker_signal(int sig)
{
	(void)sig;
	if (!in_request)
		_exit(0);
	stopping = 1;
}

static int
open_unix(const char *path)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		fatalx("socket path too long: %s", path);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	/* A socket left by a previous run is replaced; nothing else is. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("bind %s", path);
	/* Anyone may submit a form; the web server's user must connect. */
	if (chmod(path, 0666) == -1)
		fatal("chmod %s", path);
	if (listen(fd, LISTEN_BACKLOG) == -1)
		fatal("listen %s", path);
	return fd;
}

static int
open_tcp(const char *spec)
{
	struct addrinfo hints, *res;
	char host[256];
	const char *colon = strrchr(spec, ':');
	int fd, one = 1, r;

	if (colon == NULL || colon == spec ||
	    (size_t)(colon - spec) >= sizeof(host))
		fatalx_code(EX_USAGE, "-b wants HOST:PORT, not %s", spec);
	snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if ((r = getaddrinfo(host, colon + 1, &hints, &res)) != 0)
		fatalx_code(EX_USAGE, "-b %s: %s", spec, gai_strerror(r));
	if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1)
		fatal("bind %s", spec);
	freeaddrinfo(res);
	if (listen(fd, LISTEN_BACKLOG) == -1)
		fatal("listen %s", spec);
	return fd;
}

static ssize_t
fcgi_read(void *arg, void *buf, size_t len)
{
	FCGX_Request *req = arg;
	int n = FCGX_GetStr(buf, len > INT_MAX ? INT_MAX : (int)len,
	    req->in);

	if (n == 0 && FCGX_GetError(req->in) != 0)
		return -1;
	return n;
}

static ssize_t
cgi_read(void *arg, void *buf, size_t len)
{
	ssize_t n;

	(void)arg;
	while ((n = read(STDIN_FILENO, buf, len)) == -1 && errno == EINTR)
		;
	return n;
}

/* Fill req from a CGI environment (libfcgi's or the process's). */
static void
request_from_env(struct request *req, const char *(*get)(const char *,
    void *), void *envarg)
{
	req->method = get("REQUEST_METHOD", envarg);
	req->path_info = get("PATH_INFO", envarg);
	req->request_uri = get("DOCUMENT_URI", envarg) != NULL ?
	    get("DOCUMENT_URI", envarg) : get("REQUEST_URI", envarg);
	req->content_type = get("CONTENT_TYPE", envarg);
	req->content_length = get("CONTENT_LENGTH", envarg);
	req->accept = get("HTTP_ACCEPT", envarg);
	req->idempotency_key = get("HTTP_IDEMPOTENCY_KEY", envarg);
	req->script_name = get("SCRIPT_NAME", envarg);
	req->remote_addr = get("REMOTE_ADDR", envarg);
}

static const char *
fcgi_getenv(const char *name, void *arg)
{
	return FCGX_GetParam(name, ((FCGX_Request *)arg)->envp);
}

static const char *
proc_getenv(const char *name, void *arg)
{
	(void)arg;
	return getenv(name);
}

/*
 * A worker holds forms in clear, and the key of the upload spool, and
 * the supervisor the signing and token keys: no core dump (of a crash,
 * or of the seccomp filter's SIGSYS) may write them to disk.  Not
 * dumpable also keeps other processes of the same user out of their
 * memory (ptrace, /proc/PID/mem).
 */
static void
forbid_core_dumps(void)
{
	struct rlimit none = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &none) == -1 ||
	    prctl(PR_SET_DUMPABLE, 0) == -1)
		fatal("cannot forbid core dumps");
}

static void	confine(const struct conf *);
static void	clean_maildirs(const struct conf *);

/*
 * One request as a CGI program: confined as a worker is.  Cleaning up
 * after crashes (tmp/ files, as a FastCGI server does at start) is left
 * to one request in CLEAN_EVERY_CGI, each its own process.
 */
static void
serve_cgi(const struct conf *conf)
{
	struct request req = { 0 };
	struct response resp;
	struct buf out;

	if ((unsigned)getpid() % CLEAN_EVERY_CGI == 0)
		clean_maildirs(conf);
	confine(conf);
	request_from_env(&req, proc_getenv, NULL);
	req.read = cgi_read;
	req.open_ended = 1;
	response_init(&resp);
	handler_serve(conf, &req, &resp);
	buf_init(&out, resp.body.max + resp.head.max + 1024);
	/* Nobody to tell if the web server is gone. */
	if (response_serialize(&resp, &out) == 0)
		(void)write_all(STDOUT_FILENO, out.data, out.len);
	buf_free(&out);
	response_free(&resp);
}

/*
 * Confine a worker, or a CGI process, before it reads its request: it
 * may then write only the spool (the folders of its Maildirs) and the
 * state folder, and make only the system calls its work needs.  Failing
 * to confine is fatal (a worker's supervisor logs the exit); see
 * sandbox.h.
 */
static void
confine(const struct conf *conf)
{
	static char parents[63][4096];
	const char *paths[64];
	char err[256];
	size_t i, n = 0;
	int landlock;

	/* The folder holding each Maildir (the spool); conf.c refuses one
	 * that holds anything the supervisor or pop3d reads. */
	for (i = 0; i < conf->nboxes && n < 63; i++) {
		maildir_grant_folder(conf->boxes[i].maildir, parents[n],
		    sizeof(parents[n]));
		paths[n] = parents[n];
		n++;
	}
	paths[n++] = conf->state_dir;
	if (sandbox_enter(paths, n, &landlock, err, sizeof(err)) == -1)
		fatalx("cannot confine the worker: %s", err);
	log_debug("worker confined: seccomp%s", landlock ? ", landlock" : "");
}

/*
 * --sandbox-test: confine as a worker does, then try what an attacker
 * would: read a file outside the spool, start a shell.  The seccomp
 * filter kills the process (SIGSYS) at the exec.
 */
static void
sandbox_test(const struct conf *conf)
{
	int fd;

	if (!sandbox_available())
		fatalx_code(EX_UNAVAILABLE, "built with SANDBOX=none");
	confine(conf);
	fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
	printf("open /etc/passwd: %s\n", fd == -1 ? strerror(errno) :
	    "allowed (no Landlock in this kernel)");
	fflush(stdout);
	execl("/bin/sh", "sh", "-c", "echo shell started", (char *)NULL);
	printf("exec /bin/sh: %s\n", strerror(errno));
	exit(1);
}

/*
 * Read what is left of a small body the answer did not need (a 404, a
 * 405, a token): libfcgi can keep the web server's connection open only
 * when the request's input was read to its end.  A large rest is not
 * read: the connection is closed instead.
 */
static void
drain_stdin(FCGX_Request *fr)
{
	char chunk[4096];
	int n, total = 0;

	while (total < 64 * 1024 &&
	    (n = FCGX_GetStr(chunk, sizeof(chunk), fr->in)) > 0)
		total += n;
}

static void
worker_run(const struct conf *conf, int listen_fd)
{
	FCGX_Request fr;
	struct request req;
	struct response resp;
	struct buf out;
	struct sigaction sa;

	/*
	 * SA_RESTART: a stop that arrives while a request is read or written
	 * must not fail that read or write (libfcgi takes EINTR for an
	 * error, and the client would get a 400 for a reload).  Reloads
	 * are the supervisor's: it replaces the workers.
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_worker_signal;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigprocmask(SIG_SETMASK, &worker_mask, NULL);
	/* A worker whose supervisor is gone (killed) stops too. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != parent_pid)
		_exit(0);
	if (FCGX_InitRequest(&fr, listen_fd, 0) != 0)
		fatalx("FCGX_InitRequest failed");
	confine(conf);
	while (!stopping && FCGX_Accept_r(&fr) >= 0) {
		in_request = 1;
		memset(&req, 0, sizeof(req));
		request_from_env(&req, fcgi_getenv, &fr);
		req.read = fcgi_read;
		req.arg = &fr;
		response_init(&resp);
		handler_serve(conf, &req, &resp);
		buf_init(&out, resp.body.max + resp.head.max + 1024);
		if (response_serialize(&resp, &out) == 0)
			FCGX_PutStr(out.data, (int)out.len, fr.out);
		buf_free(&out);
		response_free(&resp);
		drain_stdin(&fr);
		FCGX_Finish_r(&fr);
		in_request = 0;
		if (handler_wants_restart())
			break;
	}
	_exit(0);
}

static pid_t
worker_start(const struct conf *conf, int listen_fd)
{
	pid_t pid;

	if ((pid = fork()) == -1) {
		log_warn("fork");
		return -1;
	}
	if (pid == 0)
		worker_run(conf, listen_fd);
	return pid;
}

/*
 * Remove what crashed deliveries left in each Maildir's tmp/ and in its
 * spam folder's: at start and at every reload.
 */
static void
clean_maildirs(const struct conf *conf)
{
	char junk[4096];
	const char *box;
	size_t i;
	int n;

	for (i = 0; i < conf->nboxes; i++) {
		box = conf->boxes[i].maildir;
		if ((n = maildir_clean_tmp(box, MAILDIR_TMP_MAX_AGE)) > 0)
			log_info("removed %d stale file(s) from %s/tmp", n, box);
		snprintf(junk, sizeof(junk), "%s/%s", box, MAILDIR_JUNK);
		if ((n = maildir_clean_tmp(junk, MAILDIR_TMP_MAX_AGE)) > 0)
			log_info("removed %d stale file(s) from %s/tmp", n,
			    junk);
	}
}

/* A worker ended: log how, and start another unless stopping. */
static void
worker_ended(struct conf *conf, int listen_fd, pid_t *pids, unsigned n,
    pid_t pid, int status)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (pids[i] != pid)
			continue;
		if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM)
			log_warnx("worker %ld killed by signal %d; restarting",
			    (long)pid, WTERMSIG(status));
		else if (WEXITSTATUS(status) != 0)
			log_warnx("worker %ld exited with %d; restarting",
			    (long)pid, WEXITSTATUS(status));
		pids[i] = stopping ? 0 : worker_start(conf, listen_fd);
	}
}

/*
 * Keep n workers running until a signal says stop; on SIGHUP, reload and
 * replace the workers, each after its current request.  The supervisor's
 * signals stay blocked but in sigsuspend() (or the wait before a new
 * fork), so that a SIGHUP or SIGTERM that arrives after the flags were
 * looked at is not left waiting for a worker to end (a reload silently
 * not done).
 */
static void
supervise(struct conf *conf, int listen_fd, unsigned n)
{
	struct sigaction sa;
	sigset_t block;
	pid_t *pids = xcalloc(n, sizeof(*pids)), pid;
	unsigned i, alive;
	int status, missing;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_parent_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &worker_mask);
	parent_pid = getpid();
	for (i = 0; i < n; i++)
		pids[i] = worker_start(conf, listen_fd);
	while (!stopping) {
		if (reloading) {
			reloading = 0;
			if (reload_conf(conf) == 0) {
				clean_maildirs(conf);
				for (i = 0; i < n; i++)
					if (pids[i] > 0)
						kill(pids[i], SIGTERM);
			}
		}
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			worker_ended(conf, listen_fd, pids, n, pid, status);
		for (i = 0, missing = 0; i < n && !stopping; i++)
			if (pids[i] == -1 &&
			    (pids[i] = worker_start(conf, listen_fd)) == -1)
				missing = 1;
		if (stopping || reloading)
			continue;
		if (missing) {
			/* A fork failed: no worker may be left to end and
			 * wake us, so try again after a while. */
			sigprocmask(SIG_SETMASK, &worker_mask, NULL);
			sleep(RESTART_DELAY);
			sigprocmask(SIG_BLOCK, &block, NULL);
		} else
			sigsuspend(&worker_mask);
	}
	sigprocmask(SIG_SETMASK, &worker_mask, NULL);
	for (i = 0, alive = 0; i < n; i++)
		if (pids[i] > 0 && kill(pids[i], SIGTERM) == 0)
			alive++;
	/* Busy workers finish their request first; a second signal too. */
	while (alive > 0) {
		if (waitpid(-1, &status, 0) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		alive--;
	}
	free(pids);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'C' },
		{ "selftest", required_argument, NULL, 'T' },
		{ "key", required_argument, NULL, 'K' },
		{ "rotate-token-key", no_argument, NULL, 'R' },
		{ "sandbox-test", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *conf_path = NULL, *listen_spec = NULL;
	const char *selftest = NULL, *selftest_key = NULL;
	int rotate = 0, sbtest = 0;
	unsigned long long workers = 0;
	int ch, check = 0, foreground = 0, listen_fd = -1, is_cgi;
	struct conf conf;
	struct stat st;
	struct diag diag;

	log_init("formdrop.fcgi", 1);	/* option errors, under our name */
	while ((ch = getopt_long(argc, argv, "b:c:fhs:w:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'b':
		case 's':
			if (listen_spec != NULL)
				usage();
			listen_spec = optarg;
			if (ch == 's' && strncmp(optarg, "unix:", 5) != 0)
				fatalx_code(EX_USAGE, "-s wants unix:PATH");
			break;
		case 'c':
			conf_path = optarg;
			break;
		case 'C':
			check = 1;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'K':
			selftest_key = optarg;
			break;
		case 'R':
			rotate = 1;
			break;
		case 'S':
			sbtest = 1;
			break;
		case 'T':
			selftest = optarg;
			break;
		case 'w':
			if (parse_uint(optarg, 1, CONF_WORKERS_MAX,
			    &workers) == -1)
				fatalx_code(EX_USAGE, "-w wants 1 to %d",
				    CONF_WORKERS_MAX);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	conf_path = conf_choose_path(conf_path);

	if (selftest_key != NULL && selftest == NULL)
		usage();
	if (selftest != NULL || rotate)
		check = 1;	/* like --check: read, report, exit */
	is_cgi = listen_spec == NULL && FCGX_IsCGI();
	log_init("formdrop.fcgi", check || foreground || is_cgi);
	signal(SIGPIPE, SIG_IGN);

	diag_init(&diag);
	if (conf_load(conf_path, check ? CONF_CHECK : CONF_SERVE, &conf,
	    &diag) == -1) {
		diag_print(&diag, stderr);
		if (!check && !foreground && !is_cgi)
			log_warnx("configuration %s has errors; run "
			    "formdrop.fcgi --check", conf_path);
		exit(EX_CONFIG);
	}
	diag_print(&diag, stderr);
	diag_free(&diag);
	if (sbtest) {
		sandbox_test(&conf);
		return 1;
	}
	if (rotate) {
		/* Tokens made under the old key stay valid: it is kept as
		 * token.key.previous until the next rotation. */
		if (token_keys_rotate(conf.state_dir) == -1)
			fatal("rotate the token key in %s", conf.state_dir);
		printf("%s/token.key: new key; the previous one still verifies "
		    "tokens it made.  Reload the handler (SIGHUP) to use it.\n",
		    conf.state_dir);
		conf_free(&conf);
		return 0;
	}
	if (selftest != NULL) {
		ch = selftest_run(&conf, selftest, selftest_key);
		conf_free(&conf);
		return ch;
	}
	if (check) {
		printf("%s: OK, %zu form(s), %zu mailbox(es)\n", conf_path,
		    conf.nforms, conf.nboxes);
		/* Root reads and writes anything: what was found usable may
		 * not be for the handler's own user (the owner of the state
		 * folder, when there is one; root in the demo). */
		if (geteuid() == 0 && (stat(conf.state_dir, &st) == -1 ||
		    st.st_uid != 0))
			log_warnx("checked as root: run the check as the "
			    "handler's user too (runuser -u formdrop -- %s -c %s "
			    "--check)", program_invocation_name, conf_path);
		conf_free(&conf);
		return 0;
	}

	/* Both ways of serving hold the keys and, soon, forms in clear. */
	forbid_core_dumps();
	/* Everything OpenSSL reads from disk, read before confinement. */
	OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG |
	    OPENSSL_INIT_ADD_ALL_CIPHERS | OPENSSL_INIT_ADD_ALL_DIGESTS, NULL);
	/* Record ages are read against the clock as it stands now. */
	once_clock_start();
	if (is_cgi) {
		if (getenv("REQUEST_METHOD") == NULL)
			fatalx_code(EX_USAGE, "not started by a web server: "
			    "give -s unix:PATH or -b HOST:PORT, or run it from "
			    "spawn-fcgi or systemd");
		serve_cgi(&conf);
		conf_free(&conf);
		return 0;
	}
	if (FCGX_Init() != 0)
		fatalx("FCGX_Init failed");
	if (listen_spec == NULL)
		listen_fd = STDIN_FILENO;	/* FCGI_LISTENSOCK_FILENO */
	else if (strncmp(listen_spec, "unix:", 5) == 0)
		listen_fd = open_unix(listen_spec + 5);
	else
		listen_fd = open_tcp(listen_spec);
	clean_maildirs(&conf);
	log_info("serving %zu form(s) on %s with %u worker(s)", conf.nforms,
	    listen_spec != NULL ? listen_spec : "inherited socket",
	    workers > 0 ? (unsigned)workers : conf.workers);
	supervise(&conf, listen_fd, workers > 0 ? (unsigned)workers :
	    conf.workers);
	if (listen_spec != NULL && strncmp(listen_spec, "unix:", 5) == 0)
		unlink(listen_spec + 5);
	log_info("stopped");
	conf_free(&conf);
	return 0;
}
