/*
 * libFuzzer target: form tokens as a submission brings them, checked by
 * token_check() under a current and a previous key, for two forms and a
 * time the input chooses.  The status must be one of the enum; an
 * authentic token (ok, too young, expired) must give a nonce of 32 hex
 * digits; a token made by token_make() at that time must check out for
 * its form and no other.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_one(const struct token_keys *keys, const char *tok, const char *form,
    time_t now)
{
	char nonce[TOKEN_NONCE_HEX + 1];
	enum token_status st;
	size_t i;

	memset(nonce, 'x', sizeof(nonce));
	st = token_check(keys, tok, form, now, 3, 86400, nonce);
	if (st >= TOKEN__MAX || token_status_str(st) == NULL)
		abort();
	if (st == TOKEN_OK || st == TOKEN_TOO_YOUNG || st == TOKEN_EXPIRED) {
		for (i = 0; i < TOKEN_NONCE_HEX; i++)
			if (strchr("0123456789abcdef", nonce[i]) == NULL ||
			    nonce[i] == '\0')
				abort();
		if (nonce[TOKEN_NONCE_HEX] != '\0')
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct token_keys keys;
	char tok[TOKEN_MAX + 64], made[TOKEN_MAX], nonce[TOKEN_NONCE_HEX + 1];
	time_t now = 1795003200;
	size_t n;

	memset(&keys, 0, sizeof(keys));
	memset(keys.current, 0x5a, TOKEN_KEY_LEN);
	memset(keys.previous, 0xa5, TOKEN_KEY_LEN);
	keys.has_previous = 1;
	/* The first byte moves the clock: up to ~4 days either way. */
	if (size > 0) {
		now += ((long)data[0] - 128) * 2700;
		data++;
		size--;
	}
	n = size < sizeof(tok) - 1 ? size : sizeof(tok) - 1;
	memcpy(tok, data, n);
	tok[n] = '\0';
	check_one(&keys, tok, "order", now);
	check_one(&keys, tok, "contact", now);
	keys.has_previous = 0;
	check_one(&keys, tok, "order", now);

	if (token_make(&keys, "order", now - 10, made, sizeof(made)) != 0)
		abort();
	if (token_check(&keys, made, "order", now, 3, 86400, nonce) !=
	    TOKEN_OK || token_check(&keys, made, "contact", now, 3, 86400,
	    nonce) != TOKEN_OTHER_FORM)
		abort();
	return 0;
}
