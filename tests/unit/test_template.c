/*
 * Unit tests for lib/template.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "buf.h"
#include "template.h"

/* A name with its values, for a table-driven tpl_vars. */
struct var {
	const char	*name;
	const char	*values[4];
	size_t		 n;
};

static const struct var table[] = {
	{ "name", { "Ann" }, 1 },
	{ "colors", { "red", "green", "blue" }, 3 },
	{ "none", { NULL }, 0 },
	{ "item", { "Apple", "Pear", "Plum" }, 3 },
	{ "qty", { "1", "2" }, 2 },
	{ "html", { "<b>\"Tom\" & 'Jerry'</b>" }, 1 },
	{ "multi", { "a&b", "<c>" }, 2 },
	{ "utf", { "\xc3\xa9t\xc3\xa9" }, 1 },
	{ "with-dash_and.dot", { "ok" }, 1 },
	{ NULL, { NULL }, 0 },
};

static long
t_count(const void *arg, const char *name)
{
	const struct var *v;

	for (v = arg; v->name != NULL; v++)
		if (strcmp(v->name, name) == 0)
			return (long)v->n;
	return -1;
}

static void
t_value(const void *arg, const char *name, size_t i, const char **out,
    size_t *len)
{
	const struct var *v;

	for (v = arg; v->name != NULL; v++)
		if (strcmp(v->name, name) == 0) {
			assert_true(i < v->n);
			*out = v->values[i];
			*len = strlen(v->values[i]);
			return;
		}
	fail_msg("value of unknown name %s", name);
}

static const struct tpl_vars vars = { t_count, t_value, table };

/* Render tpl; assert success and the exact output. */
static void
check_render(const char *tpl, enum tpl_escape esc, const char *want)
{
	struct buf out;

	buf_init(&out, 65536);
	assert_int_equal(template_render(tpl, strlen(tpl), &vars, esc, &out),
	    0);
	assert_string_equal(out.data != NULL ? out.data : "", want);
	assert_int_equal(out.len, strlen(want));
	buf_free(&out);
}

static int
render_status(const char *tpl)
{
	struct buf out;
	int r;

	buf_init(&out, 65536);
	r = template_render(tpl, strlen(tpl), &vars, TPL_TEXT, &out);
	buf_free(&out);
	return r;
}

/* Check tpl; assert failure at line with a reason containing what. */
static void
check_error(const char *tpl, int want_line, const char *what)
{
	char err[160];
	int line = -7;

	err[0] = '\0';
	assert_int_equal(template_check(tpl, strlen(tpl), &vars, err,
	    sizeof(err), &line), -1);
	if (strstr(err, what) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", err, what);
	assert_int_equal(line, want_line);
}

static void
check_ok(const char *tpl)
{
	char err[160] = "";
	int line = -7;

	if (template_check(tpl, strlen(tpl), &vars, err, sizeof(err),
	    &line) != 0)
		fail_msg("template_check failed: %s (line %d)", err, line);
}

static void
test_plain_text(void **state)
{
	check_render("", TPL_TEXT, "");
	check_render("no tags here", TPL_TEXT, "no tags here");
	check_render("single { brace } and }} alone", TPL_TEXT,
	    "single { brace } and }} alone");
	check_render("<&>", TPL_HTML, "<&>");	/* template text is not escaped */
}

static void
test_variables(void **state)
{
	check_render("Hello {{name}}!", TPL_TEXT, "Hello Ann!");
	check_render("{{name}}", TPL_TEXT, "Ann");
	check_render("{{ name }}", TPL_TEXT, "Ann");
	check_render("{{name}}{{name}}", TPL_TEXT, "AnnAnn");
	check_render("[{{none}}]", TPL_TEXT, "[]");
	check_render("{{with-dash_and.dot}}", TPL_TEXT, "ok");
	check_render("{{utf}}", TPL_TEXT, "\xc3\xa9t\xc3\xa9");
	check_render("{{name}}}", TPL_TEXT, "Ann}");
}

static void
test_joined_values(void **state)
{
	check_render("Colors: {{colors}}.", TPL_TEXT,
	    "Colors: red, green, blue.");
	check_render("{{qty}}", TPL_TEXT, "1, 2");
}

static void
test_rows(void **state)
{
	check_render("Items:\n{{#rows qty item}}- {{qty}} x {{item}}\n{{/rows}}"
	    "end", TPL_TEXT,
	    "Items:\n- 1 x Apple\n- 2 x Pear\n-  x Plum\nend");
	/* Names outside the row list keep their joined values. */
	check_render("{{#rows qty}}{{qty}}/{{name}};{{/rows}}", TPL_TEXT,
	    "1/Ann;2/Ann;");
	/* Names of the row list outside the section are joined. */
	check_render("{{item}}|{{#rows item}}<{{item}}>{{/rows}}|{{item}}",
	    TPL_TEXT, "Apple, Pear, Plum|<Apple><Pear><Plum>|Apple, Pear, Plum");
	/* No values, no rows. */
	check_render("a{{#rows none}}row{{/rows}}b", TPL_TEXT, "ab");
	check_render("{{ #rows  qty }}x{{ /rows }}", TPL_TEXT, "xx");
	check_render("{{#rows qty}}{{/rows}}", TPL_TEXT, "");
	/* Two sections one after the other. */
	check_render("{{#rows qty}}{{qty}}{{/rows}}-{{#rows item}}{{item}}"
	    "{{/rows}}", TPL_TEXT, "12-ApplePearPlum");
}

static void
test_html_escape(void **state)
{
	check_render("<p>{{html}}</p>", TPL_HTML,
	    "<p>&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;</p>");
	check_render("<p>{{html}}</p>", TPL_TEXT,
	    "<p><b>\"Tom\" & 'Jerry'</b></p>");
	check_render("{{multi}}", TPL_HTML, "a&amp;b, &lt;c&gt;");
	check_render("{{#rows multi}}[{{multi}}]{{/rows}}", TPL_HTML,
	    "[a&amp;b][&lt;c&gt;]");
	check_render("{{utf}}", TPL_HTML, "\xc3\xa9t\xc3\xa9");
}

static void
test_output_bound(void **state)
{
	const char *tpl = "Colors: {{colors}}";
	struct buf out;

	/* "Colors: red, green, blue" is 24 bytes. */
	buf_init(&out, 24);
	assert_int_equal(template_render(tpl, strlen(tpl), &vars, TPL_TEXT,
	    &out), 0);
	assert_string_equal(out.data, "Colors: red, green, blue");
	buf_free(&out);
	buf_init(&out, 23);
	assert_int_equal(template_render(tpl, strlen(tpl), &vars, TPL_TEXT,
	    &out), -1);
	buf_free(&out);
	/* Escaping grows the output: the bound applies to that. */
	buf_init(&out, 10);
	assert_int_equal(template_render("{{html}}", 8, &vars, TPL_HTML,
	    &out), -1);
	buf_free(&out);
	/* Literal text alone over the bound. */
	buf_init(&out, 3);
	assert_int_equal(template_render("abcd", 4, &vars, TPL_TEXT, &out), -1);
	buf_free(&out);
	/* Rows over the bound. */
	buf_init(&out, 10);
	assert_int_equal(template_render("{{#rows item}}{{item}}{{item}}"
	    "{{/rows}}", 30, &vars, TPL_TEXT, &out), -1);
	buf_free(&out);
}

static void
test_render_malformed(void **state)
{
	assert_int_equal(render_status("{{unknown}}"), -1);
	assert_int_equal(render_status("{{name"), -1);
	assert_int_equal(render_status("{{/rows}}"), -1);
	assert_int_equal(render_status("{{#rows item}}x"), -1);
	assert_int_equal(render_status("{{}}"), -1);
	assert_int_equal(render_status("{{name name}}"), -1);
	assert_int_equal(render_status("{{#each item}}{{/each}}"), -1);
}

static void
test_render_len_respected(void **state)
{
	struct buf out;
	const char *tpl = "ab{{name}}cd";

	/* Only len bytes: the tag is cut off, so it is malformed. */
	buf_init(&out, 100);
	assert_int_equal(template_render(tpl, 2, &vars, TPL_TEXT, &out), 0);
	assert_string_equal(out.data, "ab");
	buf_reset(&out);
	assert_int_equal(template_render(tpl, 7, &vars, TPL_TEXT, &out), -1);
	buf_free(&out);
}

static void
test_check_ok(void **state)
{
	check_ok("");
	check_ok("plain");
	check_ok("{{name}} {{colors}}\n{{#rows item qty}}{{item}} {{qty}} "
	    "{{name}}\n{{/rows}}");
	check_ok("{{none}}{{#rows none}}{{none}}{{/rows}}");
}

static void
test_check_unknown_name(void **state)
{
	check_error("{{bogus}}", 1, "unknown name");
	check_error("line 1\nline 2 {{name}}\nline 3 {{bogus}}\n", 3,
	    "unknown name");
	check_error("a\n\n\n\n{{#rows item bogus}}x{{/rows}}", 5,
	    "unknown name");
	check_error("{{#rows item}}\n\n{{bogus}}\n{{/rows}}", 3,
	    "unknown name");
}

static void
test_check_unterminated(void **state)
{
	check_error("Hello\n{{name", 2, "\"{{\" without \"}}\"");
	check_error("{{name}}\n\nx {{name }", 3, "without");
	/* An unclosed tag that runs into a later "}}" is malformed there. */
	check_error("{{#rows item}}\n{{item\n{{/rows}}", 2, "bad character");
}

static void
test_check_rows_structure(void **state)
{
	check_error("a\nb\n{{/rows}}", 3, "{{/rows}} without {{#rows}}");
	check_error("{{#rows item}}\n{{item}}\n", 1,
	    "{{#rows}} without {{/rows}}");
	check_error("x\n{{#rows}}{{/rows}}", 2, "at least one name");
	check_error("{{/rows item}}", 1, "takes no names");
	check_error("\n{{#list item}}{{/list}}", 2, "unknown section");
	check_error("{{a b}}", 1, "one name");
	check_error("{{}}", 1, "one name");
	check_error("\n\n{{na!me}}", 3, "bad character");
}

static void
test_check_nested_rows(void **state)
{
	/* The nested section is the problem: its line and reason. */
	check_error("{{#rows item}}\n{{#rows qty}}\n{{qty}}\n{{/rows}}\n"
	    "{{/rows}}\n", 2, "nest");
}

static void
test_check_long_name(void **state)
{
	char tpl[200];

	memset(tpl, 'a', sizeof(tpl));
	memcpy(tpl, "{{", 2);
	memcpy(tpl + 2 + TPL_NAME_MAX + 1, "}}", 2);
	tpl[2 + TPL_NAME_MAX + 3] = '\0';
	check_error(tpl, 1, "too long");
}

static void
test_check_err_null_line(void **state)
{
	int line = 0;

	/* A tiny error buffer is filled safely. */
	char err[4];

	assert_int_equal(template_check("{{x", 3, &vars, err, sizeof(err),
	    &line), -1);
	assert_int_equal(strlen(err), 3);
	assert_int_equal(line, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_text),
		cmocka_unit_test(test_variables),
		cmocka_unit_test(test_joined_values),
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_html_escape),
		cmocka_unit_test(test_output_bound),
		cmocka_unit_test(test_render_malformed),
		cmocka_unit_test(test_render_len_respected),
		cmocka_unit_test(test_check_ok),
		cmocka_unit_test(test_check_unknown_name),
		cmocka_unit_test(test_check_unterminated),
		cmocka_unit_test(test_check_rows_structure),
		cmocka_unit_test(test_check_nested_rows),
		cmocka_unit_test(test_check_long_name),
		cmocka_unit_test(test_check_err_null_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
