/*
 * Process confinement for formdrop.fcgi's workers.  See sandbox.h.  The
 * allow-list is what a worker needs after start-up: FastCGI accept and
 * I/O, memory, time, randomness, files inside the Maildirs and the state
 * folder, flock for the rate-limit table, and syslog's unix socket.
 */
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sandbox.h"

#ifdef FORMDROP_NO_SANDBOX

int
sandbox_available(void)
{
	return 0;
}

int
sandbox_enter(const char *const *paths, size_t npaths, int *landlock,
    char *err, size_t errsz)
{
	(void)paths; (void)npaths; (void)err; (void)errsz;
	*landlock = 0;
	return 0;
}

#else

#include <linux/landlock.h>
#include <seccomp.h>
#include <sys/socket.h>

int
sandbox_available(void)
{
	return 1;
}

/* Every file access right of Landlock ABI 2 (ABI 1 lacks REFER). */
#define FS_ALL_V2 (LANDLOCK_ACCESS_FS_EXECUTE | \
	LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE | \
	LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | \
	LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR | \
	LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | \
	LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | \
	LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM | \
	LANDLOCK_ACCESS_FS_REFER)
/* What a worker may do inside its folders: no exec, no devices. */
#define FS_WORK (LANDLOCK_ACCESS_FS_WRITE_FILE | \
	LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR | \
	LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR | \
	LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_REFER)

/*
 * Landlock: only paths, and nothing else of the file system.  0 when
 * applied, 1 when the kernel has no Landlock ABI >= 2, -1 on error.
 */
static int
landlock_enter(const char *const *paths, size_t npaths, char *err,
    size_t errsz)
{
	struct landlock_ruleset_attr rs = { .handled_access_fs = FS_ALL_V2 };
	struct landlock_path_beneath_attr pb = { .allowed_access = FS_WORK };
	long abi;
	size_t i;
	int fd;

	abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 2)
		return 1;
	if ((fd = (int)syscall(SYS_landlock_create_ruleset, &rs, sizeof(rs),
	    0)) == -1) {
		snprintf(err, errsz, "landlock_create_ruleset: %s",
		    strerror(errno));
		return -1;
	}
	for (i = 0; i < npaths; i++) {
		if ((pb.parent_fd = open(paths[i], O_PATH | O_CLOEXEC)) == -1) {
			/* A Maildir missing now answers 503; skip it. */
			continue;
		}
		if (syscall(SYS_landlock_add_rule, fd, LANDLOCK_RULE_PATH_BENEATH,
		    &pb, 0) == -1) {
			snprintf(err, errsz, "landlock_add_rule %s: %s",
			    paths[i], strerror(errno));
			close(pb.parent_fd);
			close(fd);
			return -1;
		}
		close(pb.parent_fd);
	}
	if (syscall(SYS_landlock_restrict_self, fd, 0) == -1) {
		snprintf(err, errsz, "landlock_restrict_self: %s",
		    strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static const int allowed[] = {
	/* I/O on the FastCGI connection, files, syslog */
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(close),
	SCMP_SYS(lseek), SCMP_SYS(accept), SCMP_SYS(accept4),
	SCMP_SYS(recvfrom), SCMP_SYS(sendto), SCMP_SYS(recvmsg),
	SCMP_SYS(sendmsg), SCMP_SYS(shutdown), SCMP_SYS(poll),
	SCMP_SYS(ppoll), SCMP_SYS(select), SCMP_SYS(pselect6),
	SCMP_SYS(getsockopt), SCMP_SYS(setsockopt), SCMP_SYS(getsockname),
	SCMP_SYS(getpeername), SCMP_SYS(connect), SCMP_SYS(fcntl),
	SCMP_SYS(dup), SCMP_SYS(dup2), SCMP_SYS(dup3),
	/* files: Maildir delivery, state folder */
	SCMP_SYS(openat), SCMP_SYS(open), SCMP_SYS(fsync),
	SCMP_SYS(fdatasync), SCMP_SYS(renameat2), SCMP_SYS(renameat),
	SCMP_SYS(rename), SCMP_SYS(linkat), SCMP_SYS(unlinkat),
	SCMP_SYS(unlink), SCMP_SYS(mkdir), SCMP_SYS(mkdirat),
	SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(stat),
	SCMP_SYS(lstat), SCMP_SYS(statx), SCMP_SYS(access),
	SCMP_SYS(faccessat), SCMP_SYS(faccessat2), SCMP_SYS(getdents64),
	SCMP_SYS(flock), SCMP_SYS(umask),
	/* memory, threads of libraries, time, randomness */
	SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap),
	SCMP_SYS(mprotect), SCMP_SYS(madvise), SCMP_SYS(futex),
	SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday), SCMP_SYS(time),
	SCMP_SYS(nanosleep), SCMP_SYS(clock_nanosleep), SCMP_SYS(getrandom),
	SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getuid),
	SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid),
	SCMP_SYS(uname), SCMP_SYS(ioctl), SCMP_SYS(sysinfo),
	/* signals and the end */
	SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(restart_syscall),
	SCMP_SYS(exit), SCMP_SYS(exit_group),
};

static int
seccomp_enter(char *err, size_t errsz)
{
	scmp_filter_ctx ctx;
	size_t i;
	int r;

	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL) {
		snprintf(err, errsz, "seccomp_init failed");
		return -1;
	}
	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i],
		    0)) != 0 && r != -EDOM) {
			snprintf(err, errsz, "seccomp_rule_add: %s",
			    strerror(-r));
			seccomp_release(ctx);
			return -1;
		}
	/* syslog(3) may reconnect to /dev/log: unix sockets only. */
	if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_UNIX))) != 0) {
		snprintf(err, errsz, "seccomp_rule_add socket: %s",
		    strerror(-r));
		seccomp_release(ctx);
		return -1;
	}
	r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r != 0) {
		snprintf(err, errsz, "seccomp_load: %s", strerror(-r));
		return -1;
	}
	return 0;
}

int
sandbox_enter(const char *const *paths, size_t npaths, int *landlock,
    char *err, size_t errsz)
{
	int r;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		snprintf(err, errsz, "PR_SET_NO_NEW_PRIVS: %s",
		    strerror(errno));
		return -1;
	}
	if ((r = landlock_enter(paths, npaths, err, errsz)) == -1)
		return -1;
	*landlock = r == 0;
	return seccomp_enter(err, errsz);
}

#endif
