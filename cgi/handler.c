/*
 * The form handler's request logic, run by each formdrop.fcgi worker:
 *
 *	form -> method -> content type -> body (bounded) -> parse ->
 *	screen (token, decoy, idempotency key, rate) -> validate ->
 *	claim the key -> compose (sign, encrypt) -> deliver (inbox or
 *	.Junk) -> record the key -> 303 / JSON
 *
 * GET /token/<form> answers a fresh form token.
 * Every exit goes through respond_error() or respond_success(), so that
 * each request is answered exactly once and logged exactly once, with the
 * reason for the operator and a plain sentence for the person at the
 * browser.  Field values are never logged.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "handler.h"
#include "header_param.h"
#include "json.h"
#include "log.h"
#include "maildir.h"
#include "mime.h"
#include "multipart.h"
#include "once.h"
#include "ratelimit.h"
#include "screen.h"
#include "smime.h"
#include "token.h"
#include "template.h"
#include "urlencoded.h"
#include "util.h"
#include "validate.h"

#define RESPONSE_BODY_MAX	(256 * 1024)
#define READ_CHUNK		(64 * 1024)

static const char msg_busy[] = "Your submission could not be stored right "
    "now and was not received. Please try again in a few minutes.";
/* A twin still in flight may yet be delivered: "not received" is unsure. */
static const char msg_twin_busy[] = "The same submission is still being "
    "processed. Please send it again in a minute: it will not be "
    "delivered twice.";

/* Everything one request carries through the pipeline. */
struct job {
	const struct conf	*conf;
	const struct request	*req;
	struct response		*resp;
	const struct formdef	*def;
	char			 form[FORM_NAME_MAX + 1];
	char			 client[INET6_ADDRSTRLEN];
	int			 want_json;
	size_t			 body_len;
	struct timespec		 start;
	struct validation	 val;
	char			 once_dir[4096];
	const char		*id;	/* the submission's, once it has one */
	const char		*earlier_id;	/* a spent token's first */
};

static const char *
status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 303: return "See Other";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

/* The error page's heading: what happened, in the person's words. */
static const char *
page_title(int status)
{
	switch (status) {
	case 400: return "The form could not be read";
	case 404: return "No such form";
	case 405:
	case 415: return "This is not a form submission";
	case 413: return "Too large to send";
	case 422: return "Please check the form";
	case 429: return "Please wait a little";
	case 503: return "Not sent: please try again";
	default: return "Something went wrong";
	}
}

void
response_init(struct response *r)
{
	r->status = 500;
	r->content_type = NULL;
	buf_init(&r->head, 4096);
	buf_init(&r->body, RESPONSE_BODY_MAX);
}

void
response_free(struct response *r)
{
	buf_free(&r->head);
	buf_free(&r->body);
}

int
response_serialize(const struct response *r, struct buf *out)
{
	if (buf_printf(out, "Status: %d %s\r\n", r->status,
	    status_text(r->status)) == -1 ||
	    (r->content_type != NULL && buf_printf(out, "Content-Type: %s\r\n",
	    r->content_type) == -1) ||
	    buf_printf(out, "Content-Length: %zu\r\n"
	    "Cache-Control: no-store\r\n"
	    "X-Content-Type-Options: nosniff\r\n", r->body.len) == -1 ||
	    (r->head.len > 0 &&
	    buf_append(out, r->head.data, r->head.len) == -1) ||
	    buf_puts(out, "\r\n") == -1 ||
	    (r->body.len > 0 &&
	    buf_append(out, r->body.data, r->body.len) == -1))
		return -1;
	return 0;
}

/* Values for the error page template: status, title, message, rows. */
struct page {
	const char		*status, *title, *message, *form;
	const struct validation	*val;
};

static long
page_count(const void *arg, const char *name)
{
	const struct page *p = arg;

	if (strcmp(name, "field") == 0 || strcmp(name, "label") == 0 ||
	    strcmp(name, "reason") == 0)
		return p->val != NULL ? (long)p->val->n : 0;
	if (strcmp(name, "status") == 0 || strcmp(name, "title") == 0 ||
	    strcmp(name, "message") == 0 || strcmp(name, "form") == 0)
		return 1;
	return -1;
}

static void
page_value(const void *arg, const char *name, size_t i, const char **v,
    size_t *len)
{
	const struct page *p = arg;

	if (strcmp(name, "field") == 0)
		*v = p->val->v[i].field;
	else if (strcmp(name, "label") == 0)
		*v = p->val->v[i].label;
	else if (strcmp(name, "reason") == 0)
		*v = p->val->v[i].reason;
	else if (strcmp(name, "status") == 0)
		*v = p->status;
	else if (strcmp(name, "title") == 0)
		*v = p->title;
	else if (strcmp(name, "form") == 0)
		*v = p->form;
	else
		*v = p->message;
	*len = strlen(*v);
}

/*
 * One line per request: id, form, client, status, size, time, and the
 * file delivered (id given) or why not.  A failure after the submission
 * got its id carries it, so that it can be matched to the retry.
 */
static void
log_outcome(struct job *j, const char *id, const char *what)
{
	const char *shown = id != NULL ? id : j->id;

	log_info("%s form=%s client=%s status=%d bytes=%zu ms=%ld %s=%s",
	    shown != NULL ? shown : "-", j->form[0] != '\0' ? j->form : "-",
	    j->client, j->resp->status, j->body_len, elapsed_ms(&j->start),
	    id != NULL ? "file" : "reason", what);
}

/*
 * ,"rows":{"field":N,...} for the errors in a row of a rows group, so
 * that a page marks the N-th input of that name, not the first.
 */
static void
json_rows(struct buf *out, const struct validation *val)
{
	size_t i, n = 0;

	for (i = 0; i < val->n; i++) {
		if (val->v[i].row == 0)
			continue;
		buf_puts(out, n++ == 0 ? ",\"rows\":{" : ",");
		json_cstring(out, val->v[i].field);
		buf_printf(out, ":%zu", val->v[i].row);
	}
	if (n > 0)
		buf_putc(out, '}');
}

/*
 * Answer with an error: status, a sentence for the person, the reason
 * for the log.  Validation errors (j->val) are listed field by field.
 */
static void
respond_error(struct job *j, int status, const char *message, const char *why)
{
	struct response *r = j->resp;
	struct page page;
	struct tpl_vars vars = { page_count, page_value, &page };
	char code[8];
	size_t i;

	r->status = status;
	buf_reset(&r->body);
	if (status == 503)
		buf_printf(&r->head, "Retry-After: %d\r\n", RETRY_AFTER_SECONDS);
	if (status == 405)
		buf_puts(&r->head, "Allow: POST\r\n");
	if (j->want_json) {
		r->content_type = "application/json";
		buf_puts(&r->body, "{\"ok\":false,\"error\":");
		json_cstring(&r->body, message);
		if (j->val.n > 0) {
			buf_puts(&r->body, ",\"fields\":{");
			for (i = 0; i < j->val.n; i++) {
				if (i > 0)
					buf_putc(&r->body, ',');
				json_cstring(&r->body, j->val.v[i].field);
				buf_putc(&r->body, ':');
				json_cstring(&r->body, j->val.v[i].reason);
			}
			buf_putc(&r->body, '}');
			json_rows(&r->body, &j->val);
		}
		if (j->earlier_id != NULL) {
			buf_puts(&r->body, ",\"earlier_id\":");
			json_cstring(&r->body, j->earlier_id);
		}
		buf_puts(&r->body, "}\n");
	} else {
		snprintf(code, sizeof(code), "%d", status);
		page.status = code;
		page.title = page_title(status);
		page.message = message;
		page.form = j->form;
		page.val = &j->val;
		r->content_type = "text/html; charset=utf-8";
		if (j->conf->error_page == NULL ||
		    template_render(j->conf->error_page,
		    j->conf->error_page_len, &vars, TPL_HTML, &r->body) == -1) {
			buf_reset(&r->body);
			r->content_type = "text/plain; charset=utf-8";
			buf_printf(&r->body, "%s\n", message);
		}
	}
	log_outcome(j, NULL, why);
}

static void
respond_success(struct job *j, const char *id, const char *file)
{
	struct response *r = j->resp;
	const char *thanks = j->def->thanks;

	if (j->want_json) {
		r->status = 200;
		r->content_type = "application/json";
		buf_printf(&r->body, "{\"ok\":true,\"id\":\"%s\"}\n", id);
	} else {
		/* Post/Redirect/Get: a reload cannot post the form again. */
		r->status = 303;
		r->content_type = "text/html; charset=utf-8";
		buf_printf(&r->head, "Location: %s%cid=%s\r\n", thanks,
		    strchr(thanks, '?') != NULL ? '&' : '?', id);
		buf_printf(&r->body, "<!doctype html><title>Thank you</title>"
		    "<p>Received. <a href=\"%s%cid=%s\">Continue</a>.</p>\n",
		    thanks, strchr(thanks, '?') != NULL ? '&' : '?', id);
	}
	log_outcome(j, id, file);
}

/* 1 for GET /token/<form> (SCRIPT_NAME /token, or the URI says so). */
static int
is_token_request(const struct request *req)
{
	const char *u = req->request_uri;

	return (req->script_name != NULL &&
	    strcmp(req->script_name, "/token") == 0) ||
	    (u != NULL && strncmp(u, "/token/", 7) == 0);
}

/* The form name from PATH_INFO ("/contact"), else from the URI's end. */
static int
form_name(const struct request *req, char *out, size_t outsz)
{
	const char *p = req->path_info, *end;
	size_t n, i;

	if (p == NULL || p[0] == '\0') {
		if ((p = req->request_uri) == NULL)
			return -1;
		end = strchr(p, '?');
		end = end != NULL ? end : p + strlen(p);
		for (n = (size_t)(end - p); n > 0 && p[n - 1] != '/'; n--)
			;
		p += n;
		n = (size_t)(end - p);
	} else {
		if (*p == '/')
			p++;
		n = strlen(p);
	}
	if (n == 0 || n >= outsz)
		return -1;
	for (i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' &&
		    p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') ||
		    p[i] == '_' || p[i] == '-'))
			return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

static void
client_address(const char *addr, char *out, size_t outsz)
{
	unsigned char bin[sizeof(struct in6_addr)];

	if (addr != NULL && (inet_pton(AF_INET, addr, bin) == 1 ||
	    inet_pton(AF_INET6, addr, bin) == 1))
		snprintf(out, outsz, "%s", addr);
	else
		snprintf(out, outsz, "unknown");
}

static int
wants_json(const char *accept)
{
	return accept != NULL && strstr(accept, "application/json") != NULL;
}

/*
 * The most an urlencoded body can hold within the field limits: every
 * byte of every name and value percent-encoded.  Such a body is held in
 * memory to be parsed, so it is bounded by this as well as by body_max.
 */
static size_t
urlencoded_max(const struct form_limits *lim)
{
	size_t per_field = 3 * (FIELD_NAME_MAX + lim->field_max) + 2;

	if (lim->fields_max > lim->body_max / per_field)
		return lim->body_max;
	return lim->fields_max * per_field;
}

/*
 * Read and parse the body.  Content-Length is a promise to check, not a
 * size to allocate.  A multipart body is parsed as it arrives (files go
 * to the spool, never all into memory); an urlencoded one, bounded by
 * urlencoded_max(), once complete.  Returns 0 with the parse result in
 * *st, or the error status.
 */
static int
read_body(struct job *j, const char *boundary, struct form_data *data,
    enum parse_status *st, const char **why)
{
	const struct request *req = j->req;
	const struct form_limits *lim = &j->conf->limits;
	unsigned long long declared = 0;
	struct multipart *mp = NULL;
	struct buf body;
	char chunk[READ_CHUNK];
	size_t total = 0;
	ssize_t n = 0;
	int status = 0, has_length, bounded;

	*st = PARSE_OK;
	has_length = req->content_length != NULL &&
	    req->content_length[0] != '\0';
	if (has_length) {
		if (parse_uint(req->content_length, 0, (unsigned long long)-1 >> 1,
		    &declared) == -1) {
			*why = "bad Content-Length";
			return 400;
		}
		if (declared > lim->body_max) {
			*why = "Content-Length over body_max";
			return 413;
		}
	}
	buf_init(&body, boundary != NULL ? 0 : urlencoded_max(lim));
	if (boundary != NULL && (mp = multipart_new(boundary, lim,
	    data)) == NULL) {
		*why = "no memory for the parser";
		return 503;
	}
	/* Input that may go on after the body: Content-Length, no more. */
	bounded = has_length && req->open_ended;
	while ((!bounded || total < declared) &&
	    (n = req->read(req->arg, chunk, bounded &&
	    declared - total < sizeof(chunk) ? (size_t)(declared - total) :
	    sizeof(chunk))) > 0) {
		total += (size_t)n;
		j->body_len = total;
		if (total > lim->body_max) {
			*why = "body over body_max";
			status = 413;
			goto out;
		}
		if (mp != NULL) {
			/* The first parse error answers; the rest is
			 * not read. */
			if ((*st = multipart_feed(mp, chunk, (size_t)n)) !=
			    PARSE_OK)
				goto out;
		} else if (buf_append(&body, chunk, (size_t)n) == -1) {
			*why = "urlencoded body over what the field limits "
			    "allow";
			status = 413;
			goto out;
		}
	}
	if (n == -1) {
		*why = "error reading the body";
		status = 400;
	} else if (has_length && total != declared) {
		*why = total < declared ? "body shorter than Content-Length" :
		    "body longer than Content-Length";
		status = 400;
	} else if (mp != NULL)
		*st = multipart_finish(mp);
	else
		*st = urlencoded_parse(body.data != NULL ? body.data : "",
		    body.len, lim, data);
out:
	multipart_free(mp);
	buf_free(&body);
	return status;
}

static int
parse_status_http(enum parse_status st)
{
	switch (st) {
	case PARSE_OK: return 200;
	case PARSE_MALFORMED:
	case PARSE_BAD_UTF8: return 400;
	case PARSE_NOMEM:
	case PARSE_STORAGE: return 503;
	default: return 413;
	}
}

static const char *
parse_status_message(enum parse_status st)
{
	switch (st) {
	case PARSE_BAD_UTF8:
		return "The form data is not valid UTF-8 text.";
	case PARSE_TOO_MANY_FIELDS:
		return "The form has too many fields.";
	case PARSE_FIELD_TOO_LONG:
		return "One of the fields is too long.";
	case PARSE_TOO_MANY_FILES:
		return "Too many files were attached.";
	case PARSE_FILE_TOO_LARGE:
		return "An attached file is too large.";
	case PARSE_NOMEM:
		return "The server is busy. Please try again in a few minutes.";
	case PARSE_STORAGE:
		return msg_busy;
	default:
		return "The form data could not be read.";
	}
}

/*
 * Compose the message as the form's encryption policy and the mailbox's
 * certificates say.  Fails closed: a form that may encrypt, on a mailbox
 * whose certificates are configured but unusable, gets no message at
 * all, and "required" without certificates neither.
 */
int
handler_compose(const struct mailbox *mb, const struct submission *sub,
    BIO *msg, const char **why)
{
	enum encryption policy = sub->def->encryption;
	const struct smime *sm = &mb->smime;
	struct tpl_vars vars;
	struct buf subject;
	int r;

	const struct smime_paths *paths = &mb->smime_paths;
	int would_sign = paths->sign_cert != NULL;
	int would_encrypt = policy != ENCRYPT_OFF &&
	    (paths->nrecipients > 0 || paths->escrow != NULL);

	if (policy == ENCRYPT_REQUIRED && !would_encrypt) {
		*why = "encryption required but the mailbox has no recipients";
		return -1;
	}
	if (!would_sign && !would_encrypt) {
		*why = "cannot compose the message";
		return mime_compose(sub, msg);
	}
	/* Due to sign or encrypt: never without usable certificates. */
	if (mb->smime_broken || !smime_usable_now(sm)) {
		*why = "mailbox certificates unusable (expired or invalid)";
		return -1;
	}
	if (!would_encrypt) {
		/* Signed only: a copy of sm without recipients. */
		struct smime signonly = *sm;

		signonly.recipients = NULL;
		*why = "cannot sign the message";
		return smime_compose(sub, &signonly, NULL, msg);
	}
	submission_vars(sub, &vars);
	buf_init(&subject, SUBJECT_MAX * 4);
	r = template_render(mb->encrypted_subject,
	    strlen(mb->encrypted_subject), &vars, TPL_TEXT, &subject);
	*why = "cannot sign or encrypt the message";
	if (r == 0)
		r = smime_compose(sub, sm, subject.data != NULL ?
		    subject.data : "", msg);
	buf_free(&subject);
	return r;
}

#define ONCE_WAIT_MS	10000	/* for a twin request to finish */

/*
 * A worker's Landlock rules hold the folders it could write at its start:
 * a folder replaced since (restored from a backup, made again) is refused
 * to it with EACCES whatever its modes.  A new worker confines itself to
 * the folders as they are now.
 */
static int restart_wanted;

int
handler_wants_restart(void)
{
	return restart_wanted;
}

/* For EACCES: ask for a new worker, and say so in the log's reason. */
static const char *
restart_if_refused(int err)
{
	if (err != EACCES)
		return "";
	restart_wanted = 1;
	return " (the worker restarts, in case the folder was replaced since "
	    "it started)";
}

/* Answer 503 for a Maildir that could not take the message: -1. */
static int
delivery_failed(struct job *j, const char *dir, int err)
{
	char why[4096 + 128];

	snprintf(why, sizeof(why), "delivery to %s failed: %s%s", dir,
	    strerror(err), restart_if_refused(err));
	respond_error(j, 503, msg_busy, why);
	return -1;
}

/*
 * Compose and deliver into the inbox, or into .Junk when spam is set.
 * 0 with the delivered file in where, or -1 after answering the error.
 */
static int
deliver(struct job *j, const struct mailbox *mb, struct submission *sub,
    char *where, size_t wheresz)
{
	char name[MAILDIR_NAME_MAX], box[4096], why[4096 + MAILDIR_NAME_MAX];
	const char *why_compose = NULL, *dir = mb->maildir;
	struct maildir_delivery d;

	if (sub->spam != NULL) {
		if (maildir_folder(mb->maildir, MAILDIR_JUNK, box,
		    sizeof(box)) == -1) {
			snprintf(why, sizeof(why), "cannot make %s/.Junk: %s",
			    mb->maildir, strerror(errno));
			respond_error(j, 503, msg_busy, why);
			return -1;
		}
		dir = box;
	}
	/* The message goes to tmp/ as it is made: uploads are streamed
	 * from the spool, and with encryption on only ciphertext is
	 * written. */
	if (maildir_begin(&d, dir, j->conf->hostname) == -1)
		return delivery_failed(j, dir, errno);
	if (handler_compose(mb, sub, d.out, &why_compose) == -1) {
		int err = d.write_errno;	/* the disk, not the composition */

		maildir_abort(&d);
		if (err != 0)
			return delivery_failed(j, dir, err);
		respond_error(j, 503, msg_busy, why_compose);
		return -1;
	}
	if (maildir_commit(&d, name, sizeof(name)) == -1)
		return delivery_failed(j, dir, errno);
	snprintf(where, wheresz, "%s/new/%s%s%s", dir, name,
	    sub->spam != NULL ? " spam=" : "",
	    sub->spam != NULL ? sub->spam : "");
	return 0;
}

/*
 * The page's token as the one failing field: named so, a fetch() page
 * knows to get a new token and send again.
 */
static void
token_field_error(struct job *j, const char *reason)
{
	struct field_error *e;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return;
	snprintf(e->field, sizeof(e->field), "%s", TOKEN_FIELD);
	snprintf(e->label, sizeof(e->label), "This page");
	snprintf(e->reason, sizeof(e->reason), "%s", reason);
	j->val.v = e;
	j->val.n = 1;
}

/* A token problem on a form that refuses them: ask to send again. */
static void
respond_retry(struct job *j, enum token_status st)
{
	char why[64];

	snprintf(why, sizeof(why), "%s", token_status_str(st));
	token_field_error(j, st == TOKEN_TOO_YOUNG ? "was sent too quickly" :
	    st == TOKEN_EXPIRED ? "has expired" :
	    "must be reloaded before sending");
	respond_error(j, 422, st == TOKEN_TOO_YOUNG ?
	    "The form was sent too quickly. Please check it and send it "
	    "again." : st == TOKEN_EXPIRED ?
	    "This page has expired. Please reload it and send the form "
	    "again; what you typed is kept where your browser can." :
	    "This form must be sent from its page. Please reload the page "
	    "and send the form again.", why);
}

/*
 * A key whose record holds another submission's print: a page sent again
 * after it was changed (its token was spent), or an Idempotency-Key
 * reused, by mistake or by someone else, for other content.  Answering
 * the first submission's id would drop this one behind a success: refuse
 * it instead.  A page gets a token refusal naming the first
 * submission, so that the person can tell it arrived and choose to send
 * the change as a new one; a client of the header gets 422, as the IETF
 * Idempotency-Key draft says, and no id (the key may be a guess).
 */
static void
respond_key_reused(struct job *j, const struct screen *sc, const char *id)
{
	char message[256];

	if (!sc->key_is_token) {
		respond_error(j, 422, "This Idempotency-Key was already used "
		    "for a different submission: send it with a new key.",
		    "Idempotency-Key reused with other content");
		return;
	}
	/* The token was this page's: its first submission is the person's
	 * own, and its reference tells them it arrived (an answer lost on
	 * the way, then a change, must not look like nothing was sent). */
	token_field_error(j, "was already sent");
	j->earlier_id = id;
	snprintf(message, sizeof(message), "This page was already sent once "
	    "(reference %s). Please reload it to send the form again with "
	    "your changes, as a new submission.", id);
	respond_error(j, 422, message, "token spent on other content");
	j->earlier_id = NULL;	/* id is the caller's */
}

/*
 * A key already recorded (with id and its print): the first answer
 * again for the same submission, a refusal for other content.  Records
 * older than prints, or a print that could not be made, say nothing: as
 * before, the same key is the same submission.
 */
static void
respond_repeat(struct job *j, const struct screen *sc, const char *id,
    const char *recorded, const char *print)
{
	if (recorded[0] != '\0' && print[0] != '\0' &&
	    strcmp(recorded, print) != 0)
		respond_key_reused(j, sc, id);
	else
		respond_success(j, id, "duplicate of an earlier submission");
}

/* Take a token from the form's rate limit; 1 after answering 429. */
static int
rate_limited(struct job *j)
{
	char path[4200];
	int wait;

	if (j->def->rate_burst == 0)
		return 0;
	snprintf(path, sizeof(path), "%s/ratelimit", j->conf->state_dir);
	if ((wait = ratelimit_take(path, j->def->name, j->client,
	    j->def->rate_burst, j->def->rate_period)) <= 0)
		return 0;
	respond_error(j, 429, "Too many submissions from your network. "
	    "Please wait a little and send the form again.", "rate limit");
	buf_reset(&j->resp->head);
	buf_printf(&j->resp->head, "Retry-After: %d\r\n", wait);
	return 1;
}

/* Screen, validate, compose and deliver; answers every outcome. */
static void
process(struct job *j, struct form_data *data)
{
	const struct mailbox *mb = conf_mailbox(j->conf, j->def->mailbox);
	static unsigned served;
	struct submission sub;
	struct screen sc;
	char id[ONCE_ID_MAX + 1], where[8192], why[64];
	char print[ONCE_PRINT_HEX + 1], recorded[ONCE_PRINT_HEX + 1];
	struct once claim = { .fd = -1 };
	enum once_status os = ONCE_NEW;
	int r;

	screen_submission(j->conf, j->def, data, j->req->idempotency_key, &sc);
	/* What was submitted, before validation drops blank rows: a resent
	 * copy has the same print. */
	if (sc.has_key)
		form_data_print(data, print);
	/* A repeat of a delivered submission: the first answer again (or a
	 * refusal for other content), nothing new, and no rate-limit token
	 * spent on a double click. */
	if (sc.has_key && once_peek(j->once_dir, sc.key, id, recorded)) {
		respond_repeat(j, &sc, id, recorded, print);
		return;
	}
	/* Without a key, the limit applies at once; with one, only to the
	 * first of twins (below), so a double click never sees a 429. */
	if (!sc.has_key && rate_limited(j))
		return;
	if (sc.refuse) {
		respond_retry(j, sc.token);
		return;
	}
	/* A validation error keeps the token: the person fixes and sends. */
	if (form_validate(j->def, data, &j->val) != 0) {
		snprintf(why, sizeof(why), "%zu invalid field(s)", j->val.n);
		respond_error(j, 422, j->val.n == 1 ?
		    "Please correct the field marked below." :
		    "Please correct the fields marked below.", why);
		return;
	}
	if (sc.has_key && (os = once_begin(&claim, j->once_dir, sc.key,
	    ONCE_WAIT_MS, id, recorded)) == ONCE_DONE) {
		/* Delivered meanwhile by a twin: no message from us. */
		respond_repeat(j, &sc, id, recorded, print);
		return;
	}
	if (os == ONCE_BUSY) {
		respond_error(j, 503, msg_twin_busy,
		    "a twin request is still being delivered");
		return;
	}
	if (os == ONCE_ERROR) {
		int err = errno;
		char reason[160];

		snprintf(reason, sizeof(reason), "idempotency records "
		    "unusable: %s%s", strerror(err), restart_if_refused(err));
		respond_error(j, 503, msg_busy, reason);
		return;
	}
	if (sc.has_key && rate_limited(j)) {
		once_abort(&claim);
		return;
	}
	memset(&sub, 0, sizeof(sub));
	sub.def = j->def;
	sub.data = data;
	sub.received = time(NULL);
	sub.client = j->client;
	sub.hostname = j->conf->hostname;
	sub.from = mb->from;
	sub.to = mb->to;
	sub.spam = sc.spam;
	/* The id goes in the log line, also of a failure. */
	j->id = submission_make_id(&sub) == 0 ? sub.id : NULL;
	if (j->id == NULL) {
		respond_error(j, 503, msg_busy, "no randomness for the id");
	} else if (sc.has_key && once_prepare(&claim, sub.id, print) == -1) {
		/* Recorded after delivery, a full disk would let a retry
		 * deliver twice: fail now, while nothing is delivered. */
		respond_error(j, 503, msg_busy, "cannot record the idempotency "
		    "key");
	} else if (deliver(j, mb, &sub, where, sizeof(where)) == 0) {
		if (sc.has_key && (r = once_finish(&claim)) != 0)
			log_warn("%s: cannot record idempotency key (%s)",
			    sub.id, r == 1 ? "its claim answers retries" :
			    "a retry would deliver again");
		/* Spam gets the same answer: a bot learns nothing. */
		respond_success(j, sub.id, where);
	}
	once_abort(&claim);	/* still held: nothing was delivered */
	/* From where the pid puts it: a CGI process serves one request,
	 * and would never reach the 256th. */
	if (served == 0)
		served = (unsigned)getpid();
	if (++served % ONCE_CLEAN_EVERY == 0 &&
	    once_clean(j->once_dir, ONCE_RECORD_MAX_AGE) == -1 &&
	    errno == ERANGE)
		log_warnx("the wall clock was stepped by more than an hour "
		    "since formdrop started: idempotency records are kept "
		    "until it is restarted with the clock right");
	j->id = NULL;		/* sub.id goes with this frame */
}

/* GET /token/<form>: a fresh token for a page that posts with fetch(). */
static void
serve_token(struct job *j)
{
	struct response *r = j->resp;
	char tok[TOKEN_MAX];

	if (j->req->method == NULL || (strcmp(j->req->method, "GET") != 0 &&
	    strcmp(j->req->method, "HEAD") != 0)) {
		respond_error(j, 405, "Tokens are fetched with GET.",
		    "method not allowed");
		buf_reset(&r->head);
		buf_puts(&r->head, "Allow: GET, HEAD\r\n");
		return;
	}
	if (token_make(&j->conf->token_keys, j->def->name, time(NULL), tok,
	    sizeof(tok)) == -1) {
		respond_error(j, 503, msg_busy, "cannot make a token");
		return;
	}
	r->status = 200;
	r->content_type = "application/json";
	buf_printf(&r->body, "{\"form\":\"%s\",\"token\":\"%s\","
	    "\"field\":\"" TOKEN_FIELD "\",\"min_age\":%u,\"max_age\":%u}\n",
	    j->def->name, tok, j->def->token_min_age, j->def->token_max_age);
	log_outcome(j, NULL, "token issued");
}

void
handler_serve(const struct conf *conf, const struct request *req,
    struct response *resp)
{
	struct job j;
	struct form_data data;
	const struct mailbox *mb;
	char boundary[BOUNDARY_MAX + 1], ctype[64], spool_dir[4096];
	char why_spool[4096 + 128];
	const char *p, *tok, *why = NULL;
	enum parse_status st;
	int status;

	memset(&j, 0, sizeof(j));
	j.conf = conf;
	j.req = req;
	j.resp = resp;
	clock_gettime(CLOCK_MONOTONIC, &j.start);
	client_address(req->remote_addr, j.client, sizeof(j.client));
	j.want_json = wants_json(req->accept);
	form_data_init(&data);

	if (form_name(req, j.form, sizeof(j.form)) == -1 ||
	    (j.def = conf_form(conf, j.form)) == NULL) {
		respond_error(&j, 404, "There is no such form.",
		    "unknown form");
		goto out;
	}
	snprintf(j.once_dir, sizeof(j.once_dir), "%s/once", conf->state_dir);
	if (is_token_request(req)) {
		serve_token(&j);
		goto out;
	}
	if (req->method == NULL || strcmp(req->method, "POST") != 0) {
		respond_error(&j, 405, "Forms are sent with POST.",
		    "method not allowed");
		goto out;
	}
	/* Ignoring a key the client relies on could deliver twice. */
	if (req->idempotency_key != NULL &&
	    !is_idempotency_key(req->idempotency_key)) {
		respond_error(&j, 400, "The Idempotency-Key header must be 1 "
		    "to 255 printable ASCII characters.",
		    "invalid Idempotency-Key");
		goto out;
	}

	p = req->content_type != NULL ? req->content_type : "";
	tok = p;
	if (header_value_token(&tok, ctype, sizeof(ctype)) == -1 ||
	    (strcmp(ctype, "application/x-www-form-urlencoded") != 0 &&
	    strcmp(ctype, "multipart/form-data") != 0)) {
		respond_error(&j, 415, "The form was sent in a format this "
		    "server does not accept.", "unsupported content type");
		goto out;
	}
	if (strcmp(ctype, "multipart/form-data") == 0 &&
	    multipart_boundary(p, boundary, sizeof(boundary)) == -1) {
		respond_error(&j, 400, "The form data could not be read.",
		    "multipart without a valid boundary");
		goto out;
	}
	mb = conf_mailbox(conf, j.def->mailbox);
	if (!maildir_is_ready(mb->maildir)) {
		snprintf(why_spool, sizeof(why_spool), "mailbox %s: %s is not "
		    "a writable Maildir", mb->name, mb->maildir);
		respond_error(&j, 503, msg_busy, why_spool);
		goto out;
	}
	/* Uploads wait in the mailbox's tmp/: the same file system, and
	 * a place the worker may write. */
	snprintf(spool_dir, sizeof(spool_dir), "%s/tmp", mb->maildir);
	data.spool_dir = spool_dir;
	if ((status = read_body(&j, ctype[0] == 'm' ? boundary : NULL, &data,
	    &st, &why)) != 0) {
		respond_error(&j, status, status == 413 ?
		    "The form data is too large." : status == 503 ? msg_busy :
		    "The form data could not be read.", why);
		goto out;
	}
	if (st != PARSE_OK) {
		/* For the log: which disk failed, and how. */
		if (st == PARSE_STORAGE)
			snprintf(why_spool, sizeof(why_spool), "%s in %s: %s",
			    parse_status_str(st), spool_dir,
			    strerror(data.spool.error != 0 ? data.spool.error :
			    EIO));
		respond_error(&j, parse_status_http(st),
		    parse_status_message(st), st == PARSE_STORAGE ?
		    why_spool : parse_status_str(st));
		goto out;
	}
	process(&j, &data);
out:
	validation_free(&j.val);
	form_data_free(&data);
}
