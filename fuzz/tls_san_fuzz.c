/*
 * Fuzz target "tls_san": tls_cert_has_ip(), the DER walk that checks a
 * server certificate's subjectAltName iPAddress entries before the chain is
 * known to be trusted (so on attacker-chosen bytes).  Input layout: one
 * selector byte (bit 0: IPv6), the 4 or 16 address bytes, then the DER,
 * copied into a buffer of its exact size.  Invariants: a match means the
 * address bytes occur in the DER, and survives bytes appended after the
 * certificate.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define must(cond)                                                             \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *der, *longer;
	size_t ip_len, n;
	bool hit;

	if (size < 1)
		return 0;
	ip_len = (data[0] & 1) ? 16 : 4;
	if (size < 1 + ip_len)
		return 0;
	n = size - 1 - ip_len;
	/* Test code: exact-size copies so that over-reads are caught. */
	der = malloc(n ? n : 1);
	longer = malloc(n + 8);
	if (der == NULL || longer == NULL)
		goto out;
	memcpy(der, data + 1 + ip_len, n);
	hit = tls_cert_has_ip(der, n, data + 1, ip_len);
	if (hit)
		must(memmem(der, n, data + 1, ip_len) != NULL);
	/*
	 * A match needs the whole certificate inside der, so bytes appended
	 * after it cannot change the answer.
	 */
	memcpy(longer, der, n);
	memset(longer + n, 0x87, 8);
	if (hit)
		must(tls_cert_has_ip(longer, n + 8, data + 1, ip_len));
out:
	free(der);
	free(longer);
	return 0;
}
