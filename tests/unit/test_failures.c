/*
 * Unit tests for pop3d/failures.c: failed logins counted per address in
 * a sliding window, each failure ageing out on its own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

#include "bounds.h"
#include "failures.h"

#define T0	1700000000

static int
reset(void **state)
{
	failures_clear();
	return 0;
}

static void
test_counts_within_window(void **state)
{
	assert_int_equal(failures_recent("192.0.2.1", T0), 0);
	failures_add("192.0.2.1", 2, T0);
	failures_add("192.0.2.1", 1, T0 + 60);
	assert_int_equal(failures_recent("192.0.2.1", T0 + 60), 3);
	/* Other addresses are not affected. */
	assert_int_equal(failures_recent("192.0.2.2", T0 + 60), 0);
	assert_int_equal(failures_recent("", T0 + 60), 0);
	/* The first two age out; the third is still in the window. */
	assert_int_equal(failures_recent("192.0.2.1",
	    T0 + POP3_FAIL_MEMORY), 1);
	assert_int_equal(failures_recent("192.0.2.1",
	    T0 + 60 + POP3_FAIL_MEMORY), 0);
}

/*
 * A mail client with an old password polling every 10 minutes: one
 * failure at a time, never more than two in the window, however long it
 * goes on (the count used to grow while failures came less than 15
 * minutes apart, and locked the address out after max_login_failures).
 */
static void
test_slow_failures_never_add_up(void **state)
{
	time_t t = T0;
	int i;

	for (i = 0; i < 200; i++, t += 10 * 60) {
		failures_add("2001:db8::1", 1, t);
		assert_true(failures_recent("2001:db8::1", t) <= 2);
	}
	assert_int_equal(failures_recent("2001:db8::1", t - 10 * 60), 2);
}

static void
test_burst_is_bounded(void **state)
{
	/* A session reports at most POP3_EXIT_FAILURES_MAX at once. */
	failures_add("192.0.2.9", 1000, T0);
	assert_int_equal(failures_recent("192.0.2.9", T0),
	    POP3_EXIT_FAILURES_MAX);
	failures_add("192.0.2.9", 5, T0 + 1);
	assert_int_equal(failures_recent("192.0.2.9", T0 + 1),
	    POP3_EXIT_FAILURES_MAX);
}

/* A full table forgets the address whose newest failure is oldest. */
static void
test_table_full(void **state)
{
	char addr[64];
	int i;

	failures_add("198.51.100.1", 3, T0);
	for (i = 0; i < 5000; i++) {
		snprintf(addr, sizeof(addr), "10.0.%d.%d", i / 256, i % 256);
		failures_add(addr, 1, T0 + 1 + i / 1000);
	}
	assert_int_equal(failures_recent("198.51.100.1", T0 + 10), 0);
	assert_int_equal(failures_recent("10.0.19.135", T0 + 10), 1);

	/* Not the first place, nor the first added: the stalest. */
	failures_clear();
	failures_add("192.0.2.1", 1, T0 + 2);
	failures_add("192.0.2.2", 1, T0);
	for (i = 0; i < 4096 - 2; i++) {	/* failures.c's table, full */
		snprintf(addr, sizeof(addr), "10.1.%d.%d", i / 256, i % 256);
		failures_add(addr, 1, T0 + 2);
	}
	failures_add("203.0.113.9", 1, T0 + 3);
	assert_int_equal(failures_recent("192.0.2.2", T0 + 3), 0);
	assert_int_equal(failures_recent("192.0.2.1", T0 + 3), 1);
	assert_int_equal(failures_recent("203.0.113.9", T0 + 3), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_counts_within_window, reset),
		cmocka_unit_test_setup(test_slow_failures_never_add_up, reset),
		cmocka_unit_test_setup(test_burst_is_bounded, reset),
		cmocka_unit_test_setup(test_table_full, reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
