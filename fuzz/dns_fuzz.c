/*
 * agent/dns.c: dns_answer_parse and the TCP reassembly.  Input: byte 0
 * picks the query type (bit 0: AAAA), how many addresses fit (bits 1-3:
 * 1..8) and whether the ID is the message's own (bit 7) or 0x1234; byte 1
 * picks the question name; the rest is the message.  Invariants: the
 * parse is deterministic, writes only into its exact-size address array,
 * returns at most max addresses with a TTL, or an error with a name; the
 * TCP reassembly of a framed copy gives the same message fed whole as fed
 * in pieces.  The message is an exact-size copy.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/dns.h"
#include "agent/limits.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *const fuzz_names[] = {"a.test", "A.TEST.", "c0.test",
    "alias.test", "big.test", "x", "nx.test", "spoof.test", "host.two.test",
    "empty.test"};

/* Frames msg for TCP and reassembles it in pieces of 1..8 bytes. */
static void
fuzz_tcp(const uint8_t *msg, size_t len, unsigned seed)
{
	uint8_t *framed, *buf;
	const uint8_t *out;
	struct dns_tcp t;
	size_t pos = 0, piece, outlen;
	int n;

	if (len == 0 || len > 65535)
		return;
	if ((framed = malloc(len + 2)) == NULL || (buf = malloc(len)) == NULL)
		abort();
	framed[0] = (uint8_t)(len >> 8);
	framed[1] = (uint8_t)len;
	memcpy(framed + 2, msg, len);
	dns_tcp_init(&t, buf, len);
	while (pos < len + 2) {
		piece = 1 + ((seed >> (pos % 8)) & 7);
		piece = piece < len + 2 - pos ? piece : len + 2 - pos;
		n = dns_tcp_feed(&t, framed + pos, piece);
		fuzz_assert(n == (int)piece);
		pos += piece;
	}
	fuzz_assert(dns_tcp_done(&t, &out, &outlen));
	fuzz_assert(out == buf && outlen == len && memcmp(buf, msg, len) == 0);
	dns_tcp_init(&t, buf, len - 1); /* one byte short: refused */
	fuzz_assert(dns_tcp_feed(&t, framed, len + 2) == DNS_E_TOOBIG);
	free(framed);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint16_t qtype, id;
	struct dns_info info, again;
	size_t asize, len;
	unsigned max;
	uint8_t *msg, *addrs, *addrs2;
	const char *qname;
	int r, r2;

	if (size < 2)
		return 0;
	qtype = (data[0] & 1) ? DNS_T_AAAA : DNS_T_A;
	asize = qtype == DNS_T_A ? 4 : 16;
	max = 1 + ((data[0] >> 1) & 7);
	qname =
	    fuzz_names[data[1] % (sizeof(fuzz_names) / sizeof(*fuzz_names))];
	len = size - 2;
	if ((msg = malloc(len ? len : 1)) == NULL ||
	    (addrs = malloc(asize * max)) == NULL ||
	    (addrs2 = malloc(asize * max)) == NULL)
		abort();
	memcpy(msg, data + 2, len);
	id = (data[0] & 0x80) && len >= 2 ? (uint16_t)(msg[0] << 8 | msg[1])
	                                  : 0x1234;
	r = dns_answer_parse(msg, len, id, qname, qtype, addrs, max, &info);
	r2 = dns_answer_parse(msg, len, id, qname, qtype, addrs2, max, &again);
	fuzz_assert(r == r2);
	if (r > 0) {
		fuzz_assert((unsigned)r <= max && info.has_ttl);
		fuzz_assert(info.cnames <= LIM_DNS_CNAME_HOPS);
		fuzz_assert(info.dropped == 0 || (unsigned)r == max);
		fuzz_assert(memcmp(addrs, addrs2, asize * (unsigned)r) == 0);
		fuzz_assert(info.ttl == again.ttl);
	} else {
		fuzz_assert(
		    r < 0 && strcmp(dns_strerror(r), "unknown dns error") != 0);
	}
	fuzz_tcp(msg, len, data[0]);
	free(msg);
	free(addrs);
	free(addrs2);
	return 0;
}
