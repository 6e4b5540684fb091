/*
 * JSON string output.  Input is valid UTF-8 (the parsers guarantee it);
 * quotes, backslashes and control characters are escaped, and so are
 * U+2028/U+2029 so that the output is also safe inside a <script>.
 */
#include <string.h>

#include "json.h"

int
json_string(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	if (buf_putc(b, '"') == -1)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int r;

		if (c == '"')
			r = buf_puts(b, "\\\"");
		else if (c == '\\')
			r = buf_puts(b, "\\\\");
		else if (c == '\n')
			r = buf_puts(b, "\\n");
		else if (c == '\r')
			r = buf_puts(b, "\\r");
		else if (c == '\t')
			r = buf_puts(b, "\\t");
		else if (c < 0x20 || c == 0x7f)
			r = buf_printf(b, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
		else if (c == 0xe2 && i + 2 < len &&
		    (unsigned char)s[i + 1] == 0x80 &&
		    ((unsigned char)s[i + 2] == 0xa8 ||
		    (unsigned char)s[i + 2] == 0xa9)) {
			r = buf_puts(b, (unsigned char)s[i + 2] == 0xa8 ?
			    "\\u2028" : "\\u2029");
			i += 2;
		} else
			r = buf_putc(b, (char)c);
		if (r == -1)
			return -1;
	}
	return buf_putc(b, '"');
}

int
json_cstring(struct buf *b, const char *s)
{
	return json_string(b, s, strlen(s));
}
