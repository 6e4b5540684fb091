/*
 * Unit tests for lib/multipart.c and lib/header_param.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "form.h"
#include "util.h"
#include "header_param.h"
#include "multipart.h"

#define B	"XyZzy123"

static const struct form_limits default_limits = {
	.body_max = 1024 * 1024,
	.fields_max = 100,
	.field_max = 16 * 1024,
	.files_max = 4,
	.file_max = 512 * 1024,
};

/* Parse body[0..len) with boundary B. */
static enum parse_status
parse_n(const char *body, size_t len, const struct form_limits *lim,
    struct form_data *fd)
{
	form_data_init(fd);
	return multipart_parse(body, len, B, lim, fd);
}

static enum parse_status
parse(const char *body, struct form_data *fd)
{
	return parse_n(body, strlen(body), &default_limits, fd);
}

static enum parse_status
status_lim(const char *body, const struct form_limits *lim)
{
	struct form_data fd;
	enum parse_status st = parse_n(body, strlen(body), lim, &fd);

	form_data_free(&fd);
	return st;
}

static enum parse_status
status_of(const char *body)
{
	return status_lim(body, &default_limits);
}

static void
check_text(const struct form_data *fd, size_t i, const char *name,
    const char *value, size_t len)
{
	assert_true(i < fd->n);
	assert_string_equal(fd->v[i].name, name);
	assert_int_equal(fd->v[i].len, len);
	assert_memory_equal(fd->v[i].value, value, len);
	assert_null(fd->v[i].filename);
	assert_null(fd->v[i].ctype);
}

/* A file field's content, read back from the spool (malloc'd). */
static unsigned char *
file_content(const struct form_data *fd, size_t i)
{
	struct spool_reader rd;
	unsigned char *p = malloc(fd->v[i].size + 1);
	size_t have = 0;
	ssize_t n;

	assert_non_null(p);
	assert_int_equal(form_file_open(fd, &fd->v[i], &rd), 0);
	while ((n = spool_read(&rd, p + have, fd->v[i].size + 1 - have)) > 0)
		have += (size_t)n;
	assert_int_equal(n, 0);
	assert_int_equal(have, fd->v[i].size);
	spool_reader_close(&rd);
	return p;
}

static void
check_file(const struct form_data *fd, size_t i, const char *name,
    const char *filename, const char *ctype, const char *value, size_t len)
{
	unsigned char *content;
	char sha[65];

	assert_true(i < fd->n);
	assert_string_equal(fd->v[i].name, name);
	assert_non_null(fd->v[i].filename);
	assert_string_equal(fd->v[i].filename, filename);
	assert_non_null(fd->v[i].ctype);
	assert_string_equal(fd->v[i].ctype, ctype);
	assert_int_equal(fd->v[i].size, len);
	assert_int_equal(fd->v[i].len, 0);
	assert_string_equal(fd->v[i].value, "");
	content = file_content(fd, i);
	assert_memory_equal(content, value, len);
	free(content);
	assert_int_equal(sha256_hex(value, len, sha), 0);
	assert_string_equal(fd->v[i].sha256, sha);
}

/* A body of n text parts "fK" = "vK" plus closing delimiter. */
static void
many_parts(struct buf *b, size_t n)
{
	size_t i;

	buf_init(b, 1024 * 1024);
	for (i = 0; i < n; i++)
		assert_int_equal(buf_printf(b, "--" B "\r\nContent-Disposition:"
		    " form-data; name=\"f%zu\"\r\n\r\nv%zu\r\n", i, i), 0);
	assert_int_equal(buf_puts(b, "--" B "--\r\n"), 0);
}

/* A file part named "upload" with len bytes of data. */
static void
file_parts(struct buf *b, size_t nfiles, size_t len)
{
	size_t i, k;

	buf_init(b, 4 * 1024 * 1024);
	for (k = 0; k < nfiles; k++) {
		assert_int_equal(buf_printf(b, "--" B "\r\nContent-Disposition:"
		    " form-data; name=\"up\"; filename=\"f%zu.bin\"\r\n"
		    "Content-Type: application/octet-stream\r\n\r\n", k), 0);
		for (i = 0; i < len; i++)
			assert_int_equal(buf_putc(b, (char)(i & 0xff)), 0);
		assert_int_equal(buf_puts(b, "\r\n"), 0);
	}
	assert_int_equal(buf_puts(b, "--" B "--\r\n"), 0);
}

static void
test_boundary_unquoted(void **state)
{
	char out[80];

	assert_int_equal(multipart_boundary("multipart/form-data; boundary="
	    "----WebKitFormBoundary7MA4YWxkTrZu0gW", out, sizeof(out)), 0);
	assert_string_equal(out, "----WebKitFormBoundary7MA4YWxkTrZu0gW");
	assert_int_equal(multipart_boundary("Multipart/Form-Data;boundary=abc",
	    out, sizeof(out)), 0);
	assert_string_equal(out, "abc");
	assert_int_equal(multipart_boundary("multipart/form-data; charset=utf-8;"
	    " boundary=x1; foo=bar", out, sizeof(out)), 0);
	assert_string_equal(out, "x1");
	assert_int_equal(multipart_boundary("multipart/form-data; "
	    "BOUNDARY=CaseKept", out, sizeof(out)), 0);
	assert_string_equal(out, "CaseKept");
}

static void
test_boundary_quoted(void **state)
{
	char out[80];

	assert_int_equal(multipart_boundary("multipart/form-data; boundary="
	    "\"quoted boundary:with=specials\"", out, sizeof(out)), 0);
	assert_string_equal(out, "quoted boundary:with=specials");
	/* A quote is not one of RFC 2046's bchars. */
	assert_int_equal(multipart_boundary("multipart/form-data; boundary="
	    "\"a\\\"b\"", out, sizeof(out)), -1);
}

static void
test_boundary_rejects(void **state)
{
	char out[80], ctype[200];

	assert_int_equal(multipart_boundary("multipart/mixed; boundary=abc",
	    out, sizeof(out)), -1);
	assert_int_equal(multipart_boundary("application/x-www-form-urlencoded",
	    out, sizeof(out)), -1);
	assert_int_equal(multipart_boundary("text/plain; boundary=abc",
	    out, sizeof(out)), -1);
	assert_int_equal(multipart_boundary("multipart/form-data", out,
	    sizeof(out)), -1);
	assert_int_equal(multipart_boundary("multipart/form-data; charset=x",
	    out, sizeof(out)), -1);
	assert_int_equal(multipart_boundary("multipart/form-data; boundary=",
	    out, sizeof(out)), -1);
	assert_int_equal(multipart_boundary("multipart/form-data; boundary=\"\"",
	    out, sizeof(out)), -1);
	assert_int_equal(multipart_boundary("multipart/form-data; boundary=\"ab \"",
	    out, sizeof(out)), -1);
	assert_int_equal(multipart_boundary("", out, sizeof(out)), -1);
	assert_int_equal(multipart_boundary("multipart/form-data; boundary=\"abc",
	    out, sizeof(out)), -1);
	/* 70 characters are fine, 71 are not. */
	snprintf(ctype, sizeof(ctype), "multipart/form-data; boundary=%.70s",
	    "0123456789012345678901234567890123456789012345678901234567890123456789XYZ");
	assert_int_equal(multipart_boundary(ctype, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), 70);
	snprintf(ctype, sizeof(ctype), "multipart/form-data; boundary=%.71s",
	    "0123456789012345678901234567890123456789012345678901234567890123456789XYZ");
	assert_int_equal(multipart_boundary(ctype, out, sizeof(out)), -1);
	snprintf(ctype, sizeof(ctype), "multipart/form-data; boundary=\"%.73s\"",
	    "0123456789012345678901234567890123456789012345678901234567890123456789XYZ");
	assert_int_equal(multipart_boundary(ctype, out, sizeof(out)), -1);
	/* Too small an output buffer is an error, not a truncation. */
	assert_int_equal(multipart_boundary("multipart/form-data; boundary=abcd",
	    out, 4), -1);
}

static void
test_header_param(void **state)
{
	const char *p = "  Form-Data ; Name=\"a;b\" ;filename=C:\\x";
	char tok[32], name[32], value[32];

	assert_int_equal(header_value_token(&p, tok, sizeof(tok)), 0);
	assert_string_equal(tok, "form-data");
	assert_int_equal(header_param_next(&p, QUOTING_HTML, name,
	    sizeof(name), value, sizeof(value)), 1);
	assert_string_equal(name, "name");
	assert_string_equal(value, "a;b");
	/* Unquoted "C:\x" stops at the token specials. */
	assert_int_equal(header_param_next(&p, QUOTING_HTML, name,
	    sizeof(name), value, sizeof(value)), 1);
	assert_string_equal(name, "filename");
	assert_string_equal(value, "C");
	assert_int_equal(header_param_next(&p, QUOTING_HTML, name,
	    sizeof(name), value, sizeof(value)), -1);

	p = "form-data; filename=\"C:\\dir\\f.txt\"";
	assert_int_equal(header_value_token(&p, tok, sizeof(tok)), 0);
	assert_int_equal(header_param_next(&p, QUOTING_HTML, name,
	    sizeof(name), value, sizeof(value)), 1);
	assert_string_equal(value, "C:\\dir\\f.txt");
	assert_int_equal(header_param_next(&p, QUOTING_HTML, name,
	    sizeof(name), value, sizeof(value)), 0);

	p = "x; a=\"q\\\"z\";";
	assert_int_equal(header_value_token(&p, tok, sizeof(tok)), 0);
	assert_int_equal(header_param_next(&p, QUOTING_RFC, name,
	    sizeof(name), value, sizeof(value)), 1);
	assert_string_equal(value, "q\"z");
	assert_int_equal(header_param_next(&p, QUOTING_RFC, name,
	    sizeof(name), value, sizeof(value)), 0);

	p = "";
	assert_int_equal(header_value_token(&p, tok, sizeof(tok)), -1);
	p = "x; =v";
	assert_int_equal(header_value_token(&p, tok, sizeof(tok)), 0);
	assert_int_equal(header_param_next(&p, QUOTING_RFC, name,
	    sizeof(name), value, sizeof(value)), -1);
}

static void
test_simple_fields(void **state)
{
	struct form_data fd;
	const char *body =
	    "--" B "\r\n"
	    "Content-Disposition: form-data; name=\"name\"\r\n"
	    "\r\n"
	    "Ann Example\r\n"
	    "--" B "\r\n"
	    "content-disposition: form-data; name=\"message\"\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "\r\n"
	    "line 1\r\nline 2\r\n"
	    "--" B "\r\n"
	    "Content-Disposition: form-data; name=empty\r\n"
	    "\r\n"
	    "\r\n"
	    "--" B "--\r\n";

	assert_int_equal(parse(body, &fd), PARSE_OK);
	assert_int_equal(fd.n, 3);
	assert_int_equal(fd.nfiles, 0);
	check_text(&fd, 0, "name", "Ann Example", 11);
	check_text(&fd, 1, "message", "line 1\r\nline 2", 14);
	check_text(&fd, 2, "empty", "", 0);
	form_data_free(&fd);
}

static void
test_empty_value_shared_crlf(void **state)
{
	struct form_data fd;
	/* An empty part whose delimiter follows the header block's CRLF
	 * directly: "...\r\n\r\n--B". */
	const char *body =
	    "--" B "\r\n"
	    "Content-Disposition: form-data; name=\"a\"\r\n"
	    "\r\n"
	    "--" B "\r\n"
	    "Content-Disposition: form-data; name=\"b\"\r\n"
	    "\r\n"
	    "x\r\n"
	    "--" B "--";

	assert_int_equal(parse(body, &fd), PARSE_OK);
	assert_int_equal(fd.n, 2);
	check_text(&fd, 0, "a", "", 0);
	check_text(&fd, 1, "b", "x", 1);
	form_data_free(&fd);
}

static void
test_file_part(void **state)
{
	struct form_data fd;
	const char body[] =
	    "--" B "\r\n"
	    "Content-Disposition: form-data; name=\"attachment\"; "
	    "filename=\"report.pdf\"\r\n"
	    "Content-Type: Application/PDF\r\n"
	    "\r\n"
	    "%PDF\x00\xff\xfe\r\n\x01"
	    "\r\n"
	    "--" B "--\r\n";

	assert_int_equal(parse_n(body, sizeof(body) - 1, &default_limits, &fd),
	    PARSE_OK);
	assert_int_equal(fd.n, 1);
	assert_int_equal(fd.nfiles, 1);
	check_file(&fd, 0, "attachment", "report.pdf", "application/pdf",
	    "%PDF\x00\xff\xfe\r\n\x01", 10);
	form_data_free(&fd);
}

static void
test_file_no_ctype(void **state)
{
	struct form_data fd;
	const char *body =
	    "--" B "\r\n"
	    "Content-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n"
	    "\r\n"
	    "hello\r\n"
	    "--" B "--\r\n";

	assert_int_equal(parse(body, &fd), PARSE_OK);
	check_file(&fd, 0, "f", "a.txt", "application/octet-stream", "hello",
	    5);
	form_data_free(&fd);
}

static void
test_file_ctype_junk(void **state)
{
	static const char *const junk[] = {
		"junk", "/x", "x/", "a/b/c", "", "multipart/mixed",
		"message/rfc822", "Multipart/Form-Data", "text/(plain)", "text/pla,in", "\"a/b\"",
	};
	char body[512];
	struct form_data fd;
	size_t i;

	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		snprintf(body, sizeof(body), "--" B "\r\n"
		    "Content-Disposition: form-data; name=\"f\"; "
		    "filename=\"a\"\r\n"
		    "Content-Type: %s\r\n\r\nd\r\n--" B "--\r\n", junk[i]);
		assert_int_equal(parse(body, &fd), PARSE_OK);
		assert_int_equal(fd.n, 1);
		assert_string_equal(fd.v[0].ctype, "application/octet-stream");
		form_data_free(&fd);
	}
	/* A good type keeps only type/subtype, lowered. */
	snprintf(body, sizeof(body), "--" B "\r\n"
	    "Content-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n"
	    "Content-Type: Text/CSV; charset=\"utf-8\"\r\n\r\nd\r\n--" B "--\r\n");
	assert_int_equal(parse(body, &fd), PARSE_OK);
	assert_string_equal(fd.v[0].ctype, "text/csv");
	form_data_free(&fd);
}

static void
test_filename_ext(void **state)
{
	struct form_data fd;
	const char *body =
	    "--" B "\r\n"
	    "Content-Disposition: form-data; name=\"f\"; filename=\"fallback.txt\";"
	    " filename*=UTF-8''%C3%A9t%c3%a9%20%E2%82%AC.txt\r\n"
	    "\r\n"
	    "x\r\n"
	    "--" B "--\r\n";

	assert_int_equal(parse(body, &fd), PARSE_OK);
	assert_int_equal(fd.n, 1);
	assert_string_equal(fd.v[0].filename,
	    "\xc3\xa9t\xc3\xa9 \xe2\x82\xac.txt");
	form_data_free(&fd);

	/* A language tag is allowed; another charset is not. */
	body = "--" B "\r\nContent-Disposition: form-data; name=\"f\"; "
	    "filename*=utf-8'en'a%20b\r\n\r\nx\r\n--" B "--\r\n";
	assert_int_equal(parse(body, &fd), PARSE_OK);
	assert_string_equal(fd.v[0].filename, "a b");
	form_data_free(&fd);
	assert_int_equal(status_of("--" B "\r\nContent-Disposition: form-data; "
	    "name=\"f\"; filename*=iso-8859-1''%E9\r\n\r\nx\r\n--" B "--\r\n"),
	    PARSE_MALFORMED);
	assert_int_equal(status_of("--" B "\r\nContent-Disposition: form-data; "
	    "name=\"f\"; filename*=utf-8''%E\r\n\r\nx\r\n--" B "--\r\n"),
	    PARSE_MALFORMED);
	/* A NUL would cut the name: "a.txt%00.exe". */
	assert_int_equal(status_of("--" B "\r\nContent-Disposition: form-data; "
	    "name=\"f\"; filename*=utf-8''a.exe%00.txt\r\n\r\nx\r\n--" B
	    "--\r\n"), PARSE_MALFORMED);
	assert_int_equal(status_of("--" B "\r\nContent-Disposition: form-data; "
	    "name=\"f\"; filename*=utf-8''%FF\r\n\r\nx\r\n--" B "--\r\n"),
	    PARSE_BAD_UTF8);
}

/* A parameter sent twice is refused: which one counts is ambiguous. */
static void
test_disposition_param_twice(void **state)
{
	static const char *const dispositions[] = {
		"name=\"subj\"; name=\"name\"",
		"name=\"f\"; filename=\"a.txt\"; filename=\"b.exe\"",
		"name=\"f\"; filename*=utf-8''a; filename*=utf-8''b",
	};
	char body[256];
	size_t i;

	for (i = 0; i < sizeof(dispositions) / sizeof(dispositions[0]); i++) {
		snprintf(body, sizeof(body), "--" B "\r\nContent-Disposition: "
		    "form-data; %s\r\n\r\nx\r\n--" B "--\r\n",
		    dispositions[i]);
		assert_int_equal(status_of(body), PARSE_MALFORMED);
	}
	/* filename and filename* together are the standard fallback. */
	assert_int_equal(status_of("--" B "\r\nContent-Disposition: form-data; "
	    "name=\"f\"; filename=\"a.txt\"; filename*=utf-8''a.txt\r\n\r\n"
	    "x\r\n--" B "--\r\n"), PARSE_OK);
}

static void
test_filename_paths(void **state)
{
	static const struct { const char *sent, *kept; } cases[] = {
		{ "C:\\x\\y.txt", "y.txt" },
		{ "a/b.txt", "b.txt" },
		{ "/etc/passwd", "passwd" },
		{ "..\\..\\evil.sh", "evil.sh" },
		{ "plain.txt", "plain.txt" },
		{ "dir/", "upload" },
		{ "..", "upload" },
		{ "x/..", "upload" },
		{ "tab\there", "tab_here" },
		/* hidden characters that would disguise the name */
		{ "invoice\xe2\x80\xae" "fdp.exe", "invoice_fdp.exe" },
		{ "a\xe2\x80\x8b" "b\xe2\x81\xa6" "c\xef\xbb\xbf" "d",
		  "a_b_c_d" },
		{ "x\xc2\x85" "y\xd8\x9c" "z", "x_y_z" },
		{ "a\xc2\xad" "b\xe1\xa0\x8e" "c\xf3\xa0\x80\x81" "d",
		  "a_b_c_d" },
		/* visible non-ASCII stays */
		{ "r\xc3\xa9sum\xc3\xa9 \xe2\x82\xac.pdf",
		  "r\xc3\xa9sum\xc3\xa9 \xe2\x82\xac.pdf" },
	};
	char body[512];
	struct form_data fd;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(body, sizeof(body), "--" B "\r\n"
		    "Content-Disposition: form-data; name=\"f\"; "
		    "filename=\"%s\"\r\n\r\ndata\r\n--" B "--\r\n",
		    cases[i].sent);
		assert_int_equal(parse(body, &fd), PARSE_OK);
		assert_int_equal(fd.n, 1);
		assert_string_equal(fd.v[0].filename, cases[i].kept);
		form_data_free(&fd);
	}
}

/* The file name kept for a part sent with filename="sent". */
static void
check_kept_name(const char *sent, const char *kept)
{
	struct buf body;
	struct form_data fd;

	buf_init(&body, 1 << 16);
	assert_int_equal(buf_printf(&body, "--" B "\r\nContent-Disposition: "
	    "form-data; name=\"f\"; filename=\"%s\"\r\n\r\ndata\r\n--" B
	    "--\r\n", sent), 0);
	assert_int_equal(parse_n(body.data, body.len, &default_limits, &fd),
	    PARSE_OK);
	assert_int_equal(fd.n, 1);
	assert_string_equal(fd.v[0].filename, kept);
	form_data_free(&fd);
	buf_free(&body);
}

/*
 * A name over 255 bytes is cut at a character, its extension kept; it
 * used to refuse the whole submission (413).
 */
static void
test_filename_long(void **state)
{
	char sent[1100], kept[300];
	size_t i;

	/* 86 CJK characters (258 bytes) + ".pdf": 85 - 2 kept + ".pdf" */
	for (sent[0] = '\0', i = 0; i < 86; i++)
		strcat(sent, "\xe6\x96\x87");
	strcat(sent, ".pdf");
	for (kept[0] = '\0', i = 0; i < 83; i++)
		strcat(kept, "\xe6\x96\x87");
	strcat(kept, ".pdf");
	check_kept_name(sent, kept);
	/* A whole Windows path of 290 bytes: the folders go first. */
	memset(sent, 'd', 290);
	memcpy(sent, "C:\\", 3);
	strcpy(sent + 290, "\\cv.pdf");
	check_kept_name(sent, "cv.pdf");
	/* No extension, or one too long to keep (299 bytes): cut at 255. */
	memset(sent, 'a', 400);
	sent[400] = '\0';
	memset(kept, 'a', 255);
	kept[255] = '\0';
	check_kept_name(sent, kept);
	sent[100] = '.';
	kept[100] = '.';
	check_kept_name(sent, kept);
	/* Past what is kept as sent (1,024 bytes): refused as too long. */
	memset(sent, 'a', 1025);
	sent[1025] = '\0';
	{
		struct buf body;

		buf_init(&body, 1 << 16);
		assert_int_equal(buf_printf(&body, "--" B "\r\n"
		    "Content-Disposition: form-data; name=\"f\"; "
		    "filename=\"%s\"\r\n\r\nx\r\n--" B "--\r\n", sent), 0);
		assert_int_equal(status_of(body.data), PARSE_FIELD_TOO_LONG);
		buf_free(&body);
	}
}

/* One text part "a" = "K=C3=B6ln" sent with Content-Transfer-Encoding cte. */
static void
part_with_cte(char *body, size_t bodysz, const char *cte)
{
	snprintf(body, bodysz, "--" B "\r\nContent-Disposition: form-data; "
	    "name=\"a\"\r\nContent-Transfer-Encoding: %s\r\n\r\nK=C3=B6ln"
	    "\r\n--" B "--\r\n", cte);
}

/* RFC 7578 4.7: a part's transfer encoding may only be the identity. */
static void
test_transfer_encoding(void **state)
{
	static const char *ok[] = { "7bit", "8bit", "binary", "BINARY" };
	static const char *bad[] = { "quoted-printable", "base64", "x-gzip",
	    "" };
	char body[512];
	struct form_data fd;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		part_with_cte(body, sizeof(body), ok[i]);
		assert_int_equal(parse(body, &fd), PARSE_OK);
		check_text(&fd, 0, "a", "K=C3=B6ln", 9);
		form_data_free(&fd);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		part_with_cte(body, sizeof(body), bad[i]);
		assert_int_equal(status_of(body), PARSE_MALFORMED);
	}
}

static void
test_empty_file_input(void **state)
{
	struct form_data fd;
	const char *body =
	    "--" B "\r\n"
	    "Content-Disposition: form-data; name=\"name\"\r\n\r\nAnn\r\n"
	    "--" B "\r\n"
	    "Content-Disposition: form-data; name=\"attachment\"; filename=\"\"\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "\r\n"
	    "\r\n"
	    "--" B "--\r\n";

	assert_int_equal(parse(body, &fd), PARSE_OK);
	assert_int_equal(fd.n, 1);
	assert_int_equal(fd.nfiles, 0);
	check_text(&fd, 0, "name", "Ann", 3);
	form_data_free(&fd);
}

static void
test_empty_named_file_kept(void **state)
{
	struct form_data fd;
	const char *body =
	    "--" B "\r\n"
	    "Content-Disposition: form-data; name=\"a\"; filename=\"zero.txt\"\r\n"
	    "\r\n"
	    "\r\n"
	    "--" B "--\r\n";

	assert_int_equal(parse(body, &fd), PARSE_OK);
	assert_int_equal(fd.n, 1);
	assert_int_equal(fd.nfiles, 1);
	check_file(&fd, 0, "a", "zero.txt", "application/octet-stream", "", 0);
	form_data_free(&fd);
}

static void
test_boundary_inside_data(void **state)
{
	struct form_data fd;
	/* The boundary string not after CRLF, and after CRLF followed by
	 * something other than '-', WSP or CR: both are data. */
	const char *body =
	    "--" B "\r\n"
	    "Content-Disposition: form-data; name=\"a\"\r\n"
	    "\r\n"
	    "x--" B "y\r\n--" B "X\r\n--" B "-z\r\n--" B " z\r\n-"
	    "\r\n"
	    "--" B "--\r\n";
	const char *want = "x--" B "y\r\n--" B "X\r\n--" B "-z\r\n--" B " z\r\n-";

	assert_int_equal(parse(body, &fd), PARSE_OK);
	assert_int_equal(fd.n, 1);
	check_text(&fd, 0, "a", want, strlen(want));
	form_data_free(&fd);
}

static void
test_delimiter_transport_padding(void **state)
{
	struct form_data fd;
	const char *body =
	    "--" B " \t\r\n"
	    "Content-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n"
	    "--" B "\t\r\n"
	    "Content-Disposition: form-data; name=\"b\"\r\n\r\n2\r\n"
	    "--" B "--";

	assert_int_equal(parse(body, &fd), PARSE_OK);
	assert_int_equal(fd.n, 2);
	check_text(&fd, 0, "a", "1", 1);
	check_text(&fd, 1, "b", "2", 1);
	form_data_free(&fd);
}

/* Up to 64 padding characters; more are refused, never taken as data
 * (which would drop the first part or merge two). */
static void
test_delimiter_padding_limit(void **state)
{
	struct form_data fd;
	char body[512], pad[80];
	size_t k;

	for (k = 62; k <= 66; k++) {
		memset(pad, ' ', k);
		pad[k] = '\0';
		snprintf(body, sizeof(body), "--" B "%s\r\nContent-Disposition:"
		    " form-data; name=\"a\"\r\n\r\nv\r\n--" B "%s\r\n"
		    "Content-Disposition: form-data; name=\"b\"\r\n\r\nw\r\n"
		    "--" B "--", pad, pad);
		if (k <= 64) {
			assert_int_equal(parse(body, &fd), PARSE_OK);
			assert_int_equal(fd.n, 2);
			check_text(&fd, 0, "a", "v", 1);
			check_text(&fd, 1, "b", "w", 1);
		} else
			assert_int_equal(parse(body, &fd), PARSE_MALFORMED);
		form_data_free(&fd);
	}
}

static void
test_truncated(void **state)
{
	assert_int_equal(status_of("--" B "\r\n"
	    "Content-Disposition: form-data; name=\"a\"\r\n\r\nvalue"),
	    PARSE_MALFORMED);
	assert_int_equal(status_of("--" B "\r\n"
	    "Content-Disposition: form-data; name=\"a\"\r\n\r\nvalue\r\n--" B),
	    PARSE_MALFORMED);
	assert_int_equal(status_of("--" B "\r\n"
	    "Content-Disposition: form-data; name=\"a\"\r\n\r\nvalue\r\n--" B
	    "\r\n"), PARSE_MALFORMED);
	assert_int_equal(status_of("--" B "\r\n"
	    "Content-Disposition: form-data; name=\"a\""), PARSE_MALFORMED);
	assert_int_equal(status_of("--" B), PARSE_MALFORMED);
	assert_int_equal(status_of(""), PARSE_MALFORMED);
	assert_int_equal(status_of("no delimiter at all"), PARSE_MALFORMED);
	assert_int_equal(status_of("--" B "junk\r\n"), PARSE_MALFORMED);
}

static void
test_bad_headers(void **state)
{
	/* No Content-Disposition. */
	assert_int_equal(status_of("--" B "\r\nContent-Type: text/plain\r\n\r\n"
	    "x\r\n--" B "--\r\n"), PARSE_MALFORMED);
	/* Not form-data, no name, empty name, twice. */
	assert_int_equal(status_of("--" B "\r\nContent-Disposition: attachment;"
	    " name=\"a\"\r\n\r\nx\r\n--" B "--\r\n"), PARSE_MALFORMED);
	assert_int_equal(status_of("--" B "\r\nContent-Disposition: form-data"
	    "\r\n\r\nx\r\n--" B "--\r\n"), PARSE_MALFORMED);
	assert_int_equal(status_of("--" B "\r\nContent-Disposition: form-data;"
	    " name=\"\"\r\n\r\nx\r\n--" B "--\r\n"), PARSE_MALFORMED);
	assert_int_equal(status_of("--" B "\r\nContent-Disposition: form-data;"
	    " name=a\r\nContent-Disposition: form-data; name=b\r\n\r\nx\r\n--"
	    B "--\r\n"), PARSE_MALFORMED);
	/* A header line without a colon, a bare LF in the headers. */
	assert_int_equal(status_of("--" B "\r\nContent-Disposition: form-data;"
	    " name=a\r\nbogus\r\n\r\nx\r\n--" B "--\r\n"), PARSE_MALFORMED);
	assert_int_equal(status_of("--" B "\r\nContent-Disposition: form-data;"
	    " name=a\nX: y\r\n\r\nx\r\n--" B "--\r\n"), PARSE_MALFORMED);
	/* Unterminated quoted name. */
	assert_int_equal(status_of("--" B "\r\nContent-Disposition: form-data;"
	    " name=\"a\r\n\r\nx\r\n--" B "--\r\n"), PARSE_MALFORMED);
	/* Invalid UTF-8 in a name. */
	assert_int_equal(status_of("--" B "\r\nContent-Disposition: form-data;"
	    " name=\"\xff\"\r\n\r\nx\r\n--" B "--\r\n"), PARSE_BAD_UTF8);
}

static void
test_preamble_epilogue(void **state)
{
	struct form_data fd;
	const char *body =
	    "This is a preamble.\r\nIt is ignored.\r\n"
	    "--" B "\r\n"
	    "Content-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n"
	    "--" B "--\r\n"
	    "Epilogue, also ignored, even with\r\n--" B "\r\n"
	    "Content-Disposition: form-data; name=\"b\"\r\n\r\n2\r\n";

	assert_int_equal(parse(body, &fd), PARSE_OK);
	assert_int_equal(fd.n, 1);
	check_text(&fd, 0, "a", "1", 1);
	form_data_free(&fd);
}

static void
test_no_parts(void **state)
{
	struct form_data fd;

	assert_int_equal(parse("--" B "--\r\n", &fd), PARSE_OK);
	assert_int_equal(fd.n, 0);
	form_data_free(&fd);
}

static void
test_name_encoding(void **state)
{
	struct form_data fd;
	/* HTML quoting: a backslash is literal; UTF-8 names are fine. */
	const char *body =
	    "--" B "\r\n"
	    "Content-Disposition: form-data; name=\"pr\xc3\xa9nom\"\r\n\r\n"
	    "Zo\xc3\xab\r\n"
	    "--" B "\r\n"
	    "Content-Disposition: form-data; name=\"a\\b\"\r\n\r\nv\r\n"
	    "--" B "--\r\n";

	assert_int_equal(parse(body, &fd), PARSE_OK);
	assert_int_equal(fd.n, 2);
	check_text(&fd, 0, "pr\xc3\xa9nom", "Zo\xc3\xab", 4);
	check_text(&fd, 1, "a\\b", "v", 1);
	form_data_free(&fd);
}

static void
test_bad_utf8_text_vs_file(void **state)
{
	struct form_data fd;
	const char text[] = "--" B "\r\n"
	    "Content-Disposition: form-data; name=\"a\"\r\n\r\n"
	    "\xc3\x28\r\n--" B "--\r\n";
	const char file[] = "--" B "\r\n"
	    "Content-Disposition: form-data; name=\"a\"; filename=\"b.bin\"\r\n"
	    "\r\n\xc3\x28\xff\x00\r\n--" B "--\r\n";

	assert_int_equal(parse_n(text, sizeof(text) - 1, &default_limits, &fd),
	    PARSE_BAD_UTF8);
	form_data_free(&fd);
	assert_int_equal(parse_n(file, sizeof(file) - 1, &default_limits, &fd),
	    PARSE_OK);
	check_file(&fd, 0, "a", "b.bin", "application/octet-stream",
	    "\xc3\x28\xff\x00", 4);
	form_data_free(&fd);
}

static void
test_nul_in_text_value(void **state)
{
	struct form_data fd;
	const char text[] = "--" B "\r\n"
	    "Content-Disposition: form-data; name=\"a\"\r\n\r\n"
	    "x\0y\r\n--" B "--\r\n";

	/* Kept: validation rejects it with a reason. */
	assert_int_equal(parse_n(text, sizeof(text) - 1, &default_limits, &fd),
	    PARSE_OK);
	check_text(&fd, 0, "a", "x\0y", 3);
	form_data_free(&fd);
}

static void
test_limit_fields_max(void **state)
{
	struct form_limits lim = default_limits;
	struct form_data fd;
	struct buf b;

	lim.fields_max = 3;
	many_parts(&b, 3);
	assert_int_equal(parse_n(b.data, b.len, &lim, &fd), PARSE_OK);
	assert_int_equal(fd.n, 3);
	check_text(&fd, 2, "f2", "v2", 2);
	form_data_free(&fd);
	buf_free(&b);
	many_parts(&b, 4);
	assert_int_equal(parse_n(b.data, b.len, &lim, &fd),
	    PARSE_TOO_MANY_FIELDS);
	form_data_free(&fd);
	buf_free(&b);
	/* Many parts against a small limit. */
	many_parts(&b, 5000);
	assert_int_equal(parse_n(b.data, b.len, &lim, &fd),
	    PARSE_TOO_MANY_FIELDS);
	assert_true(fd.n <= 3);
	form_data_free(&fd);
	buf_free(&b);
}

static void
test_limit_field_max(void **state)
{
	struct form_limits lim = default_limits;
	char body[256];

	lim.field_max = 5;
	snprintf(body, sizeof(body), "--" B "\r\nContent-Disposition: "
	    "form-data; name=\"a\"\r\n\r\n12345\r\n--" B "--\r\n");
	assert_int_equal(status_lim(body, &lim), PARSE_OK);
	snprintf(body, sizeof(body), "--" B "\r\nContent-Disposition: "
	    "form-data; name=\"a\"\r\n\r\n123456\r\n--" B "--\r\n");
	assert_int_equal(status_lim(body, &lim), PARSE_FIELD_TOO_LONG);
	/* field_max does not apply to files. */
	snprintf(body, sizeof(body), "--" B "\r\nContent-Disposition: "
	    "form-data; name=\"a\"; filename=\"f\"\r\n\r\n123456\r\n--" B
	    "--\r\n");
	assert_int_equal(status_lim(body, &lim), PARSE_OK);
}

static void
test_limit_name_max(void **state)
{
	char body[512], name[200];

	memset(name, 'n', 128);
	name[128] = '\0';
	snprintf(body, sizeof(body), "--" B "\r\nContent-Disposition: "
	    "form-data; name=\"%s\"\r\n\r\nx\r\n--" B "--\r\n", name);
	assert_int_equal(status_of(body), PARSE_OK);
	memset(name, 'n', 129);
	name[129] = '\0';
	snprintf(body, sizeof(body), "--" B "\r\nContent-Disposition: "
	    "form-data; name=\"%s\"\r\n\r\nx\r\n--" B "--\r\n", name);
	assert_int_equal(status_of(body), PARSE_FIELD_TOO_LONG);
}

static void
test_limit_files(void **state)
{
	unsigned char *content;
	struct form_limits lim = default_limits;
	struct form_data fd;
	struct buf b;

	lim.files_max = 2;
	lim.file_max = 100;
	file_parts(&b, 2, 100);
	assert_int_equal(parse_n(b.data, b.len, &lim, &fd), PARSE_OK);
	assert_int_equal(fd.nfiles, 2);
	assert_int_equal(fd.v[1].size, 100);
	content = file_content(&fd, 1);
	assert_int_equal(content[99], 99);
	free(content);
	assert_string_equal(fd.v[1].filename, "f1.bin");
	form_data_free(&fd);
	buf_free(&b);

	file_parts(&b, 3, 10);
	assert_int_equal(parse_n(b.data, b.len, &lim, &fd),
	    PARSE_TOO_MANY_FILES);
	form_data_free(&fd);
	buf_free(&b);

	file_parts(&b, 1, 101);
	assert_int_equal(parse_n(b.data, b.len, &lim, &fd),
	    PARSE_FILE_TOO_LARGE);
	form_data_free(&fd);
	buf_free(&b);

	lim.files_max = 0;
	file_parts(&b, 1, 1);
	assert_int_equal(parse_n(b.data, b.len, &lim, &fd),
	    PARSE_TOO_MANY_FILES);
	form_data_free(&fd);
	buf_free(&b);
}

static void
test_bad_boundary_arg(void **state)
{
	struct form_data fd;
	char longb[80];

	form_data_init(&fd);
	assert_int_equal(multipart_parse("--\r\n", 4, "", &default_limits, &fd),
	    PARSE_MALFORMED);
	memset(longb, 'b', 71);
	longb[71] = '\0';
	assert_int_equal(multipart_parse("x", 1, longb, &default_limits, &fd),
	    PARSE_MALFORMED);
	form_data_free(&fd);
}

static void
test_max_boundary(void **state)
{
	struct form_data fd;
	struct buf b;
	char bnd[71];

	memset(bnd, 'q', 70);
	bnd[70] = '\0';
	buf_init(&b, 4096);
	assert_int_equal(buf_printf(&b, "--%s\r\nContent-Disposition: "
	    "form-data; name=\"a\"\r\n\r\nv\r\n--%s--\r\n", bnd, bnd), 0);
	form_data_init(&fd);
	assert_int_equal(multipart_parse(b.data, b.len, bnd, &default_limits,
	    &fd), PARSE_OK);
	check_text(&fd, 0, "a", "v", 1);
	form_data_free(&fd);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boundary_unquoted),
		cmocka_unit_test(test_boundary_quoted),
		cmocka_unit_test(test_boundary_rejects),
		cmocka_unit_test(test_header_param),
		cmocka_unit_test(test_simple_fields),
		cmocka_unit_test(test_empty_value_shared_crlf),
		cmocka_unit_test(test_file_part),
		cmocka_unit_test(test_file_no_ctype),
		cmocka_unit_test(test_file_ctype_junk),
		cmocka_unit_test(test_filename_ext),
		cmocka_unit_test(test_filename_paths),
		cmocka_unit_test(test_filename_long),
		cmocka_unit_test(test_transfer_encoding),
		cmocka_unit_test(test_disposition_param_twice),
		cmocka_unit_test(test_empty_file_input),
		cmocka_unit_test(test_empty_named_file_kept),
		cmocka_unit_test(test_boundary_inside_data),
		cmocka_unit_test(test_delimiter_transport_padding),
		cmocka_unit_test(test_delimiter_padding_limit),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_preamble_epilogue),
		cmocka_unit_test(test_no_parts),
		cmocka_unit_test(test_name_encoding),
		cmocka_unit_test(test_bad_utf8_text_vs_file),
		cmocka_unit_test(test_nul_in_text_value),
		cmocka_unit_test(test_limit_fields_max),
		cmocka_unit_test(test_limit_field_max),
		cmocka_unit_test(test_limit_name_max),
		cmocka_unit_test(test_limit_files),
		cmocka_unit_test(test_bad_boundary_arg),
		cmocka_unit_test(test_max_boundary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
