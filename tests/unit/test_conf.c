/*
 * Unit tests for lib/conf.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "diag.h"
#include "testutil.h"

struct fixture {
	char	*dir;
	char	*conf;		/* dir/formdrop.conf */
};

static void
copy_template(const char *dir, const char *name)
{
	char *tdir = tu_path(tu_srcdir(), "templates");
	char *src = tu_path(tdir, name);

	tu_copy_file(src, dir, name);
	free(src);
	free(tdir);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char *forms;

	f->dir = tu_mkdtemp();
	f->conf = tu_path(f->dir, "formdrop.conf");
	tu_mkdir(f->dir, "forms");
	forms = tu_path(f->dir, "forms");
	copy_template(forms, "contact.form");
	copy_template(forms, "contact.txt");
	copy_template(forms, "order.form");
	copy_template(forms, "order.txt");
	copy_template(forms, "error.html");
	free(forms);
	tu_mkdir(f->dir, "spool");
	tu_make_maildir(f->dir, "spool/contact");
	tu_make_maildir(f->dir, "spool/orders");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	tu_rmtree(f->dir);
	free(f->dir);
	free(f->conf);
	free(f);
	return 0;
}

#define CONF_HEAD \
	"[formdrop]\n"				/* 1 */ \
	"forms = forms\n"			/* 2 */ \
	"hostname = test.example\n"		/* 3 */ \
	"workers = 2\n"				/* 4 */ \
	"\n"					/* 5 */ \
	"[limits]\n"				/* 6 */ \
	"body_max = 2M\n"			/* 7 */ \
	"fields_max = 50\n"			/* 8 */ \
	"field_max = 8K\n"			/* 9 */ \
	"files_max = 0\n"			/* 10 */ \
	"file_max = 100k\n"			/* 11 */ \
	"\n"					/* 12 */ \
	"[mailbox contact]\n"			/* 13 */ \
	"maildir = spool/contact\n"		/* 14 */ \
	"from = Forms <forms@example.com>\n"	/* 15 */ \
	"to = Shop <shop@example.com>\n"	/* 16 */ \
	"\n"					/* 17 */

#define ORDERS_BOX \
	"[mailbox orders]\n"			/* 18 */ \
	"maildir = spool/orders\n"		/* 19 */ \
	"from = forms@example.com\n"		/* 20 */ \
	"to = orders@example.com\n"		/* 21 */

#define GOOD_CONF	CONF_HEAD ORDERS_BOX

/* Load text as the configuration; expect success. */
static void
load_ok(struct fixture *f, const char *text, enum conf_mode mode,
    struct conf *c, struct diag *d)
{
	tu_write_file(f->dir, "formdrop.conf", text);
	diag_init(d);
	if (conf_load(f->conf, mode, c, d) != 0)
		fail_msg("conf_load failed:\n%s", d->text.data);
	assert_int_equal(d->errors, 0);
}

/* Load text; expect failure with a line "CONF:LINE: ...what...". */
static void
load_fail(struct fixture *f, const char *text, enum conf_mode mode,
    int line, const char *what)
{
	struct conf c;
	struct diag d;
	char prefix[4200];
	const char *p;
	int found = 0;

	tu_write_file(f->dir, "formdrop.conf", text);
	if (line > 0)
		snprintf(prefix, sizeof(prefix), "%s:%d: ", f->conf, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", f->conf);
	diag_init(&d);
	assert_int_equal(conf_load(f->conf, mode, &c, &d), -1);
	assert_true(d.errors > 0);
	for (p = d.text.data; p != NULL && *p != '\0';) {
		const char *nl = strchr(p, '\n');
		char lbuf[1024];

		snprintf(lbuf, sizeof(lbuf), "%.*s", (int)(nl - p), p);
		if (strncmp(lbuf, prefix, strlen(prefix)) == 0 &&
		    strstr(lbuf, what) != NULL)
			found = 1;
		p = nl + 1;
	}
	if (!found)
		fail_msg("no diagnostic \"%s...%s\" in:\n%s", prefix, what,
		    d.text.data);
	/* A refused configuration is freed. */
	assert_null(c.path);
	assert_null(c.boxes);
	assert_null(c.forms);
	diag_free(&d);
}

static void
test_good(void **state)
{
	struct fixture *f = *state;
	struct conf c;
	struct diag d;
	const struct mailbox *mb;
	const struct formdef *def;
	char *want, *page;
	size_t len;

	load_ok(f, GOOD_CONF, CONF_SERVE, &c, &d);
	assert_int_equal(d.warnings, 0);
	assert_string_equal(c.path, f->conf);
	assert_string_equal(c.dir, f->dir);
	assert_string_equal(c.hostname, "test.example");
	assert_int_equal(c.workers, 2);
	/* Limits with K and M suffixes. */
	assert_int_equal(c.limits.body_max, 2 * 1024 * 1024);
	assert_int_equal(c.limits.fields_max, 50);
	assert_int_equal(c.limits.field_max, 8 * 1024);
	assert_int_equal(c.limits.files_max, 0);
	assert_int_equal(c.limits.file_max, 100 * 1024);
	/* Relative paths resolve against the configuration's folder. */
	want = tu_path(f->dir, "forms");
	assert_string_equal(c.forms_dir, want);
	free(want);
	assert_int_equal(c.nboxes, 2);
	mb = conf_mailbox(&c, "contact");
	assert_non_null(mb);
	want = tu_path(f->dir, "spool/contact");
	assert_string_equal(mb->maildir, want);
	free(want);
	assert_string_equal(mb->from, "Forms <forms@example.com>");
	assert_string_equal(mb->to, "Shop <shop@example.com>");
	mb = conf_mailbox(&c, "orders");
	assert_non_null(mb);
	assert_string_equal(mb->to, "orders@example.com");
	assert_null(conf_mailbox(&c, "nope"));
	/* Both forms, found in the forms folder. */
	assert_int_equal(c.nforms, 2);
	def = conf_form(&c, "contact");
	assert_non_null(def);
	assert_int_equal(def->nfields, 3);
	def = conf_form(&c, "order");
	assert_non_null(def);
	assert_string_equal(def->mailbox, "orders");
	assert_null(conf_form(&c, "nope"));
	/* The error page, byte for byte. */
	want = tu_path(c.forms_dir, "error.html");
	page = tu_read_file(want, &len);
	assert_int_equal(c.error_page_len, len);
	assert_memory_equal(c.error_page, page, len);
	free(page);
	free(want);
	conf_free(&c);
	assert_null(c.path);
	diag_free(&d);
}

static void
test_defaults_and_absolute(void **state)
{
	struct fixture *f = *state;
	struct conf c;
	struct diag d;
	char text[2048], *abs_orders, *forms;

	abs_orders = tu_path(f->dir, "spool/orders");
	forms = tu_path(f->dir, "forms");
	snprintf(text, sizeof(text), "[formdrop]\nforms = %s\n"
	    "[mailbox contact]\nmaildir = spool/contact\nfrom = a@b\nto = c@d\n"
	    "[mailbox orders]\nmaildir = %s\nfrom = a@b\nto = c@d\n", forms,
	    abs_orders);
	load_ok(f, text, CONF_CHECK, &c, &d);
	assert_string_equal(c.forms_dir, forms);
	assert_string_equal(conf_mailbox(&c, "orders")->maildir, abs_orders);
	assert_int_equal(c.workers, 4);
	assert_int_equal(c.limits.body_max, 1024 * 1024);
	assert_int_equal(c.limits.fields_max, 100);
	assert_int_equal(c.limits.field_max, 16 * 1024);
	assert_int_equal(c.limits.files_max, 4);
	assert_int_equal(c.limits.file_max, 512 * 1024);
	/* No hostname: the system's. */
	assert_true(strlen(c.hostname) > 0);
	conf_free(&c);
	diag_free(&d);
	free(abs_orders);
	free(forms);
}

static void
test_unknown_section(void **state)
{
	struct fixture *f = *state;

	/* A section error points at the section's own line. */
	load_fail(f, GOOD_CONF "\n[mailboxes]\nx = 1\n", CONF_SERVE, 23,
	    "unknown section [mailboxes]");
}

static void
test_unknown_key(void **state)
{
	struct fixture *f = *state;

	load_fail(f, GOOD_CONF "[formdrop]\nthreads = 4\n", CONF_SERVE, 23,
	    "unknown key \"threads\" in [formdrop]");
	load_fail(f, GOOD_CONF "[limits]\nbody_size = 4\n", CONF_SERVE, 23,
	    "unknown key \"body_size\" in [limits]");
	load_fail(f, GOOD_CONF "mail_dir = x\n", CONF_SERVE, 22,
	    "unknown key \"mail_dir\" in [mailbox orders]");
}

static void
test_bad_numbers(void **state)
{
	struct fixture *f = *state;

	load_fail(f, GOOD_CONF "[limits]\nbody_max = 1X\n", CONF_SERVE, 23,
	    "body_max: \"1X\" is not a number");
	load_fail(f, GOOD_CONF "[limits]\nbody_max = 0\n", CONF_SERVE, 23,
	    "body_max: \"0\" is not a number");
	load_fail(f, GOOD_CONF "[limits]\nbody_max = 257M\n", CONF_SERVE, 23,
	    "body_max");
	load_fail(f, GOOD_CONF "[limits]\nfields_max = 10001\n", CONF_SERVE,
	    23, "fields_max");
	load_fail(f, GOOD_CONF "[limits]\nfield_max = -1\n", CONF_SERVE, 23,
	    "field_max");
	load_fail(f, GOOD_CONF "[formdrop]\nworkers = 0\n", CONF_SERVE, 23,
	    "workers must be from 1 to 256");
	load_fail(f, GOOD_CONF "[formdrop]\nworkers = 257\n", CONF_SERVE, 23,
	    "workers must be from 1 to 256");
}

/*
 * Workers may write the folder holding each Maildir: not one that holds
 * the configuration or the forms.
 */
static void
test_maildir_folder_holds_configuration(void **state)
{
	struct fixture *f = *state;

	tu_make_maildir(f->dir, "orders");
	load_fail(f, CONF_HEAD "[mailbox orders]\nmaildir = orders\n"
	    "from = a@b\nto = c@d\n", CONF_SERVE, 18, "workers may write");
	tu_make_maildir(f->dir, "forms/box");
	load_fail(f, CONF_HEAD "[mailbox orders]\nmaildir = forms/box\n"
	    "from = a@b\nto = c@d\n", CONF_SERVE, 18, "/forms: keep the "
	    "Maildirs in a folder of their own");
	/* A key (any mailbox's) in that folder: the same. */
	tu_mkdir(f->dir, "spool/keys");
	tu_write_file(f->dir, "spool/keys/gateway.key", "not read\n");
	load_fail(f, GOOD_CONF "sign_key = spool/keys/gateway.key\n",
	    CONF_SERVE, 18, "gateway.key: keep the Maildirs");
}

static void
test_duplicate_mailbox(void **state)
{
	struct fixture *f = *state;

	load_fail(f, GOOD_CONF "\n[mailbox contact]\nmaildir = spool/orders\n",
	    CONF_SERVE, 23, "[mailbox contact] defined twice");
}

static void
test_bad_values(void **state)
{
	struct fixture *f = *state;

	load_fail(f, GOOD_CONF "[formdrop]\nhostname = a b\n", CONF_SERVE, 23,
	    "hostname must be a DNS name");
	load_fail(f, GOOD_CONF "[formdrop]\nforms = x\n", CONF_SERVE, 23,
	    "set twice");
	load_fail(f, CONF_HEAD "[mailbox orders]\nmaildir = spool/orders\n"
	    "from = nobody\nto = o@example.com\n", CONF_SERVE, 20,
	    "from must be one ASCII address");
	load_fail(f, CONF_HEAD "[mailbox orders]\nmaildir = spool/orders\n"
	    "from = f@example.com\nto = \xc3\xa9@example.com\n", CONF_SERVE, 21,
	    "to must be an ASCII address or a list");
	/* A mailbox without to: reported at its section line. */
	load_fail(f, CONF_HEAD "[mailbox orders]\nmaildir = spool/orders\n"
	    "from = f@example.com\n", CONF_SERVE, 18,
	    "[mailbox orders] needs maildir, from and to");
}

/*
 * From and To as RFC 5322 reads them: a comma left unquoted in a name
 * made "ACME, Inc. <o@acme.example>" two mailboxes, one of them "ACME".
 */
static void
test_addresses(void **state)
{
	static const char *good_from[] = { "o@acme.example",
	    "Orders <o@acme.example>", "\"ACME, Inc.\" <o@acme.example>",
	    "ACME Inc. <o@acme.example>", "\"say \\\"hi\\\"\" <o@x.example>",
	    "<o@acme.example>", "o.b+tag@acme.example",
	    "\"Shop <EU>\" <o@acme.example>" };
	static const char *bad_from[] = { "ACME, Inc. <o@acme.example>",
	    "a@x.example, b@y.example", "Shop <o@acme.example> junk",
	    "Shop: <o@acme.example>", "Shop <o@acme.example", "Shop o@x",
	    "\"unclosed <o@acme.example>", "Shop <@acme.example>",
	    "Shop <o@>", "Shop <o@a@b>", "(c) Shop <o@acme.example>",
	    "Shop <o @acme.example>", "" };
	struct fixture *f = *state;
	char text[2048];
	struct conf c;
	struct diag d;
	size_t i;

	for (i = 0; i < sizeof(good_from) / sizeof(good_from[0]); i++) {
		snprintf(text, sizeof(text), CONF_HEAD "[mailbox orders]\n"
		    "maildir = spool/orders\nfrom = %s\nto = %s\n",
		    good_from[i], good_from[i]);
		load_ok(f, text, CONF_SERVE, &c, &d);
		conf_free(&c);
		diag_free(&d);
	}
	/* To may list several. */
	load_ok(f, CONF_HEAD "[mailbox orders]\nmaildir = spool/orders\n"
	    "from = o@acme.example\nto = Shop <s@acme.example>, \"Doe, J\" "
	    "<j@acme.example>\n", CONF_SERVE, &c, &d);
	conf_free(&c);
	diag_free(&d);
	for (i = 0; i < sizeof(bad_from) / sizeof(bad_from[0]); i++) {
		snprintf(text, sizeof(text), CONF_HEAD "[mailbox orders]\n"
		    "maildir = spool/orders\nfrom = %s\nto = o@acme.example\n",
		    bad_from[i]);
		load_fail(f, text, CONF_SERVE, 20, "from must be one ASCII "
		    "address");
	}
	load_fail(f, CONF_HEAD "[mailbox orders]\nmaildir = spool/orders\n"
	    "from = o@acme.example\nto = ACME, Inc. <o@acme.example>\n",
	    CONF_SERVE, 21, "to must be an ASCII address or a list");
}

static void
test_form_unknown_mailbox(void **state)
{
	struct fixture *f = *state;

	load_fail(f, CONF_HEAD, CONF_SERVE, 0,
	    "form order names mailbox \"orders\", which is not configured");
}

static void
test_no_forms(void **state)
{
	struct fixture *f = *state;

	load_fail(f, "[mailbox contact]\nmaildir = spool/contact\nfrom = a@b\n"
	    "to = c@d\n", CONF_SERVE, 0, "[formdrop] has no forms = FOLDER");
	load_fail(f, "[formdrop]\nforms = nowhere\n", CONF_SERVE, 2,
	    "forms folder");
}

static void
test_broken_form(void **state)
{
	struct fixture *f = *state;
	struct conf c;
	struct diag d;
	char *forms = tu_path(f->dir, "forms");
	char *bad = tu_path(forms, "bad.form");

	tu_write_file(forms, "bad.form", "[form]\nmailbox = contact\n"
	    "bogus = 1\n");
	tu_write_file(f->dir, "formdrop.conf", GOOD_CONF);
	diag_init(&d);
	assert_int_equal(conf_load(f->conf, CONF_SERVE, &c, &d), -1);
	{
		char want[4200];

		snprintf(want, sizeof(want), "%s:3: unknown key \"bogus\"", bad);
		assert_non_null(strstr(d.text.data, want));
	}
	diag_free(&d);
	free(bad);
	free(forms);
}

static void
test_missing_maildir_modes(void **state)
{
	struct fixture *f = *state;
	struct conf c;
	struct diag d;
	char *orders = tu_path(f->dir, "spool/orders");

	tu_rmtree(orders);
	/* --check: an error at the mailbox. */
	load_fail(f, GOOD_CONF, CONF_CHECK, 18,
	    "is not a writable Maildir (tmp/ new/ cur/)");
	/* Serving: a warning; the form answers 503 until it is ready. */
	load_ok(f, GOOD_CONF, CONF_SERVE, &c, &d);
	assert_int_equal(d.warnings, 1);
	{
		char want[4200];

		snprintf(want, sizeof(want), "%s:18: warning: [mailbox orders]: "
		    "%s is not a writable Maildir yet", f->conf, orders);
		assert_non_null(strstr(d.text.data, want));
	}
	assert_int_equal(c.nforms, 2);
	conf_free(&c);
	diag_free(&d);
	free(orders);
}

static void
test_file_max_warning(void **state)
{
	struct fixture *f = *state;
	struct conf c;
	struct diag d;

	load_ok(f, GOOD_CONF "[limits]\nfile_max = 3M\n", CONF_SERVE, &c, &d);
	assert_int_equal(c.limits.file_max, 3 * 1024 * 1024);
	assert_int_equal(d.warnings, 1);
	assert_non_null(strstr(d.text.data, "file_max is larger than "
	    "body_max"));
	conf_free(&c);
	diag_free(&d);
}

static void
test_all_errors(void **state)
{
	struct fixture *f = *state;
	struct conf c;
	struct diag d;

	tu_write_file(f->dir, "formdrop.conf", GOOD_CONF
	    "[limits]\nbody_max = x\n"		/* 23 */
	    "fields_max = y\n"			/* 24 */
	    "[nothing]\nz = 1\n");		/* 25: the section */
	diag_init(&d);
	assert_int_equal(conf_load(f->conf, CONF_SERVE, &c, &d), -1);
	assert_int_equal(d.errors, 3);
	assert_non_null(strstr(d.text.data, "formdrop.conf:23: "));
	assert_non_null(strstr(d.text.data, "formdrop.conf:24: "));
	assert_non_null(strstr(d.text.data, "formdrop.conf:25: "));
	diag_free(&d);
}

static void
test_missing_file(void **state)
{
	struct fixture *f = *state;
	struct conf c;
	struct diag d;

	diag_init(&d);
	assert_int_equal(conf_load(f->conf, CONF_SERVE, &c, &d), -1);
	assert_non_null(strstr(d.text.data, "cannot open"));
	diag_free(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults_and_absolute,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_section, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unknown_key, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_numbers, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_maildir_folder_holds_configuration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_mailbox, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_values, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_addresses, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_form_unknown_mailbox,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_form, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_missing_maildir_modes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_max_warning, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_all_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
