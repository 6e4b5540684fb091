/*
 * A POP3 maildrop over a Maildir: locked for one session, listed once at
 * login, messages sent with CRLF line ends and dot-stuffing, deletions
 * applied only in the UPDATE state.
 */
#ifndef FORMDROP_MAILDROP_H
#define FORMDROP_MAILDROP_H

#include <stddef.h>

#include "bounds.h"
#include "conn.h"

/*
 * One listed message: 24 bytes and its name.  The names live in one
 * block (no allocation per message) and the UIDL is derived from the
 * name when asked: a session with 100,000 messages stays small.
 */
struct pop3_msg {
	size_t	 name;		/* offset of its file name in names */
	size_t	 size;		/* octets sent by RETR, before stuffing */
	int	 deleted;
};

struct maildrop {
	int		 dirfd;
	int		 curfd;
	int		 lockfd;
	struct pop3_msg	*v;
	size_t		 n;
	char		*names;		/* NUL-terminated names, one block */
	size_t		 names_len, names_cap;
	unsigned	 archive_days;	/* 0: DELE unlinks */
	int		 truncated;	/* more than POP3_MESSAGES_MAX */
};

enum maildrop_status {
	MAILDROP_OK,
	MAILDROP_IN_USE,	/* another session holds the lock */
	MAILDROP_ERROR		/* errno says why */
};

/*
 * Lock and list the Maildir at path: new/ messages move to cur/ (as
 * Dovecot does), and the listing is in delivery order.  With
 * archive_days > 0, deleted messages go to the .Archive folder, and
 * archived ones older than that are removed here.
 */
enum maildrop_status maildrop_open(struct maildrop *, const char *path,
	    unsigned archive_days);
/*
 * Send the message open on fd as RETR does, or with lines >= 0 as TOP
 * does: the header, the blank line and that many body lines.  Without
 * the final ".".  Closes fd.  0, or -1 when the file cannot be read or
 * the client left.
 */
int	maildrop_send(struct maildrop *, int fd, long lines, struct conn *);
/*
 * Open message i (0-based) for maildrop_send: a descriptor (also when
 * another client of the Maildir renamed it, changing its flags), or -1
 * when it is gone or unreadable (another client removed it).
 */
int	maildrop_open_msg(struct maildrop *, size_t i);
/* The file name (in cur/) of message i (0-based, < n). */
const char *maildrop_msg_name(const struct maildrop *, size_t i);
/* Apply deletions (the UPDATE state): 0, or -1 if any failed. */
int	maildrop_update(struct maildrop *);
void	maildrop_close(struct maildrop *);

/*
 * The UIDL of a Maildir file name: its base (before ',' or ':') when
 * that is a valid UIDL, else the SHA-256 of the base in hex.
 */
void	maildrop_uidl(const char *name, char out[UIDL_MAX + 1]);
/* The ,W= size in name, or -1 when it has none. */
long long maildrop_name_size(const char *name);

#endif
