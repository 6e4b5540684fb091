/*
 * The spool: where uploaded files wait while a submission is parsed,
 * checked and composed, so that a worker's memory stays flat however
 * large the files are.  It is an unlinked file (O_TMPFILE) in the
 * Maildir's tmp/, so a crash leaves nothing behind, encrypted with
 * AES-256-CTR under a key that exists only in this process's memory, so
 * no plaintext upload ever reaches the disk, even with encryption on.
 */
#ifndef FORMDROP_SPOOL_H
#define FORMDROP_SPOOL_H

#include <sys/types.h>

#include <openssl/evp.h>

struct spool {
	int		 fd;		/* -1 until opened */
	off_t		 len;		/* bytes written, held back included */
	unsigned char	*held;		/* ciphertext not yet in the file */
	size_t		 nheld;
	unsigned char	 key[32];
	unsigned char	 iv[16];
	EVP_CIPHER_CTX	*enc;		/* the keystream, at len */
	int		 error;		/* errno of the first failure */
};

/* One file's bytes read back in order, from a given start. */
struct spool_reader {
	const struct spool	*sp;
	off_t			 off, end;
	EVP_CIPHER_CTX		*dec;
};

#define SPOOL_ALIGN	16	/* files start on a cipher block */

void	spool_init(struct spool *);
/*
 * Open the spool in dir (a directory on the Maildir's file system), or
 * in memory (memfd) when dir is NULL, as tests and fuzzers do.  0, or -1
 * with errno set (and kept in error).
 */
int	spool_open(struct spool *, const char *dir);
int	spool_is_open(const struct spool *);
/* Pad to SPOOL_ALIGN and return where the next file starts, or -1. */
off_t	spool_begin_file(struct spool *);
/*
 * Append len bytes, encrypted.  Ciphertext is held back and written in
 * large blocks (the multipart parser hands over a piece per line).
 * 0, or -1 with errno set.
 */
int	spool_write(struct spool *, const void *, size_t len);
/* The file is complete: write out what is held back.  0, or -1. */
int	spool_end_file(struct spool *);
/* Close the file and forget the key. */
void	spool_close(struct spool *);

/* Read back len bytes stored at off (a spool_begin_file() offset) by a
 * file that was ended. */
int	spool_reader_open(struct spool_reader *, const struct spool *,
	    off_t off, off_t len);
/* Up to n bytes into out: the count, 0 at the end, -1 on error. */
ssize_t	spool_read(struct spool_reader *, void *out, size_t n);
void	spool_reader_close(struct spool_reader *);

#endif
