/*
 * inih, made to report line numbers.  inih calls its reader once per
 * line, so the reader's count is the line the handler is looking at.
 */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <string.h>

#include "inifile.h"
#include "util.h"

struct inifile {
	const char	*name;
	FILE		*fp;		/* either a file ... */
	const char	*text;		/* ... or a string */
	int		 line;
	int		 failed;
	inifile_handler	 fn;
	void		*ctx;
	struct diag	*diag;
	int		 after_key;	/* a key since the last section */
};

/* If line is "[name]" (inih's syntax), announce the section. */
static void
section_header(struct inifile *f, const char *line)
{
	char name[INI_MAX_LINE];
	const char *p = line, *end;
	size_t n;

	/* Skip what inih skips: a byte order mark on line 1, white space. */
	if (f->line == 1 && strncmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	line = p;
	while (isspace((unsigned char)*p))
		p++;
	if (*p != '[' || (end = strchr(p, ']')) == NULL)
		return;
	/* Indented after a key, inih reads it as that key's next line. */
	if (p > line && f->after_key)
		return;
	f->after_key = 0;
	p++;		/* inih keeps spaces inside the brackets: so do we */
	n = (size_t)(end - p);
	memcpy(name, p, n);
	name[n] = '\0';
	if (f->fn(f->ctx, name, NULL, NULL, f->line) == -1)
		f->failed = 1;
}

/* Read one line like fgets, flagging lines too long for inih. */
static char *
inifile_reader(char *str, int num, void *stream)
{
	struct inifile *f = stream;
	int n = 0, c, too_long = 0;

	for (;;) {
		if (f->fp != NULL)
			c = getc(f->fp);
		else
			c = *f->text != '\0' ? (unsigned char)*f->text++ : EOF;
		if (c == EOF) {
			if (n == 0)
				return NULL;
			break;
		}
		if (c == '\0') {
			c = ' ';
			too_long = -1;
		}
		if (n < num - 2)
			str[n++] = (char)c;
		else if (c != '\n')
			too_long = 1;
		if (c == '\n')
			break;
	}
	if (n > 0 && str[n - 1] != '\n')
		str[n++] = '\n';
	str[n] = '\0';
	f->line++;
	/* Values go into headers labelled UTF-8: Latin-1 would be garbage. */
	if (too_long == 0 && !is_utf8(str, (size_t)n))
		too_long = -2;
	if (too_long == 0)
		section_header(f, str);
	if (too_long == 1) {
		diag_error(f->diag, f->name, f->line,
		    "line longer than %d characters", num - 2);
		f->failed = 1;
		str[0] = '\n';		/* ignore the line */
		str[1] = '\0';
	} else if (too_long == -1) {
		diag_error(f->diag, f->name, f->line, "NUL byte in line");
		f->failed = 1;
	} else if (too_long == -2) {
		diag_error(f->diag, f->name, f->line, "not UTF-8 (save the "
		    "file as UTF-8)");
		f->failed = 1;
		str[0] = '\n';		/* ignore the line */
		str[1] = '\0';
	}
	return str;
}

static int
inifile_handle(void *user, const char *section, const char *name,
    const char *value)
{
	struct inifile *f = user;

	f->after_key = 1;
	if (f->fn(f->ctx, section, name, value, f->line) == -1)
		f->failed = 1;
	return 1;	/* keep going: report every problem */
}

static int
inifile_run(struct inifile *f)
{
	int r;

	r = ini_parse_stream(inifile_reader, f, inifile_handle, f);
	if (r > 0) {
		diag_error(f->diag, f->name, r,
		    "syntax error: expected \"[section]\" or \"name = value\"");
		f->failed = 1;
	} else if (r != 0) {
		diag_error(f->diag, f->name, 0, "cannot parse file");
		f->failed = 1;
	}
	return f->failed ? -1 : 0;
}

int
inifile_parse(const char *path, inifile_handler fn, void *ctx, struct diag *d)
{
	struct inifile f = { .name = path, .fn = fn, .ctx = ctx, .diag = d };
	int r;

	if ((f.fp = fopen(path, "r")) == NULL) {
		diag_error(d, path, 0, "cannot open: %s", strerror(errno));
		return INIFILE_UNREADABLE;
	}
	r = inifile_run(&f);
	fclose(f.fp);
	return r;
}

int
inifile_parse_string(const char *name, const char *text, inifile_handler fn,
    void *ctx, struct diag *d)
{
	struct inifile f = { .name = name, .text = text, .fn = fn, .ctx = ctx,
	    .diag = d };

	return inifile_run(&f);
}
