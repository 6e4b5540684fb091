/*
 * The "type; name=value; name="quoted value"" syntax shared by the
 * Content-Type and Content-Disposition headers (RFC 2045, RFC 6266).
 */
#ifndef FORMDROP_HEADER_PARAM_H
#define FORMDROP_HEADER_PARAM_H

#include <stddef.h>

enum quoting {
	QUOTING_RFC,	/* backslash escapes the next character */
	QUOTING_HTML	/* backslash is literal: browsers send "C:\x" as is */
};

/*
 * Copy the leading token of a header value (before ';') into out, lowered.
 * *p is advanced past it.  0 on success, -1 if empty or too long.
 */
int	header_value_token(const char **p, char *out, size_t outsz);

/*
 * Read the next "; name=value" parameter at *p.  Names are lowered.
 * Returns 1 with a parameter, 0 at the end, -1 when malformed or a name or
 * value does not fit.
 */
int	header_param_next(const char **p, enum quoting, char *name,
	    size_t namesz, char *value, size_t valuesz);

#endif
