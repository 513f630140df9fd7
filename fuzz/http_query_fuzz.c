/*
 * Fuzz target: http_query_next(), http_query_check(), http_query_get().
 * The input, copied to an exact-size buffer, is a raw query.  Every pair
 * must come out NUL-terminated, within the limits and free of control
 * bytes; http_query_check() must agree with a duplicate search done here;
 * http_query_get() must find each name's first value; and the pairs,
 * percent-encoded again, must decode to themselves.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(c)                                                         \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

#define NPAIRS LIM_HTTP_QUERY_PARAMS

static struct http_param pairs[NPAIRS], again;
static char value[LIM_HTTP_PARAM_VALUE_BYTES + 1];
/* Re-encoded query: every byte at most 3, plus '=' and '&'. */
static char reenc[NPAIRS *
    (3 * (LIM_HTTP_PARAM_NAME_BYTES + LIM_HTTP_PARAM_VALUE_BYTES) + 2)];

static void
check_bytes(const char *s, size_t len)
{
	size_t i;

	FUZZ_ASSERT(s[len] == '\0');
	for (i = 0; i < len; i++)
		FUZZ_ASSERT((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
}

static void
check_pair(const struct http_param *p)
{
	FUZZ_ASSERT(
	    p->name_len > 0 && p->name_len <= LIM_HTTP_PARAM_NAME_BYTES);
	FUZZ_ASSERT(p->value_len <= LIM_HTTP_PARAM_VALUE_BYTES);
	check_bytes(p->name, p->name_len);
	check_bytes(p->value, p->value_len);
}

/* Iterates q: the pairs into pairs[], *rc the final code. */
static size_t
collect(struct http_slice q, int *rc, int *want_check)
{
	struct http_query_iter it;
	size_t n = 0, i;

	*want_check = 0;
	http_query_init(&it, q);
	while ((*rc = http_query_next(&it, &pairs[n < NPAIRS ? n : 0])) == 1) {
		FUZZ_ASSERT(n < NPAIRS);
		check_pair(&pairs[n]);
		for (i = 0; i < n && *want_check == 0; i++)
			if (strcasecmp(pairs[i].name, pairs[n].name) == 0)
				*want_check = HTTP_ERR_QUERY_DUP;
		n++;
	}
	FUZZ_ASSERT(*rc <= 0);
	if (*rc < 0) {
		FUZZ_ASSERT(*rc <= HTTP_ERR_QUERY_ESCAPE &&
		    *rc >= HTTP_ERR_QUERY_PARAMS);
		FUZZ_ASSERT(http_err_status(*rc) == 400);
	}
	FUZZ_ASSERT(http_query_next(&it, &again) == *rc); /* sticky */
	if (*want_check == 0)
		*want_check = *rc;
	return n;
}

static void
append_enc(size_t *o, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')
			reenc[(*o)++] = (char)c;
		else {
			reenc[(*o)++] = '%';
			reenc[(*o)++] = hex[c >> 4];
			reenc[(*o)++] = hex[c & 15];
		}
	}
}

/* The decoded pairs, encoded again, decode to themselves. */
static void
round_trip(size_t n)
{
	struct http_query_iter it;
	struct http_slice q;
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (i > 0)
			reenc[o++] = '&';
		append_enc(&o, pairs[i].name, pairs[i].name_len);
		reenc[o++] = '=';
		append_enc(&o, pairs[i].value, pairs[i].value_len);
	}
	q.ptr = reenc;
	q.len = o;
	http_query_init(&it, q);
	for (i = 0; i < n; i++) {
		FUZZ_ASSERT(http_query_next(&it, &again) == 1);
		FUZZ_ASSERT(again.name_len == pairs[i].name_len &&
		    memcmp(again.name, pairs[i].name, again.name_len) == 0);
		FUZZ_ASSERT(again.value_len == pairs[i].value_len &&
		    memcmp(again.value, pairs[i].value, again.value_len) == 0);
	}
	FUZZ_ASSERT(http_query_next(&it, &again) == 0);
}

/* Each name's first value comes back from http_query_get(). */
static void
check_get(struct http_slice q, size_t n)
{
	size_t i, j;
	int rc;

	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(pairs[j].name, pairs[i].name) == 0)
				break;
		if (j < i)
			continue; /* not the first of its name */
		rc = http_query_get(q, pairs[i].name, value, sizeof(value));
		FUZZ_ASSERT(rc == (int)pairs[i].value_len);
		FUZZ_ASSERT(
		    memcmp(value, pairs[i].value, pairs[i].value_len + 1) == 0);
		if (pairs[i].value_len > 0) {
			rc = http_query_get(
			    q, pairs[i].name, value, pairs[i].value_len);
			FUZZ_ASSERT(rc == HTTP_ERR_NOSPACE);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_slice q;
	char *buf;
	size_t n;
	int rc, want_check;

	if ((buf = malloc(size ? size : 1)) == NULL)
		return 0;
	if (size > 0)
		memcpy(buf, data, size);
	else
		buf[0] = '\0'; /* never read: size is 0 */
	q.ptr = buf;
	q.len = size;
	n = collect(q, &rc, &want_check);
	FUZZ_ASSERT(http_query_check(q) == want_check);
	check_get(q, n);
	if (rc == 0)
		round_trip(n);
	if (want_check == 0)
		FUZZ_ASSERT(http_query_get(q, "\x01", value, sizeof(value)) ==
		    HTTP_ERR_QUERY_ABSENT);
	free(buf);
	return 0;
}
