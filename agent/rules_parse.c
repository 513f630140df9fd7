/*
 * rules: the answers.  Pure, push-style parsers of what the kernel sends
 * back: the nf_tables dump of table ip podid (into struct rules_state) and
 * a conntrack dump (one entry at a time).  No syscall, allocation or
 * global; what must outlive the caller's buffer is copied into fixed
 * slots.  Anything not about table ip podid is skipped, so a dump that
 * meets others' tables is fine.
 *
 * Messages are taken whole, padding included (the kernel pads each one);
 * a nlmsg_len over LIM_RULES_RECV_BYTES can never arrive complete and is
 * an error rather than an endless "need more".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include "agent/rules.h"
#include "agent/rules_int.h"

/*
 * The next attribute of p[0..len) at *off: 1 with *a, 0 at the end, -1
 * when malformed.  A last attribute may omit its padding.
 */
int
rules_nla_next(const uint8_t *p, size_t len, size_t *off, struct rules_nla *a)
{
	struct nlattr h;
	size_t adv;

	if (*off >= len)
		return 0;
	if (len - *off < NLA_HDRLEN)
		return -1;
	memcpy(&h, p + *off, sizeof(h));
	if (h.nla_len < NLA_HDRLEN || h.nla_len > len - *off)
		return -1;
	a->type = h.nla_type & NLA_TYPE_MASK;
	a->p = p + *off + NLA_HDRLEN;
	a->len = h.nla_len - NLA_HDRLEN;
	adv = NLA_ALIGN(h.nla_len);
	*off += adv < len - *off ? adv : len - *off;
	return 1;
}

bool
rules_nla_u32(const struct rules_nla *a, uint32_t *v)
{
	if (a->len != 4)
		return false;
	memcpy(v, a->p, 4);
	*v = ntohl(*v);
	return true;
}

/* Copies a string attribute, truncated to cap - 1; true when it fit. */
bool
rules_nla_str(const struct rules_nla *a, char *dst, size_t cap)
{
	size_t n = strnlen((const char *)a->p, a->len);
	bool fit = n < cap;

	if (!fit)
		n = cap - 1;
	memcpy(dst, a->p, n);
	dst[n] = '\0';
	return fit;
}

/* The string attribute equals s exactly (its NUL, if any, excluded). */
bool
rules_nla_is(const struct rules_nla *a, const char *s)
{
	size_t n = strlen(s);

	return strnlen((const char *)a->p, a->len) == n &&
	    memcmp(a->p, s, n) == 0;
}

/*
 * One complete message at p[0..len): 1 with *h, the body and the bytes it
 * spans (aligned), 0 when more bytes are needed, or a negative error.
 */
int
rules_nlmsg(const uint8_t *p, size_t len, struct nlmsghdr *h,
    const uint8_t **body, size_t *blen, size_t *span)
{
	if (len < NLMSG_HDRLEN)
		return 0;
	memcpy(h, p, sizeof(*h));
	if (h->nlmsg_len < NLMSG_HDRLEN)
		return RULES_E_MALFORMED;
	if (h->nlmsg_len > LIM_RULES_RECV_BYTES)
		return RULES_E_TOOBIG;
	if (NLMSG_ALIGN(h->nlmsg_len) > len)
		return 0;
	*body = p + NLMSG_HDRLEN;
	*blen = h->nlmsg_len - NLMSG_HDRLEN;
	*span = NLMSG_ALIGN(h->nlmsg_len);
	return 1;
}

/*
 * An NLMSG_ERROR or NLMSG_DONE body: *err (<= 0) and, for errors, the
 * echoed request's type.  -1 when malformed.
 */
int
rules_nlerr(const struct nlmsghdr *h, const uint8_t *body, size_t blen,
    int *err, uint16_t *echoed)
{
	struct nlmsghdr req;

	*echoed = 0;
	if (blen < sizeof(int))
		return -1;
	memcpy(err, body, sizeof(int));
	if (*err > 0 || *err < -4095)
		return -1;
	if (h->nlmsg_type == NLMSG_DONE)
		return 0;
	if (blen < sizeof(int) + NLMSG_HDRLEN)
		return -1;
	memcpy(&req, body + sizeof(int), sizeof(req));
	*echoed = req.nlmsg_type;
	return 0;
}

/* ---- nf_tables dump ---- */

void
rules_state_clear(struct rules_state *st)
{
	memset(st, 0, sizeof(*st));
}

void
rules_dump_init(struct rules_dump *d, struct rules_state *st, uint32_t lo,
    uint32_t hi, unsigned want)
{
	memset(d, 0, sizeof(*d));
	d->st = st;
	d->lo = lo;
	d->hi = hi;
	d->want = want;
}

static int
dump_table(struct rules_state *st, const uint8_t *p, size_t len)
{
	uint32_t flags = 0, use = 0;
	struct rules_nla a;
	bool ours = false;
	size_t off = 0;
	int r;

	while ((r = rules_nla_next(p, len, &off, &a)) > 0) {
		if (a.type == NFTA_TABLE_NAME)
			ours = rules_nla_is(&a, RULES_TABLE);
		else if (a.type == NFTA_TABLE_FLAGS)
			(void)rules_nla_u32(&a, &flags);
		else if (a.type == NFTA_TABLE_USE)
			(void)rules_nla_u32(&a, &use);
	}
	if (r < 0)
		return RULES_E_MALFORMED;
	if (ours) {
		st->table = true;
		st->table_flags = flags;
		st->table_use = use;
	}
	return 0;
}

/* A chain's attributes, kept until its table and name are known. */
struct dump_chain {
	bool table, name, base, has_policy;
	uint32_t hooknum, policy;
	int32_t priority;
	char type[16];
};

static int
dump_hook(struct dump_chain *c, const struct rules_nla *hook)
{
	struct rules_nla a;
	size_t off = 0;
	uint32_t v;
	int r;

	while ((r = rules_nla_next(hook->p, hook->len, &off, &a)) > 0) {
		if (a.type == NFTA_HOOK_HOOKNUM && rules_nla_u32(&a, &v)) {
			c->hooknum = v;
			c->base = true;
		} else if (a.type == NFTA_HOOK_PRIORITY &&
		    rules_nla_u32(&a, &v))
			c->priority = (int32_t)v;
	}
	return r < 0 ? RULES_E_MALFORMED : 0;
}

static int
dump_chain(struct rules_state *st, const uint8_t *p, size_t len)
{
	struct dump_chain c = {0};
	struct rules_nla a;
	size_t off = 0;
	int r;

	while ((r = rules_nla_next(p, len, &off, &a)) > 0) {
		if (a.type == NFTA_CHAIN_TABLE)
			c.table = rules_nla_is(&a, RULES_TABLE);
		else if (a.type == NFTA_CHAIN_NAME)
			c.name = rules_nla_is(&a, RULES_CHAIN);
		else if (a.type == NFTA_CHAIN_HOOK && dump_hook(&c, &a) < 0)
			return RULES_E_MALFORMED;
		else if (a.type == NFTA_CHAIN_POLICY)
			c.has_policy = rules_nla_u32(&a, &c.policy);
		else if (a.type == NFTA_CHAIN_TYPE)
			(void)rules_nla_str(&a, c.type, sizeof(c.type));
	}
	if (r < 0)
		return RULES_E_MALFORMED;
	if (!c.table || !c.name)
		return 0;
	st->chain = true;
	st->chain_base = c.base;
	st->hooknum = c.hooknum;
	st->priority = c.priority;
	st->has_policy = c.has_policy;
	st->policy = c.policy;
	memcpy(st->type, c.type, sizeof(st->type));
	return 0;
}

/* NFTA_DATA_VALUE or NFTA_DATA_VERDICT {code, chain}. */
static int
dump_data(struct rules_expr *e, const struct rules_nla *data)
{
	struct rules_nla a, v;
	size_t off = 0, voff;
	uint32_t code;
	int r, rv;

	while ((r = rules_nla_next(data->p, data->len, &off, &a)) > 0) {
		if (a.type == NFTA_DATA_VALUE) {
			e->data_long = a.len > RULES_EXPR_DATA;
			e->datalen =
			    (uint8_t)(e->data_long ? RULES_EXPR_DATA : a.len);
			memcpy(e->data, a.p, e->datalen);
		}
		if (a.type != NFTA_DATA_VERDICT)
			continue;
		voff = 0;
		while ((rv = rules_nla_next(a.p, a.len, &voff, &v)) > 0) {
			if (v.type == NFTA_VERDICT_CODE &&
			    rules_nla_u32(&v, &code)) {
				e->verdict = (int32_t)code;
				e->has_verdict = true;
			} else if (v.type == NFTA_VERDICT_CHAIN)
				(void)rules_nla_str(
				    &v, e->vchain, sizeof(e->vchain));
		}
		if (rv < 0)
			return RULES_E_MALFORMED;
	}
	return r < 0 ? RULES_E_MALFORMED : 0;
}

/* Every 32-bit attribute by type; cmp and immediate data as values. */
static int
dump_expr_data(struct rules_expr *e, const struct rules_nla *data)
{
	bool cmp = strcmp(e->name, "cmp") == 0;
	bool imm = strcmp(e->name, "immediate") == 0;
	struct rules_nla a;
	size_t off = 0;
	uint32_t v;
	int r;

	while ((r = rules_nla_next(data->p, data->len, &off, &a)) > 0) {
		if ((cmp && a.type == NFTA_CMP_DATA) ||
		    (imm && a.type == NFTA_IMMEDIATE_DATA)) {
			if (dump_data(e, &a) < 0)
				return RULES_E_MALFORMED;
		} else if (a.type < RULES_EXPR_ATTRS && rules_nla_u32(&a, &v)) {
			e->u32[a.type] = v;
			e->has |= (uint16_t)(1u << a.type);
		}
	}
	return r < 0 ? RULES_E_MALFORMED : 0;
}

/* One NFTA_LIST_ELEM {name, data}; the name is needed before the data. */
static int
dump_expr(struct rules_expr *e, const struct rules_nla *elem)
{
	struct rules_nla a, data = {0, NULL, 0};
	size_t off = 0;
	int r;

	while ((r = rules_nla_next(elem->p, elem->len, &off, &a)) > 0) {
		if (a.type == NFTA_EXPR_NAME)
			(void)rules_nla_str(&a, e->name, sizeof(e->name));
		else if (a.type == NFTA_EXPR_DATA)
			data = a;
	}
	if (r < 0)
		return RULES_E_MALFORMED;
	return data.p != NULL ? dump_expr_data(e, &data) : 0;
}

static int
dump_exprs(struct rules_rule *rule, const struct rules_nla *list)
{
	struct rules_nla a;
	size_t off = 0;
	int r;

	while ((r = rules_nla_next(list->p, list->len, &off, &a)) > 0) {
		if (a.type != NFTA_LIST_ELEM)
			continue;
		rule->nexprs++;
		if (rule->kept >= LIM_RULES_EXPRS)
			continue;
		if (dump_expr(&rule->expr[rule->kept], &a) < 0)
			return RULES_E_MALFORMED;
		rule->kept++;
	}
	return r < 0 ? RULES_E_MALFORMED : 0;
}

static uint64_t
dump_be64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int
dump_rule(struct rules_state *st, const uint8_t *p, size_t len)
{
	struct rules_nla a, chain = {0, NULL, 0}, list = {0, NULL, 0};
	struct rules_rule *rule;
	uint64_t handle = 0;
	bool ours = false;
	size_t off = 0;
	int r;

	while ((r = rules_nla_next(p, len, &off, &a)) > 0) {
		if (a.type == NFTA_RULE_TABLE)
			ours = rules_nla_is(&a, RULES_TABLE);
		else if (a.type == NFTA_RULE_CHAIN)
			chain = a;
		else if (a.type == NFTA_RULE_EXPRESSIONS)
			list = a;
		else if (a.type == NFTA_RULE_HANDLE && a.len == 8)
			handle = dump_be64(a.p);
	}
	if (r < 0)
		return RULES_E_MALFORMED;
	if (!ours)
		return 0;
	st->nrules++;
	if (st->kept >= LIM_RULES_RULES)
		return 0;
	rule = &st->rule[st->kept];
	memset(rule, 0, sizeof(*rule));
	rule->handle = handle;
	if (chain.p != NULL)
		(void)rules_nla_str(&chain, rule->chain, sizeof(rule->chain));
	if (list.p != NULL && dump_exprs(rule, &list) < 0)
		return RULES_E_MALFORMED;
	st->kept++;
	return 0;
}

/* Absences the state records: a GET of a missing table or chain. */
static bool
dump_is_get(uint16_t type)
{
	return type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE) ||
	    type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETCHAIN) ||
	    type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETRULE);
}

static int
dump_end(
    struct rules_dump *d, const struct nlmsghdr *h, const uint8_t *b, size_t n)
{
	uint16_t echoed;
	int err;

	if (rules_nlerr(h, b, n, &err, &echoed) < 0)
		return RULES_E_MALFORMED;
	d->got++;
	if (err == -ENOENT && dump_is_get(echoed))
		err = 0;
	if (err < 0 && d->kerr == 0) {
		d->kerr = -err;
		d->kseq = h->nlmsg_seq;
	}
	/* A refused batch begin or end is the only answer there will be. */
	if (d->got >= d->want ||
	    (err < 0 && (h->nlmsg_seq == d->lo || h->nlmsg_seq == d->hi)))
		d->done = true;
	return 0;
}

static int
dump_msg(
    struct rules_dump *d, const struct nlmsghdr *h, const uint8_t *b, size_t n)
{
	if (h->nlmsg_seq < d->lo || h->nlmsg_seq > d->hi)
		return 0; /* a late answer to an earlier exchange */
	if (h->nlmsg_flags & NLM_F_DUMP_INTR)
		d->intr = true;
	if (h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type == NLMSG_DONE)
		return dump_end(d, h, b, n);
	if ((h->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES)
		return 0;
	if (n < sizeof(struct nfgenmsg))
		return RULES_E_MALFORMED;
	if (b[0] != NFPROTO_IPV4)
		return 0;
	b += sizeof(struct nfgenmsg);
	n -= sizeof(struct nfgenmsg);
	switch (h->nlmsg_type & 0xff) {
	case NFT_MSG_NEWTABLE:
		return dump_table(d->st, b, n);
	case NFT_MSG_NEWCHAIN:
		return dump_chain(d->st, b, n);
	case NFT_MSG_NEWRULE:
		return dump_rule(d->st, b, n);
	default:
		return 0;
	}
}

ssize_t
rules_dump_feed(struct rules_dump *d, const void *buf, size_t len)
{
	const uint8_t *p = buf, *body;
	struct nlmsghdr h;
	size_t off = 0, blen, span;
	int r;

	while ((r = rules_nlmsg(p + off, len - off, &h, &body, &blen, &span)) >
	    0) {
		if ((r = dump_msg(d, &h, body, blen)) < 0)
			return r;
		off += span;
	}
	return r < 0 ? r : (ssize_t)off;
}

/* ---- conntrack dump ---- */

void
rules_ct_init(
    struct rules_ct *c, uint32_t seq, struct in_addr dst, uint16_t dport)
{
	memset(c, 0, sizeof(*c));
	c->seq = seq;
	c->dst = dst;
	c->dport = dport;
}

#define CT_HAS_SRC   0x01
#define CT_HAS_DST   0x02
#define CT_HAS_PROTO 0x04
#define CT_HAS_SPORT 0x08
#define CT_HAS_DPORT 0x10
#define CT_HAS_ALL   0x1f

static int
ct_ip(struct rules_ct_entry *e, const struct rules_nla *ip, unsigned *has)
{
	struct rules_nla a;
	size_t off = 0;
	int r;

	while ((r = rules_nla_next(ip->p, ip->len, &off, &a)) > 0) {
		if (a.type == CTA_IP_V4_SRC && a.len == 4) {
			memcpy(&e->src.s_addr, a.p, 4);
			*has |= CT_HAS_SRC;
		} else if (a.type == CTA_IP_V4_DST && a.len == 4) {
			memcpy(&e->dst.s_addr, a.p, 4);
			*has |= CT_HAS_DST;
		}
	}
	return r < 0 ? RULES_E_MALFORMED : 0;
}

static int
ct_proto(struct rules_ct_entry *e, const struct rules_nla *pr, unsigned *has)
{
	struct rules_nla a;
	size_t off = 0;
	uint16_t port;
	int r;

	while ((r = rules_nla_next(pr->p, pr->len, &off, &a)) > 0) {
		if (a.type == CTA_PROTO_NUM && a.len == 1) {
			e->proto = a.p[0];
			*has |= CT_HAS_PROTO;
		}
		if ((a.type != CTA_PROTO_SRC_PORT &&
		        a.type != CTA_PROTO_DST_PORT) ||
		    a.len != 2)
			continue;
		memcpy(&port, a.p, 2);
		if (a.type == CTA_PROTO_SRC_PORT)
			e->sport = ntohs(port);
		else
			e->dport = ntohs(port);
		*has |=
		    a.type == CTA_PROTO_SRC_PORT ? CT_HAS_SPORT : CT_HAS_DPORT;
	}
	return r < 0 ? RULES_E_MALFORMED : 0;
}

static int
ct_tuple(struct rules_ct_entry *e, const struct rules_nla *t, unsigned *has)
{
	struct rules_nla a;
	size_t off = 0;
	int r;

	while ((r = rules_nla_next(t->p, t->len, &off, &a)) > 0) {
		if (a.type == CTA_TUPLE_IP && ct_ip(e, &a, has) < 0)
			return RULES_E_MALFORMED;
		if (a.type == CTA_TUPLE_PROTO && ct_proto(e, &a, has) < 0)
			return RULES_E_MALFORMED;
	}
	return r < 0 ? RULES_E_MALFORMED : 0;
}

/* Returns the CT_HAS_* bits of the original tuple, or an error. */
static int
ct_entry(struct rules_ct_entry *e, const uint8_t *p, size_t len)
{
	struct rules_nla a;
	unsigned has = 0;
	size_t off = 0;
	uint16_t zone;
	int r;

	memset(e, 0, sizeof(*e));
	while ((r = rules_nla_next(p, len, &off, &a)) > 0) {
		if (a.type == CTA_TUPLE_ORIG && ct_tuple(e, &a, &has) < 0)
			return RULES_E_MALFORMED;
		else if (a.type == CTA_STATUS)
			(void)rules_nla_u32(&a, &e->status);
		else if (a.type == CTA_ID)
			e->has_id = rules_nla_u32(&a, &e->id);
		else if (a.type == CTA_ZONE && a.len == 2) {
			memcpy(&zone, a.p, 2);
			e->zone = ntohs(zone);
		}
	}
	return r < 0 ? RULES_E_MALFORMED : (int)has;
}

static bool
ct_wanted(const struct rules_ct *c, const struct rules_ct_entry *e, int has)
{
	return has == CT_HAS_ALL && e->proto == IPPROTO_TCP &&
	    e->dst.s_addr == c->dst.s_addr && e->dport == c->dport &&
	    !(e->status & IPS_DST_NAT);
}

ssize_t
rules_ct_feed(struct rules_ct *c, const void *buf, size_t len)
{
	const uint8_t *body;
	struct nlmsghdr h;
	size_t blen, span;
	uint16_t echoed;
	int r, err;

	c->matched = false;
	if ((r = rules_nlmsg(buf, len, &h, &body, &blen, &span)) <= 0)
		return r;
	if (h.nlmsg_seq != c->seq)
		return (ssize_t)span;
	if (h.nlmsg_type == NLMSG_ERROR || h.nlmsg_type == NLMSG_DONE) {
		if (rules_nlerr(&h, body, blen, &err, &echoed) < 0)
			return RULES_E_MALFORMED;
		c->kerr = -err;
		c->done = true;
		return (ssize_t)span;
	}
	if (h.nlmsg_type != ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW))
		return (ssize_t)span;
	if (blen < sizeof(struct nfgenmsg))
		return RULES_E_MALFORMED;
	if (body[0] != AF_INET)
		return (ssize_t)span;
	r = ct_entry(&c->hit, body + sizeof(struct nfgenmsg),
	    blen - sizeof(struct nfgenmsg));
	if (r < 0)
		return r;
	c->seen++;
	c->matched = ct_wanted(c, &c->hit, r);
	return (ssize_t)span;
}
