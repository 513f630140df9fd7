/*
 * agent/ktoken.c: ktoken_decode (TokenRequest answers) and ktoken_rfc3339
 * on arbitrary bytes.  Invariants: the result is a length > 0 or
 * KTOKEN_E_DECODE; an accepted token is NUL-terminated at that length
 * with no NUL inside; a refused one leaves the token buffer as it was or
 * wiped; the decode is deterministic; times parse to the same value twice.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/ktoken.h"
#include "agent/limits.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char tok[LIM_KTOKEN_BYTES + 1], again[LIM_KTOKEN_BYTES + 1];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	int64_t e1 = 0, e2 = 0;
	int n, m;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	n = ktoken_decode(buf, size, tok, sizeof(tok), &e1);
	fuzz_assert(n > 0 || n == KTOKEN_E_DECODE);
	if (n > 0) {
		fuzz_assert(strlen(tok) == (size_t)n);
		m = ktoken_decode(buf, size, again, sizeof(again), &e2);
		fuzz_assert(m == n && e1 == e2 && memcmp(tok, again, n) == 0);
	}
	if (ktoken_rfc3339(buf, size, &e1) == 0) {
		fuzz_assert(ktoken_rfc3339(buf, size, &e2) == 0 && e1 == e2);
		fuzz_assert(size >= 20);
	}
	free(buf);
	return 0;
}
