/*
 * agent/oauth.c: the shared token-answer decoding on arbitrary bytes.
 * Invariants: every result is 0, 1 (absent, where allowed) or a named
 * error; oauth_parse accepts only an object; a decoded access token and
 * times hold what fuzz_token_common checks, under both expiry rules, and
 * the two rules differ only in expires_on, as documented (expires_in wins:
 * now + expires_in, which alone may overflow; expires_on wins: the
 * server's, when present); an extra
 * checked time only ever adds refusals; an "error" code is of
 * [A-Za-z0-9_.-]; optional strings hold no control characters.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/limits.h"
#include "agent/oauth.h"
#include "fuzz/fuzz.h"
#include "fuzz/oauth_check.h"

#define FUZZ_NOW   1700000000
#define FUZZ_NTOKS 64u

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct json_tok toks[FUZZ_NTOKS];
static struct tok_token on, in, ext;

static void
fuzz_rc(int rc)
{
	fuzz_assert(rc <= 1 && rc >= OAUTH_E_LAST);
	fuzz_assert(
	    rc >= 0 || strcmp(oauth_strerror(rc), "unknown oauth error") != 0);
}

/* The token under one expiry rule; its result. */
static int
fuzz_token(const struct json_doc *doc, const struct oauth_times *how,
    struct tok_token *t)
{
	int rc;

	memset(t, 0, sizeof(*t));
	if ((rc = oauth_access_token(doc, t)) == 0)
		rc = oauth_times(doc, FUZZ_NOW, how, t);
	fuzz_rc(rc);
	fuzz_assert(rc <= 0);
	if (rc == 0) {
		memcpy(t->token_type, "Bearer", 7);
		fuzz_token_common(t, FUZZ_NOW);
	}
	return rc;
}

static void
fuzz_rules(const struct json_doc *doc)
{
	static const struct oauth_times r_on = {OAUTH_EXPIRES_ON_WINS, NULL};
	static const struct oauth_times r_in = {OAUTH_EXPIRES_IN_WINS, NULL};
	static const struct oauth_times r_ext = {
	    OAUTH_EXPIRES_IN_WINS, "ext_expires_in"};
	int a = fuzz_token(doc, &r_on, &on), b = fuzz_token(doc, &r_in, &in);
	int c = fuzz_token(doc, &r_ext, &ext);
	int64_t x = -1, y = -1;

	/* Only our clock can overflow: now + a huge expires_in. */
	fuzz_assert(a == b || (a == 0 && b == OAUTH_E_NUMBER));
	fuzz_assert(c == 0 ? b == 0
	                   : (b != 0 || c == OAUTH_E_NUMBER ||
	                         c == OAUTH_E_TYPE || c == OAUTH_E_DUP));
	if (a != 0 || b != 0)
		return;
	fuzz_assert(on.not_before == in.not_before &&
	    strcmp(on.access_token, in.access_token) == 0);
	if (oauth_time(doc, "expires_in", &x) == 0)
		fuzz_assert(in.expires_on == FUZZ_NOW + x);
	if (oauth_time(doc, "expires_on", &y) == 0)
		fuzz_assert(on.expires_on == y);
	if (c == 0)
		fuzz_assert(memcmp(&ext, &in, sizeof(in)) == 0);
}

static void
fuzz_strings(const struct json_doc *doc)
{
	char s[LIM_TOK_RESOURCE_BYTES + 1];
	int rc;

	rc = oauth_error_code(doc, s, sizeof(s));
	fuzz_rc(rc);
	if (rc == 0)
		fuzz_assert(
		    strlen(s) >= 1 && strspn(s, FUZZ_CODE_CHARS) == strlen(s));
	s[0] = '\0';
	rc = oauth_opt_str(doc, "resource", s, sizeof(s), true);
	fuzz_rc(rc);
	fuzz_assert(rc <= 0);
	if (rc == 0)
		fuzz_field(s, sizeof(s));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_doc doc;
	char *buf;
	int rc;

	/* An exact-size copy, so an over-read hits the sanitizer. */
	if ((buf = malloc(size ? size : 1)) == NULL)
		abort();
	memcpy(buf, data, size);
	rc = oauth_parse(&doc, buf, size, toks, FUZZ_NTOKS);
	fuzz_rc(rc);
	fuzz_assert(rc <= 0);
	if (rc == 0) {
		fuzz_assert(json_type(&doc, 0) == JSON_OBJECT);
		fuzz_rules(&doc);
		fuzz_strings(&doc);
	}
	free(buf);
	return 0;
}
