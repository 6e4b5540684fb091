/*
 * A client connection of formdrop-pop3d: line input and buffered output
 * over a socket, in the clear or through TLS.  Sessions take a conn and
 * never see the socket, so tests can drive them over a socketpair.
 */
#ifndef FORMDROP_CONN_H
#define FORMDROP_CONN_H

#include <openssl/ssl.h>
#include <stddef.h>

#define CONN_IN_MAX	4096
#define CONN_OUT_MAX	16384

struct conn {
	int	 fd;
	SSL	*ssl;
	char	 in[CONN_IN_MAX];
	size_t	 inlen;
	char	 out[CONN_OUT_MAX];
	size_t	 outlen;
	int	 eof;
	const char *tls_error;	/* why the last handshake failed */
};

enum conn_line {
	CONN_LINE_OK,
	CONN_LINE_TOO_LONG,	/* the line was read and dropped */
	CONN_LINE_CLOSED	/* end of input, timeout or error */
};

void	conn_init(struct conn *, int fd);
/* Set the idle timeout for reads and writes, in seconds. */
int	conn_set_timeout(struct conn *, int seconds);
/*
 * Read one line (CRLF or LF ended) into line (max bytes incl. NUL),
 * without its line end.  NUL bytes in the line are kept; *len says how
 * long it is.
 */
enum conn_line conn_read_line(struct conn *, char *line, size_t max,
	    size_t *len);
/* 1 if a complete line is already buffered (a pipelined command). */
int	conn_has_line(const struct conn *);
int	conn_write(struct conn *, const void *, size_t);
int	conn_printf(struct conn *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	conn_flush(struct conn *);
/* Start TLS as the server; 0 on success, -1 on a failed handshake. */
int	conn_start_tls(struct conn *, SSL_CTX *);
void	conn_close(struct conn *);

#endif
