/*
 * agent/rules_parse.c: the parsers of what the kernel answers.  Byte 0
 * picks the parser (bit 0: conntrack dump, else the nf_tables status
 * exchange, seqs 1..7, 3 answers wanted), byte 1 the pattern of piece
 * sizes; the rest is the stream.  Invariants: the nf_tables parser gives
 * the same state and result fed whole as fed in pieces (what it does not
 * take is offered again with the next piece); it never takes more than it
 * is given; every kept string is terminated and every count within its
 * limit; rules_check gives a known verdict and rules_print works on
 * whatever was parsed.  The conntrack parser takes one message at a time
 * and only marks for cutting TCP to 169.254.169.254:80 that is not
 * destination-NATed, whose delete request then fits LIM_RULES_MSG_BYTES.
 * Every buffer handed to a parser is an exact-size allocation.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter/nf_conntrack_common.h>

#include "agent/rules.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct rules_state whole, piecewise;

static uint8_t *
dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *b = malloc(n ? n : 1);

	if (b == NULL)
		abort();
	if (n > 0)
		memcpy(b, p, n);
	return b;
}

static ssize_t
feed_copy(struct rules_dump *d, const uint8_t *p, size_t n)
{
	uint8_t *b = dup_exact(p, n);
	ssize_t r = rules_dump_feed(d, b, n);

	free(b);
	fuzz_assert(r < 0 || (size_t)r <= n);
	return r;
}

/* Fed in pieces; returns the bytes taken in all, or the error. */
static ssize_t
feed_pieces(const uint8_t *s, size_t n, unsigned seed, struct rules_dump *d)
{
	size_t start = 0, end = 0, i = 0, piece;
	ssize_t r;

	while (end < n) {
		piece = 1 + ((seed >> (i++ % 8)) & 7) * ((seed & 1) ? 1 : 13);
		end += piece < n - end ? piece : n - end;
		if ((r = feed_copy(d, s + start, end - start)) < 0)
			return r;
		start += (size_t)r;
	}
	return (ssize_t)start;
}

static void
check_state(struct rules_state *st)
{
	static const char *const ips[] = {"10.0.0.1", "10.0.0.9", NULL};
	struct rules_spec sp;
	struct in_addr a;
	unsigned i, j;
	FILE *null;

	fuzz_assert(st->kept <= LIM_RULES_RULES && st->kept <= st->nrules);
	fuzz_assert(strnlen(st->type, sizeof(st->type)) < sizeof(st->type));
	for (i = 0; i < st->kept; i++) {
		const struct rules_rule *r = &st->rule[i];

		fuzz_assert(r->kept <= LIM_RULES_EXPRS && r->kept <= r->nexprs);
		fuzz_assert(
		    strnlen(r->chain, sizeof(r->chain)) < sizeof(r->chain));
		for (j = 0; j < r->kept; j++) {
			fuzz_assert(r->expr[j].datalen <= RULES_EXPR_DATA);
			fuzz_assert(r->expr[j].name[RULES_EXPR_NAME - 1] == 0);
			fuzz_assert(r->expr[j].vchain[31] == 0);
		}
	}
	for (i = 0; i < 3; i++) {
		a.s_addr = 0;
		if (ips[i] != NULL)
			inet_pton(AF_INET, ips[i], &a);
		rules_spec_init(&sp, a, ips[i] != NULL ? 2579 : 0);
		fuzz_assert(
		    (unsigned)rules_check(&sp, st) <= RULES_EXTRA_RULES);
		fuzz_assert(
		    strnlen(st->why, sizeof(st->why)) < sizeof(st->why));
		fuzz_assert((st->verdict == RULES_MATCH) ==
		    (strcmp(st->why, "the ruleset is as expected") == 0));
	}
	if ((null = fopen("/dev/null", "w")) == NULL)
		abort();
	fuzz_assert(rules_print(null, st) == 0);
	fclose(null);
}

static void
fuzz_nft(const uint8_t *s, size_t n, unsigned seed)
{
	struct rules_dump dw, dp;
	ssize_t rw, rp;

	rules_state_clear(&whole);
	rules_dump_init(&dw, &whole, 1, 7, 3);
	rw = feed_copy(&dw, s, n);
	rules_state_clear(&piecewise);
	rules_dump_init(&dp, &piecewise, 1, 7, 3);
	rp = feed_pieces(s, n, seed, &dp);
	fuzz_assert(rw == rp);
	/* Both memset by rules_state_clear, then written member by member:
	 * their padding stays zero, so the bytes compare. */
	fuzz_assert(memcmp(&whole, &piecewise, sizeof(whole)) == 0);
	fuzz_assert(dw.done == dp.done && dw.kerr == dp.kerr &&
	    dw.got == dp.got && dw.intr == dp.intr);
	fuzz_assert(dw.kerr >= 0 && dw.kerr <= 4095);
	check_state(&whole);
}

static void
fuzz_ct(const uint8_t *s, size_t n)
{
	struct in_addr imds = {htonl(0xa9fea9fe)};
	uint8_t msg[LIM_RULES_MSG_BYTES];
	size_t off = 0;
	struct rules_ct c;
	uint8_t *b;
	ssize_t r;

	rules_ct_init(&c, 1, imds, 80);
	while (off < n) {
		b = dup_exact(s + off, n - off);
		r = rules_ct_feed(&c, b, n - off);
		free(b);
		if (r <= 0)
			break;
		fuzz_assert((size_t)r <= n - off);
		off += (size_t)r;
		if (!c.matched)
			continue;
		fuzz_assert(c.hit.proto == 6 && c.hit.dport == 80);
		fuzz_assert(c.hit.dst.s_addr == imds.s_addr);
		fuzz_assert(!(c.hit.status & IPS_DST_NAT));
		fuzz_assert(
		    rules_msg_ct_delete(msg, sizeof(msg), 2, &c.hit) > 0);
	}
	fuzz_assert(c.seen <= n / 20);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	if (data[0] & 1)
		fuzz_ct(data + 2, size - 2);
	else
		fuzz_nft(data + 2, size - 2, data[1]);
	return 0;
}
