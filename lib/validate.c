/*
 * Validation, run by the handler worker on every parsed submission before
 * anything is composed.  Values here are untrusted; definitions are not.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"
#include "util.h"
#include "validate.h"

#define EMAIL_MAX	254
#define EMAIL_LOCAL_MAX	64
#define TEL_MAX		32

void
validation_free(struct validation *val)
{
	free(val->v);
	val->v = NULL;
	val->n = 0;
}

static int
has_error(const struct validation *val, const char *name)
{
	size_t i;

	for (i = 0; i < val->n; i++)
		if (strcmp(val->v[i].field, name) == 0)
			return 1;
	return 0;
}

/* Copy s into out, cut at a character boundary: a page shows it, and
 * half a UTF-8 sequence would make the page invalid. */
static void
copy_utf8(char *out, size_t outsz, const char *s)
{
	size_t n = utf8_cut(s, strlen(s), outsz - 1);

	memcpy(out, s, n);
	out[n] = '\0';
}

/*
 * Record the first problem of a field, in row (0 outside a rows group);
 * later ones of it are dropped.
 */
static int
add_error(struct validation *val, const char *name, const char *label,
    size_t row, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
add_error(struct validation *val, const char *name, const char *label,
    size_t row, const char *fmt, ...)
{
	struct field_error *e;
	va_list ap;

	if (has_error(val, name))
		return 0;
	if ((e = reallocarray(val->v, val->n + 1, sizeof(*e))) == NULL)
		return -1;
	val->v = e;
	e = &val->v[val->n++];
	copy_utf8(e->field, sizeof(e->field), name);
	copy_utf8(e->label, sizeof(e->label), label);
	e->row = row;
	va_start(ap, fmt);
	vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
	va_end(ap);
	return 0;
}

static int
is_atext(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

int
is_email(const char *s, size_t len)
{
	const char *at = memchr(s, '@', len), *p, *label;
	size_t local, i;

	if (at == NULL || len > EMAIL_MAX || memchr(s, '\0', len) != NULL)
		return 0;
	local = (size_t)(at - s);
	if (local == 0 || local > EMAIL_LOCAL_MAX || s[0] == '.' ||
	    s[local - 1] == '.')
		return 0;
	/* "=?" would start an RFC 2047 encoded-word, which some readers
	 * decode inside an address into another address (Mailsploit). */
	if (memmem(s, local, "=?", 2) != NULL)
		return 0;
	for (i = 0; i < local; i++)
		if (!(is_atext(s[i]) || (s[i] == '.' && s[i + 1] != '.')))
			return 0;
	/* Domain: dot-separated LDH labels, at least two of them. */
	p = at + 1;
	if (p == s + len || memchr(p, '.', (size_t)(s + len - p)) == NULL)
		return 0;
	for (label = p; p <= s + len; p++) {
		if (p == s + len || *p == '.') {
			size_t n = (size_t)(p - label);

			if (n == 0 || n > 63 || label[0] == '-' ||
			    label[n - 1] == '-')
				return 0;
			label = p + 1;
		} else if (!((*p >= 'a' && *p <= 'z') ||
		    (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-'))
			return 0;
	}
	return 1;
}

int
is_tel(const char *s, size_t len)
{
	size_t i, digits = 0;

	if (len > TEL_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			digits++;
		else if (strchr(" +-()./", s[i]) == NULL || s[i] == '\0')
			return 0;
	}
	return digits >= 3;
}

static int
is_integer(const char *s, size_t len, double *v)
{
	size_t i = 0;

	if (len > 0 && (s[0] == '-' || s[0] == '+'))
		i = 1;
	if (i == len || len > 18)
		return 0;
	for (; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	*v = strtod(s, NULL);
	return 1;
}

/* Plain decimal notation only: "12", "-3.50"; no exponents, no "inf". */
static int
is_decimal(const char *s, size_t len, double *v)
{
	size_t i = 0, digits = 0, dots = 0;

	if (len > 0 && (s[0] == '-' || s[0] == '+'))
		i = 1;
	if (len > 40)
		return 0;
	for (; i < len; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			digits++;
		else if (s[i] == '.' && dots++ == 0)
			continue;
		else
			return 0;
	}
	if (digits == 0)
		return 0;
	*v = strtod(s, NULL);
	return isfinite(*v);
}

/*
 * Control characters: C0, DEL and C1 (U+0080-U+009F, such as NEL) never;
 * TAB, CR, LF only in multiline text; the Unicode line and paragraph
 * separators (U+2028, U+2029) only in multiline text too, since some
 * programs break lines there.  The value is valid UTF-8.
 */
static int
has_bad_controls(const struct fielddef *f, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 &&
		    p[i + 1] <= 0x9f)
			return 1;
		if (p[i] == 0xe2 && i + 2 < len && p[i + 1] == 0x80 &&
		    (p[i + 2] == 0xa8 || p[i + 2] == 0xa9) && !f->multiline)
			return 1;
		if (p[i] >= 0x20 && p[i] != 0x7f)
			continue;
		if (f->multiline && (p[i] == '\t' || p[i] == '\r' ||
		    p[i] == '\n'))
			continue;
		return 1;
	}
	return 0;
}

static void
fmt_num(char *out, size_t outsz, double v)
{
	snprintf(out, outsz, "%.15g", v);
}

/*
 * Characters as a browser counts them for maxlength and minlength: in
 * UTF-16 code units (a character beyond U+FFFF, such as an emoji, is
 * two), and a line break is one, though it is sent as CRLF (HTML,
 * textarea's API value).
 */
static size_t
form_chars(const char *s, size_t len)
{
	size_t chars = 0, i;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if ((c & 0xc0) == 0x80)
			continue;		/* inside a character */
		if (c == '\r' && i + 1 < len && s[i + 1] == '\n')
			continue;		/* CRLF counts at its LF */
		chars += c >= 0xf0 ? 2 : 1;
	}
	return chars;
}

/* Check one value; returns a reason or NULL when the value is fine. */
static const char *
check_value(const struct fielddef *f, const struct field *fv, char *why,
    size_t whysz)
{
	char a[32], b[32];
	double num = 0;
	size_t chars, i;

	if (f->type == FT_FILE) {
		if (fv->filename == NULL)
			return "must be an uploaded file";
		if (f->has_min && (double)fv->size < f->min) {
			fmt_num(a, sizeof(a), f->min);
			snprintf(why, whysz, "must be at least %s bytes", a);
			return why;
		}
		if (f->has_max && (double)fv->size > f->max) {
			fmt_num(a, sizeof(a), f->max);
			snprintf(why, whysz, "must be at most %s bytes", a);
			return why;
		}
		return NULL;
	}
	if (fv->filename != NULL)
		return "must not be a file";
	if (memchr(fv->value, '\0', fv->len) != NULL)
		return "must not contain NUL characters";
	if (has_bad_controls(f, fv->value, fv->len))
		return f->type == FT_TEXT && !f->multiline ?
		    "must be a single line of text" :
		    "contains control characters";
	switch (f->type) {
	case FT_EMAIL:
		if (!is_email(fv->value, fv->len))
			return "must be an email address like name@example.com";
		break;
	case FT_TEL:
		if (!is_tel(fv->value, fv->len))
			return "must be a telephone number";
		break;
	case FT_INTEGER:
		if (!is_integer(fv->value, fv->len, &num))
			return "must be a whole number";
		break;
	case FT_DECIMAL:
		if (!is_decimal(fv->value, fv->len, &num))
			return "must be a number";
		break;
	case FT_CHECKBOX:
		if (f->nchoices == 0)
			break;		/* any value when ticked */
		/* FALLTHROUGH */
	case FT_CHOICE:
		for (i = 0; i < f->nchoices; i++)
			if (strcmp(f->choices[i], fv->value) == 0)
				break;
		if (i == f->nchoices)
			return "must be one of the offered choices";
		break;
	default:
		break;
	}
	fmt_num(a, sizeof(a), f->min);
	fmt_num(b, sizeof(b), f->max);
	if (f->type == FT_INTEGER || f->type == FT_DECIMAL) {
		if ((f->has_min && num < f->min) ||
		    (f->has_max && num > f->max)) {
			if (f->has_min && f->has_max)
				snprintf(why, whysz, "must be from %s to %s",
				    a, b);
			else if (f->has_min)
				snprintf(why, whysz, "must be at least %s", a);
			else
				snprintf(why, whysz, "must be at most %s", b);
			return why;
		}
	} else if (f->type != FT_CHOICE && f->type != FT_CHECKBOX) {
		chars = form_chars(fv->value, fv->len);
		if (f->has_min && (double)chars < f->min) {
			snprintf(why, whysz, "must be at least %s "
			    "characters long", a);
			return why;
		}
		if (f->has_max && (double)chars > f->max) {
			snprintf(why, whysz, "must be at most %s "
			    "characters long", b);
			return why;
		}
	}
	if (f->has_pattern && !pattern_match(&f->pattern, fv->value))
		return "is not in the expected format";
	return NULL;
}

/*
 * Nothing at all, or only spaces (and for a multiline field tabs and
 * line breaks): not filled in, for "required" and for blank rows.  Any
 * other control character is a value, and is refused as one.  A file is
 * blank when it has no bytes (for blank rows; "required" takes any
 * uploaded file, as a browser does).
 */
static int
is_blank(const struct fielddef *f, const struct field *fv)
{
	size_t i;
	char c;

	if (fv->filename != NULL)
		return fv->size == 0;
	for (i = 0; i < fv->len; i++) {
		c = fv->value[i];
		if (c != ' ' && !(f->multiline &&
		    (c == '\t' || c == '\r' || c == '\n')))
			return 0;
	}
	return 1;
}

/* 1 if every field of the rows group is blank (or absent) in row. */
static int
row_is_blank(const struct formdef *def, const struct form_data *data,
    size_t row)
{
	size_t i;
	long idx;

	for (i = 0; i < def->nrows; i++) {
		idx = form_data_find(data, def->rows[i], row);
		if (idx >= 0 && !is_blank(formdef_field(def, def->rows[i]),
		    &data->v[idx]))
			return 0;
	}
	return 1;
}

/*
 * Drop the rows of a rows group in which every field is empty (a blank
 * line of an order form), so that they neither fail "required" nor reach
 * the message; page_row[k] gets the page's number of the k-th row kept.
 */
static void
drop_blank_rows(const struct formdef *def, struct form_data *data,
    size_t page_row[FIELD_REPEAT_MAX])
{
	size_t row, rows = 0, kept = 0, i, n;
	long idx;

	for (i = 0; i < def->nrows; i++)
		if ((n = form_data_count(data, def->rows[i])) > rows)
			rows = n;
	/* Errors name a row as the page numbers it, blank ones included. */
	for (row = 0; row < rows; row++)
		if (!row_is_blank(def, data, row) && kept < FIELD_REPEAT_MAX)
			page_row[kept++] = row + 1;
	for (row = rows; row-- > 0;) {
		if (!row_is_blank(def, data, row))
			continue;
		for (i = 0; i < def->nrows; i++)
			if ((idx = form_data_find(data, def->rows[i], row)) >= 0)
				form_data_remove(data, (size_t)idx);
	}
}

/* The page's number for the k-th row left after blank ones went. */
static size_t
on_page(const size_t page_row[FIELD_REPEAT_MAX], size_t k)
{
	return k < FIELD_REPEAT_MAX && page_row[k] != 0 ? page_row[k] : k + 1;
}

/* The number of rows: the largest count of a rows field. */
static size_t
rows_count(const struct formdef *def, const struct form_data *data)
{
	size_t i, n, rows = 0;

	for (i = 0; i < def->nrows; i++)
		if ((n = form_data_count(data, def->rows[i])) > rows)
			rows = n;
	return rows;
}

static const char *
label_of(const struct fielddef *f)
{
	return f->label != NULL ? f->label : f->name;
}

int
form_validate(const struct formdef *def, struct form_data *data,
    struct validation *val)
{
	const struct fielddef *f;
	const char *reason;
	char why[160];
	size_t i, n, nonempty, page_row[FIELD_REPEAT_MAX] = { 0 };
	long idx;
	int in_rows;

	val->v = NULL;
	val->n = 0;
	for (i = 0; i < data->n;) {
		if (formdef_field(def, data->v[i].name) != NULL) {
			i++;
			continue;
		}
		if (def->unknown == UNKNOWN_DROP) {
			form_data_remove(data, i);
			continue;
		}
		if (add_error(val, data->v[i].name, data->v[i].name, 0,
		    "is not a field of this form") == -1)
			return -1;
		i++;
	}
	drop_blank_rows(def, data, page_row);
	for (i = 0; i < def->nfields; i++) {
		f = &def->fields[i];
		n = form_data_count(data, f->name);
		if (n > f->repeat) {
			if (add_error(val, f->name, label_of(f), 0, f->repeat == 1 ?
			    "was sent more than once" :
			    "has more than %zu values", f->repeat) == -1)
				return -1;
			continue;
		}
		/* A row with this field missing altogether (item=A&item=B&
		 * quantity=1) is as incomplete as one with it empty. */
		in_rows = formdef_in_rows(def, f->name);
		if (in_rows && f->required && n < rows_count(def, data) &&
		    add_error(val, f->name, label_of(f), on_page(page_row, n),
		    "is required in row %zu", on_page(page_row, n)) == -1)
			return -1;
		nonempty = 0;
		for (idx = 0; (size_t)idx < n; idx++) {
			struct field *fv =
			    &data->v[form_data_find(data, f->name, (size_t)idx)];
			size_t row = in_rows ? on_page(page_row, (size_t)idx) : 0;

			if (fv->filename == NULL && is_blank(f, fv)) {
				/* An empty value in a row whose other
				 * fields are filled is a missing value. */
				if (in_rows && f->required &&
				    add_error(val, f->name, label_of(f), row,
				    "is required in row %zu", row) == -1)
					return -1;
				/* Not checked, so not kept: what goes on is
				 * empty, not spaces past max or pattern. */
				explicit_bzero(fv->value, fv->len);
				fv->len = 0;
				continue;
			}
			nonempty++;
			if ((reason = check_value(f, fv, why, sizeof(why))) ==
			    NULL)
				continue;
			if ((row > 0 ? add_error(val, f->name, label_of(f),
			    row, "%s in row %zu", reason, row) :
			    add_error(val, f->name, label_of(f), 0, "%s",
			    reason)) == -1)
				return -1;
		}
		if (f->required && nonempty == 0 &&
		    add_error(val, f->name, label_of(f), 0, "is required") == -1)
			return -1;
	}
	return (int)val->n;
}
