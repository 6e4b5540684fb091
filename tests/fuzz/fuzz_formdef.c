/*
 * libFuzzer target: form definitions.  The input is the text of a .form
 * file, written to fuzz.form in a folder made once per process; that
 * folder also holds the body templates the input may name (body.txt is
 * "{{id}}"; contact.txt and order.txt are the shipped ones, so that the
 * shipped forms in the corpus load whole).  formdef_load must either load
 * the definition or report at least one problem, and free everything.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "formdef.h"
#include "fuzz_util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	dir[64];
static char	form_path[PATH_MAX];

static const char *const files[][2] = {
	{ "body.txt", "{{id}}" },
	{ "contact.txt",
	    "A message arrived through the contact form.\n\n"
	    "Name:    {{name}}\nEmail:   {{email}}\n\n{{message}}\n\n--\n"
	    "Submission {{id}}, received {{date}} from {{client}}.\n"
	    "Reply to this message to answer {{name}} directly.\n" },
	{ "order.txt",
	    "New order {{id}}\n\nCustomer:  {{name}}\nEmail:     {{email}}\n"
	    "Telephone: {{phone}}\n\nShip to:\n{{address}}\n\nItems:\n"
	    "{{#rows quantity item}}  {{quantity}} x {{item}}\n{{/rows}}\n"
	    "Notes:\n{{notes}}\n\nAttachment: {{attachment}}\n\n--\n"
	    "Received {{date}} from {{client}} through the {{form}} form.\n" },
};

static void
setup(void)
{
	fuzz_workdir(dir, "formdef", NULL, 0, files,
	    sizeof(files) / sizeof(files[0]));
	snprintf(form_path, sizeof(form_path), "%s/fuzz.form", dir);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct formdef def;
	struct diag d;
	size_t i;
	int r;

	if (dir[0] == '\0')
		setup();
	fuzz_write_file(form_path, data, size);
	diag_init(&d);
	r = formdef_load(form_path, &def, &d);
	/* Refused exactly when a problem was reported. */
	if (fuzz_verbose()) {
		fprintf(stderr, "%s: %s, %zu errors, %zu warnings\n",
		    "formdef", r == 0 ? "loaded" : "refused", d.errors,
		    d.warnings);
		diag_print(&d, stderr);
	}
	if ((r == 0) != (d.errors == 0) || (r != 0 && d.text.len == 0))
		abort();
	if (r == 0) {
		/* A loaded definition is complete (formdrop.form(5)). */
		if (strcmp(def.name, "fuzz") != 0 || def.mailbox == NULL ||
		    def.subject == NULL || def.thanks == NULL ||
		    def.body == NULL || def.nfields == 0 ||
		    def.nfields > FORM_FIELDS_MAX)
			abort();
		for (i = 0; i < def.nfields; i++) {
			const struct fielddef *f = &def.fields[i];

			if (formdef_field(&def, f->name) != f ||
			    f->repeat < 1 || f->repeat > FIELD_REPEAT_MAX ||
			    f->nchoices > FORM_CHOICES_MAX ||
			    (f->type == FT_CHOICE && f->nchoices == 0) ||
			    strcmp(field_type_name(f->type), "?") == 0)
				abort();
		}
		for (i = 0; i < def.nrows; i++)
			if (formdef_in_rows(&def, def.rows[i]) != 1 ||
			    formdef_field(&def, def.rows[i]) == NULL)
				abort();
		formdef_free(&def);
	}
	diag_free(&d);
	return 0;
}
