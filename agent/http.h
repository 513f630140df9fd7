/*
 * HTTP/1.1, server side: the request head parser, the query decoder and
 * the route classifier of the IMDS emulator.  Pure code: no syscalls, no
 * allocation, no globals; results are slices into the caller's buffer
 * (picohttpparser's design, with RFC 9112's stricter framing).
 *
 * Choices, all of them strict because every IMDS client is well-behaved:
 * - Line ends are CRLF; a bare LF or bare CR is 400 (RFC 9112 section 2.2
 *   allows accepting bare LF, but no IMDS client sends it and a lenient
 *   parser is how request smuggling starts).  Empty lines before the
 *   request line are skipped (RFC 9112 section 2.2 SHOULD).
 * - GET is the only method; HEAD is 405 too (IMDS answers 405 to a wrong
 *   verb, and the responses are never HEAD-aware).
 * - No request body: Content-Length > 0 or any Transfer-Encoding is 413.
 */
#ifndef AGENT_HTTP_H
#define AGENT_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/limits.h"

#define HTTP_MAX_HEADERS LIM_HTTP_HEADERS

/*
 * Return codes.  HTTP_NEED_MORE is not an error: feed more bytes.  Every
 * value below it is one; http_strerror() names it, http_err_status() gives
 * the status to answer with (the connection is then closed).
 */
enum http_err {
	HTTP_NEED_MORE = -1,
	HTTP_ERR_INVAL = -2,       /* bad argument (500) */
	HTTP_ERR_NUL = -3,         /* NUL byte in the head (400) */
	HTTP_ERR_BARE_CR = -4,     /* CR not followed by LF (400) */
	HTTP_ERR_BARE_LF = -5,     /* LF not preceded by CR (400) */
	HTTP_ERR_METHOD = -6,      /* empty or non-token method (400) */
	HTTP_ERR_METHOD_LONG = -7, /* > LIM_HTTP_METHOD_BYTES (501) */
	HTTP_ERR_TARGET = -8,      /* bad byte, '#', not origin-form (400) */
	HTTP_ERR_TARGET_LONG = -9, /* > LIM_HTTP_TARGET_BYTES (414) */
	HTTP_ERR_ABSOLUTE = -10,   /* absolute-form, not IMDS's (400) */
	HTTP_ERR_VERSION = -11,    /* not HTTP/DIGIT.DIGIT (400) */
	HTTP_ERR_VERSION_UNSUPP = -12, /* not HTTP/1.0 or 1.1 (505) */
	HTTP_ERR_OBS_FOLD = -13,     /* header line starts with SP/HTAB (400) */
	HTTP_ERR_HDR_NAME = -14,     /* empty or non-token name (400) */
	HTTP_ERR_HDR_VALUE = -15,    /* control character in a value (400) */
	HTTP_ERR_HEAD_LONG = -16,    /* > LIM_HTTP_HEAD_BYTES (431) */
	HTTP_ERR_HEADERS = -17,      /* > LIM_HTTP_HEADERS fields (431) */
	HTTP_ERR_HOST_MISSING = -18, /* HTTP/1.1 without Host (400) */
	HTTP_ERR_HOST_DUP = -19,     /* more than one Host (400) */
	HTTP_ERR_HOST_BAD = -20,     /* Host not an authority (400) */
	HTTP_ERR_CL = -21,           /* bad or repeated Content-Length (400) */
	HTTP_ERR_FRAMING = -22, /* Transfer-Encoding with CL or 1.0 (400) */
	HTTP_ERR_METHOD_NOT_ALLOWED = -23, /* method other than GET (405) */
	HTTP_ERR_BODY = -24,               /* the request has a body (413) */
	HTTP_ERR_QUERY_ESCAPE = -25,       /* '%' not followed by 2 hex (400) */
	HTTP_ERR_QUERY_CTL = -26,  /* NUL or control char, raw or %XX (400) */
	HTTP_ERR_QUERY_NAME = -27, /* empty parameter name (400) */
	HTTP_ERR_QUERY_NAME_LONG = -28, /* > LIM_HTTP_PARAM_NAME_BYTES (400) */
	HTTP_ERR_QUERY_VALUE_LONG =
	    -29,                     /* > LIM_HTTP_PARAM_VALUE_BYTES (400) */
	HTTP_ERR_QUERY_PARAMS = -30, /* > LIM_HTTP_QUERY_PARAMS pairs (400) */
	HTTP_ERR_QUERY_DUP = -31,    /* a name appears twice (400) */
	HTTP_ERR_QUERY_ABSENT = -32, /* http_query_get: no such name (400) */
	HTTP_ERR_NOSPACE = -33,      /* value does not fit dst (500) */
};

/* Bytes of someone else's buffer; ptr is NULL when absent. */
struct http_slice {
	const char *ptr;
	size_t len;
};

/* One header field; both slices point into the head. */
struct http_hdr {
	struct http_slice name;
	struct http_slice value; /* OWS trimmed on both sides */
};

/* Incremental scan state of http_req_feed(); all private. */
struct http_scan {
	int state;
	int err;           /* sticky error */
	size_t pos;        /* bytes checked so far */
	size_t method_off; /* after the leading empty lines */
	size_t method_len;
	size_t target_len;  /* target starts at method_off + method_len + 1 */
	size_t version_len; /* version follows the target and one SP */
	size_t fields;      /* header lines seen */
	bool ctl;           /* a control byte inside some field line */
	size_t head_len;    /* set once the blank line arrived */
};

/*
 * A parsed request head.  Result fields are valid after http_req_feed()
 * returned a length, or HTTP_ERR_METHOD_NOT_ALLOWED or HTTP_ERR_BODY (a
 * well-formed head refused, so the caller can log it), and point into the
 * buffer given to it: they live as long as those bytes stay put.
 */
struct http_req {
	struct http_slice method;
	struct http_slice target; /* raw, as sent */
	struct http_slice path;   /* target up to '?', starts with '/' */
	struct http_slice query;  /* after '?', raw; ptr NULL without '?' */
	int minor_version;        /* 0 or 1 */
	struct http_hdr headers[HTTP_MAX_HEADERS];
	size_t nheaders;
	bool keep_alive; /* 1.1 unless "close"; 1.0 with "keep-alive" */
	bool has_body;   /* Content-Length > 0 or Transfer-Encoding */
	bool expect;     /* an Expect field is present */
	struct http_scan scan;
};

/*
 * Prepares r for a new request head.  The header slots past nheaders
 * are not results and are left as they were (not cleared per request).
 */
void http_req_init(struct http_req *r);

/*
 * Parses the request head at the start of buf: len is ALL the bytes of
 * this request buffered so far (same leading bytes each call, only more of
 * them; the scan resumes where it stopped).  Returns the head length once
 * the blank line arrived (the next pipelined request starts at buf + rc:
 * podid takes no bodies), HTTP_NEED_MORE, or an error below it.  Errors
 * that a byte proves (bare LF, NUL, a target over its limit) come as soon
 * as that byte arrives.  An absolute-form target is accepted only for
 * http://169.254.169.254[:80]/...; path then starts at the '/'.
 */
int http_req_feed(struct http_req *r, const char *buf, size_t len);

/*
 * The value of the first header named name (ASCII case-insensitive), or a
 * slice with ptr NULL.  Points into the parsed head, like r's slices.
 */
struct http_slice http_header(const struct http_req *r, const char *name);

/*
 * How many header fields are named name (ASCII case-insensitive): the
 * caller refuses two Metadata fields, or any X-Forwarded-For, with it.
 */
size_t http_header_count(const struct http_req *r, const char *name);

/* The status code to answer err with (400 for unknown codes). */
int http_err_status(int err);

/* Static name of an http_err ("unknown http error" for others). */
const char *http_strerror(int err);

/*
 * Query strings.  Pairs are separated by '&' (';' is an ordinary byte);
 * empty pairs ("a=1&&b=2", a trailing '&') are skipped; a pair without
 * '=' has an empty value.  Names and values are percent-decoded, '+'
 * becoming a space as in form encoding (Go's url.ParseQuery, used by
 * aad-pod-identity's NMI, does so; IMDS clients never send '+').  Decoded
 * NUL and control bytes are refused; bytes >= 0x80 pass through.  Names
 * match case-sensitively (NMI and every client use lower case), but two
 * names equal apart from case count as duplicates, so that no two readers
 * of one query can disagree on which value counts.
 */

/* One decoded pair, NUL-terminated; the caller owns the storage. */
struct http_param {
	char name[LIM_HTTP_PARAM_NAME_BYTES + 1];
	size_t name_len;
	char value[LIM_HTTP_PARAM_VALUE_BYTES + 1];
	size_t value_len;
};

/* Iterator over a raw query; all private. */
struct http_query_iter {
	struct http_slice q;
	size_t pos;
	size_t count; /* pairs returned */
	int err;      /* sticky error */
};

/* Starts iterating query (which must stay put while iterating). */
void http_query_init(struct http_query_iter *it, struct http_slice query);

/*
 * Decodes the next pair into *out.  Returns 1 with a pair, 0 at the end,
 * or an error (HTTP_ERR_QUERY_*), which every later call returns again.
 * More than LIM_HTTP_QUERY_PARAMS pairs is HTTP_ERR_QUERY_PARAMS.
 */
int http_query_next(struct http_query_iter *it, struct http_param *out);

/*
 * Validates a whole query: every pair decodes, the count is within the
 * limit and no name appears twice (ignoring case: IMDS refuses duplicate
 * names).  Returns 0 or the first error.
 */
int http_query_check(struct http_slice query);

/*
 * Copies the decoded value of the first pair named name (exact match)
 * into dst (dstlen bytes, NUL-terminated).  Returns the value length,
 * HTTP_ERR_QUERY_ABSENT, HTTP_ERR_NOSPACE, or the error of a pair before
 * it.  Call http_query_check() first: this one does not look for duplicates.
 */
int http_query_get(
    struct http_slice query, const char *name, char *dst, size_t dstlen);

/*
 * Routes.  A path is first checked for canonical form: it starts with '/'
 * and holds no '\', no '%' (IMDS may decode escapes, so "t%6fken" or
 * "%2F" could mean a route other than the one classified), no empty
 * segment ("//") except a trailing '/', no "." or ".." segment, no byte
 * outside VCHAR.  The first segment "metadata" matches in any case, the
 * rest exactly; one trailing '/' is accepted on every route.
 */
enum http_route {
	HTTP_ROUTE_NONE,       /* no such route: 404, never proxied */
	HTTP_ROUTE_INVALID,    /* not canonical: 400 */
	HTTP_ROUTE_TOKEN,      /* /metadata/identity/oauth2/token */
	HTTP_ROUTE_TOKEN_LIKE, /* other /metadata path naming identity,
	                          oauth or token (CVE-2022-23551): 400 */
	HTTP_ROUTE_METADATA,   /* a known non-token IMDS route: may proxy */
	HTTP_ROUTE_HOST_TOKEN, /* /host/token */
	HTTP_ROUTE_HEALTHZ,    /* /healthz */
	HTTP_ROUTE_READYZ,     /* /readyz */
	HTTP_ROUTE_METRICS,    /* /metrics */
};

/*
 * Classifies a raw path (http_req's path: no query).  Known non-token IMDS
 * routes: /metadata/instance[/...], /metadata/versions,
 * /metadata/attested/document, /metadata/scheduledevents,
 * /metadata/loadbalancer, /metadata/identity/info.
 */
enum http_route http_route(struct http_slice path);

/* Static lower-case name of a route, for logs and metric labels. */
const char *http_route_name(enum http_route route);

#endif
