/*
 * Strict JSON over jsmn.  jsmn builds the token tree; json_chk_*() then walk
 * it once, in document order, checking every byte jsmn did not: the gaps
 * between tokens (only whitespace and exactly the expected ',' or ':'),
 * that objects hold string keys each followed by one value, the literals,
 * the number grammar, string escapes, surrogate pairs and UTF-8.  The same
 * walk converts each jsmn record into a struct json_tok, in place, with
 * the index of the token after its subtree, so json_next() is O(1).
 *
 * jsmn configuration:
 * - JSMN_STRICT: primitives must start with '-', a digit, 't', 'f' or 'n'
 *   and cannot be keys; non-strict jsmn accepts any bare word.
 * - JSMN_PARENT_LINKS: without them jsmn finds the enclosing container of
 *   every ',' and '}' by scanning back over all tokens, O(n^2) on a wide
 *   object (a hostile 1 MB document would take seconds); with them it
 *   follows parent links, O(depth).  It costs 4 bytes per token.
 * - JSMN_STATIC: jsmn's functions stay private to this file.
 */
#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include <limits.h>
#include <string.h>

#include "agent/json.h"
#include "agent/limits.h"

/* json_parse converts jsmn's records into ours in place: same size. */
_Static_assert(sizeof(struct json_tok) == sizeof(jsmntok_t),
    "struct json_tok must have jsmntok_t's size");
_Static_assert(_Alignof(struct json_tok) == _Alignof(jsmntok_t),
    "struct json_tok must have jsmntok_t's alignment");
/* jsmn keeps offsets in int. */
_Static_assert(LIM_JSON_BYTES < INT_MAX, "LIM_JSON_BYTES too large");

#define JSON_TYPE_MASK 0xff
#define JSON_ESCAPED   0x100 /* string token holds a backslash */

/* The walk's state.  raw is the token array seen as bytes: jsmn records
 * are read and ours written with memcpy, so no record is ever accessed
 * through the other struct type. */
struct json_chk {
	const char *buf;
	size_t len;
	unsigned char *raw;
	int count;  /* tokens jsmn produced */
	size_t pos; /* first byte not yet checked */
};

static const char *const json_errs[] = {
    [0] = "no error",
    [-JSON_E_NOKEY] = "no such member",
    [-JSON_E_DUPKEY] = "member appears more than once",
    [-JSON_E_TYPE] = "value of another type",
    [-JSON_E_RANGE] = "not an integer or out of range",
    [-JSON_E_SPACE] = "decoded string too long for its buffer",
    [-JSON_E_NUL] = "nul byte or \\u0000",
    [-JSON_E_EMPTY] = "empty document",
    [-JSON_E_PARTIAL] = "document ends inside a value",
    [-JSON_E_NOMEM] = "more tokens than the token array holds",
    [-JSON_E_TOOBIG] = "document too large",
    [-JSON_E_DEPTH] = "nesting too deep",
    [-JSON_E_SYNTAX] = "misplaced bracket, comma, colon or key",
    [-JSON_E_CTRL] = "raw control character in a string",
    [-JSON_E_ESCAPE] = "bad escape or unpaired surrogate",
    [-JSON_E_UTF8] = "invalid utf-8 in a string",
    [-JSON_E_NUMBER] = "malformed number",
    [-JSON_E_LITERAL] = "bare word other than true, false or null",
    [-JSON_E_TRAILING] = "data after the top-level value",
};

const char *
json_strerror(int err)
{
	if (err > 0 || err < JSON_E_LAST)
		return "unknown error";
	return json_errs[-err];
}

/* ---- bytes: whitespace, numbers, escapes, UTF-8 ------------------------ */

static bool
json_ws(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static bool
json_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* Digits at p[*i..n): advances *i past them, returns how many. */
static size_t
json_digits(const char *p, size_t n, size_t *i)
{
	size_t start = *i;

	while (*i < n && json_digit(p[*i]))
		(*i)++;
	return *i - start;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and nothing else. */
static bool
json_number_ok(const char *p, size_t n)
{
	size_t i = 0;

	if (i < n && p[i] == '-')
		i++;
	if (i < n && p[i] == '0')
		i++;
	else if (json_digits(p, n, &i) == 0)
		return false;
	if (i < n && p[i] == '.') {
		i++;
		if (json_digits(p, n, &i) == 0)
			return false;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		if (json_digits(p, n, &i) == 0)
			return false;
	}
	return i == n;
}

/* The type of a primitive token's text, or an error. */
static int
json_prim_type(const char *p, size_t n)
{
	if (n == 4 && memcmp(p, "true", 4) == 0)
		return JSON_TRUE;
	if (n == 5 && memcmp(p, "false", 5) == 0)
		return JSON_FALSE;
	if (n == 4 && memcmp(p, "null", 4) == 0)
		return JSON_NULL;
	if (n > 0 && (p[0] == '-' || json_digit(p[0])))
		return json_number_ok(p, n) ? JSON_NUMBER : JSON_E_NUMBER;
	return JSON_E_LITERAL;
}

static int
json_hex4(const char *p, uint32_t *v)
{
	int i, d;

	*v = 0;
	for (i = 0; i < 4; i++) {
		if (json_digit(p[i]))
			d = p[i] - '0';
		else if (p[i] >= 'a' && p[i] <= 'f')
			d = p[i] - 'a' + 10;
		else if (p[i] >= 'A' && p[i] <= 'F')
			d = p[i] - 'A' + 10;
		else
			return -1;
		*v = *v << 4 | (uint32_t)d;
	}
	return 0;
}

/*
 * Decodes the escape at p[0] == '\\' (n bytes available) into the code
 * point *cp.  Returns the bytes it spans (2, 6, or 12 for a surrogate
 * pair) or JSON_E_ESCAPE; a lone or reversed surrogate is an error.
 */
static int
json_esc(const char *p, size_t n, uint32_t *cp)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *q;
	uint32_t lo;

	if (n < 2)
		return JSON_E_ESCAPE;
	if (p[1] != 'u') {
		if ((q = memchr(from, p[1], sizeof(from) - 1)) == NULL)
			return JSON_E_ESCAPE;
		*cp = (unsigned char)to[q - from];
		return 2;
	}
	if (n < 6 || json_hex4(p + 2, cp) == -1)
		return JSON_E_ESCAPE;
	if (*cp < 0xd800 || *cp > 0xdfff)
		return 6;
	if (*cp > 0xdbff || n < 12 || p[6] != '\\' || p[7] != 'u' ||
	    json_hex4(p + 8, &lo) == -1 || lo < 0xdc00 || lo > 0xdfff)
		return JSON_E_ESCAPE;
	*cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
	return 12;
}

/*
 * Length of the well-formed UTF-8 sequence at p (n bytes available), or 0:
 * no overlong forms, no surrogates, nothing above U+10FFFF (RFC 3629).
 */
static size_t
json_utf8_len(const unsigned char *p, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (p[0] < 0xc2 || p[0] > 0xf4)
		return 0;
	if (p[0] < 0xe0)
		len = 2;
	else if (p[0] < 0xf0)
		len = 3;
	else
		len = 4;
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* Encodes code point cp (<= 0x10ffff) as UTF-8 into out; returns bytes. */
static size_t
json_utf8_put(uint32_t cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * Checks the contents of a string (between the quotes).  Returns 1 when
 * it holds an escape, 0 when not, or an error.  DEL and non-ASCII are
 * allowed (RFC 8259 only asks for U+0000..U+001F to be escaped).
 */
static int
json_chk_string(const char *p, size_t n)
{
	size_t i = 0, ulen;
	uint32_t cp;
	int r, esc = 0;

	while (i < n) {
		unsigned char ch = (unsigned char)p[i];

		if (ch < 0x20)
			return JSON_E_CTRL;
		if (ch == '\\') {
			if ((r = json_esc(p + i, n - i, &cp)) < 0)
				return r;
			i += (size_t)r;
			esc = 1;
		} else if (ch < 0x80) {
			i++;
		} else {
			ulen =
			    json_utf8_len((const unsigned char *)p + i, n - i);
			if (ulen == 0)
				return JSON_E_UTF8;
			i += ulen;
		}
	}
	return esc;
}

/*
 * Decodes the unit at p (one escape, or one raw byte) into out[0..*olen).
 * Returns the input bytes it spans or JSON_E_ESCAPE.
 */
static int
json_unit(const char *p, size_t n, char out[4], size_t *olen)
{
	uint32_t cp;
	int r;

	if (p[0] != '\\') {
		out[0] = p[0];
		*olen = 1;
		return 1;
	}
	if ((r = json_esc(p, n, &cp)) < 0)
		return r;
	*olen = json_utf8_put(cp, out);
	return r;
}

/* ---- the walk ---------------------------------------------------------- */

static jsmntok_t
json_raw(const struct json_chk *c, int i)
{
	jsmntok_t t;

	memcpy(&t, c->raw + (size_t)i * sizeof(t), sizeof(t));
	return t;
}

static void
json_put(struct json_chk *c, int i, int type, const jsmntok_t *t, int next)
{
	struct json_tok out = {
	    .type_ = type,
	    .start_ = t->start,
	    .end_ = t->end,
	    .size_ = t->size,
	    .next_ = next,
	};

	memcpy(c->raw + (size_t)i * sizeof(out), &out, sizeof(out));
}

/*
 * Where jsmn token i's text begins (a string's opening quote), after a
 * sanity check of its bounds; an error when i or the bounds are off.
 */
static int
json_raw_at(const struct json_chk *c, int i, jsmntok_t *t, size_t *begin)
{
	if (i < 0 || i >= c->count)
		return JSON_E_SYNTAX;
	*t = json_raw(c, i);
	if (t->start < 0 || t->end < t->start || (size_t)t->end > c->len)
		return JSON_E_SYNTAX;
	*begin = (size_t)t->start;
	if (t->type != JSMN_STRING)
		return 0;
	if (t->start == 0 || (size_t)t->end >= c->len)
		return JSON_E_SYNTAX;
	*begin = (size_t)t->start - 1;
	return 0;
}

/*
 * Moves c->pos to upto over whitespace and, when sep is not 0, exactly
 * one sep (a ',' or ':' between tokens).
 */
static int
json_gap(struct json_chk *c, size_t upto, char sep)
{
	bool seen = sep == 0;
	size_t i;

	if (upto < c->pos || upto > c->len)
		return JSON_E_SYNTAX;
	for (i = c->pos; i < upto; i++) {
		if (json_ws(c->buf[i]))
			continue;
		if (seen || c->buf[i] != sep)
			return JSON_E_SYNTAX;
		seen = true;
	}
	c->pos = upto;
	return seen ? 0 : JSON_E_SYNTAX;
}

static int json_chk_value(struct json_chk *, int, const jsmntok_t *, int);

/* Checks the separator sep before token i, then token i's subtree. */
static int
json_chk_elem(struct json_chk *c, int i, char sep, int depth)
{
	jsmntok_t t;
	size_t begin;
	int r;

	if ((r = json_raw_at(c, i, &t, &begin)) < 0 ||
	    (r = json_gap(c, begin, sep)) < 0)
		return r;
	return json_chk_value(c, i, &t, depth);
}

/* Checks key token i (after sep), the ':' and its value. */
static int
json_chk_member(struct json_chk *c, int i, char sep, int depth)
{
	jsmntok_t t;
	size_t begin;
	int r, next;

	if ((r = json_raw_at(c, i, &t, &begin)) < 0)
		return r;
	if (t.type != JSMN_STRING || t.size != 1)
		return JSON_E_SYNTAX;
	if ((r = json_gap(c, begin, sep)) < 0)
		return r;
	r = json_chk_string(c->buf + t.start, (size_t)(t.end - t.start));
	if (r < 0)
		return r;
	c->pos = (size_t)t.end + 1;
	if ((next = json_chk_elem(c, i + 1, ':', depth)) < 0)
		return next;
	json_put(c, i, JSON_STRING | (r ? JSON_ESCAPED : 0), &t, next);
	return next;
}

/* Checks the members or elements of container t (token i). */
static int
json_chk_container(struct json_chk *c, int i, const jsmntok_t *t, int depth)
{
	bool obj = t->type == JSMN_OBJECT;
	int k, next = i + 1;

	if (depth >= (int)LIM_JSON_DEPTH)
		return JSON_E_DEPTH;
	c->pos = (size_t)t->start + 1;
	for (k = 0; k < t->size && next >= 0; k++) {
		if (obj)
			next = json_chk_member(c, next, k ? ',' : 0, depth + 1);
		else
			next = json_chk_elem(c, next, k ? ',' : 0, depth + 1);
	}
	if (next < 0)
		return next;
	if (t->end < 1 || json_gap(c, (size_t)t->end - 1, 0) < 0)
		return JSON_E_SYNTAX;
	c->pos = (size_t)t->end;
	json_put(c, i, obj ? JSON_OBJECT : JSON_ARRAY, t, next);
	return next;
}

/*
 * Checks value token i (t, already read; c->pos at its first byte) with
 * depth containers around it.  Returns the index after its subtree.
 */
static int
json_chk_value(struct json_chk *c, int i, const jsmntok_t *t, int depth)
{
	const char *p = c->buf + t->start;
	size_t n = (size_t)(t->end - t->start);
	int r;

	if (t->type == JSMN_OBJECT || t->type == JSMN_ARRAY)
		return json_chk_container(c, i, t, depth);
	if (t->size != 0)
		return JSON_E_SYNTAX; /* a string or number used as a key */
	if (t->type == JSMN_STRING) {
		if ((r = json_chk_string(p, n)) < 0)
			return r;
		json_put(c, i, JSON_STRING | (r ? JSON_ESCAPED : 0), t, i + 1);
		c->pos = (size_t)t->end + 1;
		return i + 1;
	}
	if (t->type != JSMN_PRIMITIVE)
		return JSON_E_SYNTAX;
	if ((r = json_prim_type(p, n)) < 0)
		return r;
	json_put(c, i, r, t, i + 1);
	c->pos = (size_t)t->end;
	return i + 1;
}

/* The bytes strict jsmn starts a primitive with. */
static bool
json_prim_start(char ch)
{
	return ch == '-' || json_digit(ch) || ch == 't' || ch == 'f' ||
	    ch == 'n';
}

/* The bytes jsmn takes into a primitive. */
static bool
json_prim_byte(char ch)
{
	return ch > ' ' && ch < 0x7f && ch != ',' && ch != ']' && ch != '}';
}

/*
 * Strict jsmn wants a delimiter after a primitive, so a primitive that
 * ends the input ("1", "[1] 2") comes back "partial" with p->pos at its
 * first byte.  Add the token jsmn would have added (the strict-mode key
 * check already passed) and finish as jsmn would: partial only if a
 * container is still open.  Anything else partial really is.
 */
static int
json_finish_prim(struct json_chk *c, const jsmn_parser *p, unsigned ntok)
{
	jsmntok_t t = {.type = JSMN_PRIMITIVE, .parent = p->toksuper};
	jsmntok_t up;
	size_t i;

	if (p->pos >= c->len || !json_prim_start(c->buf[p->pos]))
		return JSON_E_PARTIAL;
	for (i = p->pos; i < c->len; i++)
		if (!json_prim_byte(c->buf[i]))
			return JSON_E_PARTIAL;
	if (p->toknext >= ntok)
		return JSON_E_NOMEM;
	t.start = (int)p->pos;
	t.end = (int)c->len;
	memcpy(c->raw + (size_t)p->toknext * sizeof(t), &t, sizeof(t));
	if (p->toksuper >= 0) {
		up = json_raw(c, p->toksuper);
		up.size++;
		memcpy(
		    c->raw + (size_t)p->toksuper * sizeof(up), &up, sizeof(up));
	}
	for (i = 0; i < p->toknext; i++) {
		up = json_raw(c, (int)i);
		if (up.start != -1 && up.end == -1)
			return JSON_E_PARTIAL;
	}
	return (int)p->toknext + 1;
}

/* The whole document: blanks, one value, blanks. */
static int
json_chk_doc(struct json_chk *c)
{
	jsmntok_t t;
	size_t begin;
	int r;

	if ((r = json_raw_at(c, 0, &t, &begin)) < 0 ||
	    (r = json_gap(c, begin, 0)) < 0)
		return r;
	if ((r = json_chk_value(c, 0, &t, 0)) < 0)
		return r;
	if (r != c->count || json_gap(c, c->len, 0) < 0)
		return JSON_E_TRAILING;
	return r;
}

static int
json_jsmn_err(int r)
{
	switch (r) {
	case JSMN_ERROR_NOMEM:
		return JSON_E_NOMEM;
	case JSMN_ERROR_PART:
		return JSON_E_PARTIAL;
	default:
		return JSON_E_SYNTAX;
	}
}

int
json_parse(struct json_doc *doc, const char *buf, size_t len,
    struct json_tok *toks, unsigned ntok)
{
	struct json_chk c = {.buf = buf, .len = len};
	jsmntok_t none, *jt = &none;
	jsmn_parser p;
	int r;

	*doc = (struct json_doc){.buf = buf, .len = len, .toks = toks};
	if (len > LIM_JSON_BYTES)
		return JSON_E_TOOBIG;
	if (len == 0)
		return JSON_E_EMPTY;
	if (memchr(buf, '\0', len) != NULL)
		return JSON_E_NUL; /* jsmn would stop there */
	if (toks == NULL)
		ntok = 0; /* jsmn would count instead of failing */
	else
		jt = (jsmntok_t *)(void *)toks;
	if (ntok > INT_MAX)
		ntok = INT_MAX;
	c.raw = (unsigned char *)jt;
	jsmn_init(&p);
	r = jsmn_parse(&p, buf, len, jt, ntok);
	if (r == JSMN_ERROR_PART)
		r = json_finish_prim(&c, &p, ntok);
	else if (r < 0)
		r = json_jsmn_err(r);
	if (r < 0)
		return r;
	if (r == 0)
		return JSON_E_EMPTY;
	c.count = r;
	if ((r = json_chk_doc(&c)) < 0)
		return r;
	doc->ntok = r;
	return r;
}

/* ---- accessors --------------------------------------------------------- */

static const struct json_tok *
json_tok_at(const struct json_doc *doc, int tok)
{
	if (doc == NULL || tok < 0 || tok >= doc->ntok)
		return NULL;
	return &doc->toks[tok];
}

enum json_type
json_type(const struct json_doc *doc, int tok)
{
	const struct json_tok *t = json_tok_at(doc, tok);

	return t ? (enum json_type)(t->type_ & JSON_TYPE_MASK) : JSON_NONE;
}

const char *
json_slice(const struct json_doc *doc, int tok, size_t *len)
{
	const struct json_tok *t = json_tok_at(doc, tok);

	*len = 0;
	if (t == NULL)
		return NULL;
	*len = (size_t)(t->end_ - t->start_);
	return doc->buf + t->start_;
}

int
json_size(const struct json_doc *doc, int tok)
{
	enum json_type type = json_type(doc, tok);

	if (type != JSON_OBJECT && type != JSON_ARRAY)
		return 0;
	return doc->toks[tok].size_;
}

int
json_next(const struct json_doc *doc, int tok)
{
	const struct json_tok *t = json_tok_at(doc, tok);

	return t ? t->next_ : -1;
}

int
json_iter_init(struct json_iter *it, const struct json_doc *doc, int tok)
{
	enum json_type type = json_type(doc, tok);

	*it = (struct json_iter){.doc = doc, .next = tok + 1};
	if (type != JSON_OBJECT && type != JSON_ARRAY)
		return JSON_E_TYPE;
	it->object = type == JSON_OBJECT;
	it->left = doc->toks[tok].size_;
	return 0;
}

bool
json_iter_next(struct json_iter *it, int *key, int *val)
{
	if (it->left <= 0)
		return false;
	*key = it->object ? it->next : -1;
	*val = it->object ? it->next + 1 : it->next;
	it->next = json_next(it->doc, it->next);
	it->left--;
	return true;
}

int
json_obj_get(const struct json_doc *doc, int obj, const char *key)
{
	struct json_iter it;
	int k, v, found = JSON_E_NOKEY;

	if (json_iter_init(&it, doc, obj) < 0 || !it.object)
		return JSON_E_TYPE;
	while (json_iter_next(&it, &k, &v)) {
		if (!json_str_eq(doc, k, key))
			continue;
		if (found >= 0)
			return JSON_E_DUPKEY;
		found = v;
	}
	return found;
}

bool
json_str_eq(const struct json_doc *doc, int tok, const char *lit)
{
	size_t n, i, o = 0, ulen, litlen = strlen(lit);
	const char *p;
	char u[4];
	int r;

	if (json_type(doc, tok) != JSON_STRING)
		return false;
	p = json_slice(doc, tok, &n);
	if (!(doc->toks[tok].type_ & JSON_ESCAPED))
		return n == litlen && memcmp(p, lit, n) == 0;
	for (i = 0; i < n; i += (size_t)r) {
		if ((r = json_unit(p + i, n - i, u, &ulen)) < 0)
			return false;
		if (ulen > litlen - o || memcmp(lit + o, u, ulen) != 0)
			return false;
		o += ulen;
	}
	return o == litlen;
}

int
json_str_unescape(const struct json_doc *doc, int tok, char *dst, size_t dstlen)
{
	size_t n, i, o = 0, ulen;
	const char *p;
	char u[4];
	int r;

	if (dstlen > 0)
		dst[0] = '\0';
	if (json_type(doc, tok) != JSON_STRING)
		return JSON_E_TYPE;
	p = json_slice(doc, tok, &n);
	for (i = 0; i < n; i += (size_t)r) {
		if ((r = json_unit(p + i, n - i, u, &ulen)) < 0)
			goto fail;
		if (u[0] == '\0') {
			r = JSON_E_NUL;
			goto fail;
		}
		if (ulen >= dstlen - o) {
			r = JSON_E_SPACE;
			goto fail;
		}
		memcpy(dst + o, u, ulen);
		o += ulen;
	}
	if (o >= dstlen)
		return JSON_E_SPACE;
	dst[o] = '\0';
	return (int)o;
fail:
	if (dstlen > 0)
		dst[0] = '\0';
	return r;
}

int
json_int64(const struct json_doc *doc, int tok, int64_t *out)
{
	const uint64_t max = (uint64_t)INT64_MAX;
	uint64_t v = 0, lim, d;
	size_t n, i;
	const char *p;
	bool neg;

	if (json_type(doc, tok) != JSON_NUMBER)
		return JSON_E_TYPE;
	p = json_slice(doc, tok, &n);
	neg = p[0] == '-';
	lim = neg ? max + 1 : max;
	for (i = neg ? 1 : 0; i < n; i++) {
		if (!json_digit(p[i]))
			return JSON_E_RANGE; /* fraction or exponent */
		d = (uint64_t)(p[i] - '0');
		if (v > (lim - d) / 10)
			return JSON_E_RANGE;
		v = v * 10 + d;
	}
	if (!neg)
		*out = (int64_t)v;
	else if (v == max + 1)
		*out = INT64_MIN;
	else
		*out = -(int64_t)v;
	return 0;
}

int
json_bool(const struct json_doc *doc, int tok, bool *out)
{
	switch (json_type(doc, tok)) {
	case JSON_TRUE:
		*out = true;
		return 0;
	case JSON_FALSE:
		*out = false;
		return 0;
	default:
		return JSON_E_TYPE;
	}
}
