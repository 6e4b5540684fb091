/*
 * Small helpers shared by every module.  See util.h.
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

int
parse_uint(const char *s, unsigned long long min, unsigned long long max,
    unsigned long long *out)
{
	unsigned long long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		unsigned d = (unsigned)(*s - '0');

		if (v > max / 10 || (v == max / 10 && d > max % 10))
			return -1;
		v = v * 10 + d;
	}
	if (v < min)
		return -1;
	*out = v;
	return 0;
}

int
parse_size(const char *s, unsigned long long min, unsigned long long max,
    unsigned long long *out)
{
	char num[32];
	size_t len = strlen(s);
	unsigned long long v, mult = 1;

	if (len == 0 || len >= sizeof(num))
		return -1;
	memcpy(num, s, len + 1);
	if (num[len - 1] == 'K' || num[len - 1] == 'k')
		mult = 1024;
	else if (num[len - 1] == 'M' || num[len - 1] == 'm')
		mult = 1024 * 1024;
	if (mult != 1)
		num[len - 1] = '\0';
	if (parse_uint(num, 0, max / mult, &v) == -1)
		return -1;
	v *= mult;
	if (v < min)
		return -1;
	*out = v;
	return 0;
}

int
parse_bool(const char *s, int *out)
{
	if (strcasecmp(s, "yes") == 0 || strcasecmp(s, "true") == 0 ||
	    strcmp(s, "1") == 0)
		*out = 1;
	else if (strcasecmp(s, "no") == 0 || strcasecmp(s, "false") == 0 ||
	    strcmp(s, "0") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

/*
 * Validate one UTF-8 sequence at s (n bytes left); return its length or 0.
 * Follows RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF.
 */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

int
is_utf8(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	while (i < len) {
		if ((n = utf8_seq(p + i, len - i)) == 0)
			return 0;
		i += n;
	}
	return 1;
}

size_t
utf8_chars(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

size_t
utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

int
path_resolve(char *out, size_t outsz, const char *dir, const char *rel)
{
	int n;

	if (rel[0] == '/' || dir == NULL || dir[0] == '\0')
		n = snprintf(out, outsz, "%s", rel);
	else
		n = snprintf(out, outsz, "%s/%s", dir, rel);
	if (n < 0 || (size_t)n >= outsz)
		return -1;
	return 0;
}

void
path_dir(char *out, size_t outsz, const char *path)
{
	char *slash;

	snprintf(out, outsz, "%s", path);
	if ((slash = strrchr(out, '/')) == NULL)
		snprintf(out, outsz, ".");
	else
		slash[slash == out] = '\0';	/* "/b": "/" */
}

int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void
hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int
sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		return -1;
	hex_encode(md, 32, out);
	return 0;
}

int
random_hex(char *out, size_t n)
{
	unsigned char raw[64];

	if (n > sizeof(raw))
		return -1;
	if (getrandom(raw, n, 0) != (ssize_t)n)
		return -1;
	hex_encode(raw, n, out);
	return 0;
}

long
elapsed_ms(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000 +
	    (now.tv_nsec - start->tv_nsec) / 1000000;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p;

	if ((p = calloc(n, size)) == NULL)
		fatal("calloc");
	return p;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
	if ((p = reallocarray(p, n, size)) == NULL)
		fatal("reallocarray");
	return p;
}

char *
xstrdup(const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL)
		fatal("strdup");
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p;

	if ((p = strndup(s, n)) == NULL)
		fatal("strndup");
	return p;
}

/* 1 if s starts with prefix, ignoring ASCII case. */
int
str_casecmp_prefix(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

int
fsync_dir(const char *path)
{
	int fd, r;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

int
write_all(int fd, const void *p, size_t len)
{
	const char *s = p;
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, s, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * A file of secrets (a private key, password hashes) whose mode lets
 * every account on the host read it, including any other service that
 * gets broken into.  A folder on the way that others cannot enter
 * (certbot's 0700 archive/ holding 0644 keys) closes it.  A path that
 * cannot be stat'ed or resolved is 0: opening it says why.
 */
int
is_world_readable(const char *path, unsigned *mode)
{
	char real[PATH_MAX], dir[PATH_MAX];
	struct stat st;

	if (stat(path, &st) == -1 || !(st.st_mode & S_IROTH) ||
	    realpath(path, real) == NULL)
		return 0;
	*mode = (unsigned)(st.st_mode & 07777);
	for (path_dir(dir, sizeof(dir), real);;) {
		if (stat(dir, &st) == -1 || !(st.st_mode & S_IXOTH))
			return 0;
		if (strcmp(dir, "/") == 0)
			return 1;
		snprintf(real, sizeof(real), "%s", dir);
		path_dir(dir, sizeof(dir), real);
	}
}
