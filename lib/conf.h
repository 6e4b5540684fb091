/*
 * formdrop.conf: the gateway, its limits and its mailboxes, plus the form
 * definitions of the folder it names.  Read once at start-up (and by
 * --check), before any request; read-only afterwards.  See
 * formdrop.conf(5).
 */
#ifndef FORMDROP_CONF_H
#define FORMDROP_CONF_H

#include "diag.h"
#include "form.h"
#include "formdef.h"
#include "bounds.h"
#include "smime.h"
#include "token.h"

#define CONF_DEFAULT_PATH	SYSCONFDIR "/formdrop/formdrop.conf"

struct mailbox {
	char			 name[FORM_NAME_MAX + 1];
	char			*maildir;	/* resolved against the file's folder */
	char			*from;
	char			*to;
	int			 line;
	struct smime_paths	 smime_paths;
	struct smime		 smime;
	int			 smime_configured;
	int			 smime_broken;	/* configured but unusable */
	char			*encrypted_subject;	/* template */
};

#define POP3_LISTEN_MAX	4

/* [pop3]: formdrop-pop3d. */
struct pop3_conf {
	char		*listen[POP3_LISTEN_MAX];	/* STLS, RFC 2595 */
	size_t		 nlisten;
	char		*listen_tls[POP3_LISTEN_MAX];	/* RFC 8314 */
	size_t		 nlisten_tls;
	char		*certificate;
	char		*key;
	char		*users;
	char		*run_as;	/* drop to this user when root */
	unsigned	 timeout;
	unsigned	 login_timeout;	/* connect to login, seconds */
	unsigned	 max_connections;
	unsigned	 max_per_client;
	unsigned	 archive_days;
	unsigned	 max_login_failures;	/* per address, then refused */
	int		 allow_plaintext;	/* loopback testing only */
	int		 line;			/* of the [pop3] header */
	int		 timeout_line;
};

struct conf {
	char			*path;
	char			*dir;		/* folder of path */
	char			*forms_dir;
	char			*state_dir;	/* keys, once/, ratelimit */
	struct token_keys	 token_keys;
	char			 hostname[HOSTNAME_LEN_MAX + 1];
	unsigned		 workers;
	struct form_limits	 limits;
	struct mailbox		*boxes;
	size_t			 nboxes;
	struct formdef		*forms;
	size_t			 nforms;
	char			*error_page;	/* forms_dir/error.html */
	size_t			 error_page_len;
	struct pop3_conf	 pop3;
};

enum conf_mode {
	CONF_SERVE,	/* a Maildir not ready is a warning: it answers 503 */
	CONF_CHECK,	/* --check: every problem is an error */
	CONF_POP3D	/* formdrop-pop3d: [pop3] required, forms not read */
};

/* The configuration to read: given (-c), else $FORMDROP_CONF, else the
 * installed default. */
const char *conf_choose_path(const char *given);

/* 0 on success; -1 with every problem in d (conf is then freed). */
int	conf_load(const char *path, enum conf_mode, struct conf *,
	    struct diag *d);
void	conf_free(struct conf *);
const struct formdef *conf_form(const struct conf *, const char *name);
const struct mailbox *conf_mailbox(const struct conf *, const char *name);

#endif
