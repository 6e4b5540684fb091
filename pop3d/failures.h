/*
 * Failed logins by client address, for pop3d's master: how many an
 * address had within the last POP3_FAIL_MEMORY seconds.  Each failure
 * ages out on its own, so a client retrying an old password now and then
 * is never locked out, however long it keeps at it; only
 * max_login_failures within the window are.  The table is bounded: when
 * it is full the address whose latest failure is the oldest is
 * forgotten.
 */
#ifndef FORMDROP_FAILURES_H
#define FORMDROP_FAILURES_H

#include <time.h>

/* Record n failed logins from addr at now. */
void	failures_add(const char *addr, unsigned n, time_t now);
/* The failed logins from addr within the window that ends at now. */
unsigned failures_recent(const char *addr, time_t now);
/* Forget every address (for tests). */
void	failures_clear(void);

#endif
