/*
 * Per-client rate limits: a token bucket per form and client network (an
 * IPv4 address, an IPv6 /64), shared by every handler process through one
 * small file in the state folder, updated under an exclusive lock.
 */
#ifndef FORMDROP_RATELIMIT_H
#define FORMDROP_RATELIMIT_H

/*
 * Take one token from the bucket of (form, client) in the file at path;
 * the bucket holds burst tokens and gains burst tokens every period
 * seconds.  0 when allowed; else the seconds until a token is back
 * (> 0); -1 when the file cannot be used (the request is then allowed:
 * a broken limiter must not stop the orders).
 */
int	ratelimit_take(const char *path, const char *form, const char *client,
	    unsigned burst, unsigned period);
/* The same at the time now (seconds since the epoch): for tests. */
int	ratelimit_take_at(const char *path, const char *form,
	    const char *client, unsigned burst, unsigned period, double now);

#endif
