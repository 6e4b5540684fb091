/*
 * Screening a parsed submission before validation: the form token (is it
 * from a page we served, for this form, filled by a person, still
 * fresh?), the honeypot (present and empty?), and the idempotency key
 * that makes a double submit count once.
 */
#ifndef FORMDROP_SCREEN_H
#define FORMDROP_SCREEN_H

#include "conf.h"
#include "form.h"
#include "once.h"
#include "token.h"

#define TOKEN_FIELD	"_token"

struct screen {
	enum token_status	 token;
	int			 refuse;	/* answer with a retry page */
	const char		*spam;		/* deliver to .Junk: why */
	int			 has_key;
	int			 key_is_token;	/* else an Idempotency-Key */
	char			 key[ONCE_KEY_HEX + 1];
};

/* 1 to 255 printable ASCII characters, spaces only inside: 1, else 0. */
int	is_idempotency_key(const char *);

/*
 * Judge data for def, removing the token and honeypot fields from it.
 * idem_header is the request's Idempotency-Key (or NULL).
 */
void	screen_submission(const struct conf *, const struct formdef *,
	    struct form_data *, const char *idem_header, struct screen *);

#endif
