/*
 * Unit tests for lib/ratelimit.c: the token buckets shared by the
 * handler's workers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "ratelimit.h"
#include "testutil.h"

#define T0	1.8e9	/* seconds since the epoch */

static int
take(const char *path, const char *client, double now)
{
	return ratelimit_take_at(path, "contact", client, 5, 60, now);
}

/* 5 in a burst, then one every 12 s; each network its own bucket. */
static void
test_bucket(void **state)
{
	char *dir = tu_mkdtemp(), path[4200];
	int i;

	(void)state;
	snprintf(path, sizeof(path), "%s/rate", dir);
	for (i = 0; i < 5; i++)
		assert_int_equal(take(path, "192.0.2.1", T0), 0);
	assert_int_equal(take(path, "192.0.2.1", T0), 12);
	assert_int_equal(take(path, "192.0.2.9", T0), 0);
	assert_int_equal(take(path, "192.0.2.1", T0 + 6), 6);
	assert_int_equal(take(path, "192.0.2.1", T0 + 12), 0);
	tu_rmtree(dir);
	free(dir);
}

/*
 * A clock set back an hour (NTP correcting a fast clock) used to drain
 * the bucket by an hour's worth: 429 for an hour to every network that
 * had sent a form.  Now nothing is gained or lost while time runs back.
 */
static void
test_clock_set_back(void **state)
{
	char *dir = tu_mkdtemp(), path[4200];

	(void)state;
	snprintf(path, sizeof(path), "%s/rate", dir);
	assert_int_equal(take(path, "192.0.2.1", T0 + 3600), 0);
	assert_int_equal(take(path, "192.0.2.1", T0), 0);
	assert_int_equal(take(path, "192.0.2.1", T0 + 1), 0);
	tu_rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket),
		cmocka_unit_test(test_clock_set_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
