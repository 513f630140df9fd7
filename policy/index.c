/*
 * Name tables and the namespace index.  All are open-addressing hash
 * tables with at least twice as many slots as entries, sized once from the
 * counts taken before compiling.
 */
#include <string.h>

#include "policy/check.h"

uint32_t
pc_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static uint32_t
table_mask(uint32_t n)
{
	uint32_t size = 16;

	while (size < 2 * n)
		size <<= 1;
	return size - 1;
}

int
pc_count_and_size(struct pol_comp *c)
{
	const struct dsl_stmt *s;

	for (s = c->f->first; s != NULL; s = s->next) {
		if (s->kind != DSL_S_BLOCK)
			continue;
		if (dsl_val_is(&s->word, "identity"))
			c->nid_blocks++;
		else
			c->nrule_blocks++;
	}
	c->id_mask = table_mask(c->nid_blocks);
	c->rule_mask = table_mask(c->nrule_blocks);
	c->id_hash = pc_alloc(c, (c->id_mask + 1) * sizeof(uint32_t));
	c->rule_hash = pc_alloc(c, (c->rule_mask + 1) * sizeof(uint32_t));
	c->used = pc_alloc(c, c->nid_blocks + 1);
	if (c->oom)
		return -1;
	c->out->id_index = c->id_hash;
	c->out->id_mask = c->id_mask;
	return 0;
}

/* The slot of name in a table of pol_str names, or the empty one. */
static uint32_t *
name_slot(uint32_t *table, uint32_t mask,
    const struct pol_str *(*get)(const struct pol_comp *, uint32_t),
    const struct pol_comp *c, const char *s, size_t len)
{
	uint32_t i = pc_hash(s, len) & mask;
	const struct pol_str *n;

	for (;; i = (i + 1) & mask) {
		if (table[i] == 0)
			return &table[i];
		n = get(c, table[i] - 1);
		if (n->len == len && memcmp(n->s, s, len) == 0)
			return &table[i];
	}
}

static const struct pol_str *
id_name(const struct pol_comp *c, uint32_t i)
{
	return &c->out->identities[i].name;
}

static const struct pol_str *
rule_name(const struct pol_comp *c, uint32_t i)
{
	return &c->out->rules[i].name;
}

int
pc_id_add(struct pol_comp *c, const struct dsl_val *v, uint32_t index)
{
	uint32_t *slot;

	slot = name_slot(c->id_hash, c->id_mask, id_name, c, v->s, v->len);
	if (*slot != 0) {
		pc_error(c, v->pos,
		    "identity \"%.*s\" defined twice (first at line %u)",
		    (int)v->len, v->s, c->out->identities[*slot - 1].line);
		return -1;
	}
	*slot = index + 1;
	return 0;
}

uint32_t
pol_identity_find(const struct pol *p, const char *name, size_t len)
{
	uint32_t i = pc_hash(name, len) & p->id_mask, k;

	for (;; i = (i + 1) & p->id_mask) {
		if ((k = p->id_index[i]) == 0)
			return POL_NONE;
		if (p->identities[k - 1].name.len == len &&
		    memcmp(p->identities[k - 1].name.s, name, len) == 0)
			return k - 1;
	}
}

uint32_t
pc_id_ref(struct pol_comp *c, const struct dsl_val *v)
{
	uint32_t id = pol_identity_find(c->out, v->s, v->len);
	char buf[128];

	if (id == POL_NONE)
		pc_error(c, v->pos, "unknown identity \"%s\"",
		    pc_show(v->s, v->len, buf, sizeof(buf)));
	return id;
}

int
pc_rule_add(struct pol_comp *c, const struct dsl_val *v, uint32_t index)
{
	uint32_t *slot;

	slot =
	    name_slot(c->rule_hash, c->rule_mask, rule_name, c, v->s, v->len);
	if (*slot != 0) {
		pc_error(c, v->pos,
		    "rule \"%.*s\" defined twice (first at line %u)",
		    (int)v->len, v->s, c->out->rules[*slot - 1].line);
		return -1;
	}
	*slot = index + 1;
	return 0;
}

static struct pol_ns_slot *
ns_slot(struct pol_ns_slot *t, uint32_t mask, const struct pol_str *ns)
{
	uint32_t h = pc_hash(ns->s, ns->len), i;

	for (i = h & mask;; i = (i + 1) & mask) {
		if (t[i].ns.s == NULL) {
			t[i].ns = *ns;
			t[i].hash = h;
			return &t[i];
		}
		if (t[i].hash == h && t[i].ns.len == ns->len &&
		    memcmp(t[i].ns.s, ns->s, ns->len) == 0)
			return &t[i];
	}
}

/*
 * Two passes over the rules: count each namespace's rules, then carve
 * their lists out of one array and fill them in rule order.
 */
void
pc_index_namespaces(struct pol_comp *c)
{
	struct pol *p = c->out;
	struct pol_ns_slot *t, *slot;
	uint32_t r, i, total = 0, nall = 0, *lists, *base, *all;

	for (r = 0; r < p->nrules; r++) {
		total += p->rules[r].nnamespaces;
		nall += p->rules[r].all_namespaces;
	}
	p->ns_mask = table_mask(total);
	t = pc_alloc(c, (p->ns_mask + 1) * sizeof(*t));
	lists = pc_alloc(c, (total + 1) * sizeof(*lists));
	all = pc_alloc(c, (nall + 1) * sizeof(*all));
	if (c->oom)
		return;
	base = lists;
	for (r = 0; r < p->nrules; r++)
		for (i = 0; i < p->rules[r].nnamespaces; i++)
			ns_slot(t, p->ns_mask, &p->rules[r].namespaces[i])
			    ->nrules++;
	for (i = 0; i <= p->ns_mask; i++) {
		t[i].rules = lists;
		lists += t[i].nrules;
		t[i].nrules = 0;
	}
	for (r = 0; r < p->nrules; r++) {
		if (p->rules[r].all_namespaces)
			all[p->nall_ns_rules++] = r;
		for (i = 0; i < p->rules[r].nnamespaces; i++) {
			slot =
			    ns_slot(t, p->ns_mask, &p->rules[r].namespaces[i]);
			base[(slot->rules - base) + slot->nrules++] = r;
		}
	}
	p->ns_index = t;
	p->all_ns_rules = all;
}
