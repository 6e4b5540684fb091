/*
 * Unit tests for lib/formdef.c (with lib/inifile.c and lib/diag.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "formdef.h"
#include "testutil.h"

#define GOOD_HEAD \
	"[form]\n"			/* 1 */ \
	"mailbox = box\n"		/* 2 */ \
	"subject = Hello {{name}}\n"	/* 3 */ \
	"body = body.txt\n"		/* 4 */ \
	"thanks = /thanks.html\n"	/* 5 */ \
	"\n"				/* 6 */ \
	"[field name]\n"		/* 7 */ \
	"type = text\n"			/* 8 */ \
	"required = yes\n"		/* 9 */ \
	"\n"				/* 10 */ \
	"[field email]\n"		/* 11 */ \
	"type = email\n"		/* 12 */
/* GOOD_HEAD has 12 lines; the next line is 13. */

struct fixture {
	char	*dir;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->dir = tu_mkdtemp();
	tu_write_file(f->dir, "body.txt", "From {{name}} <{{email}}>\n"
	    "Sent {{date}} ({{id}}, {{form}}, {{client}})\n");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	tu_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static char *
src_path(const char *rel)
{
	char *templates = tu_path(tu_srcdir(), "templates");
	char *p = tu_path(templates, rel);

	free(templates);
	return p;
}

/* Write text as dir/test.form, load it, expect success. */
static void
load_ok(struct fixture *f, const char *text, struct formdef *def)
{
	struct diag d;
	char *path;

	tu_write_file(f->dir, "test.form", text);
	path = tu_path(f->dir, "test.form");
	diag_init(&d);
	if (formdef_load(path, def, &d) != 0) {
		char msg[2048];

		snprintf(msg, sizeof(msg), "%s", d.text.data);
		diag_free(&d);
		free(path);
		fail_msg("formdef_load failed:\n%s", msg);
	}
	assert_int_equal(d.errors, 0);
	diag_free(&d);
	free(path);
}

/*
 * Write text as dir/NAME, load it, expect failure with a diagnostic line
 * starting "PATH:LINE: " (or "PATH: " for line 0) that contains what.
 */
static void
load_fail_as(struct fixture *f, const char *name, const char *text,
    const char *diag_file, int line, const char *what)
{
	struct formdef def;
	struct diag d;
	char *path, prefix[4200];
	const char *p;
	int found = 0;

	tu_write_file(f->dir, name, text);
	path = tu_path(f->dir, name);
	if (line > 0)
		snprintf(prefix, sizeof(prefix), "%s:%d: ",
		    diag_file != NULL ? diag_file : path, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ",
		    diag_file != NULL ? diag_file : path);
	diag_init(&d);
	memset(&def, 0x55, sizeof(def));
	if (formdef_load(path, &def, &d) != -1) {
		formdef_free(&def);
		diag_free(&d);
		free(path);
		fail_msg("%s: loaded, expected \"%s\"", name, what);
	}
	assert_true(d.errors > 0);
	assert_non_null(d.text.data);
	/* Look for one line with the prefix and the reason. */
	for (p = d.text.data; p != NULL && *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
		char lbuf[1024];

		snprintf(lbuf, sizeof(lbuf), "%.*s", (int)n, p);
		if (strncmp(lbuf, prefix, strlen(prefix)) == 0 &&
		    strstr(lbuf, what) != NULL)
			found = 1;
		p = nl != NULL ? nl + 1 : NULL;
	}
	if (!found)
		fail_msg("no diagnostic \"%s...%s\" in:\n%s", prefix, what,
		    d.text.data);
	/* A refused definition is freed. */
	assert_null(def.fields);
	assert_int_equal(def.nfields, 0);
	assert_null(def.mailbox);
	diag_free(&d);
	free(path);
}

static void
load_fail(struct fixture *f, const char *text, int line, const char *what)
{
	load_fail_as(f, "test.form", text, NULL, line, what);
}

static void
test_contact_form(void **state)
{
	struct formdef def;
	struct diag d;
	char *path = src_path("contact.form");
	const struct fielddef *fd;
	size_t len;
	char *txt;

	diag_init(&d);
	if (formdef_load(path, &def, &d) != 0)
		fail_msg("%s", d.text.data);
	assert_int_equal(d.errors, 0);
	assert_int_equal(d.warnings, 0);
	assert_string_equal(def.name, "contact");
	assert_string_equal(def.mailbox, "contact");
	assert_string_equal(def.subject, "Contact form: {{name}}");
	assert_string_equal(def.thanks, "/thanks.html");
	assert_string_equal(def.reply_to, "email");
	assert_int_equal(def.unknown, UNKNOWN_REJECT);
	assert_int_equal(def.nrows, 0);
	assert_int_equal(def.nfields, 3);

	fd = &def.fields[0];
	assert_string_equal(fd->name, "name");
	assert_string_equal(fd->label, "Your name");
	assert_int_equal(fd->type, FT_TEXT);
	assert_true(fd->required);
	assert_false(fd->multiline);
	assert_int_equal(fd->repeat, 1);
	assert_false(fd->has_min);
	assert_true(fd->has_max);
	assert_true(fd->max == 200);

	fd = &def.fields[1];
	assert_string_equal(fd->name, "email");
	assert_int_equal(fd->type, FT_EMAIL);
	assert_true(fd->required);
	assert_false(fd->has_max);

	fd = &def.fields[2];
	assert_string_equal(fd->name, "message");
	assert_int_equal(fd->type, FT_TEXT);
	assert_true(fd->multiline);
	assert_true(fd->required);
	assert_true(fd->max == 5000);

	/* The body is the template file, byte for byte. */
	free(path);
	path = src_path("contact.txt");
	txt = tu_read_file(path, &len);
	assert_non_null(txt);
	assert_non_null(def.body);
	assert_int_equal(def.body_len, len);
	assert_memory_equal(def.body, txt, len);
	free(txt);

	assert_ptr_equal(formdef_field(&def, "email"), &def.fields[1]);
	assert_null(formdef_field(&def, "nope"));
	assert_false(formdef_in_rows(&def, "name"));
	formdef_free(&def);
	assert_int_equal(def.nfields, 0);
	assert_null(def.fields);
	diag_free(&d);
	free(path);
}

static void
test_order_form(void **state)
{
	struct formdef def;
	struct diag d;
	char *path = src_path("order.form");
	const struct fielddef *fd;
	static const struct {
		const char *name;
		enum field_type type;
		int required, multiline;
		size_t repeat;
	} want[] = {
		{ "name", FT_TEXT, 1, 0, 1 },
		{ "email", FT_EMAIL, 1, 0, 1 },
		{ "phone", FT_TEL, 0, 0, 1 },
		{ "address", FT_TEXT, 1, 1, 1 },
		{ "item", FT_TEXT, 1, 0, 10 },
		{ "quantity", FT_INTEGER, 1, 0, 10 },
		{ "notes", FT_TEXT, 0, 1, 1 },
		{ "attachment", FT_FILE, 0, 0, 1 },
	};
	size_t i;

	diag_init(&d);
	if (formdef_load(path, &def, &d) != 0)
		fail_msg("%s", d.text.data);
	assert_string_equal(def.name, "order");
	assert_string_equal(def.mailbox, "orders");
	assert_string_equal(def.subject, "Order from {{name}}");
	assert_string_equal(def.reply_to, "email");
	assert_int_equal(def.unknown, UNKNOWN_DROP);
	assert_int_equal(def.nrows, 2);
	assert_string_equal(def.rows[0], "item");
	assert_string_equal(def.rows[1], "quantity");
	assert_true(formdef_in_rows(&def, "item"));
	assert_true(formdef_in_rows(&def, "quantity"));
	assert_false(formdef_in_rows(&def, "name"));
	assert_int_equal(def.nfields, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < def.nfields; i++) {
		fd = &def.fields[i];
		assert_string_equal(fd->name, want[i].name);
		assert_int_equal(fd->type, want[i].type);
		assert_int_equal(fd->required, want[i].required);
		assert_int_equal(fd->multiline, want[i].multiline);
		assert_int_equal(fd->repeat, want[i].repeat);
		assert_non_null(fd->label);
	}
	fd = formdef_field(&def, "quantity");
	assert_true(fd->has_min && fd->has_max);
	assert_true(fd->min == 1 && fd->max == 999);
	assert_string_equal(formdef_field(&def, "attachment")->label,
	    "Attachment");
	assert_non_null(def.body);
	assert_true(def.body_len > 0);
	formdef_free(&def);
	diag_free(&d);
	free(path);
}

static void
test_builtins_and_types(void **state)
{
	assert_true(formdef_is_builtin("id"));
	assert_true(formdef_is_builtin("form"));
	assert_true(formdef_is_builtin("date"));
	assert_true(formdef_is_builtin("client"));
	assert_false(formdef_is_builtin("name"));
	assert_false(formdef_is_builtin(""));
	assert_string_equal(field_type_name(FT_TEXT), "text");
	assert_string_equal(field_type_name(FT_EMAIL), "email");
	assert_string_equal(field_type_name(FT_FILE), "file");
	assert_string_equal(field_type_name(FT_CHECKBOX), "checkbox");
	assert_string_equal(field_type_name(FT__MAX), "?");
}

static void
test_custom_ok(void **state)
{
	struct fixture *f = *state;
	struct formdef def;
	const struct fielddef *fd;

	load_ok(f, GOOD_HEAD
	    "label = E-mail\n"
	    "[field size]\n"
	    "type = choice\n"
	    "choices = S | M|L|\textra large \n"
	    "[field code]\n"
	    "pattern = [A-Z]{2}[0-9]+\n"
	    "min = 3\n"
	    "max = 10\n"
	    "[field price]\n"
	    "type = decimal\n"
	    "min = -1.5\n"
	    "max = 1e3\n"
	    "[field agree]\n"
	    "type = checkbox\n"
	    "required = TRUE\n"
	    "[form]\n"
	    "unknown = drop\n"
	    "encryption = optional\n", &def);
	assert_string_equal(def.name, "test");
	assert_int_equal(def.nfields, 6);
	assert_int_equal(def.unknown, UNKNOWN_DROP);
	assert_int_equal(def.encryption, ENCRYPT_OPTIONAL);
	assert_null(def.reply_to);
	fd = formdef_field(&def, "size");
	assert_int_equal(fd->type, FT_CHOICE);
	assert_int_equal(fd->nchoices, 4);
	/* "a | b" as a page sends it: "a" and "b". */
	assert_string_equal(fd->choices[0], "S");
	assert_string_equal(fd->choices[1], "M");
	assert_string_equal(fd->choices[3], "extra large");
	fd = formdef_field(&def, "code");
	assert_true(fd->has_pattern);
	assert_string_equal(fd->pattern_src, "[A-Z]{2}[0-9]+");
	/* Anchored: the whole value must match. */
	assert_int_equal(regexec(&fd->pattern, "AB12", 0, NULL, 0), 0);
	assert_int_not_equal(regexec(&fd->pattern, "xAB12", 0, NULL, 0), 0);
	assert_int_not_equal(regexec(&fd->pattern, "AB12x", 0, NULL, 0), 0);
	fd = formdef_field(&def, "price");
	assert_true(fd->min == -1.5 && fd->max == 1000);
	fd = formdef_field(&def, "agree");
	assert_int_equal(fd->type, FT_CHECKBOX);
	assert_true(fd->required);
	assert_string_equal(formdef_field(&def, "email")->label, "E-mail");
	/* Default type is text. */
	assert_int_equal(formdef_field(&def, "code")->type, FT_TEXT);
	formdef_free(&def);
}

static void
test_unknown_key(void **state)
{
	struct fixture *f = *state;

	load_fail(f, GOOD_HEAD "colour = red\n", 13,
	    "unknown key \"colour\" in [field email]");
	load_fail(f, "[form]\nmailbox = box\nsubjekt = x\n"
	    "subject = {{name}}\nbody = body.txt\nthanks = /t\n"
	    "[field name]\ntype = text\n", 3, "unknown key \"subjekt\" in [form]");
}

static void
test_unknown_section(void **state)
{
	struct fixture *f = *state;

	/* Section errors point at the section's own line. */
	load_fail(f, GOOD_HEAD "[fields x]\ntype = text\n", 13,
	    "unknown section [fields x]");
	load_fail(f, GOOD_HEAD "[field bad name]\ntype = text\n", 13,
	    "bad field name \"bad name\"");
}

static void
test_unknown_type(void **state)
{
	struct fixture *f = *state;

	load_fail(f, GOOD_HEAD "[field n]\ntype = number\n", 14,
	    "unknown field type \"number\"");
}

static void
test_bad_pattern(void **state)
{
	struct fixture *f = *state;

	load_fail(f, GOOD_HEAD "[field n]\n\n\npattern = a(b\n", 16,
	    "pattern: ");
	load_fail(f, GOOD_HEAD "pattern = [a-\n", 13, "pattern: ");
	load_fail(f, GOOD_HEAD "pattern = a\npattern = b\n", 14,
	    "pattern set twice");
}

static void
test_bad_number(void **state)
{
	struct fixture *f = *state;

	load_fail(f, GOOD_HEAD "max = 12abc\n", 13,
	    "max: \"12abc\" is not a number");
	load_fail(f, GOOD_HEAD "min =\n", 13, "min: \"\" is not a number");
	load_fail(f, GOOD_HEAD "min = 1e999\n", 13, "is not a number");
	/* Either would turn its bound off. */
	load_fail(f, GOOD_HEAD "min = nan\n", 13, "is not a number");
	load_fail(f, GOOD_HEAD "max = inf\n", 13, "is not a number");
	load_fail(f, GOOD_HEAD "min = -Infinity\n", 13, "is not a number");
	load_fail(f, GOOD_HEAD "repeat = 0\n", 13, "repeat must be a number");
	load_fail(f, GOOD_HEAD "repeat = 101\n", 13,
	    "repeat must be a number");
	load_fail(f, GOOD_HEAD "required = maybe\n", 13,
	    "required must be yes or no");
	load_fail(f, GOOD_HEAD "multiline = 2\n", 13,
	    "multiline must be yes or no");
}

static void
test_duplicate_field(void **state)
{
	struct fixture *f = *state;

	load_fail(f, GOOD_HEAD "[field other]\ntype = text\n"
	    "[field name]\ntype = email\n", 15, "[field name] defined twice");
}

static void
test_duplicate_field_consecutive(void **state)
{
	struct fixture *f = *state;

	/* The same section twice in a row is as much a mistake. */
	load_fail(f, GOOD_HEAD "[field email]\nlabel = Mail\n", 13,
	    "[field email] defined twice");
}

static void
test_field_without_keys(void **state)
{
	struct fixture *f = *state;
	struct formdef def;
	const struct fielddef *fd;

	/* Every key of a field has a default (type = text): a section with
	 * no keys still defines a field. */
	load_ok(f, "[form]\nmailbox = m\nsubject = {{comment}}\n"
	    "body = body.txt\nthanks = /t\n"
	    "[field name]\n"
	    "[field email]\ntype = email\n"
	    "[field comment]\n", &def);
	assert_int_equal(def.nfields, 3);
	assert_string_equal(def.fields[0].name, "name");
	assert_string_equal(def.fields[1].name, "email");
	assert_string_equal(def.fields[2].name, "comment");
	fd = formdef_field(&def, "comment");
	assert_non_null(fd);
	assert_int_equal(fd->type, FT_TEXT);
	assert_false(fd->required);
	assert_int_equal(fd->repeat, 1);
	formdef_free(&def);
}

static void
test_set_twice(void **state)
{
	struct fixture *f = *state;

	load_fail(f, GOOD_HEAD "[form]\nmailbox = other\n", 14,
	    "mailbox set twice");
	load_fail(f, GOOD_HEAD "label = a\nlabel = b\n", 14,
	    "label set twice");
	load_fail(f, GOOD_HEAD "[form]\nrows = name\nrows = email\n", 15,
	    "rows set twice");
}

static void
test_missing_keys(void **state)
{
	struct fixture *f = *state;
	const char *fields = "[field name]\ntype = text\n";
	char text[512];

	snprintf(text, sizeof(text), "[form]\nsubject = {{name}}\n"
	    "body = body.txt\nthanks = /t\n%s", fields);
	load_fail(f, text, 0, "[form] has no mailbox");
	snprintf(text, sizeof(text), "[form]\nmailbox = m\nsubject = {{name}}\n"
	    "body = body.txt\n%s", fields);
	load_fail(f, text, 0, "[form] has no thanks page");
	snprintf(text, sizeof(text), "[form]\nmailbox = m\n"
	    "body = body.txt\nthanks = /t\n%s", fields);
	load_fail(f, text, 0, "[form] has no subject");
	snprintf(text, sizeof(text), "[form]\nmailbox = m\nsubject = x\n"
	    "thanks = /t\n%s", fields);
	load_fail(f, text, 0, "[form] has no body template");
	load_fail(f, "[form]\nmailbox = m\nsubject = x\nbody = body.txt\n"
	    "thanks = /t\n", 0, "form has no fields");
	load_fail(f, fields, 0, "no [form] section");
	load_fail(f, "", 0, "[form] has no mailbox");
}

static void
test_template_names(void **state)
{
	struct fixture *f = *state;
	char *body;

	load_fail(f, "[form]\nmailbox = m\nsubject = Hi {{nmae}}\n"
	    "body = body.txt\nthanks = /t\n[field name]\ntype = text\n", 3,
	    "subject: unknown name \"nmae\"");
	/* Built-ins may be used in the subject. */
	load_fail(f, "[form]\nmailbox = m\nsubject = {{id}} {{form}} {{date}} "
	    "{{client}} {{bogus}}\nbody = body.txt\nthanks = /t\n"
	    "[field name]\ntype = text\n", 3, "subject: unknown name \"bogus\"");
	/* An error in the body template is reported in the body file. */
	tu_write_file(f->dir, "bad.txt", "line 1 {{name}}\nline 2\n"
	    "line 3 {{emial}}\n");
	body = tu_path(f->dir, "bad.txt");
	load_fail_as(f, "test.form", "[form]\nmailbox = m\nsubject = x\n"
	    "body = bad.txt\nthanks = /t\n[field name]\ntype = text\n", body, 3,
	    "unknown name");
	tu_write_file(f->dir, "bad.txt", "\n\n\n\n{{#rows name}}\n");
	load_fail_as(f, "test.form", "[form]\nmailbox = m\nsubject = x\n"
	    "body = bad.txt\nthanks = /t\n[field name]\ntype = text\n", body, 5,
	    "{{#rows}} without {{/rows}}");
	free(body);
	/* A missing body file names the file. */
	load_fail(f, "[form]\nmailbox = m\nsubject = x\n\n"
	    "body = missing.txt\nthanks = /t\n[field name]\ntype = text\n", 5,
	    "missing.txt: No such file or directory");
}

static void
test_reply_to(void **state)
{
	struct fixture *f = *state;

	load_fail(f, GOOD_HEAD "[form]\nreply_to = name\n", 0,
	    "reply_to must name a single email field");
	load_fail(f, GOOD_HEAD "[form]\nreply_to = nobody\n", 0,
	    "reply_to must name a single email field");
	load_fail(f, GOOD_HEAD "repeat = 2\n[form]\nreply_to = email\n", 0,
	    "reply_to must name a single email field");
}

static void
test_other_checks(void **state)
{
	struct fixture *f = *state;

	load_fail(f, GOOD_HEAD "[field c]\ntype = choice\n", 0,
	    "[field c]: a choice field needs choices");
	load_fail(f, GOOD_HEAD "min = 5\nmax = 4\n", 0,
	    "[field email]: min is greater than max");
	/* Keys a type would ignore: a check that looks made and is not. */
	load_fail(f, GOOD_HEAD "choices = a|b\n", 0,
	    "[field email]: choices is for choice and checkbox fields");
	load_fail(f, GOOD_HEAD "[field c]\ntype = choice\nchoices = a|b\n"
	    "max = 3\n", 0, "[field c]: min and max do not apply to choice "
	    "fields");
	load_fail(f, GOOD_HEAD "[field c]\ntype = checkbox\nmin = 1\n", 0,
	    "[field c]: min and max do not apply to checkbox fields");
	load_fail(f, GOOD_HEAD "[field f]\ntype = file\npattern = .*[.]pdf\n",
	    0, "[field f]: pattern does not apply to file fields");
	load_fail(f, GOOD_HEAD "multiline = yes\n", 0,
	    "[field email]: multiline is for text fields");
	load_fail(f, GOOD_HEAD "[field c]\ntype = checkbox\nmultiline = yes\n",
	    0, "[field c]: multiline is for text fields");
	load_fail(f, GOOD_HEAD "[form]\nrows = name ghost\n", 0,
	    "rows names unknown field \"ghost\"");
	load_fail(f, GOOD_HEAD "[form]\nrows = name\n", 0,
	    "rows: field \"name\" needs repeat");
	load_fail(f, GOOD_HEAD "[form]\nthanks = /a b\n", 14,
	    "thanks must be a path");
	load_fail(f, GOOD_HEAD "[form]\nunknown = keep\n", 14,
	    "unknown must be reject or drop");
	load_fail(f, GOOD_HEAD "[form]\nencryption = yes\n", 14,
	    "encryption must be off, optional or required");
	load_fail(f, GOOD_HEAD "this line has no equals sign\n", 13,
	    "syntax error");
}

static void
test_thanks_urls(void **state)
{
	struct fixture *f = *state;
	struct formdef def;

	load_ok(f, "[form]\nmailbox = m\nsubject = x\nbody = body.txt\n"
	    "thanks = https://example.com/ok?x=1\n[field name]\n"
	    "type = text\n[field email]\ntype = email\n", &def);
	assert_string_equal(def.thanks, "https://example.com/ok?x=1");
	formdef_free(&def);
	load_fail(f, "[form]\nmailbox = m\nsubject = x\nbody = body.txt\n"
	    "thanks = javascript:alert(1)\n[field name]\ntype = text\n", 5, "thanks must");
	load_fail(f, "[form]\nmailbox = m\nsubject = x\nbody = body.txt\n"
	    "thanks = /x\"onload=\n[field name]\ntype = text\n", 5, "thanks must");
}

static void
test_file_name(void **state)
{
	struct fixture *f = *state;

	load_fail_as(f, "noext", GOOD_HEAD, NULL, 0,
	    "form file names are NAME.form");
	load_fail_as(f, "bad name.form", GOOD_HEAD, NULL, 0,
	    "form name \"bad name\"");
}

static void
test_missing_file(void **state)
{
	struct fixture *f = *state;
	struct formdef def;
	struct diag d;
	char *path = tu_path(f->dir, "absent.form");

	diag_init(&d);
	assert_int_equal(formdef_load(path, &def, &d), -1);
	assert_non_null(strstr(d.text.data, "cannot open"));
	diag_free(&d);
	free(path);
}

static void
test_all_errors_reported(void **state)
{
	struct fixture *f = *state;
	struct formdef def;
	struct diag d;
	char *path;

	tu_write_file(f->dir, "multi.form", GOOD_HEAD
	    "type = bogus\n"		/* 13 */
	    "max = x\n"			/* 14 */
	    "nonsense = 1\n");		/* 15 */
	path = tu_path(f->dir, "multi.form");
	diag_init(&d);
	assert_int_equal(formdef_load(path, &def, &d), -1);
	assert_int_equal(d.errors, 3);
	assert_non_null(strstr(d.text.data, "multi.form:13: "));
	assert_non_null(strstr(d.text.data, "multi.form:14: "));
	assert_non_null(strstr(d.text.data, "multi.form:15: "));
	diag_free(&d);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contact_form),
		cmocka_unit_test(test_order_form),
		cmocka_unit_test(test_builtins_and_types),
		cmocka_unit_test_setup_teardown(test_custom_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_key, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unknown_section, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unknown_type, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_pattern, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_number, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_field, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_field_consecutive,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_field_without_keys, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_set_twice, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_missing_keys, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_template_names, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reply_to, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_checks, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_thanks_urls, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_file_name, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_all_errors_reported,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
