/*
 * Maildir delivery by the maildir(5) rules: write tmp/NAME, fsync, move to
 * new/NAME,S=<size>,W=<size> without ever replacing a file, fsync new/;
 * only then is the message accepted.  Names are Dovecot-compatible and
 * carry the stored size (,S=) and the size with CRLF line ends (,W=),
 * counted while the message is written, so that a POP3 server never
 * opens a file to learn its size.
 */
#ifndef FORMDROP_MAILDIR_H
#define FORMDROP_MAILDIR_H

#include <stddef.h>
#include <time.h>

#include <openssl/bio.h>

#define MAILDIR_NAME_MAX	256

/* A message being written into tmp/, streamed through out. */
struct maildir_delivery {
	BIO	*out;		/* write the message here */
	int	 fd, tmpfd, newfd;
	int	 created;
	char	 base[MAILDIR_NAME_MAX];	/* the name in tmp/ */
	size_t	 size, lf;	/* written so far */
	int	 write_errno;	/* why a write to the file failed, or 0 */
};

/*
 * Build a unique name for a message of size bytes containing lf line
 * feeds: time.M<usec>P<pid>Q<n>R<random>.host,S=<size>,W=<size+lf>.
 * 0, or -1 if it does not fit.
 */
int	maildir_name(char *out, size_t outsz, const char *hostname,
	    size_t size, size_t lf);

/*
 * Streamed delivery: begin creates tmp/NAME and d->out, the message is
 * written to d->out, commit flushes, fsyncs, moves it to new/NAME,S=,W=
 * and fsyncs new/ (0 with that name in name), abort removes it.  After
 * a failed begin or commit, nothing is left in tmp/ or new/.
 */
int	maildir_begin(struct maildir_delivery *d, const char *path,
	    const char *hostname);
int	maildir_commit(struct maildir_delivery *d, char *name, size_t namesz);
void	maildir_abort(struct maildir_delivery *d);

/* The Maildir++ folder that spam goes to. */
#define MAILDIR_JUNK	".Junk"

/*
 * The Maildir++ folder (MAILDIR_JUNK) of the Maildir at path, created when
 * missing, into out.  0, or -1 with errno set.
 */
int	maildir_folder(const char *path, const char *folder, char *out,
	    size_t outsz);

/*
 * The folder a confined worker may write for the Maildir at path: the
 * one holding it, so that a Maildir made again while the handler runs
 * can still be delivered into (Landlock binds inodes).  Into out.
 */
void	maildir_grant_folder(const char *path, char *out, size_t outsz);

/* 1 if path is a Maildir we can deliver into (tmp/ and new/ writable). */
int	maildir_is_ready(const char *path);

/*
 * Remove files in tmp/ not modified for max_age seconds (maildir(5):
 * 36 hours): left there by a crash between write and rename.  Returns
 * how many were removed, or -1.
 */
int	maildir_clean_tmp(const char *path, time_t max_age);

#endif
