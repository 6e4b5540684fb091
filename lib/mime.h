/*
 * Message composition: one accepted submission becomes one RFC 5322 /
 * MIME message, multipart/mixed of the human-readable text rendered from
 * the form's body template, a JSON copy of every field, and the uploaded
 * files.  Nothing a submitter sent reaches a header unencoded.
 */
#ifndef FORMDROP_MIME_H
#define FORMDROP_MIME_H

#include <time.h>

#include <openssl/bio.h>

#include "buf.h"
#include "form.h"
#include "formdef.h"
#include "template.h"

#define SUBMISSION_ID_LEN	24	/* YYYYMMDD-HHMMSS-xxxxxxxx */

struct submission {
	const struct formdef	*def;
	const struct form_data	*data;	/* validated */
	char			 id[SUBMISSION_ID_LEN + 1];
	time_t			 received;
	const char		*client;	/* IP address, validated */
	const char		*hostname;
	const char		*from;		/* from the configuration */
	const char		*to;
	const char		*spam;		/* why it went to .Junk, or NULL */
};

/* Make a fresh id from the time and 4 random bytes: 0 or -1. */
int	submission_make_id(struct submission *);
/* The tpl_vars that expose the submission's fields and built-ins. */
void	submission_vars(const struct submission *, struct tpl_vars *);
/* The JSON copy: {"form":...,"id":...,"received":...,"fields":{...},...} */
int	submission_json(const struct submission *, struct buf *);
/*
 * The whole message, LF line ends, written to out; uploaded files are
 * streamed from the spool, so memory does not grow with them.
 */
int	mime_compose(const struct submission *, BIO *out);

/* RFC 9788 header protection of a MIME entity. */
enum mime_hp {
	MIME_HP_NONE,	/* a plain message: headers are outside only */
	MIME_HP_CLEAR,	/* signed only: protected headers, shown as is */
	MIME_HP_CIPHER	/* encrypted: the outer headers are obscured */
};

/*
 * The top-level header block (trace, Date, From, To, Reply-To when
 * reply, Subject, Message-ID, MIME-Version, X-Formdrop-*), without the
 * Content-Type.  subject overrides the form's subject when not NULL.
 */
int	mime_headers_write(const struct submission *, const char *subject,
	    int reply, BIO *out);
/*
 * The multipart/mixed entity: its Content-Type (with hp=), under
 * header protection the protected header fields, then the parts.
 */
int	mime_entity(const struct submission *, enum mime_hp, BIO *out);

#endif
