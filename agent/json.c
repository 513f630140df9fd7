/*
 * Strict JSON (RFC 8259) in one pass.  json_parse reads the input once,
 * left to right, and checks every byte as it builds the tokens: the
 * structure (brackets, exactly one ',' or ':' between tokens, string keys
 * each followed by one value, one top-level value), the literals, the
 * number grammar, string escapes, surrogate pairs and UTF-8.  Each token
 * gets the index of the token after its subtree when its subtree ends, so
 * json_next() is O(1).  Open containers sit on a stack of LIM_JSON_DEPTH
 * frames, so nothing is searched backwards (no O(tokens) scan per '}').
 *
 * Why not jsmn plus a checking walk, as before (issue 3): jsmn alone took
 * about 7 us of a 5.6 KB pod event, the walk re-reading its tokens and
 * bytes 14 us more; watch ingest has about 10 us per event in all.  The
 * error codes stay those of the old pair where one error is in sight
 * (tests/agent/json_test.c pins them): a bad escape letter or \u digit,
 * a bare word that cannot start a value, a control byte or DEL in a bare
 * word are JSON_E_SYNTAX; a bare word runs to a blank, ',', ']' or '}'
 * and is then a literal (JSON_E_LITERAL) or a number (JSON_E_NUMBER);
 * input ending inside a value is JSON_E_PARTIAL.
 */
#include <limits.h>
#include <string.h>

#include "agent/json.h"
#include "agent/limits.h"

/* Offsets are kept in int. */
_Static_assert(LIM_JSON_BYTES < INT_MAX, "LIM_JSON_BYTES too large");

#define JSON_TYPE_MASK 0xff
#define JSON_ESCAPED   0x100 /* string token holds a backslash */

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

/* ---- the parser ------------------------------------------------------ */

/* Byte classes inside a string: what ends the fast run of plain bytes. */
#define JSC_PLAIN 0
#define JSC_QUOTE 1
#define JSC_BSL   2 /* backslash */
#define JSC_CTRL  3 /* U+0000..U+001F must be escaped */
#define JSC_HIGH  4 /* first byte of a UTF-8 sequence (or not) */

#define JSC_ROW(c) c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c
#define P          JSC_PLAIN

/* clang-format off */
static const unsigned char json_sclass[256] = {
	JSC_ROW(JSC_CTRL), JSC_ROW(JSC_CTRL),			/* 0x00 */
	P, P, JSC_QUOTE, P, P, P, P, P, P, P, P, P, P, P, P, P,	/* 0x20 */
	JSC_ROW(P), JSC_ROW(P),					/* 0x30 */
	P, P, P, P, P, P, P, P, P, P, P, P, JSC_BSL, P, P, P,	/* 0x50 */
	JSC_ROW(P), JSC_ROW(P),					/* 0x60 */
	JSC_ROW(JSC_HIGH), JSC_ROW(JSC_HIGH), JSC_ROW(JSC_HIGH),	/* 0x80 */
	JSC_ROW(JSC_HIGH), JSC_ROW(JSC_HIGH), JSC_ROW(JSC_HIGH),
	JSC_ROW(JSC_HIGH), JSC_ROW(JSC_HIGH),
};
/* clang-format on */
#undef P

#define JSON_DONE   256 /* json_after: the top-level value is complete */
#define JSON_OPENED 1   /* json_value: a container was opened */

/* An open container: its token and, for an object, its latest key. */
struct json_frame {
	int tok, key;
	int count; /* members or elements so far */
	bool object;
};

/* The parser's state; the frames are the open containers, innermost last. */
struct json_p {
	const char *buf;
	size_t len, pos;
	struct json_tok *toks;
	int cap, n; /* tokens available, used */
	int depth;
	struct json_frame frame[LIM_JSON_DEPTH];
};

/*
 * Skips blanks; the byte then at p->pos, or -1 at the end of the input.
 * The API server sends compact JSON: the first test is the one that hits.
 */
static inline int
json_peek(struct json_p *p)
{
	while (p->pos < p->len) {
		if (!json_ws(p->buf[p->pos]))
			return (unsigned char)p->buf[p->pos];
		p->pos++;
	}
	return -1;
}

#define JSON_ONES  0x0101010101010101ull
#define JSON_HIGHS 0x8080808080808080ull

/*
 * Index of the first byte at or after i (i <= n) in s[0..n) that is not a
 * plain string byte (printable ASCII other than '"' and '\\').  Eight bytes
 * at a time while eight remain: the classic "has zero byte" and "has byte
 * less than" tests flag a quote, a backslash, a byte below 0x20 and (the
 * high bits) one above 0x7f.  A flag can be wrong only above a right one,
 * so on a little-endian machine the lowest flag is the answer; elsewhere
 * the bytes of a flagged word are looked at one by one.  Reads stay in s.
 */
static inline size_t
json_plain_run(const unsigned char *s, size_t i, size_t n)
{
	uint64_t x, q, b, m;

	for (; n - i >= 8; i += 8) {
		memcpy(&x, s + i, 8);
		q = x ^ (JSON_ONES * '"');
		b = x ^ (JSON_ONES * '\\');
		m = (((q - JSON_ONES) & ~q) | ((b - JSON_ONES) & ~b) |
		        ((x - JSON_ONES * 0x20) & ~x) | x) &
		    JSON_HIGHS;
		if (m != 0) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return i + (size_t)__builtin_ctzll(m) / 8;
#else
			break;
#endif
		}
	}
	while (i < n && json_sclass[s[i]] == JSC_PLAIN)
		i++;
	return i;
}

/* A new token of type at start; its index or JSON_E_NOMEM. */
static inline int
json_tok_new(struct json_p *p, int type, size_t start)
{
	struct json_tok *t;

	if (p->n >= p->cap)
		return JSON_E_NOMEM;
	t = &p->toks[p->n];
	t->type_ = type;
	t->start_ = (int)start;
	t->end_ = (int)start;
	t->size_ = 0;
	t->next_ = p->n + 1;
	return p->n++;
}

/*
 * Checks the \u escape's four hex digits at p (n bytes available): 0,
 * JSON_E_SYNTAX for a non-digit, JSON_E_PARTIAL when the input ends.
 */
static int
json_hex_chk(const char *p, size_t n)
{
	size_t i;
	char c;

	for (i = 0; i < 4; i++) {
		if (i >= n)
			return JSON_E_PARTIAL;
		c = p[i];
		if (!json_digit(c) && !(c >= 'a' && c <= 'f') &&
		    !(c >= 'A' && c <= 'F'))
			return JSON_E_SYNTAX;
	}
	return 0;
}

/* Checks the escape at p[0] == '\\'; returns the bytes it spans or an error. */
static int
json_esc_chk(const char *p, size_t n)
{
	uint32_t cp;
	int r;

	if (n < 2)
		return JSON_E_PARTIAL;
	switch (p[1]) {
	case '"':
	case '\\':
	case '/':
	case 'b':
	case 'f':
	case 'n':
	case 'r':
	case 't':
		return 2;
	case 'u':
		if ((r = json_hex_chk(p + 2, n - 2)) < 0)
			return r;
		return json_esc(p, n, &cp); /* surrogates pair up */
	default:
		return JSON_E_SYNTAX;
	}
}

/*
 * The string whose opening quote is at p->pos: checks it, adds its token
 * and moves past the closing quote.  Returns the token or an error.
 */
static inline int
json_string(struct json_p *p)
{
	const unsigned char *s = (const unsigned char *)p->buf;
	size_t i = p->pos + 1, n = p->len, ulen;
	int type = JSON_STRING, r, tok;

	for (;;) {
		i = json_plain_run(s, i, n);
		if (i >= n)
			return JSON_E_PARTIAL;
		if (s[i] == '"') { /* the usual end: no table lookup */
			if ((tok = json_tok_new(p, type, p->pos + 1)) < 0)
				return tok;
			p->toks[tok].end_ = (int)i;
			p->pos = i + 1;
			return tok;
		}
		switch (json_sclass[s[i]]) {
		case JSC_BSL:
			if ((r = json_esc_chk(p->buf + i, n - i)) < 0)
				return r;
			i += (size_t)r;
			type |= JSON_ESCAPED;
			break;
		case JSC_CTRL:
			return JSON_E_CTRL;
		default:
			if ((ulen = json_utf8_len(s + i, n - i)) == 0)
				return JSON_E_UTF8;
			i += ulen;
		}
	}
}

/* The bytes that end a bare word: blanks, ',', ']' and '}'. */
static bool
json_prim_end(char ch)
{
	return json_ws(ch) || ch == ',' || ch == ']' || ch == '}';
}

/*
 * The bare word at p->pos (its first byte already known to be one a
 * literal or number starts with): runs to a delimiter, then must be a
 * literal or a number.  Returns the token or an error.
 */
static inline int
json_prim(struct json_p *p)
{
	size_t i, start = p->pos;
	unsigned char ch;
	int type, tok;

	for (i = start; i < p->len; i++) {
		ch = (unsigned char)p->buf[i];
		if (json_prim_end((char)ch))
			break;
		if (ch < 0x20 || ch >= 0x7f)
			return JSON_E_SYNTAX;
	}
	if (i == p->len && p->depth > 0)
		return JSON_E_PARTIAL; /* the container cannot close */
	if ((type = json_prim_type(p->buf + start, i - start)) < 0)
		return type;
	if ((tok = json_tok_new(p, type, start)) < 0)
		return tok;
	p->toks[tok].end_ = (int)i;
	p->pos = i;
	return tok;
}

/* Opens the object or array at p->pos. */
static inline int
json_open(struct json_p *p, bool object)
{
	struct json_frame *f;
	int tok;

	if (p->depth >= (int)LIM_JSON_DEPTH)
		return JSON_E_DEPTH;
	tok = json_tok_new(p, object ? JSON_OBJECT : JSON_ARRAY, p->pos);
	if (tok < 0)
		return tok;
	f = &p->frame[p->depth++];
	f->tok = tok;
	f->key = -1;
	f->count = 0;
	f->object = object;
	p->pos++;
	return JSON_OPENED;
}

/*
 * The value whose first byte c is at p->pos.  Returns 0 for a scalar
 * (read whole), JSON_OPENED for a container (its contents to come), or an
 * error.
 */
static inline int
json_value(struct json_p *p, int c)
{
	int r;

	switch (c) {
	case '{':
	case '[':
		return json_open(p, c == '{');
	case '"':
		r = json_string(p);
		break;
	case '-':
	case '0':
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
	case '8':
	case '9':
	case 't':
	case 'f':
	case 'n':
		r = json_prim(p);
		break;
	default:
		return JSON_E_SYNTAX;
	}
	return r < 0 ? r : 0;
}

/*
 * Starts the next element of the innermost container: counts it and, in
 * an object, reads its key and ':'.  Returns the first byte of the value.
 */
static inline int
json_elem(struct json_p *p)
{
	struct json_frame *f = &p->frame[p->depth - 1];
	int c, key;

	if ((c = json_peek(p)) < 0)
		return JSON_E_PARTIAL;
	f->count++;
	if (!f->object)
		return c;
	if (c != '"')
		return JSON_E_SYNTAX;
	if ((key = json_string(p)) < 0)
		return key;
	f->key = key;
	p->toks[key].size_ = 1;
	if ((c = json_peek(p)) < 0)
		return JSON_E_PARTIAL;
	if (c != ':')
		return JSON_E_SYNTAX;
	p->pos++;
	if ((c = json_peek(p)) < 0)
		return JSON_E_PARTIAL;
	return c;
}

/* Closes the innermost container if c (at p->pos) is its bracket. */
static inline int
json_close(struct json_p *p, int c)
{
	struct json_frame *f = &p->frame[p->depth - 1];
	struct json_tok *t = &p->toks[f->tok];

	if (c != (f->object ? '}' : ']'))
		return JSON_E_SYNTAX;
	if (f->key >= 0)
		p->toks[f->key].next_ = p->n;
	t->end_ = (int)++p->pos;
	t->size_ = f->count;
	t->next_ = p->n;
	p->depth--;
	return 0;
}

/*
 * After a value: closes the containers that end here and steps over the
 * ',' to the next value.  Returns that value's first byte, JSON_DONE when
 * the top-level value is complete, or an error.
 */
static inline int
json_after(struct json_p *p)
{
	struct json_frame *f;
	int c;

	while (p->depth > 0) {
		if ((c = json_peek(p)) < 0)
			return JSON_E_PARTIAL;
		f = &p->frame[p->depth - 1];
		if (c == ',') {
			if (f->key >= 0)
				p->toks[f->key].next_ = p->n;
			p->pos++;
			return json_elem(p);
		}
		if (json_close(p, c) < 0)
			return JSON_E_SYNTAX;
	}
	return JSON_DONE;
}

/* Bytes that may start a value: after the top-level one, "trailing". */
static bool
json_value_start(int c)
{
	return c == '{' || c == '[' || c == '"' || c == '-' ||
	    json_digit((char)c) || c == 't' || c == 'f' || c == 'n';
}

/* The whole document: blanks, one value, blanks.  Returns the tokens. */
static int
json_doc_run(struct json_p *p)
{
	int c, r;

	if ((c = json_peek(p)) < 0)
		return JSON_E_EMPTY;
	for (;;) {
		if ((r = json_value(p, c)) < 0)
			return r;
		if (r == JSON_OPENED) {
			if ((c = json_peek(p)) < 0)
				return JSON_E_PARTIAL;
			if (json_close(p, c) < 0) {
				if ((c = json_elem(p)) < 0)
					return c;
				continue; /* the first element */
			}
		}
		if ((c = json_after(p)) < 0)
			return c;
		if (c == JSON_DONE)
			break;
	}
	if ((c = json_peek(p)) >= 0)
		return json_value_start(c) ? JSON_E_TRAILING : JSON_E_SYNTAX;
	return p->n;
}

int
json_parse(struct json_doc *doc, const char *buf, size_t len,
    struct json_tok *toks, unsigned ntok)
{
	struct json_p p; /* the frames are written before they are read */
	int r;

	*doc = (struct json_doc){.buf = buf, .len = len, .toks = toks};
	if (len > LIM_JSON_BYTES)
		return JSON_E_TOOBIG;
	if (len == 0)
		return JSON_E_EMPTY;
	p.buf = buf;
	p.len = len;
	p.pos = 0;
	p.toks = toks;
	p.cap = toks == NULL ? 0 : ntok > INT_MAX ? INT_MAX : (int)ntok;
	p.n = p.depth = 0;
	/*
	 * A NUL byte is refused wherever it is (a control byte in a string, a
	 * stray byte elsewhere), so a document holding one always fails:
	 * looking for it on the error path alone names the error as before.
	 */
	if ((r = json_doc_run(&p)) < 0)
		return memchr(buf, '\0', len) != NULL ? JSON_E_NUL : r;
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

/*
 * Whether key token t (a string) decodes to key[0..klen).  Escape-free
 * keys, nearly all of them, are told apart by their length first.
 */
static bool
json_key_is(const struct json_doc *doc, int k, const char *key, size_t klen)
{
	const struct json_tok *t = &doc->toks[k];

	if (t->type_ & JSON_ESCAPED)
		return json_str_eq(doc, k, key);
	return (size_t)(t->end_ - t->start_) == klen &&
	    memcmp(doc->buf + t->start_, key, klen) == 0;
}

int
json_obj_get(const struct json_doc *doc, int obj, const char *key)
{
	size_t klen = strlen(key);
	int k, left, found = JSON_E_NOKEY;

	if (json_type(doc, obj) != JSON_OBJECT)
		return JSON_E_TYPE;
	/* an object's keys are strings: json_parse saw to it */
	for (k = obj + 1, left = doc->toks[obj].size_; left > 0; left--) {
		if (json_key_is(doc, k, key, klen)) {
			if (found >= 0)
				return JSON_E_DUPKEY;
			found = k + 1;
		}
		k = doc->toks[k].next_;
	}
	return found;
}

int
json_obj_getv(const struct json_doc *doc, int obj, const char *const *keys,
    unsigned n, int *val)
{
	size_t klen[JSON_GETV_MAX];
	unsigned i;
	int k, left;

	if (n > JSON_GETV_MAX) {
		for (i = 0; i < n; i++)
			val[i] = JSON_E_RANGE;
		return JSON_E_RANGE;
	}
	for (i = 0; i < n; i++) {
		val[i] = JSON_E_TYPE;
		klen[i] = strlen(keys[i]);
	}
	if (json_type(doc, obj) != JSON_OBJECT)
		return JSON_E_TYPE;
	for (i = 0; i < n; i++)
		val[i] = JSON_E_NOKEY;
	for (k = obj + 1, left = doc->toks[obj].size_; left > 0; left--) {
		for (i = 0; i < n; i++) {
			if (!json_key_is(doc, k, keys[i], klen[i]))
				continue;
			val[i] = val[i] == JSON_E_NOKEY ? k + 1 : JSON_E_DUPKEY;
		}
		k = doc->toks[k].next_;
	}
	return 0;
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

/* An escape-free string into dst (dst[0] already '\0' if dstlen > 0). */
static int
json_copy_plain(const char *p, size_t n, char *dst, size_t dstlen)
{
	if (n >= dstlen)
		return JSON_E_SPACE;
	memcpy(dst, p, n); /* no NUL: json_parse refused those */
	dst[n] = '\0';
	return (int)n;
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
	if (!(doc->toks[tok].type_ & JSON_ESCAPED))
		return json_copy_plain(p, n, dst, dstlen);
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
