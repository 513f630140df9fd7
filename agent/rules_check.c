/*
 * rules: what the dumped ruleset means.  rules_check compares it with the
 * one ruleset podid installs, strictly (a dormant table, a second chain,
 * a counter added to the rule are all mismatches: self-healing puts the
 * whole table back); rules_print shows it as `nft list table ip podid`
 * does, so an operator can diff the two.  Pure but for stdio.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>

#include "agent/rules.h"

void
rules_spec_init(struct rules_spec *s, struct in_addr node_ip, uint16_t port)
{
	memset(s, 0, sizeof(*s));
	s->node_ip = node_ip;
	s->port = port;
	inet_pton(AF_INET, RULES_IMDS_ADDR, &s->imds_ip);
	s->imds_port = RULES_IMDS_PORT;
}

static const char *
hook_name(uint32_t h)
{
	static const char *const names[] = {"prerouting", "input", "forward",
	    "output", "postrouting", "ingress"};

	return h < sizeof(names) / sizeof(*names) ? names[h] : "?";
}

/* ---- the expected rule, expression by expression ---- */

enum want_val {
	WV_NONE,      /* no data */
	WV_IMDS_IP,   /* 169.254.169.254 */
	WV_TCP,       /* IPPROTO_TCP, one byte */
	WV_IMDS_PORT, /* 80, network order */
	WV_NODE_IP,   /* the DNAT target's address */
	WV_PORT,      /* the DNAT target's port, network order */
};

struct want_attr {
	uint8_t type; /* 0 ends the list */
	uint32_t v;
	bool opt; /* the kernel may add it (with this value) */
};

struct want_expr {
	const char *name;
	enum want_val val;
	struct want_attr a[8];
};

#define WANT_EXPRS 9u

static const struct want_expr want[WANT_EXPRS] = {
    {"payload", WV_NONE,
        {{NFTA_PAYLOAD_DREG, NFT_REG_1, false},
            {NFTA_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER, false},
            {NFTA_PAYLOAD_OFFSET, 16, false}, {NFTA_PAYLOAD_LEN, 4, false}}},
    {"cmp", WV_IMDS_IP,
        {{NFTA_CMP_SREG, NFT_REG_1, false}, {NFTA_CMP_OP, NFT_CMP_EQ, false}}},
    {"meta", WV_NONE,
        {{NFTA_META_KEY, NFT_META_L4PROTO, false},
            {NFTA_META_DREG, NFT_REG_1, false}}},
    {"cmp", WV_TCP,
        {{NFTA_CMP_SREG, NFT_REG_1, false}, {NFTA_CMP_OP, NFT_CMP_EQ, false}}},
    {"payload", WV_NONE,
        {{NFTA_PAYLOAD_DREG, NFT_REG_1, false},
            {NFTA_PAYLOAD_BASE, NFT_PAYLOAD_TRANSPORT_HEADER, false},
            {NFTA_PAYLOAD_OFFSET, 2, false}, {NFTA_PAYLOAD_LEN, 2, false}}},
    {"cmp", WV_IMDS_PORT,
        {{NFTA_CMP_SREG, NFT_REG_1, false}, {NFTA_CMP_OP, NFT_CMP_EQ, false}}},
    {"immediate", WV_NODE_IP, {{NFTA_IMMEDIATE_DREG, NFT_REG_1, false}}},
    {"immediate", WV_PORT, {{NFTA_IMMEDIATE_DREG, NFT_REG_2, false}}},
    {"nat", WV_NONE,
        {{NFTA_NAT_TYPE, NFT_NAT_DNAT, false},
            {NFTA_NAT_FAMILY, NFPROTO_IPV4, false},
            {NFTA_NAT_REG_ADDR_MIN, NFT_REG_1, false},
            {NFTA_NAT_REG_ADDR_MAX, NFT_REG_1, true},
            {NFTA_NAT_REG_PROTO_MIN, NFT_REG_2, false},
            {NFTA_NAT_REG_PROTO_MAX, NFT_REG_2, true},
            {NFTA_NAT_FLAGS,
                NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED, true}}},
};

/* Every attribute present is expected, with its value; none missing. */
static bool
want_attrs(const struct rules_expr *e, const struct want_expr *w)
{
	uint16_t seen = 0;
	unsigned i;

	for (i = 0; i < 8 && w->a[i].type != 0; i++) {
		const struct want_attr *a = &w->a[i];

		if (!(e->has & (1u << a->type))) {
			if (!a->opt)
				return false;
			continue;
		}
		if (e->u32[a->type] != a->v)
			return false;
		seen |= (uint16_t)(1u << a->type);
	}
	return e->has == seen;
}

/* 0: as expected; 1: only the DNAT target differs; -1: otherwise. */
static int
want_value(
    const struct rules_expr *e, enum want_val v, const struct rules_spec *s)
{
	uint16_t imds_port = htons(s->imds_port), port = htons(s->port);
	uint8_t tcp = IPPROTO_TCP;
	const void *p = NULL;
	size_t n = 0;

	if (e->has_verdict || e->data_long)
		return -1;
	switch (v) {
	case WV_NONE:
		return e->datalen == 0 ? 0 : -1;
	case WV_IMDS_IP:
		p = &s->imds_ip.s_addr, n = 4;
		break;
	case WV_TCP:
		p = &tcp, n = 1;
		break;
	case WV_IMDS_PORT:
		p = &imds_port, n = 2;
		break;
	case WV_NODE_IP:
		p = s->node_ip.s_addr != 0 ? &s->node_ip.s_addr : NULL, n = 4;
		break;
	case WV_PORT:
		p = s->port != 0 ? &port : NULL, n = 2;
		break;
	}
	if (e->datalen != n)
		return -1;
	if (p == NULL || memcmp(e->data, p, n) == 0)
		return 0;
	return v == WV_NODE_IP || v == WV_PORT ? 1 : -1;
}

/* The DNAT target of a rule of the expected shape, as "a.b.c.d:port". */
static void
rule_target(const struct rules_rule *r, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN] = "?";
	uint16_t port;

	inet_ntop(AF_INET, r->expr[6].data, a, sizeof(a));
	memcpy(&port, r->expr[7].data, 2);
	snprintf(buf, len, "%s:%u", a, ntohs(port));
}

static enum rules_verdict
check_rule(const struct rules_spec *s, struct rules_state *st)
{
	const struct rules_rule *r = &st->rule[0];
	char got[32], exp[32], a[INET_ADDRSTRLEN];
	bool target = false;
	unsigned i;
	int v;

	if (strcmp(r->chain, RULES_CHAIN) != 0 || r->nexprs != WANT_EXPRS ||
	    r->kept != WANT_EXPRS) {
		snprintf(st->why, sizeof(st->why),
		    "the rule has %u expressions, expected %u", r->nexprs,
		    WANT_EXPRS);
		return RULES_WRONG_RULE;
	}
	for (i = 0; i < WANT_EXPRS; i++) {
		v = want_value(&r->expr[i], want[i].val, s);
		if (strcmp(r->expr[i].name, want[i].name) != 0 ||
		    !want_attrs(&r->expr[i], &want[i]) || v < 0) {
			snprintf(st->why, sizeof(st->why),
			    "expression %u (%s) of the rule differs", i + 1,
			    r->expr[i].name);
			return RULES_WRONG_RULE;
		}
		target |= v == 1;
	}
	if (!target)
		return RULES_MATCH;
	rule_target(r, got, sizeof(got));
	inet_ntop(AF_INET, &s->node_ip, a, sizeof(a));
	snprintf(exp, sizeof(exp), "%s:%u", a, s->port);
	snprintf(st->why, sizeof(st->why), "the rule dnats to %s, expected %s",
	    got, exp);
	return RULES_WRONG_TARGET;
}

static enum rules_verdict
check_chain(struct rules_state *st)
{
	if (!st->chain) {
		snprintf(st->why, sizeof(st->why), "no chain %s in table ip %s",
		    RULES_CHAIN, RULES_TABLE);
		return RULES_NO_CHAIN;
	}
	if (!st->chain_base || st->hooknum != NF_INET_PRE_ROUTING ||
	    st->priority != RULES_PRIORITY) {
		snprintf(st->why, sizeof(st->why),
		    "chain %s hooks %s at priority %d, expected prerouting at "
		    "%d",
		    RULES_CHAIN,
		    st->chain_base ? hook_name(st->hooknum) : "none",
		    (int)st->priority, RULES_PRIORITY);
		return RULES_WRONG_HOOK;
	}
	if (strcmp(st->type, "nat") != 0 || !st->has_policy ||
	    st->policy != NF_ACCEPT) {
		snprintf(st->why, sizeof(st->why),
		    "chain %s is type %s with policy %s, expected nat, accept",
		    RULES_CHAIN, st->type,
		    st->has_policy && st->policy == NF_ACCEPT ? "accept"
		                                              : "other");
		return RULES_WRONG_TYPE;
	}
	return RULES_MATCH;
}

static enum rules_verdict
check(const struct rules_spec *s, struct rules_state *st)
{
	enum rules_verdict v;

	if (!st->table) {
		snprintf(
		    st->why, sizeof(st->why), "no table ip %s", RULES_TABLE);
		return RULES_NO_TABLE;
	}
	if (st->table_flags != 0) {
		snprintf(st->why, sizeof(st->why),
		    "table ip %s has flags 0x%x (1: dormant)", RULES_TABLE,
		    st->table_flags);
		return RULES_TABLE_FLAGS;
	}
	if ((v = check_chain(st)) != RULES_MATCH)
		return v;
	if (st->table_use != 1) {
		snprintf(st->why, sizeof(st->why),
		    "table ip %s holds %u chains, sets or objects, expected 1",
		    RULES_TABLE, st->table_use);
		return RULES_TABLE_EXTRA;
	}
	if (st->nrules == 0) {
		snprintf(st->why, sizeof(st->why), "chain %s has no rule",
		    RULES_CHAIN);
		return RULES_NO_RULE;
	}
	if ((v = check_rule(s, st)) != RULES_MATCH)
		return v;
	if (st->nrules > 1) {
		snprintf(st->why, sizeof(st->why),
		    "chain %s has %u rules, expected 1", RULES_CHAIN,
		    st->nrules);
		return RULES_EXTRA_RULES;
	}
	return RULES_MATCH;
}

enum rules_verdict
rules_check(const struct rules_spec *spec, struct rules_state *st)
{
	st->why[0] = '\0';
	st->verdict = check(spec, st);
	if (st->verdict == RULES_MATCH)
		snprintf(
		    st->why, sizeof(st->why), "the ruleset is as expected");
	return st->verdict;
}

/* ---- printing ---- */

/* As nft prints it: a standard name within 10, else the number. */
static void
prio_str(uint32_t hook, int32_t prio, char *buf, size_t len)
{
	static const struct {
		const char *name;
		int32_t prio;
		int hook; /* -1: any */
	} std[] = {{"raw", -300, -1}, {"mangle", -150, -1},
	    {"dstnat", -100, NF_INET_PRE_ROUTING}, {"filter", 0, -1},
	    {"security", 50, -1}, {"srcnat", 100, NF_INET_POST_ROUTING}};
	size_t i;
	int64_t off;

	for (i = 0; i < sizeof(std) / sizeof(*std); i++) {
		if (std[i].hook != -1 && (uint32_t)std[i].hook != hook)
			continue;
		off = (int64_t)prio - std[i].prio;
		if (off == 0)
			snprintf(buf, len, "%s", std[i].name);
		else if (off >= -10 && off <= 10)
			snprintf(buf, len, "%s %c %d", std[i].name,
			    off < 0 ? '-' : '+', (int)(off < 0 ? -off : off));
		else
			continue;
		return;
	}
	snprintf(buf, len, "%d", (int)prio);
}

/* A rule being printed: words separated by one space. */
struct pr {
	FILE *f;
	const struct rules_rule *r;
	unsigned i; /* next expression */
	bool words; /* something printed already */
	bool l4tcp; /* a "meta l4proto tcp" dependency was seen */
};

static void pr_word(struct pr *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
pr_word(struct pr *p, const char *fmt, ...)
{
	va_list ap;

	if (p->words)
		fputc(' ', p->f);
	p->words = true;
	va_start(ap, fmt);
	vfprintf(p->f, fmt, ap);
	va_end(ap);
}

static bool
expr_is(const struct rules_expr *e, const char *name)
{
	return strcmp(e->name, name) == 0;
}

static uint32_t
ex(const struct rules_expr *e, unsigned type)
{
	return (e->has & (1u << type)) ? e->u32[type] : UINT32_MAX;
}

/* The expression as nft --debug=netlink shows it, roughly. */
static void
pr_raw(struct pr *p, const struct rules_expr *e)
{
	unsigned t;

	pr_word(p, "[ %s", e->name[0] ? e->name : "?");
	for (t = 0; t < RULES_EXPR_ATTRS; t++)
		if (e->has & (1u << t))
			fprintf(p->f, " %u=%u", t, e->u32[t]);
	if (e->datalen > 0)
		fprintf(p->f, " 0x");
	for (t = 0; t < e->datalen; t++)
		fprintf(p->f, "%02x", e->data[t]);
	if (e->has_verdict)
		fprintf(p->f, " verdict %d", (int)e->verdict);
	fprintf(p->f, " ]");
}

static const char *
cmp_op(uint32_t op)
{
	static const char *const ops[] = {"", "!= ", "< ", "<= ", "> ", ">= "};

	return op < sizeof(ops) / sizeof(*ops) ? ops[op] : "? ";
}

/* A value: an address, a port, a protocol, or hex. */
static void
pr_value(
    struct pr *p, const char *what, uint32_t op, const struct rules_expr *c)
{
	char a[INET_ADDRSTRLEN];
	uint16_t port;
	unsigned i;

	if (c->datalen == 4 && strstr(what, "addr") != NULL) {
		inet_ntop(AF_INET, c->data, a, sizeof(a));
		pr_word(p, "%s %s%s", what, cmp_op(op), a);
	} else if (c->datalen == 2 && strstr(what, "port") != NULL) {
		memcpy(&port, c->data, 2);
		pr_word(p, "%s %s%u", what, cmp_op(op), ntohs(port));
	} else {
		pr_word(p, "%s %s0x", what, cmp_op(op));
		for (i = 0; i < c->datalen; i++)
			fprintf(p->f, "%02x", c->data[i]);
	}
}

/* payload load + cmp on the same register: "ip daddr X", "tcp dport N". */
static bool
pr_match(struct pr *p, const struct rules_expr *l, const struct rules_expr *c)
{
	static const struct {
		uint32_t base, off, len;
		const char *what;
	} f[] = {{NFT_PAYLOAD_NETWORK_HEADER, 12, 4, "ip saddr"},
	    {NFT_PAYLOAD_NETWORK_HEADER, 16, 4, "ip daddr"},
	    {NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2, "sport"},
	    {NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, "dport"}};
	char what[16];
	size_t i;

	if (!expr_is(c, "cmp") || c->has_verdict ||
	    ex(c, NFTA_CMP_SREG) != ex(l, NFTA_PAYLOAD_DREG))
		return false;
	for (i = 0; i < sizeof(f) / sizeof(*f); i++) {
		if (ex(l, NFTA_PAYLOAD_BASE) != f[i].base ||
		    ex(l, NFTA_PAYLOAD_OFFSET) != f[i].off ||
		    ex(l, NFTA_PAYLOAD_LEN) != f[i].len)
			continue;
		snprintf(what, sizeof(what), "%s%s",
		    f[i].base == NFT_PAYLOAD_NETWORK_HEADER ? ""
		        : p->l4tcp                          ? "tcp "
		                                            : "th ",
		    f[i].what);
		pr_value(p, what, ex(c, NFTA_CMP_OP), c);
		return true;
	}
	return false;
}

/* meta l4proto + cmp eq: a dependency nft folds into "tcp dport". */
static bool
pr_l4proto(struct pr *p, const struct rules_expr *m, const struct rules_expr *c)
{
	const struct rules_expr *next;

	if (ex(m, NFTA_META_KEY) != NFT_META_L4PROTO || !expr_is(c, "cmp") ||
	    ex(c, NFTA_CMP_SREG) != ex(m, NFTA_META_DREG) ||
	    ex(c, NFTA_CMP_OP) != NFT_CMP_EQ || c->datalen != 1)
		return false;
	next = p->i + 2 < p->r->kept ? &p->r->expr[p->i + 2] : NULL;
	if (c->data[0] == IPPROTO_TCP && next != NULL &&
	    expr_is(next, "payload") &&
	    ex(next, NFTA_PAYLOAD_BASE) == NFT_PAYLOAD_TRANSPORT_HEADER)
		p->l4tcp = true;
	else if (c->data[0] == IPPROTO_TCP)
		pr_word(p, "meta l4proto tcp");
	else if (c->data[0] == IPPROTO_UDP)
		pr_word(p, "meta l4proto udp");
	else
		pr_word(p, "meta l4proto %u", c->data[0]);
	return true;
}

/* immediate(s) + nat: "dnat to A:P". */
static unsigned
pr_nat(struct pr *p)
{
	const struct rules_expr *e = p->r->expr, *n;
	char a[INET_ADDRSTRLEN] = "", port[8] = "";
	unsigned j = p->i, k;
	uint16_t v;

	while (
	    j < p->r->kept && expr_is(&e[j], "immediate") && !e[j].has_verdict)
		j++;
	if (j >= p->r->kept || !expr_is(&e[j], "nat"))
		return 0;
	n = &e[j];
	for (k = p->i; k < j; k++) {
		uint32_t reg = ex(&e[k], NFTA_IMMEDIATE_DREG);

		if (reg == ex(n, NFTA_NAT_REG_ADDR_MIN) && e[k].datalen == 4)
			inet_ntop(AF_INET, e[k].data, a, sizeof(a));
		else if (reg == ex(n, NFTA_NAT_REG_PROTO_MIN) &&
		    e[k].datalen == 2) {
			memcpy(&v, e[k].data, 2);
			snprintf(port, sizeof(port), ":%u", ntohs(v));
		} else
			return 0;
	}
	pr_word(p, "%s to %s%s",
	    ex(n, NFTA_NAT_TYPE) == NFT_NAT_DNAT ? "dnat" : "snat", a, port);
	return j + 1 - p->i;
}

static bool
pr_verdict(struct pr *p, const struct rules_expr *e)
{
	if (!e->has_verdict)
		return false;
	switch (e->verdict) {
	case NF_ACCEPT:
		pr_word(p, "accept");
		break;
	case NF_DROP:
		pr_word(p, "drop");
		break;
	case NFT_RETURN:
		pr_word(p, "return");
		break;
	case NFT_CONTINUE:
		pr_word(p, "continue");
		break;
	case NFT_JUMP:
		pr_word(p, "jump %s", e->vchain);
		break;
	case NFT_GOTO:
		pr_word(p, "goto %s", e->vchain);
		break;
	default:
		return false;
	}
	return true;
}

/* Prints the group starting at p->i; returns how many it took. */
static unsigned
pr_group(struct pr *p)
{
	const struct rules_expr *e = &p->r->expr[p->i];
	const struct rules_expr *next =
	    p->i + 1 < p->r->kept ? &p->r->expr[p->i + 1] : NULL;
	unsigned n;

	if (expr_is(e, "payload") && next && pr_match(p, e, next))
		return 2;
	if (expr_is(e, "meta") && next && pr_l4proto(p, e, next))
		return 2;
	if (expr_is(e, "immediate") && (n = pr_nat(p)) > 0)
		return n;
	if (expr_is(e, "immediate") && pr_verdict(p, e))
		return 1;
	if (expr_is(e, "counter")) {
		pr_word(p, "counter");
		return 1;
	}
	pr_raw(p, e);
	return 1;
}

static void
pr_rule(FILE *f, const struct rules_rule *r)
{
	struct pr p = {f, r, 0, false, false};

	fputs("\t\t", f);
	while (p.i < r->kept)
		p.i += pr_group(&p);
	if (r->nexprs > r->kept)
		pr_word(&p, "# %u more expressions", r->nexprs - r->kept);
	fputc('\n', f);
}

static void
pr_chain(FILE *f, const struct rules_state *st, const char *name, bool ours)
{
	char prio[32];
	unsigned i;

	fprintf(f, "\tchain %s {\n", name);
	if (ours && st->chain_base) {
		prio_str(st->hooknum, st->priority, prio, sizeof(prio));
		fprintf(f, "\t\ttype %s hook %s priority %s; policy %s;\n",
		    st->type, hook_name(st->hooknum), prio,
		    st->policy == NF_ACCEPT ? "accept" : "drop");
	}
	for (i = 0; i < st->kept; i++)
		if (strcmp(st->rule[i].chain, name) == 0)
			pr_rule(f, &st->rule[i]);
	fputs("\t}\n", f);
}

/* Chains named only by their rules, each once, after ours. */
static void
pr_other_chains(FILE *f, const struct rules_state *st, bool *any)
{
	unsigned i, j;

	for (i = 0; i < st->kept; i++) {
		const char *c = st->rule[i].chain;

		if (strcmp(c, RULES_CHAIN) == 0 && st->chain)
			continue;
		for (j = 0; j < i; j++)
			if (strcmp(st->rule[j].chain, c) == 0)
				break;
		if (j < i)
			continue;
		fputs(*any ? "\n" : "", f);
		pr_chain(f, st, c, false);
		*any = true;
	}
}

int
rules_print(FILE *f, const struct rules_state *st)
{
	bool any = false;

	if (!st->table)
		return 0;
	fprintf(f, "table ip %s {\n", RULES_TABLE);
	if (st->table_flags & NFT_TABLE_F_DORMANT)
		fprintf(f, "\tflags dormant\n%s", st->chain ? "\n" : "");
	if (st->chain) {
		pr_chain(f, st, RULES_CHAIN, true);
		any = true;
	}
	pr_other_chains(f, st, &any);
	if (st->nrules > st->kept)
		fprintf(
		    f, "\t# %u more rules not shown\n", st->nrules - st->kept);
	fputs("}\n", f);
	return ferror(f) ? -1 : 0;
}

/* ---- names ---- */

const char *
rules_strerror(int err)
{
	static const char *const names[] = {
	    [-RULES_E_NOSPACE] = "request does not fit its buffer",
	    [-RULES_E_MALFORMED] = "malformed netlink answer",
	    [-RULES_E_TOOBIG] = "netlink answer too large",
	    [-RULES_E_SOCKET] = "netlink socket",
	    [-RULES_E_IO] = "netlink i/o",
	    [-RULES_E_TIMEOUT] = "no answer from the kernel",
	    [-RULES_E_KERNEL] = "refused by the kernel",
	    [-RULES_E_CHANGED] = "ruleset kept changing during the dump",
	    [-RULES_E_SPEC] = "zero address or port",
	};

	if (err < 0 && -err < (int)(sizeof(names) / sizeof(*names)) &&
	    names[-err] != NULL)
		return names[-err];
	return "unknown error";
}

const char *
rules_verdict_name(enum rules_verdict v)
{
	static const char *const names[] = {
	    [RULES_MATCH] = "match",
	    [RULES_NO_TABLE] = "no table",
	    [RULES_TABLE_FLAGS] = "table flags",
	    [RULES_NO_CHAIN] = "no chain",
	    [RULES_WRONG_HOOK] = "wrong hook",
	    [RULES_WRONG_TYPE] = "wrong type",
	    [RULES_TABLE_EXTRA] = "extra objects",
	    [RULES_NO_RULE] = "no rule",
	    [RULES_WRONG_RULE] = "wrong rule",
	    [RULES_WRONG_TARGET] = "wrong target",
	    [RULES_EXTRA_RULES] = "extra rules",
	};

	if ((unsigned)v < sizeof(names) / sizeof(*names))
		return names[v];
	return "unknown";
}
