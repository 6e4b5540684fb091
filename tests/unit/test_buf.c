/*
 * Unit tests for lib/buf.c: bounded growable buffers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "buf.h"

static void
test_init_empty(void **state)
{
	struct buf b;

	buf_init(&b, 100);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_int_equal(b.max, 100);
	buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.max, 100);
}

static void
test_append_nul_terminated(void **state)
{
	struct buf b;

	buf_init(&b, 100);
	assert_int_equal(buf_append(&b, "abc", 3), 0);
	assert_int_equal(b.len, 3);
	assert_string_equal(b.data, "abc");
	assert_int_equal(buf_append(&b, "de", 2), 0);
	assert_int_equal(b.len, 5);
	assert_int_equal(b.data[5], '\0');
	assert_string_equal(b.data, "abcde");
	assert_true(b.cap >= b.len + 1);
	buf_free(&b);
}

static void
test_binary_safe(void **state)
{
	struct buf b;
	const char bin[] = { 'a', '\0', 'b', '\0', 'c' };

	buf_init(&b, 100);
	assert_int_equal(buf_append(&b, bin, sizeof(bin)), 0);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, bin, 5);
	assert_int_equal(b.data[5], '\0');
	assert_int_equal(buf_putc(&b, '\0'), 0);
	assert_int_equal(b.len, 6);
	buf_free(&b);
}

static void
test_append_zero_bytes(void **state)
{
	struct buf b;

	buf_init(&b, 10);
	assert_int_equal(buf_append(&b, "", 0), 0);
	assert_int_equal(b.len, 0);
	assert_non_null(b.data);
	assert_string_equal(b.data, "");
	buf_free(&b);
}

static void
test_bound_exact(void **state)
{
	struct buf b;

	buf_init(&b, 5);
	assert_int_equal(buf_append(&b, "12345", 5), 0);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "12345");
	/* Full: even one more byte fails, and nothing changes. */
	assert_int_equal(buf_putc(&b, 'x'), -1);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "12345");
	/* Zero bytes still fit. */
	assert_int_equal(buf_append(&b, "", 0), 0);
	assert_true(b.cap <= 6);
	buf_free(&b);
}

static void
test_bound_past_max_unchanged(void **state)
{
	struct buf b;

	buf_init(&b, 8);
	assert_int_equal(buf_puts(&b, "abcde"), 0);
	assert_int_equal(buf_puts(&b, "fghi"), -1);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "abcde");
	assert_int_equal(buf_append(&b, "xyz", 3), 0);
	assert_string_equal(b.data, "abcdexyz");
	assert_int_equal(buf_putc(&b, '!'), -1);
	assert_string_equal(b.data, "abcdexyz");
	buf_free(&b);
}

static void
test_bound_huge_length(void **state)
{
	struct buf b;

	buf_init(&b, 16);
	assert_int_equal(buf_puts(&b, "ab"), 0);
	/* A length that would overflow len + n must fail cleanly. */
	assert_int_equal(buf_append(&b, "x", (size_t)-1), -1);
	assert_int_equal(buf_append(&b, "x", (size_t)-1 - 1), -1);
	assert_int_equal(b.len, 2);
	assert_string_equal(b.data, "ab");
	buf_free(&b);
}

static void
test_zero_max(void **state)
{
	struct buf b;

	buf_init(&b, 0);
	assert_int_equal(buf_putc(&b, 'a'), -1);
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_append(&b, "", 0), 0);
	assert_string_equal(b.data, "");
	buf_free(&b);
}

static void
test_growth_large(void **state)
{
	struct buf b;
	size_t i;

	buf_init(&b, 100000);
	for (i = 0; i < 100000; i++)
		assert_int_equal(buf_putc(&b, (char)('a' + i % 26)), 0);
	assert_int_equal(b.len, 100000);
	assert_int_equal(b.data[99999], 'a' + 99999 % 26);
	assert_int_equal(b.data[100000], '\0');
	assert_true(b.cap <= 100001);
	assert_int_equal(buf_putc(&b, 'x'), -1);
	assert_int_equal(b.len, 100000);
	buf_free(&b);
}

static void
test_printf(void **state)
{
	struct buf b;

	buf_init(&b, 100);
	assert_int_equal(buf_printf(&b, "%d-%s-%zu", 42, "x", (size_t)7), 0);
	assert_string_equal(b.data, "42-x-7");
	assert_int_equal(b.len, 6);
	assert_int_equal(buf_printf(&b, "[%05.1f]", 3.25), 0);
	assert_string_equal(b.data, "42-x-7[003.2]");
	assert_int_equal(b.len, strlen("42-x-7[003.2]"));
	buf_free(&b);
}

static void
test_printf_empty(void **state)
{
	struct buf b;

	buf_init(&b, 4);
	assert_int_equal(buf_printf(&b, "%s", ""), 0);
	assert_int_equal(b.len, 0);
	assert_non_null(b.data);
	assert_string_equal(b.data, "");
	buf_free(&b);
}

static void
test_printf_bound(void **state)
{
	struct buf b;

	buf_init(&b, 10);
	assert_int_equal(buf_puts(&b, "abc"), 0);
	assert_int_equal(buf_printf(&b, "%s", "12345678"), -1);
	assert_int_equal(b.len, 3);
	assert_string_equal(b.data, "abc");
	assert_int_equal(buf_printf(&b, "%s", "1234567"), 0);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "abc1234567");
	assert_int_equal(buf_printf(&b, "%c", 'z'), -1);
	assert_string_equal(b.data, "abc1234567");
	buf_free(&b);
}

static void
test_reset(void **state)
{
	struct buf b;

	buf_init(&b, 10);
	buf_reset(&b);		/* on an empty buffer: no crash */
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_puts(&b, "hello"), 0);
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_int_equal(buf_puts(&b, "0123456789"), 0);
	assert_string_equal(b.data, "0123456789");
	buf_free(&b);
}

static void
test_steal(void **state)
{
	struct buf b;
	char *s;

	buf_init(&b, 50);
	assert_int_equal(buf_puts(&b, "stolen"), 0);
	s = buf_steal(&b);
	assert_non_null(s);
	assert_string_equal(s, "stolen");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_int_equal(b.max, 50);
	/* The buffer is usable again and independent of s. */
	assert_int_equal(buf_puts(&b, "new"), 0);
	assert_string_equal(b.data, "new");
	assert_string_equal(s, "stolen");
	free(s);
	buf_free(&b);
}

static void
test_steal_empty(void **state)
{
	struct buf b;
	char *s;

	buf_init(&b, 50);
	s = buf_steal(&b);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
	buf_free(&b);
}

static void
test_free_then_reuse(void **state)
{
	struct buf b;

	buf_init(&b, 20);
	assert_int_equal(buf_puts(&b, "abc"), 0);
	buf_free(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_puts(&b, "def"), 0);
	assert_string_equal(b.data, "def");
	buf_free(&b);
	buf_free(&b);		/* twice is harmless */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_empty),
		cmocka_unit_test(test_append_nul_terminated),
		cmocka_unit_test(test_binary_safe),
		cmocka_unit_test(test_append_zero_bytes),
		cmocka_unit_test(test_bound_exact),
		cmocka_unit_test(test_bound_past_max_unchanged),
		cmocka_unit_test(test_bound_huge_length),
		cmocka_unit_test(test_zero_max),
		cmocka_unit_test(test_growth_large),
		cmocka_unit_test(test_printf),
		cmocka_unit_test(test_printf_empty),
		cmocka_unit_test(test_printf_bound),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_steal),
		cmocka_unit_test(test_steal_empty),
		cmocka_unit_test(test_free_then_reuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
