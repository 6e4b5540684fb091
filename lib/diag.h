/*
 * Configuration diagnostics: every problem found in a configuration or
 * form definition, as "file:line: reason", collected so that --check can
 * report all of them at once instead of stopping at the first.
 */
#ifndef FORMDROP_DIAG_H
#define FORMDROP_DIAG_H

#include <stdio.h>

#include "buf.h"

struct diag {
	struct buf	text;
	size_t		errors;
	size_t		warnings;
};

void	diag_init(struct diag *);
void	diag_free(struct diag *);
/* line 0 means the file as a whole. */
void	diag_error(struct diag *, const char *file, int line,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	diag_warning(struct diag *, const char *file, int line,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	diag_print(const struct diag *, FILE *);
/*
 * An error at file:line when path, a file of secrets (a private key,
 * password hashes), is readable by every user (is_world_readable): 1 if
 * so, else 0.
 */
int	diag_world_readable(struct diag *, const char *file, int line,
	    const char *path);

#endif
