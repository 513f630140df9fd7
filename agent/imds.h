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

struct imds_stats {
	uint64_t tokens_served, tokens_refused, parked, park_timeouts;
	uint64_t proxied, proxy_failed, host_tokens, ambiguous;
};

struct imds;

struct imds *imds_new(struct loop *, const struct imds_config *);

/* The handler to give server_new, then the server it serves. */
struct server_handler imds_server_handler(struct imds *);
void imds_bind(struct imds *, struct server *);
void imds_free(struct imds *);

/* A pod appeared or changed: wakes the requests parked on its IPs. */
void imds_pod_changed(struct imds *, const struct podcache_entry *);

void imds_stats(const struct imds *, struct imds_stats *);

#endif
