/*
 * Message composition for the handler worker.  See mime.h.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "bio_filters.h"
#include "encode.h"
#include "json.h"
#include "bounds.h"
#include "mime.h"
#include "util.h"
#include "validate.h"

#define BOUNDARY_RANDOM	12

int
submission_make_id(struct submission *s)
{
	char rnd[9], stamp[16];
	struct tm tm;

	if (gmtime_r(&s->received, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm) == 0 ||
	    random_hex(rnd, 4) == -1)
		return -1;
	snprintf(s->id, sizeof(s->id), "%s-%s", stamp, rnd);
	return 0;
}

static int
rfc5322_date(time_t t, char *out, size_t outsz)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, outsz, "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0)
		return -1;
	return 0;
}

static long
sub_count(const void *arg, const char *name)
{
	const struct submission *s = arg;

	if (formdef_is_builtin(name))
		return 1;
	if (formdef_field(s->def, name) == NULL)
		return -1;
	return (long)form_data_count(s->data, name);
}

static void
sub_value(const void *arg, const char *name, size_t i, const char **v, size_t *len)
{
	const struct submission *s = arg;
	static char date[64];
	const struct field *f;

	if (strcmp(name, "id") == 0)
		*v = s->id;
	else if (strcmp(name, "form") == 0)
		*v = s->def->name;
	else if (strcmp(name, "client") == 0)
		*v = s->client;
	else if (strcmp(name, "date") == 0) {
		if (rfc5322_date(s->received, date, sizeof(date)) == -1)
			date[0] = '\0';
		*v = date;
	} else {
		f = &s->data->v[form_data_find(s->data, name, i)];
		/* A file shows as its name; its bytes are an attachment. */
		*v = f->filename != NULL ? f->filename : f->value;
		*len = f->filename != NULL ? strlen(f->filename) : f->len;
		return;
	}
	*len = strlen(*v);
}

void
submission_vars(const struct submission *s, struct tpl_vars *vars)
{
	vars->count = sub_count;
	vars->value = sub_value;
	vars->arg = s;
}

static int
json_fields(const struct submission *s, struct buf *b)
{
	const struct fielddef *fd;
	const struct field *f;
	size_t i, k, n, shown = 0;

	if (buf_puts(b, "\"fields\":{") == -1)
		return -1;
	for (i = 0; i < s->def->nfields; i++) {
		fd = &s->def->fields[i];
		if (fd->type == FT_FILE ||
		    (n = form_data_count(s->data, fd->name)) == 0)
			continue;
		if ((shown++ > 0 && buf_putc(b, ',') == -1) ||
		    json_cstring(b, fd->name) == -1 || buf_putc(b, ':') == -1)
			return -1;
		/* Repeatable fields are always arrays, so readers need not
		 * guess from the count. */
		if (fd->repeat > 1 && buf_putc(b, '[') == -1)
			return -1;
		for (k = 0; k < n; k++) {
			f = &s->data->v[form_data_find(s->data, fd->name, k)];
			if ((k > 0 && buf_putc(b, ',') == -1) ||
			    json_string(b, f->value, f->len) == -1)
				return -1;
		}
		if (fd->repeat > 1 && buf_putc(b, ']') == -1)
			return -1;
	}
	return buf_putc(b, '}');
}

static int
json_files(const struct submission *s, struct buf *b)
{
	const struct field *f;
	size_t i, shown = 0;

	if (buf_puts(b, "\"files\":[") == -1)
		return -1;
	for (i = 0; i < s->data->n; i++) {
		f = &s->data->v[i];
		if (f->filename == NULL)
			continue;
		if ((shown++ > 0 && buf_putc(b, ',') == -1) ||
		    buf_puts(b, "{\"field\":") == -1 ||
		    json_cstring(b, f->name) == -1 ||
		    buf_puts(b, ",\"filename\":") == -1 ||
		    json_cstring(b, f->filename) == -1 ||
		    buf_puts(b, ",\"type\":") == -1 ||
		    json_cstring(b, f->ctype) == -1 ||
		    buf_printf(b, ",\"size\":%zu,\"sha256\":\"%s\"}", f->size,
		    f->sha256) == -1)
			return -1;
	}
	return buf_putc(b, ']');
}

int
submission_json(const struct submission *s, struct buf *b)
{
	char when[32];
	struct tm tm;

	if (gmtime_r(&s->received, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -1;
	if (buf_puts(b, "{\"form\":") == -1 ||
	    json_cstring(b, s->def->name) == -1 ||
	    buf_puts(b, ",\"id\":") == -1 || json_cstring(b, s->id) == -1 ||
	    buf_printf(b, ",\"received\":\"%s\",", when) == -1 ||
	    json_fields(s, b) == -1 || buf_putc(b, ',') == -1 ||
	    json_files(s, b) == -1 || buf_puts(b, "}\n") == -1)
		return -1;
	return 0;
}

/*
 * The bound of a rendering of tpl: room for the template's own text and
 * for all the values at each place the template inserts values, however
 * large the limits let values be (a fixed bound refused large values
 * for good, answered as "busy").
 */
static size_t
render_max(const struct submission *s, const char *tpl, size_t len)
{
	size_t i, places = 0, values = 0;
	const char *p;

	for (p = tpl; (p = memmem(p, len - (size_t)(p - tpl), "{{", 2)) !=
	    NULL; p += 2)
		places++;
	for (i = 0; i < s->data->n; i++)
		values += s->data->v[i].len;
	return RENDER_MAX + places * values;
}

/* The validated address of the form's reply_to field, or NULL. */
static const char *
reply_to(const struct submission *s)
{
	long i;

	/* An optional address left blank is not validated: not used. */
	if (s->def->reply_to == NULL ||
	    (i = form_data_find(s->data, s->def->reply_to, 0)) < 0 ||
	    !is_email(s->data->v[i].value, s->data->v[i].len))
		return NULL;
	return s->data->v[i].value;
}

/*
 * The header fields RFC 9788 protects (Date, From, To, Reply-To,
 * Subject, Message-ID), with subject as given or else the form's.
 */
static int
protected_headers(const struct submission *s, const char *subject,
    int reply, struct buf *out)
{
	struct tpl_vars vars;
	struct buf rendered;
	char date[64];
	const char *rt;
	int r = -1;

	submission_vars(s, &vars);
	buf_init(&rendered, render_max(s, s->def->subject,
	    strlen(s->def->subject)));
	if (subject == NULL) {
		if (template_render(s->def->subject, strlen(s->def->subject),
		    &vars, TPL_TEXT, &rendered) == -1)
			goto out;
		subject = rendered.data != NULL ? rendered.data : "";
		/* A long value makes a long subject: cut it, whole
		 * characters only; the full text is in the body. */
		if (rendered.len > SUBJECT_MAX)
			rendered.data[utf8_cut(rendered.data, rendered.len,
			    SUBJECT_MAX)] = '\0';
	}
	if (rfc5322_date(s->received, date, sizeof(date)) == -1 ||
	    buf_printf(out, "Date: %s\nFrom: %s\nTo: %s\n", date, s->from,
	    s->to) == -1)
		goto out;
	/* is_email() admitted only dot-atom@domain: safe as it is. */
	if (reply && (rt = reply_to(s)) != NULL &&
	    buf_printf(out, "Reply-To: <%s>\n", rt) == -1)
		goto out;
	if (encode_header_text(out, "Subject", subject) == -1 ||
	    buf_printf(out, "Message-ID: <%s@%s>\n", s->id, s->hostname) == -1)
		goto out;
	r = 0;
out:
	buf_free(&rendered);
	return r;
}

static int
mime_headers(const struct submission *s, const char *subject, int reply,
    struct buf *out)
{
	char date[64];

	if (rfc5322_date(s->received, date, sizeof(date)) == -1 ||
	    buf_printf(out, "Received: from [%s] by %s (formdrop form=%s)\n"
	    "\twith HTTP id %s;\n\t%s\n", s->client, s->hostname,
	    s->def->name, s->id, date) == -1 ||
	    protected_headers(s, subject, reply, out) == -1 ||
	    buf_printf(out, "MIME-Version: 1.0\nX-Formdrop-Form: %s\n"
	    "X-Formdrop-Id: %s\n", s->def->name, s->id) == -1)
		return -1;
	/* The reason is one of formdrop's own fixed strings. */
	if (s->spam != NULL &&
	    buf_printf(out, "X-Formdrop-Spam: yes (%s)\n", s->spam) == -1)
		return -1;
	return 0;
}

static int
compose_text(const struct submission *s, const char *boundary,
    struct buf *out)
{
	struct tpl_vars vars;
	struct buf text;
	int r = -1;

	submission_vars(s, &vars);
	buf_init(&text, render_max(s, s->def->body, s->def->body_len));
	if (template_render(s->def->body, s->def->body_len, &vars, TPL_TEXT,
	    &text) == -1)
		goto out;
	if (buf_printf(out, "\n--%s\nContent-Type: text/plain; charset=utf-8"
	    "\nContent-Transfer-Encoding: quoted-printable\n\n",
	    boundary) == -1 ||
	    encode_qp(out, text.data != NULL ? text.data : "", text.len) == -1)
		goto out;
	r = 0;
out:
	buf_free(&text);
	return r;
}

static int
compose_json(const struct submission *s, const char *boundary,
    struct buf *out)
{
	struct buf json;
	int r = -1;

	buf_init(&json, JSON_MAX);
	if (submission_json(s, &json) == -1)
		goto out;
	if (buf_printf(out, "\n--%s\nContent-Type: application/json; "
	    "charset=utf-8;\n\tname=\"submission.json\"\n"
	    "Content-Disposition: attachment;\n\tfilename=\"submission.json\"\n"
	    "Content-Transfer-Encoding: quoted-printable\n\n", boundary) == -1 ||
	    encode_qp(out, json.data, json.len) == -1)
		goto out;
	r = 0;
out:
	buf_free(&json);
	return r;
}

/* Write what b holds to out and empty it: 0 or -1. */
static int
flush(struct buf *b, BIO *out)
{
	int r = bio_write_all(out, b->data, b->len);

	buf_reset(b);
	return r;
}

/* A file's content from the spool, as base64 lines, into out. */
static int
stream_base64(const struct form_data *data, const struct field *f,
    BIO *out)
{
	/* Whole base64 lines per chunk: the line breaks fall as if the
	 * file were encoded at once. */
	unsigned char chunk[B64_LINE_BYTES * 1024];
	struct spool_reader rd;
	struct buf b64;
	size_t have = 0;
	ssize_t n;
	int r = -1;

	buf_init(&b64, 2 * sizeof(chunk));
	if (form_file_open(data, f, &rd) == -1)
		goto out;
	for (;;) {
		n = spool_read(&rd, chunk + have, sizeof(chunk) - have);
		if (n == -1)
			goto out;
		have += (size_t)n;
		if (have < sizeof(chunk) && n > 0)
			continue;
		if (encode_base64(&b64, chunk, have) == -1 ||
		    flush(&b64, out) == -1)
			goto out;
		if (n == 0)
			break;
		have = 0;
	}
	r = 0;
out:
	/* It held the file in the clear (buf_free wipes b64). */
	OPENSSL_cleanse(chunk, sizeof(chunk));
	spool_reader_close(&rd);
	buf_free(&b64);
	return r;
}

static int
compose_file(const struct submission *s, const struct field *f,
    const char *boundary, struct buf *b, BIO *out)
{
	if (buf_printf(b, "\n--%s\nContent-Type: %s", boundary,
	    f->ctype) == -1 ||
	    encode_param(b, "name", f->filename) == -1 ||
	    buf_puts(b, "\nContent-Disposition: attachment") == -1 ||
	    encode_param(b, "filename", f->filename) == -1 ||
	    buf_printf(b, "\nContent-Transfer-Encoding: base64\n\n") == -1 ||
	    flush(b, out) == -1)
		return -1;
	return stream_base64(s->data, f, out);
}

/* The entity, its small parts gathered in b, the files streamed. */
static int
write_entity(const struct submission *s, enum mime_hp hp, struct buf *b,
    BIO *out)
{
	char rnd[2 * BOUNDARY_RANDOM + 1], boundary[64];
	size_t i;

	/* "=_" never occurs in quoted-printable or base64 output. */
	if (random_hex(rnd, BOUNDARY_RANDOM) == -1)
		return -1;
	snprintf(boundary, sizeof(boundary), "=_formdrop_%s", rnd);
	if (buf_printf(b, "Content-Type: multipart/mixed;\n"
	    "\tboundary=\"%s\"%s\n", boundary, hp == MIME_HP_CIPHER ?
	    "; hp=\"cipher\"" : hp == MIME_HP_CLEAR ? "; hp=\"clear\"" :
	    "") == -1)
		return -1;
	/* RFC 9788: the protected copies of the header fields. */
	if (hp != MIME_HP_NONE && protected_headers(s, NULL, 1, b) == -1)
		return -1;
	if (buf_puts(b, "\nThis is a MIME message: the submission is its "
	    "first part,\na JSON copy the second.\n") == -1 ||
	    compose_text(s, boundary, b) == -1 || flush(b, out) == -1 ||
	    compose_json(s, boundary, b) == -1 || flush(b, out) == -1)
		return -1;
	for (i = 0; i < s->data->n; i++)
		if (s->data->v[i].filename != NULL &&
		    compose_file(s, &s->data->v[i], boundary, b, out) == -1)
			return -1;
	return buf_printf(b, "\n--%s--\n", boundary) == -1 ? -1 :
	    flush(b, out);
}

int
mime_entity(const struct submission *s, enum mime_hp hp, BIO *out)
{
	struct buf b;
	int r;

	buf_init(&b, JSON_MAX);
	r = write_entity(s, hp, &b, out);
	buf_free(&b);
	return r;
}

int
mime_headers_write(const struct submission *s, const char *subject,
    int reply, BIO *out)
{
	struct buf b;
	int r;

	buf_init(&b, JSON_MAX);
	r = mime_headers(s, subject, reply, &b) == -1 ? -1 : flush(&b, out);
	buf_free(&b);
	return r;
}

int
mime_compose(const struct submission *s, BIO *out)
{
	if (mime_headers_write(s, NULL, 1, out) == -1 ||
	    mime_entity(s, MIME_HP_NONE, out) == -1)
		return -1;
	return 0;
}
