/*
 * Static file resolution for formdrop-devserver.  See static.h.
 */
#include <sys/stat.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "static.h"

int
static_url_is_safe(const char *url, size_t len)
{
	size_t i, seg;

	if (len == 0 || url[0] != '/' || memchr(url, '\0', len) != NULL ||
	    memchr(url, '\\', len) != NULL)
		return 0;
	for (i = 1; i <= len; i = seg + 1) {
		for (seg = i; seg < len && url[seg] != '/'; seg++)
			;
		if ((seg - i == 1 && url[i] == '.') ||
		    (seg - i == 2 && url[i] == '.' && url[i + 1] == '.'))
			return 0;
	}
	return 1;
}

/*
 * 1 if a symbolic link on the way to url leads out of root, or leads
 * nowhere: a 403 for links out and a 404 for missing files would tell
 * what exists outside the site, and where a dangling link would lead
 * cannot be told from its text (through another link, say).
 */
static int
leaves_root(const char *root, const char *url)
{
	char prefix[PATH_MAX], *real;
	size_t rootlen = strlen(root), i;
	struct stat st;
	int n, out;

	for (i = 1; url[i - 1] != '\0'; i++) {
		if (url[i] != '/' && url[i] != '\0')
			continue;
		n = snprintf(prefix, sizeof(prefix), "%s%.*s", root, (int)i, url);
		if (n < 0 || (size_t)n >= sizeof(prefix))
			return 1;
		if (lstat(prefix, &st) == -1)
			return 0;	/* missing inside the root: a 404 */
		if (!S_ISLNK(st.st_mode))
			continue;
		if ((real = realpath(prefix, NULL)) == NULL)
			return 1;
		out = strncmp(real, root, rootlen) != 0 ||
		    (real[rootlen] != '/' && real[rootlen] != '\0');
		free(real);
		if (out)
			return 1;
	}
	return 0;
}

enum static_result
static_resolve(const char *root, const char *url, char *out, size_t outsz)
{
	char joined[PATH_MAX], *real;
	size_t rootlen = strlen(root), len = strlen(url);
	struct stat st;
	int n;

	if (!static_url_is_safe(url, len))
		return STATIC_FORBIDDEN;
	if (leaves_root(root, url))
		return STATIC_FORBIDDEN;
	n = snprintf(joined, sizeof(joined), "%s%s%s", root, url,
	    url[len - 1] == '/' ? "index.html" : "");
	if (n < 0 || (size_t)n >= sizeof(joined))
		return STATIC_NOT_FOUND;
	if ((real = realpath(joined, NULL)) == NULL)
		return STATIC_NOT_FOUND;
	if (strncmp(real, root, rootlen) != 0 ||
	    (real[rootlen] != '/' && real[rootlen] != '\0')) {
		free(real);
		return STATIC_FORBIDDEN;
	}
	if (stat(real, &st) == -1) {
		free(real);
		return STATIC_NOT_FOUND;
	}
	if (S_ISDIR(st.st_mode)) {
		free(real);
		return STATIC_REDIRECT;
	}
	if (!S_ISREG(st.st_mode) || strlen(real) >= outsz) {
		free(real);
		return STATIC_NOT_FOUND;
	}
	memcpy(out, real, strlen(real) + 1);
	free(real);
	return STATIC_FILE;
}

const char *
static_content_type(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".jpg", "image/jpeg" },
		{ ".jpeg", "image/jpeg" },
		{ ".gif", "image/gif" },
		{ ".webp", "image/webp" },
		{ ".ico", "image/x-icon" },
		{ ".woff2", "font/woff2" },
		{ ".pdf", "application/pdf" },
		{ ".txt", "text/plain; charset=utf-8" },
		{ ".p12", "application/x-pkcs12" },
		{ ".crt", "application/x-x509-ca-cert" },
	};
	const char *dot = strrchr(path, '.');
	size_t i;

	for (i = 0; dot != NULL && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}
