/*
 * The POP3 protocol engine of a formdrop-pop3d session process.  Every
 * reply is one of the fixed strings below or a number; nothing a client
 * sends is echoed back, and passwords are wiped after use.
 */
#include <ctype.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "bounds.h"
#include "log.h"
#include "maildrop.h"
#include "session.h"
#include "util.h"

#define AUTH_LINE_MAX	1024	/* an AUTH PLAIN response line */
#define PASS_MAX	256

enum state { ST_AUTH, ST_TRANSACTION, ST_UPDATE, ST_DONE };

struct session {
	struct conn			*c;
	const struct pop3_params	*p;
	enum state			 state;
	int				 tls;
	char				 user[USER_NAME_MAX + 1];
	int				 have_user;
	unsigned			 failures;
	struct maildrop			 md;
	size_t				 retrieved, deleted;
};

static int
reply(struct session *s, const char *line)
{
	return conn_printf(s->c, "%s\r\n", line);
}

static int
may_login(struct session *s)
{
	return s->tls || s->p->allow_plaintext;
}

int
sasl_plain_decode(const char *b64, char *user, size_t usersz, char *pass,
    size_t passsz)
{
	unsigned char raw[AUTH_LINE_MAX];
	size_t len = strlen(b64), i, pad = 0, rawlen;
	const char *authz, *authc, *pw, *end;
	int n;

	if (len == 0 || len % 4 != 0 || len / 4 * 3 > sizeof(raw))
		return -1;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)b64[i]) && b64[i] != '+' &&
		    b64[i] != '/' && !(b64[i] == '=' && i >= len - 2))
			return -1;
	if (b64[len - 1] == '=')
		pad++;
	if (b64[len - 2] == '=')
		pad++;
	if (pad == 1 && b64[len - 2] == '=')
		return -1;
	if ((n = EVP_DecodeBlock(raw, (const unsigned char *)b64,
	    (int)len)) < 0)
		return -1;
	rawlen = (size_t)n - pad;
	end = (const char *)raw + rawlen;
	authz = (const char *)raw;
	if ((authc = memchr(authz, '\0', rawlen)) == NULL)
		goto fail;
	authc++;
	if ((pw = memchr(authc, '\0', (size_t)(end - authc))) == NULL)
		goto fail;
	pw++;
	if (memchr(pw, '\0', (size_t)(end - pw)) != NULL ||
	    (size_t)(pw - authc - 1) >= usersz ||
	    (size_t)(end - pw) >= passsz || pw - authc - 1 == 0)
		goto fail;
	/* We act only as the user who logs in. */
	if (authc - authz - 1 != 0 && (authc - authz != pw - authc ||
	    memcmp(authz, authc, (size_t)(pw - authc - 1)) != 0))
		goto fail;
	memcpy(user, authc, (size_t)(pw - authc - 1));
	user[pw - authc - 1] = '\0';
	memcpy(pass, pw, (size_t)(end - pw));
	pass[end - pw] = '\0';
	explicit_bzero(raw, sizeof(raw));
	return 0;
fail:
	explicit_bzero(raw, sizeof(raw));
	return -1;
}

/* This session's failed logins, for the end at login_timeout. */
static volatile sig_atomic_t failures_so_far;

/* login_timeout: end, and tell the parent the failures all the same. */
static void
on_login_timeout(int sig)
{
	(void)sig;
	_exit(POP3_EXIT_LOGIN_TIMEOUT + (failures_so_far >
	    POP3_EXIT_FAILURES_MAX ? POP3_EXIT_FAILURES_MAX : failures_so_far));
}

void
pop3_login_deadline(unsigned seconds)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_login_timeout;
	sigaction(SIGALRM, &sa, NULL);
	alarm(seconds);
}

/*
 * A failed login: a growing delay (counted across the address), then
 * the answer; at max_failures the session ends, as a new connection
 * from the address would be refused.
 */
static void
login_failed(struct session *s, const char *answer)
{
	unsigned n, d = 1;

	n = s->p->prior_failures + ++s->failures;
	failures_so_far = (sig_atomic_t)s->failures;
	while (n-- > 1 && d < POP3_FAIL_DELAY_MAX)
		d *= 2;
	if (d > POP3_FAIL_DELAY_MAX)
		d = POP3_FAIL_DELAY_MAX;
	conn_flush(s->c);
	sleep(d);
	if (s->p->prior_failures + s->failures >= s->p->max_failures) {
		log_info("client=%s closed: %u failed logins", s->p->client,
		    s->p->prior_failures + s->failures);
		reply(s, "-ERR [AUTH] Too many failed logins from your "
		    "address; try again later");
		s->state = ST_DONE;
		return;
	}
	reply(s, answer);
}

static void
login(struct session *s, const char *user, const char *pass)
{
	const struct user *u;

	if ((u = userdb_check(s->p->users, user, pass)) == NULL) {
		log_info("client=%s user=%s login failed: bad user name or "
		    "password", s->p->client, user);
		login_failed(s, "-ERR [AUTH] Invalid user name or password");
		return;
	}
	switch (maildrop_open(&s->md, u->maildir, s->p->archive_days)) {
	case MAILDROP_OK:
		break;
	case MAILDROP_IN_USE:
		log_info("client=%s user=%s login refused: maildrop in use",
		    s->p->client, user);
		reply(s, "-ERR [IN-USE] The maildrop is in use by another "
		    "session");
		return;
	default:
		log_warn("client=%s user=%s cannot open maildrop %s",
		    s->p->client, user, u->maildir);
		reply(s, "-ERR [SYS/TEMP] The maildrop cannot be opened now; "
		    "try again later");
		return;
	}
	snprintf(s->user, sizeof(s->user), "%s", u->name);
	s->state = ST_TRANSACTION;
	alarm(0);		/* logged in within the deadline */
	log_info("client=%s user=%s login ok, %zu message(s)", s->p->client,
	    s->user, s->md.n);
	if (s->md.truncated)
		log_warnx("client=%s user=%s the maildrop holds more than %d "
		    "messages: this session lists %zu of them", s->p->client,
		    s->user, POP3_MESSAGES_MAX, s->md.n);
	conn_printf(s->c, "+OK %s has %zu message(s)\r\n", s->user, s->md.n);
}

static void
cmd_capa(struct session *s)
{
	reply(s, "+OK Capability list follows");
	reply(s, "TOP");
	reply(s, "UIDL");
	reply(s, "RESP-CODES");
	reply(s, "AUTH-RESP-CODE");
	reply(s, "PIPELINING");
	if (s->state == ST_AUTH && may_login(s)) {
		reply(s, "USER");
		reply(s, "SASL PLAIN");
	}
	if (s->state == ST_AUTH && !s->tls && s->p->tls != NULL)
		reply(s, "STLS");
	reply(s, "IMPLEMENTATION formdrop");
	reply(s, ".");
}

static void
cmd_auth(struct session *s, const char *arg)
{
	char mech[32], resp[AUTH_LINE_MAX], user[USER_NAME_MAX + 1];
	char pass[PASS_MAX + 1];
	const char *initial;
	size_t len;

	if (arg == NULL) {
		reply(s, "+OK SASL mechanisms follow");
		if (may_login(s))
			reply(s, "PLAIN");
		reply(s, ".");
		return;
	}
	len = strcspn(arg, " ");
	if (len >= sizeof(mech)) {
		reply(s, "-ERR Unsupported mechanism");
		return;
	}
	memcpy(mech, arg, len);
	mech[len] = '\0';
	if (strcasecmp(mech, "PLAIN") != 0) {
		reply(s, "-ERR Unsupported mechanism");
		return;
	}
	if (!may_login(s)) {
		reply(s, "-ERR [AUTH] Use STLS first: no passwords in the "
		    "clear");
		return;
	}
	/* RFC 5034 4: "=" is an empty initial response (malformed for
	 * PLAIN), not a missing one. */
	initial = arg[len] == ' ' ? arg + len + 1 : NULL;
	if (initial != NULL && strcmp(initial, "=") == 0) {
		login_failed(s, "-ERR [AUTH] Malformed AUTH PLAIN response");
		return;
	}
	if (initial == NULL) {
		/* No initial response (Thunderbird): ask for it. */
		reply(s, "+ ");
		if (conn_read_line(s->c, resp, sizeof(resp), &len) !=
		    CONN_LINE_OK) {
			if (!s->c->eof) {
				reply(s, "-ERR Line too long");
				return;
			}
			s->state = ST_DONE;
			return;
		}
		initial = resp;
	}
	if (strcmp(initial, "*") == 0) {
		reply(s, "-ERR Authentication cancelled");
		return;
	}
	if (sasl_plain_decode(initial, user, sizeof(user), pass,
	    sizeof(pass)) == -1)
		login_failed(s, "-ERR [AUTH] Malformed AUTH PLAIN response");
	else
		login(s, user, pass);
	explicit_bzero(resp, sizeof(resp));
	explicit_bzero(pass, sizeof(pass));
}

/* Parse a message number argument; the message index or -1. */
static long
msg_arg(struct session *s, const char *arg, int allow_deleted)
{
	unsigned long long n;

	if (arg == NULL || parse_uint(arg, 1, s->md.n, &n) == -1) {
		reply(s, "-ERR No such message");
		return -1;
	}
	if (!allow_deleted && s->md.v[n - 1].deleted) {
		reply(s, "-ERR Message is deleted");
		return -1;
	}
	return (long)n - 1;
}

static void
cmd_stat(struct session *s)
{
	size_t i, count = 0, octets = 0;

	for (i = 0; i < s->md.n; i++)
		if (!s->md.v[i].deleted) {
			count++;
			octets += s->md.v[i].size;
		}
	conn_printf(s->c, "+OK %zu %zu\r\n", count, octets);
}

static void
cmd_list(struct session *s, const char *arg, int uidl)
{
	char id[UIDL_MAX + 1];
	size_t i;
	long m;

	if (arg != NULL) {
		if ((m = msg_arg(s, arg, 0)) < 0)
			return;
		if (uidl) {
			maildrop_uidl(maildrop_msg_name(&s->md, (size_t)m), id);
			conn_printf(s->c, "+OK %ld %s\r\n", m + 1, id);
		} else
			conn_printf(s->c, "+OK %ld %zu\r\n", m + 1,
			    s->md.v[m].size);
		return;
	}
	reply(s, uidl ? "+OK Unique ids follow" : "+OK Scan listing follows");
	for (i = 0; i < s->md.n; i++) {
		if (s->md.v[i].deleted)
			continue;
		if (uidl) {
			maildrop_uidl(maildrop_msg_name(&s->md, i), id);
			conn_printf(s->c, "%zu %s\r\n", i + 1, id);
		} else
			conn_printf(s->c, "%zu %zu\r\n", i + 1, s->md.v[i].size);
	}
	reply(s, ".");
}

static void
cmd_retr(struct session *s, const char *arg, int top)
{
	unsigned long long lines = 0;
	char num[24];
	const char *sp;
	long m;
	int fd;

	if (top) {
		if (arg == NULL || (sp = strchr(arg, ' ')) == NULL ||
		    (size_t)(sp - arg) >= sizeof(num) ||
		    parse_uint(sp + 1, 0, (unsigned long long)1 << 62,
		    &lines) == -1) {
			reply(s, "-ERR Usage: TOP msg lines");
			return;
		}
		snprintf(num, sizeof(num), "%.*s", (int)(sp - arg), arg);
		arg = num;
	}
	if ((m = msg_arg(s, arg, 0)) < 0)
		return;
	/* Open before answering: a message someone else removed from the
	 * Maildir gets -ERR, and the session goes on. */
	if ((fd = maildrop_open_msg(&s->md, (size_t)m)) == -1) {
		log_warn("client=%s user=%s message %ld cannot be opened",
		    s->p->client, s->user, m + 1);
		reply(s, "-ERR [SYS/TEMP] That message cannot be read now");
		return;
	}
	if (top)
		reply(s, "+OK Top of message follows");
	else
		conn_printf(s->c, "+OK %zu octets\r\n", s->md.v[m].size);
	if (maildrop_send(&s->md, fd, top ? (long)lines : -1, s->c) == -1) {
		/* Mid-answer: the only safe way out is to hang up. */
		log_warn("client=%s user=%s message %ld cannot be read",
		    s->p->client, s->user, m + 1);
		s->state = ST_DONE;
		return;
	}
	reply(s, ".");
	if (!top)
		s->retrieved++;
}

static void
cmd_dele(struct session *s, const char *arg)
{
	long m;

	if ((m = msg_arg(s, arg, 0)) < 0)
		return;
	s->md.v[m].deleted = 1;
	conn_printf(s->c, "+OK Message %ld deleted\r\n", m + 1);
}

static void
cmd_rset(struct session *s)
{
	size_t i;

	for (i = 0; i < s->md.n; i++)
		s->md.v[i].deleted = 0;
	conn_printf(s->c, "+OK %zu message(s)\r\n", s->md.n);
}

static void
cmd_quit(struct session *s)
{
	sigset_t term, old;
	size_t i;

	if (s->state != ST_TRANSACTION) {
		reply(s, "+OK Bye");
		s->state = ST_DONE;
		return;
	}
	s->state = ST_UPDATE;
	for (i = 0; i < s->md.n; i++)
		if (s->md.v[i].deleted)
			s->deleted++;
	/* A server stopping meanwhile lets the deletions, their log line
	 * and the answer finish: half an UPDATE, unlogged, or an UPDATE
	 * whose client never heard of it, would leave everyone guessing. */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGINT);
	sigprocmask(SIG_BLOCK, &term, &old);
	if (maildrop_update(&s->md) == -1) {
		log_warn("client=%s user=%s some deletions failed",
		    s->p->client, s->user);
		reply(s, "-ERR [SYS/TEMP] Some messages were not deleted");
	} else
		reply(s, "+OK Bye");
	log_info("client=%s user=%s logout: %zu retrieved, %zu deleted",
	    s->p->client, s->user, s->retrieved, s->deleted);
	/* A client that does not read holds a stopping server only this
	 * long. */
	conn_set_timeout(s->c, POP3_QUIT_ANSWER_TIMEOUT);
	conn_flush(s->c);
	sigprocmask(SIG_SETMASK, &old, NULL);
	s->state = ST_DONE;
}

static void
auth_command(struct session *s, const char *cmd, const char *arg)
{
	char pass[PASS_MAX + 1];

	if (strcasecmp(cmd, "USER") == 0) {
		if (!may_login(s))
			reply(s, "-ERR [AUTH] Use STLS first: no passwords "
			    "in the clear");
		else if (arg == NULL || strlen(arg) > USER_NAME_MAX)
			reply(s, "-ERR Usage: USER name");
		else {
			snprintf(s->user, sizeof(s->user), "%s", arg);
			s->have_user = 1;
			reply(s, "+OK Send PASS");
		}
		return;
	}
	if (strcasecmp(cmd, "PASS") == 0) {
		if (!may_login(s))
			reply(s, "-ERR [AUTH] Use STLS first: no passwords "
			    "in the clear");
		else if (!s->have_user)
			reply(s, "-ERR Send USER first");
		else {
			snprintf(pass, sizeof(pass), "%s", arg != NULL ?
			    arg : "");
			s->have_user = 0;
			login(s, s->user, pass);
			explicit_bzero(pass, sizeof(pass));
		}
		return;
	}
	if (strcasecmp(cmd, "AUTH") == 0) {
		cmd_auth(s, arg);
		return;
	}
	if (strcasecmp(cmd, "STLS") == 0) {
		if (s->tls || s->p->tls == NULL) {
			reply(s, "-ERR TLS is already active or not offered");
			return;
		}
		reply(s, "+OK Begin TLS negotiation");
		if (conn_start_tls(s->c, s->p->tls) == -1) {
			log_info("client=%s TLS handshake failed: %s",
			    s->p->client, s->c->tls_error);
			s->state = ST_DONE;
			return;
		}
		s->tls = 1;
		s->have_user = 0;
		return;
	}
	reply(s, "-ERR Command not valid before login");
}

static void
transaction_command(struct session *s, const char *cmd, const char *arg)
{
	if (strcasecmp(cmd, "STAT") == 0)
		cmd_stat(s);
	else if (strcasecmp(cmd, "LIST") == 0)
		cmd_list(s, arg, 0);
	else if (strcasecmp(cmd, "UIDL") == 0)
		cmd_list(s, arg, 1);
	else if (strcasecmp(cmd, "RETR") == 0)
		cmd_retr(s, arg, 0);
	else if (strcasecmp(cmd, "TOP") == 0)
		cmd_retr(s, arg, 1);
	else if (strcasecmp(cmd, "DELE") == 0)
		cmd_dele(s, arg);
	else if (strcasecmp(cmd, "RSET") == 0)
		cmd_rset(s);
	else if (strcasecmp(cmd, "NOOP") == 0)
		reply(s, "+OK");
	else
		reply(s, "-ERR Unknown command or not valid now");
}

unsigned
pop3_session_run(struct conn *c, const struct pop3_params *p)
{
	struct session s;
	char line[POP3_LINE_MAX + 1], *arg, *cmd;
	size_t len;
	enum conn_line r;

	memset(&s, 0, sizeof(s));
	s.c = c;
	s.p = p;
	s.tls = p->tls_active;
	s.state = ST_AUTH;
	s.md.dirfd = s.md.curfd = s.md.lockfd = -1;
	reply(&s, "+OK formdrop POP3 server ready");
	while (s.state != ST_DONE) {
		/* POP3_LINE_MAX counts the CRLF; the buffer takes one more. */
		r = conn_read_line(c, line, sizeof(line) - 1, &len);
		if (r == CONN_LINE_CLOSED)
			break;
		if (r == CONN_LINE_TOO_LONG) {
			reply(&s, "-ERR Line too long");
			continue;
		}
		if (memchr(line, '\0', len) != NULL) {
			reply(&s, "-ERR NUL byte in command");
			continue;
		}
		cmd = line;
		arg = strchr(line, ' ');
		if (arg != NULL)
			*arg++ = '\0';
		if (strcasecmp(cmd, "CAPA") == 0)
			cmd_capa(&s);
		else if (strcasecmp(cmd, "QUIT") == 0)
			cmd_quit(&s);
		else if (s.state == ST_AUTH)
			auth_command(&s, cmd, arg);
		else
			transaction_command(&s, cmd, arg);
		explicit_bzero(line, sizeof(line));
	}
	if (s.state == ST_TRANSACTION)
		log_info("client=%s user=%s connection lost: nothing deleted",
		    p->client, s.user);
	conn_flush(c);
	maildrop_close(&s.md);
	return s.failures;
}
