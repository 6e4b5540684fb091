/*
 * multipart/form-data bodies (RFC 7578, with the HTML standard's encoding
 * of names and file names), parsed as they arrive, in pieces of any size.
 * Text parts become fields; file parts become fields with a filename and
 * a content type, their content in the form's spool.
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

/*
 * The streaming parser: new (NULL when the boundary is not valid or
 * memory is short), feed the body in pieces, finish at its end.  The
 * first error is final and returned by every later call.
 */
struct multipart;
struct multipart *multipart_new(const char *boundary,
	    const struct form_limits *, struct form_data *);
enum parse_status multipart_feed(struct multipart *, const char *, size_t);
enum parse_status multipart_finish(struct multipart *);
void	multipart_free(struct multipart *);

/* A whole body at once. */
enum parse_status multipart_parse(const char *body, size_t len,
	    const char *boundary, const struct form_limits *,
	    struct form_data *);

#endif
