/*
 * Tests of agent/podcache.c: insert, update, remove, the table full at N
 * and N+1, IP resolution (unique, ambiguous, hostNetwork, terminating,
 * terminal, Pending, dual stack), quarantine (release, new claimant,
 * expiry, eviction at N and N+1), uid binding across slot reuse, relist
 * sync, policy swap, record limits (strings at their maximum, labels at N
 * and N+1, inline pool at N and N+1; inputs against a PROT_NONE page), and
 * a model-checked stress of 1,000 pods per run recycling 20 IPs under
 * randomized event orders, checked after every event.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/limits.h"
#include "agent/podcache.h"
#include "policy/policy.h"
#include "tests/guard.h"
#include "tests/harness.h"

int main(void);

#define Q 5000 /* quarantine of most tests, ms */

/* ---- helpers --------------------------------------------------------- */

static void
pod_init(struct kobj_pod *p, const char *uid, const char *ns, const char *name,
    enum kobj_phase phase)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->uid, sizeof(p->uid), "%s", uid);
	snprintf(p->ns, sizeof(p->ns), "%s", ns);
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->sa, sizeof(p->sa), "default");
	p->phase = phase;
}

static void
pod_label(struct kobj_pod *p, const char *k, const char *v)
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

/* Sets the pod's IPv4 or IPv6 address from text. */
static void
pod_ip(struct kobj_pod *p, const char *ip)
{
	if (inet_pton(AF_INET, ip, &p->ip4) == 1)
		p->has_ip4 = true;
	else if (inet_pton(AF_INET6, ip, &p->ip6) == 1)
		p->has_ip6 = true;
	else
		abort();
}

static struct in6_addr
ip6(const char *s)
{
	struct in6_addr a;
	struct in_addr a4;

	if (inet_pton(AF_INET, s, &a4) == 1)
		podcache_map4(&a, &a4);
	else if (inet_pton(AF_INET6, s, &a) != 1)
		abort();
	return a;
}

static enum podcache_verdict
res(const struct podcache *pc, const char *ip, uint64_t now,
    const struct podcache_entry **e)
{
	struct in6_addr a = ip6(ip);

	return podcache_resolve(pc, &a, now, e);
}

/* The uid ip resolves to, or "-" (unknown), "?" (ambiguous), "q". */
static const char *
who(const struct podcache *pc, const char *ip, uint64_t now)
{
	const struct podcache_entry *e;

	switch (res(pc, ip, now, &e)) {
	case PODCACHE_FOUND:
		return e->uid;
	case PODCACHE_UNKNOWN:
		return e == NULL ? "-" : "bad";
	case PODCACHE_AMBIGUOUS:
		return e == NULL ? "?" : "bad";
	case PODCACHE_QUARANTINED:
		return e == NULL ? "q" : "bad";
	}
	return "bad";
}

static bool
sane(const struct podcache *pc)
{
	const char *why;

	if (podcache_check(pc, &why) == 0)
		return true;
	fprintf(stderr, "podcache_check: %s\n", why);
	return false;
}

static int
up(struct podcache *pc, const struct kobj_pod *p, uint64_t now)
{
	return podcache_upsert(pc, p, NULL, now);
}

/* A live pod "u<n>" named "p<n>" in "ns" with one address. */
static int
add_live(struct podcache *pc, int n, const char *ip, uint64_t now)
{
	struct kobj_pod p;
	char uid[16], name[16];

	snprintf(uid, sizeof(uid), "u%d", n);
	snprintf(name, sizeof(name), "p%d", n);
	pod_init(&p, uid, "ns", name, KOBJ_PHASE_RUNNING);
	if (ip != NULL)
		pod_ip(&p, ip);
	return up(pc, &p, now);
}

/* ---- basic operations -------------------------------------------------- */

static void
t_new_limits(void)
{
	struct podcache *pc;

	errno = 0;
	check(podcache_new(0, Q) == NULL && errno == EINVAL);
	pc = podcache_new(LIM_PODCACHE_PODS_MAX, Q);
	check(pc != NULL);
	podcache_free(pc);
	errno = 0;
	check(podcache_new(LIM_PODCACHE_PODS_MAX + 1, Q) == NULL &&
	    errno == EINVAL);
	pc = podcache_new(1, LIM_PODCACHE_QUARANTINE_MAX_MS);
	check(pc != NULL);
	podcache_free(pc);
	errno = 0;
	check(podcache_new(1, LIM_PODCACHE_QUARANTINE_MAX_MS + 1) == NULL &&
	    errno == EINVAL);
	check_str(podcache_strerror(PODCACHE_E_FULL), "pod table full");
	check_str(podcache_strerror(PODCACHE_E_INVAL), "malformed pod record");
	check_str(podcache_strerror(PODCACHE_E_NOENT), "no such pod");
	check_str(podcache_strerror(-4), "unknown error");
	check_str(podcache_strerror(0), "unknown error");
}

static void
t_insert_update_remove(void)
{
	struct podcache *pc = podcache_new(8, Q);
	const struct podcache_entry *e;
	struct podcache_stats st;
	struct pol_label lbl[LIM_KOBJ_LABELS];
	struct pol_pod pp;
	struct kobj_pod p;

	pod_init(&p, "0b1f6471-1bf0-4dda-aec3-cb9272f09590", "shop", "web-1",
	    KOBJ_PHASE_PENDING);
	snprintf(p.sa, sizeof(p.sa), "orders");
	pod_label(&p, "app", "web");
	pod_label(&p, "tier", "api");
	p.net_raw = true;
	check_int(up(pc, &p, 0), 0);
	e = podcache_by_uid(pc, "0b1f6471-1bf0-4dda-aec3-cb9272f09590");
	check(e != NULL);
	check(podcache_by_name(pc, "shop", 4, "web-1", 5) == e);
	check(podcache_by_name(pc, "shop", 4, "web-", 4) == NULL);
	check(podcache_by_name(pc, "sho", 3, "web-1", 5) == NULL);
	check(podcache_by_uid(pc, "0b1f6471") == NULL);
	check_str(e->ns, "shop");
	check_str(e->name, "web-1");
	check_str(e->sa, "orders");
	check_int(e->nlabels, 2);
	check(e->net_raw && e->live && e->ips == 0); /* live, no IP yet */
	check_int(e->phase, KOBJ_PHASE_PENDING);
	podcache_pol_pod(e, lbl, &pp);
	check_int(pp.nlabels, 2);
	check(
	    pp.labels[1].klen == 4 && memcmp(pp.labels[1].key, "tier", 4) == 0);
	check(
	    pp.labels[1].vlen == 3 && memcmp(pp.labels[1].val, "api", 3) == 0);
	check(pp.nslen == 4 && pp.salen == 6 && !pp.host_network);

	/* MODIFIED: an IP, Running, a label less. */
	p.nlabels = 1;
	p.label_bytes = 8;
	p.phase = KOBJ_PHASE_RUNNING;
	pod_ip(&p, "10.1.0.7");
	check_int(up(pc, &p, 10), 0);
	check(podcache_by_uid(pc, p.uid) == e);
	check(e->live && e->ips == 1 && e->nlabels == 1);
	check_str(who(pc, "10.1.0.7", 10), p.uid);
	podcache_stats(pc, 10, &st);
	check(st.pods == 1 && st.capacity == 8 && st.quarantined == 0);
	check(sane(pc));

	check_int(podcache_remove(pc, p.uid, 20), 0);
	check_int(podcache_remove(pc, p.uid, 20), PODCACHE_E_NOENT);
	check(podcache_by_uid(pc, p.uid) == NULL);
	check(podcache_by_name(pc, "shop", 4, "web-1", 5) == NULL);
	podcache_stats(pc, 20, &st);
	check(st.pods == 0 && st.quarantined == 1);
	check(sane(pc));
	podcache_free(pc);
}

/* N pods fit; N+1 is refused and counted; nothing else changes. */
static void
t_full(void)
{
	struct podcache *pc = podcache_new(4, Q);
	struct podcache_stats st;
	struct kobj_pod p;
	char ip[32];
	unsigned cur = 0, n = 0;
	int i;

	for (i = 0; i < 4; i++) {
		snprintf(ip, sizeof(ip), "10.0.0.%d", i + 1);
		check_int(add_live(pc, i, ip, 0), 0);
	}
	check_int(add_live(pc, 4, "10.0.0.5", 0), PODCACHE_E_FULL);
	check_int(add_live(pc, 5, NULL, 1), PODCACHE_E_FULL);
	podcache_stats(pc, 0, &st);
	check(st.pods == 4 && st.refused_full == 2);
	check(podcache_by_uid(pc, "u4") == NULL);
	check_str(who(pc, "10.0.0.5", 0), "-");
	for (i = 0; i < 4; i++) {
		snprintf(ip, sizeof(ip), "10.0.0.%d", i + 1);
		check(strcmp(who(pc, ip, 0),
		          podcache_by_name(
		              pc, "ns", 2, (char[]){'p', (char)('0' + i)}, 2)
		              ->uid) == 0);
	}
	while (podcache_next(pc, &cur) != NULL)
		n++;
	check_int(n, 4);
	check(sane(pc));
	/* An update of a known pod is no insert: accepted while full. */
	pod_init(&p, "u2", "ns", "p2", KOBJ_PHASE_RUNNING);
	pod_ip(&p, "10.0.0.3");
	pod_label(&p, "a", "b");
	check_int(up(pc, &p, 2), 0);
	/* A removal frees a slot for the refused pod. */
	check_int(podcache_remove(pc, "u1", 3), 0);
	check_int(add_live(pc, 4, "10.0.0.5", 4), 0);
	check_str(who(pc, "10.0.0.5", 4), "u4");
	podcache_stats(pc, 4, &st);
	check(st.pods == 4 && st.refused_full == 2);
	check(sane(pc));
	podcache_free(pc);
}

/* ---- resolution ---------------------------------------------------------- */

static void
t_resolve(void)
{
	struct podcache *pc = podcache_new(16, Q);
	const struct podcache_entry *e;
	struct podcache_stats st;

	/* Unique. */
	check_int(add_live(pc, 1, "10.0.0.1", 0), 0);
	check(res(pc, "10.0.0.1", 0, &e) == PODCACHE_FOUND && e != NULL);
	check_str(e->uid, "u1");
	check_str(who(pc, "10.0.0.2", 0), "-");
	check_str(who(pc, "::ffff:10.0.0.1", 0), "u1");

	/* Ambiguous: two live pods on one IP, then one leaves. */
	check_int(add_live(pc, 2, "10.0.0.1", 0), 0);
	check(res(pc, "10.0.0.1", 0, &e) == PODCACHE_AMBIGUOUS && e == NULL);
	podcache_stats(pc, 0, &st);
	check_int(st.ambiguous_ips, 1);
	check_int(podcache_remove(pc, "u1", 100), 0);
	check_str(who(pc, "10.0.0.1", 100), "q");
	check_str(who(pc, "10.0.0.1", 100 + Q), "u2");
	podcache_stats(pc, 100, &st);
	check_int(st.ambiguous_ips, 0);

	check(sane(pc));
	podcache_free(pc);
}

/* Not live: hostNetwork, terminating, terminal or unknown phases. */
static void
t_resolve_excluded(void)
{
	struct podcache *pc = podcache_new(16, Q);
	struct kobj_pod p;

	/* hostNetwork: shares the node's IP, never resolves. */
	pod_init(&p, "h1", "kube-system", "proxy", KOBJ_PHASE_RUNNING);
	p.host_network = true;
	pod_ip(&p, "192.168.0.4");
	check_int(up(pc, &p, 0), 0);
	check(!podcache_by_uid(pc, "h1")->live);
	check_str(who(pc, "192.168.0.4", 0), "-");

	/* Terminating: first seen so, then a live pod becoming so. */
	pod_init(&p, "t1", "ns", "term", KOBJ_PHASE_RUNNING);
	p.terminating = true;
	pod_ip(&p, "10.0.0.3");
	check_int(up(pc, &p, 0), 0);
	check_str(who(pc, "10.0.0.3", 0), "-");
	check_int(add_live(pc, 4, "10.0.0.4", 0), 0);
	pod_init(&p, "u4", "ns", "p4", KOBJ_PHASE_RUNNING);
	pod_ip(&p, "10.0.0.4");
	p.terminating = true;
	check_int(up(pc, &p, 50), 0);
	check_str(who(pc, "10.0.0.4", 50), "q");
	check_str(who(pc, "10.0.0.4", 50 + Q), "-");

	/* Terminal phases keep reporting the IP: excluded. */
	pod_init(&p, "s1", "ns", "job-ok", KOBJ_PHASE_SUCCEEDED);
	pod_ip(&p, "10.0.0.5");
	check_int(up(pc, &p, 0), 0);
	pod_init(&p, "f1", "ns", "job-bad", KOBJ_PHASE_FAILED);
	pod_ip(&p, "10.0.0.6");
	check_int(up(pc, &p, 0), 0);
	pod_init(&p, "k1", "ns", "lost", KOBJ_PHASE_UNKNOWN);
	pod_ip(&p, "10.0.0.7");
	check_int(up(pc, &p, 0), 0);
	pod_init(&p, "n1", "ns", "nophase", KOBJ_PHASE_NONE);
	pod_ip(&p, "10.0.0.8");
	check_int(up(pc, &p, 0), 0);
	check_str(who(pc, "10.0.0.5", 0), "-");
	check_str(who(pc, "10.0.0.6", 0), "-");
	check_str(who(pc, "10.0.0.7", 0), "-");
	check_str(who(pc, "10.0.0.8", 0), "-");

	check(sane(pc));
	podcache_free(pc);
}

/* Pending with an IP, dual stack. */
static void
t_resolve_pending_dual(void)
{
	struct podcache *pc = podcache_new(16, Q);
	struct kobj_pod p;

	/* Pending with an IP resolves. */
	pod_init(&p, "pe", "ns", "pend", KOBJ_PHASE_PENDING);
	pod_ip(&p, "10.0.0.9");
	check_int(up(pc, &p, 0), 0);
	check_str(who(pc, "10.0.0.9", 0), "pe");

	/* Dual stack: both addresses, one pod. */
	pod_init(&p, "ds", "ns", "dual", KOBJ_PHASE_RUNNING);
	pod_ip(&p, "10.0.1.1");
	pod_ip(&p, "fd00::1:1");
	check_int(up(pc, &p, 0), 0);
	check_str(who(pc, "10.0.1.1", 0), "ds");
	check_str(who(pc, "fd00::1:1", 0), "ds");
	check_int(podcache_by_uid(pc, "ds")->ips, 3);
	check(sane(pc));
	podcache_free(pc);
}

/* A v4-mapped IPv6 field is the IPv4 address; two different are refused. */
static void
t_mapped(void)
{
	struct podcache *pc = podcache_new(4, Q);
	struct kobj_pod p;

	pod_init(&p, "m1", "ns", "m1", KOBJ_PHASE_RUNNING);
	pod_ip(&p, "::ffff:10.9.0.1");
	check_int(up(pc, &p, 0), 0);
	check_int(podcache_by_uid(pc, "m1")->ips, 1);
	check_str(who(pc, "10.9.0.1", 0), "m1");
	pod_ip(&p, "10.9.0.1"); /* the same twice: one address */
	check_int(up(pc, &p, 1), 0);
	check_int(podcache_by_uid(pc, "m1")->ips, 1);
	check_str(who(pc, "10.9.0.1", 1), "m1");
	pod_ip(&p, "10.9.0.2");
	check_int(up(pc, &p, 2), PODCACHE_E_INVAL);
	check_str(who(pc, "10.9.0.1", 2), "m1");
	check(sane(pc));
	podcache_free(pc);
}

/* ---- quarantine ---------------------------------------------------------- */

static void
t_quarantine(void)
{
	struct podcache *pc = podcache_new(8, Q);
	struct in6_addr x = ip6("10.0.0.1");
	struct podcache_stats st;
	struct kobj_pod p;

	check_int(add_live(pc, 1, "10.0.0.1", 0), 0);
	check_int(podcache_remove(pc, "u1", 1000), 0);
	check(podcache_quarantine_until(pc, &x) == 1000 + Q);
	check_str(who(pc, "10.0.0.1", 1000), "q");
	/* A new pod claims the IP: still nobody until the end. */
	check_int(add_live(pc, 2, "10.0.0.1", 1500), 0);
	check_str(who(pc, "10.0.0.1", 1500), "q");
	check_str(who(pc, "10.0.0.1", 1000 + Q - 1), "q");
	check_str(who(pc, "10.0.0.1", 1000 + Q), "u2");
	podcache_stats(pc, 1500, &st);
	check_int(st.quarantined, 1);
	podcache_stats(pc, 1000 + Q, &st);
	check_int(st.quarantined, 0);
	podcache_expire(pc, 1000 + Q);
	check(podcache_quarantine_until(pc, &x) == 0);

	/* An IP change releases the old address only. */
	pod_init(&p, "u2", "ns", "p2", KOBJ_PHASE_RUNNING);
	pod_ip(&p, "10.0.0.2");
	check_int(up(pc, &p, 10000), 0);
	check_str(who(pc, "10.0.0.1", 10000), "q");
	check_str(who(pc, "10.0.0.2", 10000), "u2");
	/* Gaining an IPv6 address releases nothing. */
	pod_ip(&p, "fd00::2");
	check_int(up(pc, &p, 20000), 0);
	check_str(who(pc, "10.0.0.2", 20000), "u2");
	check_str(who(pc, "fd00::2", 20000), "u2");
	/* A second release extends the quarantine, never shortens it. */
	check_int(add_live(pc, 3, "10.0.0.3", 0), 0);
	check_int(podcache_remove(pc, "u3", 30000), 0);
	check_int(add_live(pc, 3, "10.0.0.3", 30001), 0);
	check_int(podcache_remove(pc, "u3", 30002), 0);
	x = ip6("10.0.0.3");
	check(podcache_quarantine_until(pc, &x) == 30002 + Q);
	check(sane(pc));
	podcache_free(pc);

	/* quarantine_ms 0: no quarantine at all. */
	pc = podcache_new(8, 0);
	check_int(add_live(pc, 1, "10.0.0.1", 0), 0);
	check_int(podcache_remove(pc, "u1", 10), 0);
	check_int(add_live(pc, 2, "10.0.0.1", 10), 0);
	check_str(who(pc, "10.0.0.1", 10), "u2");
	podcache_free(pc);
}

/* Capacity 2 x max_pods: N entries held, N+1 evicts the soonest to end. */
static void
t_quarantine_full(void)
{
	struct podcache *pc = podcache_new(2, Q);
	struct podcache_stats st;
	struct kobj_pod p;
	char ip[32];
	int i;

	pod_init(&p, "a", "ns", "a", KOBJ_PHASE_RUNNING);
	for (i = 1; i <= 5; i++) {
		memset(&p.ip4, 0, sizeof(p.ip4));
		snprintf(ip, sizeof(ip), "10.0.0.%d", i);
		pod_ip(&p, ip);
		check_int(up(pc, &p, (uint64_t)i * 10), 0);
	}
	/* Released .1 to .4 at 20..50: four entries, the capacity. */
	podcache_stats(pc, 50, &st);
	check(st.quarantined == 4 && st.quarantine_evictions == 0);
	for (i = 1; i <= 4; i++) {
		snprintf(ip, sizeof(ip), "10.0.0.%d", i);
		check_str(who(pc, ip, 50), "q");
	}
	/* The fifth release evicts .1, which would have ended first. */
	pod_init(&p, "a", "ns", "a", KOBJ_PHASE_RUNNING);
	pod_ip(&p, "10.0.0.6");
	check_int(up(pc, &p, 60), 0);
	podcache_stats(pc, 60, &st);
	check(st.quarantined == 4 && st.quarantine_evictions == 1);
	check_str(who(pc, "10.0.0.1", 60), "-");
	for (i = 2; i <= 5; i++) {
		snprintf(ip, sizeof(ip), "10.0.0.%d", i);
		check_str(who(pc, ip, 60), "q");
	}
	check(sane(pc));
	/* Full of expired entries: they go first, no eviction counted. */
	pod_init(&p, "a", "ns", "a", KOBJ_PHASE_RUNNING);
	pod_ip(&p, "10.0.0.7");
	check_int(up(pc, &p, 100000), 0);
	podcache_stats(pc, 100000, &st);
	check(st.quarantined == 1 && st.quarantine_evictions == 1);
	check_str(who(pc, "10.0.0.6", 100000), "q");
	check(sane(pc));
	podcache_free(pc);
}

/* ---- binding, replacement, relist ---------------------------------------- */

static void
t_uid_binding(void)
{
	struct podcache *pc = podcache_new(4, Q);
	const struct podcache_entry *e;
	struct podcache_ref ra, rb, ra2, bogus;

	check_int(add_live(pc, 1, "10.0.0.1", 0), 0);
	check(res(pc, "10.0.0.1", 0, &e) == PODCACHE_FOUND);
	podcache_ref(pc, e, &ra);
	check(podcache_still(pc, &ra) == e);
	/* The pod changes but stays: the binding holds. */
	check_int(add_live(pc, 1, "10.0.0.9", 10), 0);
	check(podcache_still(pc, &ra) == e);
	check_int(podcache_remove(pc, "u1", 20), 0);
	check(podcache_still(pc, &ra) == NULL);
	/* Another pod takes the same slot: the old binding still fails. */
	check_int(add_live(pc, 2, "10.0.0.2", 30), 0);
	e = podcache_by_uid(pc, "u2");
	podcache_ref(pc, e, &rb);
	check_int(rb.slot, ra.slot);
	check(podcache_still(pc, &ra) == NULL);
	check(podcache_still(pc, &rb) == e);
	/* The same uid back (a late event) is a new incarnation. */
	check_int(podcache_remove(pc, "u2", 40), 0);
	check_int(add_live(pc, 1, "10.0.0.1", 50), 0);
	e = podcache_by_uid(pc, "u1");
	podcache_ref(pc, e, &ra2);
	check_int(ra2.slot, ra.slot);
	check(podcache_still(pc, &ra) == NULL);
	check(podcache_still(pc, &rb) == NULL);
	check(podcache_still(pc, &ra2) == e);
	/* A forged uid or slot never passes. */
	bogus = ra2;
	bogus.uid[0] = 'x';
	check(podcache_still(pc, &bogus) == NULL);
	bogus = ra2;
	bogus.slot = 4;
	check(podcache_still(pc, &bogus) == NULL);
	bogus = ra2;
	bogus.slot = 3; /* a free slot */
	check(podcache_still(pc, &bogus) == NULL);
	podcache_ref(pc, (const struct podcache_entry *)&bogus, &bogus);
	check(podcache_still(pc, &bogus) == NULL);
	podcache_free(pc);
}

static void
t_replace(void)
{
	struct podcache *pc = podcache_new(4, Q);
	struct kobj_pod p;

	/* A StatefulSet pod recreated: same name, new uid. */
	pod_init(&p, "old", "db", "web-0", KOBJ_PHASE_RUNNING);
	pod_ip(&p, "10.0.0.1");
	check_int(up(pc, &p, 0), 0);
	pod_init(&p, "new", "db", "web-0", KOBJ_PHASE_PENDING);
	pod_ip(&p, "10.0.0.2");
	check_int(up(pc, &p, 100), 0);
	check(podcache_by_uid(pc, "old") == NULL);
	check_str(podcache_by_name(pc, "db", 2, "web-0", 5)->uid, "new");
	check_str(who(pc, "10.0.0.1", 100), "q");
	check_str(who(pc, "10.0.0.2", 100), "new");
	check_int(podcache_remove(pc, "old", 200), PODCACHE_E_NOENT);
	/* A uid under another name (Kubernetes never does it): re-keyed. */
	pod_init(&p, "new", "db", "web-1", KOBJ_PHASE_RUNNING);
	pod_ip(&p, "10.0.0.2");
	check_int(up(pc, &p, 300), 0);
	check(podcache_by_name(pc, "db", 2, "web-0", 5) == NULL);
	check_str(podcache_by_name(pc, "db", 2, "web-1", 5)->uid, "new");
	check_str(who(pc, "10.0.0.2", 300), "new");
	check(sane(pc));
	podcache_free(pc);
}

/* podcache_sync_end's gone callback: the pods it is told, space-separated. */
static char gone_uids[256];

static void
note_gone(const struct podcache_entry *e, void *arg)
{
	size_t n = strlen(gone_uids);

	(void)arg;
	snprintf(gone_uids + n, sizeof(gone_uids) - n, "%s%s/%s/%s",
	    n ? " " : "", e->uid, e->ns, e->name);
}

static void
t_sync(void)
{
	struct podcache *pc = podcache_new(8, Q);
	struct podcache_stats st;
	struct kobj_pod p;
	struct in6_addr x;

	check_int(add_live(pc, 1, "10.0.0.1", 0), 0);
	check_int(add_live(pc, 2, "10.0.0.2", 0), 0);
	check_int(add_live(pc, 3, "10.0.0.3", 0), 0);
	podcache_sync_begin(pc);
	check_int(add_live(pc, 1, "10.0.0.1", 1000), 0);
	pod_init(&p, "u3", "ns", "p3", KOBJ_PHASE_SUCCEEDED);
	pod_ip(&p, "10.0.0.3");
	check_int(up(pc, &p, 1000), 0);
	check_int(add_live(pc, 4, "10.0.0.4", 1000), 0);
	/* Told exactly the pods it removes. */
	gone_uids[0] = '\0';
	check_int(podcache_sync_end(pc, 1000, note_gone, NULL), 1);
	check_str(gone_uids, "u2/ns/p2");
	check(podcache_by_uid(pc, "u2") == NULL);
	check(podcache_by_uid(pc, "u1") != NULL);
	check(podcache_by_uid(pc, "u3") != NULL);
	check_str(who(pc, "10.0.0.1", 1000), "u1");
	check_str(who(pc, "10.0.0.2", 1000), "q");
	check_str(who(pc, "10.0.0.2", 1000 + Q), "-");
	check_str(who(pc, "10.0.0.3", 1000), "q");
	check_str(who(pc, "10.0.0.4", 1000), "u4");
	podcache_stats(pc, 1000, &st);
	check_int(st.pods, 3);
	/* A sync_end with no sync_begin removes nothing, and tells nothing. */
	gone_uids[0] = '\0';
	check_int(podcache_sync_end(pc, 2000, note_gone, NULL), 0);
	check_str(gone_uids, "");
	/* An empty relist empties the cache: all three told. */
	podcache_sync_begin(pc);
	gone_uids[0] = '\0';
	check_int(podcache_sync_end(pc, 3000, note_gone, NULL), 3);
	check_int((long)strlen(gone_uids),
	    (long)strlen("u1/ns/p1 u3/ns/p3 u4/ns/p4"));
	check(strstr(gone_uids, "u1/ns/p1") && strstr(gone_uids, "u3/ns/p3") &&
	    strstr(gone_uids, "u4/ns/p4"));
	podcache_stats(pc, 3000, &st);
	check_int(st.pods, 0);
	check_str(who(pc, "10.0.0.1", 3000), "q");
	/* sync_end also drops the quarantine entries that have ended. */
	x = ip6("10.0.0.1");
	check(podcache_quarantine_until(pc, &x) == 3000 + Q);
	podcache_sync_begin(pc);
	check_int(podcache_sync_end(pc, 3000 + Q, NULL, NULL), 0);
	check(podcache_quarantine_until(pc, &x) == 0);
	check(sane(pc));
	podcache_free(pc);
}

/* ---- policy ---------------------------------------------------------------- */

static unsigned char ast_mem[1 << 18], pol_mem[2][1 << 18];

static int
compile(const char *src, int which, struct pol *out)
{
	static char buf[4096];
	static struct dsl_diag dv[16];
	struct dsl_limits lim = {4096, 1024};
	struct pol_options opt = {false, 0};
	struct dsl_diags d;
	struct dsl_arena a;
	static struct dsl_file f;

	snprintf(buf, sizeof(buf),
	    "identity a {\n kind managed\n client-id "
	    "\"00000000-0000-0000-0000-00000000000a\"\n}\n"
	    "identity b {\n kind managed\n client-id "
	    "\"00000000-0000-0000-0000-00000000000b\"\n}\n%s",
	    src);
	memset(&f, 0, sizeof(f));
	f.name = "t.pol";
	f.src = buf;
	f.len = strlen(buf);
	dsl_arena_init(&a, ast_mem, sizeof(ast_mem));
	dsl_diags_init(&d, dv, 16);
	if (dsl_parse(&f, &lim, &a, &d) != 0)
		return -2;
	return pol_compile(
	    &f, &opt, pol_mem[which], sizeof(pol_mem[which]), out, &d);
}

/* Names of the identities granted to uid, comma-joined, or "deny"/"exc". */
static const char *
granted(const struct podcache *pc, const struct pol *pol, const char *uid)
{
	static char out[128];
	const struct podcache_entry *e = podcache_by_uid(pc, uid);
	uint32_t i;

	if (e == NULL)
		return "none";
	if (e->grants.verdict == POL_DENY)
		return "deny";
	if (e->grants.verdict == POL_EXCEPTION)
		return "exc";
	out[0] = '\0';
	for (i = 0; i < e->grants.ngrants; i++)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s",
		    i ? "," : "",
		    pol->identities[e->grants.grants[i].identity].name.s);
	return out;
}

static void
t_policy(void)
{
	struct podcache *pc = podcache_new(8, Q);
	struct pol p1, p2;
	struct kobj_pod p;

	check_int(compile("bind web {\n identity a\n namespace shop\n"
	                  " label app = web\n}\n"
	                  "exception sys {\n namespace kube-system\n}\n",
	              0, &p1),
	    0);
	check_int(compile("bind web {\n identity b\n namespace shop\n"
	                  " label app = web, tier = api\n}\n"
	                  "bind all {\n identity a\n namespace *\n"
	                  " service-account orders\n}\n",
	              1, &p2),
	    0);
	pod_init(&p, "w1", "shop", "web-1", KOBJ_PHASE_RUNNING);
	pod_label(&p, "app", "web");
	check_int(podcache_upsert(pc, &p, &p1, 0), 0);
	pod_init(&p, "w2", "shop", "web-2", KOBJ_PHASE_RUNNING);
	pod_label(&p, "app", "web");
	pod_label(&p, "tier", "api");
	snprintf(p.sa, sizeof(p.sa), "orders");
	check_int(podcache_upsert(pc, &p, &p1, 0), 0);
	pod_init(&p, "k1", "kube-system", "dns", KOBJ_PHASE_RUNNING);
	check_int(podcache_upsert(pc, &p, &p1, 0), 0);
	check_str(granted(pc, &p1, "w1"), "a");
	check_str(granted(pc, &p1, "w2"), "a");
	check_str(granted(pc, &p1, "k1"), "exc");

	/* A changed pod is matched again at once. */
	pod_init(&p, "w1", "shop", "web-1", KOBJ_PHASE_RUNNING);
	pod_label(&p, "app", "db");
	check_int(podcache_upsert(pc, &p, &p1, 1), 0);
	check_str(granted(pc, &p1, "w1"), "deny");

	/* Swap: every pod's grants recomputed. */
	podcache_repolicy(pc, &p2);
	check_str(granted(pc, &p2, "w1"), "deny");
	check_str(granted(pc, &p2, "w2"), "b,a");
	check_str(granted(pc, &p2, "k1"), "deny");
	podcache_repolicy(pc, NULL);
	check_str(granted(pc, &p2, "w2"), "deny");
	check_int(podcache_by_uid(pc, "w2")->grants.ngrants, 0);
	podcache_free(pc);
}

/*
 * Grants are matched again when something the policy reads changes, or
 * the policy does; not for events that change nothing it reads (issue 3).
 * To tell, the policy memory is recompiled behind the cache's back: only
 * a re-match sees the new rules.  A reload is announced by repolicy.
 */
static void
t_regrant(void)
{
	struct podcache *pc = podcache_new(8, Q);
	struct pol p1, p2;
	struct kobj_pod p;

	check_int(compile("bind all {\n identity a\n namespace *\n"
	                  " service-account orders\n}\n",
	              0, &p1),
	    0);
	pod_init(&p, "w1", "shop", "web-1", KOBJ_PHASE_PENDING);
	check_int(podcache_upsert(pc, &p, &p1, 0), 0);
	check_str(granted(pc, &p1, "w1"), "deny");
	snprintf(p.sa, sizeof(p.sa), "orders");
	check_int(podcache_upsert(pc, &p, &p1, 1), 0);
	check_str(granted(pc, &p1, "w1"), "a");

	check_int(compile("bind web {\n identity b\n namespace shop\n"
	                  " label app = web\n}\n",
	              0, &p1),
	    0);
	p.phase = KOBJ_PHASE_RUNNING; /* status only: not matched again */
	pod_ip(&p, "10.0.0.7");
	check_int(podcache_upsert(pc, &p, &p1, 2), 0);
	check_str(granted(pc, &p1, "w1"), "a");
	check_str(who(pc, "10.0.0.7", 2), "w1");
	check_int(podcache_upsert(pc, &p, &p1, 3), 0); /* nothing changed */
	check_str(granted(pc, &p1, "w1"), "a");
	pod_label(&p, "app", "web"); /* a label: matched again */
	check_int(podcache_upsert(pc, &p, &p1, 4), 0);
	check_str(granted(pc, &p1, "w1"), "b");

	check_int(compile("bind all {\n identity a\n namespace *\n"
	                  " service-account orders\n}\n",
	              0, &p1),
	    0);
	p.host_network = true; /* hostNetwork: matched again */
	check_int(podcache_upsert(pc, &p, &p1, 5), 0);
	check_str(granted(pc, &p1, "w1"), "deny");
	p.host_network = false;
	check_int(podcache_upsert(pc, &p, &p1, 5), 0);
	check_str(granted(pc, &p1, "w1"), "a");

	/* Another policy passed: matched again, the pod unchanged. */
	check_int(compile("exception sys {\n namespace shop\n}\n", 1, &p2), 0);
	check_int(podcache_upsert(pc, &p, &p2, 6), 0);
	check_str(granted(pc, &p2, "w1"), "exc");
	/* Reloaded in place, then repolicy: every pod matched again. */
	check_int(compile("bind web {\n identity b\n namespace shop\n"
	                  " label app = web\n}\n",
	              1, &p2),
	    0);
	check_str(granted(pc, &p2, "w1"), "exc");
	podcache_repolicy(pc, &p2);
	check_str(granted(pc, &p2, "w1"), "b");
	/* An unchanged pod listed during a relist stays. */
	podcache_sync_begin(pc);
	check_int(podcache_upsert(pc, &p, &p2, 7), 0);
	check_int(podcache_sync_end(pc, 7, NULL, NULL), 0);
	check_str(granted(pc, &p2, "w1"), "b");
	check(sane(pc));
	podcache_free(pc);
}

/* ---- record limits --------------------------------------------------------- */

/* Fills s[0..n) with a DNS-ish name and NUL-terminates it. */
static void
fill(char *s, size_t n, char c)
{
	memset(s, c, n);
	s[n] = '\0';
}

static void
t_max_strings(void)
{
	struct podcache *pc = podcache_new(2, Q);
	struct kobj_pod *p = guard_buf(sizeof(*p));
	const struct podcache_entry *e;
	struct pol_label lbl[LIM_KOBJ_LABELS];
	struct pol_pod pp;
	char k[64], v[64];
	unsigned i;

	memset(p, 0, sizeof(*p));
	fill(p->uid, LIM_KOBJ_UID_BYTES, 'a');
	fill(p->ns, LIM_KOBJ_NAMESPACE_BYTES, 'n');
	fill(p->name, LIM_KOBJ_NAME_BYTES, 'm');
	fill(p->sa, LIM_KOBJ_SA_BYTES, 's');
	p->phase = KOBJ_PHASE_RUNNING;
	/* 32 labels of 32 bytes each: the pool exactly full. */
	for (i = 0; i < LIM_KOBJ_LABELS; i++) {
		snprintf(k, sizeof(k), "key-%02u-%s", i, "xxxxxxxxxx");
		snprintf(v, sizeof(v), "val-%02u-%s", i, "yyyyyy");
		pod_label(p, k, v);
	}
	check_int(p->label_bytes, LIM_KOBJ_LABEL_POOL_BYTES);
	check_int(p->nlabels, LIM_KOBJ_LABELS);
	pod_ip(p, "10.0.0.1");
	check_int(up(pc, p, 0), 0);
	e = podcache_by_uid(pc, p->uid);
	check(e != NULL && e->spilled_);
	check(e != NULL && strcmp(e->ns, p->ns) == 0 &&
	    strcmp(e->name, p->name) == 0 && strcmp(e->sa, p->sa) == 0);
	check(podcache_by_name(pc, p->ns, LIM_KOBJ_NAMESPACE_BYTES, p->name,
	          LIM_KOBJ_NAME_BYTES) == e);
	check(podcache_by_name(pc, p->ns, LIM_KOBJ_NAMESPACE_BYTES + 1, p->name,
	          LIM_KOBJ_NAME_BYTES) == NULL);
	podcache_pol_pod(e, lbl, &pp);
	check_int(pp.nlabels, LIM_KOBJ_LABELS);
	check(pp.labels[31].klen == 17 &&
	    memcmp(pp.labels[31].key, "key-31-xxxxxxxxxx", 17) == 0);
	check(pp.labels[31].vlen == 13 &&
	    memcmp(pp.labels[31].val, "val-31-yyyyyy", 13) == 0);
	check_str(who(pc, "10.0.0.1", 0), p->uid);
	/* The second pod at the maximum shares nothing with the first. */
	p->uid[0] = 'b';
	p->name[0] = 'x';
	pod_ip(p, "10.0.0.2");
	check_int(up(pc, p, 0), 0);
	check(strcmp(e->name, p->name) != 0 && e->name[0] == 'm');
	/* Labels at N+1: refused, nothing read past the struct. */
	p->nlabels = LIM_KOBJ_LABELS + 1;
	check_int(up(pc, p, 0), PODCACHE_E_INVAL);
	check(sane(pc));
	podcache_free(pc);
}

/* The inline pool at N bytes stays inline; N+1 spills; both read back. */
static void
t_inline_pool(void)
{
	struct podcache *pc = podcache_new(4, Q);
	struct kobj_pod p;
	const struct podcache_entry *e;
	size_t base, vlen;
	char v[PODCACHE_INLINE_BYTES];

	/* uid 2 + ns 2 + name 2 + sa 1 + "k\0" + value + NUL. */
	base = 2 + 3 + 3 + 1 + 2 + 1;
	vlen = PODCACHE_INLINE_BYTES - base;
	check(vlen < LIM_KOBJ_LABEL_POOL_BYTES - 4);
	fill(v, vlen, 'v');
	pod_init(&p, "i", "ns", "in", KOBJ_PHASE_RUNNING);
	p.sa[0] = '\0';
	pod_label(&p, "k", v);
	check_int(up(pc, &p, 0), 0);
	e = podcache_by_uid(pc, "i");
	check(e != NULL && !e->spilled_ && strcmp(e->labels + 2, v) == 0);
	fill(v, vlen + 1, 'w');
	pod_init(&p, "j", "ns", "sp", KOBJ_PHASE_RUNNING);
	p.sa[0] = '\0';
	pod_label(&p, "k", v);
	check_int(up(pc, &p, 0), 0);
	e = podcache_by_uid(pc, "j");
	check(e != NULL && e->spilled_ && strcmp(e->labels + 2, v) == 0);
	/* Shrinking moves it back inline. */
	pod_init(&p, "j", "ns", "sp", KOBJ_PHASE_RUNNING);
	pod_label(&p, "k", "short");
	check_int(up(pc, &p, 0), 0);
	check(!e->spilled_ && strcmp(e->labels, "k") == 0);
	check(sane(pc));
	podcache_free(pc);
}

/* Malformed records are refused and leave the cache as it was. */
static void
t_invalid(void)
{
	struct podcache *pc = podcache_new(4, Q);
	struct podcache_stats st;
	struct kobj_pod p, good;

	pod_init(&good, "g", "ns", "g", KOBJ_PHASE_RUNNING);
	pod_label(&good, "app", "x");
	pod_ip(&good, "10.0.0.1");
	check_int(up(pc, &good, 0), 0);

	p = good;
	memset(p.uid, 'u', sizeof(p.uid)); /* no NUL */
	check_int(up(pc, &p, 0), PODCACHE_E_INVAL);
	p = good;
	memset(p.ns, 'n', sizeof(p.ns));
	check_int(up(pc, &p, 0), PODCACHE_E_INVAL);
	p = good;
	memset(p.name, 'n', sizeof(p.name));
	check_int(up(pc, &p, 0), PODCACHE_E_INVAL);
	p = good;
	memset(p.sa, 's', sizeof(p.sa));
	check_int(up(pc, &p, 0), PODCACHE_E_INVAL);
	p = good;
	p.uid[0] = '\0';
	check_int(up(pc, &p, 0), PODCACHE_E_INVAL);
	p = good;
	p.name[0] = '\0';
	check_int(up(pc, &p, 0), PODCACHE_E_INVAL);
	p = good;
	p.phase = (enum kobj_phase)(KOBJ_PHASE_UNKNOWN + 1);
	check_int(up(pc, &p, 0), PODCACHE_E_INVAL);
	p = good;
	p.labels[0].val_len = 2; /* runs over the NUL */
	check_int(up(pc, &p, 0), PODCACHE_E_INVAL);
	p = good;
	p.labels[0].key_len = 0;
	check_int(up(pc, &p, 0), PODCACHE_E_INVAL);
	p = good;
	p.labels[0].val = 1000; /* past the used bytes */
	check_int(up(pc, &p, 0), PODCACHE_E_INVAL);
	p = good;
	p.label_bytes = (uint16_t)(sizeof(p.label_pool) + 1);
	check_int(up(pc, &p, 0), PODCACHE_E_INVAL);
	p = good;
	p.label_pool[1] = '\0'; /* "a\0p" inside the key */
	check_int(up(pc, &p, 0), PODCACHE_E_INVAL);
	/* Labels sharing pool bytes, adding up past the worst case. */
	p = good;
	p.label_bytes = 1000;
	memset(p.label_pool + 4, 'v', 990);
	p.label_pool[995] = 'w';
	p.labels[0] = (struct kobj_label){0, 3, 4, 990};
	for (p.nlabels = 1; p.nlabels < LIM_KOBJ_LABELS; p.nlabels++)
		p.labels[p.nlabels] = (struct kobj_label){0, 3, 995, 1};
	check_int(up(pc, &p, 0), 0); /* 32 x "app" + 990 + 31: fits */
	for (unsigned i = 0; i < LIM_KOBJ_LABELS; i++)
		p.labels[i] = (struct kobj_label){0, 3, 4, 990};
	check_int(up(pc, &p, 0), PODCACHE_E_INVAL);

	podcache_stats(pc, 0, &st);
	check_int(st.pods, 1);
	check_str(who(pc, "10.0.0.1", 0), "g");
	check(podcache_by_uid(pc, "g")->nlabels == 32);
	check(sane(pc));
	podcache_free(pc);
}

/* Name slices need no NUL: read against a PROT_NONE page. */
static void
t_by_name_slices(void)
{
	struct podcache *pc = podcache_new(2, Q);
	struct kobj_pod p;
	const char *ns;
	char *name;

	pod_init(&p, "u", "team", "api-0", KOBJ_PHASE_RUNNING);
	check_int(up(pc, &p, 0), 0);
	ns = guard_copy("team", 4);
	check(podcache_by_name(pc, ns, 4, "api-0", 5) != NULL);
	name = guard_buf(5);
	memcpy(name, "api-0", 5);
	check(podcache_by_name(pc, ns, 4, name, 5) != NULL);
	check(podcache_by_name(pc, ns + 1, 3, name, 5) == NULL);
	check(podcache_by_name(pc, ns, 4, name + 4, 1) == NULL);
	check(podcache_by_name(pc, "", 0, "", 0) == NULL);
	podcache_free(pc);
}

static void
t_next(void)
{
	struct podcache *pc = podcache_new(8, Q);
	const struct podcache_entry *e;
	unsigned cur = 0, n = 0;
	char seen[8] = {0};
	int i;

	check(podcache_next(pc, &cur) == NULL);
	for (i = 0; i < 6; i++)
		check_int(add_live(pc, i, NULL, 0), 0);
	check_int(podcache_remove(pc, "u2", 0), 0);
	cur = 0;
	while ((e = podcache_next(pc, &cur)) != NULL) {
		n++;
		seen[e->uid[1] - '0']++;
	}
	check_int(n, 5);
	check(seen[0] == 1 && seen[1] == 1 && seen[2] == 0 && seen[5] == 1);
	check(podcache_next(pc, &cur) == NULL);
	podcache_free(pc);
}

/* ---- the IP-reuse stress ----------------------------------------------------- */

/*
 * A world of NPODS pods on a node whose CNI hands S_IP4 IPv4 and S_IP6
 * IPv6 addresses out again as soon as they are free.  Each pod has a
 * script of states in world time: ADDED without an IP (or with one),
 * Pending with its IP, Running, then a graceful end (terminating, a
 * terminal phase, DELETED), a job's end (Succeeded, lingering, deleted) or
 * a force delete.  Some pods are hostNetwork (the node's IP), some are
 * StatefulSet pods recreated under a deleted pod's name.  The kubelet
 * reports an end late, so the world frees an IP before the old pod's
 * status says so.  Every event then reaches podid after its own random
 * lag (a pod's events in order, a recreated name only after the old pod's
 * DELETED, as the API server guarantees), so an old holder's release and
 * a new holder's claim arrive in either order.  Now and then a relist
 * (sync) consumes a run of events at once.
 *
 * After every call, at its time and just before the next event, the cache
 * is compared with a model: the pods podid was told about, their states
 * and the release times of IPs.  Every address must resolve as the model
 * says; above all never to a deleted or not-live pod, never to a pod that
 * is not the only live holder, never inside the quarantine of a released
 * IP; bindings (refs) to removed pods must fail.
 */
#define NPODS   1000
#define S_IP4   16
#define S_IP6   4
#define S_NODE  (S_IP4 + S_IP6) /* the node's IP, for hostNetwork pods */
#define S_NIP   (S_NODE + 1)
#define S_MAXEV 6
#define S_STS   5 /* StatefulSet names */

enum s_kind { S_UPSERT, S_DELETE };

struct s_state {
	enum s_kind kind;
	enum kobj_phase phase;
	bool term, has_ip;
};

struct s_pod {
	char uid[40], name[24];
	int ip4, ip6; /* address ids; ip6 -1: none */
	bool hostnet;
	int pred; /* the deleted pod whose name this one takes, -1 */
	unsigned nev;
	struct s_state st[S_MAXEV];
	uint64_t tw[S_MAXEV], td[S_MAXEV]; /* world and delivery times */
	int delivered; /* last step podid was sent (event or list), -1 */
	/* the model */
	bool known, gone, listed;
	struct s_state cur;
	unsigned incarnation;
	struct podcache_ref ref;
	unsigned ref_inc; /* incarnation the ref was taken in, 0: none */
};

struct s_ev {
	uint64_t td;
	unsigned pod, step;
};

static struct s_pod sp[NPODS];
static struct s_ev sev[NPODS * S_MAXEV];
static uint64_t s_until[S_NIP]; /* model: quarantine ends */
static uint64_t s_rng;
static unsigned s_max, s_known;
static struct {
	unsigned found, ambiguous, quarantined, claim_blocked, refused;
	unsigned relists, still_ok, still_gone, verdicts;
} s_seen;

static uint64_t
rnd(uint64_t n)
{
	s_rng ^= s_rng << 13;
	s_rng ^= s_rng >> 7;
	s_rng ^= s_rng << 17;
	return n ? s_rng % n : 0;
}

static void
s_ip_text(int id, char *out, size_t n)
{
	if (id < S_IP4)
		snprintf(out, n, "10.244.0.%d", id + 2);
	else if (id < S_NODE)
		snprintf(out, n, "fd00:244::%x", id - S_IP4 + 2);
	else
		snprintf(out, n, "192.168.0.4");
}

/* A free address of [lo, hi) at t: most recently freed half the time. */
static int
s_pick(const uint64_t *free_at, int lo, int hi, uint64_t t)
{
	int i, best = -1, any[S_NIP], n = 0;

	for (i = lo; i < hi; i++) {
		if (free_at[i] > t)
			continue;
		any[n++] = i;
		if (best < 0 || free_at[i] > free_at[best])
			best = i;
	}
	if (n == 0)
		return -1;
	return rnd(2) ? best : any[rnd((uint64_t)n)];
}

static uint64_t
s_earliest(const uint64_t *free_at, int lo, int hi)
{
	uint64_t m = UINT64_MAX;
	int i;

	for (i = lo; i < hi; i++)
		if (free_at[i] < m)
			m = free_at[i];
	return m;
}

static void
s_step(struct s_pod *p, enum s_kind k, enum kobj_phase ph, bool term, bool ip,
    uint64_t t)
{
	p->st[p->nev] = (struct s_state){k, ph, term, ip};
	p->tw[p->nev++] = t;
}

/* The end of a pod's script after t; returns when its IP is free again. */
static uint64_t
s_script_end(struct s_pod *p, uint64_t t)
{
	uint64_t freed;

	t += 300 + rnd(rnd(3) ? 12000 : 3000);
	switch (rnd(4)) {
	case 0: /* force delete while Running */
		s_step(p, S_DELETE, KOBJ_PHASE_RUNNING, false, true, t);
		return t - rnd(300);
	case 1: /* a job: Succeeded, deleted much later */
		s_step(p, S_UPSERT, KOBJ_PHASE_SUCCEEDED, false, true, t);
		freed = t - rnd(1500);
		t += 2000 + rnd(20000);
		s_step(p, S_UPSERT, KOBJ_PHASE_SUCCEEDED, true, true, t);
		s_step(p, S_DELETE, KOBJ_PHASE_SUCCEEDED, true, true, t + 5);
		return freed;
	default: /* graceful: terminating, then a terminal phase, late */
		s_step(p, S_UPSERT, KOBJ_PHASE_RUNNING, true, true, t);
		freed = t + rnd(800);
		t = freed + rnd(1500);
		s_step(p, S_UPSERT,
		    rnd(2) ? KOBJ_PHASE_FAILED : KOBJ_PHASE_SUCCEEDED, true,
		    true, t);
		s_step(
		    p, S_DELETE, KOBJ_PHASE_FAILED, true, true, t + rnd(200));
		return freed;
	}
}

/* Every 7th pod takes a StatefulSet name, its old pod's if deleted by t. */
static void
s_name(int i, uint64_t t, int *sts_last)
{
	struct s_pod *p = &sp[i];
	int k = (int)rnd(S_STS), j = sts_last[k];

	p->pred = -1;
	snprintf(p->name, sizeof(p->name), "pod-%d", i);
	if (i % 7 != 0 || (j >= 0 && sp[j].tw[sp[j].nev - 1] >= t))
		return;
	snprintf(p->name, sizeof(p->name), "sts-%d", k);
	p->pred = j;
	sts_last[k] = i;
}

/* Allocates pod p's addresses at t (later when none is free). */
static uint64_t
s_addresses(struct s_pod *p, const uint64_t *free_at, uint64_t t)
{
	p->ip6 = -1;
	if (p->hostnet) {
		p->ip4 = S_NODE;
		return t;
	}
	if ((p->ip4 = s_pick(free_at, 0, S_IP4, t)) < 0) {
		t = s_earliest(free_at, 0, S_IP4);
		p->ip4 = s_pick(free_at, 0, S_IP4, t);
	}
	if (rnd(4) == 0)
		p->ip6 = s_pick(free_at, S_IP4, S_NODE, t);
	return t;
}

static void
s_world(void)
{
	uint64_t free_at[S_NIP] = {0}, t = 1000, freed;
	int i, sts_last[S_STS] = {-1, -1, -1, -1, -1};
	struct s_pod *p;

	for (i = 0; i < NPODS; i++) {
		p = &sp[i];
		memset(p, 0, sizeof(*p));
		snprintf(p->uid, sizeof(p->uid), "%08x-0000-4000-8000-%012d",
		    (unsigned)rnd(1u << 31), i);
		p->delivered = -1;
		p->hostnet = rnd(20) == 0;
		t = s_addresses(p, free_at, t + 20 + rnd(200));
		s_name(i, t, sts_last);
		if (rnd(3) != 0) /* ADDED before the sandbox has an IP */
			s_step(p, S_UPSERT, KOBJ_PHASE_PENDING, false, false,
			    t - 1 - rnd(300));
		s_step(p, S_UPSERT, KOBJ_PHASE_PENDING, false, true, t);
		s_step(
		    p, S_UPSERT, KOBJ_PHASE_RUNNING, false, true, t + rnd(500));
		freed = s_script_end(p, p->tw[p->nev - 1]);
		freed = freed > t ? freed : t + 1;
		if (!p->hostnet)
			free_at[p->ip4] = freed;
		if (p->ip6 >= 0)
			free_at[p->ip6] = freed;
	}
}

/* Delivery: each event after its own lag, a pod's events in order. */
static unsigned
s_deliveries(void)
{
	struct s_pod *p;
	unsigned i, k, n = 0;
	uint64_t last;

	for (i = 0; i < NPODS; i++) {
		p = &sp[i];
		last = p->pred >= 0 ? sp[p->pred].td[sp[p->pred].nev - 1] : 0;
		for (k = 0; k < p->nev; k++) {
			p->td[k] = p->tw[k] + (rnd(4) ? rnd(1500) : 0);
			if (p->td[k] <= last)
				p->td[k] = last + 1;
			last = p->td[k];
			sev[n++] = (struct s_ev){p->td[k], i, k};
		}
	}
	return n;
}

static int
s_cmp(const void *a, const void *b)
{
	const struct s_ev *x = a, *y = b;

	if (x->td != y->td)
		return x->td < y->td ? -1 : 1;
	if (x->pod != y->pod)
		return x->pod < y->pod ? -1 : 1;
	return x->step < y->step ? -1 : 1;
}

static bool
s_state_live(const struct s_pod *p, const struct s_state *st)
{
	return !p->hostnet && !st->term && st->has_ip &&
	    (st->phase == KOBJ_PHASE_PENDING ||
	        st->phase == KOBJ_PHASE_RUNNING);
}

static bool
s_live(const struct s_pod *p)
{
	return p->known && s_state_live(p, &p->cur);
}

/* The model releases what p held while live. */
static void
s_release(const struct s_pod *p, uint64_t now)
{
	if (!s_live(p))
		return;
	s_until[p->ip4] = now + Q;
	if (p->ip6 >= 0)
		s_until[p->ip6] = now + Q;
}

static void
s_forget(struct s_pod *p, uint64_t now)
{
	s_release(p, now);
	p->known = false;
	s_known--;
}

/* The model of podcache_upsert; returns what it must return. */
static int
s_model_upsert(struct s_pod *p, const struct s_state *st, uint64_t now)
{
	unsigned i;

	for (i = 0; i < NPODS; i++)
		if (&sp[i] != p && sp[i].known &&
		    strcmp(sp[i].name, p->name) == 0)
			s_forget(&sp[i], now);
	if (!p->known && s_known == s_max)
		return PODCACHE_E_FULL;
	if (!p->known) {
		p->known = true;
		p->incarnation++;
		s_known++;
	}
	/* A pod's address ids never change: it keeps all or none. */
	if (s_live(p) && !s_state_live(p, st))
		s_release(p, now);
	p->cur = *st;
	p->listed = true;
	return 0;
}

static void
s_kpod(const struct s_pod *p, const struct s_state *st, struct kobj_pod *k)
{
	char t[64];

	pod_init(k, p->uid, "stress", p->name, st->phase);
	k->terminating = st->term;
	k->host_network = p->hostnet;
	pod_label(k, "app", p->name);
	if (!st->has_ip)
		return;
	s_ip_text(p->ip4, t, sizeof(t));
	pod_ip(k, t);
	if (p->ip6 >= 0) {
		s_ip_text(p->ip6, t, sizeof(t));
		pod_ip(k, t);
	}
}

/* Live holders of each address in the model: count, and one of them. */
static void
s_holders(unsigned *n, int *h)
{
	unsigned i;

	memset(n, 0, sizeof(unsigned) * S_NIP);
	for (i = 0; i < NPODS; i++) {
		if (!s_live(&sp[i]))
			continue;
		n[sp[i].ip4]++;
		h[sp[i].ip4] = (int)i;
		if (sp[i].ip6 >= 0) {
			n[sp[i].ip6]++;
			h[sp[i].ip6] = (int)i;
		}
	}
}

static enum podcache_verdict
s_expect(int ip, uint64_t now, const unsigned *n)
{
	if (now < s_until[ip])
		return PODCACHE_QUARANTINED;
	return n[ip] == 0 ? PODCACHE_UNKNOWN
	    : n[ip] == 1  ? PODCACHE_FOUND
	                  : PODCACHE_AMBIGUOUS;
}

/* A found pod: the only live holder, never deleted; bind a ref to it. */
static void
s_found(const struct podcache *pc, const struct podcache_entry *e, int h)
{
	s_seen.found++;
	check(e != NULL && e->live && h >= 0);
	if (e == NULL || h < 0)
		return;
	check(!sp[h].gone && strcmp(e->uid, sp[h].uid) == 0);
	if (sp[h].ref_inc == 0) {
		podcache_ref(pc, e, &sp[h].ref);
		sp[h].ref_inc = sp[h].incarnation;
	}
}

/* Refs hold while their incarnation is known, and fail once removed. */
static void
s_refs(const struct podcache *pc)
{
	const struct podcache_entry *e;
	unsigned i;

	for (i = 0; i < NPODS; i++) {
		if (sp[i].ref_inc == 0)
			continue;
		e = podcache_still(pc, &sp[i].ref);
		if (sp[i].known && sp[i].incarnation == sp[i].ref_inc) {
			check(e != NULL && strcmp(e->uid, sp[i].uid) == 0);
			s_seen.still_ok++;
		} else {
			check(e == NULL);
			s_seen.still_gone++;
			sp[i].ref_inc = 0;
		}
	}
}

static void
s_verify(const struct podcache *pc, uint64_t now)
{
	const struct podcache_entry *e;
	enum podcache_verdict v, want;
	unsigned n[S_NIP];
	int ip, h[S_NIP];
	char t[64];

	check(sane(pc));
	s_holders(n, h);
	for (ip = 0; ip < S_NIP; ip++) {
		s_ip_text(ip, t, sizeof(t));
		v = res(pc, t, now, &e);
		want = s_expect(ip, now, n);
		s_seen.verdicts++;
		if (v != want) {
			fprintf(stderr, "%s at %llu: verdict %d, model %d\n", t,
			    (unsigned long long)now, v, want);
			check(v == want);
			continue;
		}
		s_seen.quarantined += v == PODCACHE_QUARANTINED;
		s_seen.claim_blocked += v == PODCACHE_QUARANTINED && n[ip] > 0;
		s_seen.ambiguous += v == PODCACHE_AMBIGUOUS;
		if (v == PODCACHE_FOUND)
			s_found(pc, e, h[ip]);
		else
			check(e == NULL);
	}
	s_refs(pc);
}

static void
s_apply(struct podcache *pc, unsigned i, unsigned step, uint64_t now)
{
	struct s_pod *p = &sp[i];
	const struct s_state *st = &p->st[step];
	struct kobj_pod k;
	int want, got;

	p->delivered = (int)step;
	if (st->kind == S_DELETE) {
		want = p->known ? 0 : PODCACHE_E_NOENT;
		got = podcache_remove(pc, p->uid, now);
		if (p->known)
			s_forget(p, now);
		p->gone = true;
		check_int(got, want);
		return;
	}
	s_kpod(p, st, &k);
	want = s_model_upsert(p, st, now);
	got = podcache_upsert(pc, &k, NULL, now);
	check_int(got, want);
	s_seen.refused += got == PODCACHE_E_FULL;
}

/*
 * A relist at now: the list holds each pod's state after the last of its
 * events due by now (all consumed), without the pods deleted by then;
 * upserted in random order, each checked.
 */
static unsigned
s_relist(struct podcache *pc, unsigned next, unsigned n, uint64_t now)
{
	static unsigned order[NPODS];
	unsigned i, j, m = 0, tmp, drop = 0;

	for (; next < n && sev[next].td <= now; next++)
		sp[sev[next].pod].delivered = (int)sev[next].step;
	for (i = 0; i < NPODS; i++) {
		sp[i].listed = false;
		if (sp[i].delivered >= 0 && !sp[i].gone &&
		    sp[i].st[sp[i].delivered].kind != S_DELETE)
			order[m++] = i;
	}
	for (i = m; i > 1; i--) {
		j = (unsigned)rnd(i);
		tmp = order[i - 1];
		order[i - 1] = order[j];
		order[j] = tmp;
	}
	podcache_sync_begin(pc);
	for (i = 0; i < m; i++) {
		s_apply(pc, order[i], (unsigned)sp[order[i]].delivered, now);
		s_verify(pc, now);
	}
	for (i = 0; i < NPODS; i++) {
		if (sp[i].known && !sp[i].listed) {
			s_forget(&sp[i], now);
			drop++;
		}
		if (sp[i].delivered >= 0 &&
		    sp[i].st[sp[i].delivered].kind == S_DELETE)
			sp[i].gone = true;
	}
	check_int(podcache_sync_end(pc, now, NULL, NULL), drop);
	s_verify(pc, now);
	s_seen.relists++;
	return next;
}

static void
s_run(uint64_t seed, unsigned max_pods)
{
	struct podcache *pc = podcache_new(max_pods, Q);
	struct podcache_stats st;
	unsigned n, next = 0;
	uint64_t now = 0;
	struct s_ev ev;

	s_rng = seed;
	s_max = max_pods;
	s_known = 0;
	memset(s_until, 0, sizeof(s_until));
	memset(&s_seen, 0, sizeof(s_seen));
	s_world();
	n = s_deliveries();
	qsort(sev, n, sizeof(sev[0]), s_cmp);
	while (next < n) {
		if (rnd(200) == 0) {
			now = sev[next].td + rnd(1000);
			next = s_relist(pc, next, n, now);
			continue;
		}
		ev = sev[next++];
		now = ev.td;
		s_apply(pc, ev.pod, ev.step, now);
		s_verify(pc, now);
		if (next < n && sev[next].td > now + 1)
			s_verify(pc, sev[next].td - 1);
	}
	s_verify(pc, now + Q);
	podcache_stats(pc, now + Q, &st);
	check_int(st.pods, 0);
	check_int(st.quarantined, 0);
	check_int(st.quarantine_evictions, 0);
	/* The run must have met every case it is about. */
	check(s_seen.found > 1000 && s_seen.ambiguous > 0 &&
	    s_seen.quarantined > 0 && s_seen.claim_blocked > 0 &&
	    s_seen.relists > 0 && s_seen.still_ok > 0 && s_seen.still_gone > 0);
	check(max_pods >= 256 ? s_seen.refused == 0 : s_seen.refused > 0);
	if (harness_cur_failed || getenv("PODCACHE_STRESS_VERBOSE"))
		fprintf(stderr,
		    "seed %llu max %u: %u events, %u verdicts, found %u, "
		    "ambiguous %u, quarantined %u (claims blocked %u), "
		    "refused %u, relists %u, refs held %u, refs failed %u\n",
		    (unsigned long long)seed, max_pods, n, s_seen.verdicts,
		    s_seen.found, s_seen.ambiguous, s_seen.quarantined,
		    s_seen.claim_blocked, s_seen.refused, s_seen.relists,
		    s_seen.still_ok, s_seen.still_gone);
	podcache_free(pc);
}

static void
t_stress(void)
{
	s_run(0x9e3779b97f4a7c15ull, 256);
	s_run(0x2545f4914f6cdd1dull, 256);
	s_run(0xda942042e4dd58b5ull, 256);
	s_run(0x6a09e667f3bcc909ull, 24); /* a small table: refusals too */
	s_run(0xbb67ae8584caa73bull, 24);
}

int
main(void)
{
	alarm(300); /* a broken index can loop forever: fail instead */
	test(t_new_limits, "new: limits at N and N+1, strerror");
	test(t_insert_update_remove, "insert, update, remove");
	test(t_full, "table full at N and N+1, then a slot freed");
	test(t_resolve, "resolve: unique, ambiguous");
	test(t_resolve_excluded, "resolve: hostNetwork, terminating, terminal");
	test(t_resolve_pending_dual, "resolve: Pending with an IP, dual stack");
	test(t_mapped, "v4-mapped IPv6 field is the IPv4 address");
	test(t_quarantine, "quarantine: release, claim, expiry, IP change");
	test(t_quarantine_full, "quarantine full at N and N+1: eviction");
	test(t_uid_binding, "refs fail once the pod is gone, slot reused");
	test(t_replace, "same name, new uid replaces; uid renamed");
	test(t_sync, "relist sync removes and quarantines missing pods");
	test(t_policy, "grants on upsert and on policy swap");
	test(t_regrant,
	    "grants matched again only when the policy's inputs change");
	test(t_max_strings, "strings and labels at their maximum, N+1 labels");
	test(t_inline_pool, "inline pool at N and N+1 bytes");
	test(t_invalid, "malformed records refused, cache unchanged");
	test(t_by_name_slices, "by_name reads slices, not past them");
	test(t_next, "iteration");
	test(t_stress, "IP-reuse stress, model-checked after every event");
	return harness_done();
}
