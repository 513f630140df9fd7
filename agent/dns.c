/*
 * The DNS wire format (see dns.h).  Names are handled in uncompressed wire
 * form (length-prefixed labels, at most 255 bytes with the root label) and
 * compared without ASCII case.  Nothing here trusts a count or a length
 * from the message: each read is checked against the end first.
 */
#include <string.h>

#include "agent/dns.h"
#include "agent/limits.h"

#define DNS_WIRE_MAX 255u /* RFC 1035 3.1: a name, length bytes included */

/* One resource record's fixed part, rdata as an offset into the message. */
struct dns_rr {
	uint8_t owner[DNS_WIRE_MAX];
	size_t owner_len;
	uint16_t type, class;
	uint32_t ttl;
	size_t rdoff, rdlen;
};

static uint16_t
dns_get16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t
dns_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static uint8_t
dns_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

static bool
dns_label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Text name to wire form in out[DNS_WIRE_MAX]; its length or DNS_E_NAME. */
static int
dns_text_to_wire(const char *name, uint8_t *out)
{
	size_t n = 0, lab = 0, i;

	if (name == NULL || name[0] == '\0' || name[0] == '.')
		return DNS_E_NAME;
	for (i = 0;; i++) {
		if (name[i] == '.' || name[i] == '\0') {
			if (i == lab)
				return DNS_E_NAME; /* empty label */
			if (i - lab > 63 ||
			    n + 1 + (i - lab) + 1 > DNS_WIRE_MAX)
				return DNS_E_NAME;
			out[n++] = (uint8_t)(i - lab);
			memcpy(out + n, name + lab, i - lab);
			n += i - lab;
			out[n] = 0;
			lab = i + 1;
			if (name[i] == '\0' || name[i + 1] == '\0')
				return (int)n + 1;
		} else if (!dns_label_char(name[i]))
			return DNS_E_NAME;
	}
}

static bool
dns_name_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t i;

	if (alen != blen)
		return false;
	for (i = 0; i < alen; i++)
		if (dns_lower(a[i]) != dns_lower(b[i]))
			return false;
	return true;
}

/*
 * Reads the name at *off into out (wire form) and moves *off past it.  A
 * pointer must point before the run of labels it ends, so each jump goes
 * strictly backwards and the walk ends; jumps are counted all the same.
 */
static int
dns_name_read(
    const uint8_t *msg, size_t len, size_t *off, uint8_t *out, size_t *olen)
{
	size_t pos = *off, limit = *off, n = 0, target;
	unsigned jumps = 0;
	bool jumped = false;
	uint8_t c;

	for (;;) {
		if (pos >= len)
			return DNS_E_SHORT;
		c = msg[pos];
		if ((c & 0xc0) == 0xc0) {
			if (pos + 1 >= len)
				return DNS_E_SHORT;
			target = (size_t)(c & 0x3f) << 8 | msg[pos + 1];
			if (!jumped)
				*off = pos + 2;
			jumped = true;
			if (target >= limit || ++jumps > LIM_DNS_POINTER_JUMPS)
				return DNS_E_POINTER;
			pos = limit = target;
			continue;
		}
		if (c & 0xc0)
			return DNS_E_FORMAT; /* 01 and 10: extended, obsolete */
		if (n + 1u + c > DNS_WIRE_MAX)
			return DNS_E_FORMAT;
		if (pos + 1u + c > len)
			return DNS_E_SHORT;
		memcpy(out + n, msg + pos, 1u + c);
		n += 1u + c;
		pos += 1u + c;
		if (c == 0)
			break;
	}
	if (!jumped)
		*off = pos;
	*olen = n;
	return 0;
}

/* Reads one resource record at *off and moves past it. */
static int
dns_rr_read(const uint8_t *msg, size_t len, size_t *off, struct dns_rr *rr)
{
	int r;

	if ((r = dns_name_read(msg, len, off, rr->owner, &rr->owner_len)) < 0)
		return r;
	if (len - *off < 10)
		return DNS_E_SHORT;
	rr->type = dns_get16(msg + *off);
	rr->class = dns_get16(msg + *off + 2);
	rr->ttl = dns_get32(msg + *off + 4);
	if (rr->ttl & 0x80000000u)
		rr->ttl = 0; /* RFC 2181 8: a TTL with the top bit set is 0 */
	rr->rdlen = dns_get16(msg + *off + 8);
	rr->rdoff = *off + 10;
	if (len - rr->rdoff < rr->rdlen)
		return DNS_E_SHORT;
	*off = rr->rdoff + rr->rdlen;
	return 0;
}

/* Skips n records from *off. */
static int
dns_rr_skip(const uint8_t *msg, size_t len, size_t *off, unsigned n)
{
	struct dns_rr rr;
	int r;

	while (n-- > 0)
		if ((r = dns_rr_read(msg, len, off, &rr)) < 0)
			return r;
	return 0;
}

/* A name in rdata: it must end exactly where rdata ends. */
static int
dns_rdata_name(
    const uint8_t *msg, const struct dns_rr *rr, uint8_t *out, size_t *olen)
{
	size_t off = rr->rdoff, end = rr->rdoff + rr->rdlen;
	int r;

	if ((r = dns_name_read(msg, end, &off, out, olen)) < 0)
		return r == DNS_E_SHORT ? DNS_E_FORMAT : r;
	return off == end ? 0 : DNS_E_FORMAT;
}

/*
 * The negative TTL of an NXDOMAIN or NODATA answer (RFC 2308 5): the SOA
 * in the authority section, min(its TTL, its MINIMUM).  No SOA: has_ttl
 * stays false.  err is the result to give back when the message is sound.
 */
static int
dns_negative(const uint8_t *msg, size_t len, size_t off, unsigned an,
    unsigned ns, struct dns_info *info, int err)
{
	uint8_t scratch[DNS_WIRE_MAX];
	struct dns_rr rr;
	size_t slen, p;
	uint32_t min;
	int r, k;

	if ((r = dns_rr_skip(msg, len, &off, an)) < 0)
		return r;
	while (ns-- > 0) {
		if ((r = dns_rr_read(msg, len, &off, &rr)) < 0)
			return r;
		if (rr.type != DNS_T_SOA || rr.class != DNS_C_IN ||
		    info->has_ttl)
			continue;
		p = rr.rdoff;
		for (k = 0; k < 2; k++) /* MNAME, RNAME */
			if (dns_name_read(msg, rr.rdoff + rr.rdlen, &p, scratch,
			        &slen) < 0)
				return DNS_E_FORMAT;
		if (rr.rdoff + rr.rdlen - p != 20)
			return DNS_E_FORMAT;
		min = dns_get32(msg + p + 16);
		info->ttl = rr.ttl < min ? rr.ttl : min;
		info->has_ttl = true;
	}
	return err;
}

/* The header and question: ours, or why not.  *off ends past the question. */
static int
dns_check_head(const uint8_t *msg, size_t len, uint16_t id,
    const uint8_t *qwire, size_t qlen, uint16_t qtype, size_t *off)
{
	uint8_t name[DNS_WIRE_MAX];
	uint16_t flags;
	size_t nlen;
	int r;

	if (len < DNS_HEADER_BYTES)
		return DNS_E_SHORT;
	if (dns_get16(msg) != id)
		return DNS_E_ID;
	flags = dns_get16(msg + 2);
	if (!(flags & 0x8000u) || (flags & 0x7800u) != 0)
		return DNS_E_FORMAT; /* a query, or an opcode not QUERY */
	if (dns_get16(msg + 4) != 1)
		return DNS_E_QUESTION;
	*off = DNS_HEADER_BYTES;
	if ((r = dns_name_read(msg, len, off, name, &nlen)) < 0)
		return r;
	if (len - *off < 4)
		return DNS_E_SHORT;
	if (!dns_name_eq(name, nlen, qwire, qlen) ||
	    dns_get16(msg + *off) != qtype ||
	    dns_get16(msg + *off + 2) != DNS_C_IN)
		return DNS_E_QUESTION;
	*off += 4;
	return 0;
}

/*
 * One pass over the answer section for the records of cur: addresses go
 * to addrs, a CNAME of cur to next (*has_next).  Returns the address count
 * seen (stored or dropped) or an error.
 */
static int
dns_answer_pass(const uint8_t *msg, size_t len, size_t off, unsigned an,
    const uint8_t *cur, size_t curlen, uint16_t qtype, uint8_t *addrs,
    unsigned max, struct dns_info *info, uint8_t *next, size_t *nextlen,
    uint32_t *cname_ttl)
{
	size_t asize = qtype == DNS_T_A ? 4 : 16;
	unsigned count = 0;
	struct dns_rr rr;
	int r;

	*nextlen = 0;
	while (an-- > 0) {
		if ((r = dns_rr_read(msg, len, &off, &rr)) < 0)
			return r;
		if (rr.class != DNS_C_IN ||
		    !dns_name_eq(rr.owner, rr.owner_len, cur, curlen))
			continue;
		if (rr.type == qtype) {
			if (rr.rdlen != asize)
				return DNS_E_FORMAT;
			if (count < max)
				memcpy(addrs + asize * count, msg + rr.rdoff,
				    asize);
			else
				info->dropped++;
			count++;
			info->ttl = rr.ttl < info->ttl ? rr.ttl : info->ttl;
		} else if (rr.type == DNS_T_CNAME && *nextlen == 0) {
			if ((r = dns_rdata_name(msg, &rr, next, nextlen)) < 0)
				return r;
			*cname_ttl = rr.ttl;
		}
	}
	return (int)(count < max ? count : max);
}

/* Follows the chain from qname through the answer section. */
static int
dns_answers(const uint8_t *msg, size_t len, size_t off, unsigned an,
    const uint8_t *qwire, size_t qlen, uint16_t qtype, void *addrs,
    unsigned max, struct dns_info *info)
{
	uint8_t names[2][DNS_WIRE_MAX];
	size_t curlen = qlen, nextlen;
	uint32_t cname_ttl = 0;
	unsigned cur = 0;
	int n;

	memcpy(names[0], qwire, qlen);
	info->ttl = UINT32_MAX;
	for (;;) {
		n = dns_answer_pass(msg, len, off, an, names[cur], curlen,
		    qtype, addrs, max, info, names[cur ^ 1], &nextlen,
		    &cname_ttl);
		if (n != 0)
			break;
		if (nextlen == 0) {
			info->ttl = 0;
			return DNS_E_NODATA;
		}
		if (++info->cnames > LIM_DNS_CNAME_HOPS)
			return DNS_E_CNAME;
		info->ttl = cname_ttl < info->ttl ? cname_ttl : info->ttl;
		cur ^= 1;
		curlen = nextlen;
	}
	if (n > 0)
		info->has_ttl = true;
	return n;
}

int
dns_query_build(
    uint8_t *buf, size_t cap, uint16_t id, const char *name, uint16_t qtype)
{
	uint8_t wire[DNS_WIRE_MAX];
	int n;

	if ((n = dns_text_to_wire(name, wire)) < 0)
		return n;
	if (buf == NULL || cap < DNS_HEADER_BYTES + (size_t)n + 4)
		return DNS_E_SPACE;
	memset(buf, 0, DNS_HEADER_BYTES);
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = (uint8_t)id;
	buf[2] = 0x01; /* RD */
	buf[5] = 1;    /* QDCOUNT */
	memcpy(buf + DNS_HEADER_BYTES, wire, (size_t)n);
	n += DNS_HEADER_BYTES;
	buf[n++] = (uint8_t)(qtype >> 8);
	buf[n++] = (uint8_t)qtype;
	buf[n++] = 0;
	buf[n++] = DNS_C_IN;
	return n;
}

int
dns_answer_parse(const uint8_t *msg, size_t len, uint16_t id, const char *qname,
    uint16_t qtype, void *addrs, unsigned max, struct dns_info *info)
{
	uint8_t qwire[DNS_WIRE_MAX];
	unsigned an, ns;
	size_t off;
	int qlen, r;

	if (info == NULL || msg == NULL || addrs == NULL || max == 0 ||
	    (qtype != DNS_T_A && qtype != DNS_T_AAAA))
		return DNS_E_INVAL;
	memset(info, 0, sizeof(*info));
	if ((qlen = dns_text_to_wire(qname, qwire)) < 0)
		return qlen;
	if ((r = dns_check_head(
	         msg, len, id, qwire, (size_t)qlen, qtype, &off)) < 0)
		return r;
	info->rcode = msg[3] & 0x0fu;
	if (msg[2] & 0x02u)
		return DNS_E_TRUNCATED;
	an = dns_get16(msg + 6);
	ns = dns_get16(msg + 8);
	switch (info->rcode) {
	case 0:
		break;
	case 3:
		return dns_negative(
		    msg, len, off, an, ns, info, DNS_E_NXDOMAIN);
	case 2:
		return DNS_E_SERVFAIL;
	default:
		return DNS_E_REFUSED;
	}
	r = dns_answers(
	    msg, len, off, an, qwire, (size_t)qlen, qtype, addrs, max, info);
	if (r == DNS_E_NODATA)
		return dns_negative(msg, len, off, an, ns, info, DNS_E_NODATA);
	return r;
}

void
dns_tcp_init(struct dns_tcp *t, uint8_t *buf, size_t cap)
{
	memset(t, 0, sizeof(*t));
	t->buf = buf;
	t->cap = cap;
}

int
dns_tcp_feed(struct dns_tcp *t, const uint8_t *data, size_t len)
{
	size_t used = 0, take;

	while (t->nprefix < 2 && used < len)
		t->prefix[t->nprefix++] = data[used++];
	if (t->nprefix < 2)
		return (int)used;
	if (t->need == 0) {
		t->need = dns_get16(t->prefix);
		if (t->need == 0)
			return DNS_E_FORMAT;
		if (t->need > t->cap) {
			t->need = 0;
			return DNS_E_TOOBIG;
		}
	}
	take = t->need - t->have;
	take = take < len - used ? take : len - used;
	memcpy(t->buf + t->have, data + used, take);
	t->have += take;
	return (int)(used + take);
}

bool
dns_tcp_done(const struct dns_tcp *t, const uint8_t **msg, size_t *len)
{
	if (t->need == 0 || t->have < t->need)
		return false;
	*msg = t->buf;
	*len = t->have;
	return true;
}

const char *
dns_strerror(int err)
{
	static const char *const names[] = {
	    [-DNS_E_INVAL] = "invalid argument",
	    [-DNS_E_NAME] = "bad name",
	    [-DNS_E_SPACE] = "query does not fit",
	    [-DNS_E_SHORT] = "message ends inside a field",
	    [-DNS_E_FORMAT] = "malformed message",
	    [-DNS_E_POINTER] = "bad compression pointer",
	    [-DNS_E_ID] = "wrong id",
	    [-DNS_E_QUESTION] = "wrong question",
	    [-DNS_E_TRUNCATED] = "truncated",
	    [-DNS_E_NXDOMAIN] = "no such name",
	    [-DNS_E_SERVFAIL] = "server failure",
	    [-DNS_E_REFUSED] = "server refused",
	    [-DNS_E_NODATA] = "no data",
	    [-DNS_E_CNAME] = "cname chain too long",
	    [-DNS_E_TOOBIG] = "message too big",
	};

	if (err < 0 && -err < (int)(sizeof(names) / sizeof(*names)) &&
	    names[-err] != NULL)
		return names[-err];
	return "unknown dns error";
}
