/*
 * abuf: straight-line appends into caller memory, for the per-request
 * path (response heads, token bodies, audit and log lines) where the
 * printf family costs thousands of instructions a call.  An append that
 * does not fit copies what does, sets over and leaves the buffer full:
 * the bytes written are then exactly the prefix snprintf would have
 * kept, so a caller may either cut (logs) or refuse (responses).
 * No allocation, no NUL unless the caller adds one.
 */
#ifndef AGENT_ABUF_H
#define AGENT_ABUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct abuf {
	char *p;    /* the caller's memory, cap bytes */
	size_t len; /* bytes written, <= cap */
	size_t cap;
	bool over; /* an append was cut: len == cap */
};

/*
 * Starts an empty buffer over mem (cap bytes, owned by the caller, which
 * must outlive the appends).  To leave room for a NUL, pass cap - 1.
 */
static inline void
abuf_init(struct abuf *b, char *mem, size_t cap)
{
	b->p = mem;
	b->len = 0;
	b->cap = cap;
	b->over = false;
}

/* abuf_add's slow path: the n bytes of s that fit, and over set. */
void abuf_add_cut(struct abuf *b, const void *s, size_t n);

/*
 * Appends n bytes of s (n may be 0, s then may be NULL), or the part of
 * them that fits, setting over.  Inline so that a constant n (ABUF_LIT)
 * becomes a few stores rather than a call to memcpy.
 */
static inline void
abuf_add(struct abuf *b, const void *s, size_t n)
{
	if (n <= b->cap - b->len) {
		if (n > 0)
			memcpy(b->p + b->len, s, n);
		b->len += n;
		return;
	}
	abuf_add_cut(b, s, n);
}

/* Appends a string literal, its length known when compiling. */
#define ABUF_LIT(b, lit) abuf_add((b), "" lit, sizeof(lit) - 1)

/* Appends one byte (or sets over). */
static inline void
abuf_ch(struct abuf *b, char ch)
{
	if (b->len < b->cap)
		b->p[b->len++] = ch;
	else
		b->over = true;
}

/* Appends the NUL-terminated s, without its NUL. */
void abuf_str(struct abuf *b, const char *s);

/* Appends v in decimal ("0", "-12", "18446744073709551615"). */
void abuf_u64(struct abuf *b, uint64_t v);
void abuf_i64(struct abuf *b, int64_t v);

/*
 * Appends src (len bytes) escaped as the inside of a JSON string, as
 * log_json_escape does: at most max bytes of it, cut before the first
 * character whose escape would pass them (then cut like any append when
 * the buffer is fuller).
 */
void abuf_json(struct abuf *b, const char *src, size_t len, size_t max);

/*
 * Copies the NUL-terminated src into dst of size dstlen (> 0), cut at
 * dstlen - 1 bytes and always NUL-terminated: snprintf(dst, dstlen, "%s",
 * src) without the format.  Returns the length copied.
 */
size_t abuf_strlcpy(char *dst, size_t dstlen, const char *src);

#endif
