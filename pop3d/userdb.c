/*
 * The POP3 users file, loaded by formdrop-pop3d at start-up (before it
 * drops privileges, so the file can stay readable by root only).
 */
#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "userdb.h"
#include "util.h"

#define USERDB_LINE_MAX	1024

static const char *
strip_scheme(const char *h)
{
	static const char *const schemes[] = { "{CRYPT}", "{SHA512-CRYPT}",
	    "{SHA256-CRYPT}", "{BLF-CRYPT}", "{MD5-CRYPT}", NULL };
	size_t i;

	for (i = 0; schemes[i] != NULL; i++)
		if (strncmp(h, schemes[i], strlen(schemes[i])) == 0)
			return h + strlen(schemes[i]);
	return h[0] == '$' ? h : NULL;
}

static int
parse_line(const char *path, int lineno, char *line, const char *dir,
    struct userdb *db, struct diag *d)
{
	char *fields[8], *p = line, full[4096];
	size_t n = 0, i;

	while (n < 8) {
		fields[n++] = p;
		if ((p = strchr(p, ':')) == NULL)
			break;
		*p++ = '\0';
	}
	if (n < 6) {
		diag_error(d, path, lineno, "expected user:hash:uid:gid:gecos:"
		    "maildir");
		return -1;
	}
	if (fields[0][0] == '\0' || strlen(fields[0]) > USER_NAME_MAX) {
		diag_error(d, path, lineno, "bad user name");
		return -1;
	}
	if (strip_scheme(fields[1]) == NULL) {
		diag_error(d, path, lineno, "user %s: the password must be a "
		    "crypt(3) hash ({CRYPT}$y$..., $6$...); make one with "
		    "formdrop-pop3d --hash", fields[0]);
		return -1;
	}
	for (i = 0; i < db->n; i++)
		if (strcmp(db->v[i].name, fields[0]) == 0) {
			diag_error(d, path, lineno, "user %s listed twice",
			    fields[0]);
			return -1;
		}
	if (fields[5][0] == '\0' ||
	    path_resolve(full, sizeof(full), dir, fields[5]) == -1) {
		diag_error(d, path, lineno, "user %s: bad Maildir path",
		    fields[0]);
		return -1;
	}
	db->v = xreallocarray(db->v, db->n + 1, sizeof(*db->v));
	snprintf(db->v[db->n].name, sizeof(db->v[db->n].name), "%s",
	    fields[0]);
	db->v[db->n].hash = xstrdup(fields[1]);
	db->v[db->n].maildir = xstrdup(full);
	db->v[db->n].line = lineno;
	db->n++;
	return 0;
}

/*
 * The hash of a random password nobody knows, checked for unknown names.
 * It is made like the first user's (scheme, cost and salt), so that the
 * check takes as long as a real one and the time does not tell which
 * names exist; with no users, yescrypt.  0, or -1.
 */
static int
make_dummy(struct userdb *db)
{
	char password[33], hash[256];
	struct crypt_data cd;
	const char *h;
	int r = -1;

	if (random_hex(password, 16) == -1)
		return -1;
	memset(&cd, 0, sizeof(cd));
	if (db->n == 0) {
		if (userdb_hash(password, hash, sizeof(hash)) == 0) {
			db->dummy = xstrdup(hash);
			r = 0;
		}
	} else if ((h = crypt_r(password, strip_scheme(db->v[0].hash),
	    &cd)) != NULL && h[0] != '*' &&
	    (size_t)snprintf(hash, sizeof(hash), "{CRYPT}%s", h) <
	    sizeof(hash)) {
		db->dummy = xstrdup(hash);	/* DES hashes have no '$' */
		r = 0;
	}
	explicit_bzero(&cd, sizeof(cd));
	explicit_bzero(password, sizeof(password));
	return r;
}

enum { LINE_LONG = 1, LINE_NUL = 2 };

/*
 * One line of fp, without its end, into line (size bytes); 0, or -1 at
 * the end of the file.  *bad says why the line cannot be taken: longer
 * than line, or holding a NUL (which would cut it short unseen).
 */
static int
read_line(FILE *fp, char *line, size_t size, int *bad)
{
	size_t len = 0;
	int c;

	*bad = 0;
	while ((c = getc(fp)) != EOF && c != '\n') {
		if (c == '\0')
			*bad |= LINE_NUL;
		else if (len + 1 < size)
			line[len++] = (char)c;
		else
			*bad |= LINE_LONG;
	}
	line[len] = '\0';
	return c == EOF && len == 0 && *bad == 0 ? -1 : 0;
}

int
userdb_load(const char *path, struct userdb *db, struct diag *d)
{
	char line[USERDB_LINE_MAX], dir[4096];
	const char *slash = strrchr(path, '/');
	size_t before = d->errors;
	int lineno = 0, bad;
	FILE *fp;

	memset(db, 0, sizeof(*db));
	snprintf(dir, sizeof(dir), "%.*s", slash == NULL ? 1 :
	    (int)(slash - path), slash == NULL ? "." : path);
	if ((fp = fopen(path, "r")) == NULL) {
		diag_error(d, path, 0, "cannot open: %s", strerror(errno));
		return -1;
	}
	while (read_line(fp, line, sizeof(line), &bad) == 0) {
		lineno++;
		if (bad != 0) {
			diag_error(d, path, lineno, bad & LINE_NUL ?
			    "NUL byte in the line" : "line too long");
			continue;
		}
		line[strcspn(line, "\r")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		parse_line(path, lineno, line, dir, db, d);
	}
	fclose(fp);
	explicit_bzero(line, sizeof(line));
	if (d->errors == before && make_dummy(db) == -1)
		diag_error(d, path, 0, "cannot make a hash with libcrypt");
	if (d->errors > before) {
		userdb_free(db);
		return -1;
	}
	return 0;
}

void
userdb_free(struct userdb *db)
{
	size_t i;

	for (i = 0; i < db->n; i++) {
		explicit_bzero(db->v[i].hash, strlen(db->v[i].hash));
		free(db->v[i].hash);
		free(db->v[i].maildir);
	}
	free(db->v);
	free(db->dummy);
	memset(db, 0, sizeof(*db));
}

const struct user *
userdb_check(const struct userdb *db, const char *name, const char *password)
{
	const struct user *u = NULL;
	struct crypt_data cd;
	const char *hash = strip_scheme(db->dummy), *out;
	size_t i;
	int ok;

	for (i = 0; i < db->n; i++)
		if (strcmp(db->v[i].name, name) == 0) {
			u = &db->v[i];
			hash = strip_scheme(u->hash);
		}
	memset(&cd, 0, sizeof(cd));
	out = crypt_r(password, hash, &cd);
	ok = out != NULL && out[0] != '*' && strlen(out) == strlen(hash) &&
	    CRYPTO_memcmp(out, hash, strlen(hash)) == 0;
	explicit_bzero(&cd, sizeof(cd));
	return ok && u != NULL ? u : NULL;
}

int
userdb_hash(const char *password, char *out, size_t outsz)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd;
	const char *h;
	int n;

	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) == NULL)
		return -1;
	memset(&cd, 0, sizeof(cd));
	if ((h = crypt_r(password, salt, &cd)) == NULL || h[0] == '*')
		return -1;
	n = snprintf(out, outsz, "{CRYPT}%s", h);
	explicit_bzero(&cd, sizeof(cd));
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}
