/*
 * S/MIME (RFC 8551) with OpenSSL's CMS: sign with the gateway's key and
 * encrypt to the merchant's certificates as the message is made (CMS
 * streaming), so that with encryption on no plaintext byte of a
 * submission reaches the disk, and memory does not grow with uploads.
 * Keys and certificates are loaded and checked once at start-up.
 */
#ifndef FORMDROP_SMIME_H
#define FORMDROP_SMIME_H

#include <openssl/cms.h>
#include <openssl/x509.h>

#include "buf.h"
#include "diag.h"
#include "mime.h"

enum smime_cipher {
	SMIME_AES256_CBC,	/* EnvelopedData: every client reads it */
	SMIME_AES256_GCM	/* AuthEnvelopedData (RFC 5083, 5084) */
};

/* What a mailbox's configuration names; paths already resolved. */
struct smime_paths {
	char		*recipients[8];	/* merchant staff certificates */
	size_t		 nrecipients;
	char		*escrow;	/* backup recipient, or NULL */
	char		*sign_cert;	/* gateway certificate (+ chain) */
	char		*sign_key;
	enum smime_cipher cipher;
	int		 oaep;		/* RSA-OAEP instead of PKCS#1 v1.5 */
	unsigned	 warn_days;	/* warn this long before expiry */
};

struct smime {
	STACK_OF(X509)	*recipients;	/* staff, then the escrow */
	int		 escrow;	/* 1: the last recipient is the escrow */
	unsigned char	*told;		/* per recipient: left out, logged;
					 * written through a const smime,
					 * as it is no part of its keys */
	X509		*signer;
	EVP_PKEY	*signkey;
	STACK_OF(X509)	*chain;		/* sent with the signature */
	enum smime_cipher cipher;
	int		 oaep;
};

/*
 * Load and check the certificates and key of paths into sm: readable,
 * valid now (a recipient out of its dates is only a warning, as long as
 * one reader is valid), key usage and extended key usage fit; a warning
 * in d when one expires within warn_days.  file and line name the
 * configuration line for the messages.  0, or -1 with the problems in d.
 */
int	smime_load(const struct smime_paths *, struct smime *,
	    const char *file, int line, struct diag *d);
void	smime_free(struct smime *);
/* 1 if sm will encrypt (it has recipients). */
int	smime_encrypts(const struct smime *);
/*
 * 1 if sm can be used at this moment: its signer is valid, and so is at
 * least one of the recipients who read the mailbox (a staff certificate;
 * the escrow's only when there are no staff).  Recipients out of their
 * dates are left out of each message (and logged once a process).
 */
int	smime_usable_now(const struct smime *);

/*
 * The whole message for submission s: signed when sm has a signer,
 * encrypted when it has recipients, with the clear outer Subject set to
 * outer_subject when encrypting.  0, or -1 (nothing usable in out).
 */
int	smime_compose(const struct submission *, const struct smime *,
	    const char *outer_subject, BIO *out);

#endif
