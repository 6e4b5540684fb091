/*
 * Exactly-once submissions: a record per idempotency key (a token's nonce
 * or a client's Idempotency-Key) in the state folder, shared by every
 * handler process on the host.  The first request with a key claims it
 * (an O_EXCL file), delivers, and records the submission id; any other
 * request with the same key, at the same time or later, waits for that
 * record and answers exactly as the first did.
 */
#ifndef FORMDROP_ONCE_H
#define FORMDROP_ONCE_H

#include <stddef.h>
#include <time.h>

#define ONCE_KEY_HEX	64
#define ONCE_ID_MAX	64

enum once_status {
	ONCE_NEW,	/* claimed: go on, then once_finish or once_abort */
	ONCE_DONE,	/* already delivered: id holds its submission id */
	ONCE_BUSY,	/* another request holds it and did not finish in time */
	ONCE_ERROR	/* the state folder is not usable (errno) */
};

/*
 * Derive the record key for form and an idempotency value (nonce or
 * header), so that keys of different forms never meet.
 */
void	once_key(const char *form, const char *value,
	    char out[ONCE_KEY_HEX + 1]);
/* 1 with id when key's record exists in dir, else 0; claims nothing. */
int	once_peek(const char *dir, const char *key, char id[ONCE_ID_MAX + 1]);
/* Claim key in dir, or find its record; wait at most wait_ms. */
enum once_status once_begin(const char *dir, const char *key, int wait_ms,
	    char id[ONCE_ID_MAX + 1]);
/* Record the delivered id for key (atomically) and drop the claim. */
int	once_finish(const char *dir, const char *key, const char *id);
/* Drop the claim: nothing was delivered, a retry may deliver. */
void	once_abort(const char *dir, const char *key);
/* Remove records older than max_age seconds; the number removed. */
int	once_clean(const char *dir, time_t max_age);

#endif
