/*
 * libFuzzer target: multipart/form-data.  The input's first line (up to
 * the first '\n', which is dropped) is the Content-Type header value,
 * given to multipart_boundary(); when that finds a boundary, the rest of
 * the input is the body given to multipart_parse() under small limits.
 * Results are checked against the contracts of multipart.h and form.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "multipart.h"
#include "util.h"
#include "fuzz_util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(const struct form_limits *lim, const struct form_data *fd,
    enum parse_status st)
{
	size_t i, files = 0;

	if (st >= PARSE__MAX)
		abort();
	if (fd->n > lim->fields_max || fd->nfiles > lim->files_max)
		abort();
	for (i = 0; i < fd->n; i++) {
		const struct field *f = &fd->v[i];

		/* A file's value is "": its content is in the spool. */
		if (f->name == NULL || f->value == NULL ||
		    f->value[f->len] != '\0' ||
		    (f->filename != NULL && f->len != 0) ||
		    (f->filename == NULL && f->size != 0))
			abort();
		if (f->name[0] == '\0' || strlen(f->name) > FIELD_NAME_MAX ||
		    !is_utf8(f->name, strlen(f->name)))
			abort();
		if ((f->filename == NULL) != (f->ctype == NULL))
			abort();
		if (f->filename == NULL) {
			if (f->len > lim->field_max ||
			    !is_utf8(f->value, f->len))
				abort();
			continue;
		}
		files++;
		/* A base name, safe to show: no path, no control chars. */
		if (f->size > lim->file_max || f->filename[0] == '\0' ||
		    strlen(f->filename) > FILENAME_MAX_LEN ||
		    strpbrk(f->filename, "/\\") != NULL ||
		    strcmp(f->filename, ".") == 0 ||
		    strcmp(f->filename, "..") == 0 ||
		    !is_utf8(f->filename, strlen(f->filename)))
			abort();
		for (const char *p = f->filename; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				abort();
		/* nor the hidden characters that disguise a name */
		if (strstr(f->filename, "\xe2\x80\xae") != NULL ||
		    strstr(f->filename, "\xe2\x81\xa7") != NULL ||
		    strstr(f->filename, "\xef\xbb\xbf") != NULL)
			abort();
		/* A plain "type/subtype". */
		if (strlen(f->ctype) > CTYPE_MAX ||
		    strchr(f->ctype, '/') == NULL ||
		    strchr(f->ctype, '/') == f->ctype ||
		    strpbrk(f->ctype, " \t;\r\n\"") != NULL)
			abort();
	}
	if (files != fd->nfiles)
		abort();
}

/* A file's content in the spool has its recorded size and digest. */
static void
check_spooled(const struct form_data *fd, const struct field *f)
{
	struct spool_reader rd;
	char *content, sha[65];
	size_t have = 0;
	ssize_t n;

	if ((content = malloc(f->size + 1)) == NULL)
		return;
	if (form_file_open(fd, f, &rd) == -1)
		abort();
	while ((n = spool_read(&rd, content + have, f->size + 1 - have)) > 0)
		have += (size_t)n;
	spool_reader_close(&rd);
	if (n != 0 || have != f->size ||
	    sha256_hex(content, f->size, sha) == -1 ||
	    strcmp(sha, f->sha256) != 0)
		abort();
	free(content);
}

/* The body in pieces of Fibonacci sizes (1, 2, 3, 5, 8, ...). */
static enum parse_status
parse_in_pieces(const char *body, size_t len, const char *boundary,
    const struct form_limits *lim, struct form_data *fd)
{
	struct multipart *mp = multipart_new(boundary, lim, fd);
	enum parse_status st = PARSE_OK;
	size_t off = 0, a = 1, b = 2, n;

	if (mp == NULL)
		return PARSE_NOMEM;
	while (off < len && st == PARSE_OK) {
		n = len - off < a ? len - off : a;
		st = multipart_feed(mp, body + off, n);
		off += n;
		n = a + b;
		a = b;
		b = n > 4096 ? 1 : n;
	}
	if (st == PARSE_OK)
		st = multipart_finish(mp);
	multipart_free(mp);
	return st;
}

#define SPLIT_ALL_MAX	256	/* bodies split at every byte */

/* The body in two pieces, cut at cut. */
static enum parse_status
parse_split(const char *body, size_t len, size_t cut, const char *boundary,
    const struct form_limits *lim, struct form_data *fd)
{
	struct multipart *mp = multipart_new(boundary, lim, fd);
	enum parse_status st;

	if (mp == NULL)
		return PARSE_NOMEM;
	if ((st = multipart_feed(mp, body, cut)) == PARSE_OK &&
	    (st = multipart_feed(mp, body + cut, len - cut)) == PARSE_OK)
		st = multipart_finish(mp);
	multipart_free(mp);
	return st;
}

static void
same(const struct form_data *x, const struct form_data *y)
{
	size_t i;

	if (x->n != y->n || x->nfiles != y->nfiles)
		abort();
	for (i = 0; i < x->n; i++) {
		const struct field *f = &x->v[i], *g = &y->v[i];

		if (strcmp(f->name, g->name) != 0 || f->len != g->len ||
		    f->size != g->size ||
		    (f->filename == NULL) != (g->filename == NULL) ||
		    (f->filename == NULL &&
		    memcmp(f->value, g->value, f->len) != 0) ||
		    (f->filename != NULL &&
		    (strcmp(f->filename, g->filename) != 0 ||
		    strcmp(f->ctype, g->ctype) != 0 ||
		    strcmp(f->sha256, g->sha256) != 0)))
			abort();
	}
}

static void
run(const char *body, size_t len, const char *boundary,
    const struct form_limits *lim)
{
	struct form_data fd, pieces;
	enum parse_status st;
	size_t i;

	form_data_init(&fd);
	form_data_init(&pieces);
	st = multipart_parse(body, len, boundary, lim, &fd);
	check(lim, &fd, st);
	for (i = 0; i < fd.n; i++)
		if (fd.v[i].filename != NULL)
			check_spooled(&fd, &fd.v[i]);
	if (parse_in_pieces(body, len, boundary, lim, &pieces) != st)
		abort();
	if (st == PARSE_OK)
		same(&fd, &pieces);
	/* Short bodies: every split into two pieces too. */
	for (i = 1; len <= SPLIT_ALL_MAX && i < len; i++) {
		form_data_free(&pieces);
		form_data_init(&pieces);
		if (parse_split(body, len, i, boundary, lim, &pieces) != st)
			abort();
		if (st == PARSE_OK)
			same(&fd, &pieces);
	}
	if (fuzz_verbose())
		fprintf(stderr, "multipart: boundary \"%s\", fields_max %zu: "
		    "%s, %zu fields, %zu files\n", boundary, lim->fields_max,
		    parse_status_str(st), fd.n, fd.nfiles);
	form_data_free(&fd);
	form_data_free(&pieces);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct form_limits small = {
		64 * 1024, 20, 1024, 3, 4096
	}, tiny = {
		256, 2, 8, 1, 8
	};
	const uint8_t *nl = memchr(data, '\n', size);
	size_t hlen = nl != NULL ? (size_t)(nl - data) : size;
	char *ctype, *body, boundary[BOUNDARY_MAX + 1], *big;
	size_t blen;

	/* A header value is a C string: stop at a NUL, as the edge would. */
	if ((ctype = malloc(hlen + 1)) == NULL)
		return 0;
	memcpy(ctype, data, hlen);
	ctype[hlen] = '\0';
	memset(boundary, 'x', sizeof(boundary));
	if (multipart_boundary(ctype, boundary, sizeof(boundary)) == -1) {
		if (fuzz_verbose())
			fprintf(stderr, "multipart: no boundary\n");
		free(ctype);
		return 0;
	}
	if (memchr(boundary, '\0', sizeof(boundary)) == NULL ||
	    boundary[0] == '\0' || strlen(boundary) > BOUNDARY_MAX)
		abort();
	/* The contract: a too-small out buffer is a failure, not a cut. */
	if ((big = malloc(strlen(boundary))) != NULL) {
		if (multipart_boundary(ctype, big, strlen(boundary)) != -1)
			abort();
		free(big);
	}
	free(ctype);

	/* The body in a buffer of its exact size, so overreads show. */
	blen = nl != NULL ? size - hlen - 1 : 0;
	if ((body = malloc(blen > 0 ? blen : 1)) == NULL)
		return 0;
	if (blen > 0)
		memcpy(body, nl + 1, blen);
	run(body, blen, boundary, &small);
	run(body, blen, boundary, &tiny);
	free(body);
	return 0;
}
