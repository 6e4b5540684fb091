/*
 * TLS server set-up with OpenSSL, shared by the servers: TLS 1.2 and 1.3
 * only, forward-secret AEAD ciphers only, certificate chain and key from
 * files.  Loaded before privileges are dropped.
 */
#ifndef FORMDROP_TLS_H
#define FORMDROP_TLS_H

#include <openssl/ssl.h>

/*
 * A server context for cert (a PEM file that may hold the chain after
 * the leaf) and key.  NULL on failure (an expired or not yet valid
 * certificate too), with the reason in err.
 */
SSL_CTX	*tls_server_ctx(const char *cert, const char *key, char *err,
	    size_t errsz);

/* Whole days until the server certificate expires (TLS_WARN_DAYS). */
int	tls_days_left(SSL_CTX *);

#endif
