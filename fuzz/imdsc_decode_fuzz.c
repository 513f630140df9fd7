/*
 * agent/imdsc.c: imdsc_decode and imdsc_decode_error on arbitrary bytes.
 * Invariants: the result is 0 or a named error; a refused body leaves the
 * token all zero (wiped); an accepted one has a token of 1..LIM bytes of
 * the allowed characters, NUL-terminated fields without control
 * characters, a non-empty token_type, times >= 0, issued_at = now; the
 * decode is deterministic; and the token written back as JSON (times as
 * numbers, strings escaped) decodes to the same fields.  An accepted
 * error body has an error code of [A-Za-z0-9_.-] and a description
 * without control characters; a refused one is zeroed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/imdsc.h"
#include "agent/log.h"
#include "fuzz/fuzz.h"
#include "fuzz/oauth_check.h"

#define FUZZ_NOW 1700000000

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct tok_token tok, again;
static struct imdsc_error eb;
static char json[LIM_TOK_TOKEN_BYTES + 8 * LIM_TOK_RESOURCE_BYTES];

static void
fuzz_token_ok(const struct tok_token *t)
{
	fuzz_token_common(t, FUZZ_NOW);
	/* IMDS's echoes are kept, without control characters. */
	fuzz_field(t->resource, sizeof(t->resource));
	fuzz_field(t->client_id, sizeof(t->client_id));
}

/* Writes t back as an IMDS body and decodes it: the same token. */
static void
fuzz_round_trip(const struct tok_token *t)
{
	char r[6 * LIM_TOK_RESOURCE_BYTES + 1], c[6 * 40 + 1], y[6 * 16 + 1];
	int n;

	log_json_escape(r, sizeof(r), t->resource, strlen(t->resource));
	log_json_escape(c, sizeof(c), t->client_id, strlen(t->client_id));
	log_json_escape(y, sizeof(y), t->token_type, strlen(t->token_type));
	n = snprintf(json, sizeof(json),
	    "{\"access_token\":\"%s\",\"expires_on\":%lld,\"not_before\":%lld,"
	    "\"resource\":\"%s\",\"client_id\":\"%s\",\"token_type\":\"%s\"}",
	    t->access_token, (long long)t->expires_on, (long long)t->not_before,
	    r, c, y);
	fuzz_assert(n > 0 && (size_t)n < sizeof(json));
	fuzz_assert(imdsc_decode(json, (size_t)n, FUZZ_NOW, &again) == 0);
	fuzz_assert(again.access_len == t->access_len &&
	    strcmp(again.access_token, t->access_token) == 0);
	fuzz_assert(again.expires_on == t->expires_on &&
	    again.not_before == t->not_before);
	fuzz_assert(strcmp(again.resource, t->resource) == 0 &&
	    strcmp(again.client_id, t->client_id) == 0 &&
	    strcmp(again.token_type, t->token_type) == 0);
}

static void
fuzz_error_body(const char *buf, size_t size)
{
	size_t i, n;
	int r = imdsc_decode_error(buf, size, &eb);

	fuzz_assert(r == 0 || (r < 0 && r >= IMDSC_E_LAST));
	if (r != 0) {
		fuzz_assert(fuzz_zero(&eb, sizeof(eb)));
		return;
	}
	n = strnlen(eb.error, sizeof(eb.error));
	fuzz_assert(n >= 1 && n < sizeof(eb.error));
	fuzz_assert(strspn(eb.error, FUZZ_CODE_CHARS) == n);
	fuzz_field(eb.desc, sizeof(eb.desc));
	for (i = 0; i < strlen(eb.desc); i++)
		fuzz_assert((unsigned char)eb.desc[i] >= 0x20);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf;
	int r;

	/* An exact-size copy, so an over-read hits the sanitizer. */
	if ((buf = malloc(size ? size : 1)) == NULL)
		abort();
	memcpy(buf, data, size);
	memset(&tok, 0x5a, sizeof(tok));
	r = imdsc_decode(buf, size, FUZZ_NOW, &tok);
	fuzz_assert(r == 0 || (r < 0 && r >= IMDSC_E_LAST));
	fuzz_assert(
	    strcmp(imdsc_strerror(r), "unknown imdsc error") != 0 || r == 0);
	if (r != 0)
		fuzz_assert(fuzz_zero(&tok, sizeof(tok)));
	else {
		fuzz_token_ok(&tok);
		fuzz_assert(imdsc_decode(buf, size, FUZZ_NOW, &again) == 0);
		fuzz_assert(memcmp(&tok, &again, sizeof(tok)) == 0);
		fuzz_round_trip(&tok);
	}
	fuzz_error_body(buf, size);
	free(buf);
	return 0;
}
