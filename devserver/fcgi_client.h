/*
 * The FastCGI client side (FastCGI specification 1.0), as nginx speaks
 * it: BEGIN_REQUEST (responder, keep the connection), PARAMS with the
 * CGI variables, STDIN streamed in records, then STDOUT/STDERR read back
 * until END_REQUEST.  Used by formdrop-devserver to relay /submit/.
 */
#ifndef FORMDROP_FCGI_CLIENT_H
#define FORMDROP_FCGI_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define FCGI_HEADER_LEN		8
#define FCGI_VERSION_1		1
#define FCGI_BEGIN_REQUEST	1
#define FCGI_END_REQUEST	3
#define FCGI_PARAMS		4
#define FCGI_STDIN		5
#define FCGI_STDOUT		6
#define FCGI_STDERR		7
#define FCGI_RESPONDER		1
#define FCGI_KEEP_CONN		1
#define FCGI_RECORD_MAX		65535

struct fcgi_header {
	uint8_t		type;
	uint16_t	request_id;
	uint16_t	content_len;
	uint8_t		padding_len;
};

/*
 * Parse a record header from 8 bytes.  0, or -1 if the version is not 1.
 * Pure: the record reader's fuzz target drives it.
 */
int	fcgi_header_parse(const unsigned char *p, struct fcgi_header *);

/* A FastCGI connection with the variables of one request being built. */
struct fcgi_conn {
	int		fd;
	struct buf	params;		/* encoded name-value pairs */
	int		reused;		/* kept from an earlier request */
};

/*
 * Connect to "unix:PATH" or "HOST:PORT"; 0, or -1 with errno.  Reads and
 * writes then fail with EAGAIN after timeout_s seconds without progress.
 */
int	fcgi_connect(struct fcgi_conn *, const char *addr, int timeout_s);
/* Set that timeout again: a kept connection serves callers with others. */
void	fcgi_set_timeout(struct fcgi_conn *, int timeout_s);
void	fcgi_close(struct fcgi_conn *);
/* Start a request: BEGIN_REQUEST (keep the connection open). */
int	fcgi_begin(struct fcgi_conn *);
/* Add one CGI variable. */
int	fcgi_param(struct fcgi_conn *, const char *name, const char *value);
/* Send the PARAMS stream and its end. */
int	fcgi_end_params(struct fcgi_conn *);
/* Send body bytes as STDIN records; len 0 sends the end of STDIN. */
int	fcgi_stdin(struct fcgi_conn *, const void *, size_t len);
/*
 * Read STDOUT into out (bounded by out->max) and STDERR into err until
 * END_REQUEST.  0, or -1 on a broken connection or an oversized answer.
 */
int	fcgi_read_response(struct fcgi_conn *, struct buf *out,
	    struct buf *err);

#endif
