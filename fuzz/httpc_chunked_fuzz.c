/*
 * Fuzz target: httpc_chunked_feed().  The input is decoded three ways: all
 * at once from an exact-size copy, one byte at a time, and in two pieces
 * cut where the first input byte says.  All three must give the same
 * outcome (need more, the same error, or done), the same decoded bytes and
 * the same bytes after the body, which must be the input's tail.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/httpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(c)                                                         \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

struct outcome {
	struct httpc_chunked c;
	ssize_t rc;   /* HTTPC_NEED_MORE, an error, or 0 when done */
	size_t fed;   /* input bytes offered */
	size_t after; /* input bytes after the body */
	char *out;    /* decoded data, size bytes at most */
	size_t outlen;
};

/* One piece, copied to an exact-size buffer and decoded in place. */
static void
feed(struct outcome *o, const uint8_t *p, size_t n)
{
	char *buf;
	size_t len = n;
	ssize_t rc;

	if (o->rc != HTTPC_NEED_MORE || (buf = malloc(n ? n : 1)) == NULL)
		return;
	if (n > 0)
		memcpy(buf, p, n);
	rc = httpc_chunked_feed(&o->c, buf, &len);
	FUZZ_ASSERT(len <= n);
	memcpy(o->out + o->outlen, buf, len);
	o->outlen += len;
	o->fed += n;
	if (rc >= 0) {
		FUZZ_ASSERT(len + (size_t)rc <= n);
		/* The bytes after the body, moved right behind the data. */
		FUZZ_ASSERT(
		    memcmp(buf + len, p + n - (size_t)rc, (size_t)rc) == 0);
		o->after = (size_t)rc;
		o->rc = 0;
	} else {
		FUZZ_ASSERT(rc >= HTTPC_ERR_REQ_FIELD);
		o->rc = rc;
	}
	free(buf);
}

static void
outcome_init(struct outcome *o, size_t size)
{
	memset(o, 0, sizeof(*o));
	httpc_chunked_init(&o->c);
	o->rc = HTTPC_NEED_MORE;
	o->out = malloc(size ? size : 1);
}

/* Bytes after the body, counting those never fed. */
static size_t
outcome_after(const struct outcome *o, size_t size)
{
	return o->after + (size - o->fed);
}

static void
outcome_same(const struct outcome *a, const struct outcome *b, size_t size)
{
	FUZZ_ASSERT(a->rc == b->rc);
	FUZZ_ASSERT(a->outlen == b->outlen);
	FUZZ_ASSERT(memcmp(a->out, b->out, a->outlen) == 0);
	if (a->rc == 0)
		FUZZ_ASSERT(outcome_after(a, size) == outcome_after(b, size));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome whole, bytes, split;
	size_t i, cut = size > 0 ? data[0] % (size + 1) : 0;

	outcome_init(&whole, size);
	outcome_init(&bytes, size);
	outcome_init(&split, size);
	if (whole.out == NULL || bytes.out == NULL || split.out == NULL)
		goto out;
	feed(&whole, data, size);
	for (i = 0; i < size; i++)
		feed(&bytes, data + i, 1);
	feed(&split, data, cut);
	feed(&split, data + cut, size - cut);
	outcome_same(&whole, &bytes, size);
	outcome_same(&whole, &split, size);
out:
	free(whole.out);
	free(bytes.out);
	free(split.out);
	return 0;
}
