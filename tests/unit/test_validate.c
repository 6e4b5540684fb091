/*
 * Unit tests for lib/validate.c.
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
#include "form.h"
#include "formdef.h"
#include "urlencoded.h"
#include "validate.h"
#include "testutil.h"

static const char test_form[] =
    "[form]\n"
    "mailbox = m\n"
    "subject = test\n"
    "body = body.txt\n"
    "thanks = /t\n"
    "[field name]\n"
    "label = Your name\n"
    "required = yes\n"
    "max = 5\n"
    "[field email]\n"
    "type = email\n"
    "[field tel]\n"
    "type = tel\n"
    "[field age]\n"
    "type = integer\n"
    "min = 18\n"
    "max = 120\n"
    "[field price]\n"
    "type = decimal\n"
    "min = 0\n"
    "max = 99.5\n"
    "[field size]\n"
    "type = choice\n"
    "choices = S|M|L\n"
    "[field code]\n"
    "pattern = [A-Z]{2}[0-9]{2}\n"
    "[field msg]\n"
    "multiline = yes\n"
    "[field note]\n"
    "multiline = yes\n"
    "max = 5\n"
    "[field file]\n"
    "type = file\n"
    "max = 10\n"
    "[field tags]\n"
    "repeat = 3\n"
    "[field agree]\n"
    "type = checkbox\n"
    "[field extras]\n"
    "type = checkbox\n"
    "choices = gift|wrap\n"
    "repeat = 2\n"
    "[field photo]\n"
    "type = file\n"
    "min = 3\n"
    "[field initials]\n"
    "pattern = .{1,3}\n"
    "[field noumlaut]\n"
    "pattern = [^\xc3\xa4]+\n"
    "[field short]\n"
    "min = 2\n"
    "[field low]\n"
    "type = integer\n"
    "min = -5\n"
    "[field high]\n"
    "type = decimal\n"
    "max = 10\n";

static const char rows_form[] =
    "[form]\n"
    "mailbox = m\n"
    "subject = test\n"
    "body = body.txt\n"
    "thanks = /t\n"
    "unknown = drop\n"
    "rows = item qty note\n"
    "[field who]\n"
    "required = yes\n"
    "[field item]\n"
    "required = yes\n"
    "repeat = 5\n"
    "[field qty]\n"
    "type = integer\n"
    "required = yes\n"
    "repeat = 5\n"
    "min = 1\n"
    "[field note]\n"
    "repeat = 5\n";

/* Required fields, one of each kind of line. */
static const char blank_form[] =
    "[form]\n"
    "mailbox = m\n"
    "subject = test\n"
    "body = body.txt\n"
    "thanks = /t\n"
    "[field name]\n"
    "required = yes\n"
    "[field story]\n"
    "multiline = yes\n"
    "required = yes\n"
    "[field email]\n"
    "type = email\n";

static struct formdef def, rdef, bdef;
static char *tmpdir;

static void
load(const char *name, const char *text, struct formdef *out)
{
	struct diag d;
	char *path;

	tu_write_file(tmpdir, name, text);
	path = tu_path(tmpdir, name);
	diag_init(&d);
	if (formdef_load(path, out, &d) != 0) {
		fprintf(stderr, "%s", d.text.data);
		abort();
	}
	diag_free(&d);
	free(path);
}

static int
group_setup(void **state)
{
	tmpdir = tu_mkdtemp();
	tu_write_file(tmpdir, "body.txt", "body\n");
	load("test.form", test_form, &def);
	load("rows.form", rows_form, &rdef);
	load("blank.form", blank_form, &bdef);
	return 0;
}

static int
group_teardown(void **state)
{
	formdef_free(&def);
	formdef_free(&rdef);
	formdef_free(&bdef);
	tu_rmtree(tmpdir);
	free(tmpdir);
	return 0;
}

/* Parse body (urlencoded) into data and validate it against d. */
static int
run(const struct formdef *d, const char *body, struct form_data *data,
    struct validation *val)
{
	static const struct form_limits lim = {
		1 << 20, 100, 1 << 14, 4, 1 << 19
	};

	form_data_init(data);
	assert_int_equal(urlencoded_parse(body, strlen(body), &lim, data),
	    PARSE_OK);
	return form_validate(d, data, val);
}

/* Validate body against the test form and expect no error. */
static void
ok_def(const struct formdef *d, const char *body)
{
	struct form_data data;
	struct validation val;
	int n = run(d, body, &data, &val);

	if (n != 0)
		fail_msg("\"%s\": %d errors, first %s: %s", body, n,
		    val.v[0].field, val.v[0].reason);
	assert_int_equal(val.n, 0);
	validation_free(&val);
	form_data_free(&data);
}

static void
ok(const char *body)
{
	ok_def(&def, body);
}

/* Validate body and expect exactly one error: field, reason. */
static void
bad_def(const struct formdef *d, const char *body, const char *field,
    const char *reason)
{
	struct form_data data;
	struct validation val;
	int n = run(d, body, &data, &val);

	if (n != 1)
		fail_msg("\"%s\": %d errors, expected 1 (%s)", body, n, field);
	assert_int_equal(val.n, 1);
	assert_string_equal(val.v[0].field, field);
	assert_string_equal(val.v[0].reason, reason);
	validation_free(&val);
	form_data_free(&data);
}

static void
bad(const char *body, const char *field, const char *reason)
{
	bad_def(&def, body, field, reason);
}

static void
test_valid_submission(void **state)
{
	ok("name=Ann&email=ann%40example.com&tel=%2B44+20+7946+0000&age=30"
	    "&price=12.50&size=M&code=AB12&msg=Hi%0D%0Athere%09!&tags=a"
	    "&tags=b&tags=c&agree=on&short=ab&low=-5&high=-100");
}

static void
test_required(void **state)
{
	struct form_data data;
	struct validation val;

	bad("email=a%40b.cd", "name", "is required");
	bad("name=", "name", "is required");
	/* Label and field are both reported. */
	assert_int_equal(run(&def, "", &data, &val), 1);
	assert_string_equal(val.v[0].field, "name");
	assert_string_equal(val.v[0].label, "Your name");
	validation_free(&val);
	assert_null(val.v);
	form_data_free(&data);
	/* A field without a label uses its name. */
	assert_int_equal(run(&def, "name=A&age=1", &data, &val), 1);
	assert_string_equal(val.v[0].label, "age");
	validation_free(&val);
	form_data_free(&data);
}

static void
test_empty_optional(void **state)
{
	ok("name=Ann&email=&tel=&age=&price=&size=&code=&msg=&tags=&agree="
	    "&short=&file=");
}

static void
test_is_email(void **state)
{
	static const char *const good[] = {
		"a@b.cd", "ann@example.com", "first.last@sub.example.co.uk",
		"a+tag@example.com", "x_y-z@ex-ample.org",
		"!#$%&'*+-/?=^_`{|}~@example.com", "1@2.3", "A@EXAMPLE.COM",
	};
	static const char *const badv[] = {
		"", "plain", "@example.com", "a@", "a@b", "a@.com", "a@b.",
		"a@b..com", ".a@b.com", "a.@b.com", "a..b@c.com", "a@b@c.com",
		"a b@c.com", "a@b c.com", "a@-b.com", "a@b-.com", "a@b_c.com",
		"\"a\"@b.com", "a@[1.2.3.4]", "\xc3\xa9@b.com", "a@\xc3\xa9.com",
		"a@b.com\n", "a\r\n@b.com", "<a@b.com>",
		/* an RFC 2047 encoded-word some readers would decode */
		"=?utf-8?b?Y2VvQHNob3AuZXhhbXBsZQA=?=@attacker.example",
		"a=?b@c.com",
	};
	char buf[400];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!is_email(good[i], strlen(good[i])))
			fail_msg("is_email(\"%s\") should be 1", good[i]);
	for (i = 0; i < sizeof(badv) / sizeof(badv[0]); i++)
		if (is_email(badv[i], strlen(badv[i])))
			fail_msg("is_email(\"%s\") should be 0", badv[i]);
	assert_false(is_email("a\0b@c.com", 9));
	/* Local part at most 64, labels at most 63, total at most 254. */
	memset(buf, 'l', 64);
	strcpy(buf + 64, "@example.com");
	assert_true(is_email(buf, strlen(buf)));
	memset(buf, 'l', 65);
	strcpy(buf + 65, "@example.com");
	assert_false(is_email(buf, strlen(buf)));
	strcpy(buf, "a@");
	memset(buf + 2, 'd', 63);
	strcpy(buf + 65, ".com");
	assert_true(is_email(buf, strlen(buf)));
	strcpy(buf, "a@");
	memset(buf + 2, 'd', 64);
	strcpy(buf + 66, ".com");
	assert_false(is_email(buf, strlen(buf)));
	/* Only len bytes count. */
	assert_true(is_email("a@b.cd garbage", 6));
}

static void
test_email_field(void **state)
{
	ok("name=A&email=ann%40example.com");
	bad("name=A&email=ann", "email",
	    "must be an email address like name@example.com");
	bad("name=A&email=ann%40example.com%0ABcc%3A+x%40y.z", "email",
	    "contains control characters");
}

static void
test_tel(void **state)
{
	assert_true(is_tel("123", 3));
	assert_true(is_tel("+1 (555) 010-9999", 17));
	assert_true(is_tel("01.23/45", 8));
	assert_false(is_tel("12", 2));
	assert_false(is_tel("", 0));
	assert_false(is_tel("+--()", 5));
	assert_false(is_tel("555-CALL-NOW", 12));
	assert_false(is_tel("123\0", 4));
	assert_false(is_tel("123456789012345678901234567890123", 33));
	assert_true(is_tel("12345678901234567890123456789012", 32));
	ok("name=A&tel=555-0100");
	bad("name=A&tel=call+me", "tel", "must be a telephone number");
}

static void
test_integer(void **state)
{
	ok("name=A&age=18");
	ok("name=A&age=120");
	ok("name=A&age=%2B20");
	ok("name=A&age=0042");
	bad("name=A&age=17", "age", "must be from 18 to 120");
	bad("name=A&age=121", "age", "must be from 18 to 120");
	bad("name=A&age=-20", "age", "must be from 18 to 120");
	bad("name=A&age=1.5", "age", "must be a whole number");
	bad("name=A&age=2e1", "age", "must be a whole number");
	bad("name=A&age=abc", "age", "must be a whole number");
	bad("name=A&age=-", "age", "must be a whole number");
	bad("name=A&age=+20+", "age", "must be a whole number");
	bad("name=A&age=1234567890123456789", "age", "must be a whole number");
	bad("name=A&age=0x20", "age", "must be a whole number");
	ok("name=A&low=-5");
	bad("name=A&low=-6", "low", "must be at least -5");
}

static void
test_decimal(void **state)
{
	ok("name=A&price=0");
	ok("name=A&price=99.5");
	ok("name=A&price=99.50");
	ok("name=A&price=.5");
	ok("name=A&price=5.");
	ok("name=A&price=-0");
	ok("name=A&price=%2B1.25");
	bad("name=A&price=99.51", "price", "must be from 0 to 99.5");
	bad("name=A&price=-0.01", "price", "must be from 0 to 99.5");
	bad("name=A&price=1e1", "price", "must be a number");
	bad("name=A&price=1.2.3", "price", "must be a number");
	bad("name=A&price=.", "price", "must be a number");
	bad("name=A&price=inf", "price", "must be a number");
	bad("name=A&price=nan", "price", "must be a number");
	bad("name=A&price=1%2C5", "price", "must be a number");
	bad("name=A&price=%2B", "price", "must be a number");
	bad("name=A&high=10.001", "high", "must be at most 10");
	ok("name=A&high=10");
}

static void
test_choice(void **state)
{
	ok("name=A&size=S");
	ok("name=A&size=L");
	bad("name=A&size=m", "size", "must be one of the offered choices");
	bad("name=A&size=XL", "size", "must be one of the offered choices");
	bad("name=A&size=S+", "size", "must be one of the offered choices");
	bad("name=A&size=S%7CM", "size", "must be one of the offered choices");
}

static void
test_pattern(void **state)
{
	ok("name=A&code=AB12");
	ok("name=A&code=ZZ00");
	bad("name=A&code=AB123", "code", "is not in the expected format");
	bad("name=A&code=xAB12", "code", "is not in the expected format");
	bad("name=A&code=AB1", "code", "is not in the expected format");
	bad("name=A&code=ab12", "code", "is not in the expected format");
	bad("name=A&code=AB12%0A", "code", "must be a single line of text");
}

static void
test_single_line(void **state)
{
	bad("name=a%0Ab", "name", "must be a single line of text");
	bad("name=a%0Db", "name", "must be a single line of text");
	bad("name=a%09b", "name", "must be a single line of text");
	bad("name=a%7Fb", "name", "must be a single line of text");
	bad("name=a%1Bb", "name", "must be a single line of text");
	bad("name=a%00b", "name", "must not contain NUL characters");
}

static void
test_multiline(void **state)
{
	ok("name=A&msg=line+1%0D%0Aline+2%0A%09indented%0D");
	bad("name=A&msg=a%00b", "msg", "must not contain NUL characters");
	bad("name=A&msg=a%01b", "msg", "contains control characters");
	bad("name=A&msg=a%7Fb", "msg", "contains control characters");
}

static void
test_length_in_characters(void **state)
{
	/* max = 5: five two-byte characters are ten bytes but fit. */
	ok("name=%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9");
	ok("name=abcde");
	/* Beyond U+FFFF a character is two, as a browser's maxlength and
	 * minlength count it (UTF-16 code units). */
	ok("name=%F0%9F%98%80%F0%9F%98%80a");
	bad("name=%F0%9F%98%80%F0%9F%98%80%F0%9F%98%80", "name",
	    "must be at most 5 characters long");
	ok("name=A&short=%F0%9F%98%80");
	bad("name=abcdef", "name", "must be at most 5 characters long");
	bad("name=%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9", "name",
	    "must be at most 5 characters long");
	/* min = 2. */
	bad("name=A&short=%C3%A9", "short", "must be at least 2 characters long");
	ok("name=A&short=%C3%A9%C3%A9");
	/* A line break is one character, as the browser's maxlength counts
	 * it, though a form sends it as CRLF. */
	ok("name=A&note=a%0D%0Ab%0D%0Ac");
	ok("name=A&note=a%0Ab%0Ac");
	bad("name=A&note=ab%0D%0Acd%0D%0A", "note",
	    "must be at most 5 characters long");
}

static void
test_unknown_reject(void **state)
{
	struct form_data data;
	struct validation val;

	assert_int_equal(run(&def, "name=A&bogus=1&bogus=2&other=x", &data,
	    &val), 2);
	assert_string_equal(val.v[0].field, "bogus");
	assert_string_equal(val.v[0].reason, "is not a field of this form");
	assert_string_equal(val.v[1].field, "other");
	/* Rejected fields stay in the data. */
	assert_int_equal(data.n, 4);
	validation_free(&val);
	form_data_free(&data);
}

static void
test_unknown_drop(void **state)
{
	struct form_data data;
	struct validation val;

	assert_int_equal(run(&rdef, "x=1&who=W&y=2&item=I&qty=1&x=3&note=",
	    &data, &val), 0);
	assert_int_equal(data.n, 4);
	assert_string_equal(data.v[0].name, "who");
	assert_string_equal(data.v[1].name, "item");
	assert_string_equal(data.v[2].name, "qty");
	assert_string_equal(data.v[3].name, "note");
	assert_int_equal(form_data_count(&data, "x"), 0);
	validation_free(&val);
	form_data_free(&data);
}

static void
test_repeat_limit(void **state)
{
	ok("name=A&tags=1&tags=2&tags=3");
	bad("name=A&tags=1&tags=2&tags=3&tags=4", "tags",
	    "has more than 3 values");
	bad("name=A&name=B", "name", "was sent more than once");
	/* Empty values count too. */
	bad("name=A&email=&email=", "email", "was sent more than once");
}

static void
test_one_error_per_field(void **state)
{
	struct form_data data;
	struct validation val;

	assert_int_equal(run(&def, "name=A&tags=%0A&tags=%0D&tags=%09&age=x"
	    "&size=Q", &data, &val), 3);
	assert_string_equal(val.v[0].field, "age");
	assert_string_equal(val.v[1].field, "size");
	assert_string_equal(val.v[2].field, "tags");
	assert_string_equal(val.v[2].reason, "must be a single line of text");
	validation_free(&val);
	form_data_free(&data);
}

static void
test_rows_blank_dropped(void **state)
{
	struct form_data data;
	struct validation val;

	assert_int_equal(run(&rdef, "who=W&item=A&qty=1&note=&item=&qty=&note="
	    "&item=B&qty=2&note=n&item=&qty=&note=", &data, &val), 0);
	assert_int_equal(form_data_count(&data, "item"), 2);
	assert_int_equal(form_data_count(&data, "qty"), 2);
	assert_int_equal(form_data_count(&data, "note"), 2);
	assert_string_equal(data.v[form_data_find(&data, "item", 0)].value, "A");
	assert_string_equal(data.v[form_data_find(&data, "item", 1)].value, "B");
	assert_string_equal(data.v[form_data_find(&data, "qty", 1)].value, "2");
	assert_string_equal(data.v[form_data_find(&data, "note", 1)].value, "n");
	assert_int_equal(data.n, 7);
	validation_free(&val);
	form_data_free(&data);
}

static void
test_rows_all_blank(void **state)
{
	struct form_data data;
	struct validation val;

	/* Every row blank: the required row fields are missing. */
	assert_int_equal(run(&rdef, "who=W&item=&qty=&note=", &data, &val), 2);
	assert_string_equal(val.v[0].field, "item");
	assert_string_equal(val.v[0].reason, "is required");
	assert_string_equal(val.v[1].field, "qty");
	assert_int_equal(data.n, 1);
	validation_free(&val);
	form_data_free(&data);
}

static void
test_rows_partial(void **state)
{
	bad_def(&rdef, "who=W&item=A&qty=1&note=&item=B&qty=&note=", "qty",
	    "is required in row 2");
	bad_def(&rdef, "who=W&item=&qty=3&note=x", "item",
	    "is required in row 1");
	/* Rows are numbered as on the page: blank ones dropped before
	 * still count. */
	bad_def(&rdef, "who=W&item=&qty=&note=&item=&qty=4&note=", "item",
	    "is required in row 2");
	bad_def(&rdef, "who=W&item=A&qty=1&note=&item=&qty=&note=&item=C&"
	    "qty=&note=", "qty", "is required in row 3");
	/* An optional row field may be empty. */
	bad_def(&rdef, "who=W&item=A&qty=0&note=", "qty",
	    "must be at least 1 in row 1");
}

/* Each error knows the page's row it is in, for the page to mark. */
static void
test_rows_error_row(void **state)
{
	struct form_data data;
	struct validation val;

	assert_int_equal(run(&rdef, "item=A&qty=1&note=&item=&qty=&note=&"
	    "item=C&qty=0&note=&item=D&qty=&note=", &data, &val), 2);
	assert_string_equal(val.v[0].field, "who");
	assert_int_equal(val.v[0].row, 0);
	assert_string_equal(val.v[1].field, "qty");
	assert_string_equal(val.v[1].reason, "must be at least 1 in row 3");
	assert_int_equal(val.v[1].row, 3);
	validation_free(&val);
	form_data_free(&data);

	assert_int_equal(run(&rdef, "who=W&item=A&qty=1&item=B", &data, &val),
	    1);
	assert_string_equal(val.v[0].reason, "is required in row 2");
	assert_int_equal(val.v[0].row, 2);
	validation_free(&val);
	form_data_free(&data);
}

static void
test_rows_missing_value(void **state)
{
	/* A row whose required field was not sent at all is as incomplete
	 * as one where it was sent empty. */
	bad_def(&rdef, "who=W&item=A&qty=1&item=B", "qty",
	    "is required in row 2");
}

static void
test_file_fields(void **state)
{
	struct form_data data;
	struct validation val;

	/* A plain value for a file field. */
	bad("name=A&file=notafile", "file", "must be an uploaded file");

	form_data_init(&data);
	assert_int_equal(form_data_add(&data, "name", 4, "A", 1, NULL, NULL),
	    0);
	assert_int_equal(form_data_add(&data, "file", 4, "0123456789", 10,
	    "a.txt", "text/plain"), 0);
	assert_int_equal(form_validate(&def, &data, &val), 0);
	validation_free(&val);
	form_data_free(&data);

	/* Over max (bytes) for a file. */
	form_data_init(&data);
	assert_int_equal(form_data_add(&data, "name", 4, "A", 1, NULL, NULL),
	    0);
	assert_int_equal(form_data_add(&data, "file", 4, "0123456789X", 11,
	    "a.txt", "text/plain"), 0);
	assert_int_equal(form_validate(&def, &data, &val), 1);
	assert_string_equal(val.v[0].field, "file");
	assert_string_equal(val.v[0].reason, "must be at most 10 bytes");
	validation_free(&val);
	form_data_free(&data);

	/* A file for a text field; an empty uploaded file is a value. */
	form_data_init(&data);
	assert_int_equal(form_data_add(&data, "name", 4, "", 0, "n.txt",
	    "text/plain"), 0);
	assert_int_equal(data.nfiles, 1);
	assert_int_equal(form_validate(&def, &data, &val), 1);
	assert_string_equal(val.v[0].field, "name");
	assert_string_equal(val.v[0].reason, "must not be a file");
	validation_free(&val);
	form_data_free(&data);
}

static void
test_checkbox(void **state)
{
	ok("name=A&agree=on");
	ok("name=A&agree=yes+please");
	bad("name=A&agree=o%0An", "agree", "contains control characters");
	/* With choices, only those. */
	ok("name=A&extras=gift&extras=wrap");
	bad("name=A&extras=gift&extras=%3Cscript%3E", "extras",
	    "must be one of the offered choices");
}

/* An unknown field's name is its label, cut whole characters at a time. */
static void
test_long_label_cut_whole(void **state)
{
	struct form_data data;
	struct validation val;
	char body[200], want[127];

	memset(want, 'a', 126);
	want[126] = '\0';
	snprintf(body, sizeof(body), "name=A&%s%%C3%%A9=1", want);
	assert_int_equal(run(&def, body, &data, &val), 1);
	assert_string_equal(val.v[0].label, want);
	assert_int_equal(strlen(val.v[0].field), 128);
	validation_free(&val);
	form_data_free(&data);
}

/* Spaces alone are not a value; line breaks are, in a single line. */
static void
test_blank_is_missing(void **state)
{
	struct form_data data;
	struct validation val;
	size_t i;

	ok_def(&bdef, "name=Al&story=Once");
	bad_def(&bdef, "name=+++&story=Once", "name", "is required");
	bad_def(&bdef, "name=Al&story=%0D%0A+%09%0A", "story", "is required");
	bad_def(&bdef, "name=%0A&story=Once", "name",
	    "must be a single line of text");
	bad_def(&bdef, "name=+%09&story=Once", "name",
	    "must be a single line of text");
	/* An optional field left blank is not checked, and goes on empty:
	 * spaces past a max, a pattern or the choices are not delivered. */
	ok_def(&bdef, "name=Al&story=Once&email=++");
	assert_int_equal(run(&def, "name=A&short=+++++++&code=+++&size=+",
	    &data, &val), 0);
	for (i = 0; i < data.n; i++)
		if (strcmp(data.v[i].name, "name") != 0) {
			assert_int_equal(data.v[i].len, 0);
			assert_string_equal(data.v[i].value, "");
		}
	validation_free(&val);
	form_data_free(&data);
	/* A rows line of spaces is a blank line, dropped. */
	ok_def(&rdef, "who=W&item=A&qty=1&item=+&qty=+");
}

/* A pattern works on characters, as in a browser, not on bytes. */
static void
test_pattern_characters(void **state)
{
	ok("name=A&initials=%C3%A9%C3%A9%C3%A9");
	ok("name=A&initials=%E2%82%AC");
	bad("name=A&initials=%C3%A9%C3%A9%C3%A9%C3%A9", "initials",
	    "is not in the expected format");
	ok("name=A&noumlaut=%C3%B6");
	bad("name=A&noumlaut=%C3%A4", "noumlaut",
	    "is not in the expected format");
}

static void
test_file_min(void **state)
{
	struct form_data data;
	struct validation val;

	form_data_init(&data);
	assert_int_equal(form_data_add(&data, "name", 4, "A", 1, NULL, NULL),
	    0);
	assert_int_equal(form_data_add(&data, "photo", 5, "ab", 2, "a.jpg",
	    "image/jpeg"), 0);
	assert_int_equal(form_validate(&def, &data, &val), 1);
	assert_string_equal(val.v[0].field, "photo");
	assert_string_equal(val.v[0].reason, "must be at least 3 bytes");
	validation_free(&val);
	form_data_free(&data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_submission),
		cmocka_unit_test(test_required),
		cmocka_unit_test(test_empty_optional),
		cmocka_unit_test(test_is_email),
		cmocka_unit_test(test_email_field),
		cmocka_unit_test(test_tel),
		cmocka_unit_test(test_integer),
		cmocka_unit_test(test_decimal),
		cmocka_unit_test(test_choice),
		cmocka_unit_test(test_pattern),
		cmocka_unit_test(test_single_line),
		cmocka_unit_test(test_multiline),
		cmocka_unit_test(test_length_in_characters),
		cmocka_unit_test(test_unknown_reject),
		cmocka_unit_test(test_unknown_drop),
		cmocka_unit_test(test_repeat_limit),
		cmocka_unit_test(test_one_error_per_field),
		cmocka_unit_test(test_rows_blank_dropped),
		cmocka_unit_test(test_rows_all_blank),
		cmocka_unit_test(test_rows_partial),
		cmocka_unit_test(test_rows_error_row),
		cmocka_unit_test(test_rows_missing_value),
		cmocka_unit_test(test_file_fields),
		cmocka_unit_test(test_checkbox),
		cmocka_unit_test(test_blank_is_missing),
		cmocka_unit_test(test_long_label_cut_whole),
		cmocka_unit_test(test_file_min),
		cmocka_unit_test(test_pattern_characters),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
