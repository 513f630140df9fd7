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
#include <stddef.h>
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
http_strerror(int err)
{
	if (err > 0 || -err >= HTTP_NERR)
		return "unknown http error";
	return http_errnames[-err];
}

int
http_err_status(int err)
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

/*
 * Character classes (RFC 9110 section 5.6.2 token, 5.5 field-vchar, RFC
 * 3986 host), one bit each in a 256-entry table so that every inner loop
 * costs one load and one test per byte.  Generated from the definitions
 * beside each bit; the rows are 16 bytes each, 0x00 to 0xff.
 */
#define HC_TCHAR  0x01 /* token: ALNUM and !#$%&'*+-.^_`|~ */
#define HC_VCHAR  0x02 /* 0x21-0x7e: target bytes */
#define HC_TEXT   0x04 /* HTAB, SP, VCHAR, obs-text: field value bytes */
#define HC_HOST   0x08 /* ALNUM and -._~!$&'()*+,;=:[]% */
#define HC_QPLAIN 0x10 /* query byte decoding to itself: not %, +, CTL */
#define HC_PATH   0x20 /* path segment byte: VCHAR but '/', '\', '%' */

/* clang-format off */
static const unsigned char http_class[256] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x14, 0x3f, 0x36, 0x37, 0x3f, 0x0f, 0x3f, 0x3f, 0x3e, 0x3e, 0x3f, 0x2f, 0x3e, 0x3f, 0x3f, 0x16,
    0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3e, 0x3e, 0x36, 0x3e, 0x36, 0x36,
    0x36, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f,
    0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3e, 0x16, 0x3e, 0x37, 0x3f,
    0x37, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f,
    0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x36, 0x37, 0x36, 0x3f, 0x00,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
};
/* clang-format on */

/* ASCII lower case of every byte. */
/* clang-format off */
static const unsigned char http_lowtab[256] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
    0x40, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f,
    0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f,
    0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f,
    0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x7b, 0x7c, 0x7d, 0x7e, 0x7f,
    0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f,
    0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f,
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
    0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf,
    0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf,
    0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf,
    0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef,
    0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
};
/* clang-format on */

static bool
http_is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool
http_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* s (n bytes) equals lit (n bytes), ignoring ASCII case. */
static bool
http_ieqn(const char *s, const char *lit, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (http_lowtab[(unsigned char)s[i]] !=
		    http_lowtab[(unsigned char)lit[i]])
			return false;
	return true;
}

/* s (n bytes) equals the NUL-terminated lit, ignoring ASCII case. */
static bool
http_ieq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && http_ieqn(s, lit, n);
}

/* s (n bytes) equals the NUL-terminated lit exactly. */
static bool
http_eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/*
 * Length of the run of class cls (one bit) bytes in p[i..end).  Four
 * bytes a step while they last: the bit survives the AND of their four
 * classes only if each has it.
 */
static inline size_t
http_run(const unsigned char *p, size_t i, size_t end, unsigned char cls)
{
	const unsigned char *t = http_class;
	size_t j = i;

	while (end - j >= 4 &&
	    (t[p[j]] & t[p[j + 1]] & t[p[j + 2]] & t[p[j + 3]] & cls) != 0)
		j += 4;
	while (j < end && (t[p[j]] & cls) != 0)
		j++;
	return j - i;
}

/*
 * First pass.  The states follow the head's shape; HS_LEAD skips empty
 * lines before the request line.  Each state consumes a run of bytes (a
 * table loop, no call per byte) and stops at the byte that changes the
 * state or is an error; a run that crosses a limit is an error at the
 * byte crossing it, which no later byte can precede.
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

/*
 * Right after a CR: the LF and the next field line's first byte are
 * there, and that byte is a token byte (no CR, LF, NUL or OWS) with room
 * for one more field.  Then both are consumed and the scan stays in
 * HS_FIELD: the common line end costs no trip through the state switch.
 * Otherwise nothing is consumed and the states judge the bytes.
 */
static inline bool
http_scan_crlf_field(struct http_scan *s, const unsigned char *p, size_t end)
{
	size_t i = s->pos;

	if (end - i < 2 || p[i] != '\n' ||
	    (http_class[p[i + 1]] & HC_TCHAR) == 0 ||
	    s->fields == HTTP_MAX_HEADERS)
		return false;
	s->pos = i + 2;
	s->fields++;
	return true;
}

/* Method, then the SP ending it. */
static int
http_scan_method(struct http_scan *s, const unsigned char *p, size_t end)
{
	size_t n = http_run(p, s->pos, end, HC_TCHAR);

	s->method_len += n;
	s->pos += n;
	if (s->method_len > LIM_HTTP_METHOD_BYTES)
		return HTTP_ERR_METHOD_LONG;
	if (s->pos == end)
		return 0;
	if (p[s->pos] == ' ' && s->method_len > 0) {
		s->pos++;
		s->state = HS_TARGET;
		return 0;
	}
	return p[s->pos] == '\0' ? HTTP_ERR_NUL : HTTP_ERR_METHOD;
}

/* Target, then the SP ending it; HTTP/0.9 "GET /" CRLF is TARGET. */
static int
http_scan_target(struct http_scan *s, const unsigned char *p, size_t end)
{
	size_t n = http_run(p, s->pos, end, HC_VCHAR);

	s->target_len += n;
	s->pos += n;
	if (s->target_len > LIM_HTTP_TARGET_BYTES)
		return HTTP_ERR_TARGET_LONG;
	if (s->pos == end)
		return 0;
	if (p[s->pos] == ' ' && s->target_len > 0) {
		s->pos++;
		s->state = HS_VERSION;
		return 0;
	}
	return p[s->pos] == '\0' ? HTTP_ERR_NUL : HTTP_ERR_TARGET;
}

/* Version bytes up to CR; "HTTP/1.1" is 8: a long line stops early. */
static int
http_scan_version(struct http_scan *s, const unsigned char *p, size_t end)
{
	unsigned char c;

	for (; s->pos < end; s->pos++) {
		c = p[s->pos];
		if (c == '\r') {
			s->pos++;
			s->state = http_scan_crlf_field(s, p, end) ? HS_FIELD
			                                           : HS_LINE_LF;
			return 0;
		}
		if (c == '\n' || c == '\0')
			return c == '\0' ? HTTP_ERR_NUL : HTTP_ERR_BARE_LF;
		if (++s->version_len > 8)
			return HTTP_ERR_VERSION;
	}
	return 0;
}

/*
 * Field line bytes up to CR.  Control bytes other than CR, LF and NUL
 * are the second pass's to judge (bad name or bad value); noting that
 * one was seen spares it checking every value byte again.
 */
static int
http_scan_field(struct http_scan *s, const unsigned char *p, size_t end)
{
	unsigned char c;

	while ((s->pos += http_run(p, s->pos, end, HC_TEXT)) < end) {
		c = p[s->pos++];
		if (c == '\r' && http_scan_crlf_field(s, p, end))
			continue;
		if (c == '\r') {
			s->state = HS_LINE_LF;
			return 0;
		}
		if (c == '\n' || c == '\0')
			return c == '\0' ? HTTP_ERR_NUL : HTTP_ERR_BARE_LF;
		s->ctl = true;
	}
	return 0;
}

/* The first byte of a line after the request line. */
static int
http_scan_line_start(struct http_scan *s, unsigned char c)
{
	s->pos++;
	if (c == '\r') {
		s->state = HS_END_LF;
		return 0;
	}
	if (c == '\n' || c == '\0')
		return c == '\0' ? HTTP_ERR_NUL : HTTP_ERR_BARE_LF;
	if (http_is_ows((char)c))
		return HTTP_ERR_OBS_FOLD;
	if (++s->fields > HTTP_MAX_HEADERS)
		return HTTP_ERR_HEADERS;
	s->state = HS_FIELD;
	return 0;
}

/* The LF after a CR; the head length after the blank line's. */
static int
http_scan_lf(struct http_scan *s, unsigned char c)
{
	if (c != '\n')
		return c == '\0' ? HTTP_ERR_NUL : HTTP_ERR_BARE_CR;
	s->pos++;
	if (s->state == HS_END_LF)
		return (int)s->pos;
	s->state = s->state == HS_LEAD_LF ? HS_LEAD : HS_LINE_START;
	return 0;
}

/* A byte before the request line: an empty line or the method's first. */
static int
http_scan_lead(struct http_scan *s, unsigned char c)
{
	if (c == '\n' || c == '\0')
		return c == '\0' ? HTTP_ERR_NUL : HTTP_ERR_BARE_LF;
	if (c == '\r') {
		s->pos++;
		s->state = HS_LEAD_LF;
		return 0;
	}
	s->method_off = s->pos;
	s->state = HS_METHOD;
	return 0;
}

/* One state's worth of p[s->pos..end): 0, the head length or an error. */
static int
http_scan_step(struct http_scan *s, const unsigned char *p, size_t end)
{
	switch (s->state) {
	case HS_LEAD:
		return http_scan_lead(s, p[s->pos]);
	case HS_METHOD:
		return http_scan_method(s, p, end);
	case HS_TARGET:
		return http_scan_target(s, p, end);
	case HS_VERSION:
		return http_scan_version(s, p, end);
	case HS_LEAD_LF:
	case HS_LINE_LF:
	case HS_END_LF:
		return http_scan_lf(s, p[s->pos]);
	case HS_LINE_START:
		return http_scan_line_start(s, p[s->pos]);
	case HS_FIELD:
		return http_scan_field(s, p, end);
	}
	return HTTP_ERR_INVAL;
}

/* Scans the bytes not checked yet: head length, NEED_MORE or an error. */
static int
http_scan_bytes(struct http_scan *s, const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t end = len < LIM_HTTP_HEAD_BYTES ? len : LIM_HTTP_HEAD_BYTES;
	int rc;

	while (s->pos < end) {
		rc = http_scan_step(s, p, end);
		if (rc < 0)
			return s->err = rc;
		if (rc > 0)
			return rc;
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
		c = (char)http_lowtab[(unsigned char)t.ptr[i]];
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

/*
 * What the fields say about the request, gathered while they are parsed
 * (one pass over the headers) and judged after the last one, in the
 * order the checks are documented: Host first, then framing.
 */
struct http_frame {
	size_t nhost, host; /* Host fields, index of the first */
	size_t ncl;
	bool cl_bad; /* a bad or repeated Content-Length: HTTP_ERR_CL */
	bool cl_nonzero, te, close, keep_alive;
};

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

/*
 * Content-Length is 1*DIGIT, once.  Its value only matters as zero or
 * not (any body is refused), so there is nothing to overflow.
 */
static void
http_frame_cl(struct http_frame *f, struct http_slice v)
{
	size_t i;

	if (v.len == 0 || ++f->ncl > 1)
		f->cl_bad = true;
	for (i = 0; i < v.len && !f->cl_bad; i++) {
		if (!http_is_digit(v.ptr[i]))
			f->cl_bad = true;
		if (v.ptr[i] != '0')
			f->cl_nonzero = true;
	}
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

/* s (n bytes) is the lower-case literal lit, ignoring ASCII case. */
#define HTTP_IS_NAME(s, n, lit)                                                \
	((n) == sizeof(lit) - 1 && http_ieqn((s), (lit), sizeof(lit) - 1))

/* Notes what the field h (the r->nheaders-th) means for framing. */
static void
http_frame_field(struct http_req *r, struct http_frame *f, size_t idx)
{
	const struct http_hdr *h = &r->headers[idx];
	const char *n = h->name.ptr;
	size_t len = h->name.len;

	/* Lengths 4, 6, 10, 14, 17: most fields cost one comparison. */
	if (HTTP_IS_NAME(n, len, "host")) {
		if (f->nhost++ == 0)
			f->host = idx;
	} else if (HTTP_IS_NAME(n, len, "content-length")) {
		if (!f->cl_bad)
			http_frame_cl(f, h->value);
	} else if (HTTP_IS_NAME(n, len, "transfer-encoding"))
		f->te = true;
	else if (HTTP_IS_NAME(n, len, "connection"))
		http_frame_conn(f, h->value);
	else if (HTTP_IS_NAME(n, len, "expect"))
		r->expect = true;
}

/* "name:" OWS value OWS, into the next header slot. */
static int
http_parse_field(struct http_req *r, const char *p, size_t len, bool ctl)
{
	const unsigned char *u = (const unsigned char *)p;
	struct http_hdr *h;
	size_t nlen, vs, ve;

	nlen = http_run(u, 0, len, HC_TCHAR);
	if (nlen == 0 || nlen == len || p[nlen] != ':')
		return HTTP_ERR_HDR_NAME; /* also "name :" (RFC 9112 5.1) */
	for (vs = nlen + 1; vs < len && http_is_ows(p[vs]); vs++)
		continue;
	for (ve = len; ve > vs && http_is_ows(p[ve - 1]); ve--)
		continue;
	/* The scan saw every byte: without a control byte, all are text. */
	if (ctl && http_run(u, vs, ve, HC_TEXT) < ve - vs)
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
http_parse_fields(struct http_req *r, const char *buf, struct http_frame *f)
{
	const char *p, *end = buf + r->scan.head_len - 2, *eol;
	int rc;

	p = r->target.ptr + r->scan.target_len + 1 + r->scan.version_len + 2;
	for (; p < end; p = eol + 2) {
		eol = memchr(p, '\r', (size_t)(end - p));
		rc = http_parse_field(r, p, (size_t)(eol - p), r->scan.ctl);
		if (rc != 0)
			return rc;
		http_frame_field(r, f, r->nheaders - 1);
	}
	return 0;
}

/* reg-name, IPv4 or IP-literal, optional port: RFC 3986 characters only. */
static bool
http_host_ok(struct http_slice v)
{
	return http_run((const unsigned char *)v.ptr, 0, v.len, HC_HOST) ==
	    v.len;
}

/*
 * Exactly one Host on 1.1, at most one on 1.0 (RFC 9112 section 3.2);
 * then body, connection fate and Expect (RFC 9112 sections 6.1, 6.3, 9.3).
 */
static int
http_check_frame(struct http_req *r, const struct http_frame *f)
{
	if (f->nhost == 0 && r->minor_version == 1)
		return HTTP_ERR_HOST_MISSING;
	if (f->nhost > 1)
		return HTTP_ERR_HOST_DUP;
	if (f->nhost == 1 && !http_host_ok(r->headers[f->host].value))
		return HTTP_ERR_HOST_BAD;
	if (f->cl_bad)
		return HTTP_ERR_CL;
	/* Both framings, or chunking in 1.0: a smuggling sign, never guess. */
	if (f->te && (f->ncl > 0 || r->minor_version == 0))
		return HTTP_ERR_FRAMING;
	r->has_body = f->te || f->cl_nonzero;
	r->keep_alive = !f->close && (r->minor_version == 1 || f->keep_alive);
	return 0;
}

/* The complete head: syntax first, then podid's refusals. */
static int
http_parse_head(struct http_req *r, const char *buf)
{
	struct http_frame f;
	int rc;

	/*
	 * Parsed afresh on every call once complete: no stale results.  The
	 * header slots past nheaders are not results, so they stay as they
	 * are rather than costing a clear of the whole array per request.
	 */
	memset(&f, 0, sizeof(f));
	memset(&r->path, 0, sizeof(r->path));
	memset(&r->query, 0, sizeof(r->query));
	r->minor_version = 0;
	r->nheaders = 0;
	r->keep_alive = r->has_body = r->expect = false;
	if ((rc = http_parse_request_line(r, buf)) != 0 ||
	    (rc = http_parse_fields(r, buf, &f)) != 0 ||
	    (rc = http_check_frame(r, &f)) != 0)
		return rc;
	/*
	 * Refusals come last, on a head known to be well-formed, so the
	 * caller can still log what it refused (http.h promises the fields).
	 * Methods are case-sensitive (RFC 9110 section 9.1): "get" is 405.
	 */
	if (r->method.len != 3 || memcmp(r->method.ptr, "GET", 3) != 0)
		return HTTP_ERR_METHOD_NOT_ALLOWED;
	if (r->has_body)
		return HTTP_ERR_BODY;
	return (int)r->scan.head_len;
}

/*
 * Everything but the header slots, which are results only up to nheaders
 * (a request clears 1 KiB less).
 */
void
http_req_init(struct http_req *r)
{
	size_t rest = offsetof(struct http_req, nheaders);

	memset(r, 0, offsetof(struct http_req, headers));
	memset((char *)r + rest, 0, sizeof(*r) - rest);
	r->scan.state = HS_LEAD;
}

int
http_req_feed(struct http_req *r, const char *buf, size_t len)
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
http_header(const struct http_req *r, const char *name)
{
	struct http_slice none = {NULL, 0};
	size_t i, n = strlen(name);

	for (i = 0; i < r->nheaders; i++)
		if (r->headers[i].name.len == n &&
		    http_ieqn(r->headers[i].name.ptr, name, n))
			return r->headers[i].value;
	return none;
}

size_t
http_header_count(const struct http_req *r, const char *name)
{
	size_t i, c = 0, n = strlen(name);

	for (i = 0; i < r->nheaders; i++)
		if (r->headers[i].name.len == n &&
		    http_ieqn(r->headers[i].name.ptr, name, n))
			c++;
	return c;
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
 * come in the order of the bytes that cause them.  Runs of bytes that
 * decode to themselves (most queries are nothing else) are found with
 * the class table and copied at once.
 */
static int
http_pct_decode(const char *s, size_t n, char *dst, size_t cap, int too_long)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0, run;
	int c, hi, lo;

	for (;;) {
		run = http_run(
		    u, i, n - i > cap - o ? i + cap - o : n, HC_QPLAIN);
		memcpy(dst + o, s + i, run);
		i += run;
		o += run;
		if (i == n)
			break;
		c = u[i];
		if (c == '%') {
			if (n - i < 3 || (hi = http_hexval(u[i + 1])) < 0 ||
			    (lo = http_hexval(u[i + 2])) < 0)
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
		i++;
	}
	dst[o] = '\0';
	return (int)o;
}

void
http_query_init(struct http_query_iter *it, struct http_slice query)
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
http_query_next(struct http_query_iter *it, struct http_param *out)
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
http_query_check(struct http_slice query)
{
	/* Decoded names so far: LIM_HTTP_QUERY_PARAMS * 65 bytes of stack. */
	char names[LIM_HTTP_QUERY_PARAMS][LIM_HTTP_PARAM_NAME_BYTES + 1];
	struct http_query_iter it;
	struct http_param p;
	size_t n = 0, i;
	int rc;

	http_query_init(&it, query);
	while ((rc = http_query_next(&it, &p)) == 1) {
		for (i = 0; i < n; i++)
			if (http_ieq(p.name, p.name_len, names[i]))
				return HTTP_ERR_QUERY_DUP;
		memcpy(names[n++], p.name, p.name_len + 1);
	}
	return rc;
}

int
http_query_get(
    struct http_slice query, const char *name, char *dst, size_t dstlen)
{
	struct http_query_iter it;
	struct http_param p;
	int rc;

	if (name == NULL || (dst == NULL && dstlen > 0))
		return HTTP_ERR_INVAL;
	http_query_init(&it, query);
	while ((rc = http_query_next(&it, &p)) == 1) {
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
http_route_name(enum http_route route)
{
	if ((unsigned)route >=
	    sizeof(http_route_names) / sizeof(*http_route_names))
		return "unknown";
	return http_route_names[route];
}

/*
 * Canonical: see http.h.  Each segment is a run of HC_PATH bytes, which
 * must end at a '/' or at the end of the path.
 */
static bool
http_path_canonical(struct http_slice p)
{
	const unsigned char *u = (const unsigned char *)p.ptr;
	size_t i = 1, seg, n;

	if (p.ptr == NULL || p.len == 0 || p.ptr[0] != '/')
		return false;
	for (;;) {
		seg = i;
		n = http_run(u, seg, p.len, HC_PATH);
		i = seg + n;
		if (i < p.len && u[i] != '/')
			return false;
		/* Empty only as the last one; never "." or "..". */
		if ((n == 0 && i < p.len) || (n == 1 && u[seg] == '.') ||
		    (n == 2 && u[seg] == '.' && u[seg + 1] == '.'))
			return false;
		if (i == p.len)
			return true;
		i++;
	}
}

/* p contains lit (lower case), ignoring ASCII case. */
static bool
http_icontains(struct http_slice p, const char *lit)
{
	size_t i, n = strlen(lit);

	for (i = 0; i + n <= p.len; i++)
		if (http_ieqn(p.ptr + i, lit, n))
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
http_route(struct http_slice path)
{
	struct http_slice p = path;

	if (!http_path_canonical(p))
		return HTTP_ROUTE_INVALID;
	if (p.len > 1 && p.ptr[p.len - 1] == '/')
		p.len--;
	if (p.len >= 9 && http_ieqn(p.ptr, "/metadata", 9) &&
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
