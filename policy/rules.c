/*
 * Compiles "bind" and "exception" blocks into rules.  A rule selects pods
 * by namespace (always named: "*" spells out all of them), label
 * requirements, service account and hostNetwork; a binding also names the
 * identities it grants.
 */
#include <string.h>

#include "policy/check.h"

struct rule_attrs {
	const struct dsl_stmt *identity, *ns, *sa, *hostnet;
	uint32_t nreqs;
};

static int
str_cmp(const struct pol_str *a, const struct pol_str *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int d = memcmp(a->s, b->s, n);

	if (d != 0)
		return d;
	return (a->len > b->len) - (a->len < b->len);
}

/* False (reported at the second one) when a value appears twice. */
static bool
no_duplicates(
    struct pol_comp *c, const struct dsl_val *v, uint32_t n, const char *what)
{
	char buf[128];
	uint32_t i, j;

	for (i = 1; i < n; i++)
		for (j = 0; j < i; j++)
			if (v[i].len == v[j].len &&
			    memcmp(v[i].s, v[j].s, v[i].len) == 0) {
				pc_error(c, v[i].pos,
				    "%s \"%s\" listed twice (first at column "
				    "%u)",
				    what,
				    pc_show(v[i].s, v[i].len, buf, sizeof(buf)),
				    v[j].pos.col);
				return false;
			}
	return true;
}

/* Sorts a small set in place (the matcher and the checks rely on it). */
static void
sort_set(struct pol_str *v, uint32_t n)
{
	struct pol_str t;
	uint32_t i, j;

	for (i = 1; i < n; i++) {
		t = v[i];
		for (j = i; j > 0 && str_cmp(&v[j - 1], &t) > 0; j--)
			v[j] = v[j - 1];
		v[j] = t;
	}
}

static bool
set_attr(
    struct pol_comp *c, const struct dsl_stmt **slot, const struct dsl_stmt *s)
{
	if (*slot != NULL) {
		pc_error(c, s->word.pos,
		    "\"%.*s\" given twice (first at line %u)", (int)s->word.len,
		    s->word.s, (*slot)->pos.line);
		return false;
	}
	*slot = s;
	return true;
}

static void
gather(struct pol_comp *c, const struct dsl_stmt *blk, bool exception,
    struct rule_attrs *ra)
{
	const struct dsl_stmt *s;

	memset(ra, 0, sizeof(*ra));
	for (s = blk->body; s != NULL; s = s->next) {
		if (s->kind == DSL_S_COMMENT)
			continue;
		if (s->kind == DSL_S_LABEL)
			ra->nreqs += s->nreqs;
		else if (dsl_val_is(&s->word, "namespace"))
			set_attr(c, &ra->ns, s);
		else if (dsl_val_is(&s->word, "service-account"))
			set_attr(c, &ra->sa, s);
		else if (dsl_val_is(&s->word, "host-network"))
			set_attr(c, &ra->hostnet, s);
		else if (dsl_val_is(&s->word, "identity") && !exception)
			set_attr(c, &ra->identity, s);
		else if (dsl_val_is(&s->word, "identity"))
			pc_error(c, s->word.pos,
			    "an exception grants no identity: its pods' "
			    "requests go to the node's IMDS");
		else
			pc_error(c, s->word.pos,
			    "unknown %s attribute \"%.*s\"",
			    exception ? "exception" : "bind", (int)s->word.len,
			    s->word.s);
	}
}

static void
compile_namespaces(
    struct pol_comp *c, const struct dsl_stmt *s, struct pol_rule *r)
{
	struct pol_str *ns;
	uint32_t i;

	if (s->nvals == 1 && s->vals[0].star) {
		r->all_namespaces = true;
		pc_warning(c, s->vals[0].pos,
		    "\"%s\" selects pods of every namespace: anyone who can "
		    "create a pod with matching labels gets its %s",
		    r->name.s, r->exception ? "exception" : "identities");
		return;
	}
	if (s->nvals == 0 ||
	    (ns = pc_alloc(c, s->nvals * sizeof(*ns))) == NULL) {
		if (s->nvals == 0)
			pc_error(c, s->word.pos,
			    "\"namespace\" needs one or more names, or *");
		return;
	}
	for (i = 0; i < s->nvals; i++) {
		if (!pc_expect(c, &s->vals[i],
		        !s->vals[i].star &&
		            pc_is_dns_label(s->vals[i].s, s->vals[i].len),
		        s->vals[i].star ? "a namespace name (* stands alone)"
		                        : "a namespace name"))
			return;
		ns[i] = pc_keep(c, &s->vals[i]);
	}
	if (!no_duplicates(c, s->vals, s->nvals, "namespace"))
		return;
	sort_set(ns, s->nvals);
	r->namespaces = ns;
	r->nnamespaces = s->nvals;
}

static bool
compile_req(struct pol_comp *c, const struct dsl_req *d, struct pol_req *q)
{
	struct pol_str *v = NULL;
	uint32_t i;

	q->op = (enum pol_op)d->op;
	if (!pc_expect(c, &d->key, pc_is_label_key(d->key.s, d->key.len),
	        "a label key ([prefix/]name, name at most 63 characters)"))
		return false;
	q->key = pc_keep(c, &d->key);
	if (d->nvals > 0 && (v = pc_alloc(c, d->nvals * sizeof(*v))) == NULL)
		return false;
	for (i = 0; i < d->nvals; i++) {
		if (!pc_expect(c, &d->vals[i],
		        !d->vals[i].star &&
		            pc_is_label_value(d->vals[i].s, d->vals[i].len),
		        "a label value (at most 63 characters: letters, "
		        "digits, "
		        "'-', '_', '.')"))
			return false;
		v[i] = pc_keep(c, &d->vals[i]);
	}
	q->vals = v;
	q->nvals = d->nvals;
	if (!no_duplicates(c, d->vals, d->nvals, "value"))
		return false;
	sort_set(v, d->nvals);
	return true;
}

static void
compile_reqs(struct pol_comp *c, const struct dsl_stmt *blk, uint32_t nreqs,
    struct pol_rule *r)
{
	const struct dsl_stmt *s;
	struct pol_req *q;
	uint32_t i;

	if (nreqs == 0 || (q = pc_alloc(c, nreqs * sizeof(*q))) == NULL)
		return;
	r->reqs = q;
	for (s = blk->body; s != NULL; s = s->next) {
		if (s->kind != DSL_S_LABEL)
			continue;
		for (i = 0; i < s->nreqs; i++)
			if (compile_req(c, &s->reqs[i], &q[r->nreqs]))
				r->nreqs++;
	}
	/* Keys a pod must have: the matcher skips a rule at one AND. */
	for (i = 0; i < r->nreqs; i++)
		if (q[i].op == POL_OP_EQ || q[i].op == POL_OP_IN ||
		    q[i].op == POL_OP_EXISTS)
			r->guard |= pol_key_bit(q[i].key.s, q[i].key.len);
}

static void
compile_identity_refs(
    struct pol_comp *c, const struct dsl_stmt *s, struct pol_rule *r)
{
	uint16_t *ids;
	uint32_t i, j, id;

	if (s->nvals == 0 ||
	    (ids = pc_alloc(c, s->nvals * sizeof(*ids))) == NULL) {
		if (s->nvals == 0)
			pc_error(c, s->word.pos,
			    "\"identity\" needs one or more identity names");
		return;
	}
	for (i = 0; i < s->nvals; i++) {
		if ((id = pc_id_ref(c, &s->vals[i])) == POL_NONE)
			continue;
		for (j = 0; j < r->nidentities; j++)
			if (ids[j] == id)
				break;
		if (j < r->nidentities) {
			pc_error(c, s->vals[i].pos,
			    "identity \"%.*s\" listed twice",
			    (int)s->vals[i].len, s->vals[i].s);
			continue;
		}
		ids[r->nidentities++] = (uint16_t)id;
		c->used[id] = true;
	}
	r->identities = ids;
}

static void
compile_scalar_attrs(
    struct pol_comp *c, const struct rule_attrs *ra, struct pol_rule *r)
{
	const struct dsl_val *v;

	if (ra->sa != NULL && (v = pc_one_value(c, ra->sa)) != NULL &&
	    pc_expect(c, v, pc_is_dns_subdomain(v->s, v->len),
	        "a service account name"))
		r->service_account = pc_keep(c, v);
	if (ra->hostnet != NULL && (v = pc_one_value(c, ra->hostnet)) != NULL &&
	    pc_expect(c, v, dsl_val_is(v, "allow") || dsl_val_is(v, "deny"),
	        "allow or deny"))
		r->host_network = dsl_val_is(v, "allow");
}

static void
compile_rule(struct pol_comp *c, const struct dsl_stmt *blk, struct pol_rule *r)
{
	struct rule_attrs ra;

	r->exception = dsl_val_is(&blk->word, "exception");
	r->name = pc_keep(c, &blk->name);
	r->line = blk->pos.line;
	gather(c, blk, r->exception, &ra);
	if (ra.ns == NULL)
		pc_error(c, blk->name.pos,
		    "%s \"%s\" names no namespace: add \"namespace NAME, ...\" "
		    "(or \"namespace *\" for every namespace)",
		    r->exception ? "exception" : "bind", r->name.s);
	else
		compile_namespaces(c, ra.ns, r);
	if (!r->exception && ra.identity == NULL)
		pc_error(c, blk->name.pos,
		    "bind \"%s\" grants no identity: "
		    "add \"identity NAME\"",
		    r->name.s);
	else if (ra.identity != NULL)
		compile_identity_refs(c, ra.identity, r);
	compile_scalar_attrs(c, &ra, r);
	compile_reqs(c, blk, ra.nreqs, r);
}

void
pc_compile_rules(struct pol_comp *c)
{
	const struct dsl_stmt *s;
	struct pol_rule *rules;
	struct pol *p = c->out;

	if ((rules = pc_alloc(c, c->nrule_blocks * sizeof(*rules))) == NULL)
		return;
	p->rules = rules;
	for (s = c->f->first; s != NULL && !c->oom; s = s->next) {
		if (s->kind != DSL_S_BLOCK ||
		    (!dsl_val_is(&s->word, "bind") &&
		        !dsl_val_is(&s->word, "exception")))
			continue;
		if (!pc_check_name(c, &s->name, "rule") ||
		    pc_rule_add(c, &s->name, p->nrules) < 0)
			continue;
		memset(&rules[p->nrules], 0, sizeof(*rules));
		compile_rule(c, s, &rules[p->nrules]);
		if (rules[p->nrules].exception)
			p->nexceptions++;
		else
			p->nbindings++;
		p->nrules++;
	}
}
