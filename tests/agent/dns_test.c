/*
 * agent/dns.c: queries byte for byte, answers built here field by field
 * and parsed from the end of a page whose next page is PROT_NONE (an
 * over-read faults), every proper prefix of each answer (must be refused,
 * never read past), names, pointers and CNAME chains at their limits N and
 * N+1, and the TCP reassembly fed whole and byte by byte.
 */
#include <sys/mman.h>

#include <arpa/inet.h>
#include <stdint.h>
#include <unistd.h>

#include "agent/dns.h"
#include "agent/limits.h"
#include "tests/guard.h"
#include "tests/harness.h"

/* A message being built. */
struct mb {
	uint8_t b[2048];
	size_t n;
};

static void
put8(struct mb *m, unsigned v)
{
	m->b[m->n++] = (uint8_t)v;
}

static void
put16(struct mb *m, unsigned v)
{
	put8(m, v >> 8);
	put8(m, v & 0xff);
}

static void
put32(struct mb *m, uint32_t v)
{
	put16(m, v >> 16);
	put16(m, v & 0xffff);
}

static void
putname(struct mb *m, const char *name)
{
	const char *dot;

	while (*name) {
		dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		put8(m, (unsigned)l);
		memcpy(m->b + m->n, name, l);
		m->n += l;
		name += l + (dot != NULL);
	}
	put8(m, 0);
}

/* Header with id 0x1234, QR RD RA, rcode, counts; question qname A IN. */
static void
head(struct mb *m, unsigned flags, unsigned an, unsigned ns, const char *qn,
    unsigned qtype)
{
	m->n = 0;
	put16(m, 0x1234);
	put16(m, 0x8180 | flags);
	put16(m, 1);
	put16(m, an);
	put16(m, ns);
	put16(m, 0);
	putname(m, qn);
	put16(m, qtype);
	put16(m, DNS_C_IN);
}

/* A record whose owner is a pointer to the question (offset 12). */
static void
rr_a(struct mb *m, const char *addr, uint32_t ttl)
{
	struct in_addr a;

	inet_pton(AF_INET, addr, &a);
	put16(m, 0xc00c);
	put16(m, DNS_T_A);
	put16(m, DNS_C_IN);
	put32(m, ttl);
	put16(m, 4);
	memcpy(m->b + m->n, &a, 4);
	m->n += 4;
}

static void
rr_soa(struct mb *m, uint32_t ttl, uint32_t minimum)
{
	size_t len_at;

	putname(m, "test");
	put16(m, DNS_T_SOA);
	put16(m, DNS_C_IN);
	put32(m, ttl);
	len_at = m->n;
	put16(m, 0);
	putname(m, "ns.test");
	put16(m, 0xc00c); /* rname compressed */
	put32(m, 1);
	put32(m, 2);
	put32(m, 3);
	put32(m, 4);
	put32(m, minimum);
	m->b[len_at] = (uint8_t)((m->n - len_at - 2) >> 8);
	m->b[len_at + 1] = (uint8_t)(m->n - len_at - 2);
}

static int
parse(const struct mb *m, const char *qname, struct in_addr *a, unsigned max,
    struct dns_info *info)
{
	return dns_answer_parse(
	    guard_copy(m->b, m->n), m->n, 0x1234, qname, DNS_T_A, a, max, info);
}

/* Every proper prefix is refused without reading past it. */
static void
check_prefixes(const struct mb *m, const char *qname)
{
	struct in_addr a[4];
	struct dns_info info;
	size_t len;
	int r;

	for (len = 0; len < m->n; len++) {
		r = dns_answer_parse(guard_copy(m->b, len), len, 0x1234, qname,
		    DNS_T_A, a, 4, &info);
		if (r >= 0)
			fprintf(stderr, "prefix %zu parsed as %d\n", len, r);
		check(r < 0);
	}
}

static const char *
ntoa(const struct in_addr *a)
{
	static char buf[INET_ADDRSTRLEN];

	return inet_ntop(AF_INET, a, buf, sizeof(buf));
}

static void
t_query(void)
{
	static const uint8_t want[] = {0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0,
	    0, 1, 'a', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1};
	uint8_t buf[LIM_DNS_QUERY_BYTES];
	int n;

	n = dns_query_build(buf, sizeof(buf), 0x1234, "a.test", DNS_T_A);
	check_int(n, sizeof(want));
	check(memcmp(buf, want, sizeof(want)) == 0);
	n = dns_query_build(buf, sizeof(buf), 0x1234, "a.test.", DNS_T_A);
	check_int(n, sizeof(want));
	check(memcmp(buf, want, sizeof(want)) == 0);
	check_int(
	    dns_query_build(buf, sizeof(want), 1, "a.test", 1), sizeof(want));
	check_int(dns_query_build(buf, sizeof(want) - 1, 1, "a.test", 1),
	    DNS_E_SPACE);
	check_int(dns_query_build(buf, sizeof(buf), 1, "", 1), DNS_E_NAME);
	check_int(dns_query_build(buf, sizeof(buf), 1, ".", 1), DNS_E_NAME);
	check_int(dns_query_build(buf, sizeof(buf), 1, "a..b", 1), DNS_E_NAME);
	check_int(dns_query_build(buf, sizeof(buf), 1, ".a", 1), DNS_E_NAME);
	check_int(dns_query_build(buf, sizeof(buf), 1, "a.b..", 1), DNS_E_NAME);
	check_int(dns_query_build(buf, sizeof(buf), 1, "a b", 1), DNS_E_NAME);
	check_int(dns_query_build(buf, sizeof(buf), 1, "a\\.b", 1), DNS_E_NAME);
	check_int(dns_query_build(buf, sizeof(buf), 1, NULL, 1), DNS_E_NAME);
	check(dns_query_build(buf, sizeof(buf), 1, "_x-1.Y", 1) > 0);
}

/* Labels of 63 bytes and names of 253 (255 in wire form) at N and N+1. */
static void
t_name_limits(void)
{
	uint8_t buf[LIM_DNS_QUERY_BYTES];
	char name[300];
	size_t i;

	memset(name, 'a', 63);
	name[63] = '\0';
	check_int(dns_query_build(buf, sizeof(buf), 1, name, 1), 12 + 65 + 4);
	name[63] = 'a';
	name[64] = '\0';
	check_int(dns_query_build(buf, sizeof(buf), 1, name, 1), DNS_E_NAME);
	for (i = 0; i < LIM_RESOLV_NAME_BYTES; i++)
		name[i] = i % 50 == 49 ? '.' : 'a';
	name[LIM_RESOLV_NAME_BYTES] = '\0';
	check_int(dns_query_build(buf, sizeof(buf), 1, name, 1), 12 + 255 + 4);
	check(12 + 255 + 4 <= LIM_DNS_QUERY_BYTES);
	name[LIM_RESOLV_NAME_BYTES] = '.';
	name[LIM_RESOLV_NAME_BYTES + 1] = '\0';
	check_int(dns_query_build(buf, sizeof(buf), 1, name, 1), 12 + 255 + 4);
	name[LIM_RESOLV_NAME_BYTES] = 'a';
	check_int(dns_query_build(buf, sizeof(buf), 1, name, 1), DNS_E_NAME);
}

static void
t_answer(void)
{
	struct in_addr a[4];
	struct dns_info info;
	struct mb m;
	int r;

	head(&m, 0, 2, 0, "a.test", DNS_T_A);
	rr_a(&m, "10.0.0.1", 300);
	rr_a(&m, "10.0.0.2", 60);
	r = parse(&m, "A.Test", a, 4, &info);
	check_int(r, 2);
	check_str(ntoa(&a[0]), "10.0.0.1");
	check_str(ntoa(&a[1]), "10.0.0.2");
	check_int(info.ttl, 60);
	check(info.has_ttl);
	check_int(info.rcode, 0);
	check_prefixes(&m, "a.test");
	r = parse(&m, "a.test.", a, 1, &info); /* max 1: one dropped */
	check_int(r, 1);
	check_int(info.dropped, 1);
	check_int(parse(&m, "b.test", a, 4, &info), DNS_E_QUESTION);
	check_int(
	    dns_answer_parse(m.b, m.n, 0x1235, "a.test", DNS_T_A, a, 4, &info),
	    DNS_E_ID);
	check_int(dns_answer_parse(
	              m.b, m.n, 0x1234, "a.test", DNS_T_AAAA, a, 4, &info),
	    DNS_E_QUESTION);
	check_int(dns_answer_parse(
	              m.b, m.n, 0x1234, "a.test", DNS_T_CNAME, a, 4, &info),
	    DNS_E_INVAL);
	check_int(parse(&m, "a..test", a, 4, &info), DNS_E_NAME);
	check_int(parse(&m, "a.test", a, 0, &info), DNS_E_INVAL);
	m.b[2] &= 0x7f; /* a query, not a response */
	check_int(parse(&m, "a.test", a, 4, &info), DNS_E_FORMAT);
}

static void
t_rcodes(void)
{
	struct in_addr a[4];
	struct dns_info info;
	struct mb m;

	head(&m, 0x0200, 0, 0, "a.test", DNS_T_A);
	check_int(parse(&m, "a.test", a, 4, &info), DNS_E_TRUNCATED);
	head(&m, 2, 0, 0, "a.test", DNS_T_A);
	check_int(parse(&m, "a.test", a, 4, &info), DNS_E_SERVFAIL);
	head(&m, 5, 0, 0, "a.test", DNS_T_A);
	check_int(parse(&m, "a.test", a, 4, &info), DNS_E_REFUSED);
	check_int(info.rcode, 5);
	head(&m, 3, 0, 1, "a.test", DNS_T_A);
	rr_soa(&m, 30, 7);
	check_int(parse(&m, "a.test", a, 4, &info), DNS_E_NXDOMAIN);
	check(info.has_ttl);
	check_int(info.ttl, 7);
	check_prefixes(&m, "a.test");
	head(&m, 3, 0, 1, "a.test", DNS_T_A);
	rr_soa(&m, 5, 700);
	check_int(parse(&m, "a.test", a, 4, &info), DNS_E_NXDOMAIN);
	check_int(info.ttl, 5);
	head(&m, 3, 0, 0, "a.test", DNS_T_A);
	check_int(parse(&m, "a.test", a, 4, &info), DNS_E_NXDOMAIN);
	check(!info.has_ttl);
	/* no data: an answer for another name, an SOA */
	head(&m, 0, 1, 1, "a.test", DNS_T_A);
	putname(&m, "b.test");
	put16(&m, DNS_T_A);
	put16(&m, DNS_C_IN);
	put32(&m, 9);
	put16(&m, 4);
	put32(&m, 0x0a000001);
	rr_soa(&m, 30, 3);
	check_int(parse(&m, "a.test", a, 4, &info), DNS_E_NODATA);
	check_int(info.ttl, 3);
	check_prefixes(&m, "a.test");
}

/* A chain of hops CNAMEs from the question to an A record, reversed. */
static void
chain(struct mb *m, unsigned hops)
{
	char owner[32], target[32];
	unsigned i;

	head(m, 0, hops + 1, 0, "c0.test", DNS_T_A);
	for (i = hops; i > 0; i--) { /* any order is followed */
		snprintf(owner, sizeof(owner), "C%u.test", i - 1);
		snprintf(target, sizeof(target), "c%u.test", i);
		putname(m, owner);
		put16(m, DNS_T_CNAME);
		put16(m, DNS_C_IN);
		put32(m, 100 + i);
		put16(m, (unsigned)strlen(target) + 2);
		putname(m, target);
	}
	snprintf(owner, sizeof(owner), "c%u.test", hops);
	putname(m, owner);
	put16(m, DNS_T_A);
	put16(m, DNS_C_IN);
	put32(m, 0x80000000u); /* top bit: 0 (RFC 2181) */
	put16(m, 4);
	put32(m, 0x0a090909);
}

static void
t_cname(void)
{
	struct in_addr a[4];
	struct dns_info info;
	struct mb m;

	chain(&m, 2);
	check_int(parse(&m, "c0.test", a, 4, &info), 1);
	check_str(ntoa(&a[0]), "10.9.9.9");
	check_int(info.cnames, 2);
	check_int(info.ttl, 0);
	check_prefixes(&m, "c0.test");
	chain(&m, LIM_DNS_CNAME_HOPS);
	check_int(parse(&m, "c0.test", a, 4, &info), 1);
	check_int(info.cnames, LIM_DNS_CNAME_HOPS);
	chain(&m, LIM_DNS_CNAME_HOPS + 1);
	check_int(parse(&m, "c0.test", a, 4, &info), DNS_E_CNAME);
	/* a CNAME loop ends at the hop limit */
	head(&m, 0, 1, 0, "c0.test", DNS_T_A);
	put16(&m, 0xc00c);
	put16(&m, DNS_T_CNAME);
	put16(&m, DNS_C_IN);
	put32(&m, 1);
	put16(&m, 2);
	put16(&m, 0xc00c);
	check_int(parse(&m, "c0.test", a, 4, &info), DNS_E_CNAME);
	/* a CNAME whose name runs past its rdata */
	m.b[m.n - 3] = 1;
	m.n--;
	check(parse(&m, "c0.test", a, 4, &info) < 0);
}

/*
 * An answer whose A record's owner reaches the question through jumps
 * pointers: a blob record holds jumps - 1 pointers, each to the one before.
 */
static void
pointers(struct mb *m, unsigned jumps)
{
	size_t i;

	head(m, 0, 2, 0, "a.test", DNS_T_A);
	put8(m, 0);
	put16(m, 99);
	put16(m, DNS_C_IN);
	put32(m, 1);
	put16(m, 2 * (jumps - 1));
	for (i = 0; i + 1 < jumps; i++)
		put16(m, i == 0 ? 0xc00c : 0xc000 | (unsigned)(m->n - 2));
	put16(m, jumps == 1 ? 0xc00c : 0xc000 | (unsigned)(m->n - 2));
	put16(m, DNS_T_A);
	put16(m, DNS_C_IN);
	put32(m, 5);
	put16(m, 4);
	put32(m, 0x0a000001);
}

static void
t_pointers(void)
{
	struct in_addr a[4];
	struct dns_info info;
	struct mb m;

	pointers(&m, 1);
	check_int(parse(&m, "a.test", a, 4, &info), 1);
	pointers(&m, LIM_DNS_POINTER_JUMPS);
	check_int(parse(&m, "a.test", a, 4, &info), 1);
	check_prefixes(&m, "a.test");
	pointers(&m, LIM_DNS_POINTER_JUMPS + 1);
	check_int(parse(&m, "a.test", a, 4, &info), DNS_E_POINTER);
	/* a pointer to itself, and one forward */
	head(&m, 0, 1, 0, "a.test", DNS_T_A);
	put16(&m, 0xc000 | (unsigned)m.n);
	check_int(parse(&m, "a.test", a, 4, &info), DNS_E_POINTER);
	head(&m, 0, 1, 0, "a.test", DNS_T_A);
	put16(&m, 0xc000 | (unsigned)(m.n + 2));
	put8(&m, 0);
	check_int(parse(&m, "a.test", a, 4, &info), DNS_E_POINTER);
	/* a question name pointing at itself */
	m.n = 12;
	put16(&m, 0xc00c);
	check_int(parse(&m, "a.test", a, 4, &info), DNS_E_POINTER);
	/* label types 01 and 10 */
	head(&m, 0, 1, 0, "a.test", DNS_T_A);
	put8(&m, 0x41);
	check_int(parse(&m, "a.test", a, 4, &info), DNS_E_FORMAT);
	head(&m, 0, 1, 0, "a.test", DNS_T_A);
	put8(&m, 0x81);
	check_int(parse(&m, "a.test", a, 4, &info), DNS_E_FORMAT);
}

/* A name that only grows past 255 bytes through pointers is refused. */
static void
t_long_name(void)
{
	struct in_addr a[4];
	struct dns_info info;
	struct mb m;
	size_t prev = 12;
	unsigned i;

	head(&m, 0, 6, 0, "a.test", DNS_T_A);
	for (i = 0; i < 5; i++) { /* five records of 63+1 more bytes each */
		size_t owner = m.n;

		put8(&m, 63);
		memset(m.b + m.n, 'x', 63);
		m.n += 63;
		put16(&m, 0xc000 | (unsigned)prev);
		prev = owner;
		put16(&m, 99);
		put16(&m, DNS_C_IN);
		put32(&m, 1);
		put16(&m, 0);
	}
	check_int(parse(&m, "a.test", a, 4, &info), DNS_E_FORMAT);
}

static void
t_rdata(void)
{
	struct in6_addr a6[2];
	struct in_addr a[4];
	struct dns_info info;
	struct mb m;

	head(&m, 0, 1, 0, "a.test", DNS_T_A);
	rr_a(&m, "10.0.0.1", 1);
	m.b[m.n - 5] = 5; /* rdlength 5 with 4 bytes left */
	check_int(parse(&m, "a.test", a, 4, &info), DNS_E_SHORT);
	put8(&m, 0);
	check_int(parse(&m, "a.test", a, 4, &info), DNS_E_FORMAT);
	head(&m, 0, 1, 0, "a.test", DNS_T_AAAA);
	put16(&m, 0xc00c);
	put16(&m, DNS_T_AAAA);
	put16(&m, DNS_C_IN);
	put32(&m, 10);
	put16(&m, 16);
	inet_pton(AF_INET6, "2001:db8::1", m.b + m.n);
	m.n += 16;
	check_int(dns_answer_parse(guard_copy(m.b, m.n), m.n, 0x1234, "a.test",
	              DNS_T_AAAA, a6, 2, &info),
	    1);
	check(memcmp(&a6[0], m.b + m.n - 16, 16) == 0);
	/* header only, no question */
	m.n = 12;
	m.b[5] = 0;
	check_int(parse(&m, "a.test", a, 4, &info), DNS_E_QUESTION);
}

/* The same message through dns_tcp, whole and byte by byte. */
static void
t_tcp(void)
{
	uint8_t stream[64], buf[32];
	struct dns_tcp t;
	const uint8_t *msg;
	size_t len, i;
	int n;

	stream[0] = 0;
	stream[1] = 32;
	memset(stream + 2, 'm', 32);
	stream[34] = 0xee; /* the next message's first byte */
	dns_tcp_init(&t, buf, sizeof(buf));
	n = dns_tcp_feed(&t, guard_copy(stream, 35), 35);
	check_int(n, 34);
	check(dns_tcp_done(&t, &msg, &len) && len == 32 && msg == buf);
	check(memcmp(msg, stream + 2, 32) == 0);
	dns_tcp_init(&t, buf, sizeof(buf));
	for (i = 0; i < 34; i++) {
		check(!dns_tcp_done(&t, &msg, &len));
		check_int(dns_tcp_feed(&t, guard_copy(stream + i, 1), 1), 1);
	}
	check(dns_tcp_done(&t, &msg, &len) && len == 32);
	check_int(dns_tcp_feed(&t, stream, 5), 0);
	/* cap N and N+1 */
	dns_tcp_init(&t, buf, 31);
	check_int(dns_tcp_feed(&t, stream, 34), DNS_E_TOOBIG);
	stream[1] = 0;
	dns_tcp_init(&t, buf, 31);
	check_int(dns_tcp_feed(&t, stream, 34), DNS_E_FORMAT);
}

static void
t_strerror(void)
{
	check_str(dns_strerror(DNS_E_POINTER), "bad compression pointer");
	check_str(dns_strerror(DNS_E_TOOBIG), "message too big");
	check_str(dns_strerror(0), "unknown dns error");
	check_str(dns_strerror(-100), "unknown dns error");
}

int
main(void)
{
	test(t_query, "query build");
	test(t_name_limits, "label and name length at N and N+1");
	test(t_answer, "answer, prefixes, id, question");
	test(t_rcodes, "tc, rcodes, negative ttl");
	test(t_cname, "cname chains at N and N+1");
	test(t_pointers, "compression pointers at N and N+1");
	test(t_long_name, "name over 255 through pointers");
	test(t_rdata, "rdata lengths, aaaa");
	test(t_tcp, "tcp framing whole and byte by byte");
	test(t_strerror, "strerror");
	return harness_done();
}
