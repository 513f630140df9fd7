/*
 * Tests of tests/guard.h, the guard pages every parser test relies on:
 * one byte past a guard_copy() read, one byte past a guard_buf() written,
 * and a stale guard_copy() pointer (after a copy that needs a larger
 * mapping) each kill a forked child with SIGSEGV; sizes 0, 1, a page and a
 * page + 1 hold exactly their bytes.
 */
#include <sys/wait.h>

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "tests/guard.h"
#include "tests/harness.h"

int main(void);

static size_t pg;
static char src[3 * 4096 * 4]; /* larger than page + 1 on 4 and 16 KiB */

/* Runs fn(n) in a child; returns its wait status (-1: no child). */
static int
in_child(void (*fn)(size_t), size_t n)
{
	pid_t pid;
	int st = 0;

	fflush(NULL);
	pid = fork();
	if (pid == -1)
		return -1;
	if (pid == 0) {
		/* Plain SIGSEGV even when a sanitizer installed a handler. */
		signal(SIGSEGV, SIG_DFL);
		fn(n);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return st;
}

static bool
segv(int st)
{
	return st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV;
}

static bool
exited(int st, int code)
{
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == code;
}

static void
read_past_copy(size_t n)
{
	const volatile char *p = guard_copy(src, n);

	(void)p[n];
}

static void
read_last_copy(size_t n)
{
	const volatile char *p = guard_copy(src, n);

	if (n > 0)
		(void)p[n - 1];
}

static void
write_past_buf(size_t n)
{
	volatile char *p = guard_buf(n);

	p[n] = 'x';
}

static void
read_stale_copy(size_t n)
{
	const volatile char *p = guard_copy(src, n);

	(void)guard_copy(src, n + pg); /* larger: remapped */
	(void)p[0];
}

static void
at_over_cap(size_t n)
{
	struct guard g;

	guard_init(&g, n);
	(void)guard_at(&g, g.cap + 1);
}

static const size_t sizes[] = {0, 1, 4095, 4096, 4097};

static void
t_copy_faults(void)
{
	size_t i, n;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		n = sizes[i];
		check(segv(in_child(read_past_copy, n)));
		check(exited(in_child(read_last_copy, n), 0));
	}
	check(segv(in_child(read_past_copy, pg)));
	check(segv(in_child(read_past_copy, pg + 1)));
	check(exited(in_child(read_last_copy, pg + 1), 0));
	check(segv(in_child(read_stale_copy, 1)));
}

static void
t_buf_faults(void)
{
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		check(segv(in_child(write_past_buf, sizes[i])));
	check(segv(in_child(write_past_buf, pg)));
	check(segv(in_child(write_past_buf, pg + 1)));
}

/* n = 0, a page and a page + 1: every byte there, readable/writable. */
static void
t_sizes(void)
{
	size_t ns[] = {0, 1, pg, pg + 1}, i;
	const char *c;
	char *b;

	for (i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		c = guard_copy(src, ns[i]);
		check(c != NULL && memcmp(c, src, ns[i]) == 0);
		check((uintptr_t)(c + ns[i]) % pg == 0);
		b = guard_buf(ns[i]);
		check((uintptr_t)(b + ns[i]) % pg == 0);
		memset(b, 'w', ns[i]);
		check(ns[i] == 0 || (b[0] == 'w' && b[ns[i] - 1] == 'w'));
	}
}

/* A copy of the previous copy; guard_buf does not disturb guard_copy. */
static void
t_independent(void)
{
	const char *c = guard_copy("abcdef", 6);
	char *b;

	c = guard_copy(c + 2, 4);
	check(memcmp(c, "cdef", 4) == 0);
	b = guard_buf(3);
	memcpy(b, "xyz", 3);
	check(memcmp(c, "cdef", 4) == 0);
	c = guard_copy("12", 2);
	check(memcmp(b, "xyz", 3) == 0 && memcmp(c, "12", 2) == 0);
	c = guard_copy(src, pg + 1);
	c = guard_copy(c + pg - 2, 3); /* from a mapping about to go */
	check(memcmp(c, src + pg - 2, 3) == 0);
}

/* Several struct guards alive at once; capacity N and N+1. */
static void
t_struct(void)
{
	struct guard a, z = {NULL, 0};
	const char *pa, *pz;

	guard_init(&a, 10);
	guard_init(&z, pg + 1);
	check_int(a.cap, pg);
	check_int(z.cap, 2 * pg);
	pa = guard_put(&a, "one", 3);
	pz = guard_put(&z, "two", 3);
	check(memcmp(pa, "one", 3) == 0 && memcmp(pz, "two", 3) == 0);
	check((uintptr_t)(pa + 3) % pg == 0 && (uintptr_t)(pz + 3) % pg == 0);
	pa = guard_put(&a, pa + 1, 2); /* overlapping source */
	check(memcmp(pa, "ne", 2) == 0);
	check(guard_at(&a, a.cap) == a.base);
	check(exited(in_child(at_over_cap, 10), 2));
	guard_free(&a);
	guard_free(&z);
	guard_free(&z);
	check(z.base == NULL && z.cap == 0);
}

int
main(void)
{
	size_t i;

	pg = (size_t)sysconf(_SC_PAGESIZE);
	if (pg + 2 > sizeof(src))
		return 2;
	for (i = 0; i < sizeof(src); i++)
		src[i] = (char)('a' + i % 26);
	test(t_copy_faults, "guard_copy: p[n] faults, p[n-1] reads");
	test(t_buf_faults, "guard_buf: p[n] write faults");
	test(t_sizes, "sizes 0, 1, page, page + 1 hold their bytes");
	test(t_independent, "copy of a copy; buf and copy independent");
	test(t_struct, "struct guards side by side, capacity N and N+1");
	return harness_done();
}
