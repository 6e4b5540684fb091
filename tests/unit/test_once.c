/*
 * Unit tests for lib/once.c: the idempotency records behind exactly-once
 * submissions.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "once.h"
#include "testutil.h"

static void
test_key(void **state)
{
	char a[ONCE_KEY_HEX + 1], b[ONCE_KEY_HEX + 1], c[ONCE_KEY_HEX + 1];

	(void)state;
	once_key("order", "abc", a);
	once_key("order", "abc", b);
	once_key("contact", "abc", c);
	assert_int_equal(strlen(a), ONCE_KEY_HEX);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);	/* forms never share keys */
}

static void
test_claim_finish_replay(void **state)
{
	char *dir = tu_mkdtemp(), key[ONCE_KEY_HEX + 1], id[ONCE_ID_MAX + 1];

	(void)state;
	once_key("order", "n1", key);
	assert_int_equal(once_peek(dir, key, id), 0);
	assert_int_equal(once_begin(dir, key, 0, id), ONCE_NEW);
	/* A twin while the first is delivering: busy, not new. */
	assert_int_equal(once_begin(dir, key, 0, id), ONCE_BUSY);
	assert_int_equal(once_finish(dir, key, "20261129-000000-abcdef01"), 0);
	assert_int_equal(once_begin(dir, key, 0, id), ONCE_DONE);
	assert_string_equal(id, "20261129-000000-abcdef01");
	assert_int_equal(once_peek(dir, key, id), 1);
	tu_rmtree(dir);
	free(dir);
}

static void
test_abort_allows_retry(void **state)
{
	char *dir = tu_mkdtemp(), key[ONCE_KEY_HEX + 1], id[ONCE_ID_MAX + 1];

	(void)state;
	once_key("order", "n2", key);
	assert_int_equal(once_begin(dir, key, 0, id), ONCE_NEW);
	once_abort(dir, key);
	assert_int_equal(once_begin(dir, key, 0, id), ONCE_NEW);
	tu_rmtree(dir);
	free(dir);
}

/* A waiting twin sees the record the first one writes meanwhile. */
static void
test_twin_waits_for_record(void **state)
{
	char *dir = tu_mkdtemp(), key[ONCE_KEY_HEX + 1], id[ONCE_ID_MAX + 1];
	pid_t pid;
	int status;

	(void)state;
	once_key("order", "n3", key);
	assert_int_equal(once_begin(dir, key, 0, id), ONCE_NEW);
	if ((pid = fork()) == 0) {
		usleep(200000);
		_exit(once_finish(dir, key, "the-first-id") == 0 ? 0 : 1);
	}
	assert_int_equal(once_begin(dir, key, 5000, id), ONCE_DONE);
	assert_string_equal(id, "the-first-id");
	waitpid(pid, &status, 0);
	assert_int_equal(WEXITSTATUS(status), 0);
	tu_rmtree(dir);
	free(dir);
}

static void
test_clean(void **state)
{
	char *dir = tu_mkdtemp(), key[ONCE_KEY_HEX + 1], id[ONCE_ID_MAX + 1];

	(void)state;
	once_key("order", "n4", key);
	assert_int_equal(once_begin(dir, key, 0, id), ONCE_NEW);
	assert_int_equal(once_finish(dir, key, "x"), 0);
	assert_int_equal(once_clean(dir, 3600), 0);	/* young: kept */
	assert_int_equal(once_clean(dir, -1), 1);	/* all older than -1 s */
	assert_int_equal(once_peek(dir, key, id), 0);
	tu_rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_claim_finish_replay),
		cmocka_unit_test(test_abort_allows_retry),
		cmocka_unit_test(test_twin_waits_for_record),
		cmocka_unit_test(test_clean),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
