/*
 * Two OpenSSL filter BIOs the streamed S/MIME message needs, and a
 * write loop over BIO_write.  Messages are
 * composed with LF line ends (as Maildir files are stored); CMS signs
 * and encrypts the CRLF form (RFC 8551 3.1.1), and a detached signature
 * must see the same bytes as the message shows.
 */
#ifndef FORMDROP_BIO_FILTERS_H
#define FORMDROP_BIO_FILTERS_H

#include <stddef.h>

#include <openssl/bio.h>

/* Writes pass on with every LF turned into CRLF.  NULL if out of memory. */
BIO	*bio_crlf_new(void);
/*
 * Writes pass on unchanged, and are written to side as well (which the
 * tee does not own).  NULL if out of memory.
 */
BIO	*bio_tee_new(BIO *side);

/* Write all len bytes to b: 0, or -1. */
int	bio_write_all(BIO *b, const void *data, size_t len);

#endif
