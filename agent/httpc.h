/*
 * HTTP/1.1, client side: a response head parser, an in-place chunked body
 * decoder and a request head writer.  Pure code: no syscalls, no
 * allocation, no globals; results are slices into the caller's buffer
 * (picohttpparser's design, with RFC 9112's stricter framing).  Line ends
 * must be CRLF everywhere; a bare CR or LF is an error.
 */
#ifndef AGENT_HTTPC_H
#define AGENT_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/limits.h"

#define HTTPC_MAX_HEADERS LIM_HTTPC_HEADERS

/*
 * Return codes.  HTTPC_NEED_MORE is not an error: feed more bytes.  Every
 * value below it is one; httpc_strerror() names them all.
 */
enum httpc_err {
	HTTPC_NEED_MORE = -1,
	HTTPC_ERR_INVAL = -2,             /* bad argument */
	HTTPC_ERR_HEAD_TOO_LONG = -3,     /* > LIM_HTTPC_HEAD_BYTES */
	HTTPC_ERR_BARE_CR = -4,           /* CR not followed by LF */
	HTTPC_ERR_BARE_LF = -5,           /* LF not preceded by CR */
	HTTPC_ERR_NUL = -6,               /* NUL byte in the head */
	HTTPC_ERR_VERSION = -7,           /* not HTTP/1.x */
	HTTPC_ERR_STATUS = -8,            /* status code not 3 digits 1xx-5xx */
	HTTPC_ERR_REASON = -9,            /* control character in reason */
	HTTPC_ERR_OBS_FOLD = -10,         /* header line starts with SP/HTAB */
	HTTPC_ERR_HDR_NAME = -11,         /* empty name or non-token char */
	HTTPC_ERR_HDR_VALUE = -12,        /* control character in a value */
	HTTPC_ERR_TOO_MANY_HEADERS = -13, /* > HTTPC_MAX_HEADERS */
	HTTPC_ERR_CL_SYNTAX = -14,        /* Content-Length not digits */
	HTTPC_ERR_CL_OVERFLOW = -15,      /* Content-Length > UINT64_MAX */
	HTTPC_ERR_CL_CONFLICT = -16,      /* differing Content-Length values */
	HTTPC_ERR_TE = -17,               /* Transfer-Encoding not "chunked" */
	HTTPC_ERR_TE_AND_CL = -18,        /* both framings present */
	HTTPC_ERR_CHUNK_SIZE = -19,       /* bad chunk-size line */
	HTTPC_ERR_CHUNK_TOO_BIG = -20,    /* > LIM_HTTPC_CHUNK_BYTES */
	HTTPC_ERR_CHUNK_LINE_TOO_LONG = -21, /* > LIM_HTTPC_CHUNK_LINE_BYTES */
	HTTPC_ERR_CHUNK_DATA_END = -22,   /* chunk data not followed by CRLF */
	HTTPC_ERR_TRAILER = -23,          /* control character in a trailer */
	HTTPC_ERR_TRAILER_TOO_LONG = -24, /* > LIM_HTTPC_TRAILER_BYTES */
	HTTPC_ERR_NOSPACE = -25,          /* request does not fit dst */
	HTTPC_ERR_REQ_FIELD = -26,        /* bad char or name in a request */
};

/* Bytes of someone else's buffer; ptr is NULL when absent. */
struct httpc_slice {
	const char *ptr;
	size_t len;
};

/* A slice of a string literal: HTTPC_STR("Metadata"). */
#define HTTPC_STR(s)                                                           \
	{                                                                      \
		(s), sizeof(s) - 1                                             \
	}

/* One header field; in a response, both slices point into the head. */
struct httpc_hdr {
	struct httpc_slice name;
	struct httpc_slice value; /* OWS trimmed on both sides */
};

/* How the response body is delimited (RFC 9112 section 6.3). */
enum httpc_body {
	HTTPC_BODY_NONE,    /* 1xx, 204, 304 (a HEAD reply: the caller knows) */
	HTTPC_BODY_LENGTH,  /* content_length bytes */
	HTTPC_BODY_CHUNKED, /* decode with httpc_chunked_feed() */
	HTTPC_BODY_EOF,     /* until the server closes the connection */
};

/*
 * A parsed response head.  Result fields are valid after httpc_resp_feed()
 * returned a length and point into the buffer given to it, so they live as
 * long as those bytes stay put.  scanned is private.
 */
struct httpc_resp {
	int minor_version; /* 0 or 1 (higher minor digits accepted) */
	int status;        /* 100..599 */
	struct httpc_slice reason;
	struct httpc_hdr headers[HTTPC_MAX_HEADERS];
	size_t nheaders;
	enum httpc_body body;
	uint64_t content_length; /* when body is HTTPC_BODY_LENGTH */
	bool conn_close;         /* the server will close after this reply */
	size_t scanned;          /* private: bytes checked so far */
	size_t head_len;         /* private: set once complete */
};

/* Prepares r for a new response. */
void httpc_resp_init(struct httpc_resp *r);

/*
 * Parses the response head at the start of buf: len is ALL the bytes of
 * this response buffered so far (same leading bytes each call, only more of
 * them).  Returns the head length (body starts at buf + rc) once the blank
 * line arrived, HTTPC_NEED_MORE, or an error below it.  1xx replies are
 * returned like others: the caller skips them and parses the next head.
 */
int httpc_resp_feed(struct httpc_resp *r, const char *buf, size_t len);

/*
 * The value of the first header named name (ASCII case-insensitive), or a
 * slice with ptr NULL.  Points into the parsed head, like r's slices.
 */
struct httpc_slice httpc_header(const struct httpc_resp *r, const char *name);

/* Chunked decoder state; all private. */
struct httpc_chunked {
	int state;
	uint64_t remaining; /* data bytes left in the current chunk */
	size_t line_bytes;  /* chunk-size line, or trailer section, so far */
	bool digits;        /* saw a hex digit on this size line */
};

/* Prepares c for a new chunked body. */
void httpc_chunked_init(struct httpc_chunked *c);

/*
 * Decodes in place the *len newly received bytes at buf (any split, down
 * to one byte): the chunk framing is removed and the data moved to the
 * front, *len becomes the data length.  Returns HTTPC_NEED_MORE, an error,
 * or (>= 0) once the last chunk and the trailers ended: the count of bytes
 * that followed them, moved to buf + *len.  Fed again after that, it
 * decodes nothing and returns all bytes as following ones.
 */
ssize_t httpc_chunked_feed(struct httpc_chunked *c, char *buf, size_t *len);

/*
 * Writes an HTTP/1.1 request head into dst (NUL-terminated): request line,
 * Host, User-Agent: podid, Connection: keep-alive, the nextra extra fields,
 * Content-Length when body_len > 0 or method is POST, blank line.  Refuses
 * CR, LF, NUL and other controls in every piece, a non-token method or
 * field name, and extra Host/Content-Length/Transfer-Encoding fields
 * (HTTPC_ERR_REQ_FIELD).  Returns the length or HTTPC_ERR_NOSPACE.
 */
int httpc_req_format(char *dst, size_t dstlen, const char *method,
    const char *host, const char *target, const struct httpc_hdr *extra,
    size_t nextra, size_t body_len);

/* Static name of an httpc_err ("unknown httpc error" for others). */
const char *httpc_strerror(int err);

#endif
