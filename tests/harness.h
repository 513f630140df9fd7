/*
 * A small unit-test harness.  A test is a void function that calls check();
 * main() lists them with test().  The binary's last line is
 * "N passed, N failed" (a test passes when none of its checks failed) and
 * its exit status is 1 when anything failed.  tests/run.sh adds the lines of
 * every binary up.
 *
 *	static void t_parse(void) { check(x == 1); }
 *	int main(void) { test(t_parse, "parse"); return harness_done(); }
 */
#ifndef TESTS_HARNESS_H
#define TESTS_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int harness_pass, harness_fail, harness_cur_failed;
static const char *harness_cur;

/* check(cond): records a failure of the current test, with file:line. */
#define check(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			harness_cur_failed = 1;                                \
			fprintf(stderr, "%s:%d: %s: check failed: %s\n",       \
			    __FILE__, __LINE__, harness_cur, #cond);           \
		}                                                              \
	} while (0)

/* check_str(a, b): two NUL-terminated strings are equal; shows both. */
#define check_str(a, b)                                                        \
	do {                                                                   \
		const char *check_a_ = (a), *check_b_ = (b);                   \
		if (check_a_ == NULL || check_b_ == NULL ||                    \
		    strcmp(check_a_, check_b_) != 0) {                         \
			harness_cur_failed = 1;                                \
			fprintf(stderr,                                        \
			    "%s:%d: %s: got \"%s\", want \"%s\"\n", __FILE__,  \
			    __LINE__, harness_cur,                             \
			    check_a_ ? check_a_ : "(null)",                    \
			    check_b_ ? check_b_ : "(null)");                   \
		}                                                              \
	} while (0)

/* check_int(a, b): two integers are equal; shows both. */
#define check_int(a, b)                                                        \
	do {                                                                   \
		long long check_a_ = (long long)(a);                           \
		long long check_b_ = (long long)(b);                           \
		if (check_a_ != check_b_) {                                    \
			harness_cur_failed = 1;                                \
			fprintf(stderr, "%s:%d: %s: %s is %lld, want %lld\n",  \
			    __FILE__, __LINE__, harness_cur, #a, check_a_,     \
			    check_b_);                                         \
		}                                                              \
	} while (0)

static inline void
test(void (*fn)(void), const char *name)
{
	harness_cur = name;
	harness_cur_failed = 0;
	fn();
	if (harness_cur_failed) {
		harness_fail++;
		fprintf(stderr, "FAIL %s\n", name);
	} else
		harness_pass++;
}

/*
 * The process's own resident memory (RssAnon of /proc/self/status), in
 * bytes: what a test allocated and touched, not the code pages its first
 * calls bring in.  Aborts when it cannot be read.
 */
static inline size_t
harness_rss_anon(void)
{
	char line[128];
	unsigned long kib = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		abort();
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "RssAnon: %lu", &kib) == 1)
			break;
	fclose(f);
	if (kib == 0)
		abort();
	return (size_t)kib << 10;
}

static inline int
harness_done(void)
{
	printf("%d passed, %d failed\n", harness_pass, harness_fail);
	return harness_fail ? 1 : 0;
}

#endif
