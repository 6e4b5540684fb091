/*
 * Unit tests for lib/spool.c and lib/bio_filters.c: what goes into the
 * spool comes back out byte for byte from any file's start, never in the
 * clear on disk; the filters turn LF into CRLF and copy a stream.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bio_filters.h"
#include "spool.h"
#include "testutil.h"

/* Everything of the file at off (len bytes), read in small pieces. */
static unsigned char *
read_back(const struct spool *sp, off_t off, size_t len, size_t piece)
{
	struct spool_reader rd;
	unsigned char *p = malloc(len + 1);
	size_t have = 0;
	ssize_t n;

	assert_non_null(p);
	assert_int_equal(spool_reader_open(&rd, sp, off, (off_t)len), 0);
	while ((n = spool_read(&rd, p + have, piece)) > 0)
		have += (size_t)n;
	assert_int_equal(n, 0);
	assert_int_equal(have, len);
	spool_reader_close(&rd);
	return p;
}

static void
test_round_trip(void **state)
{
	static const size_t sizes[] = { 0, 1, 15, 16, 17, 100000, 3 };
	unsigned char *data, *got;
	struct spool sp;
	off_t offs[7];
	size_t i, j;

	data = malloc(100000);
	for (j = 0; j < 100000; j++)
		data[j] = (unsigned char)(j * 7 + j / 251);
	assert_int_equal(spool_open(&sp, NULL), 0);
	for (i = 0; i < 7; i++) {
		assert_true((offs[i] = spool_begin_file(&sp)) >= 0);
		assert_int_equal(offs[i] % SPOOL_ALIGN, 0);
		/* Written in two pieces that split a cipher block. */
		assert_int_equal(spool_write(&sp, data, sizes[i] / 3), 0);
		assert_int_equal(spool_write(&sp, data + sizes[i] / 3,
		    sizes[i] - sizes[i] / 3), 0);
		assert_int_equal(spool_end_file(&sp), 0);
	}
	for (i = 0; i < 7; i++) {
		got = read_back(&sp, offs[i], sizes[i], 1 + i * 13);
		assert_memory_equal(got, data, sizes[i]);
		free(got);
	}
	/* Not where no file starts, nor past the end. */
	{
		struct spool_reader rd;

		assert_int_equal(spool_reader_open(&rd, &sp, 1, 1), -1);
		assert_int_equal(spool_reader_open(&rd, &sp, offs[6], 100),
		    -1);
	}
	spool_close(&sp);
	free(data);
}

/* On disk, an unnamed file in the directory, and no plaintext in it. */
static void
test_on_disk_encrypted(void **state)
{
	static const char text[] = "PLAINTEXT-PLAINTEXT-PLAINTEXT-PLAINTEXT";
	char *dir = tu_mkdtemp(), raw[4096], proc[64];
	struct spool sp;
	ssize_t n;
	int fd;

	assert_int_equal(spool_open(&sp, dir), 0);
	assert_int_equal(tu_count_entries(dir), 0);	/* no name */
	for (int i = 0; i < 50; i++)
		assert_int_equal(spool_write(&sp, text, sizeof(text) - 1), 0);
	assert_int_equal(spool_end_file(&sp), 0);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", sp.fd);
	assert_true((fd = open(proc, O_RDONLY)) != -1);
	assert_true((n = read(fd, raw, sizeof(raw))) ==
	    50 * (ssize_t)(sizeof(text) - 1));
	close(fd);
	assert_null(memmem(raw, (size_t)n, "PLAINTEXT", 9));
	spool_close(&sp);
	tu_rmtree(dir);
	free(dir);
}

static char *
mem_text(BIO *b)
{
	char *p;
	long n = BIO_get_mem_data(b, &p);
	char *s = malloc((size_t)n + 1);

	memcpy(s, p, (size_t)n);
	s[n] = '\0';
	return s;
}

static void
test_crlf_and_tee(void **state)
{
	BIO *side = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
	BIO *crlf = bio_crlf_new(), *tee;
	char *s;

	assert_non_null(crlf);
	BIO_push(crlf, side);
	tee = bio_tee_new(crlf);
	assert_non_null(tee);
	BIO_push(tee, out);
	assert_int_equal(bio_write_all(tee, "a\nb", 3), 0);
	assert_int_equal(bio_write_all(tee, "\n\nc\r\n", 5), 0);
	assert_int_equal(BIO_flush(tee), 1);
	s = mem_text(out);
	assert_string_equal(s, "a\nb\n\nc\r\n");
	free(s);
	s = mem_text(side);
	/* A CR already there is left as it is (compose writes none). */
	assert_string_equal(s, "a\r\nb\r\n\r\nc\r\r\n");
	free(s);
	BIO_pop(tee);
	BIO_free(tee);
	BIO_free_all(crlf);
	BIO_free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_on_disk_encrypted),
		cmocka_unit_test(test_crlf_and_tee),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
