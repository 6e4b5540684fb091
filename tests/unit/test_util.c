/*
 * Unit tests for lib/util.c: number parsing, UTF-8, paths, randomness.
 */
#include <sys/stat.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "testutil.h"

#define ULL_MAX	18446744073709551615ULL

static void
test_parse_uint_basic(void **state)
{
	unsigned long long v = 99;

	assert_int_equal(parse_uint("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse_uint("7", 0, 10, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(parse_uint("00012", 0, 100, &v), 0);
	assert_int_equal(v, 12);
}

static void
test_parse_uint_rejects(void **state)
{
	unsigned long long v = 1234;

	assert_int_equal(parse_uint("", 0, 10, &v), -1);
	assert_int_equal(parse_uint("+1", 0, 10, &v), -1);
	assert_int_equal(parse_uint("-1", 0, 10, &v), -1);
	assert_int_equal(parse_uint("-0", 0, 10, &v), -1);
	assert_int_equal(parse_uint(" 1", 0, 10, &v), -1);
	assert_int_equal(parse_uint("1 ", 0, 10, &v), -1);
	assert_int_equal(parse_uint("1x", 0, 10, &v), -1);
	assert_int_equal(parse_uint("0x1", 0, 100, &v), -1);
	assert_int_equal(parse_uint("1.0", 0, 10, &v), -1);
	/* A failure never writes *out. */
	assert_int_equal(v, 1234);
}

static void
test_parse_uint_bounds(void **state)
{
	unsigned long long v = 0;

	assert_int_equal(parse_uint("10", 0, 10, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(parse_uint("11", 0, 10, &v), -1);
	assert_int_equal(parse_uint("100", 0, 10, &v), -1);
	assert_int_equal(parse_uint("4", 5, 10, &v), -1);
	assert_int_equal(parse_uint("5", 5, 10, &v), 0);
	assert_int_equal(v, 5);
	assert_int_equal(parse_uint("0", 1, 10, &v), -1);
	assert_int_equal(parse_uint("255", 0, 255, &v), 0);
	assert_int_equal(parse_uint("256", 0, 255, &v), -1);
	assert_int_equal(parse_uint("259", 0, 255, &v), -1);
	assert_int_equal(parse_uint("1", 0, 0, &v), -1);
	assert_int_equal(parse_uint("0", 0, 0, &v), 0);
}

static void
test_parse_uint_overflow(void **state)
{
	unsigned long long v = 0;

	assert_int_equal(parse_uint("18446744073709551615", 0, ULL_MAX, &v),
	    0);
	assert_true(v == ULL_MAX);
	assert_int_equal(parse_uint("18446744073709551616", 0, ULL_MAX, &v),
	    -1);
	assert_int_equal(parse_uint("18446744073709551620", 0, ULL_MAX, &v),
	    -1);
	assert_int_equal(parse_uint("99999999999999999999", 0, ULL_MAX, &v),
	    -1);
	assert_int_equal(parse_uint("184467440737095516150", 0, ULL_MAX, &v),
	    -1);
	assert_int_equal(parse_uint("000000000000000000000000000001", 0,
	    ULL_MAX, &v), 0);
	assert_true(v == 1);
}

static void
test_parse_size(void **state)
{
	unsigned long long v = 0;

	assert_int_equal(parse_size("100", 0, 1ULL << 40, &v), 0);
	assert_true(v == 100);
	assert_int_equal(parse_size("16K", 0, 1ULL << 40, &v), 0);
	assert_true(v == 16384);
	assert_int_equal(parse_size("16k", 0, 1ULL << 40, &v), 0);
	assert_true(v == 16384);
	assert_int_equal(parse_size("1M", 0, 1ULL << 40, &v), 0);
	assert_true(v == 1048576);
	assert_int_equal(parse_size("3m", 0, 1ULL << 40, &v), 0);
	assert_true(v == 3145728);
	assert_int_equal(parse_size("0K", 0, 10, &v), 0);
	assert_true(v == 0);
}

static void
test_parse_size_rejects(void **state)
{
	unsigned long long v = 77;

	assert_int_equal(parse_size("", 0, 1ULL << 40, &v), -1);
	assert_int_equal(parse_size("K", 0, 1ULL << 40, &v), -1);
	assert_int_equal(parse_size("M", 0, 1ULL << 40, &v), -1);
	assert_int_equal(parse_size("1G", 0, 1ULL << 40, &v), -1);
	assert_int_equal(parse_size("1KB", 0, 1ULL << 40, &v), -1);
	assert_int_equal(parse_size("1 K", 0, 1ULL << 40, &v), -1);
	assert_int_equal(parse_size("-1K", 0, 1ULL << 40, &v), -1);
	assert_int_equal(parse_size("+1K", 0, 1ULL << 40, &v), -1);
	assert_int_equal(parse_size("1.5M", 0, 1ULL << 40, &v), -1);
	assert_int_equal(v, 77);
}

static void
test_parse_size_bounds(void **state)
{
	unsigned long long v = 0;

	/* Bounds apply after multiplying. */
	assert_int_equal(parse_size("1K", 0, 1024, &v), 0);
	assert_true(v == 1024);
	assert_int_equal(parse_size("1K", 0, 1023, &v), -1);
	assert_int_equal(parse_size("2K", 0, 2047, &v), -1);
	assert_int_equal(parse_size("1024", 0, 1023, &v), -1);
	assert_int_equal(parse_size("1K", 1025, 4096, &v), -1);
	assert_int_equal(parse_size("0", 1, 10, &v), -1);
	assert_int_equal(parse_size("256M", 1, 256ULL * 1024 * 1024, &v), 0);
	assert_true(v == 256ULL * 1024 * 1024);
	assert_int_equal(parse_size("257M", 1, 256ULL * 1024 * 1024, &v), -1);
	/* A multiplication that would overflow. */
	assert_int_equal(parse_size("18446744073709551615K", 0, ULL_MAX, &v),
	    -1);
	assert_int_equal(parse_size("17592186044416M", 0, ULL_MAX, &v), -1);
	assert_int_equal(parse_size("17592186044415M", 0, ULL_MAX, &v), 0);
	assert_true(v == 17592186044415ULL * 1048576ULL);
	/* Longer than any number. */
	assert_int_equal(parse_size("0000000000000000000000000000000000001",
	    0, 10, &v), -1);
}

static void
test_parse_bool(void **state)
{
	int b = 5;

	assert_int_equal(parse_bool("yes", &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(parse_bool("no", &b), 0);
	assert_int_equal(b, 0);
	assert_int_equal(parse_bool("TRUE", &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(parse_bool("False", &b), 0);
	assert_int_equal(b, 0);
	assert_int_equal(parse_bool("1", &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(parse_bool("0", &b), 0);
	assert_int_equal(b, 0);
	b = 5;
	assert_int_equal(parse_bool("", &b), -1);
	assert_int_equal(parse_bool("y", &b), -1);
	assert_int_equal(parse_bool("2", &b), -1);
	assert_int_equal(parse_bool("yes ", &b), -1);
	assert_int_equal(b, 5);
}

#define U8(s)	is_utf8((s), sizeof(s) - 1)

static void
test_is_utf8_valid(void **state)
{
	assert_true(U8(""));
	assert_true(U8("plain ASCII ~\x7f"));
	assert_true(U8("\x00"));			/* NUL is a valid char */
	assert_true(U8("\xc2\x80"));			/* U+0080 */
	assert_true(U8("\xc3\xa9t\xc3\xa9"));		/* été */
	assert_true(U8("\xdf\xbf"));			/* U+07FF */
	assert_true(U8("\xe0\xa0\x80"));		/* U+0800 */
	assert_true(U8("\xe2\x82\xac"));		/* € */
	assert_true(U8("\xed\x9f\xbf"));		/* U+D7FF */
	assert_true(U8("\xee\x80\x80"));		/* U+E000 */
	assert_true(U8("\xef\xbf\xbf"));		/* U+FFFF */
	assert_true(U8("\xf0\x90\x80\x80"));		/* U+10000 */
	assert_true(U8("\xf0\x9f\x98\x80"));		/* 😀 */
	assert_true(U8("\xf4\x8f\xbf\xbf"));		/* U+10FFFF */
}

static void
test_is_utf8_invalid(void **state)
{
	/* Overlong forms. */
	assert_false(U8("\xc0\x80"));
	assert_false(U8("\xc1\xbf"));
	assert_false(U8("\xe0\x80\x80"));
	assert_false(U8("\xe0\x9f\xbf"));
	assert_false(U8("\xf0\x80\x80\x80"));
	assert_false(U8("\xf0\x8f\xbf\xbf"));
	/* Surrogates. */
	assert_false(U8("\xed\xa0\x80"));
	assert_false(U8("\xed\xbf\xbf"));
	assert_false(U8("\xed\xa0\xbd\xed\xb8\x80"));
	/* Beyond U+10FFFF and bytes that never occur. */
	assert_false(U8("\xf4\x90\x80\x80"));
	assert_false(U8("\xf5\x80\x80\x80"));
	assert_false(U8("\xf7\xbf\xbf\xbf"));
	assert_false(U8("\xf8\x88\x80\x80\x80"));
	assert_false(U8("\xfe"));
	assert_false(U8("\xff"));
	/* Stray continuation bytes. */
	assert_false(U8("\x80"));
	assert_false(U8("a\xbf"));
	/* Truncated sequences, also at the very end. */
	assert_false(U8("\xc3"));
	assert_false(U8("\xe2\x82"));
	assert_false(U8("\xf0\x9f\x98"));
	assert_false(U8("abc\xe2"));
	assert_false(U8("\xc3x"));
	assert_false(U8("\xe2\x82x"));
	assert_false(U8("\xf0\x9f\x98x"));
	/* A lead byte followed by another lead byte. */
	assert_false(U8("\xc3\xc3\xa9"));
}

static void
test_is_utf8_len_respected(void **state)
{
	/* Only len bytes are looked at: a truncated length is invalid,
	 * bytes after len are ignored. */
	assert_false(is_utf8("\xc3\xa9", 1));
	assert_true(is_utf8("ab\xff", 2));
	assert_true(is_utf8("\xe2\x82\xac", 3));
	assert_false(is_utf8("\xe2\x82\xac", 2));
}

static void
test_utf8_cut(void **state)
{
	(void)state;
	assert_int_equal(utf8_cut("abc", 3, 5), 3);
	assert_int_equal(utf8_cut("abc", 3, 2), 2);
	/* "é" is 2 bytes: never cut in half. */
	assert_int_equal(utf8_cut("a\xc3\xa9" "b", 4, 2), 1);
	assert_int_equal(utf8_cut("a\xc3\xa9" "b", 4, 3), 3);
	assert_int_equal(utf8_cut("\xe2\x82\xac", 3, 2), 0);
	assert_int_equal(utf8_cut("\xe2\x82\xac", 3, 0), 0);
}

static void
test_utf8_chars(void **state)
{
	assert_int_equal(utf8_chars("", 0), 0);
	assert_int_equal(utf8_chars("abc", 3), 3);
	assert_int_equal(utf8_chars("\xc3\xa9t\xc3\xa9", 5), 3);
	assert_int_equal(utf8_chars("\xe2\x82\xac", 3), 1);
	assert_int_equal(utf8_chars("\xf0\x9f\x98\x80!", 5), 2);
	assert_int_equal(utf8_chars("a\0b", 3), 3);
}

static void
test_path_dir(void **state)
{
	char out[64];

	path_dir(out, sizeof(out), "/var/spool/formdrop/orders");
	assert_string_equal(out, "/var/spool/formdrop");
	path_dir(out, sizeof(out), "/orders");
	assert_string_equal(out, "/");
	path_dir(out, sizeof(out), "orders");
	assert_string_equal(out, ".");
	path_dir(out, sizeof(out), "mail/orders");
	assert_string_equal(out, "mail");
}

static void
test_world_readable(void **state)
{
	char *dir = tu_mkdtemp(), *key;
	unsigned mode = 0;

	tu_write_file(dir, "key.pem", "secret\n");
	key = tu_path(dir, "key.pem");
	chmod(key, 0644);
	chmod(dir, 0755);
	assert_int_equal(is_world_readable(key, &mode), 1);
	assert_int_equal(mode, 0644);
	/* A folder others cannot enter closes it (certbot's archive/). */
	chmod(dir, 0700);
	assert_int_equal(is_world_readable(key, &mode), 0);
	chmod(dir, 0755);
	chmod(key, 0640);
	assert_int_equal(is_world_readable(key, &mode), 0);
	assert_int_equal(is_world_readable("/nonexistent/key", &mode), 0);
	free(key);
	tu_rmtree(dir);
	free(dir);
}

static void
test_path_resolve(void **state)
{
	char out[64];

	assert_int_equal(path_resolve(out, sizeof(out), "/etc/formdrop",
	    "forms"), 0);
	assert_string_equal(out, "/etc/formdrop/forms");
	assert_int_equal(path_resolve(out, sizeof(out), "/etc/formdrop",
	    "/var/spool/x"), 0);
	assert_string_equal(out, "/var/spool/x");
	assert_int_equal(path_resolve(out, sizeof(out), NULL, "rel"), 0);
	assert_string_equal(out, "rel");
	assert_int_equal(path_resolve(out, sizeof(out), "", "rel"), 0);
	assert_string_equal(out, "rel");
}

static void
test_path_resolve_truncation(void **state)
{
	char out[8];

	/* "ab/cdef" is 7 characters + NUL: fits exactly. */
	assert_int_equal(path_resolve(out, sizeof(out), "ab", "cdef"), 0);
	assert_string_equal(out, "ab/cdef");
	/* One more character does not fit: an error, not a guess. */
	assert_int_equal(path_resolve(out, sizeof(out), "ab", "cdefg"), -1);
	assert_int_equal(path_resolve(out, sizeof(out), "abc", "cdef"), -1);
	assert_int_equal(path_resolve(out, sizeof(out), "x", "/abcdefg"), -1);
	assert_int_equal(path_resolve(out, sizeof(out), "x", "/abcdef"), 0);
	assert_string_equal(out, "/abcdef");
	assert_int_equal(path_resolve(out, 1, "x", "y"), -1);
}

static int
all_hex(const char *s)
{
	for (; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

static void
test_random_hex(void **state)
{
	char a[129], b[129];

	memset(a, 'Z', sizeof(a));
	assert_int_equal(random_hex(a, 8), 0);
	assert_int_equal(strlen(a), 16);
	assert_true(all_hex(a));
	assert_int_equal(random_hex(b, 8), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(random_hex(a, 1), 0);
	assert_int_equal(strlen(a), 2);
	assert_int_equal(random_hex(a, 64), 0);
	assert_int_equal(strlen(a), 128);
	assert_true(all_hex(a));
	assert_int_equal(random_hex(a, 0), 0);
	assert_string_equal(a, "");
	assert_int_equal(random_hex(a, 65), -1);
}

static void
test_xstr(void **state)
{
	char *s = xstrdup("hello");

	assert_string_equal(s, "hello");
	free(s);
	s = xstrndup("hello", 3);
	assert_string_equal(s, "hel");
	free(s);
	assert_true(str_casecmp_prefix("Content-Type: x", "content-type"));
	assert_false(str_casecmp_prefix("Content", "content-type"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_uint_basic),
		cmocka_unit_test(test_parse_uint_rejects),
		cmocka_unit_test(test_parse_uint_bounds),
		cmocka_unit_test(test_parse_uint_overflow),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_size_rejects),
		cmocka_unit_test(test_parse_size_bounds),
		cmocka_unit_test(test_parse_bool),
		cmocka_unit_test(test_is_utf8_valid),
		cmocka_unit_test(test_is_utf8_invalid),
		cmocka_unit_test(test_is_utf8_len_respected),
		cmocka_unit_test(test_utf8_chars),
		cmocka_unit_test(test_utf8_cut),
		cmocka_unit_test(test_path_dir),
		cmocka_unit_test(test_world_readable),
		cmocka_unit_test(test_path_resolve),
		cmocka_unit_test(test_path_resolve_truncation),
		cmocka_unit_test(test_random_hex),
		cmocka_unit_test(test_xstr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
