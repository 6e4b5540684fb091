/*
 * What several fuzz targets share: the FUZZ_VERBOSE switch, and a work
 * folder in /tmp holding the files a target's input may name.
 */
#ifndef FORMDROP_FUZZ_UTIL_H
#define FORMDROP_FUZZ_UTIL_H

#include <stddef.h>

/* FUZZ_VERBOSE=1 in the environment: say what each input did. */
int	fuzz_verbose(void);
/* Write len bytes to path, replacing it; aborts on failure. */
void	fuzz_write_file(const char *path, const void *data, size_t len);
/*
 * Make /tmp/formdrop-fuzz-<name>.<pid>.XXXXXX into out (64 bytes) with
 * the folders dirs[] and the files files[][2] (path, content) in it,
 * removed at exit; folders that crashed runs left are removed first.
 * Aborts on failure.
 */
void	fuzz_workdir(char out[64], const char *name,
	    const char *const *dirs, size_t ndirs,
	    const char *const (*files)[2], size_t nfiles);

#endif
