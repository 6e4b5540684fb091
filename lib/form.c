/*
 * The parsed-submission container shared by both body parsers.
 */
#include <stdlib.h>
#include <string.h>

#include "form.h"

void
form_data_init(struct form_data *fd)
{
	memset(fd, 0, sizeof(*fd));
}

static void
field_free(struct field *f)
{
	free(f->name);
	free(f->value);
	free(f->filename);
	free(f->ctype);
}

void
form_data_free(struct form_data *fd)
{
	size_t i;

	for (i = 0; i < fd->n; i++)
		field_free(&fd->v[i]);
	free(fd->v);
	form_data_init(fd);
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

int
form_data_add(struct form_data *fd, const char *name, size_t namelen,
    const char *value, size_t len, const char *filename, const char *ctype)
{
	struct field f;

	memset(&f, 0, sizeof(f));
	if (fd->n == fd->cap) {
		size_t cap = fd->cap == 0 ? 16 : fd->cap * 2;
		struct field *v;

		if ((v = reallocarray(fd->v, cap, sizeof(*v))) == NULL)
			return -1;
		fd->v = v;
		fd->cap = cap;
	}
	if ((f.name = dup_bytes(name, namelen)) == NULL ||
	    (f.value = dup_bytes(value, len)) == NULL ||
	    (filename != NULL &&
	    (f.filename = dup_bytes(filename, strlen(filename))) == NULL) ||
	    (ctype != NULL &&
	    (f.ctype = dup_bytes(ctype, strlen(ctype))) == NULL)) {
		field_free(&f);
		return -1;
	}
	f.len = len;
	fd->v[fd->n++] = f;
	if (filename != NULL)
		fd->nfiles++;
	return 0;
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
	};

	if (st >= PARSE__MAX)
		return "unknown";
	return str[st];
}
