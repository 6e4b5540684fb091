/*
 * Configuration loading, run at start-up and by --check.  Every problem
 * is reported with file, line and reason, and a configuration with any
 * error is refused as a whole: formdrop never guesses.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include "conf.h"
#include "inifile.h"
#include "maildir.h"
#include "template.h"
#include "util.h"

struct conf_loader {
	struct conf	*conf;
	struct diag	*diag;
	int		 forms_line;
	int		 skip;		/* keys of a refused section */
};

/* RFC 5322 atext, and the dots of a dot-atom or an obsolete phrase. */
static int
is_atext(int c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~.",
	    c) != NULL);
}

/* 1 if s[0..len) is local@domain, both parts atext and dots. */
static int
is_addr_spec(const char *s, size_t len)
{
	const char *at = memchr(s, '@', len);
	size_t i;

	if (at == NULL || at == s || at == s + len - 1)
		return 0;
	for (i = 0; i < len; i++)
		if (s + i != at && !is_atext((unsigned char)s[i]))
			return 0;
	return 1;
}

/* s[0..*len) without the spaces around it. */
static const char *
trim_span(const char *s, size_t *len)
{
	while (*len > 0 && *s == ' ')
		s++, (*len)--;
	while (*len > 0 && s[*len - 1] == ' ')
		(*len)--;
	return s;
}

/*
 * Where the address of mailbox s[0..len) lies: after its last '<' (a
 * quoted name may hold one, an address cannot), else the whole of it.
 * *lt: that '<', or NULL.
 */
static const char *
mailbox_addr(const char *s, size_t len, size_t *addrlen, const char **lt)
{
	const char *gt;

	s = trim_span(s, &len);
	if ((*lt = memrchr(s, '<', len)) == NULL) {
		*addrlen = len;
		return s;
	}
	gt = memchr(*lt, '>', len - (size_t)(*lt - s));
	*addrlen = gt != NULL ? (size_t)(gt - *lt - 1) : 0;
	return *lt + 1;
}

/*
 * 1 if s[0..len) is one mailbox: "local@domain", or a display name and
 * "<local@domain>".  The name is words of atext (spaces and dots
 * allowed) or one quoted string: a comma, colon or other special left
 * unquoted would make the header list other addresses than were meant
 * ("ACME, Inc. <o@acme.example>" reads as two).
 */
static int
is_mailbox(const char *s, size_t len)
{
	const char *lt, *addr;
	size_t i, n, alen;

	addr = mailbox_addr(s, len, &alen, &lt);
	s = trim_span(s, &len);
	if (!is_addr_spec(addr, alen))
		return 0;
	if (lt == NULL)
		return 1;
	if (addr + alen + 1 != s + len)	/* the '>' ends it */
		return 0;
	for (n = (size_t)(lt - s); n > 0 && s[n - 1] == ' '; n--)
		;
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		for (i = 1; i < n - 1; i++)
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				return 0;
		return i == n - 1;
	}
	for (i = 0; i < n; i++)
		if (s[i] != ' ' && !is_atext((unsigned char)s[i]))
			return 0;
	return 1;
}

/* 1 if s is printable ASCII and mailboxes separated by commas (one only
 * when single), a comma inside a quoted name not separating. */
static int
is_address(const char *s, int single)
{
	const char *start = s, *p;
	int quoted = 0, count = 0;

	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return 0;
	for (p = s;; p++) {
		if (*p == '\\' && quoted && p[1] != '\0')
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if ((*p == ',' && !quoted) || *p == '\0') {
			if (!is_mailbox(start, (size_t)(p - start)) ||
			    (single && ++count > 1))
				return 0;
			if (*p == '\0')
				return !quoted;
			start = p + 1;
		}
	}
}

static int
set_path(struct conf_loader *l, int line, char **dst, const char *value)
{
	char path[4096];

	if (*dst != NULL) {
		diag_error(l->diag, l->conf->path, line, "set twice");
		return -1;
	}
	if (value[0] == '\0' ||
	    path_resolve(path, sizeof(path), l->conf->dir, value) == -1) {
		diag_error(l->diag, l->conf->path, line, "bad path");
		return -1;
	}
	*dst = xstrdup(path);
	return 0;
}

static int
limit_key(struct conf_loader *l, const char *name, const char *value,
    int line)
{
	struct form_limits *lim = &l->conf->limits;
	unsigned long long v, max = CONF_BODY_MAX;
	size_t *dst;

	if (strcmp(name, "body_max") == 0)
		dst = &lim->body_max;
	else if (strcmp(name, "field_max") == 0)
		dst = &lim->field_max;
	else if (strcmp(name, "file_max") == 0)
		dst = &lim->file_max;
	else if (strcmp(name, "fields_max") == 0) {
		dst = &lim->fields_max;
		max = CONF_FIELDS_MAX;
	} else if (strcmp(name, "files_max") == 0) {
		dst = &lim->files_max;
		max = CONF_FIELDS_MAX;
	} else {
		diag_error(l->diag, l->conf->path, line, "unknown key \"%s\" "
		    "in [limits] (body_max, fields_max, field_max, files_max, "
		    "file_max)", name);
		return -1;
	}
	if (parse_size(value, strcmp(name, "files_max") == 0 ? 0 : 1, max,
	    &v) == -1) {
		diag_error(l->diag, l->conf->path, line, "%s: \"%s\" is not a "
		    "number from 1 to %llu (K and M suffixes allowed)", name,
		    value, max);
		return -1;
	}
	*dst = (size_t)v;
	return 0;
}

/* The S/MIME keys of a [mailbox]; see formdrop.conf(5). */
static int
smime_key(struct conf_loader *l, struct mailbox *mb, const char *name,
    const char *value, int line)
{
	struct smime_paths *p = &mb->smime_paths;
	const char *path = l->conf->path;
	unsigned long long v;
	char *list, *tok, *save;

	mb->smime_configured = 1;
	if (strcmp(name, "recipients") == 0) {
		if (p->nrecipients > 0) {
			diag_error(l->diag, path, line, "recipients set twice");
			return -1;
		}
		list = xstrdup(value);
		for (tok = strtok_r(list, " \t", &save); tok != NULL;
		    tok = strtok_r(NULL, " \t", &save)) {
			if (p->nrecipients == sizeof(p->recipients) /
			    sizeof(p->recipients[0])) {
				diag_error(l->diag, path, line, "at most %zu "
				    "recipients", p->nrecipients);
				free(list);
				return -1;
			}
			if (set_path(l, line, &p->recipients[p->nrecipients],
			    tok) == -1) {
				free(list);
				return -1;
			}
			p->nrecipients++;
		}
		free(list);
		return 0;
	}
	if (strcmp(name, "escrow") == 0)
		return set_path(l, line, &p->escrow, value);
	if (strcmp(name, "sign_cert") == 0)
		return set_path(l, line, &p->sign_cert, value);
	if (strcmp(name, "sign_key") == 0)
		return set_path(l, line, &p->sign_key, value);
	if (strcmp(name, "cipher") == 0) {
		if (strcmp(value, "aes-256-cbc") == 0)
			p->cipher = SMIME_AES256_CBC;
		else if (strcmp(value, "aes-256-gcm") == 0)
			p->cipher = SMIME_AES256_GCM;
		else {
			diag_error(l->diag, path, line, "cipher must be "
			    "aes-256-cbc or aes-256-gcm");
			return -1;
		}
		return 0;
	}
	if (strcmp(name, "key_transport") == 0) {
		if (strcmp(value, "rsa-pkcs1") == 0)
			p->oaep = 0;
		else if (strcmp(value, "rsa-oaep") == 0)
			p->oaep = 1;
		else {
			diag_error(l->diag, path, line, "key_transport must be "
			    "rsa-pkcs1 or rsa-oaep");
			return -1;
		}
		return 0;
	}
	if (strcmp(name, "cert_warn_days") == 0) {
		if (parse_uint(value, 0, 3650, &v) == -1) {
			diag_error(l->diag, path, line, "cert_warn_days must be "
			    "from 0 to 3650");
			return -1;
		}
		p->warn_days = (unsigned)v;
		return 0;
	}
	/* encrypted_subject: only built-ins, so it can reveal nothing. */
	if (mb->encrypted_subject != NULL) {
		diag_error(l->diag, path, line, "encrypted_subject set twice");
		return -1;
	}
	mb->encrypted_subject = xstrdup(value);
	return 0;
}

/* A "[mailbox NAME]" line. */
static int
mailbox_section(struct conf_loader *l, const char *box, int line)
{
	struct conf *c = l->conf;
	struct mailbox *mb;

	if (conf_mailbox(c, box) != NULL) {
		diag_error(l->diag, c->path, line, "[mailbox %s] defined twice",
		    box);
		return -1;
	}
	if (box[0] == '\0' || strlen(box) > FORM_NAME_MAX) {
		diag_error(l->diag, c->path, line, "bad mailbox name");
		return -1;
	}
	c->boxes = xreallocarray(c->boxes, c->nboxes + 1, sizeof(*c->boxes));
	mb = &c->boxes[c->nboxes++];
	memset(mb, 0, sizeof(*mb));
	snprintf(mb->name, sizeof(mb->name), "%s", box);
	mb->line = line;
	mb->smime_paths.warn_days = 30;
	return 0;
}

static int
mailbox_key(struct conf_loader *l, const char *box, const char *name,
    const char *value, int line)
{
	struct conf *c = l->conf;
	struct mailbox *mb = &c->boxes[c->nboxes - 1];
	if (strcmp(name, "maildir") == 0)
		return set_path(l, line, &mb->maildir, value);
	if (strcmp(name, "from") == 0 || strcmp(name, "to") == 0) {
		char **dst = name[0] == 'f' ? &mb->from : &mb->to;

		if (!is_address(value, name[0] == 'f')) {
			diag_error(l->diag, c->path, line, "%s must be %s "
			    "ASCII address%s such as Shop <orders@example.com> "
			    "(a name with a comma or other special in double "
			    "quotes: \"ACME, Inc.\" <orders@example.com>)", name,
			    name[0] == 'f' ? "one" : "an",
			    name[0] == 'f' ? "" : " or a list");
			return -1;
		}
		if (*dst != NULL) {
			diag_error(l->diag, c->path, line, "%s set twice",
			    name);
			return -1;
		}
		*dst = xstrdup(value);
		return 0;
	}
	if (strcmp(name, "recipients") == 0 || strcmp(name, "escrow") == 0 ||
	    strcmp(name, "sign_cert") == 0 || strcmp(name, "sign_key") == 0 ||
	    strcmp(name, "cipher") == 0 || strcmp(name, "key_transport") == 0 ||
	    strcmp(name, "encrypted_subject") == 0 ||
	    strcmp(name, "cert_warn_days") == 0)
		return smime_key(l, mb, name, value, line);
	diag_error(l->diag, c->path, line, "unknown key \"%s\" in [mailbox %s] "
	    "(maildir, from, to, recipients, escrow, sign_cert, sign_key, "
	    "cipher, key_transport, encrypted_subject, cert_warn_days)", name,
	    box);
	return -1;
}

static int
pop3_number(struct conf_loader *l, int line, const char *name,
    const char *value, unsigned long long min, unsigned long long max,
    unsigned *out)
{
	unsigned long long v;

	if (*out != 0) {
		diag_error(l->diag, l->conf->path, line, "%s set twice", name);
		return -1;
	}
	if (parse_uint(value, min, max, &v) == -1) {
		diag_error(l->diag, l->conf->path, line, "%s must be a number "
		    "from %llu to %llu", name, min, max);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

static int
pop3_listen(struct conf_loader *l, int line, char **v, size_t *n,
    const char *value)
{
	const char *colon = strrchr(value, ':');

	if (colon == NULL || colon == value || colon[1] == '\0') {
		diag_error(l->diag, l->conf->path, line, "expected ADDRESS:PORT"
		    " (127.0.0.1:995, [::1]:995)");
		return -1;
	}
	if (*n == POP3_LISTEN_MAX) {
		diag_error(l->diag, l->conf->path, line, "at most %d listen "
		    "lines of a kind", POP3_LISTEN_MAX);
		return -1;
	}
	v[(*n)++] = xstrdup(value);
	return 0;
}

static int
pop3_key(struct conf_loader *l, const char *name, const char *value,
    int line)
{
	struct pop3_conf *p = &l->conf->pop3;

	if (strcmp(name, "listen") == 0)
		return pop3_listen(l, line, p->listen, &p->nlisten, value);
	if (strcmp(name, "listen_tls") == 0)
		return pop3_listen(l, line, p->listen_tls, &p->nlisten_tls,
		    value);
	if (strcmp(name, "certificate") == 0)
		return set_path(l, line, &p->certificate, value);
	if (strcmp(name, "key") == 0)
		return set_path(l, line, &p->key, value);
	if (strcmp(name, "users") == 0)
		return set_path(l, line, &p->users, value);
	if (strcmp(name, "user") == 0) {
		if (p->run_as != NULL) {
			diag_error(l->diag, l->conf->path, line, "set twice");
			return -1;
		}
		p->run_as = xstrdup(value);
		return 0;
	}
	if (strcmp(name, "timeout") == 0) {
		p->timeout_line = line;
		return pop3_number(l, line, name, value, 1, 86400, &p->timeout);
	}
	if (strcmp(name, "max_connections") == 0)
		return pop3_number(l, line, name, value, 1, 100000,
		    &p->max_connections);
	if (strcmp(name, "max_per_client") == 0)
		return pop3_number(l, line, name, value, 1, 100000,
		    &p->max_per_client);
	if (strcmp(name, "login_timeout") == 0)
		return pop3_number(l, line, name, value, 1, 3600,
		    &p->login_timeout);
	if (strcmp(name, "max_login_failures") == 0)
		return pop3_number(l, line, name, value, 1,
		    POP3_EXIT_FAILURES_MAX, &p->max_login_failures);
	if (strcmp(name, "archive_days") == 0)
		return pop3_number(l, line, name, value, 0, 3650,
		    &p->archive_days);
	if (strcmp(name, "allow_plaintext") == 0) {
		if (parse_bool(value, &p->allow_plaintext) == -1) {
			diag_error(l->diag, l->conf->path, line,
			    "allow_plaintext must be yes or no");
			return -1;
		}
		return 0;
	}
	diag_error(l->diag, l->conf->path, line, "unknown key \"%s\" in "
	    "[pop3] (listen, listen_tls, certificate, key, users, user, "
	    "timeout, login_timeout, max_connections, max_per_client, "
	    "max_login_failures, "
	    "archive_days, allow_plaintext)", name);
	return -1;
}

/* A "[section]" line; keys of a refused section are skipped. */
static int
conf_section(struct conf_loader *l, const char *section, int line)
{
	struct conf *c = l->conf;

	l->skip = 1;
	if (strcmp(section, "formdrop") == 0 ||
	    strcmp(section, "limits") == 0)
		l->skip = 0;
	else if (strcmp(section, "pop3") == 0) {
		if (c->pop3.line == 0)
			c->pop3.line = line;
		l->skip = 0;
	} else if (strncmp(section, "mailbox ", 8) == 0) {
		if (mailbox_section(l, section + 8, line) == -1)
			return -1;
		l->skip = 0;
	} else {
		diag_error(l->diag, c->path, line, "unknown section [%s] "
		    "(formdrop, limits, mailbox NAME, pop3)", section);
		return -1;
	}
	return 0;
}

static int
conf_key(void *ctx, const char *section, const char *name, const char *value,
    int line)
{
	struct conf_loader *l = ctx;
	struct conf *c = l->conf;
	unsigned long long v;

	if (name == NULL)
		return conf_section(l, section, line);
	if (l->skip)
		return 0;
	if (section[0] == '\0') {
		diag_error(l->diag, c->path, line, "\"%s\" before any "
		    "[section]", name);
		return -1;
	}

	if (strcmp(section, "formdrop") == 0) {
		if (strcmp(name, "forms") == 0) {
			l->forms_line = line;
			return set_path(l, line, &c->forms_dir, value);
		}
		if (strcmp(name, "state") == 0)
			return set_path(l, line, &c->state_dir, value);
		if (strcmp(name, "hostname") == 0) {
			/* It ends up in file names: keep it a plain DNS
			 * name, so that a Maildir name stays short. */
			if (value[0] == '\0' || strlen(value) > 64 ||
			    strspn(value, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
			    strlen(value)) {
				diag_error(l->diag, c->path, line, "hostname "
				    "must be a DNS name of at most 64 letters, "
				    "digits, dots and hyphens");
				return -1;
			}
			snprintf(c->hostname, sizeof(c->hostname), "%s", value);
			return 0;
		}
		if (strcmp(name, "workers") == 0) {
			if (parse_uint(value, 1, CONF_WORKERS_MAX, &v) == -1) {
				diag_error(l->diag, c->path, line, "workers "
				    "must be from 1 to %d", CONF_WORKERS_MAX);
				return -1;
			}
			c->workers = (unsigned)v;
			return 0;
		}
		diag_error(l->diag, c->path, line, "unknown key \"%s\" in "
		    "[formdrop] (forms, state, hostname, workers)", name);
		return -1;
	}
	if (strcmp(section, "limits") == 0)
		return limit_key(l, name, value, line);
	if (strcmp(section, "pop3") == 0)
		return pop3_key(l, name, value, line);
	/* Only keys of the section conf_section() opened: never guess. */
	if (strncmp(section, "mailbox ", 8) != 0 || c->nboxes == 0 ||
	    strcmp(c->boxes[c->nboxes - 1].name, section + 8) != 0) {
		diag_error(l->diag, c->path, line, "key \"%s\" outside a "
		    "section formdrop can read", name);
		return -1;
	}
	return mailbox_key(l, section + 8, name, value, line);
}

static int
is_form_file(const struct dirent *de)
{
	size_t len = strlen(de->d_name);

	return de->d_name[0] != '.' && len > 5 &&
	    strcmp(de->d_name + len - 5, ".form") == 0;
}

static void
load_forms(struct conf_loader *l)
{
	struct conf *c = l->conf;
	struct dirent **list;
	char path[4096];
	int n, i;

	if ((n = scandir(c->forms_dir, &list, is_form_file, alphasort)) == -1) {
		diag_error(l->diag, c->path, l->forms_line, "forms folder %s: "
		    "%s", c->forms_dir, strerror(errno));
		return;
	}
	if (n == 0)
		diag_error(l->diag, c->path, l->forms_line, "no *.form files "
		    "in %s", c->forms_dir);
	c->forms = xcalloc((size_t)n + 1, sizeof(*c->forms));
	for (i = 0; i < n; i++) {
		if (path_resolve(path, sizeof(path), c->forms_dir,
		    list[i]->d_name) == 0 &&
		    formdef_load(path, &c->forms[c->nforms], l->diag) == 0)
			c->nforms++;
		free(list[i]);
	}
	free(list);
}

static void
load_error_page(struct conf_loader *l)
{
	struct conf *c = l->conf;
	char path[4096], chunk[4096];
	struct buf b;
	ssize_t n = 0;
	int fd;

	buf_init(&b, TEMPLATE_FILE_MAX);
	if (path_resolve(path, sizeof(path), c->forms_dir, "error.html") == -1 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		diag_error(l->diag, c->path, l->forms_line, "%s/error.html: %s",
		    c->forms_dir, strerror(errno));
		return;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(&b, chunk, (size_t)n) == -1)
			break;
	close(fd);
	if (n != 0) {
		diag_error(l->diag, path, 0, "cannot read (or over %d bytes)",
		    TEMPLATE_FILE_MAX);
		buf_free(&b);
		return;
	}
	c->error_page_len = b.len;
	c->error_page = buf_steal(&b);
}

static long
builtin_count(const void *arg, const char *name)
{
	(void)arg;
	return formdef_is_builtin(name) ? 1 : -1;
}

static void
builtin_value(const void *arg, const char *name, size_t i, const char **v,
    size_t *len)
{
	(void)arg; (void)name; (void)i;
	*v = "";
	*len = 0;
}

/*
 * Mail clients check that From is an address of the signing certificate
 * (RFC 8550 3) and flag the signature of a message where it is not.
 */
static void
check_signer_address(struct conf_loader *l, const struct mailbox *mb)
{
	const char *addr, *lt;
	size_t len;

	if (mb->smime.signer == NULL || mb->from == NULL)
		return;
	addr = mailbox_addr(mb->from, strlen(mb->from), &len, &lt);
	if (X509_check_email(mb->smime.signer, addr, len, 0) != 1)
		diag_warning(l->diag, l->conf->path, mb->line, "[mailbox %s] "
		    "from %.*s is not an address of sign_cert: mail clients "
		    "will flag the signature as not the sender's", mb->name,
		    (int)len, addr);
}

/*
 * Load a mailbox's certificates.  For --check every problem is an error;
 * when serving, a mailbox with unusable certificates is marked broken and
 * its encrypting forms answer 503: never a fallback to plaintext.
 */
static void
load_smime(struct conf_loader *l, struct mailbox *mb, enum conf_mode mode)
{
	struct tpl_vars vars = { builtin_count, builtin_value, NULL };
	struct diag local;
	char err[160];
	int line;

	if (mb->encrypted_subject == NULL)
		mb->encrypted_subject = xstrdup("Form submission {{id}} "
		    "(encrypted)");
	else if (template_check(mb->encrypted_subject,
	    strlen(mb->encrypted_subject), &vars, err, sizeof(err),
	    &line) == -1)
		diag_error(l->diag, l->conf->path, mb->line, "[mailbox %s] "
		    "encrypted_subject: %s (only {{id}}, {{form}}, {{date}}, "
		    "{{client}})", mb->name, err);
	if (!mb->smime_configured)
		return;
	diag_init(&local);
	if (smime_load(&mb->smime_paths, &mb->smime, l->conf->path, mb->line,
	    &local) == -1) {
		mb->smime_broken = 1;
		if (mode == CONF_CHECK)
			l->diag->errors += local.errors;
	}
	l->diag->warnings += local.warnings;
	if (local.text.len > 0)
		buf_append(&l->diag->text, local.text.data, local.text.len);
	if (!mb->smime_broken)
		check_signer_address(l, mb);
	if (mb->smime_broken && mode != CONF_CHECK)
		diag_warning(l->diag, l->conf->path, mb->line, "[mailbox %s]: "
		    "unusable certificates: its encrypting forms answer 503 "
		    "until they are fixed", mb->name);
	diag_free(&local);
}

static void
pop3_finish(struct conf_loader *l)
{
	struct pop3_conf *p = &l->conf->pop3;
	const char *path = l->conf->path;

	if (p->line == 0) {
		diag_error(l->diag, path, 0, "no [pop3] section");
		return;
	}
	if (p->nlisten + p->nlisten_tls == 0)
		diag_error(l->diag, path, p->line, "[pop3] needs listen or "
		    "listen_tls");
	if (p->users == NULL)
		diag_error(l->diag, path, p->line, "[pop3] needs users = FILE");
	if ((p->certificate == NULL || p->key == NULL) &&
	    (p->nlisten_tls > 0 || !p->allow_plaintext))
		diag_error(l->diag, path, p->line, "[pop3] needs certificate "
		    "and key (TLS is required)");
	if (p->timeout == 0)
		p->timeout = POP3_TIMEOUT_MIN;
	else if (p->timeout < POP3_TIMEOUT_MIN)
		diag_warning(l->diag, path, p->timeout_line, "timeout below %d "
		    "seconds breaks RFC 1939; use it for tests only",
		    POP3_TIMEOUT_MIN);
	if (p->max_connections == 0)
		p->max_connections = POP3_CONNECTIONS_MAX;
	if (p->max_per_client == 0)
		p->max_per_client = POP3_PER_CLIENT_MAX;
	if (p->max_login_failures == 0)
		p->max_login_failures = POP3_FAIL_REFUSE;
	if (p->login_timeout == 0)
		p->login_timeout = POP3_LOGIN_TIMEOUT;
}

/*
 * --check: the state folder is writable, or can be made in its parent
 * folder; a token key in it is readable.  What a start would do, without
 * making anything.
 */
static void
check_state(struct conf_loader *l)
{
	struct conf *c = l->conf;
	char parent[4096], key[4096];

	path_dir(parent, sizeof(parent), c->state_dir);
	if (access(c->state_dir, W_OK | X_OK) == -1 && (errno != ENOENT ||
	    access(parent, W_OK | X_OK) == -1))
		diag_error(l->diag, c->path, 0, "state folder %s is not "
		    "writable and cannot be created", c->state_dir);
	if (path_resolve(key, sizeof(key), c->state_dir, "token.key") == 0 &&
	    access(key, R_OK) == -1 && errno != ENOENT)
		diag_error(l->diag, c->path, 0, "%s: %s (the handler's user "
		    "must own it)", key, strerror(errno));
}

/*
 * The state folder (default: "state" beside the configuration) holds the
 * token keys, the idempotency records and the rate-limit table.  It is
 * created when missing, and the token key with it: the gateway makes its
 * own key at its first start.
 */
static void
load_state(struct conf_loader *l, enum conf_mode mode)
{
	struct conf *c = l->conf;
	char path[4096];

	if (c->state_dir == NULL) {
		if (path_resolve(path, sizeof(path), c->dir, "state") == -1)
			return;
		c->state_dir = xstrdup(path);
	}
	if (mode == CONF_CHECK) {
		check_state(l);
		return;
	}
	if (path_resolve(path, sizeof(path), c->state_dir, "once") == -1 ||
	    (mkdir(c->state_dir, 0700) == -1 && errno != EEXIST) ||
	    (mkdir(path, 0700) == -1 && errno != EEXIST) ||
	    token_keys_load(c->state_dir, &c->token_keys) == -1)
		diag_error(l->diag, c->path, 0, "state folder %s: %s",
		    c->state_dir, errno == EINVAL ? "token.key is not a "
		    "64-digit hex key (remove it to make a new one)" :
		    strerror(errno));
}

/*
 * 1 if path (resolved here; NULL: not set) is folder (resolved) or lies
 * under it.
 */
static int
is_under(const char *path, const char *folder)
{
	char rp[PATH_MAX];
	size_t n = strlen(folder);

	if (path == NULL || realpath(path, rp) == NULL)
		return 0;
	return strncmp(rp, folder, n) == 0 && (rp[n] == '\0' ||
	    rp[n] == '/' || n == 1);
}

/* The first file or folder of those read by name that lies in grant. */
static const char *
read_under(const struct conf *c, const char *grant)
{
	const char *top[] = { c->dir, c->forms_dir, c->pop3.users,
	    c->pop3.key, c->pop3.certificate };
	size_t i, k;

	for (i = 0; i < sizeof(top) / sizeof(top[0]); i++)
		if (is_under(top[i], grant))
			return top[i];
	for (i = 0; i < c->nboxes; i++) {
		const struct smime_paths *p = &c->boxes[i].smime_paths;

		for (k = 0; k < p->nrecipients; k++)
			if (is_under(p->recipients[k], grant))
				return p->recipients[k];
		if (is_under(p->escrow, grant))
			return p->escrow;
		if (is_under(p->sign_cert, grant))
			return p->sign_cert;
		if (is_under(p->sign_key, grant))
			return p->sign_key;
	}
	return NULL;
}

/*
 * A worker may write the folder holding a Maildir (maildir_grant_folder):
 * that folder must not hold what the supervisor and pop3d read, on
 * reload or at start: the configuration, the forms, the certificates and
 * keys, the POP3 users file.  A Maildir given as "orders", beside
 * formdrop.conf, would make them all writable to a compromised worker,
 * and an escrow certificate put there by it would be encrypted to.
 */
static void
check_grant(struct conf_loader *l, const struct mailbox *mb)
{
	const char *held;
	char grant[4096], real[PATH_MAX];

	maildir_grant_folder(mb->maildir, grant, sizeof(grant));
	if (realpath(grant, real) == NULL)
		return;		/* nothing there to hold anything */
	if ((held = read_under(l->conf, real)) != NULL)
		diag_error(l->diag, l->conf->path, mb->line, "[mailbox %s]: "
		    "workers may write %s, the folder holding %s, and it holds "
		    "%s: keep the Maildirs in a folder of their own (such as "
		    "/var/spool/formdrop)", mb->name, grant, mb->maildir, held);
}

/* Cross-checks that need the whole file and the form definitions. */
static void
conf_finish(struct conf_loader *l, enum conf_mode mode)
{
	struct conf *c = l->conf;
	const struct mailbox *mb;
	size_t i;

	if (mode == CONF_POP3D) {
		pop3_finish(l);
		return;
	}
	if (c->forms_dir == NULL) {
		diag_error(l->diag, c->path, 0, "[formdrop] has no forms = "
		    "FOLDER");
		return;
	}
	if (c->hostname[0] == '\0' &&
	    gethostname(c->hostname, sizeof(c->hostname) - 1) == -1)
		snprintf(c->hostname, sizeof(c->hostname), "localhost");
	for (i = 0; i < c->nboxes; i++) {
		mb = &c->boxes[i];
		if (mb->maildir == NULL || mb->from == NULL || mb->to == NULL) {
			diag_error(l->diag, c->path, mb->line, "[mailbox %s] "
			    "needs maildir, from and to", mb->name);
			continue;
		}
		load_smime(l, &c->boxes[i], mode);
		check_grant(l, mb);
		if (maildir_is_ready(mb->maildir))
			continue;
		if (mode == CONF_CHECK)
			diag_error(l->diag, c->path, mb->line, "[mailbox %s]: "
			    "%s is not a writable Maildir (tmp/ new/ cur/)",
			    mb->name, mb->maildir);
		else
			diag_warning(l->diag, c->path, mb->line, "[mailbox "
			    "%s]: %s is not a writable Maildir yet; its forms "
			    "answer 503 until it is", mb->name, mb->maildir);
	}
	load_forms(l);
	load_error_page(l);
	load_state(l, mode);
	for (i = 0; i < c->nforms; i++)
		if (conf_mailbox(c, c->forms[i].mailbox) == NULL)
			diag_error(l->diag, c->path, 0, "form %s names mailbox "
			    "\"%s\", which is not configured", c->forms[i].name,
			    c->forms[i].mailbox);
	if (c->limits.file_max > c->limits.body_max)
		diag_warning(l->diag, c->path, 0, "file_max is larger than "
		    "body_max: body_max is the real limit");
}

const char *
conf_choose_path(const char *given)
{
	if (given == NULL)
		given = getenv("FORMDROP_CONF");
	return given != NULL ? given : CONF_DEFAULT_PATH;
}

int
conf_load(const char *path, enum conf_mode mode, struct conf *c,
    struct diag *d)
{
	struct conf_loader l = { c, d, 0, 0 };
	const char *slash;
	char *dir;
	size_t before = d->errors;

	memset(c, 0, sizeof(*c));
	c->path = xstrdup(path);
	slash = strrchr(path, '/');
	dir = slash == NULL ? xstrdup(".") :
	    xstrndup(path, slash == path ? 1 : (size_t)(slash - path));
	/* Absolute, so that paths stay right whatever the working folder. */
	if ((c->dir = realpath(dir, NULL)) == NULL)
		c->dir = xstrdup(dir);
	free(dir);
	c->workers = 4;
	c->limits.body_max = DEFAULT_BODY_MAX;
	c->limits.fields_max = DEFAULT_FIELDS_MAX;
	c->limits.field_max = DEFAULT_FIELD_MAX;
	c->limits.files_max = DEFAULT_FILES_MAX;
	c->limits.file_max = DEFAULT_FILE_MAX;
	/* A file not read has no missing keys to report. */
	if (inifile_parse(path, conf_key, &l, d) != INIFILE_UNREADABLE)
		conf_finish(&l, mode);
	if (d->errors > before) {
		conf_free(c);
		return -1;
	}
	return 0;
}

void
conf_free(struct conf *c)
{
	size_t i;

	for (i = 0; i < c->nboxes; i++) {
		struct smime_paths *p = &c->boxes[i].smime_paths;
		size_t k;

		free(c->boxes[i].maildir);
		free(c->boxes[i].from);
		free(c->boxes[i].to);
		free(c->boxes[i].encrypted_subject);
		for (k = 0; k < p->nrecipients; k++)
			free(p->recipients[k]);
		free(p->escrow);
		free(p->sign_cert);
		free(p->sign_key);
		smime_free(&c->boxes[i].smime);
	}
	for (i = 0; i < c->nforms; i++)
		formdef_free(&c->forms[i]);
	free(c->boxes);
	free(c->forms);
	free(c->forms_dir);
	free(c->state_dir);
	explicit_bzero(&c->token_keys, sizeof(c->token_keys));
	free(c->error_page);
	for (i = 0; i < c->pop3.nlisten; i++)
		free(c->pop3.listen[i]);
	for (i = 0; i < c->pop3.nlisten_tls; i++)
		free(c->pop3.listen_tls[i]);
	free(c->pop3.certificate);
	free(c->pop3.key);
	free(c->pop3.users);
	free(c->pop3.run_as);
	free(c->path);
	free(c->dir);
	memset(c, 0, sizeof(*c));
}

const struct formdef *
conf_form(const struct conf *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nforms; i++)
		if (strcmp(c->forms[i].name, name) == 0)
			return &c->forms[i];
	return NULL;
}

const struct mailbox *
conf_mailbox(const struct conf *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nboxes; i++)
		if (strcmp(c->boxes[i].name, name) == 0)
			return &c->boxes[i];
	return NULL;
}
