/*
 * agent/rules*.c without a kernel: the requests byte for byte (the rule's
 * expressions against bytes written out by hand here), every builder at
 * its exact size and one byte less, the dump parser on real kernel
 * answers (tests/agent/data/rules/, see its README) and on kernel-shaped
 * messages built here (nests without NLA_F_NESTED, as the kernel dumps
 * them) with one thing changed at a time, each fed whole and byte by
 * byte; the limits at N and N+1; malformed input; the conntrack parser;
 * what rules_print shows.  Inputs and output buffers end against a
 * PROT_NONE page.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include "agent/limits.h"
#include "agent/rules.h"
#include "tests/guard.h"
#include "tests/harness.h"

#define DATA     "tests/agent/data/rules/"
#define GUARD_SZ (1u << 17)
#define NFT(m)   ((NFNL_SUBSYS_NFTABLES << 8) | (m))

static struct rules_state st_a, st_b; /* 22 KiB each: not on the stack */

/* ---- kernel-style messages, built here independently ---- */

struct tb {
	uint8_t b[GUARD_SZ];
	size_t n;
};

static struct tb tb;

static void
tb_attr(struct tb *t, uint16_t type, const void *p, size_t len)
{
	uint16_t l = (uint16_t)(4 + len);

	memcpy(t->b + t->n, &l, 2);
	memcpy(t->b + t->n + 2, &type, 2);
	if (len > 0)
		memcpy(t->b + t->n + 4, p, len);
	memset(t->b + t->n + 4 + len, 0, NLA_ALIGN(l) - l);
	t->n += NLA_ALIGN(l);
}

static void
tb_u32(struct tb *t, uint16_t type, uint32_t v)
{
	v = htonl(v);
	tb_attr(t, type, &v, 4);
}

static void
tb_str(struct tb *t, uint16_t type, const char *s)
{
	tb_attr(t, type, s, strlen(s) + 1);
}

static size_t
tb_nest(struct tb *t, uint16_t type)
{
	size_t at = t->n;

	tb_attr(t, type, NULL, 0);
	return at;
}

static void
tb_end(struct tb *t, size_t at)
{
	uint16_t l = (uint16_t)(t->n - at);

	memcpy(t->b + at, &l, 2);
}

static size_t
tb_msg(
    struct tb *t, uint16_t type, uint16_t flags, uint32_t seq, uint8_t family)
{
	struct nlmsghdr h = {0, type, flags, seq, 4242};
	uint8_t g[4] = {family, 0, 0, 2};
	size_t at = t->n;

	memcpy(t->b + t->n, &h, sizeof(h));
	memcpy(t->b + t->n + 16, g, 4);
	t->n += 20;
	return at;
}

static void
tb_msg_end(struct tb *t, size_t at)
{
	uint32_t l = (uint32_t)(t->n - at);

	memcpy(t->b + at, &l, 4);
}

/* An ack (err 0) or error for a request of type echoed, capped. */
static void
tb_err(struct tb *t, uint32_t seq, int err, uint16_t echoed)
{
	struct nlmsghdr h = {36, NLMSG_ERROR, NLM_F_CAPPED, seq, 4242};
	struct nlmsghdr req = {32, echoed, NLM_F_REQUEST | NLM_F_ACK, seq, 0};

	memcpy(t->b + t->n, &h, 16);
	memcpy(t->b + t->n + 16, &err, 4);
	memcpy(t->b + t->n + 20, &req, 16);
	t->n += 36;
}

static void
tb_done(struct tb *t, uint32_t seq)
{
	struct nlmsghdr h = {20, NLMSG_DONE, NLM_F_MULTI, seq, 4242};
	int zero = 0;

	memcpy(t->b + t->n, &h, 16);
	memcpy(t->b + t->n + 16, &zero, 4);
	t->n += 20;
}

static void
tb_table(struct tb *t, uint32_t flags, uint32_t use)
{
	size_t m = tb_msg(t, NFT(NFT_MSG_NEWTABLE), 0, 1, NFPROTO_IPV4);
	uint8_t handle[8] = {0, 0, 0, 0, 0, 0, 0, 7};

	tb_str(t, NFTA_TABLE_NAME, "podid");
	tb_u32(t, NFTA_TABLE_FLAGS, flags);
	tb_u32(t, NFTA_TABLE_USE, use);
	tb_attr(t, NFTA_TABLE_HANDLE, handle, 8);
	tb_msg_end(t, m);
	tb_err(t, 1, 0, NFT(NFT_MSG_GETTABLE));
}

/* hook -1: no hook (a regular chain). */
static void
tb_chain(
    struct tb *t, int hook, int32_t prio, const char *type, uint32_t policy)
{
	size_t m = tb_msg(t, NFT(NFT_MSG_NEWCHAIN), 0, 2, NFPROTO_IPV4), h;

	tb_str(t, NFTA_CHAIN_TABLE, "podid");
	tb_str(t, NFTA_CHAIN_NAME, "prerouting");
	if (hook >= 0) {
		h = tb_nest(t, NFTA_CHAIN_HOOK);
		tb_u32(t, NFTA_HOOK_HOOKNUM, (uint32_t)hook);
		tb_u32(t, NFTA_HOOK_PRIORITY, (uint32_t)prio);
		tb_end(t, h);
		tb_u32(t, NFTA_CHAIN_POLICY, policy);
		tb_str(t, NFTA_CHAIN_TYPE, type);
	}
	tb_u32(t, NFTA_CHAIN_USE, 0);
	tb_msg_end(t, m);
	tb_err(t, 2, 0, NFT(NFT_MSG_GETCHAIN));
}

/* One expression: 32-bit attributes, then data nested under dtype. */
struct kx {
	const char *name;
	struct {
		uint16_t t;
		uint32_t v;
	} a[8];
	uint16_t dtype;
	uint8_t dlen;
	uint8_t d[8];
};

#define KX_RULE 9

/* The expected rule as the kernel dumps it (nat max and flags added). */
static const struct kx kx_rule[KX_RULE] = {
    {"payload", {{1, 1}, {2, 1}, {3, 16}, {4, 4}}, 0, 0, {0}},
    {"cmp", {{1, 1}, {2, 0}}, 3, 4, {169, 254, 169, 254}},
    {"meta", {{2, 16}, {1, 1}}, 0, 0, {0}},
    {"cmp", {{1, 1}, {2, 0}}, 3, 1, {6}},
    {"payload", {{1, 1}, {2, 2}, {3, 2}, {4, 2}}, 0, 0, {0}},
    {"cmp", {{1, 1}, {2, 0}}, 3, 2, {0, 80}},
    {"immediate", {{1, 1}}, 2, 4, {10, 0, 0, 1}},
    {"immediate", {{1, 2}}, 2, 2, {0x0a, 0x13}},
    {"nat", {{1, 1}, {2, 2}, {3, 1}, {4, 1}, {5, 2}, {6, 2}, {7, 3}}, 0, 0,
        {0}},
};

static void
tb_expr(struct tb *t, const struct kx *x)
{
	size_t e = tb_nest(t, NFTA_LIST_ELEM), d, v;
	int i;

	tb_str(t, NFTA_EXPR_NAME, x->name);
	d = tb_nest(t, NFTA_EXPR_DATA);
	for (i = 0; i < 8 && x->a[i].t != 0; i++)
		tb_u32(t, x->a[i].t, x->a[i].v);
	if (x->dtype != 0) {
		v = tb_nest(t, x->dtype);
		tb_attr(t, NFTA_DATA_VALUE, x->d, x->dlen);
		tb_end(t, v);
	}
	tb_end(t, d);
	tb_end(t, e);
}

static void
tb_rule(struct tb *t, const struct kx *x, unsigned n, uint64_t handle)
{
	size_t m, l;
	uint8_t h[8];
	unsigned i;

	for (i = 0; i < 8; i++)
		h[i] = (uint8_t)(handle >> (56 - 8 * i));
	m = tb_msg(t, NFT(NFT_MSG_NEWRULE), NLM_F_MULTI, 3, NFPROTO_IPV4);
	tb_str(t, NFTA_RULE_TABLE, "podid");
	tb_str(t, NFTA_RULE_CHAIN, "prerouting");
	tb_attr(t, NFTA_RULE_HANDLE, h, 8);
	l = tb_nest(t, NFTA_RULE_EXPRESSIONS);
	for (i = 0; i < n; i++)
		tb_expr(t, &x[i]);
	tb_end(t, l);
	tb_msg_end(t, m);
}

/* A whole status exchange with n copies of rule x. */
static void
tb_status(const struct kx *x, unsigned nx, unsigned nrules)
{
	unsigned i;

	tb.n = 0;
	tb_table(&tb, 0, 1);
	tb_chain(&tb, NF_INET_PRE_ROUTING, -110, "nat", NF_ACCEPT);
	for (i = 0; i < nrules; i++)
		tb_rule(&tb, x, nx, 2 + i);
	tb_done(&tb, 3);
}

/* ---- feeding ---- */

static size_t
load(const char *name, uint8_t *buf, size_t cap)
{
	char path[256];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), DATA "%s", name);
	if ((f = fopen(path, "rb")) == NULL) {
		perror(path);
		exit(2);
	}
	n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

/* Feeds s whole into st; returns the feed's result. */
static ssize_t
feed_whole(const uint8_t *s, size_t n, struct rules_state *st,
    struct rules_dump *d, uint32_t lo, uint32_t hi, unsigned want)
{
	rules_state_clear(st);
	rules_dump_init(d, st, lo, hi, want);
	return rules_dump_feed(d, guard_copy(s, n), n);
}

/*
 * Feeds s one more byte at a time (what is not taken is offered again
 * with the next byte); returns the bytes taken in all or an error.
 */
static ssize_t
feed_bytes(const uint8_t *s, size_t n, struct rules_state *st,
    struct rules_dump *d, uint32_t lo, uint32_t hi, unsigned want)
{
	size_t start = 0, i;
	ssize_t r;

	rules_state_clear(st);
	rules_dump_init(d, st, lo, hi, want);
	for (i = 1; i <= n; i++) {
		r = rules_dump_feed(
		    d, guard_copy(s + start, i - start), i - start);
		if (r < 0)
			return r;
		start += (size_t)r;
	}
	return (ssize_t)start;
}

/* Both ways, same outcome; st_a holds the result. */
static ssize_t
feed_both(const uint8_t *s, size_t n, uint32_t lo, uint32_t hi, unsigned want,
    struct rules_dump *d)
{
	struct rules_dump d2;
	ssize_t a, b;

	a = feed_whole(s, n, &st_a, d, lo, hi, want);
	b = feed_bytes(s, n, &st_b, &d2, lo, hi, want);
	check_int(a, b);
	/* Both memset by rules_state_clear, then written member by member:
	 * their padding stays zero, so the bytes compare. */
	check(memcmp(&st_a, &st_b, sizeof(st_a)) == 0);
	check_int(d->done, d2.done);
	check_int(d->kerr, d2.kerr);
	check_int(d->got, d2.got);
	return a;
}

static struct rules_spec
spec(const char *ip, uint16_t port)
{
	struct rules_spec s;
	struct in_addr a = {0};

	if (ip != NULL)
		inet_pton(AF_INET, ip, &a);
	rules_spec_init(&s, a, port);
	return s;
}

/* Status of a stream: parse both ways, check against spec. */
static enum rules_verdict
verdict_of(const uint8_t *s, size_t n, const struct rules_spec *sp)
{
	struct rules_dump d;

	check_int(feed_both(s, n, 1, 3, 3, &d), n);
	check(d.done);
	check_int(d.kerr, 0);
	return rules_check(sp, &st_a);
}

/* What rules_print shows for st_a. */
static const char *
printed(void)
{
	static char out[16384];
	FILE *f;

	memset(out, 0, sizeof(out));
	if ((f = fmemopen(out, sizeof(out) - 1, "w")) == NULL)
		exit(2);
	check_int(rules_print(f, &st_a), 0);
	fclose(f);
	return out;
}

static const char expected_text[] =
    "table ip podid {\n"
    "\tchain prerouting {\n"
    "\t\ttype nat hook prerouting priority dstnat - 10; policy accept;\n"
    "\t\tip daddr 169.254.169.254 tcp dport 80 dnat to 10.0.0.1:2579\n"
    "\t}\n"
    "}\n";

/* ---- requests ---- */

#define B16(v) (uint8_t)((v)&0xff), (uint8_t)((v) >> 8)
#define BE32(v)                                                                \
	(uint8_t)((uint32_t)(v) >> 24),                                        \
	    (uint8_t)(((uint32_t)(v) >> 16) & 0xff),                           \
	    (uint8_t)(((uint32_t)(v) >> 8) & 0xff), (uint8_t)((v)&0xff)
#define NLA(len, type)  B16(len), B16(type)
#define NEST(len, type) B16(len), B16((type) | 0x8000)
#define U32A(type, v)   NLA(8, type), BE32(v)

/*
 * The rule for 10.0.0.1:2579, written out from the nf_tables uapi by
 * hand: attribute numbers and values are literals on purpose.
 */
/* clang-format off */
static const uint8_t want_exprs[] = {
	NEST(412, 4), /* NFTA_RULE_EXPRESSIONS */
	/* payload load 4b @ network header + 16 => reg 1 */
	NEST(52, 1), NLA(12, 1), 'p', 'a', 'y', 'l', 'o', 'a', 'd', 0,
	NEST(36, 2), U32A(1, 1), U32A(2, 1), U32A(3, 16), U32A(4, 4),
	/* cmp eq reg 1 169.254.169.254 */
	NEST(44, 1), NLA(8, 1), 'c', 'm', 'p', 0, NEST(32, 2), U32A(1, 1),
	U32A(2, 0), NEST(12, 3), NLA(8, 1), 169, 254, 169, 254,
	/* meta load l4proto => reg 1 */
	NEST(36, 1), NLA(9, 1), 'm', 'e', 't', 'a', 0, 0, 0, 0, NEST(20, 2),
	U32A(2, 16), U32A(1, 1),
	/* cmp eq reg 1 6 */
	NEST(44, 1), NLA(8, 1), 'c', 'm', 'p', 0, NEST(32, 2), U32A(1, 1),
	U32A(2, 0), NEST(12, 3), NLA(5, 1), 6, 0, 0, 0,
	/* payload load 2b @ transport header + 2 => reg 1 */
	NEST(52, 1), NLA(12, 1), 'p', 'a', 'y', 'l', 'o', 'a', 'd', 0,
	NEST(36, 2), U32A(1, 1), U32A(2, 2), U32A(3, 2), U32A(4, 2),
	/* cmp eq reg 1 80 */
	NEST(44, 1), NLA(8, 1), 'c', 'm', 'p', 0, NEST(32, 2), U32A(1, 1),
	U32A(2, 0), NEST(12, 3), NLA(6, 1), 0, 80, 0, 0,
	/* immediate reg 1 10.0.0.1 */
	NEST(44, 1), NLA(14, 1), 'i', 'm', 'm', 'e', 'd', 'i', 'a', 't', 'e',
	0, 0, 0, NEST(24, 2), U32A(1, 1), NEST(12, 2), NLA(8, 1), 10, 0, 0, 1,
	/* immediate reg 2 2579 */
	NEST(44, 1), NLA(14, 1), 'i', 'm', 'm', 'e', 'd', 'i', 'a', 't', 'e',
	0, 0, 0, NEST(24, 2), U32A(1, 2), NEST(12, 2), NLA(6, 1), 0x0a, 0x13,
	0, 0,
	/* nat dnat ip addr_min reg 1 proto_min reg 2 */
	NEST(48, 1), NLA(8, 1), 'n', 'a', 't', 0, NEST(36, 2), U32A(1, 1),
	U32A(2, 2), U32A(3, 1), U32A(5, 2),
};
/* clang-format on */

static void
t_exprs_bytes(void)
{
	struct rules_spec s = spec("10.0.0.1", 2579);
	uint8_t *out = guard_buf(sizeof(want_exprs));
	size_t i;

	check_int(sizeof(want_exprs), 412);
	check_int(
	    rules_msg_exprs(out, sizeof(want_exprs), &s), sizeof(want_exprs));
	for (i = 0; i < sizeof(want_exprs); i++)
		if (out[i] != want_exprs[i]) {
			fprintf(stderr, "byte %zu: 0x%02x, want 0x%02x\n", i,
			    out[i], want_exprs[i]);
			check(out[i] == want_exprs[i]);
			break;
		}
}

/* The batch: 7 messages, their types, flags, seqs and families. */
static void
t_install_batch(void)
{
	static const struct {
		uint16_t type, flags;
		uint8_t family;
	} want[] = {
	    {NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, AF_UNSPEC},
	    {NFT(NFT_MSG_NEWTABLE), NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK,
	        NFPROTO_IPV4},
	    {NFT(NFT_MSG_DELTABLE), NLM_F_REQUEST | NLM_F_ACK, NFPROTO_IPV4},
	    {NFT(NFT_MSG_NEWTABLE), NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK,
	        NFPROTO_IPV4},
	    {NFT(NFT_MSG_NEWCHAIN), NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK,
	        NFPROTO_IPV4},
	    {NFT(NFT_MSG_NEWRULE),
	        NLM_F_REQUEST | NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK,
	        NFPROTO_IPV4},
	    {NFNL_MSG_BATCH_END, NLM_F_REQUEST, AF_UNSPEC},
	};
	static const uint8_t hook[] = {
	    NEST(20, 4), U32A(1, 0), U32A(2, 0xffffff92)};
	struct rules_spec s = spec("10.0.0.1", 2579);
	uint8_t buf[LIM_RULES_MSG_BYTES];
	struct nlmsghdr h;
	ssize_t n = rules_msg_install(buf, sizeof(buf), 100, &s);
	size_t off = 0, i;

	check_int(n, 680); /* the figure in agent/limits.h */
	for (i = 0; i < 7 && n > 0 && off + 20 <= (size_t)n; i++) {
		memcpy(&h, buf + off, sizeof(h));
		check_int(h.nlmsg_type, want[i].type);
		check_int(h.nlmsg_flags, want[i].flags);
		check_int(h.nlmsg_seq, 100 + i);
		check_int(buf[off + 16], want[i].family);
		check_int(buf[off + 17], NFNETLINK_V0);
		check_int(
		    buf[off + 19], i == 0 || i == 6 ? NFNL_SUBSYS_NFTABLES : 0);
		check(h.nlmsg_len % 4 == 0);
		off += h.nlmsg_len;
	}
	check_int(i, 7);
	check_int(off, n);
	check(memmem(buf, (size_t)n, want_exprs, sizeof(want_exprs)) != NULL);
	check(memmem(buf, (size_t)n, hook, sizeof(hook)) != NULL);
	check(memmem(buf, (size_t)n, "nat", 4) != NULL);
}

/* Each builder at its exact size, and one byte short. */
static void
t_builders_cap(void)
{
	struct rules_spec s = spec("10.0.0.1", 2579);
	struct rules_ct_entry e = {{htonl(0x0afb000a)}, {htonl(0xa9fea9fe)},
	    40000, 80, 6, 3, 77, 0, true};
	uint8_t big[LIM_RULES_MSG_BYTES];
	ssize_t len[7];
	int i;

	len[0] = rules_msg_install(big, sizeof(big), 1, &s);
	len[1] = rules_msg_remove(big, sizeof(big), 1);
	len[2] = rules_msg_get(big, sizeof(big), 1, RULES_GET_TABLE);
	len[3] = rules_msg_get(big, sizeof(big), 1, RULES_GET_CHAIN);
	len[4] = rules_msg_get(big, sizeof(big), 1, RULES_GET_RULES);
	len[5] = rules_msg_ct_dump(big, sizeof(big), 1);
	len[6] = rules_msg_ct_delete(big, sizeof(big), 1, &e);
	for (i = 0; i < 7; i++) {
		size_t n = (size_t)len[i], c;

		check(len[i] > 0 && n <= LIM_RULES_MSG_BYTES);
		for (c = n; c + 2 > n && n > 0; c--) {
			uint8_t *o = guard_buf(c);
			ssize_t r;

			switch (i) {
			case 0:
				r = rules_msg_install(o, c, 1, &s);
				break;
			case 1:
				r = rules_msg_remove(o, c, 1);
				break;
			case 2:
				r = rules_msg_get(o, c, 1, RULES_GET_TABLE);
				break;
			case 3:
				r = rules_msg_get(o, c, 1, RULES_GET_CHAIN);
				break;
			case 4:
				r = rules_msg_get(o, c, 1, RULES_GET_RULES);
				break;
			case 5:
				r = rules_msg_ct_dump(o, c, 1);
				break;
			default:
				r = rules_msg_ct_delete(o, c, 1, &e);
				break;
			}
			check_int(r, c == n ? (ssize_t)n : RULES_E_NOSPACE);
			if (c == 0)
				break;
		}
	}
	check_int(len[1], 20 + 32 + 32 + 20);
	check_int(rules_msg_exprs(guard_buf(411), 411, &s), RULES_E_NOSPACE);
}

static void
t_spec(void)
{
	struct rules_spec s = spec("10.0.0.1", 2579);
	uint8_t buf[LIM_RULES_MSG_BYTES];
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &s.imds_ip, ip, sizeof(ip));
	check_str(ip, "169.254.169.254");
	check_int(s.imds_port, 80);
	s.port = 0;
	check_int(rules_msg_install(buf, sizeof(buf), 1, &s), RULES_E_SPEC);
	s = spec(NULL, 2579);
	check_int(rules_msg_install(buf, sizeof(buf), 1, &s), RULES_E_SPEC);
	check_int(rules_msg_exprs(buf, sizeof(buf), &s), RULES_E_SPEC);
	s = spec("10.0.0.1", 2579);
	s.imds_port = 0;
	check_int(rules_msg_install(buf, sizeof(buf), 1, &s), RULES_E_SPEC);
}

/* The delete of one conntrack entry, by hand. */
static void
t_ct_delete_bytes(void)
{
	/* clang-format off */
	static const uint8_t want[] = {
		B16(88), 0, 0, B16((1 << 8) | 2), B16(NLM_F_REQUEST | NLM_F_ACK),
		BE32(0x07000000), 0, 0, 0, 0, 2, 0, 0, 0,
		NEST(52, 1),			/* CTA_TUPLE_ORIG */
		NEST(20, 1),			/* CTA_TUPLE_IP */
		NLA(8, 1), 10, 251, 0, 10,
		NLA(8, 2), 169, 254, 169, 254,
		NEST(28, 2),			/* CTA_TUPLE_PROTO */
		NLA(5, 1), 6, 0, 0, 0,
		NLA(6, 2), 0x9c, 0x40, 0, 0,
		NLA(6, 3), 0, 80, 0, 0,
		NLA(6, 18), 0, 3, 0, 0,		/* CTA_ZONE */
		U32A(12, 77),			/* CTA_ID */
	};
	/* clang-format on */
	struct rules_ct_entry e = {{htonl(0x0afb000a)}, {htonl(0xa9fea9fe)},
	    40000, 80, 6, 3, 77, 0, true};
	uint8_t *o = guard_buf(sizeof(want));

	check_int(rules_msg_ct_delete(o, sizeof(want), 7, &e), sizeof(want));
	check(memcmp(o, want, sizeof(want)) == 0); /* seq: little-endian host */
	e.zone = 0;
	e.has_id = false;
	check_int(
	    rules_msg_ct_delete(o, sizeof(want), 7, &e), sizeof(want) - 16);
}

/* ---- the parser on the kernel's own answers ---- */

static uint8_t file[65536];

static void
t_capture_match(void)
{
	struct rules_spec s = spec("10.0.0.1", 2579);
	size_t n = load("match.nl", file, sizeof(file));
	const struct rules_rule *r;

	check_int(verdict_of(file, n, &s), RULES_MATCH);
	check(st_a.table && st_a.chain && st_a.chain_base);
	check_int(st_a.table_use, 1);
	check_int(st_a.hooknum, NF_INET_PRE_ROUTING);
	check_int(st_a.priority, -110);
	check_str(st_a.type, "nat");
	check_int(st_a.nrules, 1);
	r = &st_a.rule[0];
	check_str(r->chain, "prerouting");
	check_int(r->nexprs, 9);
	check_int(r->handle, 2);
	check_str(r->expr[8].name, "nat");
	check_int(r->expr[8].u32[NFTA_NAT_FLAGS], 3);
	check_str(printed(), expected_text);
	s = spec(NULL, 0); /* status without --node-ip */
	check_int(rules_check(&s, &st_a), RULES_MATCH);
	s = spec("10.0.0.2", 2579);
	check_int(rules_check(&s, &st_a), RULES_WRONG_TARGET);
	check_str(st_a.why,
	    "the rule dnats to 10.0.0.1:2579, expected "
	    "10.0.0.2:2579");
	s = spec("10.0.0.1", 2580);
	check_int(rules_check(&s, &st_a), RULES_WRONG_TARGET);
	s = spec(NULL, 2580);
	check_int(rules_check(&s, &st_a), RULES_WRONG_TARGET);
}

static void
t_capture_verdicts(void)
{
	static const struct {
		const char *file;
		enum rules_verdict v;
		const char *why;
	} cases[] = {
	    {"no_table.nl", RULES_NO_TABLE, "no table ip podid"},
	    {"no_chain.nl", RULES_NO_CHAIN,
	        "no chain prerouting in table ip podid"},
	    {"no_rule.nl", RULES_NO_RULE, "chain prerouting has no rule"},
	    {"dormant.nl", RULES_TABLE_FLAGS,
	        "table ip podid has flags 0x1 (1: dormant)"},
	    {"table_extra.nl", RULES_TABLE_EXTRA,
	        "table ip podid holds 2 chains, sets or objects, expected 1"},
	    {"wrong_type.nl", RULES_WRONG_TYPE,
	        "chain prerouting is type filter with policy accept, expected "
	        "nat, accept"},
	    {"extra_counter.nl", RULES_EXTRA_RULES,
	        "chain prerouting has 2 rules, expected 1"},
	    {"odd_shapes.nl", RULES_WRONG_HOOK,
	        "chain prerouting hooks prerouting at priority -90, expected "
	        "prerouting at -110"},
	    {"other_target.nl", RULES_WRONG_TARGET,
	        "the rule dnats to 10.0.0.9:8080, expected 10.0.0.1:2579"},
	    {"nine_rules.nl", RULES_EXTRA_RULES,
	        "chain prerouting has 9 rules, expected 1"},
	};
	struct rules_spec s = spec("10.0.0.1", 2579);
	size_t i, n;

	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		n = load(cases[i].file, file, sizeof(file));
		check_int(verdict_of(file, n, &s), cases[i].v);
		check_str(st_a.why, cases[i].why);
		if (st_a.verdict != cases[i].v)
			fprintf(stderr, "  in %s\n", cases[i].file);
	}
	check_str(rules_verdict_name(RULES_WRONG_HOOK), "wrong hook");
}

/* No CAP_NET_ADMIN: each request refused with EPERM. */
static void
t_capture_eperm(void)
{
	size_t n = load("eperm.nl", file, sizeof(file));
	struct rules_dump d;

	check_int(feed_both(file, n, 1, 3, 3, &d), n);
	check(d.done);
	check_int(d.kerr, EPERM);
	check_int(d.kseq, 1);
	check(!st_a.table);
}

/* LIM_RULES_RULES: 8 kept; the 9th counted, not kept. */
static void
t_limit_rules(void)
{
	struct rules_spec s = spec("10.0.0.1", 2579);
	size_t n = load("nine_rules.nl", file, sizeof(file));

	check_int(LIM_RULES_RULES, 8);
	verdict_of(file, n, &s);
	check_int(st_a.nrules, 9);
	check_int(st_a.kept, LIM_RULES_RULES);
	check(strstr(printed(), "\t# 1 more rules not shown\n") != NULL);
	tb_status(kx_rule, KX_RULE, LIM_RULES_RULES);
	check_int(verdict_of(tb.b, tb.n, &s), RULES_EXTRA_RULES);
	check_int(st_a.nrules, LIM_RULES_RULES);
	check_int(st_a.kept, LIM_RULES_RULES);
	check(strstr(printed(), "more rules") == NULL);
}

/* LIM_RULES_EXPRS: 16 expressions kept, the 17th counted. */
static void
t_limit_exprs(void)
{
	struct rules_spec s = spec("10.0.0.1", 2579);
	struct kx x[LIM_RULES_EXPRS + 1];
	unsigned i;

	for (i = 0; i < LIM_RULES_EXPRS + 1; i++)
		x[i] = kx_rule[i % KX_RULE];
	tb_status(x, LIM_RULES_EXPRS, 1);
	check_int(verdict_of(tb.b, tb.n, &s), RULES_WRONG_RULE);
	check_int(st_a.rule[0].nexprs, LIM_RULES_EXPRS);
	check_int(st_a.rule[0].kept, LIM_RULES_EXPRS);
	check(strstr(printed(), "more expressions") == NULL);
	tb_status(x, LIM_RULES_EXPRS + 1, 1);
	check_int(verdict_of(tb.b, tb.n, &s), RULES_WRONG_RULE);
	check_int(st_a.rule[0].nexprs, LIM_RULES_EXPRS + 1);
	check_int(st_a.rule[0].kept, LIM_RULES_EXPRS);
	check_str(st_a.rule[0].expr[LIM_RULES_EXPRS - 1].name,
	    kx_rule[(LIM_RULES_EXPRS - 1) % KX_RULE].name);
	check(strstr(printed(), "# 1 more expressions\n") != NULL);
}

/* A message of LIM_RULES_RECV_BYTES is taken; longer ones refused. */
static void
t_limit_recv(void)
{
	static uint8_t pad[LIM_RULES_RECV_BYTES];
	struct rules_dump d;
	size_t m;
	uint32_t l;

	tb.n = 0;
	m = tb_msg(&tb, NFT(NFT_MSG_NEWRULE), NLM_F_MULTI, 3, NFPROTO_IPV4);
	tb_str(&tb, NFTA_RULE_TABLE, "other");
	tb_attr(
	    &tb, NFTA_RULE_USERDATA, pad, LIM_RULES_RECV_BYTES - 20 - 12 - 4);
	tb_msg_end(&tb, m);
	tb_done(&tb, 3);
	check_int(tb.n, LIM_RULES_RECV_BYTES + 20);
	check_int(feed_both(tb.b, tb.n, 3, 3, 1, &d), tb.n);
	check(d.done);
	check_int(st_a.nrules, 0);
	/* One byte short of the whole message: need more. */
	check_int(
	    feed_whole(tb.b, LIM_RULES_RECV_BYTES - 1, &st_a, &d, 3, 3, 1), 0);
	for (l = LIM_RULES_RECV_BYTES + 1; l <= LIM_RULES_RECV_BYTES + 4;
	     l += 3) {
		memcpy(tb.b, &l, 4);
		check_int(
		    feed_whole(tb.b, 16, &st_a, &d, 3, 3, 1), RULES_E_TOOBIG);
	}
}

/* ---- one change at a time on kernel-shaped answers ---- */

static enum rules_verdict
mutated(const struct kx *x, unsigned n)
{
	struct rules_spec s = spec("10.0.0.1", 2579);

	tb_status(x, n, 1);
	return verdict_of(tb.b, tb.n, &s);
}

static void
t_rule_mutations(void)
{
	struct rules_spec s = spec("10.0.0.1", 2579);
	struct kx x[KX_RULE + 1];

	memcpy(x, kx_rule, sizeof(kx_rule));
	check_int(mutated(x, KX_RULE), RULES_MATCH);
	check_str(printed(), expected_text);
	x[1].a[1].v = NFT_CMP_NEQ; /* ip daddr != ... */
	check_int(mutated(x, KX_RULE), RULES_WRONG_RULE);
	check_str(st_a.why, "expression 2 (cmp) of the rule differs");
	check(strstr(printed(), "ip daddr != 169.254.169.254 tcp dport 80") !=
	    NULL);
	memcpy(x, kx_rule, sizeof(kx_rule));
	x[8].a[4].t = 0; /* nat without proto_min (and what follows) */
	check_int(mutated(x, KX_RULE), RULES_WRONG_RULE);
	memcpy(x, kx_rule, sizeof(kx_rule));
	x[8].a[6].v = 3 | NF_NAT_RANGE_PERSISTENT;
	check_int(mutated(x, KX_RULE), RULES_WRONG_RULE);
	memcpy(x, kx_rule, sizeof(kx_rule));
	x[8].a[6].t = 0; /* no flags: the kernel may omit them */
	check_int(mutated(x, KX_RULE), RULES_MATCH);
	memcpy(x, kx_rule, sizeof(kx_rule));
	x[0].a[4].t = NFTA_PAYLOAD_CSUM_TYPE, x[0].a[4].v = 1;
	check_int(mutated(x, KX_RULE), RULES_WRONG_RULE);
	memcpy(x, kx_rule, sizeof(kx_rule));
	x[5].dlen = 4; /* dport compared as 4 bytes */
	check_int(mutated(x, KX_RULE), RULES_WRONG_RULE);
	memcpy(x, kx_rule, sizeof(kx_rule));
	x[3].d[0] = IPPROTO_UDP;
	check_int(mutated(x, KX_RULE), RULES_WRONG_RULE);
	memcpy(x, kx_rule, sizeof(kx_rule));
	x[2].name = "ct";
	check_int(mutated(x, KX_RULE), RULES_WRONG_RULE);
	memcpy(x, kx_rule, sizeof(kx_rule));
	x[6].a[0].v = 3; /* the address in another register */
	check_int(mutated(x, KX_RULE), RULES_WRONG_RULE);
	memcpy(x, kx_rule, sizeof(kx_rule));
	x[KX_RULE] = (struct kx){"counter", {{0, 0}}, 0, 0, {0}};
	check_int(mutated(x, KX_RULE + 1), RULES_WRONG_RULE);
	check_str(st_a.why, "the rule has 10 expressions, expected 9");
	check_int(mutated(x, KX_RULE - 1), RULES_WRONG_RULE);
	/* The target alone differs: another verdict, same shape. */
	memcpy(x, kx_rule, sizeof(kx_rule));
	x[7].d[1] = 0x14;
	check_int(mutated(x, KX_RULE), RULES_WRONG_TARGET);
	check_str(st_a.why,
	    "the rule dnats to 10.0.0.1:2580, expected "
	    "10.0.0.1:2579");
	s.port = 2580;
	check_int(rules_check(&s, &st_a), RULES_MATCH);
}

static void
t_chain_mutations(void)
{
	static const struct {
		int hook;
		int32_t prio;
		const char *type;
		uint32_t policy;
		enum rules_verdict v;
		const char *line; /* as printed */
	} cases[] = {
	    {0, -110, "nat", NF_ACCEPT, RULES_MATCH,
	        "priority dstnat - 10; policy accept;"},
	    {0, -100, "nat", NF_ACCEPT, RULES_WRONG_HOOK,
	        "priority dstnat; policy accept;"},
	    {0, -109, "nat", NF_ACCEPT, RULES_WRONG_HOOK,
	        "priority dstnat - 9;"},
	    {0, -111, "nat", NF_ACCEPT, RULES_WRONG_HOOK, "priority -111;"},
	    {0, -150, "nat", NF_ACCEPT, RULES_WRONG_HOOK, "priority mangle;"},
	    {0, 100, "nat", NF_ACCEPT, RULES_WRONG_HOOK, "priority 100;"},
	    {4, 100, "nat", NF_ACCEPT, RULES_WRONG_HOOK,
	        "hook postrouting priority srcnat;"},
	    {1, -110, "nat", NF_ACCEPT, RULES_WRONG_HOOK,
	        "hook input priority -110;"},
	    {-1, 0, "", 0, RULES_WRONG_HOOK, "\tchain prerouting {\n\t\tip"},
	    {0, -110, "filter", NF_ACCEPT, RULES_WRONG_TYPE,
	        "type filter hook"},
	    {0, -110, "nat", NF_DROP, RULES_WRONG_TYPE, "policy drop;"},
	};
	struct rules_spec s = spec("10.0.0.1", 2579);
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		tb.n = 0;
		tb_table(&tb, 0, 1);
		tb_chain(&tb, cases[i].hook, cases[i].prio, cases[i].type,
		    cases[i].policy);
		tb_rule(&tb, kx_rule, KX_RULE, 2);
		tb_done(&tb, 3);
		check_int(verdict_of(tb.b, tb.n, &s), cases[i].v);
		check(strstr(printed(), cases[i].line) != NULL);
		if (strstr(printed(), cases[i].line) == NULL)
			fprintf(stderr, "  case %zu prints:\n%s", i, printed());
	}
	check_str(st_a.why,
	    "chain prerouting is type nat with policy other, "
	    "expected nat, accept");
}

/* Acks, refusals, stale answers, inconsistent dumps. */
static void
t_acks(void)
{
	struct rules_dump d;
	int i;

	tb.n = 0;
	for (i = 2; i <= 6; i++)
		tb_err(&tb, (uint32_t)i, 0, NFT(NFT_MSG_NEWTABLE));
	check_int(feed_both(tb.b, tb.n - 36, 1, 7, 5, &d), tb.n - 36);
	check(!d.done);
	check_int(feed_both(tb.b, tb.n, 1, 7, 5, &d), tb.n);
	check(d.done && d.kerr == 0 && d.got == 5);
	/* A refused batch begin is the only answer. */
	tb.n = 0;
	tb_err(&tb, 1, -EPERM, NFNL_MSG_BATCH_BEGIN);
	check_int(feed_both(tb.b, tb.n, 1, 7, 5, &d), tb.n);
	check(d.done && d.kerr == EPERM && d.kseq == 1);
	/* A refused chain: every message still answered; the first counts. */
	tb.n = 0;
	tb_err(&tb, 99, -EINVAL, NFT(NFT_MSG_NEWTABLE)); /* stale */
	for (i = 2; i <= 6; i++)
		tb_err(&tb, (uint32_t)i, i == 5 ? -EOPNOTSUPP : 0,
		    NFT(NFT_MSG_NEWCHAIN));
	check_int(feed_both(tb.b, tb.n, 1, 7, 5, &d), tb.n);
	check(d.done && d.kerr == EOPNOTSUPP && d.kseq == 5 && d.got == 5);
	/* ENOENT is an absence for a GET, a refusal otherwise. */
	tb.n = 0;
	tb_err(&tb, 1, -ENOENT, NFT(NFT_MSG_GETTABLE));
	check_int(feed_both(tb.b, tb.n, 1, 1, 1, &d), tb.n);
	check(d.done && d.kerr == 0 && !st_a.table);
	tb.n = 0;
	tb_err(&tb, 2, -ENOENT, NFT(NFT_MSG_DELTABLE));
	check_int(feed_both(tb.b, tb.n, 1, 3, 1, &d), tb.n);
	check(d.done && d.kerr == ENOENT);
	/* A dump the kernel says was inconsistent. */
	tb_status(kx_rule, KX_RULE, 1);
	for (i = 0; (size_t)i + 16 <= tb.n;) {
		struct nlmsghdr h;

		memcpy(&h, tb.b + i, 16);
		if (h.nlmsg_type == NFT(NFT_MSG_NEWRULE)) {
			h.nlmsg_flags |= NLM_F_DUMP_INTR;
			memcpy(tb.b + i, &h, 16);
		}
		i += (int)NLMSG_ALIGN(h.nlmsg_len);
	}
	check_int(feed_both(tb.b, tb.n, 1, 3, 3, &d), tb.n);
	check(d.intr && d.done);
	/* Others' tables and other families are skipped. */
	tb.n = 0;
	i = (int)tb_msg(&tb, NFT(NFT_MSG_NEWTABLE), 0, 1, NFPROTO_IPV6);
	tb_str(&tb, NFTA_TABLE_NAME, "podid");
	tb_msg_end(&tb, (size_t)i);
	i = (int)tb_msg(&tb, NFT(NFT_MSG_NEWTABLE), 0, 1, NFPROTO_IPV4);
	tb_str(&tb, NFTA_TABLE_NAME, "podidx");
	tb_msg_end(&tb, (size_t)i);
	check_int(feed_both(tb.b, tb.n, 1, 1, 1, &d), tb.n);
	check(!st_a.table && !d.done);
}

static void
t_malformed(void)
{
	struct rules_dump d;
	uint32_t l;
	uint16_t al;
	size_t m;

	/* nlmsg_len under a header */
	tb.n = 0;
	tb_done(&tb, 3);
	l = 15;
	memcpy(tb.b, &l, 4);
	check_int(feed_whole(tb.b, 20, &st_a, &d, 3, 3, 1), RULES_E_MALFORMED);
	/* an attribute of length 3, then one past its message */
	for (al = 3; al <= 40; al += 37) {
		tb.n = 0;
		m = tb_msg(&tb, NFT(NFT_MSG_NEWTABLE), 0, 1, NFPROTO_IPV4);
		tb_str(&tb, NFTA_TABLE_NAME, "podid");
		tb_msg_end(&tb, m);
		memcpy(tb.b + 20, &al, 2);
		check_int(
		    feed_both(tb.b, tb.n, 1, 1, 1, &d), RULES_E_MALFORMED);
	}
	/* an error message too short for its echoed header */
	tb.n = 0;
	tb_err(&tb, 1, 0, NFT(NFT_MSG_GETTABLE));
	l = 24;
	memcpy(tb.b, &l, 4);
	check_int(feed_whole(tb.b, 24, &st_a, &d, 1, 1, 1), RULES_E_MALFORMED);
	/* a positive error */
	tb.n = 0;
	tb_err(&tb, 1, 5, NFT(NFT_MSG_GETTABLE));
	check_int(
	    feed_whole(tb.b, tb.n, &st_a, &d, 1, 1, 1), RULES_E_MALFORMED);
	/* an nf_tables message without its nfgenmsg */
	tb.n = 0;
	m = tb_msg(&tb, NFT(NFT_MSG_NEWRULE), 0, 3, NFPROTO_IPV4);
	tb.n = m + 16;
	tb_msg_end(&tb, m);
	check_int(
	    feed_whole(tb.b, tb.n, &st_a, &d, 3, 3, 1), RULES_E_MALFORMED);
	/* a broken expression deep in a rule */
	tb_status(kx_rule, KX_RULE, 1);
	al = 0xffff;
	m = (size_t)((uint8_t *)memmem(tb.b, tb.n, "immediate", 9) - tb.b);
	memcpy(tb.b + m + 12 + 4, &al, 2); /* inside EXPR_DATA */
	check_int(feed_both(tb.b, tb.n, 1, 3, 3, &d), RULES_E_MALFORMED);
	check_str(
	    rules_strerror(RULES_E_MALFORMED), "malformed netlink answer");
}

/* ---- conntrack ---- */

/* Feeds s one message at a time, byte by byte; counts the cuts. */
static unsigned
ct_feed_all(const uint8_t *s, size_t n, struct rules_ct *c, int *err)
{
	struct in_addr imds = {htonl(0xa9fea9fe)};
	size_t start = 0, i;
	unsigned cut = 0;
	ssize_t r;

	*err = 0;
	rules_ct_init(c, 1, imds, 80);
	for (i = 1; i <= n; i++) {
		r = rules_ct_feed(
		    c, guard_copy(s + start, i - start), i - start);
		if (r < 0) {
			*err = (int)r;
			return cut;
		}
		if (r == 0)
			continue;
		check_int(r, i - start); /* one message exactly */
		start += (size_t)r;
		if (!c->matched)
			continue;
		cut++;
		check_int(c->hit.proto, IPPROTO_TCP);
		check_int(c->hit.dst.s_addr, imds.s_addr);
		check_int(c->hit.dport, 80);
		check(!(c->hit.status & IPS_DST_NAT));
		check(c->hit.has_id);
	}
	check_int(start, n);
	return cut;
}

static void
t_ct_captures(void)
{
	struct rules_ct c;
	size_t n;
	int err;

	/* 2 pods' TCP and the node's own SYN_SENT; not UDP, not DNATed. */
	n = load("ct_direct.nl", file, sizeof(file));
	check_int(ct_feed_all(file, n, &c, &err), 3);
	check_int(err, 0);
	check_int(c.seen, 5);
	check(c.done && c.kerr == 0);
	n = load("ct_nat.nl", file, sizeof(file));
	check_int(ct_feed_all(file, n, &c, &err), 1);
	check_int(c.seen, 2);
}

static void
ct_msg(struct tb *t, uint8_t proto, uint16_t dport, uint32_t status, bool src)
{
	size_t m = tb_msg(t, (1 << 8) | IPCTNL_MSG_CT_NEW, NLM_F_MULTI, 1, 2);
	size_t o = tb_nest(t, CTA_TUPLE_ORIG), n;
	uint8_t pod[4] = {10, 251, 0, 10}, imds[4] = {169, 254, 169, 254};
	uint16_t sp = htons(40000), dp = htons(dport), zone = htons(5);

	n = tb_nest(t, CTA_TUPLE_IP);
	if (src)
		tb_attr(t, CTA_IP_V4_SRC, pod, 4);
	tb_attr(t, CTA_IP_V4_DST, imds, 4);
	tb_end(t, n);
	n = tb_nest(t, CTA_TUPLE_PROTO);
	tb_attr(t, CTA_PROTO_NUM, &proto, 1);
	tb_attr(t, CTA_PROTO_SRC_PORT, &sp, 2);
	tb_attr(t, CTA_PROTO_DST_PORT, &dp, 2);
	tb_end(t, n);
	tb_end(t, o);
	tb_u32(t, CTA_STATUS, status);
	tb_attr(t, CTA_ZONE, &zone, 2);
	tb_u32(t, CTA_ID, 1234);
	tb_msg_end(t, m);
}

static void
t_ct_handmade(void)
{
	struct rules_ct c;
	int err;

	tb.n = 0;
	ct_msg(&tb, IPPROTO_TCP, 80, IPS_CONFIRMED, true);   /* cut */
	ct_msg(&tb, IPPROTO_TCP, 80, IPS_DST_NAT | 8, true); /* podid's */
	ct_msg(&tb, IPPROTO_UDP, 80, 0, true);               /* udp */
	ct_msg(&tb, IPPROTO_TCP, 81, 0, true);               /* port */
	ct_msg(&tb, IPPROTO_TCP, 80, 0, false);              /* no src */
	ct_msg(&tb, IPPROTO_TCP, 80, IPS_SRC_NAT, true);     /* cut */
	tb_done(&tb, 1);
	check_int(ct_feed_all(tb.b, tb.n, &c, &err), 2);
	check_int(c.seen, 6);
	check_int(c.hit.zone, 5);
	check_int(c.hit.id, 1234);
	check_int(c.hit.sport, 40000);
	check(c.done && c.kerr == 0);
	tb.n = 0;
	tb_err(&tb, 1, -EOPNOTSUPP, (1 << 8) | IPCTNL_MSG_CT_GET);
	check_int(ct_feed_all(tb.b, tb.n, &c, &err), 0);
	check(c.done && c.kerr == EOPNOTSUPP);
	tb.n = 0;
	ct_msg(&tb, IPPROTO_TCP, 80, 0, true);
	tb.b[20 + 1] = 0x7f; /* CTA_TUPLE_ORIG's length: far too long */
	check_int(ct_feed_all(tb.b, tb.n, &c, &err), 0);
	check_int(err, RULES_E_MALFORMED);
}

/* ---- printing ---- */

static void
t_print(void)
{
	static const char odd[] =
	    "table ip podid {\n"
	    "\tchain prerouting {\n"
	    "\t\ttype nat hook prerouting priority dstnat + 10; policy "
	    "accept;\n"
	    "\t\tip saddr != 1.2.3.4 jump x\n"
	    "\t\tmeta l4proto udp counter\n"
	    "\t\tth dport 53 goto x\n"
	    "\t\tip daddr 169.254.169.254 dnat to 10.0.0.1\n"
	    "\t\tip daddr 169.254.169.254 tcp dport 80 dnat to 10.0.0.1:2579\n"
	    "\t}\n"
	    "\n"
	    "\tchain x {\n"
	    "\t\tip saddr 10.1.2.3 accept\n"
	    "\t\ttcp sport 1 drop\n"
	    "\t\treturn\n"
	    "\t}\n"
	    "\t# 1 more rules not shown\n"
	    "}\n";
	struct rules_spec s = spec("10.0.0.1", 2579);
	size_t n = load("odd_shapes.nl", file, sizeof(file));

	verdict_of(file, n, &s);
	check_str(printed(), odd);
	n = load("no_table.nl", file, sizeof(file));
	verdict_of(file, n, &s);
	check_str(printed(), "");
	n = load("dormant.nl", file, sizeof(file));
	verdict_of(file, n, &s);
	check(strncmp(printed(), "table ip podid {\n\tflags dormant\n\n\tchain",
	          39) == 0);
	/* Unknown expressions print raw. */
	{
		struct kx x[2] = {{"lookup", {{1, 1}, {3, 9}}, 0, 0, {0}},
		    {"immediate", {{1, 1}}, 2, 3, {1, 2, 3}}};

		tb_status(x, 2, 1);
		verdict_of(tb.b, tb.n, &s);
		check(strstr(printed(),
		          "\t\t[ lookup 1=1 3=9 ] [ immediate 1=1 0x010203 "
		          "]\n") != NULL);
	}
}

static void
t_names(void)
{
	int e;

	for (e = RULES_E_SPEC; e <= RULES_E_NOSPACE; e++)
		check(strcmp(rules_strerror(e), "unknown error") != 0);
	check_str(rules_strerror(0), "unknown error");
	check_str(rules_strerror(RULES_E_SPEC - 1), "unknown error");
	check_str(rules_strerror(1), "unknown error");
	for (e = RULES_MATCH; e <= RULES_EXTRA_RULES; e++)
		check(strcmp(rules_verdict_name((enum rules_verdict)e),
		          "unknown") != 0);
	check_str(rules_verdict_name((enum rules_verdict)99), "unknown");
}

int
main(void)
{
	test(t_exprs_bytes, "rule expressions, byte for byte");
	test(t_install_batch, "install batch: messages, flags, seqs");
	test(t_builders_cap, "builders at their size and one byte less");
	test(t_spec, "spec: defaults and zero fields");
	test(t_ct_delete_bytes, "conntrack delete, byte for byte");
	test(t_capture_match, "kernel answer: the installed ruleset");
	test(t_capture_verdicts, "kernel answers: every mismatch");
	test(t_capture_eperm, "kernel answer: no CAP_NET_ADMIN");
	test(t_limit_rules, "LIM_RULES_RULES at N and N+1");
	test(t_limit_exprs, "LIM_RULES_EXPRS at N and N+1");
	test(t_limit_recv, "LIM_RULES_RECV_BYTES at N and N+1");
	test(t_rule_mutations, "one change in the rule at a time");
	test(t_chain_mutations, "one change in the chain at a time");
	test(t_acks, "acks, refusals, stale and inconsistent answers");
	test(t_malformed, "malformed answers");
	test(t_ct_captures, "conntrack: kernel dumps");
	test(t_ct_handmade, "conntrack: what is cut and what is not");
	test(t_print, "printing as nft does");
	test(t_names, "error and verdict names");
	return harness_done();
}
