/*
 * Idempotency records for the handler worker.  Files in dir:
 *
 *	KEY.claim	made by the first request with the key, which holds
 *			it locked (flock) until it is done and writes
 *			"ID PRINT -\n" into it before delivering: the
 *			submission id and the print of what was submitted;
 *			the '-' becomes '+' in place once delivered
 *	KEY		the record: the claim renamed once the message is
 *			delivered, so it is whole or absent
 *
 * The mark is written before the rename because it needs no new block
 * or name: on a full disk the rename can fail (a directory entry) where
 * the mark does not, and a claim marked delivered answers a retry as a
 * record does.
 *
 * A claim that nobody holds locked was left by a request that died: the
 * kernel drops a lock with its holder, so no age has to be guessed, and
 * a slow delivery is never taken for a dead one.  The claim is then
 * taken over and the retry delivers.  That is right when the request
 * died before its message reached new/, and a second message when it
 * died in the few system calls between that and the rename into the
 * record (telling the two apart would mean searching the Maildir, where
 * the merchant may already have deleted it).  Works across processes on
 * one host (keep the state folder on a local disk: flock over NFS is not
 * to be relied on).
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "once.h"
#include "util.h"

#define POLL_MS		20
#define LOCK_TRIES	100	/* claims renamed under us, in a row */
#define CLOCK_JUMP_MAX	3600	/* seconds the wall clock may be stepped */

void
once_key(const char *form, const char *value, char out[ONCE_KEY_HEX + 1])
{
	unsigned char md[32];
	unsigned int len;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, form, strlen(form) + 1);	/* with its NUL */
	EVP_DigestUpdate(ctx, value, strlen(value));
	EVP_DigestFinal_ex(ctx, md, &len);
	EVP_MD_CTX_free(ctx);
	hex_encode(md, 32, out);
}

static int
paths(struct once *o, const char *dir, const char *key)
{
	o->dir = dir;
	o->fd = -1;
	if ((size_t)snprintf(o->rec, sizeof(o->rec), "%s/%s", dir, key) >=
	    sizeof(o->rec) || (size_t)snprintf(o->claim, sizeof(o->claim),
	    "%s/%s.claim", dir, key) >= sizeof(o->claim)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* The first max bytes of s into out[max + 1]. */
static void
copy_bounded(char *out, size_t max, const char *s)
{
	size_t n = strnlen(s, max);

	memcpy(out, s, n);
	out[n] = '\0';
}

/*
 * Read the "ID PRINT MARK" line of a record or claim open as fd: 1 with
 * id and print, 0 when empty, -1 on error.  *delivered: the mark is '+'.
 * A record written before prints and marks were kept has neither: print
 * is "", and a record is delivered whatever its mark.
 */
static int
read_line(int fd, char id[ONCE_ID_MAX + 1], char print[ONCE_PRINT_HEX + 1],
    int *delivered)
{
	char line[ONCE_LINE_MAX + 1], *sp, *mark;
	ssize_t n;

	if ((n = pread(fd, line, sizeof(line) - 1, 0)) < 0)
		return -1;
	if (n == 0)
		return 0;
	line[n] = '\0';
	line[strcspn(line, "\n")] = '\0';
	if ((sp = strchr(line, ' ')) != NULL)
		*sp++ = '\0';
	if ((mark = sp != NULL ? strchr(sp, ' ') : NULL) != NULL)
		*mark++ = '\0';
	*delivered = mark != NULL && mark[0] == '+';
	copy_bounded(id, ONCE_ID_MAX, line);
	copy_bounded(print, ONCE_PRINT_HEX, sp != NULL ? sp : "");
	return 1;
}

/* Read a record: 1 with id and print, 0 when absent, -1 on error. */
static int
read_record(const char *rec, char id[ONCE_ID_MAX + 1],
    char print[ONCE_PRINT_HEX + 1])
{
	int fd, r, delivered;

	if ((fd = open(rec, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : -1;
	r = read_line(fd, id, print, &delivered);
	close(fd);
	return r == 0 ? -1 : r;
}

/* The claim becomes the record: best effort, the mark is what counts. */
static int
claim_to_record(struct once *o)
{
	if (rename(o->claim, o->rec) == -1)
		return -1;
	(void)fsync_dir(o->dir);
	return 0;
}

/*
 * Open and lock o's claim, making dir again if it was removed.  1: held
 * in o->fd; 0: a live request holds it; -1: error (errno).
 */
static int
lock_claim(struct once *o, const char *dir)
{
	struct stat held, named;
	int fd, tries;

	for (tries = 0; tries < LOCK_TRIES; tries++) {
		fd = open(o->claim, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd == -1 && errno == ENOENT &&
		    (mkdir(dir, 0700) == 0 || errno == EEXIST))
			fd = open(o->claim, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd == -1)
			return -1;
		if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
			close(fd);
			return errno == EWOULDBLOCK ? 0 : -1;
		}
		/*
		 * The holder before us may have renamed or removed the file
		 * we opened before we locked it: ours only if it still has
		 * the claim's name.
		 */
		if (fstat(fd, &held) == 0 && stat(o->claim, &named) == 0 &&
		    held.st_ino == named.st_ino && held.st_dev == named.st_dev) {
			o->fd = fd;
			return 1;
		}
		close(fd);
	}
	return 0;
}

int
once_peek(const char *dir, const char *key, char id[ONCE_ID_MAX + 1],
    char print[ONCE_PRINT_HEX + 1])
{
	struct once o;

	if (paths(&o, dir, key) == -1)
		return 0;
	return read_record(o.rec, id, print) == 1;
}

enum once_status
once_begin(struct once *o, const char *dir, const char *key, int wait_ms,
    char id[ONCE_ID_MAX + 1], char print[ONCE_PRINT_HEX + 1])
{
	int r, waited = 0, delivered;

	if (paths(o, dir, key) == -1)
		return ONCE_ERROR;
	for (;;) {
		if ((r = read_record(o->rec, id, print)) != 0)
			return r == 1 ? ONCE_DONE : ONCE_ERROR;
		if ((r = lock_claim(o, dir)) == -1)
			return ONCE_ERROR;
		if (r == 1)
			break;
		if (waited >= wait_ms)
			return ONCE_BUSY;
		usleep(POLL_MS * 1000);
		waited += POLL_MS;
	}
	/* The record may have landed just before we locked. */
	if ((r = read_record(o->rec, id, print)) != 0) {
		once_abort(o);
		return r == 1 ? ONCE_DONE : ONCE_ERROR;
	}
	/* Delivered by a request that could not rename its claim (a full
	 * disk) or died just before: the claim answers as the record. */
	if (read_line(o->fd, id, print, &delivered) == 1 && delivered) {
		(void)claim_to_record(o);
		close(o->fd);
		o->fd = -1;
		return ONCE_DONE;
	}
	return ONCE_NEW;
}

int
once_prepare(struct once *o, const char *id, const char *print)
{
	char line[ONCE_LINE_MAX + 1];
	int n;

	/* A dead request's line may be here: the newline ends ours. */
	n = snprintf(line, sizeof(line), "%s %s -\n", id, print);
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    pwrite(o->fd, line, (size_t)n, 0) != n || fsync(o->fd) == -1)
		return -1;
	o->mark = (off_t)n - 2;
	return 0;
}

int
once_finish(struct once *o)
{
	int marked, renamed;

	marked = pwrite(o->fd, "+", 1, o->mark) == 1 &&
	    fdatasync(o->fd) == 0;
	renamed = claim_to_record(o) == 0;
	close(o->fd);
	o->fd = -1;
	return renamed ? 0 : marked ? 1 : -1;
}

void
once_abort(struct once *o)
{
	if (o->fd == -1)
		return;
	unlink(o->claim);	/* still locked: nobody takes it meanwhile */
	close(o->fd);
	o->fd = -1;
}

static double clock_first_gap;
static int clock_have_first;

/* The wall clock's distance to the boot clock (which counts suspend). */
static double
clock_gap(void)
{
	struct timespec real, boot;

	clock_gettime(CLOCK_REALTIME, &real);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	return (double)(real.tv_sec - boot.tv_sec) +
	    (double)(real.tv_nsec - boot.tv_nsec) / 1e9;
}

void
once_clock_start(void)
{
	clock_first_gap = clock_gap();
	clock_have_first = 1;
}

/*
 * 1 while the wall clock keeps the distance to the boot clock it had at
 * once_clock_start() (within CLOCK_JUMP_MAX).  Ages read against a clock
 * stepped a month ahead (a wrong RTC, a restored VM) would remove every
 * record that a retry still needs.
 */
static int
clock_is_steady(void)
{
	double gap = clock_gap();

	if (!clock_have_first)
		once_clock_start();
	return gap - clock_first_gap < CLOCK_JUMP_MAX &&
	    clock_first_gap - gap < CLOCK_JUMP_MAX;
}

int
once_clean(const char *dir, time_t max_age)
{
	struct dirent *de;
	struct stat st;
	time_t now = time(NULL);
	int n = 0, fd;
	DIR *d;

	if (!clock_is_steady()) {
		errno = ERANGE;
		return -1;
	}
	if ((d = opendir(dir)) == NULL)
		return -1;
	fd = dirfd(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' &&
		    fstatat(fd, de->d_name, &st, 0) == 0 &&
		    now - st.st_mtime > max_age &&
		    unlinkat(fd, de->d_name, 0) == 0)
			n++;
	closedir(d);
	return n;
}
