/*
 * agent/pwatch.c's inotify event walker (pwatch_scan_feed): the input is
 * a run of struct inotify_event records as read(2) gives them, the file
 * name watched being "policy.podid".  Invariants: the walk never reads
 * past the buffer (exact-size copy), consumes only whole records, counts
 * at most one event per header, and gives the same result whole as fed
 * in pieces of every size from 1 to 64 the way a push parser is fed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>

#include "agent/pwatch.h"
#include "fuzz/fuzz.h"

#define FUZZ_BASE "policy.podid"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Feeds buf in pieces of step, each piece an exact-size copy. */
static long
fuzz_pieces(struct pwatch_scan *s, const uint8_t *buf, size_t len, size_t step)
{
	size_t have = 0, done = 0;
	long r = 0;
	char *p;

	pwatch_scan_init(s);
	while (have < len) {
		have = have + step < len ? have + step : len;
		if ((p = malloc(have - done)) == NULL)
			abort();
		memcpy(p, buf + done, have - done);
		r = pwatch_scan_feed(
		    s, p, have - done, FUZZ_BASE, strlen(FUZZ_BASE));
		free(p);
		if (r < 0)
			return r;
		fuzz_assert((size_t)r <= have - done);
		done += (size_t)r;
	}
	return (long)done;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pwatch_scan whole, part;
	size_t step;
	long r, rp;
	char *buf;

	if ((buf = malloc(size ? size : 1)) == NULL)
		abort();
	memcpy(buf, data, size);
	pwatch_scan_init(&whole);
	r = pwatch_scan_feed(&whole, buf, size, FUZZ_BASE, strlen(FUZZ_BASE));
	free(buf);
	fuzz_assert(r == PWATCH_ERR_NAME || (r >= 0 && (size_t)r <= size));
	if (r >= 0) {
		fuzz_assert(
		    whole.events <= size / sizeof(struct inotify_event));
		fuzz_assert(whole.any == (whole.events > 0));
		fuzz_assert(!whole.overflow || whole.forced);
		fuzz_assert(!whole.lost || whole.forced);
	}
	for (step = 1; step <= 64 && step <= size; step++) {
		rp = fuzz_pieces(&part, data, size, step);
		if (r < 0) {
			fuzz_assert(rp == r);
			continue;
		}
		fuzz_assert(rp == r);
		fuzz_assert(part.events == whole.events &&
		    part.any == whole.any && part.forced == whole.forced &&
		    part.overflow == whole.overflow && part.lost == whole.lost);
	}
	return 0;
}
