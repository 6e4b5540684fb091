/*
 * libFuzzer target: what formdrop-devserver reads from others.  The
 * input is split at its first NUL: before it, bytes taken as FastCGI
 * record headers (8 at a time) and as the handler's CGI answer; after
 * it, a URL path for the static file checks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi_client.h"
#include "relay.h"
#include "static.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
count_header(void *arg, const char *name, const char *value)
{
	size_t *n = arg;

	/* A header name never holds the separator, nor a line end. */
	if (strchr(name, ':') != NULL || strpbrk(name, "\r\n") != NULL ||
	    strpbrk(value, "\r\n") != NULL)
		abort();
	(*n)++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t head = nul != NULL ? (size_t)(nul - data) : size, i, n = 0;
	struct fcgi_header h;
	char *url;
	size_t off;
	int status;

	for (i = 0; i + FCGI_HEADER_LEN <= head; i += FCGI_HEADER_LEN)
		if (fcgi_header_parse(data + i, &h) == 0 &&
		    data[i] != FCGI_VERSION_1)
			abort();
	if (cgi_response_parse((const char *)data, head, &status,
	    count_header, &n, &off) == 0 &&
	    (status < 100 || status > 599 || off > head))
		abort();
	if (nul != NULL) {
		size_t ulen = size - head - 1;

		if ((url = malloc(ulen + 1)) == NULL)
			return 0;
		memcpy(url, nul + 1, ulen);
		url[ulen] = '\0';
		/* A path the lexical check passes has no ".." segment. */
		if (static_url_is_safe(url, strlen(url)) &&
		    (strstr(url, "/../") != NULL || strstr(url, "/./") !=
		    NULL || (strlen(url) >= 3 &&
		    strcmp(url + strlen(url) - 3, "/..") == 0)))
			abort();
		free(url);
	}
	return 0;
}
