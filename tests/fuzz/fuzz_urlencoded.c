/*
 * libFuzzer target: application/x-www-form-urlencoded bodies.
 * The input is the body, parsed under small, tiny and default limits;
 * every successful parse is checked against the contract of urlencoded.h
 * and form.h (bounds kept, names and values UTF-8, values NUL-terminated).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "urlencoded.h"
#include "util.h"
#include "fuzz_util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(const struct form_limits *lim, const struct form_data *fd,
    enum parse_status st)
{
	size_t i;

	if (st >= PARSE__MAX || parse_status_str(st) == NULL)
		abort();
	if (fd->n > lim->fields_max || fd->nfiles != 0)
		abort();
	for (i = 0; i < fd->n; i++) {
		const struct field *f = &fd->v[i];

		if (f->name == NULL || f->value == NULL ||
		    f->filename != NULL || f->ctype != NULL)
			abort();
		if (f->name[0] == '\0' || strlen(f->name) > FIELD_NAME_MAX ||
		    !is_utf8(f->name, strlen(f->name)))
			abort();
		if (f->len > lim->field_max || f->value[f->len] != '\0' ||
		    !is_utf8(f->value, f->len))
			abort();
	}
}

static void
run(const char *body, size_t len, const struct form_limits *lim)
{
	struct form_data fd;
	enum parse_status st;

	form_data_init(&fd);
	st = urlencoded_parse(body, len, lim, &fd);
	check(lim, &fd, st);
	if (fuzz_verbose())
		fprintf(stderr, "urlencoded: fields_max %zu field_max %zu: "
		    "%s, %zu fields\n", lim->fields_max, lim->field_max,
		    parse_status_str(st), fd.n);
	if (st == PARSE_OK && fd.n > 0) {
		/* The other form_data operations on what came out. */
		(void)form_data_count(&fd, fd.v[0].name);
		(void)form_data_find(&fd, fd.v[0].name, 1);
		form_data_remove(&fd, fd.n / 2);
	}
	form_data_free(&fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct form_limits small = {
		64 * 1024, 50, 1024, 0, 0
	}, tiny = {
		64, 2, 3, 0, 0
	}, defaults = {
		DEFAULT_BODY_MAX, DEFAULT_FIELDS_MAX, DEFAULT_FIELD_MAX,
		DEFAULT_FILES_MAX, DEFAULT_FILE_MAX
	};
	const char *body = (const char *)data;

	run(body, size, &small);
	run(body, size, &tiny);
	run(body, size, &defaults);
	return 0;
}
