/*
 * Guard pages for unit tests: bytes placed so that their last one is the
 * last readable byte before a PROT_NONE page, so that reading or writing
 * one byte too far kills the test with SIGSEGV instead of passing.
 *
 *	p = guard_copy(s, n);	parse(p, n);	one input at a time
 *	b = guard_buf(n);	render(b, n);	one output buffer at a time
 *	guard_init(&g, cap); guard_put(&g, s, n);	several alive at once
 *
 * Failure to map exits with status 2 (the test cannot prove anything).
 */
#ifndef TESTS_GUARD_H
#define TESTS_GUARD_H

#include <sys/mman.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cap writable bytes at base, then a PROT_NONE page. */
struct guard {
	char *base;
	size_t cap;
};

/*
 * Maps a region of at least cap bytes (rounded up to whole pages) that
 * ends at a PROT_NONE page, zero-filled.  Lives until guard_free(); a
 * test that keeps several inputs alive at once holds one struct guard
 * per input.
 */
static inline void
guard_init(struct guard *g, size_t cap)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	g->cap = (cap + pg - 1) / pg * pg;
	g->base = mmap(NULL, g->cap + pg, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->base == MAP_FAILED ||
	    mprotect(g->base + g->cap, pg, PROT_NONE) != 0) {
		perror("guard: mmap");
		exit(2);
	}
}

/*
 * Unmaps g's region (a no-op on a zeroed struct); every pointer into it
 * becomes invalid, so a later use faults.
 */
static inline void
guard_free(struct guard *g)
{
	if (g->base != NULL)
		munmap(g->base, g->cap + (size_t)sysconf(_SC_PAGESIZE));
	g->base = NULL;
	g->cap = 0;
}

/*
 * The last n bytes of g's region: writable, g[n] is the PROT_NONE page.
 * Valid until guard_free(g).  Exits with 2 when n exceeds the capacity.
 */
static inline void *
guard_at(struct guard *g, size_t n)
{
	if (n > g->cap) {
		fprintf(
		    stderr, "guard: %zu bytes over capacity %zu\n", n, g->cap);
		exit(2);
	}
	return g->base + g->cap - n;
}

/*
 * Copies src[0..n) into the last n bytes of g's region (src may itself lie
 * in that region) and returns the copy; earlier copies in g are
 * overwritten.  Valid until the next guard_put on g or guard_free(g).
 */
static inline void *
guard_put(struct guard *g, const void *src, size_t n)
{
	char *p = guard_at(g, n);

	if (n > 0)
		memmove(p, src, n);
	return p;
}

/*
 * Makes g (zeroed, or from an earlier call) a region of at least n bytes;
 * it is remapped only when too small, so byte-by-byte loops do not map and
 * unmap per byte.  Returns the old mapping, for the caller to unmap once
 * done with it (or a zeroed struct).
 */
static inline struct guard
guard_resize(struct guard *g, size_t n)
{
	struct guard old = {NULL, 0};

	if (g->base != NULL && n <= g->cap)
		return old;
	old = *g;
	guard_init(g, n);
	return old;
}

/*
 * A copy of src[0..n) ending right before a PROT_NONE page, in a mapping
 * of its own (src may be the previous copy).  Valid until the next call,
 * which overwrites it, or unmaps it when it needs a larger mapping.
 */
static inline const void *
guard_copy(const void *src, size_t n)
{
	static struct guard g;
	struct guard old = guard_resize(&g, n);
	const void *p = guard_put(&g, src, n);

	guard_free(&old);
	return p;
}

/*
 * n writable bytes (contents unspecified) ending right before a PROT_NONE
 * page, in a mapping of its own, independent of guard_copy().  Valid until
 * the next call, which reuses it or unmaps it as guard_copy() does.
 */
static inline void *
guard_buf(size_t n)
{
	static struct guard g;
	struct guard old = guard_resize(&g, n);

	guard_free(&old);
	return guard_at(&g, n);
}

#endif
