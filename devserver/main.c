/*
 * formdrop-devserver: the development web server.  Serves www/ and
 * relays every request under /submit/ to formdrop.fcgi over FastCGI, as
 * nginx would, so that the whole system runs on a laptop with one
 * command.  It starts the handler itself (and restarts it when it dies)
 * unless given the address of one already running.  A development tool:
 * it listens on loopback unless told otherwise.
 *
 * This file holds the libmicrohttpd daemon, the request callbacks and the
 * handler process; relay.c the FastCGI side, static.c the files.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "fcgi_client.h"
#include "log.h"
#include "relay.h"
#include "static.h"
#include "util.h"

#define RESPONSE_MAX		(1024 * 1024)
#define CONNECTION_LIMIT	256
#define PER_IP_LIMIT		64
#define CONNECTION_TIMEOUT	30	/* seconds idle */
#define HEADER_TIMEOUT		10	/* seconds for a request's headers */
#define REQUEST_TIMEOUT		300	/* seconds for a whole request */
#define HANDLER_TIMEOUT		60	/* default of -t, as nginx's
					 * fastcgi_read_timeout */
#define TOKEN_TIMEOUT		3	/* seconds a page waits for its
					 * token: form.js fetches one if the
					 * page has none */
#define RESEND_MAX		2	/* a request to a worker that went */

/*
 * Every open connection, watched by the main thread: libmicrohttpd's
 * timeout counts idle time only, so a client that sends a byte a second
 * (slowloris) would hold its connection for ever.  A connection whose
 * headers take longer than HEADER_TIMEOUT, or whose request takes longer
 * than REQUEST_TIMEOUT, is shut down.
 */
struct watch {
	int		 fd;
	time_t		 since;		/* start of the current request */
	int		 headers_done;
	struct watch	*next;
};

static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static struct watch *watches;

struct options {
	const char	*listen;	/* ADDR:PORT */
	char		 root[PATH_MAX];
	const char	*handler;	/* FastCGI address, if running */
	const char	*conf;
	const char	*handler_bin;
	int		 public;
	unsigned	 workers;
	int		 timeout;	/* seconds for the handler (-t) */
	char		 port[8];	/* listening port, for SERVER_PORT */
};

/* Per request: what to log, and the relay's state. */
struct request {
	struct timespec		start;
	char			method[16];
	char			path[256];
	char			proto[16];	/* HTTP/1.0 or HTTP/1.1 */
	int			status;
	size_t			bytes;
	int			relay;		/* a /submit/ request */
	int			relay_ok;	/* connected, params sent */
	const char		*failed;	/* the 502 page's text, sent
						 * once the body is read */
	int			has_body;	/* some of it sent on */
	struct fcgi_conn	fc;
};

static struct options opt;
static volatile sig_atomic_t stopping;
static pid_t handler_pid = -1;
static char handler_sock[PATH_MAX];

static void
usage(void)
{
	fprintf(stderr, "usage: formdrop-devserver [-l addr:port] [-r root] "
	    "[-c conf | -H handler-addr]\n"
	    "                          [-t seconds] [-x formdrop.fcgi] "
	    "[-w workers] [--public]\n");
	exit(EX_USAGE);
}

static enum MHD_Result
queue(struct MHD_Connection *conn, struct request *rq, int status,
    struct MHD_Response *resp)
{
	enum MHD_Result r;

	if (MHD_get_response_header(resp, "X-Content-Type-Options") == NULL)
		MHD_add_response_header(resp, "X-Content-Type-Options",
		    "nosniff");
	/* No other site may frame the pages (a click on Send the person
	 * did not mean), and they leak no address to other sites. */
	if (MHD_get_response_header(resp, "X-Frame-Options") == NULL)
		MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	if (MHD_get_response_header(resp, "Content-Security-Policy") == NULL)
		MHD_add_response_header(resp, "Content-Security-Policy",
		    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'");
	if (MHD_get_response_header(resp, "Referrer-Policy") == NULL)
		MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
	r = MHD_queue_response(conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	if (r == MHD_YES)	/* else the connection is closed unanswered */
		rq->status = status;
	return r;
}

/*
 * A small HTML page for errors of the server itself, not yet queued: the
 * caller may add a header (a 405's Allow).  title and text are ours,
 * never the client's, so they are not escaped.
 */
static struct MHD_Response *
page_new(struct request *rq, const char *title, const char *text)
{
	char body[1024];
	struct MHD_Response *resp;
	int n;

	n = snprintf(body, sizeof(body), "<!doctype html><html lang=\"en\">"
	    "<meta charset=\"utf-8\"><title>%s</title><h1>%s</h1><p>%s</p>"
	    "<p><a href=\"/\">Home</a></p></html>\n", title, title, text);
	resp = MHD_create_response_from_buffer((size_t)n, body,
	    MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(resp, "Content-Type",
	    "text/html; charset=utf-8");
	rq->bytes = (size_t)n;
	return resp;
}

static enum MHD_Result
page(struct MHD_Connection *conn, struct request *rq, int status,
    const char *title, const char *text)
{
	return queue(conn, rq, status, page_new(rq, title, text));
}

/*
 * Why an exchange with the handler failed (errno err), in words for the
 * log: timeout_s is the timeout that applied, prefix goes before any
 * other reason.  A timeout shows as EAGAIN (SO_RCVTIMEO, SO_SNDTIMEO),
 * which strerror() calls "Resource temporarily unavailable": that would
 * not say that the handler is stuck.
 */
static void
handler_why(int err, int timeout_s, const char *prefix, char *out,
    size_t outsz)
{
	if (err == EAGAIN || err == EWOULDBLOCK)
		snprintf(out, outsz, "did not answer within %d s", timeout_s);
	else if (err == ETIMEDOUT)
		snprintf(out, outsz, "every connection busy for %d s",
		    timeout_s);
	else if (err == EFBIG)
		snprintf(out, outsz, "%slonger than 1 MiB", prefix);
	else
		snprintf(out, outsz, "%s%s", prefix, strerror(err));
}

/*
 * Ask the handler for a token for form, over FastCGI as a browser's
 * GET /token/<form> would.  0 with the token in out, or -1, logged.  It
 * waits TOKEN_TIMEOUT, not -t: the page is served without a token then
 * (form.js asks for one), where waiting longer would hold the page.
 */
static int
fetch_token(const char *form, char *out, size_t outsz)
{
	struct fcgi_conn fc;
	struct buf resp, err;
	char uri[128], why[128];
	const char *p, *q;
	int r = -1;

	snprintf(uri, sizeof(uri), "/token/%s", form);
	buf_init(&resp, 16 * 1024);
	buf_init(&err, 16 * 1024);
	if (relay_get(&fc, TOKEN_TIMEOUT) == -1) {
		handler_why(errno, TOKEN_TIMEOUT, "", why, sizeof(why));
		goto out;
	}
	if (fcgi_begin(&fc) == -1 ||
	    fcgi_param(&fc, "GATEWAY_INTERFACE", "CGI/1.1") == -1 ||
	    fcgi_param(&fc, "REQUEST_METHOD", "GET") == -1 ||
	    fcgi_param(&fc, "SCRIPT_NAME", "/token") == -1 ||
	    fcgi_param(&fc, "PATH_INFO", uri + 6) == -1 ||
	    fcgi_param(&fc, "REQUEST_URI", uri) == -1 ||
	    fcgi_param(&fc, "REMOTE_ADDR", "127.0.0.1") == -1 ||
	    fcgi_end_params(&fc) == -1 || fcgi_stdin(&fc, NULL, 0) == -1 ||
	    fcgi_read_response(&fc, &resp, &err) == -1) {
		handler_why(errno, TOKEN_TIMEOUT, "no complete answer: ", why,
		    sizeof(why));
		goto put;
	}
	if (resp.data == NULL ||
	    (p = strstr(resp.data, "\"token\":\"")) == NULL ||
	    (q = strchr(p + 9, '"')) == NULL || (size_t)(q - p - 9) >= outsz) {
		snprintf(why, sizeof(why), "no token in its answer");
		goto put;
	}
	snprintf(out, outsz, "%.*s", (int)(q - p - 9), p + 9);
	r = 0;
put:
	relay_put(&fc, r == 0);
out:
	if (r == -1)
		log_warnx("no token for the %s page from the form handler at "
		    "%s: %s; the page goes out without one", form, opt.handler,
		    why);
	buf_free(&resp);
	buf_free(&err);
	return r;
}

/*
 * A page with a {{token}} placeholder gets a fresh token for the form
 * its action="/submit/NAME" names, as the production site's page
 * renderer would.  Returns 0 when path is not such a page (serve it as a
 * file), else 1 with the response queued.
 */
static int
render_token_page(struct MHD_Connection *conn, struct request *rq,
    const char *path)
{
	char chunk[4096], form[65], tok[256];
	const char *act, *ph;
	struct MHD_Response *resp;
	struct buf page, out;
	ssize_t n;
	size_t len;
	int fd;

	buf_init(&page, 512 * 1024);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(&page, chunk, (size_t)n) == -1)
			break;
	close(fd);
	if (n != 0 || page.data == NULL || strstr(page.data, "{{token}}") ==
	    NULL || (act = strstr(page.data, "action=\"/submit/")) == NULL) {
		buf_free(&page);
		return 0;
	}
	act += strlen("action=\"/submit/");
	len = strcspn(act, "\"");
	if (len == 0 || len >= sizeof(form)) {
		buf_free(&page);
		return 0;
	}
	snprintf(form, sizeof(form), "%.*s", (int)len, act);
	if (fetch_token(form, tok, sizeof(tok)) == -1)
		tok[0] = '\0';		/* form.js fetches one itself */
	buf_init(&out, page.max + 4096);
	for (act = page.data; (ph = strstr(act, "{{token}}")) != NULL;
	    act = ph + 9) {
		buf_append(&out, act, (size_t)(ph - act));
		buf_puts(&out, tok);
	}
	buf_puts(&out, act);
	resp = MHD_create_response_from_buffer(out.len, out.data,
	    MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(resp, "Content-Type",
	    "text/html; charset=utf-8");
	/*
	 * Never shared, never reused for a new visit (each gets its own
	 * token), but kept for Back: the page comes back with the token it
	 * was sent with, so "Send" again answers with the first reference
	 * instead of delivering a second order (no-store made Back load a
	 * new token).
	 */
	MHD_add_response_header(resp, "Cache-Control", "private, no-cache");
	rq->bytes = out.len;
	if (queue(conn, rq, 200, resp) != MHD_YES)
		rq->status = 0;
	buf_free(&page);
	buf_free(&out);
	return 1;
}

/*
 * Location of folder url (decoded) with its slash: percent-encoded again,
 * and one leading slash, so "//host" is a path here and not another site
 * (a protocol-relative URL), and "/a%3fb" does not become a query.
 */
static void
folder_location(const char *url, char *out, size_t outsz)
{
	static const char safe[] = "-._~!$&'()*+,;=:@/";
	size_t o = 0;

	url += strspn(url, "/");
	out[o++] = '/';
	for (; *url != '\0' && o + 4 < outsz; url++) {
		unsigned char c = (unsigned char)*url;

		if (isalnum(c) || (c != '\0' && strchr(safe, c) != NULL))
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, outsz - o, "%%%02X", c);
	}
	if (o > 1)
		out[o++] = '/';
	out[o] = '\0';
}

static enum MHD_Result
serve_file(struct MHD_Connection *conn, struct request *rq, const char *url)
{
	char path[PATH_MAX], loc[600];
	struct MHD_Response *resp;
	struct stat st;
	int fd;

	if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0) {
		/* A form posted to a page (a wrong action=) lands here: a
		 * person should see a page that says so, not a blank one. */
		resp = page_new(rq, "Method not allowed", "This address is a "
		    "page of the site: it can be fetched (GET, HEAD), not "
		    "sent to.");
		MHD_add_response_header(resp, "Allow", "GET, HEAD");
		return queue(conn, rq, 405, resp);
	}
	switch (static_resolve(opt.root, url, path, sizeof(path))) {
	case STATIC_FORBIDDEN:
		return page(conn, rq, 403, "Forbidden",
		    "That path is outside the site.");
	case STATIC_REDIRECT:
		folder_location(url, loc, sizeof(loc));
		resp = MHD_create_response_from_buffer(0, NULL,
		    MHD_RESPMEM_PERSISTENT);
		MHD_add_response_header(resp, "Location", loc);
		return queue(conn, rq, 301, resp);
	case STATIC_NOT_FOUND:
		if (static_resolve(opt.root, "/404.html", path,
		    sizeof(path)) != STATIC_FILE)
			return page(conn, rq, 404, "Not found",
			    "There is no such page.");
		url = "/404.html";
		break;
	case STATIC_FILE:
		break;
	}
	if (strstr(path, ".html") != NULL && render_token_page(conn, rq, path))
		return rq->status != 0 ? MHD_YES : MHD_NO;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		if (fd != -1)
			close(fd);
		return page(conn, rq, 404, "Not found", "There is no such page.");
	}
	resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
	MHD_add_response_header(resp, "Content-Type",
	    static_content_type(path));
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	rq->bytes = (size_t)st.st_size;
	return queue(conn, rq, strcmp(url, "/404.html") == 0 &&
	    strcmp(rq->path, "/404.html") != 0 ? 404 : 200, resp);
}

/* The request headers that become HTTP_* variables, in their order. */
struct header_list {
	const char	**key;		/* libmicrohttpd's strings, valid */
	const char	**value;	/* until the request ends */
	size_t		  n;
};

/*
 * 1 if a header name may become a CGI variable: letters, digits and '-'
 * only, as nginx (underscores_in_headers off) takes them.  "X_Dup" and
 * "X-Dup" would both be HTTP_X_DUP, and the handler could not tell
 * which one it was given (or a proxy in front checked).
 */
static int
is_cgi_header_name(const char *key)
{
	static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-";

	return key[0] != '\0' && key[strspn(key, ok)] == '\0';
}

static enum MHD_Result
collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct header_list *hl = cls;

	(void)kind;
	/* Content-Type and -Length are CONTENT_TYPE and CONTENT_LENGTH. */
	if (strcasecmp(key, "Content-Type") == 0 ||
	    strcasecmp(key, "Content-Length") == 0 ||
	    !is_cgi_header_name(key) || strlen(key) > 100)
		return MHD_YES;
	hl->key = xreallocarray(hl->key, hl->n + 1, sizeof(*hl->key));
	hl->value = xreallocarray(hl->value, hl->n + 1, sizeof(*hl->value));
	hl->key[hl->n] = key;
	hl->value[hl->n] = value != NULL ? value : "";
	hl->n++;
	return MHD_YES;
}

/*
 * HTTP request headers become HTTP_* variables, as in CGI.  A header
 * sent more than once becomes one variable, its values joined with ", "
 * (Cookie: "; "), as RFC 3875 4.1.18 says and nginx does: libfcgi's
 * FCGX_GetParam returns the first of two variables of one name, so the
 * handler would see "Accept: text/html" of "text/html" and
 * "application/json".  0, or -1 if the variables do not fit.
 */
static int
send_header_params(struct MHD_Connection *conn, struct request *rq)
{
	struct header_list hl = { NULL, NULL, 0 };
	struct buf value;
	char name[128];
	size_t i, j;
	int r = 0;

	MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, &hl);
	buf_init(&value, 64 * 1024);
	for (i = 0; i < hl.n && r == 0; i++) {
		for (j = 0; j < i; j++)
			if (strcasecmp(hl.key[j], hl.key[i]) == 0)
				break;
		if (j < i)
			continue;	/* joined to the first one */
		buf_reset(&value);
		r = buf_puts(&value, hl.value[i]);
		for (j = i + 1; j < hl.n && r == 0; j++)
			if (strcasecmp(hl.key[j], hl.key[i]) == 0 &&
			    (buf_puts(&value, strcasecmp(hl.key[i],
			    "Cookie") == 0 ? "; " : ", ") == -1 ||
			    buf_puts(&value, hl.value[j]) == -1))
				r = -1;
		snprintf(name, sizeof(name), "HTTP_%s", hl.key[i]);
		for (j = 5; name[j] != '\0'; j++)
			name[j] = name[j] == '-' ? '_' :
			    (char)toupper((unsigned char)name[j]);
		if (r == 0)
			r = fcgi_param(&rq->fc, name, value.data);
	}
	if (r == -1)
		errno = E2BIG;
	buf_free(&value);
	free(hl.key);
	free(hl.value);
	return r;
}

/* BEGIN_REQUEST and the CGI variables on rq's connection: 0 or -1. */
static int
send_request_head(struct MHD_Connection *conn, struct request *rq,
    const char *url)
{
	const union MHD_ConnectionInfo *ci;
	char addr[INET6_ADDRSTRLEN] = "127.0.0.1", port[8] = "0";
	const char *v;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci != NULL && ci->client_addr->sa_family == AF_INET) {
		const struct sockaddr_in *sin =
		    (const struct sockaddr_in *)(const void *)ci->client_addr;

		inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
		snprintf(port, sizeof(port), "%u", ntohs(sin->sin_port));
	} else if (ci != NULL && ci->client_addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 =
		    (const struct sockaddr_in6 *)(const void *)ci->client_addr;

		inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof(addr));
		snprintf(port, sizeof(port), "%u", ntohs(sin6->sin6_port));
	}
	if (fcgi_begin(&rq->fc) == -1)
		return -1;
	fcgi_param(&rq->fc, "GATEWAY_INTERFACE", "CGI/1.1");
	fcgi_param(&rq->fc, "SERVER_SOFTWARE", "formdrop-devserver");
	fcgi_param(&rq->fc, "SERVER_PROTOCOL", rq->proto);
	fcgi_param(&rq->fc, "REQUEST_METHOD", rq->method);
	fcgi_param(&rq->fc, "REQUEST_URI", url);
	fcgi_param(&rq->fc, "DOCUMENT_URI", url);
	fcgi_param(&rq->fc, "DOCUMENT_ROOT", opt.root);
	/* /submit/<form> or /token/<form>: SCRIPT_NAME and PATH_INFO as
	 * nginx's "location ~ ^(/submit|/token)(/.*)$" would set them. */
	{
		size_t script = strncmp(url, "/token/", 7) == 0 ? 6 : 7;
		char name[8];

		snprintf(name, sizeof(name), "%.*s", (int)script, url);
		fcgi_param(&rq->fc, "SCRIPT_NAME", name);
		fcgi_param(&rq->fc, "PATH_INFO", url + script);
	}
	fcgi_param(&rq->fc, "QUERY_STRING", "");
	fcgi_param(&rq->fc, "REMOTE_ADDR", addr);
	fcgi_param(&rq->fc, "REMOTE_PORT", port);
	fcgi_param(&rq->fc, "SERVER_NAME", "localhost");
	fcgi_param(&rq->fc, "SERVER_PORT", opt.port);
	if ((v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "Content-Type")) != NULL)
		fcgi_param(&rq->fc, "CONTENT_TYPE", v);
	if ((v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "Content-Length")) != NULL)
		fcgi_param(&rq->fc, "CONTENT_LENGTH", v);
	if (send_header_params(conn, rq) == -1)
		return -1;
	return fcgi_end_params(&rq->fc);
}

/*
 * 1 if the connection ended (EOF, shown as ECONNRESET, or EPIPE) before
 * any byte of an answer: a reload ends the handler's workers that wait
 * for a request at once, also one that has read only part of it, so
 * the request was not taken, and one without a body may be sent again.
 * Not a timeout: a handler that is stuck or slow would get the request
 * again, and the browser would wait for each.
 */
static int
is_connection_end(int err)
{
	return err == ECONNRESET || err == EPIPE;
}

/*
 * Open the FastCGI request: BEGIN_REQUEST and the variables.  One sent
 * to a worker that has just gone (a kept connection, or a new one that a
 * worker accepted as a reload ended it) fails at a write before anything
 * of the request was taken, a body included: then again on another
 * connection, RESEND_MAX times at most.  0, or -1 with errno.
 */
static int
relay_start(struct MHD_Connection *conn, struct request *rq, const char *url)
{
	int tries, saved;

	for (tries = 0;; tries++) {
		if (relay_get(&rq->fc, opt.timeout) == -1)
			return -1;
		if (send_request_head(conn, rq, url) == 0)
			return 0;
		saved = errno;
		relay_put(&rq->fc, 0);
		errno = saved;
		if (tries == RESEND_MAX || !is_connection_end(saved))
			return -1;
	}
}

/*
 * The headers of the handler's answer, kept until the body is known:
 * "name\0value\0" pairs, whole (each line is bounded by the CGI parser's
 * CGI_HEADER_MAX, all of them by the answer's size).
 */
struct cgi_headers {
	struct buf	kept;
	int		lost;		/* one did not fit */
};

static void
keep_header(void *arg, const char *name, const char *value)
{
	struct cgi_headers *h = arg;

	/* Once one is lost the answer is a 502: what is kept is unused. */
	if (buf_append(&h->kept, name, strlen(name) + 1) == -1 ||
	    buf_append(&h->kept, value, strlen(value) + 1) == -1)
		h->lost = 1;
}

/*
 * Add the kept headers to resp: 0, or -1 (logged) when one cannot be
 * passed on as the handler sent it (libmicrohttpd refuses some, such as
 * an empty value): the caller answers 502 rather than a response that
 * differs from the handler's.  Content-Length is libmicrohttpd's, from
 * the body it sends.
 */
static int
pass_headers(struct MHD_Response *resp, const struct cgi_headers *h)
{
	const char *name, *value;
	size_t i;

	if (h->lost) {
		log_warnx("form handler at %s: its answer's headers do not "
		    "fit in memory", opt.handler);
		return -1;
	}
	for (i = 0; i < h->kept.len; i = (size_t)(value - h->kept.data) +
	    strlen(value) + 1) {
		name = h->kept.data + i;
		value = name + strlen(name) + 1;
		if (strcasecmp(name, "Content-Length") == 0)
			continue;
		if (MHD_add_response_header(resp, name, value) != MHD_YES) {
			log_warnx("form handler at %s: its header %s (%zu "
			    "bytes) cannot be passed on", opt.handler, name,
			    strlen(value));
			return -1;
		}
	}
	return 0;
}

/*
 * End STDIN and read the handler's answer into out: 0, or -1 with errno.
 * A request without a body whose connection ended before any answer
 * (is_connection_end) is sent again, RESEND_MAX times at most, on another
 * connection.  (One with a body cannot be: it was streamed, not kept.)
 */
static int
relay_answer(struct MHD_Connection *conn, struct request *rq,
    const char *url, struct buf *out, struct buf *err)
{
	int tries;

	for (tries = 0;; tries++) {
		if (fcgi_stdin(&rq->fc, NULL, 0) == 0 &&
		    fcgi_read_response(&rq->fc, out, err) == 0)
			return 0;
		if (rq->has_body || out->len > 0 || err->len > 0 ||
		    tries == RESEND_MAX || !is_connection_end(errno))
			return -1;
		relay_put(&rq->fc, 0);
		if (relay_start(conn, rq, url) == -1)
			return -1;
	}
}

/* End STDIN, read the handler's answer, queue it as the response. */
static enum MHD_Result
relay_finish(struct MHD_Connection *conn, struct request *rq,
    const char *url)
{
	struct MHD_Response *resp;
	struct cgi_headers h;
	struct buf out, err;
	char why[128];
	size_t off = 0;
	int status = 502, ok;
	const char *text;
	enum MHD_Result r;

	buf_init(&out, RESPONSE_MAX);
	buf_init(&err, 16 * 1024);
	buf_init(&h.kept, RESPONSE_MAX);
	h.lost = 0;
	ok = relay_answer(conn, rq, url, &out, &err) == 0;
	if (!ok)
		handler_why(errno, opt.timeout, "no complete answer: ", why,
		    sizeof(why));
	if (err.len > 0)
		log_warnx("handler stderr: %.*s", (int)err.len, err.data);
	if (!ok) {
		log_warnx("form handler at %s: %s", opt.handler, why);
		text = "The form handler did not answer; the development "
		    "server's log says why.";
		goto fail;
	}
	if (cgi_response_parse(out.data != NULL ? out.data : "", out.len,
	    &status, keep_header, &h, &off) == -1) {
		log_warnx("form handler at %s: malformed answer", opt.handler);
		text = "The form handler sent a malformed answer.";
		goto fail;
	}
	resp = MHD_create_response_from_buffer(out.len - off, out.data + off,
	    MHD_RESPMEM_MUST_COPY);
	if (pass_headers(resp, &h) == -1) {
		MHD_destroy_response(resp);
		text = "The form handler sent a header that cannot be passed "
		    "on; the development server's log says which.";
		goto fail;
	}
	/* Error answers may leave body bytes unread: never reuse those. */
	relay_put(&rq->fc, status < 400);
	rq->bytes = out.len - off;
	r = queue(conn, rq, status, resp);
	goto out;
fail:
	relay_put(&rq->fc, 0);
	r = page(conn, rq, 502, "Bad gateway", text);
out:
	buf_free(&h.kept);
	buf_free(&out);
	buf_free(&err);
	return r;
}

static struct watch *
watch_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn,
	    MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	const union MHD_ConnectionInfo *ci;
	struct watch *w = *socket_context, **pp;

	(void)cls;
	pthread_mutex_lock(&watch_lock);
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(conn,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci != NULL && (w = calloc(1, sizeof(*w))) != NULL) {
			w->fd = ci->connect_fd;
			w->since = time(NULL);
			w->next = watches;
			watches = w;
			*socket_context = w;
		}
	} else if (w != NULL) {
		for (pp = &watches; *pp != NULL; pp = &(*pp)->next)
			if (*pp == w) {
				*pp = w->next;
				break;
			}
		free(w);
		*socket_context = NULL;
	}
	pthread_mutex_unlock(&watch_lock);
}

static void
watch_mark(struct MHD_Connection *conn, int headers_done)
{
	struct watch *w = watch_of(conn);

	if (w == NULL)
		return;
	pthread_mutex_lock(&watch_lock);
	w->headers_done = headers_done;
	if (!headers_done)
		w->since = time(NULL);	/* the next request starts */
	pthread_mutex_unlock(&watch_lock);
}

/* Called by the main thread every second. */
static void
watch_sweep(void)
{
	time_t now = time(NULL);
	struct watch *w;

	pthread_mutex_lock(&watch_lock);
	for (w = watches; w != NULL; w = w->next)
		if ((!w->headers_done && now - w->since > HEADER_TIMEOUT) ||
		    now - w->since > REQUEST_TIMEOUT) {
			log_info("closing connection fd %d: no complete "
			    "request in %lds (idle, or too slow)", w->fd,
			    (long)(now - w->since));
			shutdown(w->fd, SHUT_RDWR);
			w->since = now;	/* once is enough */
			w->headers_done = 1;
		}
	pthread_mutex_unlock(&watch_lock);
}

/*
 * %-decode a URL in place as libmicrohttpd would, except that %00 becomes
 * a backslash: a NUL would silently cut the path ("/a.html%00.txt" would
 * serve /a.html), a backslash is refused by the path checks.
 */
static size_t
unescape_url(void *cls, struct MHD_Connection *conn, char *s)
{
	char *o = s, *p;
	int hi, lo;

	(void)cls;
	(void)conn;
	for (p = s; *p != '\0'; p++) {
		if (p[0] == '%' && (hi = hex_value(p[1])) != -1 &&
		    (lo = hex_value(p[2])) != -1) {
			*o++ = hi == 0 && lo == 0 ? '\\' : (char)(hi << 4 | lo);
			p += 2;
		} else
			*o++ = *p;
	}
	*o = '\0';
	return (size_t)(o - s);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct request *rq = *con_cls;
	char why[128];

	(void)cls;
	if (rq == NULL) {
		watch_mark(conn, 1);
		rq = xcalloc(1, sizeof(*rq));
		clock_gettime(CLOCK_MONOTONIC, &rq->start);
		snprintf(rq->method, sizeof(rq->method), "%s", method);
		snprintf(rq->path, sizeof(rq->path), "%s", url);
		rq->fc.fd = -1;
		*con_cls = rq;
		snprintf(rq->proto, sizeof(rq->proto), "%s", version);
		/*
		 * RFC 9112 6.3: Transfer-Encoding overrides Content-Length,
		 * and a request with both may be smuggling one past a proxy
		 * that read the other.  nginx refuses it with 400 and closes
		 * the connection; so do we, before anything is relayed (the
		 * handler would have been given a CONTENT_LENGTH that is
		 * not the body's).
		 */
		if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    "Transfer-Encoding") != NULL &&
		    MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    "Content-Length") != NULL)
			return page(conn, rq, 400, "Bad request", "The request "
			    "has both a Content-Length and a "
			    "Transfer-Encoding header.");
		rq->relay = strncmp(url, "/submit/", 8) == 0 ||
		    strncmp(url, "/token/", 7) == 0;
		if (!rq->relay)
			return MHD_YES;
		if (relay_start(conn, rq, url) == -1) {
			handler_why(errno, opt.timeout, "", why, sizeof(why));
			log_warnx("form handler at %s: %s", opt.handler, why);
			rq->failed = "The form handler could not be reached; "
			    "the development server's log says why. Try "
			    "again in a moment.";
			return MHD_YES;
		}
		rq->relay_ok = 1;
		return MHD_YES;
	}
	if (!rq->relay) {
		/* Read (and drop) a body before answering: answering first
		 * would cut the client off mid-request. */
		if (*upload_data_size > 0) {
			*upload_data_size = 0;
			return MHD_YES;
		}
		return serve_file(conn, rq, url);
	}
	if (rq->failed != NULL) {
		/* Read (and drop) the rest of the body, then answer: an
		 * answer queued mid-upload is refused, and the browser
		 * would be cut off without a word. */
		if (*upload_data_size > 0) {
			*upload_data_size = 0;
			return MHD_YES;
		}
		return page(conn, rq, 502, "Bad gateway", rq->failed);
	}
	if (*upload_data_size > 0) {
		/* Stream the body: nothing is kept here. */
		rq->has_body = 1;
		if (fcgi_stdin(&rq->fc, upload_data, *upload_data_size) == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				snprintf(why, sizeof(why), "took nothing for "
				    "%d s", opt.timeout);
			else
				snprintf(why, sizeof(why), "%s",
				    strerror(errno));
			log_warnx("form handler at %s stopped reading the "
			    "form: %s", opt.handler, why);
			relay_put(&rq->fc, 0);
			rq->relay_ok = 0;
			rq->failed = "The form handler stopped reading the "
			    "form; the development server's log says why.";
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	rq->relay_ok = 0;
	return relay_finish(conn, rq, url);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct request *rq = *con_cls;

	(void)cls;
	(void)conn;
	if (rq == NULL)
		return;
	watch_mark(conn, 0);
	if (rq->relay_ok)
		relay_put(&rq->fc, 0);
	log_info("%s %s %d %zuB %ldms%s", rq->method, rq->path, rq->status,
	    rq->bytes, elapsed_ms(&rq->start),
	    toe != MHD_REQUEST_TERMINATED_COMPLETED_OK ? " (aborted)" : "");
	free(rq);
	*con_cls = NULL;
}

/* Start formdrop.fcgi on a private unix socket. */
static void
handler_start(void)
{
	char workers[16];

	snprintf(workers, sizeof(workers), "%u", opt.workers);
	if ((handler_pid = fork()) == -1)
		fatal("fork");
	if (handler_pid == 0) {
		char sockarg[PATH_MAX + 8], msg[PATH_MAX + 128];
		int n;

		snprintf(sockarg, sizeof(sockarg), "unix:%s", handler_sock);
		/* A bare name is looked up on the PATH. */
		execlp(opt.handler_bin, opt.handler_bin, "-f", "-c", opt.conf,
		    "-s", sockarg, "-w", workers, (char *)NULL);
		/* write(2), not stdio: a stdio lock another thread held at
		 * the fork would never be released here. */
		n = snprintf(msg, sizeof(msg), "formdrop-devserver: cannot "
		    "run %s: %s\n", opt.handler_bin, strerror(errno));
		if (n > 0)
			write_all(STDERR_FILENO, msg, (size_t)n < sizeof(msg) ?
			    (size_t)n : sizeof(msg) - 1);
		_exit(127);
	}
}

/*
 * Wait until the handler's socket accepts, so the first request works:
 * 0, or -1 when it does not within 5 s or the handler we started has
 * exited (left unreaped: the main loop says how it ended).
 */
static int
handler_wait_ready(void)
{
	struct fcgi_conn c;
	siginfo_t si;
	int i;

	for (i = 0; i < 100; i++) {
		if (fcgi_connect(&c, opt.handler, 2) == 0) {
			fcgi_close(&c);
			return 0;
		}
		memset(&si, 0, sizeof(si));
		if (handler_pid > 0 && waitid(P_PID, (id_t)handler_pid, &si,
		    WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0)
			return -1;
		usleep(50000);
	}
	log_warnx("the handler does not answer on %s yet", opt.handler);
	return -1;
}

/* How the handler ended, for the log. */
static void
log_exit(int status)
{
	if (WIFEXITED(status))
		log_warnx("the form handler exited with status %d%s",
		    WEXITSTATUS(status), WEXITSTATUS(status) == 78 ?
		    " (its configuration is wrong: formdrop.fcgi -c CONF "
		    "--check says how)" : WEXITSTATUS(status) == 127 ?
		    " (it could not be run: see -x)" : "");
	else if (WIFSIGNALED(status))
		log_warnx("the form handler was killed by signal %d",
		    WTERMSIG(status));
}

/* Stop the handler this program started (if running), remove its folder. */
static void
handler_stop(const char *tmpdir)
{
	int status;

	if (handler_pid > 0) {
		kill(handler_pid, SIGTERM);
		waitpid(handler_pid, &status, 0);
		handler_pid = -1;
	}
	rmdir(tmpdir);		/* with -H there is none: ENOENT */
}

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static const char *
default_handler_bin(const char *argv0)
{
	static char path[PATH_MAX];
	char self[PATH_MAX - 64];
	ssize_t n;
	char *slash;

	(void)argv0;
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			snprintf(path, sizeof(path), "%s/../cgi/formdrop.fcgi",
			    self);
			if (access(path, X_OK) == 0)
				return path;
			snprintf(path, sizeof(path), "%s/formdrop.fcgi", self);
			if (access(path, X_OK) == 0)
				return path;
		}
	}
	return "formdrop.fcgi";
}

static int
parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[128];
	const char *colon = strrchr(spec, ':');
	unsigned long long port;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	if (colon == NULL || (size_t)(colon - spec) >= sizeof(host) ||
	    parse_uint(colon + 1, 1, 65535, &port) == -1)
		return -1;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		host[strlen(host) - 1] = '\0';
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
		return inet_pton(AF_INET6, host + 1, &sin6->sin6_addr) == 1 ?
		    0 : -1;
	}
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	*len = sizeof(*sin);
	return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
}

/* A listening socket on ss, or -1 with errno (EADDRINUSE, ...). */
static int
listen_on(const struct sockaddr_storage *ss, socklen_t len)
{
	int fd, one = 1, saved;

	if ((fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    (ss->ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
	    bind(fd, (const struct sockaddr *)ss, len) == -1 ||
	    listen(fd, 64) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static int
is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr)
		    >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->
	    sin6_addr);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "public", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct sockaddr_storage ss;
	struct MHD_Daemon *d;
	struct sigaction sa;
	unsigned long long w;
	const char *root = "www";
	char tmpdir[] = "/tmp/formdrop-devserver.XXXXXX";
	static char handler_addr[PATH_MAX + 8];
	socklen_t sslen;
	int ch, status, listen_fd, ready;
	unsigned delay = 1, k;

	opt.listen = "127.0.0.1:8080";
	opt.workers = 4;
	opt.timeout = HANDLER_TIMEOUT;
	while ((ch = getopt_long(argc, argv, "c:H:hl:r:t:w:x:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c': opt.conf = optarg; break;
		case 'H': opt.handler = optarg; break;
		case 'l': opt.listen = optarg; break;
		case 'r': root = optarg; break;
		case 'x': opt.handler_bin = optarg; break;
		case 'P': opt.public = 1; break;
		case 't':
			if (parse_uint(optarg, 1, 3600, &w) == -1)
				usage();
			opt.timeout = (int)w;
			break;
		case 'w':
			if (parse_uint(optarg, 1, 64, &w) == -1)
				usage();
			opt.workers = (unsigned)w;
			break;
		default: usage();
		}
	}
	if (optind != argc || (opt.conf == NULL) == (opt.handler == NULL))
		usage();
	log_init("formdrop-devserver", 1);
	if (realpath(root, opt.root) == NULL)
		fatal("document root %s", root);
	if (parse_listen(opt.listen, &ss, &sslen) == -1)
		fatalx_code(EX_USAGE, "-l wants ADDR:PORT (127.0.0.1:8080, "
		    "[::1]:8080), not %s", opt.listen);
	snprintf(opt.port, sizeof(opt.port), "%u", ntohs(ss.ss_family ==
	    AF_INET ? ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port));
	if (!is_loopback(&ss) && !opt.public)
		fatalx_code(EX_USAGE, "%s is not a loopback address: this is "
		    "a development server; add --public if you really mean "
		    "it", opt.listen);

	/* The port first: if it is taken, say so before anything starts. */
	if ((listen_fd = listen_on(&ss, sslen)) == -1)
		fatal("cannot listen on %s", opt.listen);

	if (opt.handler == NULL) {
		if (opt.handler_bin == NULL)
			opt.handler_bin = default_handler_bin(argv[0]);
		if (mkdtemp(tmpdir) == NULL)
			fatal("mkdtemp");
		snprintf(handler_sock, sizeof(handler_sock), "%s/fcgi.sock",
		    tmpdir);
		snprintf(handler_addr, sizeof(handler_addr), "unix:%s",
		    handler_sock);
		opt.handler = handler_addr;
		handler_start();
	}
	relay_init(opt.handler, opt.workers);
	ready = handler_wait_ready() == 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION |
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
	    (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL,
	    on_request, NULL,
	    MHD_OPTION_LISTEN_SOCKET, listen_fd,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
	    MHD_OPTION_UNESCAPE_CALLBACK, unescape_url, NULL,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)PER_IP_LIMIT,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT,
	    MHD_OPTION_END);
	if (d == NULL) {
		handler_stop(tmpdir);
		fatalx("cannot start the HTTP server on %s", opt.listen);
	}
	log_info("development server, not for production: serving %s on "
	    "http://%s/ with the form handler at %s", opt.root, opt.listen,
	    opt.handler);
	if (ready)
		log_info("ready: open http://%s/", opt.listen);
	else
		log_warnx("ready: open http://%s/, but the form handler does "
		    "not answer: forms fail until it does (see above)",
		    opt.listen);

	while (!stopping) {
		sleep(1);
		watch_sweep();
		if (handler_pid > 0 &&
		    waitpid(handler_pid, &status, WNOHANG) == handler_pid) {
			handler_pid = -1;	/* reaped: not to be signalled */
			log_exit(status);
			/* One that never got ready (a bad configuration) is
			 * restarted ever more slowly, up to every 30 s. */
			delay = ready ? 1 : delay * 2 > 30 ? 30 : delay * 2;
			log_warnx("restarting it in %u s", delay);
			for (k = 0; k < delay && !stopping; k++) {
				sleep(1);
				watch_sweep();	/* slow clients meanwhile */
			}
			if (stopping)
				break;
			handler_start();
			ready = handler_wait_ready() == 0;
		}
	}
	log_info("stopping");
	MHD_stop_daemon(d);
	handler_stop(tmpdir);
	return 0;
}
