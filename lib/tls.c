/*
 * TLS server contexts.  See tls.h.
 */
#include <openssl/err.h>
#include <limits.h>
#include <stdio.h>

#include "tls.h"

/* TLS 1.2: ECDHE with AES-GCM or ChaCha20-Poly1305 only. */
#define TLS12_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

static void
ssl_error(char *err, size_t errsz, const char *what, const char *path)
{
	char buf[256];

	ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
	snprintf(err, errsz, "%s %s: %s", what, path, buf);
}

SSL_CTX *
tls_server_ctx(const char *cert, const char *key, char *err, size_t errsz)
{
	SSL_CTX *ctx;
	X509 *leaf;
	int not_after, not_before;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		ssl_error(err, errsz, "SSL_CTX_new", "");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
		ssl_error(err, errsz, "cipher list", "");
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		ssl_error(err, errsz, "certificate", cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		ssl_error(err, errsz, "key", key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_error(err, errsz, "key does not match certificate", cert);
		goto fail;
	}
	/*
	 * Every client would refuse it: say so now, not per handshake.
	 * X509_cmp_current_time() is 0 only for a date it cannot read.
	 */
	leaf = SSL_CTX_get0_certificate(ctx);
	not_after = X509_cmp_current_time(X509_get0_notAfter(leaf));
	not_before = X509_cmp_current_time(X509_get0_notBefore(leaf));
	if (not_after == 0 || not_before == 0) {
		snprintf(err, errsz, "certificate %s has a validity date that "
		    "cannot be read", cert);
		goto fail;
	}
	if (not_after < 0) {
		snprintf(err, errsz, "certificate %s has expired", cert);
		goto fail;
	}
	if (not_before > 0) {
		snprintf(err, errsz, "certificate %s is not valid yet", cert);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int
tls_days_left(SSL_CTX *ctx)
{
	X509 *leaf = SSL_CTX_get0_certificate(ctx);
	int days, secs;

	/* tls_server_ctx() refused a date it cannot read: no false alarm. */
	if (leaf == NULL || ASN1_TIME_diff(&days, &secs, NULL,
	    X509_get0_notAfter(leaf)) != 1)
		return INT_MAX;
	return days;
}
