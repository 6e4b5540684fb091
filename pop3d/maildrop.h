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

struct pop3_msg {
	char	*name;		/* file name in cur/ */
	size_t	 size;		/* octets sent by RETR, before stuffing */
	char	 uidl[UIDL_MAX + 1];
	int	 deleted;
};

struct maildrop {
	int		 dirfd;
	int		 curfd;
	int		 lockfd;
	struct pop3_msg	*v;
	size_t		 n;
	unsigned	 archive_days;	/* 0: DELE unlinks */
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
 * Open message i (0-based) for maildrop_send: a descriptor, or -1 when
 * it is gone or unreadable (another client of the Maildir removed it).
 */
int	maildrop_open_msg(struct maildrop *, size_t i);
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
