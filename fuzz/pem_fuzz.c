/*
 * Fuzz target "pem": the input, copied into a buffer of its exact size, goes
 * to the three pure PEM parsers (trust anchors, private key, chain) with
 * small stores so the limits are reached.  Invariants: results agree with
 * the stores' counters, every slice lies inside its store, errors have
 * names, and the anchors come out the same when the input is fed in two
 * pieces split at a point taken from the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/pem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_ANCHORS 8
#define FZ_MEM     4096
#define FZ_CERTS   4

#define must(cond)                                                             \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

static br_x509_trust_anchor fz_ta[FZ_ANCHORS], fz_ta2[FZ_ANCHORS];
static unsigned char fz_mem[FZ_MEM], fz_mem2[FZ_MEM];
static br_x509_certificate fz_certs[FZ_CERTS];

static int
inside(const unsigned char *p, size_t len, const unsigned char *lo, size_t used)
{
	return p >= lo && len <= used && p + len <= lo + used;
}

static void
fz_check_err(int rc)
{
	if (rc < 0)
		must(strcmp(pem_strerror(rc), "unknown pem error") != 0);
}

static void
fz_check_anchors(const struct pem_anchors *a, int rc)
{
	const br_x509_pkey *pk;
	size_t i;

	fz_check_err(rc);
	must(rc < 0 ? a->count == 0 : (size_t)rc == a->count && rc > 0);
	must(a->count <= a->max && a->used <= a->cap);
	for (i = 0; i < a->count; i++) {
		pk = &a->ta[i].pkey;
		must(
		    inside(a->ta[i].dn.data, a->ta[i].dn.len, a->mem, a->used));
		if (pk->key_type == BR_KEYTYPE_RSA) {
			must(inside(
			    pk->key.rsa.n, pk->key.rsa.nlen, a->mem, a->used));
			must(inside(
			    pk->key.rsa.e, pk->key.rsa.elen, a->mem, a->used));
		} else {
			must(pk->key_type == BR_KEYTYPE_EC);
			must(inside(
			    pk->key.ec.q, pk->key.ec.qlen, a->mem, a->used));
		}
	}
}

/* The same input in two pieces must give the same store. */
static void
fz_split(const char *buf, size_t size, const struct pem_anchors *a, int rc)
{
	struct pem_anchors b;
	size_t cut = size ? (unsigned char)buf[0] % size : 0;
	ssize_t r;
	int rc2;

	pem_anchors_init(&b, fz_ta2, FZ_ANCHORS, fz_mem2, FZ_MEM);
	r = pem_anchors_feed(&b, buf, cut);
	must(r < 0 || r == (ssize_t)cut);
	if (r >= 0) {
		r = pem_anchors_feed(&b, buf + cut, size - cut);
		must(r < 0 || r == (ssize_t)(size - cut));
	}
	rc2 = pem_anchors_finish(&b);
	must(rc2 == rc);
	must(b.used == a->used && b.skipped == a->skipped);
	must(memcmp(fz_mem2, fz_mem, a->used) == 0);
}

static void
fz_key(const char *buf, size_t size)
{
	struct pem_key k;
	int rc;

	rc = pem_key_parse(&k, buf, size);
	fz_check_err(rc);
	if (rc == 0) {
		must(k.type == BR_KEYTYPE_RSA || k.type == BR_KEYTYPE_EC);
		must((pem_key_rsa(&k) != NULL) == (k.type == BR_KEYTYPE_RSA));
		must((pem_key_ec(&k) != NULL) == (k.type == BR_KEYTYPE_EC));
	} else {
		must(k.type == 0 && pem_key_rsa(&k) == NULL);
	}
	pem_key_cleanup(&k);
}

static void
fz_chain(const char *buf, size_t size)
{
	struct pem_chain c;
	size_t i, sum = 0;
	int rc;

	pem_chain_init(&c, fz_certs, FZ_CERTS, fz_mem, FZ_MEM);
	rc = pem_chain_parse(&c, buf, size);
	fz_check_err(rc);
	must(rc < 0 ? c.count == 0 : (size_t)rc == c.count && rc > 0);
	for (i = 0; i < c.count; i++) {
		must(inside(
		    c.certs[i].data, c.certs[i].data_len, fz_mem, c.used));
		sum += c.certs[i].data_len;
	}
	must(rc < 0 || sum == c.used);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pem_anchors a;
	char *buf;
	int rc;

	/* Test code: an exact-size copy so that over-reads are caught. */
	buf = malloc(size ? size : 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	pem_anchors_init(&a, fz_ta, FZ_ANCHORS, fz_mem, FZ_MEM);
	rc = pem_anchors_parse(&a, buf, size);
	fz_check_anchors(&a, rc);
	fz_split(buf, size, &a, rc);
	fz_key(buf, size);
	fz_chain(buf, size);
	free(buf);
	return 0;
}
