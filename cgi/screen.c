/*
 * Submission screening for the handler worker.  See screen.h.  Spam is
 * never dropped: a submission judged as spam is delivered to the
 * mailbox's .Junk folder with the reason, so a false positive can be
 * recovered; only a bad token on a form that refuses them is answered
 * with a page that asks to send again.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "screen.h"

/* Take the first value of name out of data: 1 and its copy, or 0. */
static int
take_field(struct form_data *data, const char *name, char *out, size_t outsz,
    size_t *count)
{
	long i;
	int found = 0;

	*count = form_data_count(data, name);
	/* A file is never the value: its bytes are in the spool, and its
	 * value is "" whatever its size.  Nor is a value with a NUL, which
	 * the copy would cut ("%00" would pass for an empty decoy). */
	if ((i = form_data_find(data, name, 0)) >= 0 &&
	    data->v[i].filename == NULL) {
		snprintf(out, outsz, "%.*s", (int)data->v[i].len,
		    data->v[i].value);
		found = data->v[i].len < outsz &&
		    memchr(data->v[i].value, '\0', data->v[i].len) == NULL;
	}
	while ((i = form_data_find(data, name, 0)) >= 0)
		form_data_remove(data, (size_t)i);
	return found;
}

int
is_idempotency_key(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 255 || s[0] == ' ' || s[n - 1] == ' ')
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/*
 * The record key of a value: its source is part of it, so that a client's
 * Idempotency-Key can never take the place of a token's nonce.
 */
static void
set_key(const struct formdef *def, const char *source, const char *value,
    struct screen *sc)
{
	char tagged[300];

	snprintf(tagged, sizeof(tagged), "%s:%s", source, value);
	once_key(def->name, tagged, sc->key);
	sc->has_key = 1;
	sc->key_is_token = strcmp(source, "token") == 0;
}

void
screen_submission(const struct conf *conf, const struct formdef *def,
    struct form_data *data, const char *idem_header, struct screen *sc)
{
	char tok[TOKEN_MAX + 2], hp[2], nonce[TOKEN_NONCE_HEX + 1];
	size_t ntok, nhp;
	int have_tok;

	memset(sc, 0, sizeof(sc[0]));
	have_tok = take_field(data, TOKEN_FIELD, tok, sizeof(tok), &ntok);
	if (def->honeypot != NULL) {
		int filled = !take_field(data, def->honeypot, hp, sizeof(hp),
		    &nhp) || hp[0] != '\0';

		/* Absent is as suspicious as filled: a bot built the post. */
		if (nhp == 0)
			sc->spam = "honeypot field missing";
		else if (filled || nhp > 1)
			sc->spam = "honeypot field filled";
	}
	if (def->token_required) {
		sc->token = ntok != 1 ? (ntok == 0 ? TOKEN_MISSING :
		    TOKEN_MALFORMED) : !have_tok ? TOKEN_MALFORMED :
		    token_check(&conf->token_keys, tok, def->name, time(NULL),
		    def->token_min_age, def->token_max_age, nonce);
		/* An authentic token (even too young or expired) is sent
		 * once: its nonce is the key, also on the way to .Junk. */
		if (sc->token == TOKEN_OK || (def->token_junk &&
		    (sc->token == TOKEN_TOO_YOUNG ||
		    sc->token == TOKEN_EXPIRED))) {
			set_key(def, "token", nonce, sc);
		}
		if (sc->token != TOKEN_OK && def->token_junk) {
			if (sc->spam == NULL)
				sc->spam = token_status_str(sc->token);
		} else if (sc->token != TOKEN_OK)
			sc->refuse = 1;
	}
	if (!sc->has_key && idem_header != NULL &&
	    is_idempotency_key(idem_header))
		set_key(def, "header", idem_header, sc);
}
