/*
 * The /metrics exposition.  metrics_render() copies each module's counters
 * into a struct metrics_view and metrics_render_view() prints it, section by
 * section, with one bounded vsnprintf per line straight into the caller's
 * buffer.  A line that does not fit marks the output as over and every
 * later line is skipped, so the caller gets either the whole exposition or
 * METRICS_E_SPACE, never a cut one (a scraper would take a cut exposition
 * for a complete one with series missing).
 *
 * Families with several series (labels) print all their series right
 * after their HELP and TYPE lines: the text format wants a family's lines
 * together, which is why the upstream families loop over the targets
 * inside rather than rendering one target after the other.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "agent/aad.h"
#include "agent/imdsc.h"
#include "agent/metrics_int.h"
#include "agent/sources.h" /* PODID_VERSION */

#define MT_COUNTER   "counter"
#define MT_GAUGE     "gauge"
#define MT_NITEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Bucket bounds in us, and the same as Prometheus "le" labels in s. */
static const uint64_t mt_bound_us[] = {1000, 2500, 5000, 10000, 25000, 50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000};
static const char *const mt_bound_le[] = {"0.001", "0.0025", "0.005", "0.01",
    "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5"};
_Static_assert(
    MT_NITEMS(mt_bound_us) == LIM_METRICS_BUCKETS, "one bound per bucket");
_Static_assert(
    MT_NITEMS(mt_bound_le) == LIM_METRICS_BUCKETS, "one le label per bucket");

struct mt_out {
	char *buf;
	size_t len, off;
	bool over; /* a line did not fit: nothing more is written */
};

/* A family of one unlabelled series. */
struct mt_scalar {
	const char *type, *name, *help;
	uint64_t v;
};

void
metrics_hist_observe(struct metrics_hist *h, uint64_t us)
{
	unsigned i;

	for (i = 0; i < LIM_METRICS_BUCKETS; i++)
		if (us <= mt_bound_us[i]) {
			h->bucket[i]++;
			break;
		}
	h->count++;
	h->sum_us += us;
}

/* ---- output ------------------------------------------------------------ */

static void mt_printf(struct mt_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
mt_printf(struct mt_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->over)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->off, o->len - o->off, fmt, ap);
	va_end(ap);
	/* n == room: the NUL did not fit, so neither did the line. */
	if (n < 0 || (size_t)n >= o->len - o->off) {
		o->over = true;
		return;
	}
	o->off += (size_t)n;
}

static void
mt_head(struct mt_out *o, const char *type, const char *name, const char *help)
{
	mt_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
mt_scalars(struct mt_out *o, const struct mt_scalar *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		mt_head(o, s[i].type, s[i].name, s[i].help);
		mt_printf(o, "%s %" PRIu64 "\n", s[i].name, s[i].v);
	}
}

/* ms as seconds with three decimals, the way a float is written. */
static void
mt_seconds_ms(struct mt_out *o, const char *name, uint64_t ms)
{
	mt_printf(
	    o, "%s %" PRIu64 ".%03u\n", name, ms / 1000, (unsigned)(ms % 1000));
}

/* ---- the pods' listener ------------------------------------------------ */

/* Every non-zero series, and token 200 always (a rate() needs it). */
static void
mt_requests(struct mt_out *o, const struct imds_stats *s)
{
	const char *name = "podid_http_requests_total";
	char code[8];
	unsigned r, k;
	uint64_t v;

	mt_head(o, MT_COUNTER, name,
	    "Answers given on the IMDS listener, by route and HTTP status "
	    "(other: a status not listed).");
	for (r = 0; r < IMDS_R_N; r++)
		for (k = 0; k < IMDS_CODES_N; k++) {
			v = s->by_route[r][k];
			if (v == 0 &&
			    !(r == IMDS_R_TOKEN && imds_codes[k] == 200))
				continue;
			if (imds_codes[k] == 0)
				memcpy(code, "other", 6);
			else
				snprintf(code, sizeof(code), "%u",
				    (unsigned)imds_codes[k]);
			mt_printf(o,
			    "%s{route=\"%s\",code=\"%s\"} %" PRIu64 "\n", name,
			    imds_route_name((enum imds_route)r), code, v);
		}
}

static void
mt_server(struct mt_out *o, const struct server_stats *s)
{
	const struct mt_scalar m[] = {
	    {MT_COUNTER, "podid_http_connections_accepted_total",
	        "Connections accepted on the IMDS listener.", s->accepted},
	    {MT_COUNTER, "podid_http_connections_refused_total",
	        "Connections answered 503 and closed at once: every slot was "
	        "busy.",
	        s->refused_full},
	    {MT_GAUGE, "podid_http_connections_open",
	        "Connections open on the IMDS listener.", s->open},
	    {MT_GAUGE, "podid_http_connections_max",
	        "Connection slots of the IMDS listener (--max-connections).",
	        s->max_conns},
	    {MT_COUNTER, "podid_http_timeouts_total",
	        "Connections closed for a header, idle or write timeout.",
	        s->timeouts},
	    {MT_COUNTER, "podid_http_bad_requests_total",
	        "Request heads refused by the HTTP parser.", s->bad_requests},
	    {MT_COUNTER, "podid_http_accept_errors_total",
	        "Failed accept calls (out of file descriptors and the like).",
	        s->accept_errors},
	};

	mt_scalars(o, m, MT_NITEMS(m));
}

/* ---- tokens and the upstreams ------------------------------------------ */

static void
mt_tokcache(struct mt_out *o, const struct tokcache_stats *s)
{
	const char *f = "podid_token_fetches_total";
	const struct mt_scalar m[] = {
	    {MT_COUNTER, "podid_token_cache_hits_total",
	        "Token requests answered from the cache.", s->hits},
	    {MT_COUNTER, "podid_token_cache_misses_total",
	        "Token requests that started a fetch.", s->misses},
	    {MT_COUNTER, "podid_token_cache_coalesced_total",
	        "Token requests that joined a fetch already running.",
	        s->coalesced},
	    {MT_COUNTER, "podid_token_cache_refreshes_total",
	        "Background fetches of tokens close to their expiry.",
	        s->refreshes},
	    {MT_COUNTER, "podid_token_cache_evictions_total",
	        "Tokens evicted to make room for others.", s->evictions},
	    {MT_COUNTER, "podid_token_cache_drops_total",
	        "Tokens dropped because a new policy no longer grants them.",
	        s->drops},
	    {MT_COUNTER, "podid_token_cache_full_total",
	        "Token requests answered 503: every slot was busy fetching.",
	        s->full},
	    {MT_GAUGE, "podid_token_cache_slots_used",
	        "Token cache slots in use.", s->used},
	    {MT_GAUGE, "podid_token_cache_slots_max", "Token cache slots.",
	        s->slots},
	};

	mt_scalars(o, m, MT_NITEMS(m));
	mt_head(o, MT_COUNTER, f, "Token fetches ended, by result.");
	mt_printf(o, "%s{result=\"ok\"} %" PRIu64 "\n", f, s->fetch_ok);
	mt_printf(o, "%s{result=\"failed\"} %" PRIu64 "\n", f, s->fetch_failed);
}

static void
mt_upstream_requests(
    struct mt_out *o, const struct metrics_upstream *up, unsigned n)
{
	const char *name = "podid_upstream_requests_total";
	unsigned i;

	mt_head(o, MT_COUNTER, name,
	    "Token requests to the upstreams by outcome: ok, error (the last "
	    "of a fetch that failed), retry (failed and tried again), rejected "
	    "(the queue was full, never sent).");
	for (i = 0; i < n; i++) {
		mt_printf(o,
		    "%s{target=\"%s\",outcome=\"ok\"} %" PRIu64 "\n"
		    "%s{target=\"%s\",outcome=\"error\"} %" PRIu64 "\n"
		    "%s{target=\"%s\",outcome=\"retry\"} %" PRIu64 "\n"
		    "%s{target=\"%s\",outcome=\"rejected\"} %" PRIu64 "\n",
		    name, up[i].target, up[i].ok, name, up[i].target,
		    up[i].error, name, up[i].target, up[i].retry, name,
		    up[i].target, up[i].rejected);
	}
}

/* The series of one histogram: cumulative buckets, +Inf, sum, count. */
static void
mt_hist(struct mt_out *o, const char *name, const char *labels,
    const struct metrics_hist *h)
{
	uint64_t cum = 0;
	unsigned i;

	for (i = 0; i < LIM_METRICS_BUCKETS; i++) {
		cum += h->bucket[i];
		mt_printf(o, "%s_bucket{%s,le=\"%s\"} %" PRIu64 "\n", name,
		    labels, mt_bound_le[i], cum);
	}
	mt_printf(o, "%s_bucket{%s,le=\"+Inf\"} %" PRIu64 "\n", name, labels,
	    h->count);
	mt_printf(o, "%s_sum{%s} %" PRIu64 ".%06u\n", name, labels,
	    h->sum_us / 1000000, (unsigned)(h->sum_us % 1000000));
	mt_printf(o, "%s_count{%s} %" PRIu64 "\n", name, labels, h->count);
}

static void
mt_upstream_latency(
    struct mt_out *o, const struct metrics_upstream *up, unsigned n)
{
	static const struct metrics_hist none;
	const char *name = "podid_upstream_request_duration_seconds";
	char labels[64];
	unsigned i;

	mt_head(o, "histogram", name,
	    "Latency of token requests to the upstreams: ok for a whole 200 "
	    "answer, error for anything else.");
	for (i = 0; i < n; i++) {
		snprintf(labels, sizeof(labels), "target=\"%s\",outcome=\"ok\"",
		    up[i].target);
		mt_hist(o, name, labels, up[i].dur_ok ? up[i].dur_ok : &none);
		snprintf(labels, sizeof(labels),
		    "target=\"%s\",outcome=\"error\"", up[i].target);
		mt_hist(
		    o, name, labels, up[i].dur_error ? up[i].dur_error : &none);
	}
}

/* ---- pods and the API server ------------------------------------------- */

static void
mt_pods(struct mt_out *o, const struct podcache_stats *s)
{
	const struct mt_scalar m[] = {
	    {MT_GAUGE, "podid_pods_cached", "Pods of this node in the cache.",
	        s->pods},
	    {MT_GAUGE, "podid_pods_max", "Pod slots of the cache (--max-pods).",
	        s->capacity},
	    {MT_COUNTER, "podid_pods_refused_total",
	        "Pods refused because the pod table was full.",
	        s->refused_full},
	    {MT_GAUGE, "podid_pod_ips_quarantined",
	        "Released pod IPs in quarantine (they resolve to no pod).",
	        s->quarantined},
	};

	mt_scalars(o, m, MT_NITEMS(m));
}

static void
mt_kube(struct mt_out *o, const struct kube_stats *s, uint64_t now_ms)
{
	const char *age = "podid_kube_last_event_age_seconds";
	const struct mt_scalar m[] = {
	    {MT_COUNTER, "podid_kube_lists_total", "Pod lists started.",
	        s->lists},
	    {MT_COUNTER, "podid_kube_list_pages_total", "Pod list pages read.",
	        s->list_pages},
	    {MT_COUNTER, "podid_kube_watches_total",
	        "Pod watches started (each restart counts).", s->watches},
	    {MT_COUNTER, "podid_kube_relists_total",
	        "Lists started again because the API server answered 410 Gone.",
	        s->relists_410},
	    {MT_COUNTER, "podid_kube_errors_total",
	        "Failed list or watch requests (each waits for a backoff).",
	        s->errors},
	    {MT_COUNTER, "podid_kube_events_total", "Watch events received.",
	        s->events},
	    {MT_COUNTER, "podid_kube_bookmarks_total",
	        "Watch bookmarks received.", s->bookmarks},
	    {MT_COUNTER, "podid_kube_pods_refused_total",
	        "Pods refused: a field over its limit, undecodable, or no "
	        "room.",
	        s->refused_pods},
	    {MT_GAUGE, "podid_kube_synced",
	        "1 once a complete pod list is in the cache.", s->synced},
	};

	mt_scalars(o, m, MT_NITEMS(m));
	/* Nothing heard yet: no age (podid_kube_synced 0 tells). */
	if (s->last_event_ms == 0)
		return;
	mt_head(o, MT_GAUGE, age,
	    "Seconds since the last watch event, bookmark or complete list.");
	mt_seconds_ms(
	    o, age, now_ms > s->last_event_ms ? now_ms - s->last_event_ms : 0);
}

/* ---- policy, rules, process -------------------------------------------- */

static void
mt_policy(struct mt_out *o, const struct src_policy *s, const struct pol *p)
{
	const char *r = "podid_policy_reloads_total";
	const struct mt_scalar m[] = {
	    {MT_GAUGE, "podid_policy_last_reload_success",
	        "1 when the last policy load attempt succeeded.",
	        !s->last_failed},
	    {MT_GAUGE, "podid_policy_loaded_timestamp_seconds",
	        "Unix time the running policy was swapped in.",
	        s->loaded_at > 0 ? (uint64_t)s->loaded_at : 0},
	    {MT_GAUGE, "podid_policy_identities",
	        "Identities of the running policy.", p ? p->nidentities : 0},
	    {MT_GAUGE, "podid_policy_bindings",
	        "Bindings of the running policy.", p ? p->nbindings : 0},
	    {MT_GAUGE, "podid_policy_exceptions",
	        "Exceptions of the running policy.", p ? p->nexceptions : 0},
	};

	mt_head(o, MT_COUNTER, r,
	    "Policy reloads after the first load, by result.");
	mt_printf(o, "%s{result=\"ok\"} %" PRIu64 "\n", r, s->reloads_ok);
	mt_printf(
	    o, "%s{result=\"failed\"} %" PRIu64 "\n", r, s->reloads_failed);
	mt_scalars(o, m, MT_NITEMS(m));
}

static void
mt_rules(struct mt_out *o, const struct src_rules *s)
{
	const struct mt_scalar m[] = {
	    {MT_COUNTER, "podid_rules_restored_total",
	        "Interception rule sets the keeper put back.", s->restored},
	    {MT_GAUGE, "podid_rules_keeper_alive",
	        "1 while the rules keeper runs (mode keep).", s->keeper_alive},
	};
	const char *mode = s->mode;

	mt_scalars(o, m, MT_NITEMS(m));
	/* The mode is one of three words; anything else is not a label. */
	if (mode == NULL ||
	    (strcmp(mode, "keep") != 0 && strcmp(mode, "install") != 0 &&
	        strcmp(mode, "off") != 0))
		mode = "unknown";
	mt_head(o, MT_GAUGE, "podid_rules_info",
	    "The interception rules' mode (--rules), as a label.");
	mt_printf(o, "podid_rules_info{mode=\"%s\"} 1\n", mode);
}

static void
mt_process(struct mt_out *o, int64_t started_at)
{
	mt_head(o, MT_GAUGE, "podid_start_time_seconds",
	    "Unix time podid started.");
	mt_printf(o, "podid_start_time_seconds %" PRId64 "\n",
	    started_at > 0 ? started_at : 0);
	mt_head(o, MT_GAUGE, "podid_build_info",
	    "The running podid's version, as a label.");
	mt_printf(o, "podid_build_info{version=\"%s\"} 1\n", PODID_VERSION);
}

/* ---- entry points ------------------------------------------------------ */

ssize_t
metrics_render_view(char *buf, size_t len, const struct metrics_view *v)
{
	struct mt_out o = {buf, len, 0, len == 0};

	if (v->imds != NULL)
		mt_requests(&o, v->imds);
	if (v->srv != NULL)
		mt_server(&o, v->srv);
	if (v->tok != NULL)
		mt_tokcache(&o, v->tok);
	if (v->nup > 0) {
		mt_upstream_requests(&o, v->up, v->nup);
		mt_upstream_latency(&o, v->up, v->nup);
	}
	if (v->pods != NULL)
		mt_pods(&o, v->pods);
	if (v->kube != NULL)
		mt_kube(&o, v->kube, v->now_ms);
	if (v->pol != NULL)
		mt_policy(&o, v->pol, v->policy);
	if (v->rules != NULL)
		mt_rules(&o, v->rules);
	mt_process(&o, v->started_at);
	if (o.over) {
		if (len > 0)
			buf[0] = '\0';
		return METRICS_E_SPACE;
	}
	return (ssize_t)o.off;
}

/* The upstreams: the node's IMDS, and Azure AD when its client runs. */
static void
mt_upstreams(struct metrics_view *v, const struct sources *src,
    struct imdsc_stats *ic, struct aad_stats *as)
{
	if (src->imdsc != NULL) {
		imdsc_stats(src->imdsc, ic);
		v->up[v->nup++] =
		    (struct metrics_upstream){"imds", ic->ok, ic->failed,
		        ic->retries, ic->rejected, &ic->dur_ok, &ic->dur_error};
	}
	if (src->aad != NULL) {
		aad_stats(src->aad, as);
		v->up[v->nup++] =
		    (struct metrics_upstream){"aad", as->ok, as->failed,
		        as->retries, as->rejected, &as->dur_ok, &as->dur_error};
	}
}

ssize_t
metrics_render(
    char *buf, size_t len, const struct sources *src, uint64_t now_ms)
{
	struct imds_stats is;
	struct server_stats ss;
	struct tokcache_stats ts;
	struct podcache_stats ps;
	struct imdsc_stats ics;
	struct aad_stats as;
	struct metrics_view v = {
	    .now_ms = now_ms, .started_at = src->started_at};

	if (src->imds != NULL) {
		imds_stats(src->imds, &is);
		v.imds = &is;
	}
	if (src->srv != NULL) {
		server_stats(src->srv, &ss);
		v.srv = &ss;
	}
	if (src->tokens != NULL) {
		tokcache_stats(src->tokens, &ts);
		v.tok = &ts;
	}
	if (src->cache != NULL) {
		podcache_stats(src->cache, now_ms, &ps);
		v.pods = &ps;
	}
	v.kube = src->kube != NULL ? kube_stats(src->kube) : NULL;
	v.pol = src->pol;
	v.policy = src->policy != NULL ? *src->policy : NULL;
	v.rules = src->rules;
	mt_upstreams(&v, src, &ics, &as);
	return metrics_render_view(buf, len, &v);
}

static const char *const mt_err_names[] = {
    [1] = "exposition does not fit the buffer",
};

const char *
metrics_strerror(int err)
{
	if (err >= METRICS_E_LAST && err < 0)
		return mt_err_names[-err];
	return "unknown metrics error";
}
