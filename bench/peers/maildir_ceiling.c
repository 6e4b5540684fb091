/*
 * maildir_ceiling: the raw Maildir delivery ceiling of this machine and
 * file system.  N threads each repeat what a durable Maildir delivery
 * must do at the least: create a file in tmp/, write SIZE bytes, fsync
 * it, close, rename it to new/, fsync new/.  Runs for SECONDS (after
 * WARMUP seconds not counted) and prints one JSON line:
 *   {"threads":N,"ops":..,"seconds":..,"ops_per_s":..,"p50_ms":..,"p99_ms":..}
 *
 * usage: maildir_ceiling MAILDIR THREADS SECONDS [SIZE] [WARMUP]
 * The files it delivers are left in MAILDIR/new (the caller cleans up).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXLAT 2000000

static const char *maildir;
static size_t size = 2048;
static double seconds = 3, warmup = 0.5;
static char *payload;
static double t_start, t_measure, t_end;

struct worker {
	pthread_t th;
	int id;
	unsigned long ops;
	double *lat;
	size_t nlat;
	int err;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *
run(void *arg)
{
	struct worker *w = arg;
	char path[4096], name[256];
	int tmpfd, newfd, fd;
	unsigned long n = 0;
	size_t off;
	ssize_t k;
	double t0, t1;

	snprintf(path, sizeof(path), "%s/tmp", maildir);
	if ((tmpfd = open(path, O_RDONLY | O_DIRECTORY)) == -1) {
		w->err = errno;
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/new", maildir);
	if ((newfd = open(path, O_RDONLY | O_DIRECTORY)) == -1) {
		w->err = errno;
		return NULL;
	}
	for (;;) {
		t0 = now();
		if (t0 >= t_end)
			break;
		snprintf(name, sizeof(name), "%ld.M%ldP%dT%dQ%lu.bench,S=%zu,W=%zu",
		    (long)time(NULL), (long)((t0 - (long)t0) * 1e6),
		    (int)getpid(), w->id, n++, size, size);
		if ((fd = openat(tmpfd, name, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC, 0600)) == -1) {
			w->err = errno;
			break;
		}
		for (off = 0; off < size; off += (size_t)k)
			if ((k = write(fd, payload + off, size - off)) <= 0) {
				w->err = errno;
				break;
			}
		if (fsync(fd) == -1 || close(fd) == -1 ||
		    renameat(tmpfd, name, newfd, name) == -1 ||
		    fsync(newfd) == -1) {
			w->err = errno;
			break;
		}
		t1 = now();
		if (t0 >= t_measure && t1 <= t_end) {
			w->ops++;
			if (w->nlat < MAXLAT)
				w->lat[w->nlat++] = t1 - t0;
		}
	}
	close(tmpfd);
	close(newfd);
	return NULL;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	struct worker *w;
	double *all;
	size_t nall = 0, i;
	unsigned long ops = 0;
	int n, t, err = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: %s MAILDIR THREADS SECONDS [SIZE] "
		    "[WARMUP]\n", argv[0]);
		return 64;
	}
	maildir = argv[1];
	n = atoi(argv[2]);
	seconds = atof(argv[3]);
	if (argc > 4)
		size = (size_t)atol(argv[4]);
	if (argc > 5)
		warmup = atof(argv[5]);
	if (n < 1 || n > 1024 || seconds <= 0 || size < 1)
		return 64;
	payload = malloc(size);
	for (i = 0; i < size; i++)
		payload[i] = (i % 77 == 76) ? '\n' : 'a' + (char)(i % 26);
	w = calloc((size_t)n, sizeof(*w));
	t_start = now();
	t_measure = t_start + warmup;
	t_end = t_measure + seconds;
	for (t = 0; t < n; t++) {
		w[t].id = t;
		w[t].lat = malloc(sizeof(double) * MAXLAT / (size_t)n + 1);
		pthread_create(&w[t].th, NULL, run, &w[t]);
	}
	for (t = 0; t < n; t++) {
		pthread_join(w[t].th, NULL);
		ops += w[t].ops;
		nall += w[t].nlat;
		if (w[t].err)
			err = w[t].err;
	}
	all = malloc(sizeof(double) * (nall + 1));
	for (nall = 0, t = 0; t < n; t++) {
		memcpy(all + nall, w[t].lat, w[t].nlat * sizeof(double));
		nall += w[t].nlat;
	}
	qsort(all, nall, sizeof(double), cmp);
	if (err) {
		fprintf(stderr, "maildir_ceiling: %s\n", strerror(err));
		return 1;
	}
	printf("{\"threads\":%d,\"ops\":%lu,\"seconds\":%.3f,"
	    "\"ops_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f}\n",
	    n, ops, seconds, ops / seconds,
	    nall ? all[nall / 2] * 1e3 : 0.0,
	    nall ? all[(size_t)(nall * 0.99)] * 1e3 : 0.0);
	return 0;
}
