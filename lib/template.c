/*
 * Template rendering for the handler worker.  Templates come from the
 * operator (templates/), values from the submitter: values are inserted
 * verbatim or HTML-escaped, never interpreted.
 */
#include <stdio.h>
#include <string.h>

#include "template.h"

enum tag_kind { TAG_VAR, TAG_ROWS, TAG_END };

struct tag {
	enum tag_kind	 kind;
	const char	*start;		/* "{{" */
	const char	*end;		/* just past "}}" */
	char		 names[8][TPL_NAME_MAX + 1];
	size_t		 nnames;
};

struct ctx {
	const struct tpl_vars	*vars;
	enum tpl_escape		 esc;
	struct buf		*out;
	int			 in_rows;	/* inside {{#rows}} ... */
	struct tag		 rows;		/* ... this one */
	size_t			 row;
	char			*err;
	size_t			 errsz;
	const char		*errpos;
};

static int
is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

static int
fail(struct ctx *c, const char *pos, const char *msg)
{
	if (c->err != NULL)
		snprintf(c->err, c->errsz, "%s", msg);
	c->errpos = pos;
	return -1;
}

static int
fail_name(struct ctx *c, const char *pos, const char *msg, const char *name)
{
	if (c->err != NULL)
		snprintf(c->err, c->errsz, "%s \"%s\"", msg, name);
	c->errpos = pos;
	return -1;
}

/*
 * Find the next tag at or after p.  1 with *t filled, 0 when none is
 * left, -1 when the tag is malformed.
 */
static int
next_tag(struct ctx *c, const char *p, const char *end, struct tag *t)
{
	const char *q, *close;
	size_t n;

	for (;; p++) {
		if (end - p < 2)
			return 0;
		if (p[0] == '{' && p[1] == '{')
			break;
	}
	memset(t, 0, sizeof(*t));
	t->start = p;
	for (close = p + 2; end - close >= 2; close++)
		if (close[0] == '}' && close[1] == '}')
			break;
	if (end - close < 2)
		return fail(c, p, "\"{{\" without \"}}\"");
	t->end = close + 2;
	q = p + 2;
	while (q < close && *q == ' ')
		q++;
	t->kind = TAG_VAR;
	if (q < close && *q == '#') {
		if ((size_t)(close - q) < 5 || strncmp(q, "#rows", 5) != 0 ||
		    (q + 5 < close && q[5] != ' '))
			return fail(c, p, "unknown section (only {{#rows ...}})");
		t->kind = TAG_ROWS;
		q += 5;
	} else if (q < close && *q == '/') {
		if ((size_t)(close - q) < 5 || strncmp(q, "/rows", 5) != 0)
			return fail(c, p, "unknown section end (only {{/rows}})");
		t->kind = TAG_END;
		q += 5;
	}
	for (;;) {
		while (q < close && *q == ' ')
			q++;
		if (q == close)
			break;
		for (n = 0; q + n < close && is_name_char(q[n]); n++)
			;
		if (n == 0)
			return fail(c, p, "bad character in a {{name}}");
		if (n > TPL_NAME_MAX)
			return fail(c, p, "name too long");
		if (t->nnames == sizeof(t->names) / sizeof(t->names[0]))
			return fail(c, p, "too many names in one tag");
		memcpy(t->names[t->nnames], q, n);
		t->names[t->nnames++][n] = '\0';
		q += n;
	}
	if (t->kind == TAG_VAR && t->nnames != 1)
		return fail(c, p, "expected one name in {{name}}");
	if (t->kind == TAG_ROWS && t->nnames == 0)
		return fail(c, p, "{{#rows}} needs at least one name");
	if (t->kind == TAG_END && t->nnames != 0)
		return fail(c, p, "{{/rows}} takes no names");
	return 1;
}

static int
put_escaped(struct ctx *c, const char *v, size_t len)
{
	size_t i;
	const char *rep;

	if (c->esc == TPL_TEXT)
		return buf_append(c->out, v, len);
	for (i = 0; i < len; i++) {
		switch (v[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: rep = NULL; break;
		}
		if (rep != NULL ? buf_puts(c->out, rep) :
		    buf_putc(c->out, v[i]))
			return -1;
	}
	return 0;
}

static int
in_rows(const struct ctx *c, const char *name)
{
	size_t i;

	if (!c->in_rows)
		return 0;
	for (i = 0; i < c->rows.nnames; i++)
		if (strcmp(c->rows.names[i], name) == 0)
			return 1;
	return 0;
}

static int
put_var(struct ctx *c, const struct tag *t)
{
	const char *name = t->names[0], *v;
	long n = c->vars->count(c->vars->arg, name);
	size_t i, len;

	if (n < 0)
		return fail(c, t->start, "unknown name");
	if (in_rows(c, name)) {
		if (c->row >= (size_t)n)
			return 0;
		c->vars->value(c->vars->arg, name, c->row, &v, &len);
		return put_escaped(c, v, len);
	}
	for (i = 0; i < (size_t)n; i++) {
		c->vars->value(c->vars->arg, name, i, &v, &len);
		if ((i > 0 && buf_puts(c->out, ", ") == -1) ||
		    put_escaped(c, v, len) == -1)
			return -1;
	}
	return 0;
}

/* Render (or, with out NULL, only check) p..end. */
static int
render(struct ctx *c, const char *p, const char *end)
{
	struct tag t, e;
	const char *inner;
	size_t rows, i;
	long n;
	int r;

	while ((r = next_tag(c, p, end, &t)) == 1) {
		if (c->out != NULL &&
		    buf_append(c->out, p, (size_t)(t.start - p)) == -1)
			return fail(c, p, "output too large");
		if (t.kind == TAG_END)
			return fail(c, t.start, "{{/rows}} without {{#rows}}");
		if (t.kind == TAG_VAR) {
			if (c->out == NULL) {
				if (c->vars->count(c->vars->arg,
				    t.names[0]) < 0)
					return fail_name(c, t.start,
					    "unknown name", t.names[0]);
			} else if (put_var(c, &t) == -1)
				return -1;
			p = t.end;
			continue;
		}
		if (c->in_rows)
			return fail(c, t.start, "{{#rows}} sections do not nest");
		inner = t.end;
		for (p = inner; (r = next_tag(c, p, end, &e)) == 1; p = e.end)
			if (e.kind != TAG_VAR)
				break;
		if (r == -1)
			return -1;
		if (r == 1 && e.kind == TAG_ROWS)
			return fail(c, e.start, "{{#rows}} sections do not nest");
		if (r == 0)
			return fail(c, t.start, "{{#rows}} without {{/rows}}");
		for (rows = 0, i = 0; i < t.nnames; i++) {
			n = c->vars->count(c->vars->arg, t.names[i]);
			if (n < 0)
				return fail_name(c, t.start,
				    "unknown name in {{#rows}}", t.names[i]);
			if ((size_t)n > rows)
				rows = (size_t)n;
		}
		c->rows = t;
		c->in_rows = 1;
		if (c->out == NULL)
			rows = 1;
		for (i = 0; i < rows; i++) {
			c->row = i;
			if (render(c, inner, e.start) == -1)
				return -1;
		}
		c->in_rows = 0;
		p = e.end;
	}
	if (r == -1)
		return -1;
	if (c->out != NULL && buf_append(c->out, p, (size_t)(end - p)) == -1)
		return fail(c, p, "output too large");
	return 0;
}

int
template_render(const char *tpl, size_t len, const struct tpl_vars *vars,
    enum tpl_escape esc, struct buf *out)
{
	struct ctx c;

	memset(&c, 0, sizeof(c));
	c.vars = vars;
	c.esc = esc;
	c.out = out;
	return render(&c, tpl, tpl + len);
}

int
template_check(const char *tpl, size_t len, const struct tpl_vars *vars,
    char *err, size_t errsz, int *line)
{
	struct ctx c;
	const char *p;

	memset(&c, 0, sizeof(c));
	c.vars = vars;
	c.err = err;
	c.errsz = errsz;
	if (render(&c, tpl, tpl + len) == 0)
		return 0;
	*line = 1;
	for (p = tpl; c.errpos != NULL && p < c.errpos; p++)
		if (*p == '\n')
			(*line)++;
	return -1;
}
