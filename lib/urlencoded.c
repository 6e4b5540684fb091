/*
 * The urlencoded body parser, a pure function from bytes to form_data,
 * run by the handler worker on untrusted input and fuzzed alone
 * (tests/fuzz/fuzz_urlencoded.c).
 */
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "urlencoded.h"
#include "util.h"

/*
 * Decode s[0..len) into out, which has room for len bytes (decoding never
 * grows); the decoded length goes to *outlen.  -1 on a bad escape.
 */
static int
decode(const char *s, size_t len, char *out, size_t *outlen)
{
	size_t i, o = 0;
	int hi, lo;

	for (i = 0; i < len; i++) {
		if (s[i] == '+')
			out[o++] = ' ';
		else if (s[i] != '%')
			out[o++] = s[i];
		else if (i + 2 < len && (hi = hex_value(s[i + 1])) != -1 &&
		    (lo = hex_value(s[i + 2])) != -1) {
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else
			return -1;
	}
	*outlen = o;
	return 0;
}

/* Decode and store one "name=value" segment. */
static enum parse_status
add_pair(const char *seg, size_t seglen, char *scratch,
    const struct form_limits *lim, struct form_data *fd)
{
	const char *eq, *val;
	size_t rawname, rawval, namelen, vallen;
	char *name = scratch, *value;

	eq = memchr(seg, '=', seglen);
	rawname = eq != NULL ? (size_t)(eq - seg) : seglen;
	val = eq != NULL ? eq + 1 : seg + seglen;
	rawval = (size_t)(seg + seglen - val);
	if (rawname == 0)
		return PARSE_MALFORMED;
	if (decode(seg, rawname, name, &namelen) == -1)
		return PARSE_MALFORMED;
	value = name + namelen;
	if (decode(val, rawval, value, &vallen) == -1)
		return PARSE_MALFORMED;
	if (namelen > FIELD_NAME_MAX || vallen > lim->field_max)
		return PARSE_FIELD_TOO_LONG;
	if (memchr(name, '\0', namelen) != NULL)
		return PARSE_MALFORMED;
	if (!is_utf8(name, namelen) || !is_utf8(value, vallen))
		return PARSE_BAD_UTF8;
	if (form_data_add(fd, name, namelen, value, vallen, NULL, NULL) == -1)
		return PARSE_NOMEM;
	return PARSE_OK;
}

enum parse_status
urlencoded_parse(const char *body, size_t len, const struct form_limits *lim,
    struct form_data *fd)
{
	const char *p = body, *end = body + len, *amp;
	enum parse_status st = PARSE_OK;
	char *scratch;
	size_t seglen;

	if ((scratch = malloc(len + 1)) == NULL)
		return PARSE_NOMEM;
	while (p < end && st == PARSE_OK) {
		amp = memchr(p, '&', (size_t)(end - p));
		seglen = (size_t)((amp != NULL ? amp : end) - p);
		/* Empty segments ("a=1&&b=2", a trailing '&') are skipped. */
		if (seglen > 0 && fd->n >= lim->fields_max)
			st = PARSE_TOO_MANY_FIELDS;
		else if (seglen > 0)
			st = add_pair(p, seglen, scratch, lim, fd);
		p = amp != NULL ? amp + 1 : end;
	}
	free(scratch);
	return st;
}
