/*
 * formdrop-pop3d: the POP3 server of formdrop.  This file alone touches
 * argv, sockets, signals, privileges and processes: the parent binds the
 * ports, loads the users and the TLS key, drops privileges, and then only
 * accepts connections and counts them; each session runs in its own
 * child process (session.c), so a crash in one never affects another.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "bounds.h"
#include "conf.h"
#include "conn.h"
#include "diag.h"
#include "failures.h"
#include "log.h"
#include "session.h"
#include "tls.h"
#include "userdb.h"
#include "util.h"

#define LISTEN_BACKLOG		128

struct listener {
	int	fd;
	int	tls;
	char	spec[128];
};

struct child {
	pid_t	pid;
	char	addr[INET6_ADDRSTRLEN];
};

static volatile sig_atomic_t stopping, hangup;
static struct child *children;
static size_t nchildren, maxchildren;

static void
usage(void)
{
	fprintf(stderr, "usage: formdrop-pop3d [-f] [-c file] [--check]\n"
	    "       formdrop-pop3d --hash\n");
	exit(EX_USAGE);
}

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void
on_child(int sig)
{
	(void)sig;
}

static void
on_hangup(int sig)
{
	(void)sig;
	hangup = 1;
}

static int
open_listener(const char *spec, int tls, struct listener *l)
{
	struct addrinfo hints, *res;
	char host[128];
	const char *colon = strrchr(spec, ':');
	int one = 1, r;

	snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if ((r = getaddrinfo(host, colon + 1, &hints, &res)) != 0)
		fatalx_code(EX_CONFIG, "listen %s: %s", spec, gai_strerror(r));
	if ((l->fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC,
	    0)) == -1)
		fatal("socket");
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (res->ai_family == AF_INET6)
		setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(l->fd, res->ai_addr, res->ai_addrlen) == -1)
		fatal("bind %s", spec);
	if (listen(l->fd, LISTEN_BACKLOG) == -1)
		fatal("listen %s", spec);
	freeaddrinfo(res);
	l->tls = tls;
	snprintf(l->spec, sizeof(l->spec), "%s", spec);
	return 0;
}

static int
is_loopback_spec(const char *spec)
{
	return strncmp(spec, "127.", 4) == 0 || strncmp(spec, "[::1]:", 6) == 0;
}

/*
 * The account sessions run as when started as root, or die: NULL when not
 * root.  --check asks too, so that it passes only what starts.
 */
static struct passwd *
service_user(const char *user)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return NULL;
	if (user == NULL)
		fatalx_code(EX_CONFIG, "started as root: set user = NAME in "
		    "[pop3] (the account sessions run as)");
	if ((pw = getpwnam(user)) == NULL)
		fatalx_code(EX_CONFIG, "no such user: %s", user);
	return pw;
}

/*
 * The certificate in use expires within TLS_WARN_DAYS: said at start and
 * --check, and, running, every CERT_CHECK_EVERY seconds and at SIGHUP: a
 * server that runs for months keeps the certificate it read at start,
 * whatever a renewal wrote to disk since.
 */
static void
warn_certificate(SSL_CTX *tls, const char *path, int running)
{
	int days;

	if (tls == NULL || (days = tls_days_left(tls)) >= TLS_WARN_DAYS)
		return;
	if (days < 0)
		log_warnx("the TLS certificate %s has expired: clients refuse "
		    "the connection; restart formdrop-pop3d with a renewed "
		    "one", path);
	else
		log_warnx("the TLS certificate %s expires in %d day(s)%s",
		    path, days, running ? "; restart formdrop-pop3d once it "
		    "is renewed" : "");
}

/* Become pw (not root) for good, as sessions run, or die. */
static void
become(const struct passwd *pw)
{
	if (setgroups(1, &pw->pw_gid) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		fatal("cannot become %s", pw->pw_name);
	if (setuid(0) != -1)
		fatalx("could regain root after dropping it");
}

/* Started as root (pw, the service user): become pw for good, or die. */
static void
drop_privileges(const struct passwd *pw)
{
	if (pw == NULL)
		return;
	if (pw->pw_uid == 0) {
		log_warnx("user = %s is root: sessions keep every privilege",
		    pw->pw_name);
		return;
	}
	become(pw);
}

/*
 * The files holding secrets must not be readable by every user, as
 * formdrop.fcgi's sign_key must not: whoever reads the TLS key can pose
 * as this server, and the users file's hashes can be guessed at offline.
 * Errors into d.
 */
static void
check_secret_modes(const struct conf *conf, struct diag *d)
{
	(void)diag_world_readable(d, conf->path, conf->pop3.line,
	    conf->pop3.key);
	(void)diag_world_readable(d, conf->path, conf->pop3.line,
	    conf->pop3.users);
}

/*
 * One problem of user u's Maildir: an error for --check (strict), a
 * warning at start, in the users file at u's line.
 */
static void __attribute__((format(printf, 5, 6)))
maildir_problem(struct diag *d, int strict, const char *file,
    const struct user *u, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (strict)
		diag_error(d, file, u->line, "user %s: %s", u->name, msg);
	else
		diag_warning(d, file, u->line, "user %s: %s", u->name, msg);
}

/*
 * 1 if path (of u's Maildir) is a folder; when rw, also one that we may
 * read and write.  Each problem goes to d.
 */
static int
is_folder(const struct user *u, const char *path, int rw, const char *as,
    int strict, const char *file, struct diag *d)
{
	struct stat st;

	if (stat(path, &st) == -1) {
		maildir_problem(d, strict, file, u, "Maildir %s: %s", path,
		    strerror(errno));
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		maildir_problem(d, strict, file, u, "Maildir %s is not a "
		    "folder", path);
		return 0;
	}
	if (rw && faccessat(AT_FDCWD, path, R_OK | W_OK | X_OK,
	    AT_EACCESS) == -1)
		maildir_problem(d, strict, file, u, "%s cannot read and write "
		    "%s: %s", as, path, strerror(errno));
	return 1;
}

/*
 * What a session needs of u's Maildir, checked with our credentials:
 * tmp/, new/ and cur/ are folders, and the Maildir (its lock file, its
 * .Archive), new/ and cur/ (the move to cur/, DELE) may be read and
 * written.  tmp/ is formdrop.fcgi's to write, so only its existence is
 * asked for.
 */
static void
check_maildir(const struct user *u, const char *as, int strict,
    const char *file, struct diag *d)
{
	static const struct { const char *name; int rw; } sub[] = {
		{ "tmp", 0 }, { "new", 1 }, { "cur", 1 },
	};
	char path[4096];
	size_t i;

	if (!is_folder(u, u->maildir, 1, as, strict, file, d))
		return;
	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		if (path_resolve(path, sizeof(path), u->maildir,
		    sub[i].name) == -1) {
			maildir_problem(d, strict, file, u, "Maildir path "
			    "too long");
			return;
		}
		(void)is_folder(u, path, sub[i].rw, as, strict, file, d);
	}
}

/*
 * Whether sessions can open every user's Maildir (a missing or
 * unwritable one gives its user [SYS/TEMP] at every login).  Root passes
 * every permission test, so a child becomes the sessions' user pw first,
 * exactly as they do (pw NULL: not root, we are that user), and prints
 * what it finds.  For --check (strict) each problem is an error, as in
 * formdrop.fcgi --check; at start a warning, and the server starts: the
 * other users' mail can still be served.  0, or -1 when there was a
 * problem.
 */
static int
check_maildirs(const struct userdb *users, const char *file,
    const struct passwd *pw, int strict)
{
	char as[64];
	struct diag d;
	size_t i;
	pid_t pid;
	int status;

	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid != 0) {
		if (waitpid(pid, &status, 0) == -1)
			fatal("waitpid");
		return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
	}
	if (pw != NULL && pw->pw_uid != 0)
		become(pw);
	if (pw == NULL)
		pw = getpwuid(geteuid());
	if (pw != NULL)
		snprintf(as, sizeof(as), "%s", pw->pw_name);
	else
		snprintf(as, sizeof(as), "uid %u", (unsigned)geteuid());
	diag_init(&d);
	for (i = 0; i < users->n; i++)
		check_maildir(&users->v[i], as, strict, file, &d);
	diag_print(&d, stderr);
	_exit(d.errors > 0 || d.warnings > 0);
}

/*
 * A session's exit status: its failed logins (0-63), the same plus
 * POP3_EXIT_LOGIN_TIMEOUT when login_timeout ended it, or a sysexits
 * code when it failed (not counted as logins).
 */
static void
session_ended(const char *addr, long pid, int code)
{
	int failed = code;

	if (code >= POP3_EXIT_LOGIN_TIMEOUT &&
	    code <= POP3_EXIT_LOGIN_TIMEOUT + POP3_EXIT_FAILURES_MAX) {
		failed = code - POP3_EXIT_LOGIN_TIMEOUT;
		log_info("client=%s closed: no login within login_timeout",
		    addr);
	} else if (code > POP3_EXIT_FAILURES_MAX) {
		log_warnx("session %ld for %s exited with %d", pid, addr,
		    code);
		return;
	}
	failures_add(addr, (unsigned)failed, time(NULL));
}

static void
reap_children(void)
{
	pid_t pid;
	int status;
	size_t i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < nchildren; i++)
			if (children[i].pid == pid)
				break;
		if (i == nchildren)
			continue;
		if (WIFEXITED(status))
			session_ended(children[i].addr, (long)pid,
			    WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			log_warnx("session %ld for %s killed by signal %d",
			    (long)pid, children[i].addr, WTERMSIG(status));
		children[i] = children[--nchildren];
	}
}

static size_t
count_from(const char *addr)
{
	size_t i, n = 0;

	for (i = 0; i < nchildren; i++)
		if (strcmp(children[i].addr, addr) == 0)
			n++;
	return n;
}

static void
peer_address(const struct sockaddr_storage *ss, char *out, size_t outsz)
{
	const void *a = ss->ss_family == AF_INET6 ?
	    (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr :
	    (const void *)&((const struct sockaddr_in *)ss)->sin_addr;

	if (inet_ntop(ss->ss_family, a, out, (socklen_t)outsz) == NULL)
		snprintf(out, outsz, "unknown");
}

static void __attribute__((noreturn))
session_child(int fd, const struct listener *l, const struct conf *conf,
    const struct userdb *users, SSL_CTX *tls, const char *addr,
    unsigned prior)
{
	struct pop3_params p;
	struct conn c;
	unsigned failed;

	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGHUP, SIG_IGN);	/* the server's to log; a session goes on */
	/*
	 * The TLS handshake and the login must be over within login_timeout
	 * (SIGALRM ends the session; a login cancels it): the idle timeout
	 * alone restarts with every byte, so one byte every few seconds
	 * would hold a connection slot for ever without a login.
	 */
	pop3_login_deadline(conf->pop3.login_timeout);
	conn_init(&c, fd);
	conn_set_timeout(&c, (int)conf->pop3.timeout);
	if (l->tls && conn_start_tls(&c, tls) == -1) {
		log_info("client=%s TLS handshake failed: %s", addr,
		    c.tls_error);
		conn_close(&c);
		_exit(0);
	}
	memset(&p, 0, sizeof(p));
	p.users = users;
	p.tls = l->tls ? NULL : tls;
	p.tls_active = l->tls;
	p.allow_plaintext = conf->pop3.allow_plaintext;
	p.client = addr;
	p.prior_failures = prior;
	p.max_failures = conf->pop3.max_login_failures;
	p.archive_days = conf->pop3.archive_days;
	failed = pop3_session_run(&c, &p);
	conn_close(&c);
	_exit(failed > POP3_EXIT_FAILURES_MAX ? POP3_EXIT_FAILURES_MAX :
	    (int)failed);
}

static void
accept_one(const struct listener *l, const struct conf *conf,
    const struct userdb *users, SSL_CTX *tls, struct listener *all,
    size_t nall)
{
	static const char busy[] = "-ERR [SYS/TEMP] Too many connections; "
	    "try again later\r\n";
	static const char refused[] = "-ERR [AUTH] Too many failed logins "
	    "from your address; try again later\r\n";
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char addr[INET6_ADDRSTRLEN];
	unsigned prior;
	size_t i;
	pid_t pid;
	int fd;

	if ((fd = accept4(l->fd, (struct sockaddr *)&ss, &sslen,
	    SOCK_CLOEXEC)) == -1)
		return;
	peer_address(&ss, addr, sizeof(addr));
	if (nchildren >= conf->pop3.max_connections ||
	    count_from(addr) >= conf->pop3.max_per_client) {
		log_info("client=%s refused: connection limit (%zu open)",
		    addr, nchildren);
		if (!l->tls && write(fd, busy, sizeof(busy) - 1) < 0)
			log_debug("client=%s gone before the refusal", addr);
		close(fd);
		return;
	}
	prior = failures_recent(addr, time(NULL));
	/*
	 * Guessing passwords: after max_login_failures the address
	 * is refused until they age out.  Other addresses are not affected.
	 */
	if (prior >= conf->pop3.max_login_failures) {
		log_info("client=%s refused: %u failed logins in the last %d "
		    "minutes", addr, prior, POP3_FAIL_MEMORY / 60);
		if (!l->tls && write(fd, refused, sizeof(refused) - 1) < 0)
			log_debug("client=%s gone before the refusal", addr);
		close(fd);
		return;
	}
	log_info("client=%s connect on %s", addr, l->spec);
	if ((pid = fork()) == -1) {
		log_warn("fork");
		close(fd);
		return;
	}
	if (pid == 0) {
		for (i = 0; i < nall; i++)
			close(all[i].fd);
		session_child(fd, l, conf, users, tls, addr, prior);
	}
	close(fd);
	children[nchildren].pid = pid;
	snprintf(children[nchildren].addr, sizeof(children[0].addr), "%s",
	    addr);
	nchildren++;
}

static int
read_password(char *out, size_t outsz)
{
	struct termios old, quiet;
	int tty = isatty(STDIN_FILENO);

	if (tty) {
		fprintf(stderr, "Password: ");
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	if (fgets(out, (int)outsz, stdin) == NULL)
		out[0] = '\0';
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	out[strcspn(out, "\r\n")] = '\0';
	return out[0] == '\0' ? -1 : 0;
}

static int
hash_tool(void)
{
	char pw[256], again[256], hash[256];

	if (read_password(pw, sizeof(pw)) == -1)
		fatalx_code(EX_USAGE, "empty password");
	if (isatty(STDIN_FILENO)) {
		fprintf(stderr, "Again: ");
		if (read_password(again, sizeof(again)) == -1 ||
		    strcmp(pw, again) != 0)
			fatalx_code(EX_USAGE, "the passwords differ");
		explicit_bzero(again, sizeof(again));
	}
	if (userdb_hash(pw, hash, sizeof(hash)) == -1)
		fatalx("libcrypt cannot make a yescrypt hash");
	explicit_bzero(pw, sizeof(pw));
	printf("%s\n", hash);
	return 0;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'C' },
		{ "hash", no_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct listener listeners[2 * POP3_LISTEN_MAX];
	struct pollfd pfd[2 * POP3_LISTEN_MAX];
	const char *conf_path = NULL;
	int ch, check = 0, foreground = 0;
	size_t i, n = 0;
	struct sigaction sa;
	struct userdb users;
	struct conf conf;
	struct diag diag;
	struct passwd *pw;
	SSL_CTX *tls = NULL;
	time_t next_cert_check;
	char err[512];

	while ((ch = getopt_long(argc, argv, "c:fh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 'C':
			check = 1;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'H':
			log_init("formdrop-pop3d", 1);
			return hash_tool();
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	conf_path = conf_choose_path(conf_path);
	log_init("formdrop-pop3d", foreground || check);

	diag_init(&diag);
	if (conf_load(conf_path, CONF_POP3D, &conf, &diag) == -1) {
		diag_print(&diag, stderr);
		exit(EX_CONFIG);
	}
	check_secret_modes(&conf, &diag);
	if (userdb_load(conf.pop3.users, &users, &diag) == -1 ||
	    diag.errors > 0) {
		diag_print(&diag, stderr);
		exit(EX_CONFIG);
	}
	diag_print(&diag, stderr);
	diag_free(&diag);
	if (conf.pop3.certificate != NULL &&
	    (tls = tls_server_ctx(conf.pop3.certificate, conf.pop3.key, err,
	    sizeof(err))) == NULL)
		fatalx_code(EX_CONFIG, "%s", err);
	warn_certificate(tls, conf.pop3.certificate, 0);
	pw = service_user(conf.pop3.run_as);
	if (check) {
		if (check_maildirs(&users, conf.pop3.users, pw, 1) == -1)
			exit(EX_CONFIG);
		printf("%s: OK, %zu POP3 user(s)\n", conf_path, users.n);
		userdb_free(&users);
		SSL_CTX_free(tls);
		conf_free(&conf);
		return 0;
	}
	(void)check_maildirs(&users, conf.pop3.users, pw, 0);
	for (i = 0; i < conf.pop3.nlisten; i++)
		open_listener(conf.pop3.listen[i], 0, &listeners[n++]);
	for (i = 0; i < conf.pop3.nlisten_tls; i++)
		open_listener(conf.pop3.listen_tls[i], 1, &listeners[n++]);
	if (conf.pop3.allow_plaintext) {
		for (i = 0; i < n; i++)
			if (!is_loopback_spec(listeners[i].spec))
				fatalx_code(EX_CONFIG, "allow_plaintext is "
				    "for loopback tests only, and %s is not "
				    "loopback", listeners[i].spec);
		log_warnx("allow_plaintext = yes: passwords may cross "
		    "loopback in the clear; never use this in production");
	}
	drop_privileges(pw);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("PR_SET_NO_NEW_PRIVS");

	maxchildren = conf.pop3.max_connections;
	children = xcalloc(maxchildren + 1, sizeof(*children));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_child;
	sigaction(SIGCHLD, &sa, NULL);
	/* Not a reload: the users file and the TLS key were read as root
	 * and cannot be read again.  Only a restart re-reads them. */
	sa.sa_handler = on_hangup;
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < n; i++) {
		pfd[i].fd = listeners[i].fd;
		pfd[i].events = POLLIN;
		log_info("listening on %s (%s)", listeners[i].spec,
		    listeners[i].tls ? "implicit TLS" : "STLS");
	}
	next_cert_check = time(NULL) + CERT_CHECK_EVERY;
	while (!stopping) {
		if (hangup) {
			hangup = 0;
			log_warnx("SIGHUP ignored: restart formdrop-pop3d to "
			    "read its configuration and users file again");
			warn_certificate(tls, conf.pop3.certificate, 1);
		}
		if (time(NULL) >= next_cert_check) {
			warn_certificate(tls, conf.pop3.certificate, 1);
			next_cert_check = time(NULL) + CERT_CHECK_EVERY;
		}
		reap_children();
		if (poll(pfd, n, 1000) <= 0)
			continue;
		for (i = 0; i < n; i++)
			if (pfd[i].revents & POLLIN)
				accept_one(&listeners[i], &conf, &users, tls,
				    listeners, n);
	}
	for (i = 0; i < nchildren; i++)
		kill(children[i].pid, SIGTERM);
	log_info("stopped");
	free(children);
	userdb_free(&users);
	SSL_CTX_free(tls);
	conf_free(&conf);
	return 0;
}
