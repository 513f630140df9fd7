/*
 * The ops listener on a real loop and a loopback socket: every route, the
 * /status document read back by selftest's reader, /status/pod for a pod
 * with an identity, without, unknown and with a bad query, a token fetch
 * through the cache that waits for its (fake) fetcher then hits, the token
 * itself never in an answer, and a client that leaves during the wait
 * (the cache stays consistent, the late result goes nowhere);
 * LIM_OPS_CONNS connections served and one more refused.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/limits.h"
#include "agent/loop.h"
#include "agent/ops.h"
#include "agent/podcache.h"
#include "agent/tokcache.h"
#include "selftest/selftest.h"
#include "tests/harness.h"

#define SECRET "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.SECRET-PART.sig"

static struct {
	struct loop *l;
	struct loop_timer tick;
	struct podcache *pc;
	struct tokcache *tc;
	struct ops *ops;
	struct pol pol;
	const struct pol *policy;
	struct src_policy spol;
	struct src_rules srules;
	struct sources src;
	struct sockaddr_storage addr;
	socklen_t alen;
	unsigned starts;
	uint32_t handle;
} T;

/* ---- a fetcher the test answers by hand ---- */

static int
fake_start(void *ctx, const struct tok_req *req, uint32_t handle)
{
	(void)ctx;
	(void)req;
	T.starts++;
	T.handle = handle;
	return 0;
}

static void
fake_cancel(void *ctx, uint32_t handle)
{
	(void)ctx;
	(void)handle;
}

static void
fake_answer(void)
{
	static struct tok_token tok;
	struct tok_result r = {200, 0, &tok, NULL, NULL, NULL};

	memset(&tok, 0, sizeof(tok));
	snprintf(tok.access_token, sizeof(tok.access_token), "%s", SECRET);
	tok.access_len = strlen(SECRET);
	tok.expires_on = (int64_t)time(NULL) + 3600;
	tok.issued_at = (int64_t)time(NULL);
	snprintf(tok.token_type, sizeof(tok.token_type), "Bearer");
	tokcache_fetched(T.tc, T.handle, &r);
}

/* ---- set-up ---- */

static unsigned char ast_mem[1 << 18], pol_mem[1 << 18];

static void
compile_policy(void)
{
	static const char src[] =
	    "identity orders-mi {\n kind managed\n client-id "
	    "\"00000000-0000-0000-0000-00000000000a\"\n}\n"
	    "bind orders {\n identity orders-mi\n namespace shop\n"
	    " label app = orders\n}\n";
	static struct dsl_diag dv[16];
	static struct dsl_file f;
	struct dsl_limits lim = {4096, 1024};
	struct pol_options opt = {false, 0};
	struct dsl_diags d;
	struct dsl_arena a;

	f.name = "t.pol";
	f.src = src;
	f.len = sizeof(src) - 1;
	dsl_arena_init(&a, ast_mem, sizeof(ast_mem));
	dsl_diags_init(&d, dv, 16);
	if (dsl_parse(&f, &lim, &a, &d) != 0 ||
	    pol_compile(&f, &opt, pol_mem, sizeof(pol_mem), &T.pol, &d) != 0) {
		fprintf(stderr, "t.pol: %s\n", d.n ? dv[0].msg : "?");
		exit(2);
	}
	T.policy = &T.pol;
}

static void
add_pod(const char *uid, const char *name, const char *app)
{
	static struct kobj_pod p;
	struct kobj_label *l;
	int rc;

	memset(&p, 0, sizeof(p));
	snprintf(p.uid, sizeof(p.uid), "%s", uid);
	snprintf(p.ns, sizeof(p.ns), "shop");
	snprintf(p.name, sizeof(p.name), "%s", name);
	snprintf(p.sa, sizeof(p.sa), "default");
	p.phase = KOBJ_PHASE_RUNNING;
	inet_pton(AF_INET, uid[0] == 'o' ? "10.1.0.10" : "10.1.0.11", &p.ip4);
	p.has_ip4 = true;
	l = &p.labels[p.nlabels++];
	l->key = 0;
	l->key_len = 3;
	memcpy(p.label_pool, "app", 4);
	l->val = 4;
	l->val_len = (uint16_t)strlen(app);
	memcpy(p.label_pool + 4, app, strlen(app) + 1);
	p.label_bytes = (uint16_t)(4 + strlen(app) + 1);
	if ((rc = podcache_upsert(T.pc, &p, T.policy, 0)) != 0) {
		fprintf(stderr, "upsert %s: %s\n", name, podcache_strerror(rc));
		exit(2);
	}
}

static void
tick(struct loop *l, struct loop_timer *t, void *arg)
{
	(void)l;
	(void)t;
	(void)arg;
}

static void
start(void)
{
	struct tok_fetcher f = {fake_start, fake_cancel, NULL};
	struct ops_config oc;
	struct sockaddr_in *sin;

	compile_policy();
	T.l = loop_new(LIM_LOOP_FDS_CMD, LIM_LOOP_TIMERS_CMD);
	T.pc = podcache_new(4, 0);
	T.tc = T.l ? tokcache_new(T.l, 4, NULL) : NULL;
	if (T.l == NULL || T.pc == NULL || T.tc == NULL) {
		fprintf(stderr, "set-up: %p %p %p: %s\n", (void *)T.l,
		    (void *)T.pc, (void *)T.tc, strerror(errno));
		exit(2);
	}
	tokcache_set_fetcher(T.tc, POL_MANAGED, &f);
	loop_timer_init(&T.tick, tick, NULL);
	add_pod("o1", "orders-1", "orders");
	add_pod("p1", "plain-1", "plain");
	T.spol.file = "t.pol";
	memset(T.spol.sha256, 'f', 64);
	T.srules.mode = "off";
	T.src.loop = T.l;
	T.src.cache = T.pc;
	T.src.tokens = T.tc;
	T.src.policy = &T.policy;
	T.src.pol = &T.spol;
	T.src.rules = &T.srules;
	T.src.imds_endpoint = "http://169.254.169.254";
	T.src.max_pods = 4;
	T.src.uid = 65534;
	T.src.gid = 65534;
	memset(&oc, 0, sizeof(oc));
	sin = (struct sockaddr_in *)&oc.listen;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* port 0: any */
	oc.listen_len = sizeof(*sin);
	oc.src = &T.src;
	oc.pid = getpid();
	if ((T.ops = ops_new(T.l, &oc)) == NULL ||
	    ops_addr(T.ops, &T.addr, &T.alen) != 0)
		exit(2);
}

/* ---- a client ---- */

static void
pump(void)
{
	loop_timer_set(T.l, &T.tick, 5);
	loop_run_once(T.l);
}

static int
cl_send(const char *target)
{
	char req[1024];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int n = snprintf(req, sizeof(req),
	    "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target);

	if (fd == -1 || connect(fd, (struct sockaddr *)&T.addr, T.alen) != 0 ||
	    write(fd, req, (size_t)n) != n)
		exit(2);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* Pumps until the server closes fd; the answer in buf; its status. */
static int
cl_read(int fd, char *buf, size_t cap, int max_pumps)
{
	size_t len = 0;
	ssize_t n = -1;
	int i, status = 0;

	for (i = 0; i < max_pumps; i++) {
		pump();
		while (len < cap - 1 &&
		    (n = read(fd, buf + len, cap - 1 - len)) > 0)
			len += (size_t)n;
		if (n == 0)
			break;
	}
	buf[len] = '\0';
	close(fd);
	if (sscanf(buf, "HTTP/1.1 %d", &status) != 1)
		return -1;
	return status;
}

static char resp[65536];

static int
get(const char *target)
{
	return cl_read(cl_send(target), resp, sizeof(resp), 200);
}

static const char *
body(void)
{
	const char *b = strstr(resp, "\r\n\r\n");

	return b ? b + 4 : "";
}

/* ---- tests ---- */

static void
t_routes(void)
{
	check_int(get("/healthz"), 200);
	check_str(body(), "ok\n");
	check_int(get("/readyz"), 200);
	check_str(body(), "ok\n");
	check_int(get("/nope"), 404);
	check_int(get("/status/"), 404);
	check_int(get("/metrics"), 200);
	check(strstr(body(), "podid_pods_cached 2") != NULL);
	T.spol.last_failed = true;
	snprintf(T.spol.last_error, sizeof(T.spol.last_error),
	    "t.pol:1:1: error: x");
	check_int(get("/readyz"), 200);
	check_str(body(), "policy: t.pol:1:1: error: x\n");
	T.spol.last_failed = false;
}

static void
t_status(void)
{
	static struct selftest_status st;
	const char *b;

	check_int(get("/status"), 200);
	b = body();
	check_int(selftest_status_parse(&st, b, strlen(b)), 0);
	check_int(st.pid, getpid());
	check_int(st.pods.cached, 2);
	check_int(st.pods.max, 4);
	check_int(st.tokens.slots, 4);
	check_str(st.policy.file, "t.pol");
	check_int(st.policy.identities, 1);
	check_str(st.rules.mode, "off");
}

static void
t_status_pod(void)
{
	check_int(get("/status/pod?ns=shop&name=orders-1"), 200);
	check(strstr(body(), "\"verdict\":\"grant\"") != NULL);
	check(strstr(body(),
	          "{\"name\":\"orders-mi\",\"kind\":\"managed\","
	          "\"client_id\":\"00000000-0000-0000-0000-"
	          "00000000000a\",\"rule\":\"orders\"") != NULL);
	check(strstr(body(),
	          "\"ips\":[\"10.1.0.10\"],\"labels\":{\"app\":"
	          "\"orders\"}") != NULL);
	check(strstr(body(), "\"token\"") == NULL);
	check_int(get("/status/pod?ns=shop&name=plain-1"), 200);
	check(strstr(body(), "\"verdict\":\"deny\",\"identities\":[]") != NULL);
	check_int(get("/status/pod?ns=shop&name=plain-1&resource=r"), 200);
	check(strstr(body(), "\"token\":{\"status\":503") != NULL);
	check_int(get("/status/pod?ns=shop&name=nosuch"), 404);
	check_int(get("/status/pod?ns=shop"), 400);
	check_int(get("/status/pod"), 400);
	check_int(get("/status/pod?ns=shop&name=a&ns=b"), 400);
}

static void
t_token(void)
{
	int fd;
	unsigned starts = T.starts;

	fd = cl_send("/status/pod?ns=shop&name=orders-1&resource=https%3A%2F%"
	             "2Fvault.azure.net");
	pump();
	pump();
	check_int(T.starts, starts + 1); /* waiting for the fetcher */
	fake_answer();
	check_int(cl_read(fd, resp, sizeof(resp), 200), 200);
	check(strstr(body(),
	          "\"token\":{\"status\":200,\"identity\":"
	          "\"orders-mi\"") != NULL);
	check(strstr(body(), "\"length\":52}") != NULL);
	check(strstr(resp, "SECRET") == NULL && strstr(resp, "eyJ") == NULL);
	/* Now cached: a hit, no fetch. */
	check_int(get("/status/pod?ns=shop&name=orders-1&resource=https%3A%2F%"
	              "2Fvault.azure.net"),
	    200);
	check_int(T.starts, starts + 1);
	check(strstr(body(), "\"expires_in\":3") != NULL);
	check(strstr(resp, "SECRET") == NULL);
}

static void
t_client_leaves(void)
{
	const char *why = NULL;
	unsigned starts = T.starts;
	int fd, i;

	fd = cl_send("/status/pod?ns=shop&name=orders-1&resource=other");
	for (i = 0; i < 4; i++)
		pump();
	check_int(T.starts, starts + 1);
	close(fd);
	for (i = 0; i < 10; i++)
		pump();
	check_int(tokcache_check(T.tc, &why), 0);
	fake_answer(); /* nobody waits: the token is only cached */
	check_int(tokcache_check(T.tc, &why), 0);
	check_int(get("/healthz"), 200);
}

/* LIM_OPS_CONNS connections are served; one more is refused (503). */
static void
t_conns(void)
{
	int fds[LIM_OPS_CONNS + 1], i, extra;

	for (i = 0; i < (int)LIM_OPS_CONNS; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		check(connect(fds[i], (struct sockaddr *)&T.addr, T.alen) == 0);
		pump();
	}
	extra = cl_send("/healthz");
	check_int(cl_read(extra, resp, sizeof(resp), 50), 503);
	close(fds[0]);
	for (i = 0; i < 5; i++)
		pump();
	check_int(get("/healthz"), 200); /* a slot came free: N again */
	for (i = 1; i < (int)LIM_OPS_CONNS; i++)
		close(fds[i]);
	for (i = 0; i < 5; i++)
		pump();
}

int
main(void)
{
	start();
	test(t_routes, "routes");
	test(t_status, "status read back");
	test(t_status_pod, "status/pod");
	test(t_token, "a token through the cache, never shown");
	test(t_client_leaves, "a client leaves during the wait");
	test(t_conns, "LIM_OPS_CONNS at N and N+1");
	ops_free(T.ops);
	tokcache_free(T.tc);
	podcache_free(T.pc);
	loop_timer_cancel(T.l, &T.tick);
	loop_free(T.l);
	return harness_done();
}
