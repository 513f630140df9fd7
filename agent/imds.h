/*
 * imds: the routes pods and hosts call, with Azure IMDS's semantics
 * (../shared/reference/imds-azure-kubernetes.md section 1):
 *
 *	/metadata/identity/oauth2/token	the pod's token (by source address)
 *	/host/token/			a pod's token for a caller on the node
 *	/healthz, /readyz		liveness, readiness
 *	other /metadata/...		proxied to the node's IMDS when the policy
 *					allows the route; refused otherwise
 *
 * Exception pods have their requests passed to the node's IMDS unchanged.
 * A request from a pod the cache has not seen yet is parked until its
 * watch event lands (bounded).  One audit line per token served or
 * refused; never the token.
 */
#ifndef AGENT_IMDS_H
#define AGENT_IMDS_H

#include "agent/kube.h"
#include "agent/podcache.h"
#include "agent/server.h"
#include "agent/tokcache.h"

struct imds_config {
	const struct pol *const *policy; /* the running policy (swapped) */
	struct podcache *cache;
	struct tokcache *tokens;
	struct kube *kube;                 /* for readiness; may be NULL */
	struct sockaddr_storage imds_addr; /* the node's IMDS, plain HTTP */
	socklen_t imds_len;
	uint64_t park_ms, token_wait_ms;
	const char *ready_detail; /* why not ready, beyond the watch */
};

/*
 * The routes answers are counted by: the token route (exception pods'
 * proxied tokens included), /host/token/, the probes, the other /metadata
 * routes (proxied or refused: IMDS_R_PROXY) and everything else.
 */
enum imds_route {
	IMDS_R_TOKEN,
	IMDS_R_HOST_TOKEN,
	IMDS_R_HEALTHZ,
	IMDS_R_READYZ,
	IMDS_R_PROXY,
	IMDS_R_OTHER,
	IMDS_R_N
};

/*
 * The statuses answers are counted by, one column each of by_route:
 * 200,400,403,404,405,408,413,414,429,431,500,502,503,504 and 0 for any
 * other status (a node IMDS's relayed answer may be anything).
 */
#define IMDS_CODES_N 15
extern const uint16_t imds_codes[IMDS_CODES_N];

/* Static lower-case name of a route for metric labels: "token",
 * "host_token", "healthz", "readyz", "proxy", "other"; "other" beyond. */
const char *imds_route_name(enum imds_route);

/*
 * by_route[route][k]: answers imds gave on route with status imds_codes[k]
 * (the last column: any other status), every answer counted once,
 * proxied ones with the status relayed.
 */
struct imds_stats {
	uint64_t tokens_served, tokens_refused, parked, park_timeouts;
	uint64_t proxied, proxy_failed, host_tokens, ambiguous;
	uint64_t by_route[IMDS_R_N][IMDS_CODES_N];
};

struct imds;

struct imds *imds_new(struct loop *, const struct imds_config *);

/* The handler to give server_new, then the server it serves. */
struct server_handler imds_server_handler(struct imds *);
void imds_bind(struct imds *, struct server *);
void imds_free(struct imds *);

/* A pod appeared or changed: wakes the requests parked on its IPs. */
void imds_pod_changed(struct imds *, const struct podcache_entry *);

/* Copies the counters into *out. */
void imds_stats(const struct imds *, struct imds_stats *out);

#endif
