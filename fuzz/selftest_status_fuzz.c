/*
 * selftest's readers of the agent's answers: the first input byte picks
 * the reader (even: /status, odd: /status/pod), the rest is the body.
 * Invariants: a /status that parses has every string NUL-terminated
 * within its field, and each check judged from it adds exactly one
 * one-line reason; a /status/pod body, whatever it holds, adds exactly
 * one one-line reason.  The body is an exact-size allocation.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "selftest/selftest.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_line(const struct selftest_report *r, unsigned want)
{
	const char *s;

	fuzz_assert(r->n == want);
	s = r->v[r->n - 1].reason;
	fuzz_assert(memchr(s, '\0', sizeof(r->v[0].reason)) != NULL);
	fuzz_assert(strchr(s, '\n') == NULL && strchr(s, '\r') == NULL);
}

static void
fuzz_status(const char *body, size_t n)
{
	static struct selftest_status st;
	static struct selftest_report r;

	memset(&r, 0, sizeof(r));
	if (selftest_status_parse(&st, body, n) != 0)
		return;
	fuzz_assert(memchr(st.policy.sha256, '\0', 65) != NULL);
	fuzz_assert(memchr(st.rules.node_ip, '\0', 16) != NULL);
	fuzz_assert(memchr(st.kube.state, '\0', 16) != NULL);
	fuzz_assert(memchr(st.upstream.aad, '\0', 256) != NULL);
	selftest_check_kube(&r, &st, 330000);
	fuzz_line(&r, 1);
	selftest_check_pods(&r, &st);
	fuzz_line(&r, 2);
	selftest_check_rules(&r, &st, 0, false, "x");
	fuzz_line(&r, 3);
	selftest_check_policy(&r, &st, true, st.policy.sha256, "");
	fuzz_line(&r, 4);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct selftest_report r;
	char *body;

	if (size < 1)
		return 0;
	if ((body = malloc(size - 1 ? size - 1 : 1)) == NULL)
		abort();
	memcpy(body, data + 1, size - 1);
	if (data[0] & 1) {
		memset(&r, 0, sizeof(r));
		selftest_check_pod(&r, "ns/name", 200, body, size - 1);
		fuzz_line(&r, 1);
	} else
		fuzz_status(body, size - 1);
	free(body);
	return 0;
}
