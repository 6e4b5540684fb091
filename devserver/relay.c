/*
 * The handler connection pool and the CGI response parser of
 * formdrop-devserver.  The pool is shared by the connection threads.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "relay.h"
#include "util.h"

#define POOL_MAX	64
#define CGI_HEADER_MAX	4096

/*
 * A libfcgi worker serves one connection at a time and stays with a kept
 * connection until it closes.  So at most as many connections as the
 * handler has workers may exist at once (the slots), or a new connection
 * would wait for a worker that an idle pooled one holds.
 */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slot_free = PTHREAD_COND_INITIALIZER;
static int pool[POOL_MAX];
static size_t pool_n, slots_used, slots_max = 1;
static const char *handler;

void
relay_init(const char *handler_addr, unsigned workers)
{
	handler = handler_addr;
	slots_max = workers < 1 ? 1 : workers > POOL_MAX ? POOL_MAX : workers;
}

/* Wait for a connection slot; 0, or -1 after timeout_s seconds. */
static int
slot_take(int timeout_s)
{
	struct timespec until;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_s;
	pthread_mutex_lock(&pool_lock);
	while (slots_used >= slots_max && r == 0)
		r = pthread_cond_timedwait(&slot_free, &pool_lock, &until);
	if (slots_used < slots_max) {
		slots_used++;
		r = 0;
	} else
		r = -1;
	pthread_mutex_unlock(&pool_lock);
	return r;
}

static void
slot_give(void)
{
	pthread_mutex_lock(&pool_lock);
	slots_used--;
	pthread_cond_signal(&slot_free);
	pthread_mutex_unlock(&pool_lock);
}

/*
 * 1 if an idle pooled connection is still usable: nothing to read on it.
 * The handler closes a connection whose request it did not read to the
 * end; that shows as readable (EOF) here, before any request is sent.
 */
static int
is_alive(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, 0) == 0;
}

int
relay_get(struct fcgi_conn *c, int timeout_s)
{
	int fd = -1;

	if (slot_take(timeout_s) == -1) {
		errno = ETIMEDOUT;	/* every connection busy */
		return -1;
	}
	pthread_mutex_lock(&pool_lock);
	while (pool_n > 0 && fd == -1) {
		fd = pool[--pool_n];
		if (!is_alive(fd)) {
			close(fd);
			fd = -1;
		}
	}
	pthread_mutex_unlock(&pool_lock);
	if (fd == -1 && fcgi_connect(c, handler, timeout_s) == -1) {
		slot_give();
		return -1;
	}
	if (fd != -1) {
		buf_init(&c->params, 64 * 1024);
		c->fd = fd;
		fcgi_set_timeout(c, timeout_s);
	}
	c->reused = fd != -1;
	return 0;
}

void
relay_put(struct fcgi_conn *c, int keep)
{
	int fd = c->fd;

	c->fd = -1;
	buf_free(&c->params);
	if (fd == -1)
		return;		/* already given back */
	pthread_mutex_lock(&pool_lock);
	if (keep && pool_n < POOL_MAX) {
		pool[pool_n++] = fd;
		fd = -1;
	}
	pthread_mutex_unlock(&pool_lock);
	if (fd != -1)
		close(fd);
	slot_give();
}

int
cgi_response_parse(const char *data, size_t len, int *status,
    cgi_header_fn fn, void *arg, size_t *body_off)
{
	char line[CGI_HEADER_MAX], *colon, *v;
	const char *p = data, *end = data + len, *nl;
	size_t n;
	int has_location = 0, has_status = 0;
	unsigned long long code;

	*status = 200;
	for (;;) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			return -1;	/* no end of headers */
		n = (size_t)(nl - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 0) {
			*body_off = (size_t)(nl + 1 - data);
			break;
		}
		/* A stray CR or NUL inside a header line: not relayed. */
		if (n >= sizeof(line) || memchr(p, '\0', n) != NULL ||
		    memchr(p, '\r', n) != NULL)
			return -1;
		memcpy(line, p, n);
		line[n] = '\0';
		if ((colon = strchr(line, ':')) == NULL || colon == line)
			return -1;
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		if (strcasecmp(line, "Status") == 0) {
			char num[4];

			/* Three digits, then the end or a reason. */
			if (strlen(v) < 3 || (v[3] != '\0' && v[3] != ' '))
				return -1;
			memcpy(num, v, 3);
			num[3] = '\0';
			if (parse_uint(num, 100, 599, &code) == -1)
				return -1;
			*status = (int)code;
			has_status = 1;
		} else {
			if (strcasecmp(line, "Location") == 0)
				has_location = 1;
			fn(arg, line, v);
		}
		p = nl + 1;
	}
	if (has_location && !has_status)
		*status = 302;
	return 0;
}
