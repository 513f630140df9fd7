/*
 * Pod cache benchmark: 250 pods (a full 250-pod node, eight Helm-style
 * labels each, one in four dual-stack) applied to a cache of the default
 * size against a generated policy of 2,000 bindings, over and over.
 * Decoding is kobj's and not measured: this is the apply.  Prints, beside
 * their anchors measured in the same run:
 *   - upserts/s (MODIFIED) of a relabelled pod, matched again, beside
 *     pol_match alone on the same pods (what the cache adds to matching);
 *     of a pod whose phase flips (the record rewritten, its grants kept:
 *     the policy reads no status); of an unchanged pod (most MODIFIED
 *     events: status times, resourceVersion);
 *   - insert + remove cycles/s (ADDED, DELETED);
 *   - resolves/s, and a policy swap (repolicy) of all 250 pods;
 *   - memory: bytes per record beside the decoded struct kobj_pod, the
 *     address space of the default cache, and the resident memory that
 *     250 pods actually touch, beside the 2 MiB goal for all of podid.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/limits.h"
#include "agent/podcache.h"
#include "policy/policy.h"

#define NPODS 250
#define NNS   250
#define NID   200
#define NBIND 2000

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* VmSize and VmRSS of this process, KiB. */
static void
mem_kib(long *vm, long *rss)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	*vm = *rss = -1;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmSize:", 7) == 0)
			*vm = strtol(line + 7, NULL, 10);
		else if (strncmp(line, "VmRSS:", 6) == 0)
			*rss = strtol(line + 6, NULL, 10);
	}
	if (f != NULL)
		fclose(f);
}

static size_t
gen_policy(char *buf, size_t cap)
{
	size_t n = 0;
	int i;

	for (i = 0; i < NID; i++)
		n += (size_t)snprintf(buf + n, cap - n,
		    "identity id%d {\n    kind      managed\n    client-id "
		    "\"00000000-0000-4000-8000-%012d\"\n}\n\n",
		    i, i);
	for (i = 0; i < NBIND; i++)
		n += (size_t)snprintf(buf + n, cap - n,
		    "bind b%d {\n    identity  id%d\n    namespace ns%d\n"
		    "    label     app.kubernetes.io/name = app%d, "
		    "app.kubernetes.io/component in (api, worker), "
		    "!debug\n}\n\n",
		    i, i % NID, i % NNS, i / NNS);
	return n;
}

static void
label(struct kobj_pod *p, const char *k, const char *v)
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

static void
gen_pod(struct kobj_pod *p, int i)
{
	char v[64];

	memset(p, 0, sizeof(*p));
	snprintf(p->uid, sizeof(p->uid), "5f0c1a52-3a8e-4a55-9d1f-%012d", i);
	snprintf(p->ns, sizeof(p->ns), "ns%d", (i * 7) % NNS);
	snprintf(
	    p->name, sizeof(p->name), "app%d-api-5d8f7c9b6-x%04d", i % 8, i);
	snprintf(p->sa, sizeof(p->sa), "app%d", i % 8);
	snprintf(v, sizeof(v), "app%d", (i * 7) % 8);
	label(p, "app.kubernetes.io/name", v);
	label(p, "app.kubernetes.io/component", i % 3 ? "api" : "db");
	label(p, "app.kubernetes.io/instance", "release-a");
	label(p, "app.kubernetes.io/managed-by", "Helm");
	label(p, "app.kubernetes.io/version", "2.10.0");
	label(p, "helm.sh/chart", "app-5.15.2");
	label(p, "pod-template-hash", "5d8f7c9b6");
	label(p, "azure.workload.identity/use", "true");
	p->phase = KOBJ_PHASE_RUNNING;
	p->has_ip4 = true;
	p->ip4.s_addr = htonl(0x0af40000u + (uint32_t)i + 2);
	if (i % 4 == 0) {
		p->has_ip6 = true;
		inet_pton(AF_INET6, "fd00:244::", &p->ip6);
		p->ip6.s6_addr[14] = (uint8_t)(i >> 8);
		p->ip6.s6_addr[15] = (uint8_t)i;
	}
}

/* The matcher's view of a decoded pod, as the anchor gives it. */
static void
pol_view(const struct kobj_pod *k, struct pol_label *l, struct pol_pod *p)
{
	unsigned i;

	for (i = 0; i < k->nlabels; i++)
		l[i] = (struct pol_label){&k->label_pool[k->labels[i].key],
		    &k->label_pool[k->labels[i].val], k->labels[i].key_len,
		    k->labels[i].val_len};
	*p = (struct pol_pod){k->ns, k->sa, (uint32_t)strlen(k->ns),
	    (uint32_t)strlen(k->sa), l, k->nlabels, false};
}

static int
compile(struct pol *pol, char **src, void **ast, void **mem)
{
	struct pol_options opt = {false, 0};
	struct dsl_limits lim = {LIM_POLICY_TOKEN_BYTES, LIM_POLICY_VALUES};
	static struct dsl_diag dv[LIM_POLICY_DIAGS];
	static struct dsl_file f;
	struct dsl_diags d;
	struct dsl_arena a;

	*src = malloc(LIM_POLICY_FILE_BYTES + 1);
	*ast = malloc(LIM_POLICY_AST_BYTES);
	*mem = malloc(LIM_POLICY_BYTES);
	if (*src == NULL || *ast == NULL || *mem == NULL)
		return -1;
	f.name = "bench.pol";
	f.src = *src;
	f.len = gen_policy(*src, LIM_POLICY_FILE_BYTES);
	dsl_arena_init(&a, *ast, LIM_POLICY_AST_BYTES);
	dsl_diags_init(&d, dv, LIM_POLICY_DIAGS);
	if (dsl_parse(&f, &lim, &a, &d) != 0 ||
	    pol_compile(&f, &opt, *mem, LIM_POLICY_BYTES, pol, &d) != 0) {
		dsl_diags_print(stderr, &f, &d);
		return -1;
	}
	return 0;
}

static struct kobj_pod pods[NPODS];

enum change { CH_NONE, CH_PHASE, CH_LABEL };

/* Pod p of round r as bench_update changes it. */
static void
change(struct kobj_pod *p, enum change ch, unsigned r)
{
	if (ch == CH_PHASE)
		p->phase = r & 1 ? KOBJ_PHASE_RUNNING : KOBJ_PHASE_PENDING;
	if (ch == CH_LABEL) /* app.kubernetes.io/instance: release-a, -b */
		p->label_pool[p->labels[2].val + 8] = r & 1 ? 'a' : 'b';
}

/* MODIFIED: every pod again, changed by ch; returns upserts/s. */
static double
bench_update(struct podcache *pc, const struct pol *pol, unsigned rounds,
    enum change ch, unsigned *granted)
{
	const struct podcache_entry *e;
	unsigned r, i;
	double t0 = now();

	for (r = 0; r < rounds; r++)
		for (i = 0; i < NPODS; i++) {
			change(&pods[i], ch, r);
			if (podcache_upsert(pc, &pods[i], pol, r) != 0)
				exit(1);
		}
	for (i = 0; i < NPODS; i++)
		if ((e = podcache_by_uid(pc, pods[i].uid)) != NULL)
			*granted += e->grants.ngrants;
	return (double)rounds * NPODS / (now() - t0);
}

static double
bench_anchor(const struct pol *pol, unsigned rounds, unsigned *granted)
{
	struct pol_label l[LIM_KOBJ_LABELS];
	struct pol_result res;
	struct pol_pod pp;
	unsigned r, i;
	double t0 = now();

	for (r = 0; r < rounds; r++)
		for (i = 0; i < NPODS; i++) {
			pol_view(&pods[i], l, &pp);
			pol_match(pol, &pp, &res);
			*granted += res.ngrants;
		}
	return (double)rounds * NPODS / (now() - t0);
}

/* ADDED then DELETED for every pod; returns cycles/s. */
static double
bench_cycle(struct podcache *pc, const struct pol *pol, unsigned rounds)
{
	unsigned r, i;
	double t0 = now();

	for (r = 0; r < rounds; r++) {
		for (i = 0; i < NPODS; i++)
			if (podcache_upsert(pc, &pods[i], pol, r) != 0)
				exit(1);
		for (i = 0; i < NPODS; i++)
			podcache_remove(pc, pods[i].uid, r);
	}
	return (double)rounds * NPODS / (now() - t0);
}

static double
bench_resolve(const struct podcache *pc, unsigned rounds, unsigned *found)
{
	const struct podcache_entry *e;
	struct in6_addr a;
	unsigned r, i;
	double t0 = now();

	for (r = 0; r < rounds; r++)
		for (i = 0; i < NPODS; i++) {
			podcache_map4(&a, &pods[i].ip4);
			*found += podcache_resolve(pc, &a, 1u << 30, &e) ==
			    PODCACHE_FOUND;
		}
	return (double)rounds * NPODS / (now() - t0);
}

int
main(void)
{
	struct podcache *pc;
	struct pol pol;
	char *src;
	void *ast, *mem;
	long vm0, rss0, vm1, rss1, vm2, rss2;
	unsigned i, granted = 0, agranted = 0, found = 0;
	double up, upp, upn, anchor, cyc, resv, t0, swap;

	if (compile(&pol, &src, &ast, &mem) != 0)
		return 1;
	for (i = 0; i < NPODS; i++)
		gen_pod(&pods[i], (int)i);
	mem_kib(&vm0, &rss0);
	pc =
	    podcache_new(LIM_PODCACHE_PODS_DEFAULT, LIM_PODCACHE_QUARANTINE_MS);
	if (pc == NULL)
		return 1;
	mem_kib(&vm1, &rss1);
	up = bench_update(pc, &pol, 400, CH_LABEL, &granted);
	upp = bench_update(pc, &pol, 400, CH_PHASE, &granted);
	upn = bench_update(pc, &pol, 400, CH_NONE, &granted);
	mem_kib(&vm2, &rss2);
	anchor = bench_anchor(&pol, 400, &agranted);
	resv = bench_resolve(pc, 4000, &found);
	t0 = now();
	for (i = 0; i < 100; i++)
		podcache_repolicy(pc, &pol);
	swap = (now() - t0) / 100;
	cyc = bench_cycle(pc, &pol, 200);

	printf("podcache: %d pods (8 labels, 1 in 4 dual-stack), %u slots, "
	       "policy of %d bindings\n",
	    NPODS, LIM_PODCACHE_PODS_DEFAULT, NBIND);
	printf("  upserts/s, relabelled  %10.0f  (anchor: pol_match alone "
	       "%.0f/s; the cache adds %.0f%%)\n",
	    up, anchor, (anchor / up - 1) * 100);
	printf("  upserts/s, phase flips %10.0f  (record rewritten, grants "
	       "kept: the policy reads no status)\n",
	    upp);
	printf(
	    "  upserts/s, unchanged   %10.0f  (most MODIFIED events)\n", upn);
	printf("  add+delete cycles/s    %10.0f  (ADDED then DELETED, "
	       "quarantine included)\n",
	    cyc);
	printf("  resolves/s             %10.0f\n", resv);
	printf("  repolicy, 250 pods     %10.3f ms\n", swap * 1e3);
	printf("  record                 %10zu bytes (anchor: struct kobj_pod "
	       "%zu bytes)\n",
	    sizeof(struct podcache_entry), sizeof(struct kobj_pod));
	printf("  address space, %u slots %8ld KiB (spill buffers and empty "
	       "slots never touched)\n",
	    LIM_PODCACHE_PODS_DEFAULT, vm1 - vm0);
	printf("  resident, 250 pods     %10ld KiB (goal: all of podid <= "
	       "2048 KiB)\n",
	    rss2 - rss0);
	printf(
	    "  (grants %u/%u, found %u)\n", granted / 3, agranted / 400, found);
	podcache_free(pc);
	free(src);
	free(ast);
	free(mem);
	return 0;
}
