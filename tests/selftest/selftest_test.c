/*
 * selftest's pure half and the ops documents it reads: the /status JSON
 * that agent/ops.c renders, read back by selftest_status_parse (every
 * prefix against a PROT_NONE page, the token limit at N and N+1, each
 * field missing, mistyped or too long); ops_ready's verdicts; the loopback
 * test of /status's peers; each check's PASS, WARN and FAIL; the report's
 * limits and both output forms.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/json.h"
#include "agent/ops.h"
#include "agent/podcache.h"
#include "selftest/selftest.h"
#include "tests/guard.h"
#include "tests/harness.h"

/* ---- the agent's side: a sources with a cache and the src_* parts ---- */

static struct src_policy spol;
static struct src_rules srules;
static const struct pol *no_policy;
static struct pol fake_policy;
static const struct pol *some_policy = &fake_policy;
static struct sources src;

static void
setup_sources(void)
{
	static struct podcache *cache;

	if (cache == NULL && (cache = podcache_new(10, 0)) == NULL)
		exit(2);
	memset(&src, 0, sizeof(src));
	memset(&spol, 0, sizeof(spol));
	memset(&srules, 0, sizeof(srules));
	fake_policy.nidentities = 3;
	fake_policy.nbindings = 2;
	spol.file = "/etc/podid/policy.pol";
	memset(spol.sha256, 'a', 64);
	spol.loaded_at = 1700000000;
	spol.reloads_ok = 4;
	srules.mode = "keep";
	snprintf(srules.node_ip, sizeof(srules.node_ip), "10.0.0.4");
	srules.port = 2579;
	srules.keeper_alive = true;
	srules.restored = 2;
	src.cache = cache;
	src.policy = &some_policy;
	src.pol = &spol;
	src.rules = &srules;
	src.imds_endpoint = "http://169.254.169.254";
	src.max_pods = 10;
	src.started_at = 1700000000;
	src.uid = 65534;
	src.gid = 65533;
}

static char doc[16384];

static int
render(void)
{
	return ops_status_json(doc, sizeof(doc), &src, 5000, 42);
}

static void
t_status_round_trip(void)
{
	static struct selftest_status st;
	int n;

	setup_sources();
	spol.last_failed = true;
	spol.last_errors = 2;
	snprintf(spol.last_error, sizeof(spol.last_error),
	    "p.pol:3:5: error: identity \"x\\y\" \x01unknown");
	n = render();
	check(n > 0);
	check_int(selftest_status_parse(&st, doc, (size_t)n), 0);
	check_str(st.version, PODID_VERSION);
	check_int(st.pid, 42);
	check_int(st.uid, 65534);
	check_int(st.gid, 65533);
	check_int(st.ready_status, 200);
	check_str(st.ready_detail,
	    "policy: p.pol:3:5: error: identity \"x\\y\" \x01unknown");
	check_str(st.policy.file, "/etc/podid/policy.pol");
	check_int(strlen(st.policy.sha256), 64);
	check_str(st.policy.last_error, spol.last_error);
	check(st.policy.last_failed);
	check_int(st.policy.last_errors, 2);
	check_int(st.policy.identities, 3);
	check_int(st.policy.bindings, 2);
	check_int(st.policy.reloads_ok, 4);
	check_str(st.kube.state, "none");
	check_int(st.pods.max, 10);
	check_int(st.pods.cached, 0);
	check_str(st.rules.mode, "keep");
	check_str(st.rules.node_ip, "10.0.0.4");
	check_int(st.rules.port, 2579);
	check_int(st.rules.restored, 2);
	check(st.rules.keeper_alive);
	check_str(st.upstream.imds, "http://169.254.169.254");
	check_str(st.upstream.aad, ""); /* null */
}

/* Every cut of the document fails, and never reads past its end. */
static void
t_status_prefixes(void)
{
	static struct selftest_status st;
	size_t i;
	int n, bad = 0;

	setup_sources();
	src.aad_authority = "https://login.microsoftonline.com";
	n = render();
	check(n > 0);
	for (i = 0; i < (size_t)n; i++)
		if (selftest_status_parse(&st, guard_copy(doc, i), i) == 0)
			bad++;
	check_int(bad, 0);
	check_int(
	    selftest_status_parse(&st, guard_copy(doc, (size_t)n), (size_t)n),
	    0);
	check_str(st.upstream.aad, "https://login.microsoftonline.com");
}

/* ops_status_json needs length + 1 bytes (the NUL): N fits, N - 1 not. */
static void
t_status_buffer_limit(void)
{
	static char small[16384];
	int n;

	setup_sources();
	n = render();
	check_int(ops_status_json(small, (size_t)n + 1, &src, 5000, 42), n);
	check_int(ops_status_json(small, (size_t)n, &src, 5000, 42), -1);
	check_int(ops_status_json(small, 0, &src, 5000, 42), -1);
}

/* Replaces the first "from" in doc (n bytes) with "to"; the new length. */
static size_t
edit(char *out, size_t cap, int n, const char *from, const char *to)
{
	const char *p = strstr(doc, from);
	size_t head;

	if (p == NULL || (size_t)n + strlen(to) >= cap)
		exit(2);
	head = (size_t)(p - doc);
	memcpy(out, doc, head);
	strcpy(out + head, to);
	strcat(out, p + strlen(from));
	return strlen(out);
}

static void
t_status_fields(void)
{
	static struct selftest_status st;
	static char b[20000];
	size_t len;
	int n;

	setup_sources();
	n = render();
	len = edit(b, sizeof(b), n, "\"pid\":42", "\"pidx\":42");
	check_int(selftest_status_parse(&st, b, len), SELFTEST_E_FIELD);
	len = edit(b, sizeof(b), n, "\"pid\":42", "\"pid\":\"42\"");
	check_int(selftest_status_parse(&st, b, len), SELFTEST_E_FIELD);
	len = edit(b, sizeof(b), n, "\"synced\":false", "\"synced\":0");
	check_int(selftest_status_parse(&st, b, len), SELFTEST_E_FIELD);
	len = edit(b, sizeof(b), n, "\"mode\":\"keep\"", "\"mode\":null");
	check_int(selftest_status_parse(&st, b, len), SELFTEST_E_FIELD);
	len = edit(b, sizeof(b), n, "\"pods\":{", "\"pods\":[],\"x\":{");
	check_int(selftest_status_parse(&st, b, len), SELFTEST_E_FIELD);
	/* sha256: 64 characters fit its 65 bytes, 65 do not. */
	len = edit(b, sizeof(b), n, "aaaa\"", "aaaaa\"");
	check_int(selftest_status_parse(&st, b, len), SELFTEST_E_SPACE);
	check_int(selftest_status_parse(&st, "[]", 2), SELFTEST_E_FIELD);
	check_int(selftest_status_parse(&st, "{", 1), SELFTEST_E_JSON);
	check_int(selftest_status_parse(&st, "", 0), SELFTEST_E_JSON);
}

/* "{\"pad\":[0,0,...],": 2 + k tokens in front of the members. */
static void
pad_with(char *pad, int k)
{
	int i;

	strcpy(pad, "{\"pad\":[");
	for (i = 0; i < k; i++)
		strcat(pad, i ? ",0" : "0");
	strcat(pad, "],");
}

/* LIM_SELFTEST_JSON_TOKENS tokens parse; one more does not. */
static void
t_status_token_limit(void)
{
	static struct json_tok toks[4096];
	static struct selftest_status st;
	static char b[20000], pad[8192];
	struct json_doc d;
	int n, base, k;
	size_t len;

	setup_sources();
	n = render();
	base = json_parse(&d, doc, (size_t)n, toks, 4096);
	check(base > 0 && base < (int)LIM_SELFTEST_JSON_TOKENS - 2);
	k = (int)LIM_SELFTEST_JSON_TOKENS - base - 2;
	pad_with(pad, k);
	len = edit(b, sizeof(b), n, "{", pad);
	check_int(
	    json_parse(&d, b, len, toks, 4096), (int)LIM_SELFTEST_JSON_TOKENS);
	check_int(selftest_status_parse(&st, b, len), 0);
	pad_with(pad, k + 1);
	len = edit(b, sizeof(b), n, "{", pad);
	check_int(selftest_status_parse(&st, b, len), SELFTEST_E_JSON);
}

static void
t_ready(void)
{
	char buf[320];

	setup_sources();
	check_int(ops_ready(&src, buf, sizeof(buf)), 200);
	check_str(buf, "ok");
	spol.last_failed = true;
	snprintf(
	    spol.last_error, sizeof(spol.last_error), "p.pol:1:2: error: x");
	check_int(ops_ready(&src, buf, sizeof(buf)), 200);
	check_str(buf, "policy: p.pol:1:2: error: x");
	src.policy = &no_policy;
	check_int(ops_ready(&src, buf, sizeof(buf)), 503);
	check_str(buf, "no policy loaded");
}

static void
t_loopback(void)
{
	static const char *const yes[] = {
	    "::ffff:127.0.0.1", "::ffff:127.255.255.254", "::1"};
	static const char *const no[] = {"::ffff:128.0.0.1",
	    "::ffff:126.255.255.255", "::ffff:10.0.0.1", "::2", "::127.0.0.1",
	    "fe80::1", "::"};
	struct in6_addr a;
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(*yes); i++) {
		check(inet_pton(AF_INET6, yes[i], &a) == 1);
		check(ops_peer_is_loopback(&a));
	}
	for (i = 0; i < sizeof(no) / sizeof(*no); i++) {
		check(inet_pton(AF_INET6, no[i], &a) == 1);
		check(!ops_peer_is_loopback(&a));
	}
}

/* ---- the report ---- */

static void
t_report_limits(void)
{
	static struct selftest_report r;
	char big[LIM_SELFTEST_REASON_BYTES + 10];
	unsigned i;

	memset(&r, 0, sizeof(r));
	for (i = 0; i < LIM_SELFTEST_CHECKS; i++)
		check_int(selftest_add(&r, "x", SELFTEST_PASS, "%u", i), 0);
	check_int(
	    selftest_add(&r, "x", SELFTEST_FAIL, "over"), SELFTEST_E_REPORT);
	check_int(r.n, LIM_SELFTEST_CHECKS);
	check(selftest_ok(&r));
	memset(&r, 0, sizeof(r));
	memset(big, 'r', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	selftest_add(&r, "x", SELFTEST_WARN, "%.*s",
	    (int)LIM_SELFTEST_REASON_BYTES - 1, big);
	check_int(strlen(r.v[0].reason), LIM_SELFTEST_REASON_BYTES - 1);
	selftest_add(&r, "y", SELFTEST_WARN, "%s", big);
	check_int(strlen(r.v[1].reason), LIM_SELFTEST_REASON_BYTES - 1);
	selftest_add(&r, "z", SELFTEST_WARN, "a\nb\tc\rd");
	check_str(r.v[2].reason, "a b c d");
	check(selftest_ok(&r));
	selftest_add(&r, "f", SELFTEST_FAIL, "no");
	check(!selftest_ok(&r));
}

static void
t_print(void)
{
	static struct selftest_report r;
	static struct json_tok toks[64];
	struct json_doc d;
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	memset(&r, 0, sizeof(r));
	selftest_add(&r, "agent", SELFTEST_PASS, "up");
	selftest_add(&r, "rules", SELFTEST_WARN, "say \"x\"");
	f = open_memstream(&out, &len);
	check_int(selftest_print(f, &r, false), 0);
	fclose(f);
	check_str(out, "PASS  agent       up\nWARN  rules       say \"x\"\n");
	free(out);
	out = NULL;
	f = open_memstream(&out, &len);
	check_int(selftest_print(f, &r, true), 0);
	fclose(f);
	check_str(out,
	    "{\"checks\":[{\"name\":\"agent\",\"result\":\"PASS\","
	    "\"reason\":\"up\"},{\"name\":\"rules\",\"result\":"
	    "\"WARN\",\"reason\":\"say \\\"x\\\"\"}],\"ok\":true}\n");
	check(json_parse(&d, out, len - 1, toks, 64) > 0);
	free(out);
	check_str(selftest_result_name(SELFTEST_FAIL), "FAIL");
	check_str(selftest_strerror(SELFTEST_E_JSON), "not a JSON document");
	check_str(selftest_strerror(-99), "unknown error");
}

/* ---- the checks ---- */

static struct selftest_report rep;
static struct selftest_status good;

static const struct selftest_check *
last(void)
{
	return &rep.v[rep.n - 1];
}

static void
good_status(void)
{
	memset(&rep, 0, sizeof(rep));
	memset(&good, 0, sizeof(good));
	good.kube.synced = true;
	snprintf(good.kube.state, sizeof(good.kube.state), "watching");
	snprintf(good.kube.resource_version, 65, "1003");
	good.kube.last_event_age_ms = 1000;
	good.pods.cached = 8;
	good.pods.max = 10;
	snprintf(good.policy.file, sizeof(good.policy.file), "p.pol");
	memset(good.policy.sha256, 'b', 64);
	snprintf(good.rules.mode, sizeof(good.rules.mode), "keep");
	snprintf(good.rules.node_ip, sizeof(good.rules.node_ip), "10.0.0.4");
	good.rules.port = 2579;
	good.rules.keeper_alive = true;
}

static void
t_kube(void)
{
	good_status();
	selftest_check_kube(&rep, &good, 30000);
	check_int(last()->result, SELFTEST_PASS);
	check(strstr(last()->reason, "watching at resourceVersion 1003") != 0);
	/* The age limit: max - 1 ms passes, max fails. */
	good.kube.last_event_age_ms = 29999;
	selftest_check_kube(&rep, &good, 30000);
	check_int(last()->result, SELFTEST_PASS);
	good.kube.last_event_age_ms = 30000;
	selftest_check_kube(&rep, &good, 30000);
	check_int(last()->result, SELFTEST_FAIL);
	check(strstr(last()->reason, "stalled") != NULL);
	good.kube.last_event_age_ms = 10;
	snprintf(good.kube.state, sizeof(good.kube.state), "backoff");
	selftest_check_kube(&rep, &good, 30000);
	check_int(last()->result, SELFTEST_FAIL);
	check(strstr(last()->reason, "not answering") != NULL);
	good.kube.synced = false;
	selftest_check_kube(&rep, &good, 30000);
	check_int(last()->result, SELFTEST_FAIL);
	check(strstr(last()->reason, "no complete pod list") != NULL);
}

static void
t_pods(void)
{
	good_status();
	selftest_check_pods(&rep, &good); /* 8 of 10 */
	check_int(last()->result, SELFTEST_PASS);
	good.pods.cached = 9; /* 90%: N */
	selftest_check_pods(&rep, &good);
	check_int(last()->result, SELFTEST_WARN);
	good.pods.refused = 3;
	selftest_check_pods(&rep, &good);
	check_int(last()->result, SELFTEST_FAIL);
	check(strstr(last()->reason, "3 pods refused") != NULL);
}

static void
t_policy(void)
{
	char sha[65];

	good_status();
	memset(sha, 'b', 64);
	sha[64] = '\0';
	selftest_check_policy(&rep, &good, true, sha, "");
	check_int(last()->result, SELFTEST_PASS);
	selftest_check_policy(&rep, &good, false, "", "p.pol:2:1: error: x");
	check_int(last()->result, SELFTEST_FAIL);
	check(strstr(last()->reason, "p.pol:2:1: error: x") != NULL);
	sha[0] = 'c';
	selftest_check_policy(&rep, &good, true, sha, "");
	check_int(last()->result, SELFTEST_FAIL);
	check(strstr(last()->reason, "not reloaded yet") != NULL);
	good.policy.last_failed = true;
	snprintf(good.policy.last_error, 256, "p.pol:9:9: error: y");
	selftest_check_policy(&rep, &good, true, sha, "");
	check_int(last()->result, SELFTEST_FAIL);
	check_str(last()->reason,
	    "on-disk policy is not the running one "
	    "(reload failed: p.pol:9:9: error: y)");
	sha[0] = 'b';
	selftest_check_policy(&rep, &good, true, sha, "");
	check_int(last()->result, SELFTEST_WARN);
}

static char proc[2048];

static size_t
proc_text(const char *uid, const char *gid, const char *eff)
{
	snprintf(proc, sizeof(proc),
	    "Name:\tpodid\nUid:\t%s\t%s\t%s\t%s\nGid:\t%s\t%s\t%s\t%s\n"
	    "Groups:\t\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\n"
	    "CapEff:\t%s\nCapBnd:\t0000000000000000\n"
	    "CapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n",
	    uid, uid, uid, uid, gid, gid, gid, gid, eff);
	return strlen(proc);
}

static void
t_proc(void)
{
	size_t n;

	good_status();
	n = proc_text("65534", "65534", "0000000000000000");
	check_int(
	    selftest_check_proc(&rep, guard_copy(proc, n), n, 65534, 65534), 0);
	check_int(last()->result, SELFTEST_PASS);
	check(strstr(last()->reason, "uid 65534 gid 65534, no capabilities") !=
	    NULL);
	n = proc_text("65534", "65534", "0000000000001000");
	selftest_check_proc(&rep, guard_copy(proc, n), n, 65534, 65534);
	check_int(last()->result, SELFTEST_FAIL);
	check(strstr(last()->reason, "CapEff=1000") != NULL);
	n = proc_text("0", "65534", "0000000000000000");
	selftest_check_proc(&rep, guard_copy(proc, n), n, 65534, 65534);
	check_int(last()->result, SELFTEST_FAIL);
	n = proc_text("65534", "65534", "0000000000000000");
	selftest_check_proc(&rep, proc, n, 65534, 1000);
	check_int(last()->result, SELFTEST_FAIL);
	check_int(
	    selftest_check_proc(&rep, "Uid:\tx\n", 7, 1, 1), SELFTEST_E_PROC);
	check_int(last()->result, SELFTEST_FAIL);
	check_int(selftest_check_proc(&rep, proc, n - 20, 65534, 65534),
	    SELFTEST_E_PROC); /* cut: fields missing */
}

static void
t_rules(void)
{
	good_status();
	selftest_check_rules(&rep, &good, 0, true, "");
	check_int(last()->result, SELFTEST_PASS);
	check_str(last()->reason,
	    "DNAT of 169.254.169.254:80 to "
	    "10.0.0.4:2579 in place; keeper alive, 0 "
	    "restorations");
	selftest_check_rules(&rep, &good, 0, false, "no table");
	check_int(last()->result, SELFTEST_FAIL);
	check(strstr(last()->reason,
	          "DNAT rule missing or altered: no table") != NULL);
	selftest_check_rules(&rep, &good, EPERM, false, "");
	check_int(last()->result, SELFTEST_WARN);
	check(strstr(last()->reason,
	          "cannot read nf_tables without CAP_NET_ADMIN") != NULL);
	selftest_check_rules(&rep, &good, -1, false, "timeout");
	check_int(last()->result, SELFTEST_WARN);
	good.rules.keeper_alive = false;
	selftest_check_rules(&rep, &good, EPERM, false, "");
	check_int(last()->result, SELFTEST_FAIL);
	check(strstr(last()->reason, "keeper dead") != NULL);
	selftest_check_rules(&rep, &good, 0, true, "");
	check_int(last()->result, SELFTEST_WARN);
	snprintf(good.rules.mode, sizeof(good.rules.mode), "install");
	selftest_check_rules(&rep, &good, EPERM, false, "");
	check_int(last()->result, SELFTEST_WARN);
	selftest_check_rules(&rep, &good, 0, true, "");
	check_int(last()->result, SELFTEST_PASS);
	check(strstr(last()->reason, "no keeper (--rules install)") != NULL);
	snprintf(good.rules.mode, sizeof(good.rules.mode), "off");
	selftest_check_rules(&rep, &good, 0, false, "");
	check_int(last()->result, SELFTEST_WARN);
	check(strstr(last()->reason, "left to `podid rules`") != NULL);
}

static void
t_pod(void)
{
	static const char grant[] =
	    "{\"pod\":{},\"verdict\":\"grant\",\"identities\":[{\"name\":"
	    "\"orders-mi\",\"kind\":\"managed\",\"client_id\":\"c\",\"rule\":"
	    "\"orders\",\"host_token\":false}],\"truncated\":false";
	char b[1024];
	size_t n;

	good_status();
	n = (size_t)snprintf(b, sizeof(b), "%s}", grant);
	selftest_check_pod(&rep, "shop/o", 200, guard_copy(b, n), n);
	check_int(last()->result, SELFTEST_PASS);
	check_str(
	    last()->reason, "shop/o: granted orders-mi (managed, rule orders)");
	n = (size_t)snprintf(b, sizeof(b),
	    "%s,\"token\":{\"status\":200,\"identity\":\"orders-mi\","
	    "\"client_id\":\"c\",\"expires_on\":9,\"expires_in\":3599,"
	    "\"length\":1234}}",
	    grant);
	selftest_check_pod(&rep, "shop/o", 200, guard_copy(b, n), n);
	check_int(last()->result, SELFTEST_PASS);
	check(
	    strstr(last()->reason,
	        "token for orders-mi, 1234 bytes, expires in 3599 s") != NULL);
	n = (size_t)snprintf(b, sizeof(b),
	    "%s,\"token\":{\"status\":503,\"identity\":\"orders-mi\","
	    "\"error\":\"service_unavailable\",\"description\":\"busy\"}}",
	    grant);
	selftest_check_pod(&rep, "shop/o", 200, guard_copy(b, n), n);
	check_int(last()->result, SELFTEST_FAIL);
	check(strstr(last()->reason, "status 503 service_unavailable busy") !=
	    NULL);
	n = (size_t)snprintf(
	    b, sizeof(b), "{\"verdict\":\"deny\",\"identities\":[]}");
	selftest_check_pod(&rep, "shop/p", 200, guard_copy(b, n), n);
	check_int(last()->result, SELFTEST_WARN);
	selftest_check_pod(&rep, "shop/x", 404, "{}", 2);
	check_int(last()->result, SELFTEST_FAIL);
	check(strstr(last()->reason, "not in the agent's pod cache") != NULL);
	selftest_check_pod(&rep, "shop/x", 200, guard_copy(b, n - 1), n - 1);
	check_int(last()->result, SELFTEST_FAIL);
}

int
main(void)
{
	test(t_status_round_trip, "status round trip");
	test(t_status_prefixes, "status prefixes against a guard page");
	test(t_status_buffer_limit, "status buffer at N and N-1");
	test(t_status_fields, "status fields missing, mistyped, too long");
	test(t_status_token_limit, "status token limit at N and N+1");
	test(t_ready, "readyz verdicts");
	test(t_loopback, "loopback peers");
	test(t_report_limits, "report limits");
	test(t_print, "text and json output");
	test(t_kube, "kube check");
	test(t_pods, "pods check");
	test(t_policy, "policy check");
	test(t_proc, "privileges check");
	test(t_rules, "rules check");
	test(t_pod, "pod check");
	return harness_done();
}
