/*
 * Unit tests for lib/inifile.c: what the loaders are told must be what
 * inih reads.  Sections are announced by inifile itself (inih does not
 * call back for them), so its idea of a section line must match inih's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "buf.h"
#include "diag.h"
#include "inifile.h"

/* Each call as "line:[section]" or "line:[section]name=value", one a line. */
static int
record(void *ctx, const char *section, const char *name, const char *value,
    int line)
{
	struct buf *b = ctx;

	if (name == NULL)
		return buf_printf(b, "%d:[%s]\n", line, section);
	return buf_printf(b, "%d:[%s]%s=%s\n", line, section, name, value);
}

static void
expect(const char *text, const char *want, int ret)
{
	struct buf b;
	struct diag d;

	buf_init(&b, 1 << 16);
	diag_init(&d);
	assert_int_equal(inifile_parse_string("t.ini", text, record, &b, &d),
	    ret);
	assert_string_equal(b.data != NULL ? b.data : "", want);
	buf_free(&b);
	diag_free(&d);
}

/* An indented "[b]" after a key is that key's next line, as in inih. */
static void
test_indented_section_after_key(void **state)
{
	(void)state;
	expect("[a]\nk = v\n  [b]\nk2 = v2\n",
	    "1:[a]\n2:[a]k=v\n3:[a]k=[b]\n4:[a]k2=v2\n", 0);
	/* A blank line or a comment between does not end the key. */
	expect("[a]\nk = v\n\n  ; note\n  [b]\n",
	    "1:[a]\n2:[a]k=v\n5:[a]k=[b]\n", 0);
}

static void
test_section_lines(void **state)
{
	(void)state;
	/* Indented with no key before it in its section: a section. */
	expect("[a]\n  [b]\nk = v\n", "1:[a]\n2:[b]\n3:[b]k=v\n", 0);
	/* Unindented after a key: a section, and keys start again. */
	expect("[a]\nk = v\n[b]\n  [c]\n", "1:[a]\n2:[a]k=v\n3:[b]\n4:[c]\n",
	    0);
	/* A byte order mark before the first section. */
	expect("\xef\xbb\xbf[a]\nk = v\n", "1:[a]\n2:[a]k=v\n", 0);
}

static void
test_not_utf8(void **state)
{
	(void)state;
	expect("[a]\nk = f\xfcr\nk2 = v\n", "1:[a]\n3:[a]k2=v\n", -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_indented_section_after_key),
		cmocka_unit_test(test_section_lines),
		cmocka_unit_test(test_not_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
