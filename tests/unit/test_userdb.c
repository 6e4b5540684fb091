/*
 * Unit tests for pop3d/userdb.c: checking passwords, and the hash an
 * unknown name is checked against, which must cost what a real user's
 * check costs (else the time of a failed login tells which names exist).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "userdb.h"
#include "testutil.h"

/* A users file with one user, hash made from password and setting. */
static void
load_one(const char *dir, const char *setting, const char *password,
    struct userdb *db)
{
	struct crypt_data cd;
	struct diag d;
	char line[512], *path;

	memset(&cd, 0, sizeof(cd));
	snprintf(line, sizeof(line), "shop:{CRYPT}%s::::box::\n",
	    crypt_r(password, setting, &cd));
	tu_write_file(dir, "users", line);
	path = tu_path(dir, "users");
	diag_init(&d);
	if (userdb_load(path, db, &d) != 0)
		fail_msg("%s", d.text.data);
	diag_free(&d);
	free(path);
}

/* The dummy has the user's scheme, cost and salt, not its value. */
static void
check_dummy_like_user(const char *setting)
{
	char *dir = tu_mkdtemp();
	const char *user_hash, *last;
	struct userdb db;
	size_t prefix;

	load_one(dir, setting, "right", &db);
	/* Scheme and settings: up to the last '$', or DES's 2-byte salt. */
	user_hash = db.v[0].hash;
	last = strrchr(user_hash, '$');
	prefix = last != NULL ? (size_t)(last - user_hash) + 1 :
	    strlen("{CRYPT}") + 2;
	assert_non_null(db.dummy);
	assert_memory_equal(db.dummy, user_hash, prefix);
	assert_string_not_equal(db.dummy, user_hash);
	assert_ptr_equal(userdb_check(&db, "shop", "right"), &db.v[0]);
	assert_null(userdb_check(&db, "shop", "wrong"));
	assert_null(userdb_check(&db, "nobody", "right"));
	userdb_free(&db);
	tu_rmtree(dir);
	free(dir);
}

static void
test_dummy_sha512(void **state)
{
	(void)state;
	check_dummy_like_user("$6$rounds=5000$saltsaltsalt$");
}

/* A DES hash has no '$': the dummy keeps its scheme all the same. */
static void
test_dummy_des(void **state)
{
	(void)state;
	check_dummy_like_user("ab");
}

static void
test_dummy_yescrypt(void **state)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];

	(void)state;
	assert_non_null(crypt_gensalt_rn("$y$", 0, NULL, 0, setting,
	    sizeof(setting)));
	check_dummy_like_user(setting);
}

static void
test_dummy_without_users(void **state)
{
	char *dir = tu_mkdtemp(), *path;
	struct userdb db;
	struct diag d;

	(void)state;
	tu_write_file(dir, "users", "# nobody yet\n");
	path = tu_path(dir, "users");
	diag_init(&d);
	assert_int_equal(userdb_load(path, &db, &d), 0);
	diag_free(&d);
	assert_int_equal(strncmp(db.dummy, "{CRYPT}$y$", 10), 0);
	assert_null(userdb_check(&db, "shop", ""));
	userdb_free(&db);
	tu_rmtree(dir);
	free(dir);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dummy_sha512),
		cmocka_unit_test(test_dummy_yescrypt),
		cmocka_unit_test(test_dummy_des),
		cmocka_unit_test(test_dummy_without_users),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
