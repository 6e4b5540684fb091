/*
 * Form tokens: proof that a submission comes from a page the gateway
 * served, and the key that makes it count once.  A token carries the form
 * name, a random nonce and the issue time, authenticated with
 * HMAC-SHA256 under a key kept in the state folder (outside the web
 * root).  Rotating the key keeps the previous one for verification, so
 * tokens already handed out stay valid for their lifetime.
 *
 *	v1.<form>.<nonce: 32 hex>.<issued: unix seconds>.<mac: 32 hex>
 */
#ifndef FORMDROP_TOKEN_H
#define FORMDROP_TOKEN_H

#include <stddef.h>
#include <time.h>

#define TOKEN_KEY_LEN		32
#define TOKEN_NONCE_HEX		32
#define TOKEN_MAX		(3 + 64 + 1 + TOKEN_NONCE_HEX + 1 + 20 + 1 + 32 + 1)

struct token_keys {
	unsigned char	current[TOKEN_KEY_LEN];
	unsigned char	previous[TOKEN_KEY_LEN];
	int		has_previous;
};

enum token_status {
	TOKEN_OK,
	TOKEN_MISSING,
	TOKEN_MALFORMED,
	TOKEN_FORGED,		/* no key's MAC matches */
	TOKEN_OTHER_FORM,	/* made for another form */
	TOKEN_TOO_YOUNG,	/* sent faster than a person fills a form */
	TOKEN_EXPIRED,
	TOKEN__MAX
};

/*
 * Load the keys from dir/token.key (and token.key.previous), creating
 * token.key with fresh randomness when it does not exist yet.  0 or -1.
 */
int	token_keys_load(const char *dir, struct token_keys *);
/* Make token.key.previous of token.key and a new token.key.  0 or -1. */
int	token_keys_rotate(const char *dir);
/* A new token for form, issued now, into out (TOKEN_MAX bytes). */
int	token_make(const struct token_keys *, const char *form, time_t now,
	    char *out, size_t outsz);
/*
 * Check tok for form at time now; on TOKEN_OK (and on TOO_YOUNG and
 * EXPIRED, where it is authentic) nonce gets its nonce.
 */
enum token_status token_check(const struct token_keys *, const char *tok,
	    const char *form, time_t now, unsigned min_age, unsigned max_age,
	    char nonce[TOKEN_NONCE_HEX + 1]);
const char *token_status_str(enum token_status);

#endif
