/*
 * The parsed-submission container shared by both body parsers.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "util.h"

void
form_data_init(struct form_data *fd)
{
	memset(fd, 0, sizeof(*fd));
	spool_init(&fd->spool);
}

static void
field_free(struct field *f)
{
	/* Values carry submissions: no byte is left in freed memory. */
	if (f->value != NULL)
		explicit_bzero(f->value, f->len);
	free(f->name);
	free(f->value);
	free(f->filename);
	free(f->ctype);
}

void
form_data_free(struct form_data *fd)
{
	const char *dir;
	size_t i;

	for (i = 0; i < fd->n; i++)
		field_free(&fd->v[i]);
	free(fd->v);
	spool_close(&fd->spool);
	dir = fd->spool_dir;	/* emptied, the same place */
	form_data_init(fd);
	fd->spool_dir = dir;
}

static char *
dup_bytes(const char *s, size_t len)
{
	char *p;

	if ((p = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* Room for one more field: 0 or -1. */
static int
grow(struct form_data *fd)
{
	size_t cap = fd->cap == 0 ? 16 : fd->cap * 2;
	struct field *v;

	if (fd->n < fd->cap)
		return 0;
	if ((v = reallocarray(fd->v, cap, sizeof(*v))) == NULL)
		return -1;
	fd->v = v;
	fd->cap = cap;
	return 0;
}

/* Append a field whose value (for a file: where its content is) is set. */
static int
append(struct form_data *fd, struct field *f, const char *name,
    size_t namelen, const char *value, size_t len, const char *filename,
    const char *ctype)
{
	if (grow(fd) == -1 ||
	    (f->name = dup_bytes(name, namelen)) == NULL ||
	    (f->value = dup_bytes(value, len)) == NULL ||
	    (filename != NULL &&
	    (f->filename = dup_bytes(filename, strlen(filename))) == NULL) ||
	    (ctype != NULL &&
	    (f->ctype = dup_bytes(ctype, strlen(ctype))) == NULL)) {
		field_free(f);
		return -1;
	}
	fd->v[fd->n++] = *f;
	if (filename != NULL)
		fd->nfiles++;
	return 0;
}

struct spool *
form_data_spool(struct form_data *fd)
{
	if (!spool_is_open(&fd->spool) &&
	    spool_open(&fd->spool, fd->spool_dir) == -1)
		return NULL;
	return &fd->spool;
}

int
form_data_add_spooled(struct form_data *fd, const char *name,
    size_t namelen, const char *filename, const char *ctype, off_t off,
    size_t size, const char sha256[65])
{
	struct field f;

	memset(&f, 0, sizeof(f));
	f.size = size;
	f.spool_off = off;
	memcpy(f.sha256, sha256, sizeof(f.sha256));
	return append(fd, &f, name, namelen, "", 0, filename, ctype);
}

int
form_data_add(struct form_data *fd, const char *name, size_t namelen,
    const char *value, size_t len, const char *filename, const char *ctype)
{
	struct field f;
	struct spool *sp;
	char sha[65];
	off_t off;

	if (filename != NULL) {
		if ((sp = form_data_spool(fd)) == NULL ||
		    (off = spool_begin_file(sp)) == -1 ||
		    spool_write(sp, value, len) == -1 ||
		    spool_end_file(sp) == -1 ||
		    sha256_hex(value, len, sha) == -1)
			return -1;
		return form_data_add_spooled(fd, name, namelen, filename,
		    ctype, off, len, sha);
	}
	memset(&f, 0, sizeof(f));
	f.len = len;
	return append(fd, &f, name, namelen, value, len, NULL, NULL);
}

int
form_file_open(const struct form_data *fd, const struct field *f,
    struct spool_reader *rd)
{
	return spool_reader_open(rd, &fd->spool, f->spool_off,
	    (off_t)f->size);
}

void
form_data_remove(struct form_data *fd, size_t i)
{
	if (i >= fd->n)
		return;
	if (fd->v[i].filename != NULL)
		fd->nfiles--;
	field_free(&fd->v[i]);
	memmove(&fd->v[i], &fd->v[i + 1], (fd->n - i - 1) * sizeof(fd->v[0]));
	fd->n--;
}

size_t
form_data_count(const struct form_data *fd, const char *name)
{
	size_t i, n = 0;

	for (i = 0; i < fd->n; i++)
		if (strcmp(fd->v[i].name, name) == 0)
			n++;
	return n;
}

long
form_data_find(const struct form_data *fd, const char *name, size_t k)
{
	size_t i;

	for (i = 0; i < fd->n; i++)
		if (strcmp(fd->v[i].name, name) == 0 && k-- == 0)
			return (long)i;
	return -1;
}

const char *
parse_status_str(enum parse_status st)
{
	static const char *const str[PARSE__MAX] = {
		[PARSE_OK] = "ok",
		[PARSE_MALFORMED] = "malformed body",
		[PARSE_BAD_UTF8] = "invalid UTF-8",
		[PARSE_TOO_MANY_FIELDS] = "too many fields",
		[PARSE_FIELD_TOO_LONG] = "field too long",
		[PARSE_TOO_MANY_FILES] = "too many files",
		[PARSE_FILE_TOO_LARGE] = "file too large",
		[PARSE_NOMEM] = "out of memory",
		[PARSE_STORAGE] = "cannot write the upload spool",
	};

	if (st >= PARSE__MAX)
		return "unknown";
	return str[st];
}

/* A length-prefixed item of the print: no two field lists hash alike. */
static void
print_item(EVP_MD_CTX *ctx, const void *p, size_t len)
{
	uint64_t n = len;

	EVP_DigestUpdate(ctx, &n, sizeof(n));
	EVP_DigestUpdate(ctx, p, len);
}

void
form_data_print(const struct form_data *fd, char out[65])
{
	unsigned char md[32];
	unsigned int len;
	EVP_MD_CTX *ctx;
	size_t i;

	out[0] = '\0';
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return;
	}
	for (i = 0; i < fd->n; i++) {
		const struct field *f = &fd->v[i];

		/* Tagged, so a field never reads as the items of another. */
		print_item(ctx, f->filename != NULL ? "file" : "text", 4);
		print_item(ctx, f->name, strlen(f->name));
		print_item(ctx, f->value, f->len);
		if (f->filename != NULL) {
			print_item(ctx, f->filename, strlen(f->filename));
			print_item(ctx, f->ctype != NULL ? f->ctype : "",
			    f->ctype != NULL ? strlen(f->ctype) : 0);
			print_item(ctx, f->sha256, strlen(f->sha256));
		}
	}
	if (EVP_DigestFinal_ex(ctx, md, &len) == 1)
		hex_encode(md, 32, out);
	EVP_MD_CTX_free(ctx);
}
