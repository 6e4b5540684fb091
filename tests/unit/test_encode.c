/*
 * Unit tests for lib/encode.c: quoted-printable, base64, RFC 2047 header
 * text and RFC 2231 parameters.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "encode.h"
#include "util.h"
#include "testutil.h"

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;		/* encoders must write upper case */
}

/* Decode quoted-printable (LF line ends) into out; asserts well-formed. */
static void
qp_decode(const char *s, size_t len, struct buf *out)
{
	size_t i;
	int hi, lo;

	for (i = 0; i < len; i++) {
		if (s[i] != '=') {
			assert_int_equal(buf_putc(out, s[i]), 0);
			continue;
		}
		assert_true(i + 1 < len);
		if (s[i + 1] == '\n') {		/* soft line break */
			i++;
			continue;
		}
		assert_true(i + 2 < len);
		hi = hexval(s[i + 1]);
		lo = hexval(s[i + 2]);
		assert_true(hi >= 0 && lo >= 0);
		assert_int_equal(buf_putc(out, (char)(hi << 4 | lo)), 0);
		i += 2;
	}
}

/*
 * Check the shape of QP output: 7-bit printable, lines of at most 76
 * characters, no white space at a line end, no line starting with "."
 * or "From ".
 */
static void
qp_check_lines(const char *s, size_t len, int line_start)
{
	size_t i, col = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n') {
			if (i > 0)
				assert_true(s[i - 1] != ' ' && s[i - 1] != '\t');
			col = 0;
			continue;
		}
		assert_true((c >= 0x20 && c < 0x7f) || c == '\t');
		if (col == 0 && line_start) {
			if (c == '.')
				fail_msg("line starting with \".\" at offset "
				    "%zu: \"%.20s\"", i, s + i);
			if (len - i >= 5 && memcmp(s + i, "From ", 5) == 0)
				fail_msg("line starting with \"From \" at "
				    "offset %zu", i);
		}
		col++;
		if (col > 76)
			fail_msg("QP line longer than 76 at offset %zu", i);
	}
	if (len > 0)
		assert_true(s[len - 1] != ' ' && s[len - 1] != '\t');
}

/* Encode in[0..len) and check shape and exact round trip to want. */
static void
qp_roundtrip_x(const char *in, size_t len, const char *want, size_t wantlen,
    int line_start)
{
	struct buf enc, dec;

	buf_init(&enc, 1 << 22);
	buf_init(&dec, 1 << 22);
	assert_int_equal(encode_qp(&enc, in, len), 0);
	qp_check_lines(enc.data != NULL ? enc.data : "", enc.len, line_start);
	qp_decode(enc.data != NULL ? enc.data : "", enc.len, &dec);
	assert_int_equal(dec.len, wantlen);
	if (wantlen > 0)
		assert_memory_equal(dec.data, want, wantlen);
	buf_free(&enc);
	buf_free(&dec);
}

/* The same, not looking at what lines start with. */
static void
qp_roundtrip(const char *in, size_t len, const char *want, size_t wantlen)
{
	qp_roundtrip_x(in, len, want, wantlen, 0);
}

static void
qp_expect(const char *in, const char *want)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	assert_int_equal(encode_qp(&b, in, strlen(in)), 0);
	assert_string_equal(b.data != NULL ? b.data : "", want);
	buf_free(&b);
}

static uint32_t rng_state = 12345;

static uint32_t
rng(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return rng_state >> 8;
}

static void
test_qp_basic(void **state)
{
	qp_expect("", "");
	qp_expect("Hello, world!\n", "Hello, world!\n");
	qp_expect("a=b", "a=3Db");
	qp_expect("caf\xc3\xa9", "caf=C3=A9");
	qp_expect("tab\there", "tab\there");
	qp_expect("\x01\x7f", "=01=7F");
}

static void
test_qp_trailing_space(void **state)
{
	qp_expect("a \nb\t\nc", "a=20\nb=09\nc");
	qp_expect("end ", "end=20");
	qp_expect("end\t", "end=09");
	qp_expect("two  \n", "two =20\n");
	qp_expect("crlf \r\nx", "crlf=20\nx");
	qp_expect("mid space", "mid space");
}

static void
test_qp_crlf(void **state)
{
	qp_expect("a\r\nb\r\n", "a\nb\n");
	qp_expect("lone\rcr", "lone=0Dcr");
	qp_expect("end\r", "end=0D");
	qp_expect("\r\r\n", "=0D\n");
}

static void
test_qp_line_start(void **state)
{
	qp_expect(".\n", "=2E\n");
	qp_expect("a\n.b\n..\n", "a\n=2Eb\n=2E.\n");
	qp_expect("From me\n", "=46rom me\n");
	qp_expect("x\nFrom here", "x\n=46rom here");
	qp_expect("From", "From");
	qp_expect("Fromage", "Fromage");
	qp_expect("a.b From c", "a.b From c");
}

static void
test_qp_line_length(void **state)
{
	char in[1000];
	size_t i;

	memset(in, 'a', 200);
	qp_roundtrip(in, 200, in, 200);
	/* Lines of encoded characters, which need 3 columns each. */
	for (i = 0; i + 1 < 600; i += 2) {
		in[i] = '\xc3';
		in[i + 1] = '\xa9';
	}
	qp_roundtrip(in, 600, in, 600);
	/* Every length around the limit, with '=' at the end. */
	for (i = 60; i < 90; i++) {
		memset(in, 'x', i);
		in[i] = '=';
		in[i + 1] = '\n';
		qp_roundtrip(in, i + 2, in, i + 2);
		in[i] = ' ';
		qp_roundtrip(in, i + 2, in, i + 2);
	}
}

static void
test_qp_soft_break_line_start(void **state)
{
	char in[200];
	size_t i;

	/* A soft line break must not leave "." or "From " at the start of
	 * the next line (SMTP would take a lone "." as end of data). */
	for (i = 70; i < 80; i++) {
		memset(in, 'a', i);
		memcpy(in + i, ".\n", 2);
		qp_roundtrip_x(in, i + 2, in, i + 2, 1);
		memcpy(in + i, "From here\n", 10);
		qp_roundtrip_x(in, i + 10, in, i + 10, 1);
	}
}

static void
test_qp_random_roundtrip(void **state)
{
	static char in[20000];
	size_t i, n;
	int round;

	for (round = 0; round < 20; round++) {
		n = rng() % sizeof(in);
		for (i = 0; i < n; i++) {
			uint32_t r = rng() % 10;

			/* Mostly text, with newlines, spaces and bytes. */
			in[i] = r < 5 ? (char)('a' + rng() % 26) :
			    r == 5 ? '\n' : r == 6 ? ' ' : r == 7 ? '.' :
			    (char)(rng() % 256);
			if (in[i] == '\r')
				in[i] = 'r';
		}
		qp_roundtrip(in, n, in, n);
	}
}

static void
test_qp_crlf_roundtrip(void **state)
{
	const char *in = "line 1\r\nline 2 \r\n.\r\nFrom x\r\n";
	const char *want = "line 1\nline 2 \n.\nFrom x\n";

	qp_roundtrip(in, strlen(in), want, strlen(want));
}

static void
test_qp_bound(void **state)
{
	struct buf b;

	buf_init(&b, 5);
	assert_int_equal(encode_qp(&b, "\xff\xff", 2), -1);
	buf_free(&b);
}

/* Decode base64 lines with EVP_DecodeBlock; checks line lengths. */
static void
b64_decode(const char *s, size_t len, struct buf *out)
{
	unsigned char dec[80];
	const char *p = s, *end = s + len, *nl;
	size_t n, pad;
	int r;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		assert_non_null(nl);
		n = (size_t)(nl - p);
		assert_true(n > 0 && n <= 76 && n % 4 == 0);
		if (nl + 1 < end)
			assert_int_equal(n, 76);	/* only the last is short */
		r = EVP_DecodeBlock(dec, (const unsigned char *)p, (int)n);
		assert_true(r >= 0);
		pad = (p[n - 1] == '=') + (p[n - 2] == '=');
		assert_int_equal(buf_append(out, dec, (size_t)r - pad), 0);
		p = nl + 1;
	}
}

static void
test_base64_known(void **state)
{
	struct buf b;

	buf_init(&b, 4096);
	assert_int_equal(encode_base64(&b, "", 0), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(encode_base64(&b, "Man", 3), 0);
	assert_string_equal(b.data, "TWFu\n");
	buf_reset(&b);
	assert_int_equal(encode_base64(&b, "Ma", 2), 0);
	assert_string_equal(b.data, "TWE=\n");
	buf_reset(&b);
	assert_int_equal(encode_base64(&b, "M", 1), 0);
	assert_string_equal(b.data, "TQ==\n");
	buf_free(&b);
}

static void
test_base64_lines(void **state)
{
	unsigned char data[5000];
	struct buf b, dec;
	size_t i, n;
	static const size_t sizes[] = { 1, 56, 57, 58, 114, 115, 1000, 5000 };

	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)rng();
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		n = sizes[i];
		buf_init(&b, 1 << 20);
		buf_init(&dec, 1 << 20);
		assert_int_equal(encode_base64(&b, data, n), 0);
		/* ceil(n / 57) lines. */
		assert_int_equal(tu_lines(b.data, b.len), (n + 56) / 57);
		b64_decode(b.data, b.len, &dec);
		assert_int_equal(dec.len, n);
		assert_memory_equal(dec.data, data, n);
		buf_free(&b);
		buf_free(&dec);
	}
}

/* Check a header's shape and return its unfolded encoded words decoded. */
static void
header_check(const char *h, size_t len, const char *name, struct buf *text,
    int rfc2047_line)
{
	const char *p, *line, *nl, *w, *q;
	size_t i, n;
	unsigned char dec[100];
	int r, encoded = 0;

	assert_true(len > 0 && h[len - 1] == '\n');
	assert_true(strncmp(h, name, strlen(name)) == 0);
	assert_int_equal(h[strlen(name)], ':');
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)h[i];

		assert_true(c < 0x80);
		assert_true(c != '\r' && c != '\0');
		assert_true(c >= 0x20 || c == '\n' || c == '\t');
		if (c == '\n' && i + 1 < len)
			assert_true(h[i + 1] == ' ' || h[i + 1] == '\t');
	}
	encoded = strstr(h, "=?UTF-8?B?") != NULL;
	for (line = h; line < h + len; line = nl + 1) {
		nl = memchr(line, '\n', (size_t)(h + len - line));
		n = (size_t)(nl - line);
		/* RFC 2047 section 2: a line with encoded-words is at most
		 * 76 characters long. */
		if (encoded && rfc2047_line && n > 76)
			fail_msg("header line of %zu characters: %.*s", n,
			    (int)n, line);
		if (!encoded)
			continue;
		for (p = line; (w = strstr(p, "=?UTF-8?B?")) != NULL && w < nl;
		    p = q + 2) {
			q = strstr(w + 10, "?=");
			assert_non_null(q);
			assert_true(q + 2 - w <= 75);
			r = EVP_DecodeBlock(dec, (const unsigned char *)w + 10,
			    (int)(q - w - 10));
			assert_true(r >= 0);
			r -= (q[-1] == '=') + (q[-2] == '=');
			/* Each word holds whole characters. */
			assert_true(is_utf8((const char *)dec, (size_t)r));
			assert_int_equal(buf_append(text, dec, (size_t)r), 0);
		}
	}
}

static void
header_expect(const char *text, const char *want)
{
	struct buf b;

	buf_init(&b, 1 << 16);
	assert_int_equal(encode_header_text(&b, "Subject", text), 0);
	assert_string_equal(b.data, want);
	buf_free(&b);
}

static void
test_header_ascii(void **state)
{
	header_expect("Hello", "Subject: Hello\n");
	header_expect("", "Subject: \n");
	header_expect("a\r\nBcc: x@y.z", "Subject: a Bcc: x@y.z\n");
	header_expect("tab\there\x7f", "Subject: tab here\n");
	/* Runs of white space are one space, none at the ends: no folded
	 * line of spaces only. */
	header_expect("  a \t\t   b  ", "Subject: a b\n");
	header_expect(" \r\n ", "Subject: \n");
	header_expect("Gr\xc3\xbc\xc3\x9f" "e", "Subject: =?UTF-8?B?R3LDvMOfZQ==?=\n");
}

static void
test_header_ascii_fold(void **state)
{
	char text[600], unfolded[700];
	struct buf b, dec;
	size_t i, o;

	for (i = 0; i < sizeof(text) - 1; i++)
		text[i] = i % 7 == 6 ? ' ' : (char)('a' + i % 26);
	text[sizeof(text) - 1] = '\0';
	buf_init(&b, 1 << 16);
	buf_init(&dec, 1 << 16);
	assert_int_equal(encode_header_text(&b, "Subject", text), 0);
	header_check(b.data, b.len, "Subject", &dec, 0);
	/* Folded lines stay near 78 characters. */
	assert_true(tu_lines(b.data, b.len) > 5);
	for (i = 0; i < b.len;) {
		const char *nl = strchr(b.data + i, '\n');

		assert_true((size_t)(nl - (b.data + i)) <= 78);
		i = (size_t)(nl - b.data) + 1;
	}
	/* Unfolding (removing the line breaks) gives the text back. */
	for (i = 0, o = 0; i < b.len - 1; i++)
		if (b.data[i] != '\n')
			unfolded[o++] = b.data[i];
	unfolded[o] = '\0';
	assert_string_equal(unfolded + strlen("Subject: "), text);
	buf_free(&b);
	buf_free(&dec);
}

static void
check_encoded_header(const char *text, const char *want_text)
{
	struct buf b, dec;

	buf_init(&b, 1 << 16);
	buf_init(&dec, 1 << 16);
	assert_int_equal(encode_header_text(&b, "Subject", text), 0);
	assert_non_null(strstr(b.data, "=?UTF-8?B?"));
	header_check(b.data, b.len, "Subject", &dec, 0);
	assert_int_equal(dec.len, strlen(want_text));
	assert_memory_equal(dec.data, want_text, dec.len);
	buf_free(&b);
	buf_free(&dec);
}

static void
test_header_encoded_words(void **state)
{
	char text[2000];
	size_t i;

	check_encoded_header("caf\xc3\xa9", "caf\xc3\xa9");
	/* "=?" in ASCII text is encoded too, so it is never decoded. */
	check_encoded_header("=?UTF-8?B?QQ==?=", "=?UTF-8?B?QQ==?=");
	/* Long texts of 2, 3 and 4 byte characters: many words, none
	 * splitting a character. */
	for (i = 0; i + 2 <= 600; i += 2)
		memcpy(text + i, "\xc3\xa9", 2);
	text[600] = '\0';
	check_encoded_header(text, text);
	for (i = 0; i + 3 <= 900; i += 3)
		memcpy(text + i, "\xe2\x82\xac", 3);
	text[900] = '\0';
	check_encoded_header(text, text);
	for (i = 0; i + 5 <= 1000; i += 5)
		memcpy(text + i, "\xf0\x9f\x98\x80x", 5);
	text[1000] = '\0';
	check_encoded_header(text, text);
	/* Controls become spaces inside encoded words too. */
	check_encoded_header("\xc3\xa9\r\nBcc: a@b", "\xc3\xa9 Bcc: a@b");
	/* ASCII with a word too long to fold into 78: encoded-words, whose
	 * lines are short however long the word. */
	memset(text, 'x', 1500);
	text[1500] = '\0';
	check_encoded_header(text, text);
}

/* No header line longer than 78, whatever the text (RFC 5322 2.1.1). */
static void
test_header_lines_short(void **state)
{
	static const char *const texts[] = {
		"a", "word then a very long one: "
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"x",
		"a                                                                "
		"                                                                 "
		"                                                                b",
	};
	struct buf b;
	size_t i, at;
	char *nl;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		buf_init(&b, 1 << 16);
		assert_int_equal(encode_header_text(&b, "Subject", texts[i]),
		    0);
		for (at = 0; at < b.len; at = (size_t)(nl - b.data) + 1) {
			nl = strchr(b.data + at, '\n');
			assert_non_null(nl);
			if ((size_t)(nl - (b.data + at)) > 78)
				fail_msg("line of %zu in: %s",
				    (size_t)(nl - (b.data + at)), b.data);
			/* and none of white space only */
			assert_true(strspn(b.data + at, " \t") <
			    (size_t)(nl - (b.data + at)) || at == 0);
		}
		buf_free(&b);
	}
}

static void
test_header_encoded_line_length(void **state)
{
	struct buf b, dec;

	/* 45 bytes fill one encoded-word: its line must still be at most
	 * 76 characters including "Subject: ". */
	buf_init(&b, 1 << 16);
	buf_init(&dec, 1 << 16);
	assert_int_equal(encode_header_text(&b, "Subject",
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"), 0);
	header_check(b.data, b.len, "Subject", &dec, 1);
	assert_int_equal(dec.len, 60);
	buf_free(&b);
	buf_free(&dec);
}

static void
test_header_very_long(void **state)
{
	static char text[10001];
	struct buf b, dec;
	size_t i;

	/* Longer than the internal bound: cut, but at a character edge. */
	for (i = 0; i + 2 <= 10000; i += 2)
		memcpy(text + i, "\xc3\xa9", 2);
	text[10000] = '\0';
	buf_init(&b, 1 << 20);
	buf_init(&dec, 1 << 20);
	assert_int_equal(encode_header_text(&b, "Subject", text), 0);
	header_check(b.data, b.len, "Subject", &dec, 0);
	assert_true(dec.len > 1000);
	assert_true(is_utf8(dec.data, dec.len));
	assert_memory_equal(dec.data, text, dec.len);
	buf_free(&b);
	buf_free(&dec);
}

/* The longest line of s, without its newline. */
static size_t
max_line(const char *s)
{
	size_t longest = 0, n;

	for (; *s != '\0'; s += n + (s[n] == '\n')) {
		n = strcspn(s, "\n");
		if (n > longest)
			longest = n;
	}
	return longest;
}

static void
param_expect(const char *value, const char *want)
{
	struct buf b;

	buf_init(&b, 1 << 16);
	assert_int_equal(encode_param(&b, "filename", value), 0);
	assert_string_equal(b.data, want);
	buf_free(&b);
}

static int
unhex(char c)
{
	return c >= 'A' && c <= 'F' ? c - 'A' + 10 : c - '0';
}

/* Decode RFC 2231 continuations of "filename" back into out. */
static void
param_decode_2231(const char *s, struct buf *out)
{
	char prefix[64];
	const char *p;
	size_t sect;

	for (sect = 0;; sect++) {
		snprintf(prefix, sizeof(prefix), ";\n\tfilename*%zu*=%s", sect,
		    sect == 0 ? "utf-8''" : "");
		if (strncmp(s, prefix, strlen(prefix)) != 0) {
			assert_true(sect > 0);
			assert_int_equal(*s, '\0');
			return;
		}
		for (p = s + strlen(prefix); *p != '\0' && *p != ';'; p++) {
			if (*p == '%') {
				assert_int_equal(buf_putc(out,
				    (char)(unhex(p[1]) << 4 | unhex(p[2]))), 0);
				p += 2;
			} else {
				assert_true(strchr("\"\\ '()<>@,;:/[]?={}*%",
				    *p) == NULL && *p > 0x20 && *p < 0x7f);
				assert_int_equal(buf_putc(out, *p), 0);
			}
		}
		s = p;
	}
}

static void
test_param_ascii(void **state)
{
	param_expect("report.pdf", ";\n\tfilename=\"report.pdf\"");
	param_expect("a\"b\\c.txt", ";\n\tfilename=\"a\\\"b\\\\c.txt\"");
	param_expect("", ";\n\tfilename=\"\"");
	param_expect("with space; and=semi", ";\n\tfilename=\"with space; and=semi\"");
}

/* Escapes count toward the line: 60 quotes would be 120 characters. */
static void
test_param_ascii_escapes(void **state)
{
	struct buf b, dec;
	char text[61];

	memset(text, '"', 60);
	text[60] = '\0';
	buf_init(&b, 1 << 16);
	buf_init(&dec, 1 << 16);
	assert_int_equal(encode_param(&b, "filename", text), 0);
	assert_true(max_line(b.data) <= 78);
	param_decode_2231(b.data, &dec);
	assert_int_equal(dec.len, 60);
	assert_memory_equal(dec.data, text, 60);
	buf_free(&b);
	buf_free(&dec);
	/* 30 escaped characters fit quoted: 60 wide. */
	memset(text, '\\', 30);
	text[30] = '\0';
	buf_init(&b, 1 << 16);
	assert_int_equal(encode_param(&b, "filename", text), 0);
	assert_int_equal(strncmp(b.data, ";\n\tfilename=\"", 13), 0);
	assert_true(max_line(b.data) <= 78);
	buf_free(&b);
}

static void
test_param_2231(void **state)
{
	struct buf b, dec;
	char text[400];
	size_t i;

	param_expect("\xc3\xa9t\xc3\xa9.txt",
	    ";\n\tfilename*0*=utf-8''%C3%A9t%C3%A9.txt");
	param_expect("a b", ";\n\tfilename=\"a b\"");
	/* Long names and names with "=?" use continuations too. */
	for (i = 0; i + 3 <= 300; i += 3)
		memcpy(text + i, "\xe2\x82\xac", 3);
	memcpy(text + 300, "-x y.txt", 9);
	buf_init(&b, 1 << 16);
	buf_init(&dec, 1 << 16);
	assert_int_equal(encode_param(&b, "filename", text), 0);
	assert_non_null(strstr(b.data, "filename*1*="));
	assert_true(max_line(b.data) <= 78);	/* with its ";" */
	param_decode_2231(b.data, &dec);
	assert_int_equal(dec.len, strlen(text));
	assert_memory_equal(dec.data, text, dec.len);
	buf_free(&b);
	buf_free(&dec);

	memset(text, 'n', 100);
	text[100] = '\0';
	buf_init(&b, 1 << 16);
	buf_init(&dec, 1 << 16);
	assert_int_equal(encode_param(&b, "filename", text), 0);
	assert_true(max_line(b.data) <= 78);
	param_decode_2231(b.data, &dec);
	assert_int_equal(dec.len, 100);
	buf_free(&b);
	buf_free(&dec);

	buf_init(&b, 1 << 16);
	buf_init(&dec, 1 << 16);
	assert_int_equal(encode_param(&b, "filename", "=?x?="), 0);
	param_decode_2231(b.data, &dec);
	assert_string_equal(dec.data, "=?x?=");
	buf_free(&b);
	buf_free(&dec);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qp_basic),
		cmocka_unit_test(test_qp_trailing_space),
		cmocka_unit_test(test_qp_crlf),
		cmocka_unit_test(test_qp_line_start),
		cmocka_unit_test(test_qp_line_length),
		cmocka_unit_test(test_qp_soft_break_line_start),
		cmocka_unit_test(test_qp_random_roundtrip),
		cmocka_unit_test(test_qp_crlf_roundtrip),
		cmocka_unit_test(test_qp_bound),
		cmocka_unit_test(test_base64_known),
		cmocka_unit_test(test_base64_lines),
		cmocka_unit_test(test_header_ascii),
		cmocka_unit_test(test_header_ascii_fold),
		cmocka_unit_test(test_header_encoded_words),
		cmocka_unit_test(test_header_lines_short),
		cmocka_unit_test(test_header_encoded_line_length),
		cmocka_unit_test(test_header_very_long),
		cmocka_unit_test(test_param_ascii),
		cmocka_unit_test(test_param_ascii_escapes),
		cmocka_unit_test(test_param_2231),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
