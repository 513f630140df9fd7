/*
 * Fuzz target: abuf's appends against the printf family.  The input is a
 * capacity byte, then a program of appends, each an opcode byte and its
 * operand from the input: bytes (abuf_add), a string (abuf_str), a byte
 * (abuf_ch), an unsigned or signed 64-bit number (abuf_u64, abuf_i64) or a
 * JSON escape with a limit (abuf_json).  The same program builds the
 * reference, uncut, with snprintf and log_json_escape.  The abuf buffer is
 * an exact-size heap copy, so a write past cap is caught; its bytes must be
 * the reference's prefix, over set exactly when the reference is longer.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/abuf.h"
#include "agent/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(c)                                                         \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

#define REF_BYTES (1u << 20) /* > 16x the longest input libFuzzer makes */

static char ref[REF_BYTES];
static size_t ref_len;
static bool ref_full; /* the program wrote more than REF_BYTES */

/* Takes n bytes of operand, or what is left. */
static const uint8_t *
take(const uint8_t **d, size_t *left, size_t *n)
{
	const uint8_t *p = *d;

	if (*n > *left)
		*n = *left;
	*d += *n;
	*left -= *n;
	return p;
}

static void
ref_add(const void *s, size_t n)
{
	if (n > REF_BYTES - ref_len) {
		ref_full = true;
		return;
	}
	memcpy(ref + ref_len, s, n);
	ref_len += n;
}

static uint64_t
take_u64(const uint8_t **d, size_t *left)
{
	size_t n = 8;
	const uint8_t *p = take(d, left, &n);
	uint64_t v = 0;

	while (n-- > 0)
		v = v << 8 | p[n];
	return v;
}

/* One append of the program to both; false at the end of the input. */
static bool
step(struct abuf *b, const uint8_t **d, size_t *left)
{
	char tmp[8 * 256 + 1], num[32];
	const uint8_t *p;
	size_t n;
	uint64_t v;
	uint8_t op;

	if (*left < 2)
		return false;
	op = **d % 6;
	n = (*d)[1];
	*d += 2;
	*left -= 2;
	switch (op) {
	case 0:
		p = take(d, left, &n);
		abuf_add(b, p, n);
		ref_add(p, n);
		break;
	case 1:
		p = take(d, left, &n);
		memcpy(tmp, p, n);
		tmp[n] = '\0';
		abuf_str(b, tmp);
		ref_add(tmp, strlen(tmp));
		break;
	case 2:
		abuf_ch(b, (char)n);
		ref_add(&(char){(char)n}, 1);
		break;
	case 3:
		v = take_u64(d, left) >> (n % 64);
		abuf_u64(b, v);
		ref_add(num, (size_t)snprintf(num, sizeof(num), "%" PRIu64, v));
		break;
	case 4:
		v = take_u64(d, left) >> (n % 64);
		abuf_i64(b, (int64_t)v);
		ref_add(num,
		    (size_t)snprintf(num, sizeof(num), "%" PRId64, (int64_t)v));
		break;
	default: {
		size_t max = n * 4, len = *left < 64 ? *left : 64;

		p = take(d, left, &len);
		abuf_json(b, (const char *)p, len, max);
		ref_add(
		    tmp, log_json_escape(tmp, max + 1, (const char *)p, len));
	}
	}
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct abuf b;
	size_t cap, left;
	char *mem;

	if (size < 1)
		return 0;
	cap = (size_t)data[0] * 8;
	left = size - 1;
	data++;
	/* Exactly cap bytes: ASan sees any write past them. */
	if ((mem = malloc(cap ? cap : 1)) == NULL)
		return 0;
	abuf_init(&b, mem, cap);
	ref_len = 0;
	ref_full = false;
	while (step(&b, &data, &left))
		continue;
	FUZZ_ASSERT(b.len <= cap);
	if (ref_full) {
		free(mem);
		return 0;
	}
	FUZZ_ASSERT(b.over == (ref_len > cap));
	FUZZ_ASSERT(b.len == (ref_len > cap ? cap : ref_len));
	FUZZ_ASSERT(memcmp(mem, ref, b.len) == 0);
	free(mem);
	return 0;
}
