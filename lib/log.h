/*
 * Logging for every formdrop program: stderr in the foreground, syslog
 * (LOG_MAIL) when running as a daemon or FastCGI worker.  Messages are
 * escaped after formatting, because parts of them (form names, client
 * addresses) come from the network.
 */
#ifndef FORMDROP_LOG_H
#define FORMDROP_LOG_H

#include <stdarg.h>
#include <stddef.h>

void	log_init(const char *progname, int to_stderr);
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx_code(int, const char *, ...)
	    __attribute__((format(printf, 2, 3), noreturn));

/* Copy s into out (size outsz), escaping control and non-ASCII bytes. */
void	log_escape(char *out, size_t outsz, const char *s);

#endif
