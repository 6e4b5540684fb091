/*
 * Idempotency records for the handler worker.  Files in dir:
 *
 *	KEY.claim	held while the first request delivers (O_EXCL)
 *	KEY		the record: the submission id, written via a
 *			temporary file and rename, so it is whole or absent
 *
 * A claim whose owner died (older than CLAIM_STALE seconds) is taken
 * over.  Works across processes on one host; on NFS, O_EXCL and rename
 * are atomic as well.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "once.h"
#include "util.h"

#define CLAIM_STALE	120	/* seconds: no delivery takes this long */
#define POLL_MS		20

void
once_key(const char *form, const char *value, char out[ONCE_KEY_HEX + 1])
{
	unsigned char md[32];
	unsigned int len;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, form, strlen(form) + 1);	/* with its NUL */
	EVP_DigestUpdate(ctx, value, strlen(value));
	EVP_DigestFinal_ex(ctx, md, &len);
	EVP_MD_CTX_free(ctx);
	hex_encode(md, 32, out);
}

static int
paths(const char *dir, const char *key, char *rec, char *claim, size_t sz)
{
	if ((size_t)snprintf(rec, sz, "%s/%s", dir, key) >= sz ||
	    (size_t)snprintf(claim, sz, "%s/%s.claim", dir, key) >= sz)
		return -1;
	return 0;
}

/* Read a record: 1 with id, 0 when absent, -1 on error. */
static int
read_record(const char *rec, char id[ONCE_ID_MAX + 1])
{
	ssize_t n;
	int fd;

	if ((fd = open(rec, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : -1;
	n = read(fd, id, ONCE_ID_MAX);
	close(fd);
	if (n <= 0)
		return -1;
	id[n] = '\0';
	id[strcspn(id, "\n")] = '\0';
	return 1;
}

int
once_peek(const char *dir, const char *key, char id[ONCE_ID_MAX + 1])
{
	char rec[4096], claim[4096];

	if (paths(dir, key, rec, claim, sizeof(rec)) == -1)
		return 0;
	return read_record(rec, id) == 1;
}

enum once_status
once_begin(const char *dir, const char *key, int wait_ms,
    char id[ONCE_ID_MAX + 1])
{
	char rec[4096], claim[4096];
	struct stat st;
	int fd, r, waited = 0;

	if (paths(dir, key, rec, claim, sizeof(rec)) == -1) {
		errno = ENAMETOOLONG;
		return ONCE_ERROR;
	}
	for (;;) {
		if ((r = read_record(rec, id)) != 0)
			return r == 1 ? ONCE_DONE : ONCE_ERROR;
		if ((fd = open(claim, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600)) != -1) {
			close(fd);
			/* The record may have landed just before our claim. */
			if ((r = read_record(rec, id)) != 0) {
				unlink(claim);
				return r == 1 ? ONCE_DONE : ONCE_ERROR;
			}
			return ONCE_NEW;
		}
		if (errno != EEXIST)
			return ONCE_ERROR;
		if (stat(claim, &st) == 0 &&
		    time(NULL) - st.st_mtime > CLAIM_STALE) {
			unlink(claim);	/* its owner died mid-delivery */
			continue;
		}
		if (waited >= wait_ms)
			return ONCE_BUSY;
		usleep(POLL_MS * 1000);
		waited += POLL_MS;
	}
}

int
once_finish(const char *dir, const char *key, const char *id)
{
	char rec[4096], claim[4096], tmp[4200];
	int fd, ok, dfd;

	if (paths(dir, key, rec, claim, sizeof(rec)) == -1 ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", claim) >= sizeof(tmp))
		return -1;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		return -1;
	ok = write(fd, id, strlen(id)) == (ssize_t)strlen(id) &&
	    fsync(fd) == 0;
	close(fd);
	if (!ok || rename(tmp, rec) == -1) {
		unlink(tmp);
		return -1;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		fsync(dfd);
		close(dfd);
	}
	unlink(claim);
	return 0;
}

void
once_abort(const char *dir, const char *key)
{
	char rec[4096], claim[4096];

	if (paths(dir, key, rec, claim, sizeof(rec)) == 0)
		unlink(claim);
}

int
once_clean(const char *dir, time_t max_age)
{
	struct dirent *de;
	struct stat st;
	time_t now = time(NULL);
	int n = 0, fd;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return -1;
	fd = dirfd(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' &&
		    fstatat(fd, de->d_name, &st, 0) == 0 &&
		    now - st.st_mtime > max_age &&
		    unlinkat(fd, de->d_name, 0) == 0)
			n++;
	closedir(d);
	return n;
}
