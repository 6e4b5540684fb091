/*
 * POP3 users: a passwd-style file compatible with Dovecot's passwd-file,
 *
 *	user:{SCHEME}hash:uid:gid:gecos:maildir:shell:extra
 *
 * where only user, the password hash and the Maildir (Dovecot's home
 * field, used with mail_location = maildir:~) are read.  Hashes are
 * crypt(3) strings from libcrypt (yescrypt $y$, SHA-512-crypt $6$,
 * bcrypt $2b$ ...), bare or with a {CRYPT}, {SHA512-CRYPT},
 * {SHA256-CRYPT} or {BLF-CRYPT} prefix.  Plaintext passwords are refused.
 */
#ifndef FORMDROP_USERDB_H
#define FORMDROP_USERDB_H

#include <stddef.h>

#include "diag.h"

#define USER_NAME_MAX	64

struct user {
	char	 name[USER_NAME_MAX + 1];
	char	*hash;
	char	*maildir;
	int	 line;		/* in the users file, for --check */
};

struct userdb {
	struct user	*v;
	size_t		 n;
	char		*dummy;	/* checked for unknown users: same cost */
};

/* Load path; 0, or -1 with every problem (file:line: reason) in d. */
int	userdb_load(const char *path, struct userdb *, struct diag *d);
void	userdb_free(struct userdb *);
/*
 * The user called name if password is right, else NULL.  Takes the same
 * time for unknown users as for wrong passwords.
 */
const struct user *userdb_check(const struct userdb *, const char *name,
	    const char *password);
/* A new yescrypt hash of password as "{CRYPT}$y$...", or -1. */
int	userdb_hash(const char *password, char *out, size_t outsz);

#endif
