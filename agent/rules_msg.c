/*
 * rules: the requests.  Netlink messages are built into caller buffers
 * with no syscall, allocation or global, so tests compare them byte for
 * byte.
 *
 * Buffers may be unaligned (tests put them against a guard page), so
 * every header goes through memcpy, never through a cast pointer.
 * Attributes nest with NLA_F_NESTED set (the kernel dumps nests without
 * it: rules_parse.c masks the flag bits off).
 */
#include <arpa/inet.h>
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

/* ---- building ---- */

/* Reserves n bytes (aligned, zeroed); NULL and sticky full when over. */
static size_t
rb_put(struct rules_buf *b, size_t n)
{
	size_t a = NLA_ALIGN(n), at = b->len;

	if (b->full || a > b->cap - b->len) {
		b->full = true;
		return RULES_BUF_FULL;
	}
	memset(b->p + at, 0, a);
	b->len += a;
	return at;
}

void
rules_attr(struct rules_buf *b, uint16_t type, const void *data, size_t len)
{
	struct nlattr a = {(uint16_t)(NLA_HDRLEN + len), type};
	size_t at = rb_put(b, NLA_HDRLEN + len);

	if (at == RULES_BUF_FULL)
		return;
	memcpy(b->p + at, &a, sizeof(a));
	if (len > 0)
		memcpy(b->p + at + NLA_HDRLEN, data, len);
}

void
rules_attr_u32(struct rules_buf *b, uint16_t type, uint32_t v)
{
	v = htonl(v);
	rules_attr(b, type, &v, sizeof(v));
}

void
rules_attr_str(struct rules_buf *b, uint16_t type, const char *s)
{
	rules_attr(b, type, s, strlen(s) + 1);
}

size_t
rules_nest_begin(struct rules_buf *b, uint16_t type)
{
	size_t at = b->len;

	rules_attr(b, type | NLA_F_NESTED, NULL, 0);
	return at;
}

/* Sets the nest's length to everything added since its begin. */
void
rules_nest_end(struct rules_buf *b, size_t at)
{
	uint16_t l;

	if (b->full)
		return;
	l = (uint16_t)(b->len - at);
	memcpy(b->p + at, &l, sizeof(l));
}

size_t
rules_msg_begin(struct rules_buf *b, uint16_t type, uint16_t flags,
    uint32_t seq, uint8_t family, uint16_t res_id)
{
	struct nlmsghdr h = {0, type, flags, seq, 0};
	struct nfgenmsg g = {family, NFNETLINK_V0, htons(res_id)};
	size_t at = rb_put(b, NLMSG_HDRLEN + sizeof(g));

	if (at == RULES_BUF_FULL)
		return at;
	memcpy(b->p + at, &h, sizeof(h));
	memcpy(b->p + at + NLMSG_HDRLEN, &g, sizeof(g));
	return at;
}

void
rules_msg_end(struct rules_buf *b, size_t at)
{
	uint32_t l;

	if (b->full)
		return;
	l = (uint32_t)(b->len - at);
	memcpy(b->p + at, &l, sizeof(l));
}

/* An nf_tables message (ip family) with its header only. */
static size_t
rb_nft(struct rules_buf *b, uint16_t msg, uint16_t flags, uint32_t seq)
{
	return rules_msg_begin(b, (NFNL_SUBSYS_NFTABLES << 8) | msg,
	    NLM_F_REQUEST | flags, seq, NFPROTO_IPV4, 0);
}

static void
rb_batch(struct rules_buf *b, uint16_t type, uint32_t seq)
{
	size_t at = rules_msg_begin(
	    b, type, NLM_F_REQUEST, seq, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);

	rules_msg_end(b, at);
}

static void
rb_table(struct rules_buf *b, uint16_t msg, uint16_t flags, uint32_t seq)
{
	size_t at = rb_nft(b, msg, flags | NLM_F_ACK, seq);

	rules_attr_str(b, NFTA_TABLE_NAME, RULES_TABLE);
	rules_msg_end(b, at);
}

static void
rb_chain(struct rules_buf *b, uint32_t seq)
{
	size_t at = rb_nft(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_ACK, seq);
	size_t hook;

	rules_attr_str(b, NFTA_CHAIN_TABLE, RULES_TABLE);
	rules_attr_str(b, NFTA_CHAIN_NAME, RULES_CHAIN);
	hook = rules_nest_begin(b, NFTA_CHAIN_HOOK);
	rules_attr_u32(b, NFTA_HOOK_HOOKNUM, NF_INET_PRE_ROUTING);
	rules_attr_u32(b, NFTA_HOOK_PRIORITY, (uint32_t)RULES_PRIORITY);
	rules_nest_end(b, hook);
	rules_attr_u32(b, NFTA_CHAIN_POLICY, NF_ACCEPT);
	rules_attr_str(b, NFTA_CHAIN_TYPE, "nat");
	rules_msg_end(b, at);
}

/* The opening of one NFTA_LIST_ELEM: name, then the data nest. */
struct rb_expr {
	size_t elem, data;
};

static struct rb_expr
rb_expr_begin(struct rules_buf *b, const char *name)
{
	struct rb_expr e;

	e.elem = rules_nest_begin(b, NFTA_LIST_ELEM);
	rules_attr_str(b, NFTA_EXPR_NAME, name);
	e.data = rules_nest_begin(b, NFTA_EXPR_DATA);
	return e;
}

static void
rb_expr_end(struct rules_buf *b, struct rb_expr e)
{
	rules_nest_end(b, e.data);
	rules_nest_end(b, e.elem);
}

/* payload load len bytes at base + offset => reg 1 */
static void
rb_payload(struct rules_buf *b, uint32_t base, uint32_t offset, uint32_t len)
{
	struct rb_expr e = rb_expr_begin(b, "payload");

	rules_attr_u32(b, NFTA_PAYLOAD_DREG, NFT_REG_1);
	rules_attr_u32(b, NFTA_PAYLOAD_BASE, base);
	rules_attr_u32(b, NFTA_PAYLOAD_OFFSET, offset);
	rules_attr_u32(b, NFTA_PAYLOAD_LEN, len);
	rb_expr_end(b, e);
}

/* A value in a nested NFTA_DATA_VALUE under attribute type. */
static void
rb_value(struct rules_buf *b, uint16_t type, const void *v, size_t len)
{
	size_t at = rules_nest_begin(b, type);

	rules_attr(b, NFTA_DATA_VALUE, v, len);
	rules_nest_end(b, at);
}

/* cmp eq reg 1 v */
static void
rb_cmp(struct rules_buf *b, const void *v, size_t len)
{
	struct rb_expr e = rb_expr_begin(b, "cmp");

	rules_attr_u32(b, NFTA_CMP_SREG, NFT_REG_1);
	rules_attr_u32(b, NFTA_CMP_OP, NFT_CMP_EQ);
	rb_value(b, NFTA_CMP_DATA, v, len);
	rb_expr_end(b, e);
}

static void
rb_meta_l4proto(struct rules_buf *b)
{
	struct rb_expr e = rb_expr_begin(b, "meta");

	rules_attr_u32(b, NFTA_META_KEY, NFT_META_L4PROTO);
	rules_attr_u32(b, NFTA_META_DREG, NFT_REG_1);
	rb_expr_end(b, e);
}

static void
rb_immediate(struct rules_buf *b, uint32_t reg, const void *v, size_t len)
{
	struct rb_expr e = rb_expr_begin(b, "immediate");

	rules_attr_u32(b, NFTA_IMMEDIATE_DREG, reg);
	rb_value(b, NFTA_IMMEDIATE_DATA, v, len);
	rb_expr_end(b, e);
}

/* dnat to reg 1 : reg 2; the kernel derives max registers and flags. */
static void
rb_dnat(struct rules_buf *b)
{
	struct rb_expr e = rb_expr_begin(b, "nat");

	rules_attr_u32(b, NFTA_NAT_TYPE, NFT_NAT_DNAT);
	rules_attr_u32(b, NFTA_NAT_FAMILY, NFPROTO_IPV4);
	rules_attr_u32(b, NFTA_NAT_REG_ADDR_MIN, NFT_REG_1);
	rules_attr_u32(b, NFTA_NAT_REG_PROTO_MIN, NFT_REG_2);
	rb_expr_end(b, e);
}

static bool
rules_spec_ok(const struct rules_spec *s)
{
	return s->node_ip.s_addr != 0 && s->port != 0 &&
	    s->imds_ip.s_addr != 0 && s->imds_port != 0;
}

/* ip daddr IMDS tcp dport IMDS-PORT dnat to NODE:PORT */
static void
rb_exprs(struct rules_buf *b, const struct rules_spec *s)
{
	uint16_t dport = htons(s->imds_port), port = htons(s->port);
	uint8_t tcp = IPPROTO_TCP;
	size_t list = rules_nest_begin(b, NFTA_RULE_EXPRESSIONS);

	rb_payload(b, NFT_PAYLOAD_NETWORK_HEADER, 16, 4);
	rb_cmp(b, &s->imds_ip.s_addr, 4);
	rb_meta_l4proto(b);
	rb_cmp(b, &tcp, 1);
	rb_payload(b, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
	rb_cmp(b, &dport, 2);
	rb_immediate(b, NFT_REG_1, &s->node_ip.s_addr, 4);
	rb_immediate(b, NFT_REG_2, &port, 2);
	rb_dnat(b);
	rules_nest_end(b, list);
}

static ssize_t
rb_result(const struct rules_buf *b)
{
	return b->full ? RULES_E_NOSPACE : (ssize_t)b->len;
}

ssize_t
rules_msg_exprs(void *buf, size_t cap, const struct rules_spec *spec)
{
	struct rules_buf b = {buf, cap, 0, false};

	if (!rules_spec_ok(spec))
		return RULES_E_SPEC;
	rb_exprs(&b, spec);
	return rb_result(&b);
}

/*
 * Add (create, so no EEXIST), delete, add again: whatever the table held
 * (a dormant flag, other chains, a chain at another priority, duplicate
 * rules) is gone, and the commit swaps old for new in one generation, so
 * no packet sees neither.
 */
ssize_t
rules_msg_install(
    void *buf, size_t cap, uint32_t seq, const struct rules_spec *spec)
{
	struct rules_buf b = {buf, cap, 0, false};
	size_t at;

	if (!rules_spec_ok(spec))
		return RULES_E_SPEC;
	rb_batch(&b, NFNL_MSG_BATCH_BEGIN, seq);
	rb_table(&b, NFT_MSG_NEWTABLE, NLM_F_CREATE, seq + 1);
	rb_table(&b, NFT_MSG_DELTABLE, 0, seq + 2);
	rb_table(&b, NFT_MSG_NEWTABLE, NLM_F_CREATE, seq + 3);
	rb_chain(&b, seq + 4);
	at = rb_nft(&b, NFT_MSG_NEWRULE,
	    NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK, seq + 5);
	rules_attr_str(&b, NFTA_RULE_TABLE, RULES_TABLE);
	rules_attr_str(&b, NFTA_RULE_CHAIN, RULES_CHAIN);
	rb_exprs(&b, spec);
	rules_msg_end(&b, at);
	rb_batch(&b, NFNL_MSG_BATCH_END, seq + 6);
	return rb_result(&b);
}

ssize_t
rules_msg_remove(void *buf, size_t cap, uint32_t seq)
{
	struct rules_buf b = {buf, cap, 0, false};

	rb_batch(&b, NFNL_MSG_BATCH_BEGIN, seq);
	rb_table(&b, NFT_MSG_NEWTABLE, NLM_F_CREATE, seq + 1);
	rb_table(&b, NFT_MSG_DELTABLE, 0, seq + 2);
	rb_batch(&b, NFNL_MSG_BATCH_END, seq + 3);
	return rb_result(&b);
}

ssize_t
rules_msg_get(void *buf, size_t cap, uint32_t seq, enum rules_get what)
{
	struct rules_buf b = {buf, cap, 0, false};
	size_t at;

	switch (what) {
	case RULES_GET_TABLE:
		rb_table(&b, NFT_MSG_GETTABLE, 0, seq);
		break;
	case RULES_GET_CHAIN:
		at = rb_nft(&b, NFT_MSG_GETCHAIN, NLM_F_ACK, seq);
		rules_attr_str(&b, NFTA_CHAIN_TABLE, RULES_TABLE);
		rules_attr_str(&b, NFTA_CHAIN_NAME, RULES_CHAIN);
		rules_msg_end(&b, at);
		break;
	case RULES_GET_RULES:
		/* Filtered by table in the kernel: cheap with many tables. */
		at = rb_nft(&b, NFT_MSG_GETRULE, NLM_F_DUMP, seq);
		rules_attr_str(&b, NFTA_RULE_TABLE, RULES_TABLE);
		rules_msg_end(&b, at);
		break;
	}
	return rb_result(&b);
}

ssize_t
rules_msg_ct_dump(void *buf, size_t cap, uint32_t seq)
{
	struct rules_buf b = {buf, cap, 0, false};
	size_t at = rules_msg_begin(&b,
	    (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET,
	    NLM_F_REQUEST | NLM_F_DUMP, seq, AF_INET, 0);

	rules_msg_end(&b, at);
	return rb_result(&b);
}

/* The id makes the kernel refuse (ENOENT) a newer entry on the tuple. */
ssize_t
rules_msg_ct_delete(
    void *buf, size_t cap, uint32_t seq, const struct rules_ct_entry *e)
{
	struct rules_buf b = {buf, cap, 0, false};
	uint16_t sport = htons(e->sport), dport = htons(e->dport);
	uint16_t zone = htons(e->zone);
	size_t at, tuple, n;

	at = rules_msg_begin(&b,
	    (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE,
	    NLM_F_REQUEST | NLM_F_ACK, seq, AF_INET, 0);
	tuple = rules_nest_begin(&b, CTA_TUPLE_ORIG);
	n = rules_nest_begin(&b, CTA_TUPLE_IP);
	rules_attr(&b, CTA_IP_V4_SRC, &e->src.s_addr, 4);
	rules_attr(&b, CTA_IP_V4_DST, &e->dst.s_addr, 4);
	rules_nest_end(&b, n);
	n = rules_nest_begin(&b, CTA_TUPLE_PROTO);
	rules_attr(&b, CTA_PROTO_NUM, &e->proto, 1);
	rules_attr(&b, CTA_PROTO_SRC_PORT, &sport, 2);
	rules_attr(&b, CTA_PROTO_DST_PORT, &dport, 2);
	rules_nest_end(&b, n);
	rules_nest_end(&b, tuple);
	if (e->zone != 0)
		rules_attr(&b, CTA_ZONE, &zone, 2);
	if (e->has_id)
		rules_attr_u32(&b, CTA_ID, e->id);
	rules_msg_end(&b, at);
	return rb_result(&b);
}
