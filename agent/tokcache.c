/*
 * The token cache: a fixed array of slots, a chained hash index over them
 * and a stack of free slots, all in one mapping made by tokcache_new.
 * Each slot moves between four states:
 *
 *	EMPTY --get: miss--> FETCHING --200--> VALID --get: near expiry--> REFRESHING
 *	  ^                     |                ^  |                          |
 *	  +------ failure ------+                |  +--> EMPTY: evicted (LRU)  |
 *	  +----- failure, old token too old -----+-- 200, or failure while ----+
 *	                                             the old token still serves
 *
 * Waiters queue on a FETCHING slot, or on a REFRESHING one whose token got
 * too old to hand out.  A result first puts the slot in its next state,
 * then takes the whole waiter list off the slot and answers it one waiter
 * at a time; so a done callback that gets, cancels, evicts or reloads the
 * policy only ever sees a consistent cache.  Tokens are handed to waiters
 * from a copy on the stack, wiped afterwards, so a done callback that
 * evicts the slot cannot pull the token from under the later waiters.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "agent/log.h"
#include "agent/tokcache.h"

enum tc_state { TC_EMPTY, TC_FETCHING, TC_VALID, TC_REFRESHING };

#define TC_NONE     UINT32_MAX       /* no slot: end of a hash chain */
#define TC_DETACHED (UINT32_MAX - 1) /* waiter being answered */
#define TC_IDX_BITS 16               /* handle: gen << 16 | slot index */

struct tc_slot {
	enum tc_state state;
	uint16_t gen;          /* bumped at each fetch start: stale handles */
	bool running;          /* a fetch is out under handle (gen, index) */
	uint32_t hash;         /* of the key */
	uint32_t hnext;        /* next slot in the hash chain */
	uint64_t used;         /* LRU tick of the last hit or fill */
	int64_t refresh_after; /* epoch s: no refresh starts before */
	unsigned nwaiters;
	struct tok_waiter waiters; /* sentinel of a circular list */
	struct tok_req key;
	struct tok_token tok;
};

struct tokcache {
	struct loop *loop;
	struct tok_fetcher fetchers[4];
	unsigned nslots, nfree;
	uint32_t mask;     /* hash buckets - 1 */
	uint32_t *bucket;  /* first slot of each chain */
	uint32_t *freestk; /* indexes of EMPTY slots */
	uint64_t tick;
	size_t maplen;
	struct tokcache_stats st;
	struct tc_slot slot[];
};

static const struct tok_result tc_dropped = {503, 1, NULL,
    "service_unavailable", "the identity was changed by a policy reload; retry",
    "policy_reload"};

/* ---- keys -------------------------------------------------------------- */

static uint32_t
tc_fnv(uint32_t h, const char *s)
{
	/* FNV-1a, with the NUL as a separator so "ab"+"c" != "a"+"bc". */
	do {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	} while (*s++ != '\0');
	return h;
}

static uint32_t
tc_hash(const struct tok_req *k)
{
	uint32_t h = 2166136261u ^ (uint32_t)k->kind;

	h = tc_fnv(h, k->client_id);
	h = tc_fnv(h, k->resource_id);
	h = tc_fnv(h, k->tenant);
	h = tc_fnv(h, k->authority);
	h = tc_fnv(h, k->resource);
	if (k->kind == POL_FEDERATED) {
		h = tc_fnv(h, k->pod_ns);
		h = tc_fnv(h, k->pod_sa);
	}
	return h;
}

static bool
tc_key_eq(const struct tok_req *a, const struct tok_req *b)
{
	if (a->kind != b->kind || strcmp(a->client_id, b->client_id) != 0 ||
	    strcmp(a->resource_id, b->resource_id) != 0 ||
	    strcmp(a->tenant, b->tenant) != 0 ||
	    strcmp(a->authority, b->authority) != 0 ||
	    strcmp(a->resource, b->resource) != 0)
		return false;
	return a->kind != POL_FEDERATED ||
	    (strcmp(a->pod_ns, b->pod_ns) == 0 &&
	        strcmp(a->pod_sa, b->pod_sa) == 0);
}

/* Copies s (len bytes, no NUL inside) into dst; -1 when it cannot. */
static int
tc_copy(char *dst, size_t dstlen, const char *s, size_t len)
{
	if (len >= dstlen || (len > 0 && memchr(s, '\0', len) != NULL))
		return -1;
	if (len > 0)
		memcpy(dst, s, len);
	dst[len] = '\0';
	return 0;
}

#define TC_COPY(dst, ps) tc_copy((dst), sizeof(dst), (ps).s, (ps).len)

/* The identity's half of a key; -1 when a field is over its limit. */
static int
tc_key_identity(struct tok_req *k, const struct pol_identity *id)
{
	k->kind = id->kind;
	if ((unsigned)id->kind > POL_FEDERATED)
		return -1;
	/* The name is for logs only: cut, never refused. */
	(void)tc_copy(k->identity, sizeof(k->identity), id->name.s,
	    id->name.len < sizeof(k->identity) ? id->name.len
	                                       : sizeof(k->identity) - 1);
	if (TC_COPY(k->client_id, id->client_id) != 0 ||
	    TC_COPY(k->resource_id, id->resource_id) != 0 ||
	    TC_COPY(k->tenant, id->tenant) != 0 ||
	    TC_COPY(k->authority, id->authority) != 0)
		return -1;
	return 0;
}

static int
tc_key_make(struct tok_req *k, const struct pol_identity *id,
    const char *resource, size_t len, const struct tok_req *pod)
{
	memset(k, 0, sizeof(*k));
	if (id == NULL || len == 0 || tc_key_identity(k, id) != 0 ||
	    tc_copy(k->resource, sizeof(k->resource), resource, len) != 0)
		return -1;
	if (pod == NULL)
		return id->kind == POL_FEDERATED ? -1 : 0;
	/* Pod fields come from our own cache: NUL-terminated, in bounds. */
	memcpy(k->pod_ns, pod->pod_ns, sizeof(k->pod_ns));
	memcpy(k->pod_name, pod->pod_name, sizeof(k->pod_name));
	memcpy(k->pod_uid, pod->pod_uid, sizeof(k->pod_uid));
	memcpy(k->pod_sa, pod->pod_sa, sizeof(k->pod_sa));
	k->pod_ns[sizeof(k->pod_ns) - 1] = '\0';
	k->pod_name[sizeof(k->pod_name) - 1] = '\0';
	k->pod_uid[sizeof(k->pod_uid) - 1] = '\0';
	k->pod_sa[sizeof(k->pod_sa) - 1] = '\0';
	if (id->kind == POL_FEDERATED &&
	    (k->pod_ns[0] == '\0' || k->pod_sa[0] == '\0'))
		return -1;
	return 0;
}

/* ---- slots, index, waiters --------------------------------------------- */

static uint32_t
tc_handle(const struct tokcache *tc, const struct tc_slot *s)
{
	return (uint32_t)s->gen << TC_IDX_BITS | (uint32_t)(s - tc->slot);
}

static uint32_t
tc_find(const struct tokcache *tc, const struct tok_req *k, uint32_t h)
{
	uint32_t i;

	for (i = tc->bucket[h & tc->mask]; i != TC_NONE; i = tc->slot[i].hnext)
		if (tc->slot[i].hash == h && tc_key_eq(&tc->slot[i].key, k))
			return i;
	return TC_NONE;
}

static void
tc_unhash(struct tokcache *tc, struct tc_slot *s)
{
	uint32_t *p = &tc->bucket[s->hash & tc->mask];
	uint32_t me = (uint32_t)(s - tc->slot);

	while (*p != TC_NONE && *p != me)
		p = &tc->slot[*p].hnext;
	if (*p == me)
		*p = s->hnext;
	s->hnext = TC_NONE;
}

static void
tc_list_init(struct tok_waiter *head)
{
	head->next = head->prev = head;
}

/* Moves every waiter of s onto the list at head (a caller's sentinel). */
static void
tc_detach(struct tc_slot *s, struct tok_waiter *head)
{
	struct tok_waiter *w;

	tc_list_init(head);
	if (s->waiters.next == &s->waiters)
		return;
	head->next = s->waiters.next;
	head->prev = s->waiters.prev;
	head->next->prev = head;
	head->prev->next = head;
	for (w = head->next; w != head; w = w->next)
		w->slot = TC_DETACHED;
	tc_list_init(&s->waiters);
	s->nwaiters = 0;
}

/* Answers the detached waiters one by one; done may cancel the others. */
static void
tc_deliver(struct tok_waiter *head, const struct tok_result *r)
{
	struct tok_waiter *w;

	while ((w = head->next) != head) {
		head->next = w->next;
		w->next->prev = head;
		w->next = w->prev = NULL;
		w->queued = false;
		w->slot = TC_NONE;
		w->done(w, r);
	}
}

/* Answers them with tok, from a copy wiped afterwards. */
static void
tc_deliver_tok(struct tok_waiter *head, const struct tok_token *tok)
{
	struct tok_token copy;
	struct tok_result r = {200, 0, &copy, NULL, NULL, "ok"};

	if (head->next == head)
		return;
	memcpy(&copy, tok, sizeof(copy));
	tc_deliver(head, &r);
	explicit_bzero(&copy, sizeof(copy));
}

static void
tc_enqueue(struct tokcache *tc, struct tc_slot *s, struct tok_waiter *w)
{
	w->slot = (uint32_t)(s - tc->slot);
	w->queued = true;
	w->next = &s->waiters;
	w->prev = s->waiters.prev;
	w->prev->next = w;
	s->waiters.prev = w;
	s->nwaiters++;
}

/* Back to EMPTY: token wiped, key cleared, off the index, on the stack. */
static void
tc_release(struct tokcache *tc, struct tc_slot *s)
{
	tc_unhash(tc, s);
	explicit_bzero(&s->tok, sizeof(s->tok));
	memset(&s->key, 0, sizeof(s->key));
	s->state = TC_EMPTY;
	s->running = false;
	s->refresh_after = 0;
	s->used = 0;
	tc->freestk[tc->nfree++] = (uint32_t)(s - tc->slot);
}

static bool
tc_usable(const struct tc_slot *s, int64_t now)
{
	return s->tok.expires_on - now >= (int64_t)LIM_TOK_MIN_VALID_S;
}

/* The VALID slot to evict: an unusable one first, then the LRU one. */
static uint32_t
tc_victim(const struct tokcache *tc, int64_t now)
{
	uint32_t i, best = TC_NONE;
	bool best_dead = false, dead;

	for (i = 0; i < tc->nslots; i++) {
		if (tc->slot[i].state != TC_VALID)
			continue;
		dead = !tc_usable(&tc->slot[i], now);
		if (best == TC_NONE || (dead && !best_dead) ||
		    (dead == best_dead &&
		        tc->slot[i].used < tc->slot[best].used)) {
			best = i;
			best_dead = dead;
		}
	}
	return best;
}

static struct tc_slot *
tc_alloc(struct tokcache *tc, int64_t now)
{
	struct tc_slot *s;
	uint32_t v;

	if (tc->nfree == 0) {
		if ((v = tc_victim(tc, now)) == TC_NONE)
			return NULL;
		tc_release(tc, &tc->slot[v]);
		tc->st.evictions++;
	}
	s = &tc->slot[tc->freestk[--tc->nfree]];
	if (s->waiters.next == NULL) { /* first use of the slot */
		tc_list_init(&s->waiters);
		s->hnext = TC_NONE;
	}
	return s;
}

/* ---- fetches ----------------------------------------------------------- */

/* Starts a fetch of s's key; false when the fetcher refused. */
static bool
tc_start(struct tokcache *tc, struct tc_slot *s)
{
	const struct tok_fetcher *f = &tc->fetchers[s->key.kind];

	s->gen++;
	if (f->start == NULL ||
	    f->start(f->ctx, &s->key, tc_handle(tc, s)) != 0)
		return false;
	s->running = true;
	return true;
}

/* A slot without a usable token: fetch into it and queue w. */
static enum tok_get
tc_fetch(struct tokcache *tc, struct tc_slot *s, struct tok_waiter *w)
{
	tc->st.misses++;
	explicit_bzero(&s->tok, sizeof(s->tok));
	s->state = TC_FETCHING;
	if (!tc_start(tc, s)) {
		tc->st.start_failed++;
		tc_release(tc, s);
		return TOK_FAILED;
	}
	tc_enqueue(tc, s, w);
	return TOK_WAIT;
}

/* A hit near expiry: refresh in the background, at most so often. */
static void
tc_refresh(struct tokcache *tc, struct tc_slot *s, int64_t now)
{
	if (s->tok.expires_on - now >= (int64_t)LIM_TOK_REFRESH_BEFORE_S ||
	    now < s->refresh_after)
		return;
	s->state = TC_REFRESHING;
	if (tc_start(tc, s)) {
		tc->st.refreshes++;
		return;
	}
	s->state = TC_VALID;
	s->refresh_after = now + LIM_TOK_REFRESH_RETRY_S;
	tc->st.refresh_failed++;
}

/* The pod of a federated key may change between fetches: the newest
 * asker is the one alive to mint the next assertion for. */
static void
tc_update_pod(struct tc_slot *s, const struct tok_req *k)
{
	if (s->running || k->kind != POL_FEDERATED)
		return;
	memcpy(s->key.pod_name, k->pod_name, sizeof(k->pod_name));
	memcpy(s->key.pod_uid, k->pod_uid, sizeof(k->pod_uid));
}

static enum tok_get
tc_found(struct tokcache *tc, struct tc_slot *s, const struct tok_req *k,
    struct tok_waiter *w, const struct tok_token **out)
{
	int64_t now = time(NULL);

	tc_update_pod(s, k);
	if (s->state == TC_FETCHING ||
	    (s->state == TC_REFRESHING && !tc_usable(s, now))) {
		tc->st.coalesced++;
		tc_enqueue(tc, s, w);
		return TOK_WAIT;
	}
	if (!tc_usable(s, now))
		return tc_fetch(tc, s, w); /* VALID but too old to hand out */
	s->used = ++tc->tick;
	if (s->state == TC_VALID)
		tc_refresh(tc, s, now);
	tc->st.hits++;
	*out = &s->tok;
	return TOK_HIT;
}

enum tok_get
tokcache_get(struct tokcache *tc, const struct pol_identity *id,
    const char *resource, size_t len, const struct tok_req *pod,
    struct tok_waiter *w, const struct tok_token **out)
{
	struct tok_req k;
	struct tc_slot *s;
	uint32_t h, i;

	*out = NULL;
	tokcache_cancel(tc, w);
	if (tc_key_make(&k, id, resource, len, pod) != 0) {
		tc->st.invalid++;
		return TOK_INVALID;
	}
	h = tc_hash(&k);
	if ((i = tc_find(tc, &k, h)) != TC_NONE)
		return tc_found(tc, &tc->slot[i], &k, w, out);
	if ((s = tc_alloc(tc, time(NULL))) == NULL) {
		tc->st.full++;
		return TOK_FULL;
	}
	memcpy(&s->key, &k, sizeof(k));
	s->hash = h;
	s->hnext = tc->bucket[h & tc->mask];
	tc->bucket[h & tc->mask] = (uint32_t)(s - tc->slot);
	s->used = ++tc->tick;
	return tc_fetch(tc, s, w);
}

void
tokcache_cancel(struct tokcache *tc, struct tok_waiter *w)
{
	if (w == NULL || !w->queued)
		return;
	w->prev->next = w->next;
	w->next->prev = w->prev;
	if (w->slot < tc->nslots)
		tc->slot[w->slot].nwaiters--;
	w->next = w->prev = NULL;
	w->queued = false;
	w->slot = TC_NONE;
}

/* A 200 worth caching: a token within bounds that has not expired. */
static bool
tc_result_ok(const struct tok_result *r, int64_t now)
{
	return r->status == 200 && r->tok != NULL && r->tok->access_len > 0 &&
	    r->tok->access_len <= LIM_TOK_TOKEN_BYTES &&
	    r->tok->expires_on > now;
}

static void
tc_fill(struct tokcache *tc, struct tc_slot *s, const struct tok_token *tok,
    int64_t now)
{
	struct tok_waiter head;

	tc->st.fetch_ok++;
	explicit_bzero(&s->tok, sizeof(s->tok));
	memcpy(&s->tok, tok, sizeof(s->tok));
	s->tok.access_token[s->tok.access_len] = '\0';
	s->tok.resource[sizeof(s->tok.resource) - 1] = '\0';
	s->tok.token_type[sizeof(s->tok.token_type) - 1] = '\0';
	s->tok.client_id[sizeof(s->tok.client_id) - 1] = '\0';
	if (s->tok.issued_at == 0)
		s->tok.issued_at = now;
	/* A token born inside the refresh window (the upstream hands out
	 * what it has cached) would have every get refresh it: wait. */
	s->refresh_after =
	    s->tok.expires_on - now < (int64_t)LIM_TOK_REFRESH_BEFORE_S
	    ? now + LIM_TOK_REFRESH_RETRY_S
	    : 0;
	s->state = TC_VALID;
	s->used = ++tc->tick;
	tc_detach(s, &head);
	if (!tc_usable(s, now)) {
		/* Too short-lived to keep: the askers get it, nobody else. */
		struct tok_token copy;

		memcpy(&copy, &s->tok, sizeof(copy));
		tc_release(tc, s);
		tc_deliver_tok(&head, &copy);
		explicit_bzero(&copy, sizeof(copy));
		return;
	}
	tc_deliver_tok(&head, &s->tok);
}

static void
tc_fail(struct tokcache *tc, struct tc_slot *s, const struct tok_result *r,
    int64_t now)
{
	struct tok_result res = *r;
	struct tok_waiter head;

	tc->st.fetch_failed++;
	if (res.status < 400 || res.status > 599) {
		/* A 200 we cannot use, or nonsense: the upstream failed. */
		res.status = 503;
		res.error = "service_unavailable";
		res.error_desc = "the token service gave an unusable answer";
		res.audit_code = "bad_result";
	}
	if (res.error == NULL)
		res.error = res.status >= 500 ? "service_unavailable"
		                              : "invalid_request";
	if (res.error_desc == NULL)
		res.error_desc = "the token could not be fetched";
	if (res.audit_code == NULL)
		res.audit_code = "upstream";
	res.tok = NULL;
	tc_detach(s, &head);
	if (s->state == TC_REFRESHING && tc_usable(s, now)) {
		s->state = TC_VALID;
		s->refresh_after = now + LIM_TOK_REFRESH_RETRY_S;
		tc->st.refresh_failed++;
		tc_deliver_tok(&head, &s->tok); /* only after a clock step */
		return;
	}
	tc_release(tc, s);
	tc_deliver(&head, &res);
}

void
tokcache_fetched(
    struct tokcache *tc, uint32_t handle, const struct tok_result *r)
{
	uint32_t i = handle & ((1u << TC_IDX_BITS) - 1);
	int64_t now = time(NULL);
	struct tc_slot *s;

	if (i >= tc->nslots || !tc->slot[i].running ||
	    tc->slot[i].gen != (uint16_t)(handle >> TC_IDX_BITS)) {
		tc->st.stale++;
		return;
	}
	s = &tc->slot[i];
	s->running = false;
	if (tc_result_ok(r, now))
		tc_fill(tc, s, r->tok, now);
	else
		tc_fail(tc, s, r, now);
}

/* ---- policy reloads ---------------------------------------------------- */

static bool
tc_str_eq(const char *s, const struct pol_str *p)
{
	return strlen(s) == p->len &&
	    (p->len == 0 || memcmp(s, p->s, p->len) == 0);
}

static bool
tc_same_identity(const struct tok_req *k, const struct pol_identity *id)
{
	return k->kind == id->kind && tc_str_eq(k->client_id, &id->client_id) &&
	    tc_str_eq(k->resource_id, &id->resource_id) &&
	    tc_str_eq(k->tenant, &id->tenant) &&
	    tc_str_eq(k->authority, &id->authority);
}

/* Does pol still have an identity with k's attributes?  By name first. */
static bool
tc_policy_has(const struct pol *pol, const struct tok_req *k)
{
	uint32_t i = pol_identity_find(pol, k->identity, strlen(k->identity));

	if (i != POL_NONE && tc_same_identity(k, &pol->identities[i]))
		return true;
	for (i = 0; i < pol->nidentities; i++)
		if (tc_same_identity(k, &pol->identities[i]))
			return true;
	return false;
}

static void
tc_drop(struct tokcache *tc, struct tc_slot *s)
{
	const struct tok_fetcher *f = &tc->fetchers[s->key.kind];
	struct tok_waiter head;

	if (s->running && f->cancel != NULL)
		f->cancel(f->ctx, tc_handle(tc, s));
	tc_detach(s, &head);
	tc_release(tc, s);
	tc->st.drops++;
	tc_deliver(&head, &tc_dropped);
}

void
tokcache_repolicy(struct tokcache *tc, const struct pol *pol)
{
	unsigned i;

	for (i = 0; i < tc->nslots; i++)
		if (tc->slot[i].state != TC_EMPTY &&
		    (pol == NULL || !tc_policy_has(pol, &tc->slot[i].key)))
			tc_drop(tc, &tc->slot[i]);
}

/* ---- life -------------------------------------------------------------- */

struct tokcache *
tokcache_new(
    struct loop *loop, unsigned nslots, const struct tok_fetcher fetchers[4])
{
	struct tokcache *tc;
	uint32_t nb = 1, i;
	size_t off, len;
	void *m;

	if (nslots == 0 || nslots > LIM_TOK_SLOTS_MAX) {
		errno = EINVAL;
		return NULL;
	}
	while (nb < 2 * nslots)
		nb *= 2;
	off = sizeof(*tc) + nslots * sizeof(struct tc_slot);
	len = off + (nb + nslots) * sizeof(uint32_t);
	/* The one allocation, at start-up; kept out of core dumps. */
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
	if (m == MAP_FAILED) {
		errno = ENOMEM;
		return NULL;
	}
	(void)madvise(m, len, MADV_DONTDUMP);
	tc = m;
	tc->loop = loop;
	tc->maplen = len;
	tc->nslots = nslots;
	tc->mask = nb - 1;
	tc->bucket = (uint32_t *)(void *)((char *)m + off);
	tc->freestk = tc->bucket + nb;
	if (fetchers != NULL)
		memcpy(tc->fetchers, fetchers, sizeof(tc->fetchers));
	for (i = 0; i < nb; i++)
		tc->bucket[i] = TC_NONE;
	/* Slots are set up when first taken, so untouched ones cost no RSS. */
	for (i = 0; i < nslots; i++)
		tc->freestk[i] = nslots - 1 - i; /* slot 0 is taken first */
	tc->nfree = nslots;
	return tc;
}

void
tokcache_set_fetcher(
    struct tokcache *tc, enum pol_kind kind, const struct tok_fetcher *f)
{
	if ((unsigned)kind <= POL_FEDERATED)
		tc->fetchers[kind] = *f;
}

void
tokcache_free(struct tokcache *tc)
{
	const struct tok_fetcher *f;
	unsigned i;

	if (tc == NULL)
		return;
	for (i = 0; i < tc->nslots; i++) {
		f = &tc->fetchers[tc->slot[i].key.kind];
		if (tc->slot[i].running && f->cancel != NULL)
			f->cancel(f->ctx, tc_handle(tc, &tc->slot[i]));
		explicit_bzero(&tc->slot[i].tok, sizeof(tc->slot[i].tok));
	}
	munmap(tc, tc->maplen);
}

void
tokcache_waiter_init(struct tok_waiter *w,
    void (*done)(struct tok_waiter *, const struct tok_result *))
{
	memset(w, 0, sizeof(*w));
	w->done = done;
	w->slot = TC_NONE;
}

void
tokcache_stats(const struct tokcache *tc, struct tokcache_stats *st)
{
	unsigned i;

	*st = tc->st;
	st->slots = tc->nslots;
	st->used = tc->nslots - tc->nfree;
	st->fetching = 0;
	for (i = 0; i < tc->nslots; i++)
		st->fetching += tc->slot[i].running;
}

struct tok_token *
tokcache_test_token(struct tokcache *tc, unsigned slot)
{
	return slot < tc->nslots ? &tc->slot[slot].tok : NULL;
}

/* ---- invariants -------------------------------------------------------- */

static bool
tc_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n > 0 && b[n - 1] == 0)
		n--;
	return n == 0;
}

/* The waiter list of slot i: linked both ways, counted, all pointing here. */
static const char *
tc_check_waiters(const struct tokcache *tc, uint32_t i)
{
	const struct tc_slot *s = &tc->slot[i];
	const struct tok_waiter *w;
	unsigned n = 0;

	for (w = s->waiters.next; w != &s->waiters; w = w->next) {
		if (w->next == NULL || w->next->prev != w || !w->queued ||
		    w->slot != i)
			return "waiter list broken";
		if (++n > s->nwaiters)
			return "more waiters than counted";
	}
	if (n != s->nwaiters)
		return "fewer waiters than counted";
	if (n > 0 && s->state != TC_FETCHING && s->state != TC_REFRESHING)
		return "waiters on a slot not fetching";
	return NULL;
}

static const char *
tc_check_slot(const struct tokcache *tc, uint32_t i)
{
	const struct tc_slot *s = &tc->slot[i];

	switch (s->state) {
	case TC_EMPTY:
		if (s->running || s->nwaiters != 0 ||
		    !tc_zero(&s->tok, sizeof(s->tok)) ||
		    !tc_zero(&s->key, sizeof(s->key)))
			return "empty slot not clean";
		return NULL;
	case TC_FETCHING:
		if (!s->running || !tc_zero(&s->tok, sizeof(s->tok)))
			return "fetching slot without a fetch, or not wiped";
		break;
	case TC_VALID:
	case TC_REFRESHING:
		if (s->running != (s->state == TC_REFRESHING))
			return "fetch flag does not match the state";
		if (s->tok.access_len == 0 ||
		    s->tok.access_len > LIM_TOK_TOKEN_BYTES ||
		    s->tok.access_token[s->tok.access_len] != '\0')
			return "cached token out of bounds";
		break;
	default:
		return "unknown state";
	}
	if (s->hash != tc_hash(&s->key) || tc_find(tc, &s->key, s->hash) != i)
		return "slot not found by its key, or key twice";
	return tc_check_waiters(tc, i);
}

/* Every free stack entry an EMPTY slot, none twice. */
static const char *
tc_check_free(const struct tokcache *tc)
{
	unsigned char seen[LIM_TOK_SLOTS_MAX / 8 + 1];
	uint32_t i, k;

	memset(seen, 0, sizeof(seen));
	for (i = 0; i < tc->nfree; i++) {
		k = tc->freestk[i];
		if (k >= tc->nslots || tc->slot[k].state != TC_EMPTY)
			return "free stack holds a busy slot";
		if (seen[k / 8] & (1u << (k % 8)))
			return "free stack holds a slot twice";
		seen[k / 8] |= (unsigned char)(1u << (k % 8));
	}
	return NULL;
}

int
tokcache_check(const struct tokcache *tc, const char **why)
{
	uint32_t i, j, chained = 0, empty = 0;
	const char *e = NULL;

	for (i = 0; i < tc->nslots && e == NULL; i++) {
		e = tc_check_slot(tc, i);
		empty += tc->slot[i].state == TC_EMPTY;
	}
	for (i = 0; i <= tc->mask && e == NULL; i++)
		for (j = tc->bucket[i]; j != TC_NONE && e == NULL;
		     j = tc->slot[j].hnext)
			if (j >= tc->nslots || tc->slot[j].state == TC_EMPTY ||
			    (tc->slot[j].hash & tc->mask) != i ||
			    ++chained > tc->nslots)
				e = "hash chain broken";
	if (e == NULL && chained + empty != tc->nslots)
		e = "slots missing from the index";
	if (e == NULL && tc->nfree != empty)
		e = "free stack does not count the empty slots";
	e = e != NULL ? e : tc_check_free(tc);
	if (why != NULL)
		*why = e;
	return e == NULL ? 0 : -1;
}
