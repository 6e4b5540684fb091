/*
 * libFuzzer target: what the handler does with an accepted urlencoded
 * body, past the parser: form_validate() against a form with every field
 * type (patterns, choices, rows, multiline, a Reply-To address, a subject
 * made of fields), then mime_compose() of the message into memory.
 *
 * The message must hold, whatever the values:
 *	- 7-bit text: no byte over 0x7f, no NUL, no CR (LF line ends);
 *	- no line over 998 bytes (RFC 5322 2.1.1);
 *	- a header block of "Name: value" lines and their continuations,
 *	  ended by an empty line, with exactly one From, To, Subject,
 *	  Date and Message-ID, and at most one Reply-To: no value may
 *	  start a header of its own.
 * A failing validation must name each failing field once, by a name the
 * form has.
 */
#include <limits.h>
#include <openssl/bio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "diag.h"
#include "formdef.h"
#include "fuzz_util.h"
#include "mime.h"
#include "urlencoded.h"
#include "util.h"
#include "validate.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *const files[][2] = {
	{ "order.form",
	    "[form]\nmailbox  = orders\nsubject  = Order {{ref}} from "
	    "{{name}} ({{size}})\nbody     = order.txt\n"
	    "thanks   = /thanks.html\nreply_to = email\nunknown  = drop\n"
	    "rows     = item quantity\n\n"
	    "[field name]\nlabel = Your name\ntype = text\nrequired = yes\n"
	    "max = 200\n\n"
	    "[field email]\nlabel = Email\ntype = email\nrequired = yes\n\n"
	    "[field phone]\nlabel = Telephone\ntype = tel\n\n"
	    "[field ref]\nlabel = Reference\ntype = text\n"
	    "pattern = [A-Z]{2}-[0-9]{1,6}\n\n"
	    "[field address]\nlabel = Address\ntype = text\nmultiline = yes\n"
	    "max = 2000\n\n"
	    "[field item]\nlabel = Item\ntype = text\nrequired = yes\n"
	    "repeat = 5\nmax = 300\n\n"
	    "[field quantity]\nlabel = Quantity\ntype = integer\n"
	    "required = yes\nrepeat = 5\nmin = 1\nmax = 999\n\n"
	    "[field price]\nlabel = Price\ntype = decimal\nmin = 0\n"
	    "max = 100000\n\n"
	    "[field size]\nlabel = Size\ntype = choice\nchoices = S|M|L|XL\n\n"
	    "[field extras]\nlabel = Extras\ntype = checkbox\n"
	    "choices = gift-wrap|express\nrepeat = 2\n\n"
	    "[field terms]\nlabel = Terms\ntype = checkbox\nrequired = yes\n\n"
	    "[field notes]\nlabel = Notes\ntype = text\nmultiline = yes\n"
	    "max = 5000\n" },
	{ "order.txt",
	    "Order {{id}} ({{ref}})\n\nCustomer: {{name}} <{{email}}>\n"
	    "Telephone: {{phone}}\nShip to:\n{{address}}\n\n"
	    "{{#rows quantity item}}  {{quantity}} x {{item}}\n{{/rows}}"
	    "Price: {{price}}  Size: {{size}}  Extras: {{extras}}\n"
	    "Terms: {{terms}}\n\nNotes:\n{{notes}}\n\n"
	    "Received {{date}} from {{client}} through the {{form}} form.\n" },
};

static char		root[64];
static struct formdef	def;

static void
setup(void)
{
	char path[PATH_MAX];
	struct diag d;

	fuzz_workdir(root, "intake", NULL, 0, files,
	    sizeof(files) / sizeof(files[0]));
	snprintf(path, sizeof(path), "%s/order.form", root);
	diag_init(&d);
	if (formdef_load(path, &def, &d) != 0) {
		fprintf(stderr, "fuzz_intake: %s", d.text.data);
		abort();
	}
	diag_free(&d);
}

static int
starts_with_ci(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && line[n] == ':' && str_casecmp_prefix(line, name);
}

/* Abort unless msg[0..len) is a well-formed 7-bit message (see top). */
static void
check_message(const char *msg, size_t len)
{
	static const char *const once[] = {
		"From", "To", "Subject", "Date", "Message-ID"
	};
	size_t seen[5] = { 0 }, reply_to = 0, i, k, n;
	const char *line = msg, *end = msg + len, *nl;
	int in_headers = 1;

	for (i = 0; i < len; i++)
		if ((unsigned char)msg[i] > 0x7f || msg[i] == '\0' ||
		    msg[i] == '\r')
			abort();
	for (; line < end; line = nl + 1) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			nl = end;
		n = (size_t)(nl - line);
		if (n > 998)
			abort();
		if (!in_headers)
			continue;
		if (n == 0) {
			in_headers = 0;
			continue;
		}
		if (line[0] == ' ' || line[0] == '\t') {
			if (line == msg)
				abort();	/* a continuation of nothing */
			continue;
		}
		if (memchr(line, ':', n) == NULL)
			abort();		/* neither header nor fold */
		for (k = 0; k < 5; k++)
			seen[k] += starts_with_ci(line, n, once[k]);
		reply_to += starts_with_ci(line, n, "Reply-To");
	}
	if (in_headers || reply_to > 1)
		abort();
	for (k = 0; k < 5; k++)
		if (seen[k] != 1)
			abort();
}

static void
compose(struct form_data *data)
{
	struct submission sub;
	BIO *out;
	char *msg;
	long len;

	memset(&sub, 0, sizeof(sub));
	sub.def = &def;
	sub.data = data;
	memcpy(sub.id, "20261129-120000-0badcafe", SUBMISSION_ID_LEN);
	sub.received = 1795003200;
	sub.client = "192.0.2.7";
	sub.hostname = "fuzz.example";
	sub.from = "Web forms <forms@fuzz.example>";
	sub.to = "Orders <orders@fuzz.example>";
	if ((out = BIO_new(BIO_s_mem())) == NULL)
		abort();
	if (mime_compose(&sub, out) != 0)
		abort();	/* in memory, with valid data: it cannot fail */
	if ((len = BIO_get_mem_data(out, &msg)) <= 0)
		abort();
	check_message(msg, (size_t)len);
	BIO_free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct form_limits lim = {
		64 * 1024, 60, 8 * 1024, 0, 0
	};
	struct validation val;
	struct form_data fd;
	size_t i, k;
	int bad;

	if (root[0] == '\0')
		setup();
	form_data_init(&fd);
	if (urlencoded_parse((const char *)data, size, &lim, &fd) ==
	    PARSE_OK) {
		memset(&val, 0, sizeof(val));
		bad = form_validate(&def, &fd, &val);
		if (bad < 0 || (size_t)bad != val.n)
			abort();
		for (i = 0; i < val.n; i++) {
			if (formdef_field(&def, val.v[i].field) == NULL)
				abort();
			for (k = 0; k < i; k++)
				if (strcmp(val.v[i].field, val.v[k].field) == 0)
					abort();
		}
		if (fuzz_verbose()) {
			fprintf(stderr, "intake: %zu field(s), %d invalid\n",
			    fd.n, bad);
			for (i = 0; i < val.n; i++)
				fprintf(stderr, "  %s: %s\n", val.v[i].field,
				    val.v[i].reason);
		}
		if (bad == 0)
			compose(&fd);
		validation_free(&val);
	}
	form_data_free(&fd);
	return 0;
}
