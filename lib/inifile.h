/*
 * INI files read with inih, with what inih alone does not give: the line
 * number of every key (for "file:line: reason" diagnostics) and a clear
 * error for lines longer than inih's fixed line buffer.
 */
#ifndef FORMDROP_INIFILE_H
#define FORMDROP_INIFILE_H

#include "diag.h"

/*
 * Called for each "[section]" line with name and value NULL (Debian's
 * inih is built without INI_CALL_HANDLER_ON_NEW_SECTION, so inifile
 * finds the headers itself: an empty or repeated section is seen too),
 * then for each "name = value".  Returns 0, or -1 after it reported the
 * problem itself with diag_error (parsing goes on, to report them all).
 */
typedef int (*inifile_handler)(void *ctx, const char *section,
    const char *name, const char *value, int line);

/*
 * Parse path, calling fn for each key.  0 when the file was read without
 * any error, INIFILE_UNREADABLE when it could not be opened, -1
 * otherwise (each error is in d).
 */
#define INIFILE_UNREADABLE	(-2)
int	inifile_parse(const char *path, inifile_handler fn, void *ctx,
	    struct diag *d);
/* The same over a string in memory (used by tests and fuzzing). */
int	inifile_parse_string(const char *name, const char *text,
	    inifile_handler fn, void *ctx, struct diag *d);

#endif
