/*
 * Collected configuration diagnostics.  See diag.h.
 */
#include <stdarg.h>
#include <stdio.h>

#include "diag.h"
#include "util.h"

#define DIAG_TEXT_MAX	(256 * 1024)

void
diag_init(struct diag *d)
{
	buf_init(&d->text, DIAG_TEXT_MAX);
	d->errors = 0;
	d->warnings = 0;
}

void
diag_free(struct diag *d)
{
	buf_free(&d->text);
}

static void
diag_add(struct diag *d, const char *kind, const char *file, int line,
    const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (line > 0)
		buf_printf(&d->text, "%s:%d: %s%s\n", file, line, kind, msg);
	else
		buf_printf(&d->text, "%s: %s%s\n", file, kind, msg);
}

void
diag_error(struct diag *d, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_add(d, "", file, line, fmt, ap);
	va_end(ap);
	d->errors++;
}

void
diag_warning(struct diag *d, const char *file, int line, const char *fmt,
    ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_add(d, "warning: ", file, line, fmt, ap);
	va_end(ap);
	d->warnings++;
}

void
diag_print(const struct diag *d, FILE *fp)
{
	if (d->text.len > 0)
		fwrite(d->text.data, 1, d->text.len, fp);
}

int
diag_world_readable(struct diag *d, const char *file, int line,
    const char *path)
{
	unsigned mode;

	if (path == NULL || !is_world_readable(path, &mode))
		return 0;
	diag_error(d, file, line, "%s is readable by every user (mode %04o): "
	    "chmod o-r it", path, mode);
	return 1;
}
