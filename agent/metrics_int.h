/*
 * metrics' inner interface: the snapshot metrics_render() takes of the
 * modules and renders.  Tests and fuzzing fill one by hand, since live
 * modules need a loop, sockets and a policy; the daemon never uses it.
 */
#ifndef AGENT_METRICS_INT_H
#define AGENT_METRICS_INT_H

#include <stdbool.h>

#include "agent/imds.h"
#include "agent/kube.h"
#include "agent/metrics.h"
#include "agent/podcache.h"
#include "agent/server.h"
#include "agent/sources.h"
#include "agent/tokcache.h"
#include "policy/policy.h"

/* Upstream clients rendered: imds, and aad once it exists (issue #5). */
#define METRICS_UPSTREAMS 2u

/*
 * One upstream's requests by outcome: ok (a token came), error (the last
 * request of a fetch given up or refused), retry (a request failed and was
 * tried again), rejected (a fetch refused by a full queue, never sent);
 * and request latency for whole 200 answers (dur_ok) and the rest.
 */
struct metrics_upstream {
	const char *target; /* a fixed label value: "imds", "aad" */
	uint64_t ok, error, retry, rejected;
	const struct metrics_hist *dur_ok, *dur_error;
};

/*
 * Everything one exposition shows.  A NULL pointer leaves its section out;
 * policy may be NULL while pol is not (no policy running: 0 identities).
 * Pointers are borrowed for the call only.
 */
struct metrics_view {
	const struct imds_stats *imds;
	const struct server_stats *srv;
	const struct tokcache_stats *tok;
	const struct podcache_stats *pods;
	const struct kube_stats *kube;
	const struct src_policy *pol;
	const struct pol *policy;
	const struct src_rules *rules;
	struct metrics_upstream up[METRICS_UPSTREAMS];
	unsigned nup;       /* entries of up in use */
	uint64_t now_ms;    /* the loop's clock, as kube_stats' times */
	int64_t started_at; /* epoch s */
};

/*
 * Renders v as metrics_render() does (same buffer contract and returns).
 * Pure: no syscalls, no allocation.
 */
ssize_t metrics_render_view(
    char *buf, size_t len, const struct metrics_view *v);

#endif
