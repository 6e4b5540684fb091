/*
 * Connection I/O for formdrop-pop3d session processes.  Reads are
 * bounded by the line limit; a timeout on the socket (SO_RCVTIMEO) is the
 * autologout timer and also stops a client that stalls mid-handshake.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"

void
conn_init(struct conn *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
}

int
conn_set_timeout(struct conn *c, int seconds)
{
	struct timeval tv = { seconds, 0 };

	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1)
		return -1;
	return 0;
}

static ssize_t
conn_recv(struct conn *c, void *buf, size_t len)
{
	ssize_t n;

	if (c->ssl != NULL) {
		n = SSL_read(c->ssl, buf, (int)len);
		return n > 0 ? n : -1;
	}
	while ((n = read(c->fd, buf, len)) == -1 && errno == EINTR)
		;
	return n > 0 ? n : -1;
}

int
conn_has_line(const struct conn *c)
{
	return memchr(c->in, '\n', c->inlen) != NULL;
}

enum conn_line
conn_read_line(struct conn *c, char *line, size_t max, size_t *len)
{
	char *nl;
	size_t n;
	ssize_t r;
	int too_long = 0;

	for (;;) {
		if ((nl = memchr(c->in, '\n', c->inlen)) != NULL) {
			n = (size_t)(nl - c->in);
			if (!too_long && n + 1 <= max) {
				size_t keep = n;

				if (keep > 0 && c->in[keep - 1] == '\r')
					keep--;
				memcpy(line, c->in, keep);
				line[keep] = '\0';
				*len = keep;
			} else
				too_long = 1;
			memmove(c->in, nl + 1, c->inlen - n - 1);
			c->inlen -= n + 1;
			return too_long ? CONN_LINE_TOO_LONG : CONN_LINE_OK;
		}
		if (c->inlen == sizeof(c->in)) {
			/* Drop what we have; keep reading to the line end. */
			too_long = 1;
			c->inlen = 0;
		}
		/* Answers to pipelined commands go out before we block. */
		if (conn_flush(c) == -1)
			return CONN_LINE_CLOSED;
		r = conn_recv(c, c->in + c->inlen, sizeof(c->in) - c->inlen);
		if (r <= 0) {
			c->eof = 1;
			return CONN_LINE_CLOSED;
		}
		c->inlen += (size_t)r;
	}
}

int
conn_flush(struct conn *c)
{
	size_t off = 0;
	ssize_t n;

	while (off < c->outlen) {
		if (c->ssl != NULL)
			n = SSL_write(c->ssl, c->out + off,
			    (int)(c->outlen - off));
		else
			n = write(c->fd, c->out + off, c->outlen - off);
		if (n <= 0) {
			if (n == -1 && c->ssl == NULL && errno == EINTR)
				continue;
			c->outlen = 0;
			return -1;
		}
		off += (size_t)n;
	}
	c->outlen = 0;
	return 0;
}

int
conn_write(struct conn *c, const void *p, size_t len)
{
	const char *s = p;
	size_t n;

	while (len > 0) {
		if (c->outlen == sizeof(c->out) && conn_flush(c) == -1)
			return -1;
		n = sizeof(c->out) - c->outlen;
		if (n > len)
			n = len;
		memcpy(c->out + c->outlen, s, n);
		c->outlen += n;
		s += n;
		len -= n;
	}
	return 0;
}

int
conn_printf(struct conn *c, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -1;
	return conn_write(c, line, (size_t)n);
}

int
conn_start_tls(struct conn *c, SSL_CTX *ctx)
{
	if (conn_flush(c) == -1)
		return -1;
	/* Bytes pipelined after STLS must not be taken as protected. */
	c->inlen = 0;
	if ((c->ssl = SSL_new(ctx)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1 || SSL_accept(c->ssl) != 1) {
		/* For the log: "unsupported protocol", "no shared cipher";
		 * none when the client closed or the time ran out. */
		c->tls_error = ERR_reason_error_string(ERR_get_error());
		if (c->tls_error == NULL)
			c->tls_error = "closed by the client or timed out";
		ERR_clear_error();
		if (c->ssl != NULL)
			SSL_free(c->ssl);
		c->ssl = NULL;
		return -1;
	}
	return 0;
}

void
conn_close(struct conn *c)
{
	conn_flush(c);
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
}
