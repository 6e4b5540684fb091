/*
 * Form definition loading, run at start-up and by --check, never per
 * request.  Every problem is reported with file and line; a definition
 * with any problem is refused as a whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formdef.h"
#include "inifile.h"
#include "pattern.h"
#include "template.h"
#include "util.h"

static const char *const type_names[FT__MAX] = {
	[FT_TEXT] = "text",
	[FT_EMAIL] = "email",
	[FT_TEL] = "tel",
	[FT_INTEGER] = "integer",
	[FT_DECIMAL] = "decimal",
	[FT_CHOICE] = "choice",
	[FT_CHECKBOX] = "checkbox",
	[FT_FILE] = "file",
};

/* Names every subject and body template may use besides the fields. */
static const char *const builtins[] = {
	"id", "form", "date", "client", NULL
};

struct loader {
	const char	*path;
	struct formdef	*def;
	struct diag	*diag;
	char		*body_file;
	int		 body_line, subject_line;
	int		 seen_form;
	int		 skip;		/* keys of a refused section */
};

const char *
field_type_name(enum field_type t)
{
	return t < FT__MAX ? type_names[t] : "?";
}

int
formdef_is_builtin(const char *name)
{
	size_t i;

	for (i = 0; builtins[i] != NULL; i++)
		if (strcmp(builtins[i], name) == 0)
			return 1;
	return 0;
}

const struct fielddef *
formdef_field(const struct formdef *def, const char *name)
{
	size_t i;

	for (i = 0; i < def->nfields; i++)
		if (strcmp(def->fields[i].name, name) == 0)
			return &def->fields[i];
	return NULL;
}

int
formdef_in_rows(const struct formdef *def, const char *name)
{
	size_t i;

	for (i = 0; i < def->nrows; i++)
		if (strcmp(def->rows[i], name) == 0)
			return 1;
	return 0;
}

static int
is_field_name(const char *s)
{
	size_t i;

	if (s[0] == '\0' || strlen(s) > FIELD_NAME_MAX)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		    s[i] == '-'))
			return 0;
	return 1;
}

/* s without the spaces and tabs around it ("a | b" lists "a" and "b"). */
static char *
trim_spaces(char *s)
{
	char *end;

	s += strspn(s, " \t");
	for (end = s + strlen(s); end > s && (end[-1] == ' ' ||
	    end[-1] == '\t'); end--)
		;
	*end = '\0';
	return s;
}

/* Split "a|b|c" (or "a b c" with sep ' ') into a new array of strings. */
static char **
split_list(const char *s, char sep, size_t *n)
{
	char **v = NULL, *copy = xstrdup(s), *p = copy, *q;

	*n = 0;
	for (;;) {
		while (sep == ' ' && *p == ' ')
			p++;
		if (*p == '\0' && sep == ' ')
			break;
		if ((q = strchr(p, sep)) != NULL)
			*q = '\0';
		v = xreallocarray(v, *n + 1, sizeof(*v));
		v[(*n)++] = xstrdup(trim_spaces(p));
		if (q == NULL)
			break;
		p = q + 1;
	}
	free(copy);
	return v;
}

static void
free_list(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int
set_string(struct loader *l, int line, const char *name, char **dst,
    const char *value)
{
	if (*dst != NULL) {
		diag_error(l->diag, l->path, line, "%s set twice", name);
		return -1;
	}
	*dst = xstrdup(value);
	return 0;
}

static int
is_safe_url(const char *s)
{
	if (s[0] != '/' && strncmp(s, "https://", 8) != 0 &&
	    strncmp(s, "http://", 7) != 0)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
		    *s == '"' || *s == '<' || *s == '>')
			return 0;
	return 1;
}

static int
form_key(struct loader *l, const char *name, const char *value, int line)
{
	struct formdef *def = l->def;

	if (strcmp(name, "mailbox") == 0)
		return set_string(l, line, name, &def->mailbox, value);
	if (strcmp(name, "subject") == 0) {
		l->subject_line = line;
		return set_string(l, line, name, &def->subject, value);
	}
	if (strcmp(name, "body") == 0) {
		l->body_line = line;
		return set_string(l, line, name, &l->body_file, value);
	}
	if (strcmp(name, "reply_to") == 0)
		return set_string(l, line, name, &def->reply_to, value);
	if (strcmp(name, "thanks") == 0) {
		if (!is_safe_url(value)) {
			diag_error(l->diag, l->path, line, "thanks must be a "
			    "path (/thanks.html) or an http(s) URL without "
			    "spaces or quotes");
			return -1;
		}
		return set_string(l, line, name, &def->thanks, value);
	}
	if (strcmp(name, "unknown") == 0) {
		if (strcmp(value, "reject") == 0)
			def->unknown = UNKNOWN_REJECT;
		else if (strcmp(value, "drop") == 0)
			def->unknown = UNKNOWN_DROP;
		else {
			diag_error(l->diag, l->path, line,
			    "unknown must be reject or drop");
			return -1;
		}
		return 0;
	}
	if (strcmp(name, "encryption") == 0) {
		if (strcmp(value, "off") == 0)
			def->encryption = ENCRYPT_OFF;
		else if (strcmp(value, "optional") == 0)
			def->encryption = ENCRYPT_OPTIONAL;
		else if (strcmp(value, "required") == 0)
			def->encryption = ENCRYPT_REQUIRED;
		else {
			diag_error(l->diag, l->path, line,
			    "encryption must be off, optional or required");
			return -1;
		}
		return 0;
	}
	if (strcmp(name, "token") == 0) {
		if (strcmp(value, "required") == 0)
			def->token_required = 1;
		else if (strcmp(value, "off") == 0)
			def->token_required = 0;
		else {
			diag_error(l->diag, l->path, line,
			    "token must be off or required");
			return -1;
		}
		return 0;
	}
	if (strcmp(name, "token_min_age") == 0 ||
	    strcmp(name, "token_max_age") == 0) {
		unsigned long long v;

		if (parse_uint(value, 0, 30 * 86400, &v) == -1) {
			diag_error(l->diag, l->path, line, "%s must be seconds "
			    "from 0 to %d", name, 30 * 86400);
			return -1;
		}
		if (strcmp(name, "token_min_age") == 0)
			def->token_min_age = (unsigned)v;
		else
			def->token_max_age = (unsigned)v;
		return 0;
	}
	if (strcmp(name, "token_failure") == 0) {
		if (strcmp(value, "junk") == 0)
			def->token_junk = 1;
		else if (strcmp(value, "refuse") == 0)
			def->token_junk = 0;
		else {
			diag_error(l->diag, l->path, line,
			    "token_failure must be refuse or junk");
			return -1;
		}
		return 0;
	}
	if (strcmp(name, "honeypot") == 0) {
		if (!is_field_name(value)) {
			diag_error(l->diag, l->path, line, "honeypot must be a "
			    "field name (letters, digits, _ and -)");
			return -1;
		}
		return set_string(l, line, name, &def->honeypot, value);
	}
	if (strcmp(name, "rate") == 0) {
		char num[16];
		const char *slash = strchr(value, '/');
		unsigned long long burst, period;

		if (slash == NULL || (size_t)(slash - value) >= sizeof(num)) {
			diag_error(l->diag, l->path, line, "rate must be "
			    "COUNT/SECONDS, e.g. 5/60");
			return -1;
		}
		snprintf(num, sizeof(num), "%.*s", (int)(slash - value), value);
		if (parse_uint(num, 1, 100000, &burst) == -1 ||
		    parse_uint(slash + 1, 1, 86400, &period) == -1) {
			diag_error(l->diag, l->path, line, "rate must be "
			    "COUNT/SECONDS with COUNT 1-100000 and SECONDS "
			    "1-86400");
			return -1;
		}
		def->rate_burst = (unsigned)burst;
		def->rate_period = (unsigned)period;
		return 0;
	}
	if (strcmp(name, "rows") == 0) {
		if (def->rows != NULL) {
			diag_error(l->diag, l->path, line, "rows set twice");
			return -1;
		}
		def->rows = split_list(value, ' ', &def->nrows);
		return 0;
	}
	diag_error(l->diag, l->path, line, "unknown key \"%s\" in [form]",
	    name);
	return -1;
}

static int
parse_number(struct loader *l, int line, const char *name, const char *value,
    double *out)
{
	char *end;

	errno = 0;
	*out = strtod(value, &end);
	if (errno != 0 || end == value || *end != '\0' || !isfinite(*out)) {
		diag_error(l->diag, l->path, line, "%s: \"%s\" is not a "
		    "number", name, value);
		return -1;
	}
	return 0;
}

static int
field_key(struct loader *l, struct fielddef *f, const char *name,
    const char *value, int line)
{
	unsigned long long n;
	size_t t;
	int b;

	if (strcmp(name, "type") == 0) {
		for (t = 0; t < FT__MAX; t++)
			if (strcmp(value, type_names[t]) == 0)
				break;
		if (t == FT__MAX) {
			diag_error(l->diag, l->path, line, "unknown field type "
			    "\"%s\" (text, email, tel, integer, decimal, "
			    "choice, checkbox, file)", value);
			return -1;
		}
		f->type = (enum field_type)t;
		return 0;
	}
	if (strcmp(name, "label") == 0)
		return set_string(l, line, name, &f->label, value);
	if (strcmp(name, "required") == 0 || strcmp(name, "multiline") == 0) {
		if (parse_bool(value, &b) == -1) {
			diag_error(l->diag, l->path, line,
			    "%s must be yes or no", name);
			return -1;
		}
		if (name[0] == 'r')
			f->required = b;
		else
			f->multiline = b;
		return 0;
	}
	if (strcmp(name, "repeat") == 0) {
		if (parse_uint(value, 1, FIELD_REPEAT_MAX, &n) == -1) {
			diag_error(l->diag, l->path, line, "repeat must be a "
			    "number from 1 to %d", FIELD_REPEAT_MAX);
			return -1;
		}
		f->repeat = (size_t)n;
		return 0;
	}
	if (strcmp(name, "min") == 0) {
		f->has_min = 1;
		return parse_number(l, line, name, value, &f->min);
	}
	if (strcmp(name, "max") == 0) {
		f->has_max = 1;
		return parse_number(l, line, name, value, &f->max);
	}
	if (strcmp(name, "pattern") == 0) {
		char err[128];

		if (f->has_pattern) {
			diag_error(l->diag, l->path, line, "pattern set twice");
			return -1;
		}
		if (pattern_compile(&f->pattern, value, err,
		    sizeof(err)) == -1) {
			diag_error(l->diag, l->path, line,
			    "pattern: %s", err);
			return -1;
		}
		f->has_pattern = 1;
		f->pattern_src = xstrdup(value);
		return 0;
	}
	if (strcmp(name, "choices") == 0) {
		if (f->choices != NULL) {
			diag_error(l->diag, l->path, line, "choices set twice");
			return -1;
		}
		f->choices = split_list(value, '|', &f->nchoices);
		if (f->nchoices > FORM_CHOICES_MAX) {
			diag_error(l->diag, l->path, line, "more than %d "
			    "choices", FORM_CHOICES_MAX);
			return -1;
		}
		return 0;
	}
	diag_error(l->diag, l->path, line, "unknown key \"%s\" in [field %s]",
	    name, f->name);
	return -1;
}

/* A "[section]" line: [form] or [field NAME]. */
static int
loader_section(struct loader *l, const char *section, int line)
{
	struct formdef *def = l->def;
	struct fielddef *f;
	const char *fname;

	l->skip = 1;	/* until the section proves good */
	if (strcmp(section, "form") == 0) {
		/* [form] may be reopened, as in any INI file; each key can
		 * still be set only once. */
		l->seen_form = 1;
		l->skip = 0;
		return 0;
	}
	if (strncmp(section, "field ", 6) != 0) {
		diag_error(l->diag, l->path, line, "unknown section [%s] "
		    "(expected [form] or [field NAME])", section);
		return -1;
	}
	fname = section + 6;
	if (!is_field_name(fname)) {
		diag_error(l->diag, l->path, line, "bad field name \"%s\" "
		    "(letters, digits, _ and -)", fname);
		return -1;
	}
	if (formdef_field(def, fname) != NULL) {
		diag_error(l->diag, l->path, line, "[field %s] defined twice",
		    fname);
		return -1;
	}
	if (def->nfields == FORM_FIELDS_MAX) {
		diag_error(l->diag, l->path, line, "more than %d fields",
		    FORM_FIELDS_MAX);
		return -1;
	}
	def->fields = xreallocarray(def->fields, def->nfields + 1,
	    sizeof(*def->fields));
	f = &def->fields[def->nfields++];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", fname);
	f->repeat = 1;
	l->skip = 0;
	return 0;
}

static int
loader_key(void *ctx, const char *section, const char *name,
    const char *value, int line)
{
	struct loader *l = ctx;

	if (name == NULL)
		return loader_section(l, section, line);
	if (l->skip)
		return 0;	/* the section's own error says it all */
	if (section[0] == '\0') {
		diag_error(l->diag, l->path, line, "\"%s\" before any "
		    "[section]", name);
		return -1;
	}
	if (strcmp(section, "form") == 0)
		return form_key(l, name, value, line);
	/* Only keys of the section loader_section() opened. */
	if (strncmp(section, "field ", 6) != 0 || l->def->nfields == 0 ||
	    strcmp(l->def->fields[l->def->nfields - 1].name, section + 6) != 0) {
		diag_error(l->diag, l->path, line, "key \"%s\" outside a "
		    "section formdrop can read", name);
		return -1;
	}
	return field_key(l, &l->def->fields[l->def->nfields - 1], name, value,
	    line);
}

/* Names a template of this form may use: its fields and the built-ins. */
static long
check_count(const void *arg, const char *name)
{
	const struct formdef *def = arg;

	return formdef_field(def, name) != NULL || formdef_is_builtin(name) ?
	    0 : -1;
}

static void
check_value(const void *arg, const char *name, size_t i, const char **v,
    size_t *len)
{
	(void)arg; (void)name; (void)i;
	*v = "";
	*len = 0;
}

static int
read_file(const char *path, size_t max, char **out, size_t *outlen)
{
	struct buf b;
	char chunk[4096];
	ssize_t n;
	int fd;

	buf_init(&b, max);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(&b, chunk, (size_t)n) == -1) {
			errno = EFBIG;
			n = -1;
			break;
		}
	close(fd);
	if (n == -1) {
		buf_free(&b);
		return -1;
	}
	*outlen = b.len;
	*out = buf_steal(&b);
	return 0;
}

/* Everything that can only be checked once the whole file is read. */
static void
loader_finish(struct loader *l)
{
	struct formdef *def = l->def;
	struct tpl_vars vars = { check_count, check_value, def };
	char dir[4096], path[4096], err[160];
	const struct fielddef *f;
	const char *slash;
	int line;
	size_t i;

	if (!l->seen_form)
		diag_error(l->diag, l->path, 0, "no [form] section");
	if (def->mailbox == NULL)
		diag_error(l->diag, l->path, 0, "[form] has no mailbox");
	if (def->thanks == NULL)
		diag_error(l->diag, l->path, 0, "[form] has no thanks page");
	if (def->subject == NULL)
		diag_error(l->diag, l->path, 0, "[form] has no subject");
	else if (template_check(def->subject, strlen(def->subject), &vars,
	    err, sizeof(err), &line) == -1)
		diag_error(l->diag, l->path, l->subject_line, "subject: %s",
		    err);
	if (def->nfields == 0)
		diag_error(l->diag, l->path, 0, "form has no fields");
	for (i = 0; i < def->nfields; i++) {
		const struct fielddef *fd = &def->fields[i];

		if (fd->type == FT_CHOICE && fd->nchoices == 0)
			diag_error(l->diag, l->path, 0, "[field %s]: a choice "
			    "field needs choices = a|b|c", fd->name);
		/* A key the type ignores would look like a check that is
		 * not made. */
		if (fd->nchoices > 0 && fd->type != FT_CHOICE &&
		    fd->type != FT_CHECKBOX)
			diag_error(l->diag, l->path, 0, "[field %s]: choices "
			    "is for choice and checkbox fields", fd->name);
		if (fd->has_pattern && fd->type == FT_FILE)
			diag_error(l->diag, l->path, 0, "[field %s]: pattern "
			    "does not apply to file fields (nor to their file "
			    "names)", fd->name);
		if (fd->multiline && fd->type != FT_TEXT)
			diag_error(l->diag, l->path, 0, "[field %s]: multiline "
			    "is for text fields", fd->name);
		if ((fd->has_min || fd->has_max) && (fd->type == FT_CHOICE ||
		    fd->type == FT_CHECKBOX))
			diag_error(l->diag, l->path, 0, "[field %s]: min and "
			    "max do not apply to %s fields", fd->name,
			    fd->type == FT_CHOICE ? "choice" : "checkbox");
		if (fd->has_min && fd->has_max && fd->min > fd->max)
			diag_error(l->diag, l->path, 0, "[field %s]: min is "
			    "greater than max", fd->name);
	}
	for (i = 0; i < def->nrows; i++) {
		if ((f = formdef_field(def, def->rows[i])) == NULL)
			diag_error(l->diag, l->path, 0, "rows names unknown "
			    "field \"%s\"", def->rows[i]);
		else if (f->repeat < 2)
			diag_error(l->diag, l->path, 0, "rows: field \"%s\" "
			    "needs repeat = N (N > 1)", def->rows[i]);
	}
	if (def->honeypot != NULL && formdef_field(def, def->honeypot) != NULL)
		diag_error(l->diag, l->path, 0, "honeypot \"%s\" must not be a "
		    "field of the form", def->honeypot);
	if (def->token_min_age >= def->token_max_age)
		diag_error(l->diag, l->path, 0, "token_min_age must be below "
		    "token_max_age");
	if (def->reply_to != NULL &&
	    ((f = formdef_field(def, def->reply_to)) == NULL ||
	    f->type != FT_EMAIL || f->repeat != 1))
		diag_error(l->diag, l->path, 0, "reply_to must name a single "
		    "email field");
	if (l->body_file == NULL) {
		diag_error(l->diag, l->path, 0, "[form] has no body template");
		return;
	}
	slash = strrchr(l->path, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash == NULL ? 1 :
	    (int)(slash - l->path), slash == NULL ? "." : l->path);
	if (path_resolve(path, sizeof(path), dir, l->body_file) == -1) {
		diag_error(l->diag, l->path, l->body_line, "path too long");
		return;
	}
	if (read_file(path, TEMPLATE_FILE_MAX, &def->body, &def->body_len) ==
	    -1) {
		diag_error(l->diag, l->path, l->body_line, "body template "
		    "%s: %s", path, strerror(errno));
		return;
	}
	if (!is_utf8(def->body, def->body_len)) {
		diag_error(l->diag, path, 0, "not UTF-8 (save the file as "
		    "UTF-8)");
		return;
	}
	if (template_check(def->body, def->body_len, &vars, err, sizeof(err),
	    &line) == -1)
		diag_error(l->diag, path, line, "%s", err);
}

int
formdef_load(const char *path, struct formdef *def, struct diag *d)
{
	struct loader l;
	const char *base, *dot;
	size_t before = d->errors;

	memset(def, 0, sizeof(*def));
	def->encryption = ENCRYPT_OPTIONAL;
	def->token_min_age = 3;
	def->token_max_age = 86400;
	memset(&l, 0, sizeof(l));
	l.path = path;
	l.def = def;
	l.diag = d;
	base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
	dot = strrchr(base, '.');
	if (dot == NULL || dot == base ||
	    (size_t)(dot - base) > FORM_NAME_MAX) {
		diag_error(d, path, 0, "form file names are NAME.form");
		return -1;
	}
	snprintf(def->name, sizeof(def->name), "%.*s", (int)(dot - base),
	    base);
	if (!is_field_name(def->name))
		diag_error(d, path, 0, "form name \"%s\": use letters, "
		    "digits, _ and -", def->name);
	if (inifile_parse(path, loader_key, &l, d) != INIFILE_UNREADABLE)
		loader_finish(&l);
	free(l.body_file);
	if (d->errors > before) {
		formdef_free(def);
		return -1;
	}
	return 0;
}

void
formdef_free(struct formdef *def)
{
	size_t i;

	for (i = 0; i < def->nfields; i++) {
		struct fielddef *f = &def->fields[i];

		free(f->label);
		if (f->has_pattern)
			regfree(&f->pattern);
		free(f->pattern_src);
		free_list(f->choices, f->nchoices);
	}
	free(def->fields);
	free(def->mailbox);
	free(def->subject);
	free(def->body);
	free(def->thanks);
	free(def->reply_to);
	free(def->honeypot);
	free_list(def->rows, def->nrows);
	memset(def, 0, sizeof(*def));
}
