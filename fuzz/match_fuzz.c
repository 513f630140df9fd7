/*
 * The matcher.  Input: a policy, a line "---", then a pod: lines "ns X",
 * "sa X", "host" and "label K=V".  Invariants: every grant names an
 * identity that its rule grants and a rule that selects the pod, no
 * identity twice, and an exception verdict names an exception that
 * selects the pod.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static unsigned char ast_mem[4 << 20], pol_mem[1 << 20];
static struct dsl_diag diag_v[64];

static void
parse_pod(const char *s, const char *end, struct pol_pod *pod,
    struct pol_label *labels, uint32_t cap)
{
	const char *nl, *eq;

	memset(pod, 0, sizeof(*pod));
	pod->ns = pod->sa = "";
	pod->labels = labels;
	for (; s < end; s = nl + 1) {
		if ((nl = memchr(s, '\n', (size_t)(end - s))) == NULL)
			nl = end;
		if (nl - s > 3 && memcmp(s, "ns ", 3) == 0) {
			pod->ns = s + 3;
			pod->nslen = (uint32_t)(nl - s - 3);
		} else if (nl - s > 3 && memcmp(s, "sa ", 3) == 0) {
			pod->sa = s + 3;
			pod->salen = (uint32_t)(nl - s - 3);
		} else if (nl - s == 4 && memcmp(s, "host", 4) == 0)
			pod->host_network = true;
		else if (nl - s > 6 && memcmp(s, "label ", 6) == 0 &&
		    pod->nlabels < cap &&
		    (eq = memchr(s + 6, '=', (size_t)(nl - s - 6))) != NULL) {
			labels[pod->nlabels].key = s + 6;
			labels[pod->nlabels].klen = (uint32_t)(eq - s - 6);
			labels[pod->nlabels].val = eq + 1;
			labels[pod->nlabels++].vlen = (uint32_t)(nl - eq - 1);
		}
		if (nl == end)
			break;
	}
}

static void
check_result(
    const struct pol *p, const struct pol_pod *pod, const struct pol_result *r)
{
	const struct pol_req *failed;
	const char *why;
	uint32_t i, j;
	bool found;

	if (r->verdict == POL_EXCEPTION) {
		assert(r->exception < p->nrules &&
		    p->rules[r->exception].exception);
		assert(pol_rule_matches(
		    &p->rules[r->exception], pod, &why, &failed));
		return;
	}
	assert((r->verdict == POL_GRANT) == (r->ngrants > 0));
	assert(r->ngrants <= POL_MAX_GRANTS);
	for (i = 0; i < r->ngrants; i++) {
		const struct pol_rule *rule = &p->rules[r->grants[i].rule];

		assert(r->grants[i].rule < p->nrules && !rule->exception);
		assert(pol_rule_matches(rule, pod, &why, &failed));
		for (found = false, j = 0; j < rule->nidentities; j++)
			found |= rule->identities[j] == r->grants[i].identity;
		assert(found);
		for (j = 0; j < i; j++)
			assert(r->grants[j].identity != r->grants[i].identity);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pol_options opt = {false, 0};
	struct dsl_limits lim = {4096, 1024};
	struct pol_label labels[32];
	struct pol_result res;
	struct dsl_diags d;
	struct dsl_arena a;
	struct dsl_file f;
	struct pol_pod pod;
	struct pol p;
	char *src, *sep;

	if (size > 64 * 1024 || (src = malloc(size + 1)) == NULL)
		return 0;
	memcpy(src, data, size);
	src[size] = '\0';
	sep = memmem(src, size, "\n---\n", 5);
	memset(&f, 0, sizeof(f));
	f.name = "fuzz.pol";
	f.src = src;
	f.len = sep ? (size_t)(sep - src) + 1 : size;
	/* The lexer needs a NUL at src[len]: the separator's '-'. */
	if (sep)
		sep[1] = '\0';
	dsl_arena_init(&a, ast_mem, sizeof(ast_mem));
	dsl_diags_init(&d, diag_v, 64);
	if (dsl_parse(&f, &lim, &a, &d) == 0 &&
	    pol_compile(&f, &opt, pol_mem, sizeof(pol_mem), &p, &d) == 0) {
		parse_pod(
		    sep ? sep + 5 : src + size, src + size, &pod, labels, 32);
		pol_match(&p, &pod, &res);
		check_result(&p, &pod, &res);
	}
	free(src);
	return 0;
}
