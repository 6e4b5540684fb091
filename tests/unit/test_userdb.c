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

/* Load len bytes of text as the users file; the diagnostics, or NULL. */
static char *
load_bytes(const char *text, size_t len, int *ret, struct userdb *db)
{
	char *dir = tu_mkdtemp(), *path = tu_path(dir, "users"), *out;
	struct diag d;
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	fclose(fp);
	diag_init(&d);
	*ret = userdb_load(path, db, &d);
	out = d.text.data != NULL ? strdup(d.text.data) : NULL;
	diag_free(&d);
	tu_rmtree(dir);
	free(dir);
	free(path);
	return out;
}

/* len bytes of text are refused with a diagnostic holding what. */
static void
load_fails(const char *text, size_t len, const char *what)
{
	struct userdb db;
	char *err;
	int r;

	err = load_bytes(text, len, &r, &db);
	assert_int_equal(r, -1);
	assert_non_null(err);
	assert_non_null(strstr(err, what));
	free(err);
}

/*
 * Lines that cannot be taken are errors with their number: too long, or
 * holding a NUL (past 1,023 bytes that read before the line buffer).  A
 * last line without its newline is a line.
 */
static void
test_bad_lines(void **state)
{
	static const char good[] = "shop:{CRYPT}$6$salt$hash::::box::";
	char text[4096], *err;
	struct userdb db;
	size_t n;
	int r;

	(void)state;
	memset(text, 'a', 2000);
	n = 2000 + (size_t)snprintf(text + 2000, sizeof(text) - 2000, "\n%s\n",
	    good);
	load_fails(text, n, "users:1: line too long");

	memset(text, 'a', 1023);
	memcpy(text + 1023, "\0x\n", 3);
	n = 1026 + (size_t)snprintf(text + 1026, sizeof(text) - 1026, "%s\n",
	    good);
	load_fails(text, n, "users:1: NUL byte in the line");

	memcpy(text, "sh\0op", 5);
	n = 5 + (size_t)snprintf(text + 5, sizeof(text) - 5, "%s\n", good + 4);
	load_fails(text, n, "users:1: NUL byte in the line");

	err = load_bytes(good, strlen(good), &r, &db);
	assert_int_equal(r, 0);
	assert_int_equal(db.n, 1);
	assert_string_equal(db.v[0].name, "shop");
	userdb_free(&db);
	free(err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dummy_sha512),
		cmocka_unit_test(test_dummy_yescrypt),
		cmocka_unit_test(test_dummy_des),
		cmocka_unit_test(test_dummy_without_users),
		cmocka_unit_test(test_bad_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
