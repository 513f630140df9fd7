/*
 * oauth: the OAuth2 token-answer decoding the two upstream clients share,
 * agent/imdsc.c (IMDS, managed identities) and agent/aad.c (Azure AD,
 * service principals).  Both get the same JSON shape back: access_token,
 * token_type, resource, and times as integer numbers or strings of digits
 * (expires_on, expires_in, not_before), or an error body with an "error"
 * code.  What the two do differently on purpose (which expiry wins, which
 * members are kept, how an error description is cut, their limits) stays
 * in the callers as parameters; these are the building blocks.
 *
 * Every function is pure: no syscalls, no allocation, no globals.  doc is
 * a json_doc made by oauth_parse over the caller's body and tokens.
 */
#ifndef AGENT_OAUTH_H
#define AGENT_OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/json.h"
#include "agent/tokcache.h"

/*
 * Errors; oauth_strerror() names them.  aad_err and imdsc_err use the
 * same numbers for the same meanings, so the callers pass them through.
 */
enum oauth_err {
	OAUTH_E_JSON = -1,     /* not a JSON object, or malformed JSON */
	OAUTH_E_MEMBERS = -2,  /* more JSON tokens than the caller gave */
	OAUTH_E_DUP = -3,      /* a known member appears twice */
	OAUTH_E_TYPE = -4,     /* a known member has the wrong JSON type */
	OAUTH_E_TOOLONG = -5,  /* a string does not fit its field */
	OAUTH_E_VALUE = -6,    /* empty, or a character a field cannot hold */
	OAUTH_E_NUMBER = -7,   /* a time is not a non-negative integer */
	OAUTH_E_NOTOKEN = -8,  /* no access_token */
	OAUTH_E_NOEXPIRY = -9, /* neither expires_on nor expires_in */
	OAUTH_E_NOERROR = -10, /* an error body without "error" */
};
#define OAUTH_E_LAST OAUTH_E_NOERROR

/* Which expiry counts when an answer has both expires_on and expires_in. */
enum oauth_expiry {
	OAUTH_EXPIRES_ON_WINS, /* the server's clock (IMDS) */
	OAUTH_EXPIRES_IN_WINS  /* ours: now + expires_in (Azure AD) */
};

/* How oauth_times reads the times of an answer. */
struct oauth_times {
	enum oauth_expiry wins;
	/* One more time member checked when present (same rules), its value
	 * unused, after expires_in: Azure AD's "ext_expires_in"; or NULL. */
	const char *also_checked;
};

/*
 * Parses body (len bytes, need not be NUL-terminated) into doc, using
 * toks[0..ntoks); doc points into both, which must outlive it.  Returns 0,
 * OAUTH_E_MEMBERS when ntoks is too few, or OAUTH_E_JSON (malformed, or
 * the top-level value is not an object).
 */
int oauth_parse(struct json_doc *doc, const char *body, size_t len,
    struct json_tok *toks, unsigned ntoks);

/*
 * The token of member key of the top object: > 0, 0 when absent, or a
 * negative enum oauth_err (OAUTH_E_DUP; OAUTH_E_TYPE when type is not
 * JSON_NONE and the member has another type).
 */
int oauth_member(
    const struct json_doc *doc, const char *key, enum json_type type);

/*
 * Copies string member key, unescaped and NUL-terminated, into dst
 * (dstlen bytes), its length into *len.  Returns 0, 1 when absent (dst
 * untouched), or OAUTH_E_TYPE, _DUP, _TOOLONG, _VALUE (an escaped NUL).
 */
int oauth_str(const struct json_doc *doc, const char *key, char *dst,
    size_t dstlen, size_t *len);

/*
 * An optional string member (oauth_str) that must hold no control
 * character (< 0x20, 0x7f) and, when nonempty, not be "".  Returns 0
 * (dst untouched when absent) or a negative enum oauth_err.
 */
int oauth_opt_str(const struct json_doc *doc, const char *key, char *dst,
    size_t dstlen, bool nonempty);

/*
 * A time member: an integer number or a string of 1..LIM_OAUTH_TIME_DIGITS
 * digits (no escapes), >= 0, into *out.  Returns 0, 1 when absent (*out
 * untouched), OAUTH_E_NUMBER, OAUTH_E_TYPE or OAUTH_E_DUP.
 */
int oauth_time(const struct json_doc *doc, const char *key, int64_t *out);

/*
 * access_token into out->access_token and out->access_len: required
 * (OAUTH_E_NOTOKEN), 1..LIM_TOK_TOKEN_BYTES characters of 0x21-0x7e but
 * '"' and '\' (OAUTH_E_VALUE), as it goes into JSON and headers as is.
 * Returns 0 or a negative enum oauth_err.
 */
int oauth_access_token(const struct json_doc *doc, struct tok_token *out);

/*
 * Reads expires_on, expires_in, how->also_checked and not_before (in that
 * order; the first bad one is the error), then sets out->expires_on (the
 * one how->wins picks, the other when it alone is there; expires_in
 * counts from now), out->not_before (default now) and out->issued_at =
 * now.  Returns 0, OAUTH_E_NOEXPIRY, OAUTH_E_NUMBER (also on overflow).
 */
int oauth_times(const struct json_doc *doc, int64_t now,
    const struct oauth_times *how, struct tok_token *out);

/*
 * The "error" member of an error body into dst (dstlen bytes): required
 * (OAUTH_E_NOERROR), 1 or more of [A-Za-z0-9_.-] (OAUTH_E_VALUE), fitting
 * dst (OAUTH_E_TOOLONG).  Returns 0 or a negative enum oauth_err.
 */
int oauth_error_code(const struct json_doc *doc, char *dst, size_t dstlen);

/* True when s[0..n) holds no control character (< 0x20, 0x7f). */
bool oauth_no_controls(const char *s, size_t n);

/* Static name of an oauth_err ("unknown oauth error" for others). */
const char *oauth_strerror(int err);

#endif
