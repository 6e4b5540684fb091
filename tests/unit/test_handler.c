/*
 * Unit tests for cgi/handler.c: handler_serve() driven directly with
 * requests whose bodies come from memory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "diag.h"
#include "handler.h"
#include "log.h"
#include "testutil.h"

#define B	"----formdropTestBoundary"

struct fixture {
	char		*dir;
	char		*contact_new;
	char		*orders_new;
	struct conf	 conf;
};

/* A request body served from memory, chunk bytes at a time. */
struct body {
	const char	*data;
	size_t		 len;
	size_t		 off;
	size_t		 chunk;
	int		 fail;		/* return -1 instead of the end */
};

static ssize_t
body_read(void *arg, void *buf, size_t len)
{
	struct body *b = arg;
	size_t n = b->len - b->off;

	if (n == 0)
		return b->fail ? -1 : 0;
	if (n > len)
		n = len;
	if (b->chunk > 0 && n > b->chunk)
		n = b->chunk;
	memcpy(buf, b->data + b->off, n);
	b->off += n;
	return (ssize_t)n;
}

/* Is line one of the spam and double-submit screening keys? */
static int
is_screening_key(const char *line)
{
	static const char *const keys[] = { "token", "honeypot", "rate" };
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strncmp(line, keys[i], strlen(keys[i])) == 0)
			return 1;
	return 0;
}

/*
 * Copy a shipped template; forms lose their screening (token, honeypot,
 * rate), which the end-to-end tests cover: here the HTTP semantics are
 * under test.
 */
static void
copy_template(const char *dir, const char *name)
{
	char *tdir = tu_path(tu_srcdir(), "templates");
	char *src = tu_path(tdir, name), *data, *line, *next, *out;
	size_t len = 0, o = 0;

	data = tu_read_file(src, &len);
	out = calloc(1, len + 1);
	assert_non_null(out);
	for (line = data; line != NULL && *line != '\0'; line = next) {
		size_t n;

		next = strchr(line, '\n');
		n = next != NULL ? (size_t)(++next - line) : strlen(line);
		if (!is_screening_key(line)) {
			memcpy(out + o, line, n);
			o += n;
		}
	}
	tu_write_bytes(dir, name, out, o);
	free(out);
	free(data);
	free(src);
	free(tdir);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct diag d;
	char *forms, *conf;

	f->dir = tu_mkdtemp();
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
	f->contact_new = tu_path(f->dir, "spool/contact/new");
	f->orders_new = tu_path(f->dir, "spool/orders/new");
	tu_write_file(f->dir, "formdrop.conf",
	    "[formdrop]\nforms = forms\nhostname = test.example\n"
	    "[limits]\nbody_max = 4K\nfields_max = 20\nfield_max = 1K\n"
	    "files_max = 1\nfile_max = 2K\n"
	    "[mailbox contact]\nmaildir = spool/contact\n"
	    "from = Forms <forms@example.com>\nto = shop@example.com\n"
	    "[mailbox orders]\nmaildir = spool/orders\n"
	    "from = Forms <forms@example.com>\nto = orders@example.com\n");
	conf = tu_path(f->dir, "formdrop.conf");
	diag_init(&d);
	if (conf_load(conf, CONF_SERVE, &f->conf, &d) != 0) {
		fprintf(stderr, "%s", d.text.data);
		abort();
	}
	diag_free(&d);
	free(conf);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	conf_free(&f->conf);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f->contact_new);
	free(f->orders_new);
	free(f);
	return 0;
}

/*
 * Serve one request, its body len bytes of data (NULL: none); the number
 * of body bytes the handler read.
 */
static size_t
serve(struct fixture *f, const char *method, const char *path,
    const char *ctype, const char *clen, const char *accept,
    const char *data, size_t len, struct response *resp)
{
	struct body b = { data != NULL ? data : "", data != NULL ? len : 0, 0,
	    1000, 0 };
	struct request req;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path_info = path;
	req.content_type = ctype;
	req.content_length = clen;
	req.accept = accept;
	req.remote_addr = "192.0.2.1";
	req.read = body_read;
	req.arg = &b;
	response_init(resp);
	handler_serve(&f->conf, &req, resp);
	return b.off;
}

/* A urlencoded POST of data with a correct Content-Length. */
static void
post(struct fixture *f, const char *path, const char *data,
    const char *accept, struct response *resp)
{
	char clen[32];

	snprintf(clen, sizeof(clen), "%zu", strlen(data));
	serve(f, "POST", path, "application/x-www-form-urlencoded", clen,
	    accept, data, strlen(data), resp);
}

static const char good_contact[] =
    "name=Ann+Example&email=ann%40example.com&message=Hello%0D%0Athere";

static const char *
body_str(const struct response *r)
{
	return r->body.data != NULL ? r->body.data : "";
}

static const char *
head_str(const struct response *r)
{
	return r->head.data != NULL ? r->head.data : "";
}

static void
match(const char *re_src, const char *s)
{
	regex_t re;

	assert_int_equal(regcomp(&re, re_src, REG_EXTENDED | REG_NOSUB), 0);
	if (regexec(&re, s, 0, NULL, 0) != 0)
		fail_msg("\"%s\" does not match %s", s, re_src);
	regfree(&re);
}

static void
test_success_redirect(void **state)
{
	struct fixture *f = *state;
	struct response r;
	char *name, *path, *msg;

	post(f, "/contact", good_contact, "text/html,*/*", &r);
	assert_int_equal(r.status, 303);
	match("^Location: /thanks\\.html\\?id=[0-9]{8}-[0-9]{6}-[0-9a-f]{8}"
	    "\r\n$", head_str(&r));
	assert_string_equal(r.content_type, "text/html; charset=utf-8");
	assert_non_null(strstr(body_str(&r), "href=\"/thanks.html?id="));
	/* Exactly one message, in new/ of the contact Maildir. */
	assert_int_equal(tu_count_entries(f->contact_new), 1);
	assert_int_equal(tu_count_entries(f->orders_new), 0);
	name = tu_only_entry(f->contact_new);
	assert_non_null(name);
	match("\\.test\\.example,S=[0-9]+,W=[0-9]+$", name);
	path = tu_path(f->contact_new, name);
	msg = tu_read_file(path, NULL);
	assert_non_null(strstr(msg, "\nSubject: Contact form: Ann Example\n"));
	assert_non_null(strstr(msg, "\nReply-To: <ann@example.com>\n"));
	assert_non_null(strstr(msg, "Received: from [192.0.2.1] by "
	    "test.example"));
	/* The id in Location is the message's. */
	{
		char id[32];

		snprintf(id, sizeof(id), "%.24s",
		    strstr(head_str(&r), "id=") + 3);
		assert_non_null(strstr(msg, id));
	}
	free(msg);
	free(path);
	free(name);
	response_free(&r);
}

static void
test_success_json(void **state)
{
	struct fixture *f = *state;
	struct response r;

	post(f, "/contact", good_contact, "application/json", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "application/json");
	match("^\\{\"ok\":true,\"id\":\"[0-9]{8}-[0-9]{6}-[0-9a-f]{8}\"\\}\n$",
	    body_str(&r));
	assert_int_equal(r.head.len, 0);
	assert_int_equal(tu_count_entries(f->contact_new), 1);
	response_free(&r);
}

static void
test_request_uri(void **state)
{
	struct fixture *f = *state;
	struct request req;
	struct response r;
	struct body b = { good_contact, sizeof(good_contact) - 1, 0, 0, 0 };

	/* Without PATH_INFO the form is the URI's last segment. */
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.request_uri = "/submit/contact?lang=en";
	req.content_type = "application/x-www-form-urlencoded; charset=UTF-8";
	req.read = body_read;
	req.arg = &b;
	response_init(&r);
	handler_serve(&f->conf, &req, &r);
	assert_int_equal(r.status, 303);
	assert_int_equal(tu_count_entries(f->contact_new), 1);
	response_free(&r);
}

static void
test_404(void **state)
{
	struct fixture *f = *state;
	struct response r;
	static const char *const paths[] = {
		"/nope", "/", "", "/../contact", "/contact/x", "/con tact",
		"/contact.form",
	};
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		post(f, paths[i], good_contact, NULL, &r);
		assert_int_equal(r.status, 404);
		assert_string_equal(r.content_type, "text/html; charset=utf-8");
		assert_non_null(strstr(body_str(&r), "There is no such form."));
		assert_non_null(strstr(body_str(&r), "Error 404"));
		response_free(&r);
	}
	/* In JSON. */
	post(f, "/nope", good_contact, "application/json", &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(body_str(&r),
	    "{\"ok\":false,\"error\":\"There is no such form.\"}\n");
	response_free(&r);
	assert_int_equal(tu_count_entries(f->contact_new), 0);
}

static void
test_405(void **state)
{
	struct fixture *f = *state;
	struct response r;

	serve(f, "GET", "/contact", NULL, NULL, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 405);
	assert_non_null(strstr(head_str(&r), "Allow: POST\r\n"));
	response_free(&r);
	serve(f, "PUT", "/contact", "application/x-www-form-urlencoded", "0",
	    NULL, "", 0, &r);
	assert_int_equal(r.status, 405);
	assert_non_null(strstr(head_str(&r), "Allow: POST\r\n"));
	response_free(&r);
	serve(f, NULL, "/contact", NULL, NULL, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 405);
	response_free(&r);
	assert_int_equal(tu_count_entries(f->contact_new), 0);
}

static void
test_415(void **state)
{
	struct fixture *f = *state;
	struct response r;
	static const char *const types[] = {
		"text/plain", "application/json", "", "multipart/mixed; "
		"boundary=x", "application/x-www-form-urlencodedX",
	};
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		serve(f, "POST", "/contact", types[i], "3", NULL, "a=1", 3, &r);
		assert_int_equal(r.status, 415);
		response_free(&r);
	}
	serve(f, "POST", "/contact", NULL, "3", NULL, "a=1", 3, &r);
	assert_int_equal(r.status, 415);
	response_free(&r);
	assert_int_equal(tu_count_entries(f->contact_new), 0);
}

static void
test_413(void **state)
{
	struct fixture *f = *state;
	struct response r;
	char *big = malloc(8192);

	memset(big, 'x', 8192);
	memcpy(big, "message=", 8);
	/* Content-Length over body_max (4K): refused before reading. */
	assert_int_equal(serve(f, "POST", "/contact",
	    "application/x-www-form-urlencoded", "4097", NULL, big, 4097, &r),
	    0);
	assert_int_equal(r.status, 413);
	response_free(&r);
	/* No Content-Length, and a body over the limit. */
	serve(f, "POST", "/contact", "application/x-www-form-urlencoded",
	    NULL, NULL, big, 4097, &r);
	assert_int_equal(r.status, 413);
	response_free(&r);
	/* A Content-Length that lies low does not let more through. */
	serve(f, "POST", "/contact", "application/x-www-form-urlencoded",
	    "100", NULL, big, 8192, &r);
	assert_int_equal(r.status, 413);
	response_free(&r);
	/* Exactly body_max is read; the field is too long (field_max 1K). */
	serve(f, "POST", "/contact", "application/x-www-form-urlencoded",
	    "4096", "application/json", big, 4096, &r);
	assert_int_equal(r.status, 413);
	assert_string_equal(body_str(&r), "{\"ok\":false,\"error\":\"One of the "
	    "fields is too long.\"}\n");
	response_free(&r);
	assert_int_equal(tu_count_entries(f->contact_new), 0);
	free(big);
}

static void
test_400(void **state)
{
	struct fixture *f = *state;
	struct response r;
	struct request req;
	struct body b = { "name=x", 6, 0, 0, 1 };

	post(f, "/contact", "name=%zz&email=a%40b.cd&message=x", NULL, &r);
	assert_int_equal(r.status, 400);
	response_free(&r);
	post(f, "/contact", "name=%FF&email=a%40b.cd&message=x",
	    "application/json", &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(body_str(&r), "{\"ok\":false,\"error\":\"The form "
	    "data is not valid UTF-8 text.\"}\n");
	response_free(&r);
	/* Content-Length larger than the body. */
	serve(f, "POST", "/contact", "application/x-www-form-urlencoded",
	    "500", NULL, good_contact, sizeof(good_contact) - 1, &r);
	assert_int_equal(r.status, 400);
	response_free(&r);
	/* Content-Length smaller than the body. */
	serve(f, "POST", "/contact", "application/x-www-form-urlencoded",
	    "5", NULL, good_contact, sizeof(good_contact) - 1, &r);
	assert_int_equal(r.status, 400);
	response_free(&r);
	/* Content-Length not a number. */
	serve(f, "POST", "/contact", "application/x-www-form-urlencoded",
	    "12abc", NULL, good_contact, sizeof(good_contact) - 1, &r);
	assert_int_equal(r.status, 400);
	response_free(&r);
	serve(f, "POST", "/contact", "application/x-www-form-urlencoded",
	    "-1", NULL, good_contact, sizeof(good_contact) - 1, &r);
	assert_int_equal(r.status, 400);
	response_free(&r);
	/* multipart without a usable boundary. */
	serve(f, "POST", "/contact", "multipart/form-data", "3", NULL, "a=1",
	    3, &r);
	assert_int_equal(r.status, 400);
	response_free(&r);
	/* A malformed multipart body. */
	serve(f, "POST", "/contact", "multipart/form-data; boundary=" B, "9",
	    NULL, "not parts", 9, &r);
	assert_int_equal(r.status, 400);
	response_free(&r);
	/* A read error. */
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.path_info = "/contact";
	req.content_type = "application/x-www-form-urlencoded";
	req.read = body_read;
	req.arg = &b;
	response_init(&r);
	handler_serve(&f->conf, &req, &r);
	assert_int_equal(r.status, 400);
	response_free(&r);
	assert_int_equal(tu_count_entries(f->contact_new), 0);
}

static void
test_422_json(void **state)
{
	struct fixture *f = *state;
	struct response r;

	post(f, "/contact", "name=&email=not-an-address&bogus=1",
	    "application/json", &r);
	assert_int_equal(r.status, 422);
	assert_string_equal(r.content_type, "application/json");
	assert_string_equal(body_str(&r),
	    "{\"ok\":false,\"error\":\"Please correct the fields marked "
	    "below.\",\"fields\":{\"bogus\":\"is not a field of this form\","
	    "\"name\":\"is required\",\"email\":\"must be an email address "
	    "like name@example.com\",\"message\":\"is required\"}}\n");
	response_free(&r);
	post(f, "/contact", "name=A&email=a%40b.cd", "application/json", &r);
	assert_int_equal(r.status, 422);
	assert_string_equal(body_str(&r),
	    "{\"ok\":false,\"error\":\"Please correct the field marked "
	    "below.\",\"fields\":{\"message\":\"is required\"}}\n");
	response_free(&r);
	assert_int_equal(tu_count_entries(f->contact_new), 0);
	/* A row's error says which row, for the page to mark its input. */
	post(f, "/order", "name=A&email=a%40b.cd&address=x&item=I&quantity=2"
	    "&item=&quantity=&item=J&quantity=", "application/json", &r);
	assert_int_equal(r.status, 422);
	assert_string_equal(body_str(&r),
	    "{\"ok\":false,\"error\":\"Please correct the field marked "
	    "below.\",\"fields\":{\"quantity\":\"is required in row 3\"},"
	    "\"rows\":{\"quantity\":3}}\n");
	response_free(&r);
	assert_int_equal(tu_count_entries(f->orders_new), 0);
}

static void
test_422_html(void **state)
{
	struct fixture *f = *state;
	struct response r;
	const char *b;

	post(f, "/contact", "name=%3Cb%3E&email=x&message=m&%3Cscript%3E=1",
	    NULL, &r);
	assert_int_equal(r.status, 422);
	assert_string_equal(r.content_type, "text/html; charset=utf-8");
	b = body_str(&r);
	/* A heading in the person's words, not the status phrase. */
	assert_non_null(strstr(b, "<title>Please check the form</title>"));
	assert_non_null(strstr(b, "<li id=\"error-email\"><strong>Email "
	    "address</strong> must be an email address like "
	    "name@example.com</li>"));
	/* The unknown field's name is escaped, never markup. */
	assert_null(strstr(b, "<script>"));
	assert_non_null(strstr(b, "&lt;script&gt;"));
	assert_non_null(strstr(b, "Error 422"));
	response_free(&r);
}

static void
test_503_no_new(void **state)
{
	struct fixture *f = *state;
	struct response r;

	assert_int_equal(rmdir(f->contact_new), 0);
	post(f, "/contact", good_contact, NULL, &r);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(head_str(&r), "Retry-After: 120\r\n"));
	response_free(&r);
	post(f, "/contact", good_contact, "application/json", &r);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(head_str(&r), "Retry-After: "));
	assert_true(strncmp(body_str(&r), "{\"ok\":false,\"error\":", 20) == 0);
	response_free(&r);
	{
		char *tmp = tu_path(f->dir, "spool/contact/tmp");

		assert_int_equal(tu_count_entries(tmp), 0);
		free(tmp);
	}
	/* The other mailbox still works. */
	post(f, "/order", "name=A&email=a%40b.cd&address=x&item=I&quantity=2",
	    NULL, &r);
	assert_int_equal(r.status, 303);
	assert_int_equal(tu_count_entries(f->orders_new), 1);
	response_free(&r);
}

static void
test_multipart_order(void **state)
{
	struct fixture *f = *state;
	struct response r;
	struct buf body;
	char clen[32], *name, *path, *msg;

	buf_init(&body, 8192);
	assert_int_equal(buf_puts(&body,
	    "--" B "\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n"
	    "Zo\xc3\xab\r\n"
	    "--" B "\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\n"
	    "zoe@example.com\r\n"
	    "--" B "\r\nContent-Disposition: form-data; name=\"address\"\r\n\r\n"
	    "1 Rue\r\nParis\r\n"
	    "--" B "\r\nContent-Disposition: form-data; name=\"item\"\r\n\r\n"
	    "Tea\r\n"
	    "--" B "\r\nContent-Disposition: form-data; name=\"quantity\"\r\n\r\n"
	    "2\r\n"
	    "--" B "\r\nContent-Disposition: form-data; name=\"item\"\r\n\r\n"
	    "\r\n"
	    "--" B "\r\nContent-Disposition: form-data; name=\"quantity\"\r\n\r\n"
	    "\r\n"
	    "--" B "\r\nContent-Disposition: form-data; name=\"extra\"\r\n\r\n"
	    "dropped\r\n"
	    "--" B "\r\nContent-Disposition: form-data; name=\"attachment\"; "
	    "filename=\"list.txt\"\r\nContent-Type: text/plain\r\n\r\n"
	    "Man\r\n"
	    "--" B "--\r\n"), 0);
	snprintf(clen, sizeof(clen), "%zu", body.len);
	serve(f, "POST", "/order", "multipart/form-data; boundary=\"" B "\"",
	    clen, "application/json", body.data, body.len, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(tu_count_entries(f->orders_new), 1);
	name = tu_only_entry(f->orders_new);
	path = tu_path(f->orders_new, name);
	msg = tu_read_file(path, NULL);
	assert_non_null(strstr(msg, "\nSubject: =?UTF-8?B?"));
	assert_non_null(strstr(msg, "Content-Type: text/plain;\n\tname=\"list.txt\""));
	assert_non_null(strstr(msg, "Content-Transfer-Encoding: base64\n\n"
	    "TWFu\n"));
	assert_null(strstr(msg, "dropped"));
	free(msg);
	free(path);
	free(name);
	response_free(&r);
	buf_free(&body);
}

static void
test_multipart_limits(void **state)
{
	struct fixture *f = *state;
	struct response r;
	struct buf body;
	char clen[32];
	size_t i;

	/* Two files against files_max = 1. */
	buf_init(&body, 8192);
	for (i = 0; i < 2; i++)
		assert_int_equal(buf_printf(&body, "--" B "\r\n"
		    "Content-Disposition: form-data; name=\"attachment\"; "
		    "filename=\"f%zu\"\r\n\r\nx\r\n", i), 0);
	assert_int_equal(buf_puts(&body, "--" B "--\r\n"), 0);
	snprintf(clen, sizeof(clen), "%zu", body.len);
	serve(f, "POST", "/order", "multipart/form-data; boundary=" B, clen,
	    "application/json", body.data, body.len, &r);
	assert_int_equal(r.status, 413);
	assert_string_equal(body_str(&r), "{\"ok\":false,\"error\":\"Too many "
	    "files were attached.\"}\n");
	response_free(&r);
	buf_free(&body);
}

static void
test_serialize(void **state)
{
	struct fixture *f = *state;
	struct response r;
	struct buf out;
	char want[256];

	post(f, "/contact", good_contact, NULL, &r);
	assert_int_equal(r.status, 303);
	buf_init(&out, 1 << 20);
	assert_int_equal(response_serialize(&r, &out), 0);
	snprintf(want, sizeof(want), "Status: 303 See Other\r\n"
	    "Content-Type: text/html; charset=utf-8\r\n"
	    "Content-Length: %zu\r\n", r.body.len);
	assert_true(strncmp(out.data, want, strlen(want)) == 0);
	assert_non_null(strstr(out.data, "\r\nCache-Control: no-store\r\n"));
	assert_non_null(strstr(out.data, "\r\nX-Content-Type-Options: "
	    "nosniff\r\n"));
	assert_non_null(strstr(out.data, "\r\nLocation: /thanks.html?id="));
	/* Headers, a blank line, then exactly the body. */
	assert_non_null(strstr(out.data, "\r\n\r\n"));
	assert_string_equal(strstr(out.data, "\r\n\r\n") + 4, r.body.data);
	buf_free(&out);
	response_free(&r);

	/* A fresh response serializes as a 500 with an empty body. */
	response_init(&r);
	buf_init(&out, 1024);
	assert_int_equal(response_serialize(&r, &out), 0);
	assert_string_equal(out.data, "Status: 500 Internal Server Error\r\n"
	    "Content-Length: 0\r\nCache-Control: no-store\r\n"
	    "X-Content-Type-Options: nosniff\r\n\r\n");
	buf_free(&out);
	response_free(&r);
}

static void
test_serialize_statuses(void **state)
{
	static const struct { int status; const char *line; } cases[] = {
		{ 200, "Status: 200 OK\r\n" },
		{ 400, "Status: 400 Bad Request\r\n" },
		{ 404, "Status: 404 Not Found\r\n" },
		{ 405, "Status: 405 Method Not Allowed\r\n" },
		{ 413, "Status: 413 Content Too Large\r\n" },
		{ 415, "Status: 415 Unsupported Media Type\r\n" },
		{ 422, "Status: 422 Unprocessable Content\r\n" },
		{ 503, "Status: 503 Service Unavailable\r\n" },
	};
	struct response r;
	struct buf out;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		response_init(&r);
		r.status = cases[i].status;
		buf_init(&out, 1024);
		assert_int_equal(response_serialize(&r, &out), 0);
		assert_true(strncmp(out.data, cases[i].line,
		    strlen(cases[i].line)) == 0);
		buf_free(&out);
		response_free(&r);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_success_redirect, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_success_json, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_request_uri, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_404, setup, teardown),
		cmocka_unit_test_setup_teardown(test_405, setup, teardown),
		cmocka_unit_test_setup_teardown(test_415, setup, teardown),
		cmocka_unit_test_setup_teardown(test_413, setup, teardown),
		cmocka_unit_test_setup_teardown(test_400, setup, teardown),
		cmocka_unit_test_setup_teardown(test_422_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_422_html, setup, teardown),
		cmocka_unit_test_setup_teardown(test_503_no_new, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_multipart_order, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_multipart_limits, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_serialize, setup,
		    teardown),
		cmocka_unit_test(test_serialize_statuses),
	};

	log_init("test_handler", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
