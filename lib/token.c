/*
 * Form tokens, made and checked by the handler worker; keys loaded at
 * start-up.  See token.h.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "token.h"
#include "util.h"

#define MAC_HEX	32	/* 128 bits of HMAC-SHA256 */

static int
read_key(const char *path, unsigned char key[TOKEN_KEY_LEN])
{
	char hex[2 * TOKEN_KEY_LEN + 2];
	ssize_t n;
	size_t i;
	int fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, hex, sizeof(hex));
	saved = errno;
	close(fd);
	errno = n == -1 ? saved : EINVAL;	/* unreadable, or not a key */
	if (n < 2 * TOKEN_KEY_LEN)
		return -1;
	for (i = 0; i < TOKEN_KEY_LEN; i++) {
		int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);

		if (hi == -1 || lo == -1)
			return -1;
		key[i] = (unsigned char)(hi << 4 | lo);
	}
	explicit_bzero(hex, sizeof(hex));
	return 0;
}

/*
 * Write a fresh key to path in dir unless one is there: written whole to
 * a temporary file first and linked into place, so that another process
 * starting at the same moment sees no key or a complete one, never a
 * half-written file; link() never replaces the key that won.  Made by
 * root (--rotate-token-key run with sudo), it is given to the owner of
 * dir, the handler's user: a root-owned key would stop the handler.
 */
static int
create_key(const char *dir, const char *path)
{
	char hex[2 * TOKEN_KEY_LEN + 2], tmp[4200], rnd[17];
	struct stat st;
	int fd, ok;

	if (access(path, F_OK) == 0)
		return 0;
	if (random_hex(hex, TOKEN_KEY_LEN) == -1 || random_hex(rnd, 8) == -1 ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s.%s.tmp", path, rnd) >=
	    sizeof(tmp))
		return -1;
	hex[2 * TOKEN_KEY_LEN] = '\n';
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1)
		return -1;
	ok = write(fd, hex, 2 * TOKEN_KEY_LEN + 1) ==
	    2 * TOKEN_KEY_LEN + 1 && fsync(fd) == 0 && (geteuid() != 0 ||
	    (stat(dir, &st) == 0 && fchown(fd, st.st_uid, st.st_gid) == 0));
	close(fd);
	explicit_bzero(hex, sizeof(hex));
	if (ok && link(tmp, path) == -1 && errno != EEXIST)
		ok = 0;
	unlink(tmp);
	return ok ? 0 : -1;
}

int
token_keys_load(const char *dir, struct token_keys *k)
{
	char cur[4096], prev[4096];

	memset(k, 0, sizeof(*k));
	if (path_resolve(cur, sizeof(cur), dir, "token.key") == -1 ||
	    path_resolve(prev, sizeof(prev), dir, "token.key.previous") == -1)
		return -1;
	if (create_key(dir, cur) == -1)
		return -1;
	/* EINVAL: "token.key is not a key"; else why it cannot be read. */
	if (read_key(cur, k->current) == -1)
		return -1;
	k->has_previous = read_key(prev, k->previous) == 0;
	return 0;
}

int
token_keys_rotate(const char *dir)
{
	char cur[4096], prev[4096];

	if (path_resolve(cur, sizeof(cur), dir, "token.key") == -1 ||
	    path_resolve(prev, sizeof(prev), dir, "token.key.previous") == -1)
		return -1;
	if (rename(cur, prev) == -1 && errno != ENOENT)
		return -1;
	return create_key(dir, cur);
}

static void
mac_hex(const unsigned char key[TOKEN_KEY_LEN], const char *msg, size_t len,
    char out[MAC_HEX + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	HMAC(EVP_sha256(), key, TOKEN_KEY_LEN, (const unsigned char *)msg, len,
	    md, &mdlen);
	hex_encode(md, MAC_HEX / 2, out);
}

int
token_make(const struct token_keys *k, const char *form, time_t now,
    char *out, size_t outsz)
{
	char nonce[TOKEN_NONCE_HEX + 1], mac[MAC_HEX + 1];
	int n;

	if (random_hex(nonce, TOKEN_NONCE_HEX / 2) == -1)
		return -1;
	n = snprintf(out, outsz, "v1.%s.%s.%lld", form, nonce,
	    (long long)now);
	if (n < 0 || (size_t)n + 1 + MAC_HEX >= outsz)
		return -1;
	mac_hex(k->current, out, (size_t)n, mac);
	snprintf(out + n, outsz - (size_t)n, ".%s", mac);
	return 0;
}

enum token_status
token_check(const struct token_keys *k, const char *tok, const char *form,
    time_t now, unsigned min_age, unsigned max_age,
    char nonce[TOKEN_NONCE_HEX + 1])
{
	char copy[TOKEN_MAX + 1], mac[MAC_HEX + 1], *parts[5], *p;
	unsigned long long issued;
	size_t n = 0, signed_len;
	int ok;

	if (tok == NULL || tok[0] == '\0')
		return TOKEN_MISSING;
	if (strlen(tok) > TOKEN_MAX)
		return TOKEN_MALFORMED;
	memcpy(copy, tok, strlen(tok) + 1);
	for (p = copy; n < 5; n++) {
		parts[n] = p;
		if ((p = strchr(p, '.')) == NULL)
			break;
		*p++ = '\0';
	}
	if (n != 4 || strcmp(parts[0], "v1") != 0 ||
	    strlen(parts[2]) != TOKEN_NONCE_HEX ||
	    strspn(parts[2], "0123456789abcdef") != TOKEN_NONCE_HEX ||
	    strlen(parts[4]) != MAC_HEX ||
	    parse_uint(parts[3], 0, (unsigned long long)1 << 40, &issued) == -1)
		return TOKEN_MALFORMED;
	/* The MAC covers "v1.form.nonce.time" exactly as sent. */
	signed_len = (size_t)(parts[4] - 1 - copy);
	mac_hex(k->current, tok, signed_len, mac);
	ok = CRYPTO_memcmp(mac, parts[4], MAC_HEX) == 0;
	if (!ok && k->has_previous) {
		mac_hex(k->previous, tok, signed_len, mac);
		ok = CRYPTO_memcmp(mac, parts[4], MAC_HEX) == 0;
	}
	if (!ok)
		return TOKEN_FORGED;
	if (strcmp(parts[1], form) != 0)
		return TOKEN_OTHER_FORM;
	memcpy(nonce, parts[2], TOKEN_NONCE_HEX + 1);
	/*
	 * Authentic and from the future: only this host's clock made it,
	 * before the clock was set back (NTP correcting a fast clock).  How
	 * long the visitor took cannot be told, so the minimum age is not
	 * checked, rather than send every page open across the step to
	 * the junk folder.
	 */
	if ((long long)issued > (long long)now)
		return (long long)issued - (long long)now <= (long long)max_age ?
		    TOKEN_OK : TOKEN_MALFORMED;
	if ((long long)now - (long long)issued < (long long)min_age)
		return TOKEN_TOO_YOUNG;
	if ((long long)now - (long long)issued > (long long)max_age)
		return TOKEN_EXPIRED;
	return TOKEN_OK;
}

const char *
token_status_str(enum token_status st)
{
	static const char *const str[TOKEN__MAX] = {
		[TOKEN_OK] = "ok",
		[TOKEN_MISSING] = "token missing",
		[TOKEN_MALFORMED] = "token malformed",
		[TOKEN_FORGED] = "token forged",
		[TOKEN_OTHER_FORM] = "token for another form",
		[TOKEN_TOO_YOUNG] = "token too young",
		[TOKEN_EXPIRED] = "token expired",
	};

	return st < TOKEN__MAX ? str[st] : "?";
}
