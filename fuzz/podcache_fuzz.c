/*
 * The pod cache under arbitrary event sequences.  Input: one header byte
 * (slots 1..8, quarantine 1000 ms or none), then operations of a few bytes
 * each: upsert a pod built from a small palette (6 uids, 5 names, 4 IPv4
 * and 2 IPv6 addresses plus a v4-mapped one, 3 labels, every phase and
 * flag), upsert a pod record of raw bytes, remove, relist begin and end,
 * advance the clock, policy swap.
 *
 * After every operation: podcache_check holds; every palette address
 * resolves consistently with a brute-force count of live holders over
 * podcache_next and with its quarantine; a found pod is live and holds the
 * address; an address a live pod gave up is quarantined from now for the
 * full time; refs to removed pods never come back; grants equal a fresh
 * pol_match; return codes are the documented ones.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/log.h"
#include "agent/podcache.h"
#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define F_UIDS  6
#define F_IPS   7 /* 4 IPv4, 2 IPv6, the v4-mapped form of the first */
#define F_MAXP  8
#define F_GRAVE 32

struct f_ctx {
	struct podcache *pc;
	const struct pol *pol;
	uint64_t now;
	unsigned qms;
	struct in6_addr ip[F_IPS];
	/* Live holders of each address before the operation. */
	struct podcache_ref held[F_IPS][F_MAXP];
	unsigned nheld[F_IPS];
	/* A ref per palette uid; dead: its pod was removed since. */
	struct podcache_ref ref[F_UIDS];
	bool has_ref[F_UIDS], dead[F_UIDS];
	struct podcache_ref grave[F_GRAVE]; /* refs of removed pods */
	unsigned ngrave;
	uint64_t evictions; /* before the operation */
	bool evicted;       /* the operation evicted from the quarantine */
};

static unsigned char ast_mem[1 << 16], pol_mem[1 << 16];
static struct pol f_pol;
static bool f_pol_ok;

static const char f_src[] =
    "identity a {\n kind managed\n client-id "
    "\"00000000-0000-0000-0000-00000000000a\"\n}\n"
    "identity b {\n kind managed\n client-id "
    "\"00000000-0000-0000-0000-00000000000b\"\n}\n"
    "bind web {\n identity a\n namespace ns\n label app = web\n}\n"
    "bind api {\n identity b, a\n namespace *\n label tier in (api), "
    "!debug\n}\n"
    "exception sys {\n namespace kube-system\n}\n";

static void
f_policy(void)
{
	static struct dsl_diag dv[8];
	static char src[sizeof(f_src)];
	struct dsl_limits lim = {4096, 1024};
	struct pol_options opt = {false, 0};
	struct dsl_diags d;
	struct dsl_arena a;
	static struct dsl_file f;

	memcpy(src, f_src, sizeof(f_src));
	f.name = "fuzz.pol";
	f.src = src;
	f.len = sizeof(f_src) - 1;
	dsl_arena_init(&a, ast_mem, sizeof(ast_mem));
	dsl_diags_init(&d, dv, 8);
	f_pol_ok = dsl_parse(&f, &lim, &a, &d) == 0 &&
	    pol_compile(&f, &opt, pol_mem, sizeof(pol_mem), &f_pol, &d) == 0;
	assert(f_pol_ok);
}

static void
f_label(struct kobj_pod *p, const char *k, const char *v)
{
	struct kobj_label *l = &p->labels[p->nlabels++];
	size_t kl = strlen(k), vl = strlen(v);

	l->key = p->label_bytes;
	l->key_len = (uint16_t)kl;
	memcpy(&p->label_pool[l->key], k, kl + 1);
	l->val = (uint16_t)(l->key + kl + 1);
	l->val_len = (uint16_t)vl;
	memcpy(&p->label_pool[l->val], v, vl + 1);
	p->label_bytes = (uint16_t)(l->val + vl + 1);
}

/* A palette pod from 5 bytes: uid, name, flags, addresses, labels. */
static void
f_pod(const struct f_ctx *c, const uint8_t *b, struct kobj_pod *p)
{
	memset(p, 0, sizeof(*p));
	p->uid[0] = 'u';
	p->uid[1] = (char)('0' + b[0] % F_UIDS);
	memcpy(p->ns, b[1] % 5 == 4 ? "kube-system" : "ns",
	    b[1] % 5 == 4 ? 11 : 2);
	p->name[0] = 'p';
	p->name[1] = (char)('0' + b[1] % 5);
	memcpy(p->sa, "default", 7);
	p->phase = (enum kobj_phase)((b[2] & 7) % 6);
	p->terminating = b[2] & 8;
	p->host_network = b[2] & 16;
	p->net_raw = b[2] & 32;
	if ((p->has_ip4 = b[2] & 64))
		memcpy(&p->ip4, &c->ip[(b[3] & 15) % 4].s6_addr[12], 4);
	if ((p->has_ip6 = b[2] & 128))
		p->ip6 = c->ip[4 + (b[3] >> 4) % 3];
	if (b[4] & 1)
		f_label(p, "app", "web");
	if (b[4] & 2)
		f_label(p, "tier", "api");
	if (b[4] & 4)
		f_label(p, "debug", "1");
}

/* A record of raw bytes, its booleans made booleans. */
static void
f_raw(const uint8_t *b, size_t n, struct kobj_pod *p)
{
	memset(p, 0, sizeof(*p));
	memcpy(p, b, n < sizeof(*p) ? n : sizeof(*p));
	p->has_ip4 = b[0] & 1;
	p->has_ip6 = b[0] & 2;
	p->host_network = b[0] & 4;
	p->terminating = b[0] & 8;
	p->net_raw = b[0] & 16;
}

static bool
f_holds(const struct podcache_entry *e, const struct in6_addr *ip)
{
	return e->live &&
	    (((e->ips & 1) && memcmp(&e->ip[0], ip, sizeof(*ip)) == 0) ||
	        ((e->ips & 2) && memcmp(&e->ip[1], ip, sizeof(*ip)) == 0));
}

/* Brute force over every pod: the live holders of ip. */
static unsigned
f_count(
    const struct f_ctx *c, const struct in6_addr *ip, struct podcache_ref *refs)
{
	const struct podcache_entry *e;
	unsigned cur = 0, n = 0;

	while ((e = podcache_next(c->pc, &cur)) != NULL)
		if (f_holds(e, ip)) {
			assert(n < F_MAXP);
			podcache_ref(c->pc, e, &refs[n++]);
		}
	return n;
}

static void
f_check_ip(struct f_ctx *c, unsigned i)
{
	const struct podcache_entry *e, *h;
	struct podcache_ref refs[F_MAXP];
	unsigned n = f_count(c, &c->ip[i], refs), k;
	uint64_t until = podcache_quarantine_until(c->pc, &c->ip[i]);
	enum podcache_verdict v;

	/*
	 * Every holder before that holds no more released the address,
	 * unless this very operation overflowed the quarantine table.
	 */
	for (k = 0; c->qms > 0 && !c->evicted && k < c->nheld[i]; k++) {
		h = podcache_still(c->pc, &c->held[i][k]);
		if (h == NULL || !f_holds(h, &c->ip[i]))
			assert(until >= c->now + c->qms);
	}
	v = podcache_resolve(c->pc, &c->ip[i], c->now, &e);
	assert((v == PODCACHE_FOUND) == (e != NULL));
	if (c->now < until)
		assert(v == PODCACHE_QUARANTINED);
	else if (n == 0)
		assert(v == PODCACHE_UNKNOWN);
	else if (n > 1)
		assert(v == PODCACHE_AMBIGUOUS);
	else
		assert(v == PODCACHE_FOUND && f_holds(e, &c->ip[i]) &&
		    podcache_still(c->pc, &refs[0]) == e);
	memcpy(c->held[i], refs, sizeof(refs));
	c->nheld[i] = n;
}

static void
f_check_refs(struct f_ctx *c)
{
	const struct podcache_entry *e, *s;
	char uid[3] = "u0";
	unsigned u;

	for (u = 0; u < F_UIDS; u++) {
		uid[1] = (char)('0' + u);
		e = podcache_by_uid(c->pc, uid);
		if (c->has_ref[u] && !c->dead[u]) {
			s = podcache_still(c->pc, &c->ref[u]);
			if (e == NULL) {
				c->dead[u] = true;
				c->grave[c->ngrave++ % F_GRAVE] = c->ref[u];
			}
			assert(c->dead[u] ? s == NULL : s == e);
		}
		if (e != NULL && (!c->has_ref[u] || c->dead[u])) {
			podcache_ref(c->pc, e, &c->ref[u]);
			c->has_ref[u] = true;
			c->dead[u] = false;
		}
	}
}

/* A removed pod's ref never holds again, whatever took its slot. */
static void
f_check_grave(const struct f_ctx *c)
{
	unsigned i;

	for (i = 0; i < c->ngrave && i < F_GRAVE; i++)
		assert(podcache_still(c->pc, &c->grave[i]) == NULL);
}

static void
f_check_grants(const struct f_ctx *c)
{
	struct pol_label labels[LIM_KOBJ_LABELS];
	const struct podcache_entry *e;
	struct podcache_stats st;
	struct pol_result r;
	struct pol_pod pp;
	unsigned cur = 0, n = 0;
	uint32_t i;

	while ((e = podcache_next(c->pc, &cur)) != NULL) {
		n++;
		if (c->pol == NULL) {
			assert(e->grants.verdict == POL_DENY &&
			    e->grants.ngrants == 0);
			continue;
		}
		podcache_pol_pod(e, labels, &pp);
		pol_match(c->pol, &pp, &r);
		assert(r.verdict == e->grants.verdict &&
		    r.ngrants == e->grants.ngrants &&
		    r.truncated == e->grants.truncated);
		assert(r.verdict != POL_EXCEPTION ||
		    r.exception == e->grants.exception);
		for (i = 0; i < r.ngrants; i++) /* field by field: padding */
			assert(r.grants[i].identity ==
			        e->grants.grants[i].identity &&
			    r.grants[i].rule == e->grants.grants[i].rule);
	}
	podcache_stats(c->pc, c->now, &st);
	assert(st.pods == n && st.quarantined <= st.capacity * 2);
}

static void
f_check(struct f_ctx *c)
{
	struct podcache_stats st;
	const char *why;
	unsigned i;

	assert(podcache_check(c->pc, &why) == 0);
	podcache_stats(c->pc, c->now, &st);
	c->evicted = st.quarantine_evictions != c->evictions;
	c->evictions = st.quarantine_evictions;
	for (i = 0; i < F_IPS; i++)
		f_check_ip(c, i);
	f_check_refs(c);
	f_check_grave(c);
	f_check_grants(c);
}

/* One operation at d[0..n); returns the bytes it used. */
static size_t
f_op(struct f_ctx *c, const uint8_t *d, size_t n)
{
	struct kobj_pod p;
	char uid[3] = "u0";
	size_t used;
	int r;

	switch (d[0] % 10) {
	case 0:
	case 1:
	case 2:
	case 3:
		if (n < 6)
			return n;
		f_pod(c, d + 1, &p);
		r = podcache_upsert(c->pc, &p, c->pol, c->now);
		assert(r == 0 || r == PODCACHE_E_FULL || r == PODCACHE_E_INVAL);
		return 6;
	case 4:
		uid[1] = (char)('0' + (n > 1 ? d[1] : 0) % F_UIDS);
		r = podcache_remove(c->pc, uid, c->now);
		assert(r == 0 || r == PODCACHE_E_NOENT);
		return 2;
	case 5:
		podcache_sync_begin(c->pc);
		return 1;
	case 6:
		podcache_sync_end(c->pc, c->now, NULL, NULL);
		return 1;
	case 7:
		c->now += (uint64_t)(n > 1 ? d[1] : 0) * 50;
		return 2;
	case 8:
		used = n - 1 < sizeof(p) + 1 ? n - 1 : sizeof(p) + 1;
		if (used == 0)
			return 1;
		f_raw(d + 1, used, &p);
		r = podcache_upsert(c->pc, &p, c->pol, c->now);
		assert(r == 0 || r == PODCACHE_E_FULL || r == PODCACHE_E_INVAL);
		return used + 1;
	default:
		c->pol = c->pol ? NULL : &f_pol;
		podcache_repolicy(c->pc, c->pol);
		return 1;
	}
}

static void
f_addrs(struct f_ctx *c)
{
	static const uint8_t v6[2][16] = {
	    {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
	    {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}};
	struct in_addr a4;
	unsigned i;

	for (i = 0; i < 4; i++) {
		a4.s_addr = htonl(0x0a000001u + i);
		podcache_map4(&c->ip[i], &a4);
	}
	memcpy(&c->ip[4], v6[0], 16);
	memcpy(&c->ip[5], v6[1], 16);
	c->ip[6] = c->ip[0];
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct f_ctx c;
	uint8_t *d;
	size_t i;

	if (size < 1 || size > 1024) /* ~170 operations: enough */
		return 0;
	if (!f_pol_ok) {
		log_init(LOG_LVL_ERROR, false); /* "table full" is expected */
		f_policy();
	}
	if ((d = malloc(size)) == NULL)
		return 0;
	memcpy(d, data, size); /* exact size: over-reads are caught */
	memset(&c, 0, sizeof(c));
	f_addrs(&c);
	c.qms = d[0] & 8 ? 0 : 1000;
	c.pc = podcache_new(1 + (d[0] & 7), c.qms);
	assert(c.pc != NULL);
	c.now = 1;
	for (i = 1; i < size;) {
		i += f_op(&c, d + i, size - i);
		f_check(&c);
	}
	podcache_free(c.pc);
	free(d);
	return 0;
}
