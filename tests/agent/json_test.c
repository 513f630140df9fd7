/*
 * agent/json.c: a valid/invalid corpus in the spirit of JSONTestSuite
 * (y_ must parse, n_ must not, each with the error it must give), every
 * prefix of every valid document, inputs ending against a PROT_NONE page,
 * and each limit at N and N+1.
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/json.h"
#include "agent/limits.h"
#include "tests/guard.h"
#include "tests/harness.h"

#define NTOK 4096
static struct json_tok toks[NTOK];

static int
parse_n(struct json_doc *doc, const char *s, size_t n)
{
	return json_parse(doc, guard_copy(s, n), n, toks, NTOK);
}

static int
parse(struct json_doc *doc, const char *s)
{
	return parse_n(doc, s, strlen(s));
}

/* Visits tok's subtree, counting visits per token; returns json_next(tok). */
static int
walk(const struct json_doc *doc, int tok, unsigned char *seen)
{
	int i, child, n;

	seen[tok]++;
	if (json_type(doc, tok) == JSON_STRING && tok > 0 &&
	    json_next(doc, tok) > tok + 1)
		return walk(doc, tok + 1, seen) == json_next(doc, tok)
		    ? json_next(doc, tok)
		    : -1; /* a key: its value is its subtree */
	n = json_size(doc, tok);
	for (i = 0, child = tok + 1; i < n && child > 0; i++)
		child = walk(doc, child, seen);
	if (n > 0 && child != json_next(doc, tok))
		return -1;
	return json_next(doc, tok);
}

/* Every token visited exactly once and every slice inside the input. */
static bool
tree_ok(const struct json_doc *doc)
{
	static unsigned char seen[NTOK];
	const char *p;
	size_t len;
	int i;

	memset(seen, 0, sizeof(seen));
	if (walk(doc, 0, seen) != doc->ntok)
		return false;
	for (i = 0; i < doc->ntok; i++) {
		p = json_slice(doc, i, &len);
		if (seen[i] != 1 || p < doc->buf ||
		    p + len > doc->buf + doc->len)
			return false;
	}
	return true;
}

/* Documents that must parse, with their token counts. */
static const struct {
	const char *in;
	int ntok;
} y_cases[] = {
    {"[]", 1},
    {"{}", 1},
    {"[[]]", 2},
    {"{\"a\":{}}", 3},
    {"[1,2,3]", 4},
    {"[-0]", 2},
    {"[0.5]", 2},
    {"[1e10]", 2},
    {"[1E+2]", 2},
    {"[-1.5e-3]", 2},
    {"[123e65]", 2},
    {"[0e0]", 2},
    {"[\"\\u0060\\u012a\\u12AB\"]", 2},
    {"[\"\\uD801\\udc37\"]", 2},
    {"[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]", 2},
    {"[\"\xe2\x82\xac\xf0\x9d\x84\x9e\"]", 2},
    {"[\"\x7f\"]", 2},
    {"[\"\"]", 2},
    {"{\"\":0}", 3},
    {" [ 1 , 2 ] ", 3},
    {"\t\r\n[\n]\n", 1},
    {"{\"a\":null,\"b\":true,\"c\":false}", 7},
    {"{\"a\":[{\"b\":[{}]}]}", 7},
    {"[1,[2,[3]]]", 6},
    {"{\"a\":\"b\",\"a\":\"c\"}", 5},
    {"[\"a\\u0000b\"]", 2},
    {"\"\\u00e9\"", 1},
    {"0", 1},
    {"-1", 1},
    {"true", 1},
    {"null", 1},
    {"  \"x\"  ", 1},
    {" 12 ", 1},
    {"{\"k\\u0065y\":1}", 3},
};

/* Documents that must not parse, with the error. */
static const struct {
	const char *in;
	size_t len; /* 0: strlen */
	int err;
} n_cases[] = {
    {"", 0, JSON_E_EMPTY},
    {"  \n ", 0, JSON_E_EMPTY},
    {"[", 0, JSON_E_PARTIAL},
    {"[1,", 0, JSON_E_PARTIAL},
    {"[\"a\"", 0, JSON_E_PARTIAL},
    {"\"abc", 0, JSON_E_PARTIAL},
    {"{\"a\":", 0, JSON_E_PARTIAL},
    {"{\"a\":1,}", 0, JSON_E_SYNTAX},
    {"[1,]", 0, JSON_E_SYNTAX},
    {"[,1]", 0, JSON_E_SYNTAX},
    {"[1,,2]", 0, JSON_E_SYNTAX},
    {"[1 2]", 0, JSON_E_SYNTAX},
    {"{,}", 0, JSON_E_SYNTAX},
    {"{\"a\" 1}", 0, JSON_E_SYNTAX},
    {"{\"a\":1 \"b\":2}", 0, JSON_E_SYNTAX},
    {"{\"a\"}", 0, JSON_E_SYNTAX},
    {"{\"a\",\"b\"}", 0, JSON_E_SYNTAX},
    {"{\"a\":1,\"b\"}", 0, JSON_E_SYNTAX},
    {"{\"a\":}", 0, JSON_E_SYNTAX},
    {"{:1}", 0, JSON_E_SYNTAX},
    {"{\"a\"::1}", 0, JSON_E_SYNTAX},
    {"{\"a\":\"b\":\"c\"}", 0, JSON_E_SYNTAX},
    {"{1:2}", 0, JSON_E_SYNTAX},
    {"{null:1}", 0, JSON_E_SYNTAX},
    {"{[]:1}", 0, JSON_E_SYNTAX},
    {"{\"a\":[]:1}", 0, JSON_E_SYNTAX},
    {"[\"a\":1]", 0, JSON_E_SYNTAX},
    {"[:]", 0, JSON_E_SYNTAX},
    {"['a']", 0, JSON_E_SYNTAX},
    {"[1]]", 0, JSON_E_SYNTAX},
    {"]", 0, JSON_E_SYNTAX},
    {"}", 0, JSON_E_SYNTAX},
    {"[}", 0, JSON_E_SYNTAX},
    {"{\"a\":1]", 0, JSON_E_SYNTAX},
    {"\"a\":1", 0, JSON_E_SYNTAX},
    {"[\f]", 0, JSON_E_SYNTAX},
    {"[1,\v2]", 0, JSON_E_SYNTAX},
    {"/* c */[]", 0, JSON_E_SYNTAX},
    {"\xef\xbb\xbf[]", 0, JSON_E_SYNTAX},
    {"[abc]", 0, JSON_E_SYNTAX},
    {"[\"\\x\"]", 0, JSON_E_SYNTAX},
    {"[\"\\u12\"]", 0, JSON_E_SYNTAX},
    {"[\"\\u12G4\"]", 0, JSON_E_SYNTAX},
    {"[tru]", 0, JSON_E_LITERAL},
    {"[nul]", 0, JSON_E_LITERAL},
    {"[truex]", 0, JSON_E_LITERAL},
    {"[nulll]", 0, JSON_E_LITERAL},
    {"[fals]", 0, JSON_E_LITERAL},
    {"tru", 0, JSON_E_LITERAL},
    {"[True]", 0, JSON_E_SYNTAX},
    {"[NaN]", 0, JSON_E_SYNTAX},
    {"[Infinity]", 0, JSON_E_SYNTAX},
    {"[-Infinity]", 0, JSON_E_NUMBER},
    {"[01]", 0, JSON_E_NUMBER},
    {"[-01]", 0, JSON_E_NUMBER},
    {"[1.]", 0, JSON_E_NUMBER},
    {"[.1]", 0, JSON_E_SYNTAX},
    {"[1.e1]", 0, JSON_E_NUMBER},
    {"[-]", 0, JSON_E_NUMBER},
    {"[+1]", 0, JSON_E_SYNTAX},
    {"[1e]", 0, JSON_E_NUMBER},
    {"[1e+]", 0, JSON_E_NUMBER},
    {"[0x10]", 0, JSON_E_NUMBER},
    {"[1.5.5]", 0, JSON_E_NUMBER},
    {"[1e1.5]", 0, JSON_E_NUMBER},
    {"[1:2]", 0, JSON_E_NUMBER},
    {"[1\"a\"]", 0, JSON_E_NUMBER},
    {"01", 0, JSON_E_NUMBER},
    {"[\"\\uD800\"]", 0, JSON_E_ESCAPE},
    {"[\"\\uDC00\"]", 0, JSON_E_ESCAPE},
    {"[\"\\uDC00\\uD800\"]", 0, JSON_E_ESCAPE},
    {"[\"\\uDC00\\uDC00\"]", 0, JSON_E_ESCAPE},
    {"[\"\\uD800\\u0041\"]", 0, JSON_E_ESCAPE},
    {"[\"\\uD800\\n\"]", 0, JSON_E_ESCAPE},
    {"[\"\\uD800x\"]", 0, JSON_E_ESCAPE},
    {"[\"\\uD800\\uD800\"]", 0, JSON_E_ESCAPE},
    {"[\"tab\there\"]", 0, JSON_E_CTRL},
    {"[\"line\nbreak\"]", 0, JSON_E_CTRL},
    {"[\"\x1f\"]", 0, JSON_E_CTRL},
    {"{\"\x01\":1}", 0, JSON_E_CTRL},
    {"[\"\xc0\x80\"]", 0, JSON_E_UTF8},
    {"[\"\xc1\xbf\"]", 0, JSON_E_UTF8},
    {"[\"\xe0\x80\xaf\"]", 0, JSON_E_UTF8},
    {"[\"\xed\xa0\x80\"]", 0, JSON_E_UTF8},
    {"[\"\xf4\x90\x80\x80\"]", 0, JSON_E_UTF8},
    {"[\"\xf5\x80\x80\x80\"]", 0, JSON_E_UTF8},
    {"[\"\xff\"]", 0, JSON_E_UTF8},
    {"[\"\x80\"]", 0, JSON_E_UTF8},
    {"[\"\xe2\x82\"]", 0, JSON_E_UTF8},
    {"[\"\xe2\x82x\"]", 0, JSON_E_UTF8},
    {"{\"\xfe\":1}", 0, JSON_E_UTF8},
    {"[1] x", 0, JSON_E_SYNTAX},
    {"[1] [2]", 0, JSON_E_TRAILING},
    {"{}{}", 0, JSON_E_TRAILING},
    {"1 2", 0, JSON_E_TRAILING},
    {"\"a\" \"b\"", 0, JSON_E_TRAILING},
    {"{\"a\":1}:2", 0, JSON_E_SYNTAX},
    {"[1]\0", 4, JSON_E_NUL},
    {"[\"a\0b\"]", 7, JSON_E_NUL},
    {"\0", 1, JSON_E_NUL},
};

static void
t_y_cases(void)
{
	struct json_doc doc;
	size_t i;
	int r;

	for (i = 0; i < sizeof(y_cases) / sizeof(*y_cases); i++) {
		r = parse(&doc, y_cases[i].in);
		if (r != y_cases[i].ntok)
			fprintf(
			    stderr, "y_case %zu: %s\n", i, json_strerror(r));
		check_int(r, y_cases[i].ntok);
		check_int(doc.ntok, y_cases[i].ntok);
		check(r < 0 || tree_ok(&doc));
	}
}

static void
t_n_cases(void)
{
	struct json_doc doc;
	size_t i, n;
	int r;

	for (i = 0; i < sizeof(n_cases) / sizeof(*n_cases); i++) {
		n = n_cases[i].len ? n_cases[i].len : strlen(n_cases[i].in);
		r = parse_n(&doc, n_cases[i].in, n);
		if (r != n_cases[i].err)
			fprintf(stderr, "n_case %zu: got %s\n", i,
			    json_strerror(r));
		check_int(r, n_cases[i].err);
		check_int(doc.ntok, 0);
		check(json_type(&doc, 0) == JSON_NONE);
	}
}

/* Every prefix of a container document is refused; none reads past it. */
static void
t_prefixes(void)
{
	struct json_doc doc;
	size_t i, k, n;
	int r;

	for (i = 0; i < sizeof(y_cases) / sizeof(*y_cases); i++) {
		n = strlen(y_cases[i].in);
		for (k = 0; k < n; k++) {
			r = parse_n(&doc, y_cases[i].in, k);
			if (strchr("[{\"", y_cases[i].in[0]) != NULL)
				check(r < 0);
			check(r < 0 || tree_ok(&doc));
		}
	}
}

static void
t_types_and_slices(void)
{
	struct json_doc doc;
	const char *p;
	size_t len;
	int64_t v;
	bool b;

	check_int(parse(&doc,
	              "{\"s\":\"x\\ny\",\"n\":-12,\"t\":true,"
	              "\"f\":false,\"z\":null,\"a\":[1],\"o\":{}}"),
	    16);
	check_int(json_type(&doc, 0), JSON_OBJECT);
	check_int(json_size(&doc, 0), 7);
	check_int(json_type(&doc, json_obj_get(&doc, 0, "s")), JSON_STRING);
	check_int(json_type(&doc, json_obj_get(&doc, 0, "n")), JSON_NUMBER);
	check_int(json_type(&doc, json_obj_get(&doc, 0, "t")), JSON_TRUE);
	check_int(json_type(&doc, json_obj_get(&doc, 0, "f")), JSON_FALSE);
	check_int(json_type(&doc, json_obj_get(&doc, 0, "z")), JSON_NULL);
	check_int(json_type(&doc, json_obj_get(&doc, 0, "a")), JSON_ARRAY);
	check_int(json_type(&doc, json_obj_get(&doc, 0, "o")), JSON_OBJECT);
	check_int(json_size(&doc, json_obj_get(&doc, 0, "a")), 1);
	check_int(json_size(&doc, json_obj_get(&doc, 0, "s")), 0);
	p = json_slice(&doc, json_obj_get(&doc, 0, "s"), &len);
	check(len == 4 && memcmp(p, "x\\ny", 4) == 0);
	p = json_slice(&doc, json_obj_get(&doc, 0, "a"), &len);
	check(len == 3 && memcmp(p, "[1]", 3) == 0);
	check(json_slice(&doc, -1, &len) == NULL && len == 0);
	check(json_slice(&doc, 16, &len) == NULL);
	check_int(json_type(&doc, 16), JSON_NONE);
	check_int(json_type(&doc, JSON_E_NOKEY), JSON_NONE);
	check_int(json_next(&doc, 0), 16);
	check_int(json_next(&doc, 99), -1);
	check_int(json_int64(&doc, json_obj_get(&doc, 0, "n"), &v), 0);
	check_int(v, -12);
	check_int(
	    json_int64(&doc, json_obj_get(&doc, 0, "s"), &v), JSON_E_TYPE);
	check_int(json_bool(&doc, json_obj_get(&doc, 0, "t"), &b), 0);
	check(b);
	check_int(json_bool(&doc, json_obj_get(&doc, 0, "f"), &b), 0);
	check(!b);
	check_int(json_bool(&doc, json_obj_get(&doc, 0, "z"), &b), JSON_E_TYPE);
	check_int(json_bool(&doc, json_obj_get(&doc, 0, "n"), &b), JSON_E_TYPE);
}

static void
t_obj_get(void)
{
	struct json_doc doc;

	check(parse(&doc,
	          "{\"a\":1,\"b\":{\"a\":2},\"c\":3,\"\\u0063\":4,"
	          "\"ab\":5}") > 0);
	check_int(json_obj_get(&doc, 0, "a"), 2);
	check_int(json_obj_get(&doc, 0, "ab"), json_next(&doc, 0) - 1);
	check_int(json_obj_get(&doc, 0, "c"), JSON_E_DUPKEY);
	check_int(json_obj_get(&doc, 0, "x"), JSON_E_NOKEY);
	check_int(json_obj_get(&doc, 0, ""), JSON_E_NOKEY);
	check_int(json_obj_get(&doc, 2, "a"), JSON_E_TYPE);
	check_int(json_obj_get(&doc, json_obj_get(&doc, 0, "b"), "a"),
	    json_obj_get(&doc, 0, "b") + 2);
	check_int(json_obj_get(&doc, -1, "a"), JSON_E_TYPE);
	check(parse(&doc, "[\"a\",1]") > 0);
	check_int(json_obj_get(&doc, 0, "a"), JSON_E_TYPE);
}

/* getv agrees with get key by key; n at JSON_GETV_MAX and one more. */
static void
t_obj_getv(void)
{
	static const char *const keys[] = {"a", "c", "x", "ab", "", "b"};
	const char *many[JSON_GETV_MAX + 1];
	int val[JSON_GETV_MAX + 1];
	struct json_doc doc;
	unsigned i;

	check(parse(&doc,
	          "{\"a\":1,\"b\":{\"a\":2},\"c\":3,\"\\u0063\":4,"
	          "\"ab\":5}") > 0);
	check_int(json_obj_getv(&doc, 0, keys, 6, val), 0);
	check_int(val[0], 2);
	check_int(val[1], JSON_E_DUPKEY);
	check_int(val[2], JSON_E_NOKEY);
	check_int(val[3], json_next(&doc, 0) - 1);
	check_int(val[4], JSON_E_NOKEY);
	check_int(val[5], 4);
	for (i = 0; i < 6; i++)
		check_int(val[i], json_obj_get(&doc, 0, keys[i]));
	check_int(json_obj_getv(&doc, 4, keys, 6, val), 0); /* "b" */
	check_int(val[0], 6);
	check_int(json_obj_getv(&doc, 2, keys, 2, val), JSON_E_TYPE);
	check_int(val[0], JSON_E_TYPE);
	check_int(val[1], JSON_E_TYPE);
	for (i = 0; i <= JSON_GETV_MAX; i++)
		many[i] = i % 2 ? "ab" : "a";
	check_int(json_obj_getv(&doc, 0, many, JSON_GETV_MAX, val), 0);
	check_int(val[JSON_GETV_MAX - 1], val[3]);
	check_int(
	    json_obj_getv(&doc, 0, many, JSON_GETV_MAX + 1, val), JSON_E_RANGE);
	check_int(val[0], JSON_E_RANGE);
	check_int(val[JSON_GETV_MAX], JSON_E_RANGE);
}

static void
t_iter(void)
{
	struct json_iter it;
	struct json_doc doc;
	int k, v, n = 0;

	check(parse(&doc, "{\"a\":[1,{\"x\":[]}],\"b\":\"s\",\"c\":{}}") > 0);
	check_int(json_iter_init(&it, &doc, 0), 0);
	while (json_iter_next(&it, &k, &v)) {
		check_int(json_type(&doc, k), JSON_STRING);
		check(json_str_eq(&doc, k, n == 0 ? "a" : n == 1 ? "b" : "c"));
		check_int(v, k + 1);
		n++;
	}
	check_int(n, 3);
	check_int(json_iter_init(&it, &doc, 2), 0);
	n = 0;
	while (json_iter_next(&it, &k, &v)) {
		check_int(k, -1);
		check_int(
		    json_type(&doc, v), n == 0 ? JSON_NUMBER : JSON_OBJECT);
		n++;
	}
	check_int(n, 2);
	check_int(json_iter_init(&it, &doc, 1), JSON_E_TYPE);
	check(!json_iter_next(&it, &k, &v));
	check_int(json_iter_init(&it, &doc, 99), JSON_E_TYPE);
	check(!json_iter_next(&it, &k, &v));
}

static void
t_str_eq(void)
{
	struct json_doc doc;

	check(parse(&doc,
	          "[\"abc\",\"a\\u0062c\",\"\\u00e9t\\u00E9\","
	          "\"\\ud83d\\ude00\",\"\",\"a\\u0000\",\"ab\\\"\"]") > 0);
	check(json_str_eq(&doc, 1, "abc"));
	check(!json_str_eq(&doc, 1, "ab"));
	check(!json_str_eq(&doc, 1, "abcd"));
	check(json_str_eq(&doc, 2, "abc"));
	check(!json_str_eq(&doc, 2, "abd"));
	check(!json_str_eq(&doc, 2, "ab"));
	check(!json_str_eq(&doc, 2, "abcd"));
	check(json_str_eq(&doc, 3, "\xc3\xa9t\xc3\xa9"));
	check(json_str_eq(&doc, 4, "\xf0\x9f\x98\x80"));
	check(!json_str_eq(&doc, 4, "\xf0\x9f\x98"));
	check(json_str_eq(&doc, 5, ""));
	check(!json_str_eq(&doc, 5, "x"));
	check(!json_str_eq(&doc, 6, "a")); /* "a\0" is not "a" */
	check(json_str_eq(&doc, 7, "ab\""));
	check(!json_str_eq(&doc, 0, "abc")); /* the array */
	check(!json_str_eq(&doc, 99, ""));
}

static void
t_unescape(void)
{
	struct json_doc doc;
	char buf[16];

	check(parse(&doc,
	          "[\"abc\",\"a\\tb\\u00e9\\ud83d\\ude00\",\"\","
	          "\"a\\u0000b\",1]") > 0);
	/* "abc": 3 bytes + NUL fit in 4, not in 3 */
	check_int(json_str_unescape(&doc, 1, buf, 4), 3);
	check_str(buf, "abc");
	check_int(json_str_unescape(&doc, 1, buf, 3), JSON_E_SPACE);
	check_str(buf, "");
	/* "a\tb" + 2-byte é + 4-byte emoji = 9 bytes */
	check_int(json_str_unescape(&doc, 2, buf, 10), 9);
	check_str(buf, "a\tb\xc3\xa9\xf0\x9f\x98\x80");
	check_int(json_str_unescape(&doc, 2, buf, 9), JSON_E_SPACE);
	check_int(json_str_unescape(&doc, 2, buf, 7), JSON_E_SPACE);
	check_int(json_str_unescape(&doc, 3, buf, 1), 0);
	check_str(buf, "");
	check_int(json_str_unescape(&doc, 3, buf, 0), JSON_E_SPACE);
	check_int(json_str_unescape(&doc, 4, buf, sizeof(buf)), JSON_E_NUL);
	check_int(json_str_unescape(&doc, 5, buf, sizeof(buf)), JSON_E_TYPE);
	check_int(json_str_unescape(&doc, 0, buf, sizeof(buf)), JSON_E_TYPE);
	check_int(json_str_unescape(&doc, -1, buf, sizeof(buf)), JSON_E_TYPE);
}

static void
t_int64(void)
{
	static const struct {
		const char *in;
		int rc;
		int64_t v;
	} c[] = {
	    {"[0]", 0, 0},
	    {"[-0]", 0, 0},
	    {"[410]", 0, 410},
	    {"[9223372036854775807]", 0, INT64_MAX},
	    {"[9223372036854775808]", JSON_E_RANGE, 0},
	    {"[-9223372036854775808]", 0, INT64_MIN},
	    {"[-9223372036854775809]", JSON_E_RANGE, 0},
	    {"[99999999999999999999999]", JSON_E_RANGE, 0},
	    {"[1.0]", JSON_E_RANGE, 0},
	    {"[1e3]", JSON_E_RANGE, 0},
	    {"[\"1\"]", JSON_E_TYPE, 0},
	};
	struct json_doc doc;
	int64_t v;
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(*c); i++) {
		v = -42;
		check_int(parse(&doc, c[i].in), 2);
		check_int(json_int64(&doc, 1, &v), c[i].rc);
		if (c[i].rc == 0)
			check_int(v, c[i].v);
	}
}

/* A document of n tokens fits n tokens and not n - 1. */
static void
t_token_capacity(void)
{
	static const char in[] = "{\"a\":[1,2,{\"b\":null}],\"c\":\"d\"}";
	struct json_tok few[12];
	struct json_doc doc;
	const char *p = guard_copy(in, strlen(in));

	check_int(json_parse(&doc, p, strlen(in), few, 10), 10);
	check(tree_ok(&doc));
	check_int(json_parse(&doc, p, strlen(in), few, 9), JSON_E_NOMEM);
	check_int(doc.ntok, 0);
	check_int(json_parse(&doc, p, strlen(in), NULL, 0), JSON_E_NOMEM);
	check_int(json_parse(&doc, "1", 1, few, 1), 1);
	check_int(json_parse(&doc, "1", 1, few, 0), JSON_E_NOMEM);
	check_int(json_parse(&doc, "1 ", 2, few, 0), JSON_E_NOMEM);
}

/* n nested arrays, or objects {"a":...}, around a 0. */
static size_t
nest(char *buf, unsigned n, bool obj)
{
	size_t o = 0;
	unsigned i;

	for (i = 0; i < n; i++) {
		memcpy(buf + o, obj ? "{\"a\":" : "[", obj ? 5 : 1);
		o += obj ? 5 : 1;
	}
	buf[o++] = '0';
	for (i = 0; i < n; i++)
		buf[o++] = obj ? '}' : ']';
	return o;
}

static void
t_depth(void)
{
	static char buf[(LIM_JSON_DEPTH + 1) * 6 + 1];
	struct json_doc doc;
	size_t n;

	n = nest(buf, LIM_JSON_DEPTH, false);
	check_int(parse_n(&doc, buf, n), LIM_JSON_DEPTH + 1);
	check(tree_ok(&doc));
	n = nest(buf, LIM_JSON_DEPTH + 1, false);
	check_int(parse_n(&doc, buf, n), JSON_E_DEPTH);
	n = nest(buf, LIM_JSON_DEPTH, true);
	check_int(parse_n(&doc, buf, n), 2 * LIM_JSON_DEPTH + 1);
	check(tree_ok(&doc));
	n = nest(buf, LIM_JSON_DEPTH + 1, true);
	check_int(parse_n(&doc, buf, n), JSON_E_DEPTH);
}

/* LIM_JSON_BYTES of blanks around a 0 parse; one byte more does not. */
static void
t_size_limit(void)
{
	size_t n = LIM_JSON_BYTES + 1;
	struct json_doc doc;
	char *big;

	big = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
	check(big != MAP_FAILED);
	if (big == MAP_FAILED)
		return;
	memset(big, ' ', n);
	big[n / 2] = '0';
	check_int(json_parse(&doc, big, n - 1, toks, NTOK), 1);
	check_int(json_parse(&doc, big, n, toks, NTOK), JSON_E_TOOBIG);
	munmap(big, n);
}

static void
t_strerror(void)
{
	int e;

	for (e = -1; e >= JSON_E_LAST; e--)
		check(strcmp(json_strerror(e), "unknown error") != 0);
	check_str(json_strerror(JSON_E_LAST - 1), "unknown error");
	check_str(json_strerror(1), "unknown error");
	check_str(json_strerror(0), "no error");
}

/*
 * json.c scans strings eight bytes at a time: put each kind of byte that
 * ends the plain run at every offset of a word, near and at the end of the
 * input (against the guard page), and check the verdict and the slice.
 */
static void
t_string_offsets(void)
{
	static const struct {
		const char *ins; /* what goes at the offset */
		int want;        /* > 0: tokens; else the error */
		size_t len;      /* the string's raw length after the offset */
	} k[] = {
	    {"", 2, 0},
	    {"\\n", 2, 2},
	    {"\\u00e9", 2, 6},
	    {"\xc3\xa9", 2, 2},
	    {"\xf0\x9f\x98\x80", 2, 4},
	    {"\x7f", 2, 1},
	    {"\x1f", JSON_E_CTRL, 0},
	    {"\t", JSON_E_CTRL, 0},
	    {"\xff", JSON_E_UTF8, 0},
	    {"\xc3(", JSON_E_UTF8, 0},
	    {"\\q", JSON_E_SYNTAX, 0},
	};
	char in[64], tail[20];
	struct json_doc doc;
	const char *p;
	size_t i, off, t, n, len;
	int r;

	for (i = 0; i < sizeof(k) / sizeof(*k); i++) {
		for (off = 0; off < 19; off++) {
			for (t = 0; t < 12;
			     t += 11) { /* plain bytes after it */
				memset(tail, 'z', t);
				tail[t] = '\0';
				n = (size_t)snprintf(in, sizeof(in),
				    "[\"%.*s%s%s\"]", (int)off,
				    "abcdefghijklmnopqrs", k[i].ins, tail);
				r = parse_n(&doc, in, n);
				check_int(r, k[i].want);
				if (r != 2)
					continue;
				p = json_slice(&doc, 1, &len);
				check(p == doc.buf + 2);
				check_int(len, off + k[i].len + t);
			}
		}
	}
}

int
main(void)
{
	test(t_y_cases, "y_ cases parse");
	test(t_n_cases, "n_ cases are refused with their error");
	test(t_prefixes, "every prefix refused, no over-read");
	test(t_string_offsets, "string bytes at every offset of a word");
	test(t_types_and_slices, "types, slices, accessors");
	test(t_obj_get, "obj_get: decoded keys, duplicates, absent");
	test(t_obj_getv, "obj_getv: one pass, as obj_get; n at N and N+1");
	test(t_iter, "iteration over objects and arrays");
	test(t_str_eq, "str_eq without copying");
	test(t_unescape, "unescape: utf-8, limits at N and N+1");
	test(t_int64, "int64 bounds");
	test(t_token_capacity, "token capacity at N and N-1");
	test(t_depth, "depth limit at N and N+1");
	test(t_size_limit, "document size limit at N and N+1");
	test(t_strerror, "every error has a name");
	return harness_done();
}
