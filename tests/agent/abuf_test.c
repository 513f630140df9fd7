/*
 * Tests of agent/abuf.c: every append against snprintf's bytes, at the
 * capacity N and N+1, with the buffer's end against a PROT_NONE page so a
 * write one byte too far faults.
 */
#include <inttypes.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/abuf.h"
#include "agent/log.h"
#include "tests/guard.h"
#include "tests/harness.h"

int main(void);

static void
t_add_limits(void)
{
	struct abuf b;
	char *p = guard_buf(5);

	abuf_init(&b, p, 5);
	ABUF_LIT(&b, "abcde"); /* N: fits exactly */
	check(!b.over && b.len == 5 && memcmp(p, "abcde", 5) == 0);
	abuf_add(&b, NULL, 0); /* nothing, even when full */
	check(!b.over && b.len == 5);
	abuf_ch(&b, 'f'); /* N+1 */
	check(b.over && b.len == 5);
	abuf_init(&b, p, 5);
	ABUF_LIT(&b, "abc");
	ABUF_LIT(&b, "defgh"); /* cut: what fits is kept */
	check(b.over && b.len == 5 && memcmp(p, "abcde", 5) == 0);
	abuf_u64(&b, 7);
	abuf_str(&b, "x");
	check(b.over && b.len == 5);
	abuf_init(&b, p, 0);
	abuf_ch(&b, 'a');
	check(b.over && b.len == 0);
}

/* abuf's bytes for v against snprintf's, in a buffer of every size. */
static void
num_case(int64_t v, bool sign)
{
	char want[32], got[32];
	struct abuf b;
	size_t cap, n;

	n = (size_t)(sign
	        ? snprintf(want, sizeof(want), "%" PRId64, v)
	        : snprintf(want, sizeof(want), "%" PRIu64, (uint64_t)v));
	for (cap = 0; cap <= n + 1; cap++) {
		abuf_init(&b, guard_buf(cap), cap);
		if (sign)
			abuf_i64(&b, v);
		else
			abuf_u64(&b, (uint64_t)v);
		memcpy(got, b.p, b.len);
		got[b.len] = '\0';
		check_int(b.len, cap < n ? cap : n);
		check_int(b.over, cap < n);
		check(memcmp(got, want, b.len) == 0);
		if (cap == n)
			check_str(got, want);
	}
}

static void
t_numbers(void)
{
	static const int64_t v[] = {0, 1, 9, 10, 99, 100, 255, 1000000007, -1,
	    -10, 1764300000, INT64_MAX, INT64_MIN, INT64_MIN + 1};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		num_case(v[i], true);
		num_case(v[i], false); /* as unsigned: UINT64_MAX too */
	}
}

static void
t_strlcpy(void)
{
	char *p;

	p = guard_buf(4);
	check_int(abuf_strlcpy(p, 4, "abc"), 3); /* N */
	check_str(p, "abc");
	check_int(abuf_strlcpy(p, 4, "abcd"), 3); /* N+1: cut */
	check_str(p, "abc");
	p = guard_buf(1);
	check_int(abuf_strlcpy(p, 1, "abc"), 0);
	check(p[0] == '\0');
	/* The source may end at the guard too: read up to its NUL only. */
	p = guard_buf(3);
	memcpy(p, "ab", 3);
	{
		char dst[8];

		check_int(abuf_strlcpy(dst, sizeof(dst), p), 2);
		check_str(dst, "ab");
	}
}

/* A line built of pieces, as imds builds its audit line, vs snprintf. */
static void
t_mixed(void)
{
	char want[64], *p;
	struct abuf b;
	size_t cap, n;

	n = (size_t)snprintf(want, sizeof(want), "\"status\":%d,\"c\":\"%s\"",
	    503, "pod_unknown");
	for (cap = 1; cap <= n + 1; cap++) {
		p = guard_buf(cap);
		/* Leave room for a NUL, as snprintf does. */
		abuf_init(&b, p, cap - 1);
		ABUF_LIT(&b, "\"status\":");
		abuf_i64(&b, 503);
		ABUF_LIT(&b, ",\"c\":\"");
		abuf_str(&b, "pod_unknown");
		abuf_ch(&b, '"');
		p[b.len] = '\0';
		check_int(b.over, cap <= n);
		check(strncmp(p, want, cap - 1) == 0);
		check_int(strlen(p), cap - 1 < n ? cap - 1 : n);
	}
}

/*
 * abuf_json against log_json_escape: every limit max (N and N+1 of each
 * escape's end), and every buffer size (cut inside an escape, as an
 * snprintf of the escaped string would be).
 */
static void
t_json(void)
{
	static const char src[] = "a\"b\\c\x01\x7f\xc3\xa9\n~";
	char want[64], full[64], *p;
	size_t len = sizeof(src) - 1, max, cap, n, all;
	struct abuf b;

	all = log_json_escape(full, sizeof(full), src, len);
	check_str(full, "a\\\"b\\\\c\\u0001\\u007f\xc3\xa9\\u000a~");
	for (max = 0; max <= all + 1; max++) {
		n = log_json_escape(want, max + 1, src, len);
		p = guard_buf(max);
		abuf_init(&b, p, max);
		abuf_json(&b, src, len, max);
		check_int(b.len, n);
		check(!b.over && memcmp(p, want, n) == 0);
	}
	for (cap = 0; cap <= all + 1; cap++) {
		p = guard_buf(cap);
		abuf_init(&b, p, cap);
		abuf_json(&b, src, len, 1000);
		check_int(b.len, cap < all ? cap : all);
		check_int(b.over, cap < all);
		check(memcmp(p, full, b.len) == 0);
	}
}

int
main(void)
{
	test(t_add_limits, "appends at N and N+1, cut and over");
	test(t_numbers, "decimal numbers as snprintf writes them");
	test(t_strlcpy, "strlcpy at N and N+1");
	test(t_mixed, "a line of pieces as snprintf cuts it");
	test(t_json, "JSON escapes as log_json_escape, cut at N and N+1");
	return harness_done();
}
