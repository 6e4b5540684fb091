/*
 * The multipart/form-data parser, run by the handler worker on untrusted
 * input and fuzzed alone (tests/fuzz/fuzz_multipart.c).  It is fed the
 * body in pieces of any size as they arrive, so a large upload is never
 * held in memory: a field's value is collected up to field_max, a file's
 * content goes straight to the form's spool up to file_max, and a limit
 * is refused the moment it is crossed.
 *
 * A delimiter is CRLF "--" boundary followed by "--" (the last) or by
 * optional white space and CRLF; the same bytes followed by anything
 * else are data.  A boundary has no CR (RFC 2046 bchars), so a CR can
 * only start a delimiter: the matcher never has to look back further
 * than the bytes it is holding.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "bounds.h"
#include "buf.h"
#include "header_param.h"
#include "multipart.h"
#include "util.h"

#define FILENAME_EXT_KEEP	16	/* bytes of ".ext" kept when a name is cut */

/* What the headers of one part say. */
struct part_head {
	char	name[FIELD_NAME_MAX + 1];
	char	filename[FILENAME_SENT_MAX + 1];	/* as sent */
	char	ctype[CTYPE_MAX + 1];
	int	has_name;
	int	has_filename;
};

#define PADDING_MAX	64	/* white space after a boundary; more: 400 */

enum mp_state {
	MP_PREAMBLE,	/* before the first delimiter: ignored */
	MP_AFTER,	/* just after "CRLF--boundary": what follows? */
	MP_HEADERS,	/* a part's header block */
	MP_DATA,	/* a part's content */
	MP_DONE,	/* after the close-delimiter: the epilogue, ignored */
	MP_FAILED
};

struct multipart {
	const struct form_limits *lim;
	struct form_data	*fd;
	enum mp_state		 state, data_state; /* data_state: before MP_AFTER */
	enum parse_status	 error;
	char			 delim[BOUNDARY_MAX + 5];	/* CRLF--boundary */
	size_t			 delim_len;
	size_t			 matched;	/* bytes of delim seen */
	size_t			 assumed;	/* of those, not in the input */
	char			 after[PADDING_MAX + 3];
	size_t			 after_len;
	char			 hdr[PART_HEADERS_MAX + 4];
	size_t			 hdr_len;
	struct part_head	 head;
	/* The current part: a field's value, or a file in the spool. */
	struct buf		 value;
	off_t			 file_off;
	size_t			 file_len;
	int			 file_started;
	EVP_MD_CTX		*sha;
};

/* RFC 2046 bchars: DIGIT / ALPHA / "'()+_,-./:=?" / space. */
static int
is_boundary(const char *b)
{
	size_t len = strlen(b);

	if (len == 0 || len > BOUNDARY_MAX || b[len - 1] == ' ')
		return 0;
	for (; *b != '\0'; b++)
		if (!isalnum((unsigned char)*b) &&
		    strchr("'()+_,-./:=? ", *b) == NULL)
			return 0;
	return 1;
}

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
		/* RFC 2046: 1-70 bchars, not ending in a space. */
		if (!is_boundary(value) || len + 1 > outsz)
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

			/* A NUL would silently cut the name short. */
			if (hi == -1 || (lo = hex_value(q[2])) == -1 ||
			    (hi | lo) == 0)
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
 * Bytes of the UTF-8 character at p when a file name must not show it,
 * else 0: the C1 controls, the line and paragraph separators, and the
 * invisible format characters that reorder or hide text -- bidi marks,
 * embeddings, overrides and isolates, zero-width characters, the soft
 * hyphen, the byte order mark, the tag characters -- with which
 * "invoice\u202Efdp.exe" reads "invoiceexe.pdf".
 */
static size_t
hidden_char_len(const unsigned char *p)
{
	if ((p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) ||
	    (p[0] == 0xc2 && p[1] == 0xad) ||			/* U+00AD */
	    (p[0] == 0xd8 && p[1] == 0x9c))			/* U+061C */
		return 2;
	if ((p[0] == 0xe1 && p[1] == 0xa0 && p[2] == 0x8e) ||	/* U+180E */
	    (p[0] == 0xe2 && p[1] == 0x80 &&
	    ((p[2] >= 0x8b && p[2] <= 0x8f) ||		/* U+200B-U+200F */
	    (p[2] >= 0xa8 && p[2] <= 0xae))) ||		/* U+2028-U+202E */
	    (p[0] == 0xe2 && p[1] == 0x81 &&
	    p[2] >= 0xa0 && p[2] <= 0xaf) ||		/* U+2060-U+206F */
	    (p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf))	/* U+FEFF */
		return 3;
	if (p[0] == 0xf3 && p[1] == 0xa0 && (p[2] == 0x80 || p[2] == 0x81) &&
	    p[3] >= 0x80 && p[3] <= 0xbf)		/* U+E0000-U+E007F */
		return 4;
	return 0;
}

/*
 * Reduce an uploaded file's name to its base name (old browsers send
 * whole paths) with control and hidden characters replaced by "_", so
 * that it is safe to show and to encode into a header.  s is UTF-8.
 */
static void
filename_clean(char *s)
{
	char *base = s, *p;
	size_t n;

	for (p = s; *p != '\0'; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	memmove(s, base, strlen(base) + 1);
	for (p = s; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f)
			*p = '_';
		else if ((n = hidden_char_len((unsigned char *)p)) > 0) {
			*p = '_';
			memmove(p + 1, p + n, strlen(p + n) + 1);
		}
	}
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		s[0] = '\0';
}

/*
 * Cut a name (its folders gone) longer than max bytes, such as a CJK
 * name of more than 85 characters, at a character, keeping a short
 * extension, rather than refuse the customer's whole submission for it.
 */
static void
filename_shorten(char *s, size_t max)
{
	size_t len = strlen(s), ext = 0, stem;
	const char *dot = strrchr(s, '.');

	if (len <= max)
		return;
	if (dot != NULL && dot != s && strlen(dot) <= FILENAME_EXT_KEEP)
		ext = strlen(dot);
	stem = utf8_cut(s, len - ext, max - ext);
	memmove(s + stem, s + len - ext, ext + 1);
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
	char type[32], name[32], value[3 * FILENAME_SENT_MAX + 32];
	char ext[sizeof(value)];
	const char *p = v;
	int r, has_ext = 0;

	if (header_value_token(&p, type, sizeof(type)) == -1 ||
	    strcmp(type, "form-data") != 0)
		return PARSE_MALFORMED;
	while ((r = header_param_next(&p, QUOTING_HTML, name, sizeof(name),
	    value, sizeof(value))) == 1) {
		/* A parameter twice: parsers disagree on which counts, so
		 * a filter in front could read another field than this. */
		if ((strcmp(name, "name") == 0 && h->has_name) ||
		    (strcmp(name, "filename") == 0 && h->has_filename) ||
		    (strcmp(name, "filename*") == 0 && has_ext))
			return PARSE_MALFORMED;
		if (strcmp(name, "name") == 0) {
			if (strlen(value) > FIELD_NAME_MAX)
				return PARSE_FIELD_TOO_LONG;
			memcpy(h->name, value, strlen(value) + 1);
			h->has_name = 1;
		} else if (strcmp(name, "filename") == 0) {
			if (strlen(value) > FILENAME_SENT_MAX)
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
		if (strlen(ext) > FILENAME_SENT_MAX)
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
		} else if (strcasecmp(line, "content-transfer-encoding") ==
		    0) {
			/* Not to be sent (RFC 7578 4.7); an encoded value
			 * taken as it stands would reach the merchant still
			 * encoded, so only the identity encodings pass. */
			if (strcasecmp(v, "7bit") != 0 &&
			    strcasecmp(v, "8bit") != 0 &&
			    strcasecmp(v, "binary") != 0)
				return PARSE_MALFORMED;
		} else if (strcasecmp(line, "content-type") == 0) {
			/* An over-long type is dropped: ctype_clean()
			 * turns the empty string into octet-stream. */
			if (strlen(v) <= CTYPE_MAX)
				memcpy(h->ctype, v, strlen(v) + 1);
		}
	}
	return seen_disposition ? PARSE_OK : PARSE_MALFORMED;
}

static enum parse_status
fail(struct multipart *mp, enum parse_status st)
{
	mp->state = MP_FAILED;
	mp->error = st;
	return st;
}

/* A part's headers are complete: check them and get ready for data. */
static enum parse_status
part_begin(struct multipart *mp)
{
	enum parse_status st;

	if (mp->fd->n >= mp->lim->fields_max)
		return PARSE_TOO_MANY_FIELDS;
	if ((st = parse_part_headers(mp->hdr, mp->hdr_len - 4, &mp->head)) !=
	    PARSE_OK)
		return st;
	/* A text field holds text: a multipart or message inside it is a
	 * malformed or hostile body. */
	if (!mp->head.has_filename &&
	    (strncasecmp(mp->head.ctype, "multipart/", 10) == 0 ||
	    strncasecmp(mp->head.ctype, "message/", 8) == 0))
		return PARSE_MALFORMED;
	buf_reset(&mp->value);
	mp->file_len = 0;
	mp->file_started = 0;
	return PARSE_OK;
}

/* The first byte of a file: count it, and start it in the spool. */
static enum parse_status
file_start(struct multipart *mp)
{
	struct spool *sp;

	if (mp->fd->nfiles >= mp->lim->files_max)
		return PARSE_TOO_MANY_FILES;
	if ((sp = form_data_spool(mp->fd)) == NULL ||
	    (mp->file_off = spool_begin_file(sp)) == -1)
		return PARSE_STORAGE;
	if (EVP_DigestInit_ex(mp->sha, EVP_sha256(), NULL) != 1)
		return PARSE_NOMEM;
	mp->file_started = 1;
	return PARSE_OK;
}

static enum parse_status
part_data(struct multipart *mp, const char *p, size_t n)
{
	enum parse_status st;

	if (n == 0)
		return PARSE_OK;
	if (!mp->head.has_filename) {
		if (mp->value.len + n > mp->lim->field_max)
			return PARSE_FIELD_TOO_LONG;
		return buf_append(&mp->value, p, n) == -1 ? PARSE_NOMEM :
		    PARSE_OK;
	}
	if (!mp->file_started && (st = file_start(mp)) != PARSE_OK)
		return st;
	if (mp->file_len + n > mp->lim->file_max)
		return PARSE_FILE_TOO_LARGE;
	if (spool_write(&mp->fd->spool, p, n) == -1)
		return PARSE_STORAGE;
	if (EVP_DigestUpdate(mp->sha, p, n) != 1)
		return PARSE_NOMEM;
	mp->file_len += n;
	return PARSE_OK;
}

/* The part's delimiter came: add the field or file. */
static enum parse_status
part_end(struct multipart *mp)
{
	const struct part_head *h = &mp->head;
	char filename[sizeof(h->filename)], ctype[CTYPE_MAX + 1], hex[65];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen;
	enum parse_status st;

	if (!h->has_filename) {
		if (!is_utf8(mp->value.data != NULL ? mp->value.data : "",
		    mp->value.len))
			return PARSE_BAD_UTF8;
		return form_data_add(mp->fd, h->name, strlen(h->name),
		    mp->value.data != NULL ? mp->value.data : "",
		    mp->value.len, NULL, NULL) == -1 ? PARSE_NOMEM : PARSE_OK;
	}
	memcpy(filename, h->filename, sizeof(filename));
	filename_clean(filename);
	filename_shorten(filename, FILENAME_MAX_LEN);
	/* A file input left empty: browsers send filename="" and no data. */
	if (filename[0] == '\0' && mp->file_len == 0)
		return PARSE_OK;
	if (filename[0] == '\0')
		snprintf(filename, sizeof(filename), "upload");
	if (!mp->file_started && (st = file_start(mp)) != PARSE_OK)
		return st;	/* an empty file still counts */
	if (spool_end_file(&mp->fd->spool) == -1)
		return PARSE_STORAGE;
	if (EVP_DigestFinal_ex(mp->sha, md, &mdlen) != 1)
		return PARSE_NOMEM;
	hex_encode(md, mdlen, hex);
	memcpy(ctype, h->ctype, sizeof(ctype));
	ctype_clean(ctype);
	return form_data_add_spooled(mp->fd, h->name, strlen(h->name),
	    filename, ctype, mp->file_off, mp->file_len, hex) == -1 ?
	    PARSE_NOMEM : PARSE_OK;
}

/* Bytes that turned out not to be a delimiter: data, or preamble. */
static enum parse_status
not_delimiter(struct multipart *mp, enum mp_state where, const char *p,
    size_t n)
{
	return where == MP_DATA ? part_data(mp, p, n) : PARSE_OK;
}

/*
 * Scan data (or preamble) for the delimiter; bytes that cannot be part
 * of one are passed on at once, a partial match is held in mp->matched.
 * Returns how many bytes of p were used.
 */
static size_t
scan(struct multipart *mp, const char *p, size_t n, enum parse_status *st)
{
	const char *cr;
	size_t i = 0, run;

	*st = PARSE_OK;
	while (i < n) {
		if (mp->matched == 0) {
			cr = memchr(p + i, '\r', n - i);
			run = cr != NULL ? (size_t)(cr - (p + i)) : n - i;
			if ((*st = not_delimiter(mp, mp->state, p + i, run)) !=
			    PARSE_OK)
				return i;
			i += run;
			if (cr == NULL)
				return i;
			mp->matched = 1;
			i++;
			continue;
		}
		if (p[i] == mp->delim[mp->matched]) {
			i++;
			if (++mp->matched == mp->delim_len) {
				mp->data_state = mp->state;
				mp->state = MP_AFTER;
				mp->after_len = 0;
				return i;
			}
			continue;
		}
		/* Not a delimiter: what was held is data; p[i] is looked
		 * at afresh (it may be the CR of the real one). */
		*st = not_delimiter(mp, mp->state, mp->delim + mp->assumed,
		    mp->matched - mp->assumed);
		mp->matched = mp->assumed = 0;
		if (*st != PARSE_OK)
			return i;
	}
	return i;
}

/* After "CRLF--boundary": "--" ends the body, [WSP] CRLF starts a part,
 * anything else makes it all data.  Returns bytes used. */
static size_t
after_delimiter(struct multipart *mp, const char *p, size_t n,
    enum parse_status *st)
{
	size_t i, k;
	char c;

	*st = PARSE_OK;
	for (i = 0; i < n; i++) {
		c = p[i];
		k = mp->after_len;
		int padding = k > 0 && mp->after[0] != '-' &&
		    mp->after[k - 1] != '\r';

		if (padding && k == PADDING_MAX && (c == ' ' || c == '\t')) {
			/* More padding than we hold: refused, never read
			 * as data (that would merge two parts). */
			*st = PARSE_MALFORMED;
			return i;
		}
		if ((k == 0 && (c == '-' || c == ' ' || c == '\t' ||
		    c == '\r')) ||
		    (k == 1 && mp->after[0] == '-' && c == '-') ||
		    (padding && (c == ' ' || c == '\t' || c == '\r')) ||
		    (k > 0 && mp->after[k - 1] == '\r' && c == '\n')) {
			mp->after[mp->after_len++] = c;
		} else {
			/* Data after all.  A CR is looked at afresh. */
			enum mp_state back = mp->data_state;

			*st = not_delimiter(mp, back, mp->delim + mp->assumed,
			    mp->delim_len - mp->assumed);
			if (*st == PARSE_OK)
				*st = not_delimiter(mp, back, mp->after,
				    mp->after_len);
			mp->matched = mp->assumed = 0;
			mp->state = back;
			return i;
		}
		if (mp->after_len == 2 && mp->after[0] == '-') {
			/* The close-delimiter (an empty form has only it). */
			if (mp->data_state == MP_DATA)
				*st = part_end(mp);
			mp->state = MP_DONE;
			return i + 1;
		}
		if (c == '\n') {
			if (mp->data_state == MP_DATA &&
			    (*st = part_end(mp)) != PARSE_OK)
				return i + 1;
			mp->state = MP_HEADERS;
			mp->hdr_len = 0;
			return i + 1;
		}
	}
	return n;
}

/* Collect a header block up to its empty line.  Returns bytes used. */
static size_t
headers(struct multipart *mp, const char *p, size_t n,
    enum parse_status *st)
{
	size_t i;

	*st = PARSE_OK;
	for (i = 0; i < n; i++) {
		if (mp->hdr_len == sizeof(mp->hdr)) {
			*st = PARSE_MALFORMED;
			return i;
		}
		mp->hdr[mp->hdr_len++] = p[i];
		if (mp->hdr_len == 2 && memcmp(mp->hdr, "\r\n", 2) == 0) {
			*st = PARSE_MALFORMED;	/* no headers */
			return i + 1;
		}
		if (mp->hdr_len >= 4 &&
		    memcmp(mp->hdr + mp->hdr_len - 4, "\r\n\r\n", 4) == 0) {
			if ((*st = part_begin(mp)) != PARSE_OK)
				return i + 1;
			/*
			 * The header block's last CRLF may double as the
			 * delimiter's (an empty part sent without its own).
			 */
			mp->state = MP_DATA;
			mp->matched = mp->assumed = 2;
			return i + 1;
		}
	}
	return n;
}

struct multipart *
multipart_new(const char *boundary, const struct form_limits *lim,
    struct form_data *fd)
{
	struct multipart *mp;

	if (!is_boundary(boundary) || (mp = calloc(1, sizeof(*mp))) == NULL)
		return NULL;
	if ((mp->sha = EVP_MD_CTX_new()) == NULL) {
		free(mp);
		return NULL;
	}
	mp->lim = lim;
	mp->fd = fd;
	mp->delim_len = (size_t)snprintf(mp->delim, sizeof(mp->delim),
	    "\r\n--%s", boundary);
	/* The first delimiter may open the body, with no CRLF before it. */
	mp->state = MP_PREAMBLE;
	mp->matched = mp->assumed = 2;
	buf_init(&mp->value, lim->field_max > 0 ? lim->field_max : 1);
	return mp;
}

enum parse_status
multipart_feed(struct multipart *mp, const char *p, size_t n)
{
	enum parse_status st = PARSE_OK;
	size_t used;

	while (n > 0) {
		switch (mp->state) {
		case MP_PREAMBLE:
		case MP_DATA:
			used = scan(mp, p, n, &st);
			break;
		case MP_AFTER:
			used = after_delimiter(mp, p, n, &st);
			break;
		case MP_HEADERS:
			used = headers(mp, p, n, &st);
			break;
		case MP_DONE:
			return PARSE_OK;	/* the epilogue is ignored */
		default:
			return mp->error;
		}
		if (st != PARSE_OK)
			return fail(mp, st);
		p += used;
		n -= used;
	}
	return PARSE_OK;
}

enum parse_status
multipart_finish(struct multipart *mp)
{
	if (mp->state == MP_FAILED)
		return mp->error;
	/* A body that stops before its close-delimiter is truncated. */
	return mp->state == MP_DONE ? PARSE_OK : fail(mp, PARSE_MALFORMED);
}

void
multipart_free(struct multipart *mp)
{
	if (mp == NULL)
		return;
	EVP_MD_CTX_free(mp->sha);
	buf_free(&mp->value);
	free(mp);
}

enum parse_status
multipart_parse(const char *body, size_t len, const char *boundary,
    const struct form_limits *lim, struct form_data *fd)
{
	struct multipart *mp;
	enum parse_status st;

	if (!is_boundary(boundary))
		return PARSE_MALFORMED;
	if ((mp = multipart_new(boundary, lim, fd)) == NULL)
		return PARSE_NOMEM;
	if ((st = multipart_feed(mp, body, len)) == PARSE_OK)
		st = multipart_finish(mp);
	multipart_free(mp);
	return st;
}
