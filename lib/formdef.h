/*
 * Form definitions: templates/<form>.form, one INI file per form, saying
 * which fields a form has and how each is checked, which mailbox receives
 * it, and how its message and answers look.  Loaded once at start-up (and
 * by --check); read-only afterwards.  See formdrop.form(5).
 */
#ifndef FORMDROP_FORMDEF_H
#define FORMDROP_FORMDEF_H

#include <regex.h>
#include <stddef.h>

#include "diag.h"
#include "bounds.h"

enum field_type {
	FT_TEXT,
	FT_EMAIL,
	FT_TEL,
	FT_INTEGER,
	FT_DECIMAL,
	FT_CHOICE,
	FT_CHECKBOX,
	FT_FILE,
	FT__MAX
};

enum unknown_policy {
	UNKNOWN_REJECT,		/* 422 naming the field */
	UNKNOWN_DROP		/* left out of the message */
};

enum encryption {
	ENCRYPT_OFF,
	ENCRYPT_OPTIONAL,
	ENCRYPT_REQUIRED
};

struct fielddef {
	char		 name[FIELD_NAME_MAX + 1];
	char		*label;
	enum field_type	 type;
	int		 required;
	int		 multiline;	/* text only: CR, LF and TAB allowed */
	size_t		 repeat;	/* most values accepted (1: single) */
	int		 has_min, has_max;
	double		 min, max;	/* characters, value or file bytes */
	int		 has_pattern;
	char		*pattern_src;
	regex_t		 pattern;	/* anchored POSIX ERE */
	char		**choices;
	size_t		 nchoices;
};

struct formdef {
	char		 name[FORM_NAME_MAX + 1];
	char		*mailbox;
	char		*subject;	/* template */
	char		*body;		/* template text, from body = FILE */
	size_t		 body_len;
	char		*thanks;	/* URL of the thank-you page */
	char		*reply_to;	/* name of an email field, or NULL */
	enum unknown_policy unknown;
	enum encryption	 encryption;
	char		**rows;		/* fields that repeat together */
	size_t		 nrows;
	int		 token_required;
	unsigned	 token_min_age;	/* seconds */
	unsigned	 token_max_age;
	int		 token_junk;	/* bad token: to .Junk, not refused */
	char		*honeypot;	/* decoy field: present and empty */
	unsigned	 rate_burst;	/* 0: no rate limit */
	unsigned	 rate_period;	/* seconds */
	struct fielddef	*fields;
	size_t		 nfields;
};

/*
 * Load the definition at path (its name is the file name without
 * ".form").  0 on success; -1 with every problem reported in d.
 */
int	formdef_load(const char *path, struct formdef *, struct diag *d);
void	formdef_free(struct formdef *);
const struct fielddef *formdef_field(const struct formdef *, const char *);
int	formdef_in_rows(const struct formdef *, const char *name);
/* 1 if name may appear in subject and body templates. */
int	formdef_is_builtin(const char *name);
const char *field_type_name(enum field_type);

#endif
