/*
 * Checks deploy/static/glibc_compat.c as the static podid links it: built
 * by tests/deploy/static_test.sh with musl-gcc and that object (not by the
 * Makefile: glibc has these symbols itself).
 *	static_compat ok	every shim in bounds: results as glibc's
 *	static_compat CASE	one out-of-bounds call: must abort (SIGABRT)
 * Ends with "N passed, N failed" in the first form.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/harness.h"

void *__memcpy_chk(void *dst, const void *src, size_t len, size_t dstlen);
void *__memmove_chk(void *dst, const void *src, size_t len, size_t dstlen);
void *__memset_chk(void *dst, int c, size_t len, size_t dstlen);
int __snprintf_chk(char *s, size_t maxlen, int flag, size_t slen,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int __sprintf_chk(char *s, int flag, size_t slen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int __asprintf_chk(char **res, int flag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
test_in_bounds(void)
{
	char b[8], *p = NULL;

	/* len == destlen: the limit itself passes. */
	check(__memcpy_chk(b, "abcdefgh", 8, sizeof(b)) == b);
	check(memcmp(b, "abcdefgh", 8) == 0);
	check(__memmove_chk(b + 1, b, 7, sizeof(b) - 1) == b + 1);
	check(memcmp(b, "aabcdefg", 8) == 0);
	check(__memset_chk(b, 'x', 8, sizeof(b)) == b);
	check(memcmp(b, "xxxxxxxx", 8) == 0);
	/* snprintf truncates at maxlen, returns the full length. */
	check_int(
	    __snprintf_chk(b, sizeof(b), 1, sizeof(b), "%s", "0123456789"), 10);
	check_str(b, "0123456");
	/* sprintf: 7 characters and the NUL fill 8 bytes exactly. */
	check_int(__sprintf_chk(b, 1, sizeof(b), "%d", 1234567), 7);
	check_str(b, "1234567");
	check_int(__asprintf_chk(&p, 1, "%s-%d", "cap", 42), 6);
	check(p != NULL && strcmp(p, "cap-42") == 0);
	free(p);
}

/* Each overflows its object by one byte (N + 1), as a fortified call
 * would. */
static int
overflow(const char *c)
{
	char b[8];
	volatile size_t n = sizeof(b) + 1;

	if (strcmp(c, "memcpy") == 0)
		__memcpy_chk(b, "abcdefghi", n, sizeof(b));
	else if (strcmp(c, "memmove") == 0)
		__memmove_chk(b, "abcdefghi", n, sizeof(b));
	else if (strcmp(c, "memset") == 0)
		__memset_chk(b, 0, n, sizeof(b));
	else if (strcmp(c, "snprintf") == 0)
		__snprintf_chk(b, n, 1, sizeof(b), "%s", "x");
	else if (strcmp(c, "sprintf") == 0)
		__sprintf_chk(b, 1, sizeof(b), "%d", 12345678);
	else
		return 2;
	return 0; /* not aborted: the caller sees exit 0 and fails */
}

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "ok") != 0)
		return overflow(argv[1]);
	test(test_in_bounds, "glibc_compat: in-bounds calls as glibc's");
	return harness_done();
}
