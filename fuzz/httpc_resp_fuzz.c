/*
 * Fuzz target: httpc_resp_feed().  The input is parsed once from an
 * exact-size copy and once fed as growing prefixes (1, 2, ... bytes, the
 * way a socket delivers it); both must agree, and a complete head must obey
 * what the header promises: slices inside the head, token names, values
 * without CR/LF/NUL or outer whitespace, coherent framing.
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

static void
check_slice(struct httpc_slice s, const char *head, size_t head_len)
{
	size_t i;

	FUZZ_ASSERT(s.ptr >= head && s.ptr + s.len <= head + head_len);
	for (i = 0; i < s.len; i++)
		FUZZ_ASSERT(
		    s.ptr[i] != '\r' && s.ptr[i] != '\n' && s.ptr[i] != '\0');
}

static void
check_header(const struct httpc_hdr *h, const char *head, size_t head_len)
{
	check_slice(h->name, head, head_len);
	check_slice(h->value, head, head_len);
	FUZZ_ASSERT(h->name.len > 0);
	FUZZ_ASSERT(memchr(h->name.ptr, ':', h->name.len) == NULL);
	FUZZ_ASSERT(memchr(h->name.ptr, ' ', h->name.len) == NULL);
	if (h->value.len > 0) {
		FUZZ_ASSERT(h->value.ptr[0] != ' ' && h->value.ptr[0] != '\t');
		FUZZ_ASSERT(h->value.ptr[h->value.len - 1] != ' ');
		FUZZ_ASSERT(h->value.ptr[h->value.len - 1] != '\t');
	}
}

static void
check_head(const struct httpc_resp *r, const char *buf, int rc)
{
	size_t i, n = (size_t)rc;

	FUZZ_ASSERT(n >= 4 && n <= LIM_HTTPC_HEAD_BYTES);
	FUZZ_ASSERT(memcmp(buf + n - 4, "\r\n\r\n", 4) == 0);
	FUZZ_ASSERT(memcmp(buf, "HTTP/1.", 7) == 0);
	FUZZ_ASSERT(r->status >= 100 && r->status <= 599);
	FUZZ_ASSERT(r->minor_version >= 0 && r->minor_version <= 9);
	FUZZ_ASSERT(r->nheaders <= HTTPC_MAX_HEADERS);
	check_slice(r->reason, buf, n);
	for (i = 0; i < r->nheaders; i++)
		check_header(&r->headers[i], buf, n);
	if (r->body == HTTPC_BODY_EOF)
		FUZZ_ASSERT(r->conn_close);
	if (r->body == HTTPC_BODY_CHUNKED)
		FUZZ_ASSERT(r->minor_version >= 1);
	if (r->body != HTTPC_BODY_LENGTH)
		FUZZ_ASSERT(r->content_length == 0);
	if (r->body == HTTPC_BODY_CHUNKED || r->body == HTTPC_BODY_LENGTH)
		FUZZ_ASSERT(
		    r->status >= 200 && r->status != 204 && r->status != 304);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct httpc_resp whole, bytes;
	char *buf;
	int rc, rc_bytes = HTTPC_NEED_MORE;
	size_t i;

	if ((buf = malloc(size ? size : 1)) == NULL)
		return 0;
	if (size > 0)
		memcpy(buf, data, size);
	httpc_resp_init(&whole);
	rc = httpc_resp_feed(&whole, buf, size);
	FUZZ_ASSERT(rc >= HTTPC_ERR_REQ_FIELD);
	FUZZ_ASSERT(strcmp(httpc_strerror(rc < 0 ? rc : 0),
	                "unknown httpc error") != 0);
	if (rc > 0) {
		FUZZ_ASSERT((size_t)rc <= size);
		check_head(&whole, buf, rc);
	}
	httpc_resp_init(&bytes);
	for (i = 1; i <= size && rc_bytes == HTTPC_NEED_MORE; i++)
		rc_bytes = httpc_resp_feed(&bytes, buf, i);
	if (size > 0)
		FUZZ_ASSERT(rc_bytes == rc);
	if (rc > 0) {
		FUZZ_ASSERT(bytes.status == whole.status);
		FUZZ_ASSERT(bytes.nheaders == whole.nheaders);
		FUZZ_ASSERT(bytes.body == whole.body);
		FUZZ_ASSERT(bytes.content_length == whole.content_length);
		FUZZ_ASSERT(bytes.conn_close == whole.conn_close);
	}
	free(buf);
	return 0;
}
