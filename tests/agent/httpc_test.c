/*
 * Tests of agent/httpc.c.  Every response is parsed whole and byte by byte
 * (each prefix copied to sit against a PROT_NONE page) and both results must
 * agree; every chunked body is decoded whole, byte by byte and split at
 * every byte boundary, each piece against a PROT_NONE page.  Limits are
 * tested at N and N+1.
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/httpc.h"
#include "agent/limits.h"
#include "tests/guard.h"
#include "tests/harness.h"

int main(void);

static struct guard g_whole, g_bytes, g_chunk;

/* Response heads. */

static struct httpc_resp r_whole, r_bytes;

static bool
slice_eq(struct httpc_slice a, struct httpc_slice b)
{
	return a.len == b.len &&
	    (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static bool
slice_is(struct httpc_slice a, const char *s)
{
	return a.ptr != NULL && a.len == strlen(s) &&
	    memcmp(a.ptr, s, a.len) == 0;
}

static void
resp_compare(int rc)
{
	size_t i;

	if (rc <= 0)
		return;
	check_int(r_bytes.status, r_whole.status);
	check_int(r_bytes.minor_version, r_whole.minor_version);
	check(slice_eq(r_bytes.reason, r_whole.reason));
	check_int(r_bytes.nheaders, r_whole.nheaders);
	for (i = 0; i < r_whole.nheaders && i < r_bytes.nheaders; i++) {
		check(
		    slice_eq(r_bytes.headers[i].name, r_whole.headers[i].name));
		check(slice_eq(
		    r_bytes.headers[i].value, r_whole.headers[i].value));
	}
	check_int(r_bytes.body, r_whole.body);
	check_int(r_bytes.content_length, r_whole.content_length);
	check_int(r_bytes.conn_close, r_whole.conn_close);
}

/*
 * Parses s whole into r_whole and byte by byte into r_bytes; both must
 * return want.  r_whole's slices stay valid until the next call.
 */
static int
resp_n(const char *s, size_t n, int want)
{
	int rc_whole, rc_bytes = HTTPC_NEED_MORE;
	size_t i;
	char *p;

	httpc_resp_init(&r_whole);
	rc_whole = httpc_resp_feed(&r_whole, guard_put(&g_whole, s, n), n);
	httpc_resp_init(&r_bytes);
	for (i = 1; i <= n && rc_bytes == HTTPC_NEED_MORE; i++) {
		p = guard_put(&g_bytes, s, i);
		rc_bytes = httpc_resp_feed(&r_bytes, p, i);
	}
	if (n == 0)
		rc_bytes = httpc_resp_feed(&r_bytes, g_bytes.base, 0);
	check_int(rc_whole, want);
	check_int(rc_bytes, want);
	if (rc_whole == rc_bytes)
		resp_compare(rc_whole);
	return rc_whole;
}

static int
resp(const char *s, int want)
{
	return resp_n(s, strlen(s), want);
}

#define HEAD_OK(s) ((int)strlen(s))
#define resp_ok(s) resp((s), HEAD_OK(s))

static void
t_resp_basic(void)
{
	static const char head[] = "HTTP/1.1 200 OK\r\n"
	                           "Content-Type: application/json\r\n"
	                           "Content-Length: 13\r\n"
	                           "\r\n";
	static const char all[] = "HTTP/1.1 200 OK\r\n"
	                          "Content-Type: application/json\r\n"
	                          "Content-Length: 13\r\n"
	                          "\r\n"
	                          "{\"a\":\"bcdef\"}";

	check_int(resp(all, HEAD_OK(head)), HEAD_OK(head));
	check_int(r_whole.status, 200);
	check_int(r_whole.minor_version, 1);
	check(slice_is(r_whole.reason, "OK"));
	check_int(r_whole.nheaders, 2);
	check(slice_is(r_whole.headers[0].name, "Content-Type"));
	check(slice_is(r_whole.headers[0].value, "application/json"));
	check(slice_is(
	    httpc_header(&r_whole, "content-TYPE"), "application/json"));
	check(httpc_header(&r_whole, "content-typ").ptr == NULL);
	check(httpc_header(&r_whole, "x").ptr == NULL);
	check(httpc_header(&r_whole, "content-type-x").ptr == NULL);
	check_int(r_whole.body, HTTPC_BODY_LENGTH);
	check_int(r_whole.content_length, 13);
	check(!r_whole.conn_close);
	/* Fed again once complete: the same answer. */
	check_int(httpc_resp_feed(&r_whole, all, strlen(all)), HEAD_OK(head));
}

static void
t_resp_partial(void)
{
	resp("", HTTPC_NEED_MORE);
	resp("HTTP/1.1 200 OK\r\n", HTTPC_NEED_MORE);
	resp("HTTP/1.1 200 OK\r\nA: b\r\n\r", HTTPC_NEED_MORE);
	resp("HTTP/1.1 200 OK\r\nA: b\r", HTTPC_NEED_MORE);
	check_int(httpc_resp_feed(&r_whole, NULL, 1), HTTPC_ERR_INVAL);
}

static void
t_resp_framing(void)
{
	static const char *const none[] = {
	    "HTTP/1.1 100 Continue\r\n\r\n",
	    "HTTP/1.1 204 No Content\r\n\r\n",
	    "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n",
	};
	size_t i;

	for (i = 0; i < 3; i++) {
		resp(none[i], HEAD_OK(none[i]));
		check_int(r_whole.body, HTTPC_BODY_NONE);
		check_int(r_whole.content_length, 0);
	}
	resp_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
	check_int(r_whole.body, HTTPC_BODY_CHUNKED);
	resp_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: , CHUNKED ,\r\n\r\n");
	check_int(r_whole.body, HTTPC_BODY_CHUNKED);
	resp_ok("HTTP/1.1 200 OK\r\n\r\n");
	check_int(r_whole.body, HTTPC_BODY_EOF);
	check(r_whole.conn_close);
	resp_ok("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n");
	check_int(r_whole.minor_version, 0);
	check(r_whole.conn_close);
	resp_ok("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n"
	        "Connection: Keep-Alive\r\n\r\n");
	check(!r_whole.conn_close);
	resp_ok("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
	        "Connection: upgrade, CLOSE\r\n\r\n");
	check(r_whole.conn_close);
	check_int(r_whole.body, HTTPC_BODY_LENGTH);
	check_int(r_whole.content_length, 0);
	/* Names that merely start like the framing ones are not them. */
	resp_ok("HTTP/1.1 200 OK\r\nConnect: close\r\nTransfer: gzip\r\n"
	        "Content: x\r\nContent-Length: 1\r\n\r\n");
	check(!r_whole.conn_close);
	check_int(r_whole.body, HTTPC_BODY_LENGTH);
	resp_ok("HTTP/1.2 200 OK\r\nContent-Length: 1\r\n\r\n");
	check_int(r_whole.minor_version, 2);
}

static void
t_resp_content_length(void)
{
	resp_ok("HTTP/1.1 200 OK\r\nContent-Length: 007\r\n\r\n");
	check_int(r_whole.content_length, 7);
	resp_ok("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: "
	        "5\r\n\r\n");
	check_int(r_whole.content_length, 5);
	resp_ok("HTTP/1.1 200 OK\r\nContent-Length: 5 ,5\r\n\r\n");
	check_int(r_whole.content_length, 5);
	resp_ok(
	    "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n");
	check(r_whole.content_length == UINT64_MAX);
	resp("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n",
	    HTTPC_ERR_CL_OVERFLOW);
	resp("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
	    HTTPC_ERR_CL_OVERFLOW);
	resp(
	    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	    HTTPC_ERR_CL_CONFLICT);
	resp("HTTP/1.1 200 OK\r\nContent-Length: 5,6\r\n\r\n",
	    HTTPC_ERR_CL_CONFLICT);
	resp("HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
	    HTTPC_ERR_CL_SYNTAX);
	resp("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", HTTPC_ERR_CL_SYNTAX);
	resp("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
	    HTTPC_ERR_CL_SYNTAX);
	resp("HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n",
	    HTTPC_ERR_CL_SYNTAX);
	resp("HTTP/1.1 200 OK\r\nContent-Length: 5 5\r\n\r\n",
	    HTTPC_ERR_CL_SYNTAX);
	resp("HTTP/1.1 200 OK\r\nContent-Length: 5,\r\n\r\n",
	    HTTPC_ERR_CL_SYNTAX);
	resp("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
	    HTTPC_ERR_CL_SYNTAX);
}

static void
t_resp_transfer_encoding(void)
{
	resp(
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", HTTPC_ERR_TE);
	resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	    HTTPC_ERR_TE);
	resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
	    HTTPC_ERR_TE);
	resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	     "Transfer-Encoding: chunked\r\n\r\n",
	    HTTPC_ERR_TE);
	resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;x=1\r\n\r\n",
	    HTTPC_ERR_TE);
	resp("HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n", HTTPC_ERR_TE);
	resp("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
	    HTTPC_ERR_TE);
	resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	     "Content-Length: 5\r\n\r\n",
	    HTTPC_ERR_TE_AND_CL);
	resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
	     "Transfer-Encoding: chunked\r\n\r\n",
	    HTTPC_ERR_TE_AND_CL);
}

static void
t_resp_status_line(void)
{
	resp_ok("HTTP/1.1 200\r\n\r\n");
	check_int(r_whole.status, 200);
	check_int(r_whole.reason.len, 0);
	resp_ok("HTTP/1.1 404 \r\n\r\n");
	check_int(r_whole.status, 404);
	check_int(r_whole.reason.len, 0);
	resp_ok("HTTP/1.1 599 Tab\there \xc3\xa9\r\n\r\n");
	check(slice_is(r_whole.reason, "Tab\there \xc3\xa9"));
	resp("HTTP/1.1 20 OK\r\n\r\n", HTTPC_ERR_STATUS);
	resp("HTTP/1.1 2000 OK\r\n\r\n", HTTPC_ERR_STATUS);
	resp("HTTP/1.1 600 OK\r\n\r\n", HTTPC_ERR_STATUS);
	resp("HTTP/1.1 099 OK\r\n\r\n", HTTPC_ERR_STATUS);
	resp("HTTP/1.1 2x0 OK\r\n\r\n", HTTPC_ERR_STATUS);
	resp("HTTP/1.1 200OK\r\n\r\n", HTTPC_ERR_STATUS);
	resp("HTTP/1.1  200 OK\r\n\r\n", HTTPC_ERR_STATUS);
	resp("HTTP/1.1\r\n\r\n", HTTPC_ERR_VERSION);
	resp("HTTP/2 200 OK\r\n\r\n", HTTPC_ERR_VERSION);
	resp("http/1.1 200 OK\r\n\r\n", HTTPC_ERR_VERSION);
	resp("HTTP/1.1200 OK\r\n\r\n", HTTPC_ERR_VERSION);
	resp("HTTP/1.x 200 OK\r\n\r\n", HTTPC_ERR_VERSION);
	resp("\r\n\r\n", HTTPC_ERR_VERSION);
	resp("HTTP/1.1 200 O\x01K\r\n\r\n", HTTPC_ERR_REASON);
	resp("HTTP/1.1 200 O\x7fK\r\n\r\n", HTTPC_ERR_REASON);
}

static void
t_resp_fields(void)
{
	resp_ok("HTTP/1.1 200 OK\r\nX:   a b \t\r\nY:\r\nZ: \xff\r\n\r\n");
	check_int(r_whole.nheaders, 3);
	check(slice_is(httpc_header(&r_whole, "x"), "a b"));
	check(httpc_header(&r_whole, "y").ptr != NULL);
	check_int(httpc_header(&r_whole, "y").len, 0);
	check(slice_is(httpc_header(&r_whole, "z"), "\xff"));
	resp_ok("HTTP/1.1 200 OK\r\nA: 1\r\na: 2\r\n\r\n");
	check(slice_is(httpc_header(&r_whole, "A"), "1"));
	resp_ok("HTTP/1.1 200 OK\r\n!#$%&'*+-.^_`|~09az: v\r\n\r\n");
	resp("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", HTTPC_ERR_OBS_FOLD);
	resp("HTTP/1.1 200 OK\r\n\tX: a\r\n\r\n", HTTPC_ERR_OBS_FOLD);
	resp("HTTP/1.1 200 OK\r\nX : a\r\n\r\n", HTTPC_ERR_HDR_NAME);
	resp("HTTP/1.1 200 OK\r\nX(: a\r\n\r\n", HTTPC_ERR_HDR_NAME);
	resp("HTTP/1.1 200 OK\r\n: a\r\n\r\n", HTTPC_ERR_HDR_NAME);
	resp("HTTP/1.1 200 OK\r\nXa\r\n\r\n", HTTPC_ERR_HDR_NAME);
	resp("HTTP/1.1 200 OK\r\nX\xc3\xa9: a\r\n\r\n", HTTPC_ERR_HDR_NAME);
	resp("HTTP/1.1 200 OK\r\nX: a\x01z\r\n\r\n", HTTPC_ERR_HDR_VALUE);
	resp("HTTP/1.1 200 OK\r\nX: a\x7fz\r\n\r\n", HTTPC_ERR_HDR_VALUE);
}

static void
t_resp_line_ends(void)
{
	static const char nul[] = "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n";

	resp("HTTP/1.1 200 OK\rX: y\r\n\r\n", HTTPC_ERR_BARE_CR);
	resp("HTTP/1.1 200 OK\r\nX: y\r\n\rZ", HTTPC_ERR_BARE_CR);
	resp("HTTP/1.1 200 OK\nX: y\r\n\r\n", HTTPC_ERR_BARE_LF);
	resp("HTTP/1.1 200 OK\r\n\n", HTTPC_ERR_BARE_LF);
	resp("\n", HTTPC_ERR_BARE_LF);
	resp("HTTP/1.1 200 OK\r\nX: y\r\n\n", HTTPC_ERR_BARE_LF);
	resp_n(nul, sizeof(nul) - 1, HTTPC_ERR_NUL);
	/* Found early: a bad byte fails before the blank line arrives. */
	resp("HTTP/1.1 200 OK\nX: y", HTTPC_ERR_BARE_LF);
}

/* Builds a head of exactly total bytes: one padded X header. */
static size_t
make_head(char *buf, size_t total)
{
	static const char pre[] = "HTTP/1.1 200 OK\r\nX: ";
	size_t pad = total - (sizeof(pre) - 1) - 4;

	memcpy(buf, pre, sizeof(pre) - 1);
	memset(buf + sizeof(pre) - 1, 'a', pad);
	memcpy(buf + sizeof(pre) - 1 + pad, "\r\n\r\n", 4);
	return total;
}

static void
t_resp_head_limit(void)
{
	static char buf[LIM_HTTPC_HEAD_BYTES + 2];
	size_t n;

	n = make_head(buf, LIM_HTTPC_HEAD_BYTES);
	check_int(resp_n(buf, n, (int)n), (int)n);
	check_int(httpc_header(&r_whole, "x").len, LIM_HTTPC_HEAD_BYTES - 24);
	resp_n(buf, n - 1, HTTPC_NEED_MORE);
	n = make_head(buf, LIM_HTTPC_HEAD_BYTES + 1);
	resp_n(buf, n, HTTPC_ERR_HEAD_TOO_LONG);
	/* N bytes without the blank line already prove the head too long. */
	resp_n(buf, LIM_HTTPC_HEAD_BYTES, HTTPC_ERR_HEAD_TOO_LONG);
	resp_n(buf, LIM_HTTPC_HEAD_BYTES - 1, HTTPC_NEED_MORE);
}

static size_t
make_fields(char *buf, unsigned count)
{
	size_t n = 0;
	unsigned i;

	n += (size_t)sprintf(buf, "HTTP/1.1 200 OK\r\n");
	for (i = 0; i < count; i++)
		n += (size_t)sprintf(buf + n, "H%u: v%u\r\n", i, i);
	n += (size_t)sprintf(buf + n, "\r\n");
	return n;
}

static void
t_resp_header_count(void)
{
	static char buf[4096];
	char want[16];
	size_t n;

	n = make_fields(buf, HTTPC_MAX_HEADERS);
	resp_n(buf, n, (int)n);
	check_int(r_whole.nheaders, HTTPC_MAX_HEADERS);
	snprintf(want, sizeof(want), "v%u", HTTPC_MAX_HEADERS - 1);
	check(slice_is(r_whole.headers[HTTPC_MAX_HEADERS - 1].value, want));
	n = make_fields(buf, HTTPC_MAX_HEADERS + 1);
	resp_n(buf, n, HTTPC_ERR_TOO_MANY_HEADERS);
}

/* Chunked bodies. */

struct dec {
	struct httpc_chunked c;
	int err; /* first error, 0 if none */
	bool done;
	char out[8192];
	size_t outlen;
	char after[256];
	size_t afterlen;
};

static void
dec_init(struct dec *d)
{
	memset(d, 0, sizeof(*d));
	httpc_chunked_init(&d->c);
}

/* Feeds one piece, copied against the guard page, and collects output. */
static void
dec_piece(struct dec *d, const char *p, size_t n)
{
	char *g = guard_put(&g_chunk, p, n);
	size_t len = n;
	ssize_t rc;

	if (d->err != 0)
		return;
	rc = httpc_chunked_feed(&d->c, g, &len);
	check(len <= n);
	if (len > 0 && d->outlen + len <= sizeof(d->out)) {
		memcpy(d->out + d->outlen, g, len);
		d->outlen += len;
	}
	if (rc < HTTPC_NEED_MORE) {
		d->err = (int)rc;
		return;
	}
	if (rc == HTTPC_NEED_MORE)
		return;
	check((size_t)rc + len <= n);
	if (d->afterlen + (size_t)rc <= sizeof(d->after)) {
		memcpy(d->after + d->afterlen, g + len, (size_t)rc);
		d->afterlen += (size_t)rc;
	}
	d->done = true;
}

/* Checks the outcome of one way of feeding. */
static void
dec_expect(const struct dec *d, int want_err, const char *want_data,
    const char *want_after)
{
	check_int(d->err, want_err);
	check_int(d->done, want_err == 0 && want_after != NULL);
	if (want_err != 0)
		return;
	check_int(d->outlen, strlen(want_data));
	check(memcmp(d->out, want_data, d->outlen) == 0);
	if (want_after != NULL) {
		check_int(d->afterlen, strlen(want_after));
		check(memcmp(d->after, want_after, d->afterlen) == 0);
	}
}

/*
 * Decodes in[0..n) whole, byte by byte and split in two at every byte
 * boundary.  want_after NULL: the body is incomplete (need more).
 */
static void
chunked_n(const char *in, size_t n, int want_err, const char *want_data,
    const char *want_after)
{
	static struct dec d;
	size_t i, k;

	dec_init(&d);
	dec_piece(&d, in, n);
	dec_expect(&d, want_err, want_data, want_after);
	dec_init(&d);
	for (i = 0; i < n; i++)
		dec_piece(&d, in + i, 1);
	dec_expect(&d, want_err, want_data, want_after);
	for (k = 0; k <= n; k++) {
		dec_init(&d);
		dec_piece(&d, in, k);
		dec_piece(&d, in + k, n - k);
		dec_expect(&d, want_err, want_data, want_after);
	}
}

static void
chunked(
    const char *in, int want_err, const char *want_data, const char *want_after)
{
	chunked_n(in, strlen(in), want_err, want_data, want_after);
}

static void
t_chunked_good(void)
{
	chunked("5\r\nhello\r\n0\r\n\r\n", 0, "hello", "");
	chunked("0\r\n\r\n", 0, "", "");
	chunked("3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\nHTTP/1.1 200", 0, "abcdefg",
	    "HTTP/1.1 200");
	chunked("A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n", 0,
	    "0123456789abcdefghij", "");
	chunked("0005\r\nhello\r\n000\r\n\r\n", 0, "hello", "");
	chunked("1\r\n\r\r\n1\r\n\n\r\n0\r\n\r\n", 0, "\r\n", "");
	chunked("5;name=value;x=\"q s\"\r\nhello\r\n0;last\r\n\r\n", 0, "hello",
	    "");
	chunked("5 ;a\r\nhello\r\n0\t\r\n\r\n", 0, "hello", "");
	chunked("0\r\nX-Trailer: v\r\nY: z\r\n\r\nrest", 0, "", "rest");
	/* Incomplete: need more, data so far delivered. */
	chunked("5\r\nhel", 0, "hel", NULL);
	chunked("5\r\nhello\r\n0\r\n\r", 0, "hello", NULL);
	chunked("", 0, "", NULL);
}

static void
t_chunked_bad(void)
{
	chunked("5\nhello\r\n0\r\n\r\n", HTTPC_ERR_BARE_LF, NULL, NULL);
	chunked("5\r\nhello\n0\r\n\r\n", HTTPC_ERR_CHUNK_DATA_END, NULL, NULL);
	chunked("5\r\nhelloX\r\n", HTTPC_ERR_CHUNK_DATA_END, NULL, NULL);
	chunked("5\r\nhello\r0\r\n", HTTPC_ERR_BARE_CR, NULL, NULL);
	chunked("5\rX", HTTPC_ERR_BARE_CR, NULL, NULL);
	chunked("\r\n", HTTPC_ERR_CHUNK_SIZE, NULL, NULL);
	chunked("x\r\n", HTTPC_ERR_CHUNK_SIZE, NULL, NULL);
	chunked(" 5\r\n", HTTPC_ERR_CHUNK_SIZE, NULL, NULL);
	chunked("-1\r\n", HTTPC_ERR_CHUNK_SIZE, NULL, NULL);
	chunked("0x5\r\n", HTTPC_ERR_CHUNK_SIZE, NULL, NULL);
	chunked("5 x\r\n", HTTPC_ERR_CHUNK_SIZE, NULL, NULL);
	chunked(";a\r\n", HTTPC_ERR_CHUNK_SIZE, NULL, NULL);
	chunked("5;a\x01\r\n", HTTPC_ERR_CHUNK_SIZE, NULL, NULL);
	chunked("5;a\nhello", HTTPC_ERR_BARE_LF, NULL, NULL);
	chunked(
	    "ffffffffffffffffffff\r\n", HTTPC_ERR_CHUNK_TOO_BIG, NULL, NULL);
	chunked("0\r\nX: y\n\r\n", HTTPC_ERR_BARE_LF, NULL, NULL);
	chunked("0\r\n\n", HTTPC_ERR_BARE_LF, NULL, NULL);
	chunked("0\r\nX: y\r\n z\r\n\r\n", HTTPC_ERR_TRAILER, NULL, NULL);
	chunked("0\r\nX: \x01\r\n\r\n", HTTPC_ERR_TRAILER, NULL, NULL);
	chunked("0\r\nX: y\rz", HTTPC_ERR_BARE_CR, NULL, NULL);
	chunked("0\r\n\rx", HTTPC_ERR_BARE_CR, NULL, NULL);
}

/* Errors stick; a finished body decodes nothing more. */
static void
t_chunked_states(void)
{
	struct httpc_chunked c;
	char buf[32];
	size_t len;

	httpc_chunked_init(&c);
	memcpy(buf, "zz", 2);
	len = 2;
	check_int(httpc_chunked_feed(&c, buf, &len), HTTPC_ERR_CHUNK_SIZE);
	memcpy(buf, "0\r\n\r\n", 5);
	len = 5;
	check_int(httpc_chunked_feed(&c, buf, &len), HTTPC_ERR_CHUNK_SIZE);
	check_int(len, 0);
	httpc_chunked_init(&c);
	memcpy(buf, "2\r\nab\r\n0\r\n\r\nXY", 14);
	len = 14;
	check_int(httpc_chunked_feed(&c, buf, &len), 2);
	check_int(len, 2);
	check(memcmp(buf, "abXY", 4) == 0);
	memcpy(buf, "more", 4);
	len = 4;
	check_int(httpc_chunked_feed(&c, buf, &len), 4);
	check_int(len, 0);
	check(memcmp(buf, "more", 4) == 0);
}

static void
t_chunked_size_limit(void)
{
	char line[64];

	/* LIM_HTTPC_CHUNK_BYTES is 16 MiB = 0x1000000. */
	check_int(LIM_HTTPC_CHUNK_BYTES, 0x1000000);
	snprintf(line, sizeof(line), "%x\r\nab", LIM_HTTPC_CHUNK_BYTES);
	chunked(line, 0, "ab", NULL);
	snprintf(line, sizeof(line), "00000%X;x\r\nab", LIM_HTTPC_CHUNK_BYTES);
	chunked(line, 0, "ab", NULL);
	snprintf(line, sizeof(line), "%x\r\nab", LIM_HTTPC_CHUNK_BYTES + 1);
	chunked(line, HTTPC_ERR_CHUNK_TOO_BIG, NULL, NULL);
}

static void
t_chunked_line_limit(void)
{
	static char in[LIM_HTTPC_CHUNK_LINE_BYTES + 64];
	size_t n;

	/* "1;" then padding: a size line of exactly N bytes. */
	memcpy(in, "1;", 2);
	memset(in + 2, 'e', LIM_HTTPC_CHUNK_LINE_BYTES - 2);
	n = LIM_HTTPC_CHUNK_LINE_BYTES;
	memcpy(in + n, "\r\nx\r\n0\r\n\r\n", 10);
	chunked_n(in, n + 10, 0, "x", "");
	memset(in + 2, 'e', LIM_HTTPC_CHUNK_LINE_BYTES - 1);
	n = LIM_HTTPC_CHUNK_LINE_BYTES + 1;
	memcpy(in + n, "\r\nx\r\n0\r\n\r\n", 10);
	chunked_n(in, n + 10, HTTPC_ERR_CHUNK_LINE_TOO_LONG, NULL, NULL);
	/* The count restarts on each size line. */
	memcpy(in, "1;", 2);
	memset(in + 2, 'e', LIM_HTTPC_CHUNK_LINE_BYTES - 2);
	n = LIM_HTTPC_CHUNK_LINE_BYTES;
	memcpy(in + n, "\r\nx\r\n1;", 7);
	memset(in + n + 7, 'f', 20);
	memcpy(in + n + 27, "\r\ny\r\n0\r\n\r\n", 10);
	chunked_n(in, n + 37, 0, "xy", "");
}

static void
t_chunked_trailer_limit(void)
{
	static char in[LIM_HTTPC_TRAILER_BYTES + 32];
	size_t n, pad;

	/* "0\r\n", one trailer line of exactly N bytes with its CRLF, "\r\n". */
	pad = LIM_HTTPC_TRAILER_BYTES - 5;
	memcpy(in, "0\r\nX: ", 6);
	memset(in + 6, 't', pad);
	n = 6 + pad;
	memcpy(in + n, "\r\n\r\n", 4);
	chunked_n(in, n + 4, 0, "", "");
	memset(in + 6, 't', pad + 1);
	n = 6 + pad + 1;
	memcpy(in + n, "\r\n\r\n", 4);
	chunked_n(in, n + 4, HTTPC_ERR_TRAILER_TOO_LONG, NULL, NULL);
	/* N bytes, then the first byte of a second line is one too many. */
	n = 6 + pad;
	memcpy(in + n, "\r\nY: z\r\n\r\n", 10);
	chunked_n(in, n + 10, HTTPC_ERR_TRAILER_TOO_LONG, NULL, NULL);
	chunked_n(in, n + 3, HTTPC_ERR_TRAILER_TOO_LONG, NULL, NULL);
}

/* Request writer. */

static void
t_req_format(void)
{
	static const struct httpc_hdr meta[] = {
	    {HTTPC_STR("Metadata"), HTTPC_STR("true")},
	};
	static const char want[] =
	    "GET /metadata/identity/oauth2/token?x=1 HTTP/1.1\r\n"
	    "Host: 169.254.169.254\r\n"
	    "User-Agent: podid\r\n"
	    "Connection: keep-alive\r\n"
	    "Metadata: true\r\n"
	    "\r\n";
	char buf[512];
	int n;

	n = httpc_req_format(buf, sizeof(buf), "GET", "169.254.169.254",
	    "/metadata/identity/oauth2/token?x=1", meta, 1, 0);
	check_int(n, (int)strlen(want));
	check_str(buf, want);
	/* Exact fit: N + 1 bytes (the NUL) work, N do not. */
	check_int(
	    httpc_req_format(buf, strlen(want) + 1, "GET", "169.254.169.254",
	        "/metadata/identity/oauth2/token?x=1", meta, 1, 0),
	    n);
	check_int(httpc_req_format(buf, strlen(want), "GET", "169.254.169.254",
	              "/metadata/identity/oauth2/token?x=1", meta, 1, 0),
	    HTTPC_ERR_NOSPACE);
	check_int(httpc_req_format(buf, 0, "GET", "h", "/", NULL, 0, 0),
	    HTTPC_ERR_NOSPACE);
}

static void
t_req_content_length(void)
{
	struct httpc_hdr empty = {HTTPC_STR("X-Empty"), {NULL, 0}};
	char buf[512];

	check(httpc_req_format(buf, sizeof(buf), "POST", "login.example",
	          "/t/oauth2/v2.0/token", NULL, 0, 0) > 0);
	check(strstr(buf, "\r\nContent-Length: 0\r\n\r\n") != NULL);
	check(httpc_req_format(
	          buf, sizeof(buf), "PUT", "h", "/", NULL, 0, 1234) > 0);
	check(strstr(buf, "\r\nContent-Length: 1234\r\n\r\n") != NULL);
	check(httpc_req_format(
	          buf, sizeof(buf), "GET", "h", "/", &empty, 1, 0) > 0);
	check(strstr(buf, "Content-Length") == NULL);
	check(strstr(buf, "\r\nX-Empty: \r\n\r\n") != NULL);
}

static void
t_req_refused(void)
{
	struct httpc_hdr h[1];
	char buf[512];
	int i;
	static const char *const bad_names[] = {"X\r\nY", "X Y", "X:", "",
	    "Host", "content-LENGTH", "Transfer-Encoding"};
	static const char bad_values[][6] = {"a\rb", "a\nb", "a\x01", "a\x7f"};

	check_int(
	    httpc_req_format(buf, sizeof(buf), "GET\r\n", "h", "/", NULL, 0, 0),
	    HTTPC_ERR_REQ_FIELD);
	check_int(httpc_req_format(buf, sizeof(buf), "", "h", "/", NULL, 0, 0),
	    HTTPC_ERR_REQ_FIELD);
	check_int(httpc_req_format(
	              buf, sizeof(buf), "GET", "h\r\nX: y", "/", NULL, 0, 0),
	    HTTPC_ERR_REQ_FIELD);
	check_int(
	    httpc_req_format(buf, sizeof(buf), "GET", "", "/", NULL, 0, 0),
	    HTTPC_ERR_REQ_FIELD);
	check_int(
	    httpc_req_format(buf, sizeof(buf), "GET", "h", "/a b", NULL, 0, 0),
	    HTTPC_ERR_REQ_FIELD);
	check_int(
	    httpc_req_format(buf, sizeof(buf), "GET", "h", "/\n", NULL, 0, 0),
	    HTTPC_ERR_REQ_FIELD);
	for (i = 0; i < 7; i++) {
		h[0].name.ptr = bad_names[i];
		h[0].name.len = strlen(bad_names[i]);
		h[0].value.ptr = "v";
		h[0].value.len = 1;
		check_int(httpc_req_format(
		              buf, sizeof(buf), "GET", "h", "/", h, 1, 0),
		    HTTPC_ERR_REQ_FIELD);
	}
	for (i = 0; i < 4; i++) {
		h[0].name.ptr = "X";
		h[0].name.len = 1;
		h[0].value.ptr = bad_values[i];
		h[0].value.len = strlen(bad_values[i]);
		check_int(httpc_req_format(
		              buf, sizeof(buf), "GET", "h", "/", h, 1, 0),
		    HTTPC_ERR_REQ_FIELD);
	}
	h[0].value.ptr = "a\0b";
	h[0].value.len = 3;
	check_int(httpc_req_format(buf, sizeof(buf), "GET", "h", "/", h, 1, 0),
	    HTTPC_ERR_REQ_FIELD);
	check_int(
	    httpc_req_format(buf, sizeof(buf), NULL, "h", "/", NULL, 0, 0),
	    HTTPC_ERR_INVAL);
	check_int(
	    httpc_req_format(buf, sizeof(buf), "GET", "h", "/", NULL, 1, 0),
	    HTTPC_ERR_INVAL);
	check_int(httpc_req_format(NULL, 10, "GET", "h", "/", NULL, 0, 0),
	    HTTPC_ERR_INVAL);
}

static void
t_strerror(void)
{
	int e, f;

	for (e = HTTPC_NEED_MORE; e >= HTTPC_ERR_REQ_FIELD; e--) {
		check(strcmp(httpc_strerror(e), "unknown httpc error") != 0);
		for (f = e + 1; f >= HTTPC_NEED_MORE && f < 0; f++)
			check(
			    strcmp(httpc_strerror(e), httpc_strerror(f)) != 0);
	}
	check_str(httpc_strerror(HTTPC_ERR_BARE_LF), "bare LF");
	check_str(httpc_strerror(1), "unknown httpc error");
	check_str(
	    httpc_strerror(HTTPC_ERR_REQ_FIELD - 1), "unknown httpc error");
}

int
main(void)
{
	guard_init(&g_whole, 2 * LIM_HTTPC_HEAD_BYTES);
	guard_init(&g_bytes, 2 * LIM_HTTPC_HEAD_BYTES);
	guard_init(&g_chunk, 16384);
	test(t_resp_basic, "response head: basic");
	test(t_resp_partial, "response head: need more");
	test(t_resp_framing, "response head: body framing, connection");
	test(t_resp_content_length, "response head: content-length");
	test(t_resp_transfer_encoding, "response head: transfer-encoding");
	test(t_resp_status_line, "response head: status line");
	test(t_resp_fields, "response head: fields");
	test(t_resp_line_ends, "response head: bare CR, bare LF, NUL");
	test(t_resp_head_limit, "response head: head bytes at N and N+1");
	test(t_resp_header_count, "response head: headers at N and N+1");
	test(t_chunked_good, "chunked: good bodies, every split");
	test(t_chunked_bad, "chunked: bad bodies, every split");
	test(t_chunked_states, "chunked: sticky error, after the end");
	test(t_chunked_size_limit, "chunked: chunk size at N and N+1");
	test(t_chunked_line_limit, "chunked: size line at N and N+1");
	test(t_chunked_trailer_limit, "chunked: trailers at N and N+1");
	test(t_req_format, "request: format and exact fit");
	test(t_req_content_length, "request: content-length");
	test(t_req_refused, "request: refused pieces");
	test(t_strerror, "error names");
	return harness_done();
}
