/*
 * agent/aad.c: aad_decode and aad_decode_error (Azure AD's token and
 * error bodies) on arbitrary bytes.  Invariants: the result is 0 or a
 * named error; a refused body leaves the token all zero (wiped) and the
 * error zeroed; an accepted token has 1..LIM bytes of the allowed
 * characters, an empty resource and client_id (the client echoes the
 * pod's), a non-empty token_type without control characters, times >= 0
 * and issued_at = now; the decode is deterministic; and the token written
 * back as JSON (times as numbers) decodes to the same fields.  An accepted
 * error has a code of [A-Za-z0-9_.-], a one-line description without
 * control characters within its limit, and a correlation id of the same
 * characters as the code.  The input as a client assertion (a signed JWT
 * or a pod's service-account token) in aad_form: the form holds only
 * unreserved characters, '%XX', '=' and '&', and its client_assertion
 * field decodes back to the input; a form that does not fit is "".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/aad.h"
#include "agent/log.h"
#include "fuzz/fuzz.h"
#include "fuzz/oauth_check.h"

#define FUZZ_NOW 1700000000

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct tok_token tok, again;
static struct aad_error eb, eb2;
static char json[LIM_TOK_TOKEN_BYTES + 256];

static void
fuzz_token_ok(const struct tok_token *t)
{
	fuzz_token_common(t, FUZZ_NOW);
	/* resource and client_id are the caller's to echo. */
	fuzz_assert(t->resource[0] == '\0' && t->client_id[0] == '\0');
}

/* Writes t back as a v1-like body with absolute times: the same token. */
static void
fuzz_round_trip(const struct tok_token *t)
{
	char y[6 * 16 + 1];
	int n;

	log_json_escape(y, sizeof(y), t->token_type, strlen(t->token_type));
	n = snprintf(json, sizeof(json),
	    "{\"access_token\":\"%s\",\"expires_on\":%lld,\"not_before\":"
	    "\"%lld\",\"token_type\":\"%s\"}",
	    t->access_token, (long long)t->expires_on, (long long)t->not_before,
	    y);
	fuzz_assert(n > 0 && (size_t)n < sizeof(json));
	fuzz_assert(aad_decode(json, (size_t)n, FUZZ_NOW, &again) == 0);
	fuzz_assert(again.access_len == t->access_len &&
	    strcmp(again.access_token, t->access_token) == 0);
	fuzz_assert(again.expires_on == t->expires_on &&
	    again.not_before == t->not_before);
	fuzz_assert(strcmp(again.token_type, t->token_type) == 0);
}

static void
fuzz_error_body(const char *buf, size_t size)
{
	size_t n;
	int r = aad_decode_error(buf, size, &eb);

	fuzz_assert(r == 0 || (r < 0 && r >= AAD_E_LAST));
	if (r != 0) {
		fuzz_assert(fuzz_zero(&eb, sizeof(eb)));
		return;
	}
	n = strnlen(eb.error, sizeof(eb.error));
	fuzz_assert(n >= 1 && n < sizeof(eb.error));
	fuzz_assert(strspn(eb.error, FUZZ_CODE_CHARS) == n);
	fuzz_field(eb.desc, sizeof(eb.desc));
	fuzz_assert(strlen(eb.desc) <= LIM_AAD_ERROR_DESC_BYTES);
	n = strnlen(eb.correlation, sizeof(eb.correlation));
	fuzz_assert(n < sizeof(eb.correlation));
	fuzz_assert(strspn(eb.correlation, FUZZ_CODE_CHARS) == n);
	fuzz_assert(aad_decode_error(buf, size, &eb2) == 0);
	fuzz_assert(memcmp(&eb, &eb2, sizeof(eb)) == 0);
}

static int
fuzz_hex(char c)
{
	return c >= '0' && c <= '9' ? c - '0'
	    : c >= 'A' && c <= 'F'  ? c - 'A' + 10
	                            : -1;
}

/* The input as the assertion of a form, decoded back from it. */
static void
fuzz_form(const char *buf, size_t size)
{
	static char form[LIM_AAD_REQUEST_BYTES];
	static struct tok_req req = {.kind = POL_FEDERATED,
	    .client_id = "11111111-2222-4333-8444-555555555555",
	    .resource = "https://vault.azure.net"};
	struct aad_cred cred = {NULL, 0, buf, size};
	const char *p, *key = "&client_assertion=";
	size_t i, o = 0;
	int n = aad_form(form, sizeof(form), &req, size & 1, &cred);

	if (n < 0) {
		fuzz_assert(n == AAD_E_SPACE && form[0] == '\0');
		return;
	}
	fuzz_assert((size_t)n == strlen(form));
	fuzz_assert(strspn(form, FUZZ_CODE_CHARS "~%=&") == (size_t)n);
	fuzz_assert((p = strstr(form, key)) != NULL);
	for (p += strlen(key); *p != '&'; o++) {
		fuzz_assert(*p != '\0' && o < size);
		if (*p != '%') {
			fuzz_assert(buf[o] == *p++);
			continue;
		}
		fuzz_assert(fuzz_hex(p[1]) >= 0 && fuzz_hex(p[2]) >= 0);
		i = (size_t)(fuzz_hex(p[1]) * 16 + fuzz_hex(p[2]));
		fuzz_assert((unsigned char)buf[o] == i);
		p += 3;
	}
	fuzz_assert(o == size);
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
	r = aad_decode(buf, size, FUZZ_NOW, &tok);
	fuzz_assert(r == 0 || (r < 0 && r >= AAD_E_LAST));
	fuzz_assert(
	    strcmp(aad_strerror(r), "unknown aad error") != 0 || r == 0);
	if (r != 0)
		fuzz_assert(fuzz_zero(&tok, sizeof(tok)));
	else {
		fuzz_token_ok(&tok);
		fuzz_assert(aad_decode(buf, size, FUZZ_NOW, &again) == 0);
		fuzz_assert(memcmp(&tok, &again, sizeof(tok)) == 0);
		fuzz_round_trip(&tok);
	}
	fuzz_error_body(buf, size);
	fuzz_form(buf, size);
	free(buf);
	return 0;
}
