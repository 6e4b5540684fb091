/*
 * Helpers of the fuzz targets (see fuzz_util.h).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"

static char	workdir[64];

int
fuzz_verbose(void)
{
	static int v = -1;

	if (v == -1)
		v = getenv("FUZZ_VERBOSE") != NULL;
	return v;
}

void
fuzz_write_file(const char *path, const void *data, size_t len)
{
	int fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1 || write(fd, data, len) != (ssize_t)len ||
	    close(fd) == -1) {
		perror(path);
		abort();
	}
}

/* Remove one file or folder of a tree (nftw callback). */
static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	remove(path);
	return 0;
}

/*
 * A crash ends the process without atexit(): remove the folders that
 * processes no longer running left in /tmp (their name holds their pid).
 */
static void
remove_stale(const char *prefix)
{
	char path[PATH_MAX];
	struct dirent *de;
	size_t plen = strlen(prefix);
	long pid;
	DIR *d;

	if ((d = opendir("/tmp")) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, plen) != 0 ||
		    (pid = strtol(de->d_name + plen, NULL, 10)) <= 0 ||
		    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "/tmp/%s", de->d_name);
		nftw(path, remove_one, 8, FTW_DEPTH | FTW_PHYS);
	}
	closedir(d);
}

static void
cleanup(void)
{
	if (workdir[0] != '\0')
		nftw(workdir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

void
fuzz_workdir(char out[64], const char *name, const char *const *dirs,
    size_t ndirs, const char *const (*files)[2], size_t nfiles)
{
	char prefix[24], path[PATH_MAX];
	size_t i;

	snprintf(prefix, sizeof(prefix), "formdrop-fuzz-%s.", name);
	remove_stale(prefix);
	snprintf(workdir, sizeof(workdir), "/tmp/%s%ld.XXXXXX", prefix,
	    (long)getpid());
	if (mkdtemp(workdir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	for (i = 0; i < ndirs; i++) {
		snprintf(path, sizeof(path), "%s/%s", workdir, dirs[i]);
		if (mkdir(path, 0700) == -1) {
			perror(path);
			abort();
		}
	}
	for (i = 0; i < nfiles; i++) {
		snprintf(path, sizeof(path), "%s/%s", workdir, files[i][0]);
		fuzz_write_file(path, files[i][1], strlen(files[i][1]));
	}
	memcpy(out, workdir, sizeof(workdir));
	atexit(cleanup);
}
