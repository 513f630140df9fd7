/*
 * The token-answer decoding both upstream clients share (see oauth.h).
 * Every member is looked up in the top object only: a nested "error" or
 * "access_token" is never taken for the answer's own.
 */
#include <string.h>

#include "agent/limits.h"
#include "agent/oauth.h"

#define OAUTH_CODE_CHARS                                                       \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"

/* json.h's errors in the callers' terms. */
static int
oauth_json_err(int rc)
{
	switch (rc) {
	case JSON_E_DUPKEY:
		return OAUTH_E_DUP;
	case JSON_E_TYPE:
		return OAUTH_E_TYPE;
	case JSON_E_SPACE:
		return OAUTH_E_TOOLONG;
	case JSON_E_NUL:
		return OAUTH_E_VALUE;
	case JSON_E_NOMEM:
		return OAUTH_E_MEMBERS;
	default:
		return OAUTH_E_JSON;
	}
}

int
oauth_parse(struct json_doc *doc, const char *body, size_t len,
    struct json_tok *toks, unsigned ntoks)
{
	int rc = json_parse(doc, body, len, toks, ntoks);

	if (rc < 0)
		return oauth_json_err(rc);
	return json_type(doc, 0) == JSON_OBJECT ? 0 : OAUTH_E_JSON;
}

int
oauth_member(const struct json_doc *doc, const char *key, enum json_type type)
{
	int v = json_obj_get(doc, 0, key);

	if (v == JSON_E_NOKEY)
		return 0;
	if (v < 0)
		return oauth_json_err(v);
	if (type != JSON_NONE && json_type(doc, v) != type)
		return OAUTH_E_TYPE;
	return v;
}

int
oauth_str(const struct json_doc *doc, const char *key, char *dst, size_t dstlen,
    size_t *len)
{
	int v = oauth_member(doc, key, JSON_STRING), n;

	if (v <= 0)
		return v == 0 ? 1 : v;
	if ((n = json_str_unescape(doc, v, dst, dstlen)) < 0)
		return oauth_json_err(n);
	*len = (size_t)n;
	return 0;
}

bool
oauth_no_controls(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

int
oauth_opt_str(const struct json_doc *doc, const char *key, char *dst,
    size_t dstlen, bool nonempty)
{
	size_t n = 0;
	int rc = oauth_str(doc, key, dst, dstlen, &n);

	if (rc != 0)
		return rc < 0 ? rc : 0;
	if ((nonempty && n == 0) || !oauth_no_controls(dst, n))
		return OAUTH_E_VALUE;
	return 0;
}

int
oauth_time(const struct json_doc *doc, const char *key, int64_t *out)
{
	int v = oauth_member(doc, key, JSON_NONE);
	const char *p;
	size_t n, i;
	int64_t x = 0;

	if (v <= 0)
		return v == 0 ? 1 : v;
	if (json_type(doc, v) == JSON_NUMBER) {
		if (json_int64(doc, v, &x) != 0 || x < 0)
			return OAUTH_E_NUMBER;
		*out = x;
		return 0;
	}
	if (json_type(doc, v) != JSON_STRING)
		return OAUTH_E_TYPE;
	/* Raw bytes: an escape is not a digit, so it is refused here. */
	p = json_slice(doc, v, &n);
	if (n == 0 || n > LIM_OAUTH_TIME_DIGITS)
		return OAUTH_E_NUMBER;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return OAUTH_E_NUMBER;
		x = x * 10 + (p[i] - '0');
	}
	*out = x;
	return 0;
}

/* A token goes into JSON and headers as is: visible ASCII, no " or \. */
static bool
oauth_token_chars(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
			return false;
	return true;
}

int
oauth_access_token(const struct json_doc *doc, struct tok_token *out)
{
	size_t n = 0;
	int rc;

	rc = oauth_str(doc, "access_token", out->access_token,
	    sizeof(out->access_token), &n);
	if (rc != 0)
		return rc < 0 ? rc : OAUTH_E_NOTOKEN;
	if (n == 0 || !oauth_token_chars(out->access_token, n))
		return OAUTH_E_VALUE;
	out->access_len = n;
	return 0;
}

int
oauth_times(const struct json_doc *doc, int64_t now,
    const struct oauth_times *how, struct tok_token *out)
{
	int64_t on = 0, in = 0, also = 0, nb = now;
	int ron, rin, rc;

	if ((ron = oauth_time(doc, "expires_on", &on)) < 0)
		return ron;
	if ((rin = oauth_time(doc, "expires_in", &in)) < 0)
		return rin;
	if (how->also_checked != NULL &&
	    (rc = oauth_time(doc, how->also_checked, &also)) < 0)
		return rc;
	if ((rc = oauth_time(doc, "not_before", &nb)) < 0)
		return rc;
	if (ron == 1 && rin == 1)
		return OAUTH_E_NOEXPIRY;
	/* expires_in counts when it alone is there, or when it wins. */
	if (ron == 1 || (rin == 0 && how->wins == OAUTH_EXPIRES_IN_WINS)) {
		if (now < 0 || in > INT64_MAX - now)
			return OAUTH_E_NUMBER;
		on = now + in;
	}
	out->expires_on = on;
	out->not_before = nb;
	out->issued_at = now;
	return 0;
}

int
oauth_error_code(const struct json_doc *doc, char *dst, size_t dstlen)
{
	size_t n = 0;
	int rc = oauth_str(doc, "error", dst, dstlen, &n);

	if (rc != 0)
		return rc < 0 ? rc : OAUTH_E_NOERROR;
	if (n == 0 || strspn(dst, OAUTH_CODE_CHARS) != n)
		return OAUTH_E_VALUE;
	return 0;
}

static const char *const oauth_err_names[] = {
    [1] = "not a JSON object",
    [2] = "too many JSON members",
    [3] = "duplicate member",
    [4] = "member of the wrong type",
    [5] = "string too long",
    [6] = "bad or empty string",
    [7] = "bad time",
    [8] = "no access_token",
    [9] = "no expires_on or expires_in",
    [10] = "no error member",
};

const char *
oauth_strerror(int err)
{
	if (err >= OAUTH_E_LAST && err < 0)
		return oauth_err_names[-err];
	return "unknown oauth error";
}
