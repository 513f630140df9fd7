/*
 * Fuzz target: http_req_feed().  The input is parsed once from an
 * exact-size copy and once fed as growing prefixes (1, 2, ... bytes, the
 * way a socket delivers it); both must agree.  A complete head must obey
 * what the header promises: slices inside the head, a GET, an origin-form
 * path, token names, values without CR/LF/NUL or outer whitespace, one
 * Host on 1.1, no body.  Bytes after a complete head are parsed as the
 * next pipelined request.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(c)                                                         \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

static struct http_req whole, bytes;

static void
check_slice(struct http_slice s, const char *head, size_t head_len)
{
	size_t i;

	FUZZ_ASSERT(s.ptr >= head && s.ptr + s.len <= head + head_len);
	for (i = 0; i < s.len; i++)
		FUZZ_ASSERT(
		    s.ptr[i] != '\r' && s.ptr[i] != '\n' && s.ptr[i] != '\0');
}

static void
check_header(const struct http_hdr *h, const char *head, size_t head_len)
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

/* The request line's slices, for a complete head or a refused one. */
static void
check_line(const struct http_req *r, const char *buf, size_t n)
{
	const struct http_slice t = r->target;

	check_slice(r->method, buf, n);
	check_slice(t, buf, n);
	FUZZ_ASSERT(
	    r->method.len > 0 && r->method.len <= LIM_HTTP_METHOD_BYTES);
	FUZZ_ASSERT(t.len > 0 && t.len <= LIM_HTTP_TARGET_BYTES);
	FUZZ_ASSERT(memchr(t.ptr, ' ', t.len) == NULL);
	FUZZ_ASSERT(memchr(t.ptr, '#', t.len) == NULL);
	FUZZ_ASSERT(r->path.len > 0 && r->path.ptr[0] == '/');
	FUZZ_ASSERT(
	    r->path.ptr >= t.ptr && r->path.ptr + r->path.len <= t.ptr + t.len);
	FUZZ_ASSERT(memchr(r->path.ptr, '?', r->path.len) == NULL);
	if (r->query.ptr != NULL) {
		FUZZ_ASSERT(r->query.ptr == r->path.ptr + r->path.len + 1);
		FUZZ_ASSERT(r->query.ptr + r->query.len == t.ptr + t.len);
	} else
		FUZZ_ASSERT(r->path.ptr + r->path.len == t.ptr + t.len);
	FUZZ_ASSERT(r->minor_version == 0 || r->minor_version == 1);
}

/* A head of n bytes, complete (rc > 0) or refused (405, 413). */
static void
check_head(const struct http_req *r, const char *buf, size_t n, bool complete)
{
	size_t i;

	FUZZ_ASSERT(n >= 4 && n <= LIM_HTTP_HEAD_BYTES);
	FUZZ_ASSERT(memcmp(buf + n - 4, "\r\n\r\n", 4) == 0);
	check_line(r, buf, n);
	FUZZ_ASSERT(r->nheaders <= HTTP_MAX_HEADERS);
	for (i = 0; i < r->nheaders; i++)
		check_header(&r->headers[i], buf, n);
	FUZZ_ASSERT(http_header_count(r, "host") <= 1);
	if (r->minor_version == 1)
		FUZZ_ASSERT(http_header_count(r, "host") == 1);
	FUZZ_ASSERT(complete || r->has_body || r->method.len != 3 ||
	    memcmp(r->method.ptr, "GET", 3) != 0);
	if (complete) {
		FUZZ_ASSERT(
		    r->method.len == 3 && memcmp(r->method.ptr, "GET", 3) == 0);
		FUZZ_ASSERT(!r->has_body);
	}
	if (r->minor_version == 0 && r->keep_alive)
		FUZZ_ASSERT(http_header(r, "connection").ptr != NULL);
	FUZZ_ASSERT(r->expect == (http_header(r, "expect").ptr != NULL));
	(void)http_route(r->path);
}

static bool
same_slice(struct http_slice a, struct http_slice b)
{
	return a.ptr == b.ptr && a.len == b.len;
}

/* Both parsed the same buffer: the slices must be identical. */
static void
check_same(void)
{
	size_t i;

	FUZZ_ASSERT(same_slice(whole.method, bytes.method));
	FUZZ_ASSERT(same_slice(whole.target, bytes.target));
	FUZZ_ASSERT(same_slice(whole.path, bytes.path));
	FUZZ_ASSERT(same_slice(whole.query, bytes.query));
	FUZZ_ASSERT(whole.minor_version == bytes.minor_version);
	FUZZ_ASSERT(whole.nheaders == bytes.nheaders);
	for (i = 0; i < whole.nheaders; i++) {
		FUZZ_ASSERT(
		    same_slice(whole.headers[i].name, bytes.headers[i].name));
		FUZZ_ASSERT(
		    same_slice(whole.headers[i].value, bytes.headers[i].value));
	}
	FUZZ_ASSERT(whole.keep_alive == bytes.keep_alive);
	FUZZ_ASSERT(whole.has_body == bytes.has_body);
	FUZZ_ASSERT(whole.expect == bytes.expect);
}

static void
check_rc(int rc)
{
	int st;

	FUZZ_ASSERT(rc >= HTTP_ERR_BODY);
	if (rc >= 0)
		return;
	FUZZ_ASSERT(strcmp(http_strerror(rc), "unknown http error") != 0);
	st = http_err_status(rc);
	/* Peer bytes never make a 500: that is for the caller's mistakes. */
	FUZZ_ASSERT(rc == HTTP_NEED_MORE || st == 400 || st == 405 ||
	    st == 413 || st == 414 || st == 431 || st == 501 || st == 505);
}

/* Parses buf whole and byte by byte; returns the head length or code. */
static int
parse_one(const char *buf, size_t size)
{
	int rc, rc_bytes = HTTP_NEED_MORE;
	size_t i;

	http_req_init(&whole);
	rc = http_req_feed(&whole, buf, size);
	check_rc(rc);
	if (rc > 0)
		FUZZ_ASSERT((size_t)rc <= size);
	if (rc > 0 || rc == HTTP_ERR_METHOD_NOT_ALLOWED || rc == HTTP_ERR_BODY)
		check_head(&whole, buf, whole.scan.head_len, rc > 0);
	if (rc > 0)
		FUZZ_ASSERT((size_t)rc == whole.scan.head_len);
	http_req_init(&bytes);
	for (i = 1; i <= size && rc_bytes == HTTP_NEED_MORE; i++)
		rc_bytes = http_req_feed(&bytes, buf, i);
	if (size > 0)
		FUZZ_ASSERT(rc_bytes == rc);
	if (rc > 0 || rc == HTTP_ERR_METHOD_NOT_ALLOWED || rc == HTTP_ERR_BODY)
		check_same();
	/* Fed again: the same answer. */
	if (size > 0)
		FUZZ_ASSERT(http_req_feed(&whole, buf, size) == rc);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf;
	int rc;

	if ((buf = malloc(size ? size : 1)) == NULL)
		return 0;
	if (size > 0)
		memcpy(buf, data, size);
	else
		buf[0] = '\0'; /* never read: size is 0 */
	rc = parse_one(buf, size);
	/* Pipelining: the next request starts right after the head. */
	if (rc > 0 && (size_t)rc < size)
		(void)parse_one(buf + rc, size - (size_t)rc);
	free(buf);
	return 0;
}
