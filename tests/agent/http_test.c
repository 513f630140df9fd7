/*
 * Tests of agent/http.c.  Every request head is parsed whole and byte by
 * byte (each prefix copied to sit against a PROT_NONE page) and both
 * results must agree; queries and paths also sit against the guard page.
 * Every status-producing error is provoked, every limit tested at N and
 * N+1, and the route classifier runs over a table of paths that includes
 * the CVE-2022-23551 bypass forms.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/http.h"
#include "agent/limits.h"
#include "tests/guard.h"
#include "tests/harness.h"

int main(void);

static struct guard g_whole, g_bytes, g_small;

static struct http_slice
guard_slice(const char *s)
{
	struct http_slice sl;

	sl.len = strlen(s);
	sl.ptr = guard_put(&g_small, s, sl.len);
	return sl;
}

static bool
slice_is(struct http_slice a, const char *s)
{
	return a.ptr != NULL && a.len == strlen(s) &&
	    memcmp(a.ptr, s, a.len) == 0;
}

/* Request heads. */

static struct http_req r_whole, r_bytes;
static const char *whole_buf, *bytes_buf;

/* a and b hold the same bytes at the same offsets of their buffers. */
static bool
slice_same(struct http_slice a, const char *abuf, struct http_slice b,
    const char *bbuf)
{
	if (a.ptr == NULL || b.ptr == NULL)
		return a.ptr == b.ptr && a.len == b.len;
	return a.len == b.len && a.ptr - abuf == b.ptr - bbuf &&
	    memcmp(a.ptr, b.ptr, a.len) == 0;
}

static bool
results_valid(int rc)
{
	return rc > 0 || rc == HTTP_ERR_METHOD_NOT_ALLOWED ||
	    rc == HTTP_ERR_BODY;
}

static void
req_compare(int rc)
{
	const char *a = whole_buf, *b = bytes_buf;
	size_t i;

	if (!results_valid(rc))
		return;
	check(slice_same(r_whole.method, a, r_bytes.method, b));
	check(slice_same(r_whole.target, a, r_bytes.target, b));
	check(slice_same(r_whole.path, a, r_bytes.path, b));
	check(slice_same(r_whole.query, a, r_bytes.query, b));
	check_int(r_bytes.minor_version, r_whole.minor_version);
	check_int(r_bytes.nheaders, r_whole.nheaders);
	for (i = 0; i < r_whole.nheaders && i < r_bytes.nheaders; i++) {
		check(slice_same(
		    r_whole.headers[i].name, a, r_bytes.headers[i].name, b));
		check(slice_same(
		    r_whole.headers[i].value, a, r_bytes.headers[i].value, b));
	}
	check_int(r_bytes.keep_alive, r_whole.keep_alive);
	check_int(r_bytes.has_body, r_whole.has_body);
	check_int(r_bytes.expect, r_whole.expect);
}

/*
 * Parses s whole into r_whole and byte by byte into r_bytes; both must
 * return want.  r_whole's slices stay valid until the next call.
 */
static int
req_n(const char *s, size_t n, int want)
{
	int rc_whole, rc_bytes = HTTP_NEED_MORE;
	size_t i;

	http_req_init(&r_whole);
	whole_buf = guard_put(&g_whole, s, n);
	rc_whole = http_req_feed(&r_whole, whole_buf, n);
	http_req_init(&r_bytes);
	for (i = 1; i <= n && rc_bytes == HTTP_NEED_MORE; i++) {
		bytes_buf = guard_put(&g_bytes, s, i);
		rc_bytes = http_req_feed(&r_bytes, bytes_buf, i);
	}
	if (n == 0)
		rc_bytes = http_req_feed(&r_bytes, g_bytes.base, 0);
	check_int(rc_whole, want);
	check_int(rc_bytes, want);
	if (rc_whole == rc_bytes)
		req_compare(rc_whole);
	return rc_whole;
}

static int
req(const char *s, int want)
{
	return req_n(s, strlen(s), want);
}

#define HEAD_OK(s) ((int)strlen(s))
#define req_ok(s)  req((s), HEAD_OK(s))

/* The request @azure/identity 4.13.1 sends (reference section 3.2). */
static const char msal_req[] =
    "GET /metadata/identity/oauth2/token?api-version=2018-02-01"
    "&resource=https%3A%2F%2Fvault.azure.net HTTP/1.1\r\n"
    "Host: 169.254.169.254\r\n"
    "Metadata: true\r\n"
    "x-client-SKU: msal.js.node\r\n"
    "x-client-VER: 5.6.0\r\n"
    "x-ms-client-request-id: 9a3b1c2d-0000-4000-8000-000000000000\r\n"
    "Content-Type: application/x-www-form-urlencoded;charset=utf-8\r\n"
    "User-Agent: azsdk-js-identity/4.13.1 core-rest-pipeline/1.24.0\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

static void
t_req_basic(void)
{
	req_ok(msal_req);
	check(slice_is(r_whole.method, "GET"));
	check(slice_is(r_whole.target,
	    "/metadata/identity/oauth2/token?api-version=2018-02-01"
	    "&resource=https%3A%2F%2Fvault.azure.net"));
	check(slice_is(r_whole.path, "/metadata/identity/oauth2/token"));
	check(slice_is(r_whole.query,
	    "api-version=2018-02-01"
	    "&resource=https%3A%2F%2Fvault.azure.net"));
	check_int(r_whole.minor_version, 1);
	check_int(r_whole.nheaders, 8);
	check(slice_is(r_whole.headers[1].name, "Metadata"));
	check(slice_is(r_whole.headers[1].value, "true"));
	check(slice_is(http_header(&r_whole, "METADATA"), "true"));
	check(slice_is(http_header(&r_whole, "host"), "169.254.169.254"));
	check(http_header(&r_whole, "metadat").ptr == NULL);
	check(http_header(&r_whole, "metadata2").ptr == NULL);
	check(r_whole.keep_alive);
	check(!r_whole.has_body);
	check(!r_whole.expect);
	check_int(http_route(r_whole.path), HTTP_ROUTE_TOKEN);
	/* Fed again once complete: the same answer. */
	check_int(http_req_feed(&r_whole, whole_buf, strlen(msal_req)),
	    HEAD_OK(msal_req));
	/* The probe of DefaultAzureCredential: no query, no Metadata. */
	req_ok("GET /metadata/identity/oauth2/token HTTP/1.1\r\n"
	       "Accept: application/json\r\nHost: 169.254.169.254\r\n\r\n");
	check(r_whole.query.ptr == NULL);
	check(http_header(&r_whole, "metadata").ptr == NULL);
}

static void
t_req_partial(void)
{
	req("", HTTP_NEED_MORE);
	req("G", HTTP_NEED_MORE);
	req("GET / HTTP/1.1", HTTP_NEED_MORE);
	req("GET / HTTP/1.1\r", HTTP_NEED_MORE);
	req("GET / HTTP/1.1\r\nHost: a\r\n", HTTP_NEED_MORE);
	req("GET / HTTP/1.1\r\nHost: a\r\n\r", HTTP_NEED_MORE);
	req("\r\n", HTTP_NEED_MORE);
	check_int(http_req_feed(&r_whole, NULL, 1), HTTP_ERR_INVAL);
	/* Fewer bytes than already scanned: not the same buffer. */
	http_req_init(&r_whole);
	check_int(http_req_feed(&r_whole, "GET / HT", 8), HTTP_NEED_MORE);
	check_int(http_req_feed(&r_whole, "GET", 3), HTTP_ERR_INVAL);
	/* Fewer bytes than the head once complete. */
	http_req_init(&r_whole);
	check_int(http_req_feed(&r_whole, "GET / HTTP/1.0\r\n\r\n", 18), 18);
	check_int(http_req_feed(&r_whole, "GET / HTTP/1.0\r\n\r\n", 17),
	    HTTP_ERR_INVAL);
}

static void
t_req_leading_lines(void)
{
	req("\r\n\r\nGET / HTTP/1.0\r\n\r\n", 22);
	check(slice_is(r_whole.method, "GET"));
	check(r_whole.method.ptr == whole_buf + 4);
	check(slice_is(r_whole.path, "/"));
	req("\n\r\nGET / HTTP/1.0\r\n\r\n", HTTP_ERR_BARE_LF);
	req("\r\r\nGET / HTTP/1.0\r\n\r\n", HTTP_ERR_BARE_CR);
	req(" GET / HTTP/1.0\r\n\r\n", HTTP_ERR_METHOD);
}

static void
t_req_line_ends(void)
{
	req("GET / HTTP/1.1\nHost: a\r\n\r\n", HTTP_ERR_BARE_LF);
	req("GET / HTTP/1.1\r\nHost: a\n\r\n", HTTP_ERR_BARE_LF);
	req("GET / HTTP/1.1\r\nHost: a\r\n\n", HTTP_ERR_BARE_LF);
	req("GET / HTTP/1.1\n\n", HTTP_ERR_BARE_LF);
	req("GET / HTTP/1.1\rHost: a\r\n\r\n", HTTP_ERR_BARE_CR);
	req("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", HTTP_ERR_BARE_CR);
	req("GET / HTTP/1.1\r\nHost: a\r\n\rx", HTTP_ERR_BARE_CR);
	req_n("GET / HTTP/1.1\r\nHost: a\0\r\n\r\n", 28, HTTP_ERR_NUL);
	req_n("GET\0/ HTTP/1.1\r\n\r\n", 18, HTTP_ERR_NUL);
	req_n("GET /\0 HTTP/1.1\r\n\r\n", 19, HTTP_ERR_NUL);
	req_n("GET / HTTP/1.1\0\r\n\r\n", 19, HTTP_ERR_NUL);
	req_n("\0", 1, HTTP_ERR_NUL);
	/* An error is known as soon as its byte arrives, and it sticks. */
	req("GET / HTTP/1.1\n", HTTP_ERR_BARE_LF);
	check_int(http_req_feed(&r_whole, whole_buf, 15), HTTP_ERR_BARE_LF);
	check_int(http_err_status(HTTP_ERR_BARE_LF), 400);
	check_int(http_err_status(HTTP_ERR_BARE_CR), 400);
	check_int(http_err_status(HTTP_ERR_NUL), 400);
}

/* A head with method m, target "/", HTTP/1.1 and Host. */
static int
req_method(const char *m, int want)
{
	char buf[128];

	snprintf(buf, sizeof(buf), "%s / HTTP/1.1\r\nHost: a\r\n\r\n", m);
	return req(buf, want == 0 ? HEAD_OK(buf) : want);
}

static void
t_req_method(void)
{
	req_method("GET", 0);
	req_method("HEAD", HTTP_ERR_METHOD_NOT_ALLOWED);
	check(slice_is(r_whole.method, "HEAD"));
	check(slice_is(r_whole.path, "/"));
	req_method("POST", HTTP_ERR_METHOD_NOT_ALLOWED);
	req_method("get", HTTP_ERR_METHOD_NOT_ALLOWED);
	req_method("CONNECT", HTTP_ERR_METHOD_NOT_ALLOWED);
	req_method("G@T", HTTP_ERR_METHOD);
	req_method("G(T", HTTP_ERR_METHOD);
	req("GET", HTTP_NEED_MORE);
	req("GET\r\n\r\n", HTTP_ERR_METHOD);
	req("GET\tx / HTTP/1.1\r\n\r\n", HTTP_ERR_METHOD);
	/* LIM_HTTP_METHOD_BYTES (16) is 405, one more is 501. */
	req_method("ABCDEFGHIJKLMNOP", HTTP_ERR_METHOD_NOT_ALLOWED);
	req_method("ABCDEFGHIJKLMNOPQ", HTTP_ERR_METHOD_LONG);
	req("ABCDEFGHIJKLMNOPQ", HTTP_ERR_METHOD_LONG); /* found early */
	check_int(http_err_status(HTTP_ERR_METHOD_NOT_ALLOWED), 405);
	check_int(http_err_status(HTTP_ERR_METHOD_LONG), 501);
	check_int(http_err_status(HTTP_ERR_METHOD), 400);
}

/* A head with target t, HTTP/1.1 and Host. */
static int
req_target(const char *t, int want)
{
	static char buf[LIM_HTTP_TARGET_BYTES + 128];

	snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", t);
	return req(buf, want == 0 ? HEAD_OK(buf) : want);
}

static void
t_req_target(void)
{
	req_target("/a?b=c", 0);
	check(slice_is(r_whole.path, "/a"));
	check(slice_is(r_whole.query, "b=c"));
	req_target("/a", 0);
	check(r_whole.query.ptr == NULL);
	req_target("/a?", 0);
	check(r_whole.query.ptr != NULL && r_whole.query.len == 0);
	req_target("/a?b?c", 0);
	check(slice_is(r_whole.query, "b?c"));
	req_target("/metadata/identity\\oauth2\\token", 0); /* route: 400 */
	req_target("/a#frag", HTTP_ERR_TARGET);
	req_target("/a?b#", HTTP_ERR_TARGET);
	req_target("*", HTTP_ERR_TARGET);
	req_target("169.254.169.254:80", HTTP_ERR_TARGET);
	req_target("a", HTTP_ERR_TARGET);
	req_target("/a\x01", HTTP_ERR_TARGET);
	req_target("/a\x7f", HTTP_ERR_TARGET);
	req_target("/caf\xc3\xa9", HTTP_ERR_TARGET);
	req("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_ERR_TARGET);
	req("GET /\r\n\r\n", HTTP_ERR_TARGET); /* HTTP/0.9 */
	check_int(http_err_status(HTTP_ERR_TARGET), 400);
}

static void
t_req_absolute(void)
{
	req_target("http://169.254.169.254/metadata/identity/oauth2/token"
	           "?resource=x",
	    0);
	check(slice_is(r_whole.path, "/metadata/identity/oauth2/token"));
	check(slice_is(r_whole.query, "resource=x"));
	check(slice_is(r_whole.target,
	    "http://169.254.169.254/metadata/identity/oauth2/token"
	    "?resource=x"));
	req_target("HTTP://169.254.169.254:80/", 0);
	check(slice_is(r_whole.path, "/"));
	check(r_whole.query.ptr == NULL);
	req_target("http://169.254.169.254", HTTP_ERR_ABSOLUTE);
	req_target("http://169.254.169.254?x", HTTP_ERR_ABSOLUTE);
	req_target("http://169.254.169.254:8080/", HTTP_ERR_ABSOLUTE);
	req_target("http://169.254.169.254.evil/", HTTP_ERR_ABSOLUTE);
	req_target("http://169.254.169.254@evil/", HTTP_ERR_ABSOLUTE);
	req_target("http://user@169.254.169.254/", HTTP_ERR_ABSOLUTE);
	req_target("https://169.254.169.254/", HTTP_ERR_ABSOLUTE);
	req_target("http://example.com/metadata", HTTP_ERR_ABSOLUTE);
	req_target("example.com:80", HTTP_ERR_ABSOLUTE);
	req_target("http:/169.254.169.254/", HTTP_ERR_ABSOLUTE);
	check_int(http_err_status(HTTP_ERR_ABSOLUTE), 400);
}

static void
t_req_target_limit(void)
{
	static char t[LIM_HTTP_TARGET_BYTES + 2];
	static char line[LIM_HTTP_TARGET_BYTES + 8];

	memset(t, 'a', sizeof(t) - 1);
	t[0] = '/';
	t[LIM_HTTP_TARGET_BYTES] = '\0';
	req_target(t, 0);
	check_int(r_whole.path.len, LIM_HTTP_TARGET_BYTES);
	t[LIM_HTTP_TARGET_BYTES] = 'a';
	req_target(t, HTTP_ERR_TARGET_LONG);
	check_int(http_err_status(HTTP_ERR_TARGET_LONG), 414);
	/* Found as the N+1st byte arrives, before the line ends. */
	snprintf(line, sizeof(line), "GET %s", t);
	req(line, HTTP_ERR_TARGET_LONG);
	line[strlen(line) - 1] = '\0';
	req(line, HTTP_NEED_MORE);
}

static int
req_version(const char *v, int want)
{
	char buf[128];

	snprintf(buf, sizeof(buf), "GET / %s\r\nHost: a\r\n\r\n", v);
	return req(buf, want == 0 ? HEAD_OK(buf) : want);
}

static void
t_req_version(void)
{
	req_version("HTTP/1.1", 0);
	check_int(r_whole.minor_version, 1);
	req_version("HTTP/1.0", 0);
	check_int(r_whole.minor_version, 0);
	req_version("HTTP/2.0", HTTP_ERR_VERSION_UNSUPP);
	req_version("HTTP/1.2", HTTP_ERR_VERSION_UNSUPP);
	req_version("HTTP/0.9", HTTP_ERR_VERSION_UNSUPP);
	req_version("HTTP/3.0", HTTP_ERR_VERSION_UNSUPP);
	check_int(http_err_status(HTTP_ERR_VERSION_UNSUPP), 505);
	req_version("http/1.1", HTTP_ERR_VERSION);
	req_version("HTTP/1.1 ", HTTP_ERR_VERSION);
	req_version("HTTP/1.10", HTTP_ERR_VERSION);
	req_version("HTTP/1", HTTP_ERR_VERSION);
	req_version("HTTP/1.a", HTTP_ERR_VERSION);
	req_version("HTTP/11", HTTP_ERR_VERSION);
	req_version("", HTTP_ERR_VERSION);
	req_version("HTTP/1.1\x01", HTTP_ERR_VERSION);
	req("GET / HTTP/1.1 and more\r\n", HTTP_ERR_VERSION); /* early */
	req("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", HTTP_ERR_VERSION_UNSUPP);
	check_int(http_err_status(HTTP_ERR_VERSION), 400);
}

static void
t_req_fields(void)
{
	req_ok(
	    "GET / HTTP/1.1\r\nHost: a\r\nX:  v w \t\r\nY:\r\nZ:\tz\r\n\r\n");
	check(slice_is(http_header(&r_whole, "x"), "v w"));
	check(slice_is(http_header(&r_whole, "y"), ""));
	check(slice_is(http_header(&r_whole, "z"), "z"));
	req_ok("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n");
	req_ok("GET / HTTP/1.1\r\nHost: a\r\n!#$%&'*+-.^_`|~09aZ: x\r\n\r\n");
	req("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
	    HTTP_ERR_OBS_FOLD);
	req("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n",
	    HTTP_ERR_OBS_FOLD);
	req("GET / HTTP/1.1\r\n Host: a\r\n\r\n", HTTP_ERR_OBS_FOLD);
	req("GET / HTTP/1.1\r\nHost: a\r\nX y: z\r\n\r\n", HTTP_ERR_HDR_NAME);
	req("GET / HTTP/1.1\r\nHost: a\r\nX : z\r\n\r\n", HTTP_ERR_HDR_NAME);
	req("GET / HTTP/1.1\r\nHost: a\r\n: z\r\n\r\n", HTTP_ERR_HDR_NAME);
	req("GET / HTTP/1.1\r\nHost: a\r\nXz\r\n\r\n", HTTP_ERR_HDR_NAME);
	req("GET / HTTP/1.1\r\nHost: a\r\nX(: z\r\n\r\n", HTTP_ERR_HDR_NAME);
	req("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n",
	    HTTP_ERR_HDR_VALUE);
	req("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n",
	    HTTP_ERR_HDR_VALUE);
	check_int(http_err_status(HTTP_ERR_OBS_FOLD), 400);
	check_int(http_err_status(HTTP_ERR_HDR_NAME), 400);
	check_int(http_err_status(HTTP_ERR_HDR_VALUE), 400);
}

static void
t_req_host(void)
{
	req("GET / HTTP/1.1\r\n\r\n", HTTP_ERR_HOST_MISSING);
	req("GET / HTTP/1.1\r\nX-Host: a\r\n\r\n", HTTP_ERR_HOST_MISSING);
	req_ok("GET / HTTP/1.0\r\n\r\n");
	req("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", HTTP_ERR_HOST_DUP);
	req("GET / HTTP/1.0\r\nHost: a\r\nHOST: b\r\n\r\n", HTTP_ERR_HOST_DUP);
	req_ok("GET / HTTP/1.1\r\nHost: 169.254.169.254:80\r\n\r\n");
	req_ok("GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]:2579\r\n\r\n");
	req_ok("GET / HTTP/1.1\r\nHost: podid.kube-system.svc\r\n\r\n");
	req_ok("GET / HTTP/1.1\r\nHost:\r\n\r\n");
	req("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", HTTP_ERR_HOST_BAD);
	req("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", HTTP_ERR_HOST_BAD);
	req("GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n", HTTP_ERR_HOST_BAD);
	req("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", HTTP_ERR_HOST_BAD);
	req("GET / HTTP/1.0\r\nHost: a\xc3\xa9\r\n\r\n", HTTP_ERR_HOST_BAD);
	check_int(http_err_status(HTTP_ERR_HOST_MISSING), 400);
	check_int(http_err_status(HTTP_ERR_HOST_DUP), 400);
	check_int(http_err_status(HTTP_ERR_HOST_BAD), 400);
}

static void
t_req_framing(void)
{
	req_ok("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
	check(!r_whole.has_body);
	req_ok("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 000\r\n\r\n");
	req("GET /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
	    HTTP_ERR_BODY);
	check(r_whole.has_body);
	check(slice_is(r_whole.path, "/p")); /* for the log line */
	req("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: "
	    "99999999999999999999999999\r\n\r\n",
	    HTTP_ERR_BODY);
	req("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0001\r\n\r\n",
	    HTTP_ERR_BODY);
	req("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
	    HTTP_ERR_BODY);
	check(r_whole.has_body);
	req("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
	    HTTP_ERR_BODY);
	req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n",
	    HTTP_ERR_METHOD_NOT_ALLOWED);
	check(r_whole.has_body);
	req("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
	    HTTP_ERR_CL);
	req("GET / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
	    HTTP_ERR_CL);
	req("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,1\r\n\r\n",
	    HTTP_ERR_CL);
	req("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x0\r\n\r\n",
	    HTTP_ERR_CL);
	req("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n"
	    "Content-Length: 0\r\n\r\n",
	    HTTP_ERR_CL);
	req("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 0\r\n\r\n",
	    HTTP_ERR_FRAMING);
	req("GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
	    HTTP_ERR_FRAMING);
	check_int(http_err_status(HTTP_ERR_BODY), 413);
	check_int(http_err_status(HTTP_ERR_CL), 400);
	check_int(http_err_status(HTTP_ERR_FRAMING), 400);
}

static void
t_req_expect(void)
{
	req_ok("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n");
	check(r_whole.expect);
	req("GET / HTTP/1.1\r\nHost: a\r\nexpect: 100-continue\r\n"
	    "Content-Length: 10\r\n\r\n",
	    HTTP_ERR_BODY);
	check(r_whole.expect);
	req_ok("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
	check(!r_whole.expect);
}

static void
t_req_keep_alive(void)
{
	req_ok("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
	check(r_whole.keep_alive);
	req_ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
	check(!r_whole.keep_alive);
	req_ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, "
	       "CLOSE\r\n\r\n");
	check(!r_whole.keep_alive);
	req_ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: te\r\n"
	       "Connection: Close\r\n\r\n");
	check(!r_whole.keep_alive);
	req_ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n");
	check(r_whole.keep_alive);
	req_ok("GET / HTTP/1.0\r\n\r\n");
	check(!r_whole.keep_alive);
	req_ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
	check(r_whole.keep_alive);
	req_ok("GET / HTTP/1.0\r\nConnection: ,keep-alive ,\r\n\r\n");
	check(r_whole.keep_alive);
	req_ok("GET / HTTP/1.0\r\nConnection: keep-alive,close\r\n\r\n");
	check(!r_whole.keep_alive);
}

/*
 * A head of exactly n bytes (leading CRLF pairs lead of them): request
 * line, Host, a filler field X sized to fit, blank line.
 */
static size_t
make_head(char *buf, size_t n, size_t lead)
{
	static const char start[] = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
	size_t i, off = 0, fill = n - lead - (sizeof(start) - 1) - 4;

	for (i = 0; i < lead / 2; i++, off += 2)
		memcpy(buf + off, "\r\n", 2);
	memcpy(buf + off, start, sizeof(start) - 1);
	off += sizeof(start) - 1;
	memset(buf + off, 'x', fill);
	memcpy(buf + off + fill, "\r\n\r\n", 4);
	return off + fill + 4;
}

static void
t_req_head_limit(void)
{
	static char buf[LIM_HTTP_HEAD_BYTES + 2];
	size_t n;

	n = make_head(buf, LIM_HTTP_HEAD_BYTES, 0);
	check_int(n, LIM_HTTP_HEAD_BYTES);
	req_n(buf, n, (int)n);
	check_int(http_header(&r_whole, "x").len, LIM_HTTP_HEAD_BYTES - 32);
	req_n(buf, n - 1, HTTP_NEED_MORE);
	n = make_head(buf, LIM_HTTP_HEAD_BYTES + 1, 0);
	req_n(buf, n, HTTP_ERR_HEAD_LONG);
	/* N bytes without the blank line already prove the head too long. */
	req_n(buf, LIM_HTTP_HEAD_BYTES, HTTP_ERR_HEAD_LONG);
	req_n(buf, LIM_HTTP_HEAD_BYTES - 1, HTTP_NEED_MORE);
	/* Leading empty lines count. */
	n = make_head(buf, LIM_HTTP_HEAD_BYTES, 4);
	req_n(buf, n, (int)n);
	n = make_head(buf, LIM_HTTP_HEAD_BYTES + 1, 4);
	req_n(buf, n, HTTP_ERR_HEAD_LONG);
	check_int(http_err_status(HTTP_ERR_HEAD_LONG), 431);
}

/* A head with Host and count - 1 more fields. */
static size_t
make_fields(char *buf, unsigned count)
{
	size_t n = 0;
	unsigned i;

	n += (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (i = 1; i < count; i++)
		n += (size_t)sprintf(buf + n, "H%u: v%u\r\n", i, i);
	n += (size_t)sprintf(buf + n, "\r\n");
	return n;
}

static void
t_req_header_count(void)
{
	static char buf[4096];
	char want[16];
	size_t n;

	n = make_fields(buf, HTTP_MAX_HEADERS);
	req_n(buf, n, (int)n);
	check_int(r_whole.nheaders, HTTP_MAX_HEADERS);
	snprintf(want, sizeof(want), "v%u", HTTP_MAX_HEADERS - 1);
	check(slice_is(r_whole.headers[HTTP_MAX_HEADERS - 1].value, want));
	n = make_fields(buf, HTTP_MAX_HEADERS + 1);
	req_n(buf, n, HTTP_ERR_HEADERS);
	/* Found at the first byte of the N+1st field. */
	snprintf(want, sizeof(want), "H%u: v%u\r\n", HTTP_MAX_HEADERS,
	    HTTP_MAX_HEADERS);
	req_n(buf, n - 2 - strlen(want) + 1, HTTP_ERR_HEADERS);
	req_n(buf, n - 2 - strlen(want), HTTP_NEED_MORE);
	check_int(http_err_status(HTTP_ERR_HEADERS), 431);
}

static void
t_req_pipelined(void)
{
	static const char two[] = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
	                          "GET /metrics HTTP/1.1\r\nHost: a\r\n"
	                          "Connection: close\r\n\r\n"
	                          "GET /x";
	size_t n = sizeof(two) - 1;
	int first, second;

	first = req_n(two, n, 34);
	check(slice_is(r_whole.path, "/healthz"));
	check(r_whole.keep_alive);
	second = req_n(two + first, n - (size_t)first, 53);
	check(slice_is(r_whole.path, "/metrics"));
	check(!r_whole.keep_alive);
	req_n(two + first + second, n - (size_t)first - (size_t)second,
	    HTTP_NEED_MORE);
}

static void
t_req_header_helpers(void)
{
	req_ok("GET / HTTP/1.1\r\nHost: a\r\nMetadata: true\r\n"
	       "metadata: false\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n");
	check_int(http_header_count(&r_whole, "Metadata"), 2);
	check_int(http_header_count(&r_whole, "x-forwarded-for"), 1);
	check_int(http_header_count(&r_whole, "x-forwarded"), 0);
	check_int(http_header_count(&r_whole, "absent"), 0);
	check(slice_is(http_header(&r_whole, "metadata"), "true"));
	check(http_header(&r_whole, "").ptr == NULL);
}

static void
t_status(void)
{
	int e, f;

	for (e = HTTP_NEED_MORE; e >= HTTP_ERR_NOSPACE; e--) {
		check(strcmp(http_strerror(e), "unknown http error") != 0);
		for (f = e + 1; f < 0; f++)
			check(strcmp(http_strerror(e), http_strerror(f)) != 0);
		check(http_err_status(e) >= 400 && http_err_status(e) <= 505);
	}
	check_str(http_strerror(HTTP_ERR_BARE_LF), "bare LF");
	check_str(http_strerror(0), "ok");
	check_str(http_strerror(1), "unknown http error");
	check_str(http_strerror(HTTP_ERR_NOSPACE - 1), "unknown http error");
	check_int(http_err_status(HTTP_ERR_INVAL), 500);
	check_int(http_err_status(HTTP_ERR_NOSPACE), 500);
	check_int(http_err_status(HTTP_ERR_QUERY_DUP), 400);
	check_int(http_err_status(HTTP_ERR_QUERY_ABSENT), 400);
	check_int(http_err_status(-1000), 400);
}

/* Routes. */

static const struct route_case {
	const char *path;
	enum http_route want;
} route_cases[] = {
    /* The token route: /metadata in any case, the rest exact. */
    {"/metadata/identity/oauth2/token", HTTP_ROUTE_TOKEN},
    {"/metadata/identity/oauth2/token/", HTTP_ROUTE_TOKEN},
    {"/METADATA/identity/oauth2/token", HTTP_ROUTE_TOKEN},
    {"/MetaData/identity/oauth2/token/", HTTP_ROUTE_TOKEN},
    /* CVE-2022-23551 and friends: never proxied. */
    {"/metadata/identity\\oauth2\\token", HTTP_ROUTE_INVALID},
    {"/metadata/identity\\oauth2\\token\\", HTTP_ROUTE_INVALID},
    {"/metadata\\identity/oauth2/token", HTTP_ROUTE_INVALID},
    {"/metadata/identity/oauth2/token%2F", HTTP_ROUTE_INVALID},
    {"/metadata/identity%2Foauth2%2Ftoken", HTTP_ROUTE_INVALID},
    {"/metadata/identity/oauth2/t%6fken", HTTP_ROUTE_INVALID},
    {"/metadata/identity/oauth2/token%00", HTTP_ROUTE_INVALID},
    {"/metadata/identity/oauth2/token%", HTTP_ROUTE_INVALID},
    {"//metadata/identity/oauth2/token", HTTP_ROUTE_INVALID},
    {"/metadata//identity/oauth2/token", HTTP_ROUTE_INVALID},
    {"/metadata/identity/oauth2/token//", HTTP_ROUTE_INVALID},
    {"/metadata/./identity/oauth2/token", HTTP_ROUTE_INVALID},
    {"/metadata/identity/oauth2/token/.", HTTP_ROUTE_INVALID},
    {"/metadata/identity/oauth2/token/..", HTTP_ROUTE_INVALID},
    {"/metadata/x/../identity/oauth2/token", HTTP_ROUTE_INVALID},
    {"/./metadata/identity/oauth2/token", HTTP_ROUTE_INVALID},
    {"/metadata/identity/oauth2/token ", HTTP_ROUTE_INVALID},
    {"/metadata/identity/oauth2/tok\x01n", HTTP_ROUTE_INVALID},
    {"metadata/identity/oauth2/token", HTTP_ROUTE_INVALID},
    {"", HTTP_ROUTE_INVALID},
    {"/metadata/Identity/oauth2/token", HTTP_ROUTE_TOKEN_LIKE},
    {"/metadata/identity/OAUTH2/token", HTTP_ROUTE_TOKEN_LIKE},
    {"/metadata/identity/oauth2/Token", HTTP_ROUTE_TOKEN_LIKE},
    {"/metadata/identity/oauth2/token/x", HTTP_ROUTE_TOKEN_LIKE},
    {"/metadata/identity/oauth2/tokens", HTTP_ROUTE_TOKEN_LIKE},
    {"/metadata/identity/oauth2/token;x", HTTP_ROUTE_TOKEN_LIKE},
    {"/metadata/identity/oauth2/token.json", HTTP_ROUTE_TOKEN_LIKE},
    {"/metadata/identity/oauth2", HTTP_ROUTE_TOKEN_LIKE},
    {"/metadata/identity", HTTP_ROUTE_TOKEN_LIKE},
    {"/metadata/identity/token", HTTP_ROUTE_TOKEN_LIKE},
    {"/metadata/identityoauth2token", HTTP_ROUTE_TOKEN_LIKE},
    {"/metadata/oauth2/token", HTTP_ROUTE_TOKEN_LIKE},
    {"/metadata/instance;/../identity/oauth2/token", HTTP_ROUTE_INVALID},
    /* Other IMDS routes. */
    {"/metadata/instance", HTTP_ROUTE_METADATA},
    {"/METADATA/instance/", HTTP_ROUTE_METADATA},
    {"/metadata/instance/compute/location", HTTP_ROUTE_METADATA},
    {"/metadata/instance/network/interface/0/ipv4", HTTP_ROUTE_METADATA},
    {"/metadata/versions", HTTP_ROUTE_METADATA},
    {"/metadata/attested/document", HTTP_ROUTE_METADATA},
    {"/metadata/scheduledevents", HTTP_ROUTE_METADATA},
    {"/metadata/loadbalancer", HTTP_ROUTE_METADATA},
    {"/metadata/identity/info", HTTP_ROUTE_METADATA},
    {"/metadata/identity/info/", HTTP_ROUTE_METADATA},
    {"/metadata/identity/info/x", HTTP_ROUTE_TOKEN_LIKE},
    {"/metadata/Instance", HTTP_ROUTE_NONE},
    {"/metadata/instances", HTTP_ROUTE_NONE},
    {"/metadata/attested", HTTP_ROUTE_NONE},
    {"/metadata", HTTP_ROUTE_NONE},
    {"/metadata/", HTTP_ROUTE_NONE},
    {"/metadataz/instance", HTTP_ROUTE_NONE},
    {"/metadat", HTTP_ROUTE_NONE},
    /* podid's own routes. */
    {"/host/token", HTTP_ROUTE_HOST_TOKEN},
    {"/host/token/", HTTP_ROUTE_HOST_TOKEN},
    {"/host/token/x", HTTP_ROUTE_NONE},
    {"/host/tokens", HTTP_ROUTE_NONE},
    {"/HOST/token", HTTP_ROUTE_NONE},
    {"/host//token", HTTP_ROUTE_INVALID},
    {"/healthz", HTTP_ROUTE_HEALTHZ},
    {"/healthz/", HTTP_ROUTE_HEALTHZ},
    {"/readyz", HTTP_ROUTE_READYZ},
    {"/metrics", HTTP_ROUTE_METRICS},
    {"/Healthz", HTTP_ROUTE_NONE},
    {"/metrics/x", HTTP_ROUTE_NONE},
    {"/healthz/../metrics", HTTP_ROUTE_INVALID},
    {"/", HTTP_ROUTE_NONE},
    {"/latest/meta-data", HTTP_ROUTE_NONE},
    {"/computeMetadata/v1", HTTP_ROUTE_NONE},
    {"/identity/oauth2/token", HTTP_ROUTE_NONE},
};

static void
t_route_table(void)
{
	size_t i;
	enum http_route got;

	check(sizeof(route_cases) / sizeof(*route_cases) >= 40);
	for (i = 0; i < sizeof(route_cases) / sizeof(*route_cases); i++) {
		got = http_route(guard_slice(route_cases[i].path));
		if (got != route_cases[i].want)
			fprintf(stderr, "route \"%s\": %s, want %s\n",
			    route_cases[i].path, http_route_name(got),
			    http_route_name(route_cases[i].want));
		check_int(got, route_cases[i].want);
	}
}

static void
t_route_misc(void)
{
	struct http_slice none = {NULL, 0};
	struct http_slice cut = {"/healthzzz", 8};

	check_int(http_route(none), HTTP_ROUTE_INVALID);
	check_int(http_route(cut), HTTP_ROUTE_HEALTHZ); /* len, not NUL */
	check_str(http_route_name(HTTP_ROUTE_TOKEN), "token");
	check_str(http_route_name(HTTP_ROUTE_TOKEN_LIKE), "token_like");
	check_str(http_route_name(HTTP_ROUTE_METRICS), "metrics");
	check_str(http_route_name((enum http_route)99), "unknown");
	/* The parser's path of an absolute-form target routes the same. */
	req_target("http://169.254.169.254/Metadata/identity/oauth2/token/"
	           "?resource=x",
	    0);
	check_int(http_route(r_whole.path), HTTP_ROUTE_TOKEN);
}

/* Queries. */

static struct http_param param;

/* Iterates q (against the guard page) and checks the pairs against want:
 * "name=value" strings; returns the final code. */
static int
query_pairs(const char *q, const char *const *want, size_t nwant)
{
	struct http_query_iter it;
	char got[LIM_HTTP_PARAM_NAME_BYTES + LIM_HTTP_PARAM_VALUE_BYTES + 2];
	size_t n = 0;
	int rc;

	http_query_init(&it, guard_slice(q));
	while ((rc = http_query_next(&it, &param)) == 1) {
		check_int(strlen(param.name), param.name_len);
		check_int(strlen(param.value), param.value_len);
		snprintf(got, sizeof(got), "%s=%s", param.name, param.value);
		if (n < nwant)
			check_str(got, want[n]);
		n++;
	}
	check_int(n, nwant);
	return rc;
}

#define NWANT(a) (sizeof(a) / sizeof(*(a)))

static void
t_query_decode(void)
{
	static const char *const imds[] = {
	    "api-version=2018-02-01", "resource=https://vault.azure.net"};
	static const char *const plus[] = {"a=b c+d", "e f=g"};
	static const char *const empty[] = {"a=", "b=", "c=x"};
	static const char *const raw[] = {"resource=https://vault.azure.net/",
	    "msi_res_id=/subscriptions/0/resourcegroups/rg"};
	static const char *const odd[] = {"a==b", "a;b=c", "===", "?=?"};
	static const char *const high[] = {"caf\xc3\xa9=\xff"};

	check_int(query_pairs("api-version=2018-02-01"
	                      "&resource=https%3A%2F%2Fvault.azure.net",
	              imds, NWANT(imds)),
	    0);
	check_int(query_pairs("a=b+c%2Bd&e+f=g", plus, NWANT(plus)), 0);
	check_int(query_pairs("a=&b&&c=x&", empty, NWANT(empty)), 0);
	check_int(query_pairs("resource=https://vault.azure.net/"
	                      "&msi_res_id=%2Fsubscriptions%2F0%2F"
	                      "resourcegroups%2Frg",
	              raw, NWANT(raw)),
	    0);
	check_int(query_pairs("a%3D=b&a;b=c&%3D=%3D&?=?", odd, NWANT(odd)), 0);
	check_int(query_pairs("caf%C3%a9=%FF", high, NWANT(high)), 0);
	check_int(query_pairs("", NULL, 0), 0);
	check_int(query_pairs("&&&", NULL, 0), 0);
}

static void
t_query_bad(void)
{
	static const struct {
		const char *q;
		int want;
	} bad[] = {
	    {"%", HTTP_ERR_QUERY_ESCAPE},
	    {"a=%", HTTP_ERR_QUERY_ESCAPE},
	    {"a=%2", HTTP_ERR_QUERY_ESCAPE},
	    {"a=b%4", HTTP_ERR_QUERY_ESCAPE},
	    {"a=%zz", HTTP_ERR_QUERY_ESCAPE},
	    {"a=%2g", HTTP_ERR_QUERY_ESCAPE},
	    {"a=%g2", HTTP_ERR_QUERY_ESCAPE},
	    {"a%=b", HTTP_ERR_QUERY_ESCAPE},
	    {"a=%%41", HTTP_ERR_QUERY_ESCAPE},
	    {"a=%00", HTTP_ERR_QUERY_CTL},
	    {"%00=a", HTTP_ERR_QUERY_CTL},
	    {"a=b%0d%0aX: y", HTTP_ERR_QUERY_CTL},
	    {"a=%1f", HTTP_ERR_QUERY_CTL},
	    {"a=%7F", HTTP_ERR_QUERY_CTL},
	    {"a=\x01", HTTP_ERR_QUERY_CTL},
	    {"a=\t", HTTP_ERR_QUERY_CTL},
	    {"=x", HTTP_ERR_QUERY_NAME},
	    {"=", HTTP_ERR_QUERY_NAME},
	};
	size_t i;

	for (i = 0; i < NWANT(bad); i++) {
		check_int(query_pairs(bad[i].q, NULL, 0), bad[i].want);
		check_int(http_query_check(guard_slice(bad[i].q)), bad[i].want);
		check_int(http_err_status(bad[i].want), 400);
	}
}

static void
t_query_sticky(void)
{
	static const char *const first[] = {"a=1"};
	struct http_query_iter it;

	/* Pairs before the bad one come out; the error then sticks. */
	check_int(query_pairs("a=1&b=%", first, 1), HTTP_ERR_QUERY_ESCAPE);
	http_query_init(&it, guard_slice("x=%"));
	check_int(http_query_next(&it, &param), HTTP_ERR_QUERY_ESCAPE);
	check_int(http_query_next(&it, &param), HTTP_ERR_QUERY_ESCAPE);
	/* NULL with a length. */
	http_query_init(&it, (struct http_slice){NULL, 1});
	check_int(http_query_next(&it, &param), HTTP_ERR_INVAL);
	http_query_init(&it, (struct http_slice){NULL, 0});
	check_int(http_query_next(&it, &param), 0);
}

/* "n=v" with a name of nlen bytes and a value of vlen bytes, written as
 * %XX escapes when escaped (the limits are on decoded bytes). */
static const char *
make_pair(size_t nlen, size_t vlen, bool escaped)
{
	static char
	    buf[3 * (LIM_HTTP_PARAM_NAME_BYTES + LIM_HTTP_PARAM_VALUE_BYTES) +
	        8];
	size_t i, o = 0;

	for (i = 0; i < nlen; i++)
		buf[o++] = 'n';
	buf[o++] = '=';
	for (i = 0; i < vlen; i++) {
		if (escaped) {
			memcpy(buf + o, "%41", 3);
			o += 3;
		} else
			buf[o++] = 'v';
	}
	buf[o] = '\0';
	return buf;
}

static void
t_query_limits(void)
{
	static char q[16 * (LIM_HTTP_QUERY_PARAMS + 1)];
	static char value[LIM_HTTP_PARAM_VALUE_BYTES + 1];
	size_t i, o = 0;

	check_int(http_query_check(guard_slice(
	              make_pair(LIM_HTTP_PARAM_NAME_BYTES, 1, false))),
	    0);
	check_int(http_query_check(guard_slice(
	              make_pair(LIM_HTTP_PARAM_NAME_BYTES + 1, 1, false))),
	    HTTP_ERR_QUERY_NAME_LONG);
	check_int(http_query_check(guard_slice(
	              make_pair(1, LIM_HTTP_PARAM_VALUE_BYTES, false))),
	    0);
	check_int(http_query_check(guard_slice(
	              make_pair(1, LIM_HTTP_PARAM_VALUE_BYTES + 1, false))),
	    HTTP_ERR_QUERY_VALUE_LONG);
	check_int(http_query_check(guard_slice(
	              make_pair(1, LIM_HTTP_PARAM_VALUE_BYTES, true))),
	    0);
	check_int(http_query_get(guard_slice(make_pair(
	                             1, LIM_HTTP_PARAM_VALUE_BYTES, true)),
	              "n", value, sizeof(value)),
	    LIM_HTTP_PARAM_VALUE_BYTES);
	check(value[0] == 'A' && value[LIM_HTTP_PARAM_VALUE_BYTES - 1] == 'A');
	check_int(http_query_check(guard_slice(
	              make_pair(1, LIM_HTTP_PARAM_VALUE_BYTES + 1, true))),
	    HTTP_ERR_QUERY_VALUE_LONG);
	/* LIM_HTTP_QUERY_PARAMS pairs, empty ones not counted, then one more. */
	for (i = 0; i < LIM_HTTP_QUERY_PARAMS; i++)
		o += (size_t)sprintf(q + o, "p%zu=%zu&&", i, i);
	check_int(http_query_check(guard_slice(q)), 0);
	sprintf(q + o, "p%zu=x", i);
	check_int(http_query_check(guard_slice(q)), HTTP_ERR_QUERY_PARAMS);
	check_int(http_err_status(HTTP_ERR_QUERY_PARAMS), 400);
	check_int(http_err_status(HTTP_ERR_QUERY_NAME_LONG), 400);
	check_int(http_err_status(HTTP_ERR_QUERY_VALUE_LONG), 400);
}

static void
t_query_check_dup(void)
{
	check_int(http_query_check(guard_slice("a=1&b=2&c")), 0);
	check_int(http_query_check(guard_slice("a=1&a=2")), HTTP_ERR_QUERY_DUP);
	check_int(http_query_check(guard_slice("a=1&a=1")), HTTP_ERR_QUERY_DUP);
	check_int(http_query_check(guard_slice("a&a")), HTTP_ERR_QUERY_DUP);
	check_int(http_query_check(guard_slice("resource=x&Resource=y")),
	    HTTP_ERR_QUERY_DUP);
	check_int(http_query_check(guard_slice("resource=x&%72esource=y")),
	    HTTP_ERR_QUERY_DUP);
	check_int(http_query_check(guard_slice("client_id=1&b=2&client_id=")),
	    HTTP_ERR_QUERY_DUP);
	check_int(
	    http_query_check(guard_slice("a+b=1&a%20b=2")), HTTP_ERR_QUERY_DUP);
	check_int(http_query_check(guard_slice("ab=1&a=2&b=3")), 0);
	check_int(http_query_check(guard_slice("")), 0);
	/* A bad pair after a duplicate: the first problem wins. */
	check_int(http_query_check(guard_slice("a&a&%")), HTTP_ERR_QUERY_DUP);
	check_int(
	    http_query_check(guard_slice("a&%&a")), HTTP_ERR_QUERY_ESCAPE);
}

static void
t_query_get(void)
{
	static const char q[] = "api-version=2018-02-01"
	                        "&resource=https%3A%2F%2Fvault.azure.net"
	                        "&client_id=&x&x=2";
	struct http_slice s = guard_slice(q);
	char dst[64];

	check_int(http_query_get(s, "resource", dst, sizeof(dst)), 23);
	check_str(dst, "https://vault.azure.net");
	check_int(http_query_get(s, "api-version", dst, sizeof(dst)), 10);
	check_str(dst, "2018-02-01");
	check_int(http_query_get(s, "client_id", dst, sizeof(dst)), 0);
	check_str(dst, "");
	check_int(http_query_get(s, "x", dst, sizeof(dst)), 0); /* first */
	check_int(http_query_get(s, "Resource", dst, sizeof(dst)),
	    HTTP_ERR_QUERY_ABSENT);
	check_int(http_query_get(s, "resourc", dst, sizeof(dst)),
	    HTTP_ERR_QUERY_ABSENT);
	check_int(http_query_get(s, "object_id", dst, sizeof(dst)),
	    HTTP_ERR_QUERY_ABSENT);
	/* dst at the value's length plus the NUL, and one byte short. */
	check_int(http_query_get(s, "resource", dst, 24), 23);
	check_int(http_query_get(s, "resource", dst, 23), HTTP_ERR_NOSPACE);
	check_int(http_query_get(s, "resource", NULL, 0), HTTP_ERR_NOSPACE);
	check_int(http_query_get(s, NULL, dst, 1), HTTP_ERR_INVAL);
	check_int(http_query_get(s, "resource", NULL, 1), HTTP_ERR_INVAL);
	/* A bad pair before the match is reported; after it, not. */
	check_int(http_query_get(guard_slice("a=%&resource=x"), "resource", dst,
	              sizeof(dst)),
	    HTTP_ERR_QUERY_ESCAPE);
	check_int(http_query_get(guard_slice("resource=x&a=%"), "resource", dst,
	              sizeof(dst)),
	    1);
	check_int(http_query_get(guard_slice(""), "resource", dst, sizeof(dst)),
	    HTTP_ERR_QUERY_ABSENT);
}

/*
 * The scan's table runs go four bytes a step: a stop byte (NUL, a byte of
 * the wrong class) at every offset of a run, every head length mod 4.
 */
static void
t_req_runs(void)
{
	char buf[sizeof(msal_req)];
	size_t i, n = strlen(msal_req);

	/* A NUL anywhere in a well-formed head is that error, at that byte. */
	for (i = 0; i < n; i++) {
		memcpy(buf, msal_req, n);
		buf[i] = '\0';
		req_n(buf, n, HTTP_ERR_NUL);
		req_n(buf, i + 1, HTTP_ERR_NUL);
	}
	/* A DEL at offsets 1..12 of the method and of the target. */
	for (i = 1; i <= 12; i++) {
		snprintf(buf, sizeof(buf),
		    "%.*s\x7fGET / HTTP/1.1\r\nHost: a\r\n\r\n", (int)i,
		    "GETGETGETGETGET");
		req(buf, HTTP_ERR_METHOD);
		snprintf(buf, sizeof(buf),
		    "GET /%.*s\x7f HTTP/1.1\r\nHost: a\r\n\r\n", (int)i,
		    "aaaaaaaaaaaaaaa");
		req(buf, HTTP_ERR_TARGET);
		snprintf(buf, sizeof(buf),
		    "GET / HTTP/1.1\r\nHost: a\r\nX: %.*s\x7f\r\n\r\n", (int)i,
		    "aaaaaaaaaaaaaaa");
		req(buf, HTTP_ERR_HDR_VALUE);
		snprintf(buf, sizeof(buf),
		    "GET / HTTP/1.1\r\nHost: a\r\n%.*s\x01: x\r\n\r\n", (int)i,
		    "aaaaaaaaaaaaaaa");
		req(buf, HTTP_ERR_HDR_NAME);
	}
}

/*
 * A control byte seen by the scan makes the field parse check values; a
 * head without one skips that check: both ways, and first error first.
 */
static void
t_req_field_ctl(void)
{
	req("GET / HTTP/1.1\r\nHost: a\r\nA: b\r\nC: \x01\r\n\r\n",
	    HTTP_ERR_HDR_VALUE);
	req("GET / HTTP/1.1\r\nHost: a\r\nA: b\x1f\r\nC: d\r\n\r\n",
	    HTTP_ERR_HDR_VALUE);
	req("GET / HTTP/1.1\r\nHost: a\r\nA\x01: b\r\nC: \x02\r\n\r\n",
	    HTTP_ERR_HDR_NAME);
	req("GET / HTTP/1.1\r\nHost: a\r\nA: \x02\r\nC\x01: b\r\n\r\n",
	    HTTP_ERR_HDR_VALUE);
	/* The control byte starts the line: a bad name, not a value. */
	req("GET / HTTP/1.1\r\nHost: a\r\n\x01: b\r\n\r\n", HTTP_ERR_HDR_NAME);
	/* HTAB and obs-text inside a value are text, beside a bad field. */
	req_ok("GET / HTTP/1.1\r\nHost: a\r\nA: b\tc\xff\x80\r\n\r\n");
	check(slice_is(http_header(&r_whole, "a"), "b\tc\xff\x80"));
	req("GET / HTTP/1.1\r\nHost: a\r\nA: b\tc\xff\r\nD: \x7f\r\n\r\n",
	    HTTP_ERR_HDR_VALUE);
	/* A bad value beats a missing Host: fields first, then Host. */
	req("GET / HTTP/1.1\r\nA: \x03\r\n\r\n", HTTP_ERR_HDR_VALUE);
}

/*
 * Fields are told apart by name length first: names as long as Host,
 * Expect, Connection, Content-Length and Transfer-Encoding but not
 * them change nothing; the real ones count in any case.
 */
static void
t_req_field_names(void)
{
	req("GET / HTTP/1.1\r\nHosx: a\r\n\r\n", HTTP_ERR_HOST_MISSING);
	req("GET / HTTP/1.1\r\nhOST: a\r\nHOST: b\r\n\r\n", HTTP_ERR_HOST_DUP);
	req_ok("GET / HTTP/1.1\r\nHost: a\r\nExpecx: 100-continue\r\n\r\n");
	check(!r_whole.expect);
	req_ok("GET / HTTP/1.1\r\nHost: a\r\nEXPECT: 100-continue\r\n\r\n");
	check(r_whole.expect);
	req_ok("GET / HTTP/1.1\r\nHost: a\r\nConnectiox: close\r\n\r\n");
	check(r_whole.keep_alive);
	req_ok("GET / HTTP/1.1\r\nHost: a\r\nCONNECTION: Close\r\n\r\n");
	check(!r_whole.keep_alive);
	req_ok("GET / HTTP/1.1\r\nHost: a\r\nContent-Lengtx: 5\r\n\r\n");
	check(!r_whole.has_body);
	req("GET / HTTP/1.1\r\nHost: a\r\nCONTENT-LENGTH: 5\r\n\r\n",
	    HTTP_ERR_BODY);
	req_ok(
	    "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encodinx: chunked\r\n\r\n");
	req("GET / HTTP/1.1\r\nHost: a\r\nTRANSFER-ENCODING: chunked\r\n\r\n",
	    HTTP_ERR_BODY);
	/* Host is judged before Content-Length, whatever their order. */
	req("GET / HTTP/1.1\r\nContent-Length: x\r\nHost: a b\r\n\r\n",
	    HTTP_ERR_HOST_BAD);
	req("GET / HTTP/1.1\r\nContent-Length: x\r\nHost: a\r\n\r\n",
	    HTTP_ERR_CL);
	req("GET / HTTP/1.1\r\nHost: a\x80\r\n\r\n", HTTP_ERR_HOST_BAD);
	req_ok("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n");
}

/*
 * Percent-decoding copies runs of plain bytes up to the room left: the
 * byte at the limit is judged like any other (escape, control, then
 * length), whether it is plain, escaped, '+' or a control byte.
 */
static void
t_query_run_limit(void)
{
	static char q[LIM_HTTP_PARAM_VALUE_BYTES + 16];
	static char v[LIM_HTTP_PARAM_VALUE_BYTES + 1];
	static const struct {
		const char *tail;
		int want;
	} t[] = {
	    {"", 0},
	    {"A", HTTP_ERR_QUERY_VALUE_LONG},
	    {"%41", HTTP_ERR_QUERY_VALUE_LONG},
	    {"+", HTTP_ERR_QUERY_VALUE_LONG},
	    {"%4", HTTP_ERR_QUERY_ESCAPE},
	    {"%01", HTTP_ERR_QUERY_CTL},
	    {"\x01", HTTP_ERR_QUERY_CTL},
	    {"&b=1", 0},
	};
	size_t i, k, lim = LIM_HTTP_PARAM_VALUE_BYTES;

	for (i = 0; i < sizeof(t) / sizeof(*t); i++) {
		memcpy(q, "a=", 2);
		memset(q + 2, 'x', lim);
		strcpy(q + 2 + lim, t[i].tail);
		check_int(http_query_check(guard_slice(q)), t[i].want);
		/* One plain byte less: the same tail fits, or fails alike. */
		memmove(q + 2, q + 3, strlen(q + 3) + 1);
		k = http_query_check(guard_slice(q)) == 0;
		check_int(k,
		    t[i].want == 0 || t[i].want == HTTP_ERR_QUERY_VALUE_LONG);
	}
	q[0] = '\0';
	for (i = 0; i < lim; i += 3)
		strcat(q, i + 3 <= lim ? "%41" : "b");
	strcat(q, "=");
	check_int(http_query_get(guard_slice(q), "x", v, sizeof(v)),
	    HTTP_ERR_QUERY_NAME_LONG);
	strcpy(q, "n=x+y%2By&m=");
	check_int(http_query_get(guard_slice(q), "n", v, sizeof(v)), 5);
	check_str(v, "x y+y");
}

/* Path segments are runs too: a bad byte or dot segment at any offset. */
static void
t_route_runs(void)
{
	static const struct {
		const char *path;
		enum http_route want;
	} t[] = {
	    {"/", HTTP_ROUTE_NONE},
	    {"/.", HTTP_ROUTE_INVALID},
	    {"/..", HTTP_ROUTE_INVALID},
	    {"/...", HTTP_ROUTE_NONE},
	    {"/.a", HTTP_ROUTE_NONE},
	    {"/a/./", HTTP_ROUTE_INVALID},
	    {"/a/../", HTTP_ROUTE_INVALID},
	    {"/a/..b/", HTTP_ROUTE_NONE},
	    {"/healthz/", HTTP_ROUTE_HEALTHZ},
	    {"/healthz//", HTTP_ROUTE_INVALID},
	    {"/abcdefg%", HTTP_ROUTE_INVALID},
	    {"/abcdefgh\\", HTTP_ROUTE_INVALID},
	    {"/abcdefghi\x7f", HTTP_ROUTE_INVALID},
	    {"/abcdefghij k", HTTP_ROUTE_INVALID},
	    {"/METADATA/identity/oauth2/token/", HTTP_ROUTE_TOKEN},
	    {"/metadata/identity/oauth2/token/.", HTTP_ROUTE_INVALID},
	    {"/metadata/identity/oauth2/tokens", HTTP_ROUTE_TOKEN_LIKE},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(*t); i++)
		check_int(http_route(guard_slice(t[i].path)), t[i].want);
}

int
main(void)
{
	guard_init(&g_whole, 2 * LIM_HTTP_HEAD_BYTES);
	guard_init(&g_bytes, 2 * LIM_HTTP_HEAD_BYTES);
	guard_init(&g_small, 8192);
	test(t_req_basic, "request: an msal-node token request");
	test(t_req_partial, "request: need more, buffer misuse");
	test(t_req_leading_lines, "request: empty lines before the request");
	test(t_req_line_ends, "request: bare CR, bare LF, NUL (400)");
	test(t_req_method, "request: method (400, 405, 501)");
	test(t_req_target, "request: target forms (400)");
	test(t_req_absolute, "request: absolute-form (400)");
	test(t_req_target_limit, "request: target at N and N+1 (414)");
	test(t_req_version, "request: version (400, 505)");
	test(t_req_fields, "request: fields (400)");
	test(t_req_host, "request: host (400)");
	test(t_req_framing, "request: body framing (400, 413)");
	test(t_req_expect, "request: expect");
	test(t_req_keep_alive, "request: keep-alive");
	test(t_req_head_limit, "request: head bytes at N and N+1 (431)");
	test(t_req_header_count, "request: headers at N and N+1 (431)");
	test(t_req_pipelined, "request: pipelined heads");
	test(t_req_header_helpers, "request: header lookup and count");
	test(t_status, "error names and statuses");
	test(t_route_table, "route: table of paths");
	test(t_route_misc, "route: slices, names, absolute-form");
	test(t_query_decode, "query: decoding");
	test(t_query_bad, "query: bad escapes, controls, names");
	test(t_query_sticky, "query: pairs before an error, sticky error");
	test(t_query_limits, "query: limits at N and N+1");
	test(t_query_check_dup, "query: duplicates");
	test(t_query_get, "query: get");
	test(t_req_runs, "request: NUL at every byte, stops at every offset");
	test(t_req_field_ctl, "request: control bytes in field lines");
	test(t_req_field_names, "request: field names told apart by length");
	test(t_query_run_limit, "query: plain runs up to the value limit");
	test(t_route_runs, "route: segments as runs");
	return harness_done();
}
