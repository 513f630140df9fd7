/*
 * agent/json.c: json_parse on arbitrary bytes.  Invariants when a document
 * is accepted: every token's slice lies inside the input; walking the tree
 * with json_next visits every token exactly once; every string decodes (or
 * holds \u0000) and then compares equal to its decoding; integers read or
 * are out of range; the exact token count parses and one fewer does not.
 *
 * And jsmn, the tokenizer json.c replaced for speed (issue 3: it alone
 * took 7 of the 10 us an event may cost), is kept as an oracle: every
 * document json.c accepts, jsmn in strict mode accepts too, with the same
 * tokens (type, start, end, size).  jsmn accepts more (that is why podid
 * checks itself), so the converse is not asserted.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/json.h"
#include "fuzz/fuzz.h"

#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#define FUZZ_NTOK 4096

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct json_tok toks[FUZZ_NTOK];
static jsmntok_t jtoks[FUZZ_NTOK];
static unsigned char seen[FUZZ_NTOK];

/* Visits tok's subtree; returns the index after it. */
static int
fuzz_walk(const struct json_doc *doc, int tok)
{
	int i, n, child = tok + 1;

	fuzz_assert(tok >= 0 && tok < doc->ntok);
	seen[tok]++;
	if (json_type(doc, tok) == JSON_STRING &&
	    json_next(doc, tok) != tok + 1)
		child = fuzz_walk(doc, tok + 1); /* a key and its value */
	n = json_size(doc, tok);
	for (i = 0; i < n; i++)
		child = fuzz_walk(doc, child);
	fuzz_assert(child == json_next(doc, tok));
	return child;
}

static void
fuzz_token(const struct json_doc *doc, int tok, char *dst, size_t dstlen)
{
	const char *p;
	size_t len;
	int64_t v;
	int r;

	p = json_slice(doc, tok, &len);
	fuzz_assert(p >= doc->buf && p + len <= doc->buf + doc->len);
	fuzz_assert(seen[tok] == 1);
	switch (json_type(doc, tok)) {
	case JSON_STRING:
		r = json_str_unescape(doc, tok, dst, dstlen);
		fuzz_assert(r >= 0 || r == JSON_E_NUL);
		fuzz_assert(r < 0 || json_str_eq(doc, tok, dst));
		break;
	case JSON_NUMBER:
		r = json_int64(doc, tok, &v);
		fuzz_assert(r == 0 || r == JSON_E_RANGE);
		break;
	case JSON_OBJECT:
		if (json_size(doc, tok) > 0 &&
		    json_str_unescape(doc, tok + 1, dst, dstlen) >= 0) {
			r = json_obj_get(doc, tok, dst);
			fuzz_assert(r == tok + 2 || r == JSON_E_DUPKEY);
		}
		break;
	case JSON_NONE:
		fuzz_assert(0);
		break;
	default:
		break;
	}
}

/* jsmn's tokens of the same bytes equal ours, one by one. */
static void
fuzz_oracle(const struct json_doc *doc, const char *buf, size_t size)
{
	static const jsmntype_t want[] = {[JSON_OBJECT] = JSMN_OBJECT,
	    [JSON_ARRAY] = JSMN_ARRAY,
	    [JSON_STRING] = JSMN_STRING,
	    [JSON_NUMBER] = JSMN_PRIMITIVE,
	    [JSON_TRUE] = JSMN_PRIMITIVE,
	    [JSON_FALSE] = JSMN_PRIMITIVE,
	    [JSON_NULL] = JSMN_PRIMITIVE};
	jsmn_parser p;
	const char *s;
	size_t len;
	int i, n;

	/* Strict jsmn wants a delimiter after a primitive: a bare top-level
	 * one at the end of the input is "partial" to it. */
	if (json_type(doc, 0) != JSON_OBJECT &&
	    json_type(doc, 0) != JSON_ARRAY && json_type(doc, 0) != JSON_STRING)
		return;
	jsmn_init(&p);
	n = jsmn_parse(&p, buf, size, jtoks, FUZZ_NTOK);
	fuzz_assert(n == doc->ntok);
	for (i = 0; i < n; i++) {
		s = json_slice(doc, i, &len);
		fuzz_assert(jtoks[i].type == want[json_type(doc, i)]);
		fuzz_assert(jtoks[i].start == (int)(s - buf));
		fuzz_assert(jtoks[i].end == (int)(s - buf + (ptrdiff_t)len));
		fuzz_assert(jtoks[i].size == json_size(doc, i) ||
		    (json_type(doc, i) == JSON_STRING &&
		        json_next(doc, i) != i + 1 && jtoks[i].size == 1));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_doc doc;
	char *buf, *dst;
	int r, i;

	/* Exact-size copies, so an over-read hits the sanitizer. */
	if ((buf = malloc(size ? size : 1)) == NULL ||
	    (dst = malloc(size + 1)) == NULL)
		abort();
	memcpy(buf, data, size);
	r = json_parse(&doc, buf, size, toks, FUZZ_NTOK);
	if (r <= 0) {
		fuzz_assert(r < 0 && r >= JSON_E_LAST && doc.ntok == 0);
		goto out;
	}
	fuzz_assert(doc.ntok == r && r <= FUZZ_NTOK);
	memset(seen, 0, (size_t)r);
	fuzz_assert(fuzz_walk(&doc, 0) == r);
	for (i = 0; i < r; i++)
		fuzz_token(&doc, i, dst, size + 1);
	fuzz_oracle(&doc, buf, size);
	fuzz_assert(json_parse(&doc, buf, size, toks, (unsigned)r) == r);
	fuzz_assert(
	    json_parse(&doc, buf, size, toks, (unsigned)r - 1) == JSON_E_NOMEM);
out:
	free(dst);
	free(buf);
	return 0;
}
