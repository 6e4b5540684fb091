/*
 * The multipart/form-data parser, a pure function from a complete body to
 * form_data, run by the handler worker on untrusted input and fuzzed alone
 * (tests/fuzz/fuzz_multipart.c).  The body is already bounded by
 * body_max; every part is checked against the per-field limits before it
 * is copied.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "header_param.h"
#include "bounds.h"
#include "multipart.h"
#include "util.h"

/* What the headers of one part say. */
struct part_head {
	char	name[FIELD_NAME_MAX + 1];
	char	filename[FILENAME_MAX_LEN + 1];
	char	ctype[CTYPE_MAX + 1];
	int	has_name;
	int	has_filename;
};

int
multipart_boundary(const char *ctype, char *out, size_t outsz)
{
	char type[64], name[32], value[BOUNDARY_MAX + 2];
	const char *p = ctype;
	int r, found = 0;
	size_t len;

	if (header_value_token(&p, type, sizeof(type)) == -1 ||
	    strcmp(type, "multipart/form-data") != 0)
		return -1;
	while ((r = header_param_next(&p, QUOTING_RFC, name, sizeof(name),
	    value, sizeof(value))) == 1) {
		if (strcmp(name, "boundary") != 0)
			continue;
		/* Two boundaries: parsers disagree on which wins. */
		if (found)
			return -1;
		len = strlen(value);
		/* RFC 2046: 1-70 characters, not ending in a space. */
		if (len == 0 || len > BOUNDARY_MAX || value[len - 1] == ' ' ||
		    len + 1 > outsz)
			return -1;
		memcpy(out, value, len + 1);
		found = 1;
	}
	return r == 0 && found ? 0 : -1;
}

/*
 * Decode an RFC 5987 ext-value (UTF-8''percent-encoded) in place.
 * -1 when malformed or in another charset.
 */
static int
ext_value_decode(char *s)
{
	char *q, *o;

	if (strncasecmp(s, "utf-8'", 6) != 0 ||
	    (q = strchr(s + 6, '\'')) == NULL)
		return -1;
	for (o = s, q++; *q != '\0'; q++) {
		if (*q == '%') {
			int hi = hex_value(q[1]), lo;

			if (hi == -1 || (lo = hex_value(q[2])) == -1)
				return -1;
			*o++ = (char)(hi << 4 | lo);
			q += 2;
		} else
			*o++ = *q;
	}
	*o = '\0';
	return 0;
}

/*
 * Reduce an uploaded file's name to its base name (old browsers send
 * whole paths) with control characters replaced, so that it is safe to
 * show and to encode into a header.
 */
static void
filename_clean(char *s)
{
	char *base = s, *p;

	for (p = s; *p != '\0'; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	memmove(s, base, strlen(base) + 1);
	for (p = s; *p != '\0'; p++) {
		unsigned char c = (unsigned char)p[0], d = (unsigned char)p[1];

		if (c < 0x20 || c == 0x7f)
			*p = '_';
		/* C1 controls (U+0080-U+009F) and U+2028/U+2029: "_". */
		else if ((c == 0xc2 && d >= 0x80 && d <= 0x9f) ||
		    (c == 0xe2 && d == 0x80 && (p[2] == '\xa8' ||
		    p[2] == '\xa9'))) {
			size_t n = c == 0xc2 ? 2 : 3;

			*p = '_';
			memmove(p + 1, p + n, strlen(p + n) + 1);
		}
	}
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		s[0] = '\0';
}

/*
 * Keep a part's type only if it is a plain "type/subtype", lowered, and
 * one that may be sent base64-encoded: multipart and message types may not
 * (RFC 2046 5.1, 5.2), so those become application/octet-stream.
 */
static void
ctype_clean(char *s)
{
	const char *p = s;
	char tok[CTYPE_MAX + 1];

	if (header_value_token(&p, tok, sizeof(tok)) == -1 ||
	    strchr(tok, '/') == NULL || strchr(tok, '/') == tok ||
	    strchr(tok, '/')[1] == '\0' ||
	    strchr(tok, '/') != strrchr(tok, '/') ||
	    strncmp(tok, "multipart/", 10) == 0 ||
	    strncmp(tok, "message/", 8) == 0)
		snprintf(s, CTYPE_MAX + 1, "application/octet-stream");
	else
		memcpy(s, tok, strlen(tok) + 1);
}

static enum parse_status
parse_disposition(const char *v, struct part_head *h)
{
	char type[32], name[32], value[3 * FILENAME_MAX_LEN + 32];
	char ext[sizeof(value)];
	const char *p = v;
	int r, has_ext = 0;

	if (header_value_token(&p, type, sizeof(type)) == -1 ||
	    strcmp(type, "form-data") != 0)
		return PARSE_MALFORMED;
	while ((r = header_param_next(&p, QUOTING_HTML, name, sizeof(name),
	    value, sizeof(value))) == 1) {
		if (strcmp(name, "name") == 0) {
			if (strlen(value) > FIELD_NAME_MAX)
				return PARSE_FIELD_TOO_LONG;
			memcpy(h->name, value, strlen(value) + 1);
			h->has_name = 1;
		} else if (strcmp(name, "filename") == 0) {
			if (strlen(value) > FILENAME_MAX_LEN)
				return PARSE_FIELD_TOO_LONG;
			memcpy(h->filename, value, strlen(value) + 1);
			h->has_filename = 1;
		} else if (strcmp(name, "filename*") == 0) {
			if (ext_value_decode(value) == -1)
				return PARSE_MALFORMED;
			memcpy(ext, value, strlen(value) + 1);
			has_ext = 1;
		}
	}
	if (r == -1)
		return PARSE_MALFORMED;
	if (has_ext) {
		if (strlen(ext) > FILENAME_MAX_LEN)
			return PARSE_FIELD_TOO_LONG;
		memcpy(h->filename, ext, strlen(ext) + 1);
		h->has_filename = 1;
	}
	if (!h->has_name || h->name[0] == '\0')
		return PARSE_MALFORMED;
	if (!is_utf8(h->name, strlen(h->name)) ||
	    !is_utf8(h->filename, strlen(h->filename)))
		return PARSE_BAD_UTF8;
	return PARSE_OK;
}

/* Parse the header block of one part: lines separated by CRLF. */
static enum parse_status
parse_part_headers(const char *hdr, size_t len, struct part_head *h)
{
	char block[PART_HEADERS_MAX + 1], *line, *next, *colon, *v;
	enum parse_status st;
	int seen_disposition = 0;

	memset(h, 0, sizeof(*h));
	if (len > PART_HEADERS_MAX || memchr(hdr, '\0', len) != NULL)
		return PARSE_MALFORMED;
	memcpy(block, hdr, len);
	block[len] = '\0';
	for (line = block; line != NULL && *line != '\0'; line = next) {
		if ((next = strstr(line, "\r\n")) != NULL) {
			*next = '\0';
			next += 2;
		}
		if ((colon = strchr(line, ':')) == NULL || colon == line ||
		    strpbrk(line, "\r\n") != NULL)
			return PARSE_MALFORMED;
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		if (strcasecmp(line, "content-disposition") == 0) {
			if (seen_disposition++)
				return PARSE_MALFORMED;
			if ((st = parse_disposition(v, h)) != PARSE_OK)
				return st;
		} else if (strcasecmp(line, "content-type") == 0) {
			/* An over-long type is dropped: ctype_clean()
			 * turns the empty string into octet-stream. */
			if (strlen(v) <= CTYPE_MAX)
				memcpy(h->ctype, v, strlen(v) + 1);
		}
	}
	return seen_disposition ? PARSE_OK : PARSE_MALFORMED;
}

/*
 * Find the next delimiter ("\r\n--boundary" followed by "--" or optional
 * white space and CRLF) at or after from.  Returns its start or NULL.
 * A boundary string inside data that is not a delimiter is data.
 */
static const char *
find_delimiter(const char *from, const char *end, const char *dash,
    size_t dashlen)
{
	const char *p = from, *after;

	while (p < end &&
	    (p = memmem(p, (size_t)(end - p), dash, dashlen)) != NULL) {
		after = p + dashlen;
		if (end - after >= 2 && after[0] == '-' && after[1] == '-')
			return p;
		while (after < end && (*after == ' ' || *after == '\t'))
			after++;
		if (end - after >= 2 && after[0] == '\r' && after[1] == '\n')
			return p;
		p++;
	}
	return NULL;
}

static enum parse_status
add_part(const struct part_head *h, const char *data, size_t len,
    const struct form_limits *lim, struct form_data *fd)
{
	char filename[FILENAME_MAX_LEN + 1], ctype[CTYPE_MAX + 1];

	if (!h->has_filename) {
		/* A text field holds text: a multipart or message inside it
		 * is a malformed or hostile body. */
		if (strncasecmp(h->ctype, "multipart/", 10) == 0 ||
		    strncasecmp(h->ctype, "message/", 8) == 0)
			return PARSE_MALFORMED;
		if (len > lim->field_max)
			return PARSE_FIELD_TOO_LONG;
		if (!is_utf8(data, len))
			return PARSE_BAD_UTF8;
		if (form_data_add(fd, h->name, strlen(h->name), data, len,
		    NULL, NULL) == -1)
			return PARSE_NOMEM;
		return PARSE_OK;
	}
	memcpy(filename, h->filename, sizeof(filename));
	filename_clean(filename);
	/* A file input left empty: browsers send filename="" and no data. */
	if (filename[0] == '\0' && len == 0)
		return PARSE_OK;
	if (filename[0] == '\0')
		snprintf(filename, sizeof(filename), "upload");
	if (fd->nfiles >= lim->files_max)
		return PARSE_TOO_MANY_FILES;
	if (len > lim->file_max)
		return PARSE_FILE_TOO_LARGE;
	memcpy(ctype, h->ctype, sizeof(ctype));
	ctype_clean(ctype);
	if (form_data_add(fd, h->name, strlen(h->name), data, len, filename,
	    ctype) == -1)
		return PARSE_NOMEM;
	return PARSE_OK;
}

enum parse_status
multipart_parse(const char *body, size_t len, const char *boundary,
    const struct form_limits *lim, struct form_data *fd)
{
	char dash[BOUNDARY_MAX + 5];
	const char *end = body + len, *p, *hdr_end, *next;
	struct part_head h;
	enum parse_status st;
	size_t dashlen;

	if (strlen(boundary) == 0 || strlen(boundary) > BOUNDARY_MAX)
		return PARSE_MALFORMED;
	dashlen = (size_t)snprintf(dash, sizeof(dash), "\r\n--%s", boundary);
	/* The first delimiter may open the body, with no CRLF before it. */
	if (len >= dashlen - 2 && memcmp(body, dash + 2, dashlen - 2) == 0)
		p = body + (dashlen - 2);
	else if ((p = find_delimiter(body, end, dash, dashlen)) != NULL)
		p += dashlen;
	else
		return PARSE_MALFORMED;

	for (;;) {
		/* p is just past a delimiter. */
		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			return PARSE_OK;	/* close-delimiter; epilogue ignored */
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
			return PARSE_MALFORMED;
		p += 2;
		if (fd->n >= lim->fields_max)
			return PARSE_TOO_MANY_FIELDS;
		hdr_end = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
		if (hdr_end == NULL)
			return PARSE_MALFORMED;
		if ((st = parse_part_headers(p, (size_t)(hdr_end - p), &h)) !=
		    PARSE_OK)
			return st;
		p = hdr_end + 4;
		/*
		 * The part's data ends at the next delimiter, whose CRLF
		 * belongs to it; hdr_end + 2 lets an empty part's delimiter
		 * share the header block's final CRLF.
		 */
		next = find_delimiter(hdr_end + 2, end, dash, dashlen);
		if (next == NULL)
			return PARSE_MALFORMED;	/* truncated */
		if ((st = add_part(&h, p, next < p ? 0 : (size_t)(next - p),
		    lim, fd)) != PARSE_OK)
			return st;
		p = next + dashlen;
	}
}
