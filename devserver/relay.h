/*
 * The /submit/ relay of formdrop-devserver: one HTTP request becomes one
 * FastCGI request to the handler, exactly as nginx would send it, and the
 * handler's CGI answer becomes the HTTP response.
 */
#ifndef FORMDROP_RELAY_H
#define FORMDROP_RELAY_H

#include <stddef.h>

#include "fcgi_client.h"

/* One header line of a CGI response. */
typedef void (*cgi_header_fn)(void *arg, const char *name,
    const char *value);

/*
 * Parse the CGI response in data[0..len): the status (from "Status:",
 * else 302 with a Location, else 200), each other header through fn, and
 * the offset where the body starts.  0, or -1 when malformed.
 */
int	cgi_response_parse(const char *data, size_t len, int *status,
	    cgi_header_fn fn, void *arg, size_t *body_off);

/*
 * Where the handler listens and how many workers it has: at most that
 * many connections are open at once, idle ones kept for reuse.
 */
void	relay_init(const char *handler_addr, unsigned workers);
/*
 * A connection to the handler, reused when one is idle, whose reads and
 * writes give up (EAGAIN) after timeout_s seconds; 0, or -1 with errno
 * (ETIMEDOUT: every connection busy for timeout_s seconds).  The caller
 * says how long: a page waits less for its token than a form for its
 * answer.
 */
int	relay_get(struct fcgi_conn *, int timeout_s);
/* Give a connection back for reuse (keep = 0: close it). */
void	relay_put(struct fcgi_conn *, int keep);

#endif
