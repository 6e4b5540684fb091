/*
 * Unit tests for lib/json.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "buf.h"
#include "json.h"

static void
expect(const char *s, size_t len, const char *want)
{
	struct buf b;

	buf_init(&b, 4096);
	assert_int_equal(json_string(&b, s, len), 0);
	assert_string_equal(b.data, want);
	assert_int_equal(b.len, strlen(want));
	buf_free(&b);
}

#define EXPECT(lit, want)	expect((lit), sizeof(lit) - 1, (want))

static void
test_plain(void **state)
{
	EXPECT("", "\"\"");
	EXPECT("hello world", "\"hello world\"");
	EXPECT("</script>", "\"</script>\"");
	EXPECT("'single'", "\"'single'\"");
}

static void
test_quotes_backslash(void **state)
{
	EXPECT("say \"hi\"", "\"say \\\"hi\\\"\"");
	EXPECT("C:\\dir\\", "\"C:\\\\dir\\\\\"");
	EXPECT("\\\"", "\"\\\\\\\"\"");
}

static void
test_controls(void **state)
{
	EXPECT("a\nb\rc\td", "\"a\\nb\\rc\\td\"");
	EXPECT("\x01\x1f\x08\x0c", "\"\\u0001\\u001f\\u0008\\u000c\"");
	EXPECT("\x7f", "\"\\u007f\"");
	EXPECT("a\0b", "\"a\\u0000b\"");
}

static void
test_utf8(void **state)
{
	/* Other non-ASCII is written as it is. */
	EXPECT("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	    "\"\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
	/* U+2028 and U+2029 are escaped for <script> safety. */
	EXPECT("a\xe2\x80\xa8" "b\xe2\x80\xa9" "c",
	    "\"a\\u2028b\\u2029c\"");
	/* Neighbours are not. */
	EXPECT("\xe2\x80\xa7\xe2\x80\xaa", "\"\xe2\x80\xa7\xe2\x80\xaa\"");
	EXPECT("\xe2\x80\xa8\xe2\x80\xa8", "\"\\u2028\\u2028\"");
}

static void
test_len_and_cstring(void **state)
{
	struct buf b;

	buf_init(&b, 100);
	assert_int_equal(json_string(&b, "abc", 2), 0);
	assert_string_equal(b.data, "\"ab\"");
	buf_reset(&b);
	assert_int_equal(json_cstring(&b, "x\"y"), 0);
	assert_string_equal(b.data, "\"x\\\"y\"");
	/* Appends to what is there. */
	assert_int_equal(json_cstring(&b, "z"), 0);
	assert_string_equal(b.data, "\"x\\\"y\"\"z\"");
	buf_free(&b);
}

static void
test_bound(void **state)
{
	struct buf b;

	buf_init(&b, 6);
	assert_int_equal(json_cstring(&b, "abcd"), 0);
	assert_string_equal(b.data, "\"abcd\"");
	buf_reset(&b);
	assert_int_equal(json_cstring(&b, "abcde"), -1);
	buf_reset(&b);
	assert_int_equal(json_cstring(&b, "\x01"), -1);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_quotes_backslash),
		cmocka_unit_test(test_controls),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_len_and_cstring),
		cmocka_unit_test(test_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
