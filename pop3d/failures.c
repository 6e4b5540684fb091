/*
 * Failed logins by client address within a sliding window: each address
 * keeps the times of its last POP3_EXIT_FAILURES_MAX failures (the most
 * max_login_failures can be), in a ring.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "bounds.h"
#include "failures.h"

#define FAILURE_TABLE_MAX	4096	/* addresses remembered */

struct failure {
	char	addr[INET6_ADDRSTRLEN];	/* "": a free place */
	unsigned next;			/* its ring's next slot */
	time_t	last;			/* its newest failure */
};

/*
 * The addresses, scanned on every connection, apart from their rings:
 * only the rings of addresses that failed are ever touched, so the
 * master (and every session forked from it) keeps a small table in
 * memory, not 4096 rings.
 */
static struct failure table[FAILURE_TABLE_MAX];
static time_t rings[FAILURE_TABLE_MAX][POP3_EXIT_FAILURES_MAX];

static int
recent(time_t at, time_t now)
{
	return at != 0 && now - at < POP3_FAIL_MEMORY;
}

static void
forget(size_t i)
{
	memset(&table[i], 0, sizeof(table[i]));
	memset(rings[i], 0, sizeof(rings[i]));
}

/* addr's place, or with create a new one in the stalest place: -1. */
static long
find(const char *addr, time_t now, int create)
{
	size_t i, stalest = 0;

	if (addr[0] == '\0')
		return -1;
	for (i = 0; i < FAILURE_TABLE_MAX; i++) {
		if (table[i].addr[0] != '\0' && !recent(table[i].last, now))
			forget(i);
		if (strcmp(table[i].addr, addr) == 0)
			return (long)i;
		if (table[i].last < table[stalest].last)
			stalest = i;
	}
	if (!create)
		return -1;
	forget(stalest);
	snprintf(table[stalest].addr, sizeof(table[stalest].addr), "%s",
	    addr);
	return (long)stalest;
}

void
failures_add(const char *addr, unsigned n, time_t now)
{
	struct failure *f;
	long i;

	if (n == 0 || (i = find(addr, now, 1)) == -1)
		return;
	f = &table[i];
	if (n > POP3_EXIT_FAILURES_MAX)
		n = POP3_EXIT_FAILURES_MAX;
	while (n-- > 0) {
		rings[i][f->next] = now;
		f->next = (f->next + 1) % POP3_EXIT_FAILURES_MAX;
	}
	f->last = now;
}

unsigned
failures_recent(const char *addr, time_t now)
{
	unsigned count = 0;
	size_t k;
	long i;

	if ((i = find(addr, now, 0)) == -1)
		return 0;
	for (k = 0; k < POP3_EXIT_FAILURES_MAX; k++)
		if (recent(rings[i][k], now))
			count++;
	return count;
}

void
failures_clear(void)
{
	memset(table, 0, sizeof(table));
	memset(rings, 0, sizeof(rings));
}
