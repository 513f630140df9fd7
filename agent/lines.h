/*
 * lines: newline framing for Kubernetes watch streams.  Bytes arrive in
 * arbitrary pieces (HTTP chunk boundaries do not align with events); the
 * splitter keeps them in one caller-owned buffer and hands out complete
 * lines as slices of it.  Each byte is copied once, into the buffer; a push
 * does at most one memmove (moving a partial line to the front).
 *
 * A line is everything before a '\n'.  A '\r' before it is kept: Kubernetes
 * sends bare '\n', and for JSON a stray '\r' is whitespace anyway.  A line
 * longer than cap - 1 bytes cannot be held: lines_next reports it once
 * (LINES_E_TOOLONG) and the splitter drops bytes up to the next '\n', so
 * one huge event is skipped, not fatal.
 *
 * Use:
 *	while (len > 0) {
 *		n = lines_push(&l, data, len);
 *		data += n, len -= n;
 *		while ((r = lines_next(&l, &line, &linelen)) != 0)
 *			r < 0 ? report(r) : handle(line, linelen);
 *	}
 */
#ifndef AGENT_LINES_H
#define AGENT_LINES_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Handed-out bytes before an unfinished line that make a push move it to
 * the front of the buffer (else only a push that does not fit does): a
 * stream stays in the first LINES_RECLAIM_BYTES + one line of the buffer.
 */
#define LINES_RECLAIM_BYTES (64u << 10)

enum lines_err {
	LINES_E_TOOLONG = -1, /* a line did not fit the buffer: skipped */
};

/* Splitter state over the caller's buffer; members are private. */
struct lines {
	char *buf;
	size_t cap;
	size_t start;  /* first byte not yet handed out */
	size_t end;    /* one past the last byte stored */
	size_t scan;   /* [start, scan) holds no newline */
	bool skipping; /* dropping the rest of an overlong line */
};

/*
 * Starts splitting into buf (cap bytes, cap >= 1; lines of up to cap - 1
 * bytes).  buf stays the caller's and must outlive the splitter.
 */
void lines_init(struct lines *l, char *buf, size_t cap);

/* Forgets any buffered or skipped bytes (a new stream on the same buf). */
void lines_reset(struct lines *l);

/*
 * Takes bytes from data[0..len): copies what fits, or drops what belongs
 * to a skipped line.  Returns how many were taken; fewer than len only
 * when the buffer is full, so drain it with lines_next, then push the rest.
 * Invalidates the lines lines_next returned before.
 */
size_t lines_push(struct lines *l, const char *data, size_t len);

/*
 * The next complete line: *line and *len (without the '\n'), valid until
 * the next lines_push or lines_reset.  Returns 1 with a line, 0 when more
 * bytes are needed, or LINES_E_TOOLONG once per line that did not fit.
 */
int lines_next(struct lines *l, const char **line, size_t *len);

/*
 * Bytes of an unfinished line held (or being skipped: then true in
 * *skipping); at the end of a stream, non-zero means a truncated event.
 */
size_t lines_pending(const struct lines *l, bool *skipping);

/* A fixed description of err (enum lines_err). */
const char *lines_strerror(int err);

#endif
