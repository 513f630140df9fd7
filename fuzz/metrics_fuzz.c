/*
 * agent/metrics.c: the input fills the stats a scrape shows (every counter
 * and gauge, the by-route table, the histograms through
 * metrics_hist_observe) and picks which sections are there and the buffer
 * size.  Invariants: rendered into LIM_METRICS_BYTES it always fits; into
 * the picked size it is either the same bytes (when they fit, NUL
 * included) or METRICS_E_SPACE with "" left, never a cut page; every
 * line ends in LF and is a HELP, a TYPE or a sample of printable ASCII;
 * histogram buckets never exceed their count.  The picked buffer is an
 * exact-size allocation, so a write past it is caught, and so is the
 * copy of the input the stats are read from.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/metrics_int.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

/* The next k input bytes into dst (zeros once the input is spent). */
static void
fuzz_take(struct fuzz_in *in, void *dst, size_t k)
{
	size_t m = in->n < k ? in->n : k;

	memset(dst, 0, k);
	memcpy(dst, in->p, m);
	in->p += m;
	in->n -= m;
}

static uint64_t
fuzz_u64(struct fuzz_in *in)
{
	uint64_t v;

	fuzz_take(in, &v, sizeof(v));
	return v;
}

static struct imds_stats is;
static struct server_stats ss;
static struct tokcache_stats ts;
static struct podcache_stats ps;
static struct kube_stats ks;
static struct src_policy sp;
static struct src_rules sr;
static struct pol pol;
static struct metrics_hist hist[2 * METRICS_UPSTREAMS];
static char big[LIM_METRICS_BYTES];

static void
fuzz_fill(struct fuzz_in *in, struct metrics_view *v, unsigned sect)
{
	static const char *const modes[] = {"keep", "install", "off", "x\"y"};
	unsigned i, k;

	fuzz_take(in, &is, sizeof(is));
	fuzz_take(in, &ss, sizeof(ss));
	fuzz_take(in, &ts, sizeof(ts));
	fuzz_take(in, &ps, sizeof(ps));
	/* Its bool is set apart: any other byte in it is not a bool. */
	fuzz_take(in, &ks, offsetof(struct kube_stats, synced));
	ks.synced = sect & 0x4000;
	sp.loaded_at = (int64_t)fuzz_u64(in);
	sp.reloads_ok = fuzz_u64(in);
	sp.reloads_failed = fuzz_u64(in);
	sp.last_failed = sect & 0x100;
	sr.restored = fuzz_u64(in);
	sr.keeper_alive = sect & 0x200;
	sr.mode = modes[(sect >> 10) & 3];
	pol.nidentities = (uint32_t)fuzz_u64(in);
	pol.nbindings = (uint32_t)fuzz_u64(in);
	memset(hist, 0, sizeof(hist));
	for (i = 0; i < 2 * METRICS_UPSTREAMS; i++)
		for (k = 0; k < 4; k++)
			metrics_hist_observe(&hist[i], fuzz_u64(in) >> (k * 8));
	memset(v, 0, sizeof(*v));
	v->imds = sect & 1 ? &is : NULL;
	v->srv = sect & 2 ? &ss : NULL;
	v->tok = sect & 4 ? &ts : NULL;
	v->pods = sect & 8 ? &ps : NULL;
	v->kube = sect & 16 ? &ks : NULL;
	v->pol = sect & 32 ? &sp : NULL;
	v->policy = sect & 64 ? &pol : NULL;
	v->rules = sect & 128 ? &sr : NULL;
	v->nup = (sect >> 12) % (METRICS_UPSTREAMS + 1);
	for (i = 0; i < v->nup; i++)
		v->up[i] = (struct metrics_upstream){i ? "aad" : "imds",
		    fuzz_u64(in), fuzz_u64(in), fuzz_u64(in), fuzz_u64(in),
		    &hist[2 * i], &hist[2 * i + 1]};
	v->now_ms = fuzz_u64(in);
	v->started_at = (int64_t)fuzz_u64(in);
}

/* Every line: HELP, TYPE or a podid_ sample; printable ASCII; LF ended. */
static void
fuzz_check_text(const char *s, size_t n)
{
	size_t i, start = 0;

	fuzz_assert(n > 0 && s[n - 1] == '\n' && s[n] == '\0');
	for (i = 0; i < n; i++) {
		if (s[i] != '\n') {
			fuzz_assert(s[i] >= 0x20 && s[i] < 0x7f);
			continue;
		}
		fuzz_assert(i > start);
		fuzz_assert(strncmp(s + start, "# HELP podid_", 13) == 0 ||
		    strncmp(s + start, "# TYPE podid_", 13) == 0 ||
		    strncmp(s + start, "podid_", 6) == 0);
		start = i + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	struct fuzz_in in = {copy, size};
	struct metrics_view v;
	uint16_t sect, blen;
	ssize_t n, m;
	unsigned i, k;
	uint64_t sum;
	char *buf;

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	fuzz_take(&in, &sect, sizeof(sect));
	fuzz_take(&in, &blen, sizeof(blen));
	fuzz_fill(&in, &v, sect);
	for (i = 0; i < 2 * METRICS_UPSTREAMS; i++) {
		for (sum = 0, k = 0; k < LIM_METRICS_BUCKETS; k++)
			sum += hist[i].bucket[k];
		fuzz_assert(sum <= hist[i].count);
	}
	n = metrics_render_view(big, sizeof(big), &v);
	fuzz_assert(n > 0 && (size_t)n < sizeof(big));
	fuzz_check_text(big, (size_t)n);
	free(copy);
	if ((buf = malloc(blen ? blen : 1)) == NULL)
		return 0;
	m = metrics_render_view(buf, blen, &v);
	if ((size_t)n < blen) {
		fuzz_assert(m == n && memcmp(buf, big, (size_t)n + 1) == 0);
	} else {
		fuzz_assert(m == METRICS_E_SPACE);
		fuzz_assert(blen == 0 || buf[0] == '\0');
	}
	free(buf);
	return 0;
}
