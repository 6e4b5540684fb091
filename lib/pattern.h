/*
 * A field's pattern: a POSIX extended regular expression that the whole
 * value must match, like HTML's pattern attribute, on characters, not
 * bytes: compiled and run in the C.UTF-8 locale, so that "." is one
 * character and "[^ä]" refuses an "ä" (in the C locale both are bytes).
 */
#ifndef FORMDROP_PATTERN_H
#define FORMDROP_PATTERN_H

#include <regex.h>
#include <stddef.h>

/* Compile src, anchored; 0, or -1 with regerror's text in err. */
int	pattern_compile(regex_t *, const char *src, char *err, size_t errsz);
/* 1 if the whole of value (UTF-8) matches, else 0. */
int	pattern_match(const regex_t *, const char *value);

#endif
