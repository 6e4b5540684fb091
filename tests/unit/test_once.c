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
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "once.h"
#include "testutil.h"

#define PRINT \
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

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

/* A record written before prints were kept: its id, and no print. */
static void
test_record_without_print(void **state)
{
	char *dir = tu_mkdtemp(), key[ONCE_KEY_HEX + 1], id[ONCE_ID_MAX + 1];
	char pr[ONCE_PRINT_HEX + 1];

	(void)state;
	once_key("order", "old", key);
	tu_write_file(dir, key, "20250101-000000-0000000a\n");
	assert_int_equal(once_peek(dir, key, id, pr), 1);
	assert_string_equal(id, "20250101-000000-0000000a");
	assert_string_equal(pr, "");
	tu_rmtree(dir);
	free(dir);
}

static void
test_claim_finish_replay(void **state)
{
	char *dir = tu_mkdtemp(), key[ONCE_KEY_HEX + 1], id[ONCE_ID_MAX + 1];
	char pr[ONCE_PRINT_HEX + 1];
	struct once first, twin;

	(void)state;
	once_key("order", "n1", key);
	assert_int_equal(once_peek(dir, key, id, pr), 0);
	assert_int_equal(once_begin(&first, dir, key, 0, id, pr), ONCE_NEW);
	/* A twin while the first is delivering: busy, not new. */
	assert_int_equal(once_begin(&twin, dir, key, 0, id, pr), ONCE_BUSY);
	assert_int_equal(once_prepare(&first, "20261129-000000-abcdef01",
	    PRINT), 0);
	assert_int_equal(once_finish(&first), 0);
	assert_int_equal(first.fd, -1);
	assert_int_equal(once_begin(&twin, dir, key, 0, id, pr), ONCE_DONE);
	assert_string_equal(id, "20261129-000000-abcdef01");
	assert_string_equal(pr, PRINT);
	assert_int_equal(once_peek(dir, key, id, pr), 1);
	assert_string_equal(pr, PRINT);
	tu_rmtree(dir);
	free(dir);
}

/*
 * A claim marked delivered whose rename into the record failed (a full
 * disk has room for the mark, not for a directory entry) or never came
 * (the request died): a retry is answered with its id, never delivered
 * again, and the record is made.  A claim left unmarked is taken over.
 */
static void
test_marked_claim_is_a_record(void **state)
{
	char *dir = tu_mkdtemp(), key[ONCE_KEY_HEX + 1], id[ONCE_ID_MAX + 1];
	char pr[ONCE_PRINT_HEX + 1], claim[ONCE_KEY_HEX + 8];
	struct once o;

	(void)state;
	once_key("order", "m1", key);
	snprintf(claim, sizeof(claim), "%s.claim", key);
	tu_write_file(dir, claim, "20261129-000000-0000000b " PRINT " +\n");
	assert_int_equal(once_begin(&o, dir, key, 0, id, pr), ONCE_DONE);
	assert_string_equal(id, "20261129-000000-0000000b");
	assert_string_equal(pr, PRINT);
	assert_int_equal(o.fd, -1);
	assert_int_equal(once_peek(dir, key, id, pr), 1);
	assert_string_equal(id, "20261129-000000-0000000b");

	once_key("order", "m2", key);
	snprintf(claim, sizeof(claim), "%s.claim", key);
	tu_write_file(dir, claim, "20261129-000000-0000000c " PRINT " -\n");
	assert_int_equal(once_begin(&o, dir, key, 0, id, pr), ONCE_NEW);
	once_abort(&o);
	tu_rmtree(dir);
	free(dir);
}

/* once_finish marks the line before the rename: the record holds '+'. */
static void
test_finish_marks(void **state)
{
	char *dir = tu_mkdtemp(), key[ONCE_KEY_HEX + 1], id[ONCE_ID_MAX + 1];
	char pr[ONCE_PRINT_HEX + 1], path[4200], line[256];
	struct once o;
	FILE *f;

	(void)state;
	once_key("order", "m3", key);
	assert_int_equal(once_begin(&o, dir, key, 0, id, pr), ONCE_NEW);
	assert_int_equal(once_prepare(&o, "20261129-000000-0000000d", PRINT),
	    0);
	assert_int_equal(once_finish(&o), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, key);
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_string_equal(line, "20261129-000000-0000000d " PRINT " +\n");
	/* Without a print (it could not be made) the mark is no print. */
	once_key("order", "m4", key);
	assert_int_equal(once_begin(&o, dir, key, 0, id, pr), ONCE_NEW);
	assert_int_equal(once_prepare(&o, "20261129-000000-0000000e", ""), 0);
	assert_int_equal(once_finish(&o), 0);
	assert_int_equal(once_peek(dir, key, id, pr), 1);
	assert_string_equal(id, "20261129-000000-0000000e");
	assert_string_equal(pr, "");
	tu_rmtree(dir);
	free(dir);
}

static void
test_abort_allows_retry(void **state)
{
	char *dir = tu_mkdtemp(), key[ONCE_KEY_HEX + 1], id[ONCE_ID_MAX + 1];
	char pr[ONCE_PRINT_HEX + 1];
	struct once o;

	(void)state;
	once_key("order", "n2", key);
	assert_int_equal(once_begin(&o, dir, key, 0, id, pr), ONCE_NEW);
	once_abort(&o);
	assert_int_equal(o.fd, -1);
	once_abort(&o);			/* twice: harmless */
	assert_int_equal(once_begin(&o, dir, key, 0, id, pr), ONCE_NEW);
	once_abort(&o);
	tu_rmtree(dir);
	free(dir);
}

/* A waiting twin sees the record the first one writes meanwhile. */
static void
test_twin_waits_for_record(void **state)
{
	char *dir = tu_mkdtemp(), key[ONCE_KEY_HEX + 1], id[ONCE_ID_MAX + 1];
	char pr[ONCE_PRINT_HEX + 1];
	struct once first, twin;
	pid_t pid;
	int status;

	(void)state;
	once_key("order", "n3", key);
	assert_int_equal(once_begin(&first, dir, key, 0, id, pr), ONCE_NEW);
	if ((pid = fork()) == 0) {
		usleep(200000);
		_exit(once_prepare(&first, "the-first-id", PRINT) == 0 &&
		    once_finish(&first) == 0 ? 0 : 1);
	}
	close(first.fd);		/* the child holds the lock now */
	assert_int_equal(once_begin(&twin, dir, key, 5000, id, pr), ONCE_DONE);
	assert_string_equal(id, "the-first-id");
	waitpid(pid, &status, 0);
	assert_int_equal(WEXITSTATUS(status), 0);
	tu_rmtree(dir);
	free(dir);
}

/*
 * A claim is held for as long as its request lives, however long its
 * delivery takes (an old claim file is no sign of death); one left by a
 * request that died is taken over at once, even with a dead id in it.
 */
static void
test_claim_lives_with_its_holder(void **state)
{
	char *dir = tu_mkdtemp(), key[ONCE_KEY_HEX + 1], id[ONCE_ID_MAX + 1];
	char pr[ONCE_PRINT_HEX + 1];
	char claim[4096];
	struct once slow, twin;
	struct timespec old[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	int pipefd[2], status;
	char c;
	pid_t pid;

	(void)state;
	once_key("order", "n5", key);
	snprintf(claim, sizeof(claim), "%s/%s.claim", dir, key);
	assert_int_equal(pipe(pipefd), 0);
	if ((pid = fork()) == 0) {
		if (once_begin(&slow, dir, key, 0, id, pr) != ONCE_NEW ||
		    once_prepare(&slow, "20261129-000000-deadbeef",
		    PRINT) == -1)
			_exit(1);
		(void)write(pipefd[1], "c", 1);
		pause();		/* delivering, for ever */
		_exit(0);
	}
	assert_int_equal(read(pipefd[0], &c, 1), 1);
	assert_int_equal(utimensat(AT_FDCWD, claim, old, 0), 0);
	assert_int_equal(once_begin(&twin, dir, key, 100, id, pr), ONCE_BUSY);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	/* Dead before delivering: the claim is taken over, the id replaced. */
	assert_int_equal(once_begin(&twin, dir, key, 0, id, pr), ONCE_NEW);
	assert_int_equal(once_prepare(&twin, "20261129-000001-00000002",
	    PRINT), 0);
	assert_int_equal(once_finish(&twin), 0);
	assert_int_equal(once_peek(dir, key, id, pr), 1);
	assert_string_equal(id, "20261129-000001-00000002");
	tu_rmtree(dir);
	free(dir);
}

/* The records' folder removed under a running handler is made again. */
static void
test_folder_made_again(void **state)
{
	char *dir = tu_mkdtemp(), key[ONCE_KEY_HEX + 1], id[ONCE_ID_MAX + 1];
	char pr[ONCE_PRINT_HEX + 1];
	char sub[4096];
	struct once o;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/once", dir);
	once_key("order", "n6", key);
	assert_int_equal(once_begin(&o, sub, key, 0, id, pr), ONCE_NEW);
	assert_int_equal(once_prepare(&o, "x", PRINT), 0);
	assert_int_equal(once_finish(&o), 0);
	assert_int_equal(once_peek(sub, key, id, pr), 1);
	tu_rmtree(dir);
	free(dir);
}

static void
test_clean(void **state)
{
	char *dir = tu_mkdtemp(), key[ONCE_KEY_HEX + 1], id[ONCE_ID_MAX + 1];
	char pr[ONCE_PRINT_HEX + 1];
	struct once o;

	(void)state;
	once_key("order", "n4", key);
	assert_int_equal(once_begin(&o, dir, key, 0, id, pr), ONCE_NEW);
	assert_int_equal(once_prepare(&o, "x", PRINT), 0);
	assert_int_equal(once_finish(&o), 0);
	assert_int_equal(once_clean(dir, 3600), 0);	/* young: kept */
	assert_int_equal(once_clean(dir, -1), 1);	/* all older than -1 s */
	assert_int_equal(once_peek(dir, key, id, pr), 0);
	tu_rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_claim_finish_replay),
		cmocka_unit_test(test_record_without_print),
		cmocka_unit_test(test_marked_claim_is_a_record),
		cmocka_unit_test(test_finish_marks),
		cmocka_unit_test(test_abort_allows_retry),
		cmocka_unit_test(test_twin_waits_for_record),
		cmocka_unit_test(test_claim_lives_with_its_holder),
		cmocka_unit_test(test_folder_made_again),
		cmocka_unit_test(test_clean),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
