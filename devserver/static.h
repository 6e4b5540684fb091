/*
 * Static files of formdrop-devserver: mapping a decoded URL path into the
 * document root without ever leaving it, and content types.
 */
#ifndef FORMDROP_STATIC_H
#define FORMDROP_STATIC_H

#include <stddef.h>

enum static_result {
	STATIC_FILE,		/* out is a regular file inside the root */
	STATIC_REDIRECT,	/* a folder asked for without its '/' */
	STATIC_NOT_FOUND,
	STATIC_FORBIDDEN	/* "..", NUL, or a link out of the root */
};

/*
 * Resolve url (already %-decoded) against root (a realpath).  The
 * lexical check refuses any "." or ".." segment before the file system
 * is asked; realpath() then refuses symlinks that lead outside.
 */
enum static_result static_resolve(const char *root, const char *url,
	    char *out, size_t outsz);
/* 1 if url has no "." or ".." segment, no backslash and no NUL. */
int	static_url_is_safe(const char *url, size_t len);
/* The Content-Type for a file name, by extension. */
const char *static_content_type(const char *path);

#endif
