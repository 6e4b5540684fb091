/*
 * Small helpers shared by the unit tests: temporary folders, files,
 * Maildirs.  Everything is static inline so that a test using only a few
 * of them compiles without warnings.
 */
#ifndef FORMDROP_TESTUTIL_H
#define FORMDROP_TESTUTIL_H

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The repository root (FORMDROP_SRCDIR), or "." when run by hand. */
static inline const char *
tu_srcdir(void)
{
	const char *s = getenv("FORMDROP_SRCDIR");

	return s != NULL && s[0] != '\0' ? s : ".";
}

/* A fresh temporary folder; the caller frees the returned path. */
static inline char *
tu_mkdtemp(void)
{
	const char *base = getenv("TMPDIR");
	char tmpl[4096];
	char *p;

	snprintf(tmpl, sizeof(tmpl), "%s/formdrop-unit-XXXXXX",
	    base != NULL && base[0] != '\0' ? base : "/tmp");
	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		abort();
	}
	if ((p = realpath(tmpl, NULL)) == NULL) {
		perror("realpath");
		abort();
	}
	return p;
}

static inline int
tu_rm_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st; (void)ftw;
	if (flag == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

/* Remove path and everything under it. */
static inline void
tu_rmtree(const char *path)
{
	if (path != NULL)
		nftw(path, tu_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* dir/rel as a new string. */
static inline char *
tu_path(const char *dir, const char *rel)
{
	size_t n = strlen(dir) + strlen(rel) + 2;
	char *p = malloc(n);

	if (p == NULL)
		abort();
	snprintf(p, n, "%s/%s", dir, rel);
	return p;
}

/* Write len bytes to dir/rel (creating or truncating it). */
static inline void
tu_write_bytes(const char *dir, const char *rel, const void *data,
    size_t len)
{
	char *path = tu_path(dir, rel);
	FILE *fp = fopen(path, "wb");

	if (fp == NULL || fwrite(data, 1, len, fp) != len || fclose(fp) != 0) {
		perror(path);
		abort();
	}
	free(path);
}

static inline void
tu_write_file(const char *dir, const char *rel, const char *text)
{
	tu_write_bytes(dir, rel, text, strlen(text));
}

/* The whole file at path, NUL-terminated; its length in *len. */
static inline char *
tu_read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *p = NULL;
	size_t n = 0, cap = 0, r;

	if (fp == NULL)
		return NULL;
	for (;;) {
		if (cap - n < 4096) {
			cap = cap == 0 ? 8192 : cap * 2;
			if ((p = realloc(p, cap + 1)) == NULL)
				abort();
		}
		if ((r = fread(p + n, 1, cap - n, fp)) == 0)
			break;
		n += r;
	}
	fclose(fp);
	p[n] = '\0';
	if (len != NULL)
		*len = n;
	return p;
}

/* Copy the file src to dir/rel. */
static inline void
tu_copy_file(const char *src, const char *dir, const char *rel)
{
	size_t len;
	char *data = tu_read_file(src, &len);

	if (data == NULL) {
		perror(src);
		abort();
	}
	tu_write_bytes(dir, rel, data, len);
	free(data);
}

static inline void
tu_mkdir(const char *dir, const char *rel)
{
	char *path = tu_path(dir, rel);

	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		perror(path);
		abort();
	}
	free(path);
}

/* A Maildir at dir/rel with tmp/ new/ cur/. */
static inline void
tu_make_maildir(const char *dir, const char *rel)
{
	char *path = tu_path(dir, rel);

	tu_mkdir(dir, rel);
	tu_mkdir(path, "tmp");
	tu_mkdir(path, "new");
	tu_mkdir(path, "cur");
	free(path);
}

/* Number of entries in a folder other than "." and "..", or -1. */
static inline int
tu_count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* The name of the only entry of a folder (malloc'd), or NULL. */
static inline char *
tu_only_entry(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char *name = NULL;

	if (d == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (name != NULL) {
			free(name);
			closedir(d);
			return NULL;
		}
		name = strdup(de->d_name);
	}
	closedir(d);
	return name;
}

/* Number of non-overlapping occurrences of needle in hay[0..len). */
static inline size_t
tu_count_substr(const char *hay, size_t len, const char *needle)
{
	size_t n = 0, nl = strlen(needle);
	const char *p = hay, *end = hay + len, *q;

	while ((size_t)(end - p) >= nl &&
	    (q = memmem(p, (size_t)(end - p), needle, nl)) != NULL) {
		n++;
		p = q + nl;
	}
	return n;
}

/* Number of LF-terminated lines in s[0..len). */
static inline size_t
tu_lines(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (s[i] == '\n')
			n++;
	return n;
}

#endif
