/*
 * libFuzzer target: formdrop-pop3d's users file (Dovecot passwd-file
 * format), loaded with userdb_load() as a start or --check does.  The
 * input is written to a file in a folder made once per process; relative
 * Maildir paths resolve against it.  userdb_load must succeed exactly when
 * it reports no error, and every user it keeps must have a name, a hash
 * and a Maildir; a loaded table is then asked for a user, as a login is.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "fuzz_util.h"
#include "userdb.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	root[64];
static char	users_path[PATH_MAX];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct userdb db;
	struct diag d;
	size_t i;
	int r;

	if (root[0] == '\0') {
		fuzz_workdir(root, "userdb", NULL, 0, NULL, 0);
		snprintf(users_path, sizeof(users_path), "%s/users", root);
	}
	fuzz_write_file(users_path, data, size);
	diag_init(&d);
	r = userdb_load(users_path, &db, &d);
	if ((r == 0) != (d.errors == 0))
		abort();
	if (fuzz_verbose())
		fprintf(stderr, "userdb: %d, %zu user(s)\n%s", r,
		    r == 0 ? db.n : 0, d.text.data != NULL ? d.text.data : "");
	if (r == 0) {
		for (i = 0; i < db.n; i++)
			if (db.v[i].name[0] == '\0' || db.v[i].hash == NULL ||
			    db.v[i].maildir == NULL)
				abort();
		/* A wrong password never logs in, for a user or a stranger. */
		if (userdb_check(&db, db.n > 0 ? db.v[0].name : "nobody",
		    "not the password, surely") != NULL)
			abort();
		userdb_free(&db);
	}
	diag_free(&d);
	return 0;
}
