/*
 * dns: the DNS wire format, as much as a stub resolver needs (RFC 1035,
 * 2181, 2308).  Pure: no syscalls, no allocation, no globals.  A query is
 * built into the caller's buffer; an answer is checked against the query
 * it should answer (ID, question echoed, name compared without case) and
 * its addresses copied out.  Compression pointers must point backwards and
 * are counted, so no message can make the parser loop; every length is
 * checked against the message.  Over TCP, messages carry a 2-byte length:
 * dns_tcp_feed reassembles one from pieces (push-style).
 *
 * A and AAAA records are understood (4 and 16 bytes of address); the
 * resolver (agent/resolv.c) asks for A only.
 */
#ifndef AGENT_DNS_H
#define AGENT_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_T_A     1u
#define DNS_T_NS    2u
#define DNS_T_CNAME 5u
#define DNS_T_SOA   6u
#define DNS_T_AAAA  28u
#define DNS_C_IN    1u

#define DNS_HEADER_BYTES 12u

/* Errors: negative return codes; dns_strerror() names them. */
enum dns_err {
	DNS_E_INVAL = -1,   /* bad argument (qtype, buffer) */
	DNS_E_NAME = -2,    /* name unusable: empty label, too long, bad char */
	DNS_E_SPACE = -3,   /* query does not fit the caller's buffer */
	DNS_E_SHORT = -4,   /* message ends inside a field */
	DNS_E_FORMAT = -5,  /* malformed message (counts, label types, rdata) */
	DNS_E_POINTER = -6, /* compression pointer forward, or too many */
	DNS_E_ID = -7,      /* not our ID */
	DNS_E_QUESTION = -8,  /* not a response to our question */
	DNS_E_TRUNCATED = -9, /* TC bit: ask again over TCP */
	DNS_E_NXDOMAIN = -10, /* rcode 3: the name does not exist */
	DNS_E_SERVFAIL = -11, /* rcode 2: the server could not answer */
	DNS_E_REFUSED = -12,  /* any other rcode (refused, notimp, formerr) */
	DNS_E_NODATA = -13,   /* name exists, no record of the type */
	DNS_E_CNAME = -14,    /* CNAME chain longer than LIM_DNS_CNAME_HOPS */
	DNS_E_TOOBIG = -15,   /* TCP message longer than the caller's buffer */
};

/* What dns_answer_parse learnt besides the addresses. */
struct dns_info {
	uint32_t ttl;     /* s: min TTL of the records used, or negative TTL */
	bool has_ttl;     /* false: negative answer without an SOA */
	unsigned cnames;  /* CNAME hops followed */
	unsigned dropped; /* matching addresses beyond max, not stored */
	unsigned rcode;   /* header rcode, when the header was ours */
};

/*
 * Builds a recursive (RD) query for name (text, optional trailing dot,
 * labels of letters, digits, '-' and '_') of type qtype, class IN, with
 * ID id into buf[0..cap).  Returns its length, DNS_E_NAME or DNS_E_SPACE.
 * A query is at most DNS_HEADER_BYTES + 255 + 4 bytes.
 */
int dns_query_build(
    uint8_t *buf, size_t cap, uint16_t id, const char *name, uint16_t qtype);

/*
 * Parses the answer msg[0..len) to the query (id, qname, qtype: A or
 * AAAA, class IN), following CNAMEs from qname inside the answer.  Copies
 * up to max addresses (4 bytes each for A, 16 for AAAA) into addrs and
 * fills *info.  Returns the count (>= 1), or a negative enum dns_err:
 * ID, QUESTION and malformed ones mean "not our answer"; NXDOMAIN and
 * NODATA carry the negative TTL (SOA, RFC 2308) in *info.
 */
int dns_answer_parse(const uint8_t *msg, size_t len, uint16_t id,
    const char *qname, uint16_t qtype, void *addrs, unsigned max,
    struct dns_info *info);

/*
 * TCP reassembly of one length-prefixed message into the caller's buf
 * (cap bytes, which must outlive the state).  Members are private.
 */
struct dns_tcp {
	uint8_t *buf;
	size_t cap;
	size_t have; /* message bytes stored */
	size_t need; /* message length, once both prefix bytes came */
	uint8_t prefix[2];
	unsigned nprefix;
};

/* Starts (or restarts) reassembly into buf[0..cap). */
void dns_tcp_init(struct dns_tcp *t, uint8_t *buf, size_t cap);

/*
 * Takes bytes of the stream from data[0..len).  Returns how many were
 * consumed (less than len only once the message is complete), or
 * DNS_E_TOOBIG (length above cap) or DNS_E_FORMAT (length 0).
 */
int dns_tcp_feed(struct dns_tcp *t, const uint8_t *data, size_t len);

/*
 * True once a whole message is in; then *msg and *len point at it, a
 * slice of the caller's buffer valid until the next dns_tcp_init.
 */
bool dns_tcp_done(const struct dns_tcp *t, const uint8_t **msg, size_t *len);

/* A fixed description of err (enum dns_err). */
const char *dns_strerror(int err);

#endif
