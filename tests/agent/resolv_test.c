/*
 * agent/resolv.c against tests/fakes/dns.py on 127.0.0.1 and 127.0.0.2
 * (one port; the second address is mute, a dead server), with a real
 * loop.  Each test writes its own resolv.conf and hosts, and reads the
 * fake's query log to see what was asked, in which order, over what.
 * Covers UDP, TCP after TC, CNAMEs, NXDOMAIN and no-data (cached),
 * SERVFAIL, answers with a wrong ID or question (ignored), search lists
 * with ndots, TTL expiry, hosts and literals, timeout then the second
 * server, the cache, pending and name limits at N and N+1, cancel, and
 * reading changed files again.  Run from the top of the tree.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <unistd.h>

#include "agent/limits.h"
#include "agent/log.h"
#include "agent/loop.h"
#include "agent/resolv.h"
#include "tests/harness.h"

static struct loop *L;
static char dir[64];
static uint16_t port;
static pid_t fake = -1;

static const char zone[] =
    "{\"a.test\": {\"A\": [\"10.0.0.1\", \"10.0.0.2\"], \"ttl\": 60},\n"
    " \"alias.test\": {\"CNAME\": \"mid.test\"},\n"
    " \"mid.test\": {\"CNAME\": \"a.test\"},\n"
    " \"big.test\": {\"A\": [\"10.1.1.1\"], \"tc\": true},\n"
    " \"empty.test\": {\"A\": []},\n"
    " \"fail.test\": {\"rcode\": 2},\n"
    " \"slow.test\": {\"drop\": true},\n"
    " \"spoof.test\": {\"A\": [\"10.2.2.2\"], \"spoof\": true},\n"
    " \"short.test\": {\"A\": [\"10.3.3.3\"], \"ttl\": 1},\n"
    " \"host.two.test\": {\"A\": [\"10.4.4.4\"]},\n"
    " \"e.one.test\": {\"A\": []},\n"
    " \"x.y.z.one.test\": {\"A\": [\"10.5.5.5\"]},\n"
    " \"c1.test\": {\"A\": [\"10.6.0.1\"]},\n"
    " \"c2.test\": {\"A\": [\"10.6.0.2\"]},\n"
    " \"c3.test\": {\"A\": [\"10.6.0.3\"]},\n"
    " \"_soa\": {\"ttl\": 30, \"minimum\": 1}}\n";

/*
 * The try timeout of resolvers whose server answers: the fake is a Python
 * process that a loaded machine may not schedule for a while, and a try
 * that times out fails a test that is about something else.
 */
#define T_ANSWER_MS 5000u
#define T_TTL_MS    1000u /* short.test's TTL, the SOA minimum (ms) */
#define T_SLACK_MS  50u   /* clock granularity (ms) */

struct res {
	int done, err;
	unsigned n;
	struct in_addr a[LIM_RESOLV_ADDRS];
};

static const char *
path(const char *name)
{
	static char buf[4][128];
	static unsigned i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static void
write_file(const char *name, const char *text)
{
	FILE *f = fopen(path(name), "w");

	if (f == NULL || fputs(text, f) == EOF || fclose(f) != 0) {
		perror(name);
		exit(2);
	}
}

/* The fake's query log, "ADDR PROTO NAME TYPE" lines; "" when empty. */
static const char *
qlog(void)
{
	static char buf[8192];
	FILE *f = fopen(path("q.log"), "r");
	size_t n = 0;

	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

static void
qlog_reset(void)
{
	if (truncate(path("q.log"), 0) == -1 && errno != ENOENT)
		exit(2);
}

static unsigned
qlog_lines(void)
{
	const char *s = qlog();
	unsigned n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/*
 * Waits (10 s at most) for the fake to have logged n queries.  A lookup
 * that ends on a timeout does not wait for the fake: its last query may
 * still be on its way to the log, and would land in the next test's.
 */
static void
qlog_wait(unsigned n)
{
	unsigned i;

	for (i = 0; i < 2000 && qlog_lines() < n; i++)
		usleep(5000);
}

static void
fake_start(void)
{
	struct pollfd pfd;
	char line[16] = "";
	int p[2];
	ssize_t n;

	write_file("zone.json", zone);
	if (pipe(p) == -1 || (fake = fork()) == -1)
		exit(2);
	if (fake == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(p[1], 1);
		close(p[0]);
		execlp("python3", "python3", "tests/fakes/dns.py", "--zone",
		    path("zone.json"), "--log", path("q.log"), "--listen",
		    "127.0.0.1", "--listen", "127.0.0.2", "--mute", "127.0.0.2",
		    (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	pfd = (struct pollfd){.fd = p[0], .events = POLLIN};
	if (poll(&pfd, 1, 20000) != 1 ||
	    (n = read(p[0], line, sizeof(line) - 1)) <= 0 || atoi(line) <= 0) {
		fprintf(stderr, "tests/fakes/dns.py did not start\n");
		exit(2);
	}
	close(p[0]);
	port = (uint16_t)atoi(line);
}

/* A resolver on files with these contents; tries of timeout_ms. */
static struct resolv *
mk(const char *conf, const char *hosts, unsigned slots, unsigned pending,
    uint32_t timeout_ms, unsigned attempts)
{
	struct resolv_config c;
	struct resolv *r;

	write_file("resolv.conf", conf);
	write_file("hosts", hosts);
	resolv_config_default(&c);
	c.resolv_conf_path = path("resolv.conf");
	c.hosts_path = path("hosts");
	c.port = port;
	c.cache_slots = slots;
	c.max_pending = pending;
	c.timeout_ms = timeout_ms;
	c.attempts = attempts;
	if ((r = resolv_new(L, &c)) == NULL) {
		perror("resolv_new");
		exit(2);
	}
	qlog_reset();
	return r;
}

static struct resolv *
mk_default(void)
{
	return mk("nameserver 127.0.0.1\n", "", 8, 4, T_ANSWER_MS, 1);
}

static void
cb(void *arg, int err, const struct in_addr *addrs, unsigned n)
{
	struct res *res = arg;

	res->done++;
	res->err = err;
	res->n = n;
	memcpy(res->a, addrs, n * sizeof(*addrs));
}

static void
deadline_cb(struct loop *l, struct loop_timer *t, void *arg)
{
	(void)l;
	(void)t;
	*(int *)arg = 1;
}

/* Runs the loop until *done or ms passed. */
static void
run_until(const int *done, uint64_t ms)
{
	struct loop_timer t;
	int expired = 0;

	loop_timer_init(&t, deadline_cb, &expired);
	loop_timer_set(L, &t, ms);
	while ((done == NULL || !*done) && !expired)
		loop_run_once(L);
	loop_timer_cancel(L, &t);
}

/* Looks name up and waits for the answer. */
static struct res
lookup(struct resolv *r, const char *name)
{
	struct res res = {0};
	uint32_t h;
	int rc;

	if ((rc = resolv_lookup(r, name, cb, &res, &h)) != 0) {
		res.done = 1;
		res.err = rc;
		return res;
	}
	check(res.done == 0); /* never from inside resolv_lookup */
	run_until(&res.done, 2 * T_ANSWER_MS);
	check_int(res.done, 1);
	return res;
}

static const char *
addr(const struct res *res, unsigned i)
{
	static char buf[4][INET_ADDRSTRLEN];

	if (i >= res->n)
		return "(none)";
	inet_ntop(AF_INET, &res->a[i], buf[i % 4], sizeof(buf[0]));
	return buf[i % 4];
}

/*
 * Looks name up twice, the second time within T_TTL_MS (the 1 s TTL of
 * short.test and the negative one of the zone's SOA) of the first query:
 * true when the server saw one query and the cache gave the second answer,
 * *res.  A pair further apart proves nothing (the entry may have expired
 * on a loaded machine): it is made again once the entry surely expired,
 * up to 5 times, and the retries are told on stderr.
 */
static bool
cached_pair(struct resolv *r, const char *name, struct res *res)
{
	uint64_t t0, hits;
	int i;

	for (i = 0; i < 5; i++) {
		t0 = loop_clock_ms();
		hits = resolv_stats(r)->cache_hits;
		*res = lookup(r, name);
		*res = lookup(r, name);
		if (loop_clock_ms() - t0 < T_TTL_MS - T_SLACK_MS)
			return qlog_lines() == 1 &&
			    resolv_stats(r)->cache_hits == hits + 1;
		fprintf(stderr,
		    "resolv_test: %s: lookups %llu ms apart, again\n", name,
		    (unsigned long long)(loop_clock_ms() - t0));
		usleep((T_TTL_MS + 100) * 1000);
		qlog_reset();
	}
	return false;
}

static void
t_udp(void)
{
	struct resolv *r = mk_default();
	struct res res = lookup(r, "a.test");

	check_int(res.err, 0);
	check_int(res.n, 2);
	check_str(addr(&res, 0), "10.0.0.1");
	check_str(addr(&res, 1), "10.0.0.2");
	check_str(qlog(), "127.0.0.1 udp a.test 1\n");
	check_int(resolv_stats(r)->udp_queries, 1);
	res = lookup(r, "A.TEST"); /* cached, names without case */
	check_int(res.n, 2);
	check_int(resolv_stats(r)->cache_hits, 1);
	check_int(qlog_lines(), 1);
	resolv_free(r);
}

static void
t_cname(void)
{
	struct resolv *r = mk_default();
	struct res res = lookup(r, "alias.test.");

	check_int(res.err, 0);
	check_int(res.n, 2);
	check_str(addr(&res, 0), "10.0.0.1");
	check_str(qlog(), "127.0.0.1 udp alias.test 1\n");
	resolv_free(r);
}

static void
t_tcp(void)
{
	struct resolv *r = mk_default();
	struct res res = lookup(r, "big.test");

	check_int(res.err, 0);
	check_int(res.n, 1);
	check_str(addr(&res, 0), "10.1.1.1");
	check_str(qlog(),
	    "127.0.0.1 udp big.test 1\n"
	    "127.0.0.1 tcp big.test 1\n");
	check_int(resolv_stats(r)->truncated, 1);
	check_int(resolv_stats(r)->tcp_queries, 1);
	resolv_free(r);
}

/* NXDOMAIN is kept for the SOA's minimum (1 s here), then asked again. */
static void
t_nxdomain(void)
{
	struct resolv *r = mk_default();
	struct res res = {0};

	check(cached_pair(r, "nx.test", &res)); /* one query, one hit */
	check_int(res.err, RESOLV_E_NXDOMAIN);
	check_int(res.n, 0);
	usleep(1100 * 1000);
	res = lookup(r, "nx.test");
	check_int(res.err, RESOLV_E_NXDOMAIN);
	check_int(qlog_lines(), 2);
	res = lookup(r, "empty.test");
	check_int(res.err, RESOLV_E_NODATA);
	res = lookup(r, "fail.test");
	check_int(res.err, RESOLV_E_SERVFAIL);
	res = lookup(r, "fail.test"); /* failures are not cached */
	check_int(qlog_lines(), 5);
	resolv_free(r);
}

static void
t_spoof(void)
{
	struct resolv *r = mk_default();
	struct res res = lookup(r, "spoof.test");

	check_int(res.err, 0);
	check_str(addr(&res, 0), "10.2.2.2");
	check_int(resolv_stats(r)->ignored, 2);
	resolv_free(r);
}

static void
t_search(void)
{
	struct resolv *r = mk("nameserver 127.0.0.1\n"
	                      "search one.test two.test.\n"
	                      "options ndots:2\n",
	    "", 8, 4, T_ANSWER_MS, 1);
	struct res res = lookup(r, "host"); /* 0 dots < 2: search first */

	check_int(res.err, 0);
	check_str(addr(&res, 0), "10.4.4.4");
	check_str(qlog(),
	    "127.0.0.1 udp host.one.test 1\n"
	    "127.0.0.1 udp host.two.test 1\n");
	qlog_reset();
	res = lookup(r, "x.y.z"); /* 2 dots: as is first */
	check_str(addr(&res, 0), "10.5.5.5");
	check_str(qlog(),
	    "127.0.0.1 udp x.y.z 1\n"
	    "127.0.0.1 udp x.y.z.one.test 1\n");
	qlog_reset();
	res = lookup(r, "nope");
	check_int(res.err, RESOLV_E_NXDOMAIN);
	check_str(qlog(),
	    "127.0.0.1 udp nope.one.test 1\n"
	    "127.0.0.1 udp nope.two.test 1\n"
	    "127.0.0.1 udp nope 1\n");
	qlog_reset();
	res = lookup(r, "host."); /* absolute */
	check_int(res.err, RESOLV_E_NXDOMAIN);
	check_str(qlog(), "127.0.0.1 udp host 1\n");
	qlog_reset();
	res = lookup(r, "e"); /* no data of one wins over NXDOMAIN */
	check_int(res.err, RESOLV_E_NODATA);
	check_int(qlog_lines(), 3);
	resolv_free(r);
}

static void
t_ttl(void)
{
	struct resolv *r = mk_default();
	struct res res = {0};

	check(cached_pair(r, "short.test", &res)); /* before expiry */
	check_str(addr(&res, 0), "10.3.3.3");
	check_int(qlog_lines(), 1);
	usleep(1100 * 1000);
	res = lookup(r, "short.test");
	check_str(addr(&res, 0), "10.3.3.3");
	check_int(qlog_lines(), 2); /* after: the server again */
	resolv_free(r);
}

static void
t_hosts(void)
{
	struct resolv *r = mk("nameserver 127.0.0.1\n",
	    "# comment\n"
	    "::1 ip6-localhost a.test\n"
	    "10.9.9.9\ta.test MyHost # alias\n"
	    "10.9.9.8 a.test\n",
	    8, 4, T_ANSWER_MS, 1);
	struct res res = lookup(r, "a.test");

	check_int(res.err, 0);
	check_int(res.n, 2);
	check_str(addr(&res, 0), "10.9.9.9");
	check_str(addr(&res, 1), "10.9.9.8");
	res = lookup(r, "myhost.");
	check_str(addr(&res, 0), "10.9.9.9");
	res = lookup(r, "192.0.2.7");
	check_int(res.n, 1);
	check_str(addr(&res, 0), "192.0.2.7");
	check_int(qlog_lines(), 0);
	check_int(resolv_stats(r)->hosts_hits, 2);
	check_int(resolv_stats(r)->literals, 1);
	resolv_free(r);
}

static void
t_failover(void)
{
	/* One try each: the dead server's costs its timeout, the fake's must
	 * answer within it (a loaded machine may stall a second or two). */
	struct resolv *r = mk(
	    "nameserver 127.0.0.2\nnameserver 127.0.0.1\n", "", 8, 4, 3000, 1);
	struct res res = {0};
	uint32_t h;

	/*
	 * The fake logs from one thread per address, so it may log two
	 * queries in either order: the first is sent, then logged while the
	 * loop stands still (the second cannot be sent), then the second.
	 */
	check_int(resolv_lookup(r, "a.test", cb, &res, &h), 0);
	run_until(&res.done, 100);
	qlog_wait(1);
	check_str(qlog(), "127.0.0.2 udp a.test 1\n");
	run_until(&res.done, 10000);
	check_int(res.done, 1);
	check_int(res.err, 0);
	qlog_wait(2);
	check_str(qlog(),
	    "127.0.0.2 udp a.test 1\n"
	    "127.0.0.1 udp a.test 1\n");
	check_int(resolv_stats(r)->timeouts, 1);
	resolv_free(r);
	r = mk("nameserver 127.0.0.2\n", "", 8, 4, 200, 2);
	res = lookup(r, "a.test");
	check_int(res.err, RESOLV_E_TIMEOUT);
	qlog_wait(2);
	check_str(qlog(),
	    "127.0.0.2 udp a.test 1\n"
	    "127.0.0.2 udp a.test 1\n");
	resolv_free(r);
	/* resolv.conf options win over the config, within their caps */
	r = mk("nameserver 127.0.0.1\noptions attempts:3\n", "", 8, 4, 100, 1);
	res = lookup(r, "slow.test");
	check_int(res.err, RESOLV_E_TIMEOUT);
	qlog_wait(3);
	check_int(qlog_lines(), 3);
	resolv_free(r);
	r = mk("nameserver 127.0.0.1\noptions attempts:6\n", "", 8, 4, 100, 1);
	res = lookup(r, "slow.test"); /* capped at N */
	qlog_wait(LIM_RESOLV_ATTEMPTS_MAX);
	usleep(200 * 1000); /* a query past the cap would be logged by now */
	check_int(qlog_lines(), LIM_RESOLV_ATTEMPTS_MAX);
	resolv_free(r);
}

/* cache_slots 2: two names stay, a third replaces the older. */
static void
t_cache_full(void)
{
	struct resolv *r =
	    mk("nameserver 127.0.0.1\n", "", 2, 4, T_ANSWER_MS, 1);

	lookup(r, "c1.test");
	lookup(r, "c2.test");
	lookup(r, "c1.test");
	lookup(r, "c2.test");
	check_int(qlog_lines(), 2);
	check_int(resolv_stats(r)->cache_evicted, 0);
	lookup(r, "c3.test");
	check_int(resolv_stats(r)->cache_evicted, 1);
	check_int(qlog_lines(), 3);
	lookup(r, "c2.test");
	check_int(qlog_lines(), 3);
	lookup(r, "c1.test");
	check_int(qlog_lines(), 4);
	resolv_free(r);
}

static void
t_pending(void)
{
	struct resolv *r =
	    mk("nameserver 127.0.0.1\n", "", 8, 2, T_ANSWER_MS, 1);
	struct res res[3] = {{0}};
	uint32_t h[3];

	check_int(resolv_lookup(r, "a.test", cb, &res[0], &h[0]), 0);
	check_int(resolv_lookup(r, "c1.test", cb, &res[1], &h[1]), 0);
	check_int(
	    resolv_lookup(r, "c2.test", cb, &res[2], &h[2]), RESOLV_E_FULL);
	check_int(resolv_stats(r)->refused_full, 1);
	run_until(&res[1].done, 2 * T_ANSWER_MS);
	run_until(&res[0].done, 2 * T_ANSWER_MS);
	check_int(res[0].err, 0);
	check_int(res[1].err, 0);
	check_int(res[2].done, 0);
	check_int(resolv_lookup(r, "c2.test", cb, &res[2], &h[2]), 0);
	run_until(&res[2].done, 2 * T_ANSWER_MS);
	check_str(addr(&res[2], 0), "10.6.0.2");
	resolv_free(r);
}

static void
t_cancel(void)
{
	struct resolv *r = NULL;
	struct res res[2];
	uint32_t h[2];
	uint64_t t0;
	int i;

	/* Cancelled before its 200 ms try timed out: a try where the machine
	 * was slower proves nothing and is made again. */
	for (i = 0; i < 5; i++) {
		memset(res, 0, sizeof(res));
		r = mk("nameserver 127.0.0.1\n", "", 8, 4, 200, 1);
		t0 = loop_clock_ms();
		check_int(resolv_lookup(r, "slow.test", cb, &res[0], &h[0]), 0);
		check_int(resolv_lookup(r, "10.0.0.9", cb, &res[1], &h[1]), 0);
		run_until(NULL, 50);
		if (loop_clock_ms() - t0 < 200 - T_SLACK_MS)
			break;
		fprintf(stderr, "resolv_test: cancel: slow try, again\n");
		resolv_free(r);
	}
	check(i < 5);
	check(h[0] != h[1] && h[0] != 0);
	check_int(res[1].done, 1); /* the literal came */
	resolv_cancel(r, h[0]);
	resolv_cancel(r, h[0]); /* twice is harmless */
	resolv_cancel(r, h[1]); /* finished: ignored */
	run_until(NULL, 500);
	check_int(res[0].done, 0);
	/* the freed slot takes a new lookup, under a new handle */
	check_int(resolv_lookup(r, "10.0.0.8", cb, &res[0], &h[1]), 0);
	check(h[1] != h[0]);
	resolv_cancel(r, h[0]); /* the old handle does not cancel it */
	run_until(&res[0].done, 1000);
	check_int(res[0].done, 1);
	resolv_free(r);
}

/* Names of LIM_RESOLV_NAME_BYTES work, one more is refused. */
static void
t_names(void)
{
	struct resolv *r = mk_default();
	char name[LIM_RESOLV_NAME_BYTES + 3];
	struct res res;
	uint32_t h;
	size_t i;

	for (i = 0; i < LIM_RESOLV_NAME_BYTES; i++)
		name[i] = (i % 50 == 49) ? '.' : 'a';
	name[LIM_RESOLV_NAME_BYTES] = '\0';
	res = lookup(r, name);
	check_int(res.err, RESOLV_E_NXDOMAIN);
	name[LIM_RESOLV_NAME_BYTES] = '.'; /* absolute: still N */
	name[LIM_RESOLV_NAME_BYTES + 1] = '\0';
	res = lookup(r, name);
	check_int(res.err, RESOLV_E_NXDOMAIN);
	name[LIM_RESOLV_NAME_BYTES] = 'a';
	check_int(resolv_lookup(r, name, cb, &res, &h), RESOLV_E_BADNAME);
	check_int(resolv_lookup(r, "", cb, &res, &h), RESOLV_E_BADNAME);
	check_int(resolv_lookup(r, "a..b", cb, &res, &h), RESOLV_E_BADNAME);
	check_int(resolv_lookup(r, "a b", cb, &res, &h), RESOLV_E_BADNAME);
	check_int(resolv_lookup(r, ".", cb, &res, &h), RESOLV_E_BADNAME);
	check_int(resolv_lookup(r, NULL, cb, &res, &h), RESOLV_E_INVAL);
	resolv_free(r);
}

static void
t_config(void)
{
	struct resolv_config c;

	resolv_config_default(&c);
	check_str(c.resolv_conf_path, "/etc/resolv.conf");
	check_str(c.hosts_path, "/etc/hosts");
	c.cache_slots = LIM_RESOLV_CACHE_SLOTS_MAX;
	c.max_pending = LIM_RESOLV_PENDING_MAX;
	c.resolv_conf_path = c.hosts_path = NULL;
	{
		struct resolv *r = resolv_new(L, &c);

		check(r != NULL);
		resolv_free(r);
	}
	c.cache_slots++;
	errno = 0;
	check(resolv_new(L, &c) == NULL && errno == EINVAL);
	c.cache_slots--;
	c.max_pending++;
	check(resolv_new(L, &c) == NULL && errno == EINVAL);
	c.max_pending = 0;
	check(resolv_new(L, &c) == NULL);
	check_str(resolv_strerror(RESOLV_E_NXDOMAIN), "no such host");
	check_str(resolv_strerror(-99), "unknown resolver error");
	check_str(resolv_strerror(RESOLV_E_SYS), "dns socket failure");
}

/* Changed files are read again, at most every LIM_RESOLV_RECHECK_MS. */
static void
t_reload(void)
{
	struct resolv *r = mk("nameserver 127.0.0.2\n", "10.7.7.7 h.test\n", 8,
	    4, T_ANSWER_MS, 1);
	struct res res = lookup(r, "h.test");
	struct timespec ts[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};

	check_str(addr(&res, 0), "10.7.7.7");
	write_file("hosts", "10.7.7.8 h.test\n");
	write_file("resolv.conf", "nameserver 127.0.0.1\n");
	utimensat(AT_FDCWD, path("hosts"), ts, 0);
	res = lookup(r, "h.test"); /* too soon to look */
	check_str(addr(&res, 0), "10.7.7.7");
	usleep((LIM_RESOLV_RECHECK_MS + 100) * 1000);
	res = lookup(r, "h.test");
	check_str(addr(&res, 0), "10.7.7.8");
	res = lookup(r, "a.test"); /* the new server */
	check_int(res.err, 0);
	check_int(resolv_stats(r)->reloads, 2);
	resolv_free(r);
}

static void
finish(void)
{
	if (fake > 0) {
		kill(fake, SIGTERM);
		waitpid(fake, NULL, 0);
	}
	unlink(path("zone.json"));
	unlink(path("q.log"));
	unlink(path("resolv.conf"));
	unlink(path("hosts"));
	rmdir(dir);
}

int
main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/resolv_test.XXXXXX");
	if (mkdtemp(dir) == NULL || (L = loop_new(256, 64)) == NULL) {
		perror("setup");
		return 2;
	}
	log_init(LOG_LVL_WARN, false);
	fake_start();
	test(t_udp, "udp answer, cached");
	test(t_cname, "cname chain");
	test(t_tcp, "tcp after truncation");
	test(t_nxdomain, "nxdomain, no data, servfail, negative ttl");
	test(t_spoof, "wrong id and question ignored");
	test(t_search, "search list and ndots");
	test(t_ttl, "ttl expiry");
	test(t_hosts, "hosts file and literals");
	test(t_failover, "timeout, second server, attempts");
	test(t_cache_full, "cache full at N and N+1");
	test(t_pending, "pending at N and N+1");
	test(t_cancel, "cancel");
	test(t_names, "name length at N and N+1");
	test(t_config, "config limits");
	test(t_reload, "files read again when changed");
	finish();
	loop_free(L);
	return harness_done();
}
