/*
 * agent/tokcache.c over a fake fetcher on a real loop: the fake records
 * every start and cancel, and its answers are given from a loop timer, as
 * a real fetcher's are.  Covers hit and miss, coalescing (200 waiters, one
 * start), refresh ahead of expiry and its failure, short-lived and expired
 * tokens, failure fan-out, LRU eviction and FULL at N and N+1 slots,
 * policy reloads, federated keys, cancels (also from inside done), done
 * callbacks that re-enter the cache, stale handles, key limits at N and
 * N+1, and that evicted and dropped tokens are wiped.  The invariant
 * checker runs after every step that changes the cache.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "agent/limits.h"
#include "agent/loop.h"
#include "agent/tokcache.h"
#include "policy/policy.h"
#include "tests/guard.h"
#include "tests/harness.h"

int main(void);

/* ---- policies ---------------------------------------------------------- */

struct tpol {
	unsigned char ast[1 << 18], mem[1 << 18];
	struct dsl_diag dv[32];
	struct dsl_diags diags;
	struct dsl_file file;
	struct pol pol;
	char src[1 << 14];
};
static struct tpol pa, pb;

static const struct pol *
tpol(struct tpol *t, const char *src)
{
	struct dsl_limits lim = {4096, 1024};
	struct pol_options opt = {false, 0};
	struct dsl_arena a;

	snprintf(t->src, sizeof(t->src), "%s", src);
	memset(&t->file, 0, sizeof(t->file));
	t->file.name = "t.pol";
	t->file.src = t->src;
	t->file.len = strlen(t->src);
	dsl_arena_init(&a, t->ast, sizeof(t->ast));
	dsl_diags_init(&t->diags, t->dv, 32);
	if (dsl_parse(&t->file, &lim, &a, &t->diags) != 0 ||
	    pol_compile(&t->file, &opt, t->mem, sizeof(t->mem), &t->pol,
	        &t->diags) != 0) {
		fprintf(stderr, "test policy does not compile: %s\n",
		    t->diags.n ? t->dv[0].msg : "?");
		exit(2);
	}
	return &t->pol;
}

static const struct pol_identity *
ident(const struct pol *p, const char *name)
{
	uint32_t i = pol_identity_find(p, name, strlen(name));

	if (i == POL_NONE) {
		fprintf(stderr, "no identity %s\n", name);
		exit(2);
	}
	return &p->identities[i];
}

#define MI(name, cid)                                                          \
	"identity " name " {\n kind managed\n client-id \"" cid "\"\n}\n"
#define SP(name, cid, auth)                                                    \
	"identity " name " {\n kind secret\n tenant \"t.example\"\n"           \
	" client-id \"" cid "\"\n secret-file \"/nonexistent/s\"\n"            \
	" authority \"" auth "\"\n}\n"
#define WI(name, cid)                                                          \
	"identity " name " {\n kind federated\n tenant \"t.example\"\n"        \
	" client-id \"" cid "\"\n}\n"
#define RID                                                                    \
	"/subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590/resourceGroups/"  \
	"rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uami"
#define CID(n) "00000000-0000-0000-0000-00000000000" n

static const char pol_a_src[] = MI("a", CID("a"))
    MI("b", CID("b")) "identity c {\n kind managed\n resource-id \"" RID
                      "\"\n}\n" SP("d", CID("d"), "https://login.example")
                          WI("e", CID("e"));

/* a the same, b another client-id, c gone but cc has its attributes,
 * d another authority, e gone, f new. */
static const char pol_b_src[] = MI("a", CID("a"))
    MI("b", CID("f")) "identity cc {\n kind managed\n resource-id \"" RID
                      "\"\n}\n" SP("d", CID("d"), "https://login2.example")
                          MI("f", CID("9"));

/* ---- the fake fetcher -------------------------------------------------- */

#define FAKE_MAX 512

struct ans {
	uint32_t handle;
	int status;
	int64_t expires_on;
	char token[64];
};

static struct fake {
	struct loop *loop;
	struct tokcache *tc;
	bool refuse;
	unsigned starts, cancels;
	uint32_t handle[FAKE_MAX];
	struct tok_req req[FAKE_MAX];
	uint32_t cancelled[FAKE_MAX];
	struct ans ans[FAKE_MAX], firing[FAKE_MAX];
	unsigned nans;
	struct loop_timer timer;
} fk;

static struct tokcache *tc;

static int
fake_start(void *ctx, const struct tok_req *req, uint32_t handle)
{
	struct fake *f = ctx;

	if (f->refuse || f->starts == FAKE_MAX)
		return -1;
	f->handle[f->starts] = handle;
	f->req[f->starts++] = *req;
	return 0;
}

static void
fake_cancel(void *ctx, uint32_t handle)
{
	struct fake *f = ctx;

	if (f->cancels < FAKE_MAX)
		f->cancelled[f->cancels++] = handle;
}

/* The timer: every queued answer goes to the cache, in order. */
static void
fake_fire(struct loop *l, struct loop_timer *t, void *arg)
{
	struct fake *f = arg;
	struct tok_token tok;
	struct tok_result r;
	unsigned i, n = f->nans;

	(void)l;
	(void)t;
	memcpy(f->firing, f->ans, n * sizeof(f->ans[0]));
	f->nans = 0;
	for (i = 0; i < n; i++) {
		memset(&tok, 0, sizeof(tok));
		snprintf(tok.access_token, sizeof(tok.access_token), "%s",
		    f->firing[i].token);
		tok.access_len = strlen(tok.access_token);
		tok.expires_on = f->firing[i].expires_on;
		memcpy(tok.token_type, "Bearer", 7);
		if (f->firing[i].status == 200)
			r = (struct tok_result){200, 0, &tok, NULL, NULL, "ok"};
		else
			r = (struct tok_result){f->firing[i].status, 7, NULL,
			    "invalid_request", "Identity not found",
			    "imds_400"};
		tokcache_fetched(f->tc, f->firing[i].handle, &r);
	}
}

/* Queues the answer to start number n (ttl s from now); given by the loop. */
static void
answer(unsigned n, int status, int64_t ttl, const char *token)
{
	struct ans *a = &fk.ans[fk.nans++];

	a->handle = fk.handle[n];
	a->status = status;
	a->expires_on = (int64_t)time(NULL) + ttl;
	snprintf(a->token, sizeof(a->token), "%s", token);
	loop_timer_set(fk.loop, &fk.timer, 0);
}

/* Runs the loop until the queued answers are given. */
static void
settle(void)
{
	int guard = 0;

	while (loop_timer_pending(&fk.timer) && guard++ < 100)
		loop_run_once(fk.loop);
	check(!loop_timer_pending(&fk.timer));
}

static unsigned
slot_of(unsigned start)
{
	return fk.handle[start] & 0xffffu;
}

static bool
wiped(unsigned slot)
{
	const unsigned char *p = (const void *)tokcache_test_token(tc, slot);
	size_t i;

	for (i = 0; p != NULL && i < sizeof(struct tok_token); i++)
		if (p[i] != 0)
			return false;
	return p != NULL;
}

/* Fresh cache of n slots with the fake fetcher for every kind. */
static void
setup(unsigned n)
{
	struct tok_fetcher f = {fake_start, fake_cancel, &fk};
	struct tok_fetcher all[4] = {f, f, f, f};
	struct loop *l = fk.loop;

	tokcache_free(tc);
	memset(&fk, 0, sizeof(fk));
	fk.loop = l;
	loop_timer_init(&fk.timer, fake_fire, &fk);
	tc = tokcache_new(fk.loop, n, all);
	fk.tc = tc;
	if (tc == NULL) {
		perror("tokcache_new");
		exit(2);
	}
}

/*
 * Returns when the wall clock is early in a second (time() may lag the
 * real-time clock by a tick), so that a check at an exact boundary of
 * time() cannot straddle a tick: 600 ms are left before the next one, for
 * a loaded machine that takes the test off the CPU between the two reads.
 */
static void
mid_second(void)
{
	struct timespec ts, d = {0, 0};

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_nsec > 20000000L && ts.tv_nsec < 400000000L)
		return;
	d.tv_nsec = (1000000000L - ts.tv_nsec + 50000000L) % 1000000000L;
	nanosleep(&d, NULL);
}

#define INV()                                                                  \
	do {                                                                   \
		const char *why_ = NULL;                                       \
		int rc_ = tokcache_check(tc, &why_);                           \
		if (rc_ != 0)                                                  \
			fprintf(stderr, "line %d: invariant: %s\n", __LINE__,  \
			    why_);                                             \
		check(rc_ == 0);                                               \
	} while (0)

/* ---- waiters ----------------------------------------------------------- */

struct wrec {
	struct tok_waiter w;
	int calls, status;
	unsigned retry_after;
	char token[64], error[64];
	void (*then)(struct wrec *); /* runs inside done */
	struct wrec *other;
};

static void
wdone(struct tok_waiter *w, const struct tok_result *r)
{
	struct wrec *x = (struct wrec *)(void *)w;

	check(!w->queued);
	x->calls++;
	x->status = r->status;
	x->retry_after = r->retry_after_s;
	snprintf(x->token, sizeof(x->token), "%.*s", (int)sizeof(x->token) - 1,
	    r->status == 200 && r->tok ? r->tok->access_token : "");
	snprintf(x->error, sizeof(x->error), "%s", r->error ? r->error : "");
	if (x->then != NULL)
		x->then(x);
}

static struct wrec wr[256];

static void
wreset(void)
{
	unsigned i;

	memset(wr, 0, sizeof(wr));
	for (i = 0; i < 256; i++)
		tokcache_waiter_init(&wr[i].w, wdone);
}

static const struct tok_token *hit;

static enum tok_get
get(const struct pol_identity *id, const char *res, const struct tok_req *pod,
    struct wrec *w)
{
	return tokcache_get(tc, id, res, strlen(res), pod, &w->w, &hit);
}

static struct tokcache_stats
stats(void)
{
	struct tokcache_stats st;

	tokcache_stats(tc, &st);
	return st;
}

/* Fills the cache with the token of (id, res), answered tok (ttl s). */
static void
fill(const struct pol_identity *id, const char *res, const char *tok,
    int64_t ttl)
{
	struct wrec w;

	memset(&w, 0, sizeof(w));
	tokcache_waiter_init(&w.w, wdone);
	check(get(id, res, NULL, &w) == TOK_WAIT);
	answer(fk.starts - 1, 200, ttl, tok);
	settle();
	check(w.calls == 1 && w.status == 200);
	check_str(w.token, tok);
}

/* ---- tests ------------------------------------------------------------- */

static void
t_new_limits(void)
{
	struct tokcache *t;

	errno = 0;
	check(tokcache_new(fk.loop, 0, NULL) == NULL && errno == EINVAL);
	errno = 0;
	check(tokcache_new(fk.loop, LIM_TOK_SLOTS_MAX + 1, NULL) == NULL &&
	    errno == EINVAL);
	t = tokcache_new(fk.loop, LIM_TOK_SLOTS_MAX, NULL);
	check(t != NULL);
	check(t != NULL && tokcache_check(t, NULL) == 0);
	tokcache_free(t);
	tokcache_free(NULL);
}

static void
t_hit_miss(void)
{
	const struct pol *p = tpol(&pa, pol_a_src);
	struct tokcache_stats st;

	setup(8);
	wreset();
	check(get(ident(p, "a"), "https://vault.azure.net", NULL, &wr[0]) ==
	    TOK_WAIT);
	check(wr[0].calls == 0); /* never from inside get */
	check(hit == NULL);
	check_int(fk.starts, 1);
	check_str(fk.req[0].resource, "https://vault.azure.net");
	check_str(fk.req[0].client_id, CID("a"));
	check_str(fk.req[0].identity, "a");
	check(fk.req[0].kind == POL_MANAGED);
	INV();
	answer(0, 200, 3600, "tok-a");
	settle();
	check_int(wr[0].calls, 1);
	check_int(wr[0].status, 200);
	check_str(wr[0].token, "tok-a");
	INV();
	check(get(ident(p, "a"), "https://vault.azure.net", NULL, &wr[1]) ==
	    TOK_HIT);
	check(hit != NULL && strcmp(hit->access_token, "tok-a") == 0);
	check(hit != NULL && hit->access_len == 5 && hit->issued_at > 0);
	check_int(wr[1].calls, 0);
	check_int(fk.starts, 1);
	/* Another resource, another identity: other keys. */
	check(get(ident(p, "a"), "https://vault.azure.net/", NULL, &wr[2]) ==
	    TOK_WAIT);
	check(get(ident(p, "b"), "https://vault.azure.net", NULL, &wr[3]) ==
	    TOK_WAIT);
	check_int(fk.starts, 3);
	st = stats();
	check_int(st.hits, 1);
	check_int(st.misses, 3);
	check_int(st.fetch_ok, 1);
	check_int(st.used, 3);
	check_int(st.fetching, 2);
	check_int(st.slots, 8);
	INV();
}

static void
t_coalesce(void)
{
	const struct pol *p = tpol(&pa, pol_a_src);
	unsigned i, ok = 0;

	setup(4);
	wreset();
	for (i = 0; i < 200; i++)
		check(get(ident(p, "c"), "r", NULL, &wr[i]) == TOK_WAIT);
	check_int(fk.starts, 1);
	check_str(fk.req[0].resource_id, RID);
	check_int(stats().coalesced, 199);
	check_int(stats().misses, 1);
	INV();
	answer(0, 200, 3600, "shared");
	settle();
	for (i = 0; i < 200; i++)
		ok += wr[i].calls == 1 && wr[i].status == 200 &&
		    strcmp(wr[i].token, "shared") == 0;
	check_int(ok, 200);
	check_int(fk.starts, 1);
	INV();
}

static void
t_refresh(void)
{
	const struct pol *p = tpol(&pa, pol_a_src);
	const struct pol_identity *a = ident(p, "a");
	struct tok_token *t;

	setup(4);
	wreset();
	fill(a, "r", "t1", 3600);
	t = tokcache_test_token(tc, slot_of(0));
	check(get(a, "r", NULL, &wr[0]) == TOK_HIT); /* far from expiry */
	check_int(fk.starts, 1);
	/* Into the refresh window: served, and one background fetch. */
	t->expires_on = time(NULL) + LIM_TOK_REFRESH_BEFORE_S - 1;
	check(get(a, "r", NULL, &wr[1]) == TOK_HIT);
	check(hit != NULL && strcmp(hit->access_token, "t1") == 0);
	check_int(fk.starts, 2);
	check_int(stats().refreshes, 1);
	check(get(a, "r", NULL, &wr[2]) == TOK_HIT); /* still refreshing */
	check_int(fk.starts, 2);
	INV();
	answer(1, 200, 3600, "t2");
	settle();
	check(wr[0].calls + wr[1].calls + wr[2].calls == 0);
	check(get(a, "r", NULL, &wr[3]) == TOK_HIT);
	check(hit != NULL && strcmp(hit->access_token, "t2") == 0);
	check_int(fk.starts, 2);
	/* At the window's edge (N s left): no refresh yet. */
	mid_second();
	t->expires_on = time(NULL) + LIM_TOK_REFRESH_BEFORE_S;
	check(get(a, "r", NULL, &wr[4]) == TOK_HIT);
	check_int(fk.starts, 2);
	INV();
}

static void
t_refresh_failure(void)
{
	const struct pol *p = tpol(&pa, pol_a_src);
	const struct pol_identity *a = ident(p, "a");
	struct tok_token *t;

	setup(4);
	wreset();
	fill(a, "r", "t1", 3600);
	t = tokcache_test_token(tc, slot_of(0));
	t->expires_on = time(NULL) + 200;
	check(get(a, "r", NULL, &wr[0]) == TOK_HIT);
	check_int(fk.starts, 2);
	answer(1, 503, 0, "");
	settle();
	/* The old token stays, and is not refreshed again at once. */
	check(get(a, "r", NULL, &wr[1]) == TOK_HIT);
	check(hit != NULL && strcmp(hit->access_token, "t1") == 0);
	check_int(fk.starts, 2);
	check_int(stats().refresh_failed, 1);
	INV();
	/* At LIM_TOK_MIN_VALID_S left it is still handed out; below, not. */
	mid_second();
	t->expires_on = time(NULL) + LIM_TOK_MIN_VALID_S;
	check(get(a, "r", NULL, &wr[2]) == TOK_HIT);
	t->expires_on = time(NULL) + LIM_TOK_MIN_VALID_S - 1;
	check(get(a, "r", NULL, &wr[3]) == TOK_WAIT);
	check_int(fk.starts, 3);
	INV();
	answer(2, 200, 3600, "t3");
	settle();
	check_str(wr[3].token, "t3");
	/* Too old while refreshing: wait for the refresh, which fails. */
	t->expires_on = time(NULL) + 200;
	check(get(a, "r", NULL, &wr[4]) == TOK_HIT);
	check_int(fk.starts, 4);
	t->expires_on = time(NULL) + 30;
	check(get(a, "r", NULL, &wr[5]) == TOK_WAIT);
	check(get(a, "r", NULL, &wr[6]) == TOK_WAIT);
	check_int(fk.starts, 4);
	INV();
	answer(3, 500, 0, "");
	settle();
	check(wr[5].calls == 1 && wr[5].status == 500);
	check(wr[6].calls == 1 && wr[6].status == 500);
	check(wiped(slot_of(0)));
	check_int(stats().used, 0);
	check(get(a, "r", NULL, &wr[7]) == TOK_WAIT);
	check_int(fk.starts, 5);
	INV();
}

static void
t_short_tokens(void)
{
	const struct pol *p = tpol(&pa, pol_a_src);
	const struct pol_identity *a = ident(p, "a");

	setup(4);
	wreset();
	/* Under LIM_TOK_MIN_VALID_S: the askers get it, the cache not. */
	check(get(a, "r", NULL, &wr[0]) == TOK_WAIT);
	check(get(a, "r", NULL, &wr[1]) == TOK_WAIT);
	answer(0, 200, 30, "short");
	settle();
	check_str(wr[0].token, "short");
	check_str(wr[1].token, "short");
	check_int(stats().used, 0);
	check(wiped(slot_of(0)));
	INV();
	/* Already expired: a failure. */
	check(get(a, "r", NULL, &wr[2]) == TOK_WAIT);
	answer(1, 200, -5, "dead");
	settle();
	check(wr[2].calls == 1 && wr[2].status == 503);
	check_str(wr[2].token, "");
	check_int(stats().fetch_failed, 1);
	INV();
	/* Born inside the refresh window: kept, not refreshed at every get. */
	check(get(a, "r", NULL, &wr[3]) == TOK_WAIT);
	answer(2, 200, 200, "cached-upstream");
	settle();
	check(get(a, "r", NULL, &wr[4]) == TOK_HIT);
	check(get(a, "r", NULL, &wr[5]) == TOK_HIT);
	check_int(fk.starts, 3);
	INV();
}

static void
t_failure_fanout(void)
{
	const struct pol *p = tpol(&pa, pol_a_src);
	unsigned i, n = 0;

	setup(4);
	wreset();
	for (i = 0; i < 10; i++)
		check(get(ident(p, "b"), "r", NULL, &wr[i]) == TOK_WAIT);
	answer(0, 400, 0, "");
	settle();
	for (i = 0; i < 10; i++)
		n += wr[i].calls == 1 && wr[i].status == 400 &&
		    wr[i].retry_after == 7 &&
		    strcmp(wr[i].error, "invalid_request") == 0;
	check_int(n, 10);
	check_int(stats().fetch_failed, 1);
	check_int(stats().used, 0);
	INV();
	/* Not cached: the next get fetches again. */
	check(get(ident(p, "b"), "r", NULL, &wr[10]) == TOK_WAIT);
	check_int(fk.starts, 2);
	INV();
}

static void
t_lru(void)
{
	const struct pol *p = tpol(&pa, pol_a_src);
	const struct pol_identity *a = ident(p, "a");
	char res[8];
	unsigned i;

	setup(4);
	wreset();
	for (i = 0; i < 4; i++) { /* N keys in N slots: nothing evicted */
		snprintf(res, sizeof(res), "r%u", i);
		fill(a, res, res, 3600);
	}
	check_int(stats().evictions, 0);
	check_int(stats().used, 4);
	check(get(a, "r0", NULL, &wr[0]) == TOK_HIT); /* r1 is now LRU */
	check(!wiped(slot_of(1)));
	/* Key N+1: r1's slot is taken, its token wiped first. */
	check(get(a, "r4", NULL, &wr[1]) == TOK_WAIT);
	check_int(stats().evictions, 1);
	check_int(fk.starts, 5);
	check_int(slot_of(4), slot_of(1));
	check(wiped(slot_of(1)));
	INV();
	check(get(a, "r0", NULL, &wr[2]) == TOK_HIT);
	check(get(a, "r3", NULL, &wr[3]) == TOK_HIT);
	check(get(a, "r2", NULL, &wr[4]) == TOK_HIT);
	check(get(a, "r1", NULL, &wr[5]) == TOK_WAIT); /* evicts r0 */
	check_int(slot_of(5), slot_of(0));
	check(get(a, "r3", NULL, &wr[6]) == TOK_HIT);
	check_int(stats().evictions, 2);
	INV();
}

static void
t_full(void)
{
	const struct pol *p = tpol(&pa, pol_a_src);
	const struct pol_identity *a = ident(p, "a");
	char res[8];
	unsigned i;

	setup(4);
	wreset();
	for (i = 0; i < 4; i++) { /* N fetches: all wait */
		snprintf(res, sizeof(res), "r%u", i);
		check(get(a, res, NULL, &wr[i]) == TOK_WAIT);
	}
	check(get(a, "r4", NULL, &wr[4]) == TOK_FULL); /* N+1 */
	check_int(stats().full, 1);
	check_int(wr[4].calls, 0);
	check(!wr[4].w.queued);
	INV();
	answer(2, 200, 3600, "r2");
	settle();
	check(get(a, "r4", NULL, &wr[4]) == TOK_WAIT); /* r2 evicted */
	check_int(stats().evictions, 1);
	INV();
}

static void
t_repolicy(void)
{
	const struct pol *p = tpol(&pa, pol_a_src), *q;
	struct tok_req pod;
	unsigned i;

	setup(16);
	wreset();
	memset(&pod, 0, sizeof(pod));
	snprintf(pod.pod_ns, sizeof(pod.pod_ns), "ns");
	snprintf(pod.pod_sa, sizeof(pod.pod_sa), "sa");
	fill(ident(p, "a"), "r", "ta", 3600);
	fill(ident(p, "b"), "r", "tb", 3600);
	fill(ident(p, "c"), "r", "tc", 3600);
	fill(ident(p, "d"), "r", "td", 3600);
	check_str(fk.req[3].authority, "https://login.example");
	check_str(fk.req[3].tenant, "t.example");
	check(get(ident(p, "e"), "r", &pod, &wr[0]) == TOK_WAIT);
	check(get(ident(p, "e"), "r", &pod, &wr[1]) == TOK_WAIT);
	check_int(fk.starts, 5);
	INV();
	q = tpol(&pb, pol_b_src);
	tokcache_repolicy(tc, q);
	check_int(stats().drops, 3); /* b, d, e */
	check(wiped(slot_of(1)) && wiped(slot_of(3)) && wiped(slot_of(4)));
	check(!wiped(slot_of(0)) && !wiped(slot_of(2)));
	check(wr[0].calls == 1 && wr[0].status == 503);
	check(wr[1].calls == 1 && wr[1].status == 503);
	check_str(wr[0].error, "service_unavailable");
	check_int(fk.cancels, 1);
	check(fk.cancelled[0] == fk.handle[4]);
	INV();
	check(get(ident(q, "a"), "r", NULL, &wr[2]) == TOK_HIT);
	check(get(ident(q, "cc"), "r", NULL, &wr[3]) == TOK_HIT);
	check(hit != NULL && strcmp(hit->access_token, "tc") == 0);
	check(get(ident(q, "b"), "r", NULL, &wr[4]) == TOK_WAIT);
	check(get(ident(q, "d"), "r", NULL, &wr[5]) == TOK_WAIT);
	check_int(fk.starts, 7);
	/* The cancelled fetch's late answer is ignored. */
	answer(4, 200, 3600, "late");
	settle();
	check_int(stats().stale, 1);
	INV();
	/* No policy: everything goes, and every token is wiped. */
	tokcache_repolicy(tc, NULL);
	check_int(stats().used, 0);
	for (i = 0; i < 16; i++)
		check(wiped(i));
	check_int(fk.cancels, 3);
	INV();
}

static void
t_federated(void)
{
	const struct pol *p = tpol(&pa, pol_a_src);
	const struct pol_identity *e = ident(p, "e");
	struct tok_req pods[4];
	static const char *const who[4][3] = {{"ns1", "sa1", "p1"},
	    {"ns1", "sa2", "p2"}, {"ns2", "sa1", "p3"}, {"ns1", "sa1", "p4"}};
	unsigned i;

	setup(8);
	wreset();
	memset(pods, 0, sizeof(pods));
	for (i = 0; i < 4; i++) {
		snprintf(
		    pods[i].pod_ns, sizeof(pods[i].pod_ns), "%s", who[i][0]);
		snprintf(
		    pods[i].pod_sa, sizeof(pods[i].pod_sa), "%s", who[i][1]);
		snprintf(pods[i].pod_name, sizeof(pods[i].pod_name), "%s",
		    who[i][2]);
		snprintf(pods[i].pod_uid, sizeof(pods[i].pod_uid), "uid-%u", i);
		check(get(e, "r", &pods[i], &wr[i]) == TOK_WAIT);
	}
	check_int(fk.starts, 3); /* p4 shares p1's namespace and account */
	check_str(fk.req[0].pod_name, "p1");
	check_str(fk.req[1].pod_sa, "sa2");
	check_str(fk.req[2].pod_ns, "ns2");
	check_str(fk.req[0].client_id, CID("e"));
	answer(0, 200, 3600, "sa1-token");
	answer(1, 200, 3600, "sa2-token");
	answer(2, 200, 3600, "ns2-token");
	settle();
	check_str(wr[0].token, "sa1-token");
	check_str(wr[3].token, "sa1-token");
	check_str(wr[1].token, "sa2-token");
	check_str(wr[2].token, "ns2-token");
	/* A refresh mints for the latest asker (p4), alive to be bound. */
	check(get(e, "r", &pods[3], &wr[4]) == TOK_HIT);
	tokcache_test_token(tc, slot_of(0))->expires_on = time(NULL) + 100;
	check(get(e, "r", &pods[3], &wr[5]) == TOK_HIT);
	check_int(fk.starts, 4);
	check_str(fk.req[3].pod_name, "p4");
	check_str(fk.req[3].pod_uid, "uid-3");
	/* No pod, or a pod without a service account: no key. */
	check(get(e, "r", NULL, &wr[6]) == TOK_INVALID);
	pods[0].pod_sa[0] = '\0';
	check(get(e, "r", &pods[0], &wr[6]) == TOK_INVALID);
	check_int(stats().invalid, 2);
	INV();
}

static void
cancel_other(struct wrec *x)
{
	tokcache_cancel(tc, &x->other->w);
}

static void
t_cancel(void)
{
	const struct pol *p = tpol(&pa, pol_a_src);
	const struct pol_identity *a = ident(p, "a");

	setup(4);
	wreset();
	tokcache_cancel(tc, &wr[9].w); /* never queued: nothing */
	check(get(a, "r", NULL, &wr[0]) == TOK_WAIT);
	check(get(a, "r", NULL, &wr[1]) == TOK_WAIT);
	check(get(a, "r", NULL, &wr[2]) == TOK_WAIT);
	tokcache_cancel(tc, &wr[1].w);
	tokcache_cancel(tc, &wr[1].w);
	check(!wr[1].w.queued);
	INV();
	answer(0, 200, 3600, "t");
	settle();
	check(wr[0].calls == 1 && wr[1].calls == 0 && wr[2].calls == 1);
	INV();
	/* A done that cancels a later waiter of the same answer. */
	check(get(a, "s", NULL, &wr[3]) == TOK_WAIT);
	check(get(a, "s", NULL, &wr[4]) == TOK_WAIT);
	check(get(a, "s", NULL, &wr[5]) == TOK_WAIT);
	wr[3].then = cancel_other;
	wr[3].other = &wr[5];
	answer(1, 200, 3600, "t");
	settle();
	check(wr[3].calls == 1 && wr[4].calls == 1 && wr[5].calls == 0);
	INV();
	/* A waiter moved to another key leaves the first queue. */
	check(get(a, "x", NULL, &wr[6]) == TOK_WAIT);
	check(get(a, "y", NULL, &wr[6]) == TOK_WAIT);
	answer(2, 200, 3600, "x");
	settle();
	check_int(wr[6].calls, 0);
	answer(3, 200, 3600, "y");
	settle();
	check_int(wr[6].calls, 1);
	check_str(wr[6].token, "y");
	INV();
}

static const struct pol_identity *reenter_id;

/* From inside done: a get that evicts the very slot being answered. */
static void
reenter(struct wrec *x)
{
	check(get(reenter_id, "other", NULL, x->other) == TOK_WAIT);
}

static void
t_reentrant(void)
{
	const struct pol *p = tpol(&pa, pol_a_src);

	setup(1);
	wreset();
	reenter_id = ident(p, "a");
	check(get(reenter_id, "r", NULL, &wr[0]) == TOK_WAIT);
	check(get(reenter_id, "r", NULL, &wr[1]) == TOK_WAIT);
	wr[0].then = reenter;
	wr[0].other = &wr[2];
	answer(0, 200, 3600, "first");
	settle();
	check_int(stats().evictions, 1);
	check_str(wr[0].token, "first");
	check_str(wr[1].token, "first"); /* not the wiped slot */
	check(wr[2].w.queued);
	INV();
	answer(1, 200, 3600, "second");
	settle();
	check_str(wr[2].token, "second");
	INV();
}

static void
t_stale_and_refused(void)
{
	const struct pol *p = tpol(&pa, pol_a_src);
	struct tok_result r = {503, 1, NULL, NULL, NULL, NULL};

	setup(4);
	wreset();
	tokcache_fetched(tc, 3, &r);      /* slot not fetching */
	tokcache_fetched(tc, 0xffff, &r); /* beyond the slots */
	check(get(ident(p, "a"), "r", NULL, &wr[0]) == TOK_WAIT);
	tokcache_fetched(tc, fk.handle[0] + (1u << 16), &r); /* old gen */
	check_int(stats().stale, 3);
	check(wr[0].w.queued);
	tokcache_fetched(tc, fk.handle[0], &r);
	check(wr[0].calls == 1 && wr[0].status == 503);
	check_str(wr[0].error, "service_unavailable"); /* filled in */
	INV();
	/* A fetcher that cannot start: TOK_FAILED, no done, slot free. */
	fk.refuse = true;
	check(get(ident(p, "a"), "r", NULL, &wr[1]) == TOK_FAILED);
	check_int(wr[1].calls, 0);
	check_int(stats().start_failed, 1);
	check_int(stats().used, 0);
	INV();
	/* A kind without a fetcher likewise. */
	fk.refuse = false;
	tokcache_set_fetcher(
	    tc, POL_SECRET, &(struct tok_fetcher){NULL, NULL, NULL});
	check(get(ident(p, "d"), "r", NULL, &wr[2]) == TOK_FAILED);
	INV();
}

static void
t_key_limits(void)
{
	static char big[LIM_TOK_RESOURCE_BYTES + 2];
	const struct pol *p = tpol(&pa, pol_a_src);
	struct pol_identity id;
	const struct pol_identity *a = ident(p, "a");
	const struct tok_token *out;
	const char *g;

	setup(4);
	wreset();
	memset(big, 'r', sizeof(big) - 1);
	g = guard_copy(big, LIM_TOK_RESOURCE_BYTES); /* N, unterminated */
	check(tokcache_get(tc, a, g, LIM_TOK_RESOURCE_BYTES, NULL, &wr[0].w,
	          &out) == TOK_WAIT);
	check_int(strlen(fk.req[0].resource), LIM_TOK_RESOURCE_BYTES);
	g = guard_copy(big, LIM_TOK_RESOURCE_BYTES + 1); /* N+1 */
	check(tokcache_get(tc, a, g, LIM_TOK_RESOURCE_BYTES + 1, NULL, &wr[1].w,
	          &out) == TOK_INVALID);
	check(tokcache_get(tc, a, "", 0, NULL, &wr[1].w, &out) == TOK_INVALID);
	check(tokcache_get(tc, a, "a\0b", 3, NULL, &wr[1].w, &out) ==
	    TOK_INVALID);
	check(tokcache_get(tc, NULL, "r", 1, NULL, &wr[1].w, &out) ==
	    TOK_INVALID);
	/* Identity fields at their limits and one byte over (the policy
	 * compiler refuses such values; the cache must not trust it). */
	memset(&id, 0, sizeof(id));
	id.kind = POL_MANAGED;
	id.name = (struct pol_str){"n", 1};
	id.resource_id = (struct pol_str){big, LIM_TOK_RESOURCE_BYTES};
	check(get(&id, "r", NULL, &wr[2]) == TOK_WAIT);
	check_int(strlen(fk.req[1].resource_id), LIM_TOK_RESOURCE_BYTES);
	id.resource_id.len++;
	check(get(&id, "r", NULL, &wr[3]) == TOK_INVALID);
	id.resource_id.len = 0;
	id.tenant = (struct pol_str){big, sizeof(fk.req[0].tenant) - 1};
	check(get(&id, "r", NULL, &wr[4]) == TOK_WAIT);
	id.tenant.len++;
	check(get(&id, "r", NULL, &wr[3]) == TOK_INVALID);
	id.tenant.len = 0;
	id.authority = (struct pol_str){big, sizeof(fk.req[0].authority)};
	check(get(&id, "r", NULL, &wr[3]) == TOK_INVALID);
	id.authority.len = 0;
	id.client_id = (struct pol_str){big, sizeof(fk.req[0].client_id)};
	check(get(&id, "r", NULL, &wr[3]) == TOK_INVALID);
	id.client_id.len = 0;
	id.kind = (enum pol_kind)4;
	check(get(&id, "r", NULL, &wr[3]) == TOK_INVALID);
	check_int(stats().invalid, 9);
	check_int(wr[1].calls + wr[3].calls, 0);
	INV();
}

static void
t_free_cancels(void)
{
	const struct pol *p = tpol(&pa, pol_a_src);

	setup(4);
	wreset();
	check(get(ident(p, "a"), "r", NULL, &wr[0]) == TOK_WAIT);
	check(get(ident(p, "b"), "r", NULL, &wr[1]) == TOK_WAIT);
	tokcache_free(tc);
	tc = NULL;
	check_int(fk.cancels, 2);
	check_int(wr[0].calls + wr[1].calls, 0);
}

int
main(void)
{
	fk.loop = loop_new(64, 64);
	if (fk.loop == NULL) {
		perror("loop_new");
		return 2;
	}
	test(t_new_limits, "tokcache_new limits at N and N+1");
	test(t_hit_miss, "miss, answer from the loop, hit");
	test(t_coalesce, "200 waiters, one start");
	test(t_refresh, "refresh ahead of expiry, served meanwhile");
	test(
	    t_refresh_failure, "refresh failure keeps the token until too old");
	test(t_short_tokens, "short-lived, expired and window-born tokens");
	test(t_failure_fanout, "a failure goes to every waiter, uncached");
	test(t_lru, "LRU eviction at N and N+1 keys, wiped");
	test(t_full, "FULL at N+1 when every slot fetches");
	test(t_repolicy, "policy reload drops exactly the changed identities");
	test(t_federated, "federated keys per namespace and service account");
	test(t_cancel, "cancel, also from inside done");
	test(t_reentrant, "done evicting the slot being answered");
	test(t_stale_and_refused, "stale handles, refused starts");
	test(t_key_limits, "key limits at N and N+1, guard page");
	test(t_free_cancels, "free cancels running fetches");
	tokcache_free(tc);
	loop_free(fk.loop);
	return harness_done();
}
