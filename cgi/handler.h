/*
 * One form submission, from CGI variables and a body stream to a
 * response: the HTTP semantics of formdrop.fcgi (status codes, content
 * negotiation, error pages) over the pipeline of lib/.  It knows nothing
 * of FastCGI: main.c feeds it from libfcgi or from plain CGI, and the
 * tests feed it directly.
 */
#ifndef FORMDROP_HANDLER_H
#define FORMDROP_HANDLER_H

#include <sys/types.h>

#include "buf.h"
#include "conf.h"
#include "mime.h"

struct request {
	const char	*method;	/* REQUEST_METHOD */
	const char	*path_info;	/* PATH_INFO: "/<form>" */
	const char	*request_uri;	/* REQUEST_URI, when PATH_INFO is unset */
	const char	*content_type;
	const char	*content_length;
	const char	*accept;	/* HTTP_ACCEPT */
	const char	*idempotency_key; /* HTTP_IDEMPOTENCY_KEY */
	const char	*script_name;	/* SCRIPT_NAME: /submit or /token */
	const char	*remote_addr;
	/* Read up to len body bytes: count, 0 at the end, -1 on error. */
	ssize_t		(*read)(void *arg, void *buf, size_t len);
	void		*arg;
	/*
	 * The input may go on after the body (CGI: the server need not
	 * close it, RFC 3875 4.2): read Content-Length bytes, no more.
	 * Else (FastCGI) it ends with the body, and a body longer than
	 * Content-Length is an error.
	 */
	int		 open_ended;
};

struct response {
	int		 status;
	const char	*content_type;
	struct buf	 head;		/* extra "Name: value\r\n" lines */
	struct buf	 body;
};

void	response_init(struct response *);
void	response_free(struct response *);
/* The CGI form of the response: "Status:", headers, blank line, body. */
int	response_serialize(const struct response *, struct buf *out);

/*
 * Compose sub's message for mailbox mb as the form's encryption policy
 * and the mailbox's certificates say (plain, signed, encrypted, or
 * signed and encrypted).  0, or -1 with the reason for the log in *why:
 * it never falls back to plaintext when encryption was due.
 */
int	handler_compose(const struct mailbox *mb,
	    const struct submission *sub, BIO *msg, const char **why);

/* Serve one request; resp is filled whatever happens. */
void	handler_serve(const struct conf *, const struct request *,
	    struct response *);
/*
 * 1 once a request was refused a folder (EACCES) that the worker's
 * sandbox may hold as it was at start: the worker should end after its
 * answer, and be replaced.
 */
int	handler_wants_restart(void);

#endif
