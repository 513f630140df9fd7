/*
 * Invariants every token-answer harness checks (aadtok, imdsc_decode,
 * oauth): what agent/oauth.c promises of a decoded token, whichever
 * client decoded it.  Static functions: each harness is its own program.
 */
#ifndef PODID_FUZZ_OAUTH_CHECK_H
#define PODID_FUZZ_OAUTH_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "agent/tokcache.h"
#include "fuzz/fuzz.h"

/* What an "error" code and a correlation id may hold. */
#define FUZZ_CODE_CHARS                                                        \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"

static inline bool
fuzz_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

/* A NUL-terminated field of its array, without control characters. */
static inline void
fuzz_field(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap), i;

	fuzz_assert(n < cap);
	for (i = 0; i < n; i++)
		fuzz_assert((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
}

/* The access token: 1..LIM_TOK_TOKEN_BYTES of 0x21-0x7e but '"', '\'. */
static inline void
fuzz_access_ok(const struct tok_token *t)
{
	size_t i;

	fuzz_assert(t->access_len >= 1 && t->access_len <= LIM_TOK_TOKEN_BYTES);
	fuzz_assert(strlen(t->access_token) == t->access_len);
	for (i = 0; i < t->access_len; i++)
		fuzz_assert(t->access_token[i] > 0x20 &&
		    t->access_token[i] < 0x7f && t->access_token[i] != '"' &&
		    t->access_token[i] != '\\');
}

/* A whole decoded token: access token, token_type, times from now. */
static inline void
fuzz_token_common(const struct tok_token *t, int64_t now)
{
	fuzz_access_ok(t);
	fuzz_field(t->token_type, sizeof(t->token_type));
	fuzz_assert(t->token_type[0] != '\0');
	fuzz_assert(t->expires_on >= 0 && t->not_before >= 0);
	fuzz_assert(t->issued_at == now);
}

#endif
