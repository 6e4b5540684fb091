/*
 * Confinement of a process that parses untrusted input (the handler's
 * workers): no new privileges; Landlock (where the kernel has ABI >= 2,
 * needed for Maildir's rename from tmp/ to new/) limits the file system
 * to the folders it writes; a seccomp allow-list (libseccomp) limits the
 * system calls, killing the process on anything else — no exec, no
 * network sockets, no ptrace.  Failure to confine is fatal; a build
 * without confinement is explicit (make SANDBOX=none, for ASan and
 * valgrind, which need more system calls).
 */
#ifndef FORMDROP_SANDBOX_H
#define FORMDROP_SANDBOX_H

#include <stddef.h>

/*
 * Confine the calling process; paths are the folders it may write (and
 * read) from now on.  Returns 0, or -1 with a reason in err (the caller
 * must then not serve).  Landlock missing from the kernel is not an
 * error: *landlock says whether it applied.
 */
int	sandbox_enter(const char *const *paths, size_t npaths, int *landlock,
	    char *err, size_t errsz);
/* 1 when this build confines (not built with SANDBOX=none). */
int	sandbox_available(void);

#endif
