/*
 * Header parameter syntax for multipart parsing.  Pure functions on
 * untrusted input, exercised through the multipart fuzz target.
 */
#include <ctype.h>
#include <string.h>

#include "header_param.h"

/* RFC 2045 token characters. */
static int
is_token_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static void
skip_ws(const char **p)
{
	while (**p == ' ' || **p == '\t')
		(*p)++;
}

int
header_value_token(const char **p, char *out, size_t outsz)
{
	size_t n = 0;

	skip_ws(p);
	while (**p != '\0' && **p != ';' && **p != ' ' && **p != '\t') {
		unsigned char c = (unsigned char)**p;

		if (!is_token_char(c) && c != '/')
			return -1;
		if (n + 1 >= outsz)
			return -1;
		out[n++] = (char)tolower(c);
		(*p)++;
	}
	out[n] = '\0';
	skip_ws(p);
	return n == 0 ? -1 : 0;
}

int
header_param_next(const char **p, enum quoting q, char *name, size_t namesz,
    char *value, size_t valuesz)
{
	size_t n = 0;

	skip_ws(p);
	if (**p == '\0')
		return 0;
	if (**p != ';')
		return -1;
	(*p)++;
	skip_ws(p);
	if (**p == '\0')		/* a trailing ';' */
		return 0;
	while (is_token_char((unsigned char)**p)) {
		if (n + 1 >= namesz)
			return -1;
		name[n++] = (char)tolower((unsigned char)**p);
		(*p)++;
	}
	name[n] = '\0';
	skip_ws(p);
	if (n == 0 || **p != '=')
		return -1;
	(*p)++;
	skip_ws(p);
	n = 0;
	if (**p == '"') {
		for ((*p)++; **p != '"'; (*p)++) {
			if (**p == '\0')
				return -1;
			if (**p == '\\' && q == QUOTING_RFC && (*p)[1] != '\0')
				(*p)++;
			if (n + 1 >= valuesz)
				return -1;
			value[n++] = **p;
		}
		(*p)++;
	} else {
		while (is_token_char((unsigned char)**p)) {
			if (n + 1 >= valuesz)
				return -1;
			value[n++] = *(*p)++;
		}
		if (n == 0)
			return -1;
	}
	value[n] = '\0';
	skip_ws(p);
	return 1;
}
