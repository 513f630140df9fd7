/*
 * agent/oauth.c: the shared token-answer decoding on vectors: parsing
 * (objects only, the token count at N and N+1, every prefix refused),
 * string members (absent, mistyped, duplicated, escaped NUL, the field
 * size at N and N+1, control characters), times (numbers and digit
 * strings, LIM_OAUTH_TIME_DIGITS at N and N+1, escapes, overflow), the
 * access token (LIM_TOK_TOKEN_BYTES at N and N+1, its characters), which
 * expiry wins, the extra checked time, the order of errors, error codes;
 * every input ends right before a PROT_NONE page.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/limits.h"
#include "agent/oauth.h"
#include "tests/guard.h"
#include "tests/harness.h"

#define NOW   1700000000
#define NTOKS 64u

static struct json_tok toks[NTOKS];
static struct json_doc doc;
static struct tok_token tok;
static char big[2 * LIM_TOK_TOKEN_BYTES];

/* Parses s (guarded) with ntoks tokens into doc. */
static int
parse_n(const char *s, unsigned ntoks)
{
	return oauth_parse(
	    &doc, guard_copy(s, strlen(s)), strlen(s), toks, ntoks);
}

static int
parse(const char *s)
{
	return parse_n(s, NTOKS);
}

/* {"<key>":"<n times c>"} into big. */
static const char *
fill(const char *key, char c, size_t n)
{
	size_t k = (size_t)snprintf(big, sizeof(big), "{\"%s\":\"", key);

	memset(big + k, c, n);
	memcpy(big + k + n, "\"}", 3);
	return big;
}

/* Decodes s as an answer, expiry by how; 0 or the first error. */
static int
answer(const char *s, const struct oauth_times *how)
{
	int rc;

	memset(&tok, 0, sizeof(tok));
	if ((rc = parse(s)) != 0 || (rc = oauth_access_token(&doc, &tok)) != 0)
		return rc;
	return oauth_times(&doc, NOW, how, &tok);
}

static void
t_parse(void)
{
	static const char ok[] = "{\"a\":1,\"b\":\"x\"}"; /* 5 tokens */
	size_t i;

	check_int(parse(ok), 0);
	check_int(parse("[1]"), OAUTH_E_JSON);
	check_int(parse("\"x\""), OAUTH_E_JSON);
	check_int(parse("{\"a\":}"), OAUTH_E_JSON);
	check_int(parse(""), OAUTH_E_JSON);
	check_int(parse_n(ok, 5), 0);
	check_int(parse_n(ok, 4), OAUTH_E_MEMBERS);
	/* Every prefix refused, whatever its length: never a half answer. */
	for (i = 0; i < sizeof(ok) - 1; i++)
		check(oauth_parse(&doc, guard_copy(ok, i), i, toks, NTOKS) < 0);
	/* Byte by byte from the front: each tail of the body is parsed
	 * alone against the guard page, and only the whole one is taken. */
	for (i = 1; i < sizeof(ok) - 1; i++)
		check(parse(ok + i) < 0);
}

static void
t_str(void)
{
	char dst[8] = "keep";
	size_t n = 99;

	check_int(
	    parse("{\"a\":\"x\\u0041y\",\"n\":1,\"o\":{\"b\":\"c\"}}"), 0);
	check_int(oauth_str(&doc, "b", dst, sizeof(dst), &n), 1);
	check_str(dst, "keep"); /* nested members are not the answer's */
	check_int(n, 99);
	check_int(oauth_str(&doc, "n", dst, sizeof(dst), &n), OAUTH_E_TYPE);
	check_int(oauth_str(&doc, "a", dst, sizeof(dst), &n), 0);
	check_str(dst, "xAy");
	check_int(n, 3);
	check_int(oauth_member(&doc, "a", JSON_STRING) > 0, 1);
	check_int(oauth_member(&doc, "a", JSON_NUMBER), OAUTH_E_TYPE);
	check_int(oauth_member(&doc, "zz", JSON_NONE), 0);
	check_int(parse("{\"a\":\"x\",\"a\":\"y\"}"), 0);
	check_int(oauth_str(&doc, "a", dst, sizeof(dst), &n), OAUTH_E_DUP);
	check_int(parse("{\"a\":\"x\\u0000y\"}"), 0);
	check_int(oauth_str(&doc, "a", dst, sizeof(dst), &n), OAUTH_E_VALUE);
	/* The field size: 7 characters and the NUL fit 8, 8 do not. */
	check_int(parse(fill("a", 'z', 7)), 0);
	check_int(oauth_str(&doc, "a", dst, sizeof(dst), &n), 0);
	check_int(n, 7);
	check_int(parse(fill("a", 'z', 8)), 0);
	check_int(oauth_str(&doc, "a", dst, sizeof(dst), &n), OAUTH_E_TOOLONG);
}

static void
t_opt_str(void)
{
	char dst[16] = "keep";

	check_int(parse("{\"e\":\"\",\"c\":\"a\\tb\",\"d\":\"a\\u007fb\","
	                "\"v\":\"fine value\"}"),
	    0);
	check_int(oauth_opt_str(&doc, "x", dst, sizeof(dst), true), 0);
	check_str(dst, "keep");
	check_int(oauth_opt_str(&doc, "e", dst, sizeof(dst), false), 0);
	check_str(dst, "");
	check_int(
	    oauth_opt_str(&doc, "e", dst, sizeof(dst), true), OAUTH_E_VALUE);
	check_int(
	    oauth_opt_str(&doc, "c", dst, sizeof(dst), false), OAUTH_E_VALUE);
	check_int(
	    oauth_opt_str(&doc, "d", dst, sizeof(dst), false), OAUTH_E_VALUE);
	check_int(oauth_opt_str(&doc, "v", dst, sizeof(dst), true), 0);
	check_str(dst, "fine value");
	check(oauth_no_controls("a b~", 4));
	check(!oauth_no_controls("a\nb", 3));
	check(!oauth_no_controls("\x7f", 1));
	check(oauth_no_controls("\xc3\xa9", 2)); /* UTF-8 is no control */
}

static void
t_time(void)
{
	int64_t x = -5;

	check_int(parse("{\"n\":3600,\"s\":\"3599\",\"z\":0,\"neg\":-1,"
	                "\"f\":1.5,\"e\":\"\",\"h\":\"12a\",\"u\":\"\\u0031\","
	                "\"b\":true,\"sp\":\" 1\"}"),
	    0);
	check_int(oauth_time(&doc, "absent", &x), 1);
	check_int(x, -5);
	check_int(oauth_time(&doc, "n", &x), 0);
	check_int(x, 3600);
	check_int(oauth_time(&doc, "s", &x), 0);
	check_int(x, 3599);
	check_int(oauth_time(&doc, "z", &x), 0);
	check_int(x, 0);
	check_int(oauth_time(&doc, "neg", &x), OAUTH_E_NUMBER);
	check_int(oauth_time(&doc, "f", &x), OAUTH_E_NUMBER);
	check_int(oauth_time(&doc, "e", &x), OAUTH_E_NUMBER);
	check_int(oauth_time(&doc, "h", &x), OAUTH_E_NUMBER);
	check_int(oauth_time(&doc, "u", &x), OAUTH_E_NUMBER);
	check_int(oauth_time(&doc, "sp", &x), OAUTH_E_NUMBER);
	check_int(oauth_time(&doc, "b", &x), OAUTH_E_TYPE);
	/* LIM_OAUTH_TIME_DIGITS digits at N and N+1. */
	check_int(parse(fill("t", '9', LIM_OAUTH_TIME_DIGITS)), 0);
	check_int(oauth_time(&doc, "t", &x), 0);
	check_int(x, 999999999999999999LL);
	check_int(parse(fill("t", '1', LIM_OAUTH_TIME_DIGITS + 1)), 0);
	check_int(oauth_time(&doc, "t", &x), OAUTH_E_NUMBER);
	check_int(parse("{\"t\":1,\"t\":2}"), 0);
	check_int(oauth_time(&doc, "t", &x), OAUTH_E_DUP);
}

/* {"access_token":"<n x c>","expires_in":1} */
static const char *
token_body(char c, size_t n)
{
	static const char head[] = "{\"access_token\":\"";
	size_t k = sizeof(head) - 1;

	memcpy(big, head, k);
	memset(big + k, c, n);
	memcpy(big + k + n, "\",\"expires_in\":1}", 18);
	return big;
}

static void
t_access_token(void)
{
	static const struct oauth_times on = {OAUTH_EXPIRES_ON_WINS, NULL};

	check_int(
	    answer("{\"access_token\":\"eyJ0.a-b_c~\",\"expires_in\":1}", &on),
	    0);
	check_str(tok.access_token, "eyJ0.a-b_c~");
	check_int(tok.access_len, 11);
	check_int(answer(token_body('A', LIM_TOK_TOKEN_BYTES), &on), 0);
	check_int(tok.access_len, LIM_TOK_TOKEN_BYTES);
	check_int(answer(token_body('A', LIM_TOK_TOKEN_BYTES + 1), &on),
	    OAUTH_E_TOOLONG);
	check_int(answer("{\"expires_in\":1}", &on), OAUTH_E_NOTOKEN);
	check_int(answer("{\"access_token\":\"\",\"expires_in\":1}", &on),
	    OAUTH_E_VALUE);
	check_int(answer("{\"access_token\":\"a b\",\"expires_in\":1}", &on),
	    OAUTH_E_VALUE);
	check_int(answer("{\"access_token\":\"a\\\"b\",\"expires_in\":1}", &on),
	    OAUTH_E_VALUE);
	check_int(answer("{\"access_token\":\"a\\\\b\",\"expires_in\":1}", &on),
	    OAUTH_E_VALUE);
	check_int(
	    answer("{\"access_token\":\"\\u00e9\",\"expires_in\":1}", &on),
	    OAUTH_E_VALUE);
	check_int(
	    answer("{\"access_token\":7,\"expires_in\":1}", &on), OAUTH_E_TYPE);
}

static void
t_times(void)
{
	static const struct oauth_times on = {OAUTH_EXPIRES_ON_WINS, NULL};
	static const struct oauth_times in = {OAUTH_EXPIRES_IN_WINS, NULL};
	static const struct oauth_times ext = {
	    OAUTH_EXPIRES_IN_WINS, "ext_expires_in"};
	static const char both[] = "{\"access_token\":\"t\",\"expires_on\":"
	                           "\"1700009999\",\"expires_in\":3600}";

	check_int(answer(both, &on), 0);
	check_int(tok.expires_on, 1700009999);
	check_int(tok.not_before, NOW);
	check_int(tok.issued_at, NOW);
	check_int(answer(both, &in), 0);
	check_int(tok.expires_on, NOW + 3600);
	check_int(answer("{\"access_token\":\"t\",\"expires_in\":60}", &on), 0);
	check_int(tok.expires_on, NOW + 60);
	check_int(answer("{\"access_token\":\"t\",\"expires_on\":5}", &in), 0);
	check_int(tok.expires_on, 5);
	check_int(answer("{\"access_token\":\"t\",\"expires_on\":5,"
	                 "\"not_before\":\"4\"}",
	              &on),
	    0);
	check_int(tok.not_before, 4);
	check_int(answer("{\"access_token\":\"t\"}", &on), OAUTH_E_NOEXPIRY);
	check_int(answer("{\"access_token\":\"t\",\"expires_in\":"
	                 "9223372036854775807}",
	              &on),
	    OAUTH_E_NUMBER);
	/* The extra member is checked only when named. */
	check_int(answer("{\"access_token\":\"t\",\"expires_in\":1,"
	                 "\"ext_expires_in\":\"x\"}",
	              &in),
	    0);
	check_int(answer("{\"access_token\":\"t\",\"expires_in\":1,"
	                 "\"ext_expires_in\":\"x\"}",
	              &ext),
	    OAUTH_E_NUMBER);
	check_int(answer("{\"access_token\":\"t\",\"expires_in\":1,"
	                 "\"ext_expires_in\":7200}",
	              &ext),
	    0);
	check_int(tok.expires_on, NOW + 1);
	/* The first bad time is the error, in the documented order. */
	check_int(answer("{\"access_token\":\"t\",\"expires_on\":true,"
	                 "\"not_before\":-1}",
	              &on),
	    OAUTH_E_TYPE);
	check_int(answer("{\"access_token\":\"t\",\"expires_in\":1,"
	                 "\"ext_expires_in\":true,\"not_before\":-1}",
	              &ext),
	    OAUTH_E_TYPE);
	check_int(answer("{\"access_token\":\"t\",\"not_before\":true}", &on),
	    OAUTH_E_TYPE);
}

static void
t_error_code(void)
{
	char e[8];

	check_int(parse("{\"error\":\"invalid_request\"}"), 0);
	check_int(oauth_error_code(&doc, big, 64), 0);
	check_str(big, "invalid_request");
	check_int(parse("{\"error_description\":\"x\"}"), 0);
	check_int(oauth_error_code(&doc, e, sizeof(e)), OAUTH_E_NOERROR);
	check_int(parse("{\"error\":\"\"}"), 0);
	check_int(oauth_error_code(&doc, e, sizeof(e)), OAUTH_E_VALUE);
	check_int(parse("{\"error\":\"a b\"}"), 0);
	check_int(oauth_error_code(&doc, e, sizeof(e)), OAUTH_E_VALUE);
	check_int(parse("{\"error\":\"a/b\"}"), 0);
	check_int(oauth_error_code(&doc, e, sizeof(e)), OAUTH_E_VALUE);
	check_int(parse("{\"error\":[\"a\"]}"), 0);
	check_int(oauth_error_code(&doc, e, sizeof(e)), OAUTH_E_TYPE);
	check_int(parse(fill("error", 'x', sizeof(e) - 1)), 0);
	check_int(oauth_error_code(&doc, e, sizeof(e)), 0);
	check_int(parse(fill("error", 'x', sizeof(e))), 0);
	check_int(oauth_error_code(&doc, e, sizeof(e)), OAUTH_E_TOOLONG);
}

static void
t_strerror(void)
{
	int e;

	for (e = OAUTH_E_LAST; e < 0; e++)
		check(strcmp(oauth_strerror(e), "unknown oauth error") != 0);
	check_str(oauth_strerror(OAUTH_E_NOTOKEN), "no access_token");
	check_str(oauth_strerror(0), "unknown oauth error");
	check_str(oauth_strerror(OAUTH_E_LAST - 1), "unknown oauth error");
}

int
main(void)
{
	test(t_parse, "objects only, token count at N and N+1, prefixes");
	test(t_str, "string members: types, dups, escapes, size at N, N+1");
	test(t_opt_str, "optional strings: empty, control characters");
	test(t_time, "times: numbers, digits at N and N+1, refusals");
	test(t_access_token, "access_token: size at N and N+1, characters");
	test(t_times, "which expiry wins, the extra time, error order");
	test(t_error_code, "error codes: required, characters, size");
	test(t_strerror, "error names");
	return harness_done();
}
