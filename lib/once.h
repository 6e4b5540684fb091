/*
 * Exactly-once submissions: a record per idempotency key (a token's nonce
 * or a client's Idempotency-Key) in the state folder, shared by every
 * handler process on the host.  The first request with a key claims it
 * (a file it holds locked), writes the submission id and the print of
 * what was submitted into the claim, delivers, and turns the claim into
 * the record; any other request with the same key, at the same time or
 * later, waits for that record and, if it submits the same (the same
 * print), answers exactly as the first did.
 */
#ifndef FORMDROP_ONCE_H
#define FORMDROP_ONCE_H

#include <sys/types.h>

#include <stddef.h>
#include <time.h>

#define ONCE_KEY_HEX	64
#define ONCE_ID_MAX	64
#define ONCE_PRINT_HEX	64	/* form_data_print(): SHA-256, hex */
#define ONCE_LINE_MAX	(ONCE_ID_MAX + ONCE_PRINT_HEX + 4)	/* "ID PRINT +\n" */

enum once_status {
	ONCE_NEW,	/* claimed: once_prepare, deliver, once_finish */
	ONCE_DONE,	/* already delivered: id holds its submission id */
	ONCE_BUSY,	/* another request holds it and did not finish in time */
	ONCE_ERROR	/* the state folder is not usable (errno) */
};

/* One request's claim on a key. */
struct once {
	const char *dir;	/* as given to once_begin, which must outlive it */
	char	rec[4096];	/* DIR/KEY: the record */
	char	claim[4096];	/* DIR/KEY.claim */
	int	fd;		/* the claim, locked; -1 when not held */
	off_t	mark;		/* where once_prepare put the '-' */
};

/*
 * Derive the record key for form and an idempotency value (nonce or
 * header), so that keys of different forms never meet.
 */
void	once_key(const char *form, const char *value,
	    char out[ONCE_KEY_HEX + 1]);
/*
 * 1 with id and print (or "" in a record older than prints) when key's
 * record exists in dir, else 0; claims nothing.
 */
int	once_peek(const char *dir, const char *key, char id[ONCE_ID_MAX + 1],
	    char print[ONCE_PRINT_HEX + 1]);
/*
 * Claim key in dir (making dir if it is gone), or find its record (id
 * and print, as once_peek); wait at most wait_ms for a request that
 * holds the claim.
 */
enum once_status once_begin(struct once *, const char *dir, const char *key,
	    int wait_ms, char id[ONCE_ID_MAX + 1],
	    char print[ONCE_PRINT_HEX + 1]);
/*
 * Write the id and print into the claim, on disk, before anything is
 * delivered: a full state folder then fails here, while a 503 is still
 * the truth.
 */
int	once_prepare(struct once *, const char *id, const char *print);
/*
 * Delivered: the claim is marked so in place, becomes the record, and
 * is released.  0; 1 when only the mark was made (errno from the
 * rename: the claim answers retries); -1 when neither was.
 */
int	once_finish(struct once *);
/* Nothing was delivered: drop the claim, a retry may deliver. */
void	once_abort(struct once *);
/*
 * Note how the wall clock stands to the boot clock: once, in the process
 * that forks the others (inherited), before any once_clean().  A CGI
 * process, which notes it and cleans in the same request, cannot see a
 * step this way.
 */
void	once_clock_start(void);
/*
 * Remove records older than max_age seconds; the number removed, or -1
 * (ERANGE: none, as the wall clock was stepped by more than an hour
 * since once_clock_start()).
 */
int	once_clean(const char *dir, time_t max_age);

#endif
