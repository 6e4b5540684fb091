/*
 * One growable, binary-safe byte buffer whose bound is part of it.
 * Appending past max fails with -1 and leaves the buffer unchanged, so an
 * oversized input becomes a clean error, never an out-of-memory.  The data
 * is always NUL-terminated (the NUL is not counted in len).  Storage is
 * wiped when it grows and when it is freed: buffers carry submissions.
 */
#ifndef FORMDROP_BUF_H
#define FORMDROP_BUF_H

#include <stddef.h>

struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
	size_t	 max;
};

void	buf_init(struct buf *, size_t max);
void	buf_free(struct buf *);
void	buf_reset(struct buf *);
int	buf_append(struct buf *, const void *, size_t);
int	buf_puts(struct buf *, const char *);
int	buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
char	*buf_steal(struct buf *);

/*
 * One byte.  Inline for the common case, room already there: the
 * encoders append a byte at a time, and a call per byte was the largest
 * user-space cost of a submission in the profile.
 */
static inline int
buf_putc(struct buf *b, char c)
{
	/* Room for c and the NUL; cap is never above max + 1. */
	if (b->cap - b->len >= 2) {
		b->data[b->len++] = c;
		b->data[b->len] = '\0';
		return 0;
	}
	return buf_append(b, &c, 1);
}

#endif
