/*
 * MIME encoders for message composition: quoted-printable (RFC 2045),
 * base64 (via OpenSSL), RFC 2047 encoded-words for header text and
 * RFC 2231 parameter values for file names.  All output uses LF line
 * ends, the Maildir convention; all of it is 7-bit ASCII.
 */
#ifndef FORMDROP_ENCODE_H
#define FORMDROP_ENCODE_H

#include <stddef.h>

#include "buf.h"

/* Input bytes per base64 line: 76 characters (RFC 2045 6.8). */
#define B64_LINE_BYTES	57

/* Text with LF (or CRLF) line breaks, as quoted-printable. */
int	encode_qp(struct buf *, const char *s, size_t len);
/* Binary data as base64 in lines of 76 characters. */
int	encode_base64(struct buf *, const void *data, size_t len);
/*
 * A header field "Name: text", folded; text is UTF-8 and becomes
 * encoded-words unless it is plain printable ASCII.  Control characters
 * (CR, LF, NUL, ...) become spaces first: nothing in text can end the
 * header.
 */
int	encode_header_text(struct buf *, const char *name, const char *text);
/*
 * A parameter "; name=value" for Content-Type or Content-Disposition:
 * quoted when ASCII, RFC 2231 name*=utf-8''... (with continuations for
 * long values) otherwise.
 */
int	encode_param(struct buf *, const char *name, const char *value);

#endif
