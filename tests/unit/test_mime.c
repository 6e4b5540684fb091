/*
 * Unit tests for lib/mime.c: submission ids, template variables, the JSON
 * copy and the composed message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diag.h"
#include "form.h"
#include "formdef.h"
#include "mime.h"
#include "template.h"
#include "util.h"
#include "testutil.h"

#define RECEIVED	((time_t)1700000000)	/* 2023-11-14 22:13:20 UTC */
#define DATE		"Tue, 14 Nov 2023 22:13:20 +0000"

static struct formdef contact, order;

static const unsigned char pdf[] = {
	'%', 'P', 'D', 'F', 0, 1, 2, 0xff, 0xfe, '\r', '\n', '=', '_', '-',
	'-', 'x', 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
};

static void
load(const char *name, struct formdef *def)
{
	char *dir = tu_path(tu_srcdir(), "templates");
	char *path = tu_path(dir, name);
	struct diag d;

	diag_init(&d);
	if (formdef_load(path, def, &d) != 0) {
		fprintf(stderr, "%s", d.text.data);
		abort();
	}
	diag_free(&d);
	free(path);
	free(dir);
}

static int
group_setup(void **state)
{
	load("contact.form", &contact);
	load("order.form", &order);
	return 0;
}

static int
group_teardown(void **state)
{
	formdef_free(&contact);
	formdef_free(&order);
	return 0;
}

static void
add(struct form_data *fd, const char *name, const char *value)
{
	assert_int_equal(form_data_add(fd, name, strlen(name), value,
	    strlen(value), NULL, NULL), 0);
}

static void
sub_init(struct submission *s, const struct formdef *def,
    const struct form_data *data)
{
	memset(s, 0, sizeof(*s));
	s->def = def;
	s->data = data;
	s->received = RECEIVED;
	s->client = "192.0.2.7";
	s->hostname = "host.example";
	s->from = "Web forms <forms@example.com>";
	s->to = "Shop <shop@example.com>";
	assert_int_equal(submission_make_id(s), 0);
}

static void
order_data(struct form_data *fd, const char *name)
{
	form_data_init(fd);
	add(fd, "name", name);
	add(fd, "email", "ann@example.com");
	add(fd, "phone", "555-0100");
	add(fd, "address", "1 Main St\r\nTown");
	add(fd, "item", "Apple");
	add(fd, "quantity", "3");
	add(fd, "item", "Pear \"green\"");
	add(fd, "quantity", "1");
	add(fd, "notes", "");
	assert_int_equal(form_data_add(fd, "attachment", 10,
	    (const char *)pdf, sizeof(pdf), "r\xc3\xa9sum\xc3\xa9.pdf",
	    "application/pdf"), 0);
}

/* The header block of msg (up to the first empty line), malloc'd. */
static char *
header_block(const struct buf *msg)
{
	const char *end = strstr(msg->data, "\n\n");

	assert_non_null(end);
	return strndup(msg->data, (size_t)(end - msg->data) + 1);
}

/* The unfolded value of header name in hdr (malloc'd), or NULL. */
static char *
header_value(const char *hdr, const char *name)
{
	const char *p = hdr, *v, *e;
	size_t n = strlen(name);
	struct buf b;

	for (; p != NULL && *p != '\0'; p = strchr(p, '\n') ?
	    strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, name, n) != 0 || p[n] != ':')
			continue;
		buf_init(&b, 1 << 16);
		for (v = p + n + 1; *v == ' '; v++)
			;
		for (;;) {
			e = strchr(v, '\n');
			assert_int_equal(buf_append(&b, v, (size_t)(e - v)), 0);
			if (e[1] != ' ' && e[1] != '\t')
				break;
			v = e + 1;
		}
		return buf_steal(&b);
	}
	return NULL;
}

static int
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void
check_7bit(const struct buf *msg)
{
	size_t i, col = 0;

	for (i = 0; i < msg->len; i++) {
		unsigned char c = (unsigned char)msg->data[i];

		assert_true(c < 0x80 && c != '\r' && c != '\0');
		if (c == '\n')
			col = 0;
		else if (++col > 78)	/* RFC 5322 2.1.1: SHOULD, 998 MUST */
			fail_msg("line over 78 characters");
	}
}

static int
qp_hex(char c)
{
	return c >= 'A' && c <= 'F' ? c - 'A' + 10 : c - '0';
}

static void
qp_decode(const char *s, size_t len, struct buf *out)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == '=' && i + 1 < len && s[i + 1] == '\n')
			i++;
		else if (s[i] == '=' && i + 2 < len) {
			assert_int_equal(buf_putc(out, (char)(qp_hex(s[i + 1])
			    << 4 | qp_hex(s[i + 2]))), 0);
			i += 2;
		} else
			assert_int_equal(buf_putc(out, s[i]), 0);
	}
}

/*
 * Split msg at its boundary: parts[i] points at each part's first byte
 * (its headers) and lens[i] is its length up to the delimiter's LF.
 */
static size_t
split_parts(const struct buf *msg, const char *boundary, const char **parts,
    size_t *lens, size_t max)
{
	char delim[128], close[128];
	const char *p = msg->data, *next;
	size_t n = 0;

	snprintf(delim, sizeof(delim), "\n--%s\n", boundary);
	snprintf(close, sizeof(close), "\n--%s--\n", boundary);
	p = strstr(p, delim);
	assert_non_null(p);
	for (;;) {
		p += strlen(delim);
		next = strstr(p, delim);
		if (next == NULL) {
			next = strstr(p, close);
			assert_non_null(next);
			/* The close delimiter ends the message. */
			assert_int_equal(next + strlen(close),
			    msg->data + msg->len);
		}
		assert_true(n < max);
		parts[n] = p;
		lens[n++] = (size_t)(next - p);
		if (strncmp(next, close, strlen(close)) == 0)
			return n;
		p = next;
	}
}

static char *
get_boundary(const char *hdr)
{
	char *ct = header_value(hdr, "Content-Type"), *b, *e, *r;

	assert_non_null(ct);
	assert_true(strncmp(ct, "multipart/mixed;", 16) == 0);
	b = strstr(ct, "boundary=\"");
	assert_non_null(b);
	b += 10;
	e = strchr(b, '"');
	assert_non_null(e);
	r = strndup(b, (size_t)(e - b));
	free(ct);
	return r;
}

static void
test_make_id(void **state)
{
	struct submission s, t;
	regex_t re;

	memset(&s, 0, sizeof(s));
	s.received = RECEIVED;
	assert_int_equal(submission_make_id(&s), 0);
	assert_int_equal(strlen(s.id), SUBMISSION_ID_LEN);
	assert_int_equal(regcomp(&re, "^20231114-221320-[0-9a-f]{8}$",
	    REG_EXTENDED | REG_NOSUB), 0);
	assert_int_equal(regexec(&re, s.id, 0, NULL, 0), 0);
	regfree(&re);
	t = s;
	assert_int_equal(submission_make_id(&t), 0);
	assert_string_not_equal(s.id, t.id);
}

static void
test_vars(void **state)
{
	struct form_data fd;
	struct submission s;
	struct tpl_vars vars;
	const char *v;
	size_t len;

	order_data(&fd, "Ann");
	sub_init(&s, &order, &fd);
	submission_vars(&s, &vars);
	assert_int_equal(vars.count(vars.arg, "id"), 1);
	assert_int_equal(vars.count(vars.arg, "date"), 1);
	assert_int_equal(vars.count(vars.arg, "item"), 2);
	assert_int_equal(vars.count(vars.arg, "name"), 1);
	assert_int_equal(vars.count(vars.arg, "bogus"), -1);
	vars.value(vars.arg, "item", 1, &v, &len);
	assert_int_equal(len, 12);
	assert_memory_equal(v, "Pear \"green\"", 12);
	vars.value(vars.arg, "form", 0, &v, &len);
	assert_memory_equal(v, "order", len);
	vars.value(vars.arg, "client", 0, &v, &len);
	assert_memory_equal(v, "192.0.2.7", len);
	vars.value(vars.arg, "date", 0, &v, &len);
	assert_int_equal(len, strlen(DATE));
	assert_memory_equal(v, DATE, len);
	vars.value(vars.arg, "id", 0, &v, &len);
	assert_memory_equal(v, s.id, len);
	/* A file shows as its name. */
	vars.value(vars.arg, "attachment", 0, &v, &len);
	assert_int_equal(len, strlen("r\xc3\xa9sum\xc3\xa9.pdf"));
	assert_memory_equal(v, "r\xc3\xa9sum\xc3\xa9.pdf", len);
	form_data_free(&fd);
}

static void
test_json_exact(void **state)
{
	struct form_data fd;
	struct submission s;
	struct buf b;
	char want[512];

	form_data_init(&fd);
	add(&fd, "name", "Ann \"A\"");
	add(&fd, "message", "hi\nthere\xe2\x80\xa8");
	add(&fd, "email", "a@b.cd");
	sub_init(&s, &contact, &fd);
	buf_init(&b, 1 << 16);
	assert_int_equal(submission_json(&s, &b), 0);
	/* Fields in definition order. */
	snprintf(want, sizeof(want), "{\"form\":\"contact\",\"id\":\"%s\","
	    "\"received\":\"2023-11-14T22:13:20Z\",\"fields\":{\"name\":"
	    "\"Ann \\\"A\\\"\",\"email\":\"a@b.cd\",\"message\":"
	    "\"hi\\nthere\\u2028\"},\"files\":[]}\n", s.id);
	assert_string_equal(b.data, want);
	buf_free(&b);
	form_data_free(&fd);
}

static void
test_json_rows_files(void **state)
{
	struct form_data fd;
	struct submission s;
	struct buf b;
	unsigned char md[32];
	unsigned int mdlen;
	char sha[65], want[512];
	size_t i;

	order_data(&fd, "Ann");
	sub_init(&s, &order, &fd);
	buf_init(&b, 1 << 16);
	assert_int_equal(submission_json(&s, &b), 0);
	/* Repeatable fields are arrays; empty ones are kept. */
	assert_non_null(strstr(b.data,
	    "\"item\":[\"Apple\",\"Pear \\\"green\\\"\"],"
	    "\"quantity\":[\"3\",\"1\"],\"notes\":\"\"}"));
	assert_non_null(strstr(b.data, "\"address\":\"1 Main St\\r\\nTown\""));
	assert_null(strstr(b.data, "\"attachment\":"));
	assert_int_equal(EVP_Digest(pdf, sizeof(pdf), md, &mdlen,
	    EVP_sha256(), NULL), 1);
	for (i = 0; i < 32; i++)
		snprintf(sha + 2 * i, 3, "%02x", md[i]);
	snprintf(want, sizeof(want), "\"files\":[{\"field\":\"attachment\","
	    "\"filename\":\"r\xc3\xa9sum\xc3\xa9.pdf\",\"type\":"
	    "\"application/pdf\",\"size\":%zu,\"sha256\":\"%s\"}]}\n",
	    sizeof(pdf), sha);
	assert_non_null(strstr(b.data, want));
	buf_free(&b);
	form_data_free(&fd);
}

/* The message in msg: 0, or -1. */
static int
compose(const struct submission *s, struct buf *msg)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int r = -1;

	assert_non_null(b);
	if (mime_compose(s, b) == 0 && (len = BIO_get_mem_data(b, &data)) >= 0)
		r = buf_append(msg, data, (size_t)len);
	BIO_free(b);
	return r;
}

/* A failing output fails the composition. */
static void
test_compose_write_error(void **state)
{
	struct form_data fd;
	struct submission s;
	BIO *ro = BIO_new_mem_buf("", 0);	/* read-only */

	order_data(&fd, "Ann");
	sub_init(&s, &order, &fd);
	assert_int_equal(mime_compose(&s, ro), -1);
	BIO_free(ro);
	form_data_free(&fd);
}

static void
test_compose_headers(void **state)
{
	struct form_data fd;
	struct submission s;
	struct buf msg;
	char *hdr, *v, want[128];

	order_data(&fd, "Ann");
	sub_init(&s, &order, &fd);
	buf_init(&msg, 1 << 22);
	assert_int_equal(compose(&s, &msg), 0);
	check_7bit(&msg);
	hdr = header_block(&msg);
	assert_true(starts_with(hdr, "Received: from [192.0.2.7] by "
	    "host.example (formdrop form=order)\n"));
	v = header_value(hdr, "Date");
	assert_string_equal(v, DATE);
	free(v);
	v = header_value(hdr, "From");
	assert_string_equal(v, "Web forms <forms@example.com>");
	free(v);
	v = header_value(hdr, "To");
	assert_string_equal(v, "Shop <shop@example.com>");
	free(v);
	v = header_value(hdr, "Reply-To");
	assert_string_equal(v, "<ann@example.com>");
	free(v);
	v = header_value(hdr, "Subject");
	assert_string_equal(v, "Order from Ann");
	free(v);
	v = header_value(hdr, "Message-ID");
	snprintf(want, sizeof(want), "<%s@host.example>", s.id);
	assert_string_equal(v, want);
	free(v);
	v = header_value(hdr, "MIME-Version");
	assert_string_equal(v, "1.0");
	free(v);
	v = header_value(hdr, "X-Formdrop-Form");
	assert_string_equal(v, "order");
	free(v);
	v = header_value(hdr, "X-Formdrop-Id");
	assert_string_equal(v, s.id);
	free(v);
	free(hdr);
	buf_free(&msg);
	form_data_free(&fd);
}

static void
test_compose_no_reply_to(void **state)
{
	struct form_data fd;
	struct submission s;
	struct buf msg;
	char *hdr, *saved = order.reply_to;

	order_data(&fd, "Ann");
	sub_init(&s, &order, &fd);
	order.reply_to = NULL;
	buf_init(&msg, 1 << 22);
	assert_int_equal(compose(&s, &msg), 0);
	order.reply_to = saved;
	hdr = header_block(&msg);
	assert_null(header_value(hdr, "Reply-To"));
	free(hdr);
	buf_free(&msg);
	form_data_free(&fd);
}

static void
test_compose_subject_encoded(void **state)
{
	struct form_data fd;
	struct submission s;
	struct buf msg;
	char *hdr, *v;
	unsigned char dec[128];
	const char *w;
	int r;

	order_data(&fd, "Zo\xc3\xab");
	sub_init(&s, &order, &fd);
	buf_init(&msg, 1 << 22);
	assert_int_equal(compose(&s, &msg), 0);
	check_7bit(&msg);
	hdr = header_block(&msg);
	v = header_value(hdr, "Subject");
	assert_non_null(v);
	assert_true(strncmp(v, "=?UTF-8?B?", 10) == 0);
	w = v + 10;
	assert_non_null(strstr(w, "?="));
	r = EVP_DecodeBlock(dec, (const unsigned char *)w,
	    (int)(strstr(w, "?=") - w));
	assert_true(r >= 0);
	r -= (strstr(w, "?=")[-1] == '=') + (strstr(w, "?=")[-2] == '=');
	assert_int_equal(r, strlen("Order from Zo\xc3\xab"));
	assert_memory_equal(dec, "Order from Zo\xc3\xab", (size_t)r);
	free(v);
	free(hdr);
	buf_free(&msg);
	form_data_free(&fd);
}

static void
test_compose_header_injection(void **state)
{
	static const char *const evil[] = {
		"x\r\nBcc: victim@example.com",
		"x\nBcc: victim@example.com",
		"x\rBcc: victim@example.com",
		"x\r\n\r\nBody injected",
		"\xc3\xa9\r\nBcc: victim@example.com",
	};
	struct form_data fd;
	struct submission s;
	struct buf msg;
	char *hdr;
	const char *p;
	size_t i;

	for (i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
		order_data(&fd, evil[i]);
		sub_init(&s, &order, &fd);
		buf_init(&msg, 1 << 22);
		assert_int_equal(compose(&s, &msg), 0);
		check_7bit(&msg);
		hdr = header_block(&msg);
		/* Every header line is a field or a continuation. */
		for (p = hdr; *p != '\0'; p = strchr(p, '\n') + 1) {
			assert_true(strncmp(p, "Bcc:", 4) != 0);
			assert_true(strncmp(p, "Body", 4) != 0);
			assert_true(p[0] == ' ' || p[0] == '\t' ||
			    strcspn(p, ":\n") < strcspn(p, "\n"));
		}
		/* The header block ends where the message's does. */
		assert_non_null(strstr(hdr, "X-Formdrop-Id: "));
		assert_non_null(strstr(hdr, "Content-Type: multipart/mixed"));
		free(hdr);
		buf_free(&msg);
		form_data_free(&fd);
	}
}

static void
test_compose_structure(void **state)
{
	struct form_data fd;
	struct submission s;
	struct buf msg, dec;
	char *hdr, *boundary, line[160];
	const char *parts[8], *body;
	size_t lens[8], n, count;
	unsigned char bin[256];
	int r;

	order_data(&fd, "Ann");
	sub_init(&s, &order, &fd);
	buf_init(&msg, 1 << 22);
	assert_int_equal(compose(&s, &msg), 0);
	check_7bit(&msg);
	hdr = header_block(&msg);
	boundary = get_boundary(hdr);
	assert_true(strlen(boundary) >= 20);

	/* The boundary occurs in the header and in delimiter lines only:
	 * text, JSON, one file, and the close delimiter. */
	count = tu_count_substr(msg.data, msg.len, boundary);
	assert_int_equal(count, 1 + 3 + 1);
	snprintf(line, sizeof(line), "\n--%s\n", boundary);
	assert_int_equal(tu_count_substr(msg.data, msg.len, line), 3);
	snprintf(line, sizeof(line), "\n--%s--\n", boundary);
	assert_int_equal(tu_count_substr(msg.data, msg.len, line), 1);

	n = split_parts(&msg, boundary, parts, lens, 8);
	assert_int_equal(n, 3);

	/* 1: the text, quoted-printable. */
	assert_true(starts_with(parts[0], "Content-Type: text/plain; "
	    "charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"));
	body = strstr(parts[0], "\n\n") + 2;
	buf_init(&dec, 1 << 20);
	qp_decode(body, lens[0] - (size_t)(body - parts[0]), &dec);
	assert_non_null(strstr(dec.data, "Customer:  Ann\n"));
	assert_non_null(strstr(dec.data, "Ship to:\n1 Main St\nTown\n"));
	assert_non_null(strstr(dec.data, "Items:\n  3 x Apple\n"
	    "  1 x Pear \"green\"\n\nNotes:"));
	assert_non_null(strstr(dec.data, "Attachment: r\xc3\xa9sum\xc3\xa9.pdf\n"));
	assert_non_null(strstr(dec.data, "Received " DATE " from 192.0.2.7 "
	    "through the order form."));
	buf_free(&dec);

	/* 2: the JSON copy. */
	assert_true(starts_with(parts[1], "Content-Type: application/json"));
	assert_non_null(strstr(parts[1], "filename=\"submission.json\""));
	body = strstr(parts[1], "\n\n") + 2;
	buf_init(&dec, 1 << 20);
	qp_decode(body, lens[1] - (size_t)(body - parts[1]), &dec);
	assert_true(strncmp(dec.data, "{\"form\":\"order\",", 16) == 0);
	assert_int_equal(dec.data[dec.len - 1], '\n');
	buf_free(&dec);

	/* 3: the file, base64, RFC 2231 name. */
	assert_true(starts_with(parts[2], "Content-Type: application/pdf;\n\t"
	    "name*0*=utf-8''r%C3%A9sum%C3%A9.pdf\n"
	    "Content-Disposition: attachment;\n\t"
	    "filename*0*=utf-8''r%C3%A9sum%C3%A9.pdf\n"
	    "Content-Transfer-Encoding: base64\n\n"));
	body = strstr(parts[2], "\n\n") + 2;
	r = EVP_DecodeBlock(bin, (const unsigned char *)body,
	    (int)(lens[2] - (size_t)(body - parts[2]) - 1));
	assert_int_equal(r, 24);	/* 24 bytes: no padding */
	assert_memory_equal(bin, pdf, sizeof(pdf));

	free(boundary);
	free(hdr);
	buf_free(&msg);
	form_data_free(&fd);
}

static void
test_compose_no_files(void **state)
{
	struct form_data fd;
	struct submission s;
	struct buf msg;
	char *hdr, *boundary;
	const char *parts[8];
	size_t lens[8];

	form_data_init(&fd);
	add(&fd, "name", "Ann");
	add(&fd, "email", "ann@example.com");
	add(&fd, "message", "--=_formdrop_ fake delimiter\n.\nFrom here");
	sub_init(&s, &contact, &fd);
	buf_init(&msg, 1 << 22);
	assert_int_equal(compose(&s, &msg), 0);
	check_7bit(&msg);
	hdr = header_block(&msg);
	boundary = get_boundary(hdr);
	assert_int_equal(split_parts(&msg, boundary, parts, lens, 8), 2);
	assert_null(strstr(msg.data, "\n--=_formdrop_ fake"));
	assert_null(strstr(msg.data, "\n.\n"));
	assert_null(strstr(msg.data, "\nFrom here"));
	free(boundary);
	free(hdr);
	buf_free(&msg);
	form_data_free(&fd);
}

/* Write a form definition into dir and load it: its path (malloc'd). */
static char *
load_form(const char *dir, const char *name, const char *text,
    struct formdef *def)
{
	struct diag d;
	char *path;

	tu_write_file(dir, name, text);
	path = tu_path(dir, name);
	diag_init(&d);
	assert_int_equal(formdef_load(path, def, &d), 0);
	diag_free(&d);
	return path;
}

static void
test_compose_long_subject(void **state)
{
	struct formdef def;
	struct form_data fd;
	struct submission s;
	struct buf msg;
	char *dir = tu_mkdtemp(), *path, *note, *hdr, *v, *p, *nl;

	/* A valid submission whose subject renders longer than SUBJECT_MAX
	 * must still become a message (the subject shortened), not fail. */
	tu_write_file(dir, "body.txt", "{{note}}\n");
	path = load_form(dir, "long.form", "[form]\nmailbox = m\n"
	    "subject = Note: {{note}}\nbody = body.txt\nthanks = /t\n"
	    "[field note]\nrequired = yes\n", &def);
	note = malloc(5001);
	memset(note, 'n', 5000);
	note[5000] = '\0';
	form_data_init(&fd);
	add(&fd, "note", note);
	sub_init(&s, &def, &fd);
	buf_init(&msg, 1 << 22);
	tu_rmtree(dir);
	if (compose(&s, &msg) != 0) {
		buf_free(&msg);
		form_data_free(&fd);
		formdef_free(&def);
		free(note);
		free(path);
		free(dir);
		fail_msg("mime_compose failed on a %zu-byte subject",
		    strlen("Note: ") + 5000);
	}
	check_7bit(&msg);
	hdr = header_block(&msg);
	v = header_value(hdr, "Subject");
	assert_non_null(v);
	/* A 4,090-character word cannot be folded: encoded-words, in
	 * lines RFC 5322 allows. */
	assert_true(strncmp(v, "=?UTF-8?B?Tm90ZTogbm5u", 22) == 0);
	for (p = hdr; *p != '\0'; p = nl + 1) {
		assert_non_null(nl = strchr(p, '\n'));
		assert_true(nl - p <= 78);
	}
	free(v);
	free(hdr);
	buf_free(&msg);
	form_data_free(&fd);
	formdef_free(&def);
	free(note);
	free(path);
	free(dir);
}

/* A value larger than the fixed render bound still renders (the bound
 * grows with the values): large limits are not a permanent "busy". */
static void
test_compose_value_over_render_max(void **state)
{
	struct formdef def;
	struct form_data fd;
	struct submission s;
	struct buf msg;
	char *dir = tu_mkdtemp(), *path, *note;
	size_t len = RENDER_MAX + RENDER_MAX / 2;

	(void)state;
	/* Twice: the bound counts each place a value goes. */
	tu_write_file(dir, "body.txt", "Note:\n{{note}}\nAgain:\n{{note}}\n");
	path = load_form(dir, "big.form", "[form]\nmailbox = m\n"
	    "subject = Big note\nbody = body.txt\nthanks = /t\n"
	    "[field note]\nmultiline = yes\n", &def);
	note = malloc(len + 1);
	assert_non_null(note);
	memset(note, 'n', len);
	note[len] = '\0';
	form_data_init(&fd);
	add(&fd, "note", note);
	sub_init(&s, &def, &fd);
	buf_init(&msg, 1 << 26);
	assert_int_equal(compose(&s, &msg), 0);
	check_7bit(&msg);
	assert_true(msg.len > 2 * len);
	buf_free(&msg);
	form_data_free(&fd);
	formdef_free(&def);
	tu_rmtree(dir);
	free(note);
	free(path);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_make_id),
		cmocka_unit_test(test_compose_write_error),
		cmocka_unit_test(test_vars),
		cmocka_unit_test(test_json_exact),
		cmocka_unit_test(test_json_rows_files),
		cmocka_unit_test(test_compose_headers),
		cmocka_unit_test(test_compose_no_reply_to),
		cmocka_unit_test(test_compose_subject_encoded),
		cmocka_unit_test(test_compose_header_injection),
		cmocka_unit_test(test_compose_structure),
		cmocka_unit_test(test_compose_no_files),
		cmocka_unit_test(test_compose_long_subject),
		cmocka_unit_test(test_compose_value_over_render_max),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
