/*
 * ktoken: the TokenRequest's exact bytes, the answer decoder, RFC 3339
 * times, names at N and N+1.  With --live (run by ktoken_live_test.sh
 * against tests/fakes/kube_api.py over TLS): a token minted for a pod, the
 * second get answered from the cache, the pod's going wiping it, the API
 * server's refusals (409 uid mismatch, 404 unknown service account)
 * reported with their status, the queue full at N + 1.  ktoken_new's
 * arguments and resident memory at start.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/ktoken.h"
#include "agent/limits.h"
#include "agent/log.h"
#include "tests/harness.h"

static void
t_request(void)
{
	char buf[2048];
	int n = ktoken_request(buf, sizeof(buf), "10.0.0.1:6443", "Bearer abc",
	    "ns1", "sa-1", "pod-1", "0d1e2f", "api://AzureADTokenExchange",
	    3600);
	static const char want[] =
	    "POST /api/v1/namespaces/ns1/serviceaccounts/sa-1/token "
	    "HTTP/1.1\r\n"
	    "Host: 10.0.0.1:6443\r\nAuthorization: Bearer abc\r\n"
	    "Accept: application/json\r\nContent-Type: application/json\r\n"
	    "Content-Length: 220\r\nUser-Agent: podid\r\n\r\n"
	    "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":"
	    "\"TokenRequest\",\"spec\":{\"audiences\":[\"api://"
	    "AzureADTokenExchange\"],\"expirationSeconds\":3600,"
	    "\"boundObjectRef\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
	    "\"name\":\"pod-1\",\"uid\":\"0d1e2f\"}}}";

	check_int(n, strlen(want));
	check_str(buf, want);
	check_int(strlen(strstr(want, "\r\n\r\n") + 4), 220);
	/* Exactly enough room, and one byte less. */
	check_int(ktoken_request(buf, (size_t)n + 1, "10.0.0.1:6443",
	              "Bearer abc", "ns1", "sa-1", "pod-1", "0d1e2f",
	              "api://AzureADTokenExchange", 3600),
	    n);
	check_int(
	    ktoken_request(buf, (size_t)n, "10.0.0.1:6443", "Bearer abc", "ns1",
	        "sa-1", "pod-1", "0d1e2f", "api://AzureADTokenExchange", 3600),
	    -1);
	check_int(ktoken_request(
	              buf, sizeof(buf), "h", "B", "NS", "sa", "p", "u", "a", 1),
	    -1); /* upper case is not a namespace */
	check_int(ktoken_request(buf, sizeof(buf), "h", "B", "ns", "s/a", "p",
	              "u", "a", 1),
	    -1);
	check_int(ktoken_request(buf, sizeof(buf), "h", "B", "ns", "sa", "p",
	              "u", "a\"b", 1),
	    -1);
	check_int(ktoken_request(
	              buf, sizeof(buf), "h", "B", "", "sa", "p", "u", "a", 1),
	    -1);
}

static void
t_names(void)
{
	char name[LIM_KOBJ_NAME_BYTES + 2], buf[4096];

	memset(name, 'a', sizeof(name));
	name[LIM_KOBJ_NAME_BYTES] = '\0';
	check(ktoken_request(buf, sizeof(buf), "h", "B", "ns", "sa", name, "u",
	          "a", 1) > 0);
	name[LIM_KOBJ_NAME_BYTES] = 'a';
	name[LIM_KOBJ_NAME_BYTES + 1] = '\0';
	check_int(ktoken_request(buf, sizeof(buf), "h", "B", "ns", "sa", name,
	              "u", "a", 1),
	    -1);
}

static void
t_rfc3339(void)
{
	static const struct {
		const char *s;
		int64_t want;
		int rc;
	} v[] = {
	    {"1970-01-01T00:00:00Z", 0, 0},
	    {"2026-11-28T13:00:00Z", 1795870800, 0},
	    {"2026-11-28T13:00:00.123456Z", 1795870800, 0},
	    {"2026-11-28T14:00:00+01:00", 1795870800, 0},
	    {"2026-11-28T12:30:00-00:30", 1795870800, 0},
	    {"2000-02-29T00:00:00Z", 951782400, 0},
	    {"2026-11-28 13:00:00Z", 0, -1},
	    {"2026-13-28T13:00:00Z", 0, -1},
	    {"2026-11-32T13:00:00Z", 0, -1},
	    {"2026-11-28T13:00:00", 0, -1},
	    {"2026-11-28T13:00:00.Z", 0, -1},
	    {"2026-11-28T13:00:00Zjunk", 0, -1},
	    {"2026-11-28T13:00:00+0100", 0, -1},
	    {"2026-11-28T24:00:00Z", 0, -1},
	    {"", 0, -1},
	};
	size_t i;
	int64_t t;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		t = 0;
		check_int(ktoken_rfc3339(v[i].s, strlen(v[i].s), &t), v[i].rc);
		if (v[i].rc == 0)
			check_int(t, v[i].want);
	}
}

static void
t_decode(void)
{
	static const char ok[] =
	    "{\"kind\":\"TokenRequest\",\"apiVersion\":\"authentication.k8s.io/"
	    "v1\",\"spec\":{\"audiences\":[\"api://AzureADTokenExchange\"]},"
	    "\"status\":{\"token\":\"eyJ.a\\/b.c\",\"expirationTimestamp\":"
	    "\"2026-11-28T13:00:00Z\"}}";
	char tok[16];
	int64_t exp = 0;

	check_int(ktoken_decode(ok, strlen(ok), tok, sizeof(tok), &exp), 9);
	check_str(tok, "eyJ.a/b.c");
	check_int(exp, 1795870800);
	/* The token at N bytes (and its NUL), then one byte short. */
	check_int(ktoken_decode(ok, strlen(ok), tok, 10, &exp), 9);
	check_int(ktoken_decode(ok, strlen(ok), tok, 9, &exp), KTOKEN_E_DECODE);
	check_int(
	    ktoken_decode(ok, strlen(ok) - 1, tok, 16, &exp), KTOKEN_E_DECODE);
	check_int(
	    ktoken_decode("{\"status\":{\"token\":\"x\"}}", 24, tok, 16, &exp),
	    KTOKEN_E_DECODE);
	check_int(
	    ktoken_decode("{\"status\":{\"token\":\"\","
	                  "\"expirationTimestamp\":\"2026-11-28T13:00:00Z\""
	                  "}}",
	        64, tok, 16, &exp),
	    KTOKEN_E_DECODE);
	check_int(
	    ktoken_decode("{\"status\":{\"token\":1,"
	                  "\"expirationTimestamp\":\"2026-11-28T13:00:00Z\""
	                  "}}",
	        63, tok, 16, &exp),
	    KTOKEN_E_DECODE);
	check_int(ktoken_decode("[]", 2, tok, 16, &exp), KTOKEN_E_DECODE);
}

/* ---- live, against the fake API server -------------------------------- */

static struct {
	int calls, err, status;
	char tok[LIM_KTOKEN_BYTES + 1];
	int64_t exp;
} got;

static void
on_token(
    void *arg, int err, int status, const char *tok, size_t len, int64_t exp)
{
	(void)arg;
	got.calls++;
	got.err = err;
	got.status = status;
	got.exp = exp;
	snprintf(got.tok, sizeof(got.tok), "%.*s", (int)len, tok ? tok : "");
}

static struct loop *lp;
static struct ktoken *kt;

static void
run_until(int calls)
{
	uint64_t end = loop_clock_ms() + 15000;

	while (got.calls < calls && loop_clock_ms() < end)
		loop_run_once(lp);
}

static int
get(const char *sa, const char *pod, const char *uid)
{
	uint32_t h;

	return ktoken_get(kt, "team-a", sa, pod, uid,
	    "api://AzureADTokenExchange", on_token, NULL, &h);
}

static const char *live_uid;

static void
t_live_mint(void)
{
	struct ktoken_stats st;
	int dots = 0;
	const char *p;

	memset(&got, 0, sizeof(got));
	check_int(get("app-sa", "app-1", live_uid), 0);
	check_int(got.calls, 0); /* never from inside the call */
	run_until(1);
	check_int(got.calls, 1);
	check_int(got.err, 0);
	check_int(got.status, 201);
	for (p = got.tok; *p; p++)
		dots += *p == '.';
	check_int(dots, 2);
	check(got.exp > (int64_t)time(NULL) + 3000 &&
	    got.exp <= (int64_t)time(NULL) + 3600);
	/* The second get is answered from the cache. */
	check_int(get("app-sa", "app-1", live_uid), 0);
	run_until(2);
	check_int(got.calls, 2);
	check_int(got.err, 0);
	ktoken_stats(kt, &st);
	check_int(st.requests, 1);
	check_int(st.hits, 1);
	check_int(st.cached, 1);
	/* The pod goes: its token is wiped; a get mints again. */
	ktoken_pod_gone(kt, live_uid);
	ktoken_stats(kt, &st);
	check_int(st.cached, 0);
	check_int(st.wiped, 1);
}

static void
t_live_refused(void)
{
	struct ktoken_stats st;

	memset(&got, 0, sizeof(got));
	check_int(
	    get("app-sa", "app-1", "00000000-0000-0000-0000-000000000000"), 0);
	run_until(1);
	check_int(got.err, KTOKEN_E_HTTP);
	check_int(got.status, 409); /* the uid is not the pod's */
	check_int(get("no-such-sa", "app-1", live_uid), 0);
	run_until(2);
	check_int(got.err, KTOKEN_E_HTTP);
	check_int(got.status, 404);
	ktoken_stats(kt, &st);
	check_int(st.cached, 0);
}

static void
t_live_queue(void)
{
	unsigned i;

	memset(&got, 0, sizeof(got));
	for (i = 0; i < LIM_KTOKEN_QUEUE; i++)
		check_int(get("app-sa", "app-1", live_uid), 0);
	check_int(get("app-sa", "app-1", live_uid), KTOKEN_E_FULL);
	run_until((int)LIM_KTOKEN_QUEUE);
	/* One request served every get with the same key. */
	check_int(got.calls, LIM_KTOKEN_QUEUE);
	check_int(got.err, 0);
}

static void
t_new(void)
{
	static br_x509_trust_anchor ta;
	static struct pem_anchors anchors, none;
	static struct kube_config kc;
	struct loop *l = loop_new(8, 8);
	struct ktoken *k;
	size_t rss;

	anchors.ta = &ta;
	anchors.count = 1;
	check(ktoken_new(l, &kc, NULL, "Bearer x") == NULL && errno == EINVAL);
	check(ktoken_new(l, &kc, &none, "Bearer x") == NULL && errno == EINVAL);
	rss = harness_rss_anon();
	check((k = ktoken_new(l, &kc, &anchors, "Bearer x")) != NULL);
	/* Issue 3: 700 KiB sized at start, only the header written: the
	 * queue, the slots and the TLS context wait for their first use
	 * (they were 100 KiB). */
	check(harness_rss_anon() - rss < (32u << 10));
	ktoken_free(k);
	loop_free(l);
}

static int
live(int argc, char **argv)
{
	static struct pem_anchors anchors;
	static struct kube_config kc;
	static char bearer[256];
	char err[256];
	FILE *f;

	if (argc != 6)
		return 2;
	log_init(LOG_LVL_WARN, false);
	live_uid = argv[5];
	if (kube_config_init(&kc, argv[2], argv[3], argv[4], "node-a", err,
	        sizeof(err)) != 0 ||
	    pem_anchors_load(&anchors, argv[4]) < 1 ||
	    (f = fopen(argv[3], "r")) == NULL) {
		fprintf(stderr, "live set-up: %s\n", err);
		return 2;
	}
	strcpy(bearer, "Bearer ");
	if (fgets(bearer + 7, (int)sizeof(bearer) - 7, f) == NULL)
		return 2;
	fclose(f);
	bearer[strcspn(bearer, "\n")] = '\0';
	lp = loop_new(64, 64);
	kt = ktoken_new(lp, &kc, &anchors, bearer);
	if (lp == NULL || kt == NULL)
		return 2;
	test(t_live_mint, "live: minted, cached, wiped when the pod goes");
	test(t_live_refused, "live: 409 and 404 reported with their status");
	test(t_live_queue, "live: the queue at N and N+1, one request for all");
	ktoken_free(kt);
	loop_free(lp);
	pem_anchors_free(&anchors);
	return harness_done();
}

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--live") == 0)
		return live(argc, argv);
	test(t_request, "the TokenRequest's exact bytes, space at N and N+1");
	test(t_names, "names at N and N+1 bytes");
	test(t_rfc3339, "RFC 3339 times");
	test(t_decode, "answers decoded, token space at N and N+1");
	test(t_new,
	    "ktoken_new: anchors needed; start-up touches only a header");
	return harness_done();
}
