/*
 * S/MIME composition for the handler worker, and certificate loading and
 * checks for start-up and --check.  Content is canonicalised to CRLF
 * inside CMS (RFC 8551 3.1.1) and the stored message keeps LF line ends,
 * as every Maildir file does.
 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bio_filters.h"
#include "encode.h"
#include "log.h"
#include "smime.h"
#include "util.h"

#define SIG_BOUNDARY_RANDOM	12

/* "CN=..., emailAddress" of cert for messages. */
static void
cert_name(X509 *cert, char *out, size_t outsz)
{
	STACK_OF(OPENSSL_STRING) *emails;
	char subject[256];

	X509_NAME_oneline(X509_get_subject_name(cert), subject,
	    sizeof(subject));
	emails = X509_get1_email(cert);
	snprintf(out, outsz, "%s%s%s%s", subject,
	    sk_OPENSSL_STRING_num(emails) > 0 ? " <" : "",
	    sk_OPENSSL_STRING_num(emails) > 0 ?
	    sk_OPENSSL_STRING_value(emails, 0) : "",
	    sk_OPENSSL_STRING_num(emails) > 0 ? ">" : "");
	X509_email_free(emails);
}

static STACK_OF(X509) *
read_certs(const char *path)
{
	STACK_OF(X509) *sk;
	X509 *x;
	BIO *in;

	if ((in = BIO_new_file(path, "r")) == NULL)
		return NULL;
	if ((sk = sk_X509_new_null()) == NULL) {
		BIO_free(in);
		return NULL;
	}
	while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL)
		sk_X509_push(sk, x);
	ERR_clear_error();
	BIO_free(in);
	if (sk_X509_num(sk) == 0) {
		sk_X509_free(sk);
		return NULL;
	}
	return sk;
}

/*
 * The validity dates of cert, 0 when it is valid now.  A date that
 * cannot be read is an error (-1).  Out of its dates (1), a signer is an
 * error, and a recipient only a warning: it is left out of each message
 * while it is, so that a merchant's next certificate can be listed beside
 * the current one and the old one expire with no gap.
 */
static int
check_dates(X509 *cert, int signing, const char *file, int line,
    const char *path, const char *name, struct diag *d)
{
	time_t now = time(NULL);
	int not_before, not_after;

	/* X509_cmp_time() is 0 only for a date it cannot read. */
	not_before = X509_cmp_time(X509_get0_notBefore(cert), &now);
	not_after = X509_cmp_time(X509_get0_notAfter(cert), &now);
	if (not_before == 0 || not_after == 0) {
		diag_error(d, file, line, "%s (%s) has a validity date that "
		    "cannot be read", path, name);
		return -1;
	}
	if (not_before < 0 && not_after > 0)
		return 0;
	if (signing)
		diag_error(d, file, line, "%s (%s) %s", path, name,
		    not_before > 0 ? "is not valid yet" : "has expired");
	else if (not_before > 0)
		diag_warning(d, file, line, "%s (%s) is not valid yet: "
		    "messages are encrypted to it from its start date on",
		    path, name);
	else
		diag_warning(d, file, line, "%s (%s) has expired: it is left "
		    "out of every message; remove it", path, name);
	return signing ? -1 : 1;
}

/*
 * Check one certificate for its use; report problems in d.  For
 * encryption, RSA needs keyEncipherment and EC keyAgreement; for
 * signing, digitalSignature.  emailProtection when EKU is present.
 */
static int
check_cert(X509 *cert, int signing, unsigned warn_days, const char *file,
    int line, const char *path, struct diag *d)
{
	char name[512];
	uint32_t ku = X509_get_key_usage(cert);
	uint32_t xku = X509_get_extended_key_usage(cert);
	int base, ok = 0, days, secs, dates;
	EVP_PKEY *pk = X509_get0_pubkey(cert);

	cert_name(cert, name, sizeof(name));
	if ((dates = check_dates(cert, signing, file, line, path, name,
	    d)) == -1)
		return -1;
	if (pk == NULL) {
		diag_error(d, file, line, "%s: unreadable public key", path);
		return -1;
	}
	base = EVP_PKEY_get_base_id(pk);
	if (base != EVP_PKEY_RSA && base != EVP_PKEY_EC) {
		diag_error(d, file, line, "%s (%s): only RSA and EC keys are "
		    "supported", path, name);
		return -1;
	}
	if (signing)
		ok = ku & KU_DIGITAL_SIGNATURE;
	else if (base == EVP_PKEY_RSA)
		ok = ku & KU_KEY_ENCIPHERMENT;
	else
		ok = ku & KU_KEY_AGREEMENT;
	if (!ok) {
		diag_error(d, file, line, "%s (%s): key usage does not allow "
		    "%s", path, name, signing ? "digitalSignature" :
		    base == EVP_PKEY_RSA ? "keyEncipherment" :
		    "keyAgreement");
		return -1;
	}
	if (!(xku & XKU_SMIME)) {
		diag_error(d, file, line, "%s (%s): extended key usage lacks "
		    "emailProtection", path, name);
		return -1;
	}
	if (dates == 0 && ASN1_TIME_diff(&days, &secs, NULL,
	    X509_get0_notAfter(cert)) == 1 && days < (int)warn_days)
		diag_warning(d, file, line, "%s (%s) expires in %d day(s)",
		    path, name, days);
	return 0;
}

static int
load_recipient(const char *path, struct smime *sm, unsigned warn_days,
    const char *file, int line, struct diag *d)
{
	STACK_OF(X509) *sk;
	X509 *x;

	if ((sk = read_certs(path)) == NULL) {
		diag_error(d, file, line, "%s: no readable PEM certificate",
		    path);
		return -1;
	}
	/* A second person's certificate here would silently not be used. */
	if (sk_X509_num(sk) > 1) {
		diag_error(d, file, line, "%s holds %d certificates: give each "
		    "recipient a file of its own (no chain is needed)", path,
		    sk_X509_num(sk));
		sk_X509_pop_free(sk, X509_free);
		return -1;
	}
	x = sk_X509_shift(sk);
	sk_X509_pop_free(sk, X509_free);
	if (check_cert(x, 0, warn_days, file, line, path, d) == -1) {
		X509_free(x);
		return -1;
	}
	sk_X509_push(sm->recipients, x);
	return 0;
}

static int
load_signer(const struct smime_paths *p, struct smime *sm, const char *file,
    int line, struct diag *d)
{
	STACK_OF(X509) *sk;
	BIO *in;

	if ((sk = read_certs(p->sign_cert)) == NULL) {
		diag_error(d, file, line, "%s: no readable PEM certificate",
		    p->sign_cert);
		return -1;
	}
	sm->signer = sk_X509_shift(sk);
	sm->chain = sk;		/* the rest of the file is the chain */
	if (check_cert(sm->signer, 1, p->warn_days, file, line, p->sign_cert,
	    d) == -1)
		return -1;
	/* Whoever reads it can sign orders as the site. */
	if (diag_world_readable(d, file, line, p->sign_key))
		return -1;
	if ((in = BIO_new_file(p->sign_key, "r")) == NULL ||
	    (sm->signkey = PEM_read_bio_PrivateKey(in, NULL, NULL,
	    NULL)) == NULL) {
		BIO_free(in);
		diag_error(d, file, line, "%s: no readable PEM private key",
		    p->sign_key);
		return -1;
	}
	BIO_free(in);
	if (X509_check_private_key(sm->signer, sm->signkey) != 1) {
		diag_error(d, file, line, "%s does not match %s", p->sign_key,
		    p->sign_cert);
		return -1;
	}
	return 0;
}

static int
is_current(X509 *x)
{
	time_t now = time(NULL);

	return X509_cmp_time(X509_get0_notBefore(x), &now) <= 0 &&
	    X509_cmp_time(X509_get0_notAfter(x), &now) >= 0;
}

/*
 * How many of the first recipients read the mailbox: its staff, or the
 * escrow when there are no staff (an escrow, kept offline, is no reader
 * for a mailbox that has staff).
 */
static int
reader_count(const struct smime *sm)
{
	int n = sm->recipients != NULL ? sk_X509_num(sm->recipients) : 0;

	return n - sm->escrow > 0 ? n - sm->escrow : n;
}

/* 1 when a reader's certificate is valid now, or there are no readers. */
static int
readers_current(const struct smime *sm)
{
	int i, readers = reader_count(sm);

	for (i = 0; i < readers; i++)
		if (is_current(sk_X509_value(sm->recipients, i)))
			return 1;
	return readers == 0;
}

int
smime_load(const struct smime_paths *p, struct smime *sm, const char *file,
    int line, struct diag *d)
{
	size_t i, before = d->errors;

	memset(sm, 0, sizeof(*sm));
	sm->cipher = p->cipher;
	sm->oaep = p->oaep;
	if ((sm->recipients = sk_X509_new_null()) == NULL)
		return -1;
	for (i = 0; i < p->nrecipients; i++)
		load_recipient(p->recipients[i], sm, p->warn_days, file, line,
		    d);
	if (p->escrow != NULL &&
	    load_recipient(p->escrow, sm, p->warn_days, file, line, d) == 0)
		sm->escrow = 1;
	if (d->errors == before && !readers_current(sm))
		diag_error(d, file, line, "no certificate in %s is valid now, "
		    "so nobody could read the messages", p->nrecipients > 0 ?
		    "recipients" : "escrow");
	if ((sm->told = calloc(sk_X509_num(sm->recipients) + 1, 1)) == NULL)
		diag_error(d, file, line, "out of memory");
	if (p->sign_cert != NULL && p->sign_key == NULL)
		diag_error(d, file, line, "sign_cert needs sign_key");
	else if (p->sign_cert != NULL)
		load_signer(p, sm, file, line, d);
	ERR_clear_error();
	if (d->errors > before) {
		smime_free(sm);
		return -1;
	}
	return 0;
}

void
smime_free(struct smime *sm)
{
	sk_X509_pop_free(sm->recipients, X509_free);
	free(sm->told);
	sk_X509_pop_free(sm->chain, X509_free);
	X509_free(sm->signer);
	EVP_PKEY_free(sm->signkey);
	memset(sm, 0, sizeof(*sm));
}

int
smime_encrypts(const struct smime *sm)
{
	return sm->recipients != NULL && sk_X509_num(sm->recipients) > 0;
}

int
smime_usable_now(const struct smime *sm)
{
	return readers_current(sm) && (sm->signer == NULL ||
	    is_current(sm->signer));
}

/* DER of cms as base64 lines into out. */
static int
cms_base64(CMS_ContentInfo *cms, BIO *out)
{
	unsigned char *der = NULL;
	struct buf b64;
	int len, r = -1;

	buf_init(&b64, 1 << 20);
	if ((len = i2d_CMS_ContentInfo(cms, &der)) > 0 &&
	    encode_base64(&b64, der, (size_t)len) == 0)
		r = bio_write_all(out, b64.data, b64.len);
	OPENSSL_free(der);
	buf_free(&b64);
	return r;
}

/*
 * Free the BIOs of a chain from top down to (not including) keep, one at
 * a time, as a stream's layers must be: keep and what is under it stay.
 */
static void
unchain(BIO *top, BIO *keep)
{
	BIO *next;

	while (top != NULL && top != keep) {
		next = BIO_pop(top);
		BIO_free(top);
		top = next;
	}
}

/*
 * The entity as multipart/signed: the entity as the first part, a
 * detached signature as the second.  The entity is written to out as it
 * is made, and through a CRLF filter into the signature's digests (the
 * signature covers the canonical form, RFC 8551 3.1.1).
 */
static int
write_signed(const struct submission *s, const struct smime *sm,
    enum mime_hp hp, BIO *out)
{
	CMS_ContentInfo *cms = NULL;
	char rnd[2 * SIG_BOUNDARY_RANDOM + 1];
	BIO *digest = NULL, *crlf = NULL, *tee = NULL;
	int r = -1;

	if (random_hex(rnd, SIG_BOUNDARY_RANDOM) == -1 ||
	    (cms = CMS_sign(sm->signer, sm->signkey, sm->chain, NULL,
	    CMS_DETACHED | CMS_STREAM | CMS_PARTIAL | CMS_BINARY)) == NULL ||
	    (digest = CMS_dataInit(cms, NULL)) == NULL)
		goto out;
	if ((crlf = bio_crlf_new()) == NULL)
		goto out;
	digest = BIO_push(crlf, digest);	/* now the chain's top */
	if ((tee = bio_tee_new(crlf)) == NULL)
		goto out;
	BIO_push(tee, out);
	if (BIO_printf(out, "Content-Type: multipart/signed;\n"
	    "\tprotocol=\"application/pkcs7-signature\"; micalg=sha-256;\n"
	    "\tboundary=\"=_formdrop_signed_%s\"\n\n"
	    "This is a signed message.\n\n--=_formdrop_signed_%s\n",
	    rnd, rnd) <= 0 ||
	    mime_entity(s, hp, tee) == -1 ||
	    CMS_dataFinal(cms, digest) != 1 ||
	    BIO_printf(out, "\n--=_formdrop_signed_%s\n"
	    "Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\n"
	    "Content-Transfer-Encoding: base64\n"
	    "Content-Disposition: attachment; filename=\"smime.p7s\"\n\n",
	    rnd) <= 0 || cms_base64(cms, out) == -1 ||
	    BIO_printf(out, "\n--=_formdrop_signed_%s--\n", rnd) <= 0)
		goto out;
	r = 0;
out:
	unchain(tee, out);		/* out is the caller's */
	BIO_free_all(digest);		/* the CRLF filter and the digests */
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return r;
}

/* The content to sign or encrypt: the entity, signed when sm signs. */
static int
write_inner(const struct submission *s, const struct smime *sm,
    enum mime_hp hp, BIO *out)
{
	return sm->signer != NULL ? write_signed(s, sm, hp, out) :
	    mime_entity(s, hp, out);
}

/* Logged once a process for each recipient, not at every message. */
static void
tell_left_out(const struct smime *sm, int i)
{
	X509 *x = sk_X509_value(sm->recipients, i);
	time_t now = time(NULL);
	char name[512];

	if (sm->told == NULL || sm->told[i])
		return;
	sm->told[i] = 1;
	cert_name(x, name, sizeof(name));
	if (X509_cmp_time(X509_get0_notBefore(x), &now) > 0)
		log_warnx("S/MIME: %s is not valid now and is left out of "
		    "the messages until it is", name);
	else
		log_warnx("S/MIME: %s is not valid now and is left out of "
		    "the messages: it has expired, remove it from the "
		    "configuration", name);
}

/*
 * An EnvelopedData (or AuthEnvelopedData) to every recipient valid now,
 * ready to be streamed; none when no reader is (the last one may have
 * expired since smime_usable_now()).
 */
static CMS_ContentInfo *
envelope(const struct smime *sm)
{
	const EVP_CIPHER *cipher = sm->cipher == SMIME_AES256_GCM ?
	    EVP_aes_256_gcm() : EVP_aes_256_cbc();
	CMS_ContentInfo *cms;
	CMS_RecipientInfo *ri;
	EVP_PKEY_CTX *pctx;
	X509 *x;
	int i, n = sk_X509_num(sm->recipients), readers = reader_count(sm);
	int added_reader = 0;

	if ((cms = CMS_encrypt(NULL, NULL, cipher,
	    CMS_PARTIAL | CMS_STREAM | CMS_BINARY)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		x = sk_X509_value(sm->recipients, i);
		if (!is_current(x)) {
			tell_left_out(sm, i);
			continue;
		}
		if (i < readers)
			added_reader = 1;
		if ((ri = CMS_add1_recipient_cert(cms, x, sm->oaep ?
		    CMS_KEY_PARAM : 0)) == NULL)
			goto fail;
		if (sm->oaep &&
		    EVP_PKEY_get_base_id(X509_get0_pubkey(x)) == EVP_PKEY_RSA &&
		    ((pctx = CMS_RecipientInfo_get0_pkey_ctx(ri)) == NULL ||
		    EVP_PKEY_CTX_set_rsa_padding(pctx,
		    RSA_PKCS1_OAEP_PADDING) <= 0))
			goto fail;
	}
	if (added_reader)
		return cms;
fail:
	CMS_ContentInfo_free(cms);
	return NULL;
}

/*
 * The inner content, encrypted as it is made: through the CRLF filter
 * (which passes it on in blocks: few, large CMS octet strings) into the
 * CMS stream, whose BER goes out as base64.  No plaintext leaves this
 * chain, and none is left in a freed buffer.
 */
static int
write_encrypted(const struct submission *s, const struct smime *sm,
    BIO *out)
{
	CMS_ContentInfo *cms = NULL;
	BIO *top = NULL, *layer;
	int r = -1;

	if ((cms = envelope(sm)) == NULL ||
	    (layer = BIO_new(BIO_f_base64())) == NULL)
		goto out;
	top = BIO_push(layer, out);
	if ((layer = BIO_new_CMS(top, cms)) == NULL)
		goto out;
	top = layer;
	if ((layer = bio_crlf_new()) == NULL)
		goto out;
	top = BIO_push(layer, top);
	if (write_inner(s, sm, MIME_HP_CIPHER, top) == -1 ||
	    BIO_flush(top) != 1)
		goto out;
	r = 0;
out:
	unchain(top, out);
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return r;
}

int
smime_compose(const struct submission *s, const struct smime *sm,
    const char *outer_subject, BIO *out)
{
	if (!smime_encrypts(sm) && sm->signer == NULL)
		return mime_compose(s, out);
	if (!smime_encrypts(sm))
		return mime_headers_write(s, NULL, 1, out) == -1 ||
		    write_signed(s, sm, MIME_HP_CLEAR, out) == -1 ? -1 : 0;
	if (mime_headers_write(s, outer_subject, 0, out) == -1 ||
	    BIO_printf(out, "Content-Type: application/pkcs7-mime; "
	    "smime-type=%s;\n\tname=\"smime.p7m\"\n"
	    "Content-Disposition: attachment; filename=\"smime.p7m\"\n"
	    "Content-Transfer-Encoding: base64\n\n",
	    sm->cipher == SMIME_AES256_GCM ? "authEnveloped-data" :
	    "enveloped-data") <= 0)
		return -1;
	return write_encrypted(s, sm, out);
}
