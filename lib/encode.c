/*
 * MIME encoders, used by mime.c in the handler worker.  Inputs may hold
 * anything a submitter sent; outputs are always 7-bit, with no way for
 * the input to end a header line or a MIME part.
 */
#include <openssl/evp.h>
#include <string.h>

#include "encode.h"

#define QP_LINE_MAX	76
#define HEADER_LINE_MAX	78
#define HEADER_WORD_LINE	76	/* RFC 2047: lines with encoded-words */
#define PARAM_LINE_MAX	78	/* RFC 5322 2.1.1, for RFC 2231 sections */

static const char hex[] = "0123456789ABCDEF";

/*
 * Quoted-printable: printable ASCII stays as is except '='; a space or
 * TAB before a line break is encoded; "From " and "." at a line start
 * are encoded so that no mbox or SMTP path can alter the line.
 */
int
encode_qp(struct buf *b, const char *s, size_t len)
{
	size_t i, col = 0;
	char enc[3];

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int at_eol = i + 1 == len || s[i + 1] == '\n' ||
		    (s[i + 1] == '\r' && i + 2 < len && s[i + 2] == '\n');
		int literal;

		if (c == '\r' && i + 1 < len && s[i + 1] == '\n')
			continue;		/* CRLF -> LF */
		if (c == '\n') {
			if (buf_putc(b, '\n') == -1)
				return -1;
			col = 0;
			continue;
		}
		literal = (c >= 33 && c <= 126 && c != '=') ||
		    ((c == ' ' || c == '\t') && !at_eol);
		if (col + (literal ? 1 : 3) > QP_LINE_MAX - 1) {
			if (buf_puts(b, "=\n") == -1)
				return -1;
			col = 0;
		}
		/* Checked after any soft break: it may start a line too. */
		if (col == 0 && (c == '.' ||
		    (c == 'F' && len - i >= 5 && memcmp(s + i, "From ", 5) == 0)))
			literal = 0;
		if (literal) {
			if (buf_putc(b, (char)c) == -1)
				return -1;
			col++;
		} else {
			enc[0] = '=';
			enc[1] = hex[c >> 4];
			enc[2] = hex[c & 15];
			if (buf_append(b, enc, 3) == -1)
				return -1;
			col += 3;
		}
	}
	return 0;
}

int
encode_base64(struct buf *b, const void *data, size_t len)
{
	const unsigned char *p = data;
	unsigned char line[80];
	size_t n;
	int out;

	while (len > 0) {
		n = len < B64_LINE_BYTES ? len : B64_LINE_BYTES;
		out = EVP_EncodeBlock(line, p, (int)n);
		if (buf_append(b, line, (size_t)out) == -1 ||
		    buf_putc(b, '\n') == -1)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

static int
is_plain_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

/* Length of the UTF-8 sequence starting with byte c (input is valid). */
static size_t
utf8_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c >= 0xf0)
		return 4;
	if (c >= 0xe0)
		return 3;
	return 2;
}

/* Append s folded at spaces so that lines stay near 78 characters. */
static int
fold_plain(struct buf *b, size_t col, const char *s)
{
	const char *word, *sp;
	size_t n;

	while (*s != '\0') {
		word = s;
		sp = strchr(s + 1, ' ');
		n = sp != NULL ? (size_t)(sp - word) : strlen(word);
		if (col + n > HEADER_LINE_MAX && word[0] == ' ' && col > 1) {
			if (buf_putc(b, '\n') == -1)
				return -1;
			col = 0;
		}
		if (buf_append(b, word, n) == -1)
			return -1;
		col += n;
		s = word + n;
	}
	return 0;
}

/* Length of the longest run of characters between spaces in s. */
static size_t
longest_word(const char *s)
{
	size_t n, most = 0;

	while (*s != '\0') {
		n = strcspn(s, " ");
		if (n > most)
			most = n;
		s += n + strspn(s + n, " ");
	}
	return most;
}

int
encode_header_text(struct buf *b, const char *name, const char *text)
{
	unsigned char chunk[48], word[80];
	char clean[4096] = "";
	size_t i, n, col, clen = 0, l;
	int wlen;

	/*
	 * Controls become spaces, and runs of spaces one space (a folded
	 * line must hold more than white space, RFC 5322 3.2.2); none at
	 * either end.  The result is bounded by clean's size.
	 */
	for (i = 0; text[i] != '\0' && clen + 4 < sizeof(clean); i++) {
		unsigned char c = (unsigned char)text[i];

		if (c < 0x20 || c == 0x7f)
			c = ' ';
		if (c == ' ' && (clen == 0 || clean[clen - 1] == ' '))
			continue;
		clean[clen++] = (char)c;
	}
	/* Do not cut a UTF-8 sequence at the bound. */
	while (clen > 0 && ((unsigned char)clean[clen - 1] & 0xc0) == 0x80 &&
	    text[i] != '\0')
		clen--;
	if (clen > 0 && (unsigned char)clean[clen - 1] >= 0xc0 &&
	    text[i] != '\0')
		clen--;
	if (clen > 0 && clean[clen - 1] == ' ')
		clen--;
	clean[clen] = '\0';
	if (buf_printf(b, "%s:", name) == -1)
		return -1;
	col = strlen(name) + 1;
	/* As it is when it can be folded into lines of 78; a longer word
	 * (up to 4 KiB) goes as encoded-words, which fold anywhere. */
	if (is_plain_ascii(clean) && strstr(clean, "=?") == NULL &&
	    col + 1 + longest_word(clean) <= HEADER_LINE_MAX) {
		if (buf_putc(b, ' ') == -1 ||
		    fold_plain(b, col + 1, clean) == -1)
			return -1;
		return buf_putc(b, '\n');
	}
	/*
	 * Encoded-words of whole characters, each line at most 76 long
	 * (RFC 2047 2): " =?UTF-8?B?" and "?=" take 13, and the first line
	 * also holds "Name:".
	 */
	for (i = 0; i < clen; i += n) {
		size_t room = HEADER_WORD_LINE - 13 - (i == 0 ? col : 0);
		size_t bytes = room / 4 * 3;

		if (bytes < 4)
			bytes = 4;	/* one character, however long the name */
		n = 0;
		while (i + n < clen) {
			l = utf8_len((unsigned char)clean[i + n]);
			if (n + l > bytes && n > 0)
				break;
			n += l;
		}
		/* Valid UTF-8 ends on a character; anything else, here. */
		if (i + n > clen)
			n = clen - i;
		memcpy(chunk, clean + i, n);
		wlen = EVP_EncodeBlock(word, chunk, (int)n);
		if (i > 0 && buf_putc(b, '\n') == -1)
			return -1;
		if (buf_printf(b, " =?UTF-8?B?%.*s?=", wlen, word) == -1)
			return -1;
	}
	if (clen == 0 && buf_putc(b, ' ') == -1)
		return -1;
	return buf_putc(b, '\n');
}

static int
is_attr_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("!#$&+-.^_`|~", c) != NULL;
}

/* The width of value between its quotes: '"' and '\\' are escaped. */
static size_t
quoted_width(const char *value)
{
	size_t width = 0;

	for (; *value != '\0'; value++)
		width += *value == '"' || *value == '\\' ? 2 : 1;
	return width;
}

int
encode_param(struct buf *b, const char *name, const char *value)
{
	size_t len = strlen(value), i, sect, n;
	const char *p;

	/* "=?" would be decoded as an RFC 2047 word by some clients.  A
	 * value that would not fit one line quoted is split as below. */
	if (is_plain_ascii(value) && quoted_width(value) <= 60 &&
	    strstr(value, "=?") == NULL) {
		if (buf_printf(b, ";\n\t%s=\"", name) == -1)
			return -1;
		for (p = value; *p != '\0'; p++)
			if (((*p == '"' || *p == '\\') &&
			    buf_putc(b, '\\') == -1) || buf_putc(b, *p) == -1)
				return -1;
		return buf_putc(b, '"');
	}
	for (i = 0, sect = 0; i < len || sect == 0; sect++) {
		/* "\tNAME*NN*=" (and "utf-8''" first), the value, a ";". */
		size_t room = PARAM_LINE_MAX - 1 - strlen(name) - 5 -
		    (sect == 0 ? 7 : 0) - 1, width = 0;

		/* Whole characters, as many as fit encoded ("%C3" is 3). */
		n = 0;
		while (i + n < len) {
			size_t l = utf8_len((unsigned char)value[i + n]), k;
			size_t w = 0;

			if (l > len - i - n)
				l = len - i - n;
			for (k = 0; k < l; k++)
				w += is_attr_char((unsigned char)
				    value[i + n + k]) ? 1 : 3;
			if (width + w > room && n > 0)
				break;
			n += l;
			width += w;
		}
		if (buf_printf(b, ";\n\t%s*%zu*=%s", name, sect,
		    sect == 0 ? "utf-8''" : "") == -1)
			return -1;
		for (; n > 0; n--, i++) {
			unsigned char c = (unsigned char)value[i];

			if (is_attr_char(c) ? buf_putc(b, (char)c) :
			    buf_printf(b, "%%%c%c", hex[c >> 4], hex[c & 15]))
				return -1;
		}
		if (len == 0)
			break;
	}
	return 0;
}
