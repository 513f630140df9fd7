/*
 * The pod cache.  Records sit in a fixed array of slots (lowest free slot
 * first, so a node's pods touch few pages); four open-addressing tables
 * with linear probing and backward-shift deletion (no tombstones, so the
 * probe lengths never decay) index them by uid, by namespace/name, and by
 * IP, and the quarantined IPs.  Each table is sized at least twice its
 * largest possible population, so an insert always finds room and a probe
 * always ends at an empty slot.
 *
 * An index entry is {hash, val}, val 0 meaning empty.  The keys stay in
 * the records; val says where: slot + 1 (uid, name), slot * 2 + family + 1
 * (IP: family 0 is ip[0], the IPv4 one, 1 is ip[1]), quarantine record + 1.
 *
 * The IP table holds exactly the IPs of live pods, so resolving is one
 * probe sequence that counts the live holders of the address.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "agent/log.h"
#include "agent/podcache.h"

/* A pod's strings at their largest: uid, ns, name, sa (NULs), labels. */
#define PC_SPILL_BYTES                                                         \
	(LIM_KOBJ_UID_BYTES + LIM_KOBJ_NAMESPACE_BYTES + LIM_KOBJ_NAME_BYTES + \
	    LIM_KOBJ_SA_BYTES + 4 + LIM_KOBJ_LABEL_POOL_BYTES)
#define PC_NOPOS UINT32_MAX

_Static_assert(sizeof(struct podcache_entry) <= 768,
    "podcache_entry grew: keep the record compact (RSS goal)");

struct pc_ix {
	uint32_t hash, val; /* val 0: empty */
};

struct pc_tab {
	struct pc_ix *v;
	uint32_t mask, n;
};

struct pc_quar {
	struct in6_addr ip;
	uint64_t until; /* resolves to nobody while now < until */
};

/* A set of up to two addresses, indexed by family slot as in an entry. */
struct pc_ips {
	struct in6_addr a[2];
	uint8_t has; /* bit f: a[f] valid */
};

struct podcache {
	unsigned max, npods, quarantine_ms;
	struct podcache_entry *ent;
	char *spill;    /* max buffers of PC_SPILL_BYTES, one per slot */
	uint64_t *used; /* slot bitmap */
	struct pc_tab by_uid, by_name, by_ip, by_quar;
	struct pc_quar *quar;
	unsigned nquar, quar_cap;
	uint64_t refused_full, quar_evictions;
	uint64_t log_next_ms;  /* no "table full" line before */
	const struct pol *pol; /* the policy of the latest upsert or repolicy */
	uint32_t pol_epoch;    /* bumped with each change of pol; never 0 */
};

static const char *const podcache_errs[] = {
    [-PODCACHE_E_FULL] = "pod table full",
    [-PODCACHE_E_INVAL] = "malformed pod record",
    [-PODCACHE_E_NOENT] = "no such pod",
};

const char *
podcache_strerror(int err)
{
	if (err < 0 &&
	    -err < (int)(sizeof(podcache_errs) / sizeof(podcache_errs[0])) &&
	    podcache_errs[-err] != NULL)
		return podcache_errs[-err];
	return "unknown error";
}

/* ---- hashing and the index tables -------------------------------------- */

static uint32_t
pc_fnv(uint32_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	while (n--)
		h = (h ^ *s++) * 16777619u;
	return h;
}

/* FNV-1a spreads poorly in the low bits that pick a slot: finish it. */
static uint32_t
pc_fmix(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	return h ^ (h >> 16);
}

static uint32_t
pc_hash_uid(const char *uid, size_t len)
{
	return pc_fmix(pc_fnv(2166136261u, uid, len));
}

/* A namespace holds no NUL, so ns NUL name names one pair only. */
static uint32_t
pc_hash_name(const char *ns, size_t nslen, const char *name, size_t namelen)
{
	uint32_t h = pc_fnv(2166136261u, ns, nslen);

	h = pc_fnv(h, "", 1);
	return pc_fmix(pc_fnv(h, name, namelen));
}

static uint32_t
pc_hash_ip(const struct in6_addr *ip)
{
	return pc_fmix(pc_fnv(2166136261u, ip, sizeof(*ip)));
}

static void
tab_put(struct pc_tab *t, uint32_t hash, uint32_t val)
{
	uint32_t i = hash & t->mask;

	while (t->v[i].val != 0)
		i = (i + 1) & t->mask;
	t->v[i].hash = hash;
	t->v[i].val = val;
	t->n++;
}

static uint32_t
tab_pos(const struct pc_tab *t, uint32_t hash, uint32_t val)
{
	uint32_t i;

	for (i = hash & t->mask; t->v[i].val != 0; i = (i + 1) & t->mask)
		if (t->v[i].val == val && t->v[i].hash == hash)
			return i;
	return PC_NOPOS;
}

/*
 * Backward-shift deletion: walk the run after the hole and move back each
 * entry whose home slot does not lie cyclically in (hole, its position].
 */
static void
tab_del_at(struct pc_tab *t, uint32_t hole)
{
	uint32_t j = hole, home;

	for (;;) {
		j = (j + 1) & t->mask;
		if (t->v[j].val == 0)
			break;
		home = t->v[j].hash & t->mask;
		if (((j - home) & t->mask) >= ((j - hole) & t->mask)) {
			t->v[hole] = t->v[j];
			hole = j;
		}
	}
	t->v[hole].hash = 0;
	t->v[hole].val = 0;
	t->n--;
}

static void
tab_del(struct pc_tab *t, uint32_t hash, uint32_t val)
{
	uint32_t i = tab_pos(t, hash, val);

	if (i != PC_NOPOS)
		tab_del_at(t, i);
}

/* ---- slots and lookups --------------------------------------------------- */

static bool
pc_used(const struct podcache *pc, uint32_t slot)
{
	return (pc->used[slot / 64] >> (slot % 64)) & 1u;
}

static uint32_t
pc_slot(const struct podcache *pc, const struct podcache_entry *e)
{
	return (uint32_t)(e - pc->ent);
}

/* Does the NUL-terminated s equal the slice k[0..len)? */
static bool
pc_eq(const char *s, const char *k, size_t len)
{
	return strlen(s) == len && memcmp(s, k, len) == 0;
}

static struct podcache_entry *
pc_find_uid(const struct podcache *pc, const char *uid, size_t len)
{
	uint32_t h = pc_hash_uid(uid, len), i, m = pc->by_uid.mask;
	const struct pc_ix *v = pc->by_uid.v;
	struct podcache_entry *e;

	for (i = h & m; v[i].val != 0; i = (i + 1) & m) {
		e = &pc->ent[v[i].val - 1];
		if (v[i].hash == h && pc_eq(e->uid, uid, len))
			return e;
	}
	return NULL;
}

static struct podcache_entry *
pc_find_name(const struct podcache *pc, const char *ns, size_t nslen,
    const char *name, size_t namelen)
{
	uint32_t h = pc_hash_name(ns, nslen, name, namelen), i;
	uint32_t m = pc->by_name.mask;
	const struct pc_ix *v = pc->by_name.v;
	struct podcache_entry *e;

	for (i = h & m; v[i].val != 0; i = (i + 1) & m) {
		e = &pc->ent[v[i].val - 1];
		if (v[i].hash == h && pc_eq(e->ns, ns, nslen) &&
		    pc_eq(e->name, name, namelen))
			return e;
	}
	return NULL;
}

/*
 * Live holders of ip: how many, and *first the smallest index value among
 * them (the holder itself when there is one).
 */
static unsigned
pc_holders(
    const struct podcache *pc, const struct in6_addr *ip, uint32_t *first)
{
	uint32_t h = pc_hash_ip(ip), i, m = pc->by_ip.mask, val;
	const struct pc_ix *v = pc->by_ip.v;
	unsigned n = 0;

	*first = UINT32_MAX;
	for (i = h & m; (val = v[i].val) != 0; i = (i + 1) & m) {
		if (v[i].hash != h ||
		    memcmp(&pc->ent[(val - 1) / 2].ip[(val - 1) % 2], ip,
		        sizeof(*ip)) != 0)
			continue;
		n++;
		if (val < *first)
			*first = val;
	}
	return n;
}

/* ---- quarantine ---------------------------------------------------------- */

static int
pc_q_find(const struct podcache *pc, const struct in6_addr *ip)
{
	uint32_t h = pc_hash_ip(ip), i, m = pc->by_quar.mask;
	const struct pc_ix *v = pc->by_quar.v;

	for (i = h & m; v[i].val != 0; i = (i + 1) & m)
		if (v[i].hash == h &&
		    memcmp(&pc->quar[v[i].val - 1].ip, ip, sizeof(*ip)) == 0)
			return (int)v[i].val - 1;
	return -1;
}

/* Removes record k; the last record moves into its place. */
static void
pc_q_del(struct podcache *pc, unsigned k)
{
	unsigned last = pc->nquar - 1;
	uint32_t pos;

	tab_del(&pc->by_quar, pc_hash_ip(&pc->quar[k].ip), k + 1);
	if (k != last) {
		pc->quar[k] = pc->quar[last];
		pos = tab_pos(
		    &pc->by_quar, pc_hash_ip(&pc->quar[k].ip), last + 1);
		if (pos != PC_NOPOS)
			pc->by_quar.v[pos].val = k + 1;
	}
	pc->nquar--;
}

static void
pc_q_gc(struct podcache *pc, uint64_t now_ms)
{
	unsigned k;

	/* Downwards: the record moved into k comes from above, seen. */
	for (k = pc->nquar; k-- > 0;)
		if (pc->quar[k].until <= now_ms)
			pc_q_del(pc, k);
}

/* Full of live entries: drop the one that would have expired first. */
static void
pc_q_evict(struct podcache *pc)
{
	unsigned k, min = 0;

	for (k = 1; k < pc->nquar; k++)
		if (pc->quar[k].until < pc->quar[min].until)
			min = k;
	pc_q_del(pc, min);
	pc->quar_evictions++;
}

static void
pc_quarantine(struct podcache *pc, const struct in6_addr *ip, uint64_t now_ms)
{
	uint64_t until = now_ms + pc->quarantine_ms;
	int k;

	if (pc->quarantine_ms == 0)
		return;
	if ((k = pc_q_find(pc, ip)) >= 0) {
		if (pc->quar[k].until < until)
			pc->quar[k].until = until;
		return;
	}
	if (pc->nquar == pc->quar_cap)
		pc_q_gc(pc, now_ms);
	if (pc->nquar == pc->quar_cap)
		pc_q_evict(pc);
	pc->quar[pc->nquar].ip = *ip;
	pc->quar[pc->nquar].until = until;
	pc->nquar++;
	tab_put(&pc->by_quar, pc_hash_ip(ip), pc->nquar);
}

static bool
pc_quarantined(
    const struct podcache *pc, const struct in6_addr *ip, uint64_t now_ms)
{
	int k = pc_q_find(pc, ip);

	return k >= 0 && now_ms < pc->quar[k].until;
}

/* ---- IP sets ------------------------------------------------------------- */

static bool
pc_is_v4mapped(const struct in6_addr *a)
{
	static const unsigned char pfx[12] = {
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return memcmp(a->s6_addr, pfx, sizeof(pfx)) == 0;
}

void
podcache_map4(struct in6_addr *out, const struct in_addr *ip4)
{
	memset(out->s6_addr, 0, 10);
	out->s6_addr[10] = 0xff;
	out->s6_addr[11] = 0xff;
	memcpy(&out->s6_addr[12], &ip4->s_addr, 4);
}

/*
 * The pod's addresses by family slot.  An IPv6 field holding a v4-mapped
 * address is the IPv4 one; two different IPv4 addresses are refused.
 */
static int
pc_pod_ips(const struct kobj_pod *pod, struct pc_ips *out)
{
	memset(out, 0, sizeof(*out));
	if (pod->has_ip4) {
		podcache_map4(&out->a[0], &pod->ip4);
		out->has = 1;
	}
	if (!pod->has_ip6)
		return 0;
	if (!pc_is_v4mapped(&pod->ip6)) {
		out->a[1] = pod->ip6;
		out->has |= 2;
	} else if (!(out->has & 1)) {
		out->a[0] = pod->ip6;
		out->has = 1;
	} else if (memcmp(&out->a[0], &pod->ip6, sizeof(pod->ip6)) != 0)
		return PODCACHE_E_INVAL;
	return 0;
}

/* The addresses the IP table holds for e: all of them when live. */
static void
pc_indexed(const struct podcache_entry *e, struct pc_ips *out)
{
	memcpy(out->a, e->ip, sizeof(out->a));
	out->has = e->live ? e->ips : 0;
}

static bool
pc_ips_has(const struct pc_ips *s, unsigned f, const struct in6_addr *ip)
{
	return (s->has >> f & 1u) && memcmp(&s->a[f], ip, sizeof(*ip)) == 0;
}

/*
 * Moves slot's IP table entries from set `from` to set `to`; every
 * address given up is quarantined.
 */
static void
pc_ips_move(struct podcache *pc, uint32_t slot, const struct pc_ips *from,
    const struct pc_ips *to, uint64_t now_ms)
{
	unsigned f;

	for (f = 0; f < 2; f++) {
		if (!(from->has >> f & 1u) || pc_ips_has(to, f, &from->a[f]))
			continue;
		tab_del(&pc->by_ip, pc_hash_ip(&from->a[f]), slot * 2 + f + 1);
		pc_quarantine(pc, &from->a[f], now_ms);
	}
	for (f = 0; f < 2; f++)
		if ((to->has >> f & 1u) && !pc_ips_has(from, f, &to->a[f]))
			tab_put(&pc->by_ip, pc_hash_ip(&to->a[f]),
			    slot * 2 + f + 1);
}

/* ---- records ------------------------------------------------------------- */

/* Length + 1 of the NUL-terminated string in s[0..cap), 0 when none. */
static size_t
pc_str_need(const char *s, size_t cap, bool empty_ok)
{
	const char *nul = memchr(s, '\0', cap);

	if (nul == NULL || (nul == s && !empty_ok))
		return 0;
	return (size_t)(nul - s) + 1;
}

/* One label slice of the pool: inside the used bytes, NUL after, none in. */
static bool
pc_label_ok(const struct kobj_pod *pod, uint16_t off, uint16_t len)
{
	return (size_t)off + len < pod->label_bytes &&
	    pod->label_pool[off + len] == '\0' &&
	    memchr(&pod->label_pool[off], '\0', len) == NULL;
}

/* Bytes the labels need ("k\0v\0" each), or 0 when malformed. */
static size_t
pc_labels_need(const struct kobj_pod *pod)
{
	const struct kobj_label *l;
	size_t need = 1; /* so that no labels is not 0 */
	unsigned i;

	if (pod->nlabels > LIM_KOBJ_LABELS ||
	    pod->label_bytes > sizeof(pod->label_pool))
		return 0;
	for (i = 0; i < pod->nlabels; i++) {
		l = &pod->labels[i];
		if (l->key_len == 0 || !pc_label_ok(pod, l->key, l->key_len) ||
		    !pc_label_ok(pod, l->val, l->val_len))
			return 0;
		need += (size_t)l->key_len + l->val_len + 2;
	}
	return need;
}

/* Bytes of the record's strings, or 0 when the record is malformed. */
static size_t
pc_pod_need(const struct kobj_pod *pod)
{
	size_t uid, ns, name, sa, lab;

	uid = pc_str_need(pod->uid, sizeof(pod->uid), false);
	ns = pc_str_need(pod->ns, sizeof(pod->ns), false);
	name = pc_str_need(pod->name, sizeof(pod->name), false);
	sa = pc_str_need(pod->sa, sizeof(pod->sa), true);
	lab = pc_labels_need(pod);
	if (!uid || !ns || !name || !sa || !lab ||
	    (unsigned)pod->phase > KOBJ_PHASE_UNKNOWN)
		return 0;
	if (uid + ns + name + sa + lab - 1 > PC_SPILL_BYTES)
		return 0; /* labels overlapping in the pool */
	return uid + ns + name + sa + lab - 1;
}

static char *
pc_put(char *dst, const char *src, size_t len)
{
	memcpy(dst, src, len);
	dst[len] = '\0';
	return dst + len + 1;
}

/* Copies pod (checked by pc_pod_need: need bytes) into e. */
static void
pc_fill(struct podcache *pc, struct podcache_entry *e,
    const struct kobj_pod *pod, size_t need, const struct pc_ips *ips)
{
	const struct kobj_label *l;
	char *p;
	unsigned i;

	e->spilled_ = need > sizeof(e->pool_);
	p = e->spilled_ ? pc->spill + (size_t)pc_slot(pc, e) * PC_SPILL_BYTES
	                : e->pool_;
	e->uid = p;
	p = pc_put(p, pod->uid, strlen(pod->uid));
	e->ns = p;
	p = pc_put(p, pod->ns, strlen(pod->ns));
	e->name = p;
	p = pc_put(p, pod->name, strlen(pod->name));
	e->sa = p;
	p = pc_put(p, pod->sa, strlen(pod->sa));
	e->labels = p;
	for (i = 0; i < pod->nlabels; i++) {
		l = &pod->labels[i];
		p = pc_put(p, &pod->label_pool[l->key], l->key_len);
		p = pc_put(p, &pod->label_pool[l->val], l->val_len);
	}
	e->label_bytes = (uint16_t)(p - e->labels);
	e->nlabels = pod->nlabels;
	memcpy(e->ip, ips->a, sizeof(e->ip));
	e->ips = ips->has;
	e->phase = (uint8_t)pod->phase;
	e->host_network = pod->host_network;
	e->terminating = pod->terminating;
	e->net_raw = pod->net_raw;
	e->live = (pod->phase == KOBJ_PHASE_PENDING ||
	              pod->phase == KOBJ_PHASE_RUNNING) &&
	    !pod->terminating && !pod->host_network;
	e->stale_ = false;
}

void
podcache_pol_pod(const struct podcache_entry *e, struct pol_label *labels,
    struct pol_pod *out)
{
	const char *s = e->labels;
	unsigned i;

	for (i = 0; i < e->nlabels && i < LIM_KOBJ_LABELS; i++) {
		labels[i].key = s;
		labels[i].klen = (uint32_t)strlen(s);
		s += labels[i].klen + 1;
		labels[i].val = s;
		labels[i].vlen = (uint32_t)strlen(s);
		s += labels[i].vlen + 1;
	}
	out->ns = e->ns;
	out->nslen = (uint32_t)strlen(e->ns);
	out->sa = e->sa;
	out->salen = (uint32_t)strlen(e->sa);
	out->labels = labels;
	out->nlabels = i;
	out->host_network = e->host_network;
}

/* The policy upserts pass: a new one (or a new load) starts an epoch. */
static void
pc_policy(struct podcache *pc, const struct pol *policy, bool reloaded)
{
	if (policy == pc->pol && !reloaded)
		return;
	pc->pol = policy;
	if (++pc->pol_epoch == 0)
		pc->pol_epoch = 1;
}

/* Computes e's grants with policy, which pc_policy has made pc->pol. */
static void
pc_grant(
    struct podcache *pc, struct podcache_entry *e, const struct pol *policy)
{
	struct pol_label labels[LIM_KOBJ_LABELS];
	struct pol_pod pp;

	e->pol_epoch_ = pc->pol_epoch;
	if (policy == NULL) {
		memset(&e->grants, 0, sizeof(e->grants));
		e->grants.verdict = POL_DENY;
		return;
	}
	podcache_pol_pod(e, labels, &pp);
	pol_match(policy, &pp, &e->grants);
}

static void
pc_unname(struct podcache *pc, struct podcache_entry *e)
{
	tab_del(&pc->by_name,
	    pc_hash_name(e->ns, strlen(e->ns), e->name, strlen(e->name)),
	    pc_slot(pc, e) + 1);
}

/*
 * Forgets e: its live IPs go to quarantine, its slot is freed and its
 * generation moves on, so that every podcache_ref to it fails from now.
 */
static void
pc_drop(struct podcache *pc, struct podcache_entry *e, uint64_t now_ms)
{
	static const struct pc_ips none;
	uint32_t slot = pc_slot(pc, e), gen = e->gen + 1;
	struct pc_ips old;

	pc_indexed(e, &old);
	pc_ips_move(pc, slot, &old, &none, now_ms);
	tab_del(&pc->by_uid, pc_hash_uid(e->uid, strlen(e->uid)), slot + 1);
	pc_unname(pc, e);
	pc->used[slot / 64] &= ~(1ull << (slot % 64));
	pc->npods--;
	memset(e, 0, offsetof(struct podcache_entry, pool_));
	e->uid = e->ns = e->name = e->sa = e->labels = "";
	e->gen = gen;
}

/* The lowest free slot, or NULL (refusal counted and logged) when full. */
static struct podcache_entry *
pc_alloc(struct podcache *pc, const struct kobj_pod *pod, uint64_t now_ms)
{
	unsigned w, slot;

	for (w = 0; w * 64 < pc->max; w++) {
		if (pc->used[w] == ~0ull)
			continue;
		slot = w * 64 + (unsigned)__builtin_ctzll(~pc->used[w]);
		if (slot >= pc->max)
			break;
		pc->used[w] |= 1ull << (slot % 64);
		pc->npods++;
		return &pc->ent[slot];
	}
	pc->refused_full++;
	if (now_ms >= pc->log_next_ms) {
		log_warnx("podcache: table full (%u pods), refused pod %s/%s "
		          "(%llu refused so far)",
		    pc->max, pod->ns, pod->name,
		    (unsigned long long)pc->refused_full);
		pc->log_next_ms = now_ms + LIM_PODCACHE_LOG_MS;
	}
	return NULL;
}

/*
 * Whether e already says what pod says about everything the policy reads
 * (namespace, service account, labels in order, hostNetwork): then its
 * grants stand as long as the policy does.
 */
static bool
pc_same_identity(const struct podcache_entry *e, const struct kobj_pod *pod)
{
	const struct kobj_label *l;
	const char *s = e->labels;
	unsigned i;

	if (e->nlabels != pod->nlabels ||
	    e->host_network != pod->host_network ||
	    strcmp(e->ns, pod->ns) != 0 || strcmp(e->sa, pod->sa) != 0)
		return false;
	for (i = 0; i < pod->nlabels; i++) {
		l = &pod->labels[i];
		if (memcmp(s, &pod->label_pool[l->key], l->key_len + 1u) != 0)
			return false;
		s += l->key_len + 1u;
		if (memcmp(s, &pod->label_pool[l->val], l->val_len + 1u) != 0)
			return false;
		s += l->val_len + 1u;
	}
	return true;
}

/*
 * Whether e (found by pod's uid) holds all that pc_fill would write from
 * pod and ips: then an upsert changes nothing but the sync mark.
 */
static bool
pc_same(const struct podcache_entry *e, const struct kobj_pod *pod,
    const struct pc_ips *ips)
{
	return e->ips == ips->has &&
	    memcmp(e->ip, ips->a, sizeof(e->ip)) == 0 &&
	    e->phase == (uint8_t)pod->phase &&
	    e->terminating == pod->terminating && e->net_raw == pod->net_raw &&
	    strcmp(e->name, pod->name) == 0 && pc_same_identity(e, pod);
}

/* An upsert that changes nothing: marks e listed, grants it if new policy. */
static int
pc_touch(
    struct podcache *pc, struct podcache_entry *e, const struct pol *policy)
{
	e->stale_ = false;
	if (e->pol_epoch_ != pc->pol_epoch)
		pc_grant(pc, e, policy);
	return 0;
}

/* ---- the interface ------------------------------------------------------- */

int
podcache_upsert(struct podcache *pc, const struct kobj_pod *pod,
    const struct pol *policy, uint64_t now_ms)
{
	struct podcache_entry *e, *other;
	struct pc_ips ips, old;
	size_t need;
	bool fresh, regrant;

	if ((need = pc_pod_need(pod)) == 0 || pc_pod_ips(pod, &ips) < 0)
		return PODCACHE_E_INVAL;
	pc_policy(pc, policy, false);
	e = pc_find_uid(pc, pod->uid, strlen(pod->uid));
	if (e != NULL && pc_same(e, pod, &ips))
		return pc_touch(pc, e, policy); /* most MODIFIED events */
	other = pc_find_name(
	    pc, pod->ns, strlen(pod->ns), pod->name, strlen(pod->name));
	if (other != NULL && strcmp(other->uid, pod->uid) != 0)
		pc_drop(pc, other, now_ms); /* recreated under the same name */
	if ((fresh = e == NULL) && (e = pc_alloc(pc, pod, now_ms)) == NULL)
		return PODCACHE_E_FULL;
	regrant = fresh || e->pol_epoch_ != pc->pol_epoch ||
	    !pc_same_identity(e, pod);
	if (!fresh)
		pc_unname(pc, e); /* a rename cannot happen; be safe anyway */
	pc_indexed(e, &old);
	pc_fill(pc, e, pod, need, &ips);
	if (fresh)
		tab_put(&pc->by_uid, pc_hash_uid(e->uid, strlen(e->uid)),
		    pc_slot(pc, e) + 1);
	tab_put(&pc->by_name,
	    pc_hash_name(e->ns, strlen(e->ns), e->name, strlen(e->name)),
	    pc_slot(pc, e) + 1);
	pc_indexed(e, &ips);
	pc_ips_move(pc, pc_slot(pc, e), &old, &ips, now_ms);
	if (regrant)
		pc_grant(pc, e, policy);
	return 0;
}

int
podcache_remove(struct podcache *pc, const char *uid, uint64_t now_ms)
{
	struct podcache_entry *e = pc_find_uid(pc, uid, strlen(uid));

	if (e == NULL)
		return PODCACHE_E_NOENT;
	pc_drop(pc, e, now_ms);
	return 0;
}

void
podcache_sync_begin(struct podcache *pc)
{
	unsigned i;

	for (i = 0; i < pc->max; i++)
		if (pc_used(pc, i))
			pc->ent[i].stale_ = true;
}

unsigned
podcache_sync_end(struct podcache *pc, uint64_t now_ms,
    void (*gone)(const struct podcache_entry *, void *), void *arg)
{
	unsigned i, n = 0;

	for (i = 0; i < pc->max; i++) {
		if (pc_used(pc, i) && pc->ent[i].stale_) {
			if (gone != NULL)
				gone(&pc->ent[i], arg);
			pc_drop(pc, &pc->ent[i], now_ms);
			n++;
		}
	}
	pc_q_gc(pc, now_ms);
	return n;
}

enum podcache_verdict
podcache_resolve(const struct podcache *pc, const struct in6_addr *ip,
    uint64_t now_ms, const struct podcache_entry **out)
{
	uint32_t first;
	unsigned n;

	*out = NULL;
	if (pc_quarantined(pc, ip, now_ms))
		return PODCACHE_QUARANTINED;
	n = pc_holders(pc, ip, &first);
	if (n == 0)
		return PODCACHE_UNKNOWN;
	if (n > 1)
		return PODCACHE_AMBIGUOUS;
	*out = &pc->ent[(first - 1) / 2];
	return PODCACHE_FOUND;
}

uint64_t
podcache_quarantine_until(const struct podcache *pc, const struct in6_addr *ip)
{
	int k = pc_q_find(pc, ip);

	return k < 0 ? 0 : pc->quar[k].until;
}

const struct podcache_entry *
podcache_by_name(const struct podcache *pc, const char *ns, size_t nslen,
    const char *name, size_t namelen)
{
	if (nslen > LIM_KOBJ_NAMESPACE_BYTES || namelen > LIM_KOBJ_NAME_BYTES)
		return NULL;
	return pc_find_name(pc, ns, nslen, name, namelen);
}

const struct podcache_entry *
podcache_by_uid(const struct podcache *pc, const char *uid)
{
	size_t len = strnlen(uid, LIM_KOBJ_UID_BYTES + 1);

	if (len > LIM_KOBJ_UID_BYTES)
		return NULL;
	return pc_find_uid(pc, uid, len);
}

void
podcache_ref(const struct podcache *pc, const struct podcache_entry *e,
    struct podcache_ref *ref)
{
	memset(ref, 0, sizeof(*ref));
	ref->slot = UINT32_MAX; /* not one of ours: never still */
	if ((uintptr_t)e < (uintptr_t)pc->ent ||
	    (uintptr_t)e >= (uintptr_t)(pc->ent + pc->max))
		return;
	ref->slot = pc_slot(pc, e);
	ref->gen = e->gen;
	memcpy(ref->uid, e->uid, strnlen(e->uid, LIM_KOBJ_UID_BYTES));
}

const struct podcache_entry *
podcache_still(const struct podcache *pc, const struct podcache_ref *ref)
{
	const struct podcache_entry *e;

	if (ref->slot >= pc->max || !pc_used(pc, ref->slot))
		return NULL;
	e = &pc->ent[ref->slot];
	if (e->gen != ref->gen ||
	    strncmp(e->uid, ref->uid, sizeof(ref->uid)) != 0)
		return NULL;
	return e;
}

void
podcache_repolicy(struct podcache *pc, const struct pol *policy)
{
	unsigned i;

	pc_policy(pc, policy, true);
	for (i = 0; i < pc->max; i++)
		if (pc_used(pc, i))
			pc_grant(pc, &pc->ent[i], policy);
}

const struct podcache_entry *
podcache_next(const struct podcache *pc, unsigned *cursor)
{
	unsigned i;

	for (i = *cursor; i < pc->max; i++) {
		if (pc_used(pc, i)) {
			*cursor = i + 1;
			return &pc->ent[i];
		}
	}
	*cursor = pc->max;
	return NULL;
}

void
podcache_expire(struct podcache *pc, uint64_t now_ms)
{
	pc_q_gc(pc, now_ms);
}

void
podcache_stats(
    const struct podcache *pc, uint64_t now_ms, struct podcache_stats *out)
{
	const struct podcache_entry *e;
	uint32_t first;
	unsigned i, f;

	memset(out, 0, sizeof(*out));
	out->pods = pc->npods;
	out->capacity = pc->max;
	out->refused_full = pc->refused_full;
	out->quarantine_evictions = pc->quar_evictions;
	for (i = 0; i < pc->nquar; i++)
		out->quarantined += now_ms < pc->quar[i].until;
	/* Each shared IP once: counted at the holder of the smallest val. */
	for (i = 0; i < pc->max; i++) {
		e = &pc->ent[i];
		for (f = 0; pc_used(pc, i) && e->live && f < 2; f++)
			if ((e->ips >> f & 1u) &&
			    pc_holders(pc, &e->ip[f], &first) > 1 &&
			    first == i * 2 + f + 1)
				out->ambiguous_ips++;
	}
}

/* ---- construction --------------------------------------------------------- */

static uint32_t
pc_pow2(size_t n)
{
	uint32_t p = 16;

	while (p < n)
		p <<= 1;
	return p;
}

static size_t
pc_round(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

/* Takes bytes at *off of mem (NULL while sizing: nothing is taken). */
static void *
pc_carve(char *mem, size_t *off, size_t bytes)
{
	void *p = mem == NULL ? NULL : mem + *off;

	*off += pc_round(bytes);
	return p;
}

/* Carves the tables out of one block; returns its size (mem NULL: sizing). */
static size_t
pc_layout(struct podcache *pc, char *mem, unsigned max)
{
	struct pc_tab *tabs[4] = {
	    &pc->by_uid, &pc->by_name, &pc->by_ip, &pc->by_quar};
	uint32_t sizes[4];
	size_t off = pc_round(sizeof(*pc));
	unsigned i;

	pc->quar_cap = max * LIM_PODCACHE_QUARANTINE_PER_POD;
	sizes[0] = sizes[1] = pc_pow2((size_t)max * 2);
	sizes[2] = pc_pow2((size_t)max * 4); /* two IPs a pod */
	sizes[3] = pc_pow2((size_t)pc->quar_cap * 2);
	pc->ent = pc_carve(mem, &off, (size_t)max * sizeof(*pc->ent));
	pc->quar =
	    pc_carve(mem, &off, (size_t)pc->quar_cap * sizeof(*pc->quar));
	pc->used = pc_carve(mem, &off, ((size_t)max + 63) / 64 * 8);
	for (i = 0; i < 4; i++) {
		tabs[i]->v = pc_carve(
		    mem, &off, (size_t)sizes[i] * sizeof(struct pc_ix));
		tabs[i]->mask = sizes[i] - 1;
	}
	pc->spill = pc_carve(mem, &off, (size_t)max * PC_SPILL_BYTES);
	return off;
}

struct podcache *
podcache_new(unsigned max_pods, unsigned quarantine_ms)
{
	struct podcache sizing, *pc;
	char *mem;

	if (max_pods == 0 || max_pods > LIM_PODCACHE_PODS_MAX ||
	    quarantine_ms > LIM_PODCACHE_QUARANTINE_MAX_MS) {
		errno = EINVAL;
		return NULL;
	}
	/*
	 * The one allocation, at start-up.  calloc, not malloc + memset: the
	 * pages of slots and spill buffers a node never uses stay untouched,
	 * so they cost address space, not resident memory.
	 */
	memset(&sizing, 0, sizeof(sizing));
	if ((mem = calloc(1, pc_layout(&sizing, NULL, max_pods))) == NULL)
		return NULL;
	pc = (struct podcache *)mem;
	pc_layout(pc, mem, max_pods);
	pc->max = max_pods;
	pc->quarantine_ms = quarantine_ms;
	pc->pol_epoch = 1; /* a record of epoch 0 has no grants yet */
	return pc; /* free slots are never read: no need to touch them */
}

void
podcache_free(struct podcache *pc)
{
	free(pc);
}

/* ---- self-check ------------------------------------------------------------ */

/* Every entry of t is reachable: no empty slot between home and it. */
static bool
pc_tab_ok(const struct pc_tab *t)
{
	uint32_t i, j, n = 0;

	for (i = 0; i <= t->mask; i++) {
		if (t->v[i].val == 0)
			continue;
		n++;
		for (j = t->v[i].hash & t->mask; j != i; j = (j + 1) & t->mask)
			if (t->v[j].val == 0)
				return false;
	}
	return n == t->n;
}

static const char *
pc_check_entry(const struct podcache *pc, uint32_t i, unsigned *nips)
{
	const struct podcache_entry *e = &pc->ent[i];
	bool live;
	unsigned f;

	if (e->uid !=
	    (e->spilled_ ? pc->spill + (size_t)i * PC_SPILL_BYTES : e->pool_))
		return "a pod's strings are outside its pool";
	if (pc_find_uid(pc, e->uid, strlen(e->uid)) != e)
		return "a pod is not found by its uid";
	if (pc_find_name(pc, e->ns, strlen(e->ns), e->name, strlen(e->name)) !=
	    e)
		return "a pod is not found by its namespace/name";
	live = (e->phase == KOBJ_PHASE_PENDING ||
	           e->phase == KOBJ_PHASE_RUNNING) &&
	    !e->terminating && !e->host_network;
	if (live != e->live || e->ips > 3)
		return "a pod's liveness or IP bits are wrong";
	for (f = 0; f < 2; f++) {
		if (!(e->live && (e->ips >> f & 1u)))
			continue;
		if (tab_pos(&pc->by_ip, pc_hash_ip(&e->ip[f]), i * 2 + f + 1) ==
		    PC_NOPOS)
			return "a live pod's IP is not in the IP index";
		(*nips)++;
	}
	return NULL;
}

static const char *
pc_check_ix(const struct podcache *pc)
{
	const struct pc_ix *v = pc->by_ip.v;
	uint32_t i, s, f;

	for (i = 0; i <= pc->by_ip.mask; i++) {
		if (v[i].val == 0)
			continue;
		s = (v[i].val - 1) / 2;
		f = (v[i].val - 1) % 2;
		if (s >= pc->max || !pc_used(pc, s) || !pc->ent[s].live ||
		    !(pc->ent[s].ips >> f & 1u) ||
		    pc_hash_ip(&pc->ent[s].ip[f]) != v[i].hash)
			return "an IP index entry names no live holder";
	}
	for (i = 0; i < pc->nquar; i++)
		if (pc_q_find(pc, &pc->quar[i].ip) != (int)i)
			return "a quarantine record is not indexed";
	return NULL;
}

int
podcache_check(const struct podcache *pc, const char **why)
{
	const struct pc_tab *tabs[4] = {
	    &pc->by_uid, &pc->by_name, &pc->by_ip, &pc->by_quar};
	unsigned i, n = 0, nips = 0;

	*why = NULL;
	for (i = 0; i < 4 && *why == NULL; i++)
		if (!pc_tab_ok(tabs[i]))
			*why = "an index breaks the probing invariant";
	for (i = 0; i < pc->max && *why == NULL; i++) {
		if (!pc_used(pc, i))
			continue;
		n++;
		*why = pc_check_entry(pc, i, &nips);
	}
	if (*why == NULL &&
	    (n != pc->npods || pc->by_uid.n != n || pc->by_name.n != n ||
	        pc->by_ip.n != nips || pc->by_quar.n != pc->nquar ||
	        pc->nquar > pc->quar_cap))
		*why = "counts disagree";
	if (*why == NULL)
		*why = pc_check_ix(pc);
	return *why == NULL ? 0 : -1;
}
