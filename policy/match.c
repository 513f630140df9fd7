/*
 * The matcher: which identities a pod gets.  It runs when a pod changes or
 * a policy is swapped in, never per request; it allocates nothing.
 *
 * Cost per pod: one hash of the namespace, then for each rule naming that
 * namespace and each "namespace *" rule (merged in file order), the
 * service-account compare and each requirement, a requirement being a scan
 * of the pod's labels plus, for a set, a scan of its values.  So it grows
 * with the rules of the pod's own namespace, not with the whole policy.
 */
#include <string.h>

#include "policy/check.h"
#include "policy/policy.h"

static const struct pol_label *
pod_label(const struct pol_pod *pod, const struct pol_str *key)
{
	uint32_t i;

	for (i = 0; i < pod->nlabels; i++)
		if (pod->labels[i].klen == key->len &&
		    memcmp(pod->labels[i].key, key->s, key->len) == 0)
			return &pod->labels[i];
	return NULL;
}

static bool
in_set(const struct pol_req *q, const struct pol_label *l)
{
	uint32_t i;

	for (i = 0; i < q->nvals; i++)
		if (q->vals[i].len == l->vlen &&
		    memcmp(q->vals[i].s, l->val, l->vlen) == 0)
			return true;
	return false;
}

/* Kubernetes selector semantics: != and notin match an absent label. */
static bool
req_matches(const struct pol_req *q, const struct pol_pod *pod)
{
	const struct pol_label *l = pod_label(pod, &q->key);

	switch (q->op) {
	case POL_OP_EXISTS:
		return l != NULL;
	case POL_OP_ABSENT:
		return l == NULL;
	case POL_OP_EQ:
	case POL_OP_IN:
		return l != NULL && in_set(q, l);
	case POL_OP_NE:
	case POL_OP_NOTIN:
		return l == NULL || !in_set(q, l);
	}
	return false;
}

static bool
has_ns(const struct pol_rule *r, const struct pol_pod *pod)
{
	uint32_t i;

	if (r->all_namespaces)
		return true;
	for (i = 0; i < r->nnamespaces; i++)
		if (r->namespaces[i].len == pod->nslen &&
		    memcmp(r->namespaces[i].s, pod->ns, pod->nslen) == 0)
			return true;
	return false;
}

bool
pol_rule_matches(const struct pol_rule *r, const struct pol_pod *pod,
    const char **why, const struct pol_req **failed)
{
	uint32_t i;

	*failed = NULL;
	if (!has_ns(r, pod)) {
		*why = "namespace not selected";
		return false;
	}
	if (pod->host_network && !r->host_network) {
		*why = "pod uses the host network (add \"host-network allow\")";
		return false;
	}
	if (r->service_account.len &&
	    (r->service_account.len != pod->salen ||
	        memcmp(r->service_account.s, pod->sa, pod->salen) != 0)) {
		*why = "service account differs";
		return false;
	}
	for (i = 0; i < r->nreqs; i++)
		if (!req_matches(&r->reqs[i], pod)) {
			*why = "label requirement not met";
			*failed = &r->reqs[i];
			return false;
		}
	*why = NULL;
	return true;
}

static const struct pol_ns_slot *
ns_lookup(const struct pol *p, const char *ns, uint32_t len)
{
	uint32_t h = pc_hash(ns, len), i;

	for (i = h & p->ns_mask;; i = (i + 1) & p->ns_mask) {
		if (p->ns_index[i].ns.s == NULL)
			return NULL;
		if (p->ns_index[i].hash == h && p->ns_index[i].ns.len == len &&
		    memcmp(p->ns_index[i].ns.s, ns, len) == 0)
			return &p->ns_index[i];
	}
}

static void
grant(struct pol_result *res, const struct pol_rule *r, uint32_t rule)
{
	uint32_t i, j;

	for (i = 0; i < r->nidentities; i++) {
		for (j = 0; j < res->ngrants; j++)
			if (res->grants[j].identity == r->identities[i])
				break;
		if (j < res->ngrants)
			continue; /* an earlier rule granted it */
		if (res->ngrants == POL_MAX_GRANTS) {
			res->truncated = true;
			return;
		}
		res->grants[res->ngrants].identity = r->identities[i];
		res->grants[res->ngrants++].rule = rule;
	}
}

uint64_t
pol_key_bit(const char *key, size_t len)
{
	return 1ull << (pc_hash(key, len) & 63);
}

/*
 * Visits the candidate rules in file order (two sorted lists merged).  An
 * exception wins over every binding, wherever it stands in the file.
 */
void
pol_match(
    const struct pol *p, const struct pol_pod *pod, struct pol_result *res)
{
	const struct pol_ns_slot *slot;
	const uint32_t *a, *b;
	uint32_t na, nb, r, i;
	const struct pol_rule *rule;
	const struct pol_req *failed;
	const char *why;
	uint64_t keys = 0;

	res->verdict = POL_DENY;
	res->ngrants = 0;
	res->truncated = false;
	if (p->nrules == 0)
		return;
	for (i = 0; i < pod->nlabels; i++)
		keys |= pol_key_bit(pod->labels[i].key, pod->labels[i].klen);
	slot = ns_lookup(p, pod->ns, pod->nslen);
	a = slot ? slot->rules : NULL;
	na = slot ? slot->nrules : 0;
	b = p->all_ns_rules;
	nb = p->nall_ns_rules;
	while (na > 0 || nb > 0) {
		if (nb == 0 || (na > 0 && *a < *b))
			r = *a++, na--;
		else
			r = *b++, nb--;
		rule = &p->rules[r];
		if ((rule->guard & keys) != rule->guard ||
		    !pol_rule_matches(rule, pod, &why, &failed))
			continue;
		if (rule->exception) {
			res->verdict = POL_EXCEPTION;
			res->exception = r;
			res->ngrants = 0;
			return;
		}
		grant(res, rule, r);
	}
	if (res->ngrants > 0)
		res->verdict = POL_GRANT;
}
