/*
 * libFuzzer target: the template language.  The input up to its first
 * NUL byte (or the whole input) is the template.  After the NUL, an
 * optional first byte picks how many values the names a, b and c have
 * (two bits each, 0 to 3) and the bytes after it, split at '\n', are those
 * values; without them, a has 1 value, b 3 and c none, with characters
 * HTML escapes.  Every other name is unknown.  The template is checked
 * with template_check and rendered as text and as HTML into a 64 KiB
 * buffer; a template that passes the check must render (only the output
 * bound may stop it), and HTML escaping never shortens the output.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "buf.h"
#include "template.h"
#include "fuzz_util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define OUT_MAX		(64 * 1024)
#define NVALUES		3

struct value {
	const char	*v;
	size_t		 len;
};

struct vars {
	long		 count[3];	/* a, b, c */
	struct value	 val[3][NVALUES];
};

static int
var_index(const char *name)
{
	if (name[0] >= 'a' && name[0] <= 'c' && name[1] == '\0')
		return name[0] - 'a';
	return -1;
}

static long
var_count(const void *arg, const char *name)
{
	const struct vars *vs = arg;
	int i;

	if (strlen(name) > TPL_NAME_MAX)
		abort();	/* the engine promised names of this size */
	if ((i = var_index(name)) == -1)
		return -1;
	return vs->count[i];
}

static void
var_value(const void *arg, const char *name, size_t k, const char **v,
    size_t *len)
{
	const struct vars *vs = arg;
	int i;

	/* Only values the count promised may be asked for. */
	if ((i = var_index(name)) == -1 || k >= (size_t)vs->count[i])
		abort();
	*v = vs->val[i][k].v;
	*len = vs->val[i][k].len;
}

static void
vars_setup(struct vars *vs, const char *p, size_t len, int given)
{
	static const char *const dflt[3][NVALUES] = {
		{ "A&B", "", "" },
		{ "<b>", "x\"y'z", "plain" },
		{ "", "", "" },
	};
	const char *end = p + len, *nl;
	size_t i, k;

	memset(vs, 0, sizeof(*vs));
	if (!given || len == 0) {
		vs->count[0] = 1;
		vs->count[1] = 3;
		vs->count[2] = 0;
		for (i = 0; i < 3; i++)
			for (k = 0; k < NVALUES; k++) {
				vs->val[i][k].v = dflt[i][k];
				vs->val[i][k].len = strlen(dflt[i][k]);
			}
		return;
	}
	for (i = 0; i < 3; i++)
		vs->count[i] = ((unsigned char)p[0] >> (2 * i)) & 3;
	p++;
	for (i = 0; i < 3; i++)
		for (k = 0; k < NVALUES; k++) {
			nl = memchr(p, '\n', (size_t)(end - p));
			if (nl == NULL)
				nl = end;
			vs->val[i][k].v = p;
			vs->val[i][k].len = (size_t)(nl - p);
			p = nl < end ? nl + 1 : end;
		}
}

static int
render(const char *tpl, size_t len, const struct tpl_vars *tv,
    enum tpl_escape esc, size_t max, struct buf *out)
{
	int r;

	buf_init(out, max);
	r = template_render(tpl, len, tv, esc, out);
	if (out->len > max || (out->data != NULL && out->data[out->len] != '\0'))
		abort();
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *nul;
	struct vars vs;
	struct tpl_vars tv = { var_count, var_value, &vs };
	struct buf text, html;
	char err[160], *tpl;
	size_t len;
	int line = -1, checked, rt, rh;

	nul = memchr(in, '\0', size);
	len = nul != NULL ? (size_t)(nul - in) : size;
	vars_setup(&vs, nul != NULL ? nul + 1 : in + size,
	    nul != NULL ? size - len - 1 : 0, nul != NULL);

	/* The template alone in a buffer of its size, so overreads show. */
	if ((tpl = malloc(len > 0 ? len : 1)) == NULL)
		return 0;
	memcpy(tpl, in, len);

	memset(err, 'x', sizeof(err));
	checked = template_check(tpl, len, &tv, err, sizeof(err), &line);
	if (checked != 0 && (memchr(err, '\0', sizeof(err)) == NULL ||
	    err[0] == '\0' || line < 1))
		abort();

	rt = render(tpl, len, &tv, TPL_TEXT, OUT_MAX, &text);
	rh = render(tpl, len, &tv, TPL_HTML, OUT_MAX, &html);
	if (fuzz_verbose())
		fprintf(stderr, "template: check %s%s%s (line %d); text %d "
		    "(%zu bytes), html %d (%zu bytes); counts %ld %ld %ld\n",
		    checked == 0 ? "ok" : "failed", checked == 0 ? "" : ": ",
		    checked == 0 ? "" : err, checked == 0 ? 0 : line, rt,
		    text.len, rh, html.len, vs.count[0], vs.count[1],
		    vs.count[2]);
	if (rt == 0 && rh == 0 && html.len < text.len)
		abort();
	if (checked == 0 && (rt != 0 || rh != 0) && len <= 1024) {
		/*
		 * A checked template may only fail on the output bound.  Give
		 * it room for any expansion: fewer than len tags, each
		 * repeated for at most 3 rows and giving at most 3 values of
		 * at most maxval bytes, 6 times longer when HTML-escaped, plus
		 * ", " separators; then it must render.
		 */
		struct buf big;
		size_t maxval = 0, i, k;

		for (i = 0; i < 3; i++)
			for (k = 0; k < NVALUES; k++)
				if (vs.val[i][k].len > maxval)
					maxval = vs.val[i][k].len;
		if (render(tpl, len, &tv, TPL_HTML,
		    len + (len + 1) * 9 * (6 * maxval + 2), &big) != 0)
			abort();
		buf_free(&big);
	}
	/* No tag at all: the output is the template itself. */
	if (rt == 0 && memmem(tpl, len, "{{", 2) == NULL &&
	    (text.len != len || (len > 0 && memcmp(text.data, tpl, len) != 0)))
		abort();
	buf_free(&text);
	buf_free(&html);
	free(tpl);
	return 0;
}
