/*
 * Maildir delivery, run by the handler worker while a submission is
 * composed into tmp/.  Many workers in many processes (and on many hosts over NFS)
 * may deliver into one Maildir at once: uniqueness comes from time, pid,
 * a per-process counter and kernel randomness, and the move into new/
 * refuses to replace anything.
 */
#include <sys/stat.h>
#include <sys/time.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "maildir.h"
#include "util.h"

static unsigned long delivery_counter;

/* maildir(5): '/' and ':' in the host name are written as \057, \072. */
static int
host_escape(char *out, size_t outsz, const char *host)
{
	size_t o = 0;

	for (; *host != '\0'; host++) {
		const char *rep = *host == '/' ? "\\057" :
		    *host == ':' ? "\\072" : *host == ',' ? "\\054" : NULL;
		size_t n = rep != NULL ? 4 : 1;

		if (o + n >= outsz)
			return -1;
		if (rep != NULL)
			memcpy(out + o, rep, 4);
		else
			out[o] = *host;
		o += n;
	}
	out[o] = '\0';
	return 0;
}

/* time.M<usec>P<pid>Q<n>R<random>.host: unique without the sizes. */
static int
unique_base(char *out, size_t outsz, const char *hostname)
{
	char host[4 * 128 + 1], rnd[17];
	struct timeval tv;
	int n;

	gettimeofday(&tv, NULL);
	/* A longer host would push the name towards NAME_MAX (255). */
	if (strlen(hostname) > 128 ||
	    host_escape(host, sizeof(host), hostname) == -1 ||
	    random_hex(rnd, 8) == -1)
		return -1;
	/* Microseconds zero-padded: names of one second sort in order. */
	n = snprintf(out, outsz, "%lld.M%06ldP%ldQ%luR%s.%s",
	    (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid(),
	    ++delivery_counter, rnd, host);
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

/* base,S=<size>,W=<size+lf> */
static int
sized_name(char *out, size_t outsz, const char *base, size_t size,
    size_t lf)
{
	int n = snprintf(out, outsz, "%s,S=%zu,W=%zu", base, size,
	    size + lf);

	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

int
maildir_name(char *out, size_t outsz, const char *hostname, size_t size,
    size_t lf)
{
	char base[MAILDIR_NAME_MAX];

	return unique_base(base, sizeof(base), hostname) == -1 ? -1 :
	    sized_name(out, outsz, base, size, lf);
}

/* Move tmp/from to new/to, never replacing an existing file. */
static int
move_new(int tmpfd, const char *from, int newfd, const char *to)
{
	if (renameat2(tmpfd, from, newfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* Filesystems without RENAME_NOREPLACE (NFS): link never replaces. */
	if (linkat(tmpfd, from, newfd, to, 0) == -1)
		return -1;
	unlinkat(tmpfd, from, 0);
	return 0;
}

/* Counts what reaches the file, for ,S= and ,W=, and keeps why a write
 * failed (a full disk must be logged as such, not as a BIO error). */
static long
count_written(BIO *b, int oper, const char *argp, size_t len, int argi,
    long argl, int ret, size_t *processed)
{
	struct maildir_delivery *d = (struct maildir_delivery *)
	    BIO_get_callback_arg(b);
	const char *p = argp, *end;

	if (oper == (BIO_CB_WRITE | BIO_CB_RETURN) && ret <= 0 &&
	    d->write_errno == 0)
		d->write_errno = errno != 0 ? errno : EIO;
	if (oper == (BIO_CB_WRITE | BIO_CB_RETURN) && ret > 0 &&
	    processed != NULL) {
		end = argp + *processed;
		d->size += *processed;
		while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
			d->lf++;
			p++;
		}
	}
	return ret;
}

static void
delivery_close(struct maildir_delivery *d)
{
	BIO_free_all(d->out);
	d->out = NULL;
	if (d->fd != -1)
		close(d->fd);
	if (d->newfd != -1)
		close(d->newfd);
	if (d->tmpfd != -1)
		close(d->tmpfd);
	d->fd = d->newfd = d->tmpfd = -1;
}

void
maildir_abort(struct maildir_delivery *d)
{
	int saved = errno;

	if (d->tmpfd != -1 && d->created)
		unlinkat(d->tmpfd, d->base, 0);
	d->created = 0;
	delivery_close(d);
	errno = saved;
}

int
maildir_begin(struct maildir_delivery *d, const char *path,
    const char *hostname)
{
	BIO *file = NULL;
	int dirfd;

	memset(d, 0, sizeof(*d));
	d->fd = d->tmpfd = d->newfd = -1;
	if ((dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	d->tmpfd = openat(dirfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d->newfd = openat(dirfd, "new", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(dirfd);
	if (d->tmpfd == -1 || d->newfd == -1)
		goto fail;
	if (unique_base(d->base, sizeof(d->base), hostname) == -1) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	if ((d->fd = openat(d->tmpfd, d->base, O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC, 0600)) == -1)
		goto fail;
	d->created = 1;
	if ((file = BIO_new_fd(d->fd, BIO_NOCLOSE)) == NULL ||
	    (d->out = BIO_new(BIO_f_buffer())) == NULL ||
	    BIO_set_write_buffer_size(d->out, 64 * 1024) != 1) {
		BIO_free(file);
		errno = ENOMEM;
		goto fail;
	}
	BIO_set_callback_ex(file, count_written);
	BIO_set_callback_arg(file, (char *)d);
	BIO_push(d->out, file);
	return 0;
fail:
	maildir_abort(d);
	return -1;
}

int
maildir_commit(struct maildir_delivery *d, char *name, size_t namesz)
{
	if (BIO_flush(d->out) != 1) {
		errno = d->write_errno != 0 ? d->write_errno : EIO;
		goto fail;
	}
	if (sized_name(name, namesz, d->base, d->size, d->lf) == -1) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	if (fsync(d->fd) == -1)
		goto fail;
	if (close(d->fd) == -1) {
		d->fd = -1;
		goto fail;
	}
	d->fd = -1;
	if (move_new(d->tmpfd, d->base, d->newfd, name) == -1)
		goto fail;
	d->created = 0;
	/* The rename is durable only once new/ itself is on disk. */
	if (fsync(d->newfd) == -1) {
		int saved = errno;

		unlinkat(d->newfd, name, 0);
		errno = saved;
		goto fail;
	}
	delivery_close(d);
	return 0;
fail:
	maildir_abort(d);
	return -1;
}

int
maildir_folder(const char *path, const char *folder, char *out, size_t outsz)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	static char durable[4096];	/* the folder this process synced */
	char sub[4096];
	size_t i;
	int fd, made = 0;

	if (path_resolve(out, outsz, path, folder) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (!maildir_is_ready(out)) {
		if (mkdir(out, 0700) == -1 && errno != EEXIST)
			return -1;
		for (i = 0; i < 3; i++)
			if (path_resolve(sub, sizeof(sub), out, subs[i]) ==
			    -1 || (mkdir(sub, 0700) == -1 && errno != EEXIST))
				return -1;
		/* Maildir++: marks a folder, for Dovecot and Courier. */
		if (path_resolve(sub, sizeof(sub), out, "maildirfolder") == 0 &&
		    (fd = open(sub, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) != -1)
			close(fd);
		made = 1;
	}
	/*
	 * A message delivered into it must not vanish with the folder: made
	 * here, or by another worker that may not have synced it yet.
	 */
	if (made || strcmp(durable, out) != 0) {
		if (fsync_dir(out) == -1 || fsync_dir(path) == -1)
			return -1;
		snprintf(durable, sizeof(durable), "%s", out);
	}
	return 0;
}

void
maildir_grant_folder(const char *path, char *out, size_t outsz)
{
	path_dir(out, outsz, path);
}

int
maildir_is_ready(const char *path)
{
	char sub[4096];
	const char *const dirs[] = { "tmp", "new", "cur" };
	size_t i;

	for (i = 0; i < 3; i++) {
		if (path_resolve(sub, sizeof(sub), path, dirs[i]) == -1 ||
		    access(sub, i < 2 ? W_OK | X_OK : X_OK) == -1)
			return 0;
	}
	return 1;
}

int
maildir_clean_tmp(const char *path, time_t max_age)
{
	char tmp[4096];
	struct dirent *de;
	struct stat st;
	time_t now = time(NULL);
	int removed = 0, fd;
	DIR *d;

	if (path_resolve(tmp, sizeof(tmp), path, "tmp") == -1 ||
	    (d = opendir(tmp)) == NULL)
		return -1;
	fd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && now - st.st_mtime > max_age &&
		    unlinkat(fd, de->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}
