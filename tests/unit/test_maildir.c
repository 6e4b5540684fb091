/*
 * Unit tests for lib/maildir.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "maildir.h"
#include "testutil.h"

struct fixture {
	char	*dir;
	char	*md;		/* dir/Maildir */
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->dir = tu_mkdtemp();
	tu_make_maildir(f->dir, "Maildir");
	f->md = tu_path(f->dir, "Maildir");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	tu_rmtree(f->dir);
	free(f->dir);
	free(f->md);
	free(f);
	return 0;
}

/*
 * The whole of msg delivered through the streamed API, as the handler
 * does: 0 with the name in new/, or -1 with errno set.
 */
static int
maildir_deliver(const char *path, const struct buf *msg, const char *host,
    char *name, size_t namesz)
{
	struct maildir_delivery d;

	if (maildir_begin(&d, path, host) == -1)
		return -1;
	if (msg->len > 0 && BIO_write(d.out, msg->data, (int)msg->len) !=
	    (int)msg->len) {
		maildir_abort(&d);
		return -1;
	}
	return maildir_commit(&d, name, namesz);
}

static void
match(const char *re_src, const char *s)
{
	regex_t re;

	assert_int_equal(regcomp(&re, re_src, REG_EXTENDED | REG_NOSUB), 0);
	if (regexec(&re, s, 0, NULL, 0) != 0)
		fail_msg("\"%s\" does not match %s", s, re_src);
	regfree(&re);
}

static void
test_name_format(void **state)
{
	char a[MAILDIR_NAME_MAX], b[MAILDIR_NAME_MAX];
	unsigned long qa, qb;
	const char *q;

	assert_int_equal(maildir_name(a, sizeof(a), "mail.example.com", 1234,
	    56), 0);
	match("^[0-9]+\\.M[0-9]+P[0-9]+Q[0-9]+R[0-9a-f]{16}\\."
	    "mail\\.example\\.com,S=1234,W=1290$", a);
	assert_int_equal(maildir_name(b, sizeof(b), "mail.example.com", 0, 0),
	    0);
	match("^[0-9]+\\.M[0-9]+P[0-9]+Q[0-9]+R[0-9a-f]{16}\\."
	    "mail\\.example\\.com,S=0,W=0$", b);
	assert_string_not_equal(a, b);
	/* The pid is ours; the counter goes up. */
	{
		char pid[32];

		snprintf(pid, sizeof(pid), "P%ldQ", (long)getpid());
		assert_non_null(strstr(a, pid));
	}
	q = strchr(a, 'Q');
	qa = strtoul(q + 1, NULL, 10);
	q = strchr(b, 'Q');
	qb = strtoul(q + 1, NULL, 10);
	assert_int_equal(qb, qa + 1);
	/* The time is now. */
	assert_true(labs((long)(strtoll(a, NULL, 10) - time(NULL))) < 5);
}

static void
test_name_host_escape(void **state)
{
	char out[MAILDIR_NAME_MAX];

	assert_int_equal(maildir_name(out, sizeof(out), "a/b:c", 10, 2), 0);
	match("^[0-9]+\\.M[0-9]+P[0-9]+Q[0-9]+R[0-9a-f]{16}\\."
	    "a\\\\057b\\\\072c,S=10,W=12$", out);
	assert_null(strchr(out, '/'));
	assert_null(strchr(out, ':'));
	assert_non_null(strstr(out, ".a\\057b\\072c,S="));
}

static void
test_name_too_long(void **state)
{
	char out[MAILDIR_NAME_MAX], small[40], host[300];

	assert_int_equal(maildir_name(small, sizeof(small), "host", 1, 1), -1);
	memset(host, 'h', 200);
	host[200] = '\0';
	assert_int_equal(maildir_name(out, sizeof(out), host, 1, 1), -1);
}

static void
test_name_long_host(void **state)
{
	char out[MAILDIR_NAME_MAX], host[129];

	/* formdrop.conf accepts host names of up to 128 characters; the
	 * name (about 190 characters) fits in MAILDIR_NAME_MAX. */
	memset(host, 'h', 128);
	host[128] = '\0';
	assert_int_equal(maildir_name(out, sizeof(out), host, 1, 1), 0);
	assert_non_null(strstr(out, host));
	assert_non_null(strstr(out, ",S=1,W=2"));
}

static void
test_deliver(void **state)
{
	struct fixture *f = *state;
	const char *text = "From: a@b\nSubject: x\n\nline 1\nline 2\n";
	char name[MAILDIR_NAME_MAX], *path, *newdir, *tmpdir, *content, *only;
	char want[64];
	struct buf msg;
	struct stat st;
	size_t len;

	buf_init(&msg, 4096);
	assert_int_equal(buf_puts(&msg, text), 0);
	assert_int_equal(maildir_deliver(f->md, &msg, "host.example", name,
	    sizeof(name)), 0);
	newdir = tu_path(f->md, "new");
	tmpdir = tu_path(f->md, "tmp");
	assert_int_equal(tu_count_entries(newdir), 1);
	assert_int_equal(tu_count_entries(tmpdir), 0);
	only = tu_only_entry(newdir);
	assert_string_equal(only, name);
	/* S= is the size, W= the size plus one per LF. */
	snprintf(want, sizeof(want), ".host.example,S=%zu,W=%zu",
	    strlen(text), strlen(text) + 5);
	assert_non_null(strstr(name, want));
	assert_int_equal(strlen(strstr(name, want)), strlen(want));
	path = tu_path(newdir, name);
	content = tu_read_file(path, &len);
	assert_int_equal(len, strlen(text));
	assert_memory_equal(content, text, len);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(content);
	free(path);
	free(only);
	free(newdir);
	free(tmpdir);
	buf_free(&msg);
}

static void
test_deliver_binary_and_many(void **state)
{
	struct fixture *f = *state;
	char name[MAILDIR_NAME_MAX], names[5][MAILDIR_NAME_MAX], *newdir;
	char *path, *content;
	struct buf msg;
	size_t len, i;

	buf_init(&msg, 4096);
	assert_int_equal(buf_append(&msg, "a\0b\nc\n\n", 7), 0);
	for (i = 0; i < 5; i++) {
		assert_int_equal(maildir_deliver(f->md, &msg, "h", name,
		    sizeof(name)), 0);
		assert_non_null(strstr(name, ".h,S=7,W=10"));
		strcpy(names[i], name);
	}
	newdir = tu_path(f->md, "new");
	assert_int_equal(tu_count_entries(newdir), 5);
	for (i = 1; i < 5; i++)
		assert_string_not_equal(names[i], names[i - 1]);
	path = tu_path(newdir, names[4]);
	content = tu_read_file(path, &len);
	assert_int_equal(len, 7);
	assert_memory_equal(content, "a\0b\nc\n\n", 7);
	free(content);
	free(path);
	free(newdir);
	buf_free(&msg);
}

static void
test_deliver_empty(void **state)
{
	struct fixture *f = *state;
	char name[MAILDIR_NAME_MAX], *newdir;
	struct buf msg;

	buf_init(&msg, 10);
	assert_int_equal(maildir_deliver(f->md, &msg, "h", name, sizeof(name)),
	    0);
	assert_non_null(strstr(name, ",S=0,W=0"));
	newdir = tu_path(f->md, "new");
	assert_int_equal(tu_count_entries(newdir), 1);
	free(newdir);
}

static void
test_deliver_no_new(void **state)
{
	struct fixture *f = *state;
	char name[MAILDIR_NAME_MAX], *newdir, *tmpdir;
	struct buf msg;

	newdir = tu_path(f->md, "new");
	tmpdir = tu_path(f->md, "tmp");
	assert_int_equal(rmdir(newdir), 0);
	buf_init(&msg, 100);
	assert_int_equal(buf_puts(&msg, "x\n"), 0);
	errno = 0;
	assert_int_equal(maildir_deliver(f->md, &msg, "h", name, sizeof(name)),
	    -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(tu_count_entries(tmpdir), 0);
	assert_false(maildir_is_ready(f->md));
	buf_free(&msg);
	free(newdir);
	free(tmpdir);
}

static void
test_deliver_not_a_maildir(void **state)
{
	struct fixture *f = *state;
	char name[MAILDIR_NAME_MAX], *missing;
	struct buf msg;

	missing = tu_path(f->dir, "nowhere");
	buf_init(&msg, 100);
	assert_int_equal(buf_puts(&msg, "x\n"), 0);
	assert_int_equal(maildir_deliver(missing, &msg, "h", name,
	    sizeof(name)), -1);
	/* A name buffer too small for any name. */
	assert_int_equal(maildir_deliver(f->md, &msg, "h", name, 10), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	free(missing);
	missing = tu_path(f->md, "tmp");
	assert_int_equal(tu_count_entries(missing), 0);
	free(missing);
	missing = tu_path(f->md, "new");
	assert_int_equal(tu_count_entries(missing), 0);
	free(missing);
	buf_free(&msg);
}

static void
test_is_ready(void **state)
{
	struct fixture *f = *state;
	char *cur, *missing;

	assert_true(maildir_is_ready(f->md));
	missing = tu_path(f->dir, "nowhere");
	assert_false(maildir_is_ready(missing));
	free(missing);
	cur = tu_path(f->md, "cur");
	assert_int_equal(rmdir(cur), 0);
	assert_false(maildir_is_ready(f->md));
	free(cur);
}

static void
age_file(const char *path, time_t age)
{
	struct timespec ts[2];

	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - age;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void
test_clean_tmp(void **state)
{
	struct fixture *f = *state;
	char *tmp, *old, *fresh, *mid, *sub;

	tmp = tu_path(f->md, "tmp");
	tu_write_file(tmp, "old", "x");
	tu_write_file(tmp, "fresh", "y");
	tu_write_file(tmp, "mid", "z");
	tu_write_file(tmp, ".hidden", "h");
	tu_mkdir(tmp, "olddir");
	old = tu_path(tmp, "old");
	fresh = tu_path(tmp, "fresh");
	mid = tu_path(tmp, "mid");
	sub = tu_path(tmp, "olddir");
	age_file(old, 37 * 3600);
	age_file(mid, 35 * 3600);
	age_file(sub, 40 * 3600);
	{
		char *hidden = tu_path(tmp, ".hidden");

		age_file(hidden, 40 * 3600);
		free(hidden);
	}
	assert_int_equal(maildir_clean_tmp(f->md, 36 * 3600), 1);
	assert_int_equal(access(old, F_OK), -1);
	assert_int_equal(access(fresh, F_OK), 0);
	assert_int_equal(access(mid, F_OK), 0);
	assert_int_equal(access(sub, F_OK), 0);
	assert_int_equal(tu_count_entries(tmp), 4);
	/* Nothing more to remove. */
	assert_int_equal(maildir_clean_tmp(f->md, 36 * 3600), 0);
	/* A smaller age takes mid too. */
	assert_int_equal(maildir_clean_tmp(f->md, 3600), 1);
	assert_int_equal(access(mid, F_OK), -1);
	free(old);
	free(fresh);
	free(mid);
	free(sub);
	free(tmp);
}

static void
test_clean_tmp_missing(void **state)
{
	struct fixture *f = *state;
	char *missing = tu_path(f->dir, "nowhere");

	assert_int_equal(maildir_clean_tmp(missing, 10), -1);
	free(missing);
}

/* Streamed: written in pieces, in tmp/ without sizes until commit. */
static void
test_stream_commit(void **state)
{
	struct fixture *f = *state;
	struct maildir_delivery d;
	char name[MAILDIR_NAME_MAX], *tmpdir, *newdir, *path, *content;
	size_t i, len = 0;

	tmpdir = tu_path(f->md, "tmp");
	newdir = tu_path(f->md, "new");
	assert_int_equal(maildir_begin(&d, f->md, "host.example"), 0);
	assert_int_equal(tu_count_entries(tmpdir), 1);
	assert_null(strchr(d.base, ','));
	/* 100,000 lines of 10 bytes: far more than the write buffer. */
	for (i = 0; i < 100000; i++)
		assert_int_equal(BIO_write(d.out, "123456789\n", 10), 10);
	assert_int_equal(tu_count_entries(newdir), 0);
	assert_int_equal(maildir_commit(&d, name, sizeof(name)), 0);
	assert_non_null(strstr(name, ",S=1000000,W=1100000"));
	assert_int_equal(strncmp(name, d.base, strlen(d.base)), 0);
	assert_int_equal(tu_count_entries(tmpdir), 0);
	assert_int_equal(tu_count_entries(newdir), 1);
	path = tu_path(newdir, name);
	content = tu_read_file(path, &len);
	assert_int_equal(len, 1000000);
	assert_memory_equal(content + len - 10, "123456789\n", 10);
	free(content);
	free(path);
	free(tmpdir);
	free(newdir);
}

/* Aborted (a composition that failed): nothing anywhere. */
static void
test_stream_abort(void **state)
{
	struct fixture *f = *state;
	struct maildir_delivery d;
	char *tmpdir, *newdir;

	tmpdir = tu_path(f->md, "tmp");
	newdir = tu_path(f->md, "new");
	assert_int_equal(maildir_begin(&d, f->md, "h"), 0);
	assert_int_equal(BIO_write(d.out, "partial\n", 8), 8);
	maildir_abort(&d);
	assert_int_equal(tu_count_entries(tmpdir), 0);
	assert_int_equal(tu_count_entries(newdir), 0);
	free(tmpdir);
	free(newdir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_format),
		cmocka_unit_test(test_name_host_escape),
		cmocka_unit_test(test_name_too_long),
		cmocka_unit_test(test_name_long_host),
		cmocka_unit_test_setup_teardown(test_deliver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deliver_binary_and_many,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_deliver_empty, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_deliver_no_new, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_deliver_not_a_maildir,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_is_ready, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_commit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stream_abort, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_clean_tmp, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_clean_tmp_missing, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
