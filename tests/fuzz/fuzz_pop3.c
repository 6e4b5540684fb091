/*
 * libFuzzer target: what a POP3 client sends before and around login.
 * The input goes through the session's line reader (conn_read_line over
 * a socketpair, so line limits and pipelining are exercised as in a
 * session), each line's argument is fed to the SASL PLAIN decoder, and
 * each line is also taken as a Maildir file name for the UIDL and size
 * parsers the maildrop listing uses.
 */
#include <sys/socket.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bounds.h"
#include "conn.h"
#include "maildrop.h"
#include "session.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define INPUT_MAX	(32 * 1024)	/* fits a socketpair's buffer */

static void
check_name(const char *line)
{
	char uidl[UIDL_MAX + 1];
	size_t i, n;

	maildrop_uidl(line, uidl);
	n = strlen(uidl);
	/* RFC 1939: 1 to 70 characters in 0x21-0x7e. */
	if (n == 0 && strcspn(line, ",:") > 0)
		abort();
	if (n > UIDL_MAX)
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)uidl[i] < 0x21 ||
		    (unsigned char)uidl[i] > 0x7e)
			abort();
	(void)maildrop_name_size(line);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[POP3_LINE_MAX + 1], user[65], pass[257];
	struct conn c;
	enum conn_line r;
	size_t len;
	int sv[2];

	if (size > INPUT_MAX ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return 0;
	if (size > 0 && write(sv[1], data, size) != (ssize_t)size) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	close(sv[1]);
	conn_init(&c, sv[0]);
	while ((r = conn_read_line(&c, line, sizeof(line) - 1, &len)) !=
	    CONN_LINE_CLOSED) {
		if (r == CONN_LINE_TOO_LONG)
			continue;
		if (len > POP3_LINE_MAX - 1 || line[len] != '\0')
			abort();
		if (memchr(line, '\0', len) != NULL)
			continue;
		if (sasl_plain_decode(line, user, sizeof(user), pass,
		    sizeof(pass)) == 0 && (user[0] == '\0' ||
		    strlen(user) >= sizeof(user) || strlen(pass) >= sizeof(pass)))
			abort();
		check_name(line);
	}
	conn_close(&c);
	return 0;
}
