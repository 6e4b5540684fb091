/*
 * A plain main() for the fuzz targets: run LLVMFuzzerTestOneInput once on
 * every regular file named on the command line or found in a directory
 * named there (one level deep, subdirectories of those included once more;
 * dot files skipped).  Built by "make replay" with gcc, ASan and UBSan with
 * -fno-sanitize-recover, so a crash, a leak or undefined behaviour on any
 * corpus file or past crash fails the build; no libFuzzer needed.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***) __attribute__((weak));

static size_t	ran, failed;

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read path whole and run the target on it; -1 if it cannot be read. */
static int
run_file(const char *path)
{
	FILE *fp;
	uint8_t *data = NULL, *p;
	size_t len = 0, cap = 0, n;

	if ((fp = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (cap - len < 4096) {
			cap = cap == 0 ? 65536 : cap * 2;
			if ((p = realloc(data, cap)) == NULL) {
				fprintf(stderr, "replay: %s: out of memory\n",
				    path);
				free(data);
				fclose(fp);
				return -1;
			}
			data = p;
		}
		n = fread(data + len, 1, cap - len, fp);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		fprintf(stderr, "replay: %s: read error\n", path);
		free(data);
		fclose(fp);
		return -1;
	}
	fclose(fp);
	/*
	 * An exact-size copy, so that ASan catches a read even one byte
	 * past the input, as it does under libFuzzer.
	 */
	p = malloc(len > 0 ? len : 1);
	if (p == NULL) {
		free(data);
		return -1;
	}
	memcpy(p, data, len);
	free(data);
	if (getenv("REPLAY_VERBOSE") != NULL)
		fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
	LLVMFuzzerTestOneInput(p, len);
	free(p);
	ran++;
	return 0;
}

static void
run_path(const char *path, int depth)
{
	struct stat st;
	struct dirent *de;
	char **names = NULL, **v, *sub;
	size_t n = 0, i;
	DIR *d;

	if (stat(path, &st) == -1) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		failed++;
		return;
	}
	if (S_ISREG(st.st_mode)) {
		if (run_file(path) == -1)
			failed++;
		return;
	}
	if (!S_ISDIR(st.st_mode) || depth > 1)
		return;
	if ((d = opendir(path)) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		failed++;
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((v = realloc(names, (n + 1) * sizeof(*names))) == NULL ||
		    (v[n] = strdup(de->d_name)) == NULL) {
			fprintf(stderr, "replay: out of memory\n");
			exit(1);
		}
		names = v;
		n++;
	}
	closedir(d);
	/* Sorted, so that runs are reproducible. */
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n; i++) {
		if ((sub = malloc(strlen(path) + strlen(names[i]) + 2)) ==
		    NULL) {
			fprintf(stderr, "replay: out of memory\n");
			exit(1);
		}
		sprintf(sub, "%s/%s", path, names[i]);
		run_path(sub, depth + 1);
		free(sub);
		free(names[i]);
	}
	free(names);
}

int
main(int argc, char *argv[])
{
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s corpus-dir-or-file ...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++)
		run_path(argv[i], 0);
	printf("replay: %zu inputs ran", ran);
	if (failed > 0)
		printf(", %zu unreadable", failed);
	printf("\n");
	if (ran == 0) {
		fprintf(stderr, "replay: no inputs found\n");
		return 1;
	}
	return failed > 0 ? 1 : 0;
}
