/*
 * JSON output: the machine-readable copy of a submission and the answers
 * to fetch() clients.  Only writing; formdrop never parses JSON.
 */
#ifndef FORMDROP_JSON_H
#define FORMDROP_JSON_H

#include <stddef.h>

#include "buf.h"

/* s[0..len), valid UTF-8, as a quoted JSON string (RFC 8259). */
int	json_string(struct buf *, const char *s, size_t len);
int	json_cstring(struct buf *, const char *s);

#endif
