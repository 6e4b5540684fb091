/*
 * Maildrop access for a formdrop-pop3d session process.  The listing
 * costs one directory scan: sizes come from the ",W=" part of each name
 * (written by formdrop.fcgi and by Dovecot); only files without one are
 * read to count their line ends.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "maildrop.h"
#include "util.h"

#define LOCK_NAME	"formdrop-pop3d.lock"
#define ARCHIVE_DIR	".Archive"
#define SEND_CHUNK	(64 * 1024)

long long
maildrop_name_size(const char *name)
{
	const char *p = strstr(name, ",W=");
	const char *end;
	unsigned long long v;
	char num[24];
	size_t n;

	if (p == NULL)
		return -1;
	p += 3;
	end = p + strspn(p, "0123456789");
	n = (size_t)(end - p);
	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, p, n);
	num[n] = '\0';
	if (parse_uint(num, 0, (unsigned long long)1 << 40, &v) == -1)
		return -1;
	return (long long)v;
}

void
maildrop_uidl(const char *name, char out[UIDL_MAX + 1])
{
	size_t n = strcspn(name, ",:"), i;
	int ok = n > 0 && n <= UIDL_MAX;

	for (i = 0; ok && i < n; i++)
		if ((unsigned char)name[i] < 0x21 || (unsigned char)name[i] > 0x7e)
			ok = 0;
	if (ok) {
		memcpy(out, name, n);
		out[n] = '\0';
		return;
	}
	if (sha256_hex(name, n, out) == -1)
		out[0] = '\0';
}

/*
 * Open a message of cur/ for reading: a regular file only.  A symbolic
 * link (to a file the session's user may read but the mailbox must not
 * show) or a FIFO (a read that never ends) is refused: -1, EINVAL.
 */
static int
open_message(int curfd, const char *name)
{
	struct stat st;
	int fd;

	if ((fd = openat(curfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

/* Size with CRLF line ends of a file without ",W=": read it. */
static long long
file_crlf_size(int dirfd, const char *name)
{
	char buf[SEND_CHUNK], last = '\n', prev = '\0';
	long long size = 0;
	ssize_t n, i;
	int fd;

	if ((fd = open_message(dirfd, name)) == -1)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < n; i++) {
			if (buf[i] == '\n' && prev != '\r')
				size++;
			prev = buf[i];
		}
		size += n;
		last = buf[n - 1];
	}
	close(fd);
	if (n == -1)
		return -1;
	return size + (last != '\n' ? 2 : 0);
}

/* Move every message of new/ into cur/ with an empty flag set. */
static void
move_new_to_cur(int dirfd, int curfd)
{
	char cur[512];
	struct dirent *de;
	int newfd;
	DIR *d;

	if ((newfd = openat(dirfd, "new", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || (d = fdopendir(newfd)) == NULL) {
		if (newfd != -1)
			close(newfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strchr(de->d_name, ':') != NULL)
			continue;
		if ((size_t)snprintf(cur, sizeof(cur), "%s:2,", de->d_name) >=
		    sizeof(cur))
			continue;
		if (renameat(newfd, de->d_name, curfd, cur) == -1)
			log_warn("move new/%s to cur/", de->d_name);
	}
	closedir(d);
}

const char *
maildrop_msg_name(const struct maildrop *md, size_t i)
{
	return md->names + md->v[i].name;
}

/* Delivery order: the leading seconds, then the name. */
static int
msg_cmp(const void *a, const void *b, void *names)
{
	const char *x = (const char *)names + ((const struct pop3_msg *)a)->name;
	const char *y = (const char *)names + ((const struct pop3_msg *)b)->name;
	unsigned long long tx = strtoull(x, NULL, 10);
	unsigned long long ty = strtoull(y, NULL, 10);

	if (tx != ty)
		return tx < ty ? -1 : 1;
	return strcmp(x, y);
}

/* Append name to the names block: its offset. */
static size_t
add_name(struct maildrop *md, const char *name)
{
	size_t len = strlen(name) + 1, off = md->names_len;

	if (md->names_len + len > md->names_cap) {
		md->names_cap = md->names_cap == 0 ? 16384 : md->names_cap * 2;
		if (md->names_cap < md->names_len + len)
			md->names_cap = md->names_len + len;
		md->names = xreallocarray(md->names, md->names_cap, 1);
	}
	memcpy(md->names + off, name, len);
	md->names_len += len;
	return off;
}

static int
list_cur(struct maildrop *md)
{
	struct dirent *de;
	long long size;
	size_t cap = 0;
	int fd;
	DIR *d;

	if ((fd = dup(md->curfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		/* What the directory says is not a file is not a message. */
		if (de->d_name[0] == '.' ||
		    (de->d_type != DT_REG && de->d_type != DT_UNKNOWN))
			continue;
		if (md->n == POP3_MESSAGES_MAX) {
			md->truncated = 1;
			break;
		}
		if ((size = maildrop_name_size(de->d_name)) < 0 &&
		    (size = file_crlf_size(md->curfd, de->d_name)) < 0)
			continue;	/* gone, or not a readable file */
		if (md->n == cap) {
			cap = cap == 0 ? 256 : cap * 2;
			md->v = xreallocarray(md->v, cap, sizeof(*md->v));
		}
		md->v[md->n].name = add_name(md, de->d_name);
		md->v[md->n].size = (size_t)size;
		md->v[md->n].deleted = 0;
		md->n++;
	}
	closedir(d);
	qsort_r(md->v, md->n, sizeof(*md->v), msg_cmp, md->names);
	return 0;
}

/* Remove archived messages older than the configured days. */
static void
purge_archive(struct maildrop *md)
{
	struct dirent *de;
	struct stat st;
	time_t limit = time(NULL) - (time_t)md->archive_days * 86400;
	int fd;
	DIR *d;

	if ((fd = openat(md->dirfd, ARCHIVE_DIR "/cur", O_RDONLY |
	    O_DIRECTORY | O_CLOEXEC)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' &&
		    fstatat(fd, de->d_name, &st, 0) == 0 &&
		    st.st_ctime < limit)
			unlinkat(fd, de->d_name, 0);
	closedir(d);
}

enum maildrop_status
maildrop_open(struct maildrop *md, const char *path, unsigned archive_days)
{
	memset(md, 0, sizeof(*md));
	md->curfd = md->lockfd = -1;
	md->archive_days = archive_days;
	if ((md->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return MAILDROP_ERROR;
	if ((md->lockfd = openat(md->dirfd, LOCK_NAME, O_RDWR | O_CREAT |
	    O_CLOEXEC, 0600)) == -1)
		goto fail;
	if (flock(md->lockfd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK) {
			maildrop_close(md);
			return MAILDROP_IN_USE;
		}
		goto fail;
	}
	if ((md->curfd = openat(md->dirfd, "cur", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		goto fail;
	move_new_to_cur(md->dirfd, md->curfd);
	if (archive_days > 0)
		purge_archive(md);
	if (list_cur(md) == -1)
		goto fail;
	return MAILDROP_OK;
fail:
	maildrop_close(md);
	return MAILDROP_ERROR;
}

/*
 * The name in cur/ now of a message another client renamed during the
 * session (a flag change rewrites what follows the ':' of its name): 0
 * with it in out, or -1 when no file has that unique part any more.
 */
static int
find_renamed(int curfd, const char *name, char *out, size_t outsz)
{
	size_t n = strcspn(name, ":");
	struct dirent *de;
	DIR *d;
	int fd, r = -1;

	if ((fd = openat(curfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while (r == -1 && (de = readdir(d)) != NULL)
		if (strncmp(de->d_name, name, n) == 0 &&
		    (de->d_name[n] == ':' || de->d_name[n] == '\0') &&
		    strlen(de->d_name) < outsz) {
			memcpy(out, de->d_name, strlen(de->d_name) + 1);
			r = 0;
		}
	closedir(d);
	return r;
}

int
maildrop_open_msg(struct maildrop *md, size_t i)
{
	char now[NAME_MAX + 1];
	int fd;

	if (i >= md->n)
		return -1;
	if ((fd = open_message(md->curfd, maildrop_msg_name(md, i))) != -1 ||
	    errno != ENOENT)
		return fd;
	/* An IMAP client on the same Maildir changed its flags: its new
	 * name is kept, so that the next RETR (and DELE) finds it at once
	 * rather than reading cur/ again. */
	if (find_renamed(md->curfd, maildrop_msg_name(md, i), now,
	    sizeof(now)) == -1) {
		errno = ENOENT;
		return -1;
	}
	md->v[i].name = add_name(md, now);
	return open_message(md->curfd, now);
}

/*
 * Stream one file as POP3 sends it: bare LF becomes CRLF, a line that
 * starts with '.' gets one more, and a last line without an end gets
 * CRLF.  With lines >= 0, stop after that many body lines.
 */
int
maildrop_send(struct maildrop *md, int fd, long lines, struct conn *c)
{
	char in[SEND_CHUNK], out[2 * SEND_CHUNK + 2];
	char prev = '\n';		/* the file starts at a line start */
	int in_body = 0, header_blank = 1;
	long body_lines = 0;
	ssize_t n, k;
	size_t o;

	(void)md;
	while ((n = read(fd, in, sizeof(in))) > 0) {
		for (o = 0, k = 0; k < n; k++) {
			char ch = in[k];

			if (lines >= 0 && in_body && body_lines >= lines)
				break;
			if (prev == '\n' && ch == '.')
				out[o++] = '.';
			if (ch == '\n' && prev != '\r')
				out[o++] = '\r';
			out[o++] = ch;
			if (ch == '\n') {
				if (in_body)
					body_lines++;
				else if (header_blank)
					in_body = 1;
				header_blank = 1;
			} else if (ch != '\r')
				header_blank = 0;
			prev = ch;
		}
		if (conn_write(c, out, o) == -1) {
			close(fd);
			return -1;
		}
		if (k < n)
			break;
	}
	close(fd);
	if (n == -1)
		return -1;
	if (prev != '\n' && conn_write(c, "\r\n", 2) == -1)
		return -1;
	return 0;
}

static int
archive_open(struct maildrop *md)
{
	static const char *const sub[] = { ARCHIVE_DIR, ARCHIVE_DIR "/tmp",
	    ARCHIVE_DIR "/new", ARCHIVE_DIR "/cur" };
	size_t i;

	for (i = 0; i < 4; i++)
		if (mkdirat(md->dirfd, sub[i], 0700) == -1 && errno != EEXIST)
			return -1;
	return openat(md->dirfd, ARCHIVE_DIR "/cur", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
}

/* Delete a message, or move it to the archive. */
static int
remove_msg(int curfd, int archfd, const char *name)
{
	return archfd != -1 ? renameat(curfd, name, archfd, name) :
	    unlinkat(curfd, name, 0);
}

int
maildrop_update(struct maildrop *md)
{
	char now[NAME_MAX + 1];
	int r = 0, archfd = -1;
	size_t i;

	if (md->archive_days > 0 && (archfd = archive_open(md)) == -1) {
		log_warn("archive folder");
		return -1;	/* keep the messages rather than lose them */
	}
	for (i = 0; i < md->n; i++) {
		const char *name = maildrop_msg_name(md, i);

		if (!md->v[i].deleted)
			continue;
		if (remove_msg(md->curfd, archfd, name) == 0)
			continue;
		if (errno != ENOENT) {
			r = -1;
			continue;
		}
		/* Renamed meanwhile: the same message under its new name.
		 * Gone altogether: another client deleted it already. */
		if (find_renamed(md->curfd, name, now, sizeof(now)) == 0 &&
		    remove_msg(md->curfd, archfd, now) == -1 &&
		    errno != ENOENT)
			r = -1;
	}
	/* Both folders on disk: the moves are durable, in and out. */
	if (archfd != -1) {
		if (fsync(archfd) == -1)
			r = -1;
		close(archfd);
	}
	if (fsync(md->curfd) == -1)
		r = -1;
	return r;
}

void
maildrop_close(struct maildrop *md)
{
	free(md->names);
	free(md->v);
	if (md->curfd != -1)
		close(md->curfd);
	if (md->lockfd != -1)
		close(md->lockfd);	/* releases the flock */
	if (md->dirfd != -1)
		close(md->dirfd);
	memset(md, 0, sizeof(*md));
	md->dirfd = md->curfd = md->lockfd = -1;
}
