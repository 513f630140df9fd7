/*
 * Tests of agent/metrics.c: histogram buckets at and past every bound,
 * cumulative rendering, sum and count; exact lines of every section from
 * hand-filled stats; which http_requests series appear (non-zero, token
 * 200 always, "other" for unlisted statuses); sections left out; the
 * buffer at the exposition's length + 1 (fits) and at its length (refused,
 * "" left), against a PROT_NONE page; the largest exposition within
 * LIM_METRICS_BYTES; metrics_render over real pod and token caches; and
 * the text format's shape (one HELP and TYPE per family, before its
 * samples, samples of a family together).
 *
 * With --dump it prints the largest exposition and exits:
 * tests/agent/metrics_test.sh lints that with promtool.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/limits.h"
#include "agent/loop.h"
#include "agent/metrics_int.h"
#include "tests/guard.h"
#include "tests/harness.h"

int main(int argc, char **argv);

static char out[LIM_METRICS_BYTES];

/* ---- helpers --------------------------------------------------------- */

/* Whether the exposition s holds line (without its "\n") as a whole line. */
static bool
has_line(const char *s, const char *line)
{
	size_t n = strlen(line);
	const char *p = s;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == s || p[-1] == '\n') && p[n] == '\n')
			return true;
		p++;
	}
	return false;
}

static ssize_t
render(const struct metrics_view *v)
{
	return metrics_render_view(out, sizeof(out), v);
}

/* Every counter and gauge at value x. */
static struct imds_stats is;
static struct server_stats ss;
static struct tokcache_stats ts;
static struct podcache_stats ps;
static struct kube_stats ks;
static struct src_policy sp;
static struct src_rules sr;
static struct metrics_hist h_ok, h_err;

static void
fill(struct metrics_view *v, uint64_t x)
{
	unsigned r, k;

	memset(v, 0, sizeof(*v));
	for (r = 0; r < IMDS_R_N; r++)
		for (k = 0; k < IMDS_CODES_N; k++)
			is.by_route[r][k] = x;
	ss = (struct server_stats){
	    x, x, x, x, x, x, {x, x, x, x, x, x}, (unsigned)x, (unsigned)x};
	ts = (struct tokcache_stats){x, x, x, x, x, x, x, x, x, x, x, x, x,
	    (unsigned)x, (unsigned)x, (unsigned)x};
	ps = (struct podcache_stats){
	    (unsigned)x, (unsigned)x, (unsigned)x, (unsigned)x, x, x};
	ks = (struct kube_stats){x, x, x, x, x, x, x, x, x, x, 1, 1, true};
	sp = (struct src_policy){.file = "p",
	    .loaded_at = (int64_t)(x >> 1),
	    .reloads_ok = x,
	    .reloads_failed = x};
	sr = (struct src_rules){
	    .mode = "keep", .keeper_alive = true, .restored = x};
	v->imds = &is;
	v->srv = &ss;
	v->tok = &ts;
	v->pods = &ps;
	v->kube = &ks;
	v->pol = &sp;
	v->rules = &sr;
	v->up[0] = (struct metrics_upstream){"imds", x, x, x, x, &h_ok, &h_err};
	v->nup = 1;
	v->now_ms = UINT64_MAX;
	v->started_at = (int64_t)(x >> 1);
}

/* The code column of status c in imds_codes (0: the "other" column). */
static unsigned
code_col(unsigned c)
{
	unsigned k;

	for (k = 0; k < IMDS_CODES_N; k++)
		if (imds_codes[k] == c)
			return k;
	return IMDS_CODES_N;
}

/* ---- histogram ------------------------------------------------------- */

static const uint64_t bounds_us[LIM_METRICS_BUCKETS] = {1000, 2500, 5000, 10000,
    25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000};

static void
t_hist_bounds(void)
{
	struct metrics_hist h;
	unsigned i, j;

	for (i = 0; i < LIM_METRICS_BUCKETS; i++) {
		/* At the bound: that bucket; one past: the next (or none). */
		memset(&h, 0, sizeof(h));
		metrics_hist_observe(&h, bounds_us[i]);
		for (j = 0; j < LIM_METRICS_BUCKETS; j++)
			check_int(h.bucket[j], j == i);
		memset(&h, 0, sizeof(h));
		metrics_hist_observe(&h, bounds_us[i] + 1);
		for (j = 0; j < LIM_METRICS_BUCKETS; j++)
			check_int(h.bucket[j], j == i + 1);
		check_int(h.count, 1);
		check_int(h.sum_us, bounds_us[i] + 1);
	}
	memset(&h, 0, sizeof(h));
	metrics_hist_observe(&h, 0);
	check_int(h.bucket[0], 1);
	metrics_hist_observe(&h, UINT64_MAX / 2);
	check_int(h.count, 2);
	for (j = 0; j < LIM_METRICS_BUCKETS; j++)
		check_int(h.bucket[j], j == 0);
}

static void
t_hist_render(void)
{
	static const char *const want[] = {
	    "podid_upstream_request_duration_seconds_bucket{target=\"imds\","
	    "outcome=\"ok\",le=\"0.001\"} 2",
	    "podid_upstream_request_duration_seconds_bucket{target=\"imds\","
	    "outcome=\"ok\",le=\"0.0025\"} 3",
	    "podid_upstream_request_duration_seconds_bucket{target=\"imds\","
	    "outcome=\"ok\",le=\"0.005\"} 3",
	    "podid_upstream_request_duration_seconds_bucket{target=\"imds\","
	    "outcome=\"ok\",le=\"5\"} 4",
	    "podid_upstream_request_duration_seconds_bucket{target=\"imds\","
	    "outcome=\"ok\",le=\"+Inf\"} 5",
	    "podid_upstream_request_duration_seconds_sum{target=\"imds\","
	    "outcome=\"ok\"} 11.003501",
	    "podid_upstream_request_duration_seconds_count{target=\"imds\","
	    "outcome=\"ok\"} 5",
	    "podid_upstream_request_duration_seconds_bucket{target=\"imds\","
	    "outcome=\"error\",le=\"+Inf\"} 0",
	    "podid_upstream_request_duration_seconds_sum{target=\"imds\","
	    "outcome=\"error\"} 0.000000",
	    "# TYPE podid_upstream_request_duration_seconds histogram",
	};
	struct metrics_view v;
	unsigned i;

	fill(&v, 0);
	memset(&h_ok, 0, sizeof(h_ok));
	memset(&h_err, 0, sizeof(h_err));
	metrics_hist_observe(&h_ok, 0);
	metrics_hist_observe(&h_ok, 1000);    /* = 1 ms: le 0.001 */
	metrics_hist_observe(&h_ok, 2500);    /* = 2.5 ms */
	metrics_hist_observe(&h_ok, 5000000); /* = 5 s */
	metrics_hist_observe(&h_ok, 6000001); /* +Inf only */
	check(render(&v) > 0);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!has_line(out, want[i]))
			check_str(want[i], "(a line of the exposition)");
	memset(&h_ok, 0, sizeof(h_ok));
}

/* ---- sections -------------------------------------------------------- */

static void
t_lines(void)
{
	static const char *const want[] = {
	    "# HELP podid_http_connections_open Connections open on the IMDS "
	    "listener.",
	    "# TYPE podid_http_connections_open gauge",
	    "podid_http_connections_open 7",
	    "podid_http_connections_accepted_total 7",
	    "# TYPE podid_http_connections_accepted_total counter",
	    "podid_http_connections_refused_total 7",
	    "podid_http_connections_max 7",
	    "podid_http_timeouts_total 7",
	    "podid_http_bad_requests_total 7",
	    "podid_token_cache_hits_total 7",
	    "podid_token_cache_misses_total 7",
	    "podid_token_cache_coalesced_total 7",
	    "podid_token_cache_refreshes_total 7",
	    "podid_token_cache_evictions_total 7",
	    "podid_token_cache_drops_total 7",
	    "podid_token_cache_full_total 7",
	    "podid_token_cache_slots_used 7",
	    "podid_token_cache_slots_max 7",
	    "podid_token_fetches_total{result=\"ok\"} 7",
	    "podid_token_fetches_total{result=\"failed\"} 7",
	    "podid_upstream_requests_total{target=\"imds\",outcome=\"ok\"} 7",
	    "podid_upstream_requests_total{target=\"imds\",outcome=\"error\"} "
	    "7",
	    "podid_upstream_requests_total{target=\"imds\",outcome=\"retry\"} "
	    "7",
	    "podid_upstream_requests_total{target=\"imds\",outcome="
	    "\"rejected\"}"
	    " 7",
	    "podid_pods_cached 7",
	    "podid_pods_max 7",
	    "podid_pods_refused_total 7",
	    "podid_pod_ips_quarantined 7",
	    "podid_kube_lists_total 7",
	    "podid_kube_watches_total 7",
	    "podid_kube_relists_total 7",
	    "podid_kube_errors_total 7",
	    "podid_kube_events_total 7",
	    "podid_kube_bookmarks_total 7",
	    "podid_kube_synced 1",
	    "podid_kube_last_event_age_seconds 12.345",
	    "podid_policy_reloads_total{result=\"ok\"} 7",
	    "podid_policy_reloads_total{result=\"failed\"} 7",
	    "podid_policy_last_reload_success 0",
	    "podid_policy_loaded_timestamp_seconds 1795000000",
	    "podid_policy_identities 3",
	    "podid_policy_bindings 2",
	    "podid_rules_restored_total 7",
	    "podid_rules_keeper_alive 1",
	    "podid_rules_info{mode=\"keep\"} 1",
	    "podid_start_time_seconds 1795000001",
	    "# TYPE podid_build_info gauge",
	};
	struct pol pol = {.nidentities = 3, .nbindings = 2};
	struct metrics_view v;
	unsigned i;

	fill(&v, 7);
	ks.last_event_ms = 1000;
	v.now_ms = 13345;
	sp.loaded_at = 1795000000;
	sp.last_failed = true;
	v.policy = &pol;
	v.started_at = 1795000001;
	check(render(&v) > 0);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!has_line(out, want[i]))
			check_str(want[i], "(a line of the exposition)");
	check(strstr(out, "podid_build_info{version=\"") != NULL);
	check(out[strlen(out) - 1] == '\n');
}

static void
t_requests(void)
{
	struct metrics_view v;

	fill(&v, 0);
	/* Nothing counted: token 200 still shows, nothing else. */
	check(render(&v) > 0);
	check(has_line(
	    out, "podid_http_requests_total{route=\"token\",code=\"200\"} 0"));
	check(strstr(out, "podid_http_requests_total{route=\"host_token\"") ==
	    NULL);
	check(strstr(out, "code=\"403\"") == NULL);
	is.by_route[IMDS_R_TOKEN][code_col(403)] = 4;
	is.by_route[IMDS_R_HOST_TOKEN][code_col(200)] = 5;
	is.by_route[IMDS_R_PROXY][code_col(0)] = 6;
	is.by_route[IMDS_R_OTHER][code_col(404)] = 1;
	check(render(&v) > 0);
	check(has_line(
	    out, "podid_http_requests_total{route=\"token\",code=\"403\"} 4"));
	check(has_line(out,
	    "podid_http_requests_total{route=\"host_token\",code=\"200\"} 5"));
	check(has_line(out,
	    "podid_http_requests_total{route=\"proxy\",code=\"other\"} 6"));
	check(has_line(
	    out, "podid_http_requests_total{route=\"other\",code=\"404\"} 1"));
	check(strstr(out, "code=\"0\"") == NULL);
	check(strstr(out, "route=\"healthz\"") == NULL);
}

static void
t_optional(void)
{
	struct metrics_view v;
	ssize_t n;

	/* Nothing heard from the API server: no age line. */
	fill(&v, 1);
	ks.last_event_ms = 0;
	check(render(&v) > 0);
	check(strstr(out, "podid_kube_last_event_age_seconds") == NULL);
	check(has_line(out, "podid_kube_lists_total 1"));
	/* A clock behind the event: age 0, not a wrapped number. */
	ks.last_event_ms = 5000;
	v.now_ms = 4000;
	check(render(&v) > 0);
	check(has_line(out, "podid_kube_last_event_age_seconds 0.000"));
	/* No policy running: zero identities. */
	check(has_line(out, "podid_policy_identities 0"));
	/* An unexpected rules mode is not copied into a label. */
	sr.mode = "keep\"}";
	check(render(&v) > 0);
	check(has_line(out, "podid_rules_info{mode=\"unknown\"} 1"));
	/* Only the process section. */
	memset(&v, 0, sizeof(v));
	v.started_at = 42;
	n = render(&v);
	check(n > 0);
	check(strstr(out, "podid_http") == NULL);
	check(strstr(out, "podid_upstream") == NULL);
	check(strstr(out, "podid_kube") == NULL);
	check(strstr(out, "podid_policy") == NULL);
	check(strstr(out, "podid_rules") == NULL);
	check(has_line(out, "podid_start_time_seconds 42"));
	check_int(n, strlen(out));
}

/* ---- buffer limits --------------------------------------------------- */

static void
t_fit(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	struct metrics_view v;
	char *b;
	ssize_t n;

	memset(&v, 0, sizeof(v));
	v.started_at = 1;
	v.pol = &sp;
	sp = (struct src_policy){.reloads_ok = 1};
	n = render(&v);
	check(n > 0 && (size_t)n + 1 <= 2 * page);
	/* length + 1: fits, NUL included, same bytes. */
	b = guard_buf((size_t)n + 1);
	check_int(metrics_render_view(b, (size_t)n + 1, &v), n);
	check_str(b, out);
	/* length: refused, nothing half written. */
	b = guard_buf((size_t)n);
	memset(b, 'x', (size_t)n);
	check_int(metrics_render_view(b, (size_t)n, &v), METRICS_E_SPACE);
	check_int(b[0], '\0');
	/* Every smaller size is refused too, and 0 touches nothing. */
	check_int(metrics_render_view(b + n - 1, 1, &v), METRICS_E_SPACE);
	check_int(metrics_render_view(b + n, 0, &v), METRICS_E_SPACE);
	check_str(metrics_strerror(METRICS_E_SPACE),
	    "exposition does not fit the buffer");
	check_str(metrics_strerror(-2), "unknown metrics error");
}

/* Every series there can be, at the widest values, with two upstreams. */
static void
fill_max(struct metrics_view *v)
{
	static struct metrics_hist hmax;
	unsigned i;

	fill(v, UINT64_MAX);
	for (i = 0; i < LIM_METRICS_BUCKETS; i++)
		hmax.bucket[i] = UINT64_MAX / LIM_METRICS_BUCKETS;
	hmax.count = hmax.sum_us = UINT64_MAX;
	ks.last_event_ms = 1;
	v->started_at = INT64_MAX;
	sp.loaded_at = INT64_MAX;
	sr.mode = "install";
	v->up[0] = (struct metrics_upstream){"imds", UINT64_MAX, UINT64_MAX,
	    UINT64_MAX, UINT64_MAX, &hmax, &hmax};
	v->up[1] = v->up[0];
	v->up[1].target = "aad";
	v->nup = METRICS_UPSTREAMS;
}

static void
t_largest(void)
{
	static char big[LIM_METRICS_BYTES + 1];
	struct metrics_view v;
	ssize_t n;

	fill_max(&v);
	n = metrics_render_view(big, sizeof(big), &v);
	check(n > 0);
	check(n < (ssize_t)LIM_METRICS_BYTES); /* room for the NUL */
	check_int(render(&v), n);
	check(has_line(out,
	    "podid_upstream_requests_total{target=\"aad\",outcome=\"ok\"} "
	    "18446744073709551615"));
	check(has_line(out,
	    "podid_upstream_request_duration_seconds_sum{target=\"aad\","
	    "outcome=\"error\"} 18446744073709.551615"));
	check(has_line(out,
	    "podid_kube_last_event_age_seconds "
	    "18446744073709551.614"));
	printf("largest exposition: %zd of %u bytes\n", n, LIM_METRICS_BYTES);
}

/* ---- shape of the text format ---------------------------------------- */

/* The metric name at the start of line (n bytes) into name; its length. */
static size_t
name_of(const char *line, size_t n, char *name, size_t namelen)
{
	size_t k = strcspn(line, "{ ");

	if (k > n || k >= namelen)
		return 0;
	memcpy(name, line, k);
	name[k] = '\0';
	return k;
}

/* Whether sample name belongs to family fam of type type. */
static bool
of_family(const char *name, const char *fam, const char *type)
{
	static const char *const sfx[] = {"_bucket", "_sum", "_count"};
	size_t f = strlen(fam), i;

	if (strcmp(name, fam) == 0)
		return strcmp(type, "histogram") != 0;
	if (strcmp(type, "histogram") != 0 || strncmp(name, fam, f) != 0)
		return false;
	for (i = 0; i < 3; i++)
		if (strcmp(name + f, sfx[i]) == 0)
			return true;
	return false;
}

static void
t_shape(void)
{
	char name[128], cur[128] = "", typed[128] = "", type[16] = "";
	char seen[8192] = " ", key[132];
	struct metrics_view v;
	const char *p, *e;
	size_t n, k;

	fill_max(&v);
	check(render(&v) > 0);
	for (p = out; *p != '\0'; p = e + 1) {
		if ((e = strchr(p, '\n')) == NULL)
			break;
		n = (size_t)(e - p);
		if (strncmp(p, "# HELP ", 7) == 0) {
			/* A new family: never seen before. */
			check(name_of(p + 7, n - 7, cur, sizeof(cur)) > 0);
			snprintf(key, sizeof(key), " %s ", cur);
			check(strstr(seen, key) == NULL);
			check(strlen(seen) + strlen(key) < sizeof(seen));
			strcat(seen, key + 1);
			typed[0] = '\0';
			continue;
		}
		if (strncmp(p, "# TYPE ", 7) == 0) {
			k = name_of(p + 7, n - 7, typed, sizeof(typed));
			check_str(typed, cur);
			snprintf(type, sizeof(type), "%.*s", (int)(n - 8 - k),
			    p + 8 + k);
			continue;
		}
		/* A sample: of the family its HELP and TYPE opened. */
		check(name_of(p, n, name, sizeof(name)) > 0);
		check(typed[0] != '\0');
		if (!of_family(name, typed, type))
			check_str(name, typed);
	}
	check(p == out + strlen(out));
}

/* ---- metrics_render over live modules -------------------------------- */

static void
t_render_live(void)
{
	struct loop *l = loop_new(16, 16);
	struct podcache *pc = podcache_new(4, 0);
	struct tokcache *tc = l ? tokcache_new(l, 8, NULL) : NULL;
	struct src_policy pol = {.reloads_failed = 2, .loaded_at = 5};
	struct sources src = {
	    .cache = pc, .tokens = tc, .pol = &pol, .started_at = 99};
	ssize_t n;

	check(l != NULL && pc != NULL && tc != NULL);
	if (l == NULL || pc == NULL || tc == NULL)
		goto out;
	n = metrics_render(out, sizeof(out), &src, 1000);
	check(n > 0);
	check_int(n, strlen(out));
	check(has_line(out, "podid_pods_max 4"));
	check(has_line(out, "podid_pods_cached 0"));
	check(has_line(out, "podid_token_cache_slots_max 8"));
	check(has_line(out, "podid_policy_reloads_total{result=\"failed\"} 2"));
	check(has_line(out, "podid_policy_loaded_timestamp_seconds 5"));
	check(has_line(out, "podid_start_time_seconds 99"));
	/* Modules not given are left out. */
	check(strstr(out, "podid_http") == NULL);
	check(strstr(out, "podid_upstream") == NULL);
	check(strstr(out, "podid_kube") == NULL);
	check(strstr(out, "podid_rules") == NULL);
	check_int(metrics_render(out, (size_t)n, &src, 1000), METRICS_E_SPACE);
out:
	tokcache_free(tc);
	podcache_free(pc);
	if (l != NULL)
		loop_free(l);
}

int
main(int argc, char **argv)
{
	struct metrics_view v;

	if (argc == 2 && strcmp(argv[1], "--dump") == 0) {
		fill_max(&v);
		if (render(&v) < 0)
			return 1;
		fputs(out, stdout);
		return 0;
	}
	test(t_hist_bounds, "histogram buckets at and past each bound");
	test(t_hist_render, "histogram rendered cumulative, sum, count");
	test(t_lines, "exact lines of every section");
	test(t_requests, "http_requests series: non-zero, token 200 always");
	test(t_optional, "sections and lines left out");
	test(t_fit, "buffer at length + 1 and length, guarded");
	test(t_largest, "largest exposition within LIM_METRICS_BYTES");
	test(t_shape, "one HELP and TYPE per family, samples together");
	test(t_render_live, "metrics_render over live caches");
	return harness_done();
}
