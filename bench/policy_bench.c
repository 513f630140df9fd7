/*
 * Policy benchmark: a generated policy of 10,000 bindings (1,000
 * namespaces of 10 bindings, 500 identities, 100 "namespace *" rules among
 * them), then 250 pods matched against it over and over.  Prints the
 * parse+compile time (goal <= 20 ms), matches per second (goal >=
 * 1,000,000/s) beside a linear scan of every rule measured in the same run
 * (the anchor: what the namespace index saves), and the compiled size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/limits.h"
#include "policy/policy.h"

#define NBIND 10000
#define NNS   1000
#define NID   500
#define NPODS 250

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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
	for (i = 0; i < NBIND; i++) {
		if (i % 100 == 99)
			n += (size_t)snprintf(buf + n, cap - n,
			    "bind b%d {\n    identity  id%d\n    namespace *\n"
			    "    label     platform.example.com/agent = "
			    "a%d\n}\n\n",
			    i, i % NID, i);
		else
			n += (size_t)snprintf(buf + n, cap - n,
			    "bind b%d {\n    identity  id%d, id%d\n    "
			    "namespace ns%d\n"
			    "    label     app = app%d, tier in (api, worker), "
			    "!debug\n"
			    "    service-account sa%d\n}\n\n",
			    i, i % NID, (i + 1) % NID, i % NNS, i / NNS, i % 7);
	}
	return n;
}

struct bench_pod {
	char ns[16], sa[16], app[16];
	struct pol_label labels[3];
	struct pol_pod pod;
};

static void
gen_pods(struct bench_pod *pods)
{
	int i;
	struct bench_pod *p;

	for (i = 0; i < NPODS; i++) {
		p = &pods[i];
		int b = (i * 37) % NBIND;

		snprintf(p->ns, sizeof(p->ns), "ns%d", b % NNS);
		snprintf(p->sa, sizeof(p->sa), "sa%d", b % 7);
		snprintf(p->app, sizeof(p->app), "app%d", b / NNS);
		p->labels[0] = (struct pol_label){
		    "app", p->app, 3, (uint32_t)strlen(p->app)};
		p->labels[1] = (struct pol_label){
		    "tier", i % 3 ? "api" : "db", 4, i % 3 ? 3 : 2};
		p->labels[2] =
		    (struct pol_label){"pod-template-hash", "5d8f7c9b6", 17, 9};
		p->pod = (struct pol_pod){p->ns, p->sa, (uint32_t)strlen(p->ns),
		    (uint32_t)strlen(p->sa), p->labels, 3, false};
	}
}

/* The anchor: every rule tried in turn, no index. */
static uint32_t
match_linear(const struct pol *p, const struct pol_pod *pod)
{
	const struct pol_req *failed;
	const char *why;
	uint32_t r, n = 0;

	for (r = 0; r < p->nrules; r++)
		n += pol_rule_matches(&p->rules[r], pod, &why, &failed);
	return n;
}

int
main(void)
{
	struct pol_options opt = {false, 0};
	struct dsl_limits lim = {LIM_POLICY_TOKEN_BYTES, LIM_POLICY_VALUES};
	static struct bench_pod pods[NPODS];
	static struct dsl_diag dv[LIM_POLICY_DIAGS];
	struct dsl_diags d;
	struct dsl_arena a;
	struct dsl_file f;
	struct pol pol;
	struct pol_result res;
	char *src = malloc(LIM_POLICY_FILE_BYTES + 1);
	void *ast = malloc(LIM_POLICY_AST_BYTES),
	     *mem = malloc(LIM_POLICY_BYTES);
	double t0, t1, best = 1e9, bparse = 1e9, rate, lrate;
	unsigned long i, rounds = 20000, granted = 0, lin = 0;
	int run;

	if (src == NULL || ast == NULL || mem == NULL)
		return 1;
	memset(&f, 0, sizeof(f));
	f.name = "bench.pol";
	f.src = src;
	f.len = gen_policy(src, LIM_POLICY_FILE_BYTES);
	for (run = 0; run < 10; run++) {
		t0 = now();
		dsl_arena_init(&a, ast, LIM_POLICY_AST_BYTES);
		dsl_diags_init(&d, dv, LIM_POLICY_DIAGS);
		if (dsl_parse(&f, &lim, &a, &d) != 0 || (t1 = now()) < 0 ||
		    pol_compile(&f, &opt, mem, LIM_POLICY_BYTES, &pol, &d) !=
		        0) {
			dsl_diags_print(stderr, &f, &d);
			return 1;
		}
		if (now() - t0 < best) {
			best = now() - t0;
			bparse = t1 - t0;
		}
	}
	gen_pods(pods);
	t0 = now();
	for (i = 0; i < rounds * NPODS; i++) {
		pol_match(&pol, &pods[i % NPODS].pod, &res);
		granted += res.ngrants;
	}
	rate = (double)(rounds * NPODS) / (now() - t0);
	t0 = now();
	for (i = 0; i < 20 * NPODS; i++)
		lin += match_linear(&pol, &pods[i % NPODS].pod);
	lrate = (double)(20 * NPODS) / (now() - t0);
	printf("policy: %d bindings, %d namespaces, %d identities, %zu bytes "
	       "of source\n",
	    NBIND, NNS, NID, f.len);
	printf("  parse+compile      %8.2f ms   (goal <= 20 ms; best of 10; "
	       "parse %.2f ms)\n",
	    best * 1e3, bparse * 1e3);
	printf(
	    "  matches/s, podid   %10.0f     (goal >= 1,000,000/s; 250 pods)\n",
	    rate);
	printf(
	    "  matches/s, anchor  %10.0f     (linear scan of every rule, same "
	    "run: %.0fx slower)\n",
	    lrate, rate / lrate);
	printf("  compiled size      %8zu bytes (%.1f bytes per binding)\n",
	    pol.bytes, (double)pol.bytes / NBIND);
	printf("  (grants seen: %lu, linear matches: %lu)\n", granted, lin);
	free(src);
	free(ast);
	free(mem);
	return 0;
}
