/*
 * Unit tests for lib/token.c: form tokens made and checked, every way a
 * token can be wrong, and key rotation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"
#include "token.h"

#define NOW	1800000000

static enum token_status
check(const struct token_keys *k, const char *tok, const char *form,
    time_t now)
{
	char nonce[TOKEN_NONCE_HEX + 1];

	return token_check(k, tok, form, now, 3, 3600, nonce);
}

static void
test_make_and_check(void **state)
{
	char *dir = tu_mkdtemp(), tok[TOKEN_MAX], nonce[TOKEN_NONCE_HEX + 1];
	char tok2[TOKEN_MAX];
	struct token_keys k;

	(void)state;
	assert_int_equal(token_keys_load(dir, &k), 0);
	assert_int_equal(token_make(&k, "order", NOW, tok, sizeof(tok)), 0);
	assert_int_equal(strncmp(tok, "v1.order.", 9), 0);
	assert_int_equal(token_check(&k, tok, "order", NOW + 5, 3, 3600, nonce),
	    TOKEN_OK);
	assert_int_equal(strlen(nonce), TOKEN_NONCE_HEX);
	assert_non_null(strstr(tok, nonce));
	/* Each token has its own nonce. */
	assert_int_equal(token_make(&k, "order", NOW, tok2, sizeof(tok2)), 0);
	assert_string_not_equal(tok, tok2);
	tu_rmtree(dir);
	free(dir);
}

static void
test_wrong_tokens(void **state)
{
	char *dir = tu_mkdtemp(), tok[TOKEN_MAX], bad[TOKEN_MAX + 8];
	struct token_keys k;
	size_t len;

	(void)state;
	assert_int_equal(token_keys_load(dir, &k), 0);
	assert_int_equal(token_make(&k, "order", NOW, tok, sizeof(tok)), 0);
	len = strlen(tok);
	assert_int_equal(check(&k, NULL, "order", NOW + 5), TOKEN_MISSING);
	assert_int_equal(check(&k, "", "order", NOW + 5), TOKEN_MISSING);
	assert_int_equal(check(&k, "v1.order", "order", NOW + 5),
	    TOKEN_MALFORMED);
	assert_int_equal(check(&k, "garbage", "order", NOW + 5),
	    TOKEN_MALFORMED);
	/* A flipped MAC digit. */
	memcpy(bad, tok, len + 1);
	bad[len - 1] = bad[len - 1] == '0' ? '1' : '0';
	assert_int_equal(check(&k, bad, "order", NOW + 5), TOKEN_FORGED);
	/* A changed time keeps the old MAC: forged. */
	snprintf(bad, sizeof(bad), "%s", tok);
	bad[strlen("v1.order.") + TOKEN_NONCE_HEX + 1] ^= 1;
	assert_int_equal(check(&k, bad, "order", NOW + 5), TOKEN_FORGED);
	/* Another form's token, authentic. */
	assert_int_equal(check(&k, tok, "contact", NOW + 5),
	    TOKEN_OTHER_FORM);
	assert_int_equal(check(&k, tok, "order", NOW + 1), TOKEN_TOO_YOUNG);
	assert_int_equal(check(&k, tok, "order", NOW + 3601), TOKEN_EXPIRED);
	/* From the future: made before the clock was set back, good for as
	 * long as a token lives (3600 s here), no minimum age. */
	assert_int_equal(check(&k, tok, "order", NOW - 1), TOKEN_OK);
	assert_int_equal(check(&k, tok, "order", NOW - 3600), TOKEN_OK);
	assert_int_equal(check(&k, tok, "order", NOW - 3601), TOKEN_MALFORMED);
	tu_rmtree(dir);
	free(dir);
}

static void
test_rotation(void **state)
{
	char *dir = tu_mkdtemp(), old[TOKEN_MAX], fresh[TOKEN_MAX];
	struct token_keys k1, k2, k3;

	(void)state;
	assert_int_equal(token_keys_load(dir, &k1), 0);
	assert_false(k1.has_previous);
	assert_int_equal(token_make(&k1, "order", NOW, old, sizeof(old)), 0);
	/* Loading again reuses the key, never replaces it. */
	assert_int_equal(token_keys_load(dir, &k2), 0);
	assert_memory_equal(k1.current, k2.current, TOKEN_KEY_LEN);
	/* After one rotation the old token still checks... */
	assert_int_equal(token_keys_rotate(dir), 0);
	assert_int_equal(token_keys_load(dir, &k2), 0);
	assert_true(k2.has_previous);
	assert_memory_not_equal(k1.current, k2.current, TOKEN_KEY_LEN);
	assert_int_equal(check(&k2, old, "order", NOW + 5), TOKEN_OK);
	assert_int_equal(token_make(&k2, "order", NOW, fresh, sizeof(fresh)), 0);
	assert_int_equal(check(&k2, fresh, "order", NOW + 5), TOKEN_OK);
	/* ...and after a second one it does not. */
	assert_int_equal(token_keys_rotate(dir), 0);
	assert_int_equal(token_keys_load(dir, &k3), 0);
	assert_int_equal(check(&k3, old, "order", NOW + 5), TOKEN_FORGED);
	assert_int_equal(check(&k3, fresh, "order", NOW + 5), TOKEN_OK);
	tu_rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_make_and_check),
		cmocka_unit_test(test_wrong_tokens),
		cmocka_unit_test(test_rotation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
