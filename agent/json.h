/*
 * json: strict JSON (RFC 8259) documents.  json_parse tokenizes and checks
 * everything (brackets, separators, key types, literals, number grammar,
 * string escapes, surrogate pairs, UTF-8, a single top-level value) in one
 * pass over the bytes, so that an accepted document is valid JSON.  It used
 * jsmn plus a checking walk until issue 3 (watch ingest rate); the tokens
 * and the errors are the same.
 *
 * Memory: the caller owns the input and the token array; nothing here
 * allocates, does I/O or keeps globals.  Every result is a token index or a
 * slice into the input, valid while the input and the token array are.
 *
 * Tokens are numbered in document order.  Token 0 is the top-level value.
 * An object's children are its keys; each key token is followed by its
 * value's tokens, and json_next() of a key skips the key AND its value.
 *
 * Duplicate keys are not rejected by json_parse (that would cost
 * O(members^2) per object on hostile input); json_obj_get refuses to pick
 * one instead (JSON_E_DUPKEY), so no lookup podid does is ambiguous.
 */
#ifndef AGENT_JSON_H
#define AGENT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum json_type {
	JSON_NONE, /* not a token: an index out of range or an error */
	JSON_OBJECT,
	JSON_ARRAY,
	JSON_STRING,
	JSON_NUMBER,
	JSON_TRUE,
	JSON_FALSE,
	JSON_NULL,
};

/* Errors are negative; json_strerror() names them. */
enum json_err {
	JSON_E_NOKEY = -1,     /* json_obj_get: no such member */
	JSON_E_DUPKEY = -2,    /* json_obj_get: the member appears twice */
	JSON_E_TYPE = -3,      /* the token has another type */
	JSON_E_RANGE = -4,     /* not an integer, or out of range */
	JSON_E_SPACE = -5,     /* decoded string does not fit the buffer */
	JSON_E_NUL = -6,       /* NUL byte in the input or \u0000 decoded */
	JSON_E_EMPTY = -7,     /* nothing but whitespace */
	JSON_E_PARTIAL = -8,   /* input ends inside a value */
	JSON_E_NOMEM = -9,     /* more tokens than the token array holds */
	JSON_E_TOOBIG = -10,   /* input longer than LIM_JSON_BYTES */
	JSON_E_DEPTH = -11,    /* nesting deeper than LIM_JSON_DEPTH */
	JSON_E_SYNTAX = -12,   /* misplaced bracket, comma, colon or key */
	JSON_E_CTRL = -13,     /* raw control character in a string */
	JSON_E_ESCAPE = -14,   /* bad escape or unpaired surrogate */
	JSON_E_UTF8 = -15,     /* invalid UTF-8 in a string */
	JSON_E_NUMBER = -16,   /* malformed number */
	JSON_E_LITERAL = -17,  /* bare word other than true, false, null */
	JSON_E_TRAILING = -18, /* data after the top-level value */
};
#define JSON_E_LAST JSON_E_TRAILING

/* One token.  The members are private to agent/json.c. */
struct json_tok {
	int type_;  /* enum json_type, plus a flag for escaped strings */
	int start_; /* first byte (strings: after the opening quote) */
	int end_;   /* one past the last byte (strings: the closing quote) */
	int size_;  /* object members, array elements; 1 for a key */
	int next_;  /* index of the first token after this subtree */
};

/* A parsed document: the input and the tokens, both the caller's. */
struct json_doc {
	const char *buf;
	size_t len;
	struct json_tok *toks;
	int ntok; /* tokens in use; 0 after a failed parse */
};

/* Iteration over an object's members or an array's elements. */
struct json_iter {
	const struct json_doc *doc;
	int next; /* next key (objects) or element (arrays) */
	int left; /* members or elements not yet returned */
	bool object;
};

/*
 * Parses buf[0..len) (need not be NUL-terminated) into toks[0..ntok).
 * Returns the number of tokens used (> 0) or a negative enum json_err.
 * doc keeps pointers to buf and toks; on error doc->ntok is 0.  Allocate
 * large token arrays once at start-up (see LIM_KOBJ_* for sizes).
 */
int json_parse(struct json_doc *doc, const char *buf, size_t len,
    struct json_tok *toks, unsigned ntok);

/* The type of token tok; JSON_NONE when tok is not a valid index. */
enum json_type json_type(const struct json_doc *doc, int tok);

/*
 * Raw bytes of token tok in the input, *len set to their count: strings
 * without their quotes and with escapes still encoded; containers with
 * their brackets.  NULL (and *len 0) when tok is not a valid index.
 */
const char *json_slice(const struct json_doc *doc, int tok, size_t *len);

/* Members of an object or elements of an array; 0 for other tokens. */
int json_size(const struct json_doc *doc, int tok);

/*
 * Index of the first token after tok's subtree (for a key: after its
 * value); doc->ntok after the last one.  -1 when tok is not valid.
 */
int json_next(const struct json_doc *doc, int tok);

/*
 * Value token of member key (compared decoded) of object obj.  Returns the
 * index, JSON_E_NOKEY when absent, JSON_E_DUPKEY when the key appears more
 * than once, JSON_E_TYPE when obj is not an object.
 */
int json_obj_get(const struct json_doc *doc, int obj, const char *key);

/*
 * json_obj_get for n keys in one pass over obj's members: val[i] is what
 * json_obj_get(doc, obj, keys[i]) returns (the value token, JSON_E_NOKEY,
 * JSON_E_DUPKEY, or JSON_E_TYPE when obj is not an object).  Returns 0,
 * JSON_E_TYPE, or JSON_E_RANGE when n > JSON_GETV_MAX (every val[i] is
 * then JSON_E_RANGE).  For decoders that read several members of an object.
 */
#define JSON_GETV_MAX 16
int json_obj_getv(const struct json_doc *doc, int obj, const char *const *keys,
    unsigned n, int *val);

/*
 * Starts iterating object or array tok; 0, or JSON_E_TYPE when tok is
 * neither (the iterator then yields nothing).
 */
int json_iter_init(struct json_iter *it, const struct json_doc *doc, int tok);

/*
 * Next member: *key is the key token (-1 for arrays), *val the value or
 * element token.  Returns false when there are no more.
 */
bool json_iter_next(struct json_iter *it, int *key, int *val);

/*
 * True when string token tok, decoded, equals the NUL-terminated lit.
 * No copy: escape-free strings are compared in place, others decoded on
 * the fly.  False for tokens that are not strings.
 */
bool json_str_eq(const struct json_doc *doc, int tok, const char *lit);

/*
 * Decodes string token tok into dst (dstlen bytes, NUL-terminated).
 * Returns the decoded length in bytes (UTF-8, without the NUL), or
 * JSON_E_TYPE, JSON_E_SPACE (dst too small: length + 1 > dstlen) or
 * JSON_E_NUL (the string holds \u0000, which a C string cannot carry).
 */
int json_str_unescape(
    const struct json_doc *doc, int tok, char *dst, size_t dstlen);

/*
 * Reads an integer number token (no fraction, no exponent) into *out.
 * Returns 0, JSON_E_TYPE (not a number) or JSON_E_RANGE (not an integer
 * or outside int64_t).
 */
int json_int64(const struct json_doc *doc, int tok, int64_t *out);

/* Reads true/false into *out.  Returns 0 or JSON_E_TYPE. */
int json_bool(const struct json_doc *doc, int tok, bool *out);

/* A fixed description of err (enum json_err); "unknown error" otherwise. */
const char *json_strerror(int err);

#endif
