/*
 * tokcache: tokens per (identity, resource), in a fixed number of slots.
 * One upstream fetch serves every request waiting for the same token;
 * tokens are refreshed ahead of expiry and wiped (explicit_bzero) when a
 * slot is evicted or dropped.  Cached tokens keep being served while the
 * API server or the upstream is down, until they expire.
 *
 * The cache does not know how tokens are fetched: a fetcher per identity
 * kind does (agent/imdsc.c for managed identities through the node's
 * IMDS; the Azure AD client for the others).  Everything is sized at
 * tokcache_new; nothing is allocated per request.
 */
#ifndef AGENT_TOKCACHE_H
#define AGENT_TOKCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/limits.h"
#include "agent/loop.h"
#include "policy/policy.h"

/* A token as IMDS answers it; all times in epoch seconds. */
struct tok_token {
	char access_token[LIM_TOK_TOKEN_BYTES + 1];
	size_t access_len;
	int64_t expires_on, not_before, issued_at; /* issued_at: our clock */
	char resource[LIM_TOK_RESOURCE_BYTES + 1];
	char token_type[16];			   /* "Bearer" */
	char client_id[40];			   /* echo; "" when unknown */
};

/*
 * What a fetch is for: the identity (a copy of what the fetcher needs,
 * so a policy swap cannot pull it away) and the resource.
 */
struct tok_req {
	enum pol_kind kind;
	char identity[64];			     /* policy name, for logs */
	char client_id[40];			     /* may be "" (managed) */
	char resource_id[LIM_TOK_RESOURCE_BYTES + 1]; /* managed, may be "" */
	char tenant[256], authority[256];
	char resource[LIM_TOK_RESOURCE_BYTES + 1];
	/* The pod, for federated identities (TokenRequest). */
	char pod_ns[64], pod_name[254], pod_uid[37], pod_sa[254];
};

/*
 * The outcome of a fetch, given to tokcache_fetched.  status: 200 with
 * tok set; or the HTTP status to answer waiting pods with (400 for an
 * identity the upstream does not know, 429/503 for transient trouble,
 * with retry_after_s), and a short error code for the audit line
 * ("AADSTS700016", "imds_404", "timeout").
 */
struct tok_result {
	int status;
	unsigned retry_after_s;
	const struct tok_token *tok;
	const char *error;	/* IMDS error code: "invalid_request", ... */
	const char *error_desc; /* its description for the pod */
	const char *audit_code; /* upstream's own code, for the audit line */
};

struct tokcache;

/*
 * A fetcher: start begins fetching req and calls tokcache_fetched(tc,
 * handle, &result) exactly once, later, from the loop (never from inside
 * start).  cancel abandons a fetch (no call then).  Returns 0 or < 0 when
 * it cannot start (the waiters get 503).
 */
struct tok_fetcher {
	int (*start)(void *ctx, const struct tok_req *req, uint32_t handle);
	void (*cancel)(void *ctx, uint32_t handle);
	void *ctx;
};

/*
 * A request waiting for a token: caller storage (embedded in the
 * connection).  done is called once, from the loop: with result->status
 * 200 and result->tok valid during the call, or an error.
 */
struct tok_waiter {
	void (*done)(struct tok_waiter *, const struct tok_result *);
	/* private */
	struct tok_waiter *next, *prev;
	uint32_t slot;
	bool queued;
};

enum tok_get {
	TOK_HIT,   /* *out holds a valid token now */
	TOK_WAIT,  /* w is queued: done follows */
	TOK_FULL,  /* every slot busy fetching: answer 503 */
	TOK_FAILED /* the fetch could not start: answer 503 */
};

struct tokcache_stats {
	uint64_t hits, misses, refreshes, coalesced, evictions, full;
	uint64_t fetch_ok, fetch_failed;
	unsigned slots, used, fetching;
};

/*
 * Makes a cache of nslots slots.  fetchers[kind] serves identities of
 * that kind (a NULL start: kind not supported yet, waiters get 503).
 * refresh_ms_before: how long before expiry a token is refreshed in the
 * background (and no longer handed out below min_valid_s of life).
 */
struct tokcache *tokcache_new(struct loop *, unsigned nslots,
    const struct tok_fetcher fetchers[4]);
void tokcache_free(struct tokcache *);

/*
 * The token of identity id for resource (len bytes), for the pod pod (may
 * be NULL for non-federated identities).  Federated tokens are keyed by
 * the pod's namespace and service account too: Azure AD checks that
 * subject, so one pod's token must never answer another's.  TOK_HIT copies a pointer to the
 * cached token into *out, valid until the loop runs again.  TOK_WAIT
 * queues w.
 */
enum tok_get tokcache_get(struct tokcache *, const struct pol_identity *id,
    const char *resource, size_t len, const struct tok_req *pod,
    struct tok_waiter *w, const struct tok_token **out);

/* Takes a waiter off its queue (its connection went away). */
void tokcache_cancel(struct tokcache *, struct tok_waiter *w);

/* A fetcher's answer for handle (see struct tok_fetcher). */
void tokcache_fetched(struct tokcache *, uint32_t handle,
    const struct tok_result *);

/*
 * After a policy swap: drops (and wipes) the tokens of identities the new
 * policy no longer has, or has with other attributes.
 */
void tokcache_repolicy(struct tokcache *, const struct pol *);

void tokcache_stats(const struct tokcache *, struct tokcache_stats *);

#endif
