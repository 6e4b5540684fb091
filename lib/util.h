/*
 * Small helpers shared by every module: bounded number parsing, UTF-8
 * validation, path joining, random identifiers, allocation that cannot
 * fail silently.
 */
#ifndef FORMDROP_UTIL_H
#define FORMDROP_UTIL_H

#include <stddef.h>
#include <time.h>

/* Parse a decimal number in [min, max]; 0 on success, -1 otherwise. */
int	parse_uint(const char *s, unsigned long long min,
	    unsigned long long max, unsigned long long *out);
/* The same with an optional K or M suffix (binary multiples). */
int	parse_size(const char *s, unsigned long long min,
	    unsigned long long max, unsigned long long *out);
/* Parse "yes"/"no"/"true"/"false"/"1"/"0": 0 on success, -1 otherwise. */
int	parse_bool(const char *s, int *out);

/* 1 if s[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
int	is_utf8(const char *s, size_t len);
/* Number of code points in valid UTF-8 s[0..len). */
size_t	utf8_chars(const char *s, size_t len);
/* The length of s[0..len) cut to at most max bytes, whole characters. */
size_t	utf8_cut(const char *s, size_t len, size_t max);

/*
 * Join dir and rel into out unless rel is absolute.  0 on success, -1 when
 * the result does not fit (a truncated path is an error, never a guess).
 */
int	path_resolve(char *out, size_t outsz, const char *dir, const char *rel);
/* The folder holding path: "a/b" gives "a", "/b" gives "/", "b" ".". */
void	path_dir(char *out, size_t outsz, const char *path);

/* The value of hex digit c, or -1. */
int	hex_value(char c);
/* n bytes as 2*n lower-case hex digits + NUL into out. */
void	hex_encode(const unsigned char *in, size_t n, char *out);
/* SHA-256 of data as 64 hex digits + NUL; 0 or -1. */
int	sha256_hex(const void *data, size_t len, char out[65]);

/* Fill out with 2*n hex digits from the kernel's random source + NUL. */
int	random_hex(char *out, size_t n);

/* Write all len bytes, retrying on EINTR and short writes: 0 or -1. */
int	write_all(int fd, const void *p, size_t len);
/* fsync the folder path, so that the entries made in it last: 0 or -1. */
int	fsync_dir(const char *path);

/* Milliseconds between two CLOCK_MONOTONIC readings. */
long	elapsed_ms(const struct timespec *start);

void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);

int	 str_casecmp_prefix(const char *s, const char *prefix);

/*
 * 1 if every user may read path (S_IROTH, and every folder on the way
 * S_IXOTH), with its permission bits in *mode; else 0, also when it
 * cannot be stat'ed.  For private keys and users files (see
 * diag_world_readable).
 */
int	 is_world_readable(const char *path, unsigned *mode);

#endif
