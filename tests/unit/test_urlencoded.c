/*
 * Unit tests for lib/urlencoded.c (and lib/form.c, which it fills).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "urlencoded.h"

static const struct form_limits default_limits = {
	.body_max = 1024 * 1024,
	.fields_max = 100,
	.field_max = 16 * 1024,
	.files_max = 4,
	.file_max = 512 * 1024,
};

static enum parse_status
parse_lim(const char *body, const struct form_limits *lim,
    struct form_data *fd)
{
	form_data_init(fd);
	return urlencoded_parse(body, strlen(body), lim, fd);
}

static enum parse_status
parse(const char *body, struct form_data *fd)
{
	return parse_lim(body, &default_limits, fd);
}

/* Check field i: name and (binary) value. */
static void
check_field(const struct form_data *fd, size_t i, const char *name,
    const char *value, size_t len)
{
	assert_true(i < fd->n);
	assert_string_equal(fd->v[i].name, name);
	assert_int_equal(fd->v[i].len, len);
	assert_memory_equal(fd->v[i].value, value, len);
	assert_int_equal(fd->v[i].value[len], '\0');
	assert_null(fd->v[i].filename);
	assert_null(fd->v[i].ctype);
}

static enum parse_status
status_of(const char *body)
{
	struct form_data fd;
	enum parse_status st = parse(body, &fd);

	form_data_free(&fd);
	return st;
}

static void
test_simple(void **state)
{
	struct form_data fd;

	assert_int_equal(parse("name=Ann&email=ann%40example.com", &fd),
	    PARSE_OK);
	assert_int_equal(fd.n, 2);
	assert_int_equal(fd.nfiles, 0);
	check_field(&fd, 0, "name", "Ann", 3);
	check_field(&fd, 1, "email", "ann@example.com", 15);
	form_data_free(&fd);
	assert_int_equal(fd.n, 0);
	assert_null(fd.v);
}

static void
test_empty_body(void **state)
{
	struct form_data fd;

	assert_int_equal(parse("", &fd), PARSE_OK);
	assert_int_equal(fd.n, 0);
	form_data_free(&fd);
	assert_int_equal(parse("&&&", &fd), PARSE_OK);
	assert_int_equal(fd.n, 0);
	form_data_free(&fd);
}

static void
test_plus_and_escapes(void **state)
{
	struct form_data fd;

	assert_int_equal(parse("msg=a+b%20c%2Bd%2be&x=%41%4a%4A%6a", &fd),
	    PARSE_OK);
	assert_int_equal(fd.n, 2);
	check_field(&fd, 0, "msg", "a b c+d+e", 9);
	check_field(&fd, 1, "x", "AJJj", 4);
	form_data_free(&fd);

	/* '+' and escapes in names too; '=' after the first is value. */
	assert_int_equal(parse("first+name=a=b%3D&%26=%25", &fd), PARSE_OK);
	check_field(&fd, 0, "first name", "a=b=", 4);
	check_field(&fd, 1, "&", "%", 1);
	form_data_free(&fd);

	/* CRLF decoded exactly. */
	assert_int_equal(parse("m=line1%0D%0Aline2", &fd), PARSE_OK);
	check_field(&fd, 0, "m", "line1\r\nline2", 12);
	form_data_free(&fd);
}

static void
test_bad_escapes(void **state)
{
	assert_int_equal(status_of("a=%"), PARSE_MALFORMED);
	assert_int_equal(status_of("a=%4"), PARSE_MALFORMED);
	assert_int_equal(status_of("a=%zz"), PARSE_MALFORMED);
	assert_int_equal(status_of("a=%%41"), PARSE_MALFORMED);
	assert_int_equal(status_of("a=%4g"), PARSE_MALFORMED);
	assert_int_equal(status_of("a=%g4"), PARSE_MALFORMED);
	assert_int_equal(status_of("a=x%"), PARSE_MALFORMED);
	assert_int_equal(status_of("a=1&b=%4&c=3"), PARSE_MALFORMED);
	assert_int_equal(status_of("%=1"), PARSE_MALFORMED);
	assert_int_equal(status_of("a%4=1"), PARSE_MALFORMED);
	assert_int_equal(status_of("a=%4&"), PARSE_MALFORMED);
	assert_int_equal(status_of("a=% 41"), PARSE_MALFORMED);
	/* "%41" at the very end is fine. */
	assert_int_equal(status_of("a=%41"), PARSE_OK);
}

static void
test_empty_segments(void **state)
{
	struct form_data fd;

	assert_int_equal(parse("a=1&&b=2&", &fd), PARSE_OK);
	assert_int_equal(fd.n, 2);
	check_field(&fd, 0, "a", "1", 1);
	check_field(&fd, 1, "b", "2", 1);
	form_data_free(&fd);

	assert_int_equal(parse("&a=1", &fd), PARSE_OK);
	assert_int_equal(fd.n, 1);
	check_field(&fd, 0, "a", "1", 1);
	form_data_free(&fd);
}

static void
test_missing_equals(void **state)
{
	struct form_data fd;

	assert_int_equal(parse("flag&b=&c", &fd), PARSE_OK);
	assert_int_equal(fd.n, 3);
	check_field(&fd, 0, "flag", "", 0);
	check_field(&fd, 1, "b", "", 0);
	check_field(&fd, 2, "c", "", 0);
	form_data_free(&fd);
}

static void
test_empty_name(void **state)
{
	assert_int_equal(status_of("=x"), PARSE_MALFORMED);
	assert_int_equal(status_of("="), PARSE_MALFORMED);
	assert_int_equal(status_of("a=1&=x"), PARSE_MALFORMED);
	assert_int_equal(status_of("a=1&="), PARSE_MALFORMED);
}

static void
test_repeated_names(void **state)
{
	struct form_data fd;

	assert_int_equal(parse("item=a&qty=1&item=b&qty=2&item=c", &fd),
	    PARSE_OK);
	assert_int_equal(fd.n, 5);
	check_field(&fd, 0, "item", "a", 1);
	check_field(&fd, 1, "qty", "1", 1);
	check_field(&fd, 2, "item", "b", 1);
	check_field(&fd, 3, "qty", "2", 1);
	check_field(&fd, 4, "item", "c", 1);
	assert_int_equal(form_data_count(&fd, "item"), 3);
	assert_int_equal(form_data_count(&fd, "qty"), 2);
	assert_int_equal(form_data_count(&fd, "nope"), 0);
	assert_int_equal(form_data_find(&fd, "item", 0), 0);
	assert_int_equal(form_data_find(&fd, "item", 1), 2);
	assert_int_equal(form_data_find(&fd, "item", 2), 4);
	assert_int_equal(form_data_find(&fd, "item", 3), -1);
	assert_int_equal(form_data_find(&fd, "nope", 0), -1);
	/* Removal keeps the order. */
	form_data_remove(&fd, 1);
	assert_int_equal(fd.n, 4);
	check_field(&fd, 0, "item", "a", 1);
	check_field(&fd, 1, "item", "b", 1);
	check_field(&fd, 2, "qty", "2", 1);
	check_field(&fd, 3, "item", "c", 1);
	form_data_remove(&fd, 17);	/* out of range: no-op */
	assert_int_equal(fd.n, 4);
	form_data_free(&fd);
}

static void
test_utf8(void **state)
{
	struct form_data fd;

	/* "prénom=Zoë €" with raw and escaped UTF-8. */
	assert_int_equal(parse("pr%C3%A9nom=Zo%c3%ab+%E2%82%AC&"
	    "raw=\xc3\xa9t\xc3\xa9", &fd), PARSE_OK);
	assert_int_equal(fd.n, 2);
	check_field(&fd, 0, "pr\xc3\xa9nom", "Zo\xc3\xab \xe2\x82\xac", 8);
	check_field(&fd, 1, "raw", "\xc3\xa9t\xc3\xa9", 5);
	form_data_free(&fd);
}

static void
test_bad_utf8(void **state)
{
	assert_int_equal(status_of("a=%FF"), PARSE_BAD_UTF8);
	assert_int_equal(status_of("%FF=a"), PARSE_BAD_UTF8);
	assert_int_equal(status_of("a=%C0%80"), PARSE_BAD_UTF8);
	assert_int_equal(status_of("a=%ED%A0%80"), PARSE_BAD_UTF8);
	assert_int_equal(status_of("a=%C3"), PARSE_BAD_UTF8);
	assert_int_equal(status_of("a=\xff"), PARSE_BAD_UTF8);
	assert_int_equal(status_of("a=1&b=%E2%82"), PARSE_BAD_UTF8);
}

static void
test_nul(void **state)
{
	struct form_data fd;

	assert_int_equal(status_of("a%00b=1"), PARSE_MALFORMED);
	assert_int_equal(status_of("%00=1"), PARSE_MALFORMED);
	/* A NUL in a value is kept; validation rejects it later. */
	assert_int_equal(parse("a=x%00y", &fd), PARSE_OK);
	assert_int_equal(fd.n, 1);
	check_field(&fd, 0, "a", "x\0y", 3);
	form_data_free(&fd);
}

static void
test_fields_max(void **state)
{
	struct form_limits lim = default_limits;
	struct form_data fd;

	lim.fields_max = 3;
	assert_int_equal(parse_lim("a=1&b=2&c=3", &lim, &fd), PARSE_OK);
	assert_int_equal(fd.n, 3);
	form_data_free(&fd);
	/* Empty segments do not count. */
	assert_int_equal(parse_lim("&a=1&&b=2&&c=3&&", &lim, &fd), PARSE_OK);
	assert_int_equal(fd.n, 3);
	form_data_free(&fd);
	assert_int_equal(parse_lim("a=1&b=2&c=3&d=4", &lim, &fd),
	    PARSE_TOO_MANY_FIELDS);
	form_data_free(&fd);
	assert_int_equal(parse_lim("a&b&c&d", &lim, &fd),
	    PARSE_TOO_MANY_FIELDS);
	form_data_free(&fd);
	lim.fields_max = 0;
	assert_int_equal(parse_lim("a=1", &lim, &fd), PARSE_TOO_MANY_FIELDS);
	form_data_free(&fd);
	assert_int_equal(parse_lim("", &lim, &fd), PARSE_OK);
	form_data_free(&fd);
}

static void
test_field_max(void **state)
{
	struct form_limits lim = default_limits;
	struct form_data fd;

	lim.field_max = 4;
	assert_int_equal(parse_lim("a=abcd", &lim, &fd), PARSE_OK);
	form_data_free(&fd);
	assert_int_equal(parse_lim("a=abcde", &lim, &fd),
	    PARSE_FIELD_TOO_LONG);
	form_data_free(&fd);
	/* The bound is on the decoded length: 12 bytes encode 4. */
	assert_int_equal(parse_lim("a=%41%42%43%44", &lim, &fd), PARSE_OK);
	assert_int_equal(fd.n, 1);
	check_field(&fd, 0, "a", "ABCD", 4);
	form_data_free(&fd);
	assert_int_equal(parse_lim("a=%41%42%43%44%45", &lim, &fd),
	    PARSE_FIELD_TOO_LONG);
	form_data_free(&fd);
	assert_int_equal(parse_lim("a=++++", &lim, &fd), PARSE_OK);
	form_data_free(&fd);
	/* Field names are bounded by FIELD_NAME_MAX (128), not field_max. */
	assert_int_equal(parse_lim("abcdefgh=1", &lim, &fd), PARSE_OK);
	form_data_free(&fd);
}

static void
test_name_max(void **state)
{
	struct form_data fd;
	char body[300];

	memset(body, 'n', 128);
	strcpy(body + 128, "=v");
	assert_int_equal(parse(body, &fd), PARSE_OK);
	assert_int_equal(strlen(fd.v[0].name), 128);
	form_data_free(&fd);
	memset(body, 'n', 129);
	strcpy(body + 129, "=v");
	assert_int_equal(parse(body, &fd), PARSE_FIELD_TOO_LONG);
	form_data_free(&fd);
}

static void
test_huge_counts(void **state)
{
	struct form_limits lim = default_limits;
	struct form_data fd;
	size_t n = 100000;
	char *body = malloc(2 * n + 8);

	assert_non_null(body);
	lim.fields_max = 5;
	/* 100000 empty segments: all skipped, nothing added. */
	memset(body, '&', n);
	body[n] = '\0';
	assert_int_equal(parse_lim(body, &lim, &fd), PARSE_OK);
	assert_int_equal(fd.n, 0);
	form_data_free(&fd);
	/* 50000 fields against a limit of 5: stops at the sixth. */
	for (size_t i = 0; i < n; i += 2) {
		body[i] = 'a';
		body[i + 1] = '&';
	}
	body[n] = '\0';
	assert_int_equal(parse_lim(body, &lim, &fd), PARSE_TOO_MANY_FIELDS);
	assert_true(fd.n <= 5);
	form_data_free(&fd);
	free(body);
}

static void
test_binary_len(void **state)
{
	struct form_data fd;
	const char body[] = "a=1&b=2";

	/* Only len bytes are parsed. */
	form_data_init(&fd);
	assert_int_equal(urlencoded_parse(body, 3, &default_limits, &fd),
	    PARSE_OK);
	assert_int_equal(fd.n, 1);
	check_field(&fd, 0, "a", "1", 1);
	form_data_free(&fd);
}

static void
test_status_str(void **state)
{
	assert_string_equal(parse_status_str(PARSE_OK), "ok");
	assert_string_equal(parse_status_str(PARSE_BAD_UTF8), "invalid UTF-8");
	assert_string_equal(parse_status_str(PARSE__MAX), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_empty_body),
		cmocka_unit_test(test_plus_and_escapes),
		cmocka_unit_test(test_bad_escapes),
		cmocka_unit_test(test_empty_segments),
		cmocka_unit_test(test_missing_equals),
		cmocka_unit_test(test_empty_name),
		cmocka_unit_test(test_repeated_names),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_bad_utf8),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_fields_max),
		cmocka_unit_test(test_field_max),
		cmocka_unit_test(test_name_max),
		cmocka_unit_test(test_huge_counts),
		cmocka_unit_test(test_binary_len),
		cmocka_unit_test(test_status_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
