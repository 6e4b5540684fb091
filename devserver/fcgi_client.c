/*
 * FastCGI client for formdrop-devserver.  One request at a time per
 * connection (request id 1), as nginx does; connections are kept open
 * (FCGI_KEEP_CONN) and reused by the caller.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fcgi_client.h"
#include "util.h"

#define PARAMS_MAX	(64 * 1024)
#define REQUEST_ID	1

int
fcgi_header_parse(const unsigned char *p, struct fcgi_header *h)
{
	if (p[0] != FCGI_VERSION_1)
		return -1;
	h->type = p[1];
	h->request_id = (uint16_t)(p[2] << 8 | p[3]);
	h->content_len = (uint16_t)(p[4] << 8 | p[5]);
	h->padding_len = p[6];
	return 0;
}

static int
read_all(int fd, void *p, size_t len)
{
	char *s = p;
	ssize_t n;

	while (len > 0) {
		if ((n = read(fd, s, len)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			if (n == 0)
				errno = ECONNRESET;
			return -1;
		}
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
send_record(int fd, uint8_t type, const void *data, size_t len)
{
	unsigned char h[FCGI_HEADER_LEN] = { FCGI_VERSION_1, type,
	    0, REQUEST_ID, (unsigned char)(len >> 8),
	    (unsigned char)(len & 0xff), 0, 0 };

	if (write_all(fd, h, sizeof(h)) == -1 ||
	    (len > 0 && write_all(fd, data, len) == -1))
		return -1;
	return 0;
}

/* Send a stream in records of at most FCGI_RECORD_MAX bytes. */
static int
send_stream(int fd, uint8_t type, const char *data, size_t len)
{
	size_t n;

	while (len > 0) {
		n = len > FCGI_RECORD_MAX ? FCGI_RECORD_MAX : len;
		if (send_record(fd, type, data, n) == -1)
			return -1;
		data += n;
		len -= n;
	}
	return 0;
}

int
fcgi_connect(struct fcgi_conn *c, const char *addr, int timeout_s)
{
	struct sockaddr_un sun;
	struct addrinfo hints, *res = NULL;
	char host[256];
	const char *colon;

	buf_init(&c->params, PARAMS_MAX);
	c->fd = -1;
	if (strncmp(addr, "unix:", 5) == 0) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(addr + 5) >= sizeof(sun.sun_path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(sun.sun_path, addr + 5, strlen(addr + 5) + 1);
		if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
		    0)) == -1 ||
		    connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
			goto fail;
	} else {
		if ((colon = strrchr(addr, ':')) == NULL ||
		    (size_t)(colon - addr) >= sizeof(host)) {
			errno = EINVAL;
			return -1;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		if (getaddrinfo(host, colon + 1, &hints, &res) != 0) {
			errno = EINVAL;
			return -1;
		}
		if ((c->fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC,
		    0)) == -1 ||
		    connect(c->fd, res->ai_addr, res->ai_addrlen) == -1)
			goto fail;
		freeaddrinfo(res);
		res = NULL;
	}
	fcgi_set_timeout(c, timeout_s);
	return 0;
fail:
	if (res != NULL)
		freeaddrinfo(res);
	if (c->fd != -1) {
		int saved = errno;

		close(c->fd);
		errno = saved;
	}
	c->fd = -1;
	return -1;
}

void
fcgi_set_timeout(struct fcgi_conn *c, int timeout_s)
{
	struct timeval tv = { timeout_s, 0 };

	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

void
fcgi_close(struct fcgi_conn *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	buf_free(&c->params);
}

int
fcgi_begin(struct fcgi_conn *c)
{
	unsigned char body[8] = { 0, FCGI_RESPONDER, FCGI_KEEP_CONN, 0, 0,
	    0, 0, 0 };

	buf_reset(&c->params);
	return send_record(c->fd, FCGI_BEGIN_REQUEST, body, sizeof(body));
}

/* Name-value pair lengths: one byte below 128, else four. */
static int
put_length(struct buf *b, size_t len)
{
	unsigned char l[4];

	if (len < 128) {
		l[0] = (unsigned char)len;
		return buf_append(b, l, 1);
	}
	l[0] = (unsigned char)((len >> 24) | 0x80);
	l[1] = (unsigned char)(len >> 16);
	l[2] = (unsigned char)(len >> 8);
	l[3] = (unsigned char)len;
	return buf_append(b, l, 4);
}

int
fcgi_param(struct fcgi_conn *c, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);

	if (put_length(&c->params, nl) == -1 ||
	    put_length(&c->params, vl) == -1 ||
	    buf_append(&c->params, name, nl) == -1 ||
	    buf_append(&c->params, value, vl) == -1)
		return -1;
	return 0;
}

int
fcgi_end_params(struct fcgi_conn *c)
{
	if (send_stream(c->fd, FCGI_PARAMS, c->params.data,
	    c->params.len) == -1 ||
	    send_record(c->fd, FCGI_PARAMS, NULL, 0) == -1)
		return -1;
	return 0;
}

int
fcgi_stdin(struct fcgi_conn *c, const void *data, size_t len)
{
	if (len == 0)
		return send_record(c->fd, FCGI_STDIN, NULL, 0);
	return send_stream(c->fd, FCGI_STDIN, data, len);
}

int
fcgi_read_response(struct fcgi_conn *c, struct buf *out, struct buf *err)
{
	unsigned char hdr[FCGI_HEADER_LEN], content[FCGI_RECORD_MAX + 255];
	struct fcgi_header h;
	size_t n;

	for (;;) {
		if (read_all(c->fd, hdr, sizeof(hdr)) == -1 ||
		    fcgi_header_parse(hdr, &h) == -1)
			return -1;
		n = (size_t)h.content_len + h.padding_len;
		if (read_all(c->fd, content, n) == -1)
			return -1;
		if (h.request_id != REQUEST_ID)
			continue;	/* management records: ignore */
		switch (h.type) {
		case FCGI_STDOUT:
			if (buf_append(out, content, h.content_len) == -1) {
				errno = EFBIG;	/* over out's bound */
				return -1;
			}
			break;
		case FCGI_STDERR:
			/* Diagnostics only: keep what fits. */
			buf_append(err, content, h.content_len);
			break;
		case FCGI_END_REQUEST:
			return 0;
		default:
			break;
		}
	}
}
