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
	char	addr[INET6_ADDRSTRLEN];
	time_t	at[POP3_EXIT_FAILURES_MAX];	/* 0: unused */
	unsigned next;				/* the ring's next slot */
	time_t	last;				/* the newest of at[] */
};

static struct failure table[FAILURE_TABLE_MAX];

static int
recent(time_t at, time_t now)
{
	return at != 0 && now - at < POP3_FAIL_MEMORY;
}

/* addr's entry, or with create a new one in the stalest place: NULL. */
static struct failure *
find(const char *addr, time_t now, int create)
{
	struct failure *stalest = &table[0];
	size_t i;

	if (addr[0] == '\0')
		return NULL;
	for (i = 0; i < FAILURE_TABLE_MAX; i++) {
		if (table[i].addr[0] != '\0' && !recent(table[i].last, now))
			memset(&table[i], 0, sizeof(table[i]));
		if (strcmp(table[i].addr, addr) == 0)
			return &table[i];
		if (table[i].last < stalest->last)
			stalest = &table[i];
	}
	if (!create)
		return NULL;
	memset(stalest, 0, sizeof(*stalest));
	snprintf(stalest->addr, sizeof(stalest->addr), "%s", addr);
	return stalest;
}

void
failures_add(const char *addr, unsigned n, time_t now)
{
	struct failure *f;

	if (n == 0 || (f = find(addr, now, 1)) == NULL)
		return;
	if (n > POP3_EXIT_FAILURES_MAX)
		n = POP3_EXIT_FAILURES_MAX;
	while (n-- > 0) {
		f->at[f->next] = now;
		f->next = (f->next + 1) % POP3_EXIT_FAILURES_MAX;
	}
	f->last = now;
}

unsigned
failures_recent(const char *addr, time_t now)
{
	const struct failure *f;
	unsigned count = 0;
	size_t i;

	if ((f = find(addr, now, 0)) == NULL)
		return 0;
	for (i = 0; i < POP3_EXIT_FAILURES_MAX; i++)
		if (recent(f->at[i], now))
			count++;
	return count;
}

void
failures_clear(void)
{
	memset(table, 0, sizeof(table));
}
