/*
 * agent/priv.c's /proc/<pid>/status parser: the first input byte picks
 * the pattern of piece sizes, the rest is the file.  Invariants: the
 * result (return code and every field) does not depend on how the input
 * is cut; feed consumes all or fails, and a failure sticks; a success has
 * found every needed field once and at most LIM_PRIV_GROUPS groups.
 * Every piece is an exact-size allocation.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/priv.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Feeds s[0..n) in pieces whose sizes cycle through pattern's bits. */
static int
fuzz_parse(struct priv_status *st, const char *s, size_t n, uint8_t pattern)
{
	size_t i = 0, k = 0, step;
	char *piece;
	int rc, failed = 0;

	priv_status_init(st);
	while (i < n) {
		step =
		    pattern == 0 ? n : (size_t)((pattern >> (k++ % 8)) & 7) + 1;
		if (step > n - i)
			step = n - i;
		if ((piece = malloc(step)) == NULL)
			abort();
		memcpy(piece, s + i, step);
		rc = priv_status_feed(st, piece, step);
		free(piece);
		fuzz_assert(rc == (int)step || rc < 0);
		fuzz_assert(!failed || rc == failed);
		if (rc < 0)
			failed = rc;
		i += step;
	}
	rc = priv_status_done(st);
	fuzz_assert(!failed || rc == failed);
	return rc;
}

static void
fuzz_same(const struct priv_status *a, const struct priv_status *b)
{
	fuzz_assert(memcmp(a->uid, b->uid, sizeof(a->uid)) == 0);
	fuzz_assert(memcmp(a->gid, b->gid, sizeof(a->gid)) == 0);
	fuzz_assert(a->ngroups == b->ngroups);
	fuzz_assert(
	    memcmp(a->groups, b->groups, a->ngroups * sizeof(*a->groups)) == 0);
	fuzz_assert(memcmp(a->cap, b->cap, sizeof(a->cap)) == 0);
	fuzz_assert(a->no_new_privs == b->no_new_privs);
	fuzz_assert(a->seccomp == b->seccomp);
	fuzz_assert(a->seen == b->seen);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct priv_status whole, cut;
	const char *s;
	int r1, r2;

	if (size < 1)
		return 0;
	s = (const char *)data + 1;
	r1 = fuzz_parse(&whole, s, size - 1, 0);
	r2 = fuzz_parse(&cut, s, size - 1, data[0] | 1);
	fuzz_assert(r1 == r2);
	fuzz_assert(r1 <= 0 && r1 >= PRIV_ERR_VERIFY);
	if (r1 == 0) {
		fuzz_assert(whole.seen == PRIV_ST_ALL);
		fuzz_assert(whole.ngroups <= LIM_PRIV_GROUPS);
		fuzz_same(&whole, &cut);
	}
	return 0;
}
