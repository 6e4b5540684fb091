/*
 * application/x-www-form-urlencoded bodies (WHATWG URL standard, the
 * "application/x-www-form-urlencoded parser"), decoded exactly: '+' is a
 * space, %XX a byte, and a '%' not followed by two hex digits is an error
 * rather than a guess.  Names and values must be UTF-8.
 */
#ifndef FORMDROP_URLENCODED_H
#define FORMDROP_URLENCODED_H

#include "form.h"

enum parse_status urlencoded_parse(const char *body, size_t len,
	    const struct form_limits *, struct form_data *);

#endif
