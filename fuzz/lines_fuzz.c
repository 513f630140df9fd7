/*
 * agent/lines.c: the first input byte picks the buffer size (1..64), the
 * second the pattern of piece sizes; the rest is the stream.  Invariant:
 * the splitter gives exactly what a plain split of the whole stream gives
 * (each line, or LINES_E_TOOLONG for one that does not fit), its lines
 * are slices of its buffer, and the pending count matches at the end.
 * The buffer and every piece are exact-size allocations.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/lines.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct fuzz_ref {
	const char *s;
	size_t n, cap;
	size_t pos; /* next unmatched byte of s */
};

/* The next output the reference split expects; 0 at the end. */
static int
fuzz_ref_next(struct fuzz_ref *r, size_t *off, size_t *len)
{
	const char *nl;

	if (r->pos >= r->n)
		return 0;
	nl = memchr(r->s + r->pos, '\n', r->n - r->pos);
	if (nl == NULL) {
		if (r->n - r->pos < r->cap)
			return 0;
		r->pos = r->n;
		return LINES_E_TOOLONG;
	}
	*off = r->pos;
	*len = (size_t)(nl - (r->s + r->pos));
	r->pos += *len + 1;
	return *len < r->cap ? 1 : LINES_E_TOOLONG;
}

static void
fuzz_drain(struct lines *l, struct fuzz_ref *ref, const char *buf)
{
	size_t len, roff = 0, rlen = 0;
	const char *line;
	int r;

	while ((r = lines_next(l, &line, &len)) != 0) {
		fuzz_assert(fuzz_ref_next(ref, &roff, &rlen) == r);
		if (r < 0)
			continue;
		fuzz_assert(line >= buf && line + len <= buf + ref->cap);
		fuzz_assert(
		    len == rlen && memcmp(line, ref->s + roff, len) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_ref ref;
	struct lines l;
	size_t pos = 0, piece, off, taken, roff, rlen, i = 0;
	unsigned seed;
	int stalls = 0;
	char *buf, *p;
	bool skip;

	if (size < 2)
		return 0;
	ref = (struct fuzz_ref){.s = (const char *)data + 2,
	    .n = size - 2,
	    .cap = 1 + data[0] % 64};
	seed = data[1];
	if ((buf = malloc(ref.cap)) == NULL)
		abort();
	lines_init(&l, buf, ref.cap);
	while (pos < ref.n) {
		piece = 1 + ((seed >> (i++ % 8)) & 7) * ((seed & 1) ? 1 : 9);
		piece = piece < ref.n - pos ? piece : ref.n - pos;
		if ((p = malloc(piece)) == NULL)
			abort();
		memcpy(p, ref.s + pos, piece);
		for (off = 0; off < piece; off += taken) {
			/* a full buffer takes nothing; once drained it must */
			taken = lines_push(&l, p + off, piece - off);
			stalls = taken ? 0 : stalls + 1;
			fuzz_assert(stalls < 2);
			fuzz_drain(&l, &ref, buf);
		}
		free(p);
		pos += piece;
	}
	fuzz_assert(fuzz_ref_next(&ref, &roff, &rlen) == 0);
	fuzz_assert(lines_pending(&l, &skip) == ref.n - ref.pos);
	free(buf);
	return 0;
}
