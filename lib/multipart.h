/*
 * multipart/form-data bodies (RFC 7578, with the HTML standard's encoding
 * of names and file names), parsed from a complete, size-bounded body.
 * File parts become fields with a filename and a content type.
 */
#ifndef FORMDROP_MULTIPART_H
#define FORMDROP_MULTIPART_H

#include "form.h"

/*
 * Extract the boundary parameter of a multipart Content-Type header value
 * (quoted or not) into out.  0 on success, -1 when ctype is not
 * multipart/form-data or has no valid boundary (RFC 2046: 1-70 chars).
 */
int	multipart_boundary(const char *ctype, char *out, size_t outsz);

enum parse_status multipart_parse(const char *body, size_t len,
	    const char *boundary, const struct form_limits *,
	    struct form_data *);

#endif
