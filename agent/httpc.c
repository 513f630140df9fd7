/*
 * HTTP/1.1 client side: response head parser, chunked decoder, request
 * writer.  No syscalls, no allocation, no globals (apart from constant
 * tables); fuzzed by fuzz/httpc_resp_fuzz.c and fuzz/httpc_chunked_fuzz.c.
 *
 * The head parser works in two passes.  The first, incremental, looks for
 * the blank line and rejects bare CR, bare LF and NUL as bytes arrive, so a
 * peer trickling a bad head is stopped early and the second pass may take
 * every CR as the end of a line.  The second parses the complete head once.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "agent/httpc.h"

static const char *const httpc_errnames[] = {
    [0] = "ok",
    [-HTTPC_NEED_MORE] = "need more bytes",
    [-HTTPC_ERR_INVAL] = "invalid argument",
    [-HTTPC_ERR_HEAD_TOO_LONG] = "response head too long",
    [-HTTPC_ERR_BARE_CR] = "bare CR",
    [-HTTPC_ERR_BARE_LF] = "bare LF",
    [-HTTPC_ERR_NUL] = "NUL byte in head",
    [-HTTPC_ERR_VERSION] = "not an HTTP/1.x status line",
    [-HTTPC_ERR_STATUS] = "bad status code",
    [-HTTPC_ERR_REASON] = "bad character in reason phrase",
    [-HTTPC_ERR_OBS_FOLD] = "obsolete line folding",
    [-HTTPC_ERR_HDR_NAME] = "bad header name",
    [-HTTPC_ERR_HDR_VALUE] = "bad character in header value",
    [-HTTPC_ERR_TOO_MANY_HEADERS] = "too many headers",
    [-HTTPC_ERR_CL_SYNTAX] = "bad content-length",
    [-HTTPC_ERR_CL_OVERFLOW] = "content-length overflow",
    [-HTTPC_ERR_CL_CONFLICT] = "conflicting content-length values",
    [-HTTPC_ERR_TE] = "unsupported transfer-encoding",
    [-HTTPC_ERR_TE_AND_CL] = "both transfer-encoding and content-length",
    [-HTTPC_ERR_CHUNK_SIZE] = "bad chunk-size line",
    [-HTTPC_ERR_CHUNK_TOO_BIG] = "chunk too big",
    [-HTTPC_ERR_CHUNK_LINE_TOO_LONG] = "chunk-size line too long",
    [-HTTPC_ERR_CHUNK_DATA_END] = "chunk data not followed by CRLF",
    [-HTTPC_ERR_TRAILER] = "bad trailer line",
    [-HTTPC_ERR_TRAILER_TOO_LONG] = "trailer section too long",
    [-HTTPC_ERR_NOSPACE] = "request does not fit the buffer",
    [-HTTPC_ERR_REQ_FIELD] = "bad request field",
};

const char *
httpc_strerror(int err)
{
	if (err > 0 ||
	    -err >= (int)(sizeof(httpc_errnames) / sizeof(*httpc_errnames)))
		return "unknown httpc error";
	return httpc_errnames[-err];
}

/* Character classes (RFC 9110 section 5.6.2 token, 5.5 field-vchar). */

static bool
httpc_is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
httpc_is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* HTAB, SP, VCHAR, obs-text: what a value, reason or trailer may hold. */
static bool
httpc_is_text(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static unsigned char
httpc_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* s (n bytes) equals the lower-case NUL-terminated lit, ignoring case. */
static bool
httpc_eq(const char *s, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (lit[i] == '\0' ||
		    httpc_lower((unsigned char)s[i]) !=
		        httpc_lower((unsigned char)lit[i]))
			return false;
	return lit[n] == '\0';
}

/* Response head. */

void
httpc_resp_init(struct httpc_resp *r)
{
	memset(r, 0, sizeof(*r));
}

/* Looks for CRLFCRLF in the bytes not checked yet: head length or code. */
static int
httpc_scan(struct httpc_resp *r, const char *buf, size_t len)
{
	size_t i, end = len < LIM_HTTPC_HEAD_BYTES ? len : LIM_HTTPC_HEAD_BYTES;

	for (i = r->scanned; i < end; i++) {
		if (i > 0 && buf[i - 1] == '\r' && buf[i] != '\n')
			return HTTPC_ERR_BARE_CR;
		if (buf[i] == '\0')
			return HTTPC_ERR_NUL;
		if (buf[i] != '\n')
			continue;
		if (i == 0 || buf[i - 1] != '\r')
			return HTTPC_ERR_BARE_LF;
		if (i >= 3 && buf[i - 2] == '\n') {
			r->scanned = i + 1;
			return (int)(i + 1);
		}
	}
	r->scanned = end;
	return end == LIM_HTTPC_HEAD_BYTES ? HTTPC_ERR_HEAD_TOO_LONG
	                                   : HTTPC_NEED_MORE;
}

static bool
httpc_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "HTTP/1.x SP 3DIGIT [SP reason]" (a missing SP before an empty reason
 * is tolerated, as RFC 9112 section 4 suggests). */
static int
httpc_parse_status(struct httpc_resp *r, const char *p, size_t len)
{
	size_t i;

	if (len < 9 || memcmp(p, "HTTP/1.", 7) != 0 || !httpc_is_digit(p[7]) ||
	    p[8] != ' ')
		return HTTPC_ERR_VERSION;
	r->minor_version = p[7] - '0';
	if (len < 12 || p[9] < '1' || p[9] > '5' || !httpc_is_digit(p[10]) ||
	    !httpc_is_digit(p[11]) || (len > 12 && p[12] != ' '))
		return HTTPC_ERR_STATUS;
	r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	for (i = 13; i < len; i++)
		if (!httpc_is_text((unsigned char)p[i]))
			return HTTPC_ERR_REASON;
	r->reason.ptr = len > 12 ? p + 13 : p + 12;
	r->reason.len = len > 12 ? len - 13 : 0;
	return 0;
}

/* "name:" OWS value OWS, into the next header slot. */
static int
httpc_parse_field(struct httpc_resp *r, const char *p, size_t len)
{
	struct httpc_hdr *h;
	size_t i = 0, nlen, vs, ve;

	if (len > 0 && httpc_is_ows(p[0]))
		return HTTPC_ERR_OBS_FOLD;
	while (i < len && httpc_is_tchar((unsigned char)p[i]))
		i++;
	if (i == 0 || i == len || p[i] != ':')
		return HTTPC_ERR_HDR_NAME;
	nlen = i;
	for (vs = i + 1; vs < len && httpc_is_ows(p[vs]); vs++)
		continue;
	for (ve = len; ve > vs && httpc_is_ows(p[ve - 1]); ve--)
		continue;
	for (i = vs; i < ve; i++)
		if (!httpc_is_text((unsigned char)p[i]))
			return HTTPC_ERR_HDR_VALUE;
	if (r->nheaders == HTTPC_MAX_HEADERS)
		return HTTPC_ERR_TOO_MANY_HEADERS;
	h = &r->headers[r->nheaders++];
	h->name.ptr = p;
	h->name.len = nlen;
	h->value.ptr = p + vs;
	h->value.len = ve - vs;
	return 0;
}

/* Framing gathered from the fields. */
struct httpc_frame {
	bool has_cl, has_te, close, keep_alive;
	unsigned te_codings;
	uint64_t cl;
};

/* Next non-empty element of a comma list, OWS trimmed; false at the end. */
static bool
httpc_list_next(struct httpc_slice v, size_t *pos, struct httpc_slice *el)
{
	size_t i = *pos, e;

	while (i < v.len && (httpc_is_ows(v.ptr[i]) || v.ptr[i] == ','))
		i++;
	if (i == v.len)
		return false;
	el->ptr = v.ptr + i;
	while (i < v.len && v.ptr[i] != ',')
		i++;
	for (e = i; httpc_is_ows(v.ptr[e - 1]); e--)
		continue;
	el->len = (size_t)(v.ptr + e - el->ptr);
	*pos = i;
	return true;
}

/* 1*DIGIT, or a list of equal ones (RFC 9110 section 8.6). */
static int
httpc_frame_cl(struct httpc_frame *f, struct httpc_slice v)
{
	size_t i = 0, start;
	uint64_t n, d;

	for (;;) {
		for (n = 0, start = i; i < v.len && httpc_is_digit(v.ptr[i]);
		     i++) {
			d = (uint64_t)(v.ptr[i] - '0');
			if (n > (UINT64_MAX - d) / 10)
				return HTTPC_ERR_CL_OVERFLOW;
			n = n * 10 + d;
		}
		if (i == start)
			return HTTPC_ERR_CL_SYNTAX;
		if (f->has_cl && f->cl != n)
			return HTTPC_ERR_CL_CONFLICT;
		f->has_cl = true;
		f->cl = n;
		while (i < v.len && httpc_is_ows(v.ptr[i]))
			i++;
		if (i == v.len)
			return 0;
		if (v.ptr[i++] != ',')
			return HTTPC_ERR_CL_SYNTAX;
		while (i < v.len && httpc_is_ows(v.ptr[i]))
			i++;
	}
}

/* Transfer-Encoding, over all its fields, must be exactly "chunked". */
static int
httpc_frame_te(struct httpc_frame *f, struct httpc_slice v)
{
	struct httpc_slice el;
	size_t pos = 0;
	unsigned n = 0;

	f->has_te = true;
	while (httpc_list_next(v, &pos, &el)) {
		n++;
		if (!httpc_eq(el.ptr, el.len, "chunked") || f->te_codings++ > 0)
			return HTTPC_ERR_TE;
	}
	return n == 0 ? HTTPC_ERR_TE : 0;
}

static void
httpc_frame_conn(struct httpc_frame *f, struct httpc_slice v)
{
	struct httpc_slice el;
	size_t pos = 0;

	while (httpc_list_next(v, &pos, &el)) {
		if (httpc_eq(el.ptr, el.len, "close"))
			f->close = true;
		else if (httpc_eq(el.ptr, el.len, "keep-alive"))
			f->keep_alive = true;
	}
}

static int
httpc_frame_field(struct httpc_frame *f, const struct httpc_hdr *h)
{
	if (httpc_eq(h->name.ptr, h->name.len, "content-length"))
		return httpc_frame_cl(f, h->value);
	if (httpc_eq(h->name.ptr, h->name.len, "transfer-encoding"))
		return httpc_frame_te(f, h->value);
	if (httpc_eq(h->name.ptr, h->name.len, "connection"))
		httpc_frame_conn(f, h->value);
	return 0;
}

/* Body length and connection fate, RFC 9112 sections 6.3 and 9.3. */
static int
httpc_framing(struct httpc_resp *r)
{
	struct httpc_frame f;
	size_t i;
	int rc;

	memset(&f, 0, sizeof(f));
	for (i = 0; i < r->nheaders; i++)
		if ((rc = httpc_frame_field(&f, &r->headers[i])) != 0)
			return rc;
	if (f.has_te && f.has_cl)
		return HTTPC_ERR_TE_AND_CL; /* a smuggling sign: never guess */
	if (f.has_te && r->minor_version == 0)
		return HTTPC_ERR_TE;
	if (r->status < 200 || r->status == 204 || r->status == 304)
		r->body = HTTPC_BODY_NONE;
	else if (f.has_te)
		r->body = HTTPC_BODY_CHUNKED;
	else if (f.has_cl)
		r->body = HTTPC_BODY_LENGTH;
	else
		r->body = HTTPC_BODY_EOF;
	r->content_length = r->body == HTTPC_BODY_LENGTH ? f.cl : 0;
	r->conn_close = f.close || (r->minor_version == 0 && !f.keep_alive) ||
	    r->body == HTTPC_BODY_EOF;
	return 0;
}

/*
 * The complete head: the scan proved every CR starts a CRLF and the last
 * four bytes are CRLFCRLF, so each line ends at the next CR.
 */
static int
httpc_parse_head(struct httpc_resp *r, const char *buf, size_t head_len)
{
	const char *p = buf, *end = buf + head_len - 2, *eol;
	int rc;

	r->nheaders = 0;
	eol = memchr(p, '\r', (size_t)(end - p));
	if ((rc = httpc_parse_status(r, p, (size_t)(eol - p))) != 0)
		return rc;
	for (p = eol + 2; p < end; p = eol + 2) {
		eol = memchr(p, '\r', (size_t)(end - p));
		if ((rc = httpc_parse_field(r, p, (size_t)(eol - p))) != 0)
			return rc;
	}
	if ((rc = httpc_framing(r)) != 0)
		return rc;
	return (int)head_len;
}

int
httpc_resp_feed(struct httpc_resp *r, const char *buf, size_t len)
{
	int rc;

	if (buf == NULL && len > 0)
		return HTTPC_ERR_INVAL;
	if (r->head_len == 0) {
		if (len < r->scanned)
			r->scanned = 0; /* not the same buffer: start over */
		if ((rc = httpc_scan(r, buf, len)) < 0)
			return rc;
		r->head_len = (size_t)rc;
	}
	if (len < r->head_len)
		return HTTPC_ERR_INVAL;
	return httpc_parse_head(r, buf, r->head_len);
}

struct httpc_slice
httpc_header(const struct httpc_resp *r, const char *name)
{
	struct httpc_slice none = {NULL, 0};
	size_t i;

	for (i = 0; i < r->nheaders; i++)
		if (httpc_eq(
		        r->headers[i].name.ptr, r->headers[i].name.len, name))
			return r->headers[i].value;
	return none;
}

/*
 * Chunked body (RFC 9112 section 7.1).  A byte-at-a-time state machine for
 * the framing; data bytes are moved in runs.  An error is kept in state so
 * that a caller ignoring it cannot resume mid-frame.
 */
enum httpc_ch_state {
	CH_SIZE,    /* hex digits of chunk-size */
	CH_SIZE_WS, /* BWS after the digits */
	CH_EXT,     /* chunk extensions: checked, ignored */
	CH_SIZE_LF, /* CR seen on the size line */
	CH_DATA,    /* remaining data bytes */
	CH_DATA_CR, /* CRLF after the data */
	CH_DATA_LF,
	CH_TRAILER_START, /* start of a trailer line or of the final CRLF */
	CH_TRAILER,
	CH_TRAILER_LF,
	CH_END_LF, /* LF of the final CRLF */
	CH_DONE,
};

void
httpc_chunked_init(struct httpc_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = CH_SIZE;
}

static int
httpc_hexval(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* A byte of the size line other than CR and LF, in CH_SIZE. */
static int
httpc_ch_digit(struct httpc_chunked *c, unsigned char ch)
{
	int d = httpc_hexval(ch);

	if (d >= 0) {
		/* Checked per digit, so the value never nears overflow. */
		c->remaining = c->remaining * 16 + (unsigned)d;
		if (c->remaining > LIM_HTTPC_CHUNK_BYTES)
			return HTTPC_ERR_CHUNK_TOO_BIG;
		c->digits = true;
		return 0;
	}
	if (!c->digits)
		return HTTPC_ERR_CHUNK_SIZE;
	if (httpc_is_ows((char)ch))
		c->state = CH_SIZE_WS;
	else if (ch == ';')
		c->state = CH_EXT;
	else
		return HTTPC_ERR_CHUNK_SIZE;
	return 0;
}

/* chunk-size [ chunk-ext ] CRLF, up to the CR. */
static int
httpc_ch_line(struct httpc_chunked *c, unsigned char ch)
{
	if (ch == '\n')
		return HTTPC_ERR_BARE_LF;
	if (ch == '\r') {
		if (!c->digits)
			return HTTPC_ERR_CHUNK_SIZE;
		c->state = CH_SIZE_LF;
		return 0;
	}
	if (++c->line_bytes > LIM_HTTPC_CHUNK_LINE_BYTES)
		return HTTPC_ERR_CHUNK_LINE_TOO_LONG;
	if (c->state == CH_SIZE)
		return httpc_ch_digit(c, ch);
	if (c->state == CH_SIZE_WS && ch == ';')
		c->state = CH_EXT;
	else if ((c->state == CH_SIZE_WS && !httpc_is_ows((char)ch)) ||
	    !httpc_is_text(ch))
		return HTTPC_ERR_CHUNK_SIZE;
	return 0;
}

static int
httpc_ch_size_lf(struct httpc_chunked *c, unsigned char ch)
{
	if (ch != '\n')
		return HTTPC_ERR_BARE_CR;
	c->line_bytes = 0;
	c->state = c->remaining == 0 ? CH_TRAILER_START : CH_DATA;
	return 0;
}

/* Trailer field lines: bounded, free of controls, skipped. */
static int
httpc_ch_trailer(struct httpc_chunked *c, unsigned char ch)
{
	if (c->state == CH_TRAILER_START && ch == '\r') {
		c->state = CH_END_LF;
		return 0;
	}
	if (ch == '\n')
		return HTTPC_ERR_BARE_LF;
	if (++c->line_bytes > LIM_HTTPC_TRAILER_BYTES)
		return HTTPC_ERR_TRAILER_TOO_LONG;
	if (ch == '\r') {
		c->state = CH_TRAILER_LF;
		return 0;
	}
	if (!httpc_is_text(ch) ||
	    (c->state == CH_TRAILER_START && httpc_is_ows((char)ch)))
		return HTTPC_ERR_TRAILER;
	c->state = CH_TRAILER;
	return 0;
}

/* Expects LF after a CR; moves to next.  Trailer LFs count as bytes. */
static int
httpc_ch_lf(struct httpc_chunked *c, unsigned char ch, int next)
{
	if (ch != '\n')
		return HTTPC_ERR_BARE_CR;
	if (c->state == CH_TRAILER_LF &&
	    ++c->line_bytes > LIM_HTTPC_TRAILER_BYTES)
		return HTTPC_ERR_TRAILER_TOO_LONG;
	c->state = next;
	if (next == CH_SIZE)
		c->digits = false;
	return next == CH_DONE ? 1 : 0;
}

/* One framing byte: 0 to go on, 1 when the body ended, or an error. */
static int
httpc_ch_step(struct httpc_chunked *c, unsigned char ch)
{
	switch (c->state) {
	case CH_SIZE:
	case CH_SIZE_WS:
	case CH_EXT:
		return httpc_ch_line(c, ch);
	case CH_SIZE_LF:
		return httpc_ch_size_lf(c, ch);
	case CH_DATA_CR:
		if (ch != '\r')
			return HTTPC_ERR_CHUNK_DATA_END;
		c->state = CH_DATA_LF;
		return 0;
	case CH_DATA_LF:
		return httpc_ch_lf(c, ch, CH_SIZE);
	case CH_TRAILER_START:
	case CH_TRAILER:
		return httpc_ch_trailer(c, ch);
	case CH_TRAILER_LF:
		return httpc_ch_lf(c, ch, CH_TRAILER_START);
	case CH_END_LF:
		return httpc_ch_lf(c, ch, CH_DONE);
	default:
		return HTTPC_ERR_INVAL;
	}
}

ssize_t
httpc_chunked_feed(struct httpc_chunked *c, char *buf, size_t *len)
{
	size_t src = 0, dst = 0, n, avail = *len;
	int rc;

	if (c->state < 0 || c->state == CH_DONE) {
		*len = 0;
		return c->state < 0 ? c->state : (ssize_t)avail;
	}
	while (src < avail) {
		if (c->state == CH_DATA) {
			n = avail - src < c->remaining ? avail - src
			                               : (size_t)c->remaining;
			memmove(buf + dst, buf + src, n);
			dst += n;
			src += n;
			if ((c->remaining -= n) == 0)
				c->state = CH_DATA_CR;
			continue;
		}
		if ((rc = httpc_ch_step(c, (unsigned char)buf[src++])) < 0) {
			c->state = rc;
			*len = dst;
			return rc;
		}
		if (rc == 1)
			break;
	}
	*len = dst;
	if (c->state != CH_DONE)
		return HTTPC_NEED_MORE;
	memmove(buf + dst, buf + src, avail - src);
	return (ssize_t)(avail - src);
}

/* Request head writer. */

struct httpc_out {
	char *p;
	size_t len, cap; /* len < cap always: room for the NUL */
	bool full;
};

static void
httpc_put(struct httpc_out *o, const char *s, size_t n)
{
	if (o->full || n >= o->cap - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void
httpc_puts(struct httpc_out *o, const char *s)
{
	httpc_put(o, s, strlen(s));
}

static bool
httpc_is_token(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!httpc_is_tchar((unsigned char)s[i]))
			return false;
	return n > 0;
}

/* Host and request-target: one or more VCHARs (no SP, no controls). */
static bool
httpc_is_visible(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return i > 0;
}

static bool
httpc_is_value(struct httpc_slice v)
{
	size_t i;

	if (v.ptr == NULL)
		return v.len == 0;
	for (i = 0; i < v.len; i++)
		if (!httpc_is_text((unsigned char)v.ptr[i]))
			return false;
	return true;
}

static int
httpc_req_check(const char *method, const char *host, const char *target,
    const struct httpc_hdr *extra, size_t nextra)
{
	const struct httpc_hdr *h;
	size_t i;

	if (method == NULL || host == NULL || target == NULL ||
	    (extra == NULL && nextra > 0))
		return HTTPC_ERR_INVAL;
	if (!httpc_is_token(method, strlen(method)) ||
	    !httpc_is_visible(host) || !httpc_is_visible(target))
		return HTTPC_ERR_REQ_FIELD;
	for (i = 0; i < nextra; i++) {
		h = &extra[i];
		if (h->name.ptr == NULL ||
		    !httpc_is_token(h->name.ptr, h->name.len) ||
		    !httpc_is_value(h->value))
			return HTTPC_ERR_REQ_FIELD;
		/* The framing and the target host are ours alone to write. */
		if (httpc_eq(h->name.ptr, h->name.len, "host") ||
		    httpc_eq(h->name.ptr, h->name.len, "content-length") ||
		    httpc_eq(h->name.ptr, h->name.len, "transfer-encoding"))
			return HTTPC_ERR_REQ_FIELD;
	}
	return 0;
}

static void
httpc_put_fields(
    struct httpc_out *o, const struct httpc_hdr *extra, size_t nextra)
{
	size_t i;

	for (i = 0; i < nextra; i++) {
		httpc_put(o, extra[i].name.ptr, extra[i].name.len);
		httpc_puts(o, ": ");
		if (extra[i].value.len > 0)
			httpc_put(o, extra[i].value.ptr, extra[i].value.len);
		httpc_puts(o, "\r\n");
	}
}

int
httpc_req_format(char *dst, size_t dstlen, const char *method, const char *host,
    const char *target, const struct httpc_hdr *extra, size_t nextra,
    size_t body_len)
{
	struct httpc_out o = {
	    dst, 0, dstlen > INT_MAX ? INT_MAX : dstlen, false};
	char num[24];
	int rc;

	if (dst == NULL)
		return HTTPC_ERR_INVAL;
	if ((rc = httpc_req_check(method, host, target, extra, nextra)) != 0)
		return rc;
	if (dstlen == 0)
		return HTTPC_ERR_NOSPACE;
	httpc_puts(&o, method);
	httpc_puts(&o, " ");
	httpc_puts(&o, target);
	httpc_puts(&o, " HTTP/1.1\r\nHost: ");
	httpc_puts(&o, host);
	httpc_puts(&o, "\r\nUser-Agent: podid\r\nConnection: keep-alive\r\n");
	httpc_put_fields(&o, extra, nextra);
	if (body_len > 0 || strcmp(method, "POST") == 0) {
		snprintf(num, sizeof(num), "%zu", body_len);
		httpc_puts(&o, "Content-Length: ");
		httpc_puts(&o, num);
		httpc_puts(&o, "\r\n");
	}
	httpc_puts(&o, "\r\n");
	dst[o.len] = '\0';
	return o.full ? HTTPC_ERR_NOSPACE : (int)o.len;
}
