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
 *
 * Refresh is started by a get, not by a timer: a get that finds its token
 * with less than LIM_TOK_REFRESH_BEFORE_S to live still gets it at once
 * and starts one background fetch.  Tokens nobody asks for cost no
 * upstream requests (IMDS's rate budget stays with live requests); such a
 * token lapses and its next get waits for a fetch.  A refresh that fails,
 * or brings a token itself inside the window, is not tried again for
 * LIM_TOK_REFRESH_RETRY_S; after a failure the old token is served until
 * it has less than LIM_TOK_MIN_VALID_S left.  A fetched token with less
 * than that goes to the requests that waited for it, and is not kept.
 * Times are wall-clock (time()), as expires_on is.
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
	char token_type[16]; /* "Bearer" */
	char client_id[40];  /* echo; "" when unknown */
};

/*
 * What a fetch is for: the identity (a copy of what the fetcher needs,
 * so a policy swap cannot pull it away) and the resource.
 */
struct tok_req {
	enum pol_kind kind;
	char identity[64];  /* policy name, for logs */
	char client_id[40]; /* may be "" (managed) */
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
 * ("AADSTS700016", "imds_404", "timeout").  Waiters always get a status
 * of 200 or 400-599, and non-NULL strings with any status but 200.
 */
struct tok_result {
	int status;
	unsigned retry_after_s;
	const struct tok_token *tok;
	const char *error;      /* IMDS error code: "invalid_request", ... */
	const char *error_desc; /* its description for the pod */
	const char *audit_code; /* upstream's own code, for the audit line */
};

struct tokcache;

/*
 * A fetcher: start begins fetching req and calls tokcache_fetched(tc,
 * handle, &result) exactly once, later, from the loop (never from inside
 * start).  cancel abandons a fetch (no call then).  Returns 0 or < 0 when
 * it cannot start (the waiters get 503).  req is the cache's: it stays
 * valid and unchanged until that tokcache_fetched or cancel.  Neither
 * start nor cancel may call back into the cache.
 */
struct tok_fetcher {
	int (*start)(void *ctx, const struct tok_req *req, uint32_t handle);
	void (*cancel)(void *ctx, uint32_t handle);
	void *ctx;
};

/*
 * A request waiting for a token: caller storage (embedded in the
 * connection), prepared once with tokcache_waiter_init (or zeroed, with
 * done set).  done is called once, from the loop: with result->status 200
 * and result->tok valid during the call, or an error.  The waiter is off
 * the queue when done runs, so done may reuse it for another get.
 */
struct tok_waiter {
	void (*done)(struct tok_waiter *, const struct tok_result *);
	/* private */
	struct tok_waiter *next, *prev;
	uint32_t slot;
	bool queued;
};

enum tok_get {
	TOK_HIT,    /* *out holds a valid token now */
	TOK_WAIT,   /* w is queued: done follows */
	TOK_FULL,   /* every slot busy fetching: answer 503 */
	TOK_FAILED, /* the fetch could not start: answer 503 */
	TOK_INVALID /* no key: a field over its limit, a NUL, no pod: 400 */
};

/*
 * Counters since tokcache_new.  Every get is one of hits, misses (started
 * a fetch, start_failed of them refused), coalesced (joined a running
 * fetch or refresh), full or invalid.  refreshes: background fetches
 * started; drops: slots emptied by tokcache_repolicy; stale: results for
 * a handle no fetch was running under (ignored).
 */
struct tokcache_stats {
	uint64_t hits, misses, refreshes, coalesced, evictions, full;
	uint64_t fetch_ok, fetch_failed;
	uint64_t invalid, start_failed, refresh_failed, drops, stale;
	unsigned slots, used, fetching;
};

/*
 * Makes a cache of nslots slots (1..LIM_TOK_SLOTS_MAX): its one
 * allocation, kept out of core dumps.  fetchers[kind] serves identities of
 * that kind (a NULL start: kind not supported yet, gets answer
 * TOK_FAILED); fetchers may be NULL (none yet, see tokcache_set_fetcher).
 * Returns NULL with errno EINVAL or ENOMEM.
 */
struct tokcache *tokcache_new(
    struct loop *, unsigned nslots, const struct tok_fetcher fetchers[4]);

/*
 * Sets the fetcher of kind (copied), for fetchers made after the cache
 * because they need it (imdsc_new).  Only while no fetch of that kind runs.
 */
void tokcache_set_fetcher(
    struct tokcache *, enum pol_kind kind, const struct tok_fetcher *);

/*
 * Cancels running fetches, wipes every token and frees the cache (NULL is
 * fine).  Queued waiters are forgotten without a call.  Call it before
 * freeing the fetchers: it cancels through them.
 */
void tokcache_free(struct tokcache *);

/* Prepares caller-owned w to wait for tokens; done is called once per WAIT. */
void tokcache_waiter_init(struct tok_waiter *w,
    void (*done)(struct tok_waiter *, const struct tok_result *));

/*
 * The token of identity id for resource (len bytes, no NUL), for the pod
 * pod (may be NULL for non-federated identities; its pod_* fields are
 * used).  Federated tokens are keyed by the pod's namespace and service
 * account too: Azure AD checks that subject, so one pod's token must never
 * answer another's.  TOK_HIT copies a pointer to the cached token into
 * *out, valid until the next tokcache call or the loop runs again.
 * TOK_WAIT queues w (taken off any queue it was on first); done follows
 * from the loop, never from inside this call.
 */
enum tok_get tokcache_get(struct tokcache *, const struct pol_identity *id,
    const char *resource, size_t len, const struct tok_req *pod,
    struct tok_waiter *w, const struct tok_token **out);

/* Takes a waiter off its queue (its connection went away); no done call.
 * A waiter not queued is left alone. */
void tokcache_cancel(struct tokcache *, struct tok_waiter *w);

/*
 * A fetcher's answer for handle (see struct tok_fetcher); r and what it
 * points to need only live during the call.  Every waiter's done runs
 * before it returns.  An unknown or stale handle is counted and ignored.
 */
void tokcache_fetched(
    struct tokcache *, uint32_t handle, const struct tok_result *);

/*
 * After a policy swap: drops (and wipes) the tokens of identities the new
 * policy no longer has, or has with other attributes: a slot stays only
 * if an identity of pol has the same kind, client-id, resource-id, tenant
 * and authority.  Fetches of dropped slots are cancelled and their
 * waiters answered 503 before this returns.  pol NULL drops everything.
 */
void tokcache_repolicy(struct tokcache *, const struct pol *);

/* Fills *st with the counters and the current slot use. */
void tokcache_stats(const struct tokcache *, struct tokcache_stats *st);

/*
 * Checks every invariant (slot states, waiter lists, hash index, free
 * stack, wiped empty slots, unique keys), for tests.  Returns 0, or -1
 * with *why naming the first broken one.
 */
int tokcache_check(const struct tokcache *, const char **why);

/*
 * Test hook: the token storage of slot (handle & 0xffff of its fetch), or
 * NULL when out of range.  Lets a test see that an evicted token is wiped
 * and age a token without waiting.  Never used by the daemon.
 */
struct tok_token *tokcache_test_token(struct tokcache *, unsigned slot);

#endif
