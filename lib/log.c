/*
 * Logging for every formdrop program.  See log.h.  fatal() and fatalx()
 * are for start-up only: per-request errors are logged and answered.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sysexits.h>

#include "log.h"

#define LOG_LINE_MAX	2048

static int		 log_stderr = 1;
static const char	*log_progname = "formdrop";

void
log_init(const char *progname, int to_stderr)
{
	log_progname = progname;
	log_stderr = to_stderr;
	if (!to_stderr)
		openlog(progname, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_escape(char *out, size_t outsz, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (outsz == 0)
		return;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (o + 1 >= outsz)
				break;
			out[o++] = (char)c;
		} else {
			if (o + 4 >= outsz)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

static void
log_emit(int pri, const char *fmt, va_list ap, const char *err)
{
	char raw[LOG_LINE_MAX], line[LOG_LINE_MAX];

	vsnprintf(raw, sizeof(raw), fmt, ap);
	if (err != NULL) {
		size_t len = strlen(raw);

		snprintf(raw + len, sizeof(raw) - len, ": %s", err);
	}
	log_escape(line, sizeof(line), raw);
	if (log_stderr)
		fprintf(stderr, "%s: %s\n", log_progname, line);
	else
		syslog(pri, "%s", line);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_INFO, fmt, ap, NULL);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (getenv("FORMDROP_DEBUG") == NULL)
		return;
	va_start(ap, fmt);
	log_emit(LOG_DEBUG, fmt, ap, NULL);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	const char *err = strerror(errno);

	va_start(ap, fmt);
	log_emit(LOG_WARNING, fmt, ap, err);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_WARNING, fmt, ap, NULL);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	const char *err = strerror(errno);

	va_start(ap, fmt);
	log_emit(LOG_CRIT, fmt, ap, err);
	va_end(ap);
	exit(EX_OSERR);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_CRIT, fmt, ap, NULL);
	va_end(ap);
	exit(EX_SOFTWARE);
}

void
fatalx_code(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_CRIT, fmt, ap, NULL);
	va_end(ap);
	exit(code);
}
