/*
 * One POP3 session (RFC 1939, RFC 2449, RFC 2595, RFC 5034, RFC 3206)
 * over a conn: the AUTHORIZATION, TRANSACTION and UPDATE states.  Runs in
 * its own process, so that nothing one client does reaches another.
 */
#ifndef FORMDROP_SESSION_H
#define FORMDROP_SESSION_H

#include <openssl/ssl.h>

#include "conn.h"
#include "userdb.h"

struct pop3_params {
	const struct userdb	*users;
	SSL_CTX			*tls;		/* for STLS; NULL: no STLS */
	int			 tls_active;	/* implicit TLS port */
	int			 allow_plaintext; /* loopback testing only */
	const char		*client;	/* address, for the log */
	unsigned		 prior_failures; /* from this address */
	unsigned		 max_failures;	/* then the session ends */
	unsigned		 archive_days;
};

/*
 * Run the session to its end.  Returns the number of failed logins, so
 * that the parent can slow down and refuse the next attempts from the
 * address.
 */
unsigned	pop3_session_run(struct conn *, const struct pop3_params *);

/*
 * The TLS handshake and the login must be over within seconds, or the
 * session ends with exit status POP3_EXIT_LOGIN_TIMEOUT + its failed
 * logins.  A login cancels it.
 */
void	pop3_login_deadline(unsigned seconds);

/*
 * Decode an AUTH PLAIN response (base64 of authzid NUL authcid NUL
 * password) into user and pass.  0, or -1 when malformed.
 */
int	sasl_plain_decode(const char *b64, char *user, size_t usersz,
	    char *pass, size_t passsz);

#endif
