/*
 * The upload spool (see spool.h).  CTR mode turns the key and the
 * position into a keystream, so a file is decrypted from its first block
 * without reading anything before it; the 128-bit counter block for
 * offset off is the random IV plus off / 16.
 */
#include <sys/mman.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "spool.h"
#include "util.h"

/* Ciphertext held back before a write: a few system calls per MiB. */
#define SPOOL_HELD_MAX	(64 * 1024)

void
spool_init(struct spool *sp)
{
	memset(sp, 0, sizeof(*sp));
	sp->fd = -1;
}

int
spool_is_open(const struct spool *sp)
{
	return sp->fd != -1;
}

/* The counter block for byte offset off (a multiple of 16). */
static void
counter_at(const struct spool *sp, off_t off, unsigned char ctr[16])
{
	unsigned long long add = (unsigned long long)off / SPOOL_ALIGN;
	unsigned carry = 0;
	int i;

	memcpy(ctr, sp->iv, 16);
	for (i = 15; i >= 0; i--) {
		unsigned sum = ctr[i] + (unsigned)(add & 0xff) + carry;

		ctr[i] = (unsigned char)sum;
		carry = sum >> 8;
		add >>= 8;
	}
}

static EVP_CIPHER_CTX *
keystream_at(const struct spool *sp, off_t off)
{
	EVP_CIPHER_CTX *c;
	unsigned char ctr[16];

	counter_at(sp, off, ctr);
	if ((c = EVP_CIPHER_CTX_new()) == NULL)
		return NULL;
	if (EVP_EncryptInit_ex(c, EVP_aes_256_ctr(), NULL, sp->key,
	    ctr) != 1) {
		EVP_CIPHER_CTX_free(c);
		return NULL;
	}
	return c;
}

/* An unnamed file in dir; where O_TMPFILE is not supported, a named one
 * unlinked at once. */
static int
open_unnamed(const char *dir)
{
	char path[4096], rnd[17];
	int fd;

	if (dir == NULL)
		return memfd_create("formdrop-spool", MFD_CLOEXEC);
	if ((fd = open(dir, O_RDWR | O_TMPFILE | O_CLOEXEC, 0600)) != -1 ||
	    (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	if (random_hex(rnd, 8) == -1) {
		errno = EIO;
		return -1;
	}
	if (snprintf(path, sizeof(path), "%s/.spool.%s", dir, rnd) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) != -1)
		unlink(path);
	return fd;
}

int
spool_open(struct spool *sp, const char *dir)
{
	int saved;

	spool_init(sp);
	if (RAND_bytes(sp->key, sizeof(sp->key)) != 1 ||
	    RAND_bytes(sp->iv, sizeof(sp->iv)) != 1) {
		errno = EIO;
		goto fail;
	}
	if ((sp->enc = keystream_at(sp, 0)) == NULL ||
	    (sp->held = malloc(SPOOL_HELD_MAX)) == NULL) {
		errno = ENOMEM;
		goto fail;
	}
	if ((sp->fd = open_unnamed(dir)) == -1)
		goto fail;
	return 0;
fail:
	saved = errno;
	spool_close(sp);
	errno = sp->error = saved;
	return -1;
}

/* Write out the ciphertext held back. */
static int
write_held(struct spool *sp)
{
	if (sp->nheld > 0 &&
	    write_all(sp->fd, (const char *)sp->held, sp->nheld) == -1) {
		sp->error = errno;
		return -1;
	}
	sp->nheld = 0;
	return 0;
}

int
spool_write(struct spool *sp, const void *data, size_t len)
{
	const unsigned char *p = data;
	int n;

	/* After a failure the keystream and the file disagree: no more. */
	if (sp->error != 0) {
		errno = sp->error;
		return -1;
	}
	while (len > 0) {
		size_t room = SPOOL_HELD_MAX - sp->nheld;
		size_t chunk = len < room ? len : room;

		if (EVP_EncryptUpdate(sp->enc, sp->held + sp->nheld, &n, p,
		    (int)chunk) != 1 || (size_t)n != chunk) {
			errno = sp->error = EIO;
			return -1;
		}
		sp->nheld += chunk;
		sp->len += (off_t)chunk;
		p += chunk;
		len -= chunk;
		if (sp->nheld == SPOOL_HELD_MAX && write_held(sp) == -1)
			return -1;
	}
	return 0;
}

int
spool_end_file(struct spool *sp)
{
	if (sp->error != 0) {
		errno = sp->error;
		return -1;
	}
	return write_held(sp);
}

off_t
spool_begin_file(struct spool *sp)
{
	static const unsigned char zero[SPOOL_ALIGN];
	size_t pad = (size_t)(-sp->len & (SPOOL_ALIGN - 1));

	if (pad > 0 && spool_write(sp, zero, pad) == -1)
		return -1;
	return sp->len;
}

void
spool_close(struct spool *sp)
{
	if (sp->fd != -1)
		close(sp->fd);
	EVP_CIPHER_CTX_free(sp->enc);
	free(sp->held);		/* ciphertext only: nothing to wipe */
	OPENSSL_cleanse(sp, sizeof(*sp));
	spool_init(sp);
}

int
spool_reader_open(struct spool_reader *rd, const struct spool *sp,
    off_t off, off_t len)
{
	memset(rd, 0, sizeof(*rd));
	if (off % SPOOL_ALIGN != 0 || off + len > sp->len - (off_t)sp->nheld) {
		errno = EINVAL;
		return -1;
	}
	rd->sp = sp;
	rd->off = off;
	rd->end = off + len;
	if ((rd->dec = keystream_at(sp, off)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

ssize_t
spool_read(struct spool_reader *rd, void *out, size_t n)
{
	ssize_t got;
	int len;

	if ((off_t)n > rd->end - rd->off)
		n = (size_t)(rd->end - rd->off);
	if (n > 1 << 20)
		n = 1 << 20;
	if (n == 0)
		return 0;
	do
		got = pread(rd->sp->fd, out, n, rd->off);
	while (got == -1 && errno == EINTR);
	if (got <= 0) {
		if (got == 0)
			errno = EIO;	/* the spool is shorter than written */
		return -1;
	}
	/* CTR decrypts in place: the keystream XORed once more. */
	if (EVP_EncryptUpdate(rd->dec, out, &len, out, (int)got) != 1 ||
	    len != got) {
		errno = EIO;
		return -1;
	}
	rd->off += got;
	return got;
}

void
spool_reader_close(struct spool_reader *rd)
{
	EVP_CIPHER_CTX_free(rd->dec);
	rd->dec = NULL;
}
