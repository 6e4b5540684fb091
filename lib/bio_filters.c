/*
 * The CRLF and tee filter BIOs (see bio_filters.h).  Both only write:
 * reads are refused, controls (flush above all) go down the chain.
 */
#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>

#include "bio_filters.h"

int
bio_write_all(BIO *b, const void *data, size_t len)
{
	const char *p = data;
	int n;

	while (len > 0) {
		n = BIO_write(b, p, len > INT_MAX ? INT_MAX : (int)len);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
filter_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static long
filter_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	BIO *next = BIO_next(b);

	return next != NULL ? BIO_ctrl(next, cmd, num, ptr) : 0;
}

#define CRLF_CHUNK	16384

/*
 * Converted into a block on the stack and passed on in pieces of up to
 * CRLF_CHUNK, not line by line: a CMS stream below makes one OCTET
 * STRING per write.  The block is wiped: it held plaintext.
 */
static int
crlf_write(BIO *b, const char *data, int len)
{
	BIO *next = BIO_next(b);
	char out[CRLF_CHUNK + 1];
	size_t o = 0;
	int i, r = len;

	if (next == NULL || len < 0)
		return -1;
	for (i = 0; i < len; i++) {
		if (data[i] == '\n')
			out[o++] = '\r';
		out[o++] = data[i];
		if (o >= CRLF_CHUNK) {
			if (bio_write_all(next, out, o) == -1) {
				r = -1;
				break;
			}
			o = 0;
		}
	}
	if (r != -1 && o > 0 && bio_write_all(next, out, o) == -1)
		r = -1;
	OPENSSL_cleanse(out, sizeof(out));
	return r;
}

static int
tee_write(BIO *b, const char *data, int len)
{
	BIO *next = BIO_next(b), *side = BIO_get_data(b);

	if (next == NULL || side == NULL || len < 0 ||
	    bio_write_all(next, data, (size_t)len) == -1 ||
	    bio_write_all(side, data, (size_t)len) == -1)
		return -1;
	return len;
}

static long
tee_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	BIO *side = BIO_get_data(b);

	/* A flush reaches both ways out. */
	if (cmd == BIO_CTRL_FLUSH && side != NULL && BIO_flush(side) != 1)
		return 0;
	return filter_ctrl(b, cmd, num, ptr);
}

static BIO_METHOD *
method(const char *name, int (*wr)(BIO *, const char *, int),
    long (*ctrl)(BIO *, int, long, void *), BIO_METHOD **cache)
{
	BIO_METHOD *m;

	if (*cache != NULL)
		return *cache;
	if ((m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_FILTER,
	    name)) == NULL ||
	    BIO_meth_set_write(m, wr) != 1 ||
	    BIO_meth_set_ctrl(m, ctrl) != 1 ||
	    BIO_meth_set_create(m, filter_create) != 1) {
		BIO_meth_free(m);
		return NULL;
	}
	/* Made once per process and kept: workers never unload it. */
	*cache = m;
	return m;
}

BIO *
bio_crlf_new(void)
{
	static BIO_METHOD *m;

	return method("LF to CRLF", crlf_write, filter_ctrl, &m) == NULL ?
	    NULL : BIO_new(m);
}

BIO *
bio_tee_new(BIO *side)
{
	static BIO_METHOD *m;
	BIO *b;

	if (method("tee", tee_write, tee_ctrl, &m) == NULL ||
	    (b = BIO_new(m)) == NULL)
		return NULL;
	BIO_set_data(b, side);
	return b;
}
