/*
 * The shared rate-limit table: RATE_SLOTS fixed-size slots addressed by a
 * hash of (form, network), with linear probing; when the probe window is
 * full, the slot idle longest is reused.  Every update holds flock() on
 * the file, so the handler processes see one table.
 */
#include <sys/file.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ratelimit.h"

#define RATE_SLOTS	8192
#define RATE_PROBE	8

struct slot {
	uint64_t	key;		/* 0: free */
	double		tokens;
	double		last;		/* seconds, CLOCK_REALTIME */
};

/* The network a client belongs to: the address, or its IPv6 /64. */
static uint64_t
client_key(const char *form, const char *client)
{
	unsigned char net[16], md[32];
	unsigned int len;
	EVP_MD_CTX *ctx;
	size_t netlen = 0;
	uint64_t k;

	if (inet_pton(AF_INET6, client, net) == 1 &&
	    IN6_IS_ADDR_V4MAPPED((struct in6_addr *)net)) {
		memmove(net, net + 12, 4);	/* ::ffff:a.b.c.d is IPv4 */
		netlen = 4;
	} else if (inet_pton(AF_INET6, client, net) == 1) {
		memset(net + 8, 0, 8);
		netlen = 16;
	} else if (inet_pton(AF_INET, client, net) == 1)
		netlen = 4;
	ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, form, strlen(form) + 1);
	EVP_DigestUpdate(ctx, netlen > 0 ? (const void *)net : client,
	    netlen > 0 ? netlen : strlen(client));
	EVP_DigestFinal_ex(ctx, md, &len);
	EVP_MD_CTX_free(ctx);
	memcpy(&k, md, sizeof(k));
	return k == 0 ? 1 : k;
}

int
ratelimit_take(const char *path, const char *form, const char *client,
    unsigned burst, unsigned period)
{
	struct timespec ts;

	/* The wall clock: the table outlives processes and boots. */
	clock_gettime(CLOCK_REALTIME, &ts);
	return ratelimit_take_at(path, form, client, burst, period,
	    (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

int
ratelimit_take_at(const char *path, const char *form, const char *client,
    unsigned burst, unsigned period, double now)
{
	struct slot s, victim;
	uint64_t key = client_key(form, client);
	double rate = (double)burst / (double)period;
	off_t off, victim_off = -1;
	size_t i, base;
	int fd, r = -1, found = 0;

	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return -1;
	if (flock(fd, LOCK_EX) == -1)
		goto out;
	base = (size_t)(key % RATE_SLOTS);
	memset(&victim, 0, sizeof(victim));
	/* Our slot if it is in the window; else a free one; else the
	 * one idle longest. */
	for (i = 0; i < RATE_PROBE && !found; i++) {
		off = (off_t)(((base + i) % RATE_SLOTS) * sizeof(s));
		if (pread(fd, &s, sizeof(s), off) != (ssize_t)sizeof(s))
			memset(&s, 0, sizeof(s));	/* past the end: free */
		if (s.key == key)
			found = 1;
		if (found || victim_off == -1 ||
		    (victim.key != 0 && (s.key == 0 || s.last < victim.last))) {
			victim_off = off;
			victim = s;
		}
	}
	if (!found) {
		victim.key = key;
		victim.tokens = burst;
		victim.last = now;
	}
	/* A clock set back must not drain the bucket below what it held. */
	if (now > victim.last)
		victim.tokens += (now - victim.last) * rate;
	if (victim.tokens > burst)
		victim.tokens = burst;
	victim.last = now;
	if (victim.tokens >= 1.0) {
		victim.tokens -= 1.0;
		r = 0;
	} else
		r = (int)ceil((1.0 - victim.tokens) / rate);
	if (pwrite(fd, &victim, sizeof(victim), victim_off) !=
	    (ssize_t)sizeof(victim))
		r = r == 0 ? -1 : r;
out:
	close(fd);	/* releases the lock */
	return r;
}
