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

#define CONF_DEFAULT_PATH	SYSCONFDIR "/formdrop/formdrop.conf"

struct mailbox {
	char	 name[FORM_NAME_MAX + 1];
	char	*maildir;	/* resolved against the file's folder */
	char	*from;
	char	*to;
	int	 line;
};

struct conf {
	char			*path;
	char			*dir;		/* folder of path */
	char			*forms_dir;
	char			 hostname[HOSTNAME_LEN_MAX + 1];
	unsigned		 workers;
	struct form_limits	 limits;
	struct mailbox		*boxes;
	size_t			 nboxes;
	struct formdef		*forms;
	size_t			 nforms;
	char			*error_page;	/* forms_dir/error.html */
	size_t			 error_page_len;
};

enum conf_mode {
	CONF_SERVE,	/* a Maildir not ready is a warning: it answers 503 */
	CONF_CHECK	/* --check: every problem is an error */
};

/* 0 on success; -1 with every problem in d (conf is then freed). */
int	conf_load(const char *path, enum conf_mode, struct conf *,
	    struct diag *d);
void	conf_free(struct conf *);
const struct formdef *conf_form(const struct conf *, const char *name);
const struct mailbox *conf_mailbox(const struct conf *, const char *name);

#endif
