/*
 * The anchor of bench/http_bench.c: agent/http.c as it was before issue 4
 * (commit e80a0bb), a byte state machine calling a function per byte,
 * with its public functions renamed before_*.  Not built on its own (the
 * Makefile builds only the _bench.c files): included once by the benchmark, after
 * agent/http.h, whose types it shares.  Never edit it but to re-anchor.
 */
#include "agent/http.h"

const char *before_strerror(int err);
int before_err_status(int err);
void before_req_init(struct http_req *r);
int before_req_feed(struct http_req *r, const char *buf, size_t len);
struct http_slice before_header(const struct http_req *r, const char *name);
size_t before_header_count(const struct http_req *r, const char *name);
void before_query_init(struct http_query_iter *it, struct http_slice query);
int before_query_next(struct http_query_iter *it, struct http_param *out);
int before_query_check(struct http_slice query);
int before_query_get(
    struct http_slice query, const char *name, char *dst, size_t dstlen);
enum http_route before_route(struct http_slice path);
const char *before_route_name(enum http_route route);

/*
 * HTTP/1.1 server side: request head parser, query decoder, route
 * classifier.  No syscalls, no allocation, no globals (apart from constant
 * tables); fuzzed by fuzz/http_req_fuzz.c, fuzz/http_query_fuzz.c and
 * fuzz/http_route_fuzz.c.
 *
 * The head parser works in two passes.  The first, incremental, is a byte
 * state machine over the request line and the line structure: it rejects
 * bare CR, bare LF, NUL, an over-long method or target and too many fields
 * as the bytes arrive, so a peer trickling a bad head is stopped early,
 * and it leaves the second pass a head whose every CR starts a CRLF.  The
 * second parses the complete head once.
 */
#include <string.h>

#include "agent/http.h"

static const char *const http_errnames[] = {
    [0] = "ok",
    [-HTTP_NEED_MORE] = "need more bytes",
    [-HTTP_ERR_INVAL] = "invalid argument",
    [-HTTP_ERR_NUL] = "NUL byte in head",
    [-HTTP_ERR_BARE_CR] = "bare CR",
    [-HTTP_ERR_BARE_LF] = "bare LF",
    [-HTTP_ERR_METHOD] = "bad method",
    [-HTTP_ERR_METHOD_LONG] = "method too long",
    [-HTTP_ERR_TARGET] = "bad request target",
    [-HTTP_ERR_TARGET_LONG] = "request target too long",
    [-HTTP_ERR_ABSOLUTE] = "absolute-form target for another host",
    [-HTTP_ERR_VERSION] = "bad http version",
    [-HTTP_ERR_VERSION_UNSUPP] = "http version not supported",
    [-HTTP_ERR_OBS_FOLD] = "obsolete line folding",
    [-HTTP_ERR_HDR_NAME] = "bad header name",
    [-HTTP_ERR_HDR_VALUE] = "bad character in header value",
    [-HTTP_ERR_HEAD_LONG] = "request head too long",
    [-HTTP_ERR_HEADERS] = "too many headers",
    [-HTTP_ERR_HOST_MISSING] = "missing host",
    [-HTTP_ERR_HOST_DUP] = "more than one host",
    [-HTTP_ERR_HOST_BAD] = "bad host",
    [-HTTP_ERR_CL] = "bad content-length",
    [-HTTP_ERR_FRAMING] = "transfer-encoding with content-length or http/1.0",
    [-HTTP_ERR_METHOD_NOT_ALLOWED] = "method not allowed",
    [-HTTP_ERR_BODY] = "request has a body",
    [-HTTP_ERR_QUERY_ESCAPE] = "bad percent-escape in query",
    [-HTTP_ERR_QUERY_CTL] = "control character in query",
    [-HTTP_ERR_QUERY_NAME] = "empty query parameter name",
    [-HTTP_ERR_QUERY_NAME_LONG] = "query parameter name too long",
    [-HTTP_ERR_QUERY_VALUE_LONG] = "query parameter value too long",
    [-HTTP_ERR_QUERY_PARAMS] = "too many query parameters",
    [-HTTP_ERR_QUERY_DUP] = "duplicate query parameter",
    [-HTTP_ERR_QUERY_ABSENT] = "query parameter absent",
    [-HTTP_ERR_NOSPACE] = "value does not fit the buffer",
};

#define HTTP_NERR ((int)(sizeof(http_errnames) / sizeof(*http_errnames)))

const char *
before_strerror(int err)
{
	if (err > 0 || -err >= HTTP_NERR)
		return "unknown http error";
	return http_errnames[-err];
}

int
before_err_status(int err)
{
	switch (err) {
	case HTTP_ERR_INVAL:
	case HTTP_ERR_NOSPACE:
		return 500; /* the caller's mistake, not the peer's */
	case HTTP_ERR_METHOD_LONG:
		return 501; /* RFC 9112 section 3: longer than any we know */
	case HTTP_ERR_TARGET_LONG:
		return 414;
	case HTTP_ERR_HEAD_LONG:
	case HTTP_ERR_HEADERS:
		return 431;
	case HTTP_ERR_VERSION_UNSUPP:
		return 505;
	case HTTP_ERR_METHOD_NOT_ALLOWED:
		return 405;
	case HTTP_ERR_BODY:
		return 413;
	default:
		return 400;
	}
}

/* Character classes (RFC 9110 section 5.6.2 token, 5.5 field-vchar). */

static bool
http_is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
http_is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* HTAB, SP, VCHAR, obs-text: what a field value may hold. */
static bool
http_is_text(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* VCHAR: what a request target or a path may hold. */
static bool
http_is_vchar(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

static bool
http_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static unsigned char
http_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* s (n bytes) equals the NUL-terminated lit, ignoring ASCII case. */
static bool
http_ieq(const char *s, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (lit[i] == '\0' ||
		    http_lower((unsigned char)s[i]) !=
		        http_lower((unsigned char)lit[i]))
			return false;
	return lit[n] == '\0';
}

/* s (n bytes) equals the NUL-terminated lit exactly. */
static bool
http_eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/*
 * First pass: one byte at a time.  The states follow the head's shape;
 * HS_LEAD skips empty lines before the request line.
 */
enum http_scan_state {
	HS_LEAD,       /* before the request line */
	HS_LEAD_LF,    /* CR of an empty leading line */
	HS_METHOD,     /* method bytes, up to SP */
	HS_TARGET,     /* target bytes, up to SP */
	HS_VERSION,    /* version bytes, up to CR */
	HS_LINE_LF,    /* CR at the end of a line */
	HS_LINE_START, /* a field line or the blank line */
	HS_FIELD,      /* field line bytes, up to CR */
	HS_END_LF,     /* CR of the blank line */
};

static int
http_scan_method(struct http_scan *s, unsigned char c)
{
	if (c == ' ' && s->method_len > 0) {
		s->state = HS_TARGET;
		return 0;
	}
	if (!http_is_tchar(c))
		return HTTP_ERR_METHOD;
	if (++s->method_len > LIM_HTTP_METHOD_BYTES)
		return HTTP_ERR_METHOD_LONG;
	return 0;
}

static int
http_scan_target(struct http_scan *s, unsigned char c)
{
	if (c == ' ' && s->target_len > 0) {
		s->state = HS_VERSION;
		return 0;
	}
	if (!http_is_vchar(c))
		return HTTP_ERR_TARGET; /* HTTP/0.9 "GET /" CRLF lands here */
	if (++s->target_len > LIM_HTTP_TARGET_BYTES)
		return HTTP_ERR_TARGET_LONG;
	return 0;
}

static int
http_scan_version(struct http_scan *s, unsigned char c)
{
	if (c == '\r') {
		s->state = HS_LINE_LF;
		return 0;
	}
	if (c == '\n')
		return HTTP_ERR_BARE_LF;
	/* "HTTP/1.1" is 8 bytes: stop a long version line early. */
	if (++s->version_len > 8)
		return HTTP_ERR_VERSION;
	return 0;
}

static int
http_scan_line_start(struct http_scan *s, unsigned char c)
{
	if (c == '\r') {
		s->state = HS_END_LF;
		return 0;
	}
	if (c == '\n')
		return HTTP_ERR_BARE_LF;
	if (http_is_ows((char)c))
		return HTTP_ERR_OBS_FOLD;
	if (++s->fields > HTTP_MAX_HEADERS)
		return HTTP_ERR_HEADERS;
	s->state = HS_FIELD;
	return 0;
}

/* Returns 0 to go on, the head length at its end, or an error. */
static int
http_scan_byte(struct http_scan *s, unsigned char c, size_t i)
{
	if (c == '\0')
		return HTTP_ERR_NUL;
	switch (s->state) {
	case HS_LEAD:
		if (c == '\n')
			return HTTP_ERR_BARE_LF;
		if (c == '\r') {
			s->state = HS_LEAD_LF;
			return 0;
		}
		s->method_off = i;
		s->state = HS_METHOD;
		return http_scan_method(s, c);
	case HS_METHOD:
		return http_scan_method(s, c);
	case HS_TARGET:
		return http_scan_target(s, c);
	case HS_VERSION:
		return http_scan_version(s, c);
	case HS_LEAD_LF:
	case HS_LINE_LF:
	case HS_END_LF:
		if (c != '\n')
			return HTTP_ERR_BARE_CR;
		if (s->state == HS_END_LF)
			return (int)(i + 1);
		s->state = s->state == HS_LEAD_LF ? HS_LEAD : HS_LINE_START;
		return 0;
	case HS_LINE_START:
		return http_scan_line_start(s, c);
	case HS_FIELD:
		if (c == '\n')
			return HTTP_ERR_BARE_LF;
		if (c == '\r')
			s->state = HS_LINE_LF;
		return 0;
	}
	return HTTP_ERR_INVAL;
}

/* Scans the bytes not checked yet: head length, NEED_MORE or an error. */
static int
http_scan_bytes(struct http_scan *s, const char *buf, size_t len)
{
	size_t end = len < LIM_HTTP_HEAD_BYTES ? len : LIM_HTTP_HEAD_BYTES;
	int rc;

	for (; s->pos < end; s->pos++) {
		rc = http_scan_byte(s, (unsigned char)buf[s->pos], s->pos);
		if (rc < 0)
			return s->err = rc;
		if (rc > 0) {
			s->pos++;
			return rc;
		}
	}
	if (end == LIM_HTTP_HEAD_BYTES)
		return s->err = HTTP_ERR_HEAD_LONG;
	return HTTP_NEED_MORE;
}

/* Second pass. */

/* "HTTP/" DIGIT "." DIGIT; only 1.0 and 1.1 are served. */
static int
http_parse_version(struct http_req *r, const char *v, size_t len)
{
	if (len != 8 || memcmp(v, "HTTP/", 5) != 0 || !http_is_digit(v[5]) ||
	    v[6] != '.' || !http_is_digit(v[7]))
		return HTTP_ERR_VERSION;
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return HTTP_ERR_VERSION_UNSUPP;
	r->minor_version = v[7] - '0';
	return 0;
}

/*
 * Absolute-form (RFC 9112 section 3.2.2) is what a client sends through a
 * proxy; podid only takes it for IMDS's own address, the one the pods'
 * traffic was redirected from.  Returns the offset of the path.
 */
static int
http_parse_absolute(struct http_slice t, size_t *path_off)
{
	static const char *const auth[] = {
	    "169.254.169.254/", "169.254.169.254:80/"};
	size_t i, n;

	if (t.len < 7 || !http_ieq(t.ptr, 7, "http://"))
		return HTTP_ERR_ABSOLUTE;
	for (i = 0; i < sizeof(auth) / sizeof(*auth); i++) {
		n = strlen(auth[i]);
		if (t.len - 7 >= n && memcmp(t.ptr + 7, auth[i], n) == 0) {
			*path_off = 7 + n - 1;
			return 0;
		}
	}
	return HTTP_ERR_ABSOLUTE;
}

/* A scheme ("ALPHA *( ALPHA / DIGIT / + / - / . ) :") starts t. */
static bool
http_has_scheme(struct http_slice t)
{
	size_t i;
	char c;

	for (i = 0; i < t.len && t.ptr[i] != ':'; i++) {
		c = (char)http_lower((unsigned char)t.ptr[i]);
		if (c >= 'a' && c <= 'z')
			continue;
		if (i == 0 ||
		    !(http_is_digit(c) || c == '+' || c == '-' || c == '.'))
			return false;
	}
	return i > 0 && i < t.len;
}

/* Splits the target into path and query. */
static int
http_parse_target(struct http_req *r)
{
	struct http_slice t = r->target;
	const char *q;
	size_t off = 0;
	int rc;

	if (memchr(t.ptr, '#', t.len) != NULL)
		return HTTP_ERR_TARGET; /* a fragment is never sent */
	if (t.ptr[0] != '/') {
		if (!http_has_scheme(t))
			return HTTP_ERR_TARGET; /* "*", authority-form */
		if ((rc = http_parse_absolute(t, &off)) != 0)
			return rc;
	}
	r->path.ptr = t.ptr + off;
	r->path.len = t.len - off;
	if ((q = memchr(r->path.ptr, '?', r->path.len)) != NULL) {
		r->query.ptr = q + 1;
		r->query.len = (size_t)(t.ptr + t.len - (q + 1));
		r->path.len = (size_t)(q - r->path.ptr);
	}
	return 0;
}

/* The request line; the scan measured its three parts. */
static int
http_parse_request_line(struct http_req *r, const char *buf)
{
	const struct http_scan *s = &r->scan;
	const char *v;
	int rc;

	r->method.ptr = buf + s->method_off;
	r->method.len = s->method_len;
	r->target.ptr = r->method.ptr + s->method_len + 1;
	r->target.len = s->target_len;
	v = r->target.ptr + s->target_len + 1;
	if ((rc = http_parse_version(r, v, s->version_len)) != 0)
		return rc;
	return http_parse_target(r);
}

/* "name:" OWS value OWS, into the next header slot. */
static int
http_parse_field(struct http_req *r, const char *p, size_t len)
{
	struct http_hdr *h;
	size_t i = 0, nlen, vs, ve;

	while (i < len && http_is_tchar((unsigned char)p[i]))
		i++;
	if (i == 0 || i == len || p[i] != ':')
		return HTTP_ERR_HDR_NAME; /* also "name :" (RFC 9112 5.1) */
	nlen = i;
	for (vs = i + 1; vs < len && http_is_ows(p[vs]); vs++)
		continue;
	for (ve = len; ve > vs && http_is_ows(p[ve - 1]); ve--)
		continue;
	for (i = vs; i < ve; i++)
		if (!http_is_text((unsigned char)p[i]))
			return HTTP_ERR_HDR_VALUE;
	if (r->nheaders == HTTP_MAX_HEADERS)
		return HTTP_ERR_HEADERS; /* the scan counted already */
	h = &r->headers[r->nheaders++];
	h->name.ptr = p;
	h->name.len = nlen;
	h->value.ptr = p + vs;
	h->value.len = ve - vs;
	return 0;
}

/* Every field line; the scan proved each CR starts a CRLF. */
static int
http_parse_fields(struct http_req *r, const char *buf)
{
	const char *p, *end = buf + r->scan.head_len - 2, *eol;
	int rc;

	p = r->target.ptr + r->scan.target_len + 1 + r->scan.version_len + 2;
	for (; p < end; p = eol + 2) {
		eol = memchr(p, '\r', (size_t)(end - p));
		if ((rc = http_parse_field(r, p, (size_t)(eol - p))) != 0)
			return rc;
	}
	return 0;
}

/* reg-name, IPv4 or IP-literal, optional port: RFC 3986 characters only. */
static bool
http_host_ok(struct http_slice v)
{
	size_t i;
	unsigned char c;

	for (i = 0; i < v.len; i++) {
		c = (unsigned char)v.ptr[i];
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z'))
			continue;
		if (strchr("-._~!$&'()*+,;=:[]%", c) == NULL || c == '\0')
			return false;
	}
	return true;
}

/* Exactly one Host on 1.1, at most one on 1.0 (RFC 9112 section 3.2). */
static int
http_check_host(const struct http_req *r)
{
	size_t n = before_header_count(r, "host");

	if (n == 0)
		return r->minor_version == 1 ? HTTP_ERR_HOST_MISSING : 0;
	if (n > 1)
		return HTTP_ERR_HOST_DUP;
	return http_host_ok(before_header(r, "host")) ? 0 : HTTP_ERR_HOST_BAD;
}

/* Next non-empty element of a comma list, OWS trimmed; false at the end. */
static bool
http_list_next(struct http_slice v, size_t *pos, struct http_slice *el)
{
	size_t i = *pos, e;

	while (i < v.len && (http_is_ows(v.ptr[i]) || v.ptr[i] == ','))
		i++;
	if (i == v.len)
		return false;
	el->ptr = v.ptr + i;
	while (i < v.len && v.ptr[i] != ',')
		i++;
	for (e = i; http_is_ows(v.ptr[e - 1]); e--)
		continue;
	el->len = (size_t)(v.ptr + e - el->ptr);
	*pos = i;
	return true;
}

/* Framing gathered from the fields. */
struct http_frame {
	size_t ncl;
	bool cl_nonzero, te, close, keep_alive;
};

/*
 * Content-Length is 1*DIGIT, once.  Its value only matters as zero or
 * not (any body is refused), so there is nothing to overflow.
 */
static int
http_frame_cl(struct http_frame *f, struct http_slice v)
{
	size_t i;

	if (v.len == 0 || ++f->ncl > 1)
		return HTTP_ERR_CL;
	for (i = 0; i < v.len; i++) {
		if (!http_is_digit(v.ptr[i]))
			return HTTP_ERR_CL;
		if (v.ptr[i] != '0')
			f->cl_nonzero = true;
	}
	return 0;
}

static void
http_frame_conn(struct http_frame *f, struct http_slice v)
{
	struct http_slice el;
	size_t pos = 0;

	while (http_list_next(v, &pos, &el)) {
		if (http_ieq(el.ptr, el.len, "close"))
			f->close = true;
		else if (http_ieq(el.ptr, el.len, "keep-alive"))
			f->keep_alive = true;
	}
}

/* Body, connection fate and Expect: RFC 9112 sections 6.1, 6.3, 9.3. */
static int
http_check_framing(struct http_req *r)
{
	struct http_frame f;
	const struct http_hdr *h;
	size_t i;
	int rc;

	memset(&f, 0, sizeof(f));
	for (i = 0; i < r->nheaders; i++) {
		h = &r->headers[i];
		if (http_ieq(h->name.ptr, h->name.len, "content-length")) {
			if ((rc = http_frame_cl(&f, h->value)) != 0)
				return rc;
		} else if (http_ieq(
		               h->name.ptr, h->name.len, "transfer-encoding"))
			f.te = true;
		else if (http_ieq(h->name.ptr, h->name.len, "connection"))
			http_frame_conn(&f, h->value);
		else if (http_ieq(h->name.ptr, h->name.len, "expect"))
			r->expect = true;
	}
	/* Both framings, or chunking in 1.0: a smuggling sign, never guess. */
	if (f.te && (f.ncl > 0 || r->minor_version == 0))
		return HTTP_ERR_FRAMING;
	r->has_body = f.te || f.cl_nonzero;
	r->keep_alive = !f.close && (r->minor_version == 1 || f.keep_alive);
	return 0;
}

/* The complete head: syntax first, then podid's refusals. */
static int
http_parse_head(struct http_req *r, const char *buf)
{
	struct http_scan saved = r->scan;
	int rc;

	/* Parsed afresh on every call once complete: no stale results. */
	memset(r, 0, sizeof(*r));
	r->scan = saved;
	if ((rc = http_parse_request_line(r, buf)) != 0 ||
	    (rc = http_parse_fields(r, buf)) != 0 ||
	    (rc = http_check_host(r)) != 0 || (rc = http_check_framing(r)) != 0)
		return rc;
	/*
	 * Refusals come last, on a head known to be well-formed, so the
	 * caller can still log what it refused (http.h promises the fields).
	 * Methods are case-sensitive (RFC 9110 section 9.1): "get" is 405.
	 */
	if (!http_eq(r->method.ptr, r->method.len, "GET"))
		return HTTP_ERR_METHOD_NOT_ALLOWED;
	if (r->has_body)
		return HTTP_ERR_BODY;
	return (int)saved.head_len;
}

void
before_req_init(struct http_req *r)
{
	memset(r, 0, sizeof(*r));
	r->scan.state = HS_LEAD;
}

int
before_req_feed(struct http_req *r, const char *buf, size_t len)
{
	int rc;

	if (buf == NULL && len > 0)
		return HTTP_ERR_INVAL;
	if (r->scan.err != 0)
		return r->scan
		    .err; /* a caller ignoring an error cannot resume */
	if (r->scan.head_len == 0) {
		if (len < r->scan.pos)
			return HTTP_ERR_INVAL; /* not the same buffer */
		if ((rc = http_scan_bytes(&r->scan, buf, len)) < 0)
			return rc;
		r->scan.head_len = (size_t)rc;
	}
	if (len < r->scan.head_len)
		return HTTP_ERR_INVAL;
	return http_parse_head(r, buf);
}

struct http_slice
before_header(const struct http_req *r, const char *name)
{
	struct http_slice none = {NULL, 0};
	size_t i;

	for (i = 0; i < r->nheaders; i++)
		if (http_ieq(
		        r->headers[i].name.ptr, r->headers[i].name.len, name))
			return r->headers[i].value;
	return none;
}

size_t
before_header_count(const struct http_req *r, const char *name)
{
	size_t i, n = 0;

	for (i = 0; i < r->nheaders; i++)
		if (http_ieq(
		        r->headers[i].name.ptr, r->headers[i].name.len, name))
			n++;
	return n;
}

/* Query strings. */

static int
http_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decodes s (n bytes) into dst, at most cap bytes plus a NUL.
 * Returns the length, too_long when it does not fit, or an error; errors
 * come in the order of the bytes that cause them.
 */
static int
http_pct_decode(const char *s, size_t n, char *dst, size_t cap, int too_long)
{
	size_t i, o = 0;
	int c, hi, lo;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '%') {
			if (n - i < 3 ||
			    (hi = http_hexval((unsigned char)s[i + 1])) < 0 ||
			    (lo = http_hexval((unsigned char)s[i + 2])) < 0)
				return HTTP_ERR_QUERY_ESCAPE;
			c = hi << 4 | lo;
			i += 2;
		} else if (c == '+')
			c = ' ';
		if (c < 0x20 || c == 0x7f)
			return HTTP_ERR_QUERY_CTL;
		if (o == cap)
			return too_long;
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return (int)o;
}

void
before_query_init(struct http_query_iter *it, struct http_slice query)
{
	memset(it, 0, sizeof(*it));
	it->q = query;
	if (query.ptr == NULL && query.len > 0)
		it->err = HTTP_ERR_INVAL;
}

/* Decodes one non-empty "name[=value]" pair. */
static int
http_query_pair(const char *p, size_t n, struct http_param *out)
{
	const char *eq = memchr(p, '=', n);
	size_t nlen = eq != NULL ? (size_t)(eq - p) : n;
	int rc;

	rc = http_pct_decode(p, nlen, out->name, LIM_HTTP_PARAM_NAME_BYTES,
	    HTTP_ERR_QUERY_NAME_LONG);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return HTTP_ERR_QUERY_NAME;
	out->name_len = (size_t)rc;
	if (eq == NULL) {
		out->value[0] = '\0';
		out->value_len = 0;
		return 1;
	}
	rc = http_pct_decode(eq + 1, n - nlen - 1, out->value,
	    LIM_HTTP_PARAM_VALUE_BYTES, HTTP_ERR_QUERY_VALUE_LONG);
	if (rc < 0)
		return rc;
	out->value_len = (size_t)rc;
	return 1;
}

int
before_query_next(struct http_query_iter *it, struct http_param *out)
{
	const char *p, *amp;
	size_t n;
	int rc;

	while (it->err == 0 && it->pos < it->q.len) {
		p = it->q.ptr + it->pos;
		amp = memchr(p, '&', it->q.len - it->pos);
		n = amp != NULL ? (size_t)(amp - p) : it->q.len - it->pos;
		it->pos += n + (amp != NULL);
		if (n == 0)
			continue;
		if (++it->count > LIM_HTTP_QUERY_PARAMS)
			rc = HTTP_ERR_QUERY_PARAMS;
		else
			rc = http_query_pair(p, n, out);
		if (rc < 0)
			it->err = rc;
		else
			return rc;
	}
	return it->err;
}

int
before_query_check(struct http_slice query)
{
	/* Decoded names so far: LIM_HTTP_QUERY_PARAMS * 65 bytes of stack. */
	char names[LIM_HTTP_QUERY_PARAMS][LIM_HTTP_PARAM_NAME_BYTES + 1];
	struct http_query_iter it;
	struct http_param p;
	size_t n = 0, i;
	int rc;

	before_query_init(&it, query);
	while ((rc = before_query_next(&it, &p)) == 1) {
		for (i = 0; i < n; i++)
			if (http_ieq(p.name, p.name_len, names[i]))
				return HTTP_ERR_QUERY_DUP;
		memcpy(names[n++], p.name, p.name_len + 1);
	}
	return rc;
}

int
before_query_get(
    struct http_slice query, const char *name, char *dst, size_t dstlen)
{
	struct http_query_iter it;
	struct http_param p;
	int rc;

	if (name == NULL || (dst == NULL && dstlen > 0))
		return HTTP_ERR_INVAL;
	before_query_init(&it, query);
	while ((rc = before_query_next(&it, &p)) == 1) {
		if (!http_eq(p.name, p.name_len, name))
			continue;
		if (p.value_len >= dstlen)
			return HTTP_ERR_NOSPACE;
		memcpy(dst, p.value, p.value_len + 1);
		return (int)p.value_len;
	}
	return rc == 0 ? HTTP_ERR_QUERY_ABSENT : rc;
}

/* Routes. */

static const char *const http_route_names[] = {
    [HTTP_ROUTE_NONE] = "none",
    [HTTP_ROUTE_INVALID] = "invalid",
    [HTTP_ROUTE_TOKEN] = "token",
    [HTTP_ROUTE_TOKEN_LIKE] = "token_like",
    [HTTP_ROUTE_METADATA] = "metadata",
    [HTTP_ROUTE_HOST_TOKEN] = "host_token",
    [HTTP_ROUTE_HEALTHZ] = "healthz",
    [HTTP_ROUTE_READYZ] = "readyz",
    [HTTP_ROUTE_METRICS] = "metrics",
};

const char *
before_route_name(enum http_route route)
{
	if ((unsigned)route >=
	    sizeof(http_route_names) / sizeof(*http_route_names))
		return "unknown";
	return http_route_names[route];
}

/* Canonical: see http.h.  Each segment is checked at the '/' ending it. */
static bool
http_path_canonical(struct http_slice p)
{
	size_t i, seg = 1;

	if (p.ptr == NULL || p.len == 0 || p.ptr[0] != '/')
		return false;
	for (i = 1; i <= p.len; i++) {
		if (i < p.len && p.ptr[i] != '/') {
			if (!http_is_vchar((unsigned char)p.ptr[i]) ||
			    p.ptr[i] == '\\' || p.ptr[i] == '%')
				return false;
			continue;
		}
		/* [seg, i) is a segment; empty only as the last one. */
		if ((i == seg && i < p.len) ||
		    http_eq(p.ptr + seg, i - seg, ".") ||
		    http_eq(p.ptr + seg, i - seg, ".."))
			return false;
		seg = i + 1;
	}
	return true;
}

/* p contains lit (lower case), ignoring ASCII case. */
static bool
http_icontains(struct http_slice p, const char *lit)
{
	size_t i, n = strlen(lit);

	for (i = 0; i + n <= p.len; i++)
		if (http_ieq(p.ptr + i, n, lit))
			return true;
	return false;
}

/* Known IMDS routes below /metadata; a final '*' takes deeper paths. */
static const char *const http_imds_routes[] = {
    "/instance",
    "/instance/*",
    "/versions",
    "/attested/document",
    "/scheduledevents",
    "/loadbalancer",
    "/identity/info",
};

/* rest is the path after "/metadata", trailing '/' removed. */
static bool
http_imds_known(struct http_slice rest)
{
	size_t i, n;
	const char *r;

	for (i = 0; i < sizeof(http_imds_routes) / sizeof(*http_imds_routes);
	     i++) {
		r = http_imds_routes[i];
		n = strlen(r);
		if (r[n - 1] == '*' && rest.len > n - 1 &&
		    memcmp(rest.ptr, r, n - 1) == 0)
			return true;
		if (http_eq(rest.ptr, rest.len, r))
			return true;
	}
	return false;
}

/* Below /metadata (the first segment in any case), or not. */
static enum http_route
http_route_metadata(struct http_slice rest)
{
	if (http_eq(rest.ptr, rest.len, "/identity/oauth2/token"))
		return HTTP_ROUTE_TOKEN;
	if (http_imds_known(rest))
		return HTTP_ROUTE_METADATA;
	/* Anything else that smells of tokens is a bypass attempt. */
	if (http_icontains(rest, "identity") || http_icontains(rest, "oauth") ||
	    http_icontains(rest, "token"))
		return HTTP_ROUTE_TOKEN_LIKE;
	return HTTP_ROUTE_NONE;
}

enum http_route
before_route(struct http_slice path)
{
	struct http_slice p = path;

	if (!http_path_canonical(p))
		return HTTP_ROUTE_INVALID;
	if (p.len > 1 && p.ptr[p.len - 1] == '/')
		p.len--;
	if (p.len >= 9 && http_ieq(p.ptr, 9, "/metadata") &&
	    (p.len == 9 || p.ptr[9] == '/')) {
		p.ptr += 9;
		p.len -= 9;
		return http_route_metadata(p);
	}
	if (http_eq(p.ptr, p.len, "/host/token"))
		return HTTP_ROUTE_HOST_TOKEN;
	if (http_eq(p.ptr, p.len, "/healthz"))
		return HTTP_ROUTE_HEALTHZ;
	if (http_eq(p.ptr, p.len, "/readyz"))
		return HTTP_ROUTE_READYZ;
	if (http_eq(p.ptr, p.len, "/metrics"))
		return HTTP_ROUTE_METRICS;
	return HTTP_ROUTE_NONE;
}
