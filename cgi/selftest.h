/*
 * formdrop.fcgi --selftest MAILBOX [--key KEY]: prove a mailbox's S/MIME
 * set-up before the first real order.
 */
#ifndef FORMDROP_SELFTEST_H
#define FORMDROP_SELFTEST_H

#include "conf.h"

/* Print what was done to stdout; 0 when every step passed, else 1. */
int	selftest_run(const struct conf *, const char *mailbox,
	    const char *keyfile);

#endif
