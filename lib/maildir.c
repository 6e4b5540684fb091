/*
 * Maildir delivery, run by the handler worker after a submission is
 * composed.  Many workers in many processes (and on many hosts over NFS)
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

int
maildir_name(char *out, size_t outsz, const char *hostname, size_t size,
    size_t lf)
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
	n = snprintf(out, outsz, "%lld.M%06ldP%ldQ%luR%s.%s,S=%zu,W=%zu",
	    (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid(),
	    ++delivery_counter, rnd, host, size, size + lf);
	if (n < 0 || (size_t)n >= outsz)
		return -1;
	return 0;
}

static size_t
count_lf(const char *s, size_t len)
{
	size_t n = 0;
	const char *p = s, *end = s + len;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		n++;
		p++;
	}
	return n;
}

static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Move tmp/name to new/name, never replacing an existing file. */
static int
move_new(int tmpfd, int newfd, const char *name)
{
	if (renameat2(tmpfd, name, newfd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* Filesystems without RENAME_NOREPLACE (NFS): link never replaces. */
	if (linkat(tmpfd, name, newfd, name, 0) == -1)
		return -1;
	unlinkat(tmpfd, name, 0);
	return 0;
}

int
maildir_deliver(const char *path, const struct buf *msg, const char *hostname,
    char *name, size_t namesz)
{
	int dirfd = -1, tmpfd = -1, newfd = -1, fd = -1, saved, created = 0;
	const char *data = msg->data != NULL ? msg->data : "";

	if ((dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (tmpfd = openat(dirfd, "tmp", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 ||
	    (newfd = openat(dirfd, "new", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		goto fail;
	if (maildir_name(name, namesz, hostname, msg->len,
	    count_lf(data, msg->len)) == -1) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	if ((fd = openat(tmpfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1)
		goto fail;
	created = 1;
	if (write_all(fd, data, msg->len) == -1 || fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (move_new(tmpfd, newfd, name) == -1)
		goto fail;
	created = 0;
	/* The rename is durable only once new/ itself is on disk. */
	if (fsync(newfd) == -1) {
		saved = errno;
		unlinkat(newfd, name, 0);
		errno = saved;
		goto fail;
	}
	close(newfd);
	close(tmpfd);
	close(dirfd);
	return 0;
fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	if (created)
		unlinkat(tmpfd, name, 0);
	if (newfd != -1)
		close(newfd);
	if (tmpfd != -1)
		close(tmpfd);
	if (dirfd != -1)
		close(dirfd);
	errno = saved;
	return -1;
}

int
maildir_folder(const char *path, const char *folder, char *out, size_t outsz)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	char sub[4096];
	size_t i;
	int fd;

	if (path_resolve(out, outsz, path, folder) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (maildir_is_ready(out))
		return 0;
	if (mkdir(out, 0700) == -1 && errno != EEXIST)
		return -1;
	for (i = 0; i < 3; i++)
		if (path_resolve(sub, sizeof(sub), out, subs[i]) == -1 ||
		    (mkdir(sub, 0700) == -1 && errno != EEXIST))
			return -1;
	/* Maildir++: marks a folder, for Dovecot and Courier. */
	if (path_resolve(sub, sizeof(sub), out, "maildirfolder") == 0 &&
	    (fd = open(sub, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) != -1)
		close(fd);
	return 0;
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
