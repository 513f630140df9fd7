/*
 * Tests of agent/imds.c's counters, in one process: imds behind a real
 * server on 127.0.0.1, with an empty pod cache, an empty token cache and
 * no policy, so every route answers without the network (the token route
 * from its checks or a park that times out).  Each request is one
 * connection ("Connection: close"); the loop is pumped until the client
 * has the whole answer.  by_route must count each answer once, in its
 * route's row and its status's column, and nothing else.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/imds.h"
#include "agent/limits.h"
#include "agent/loop.h"
#include "agent/server.h"
#include "tests/harness.h"

int main(void);

#define T_PARK_MS 50u   /* how long an unknown pod's request is parked */
#define T_WAIT_MS 5000u /* a request gives up after this */

static struct {
	struct loop *l;
	struct server *s;
	struct imds *m;
	struct podcache *pc;
	struct tokcache *tc;
	const struct pol *policy;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct loop_timer tick;
} T;

static void
t_tick(struct loop *l, struct loop_timer *t, void *arg)
{
	(void)l;
	(void)t;
	(void)arg;
}

static void
t_start(void)
{
	struct sockaddr_in *a;
	struct server_config sc;
	struct imds_config ic;
	struct server_handler h;

	memset(&T, 0, sizeof(T));
	memset(&sc, 0, sizeof(sc));
	memset(&ic, 0, sizeof(ic));
	a = (struct sockaddr_in *)&sc.listen;
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sc.listen_len = sizeof(*a);
	sc.max_conns = 4;
	sc.header_ms = sc.idle_ms = sc.write_ms = T_WAIT_MS;
	if ((T.l = loop_new(256, 256)) == NULL ||
	    (T.pc = podcache_new(16, 1000)) == NULL ||
	    (T.tc = tokcache_new(T.l, 4, NULL)) == NULL)
		abort();
	ic.policy = &T.policy;
	ic.cache = T.pc;
	ic.tokens = T.tc;
	ic.park_ms = T_PARK_MS;
	ic.token_wait_ms = T_WAIT_MS;
	if ((T.m = imds_new(T.l, &ic)) == NULL)
		abort();
	h = imds_server_handler(T.m);
	if ((T.s = server_new(T.l, &sc, &h)) == NULL ||
	    server_addr(T.s, &T.addr, &T.addrlen) != 0)
		abort();
	imds_bind(T.m, T.s);
	loop_timer_init(&T.tick, t_tick, NULL);
}

static void
t_stop(void)
{
	server_free(T.s);
	imds_free(T.m);
	tokcache_free(T.tc);
	podcache_free(T.pc);
	loop_timer_cancel(T.l, &T.tick);
	loop_free(T.l);
}

/* GETs target on a new connection; the answer's status, or -1. */
static int
t_get(const char *target, const char *fields)
{
	static char buf[LIM_SRV_WRITE_BYTES + 1];
	char head[1024];
	uint64_t end = loop_clock_ms() + T_WAIT_MS;
	size_t len = 0;
	ssize_t n;
	int fd;

	snprintf(head, sizeof(head),
	    "GET %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n%s\r\n", target,
	    fields);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd == -1 ||
	    (connect(fd, (struct sockaddr *)&T.addr, T.addrlen) == -1 &&
	        errno != EINPROGRESS))
		abort();
	while (send(fd, head, strlen(head), MSG_NOSIGNAL) == -1) {
		if (errno != EAGAIN && errno != ENOTCONN)
			abort();
		loop_timer_set(T.l, &T.tick, 5);
		loop_run_once(T.l);
	}
	while (loop_clock_ms() < end && len < sizeof(buf) - 1) {
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		loop_timer_set(T.l, &T.tick, 10);
		loop_run_once(T.l);
	}
	close(fd);
	buf[len] = '\0';
	return len > 12 && memcmp(buf, "HTTP/1.1 ", 9) == 0 ? atoi(buf + 9)
	                                                    : -1;
}

/* The column of status in imds_codes (the last: any other). */
static unsigned
t_col(int status)
{
	unsigned k;

	for (k = 0; k < IMDS_CODES_N - 1; k++)
		if (imds_codes[k] == status)
			return k;
	return IMDS_CODES_N - 1;
}

/* The sum of every cell of by_route. */
static uint64_t
t_total(const struct imds_stats *st)
{
	uint64_t n = 0;
	unsigned r, k;

	for (r = 0; r < IMDS_R_N; r++)
		for (k = 0; k < IMDS_CODES_N; k++)
			n += st->by_route[r][k];
	return n;
}

static void
t_names(void)
{
	check_str(imds_route_name(IMDS_R_TOKEN), "token");
	check_str(imds_route_name(IMDS_R_HOST_TOKEN), "host_token");
	check_str(imds_route_name(IMDS_R_HEALTHZ), "healthz");
	check_str(imds_route_name(IMDS_R_READYZ), "readyz");
	check_str(imds_route_name(IMDS_R_PROXY), "proxy");
	check_str(imds_route_name(IMDS_R_OTHER), "other");
	check_str(imds_route_name(IMDS_R_N), "other");
	check_int(imds_codes[0], 200);
	check_int(imds_codes[12], 503);
	check_int(imds_codes[IMDS_CODES_N - 1], 0);
	check_int(t_col(504), 13);
	check_int(t_col(418), IMDS_CODES_N - 1);
}

#define TOKEN_Q                                                                \
	"/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x"

/* One request per route and answer kind: its row, status and count. */
static const struct {
	const char *target, *fields; /* extra header lines */
	enum imds_route route;
	int status;
} t_cases[] = {
    {"/healthz", "", IMDS_R_HEALTHZ, 200},
    {"/readyz", "", IMDS_R_READYZ, 503}, /* no policy */
    {"/nope", "", IMDS_R_OTHER, 404},
    {"/metadata/identity/x/../token", "", IMDS_R_OTHER, 400},
    {"/metadata/instance", "", IMDS_R_PROXY, 403},
    {"/metadata/instance", "X-Forwarded-For: a\r\n", IMDS_R_PROXY, 400},
    {TOKEN_Q, "", IMDS_R_TOKEN, 400}, /* no Metadata */
    /* An unknown pod: parked T_PARK_MS, then 503. */
    {TOKEN_Q, "Metadata: true\r\n", IMDS_R_TOKEN, 503},
    {"/host/token/?resource=x", "", IMDS_R_HOST_TOKEN, 400},
};

static void
t_by_route(void)
{
	struct imds_stats st;
	uint64_t before;
	size_t i;
	int got;

	t_start();
	for (i = 0; i < sizeof(t_cases) / sizeof(t_cases[0]); i++) {
		imds_stats(T.m, &st);
		before =
		    st.by_route[t_cases[i].route][t_col(t_cases[i].status)];
		check_int(t_total(&st), i);
		got = t_get(t_cases[i].target, t_cases[i].fields);
		check_int(got, t_cases[i].status);
		imds_stats(T.m, &st);
		check_int(
		    st.by_route[t_cases[i].route][t_col(t_cases[i].status)],
		    before + 1);
		check_int(t_total(&st), i + 1);
	}
	/* Twice the same: the cell holds 2, the rest unchanged. */
	check_int(t_get("/healthz", ""), 200);
	imds_stats(T.m, &st);
	check_int(st.by_route[IMDS_R_HEALTHZ][0], 2);
	check_int(st.by_route[IMDS_R_TOKEN][t_col(503)], 1);
	check_int(st.by_route[IMDS_R_TOKEN][t_col(400)], 1);
	check_int(st.by_route[IMDS_R_PROXY][t_col(403)], 1);
	check_int(st.parked, 1);
	check_int(st.park_timeouts, 1);
	check_int(t_total(&st), sizeof(t_cases) / sizeof(t_cases[0]) + 1);
	t_stop();
}

int
main(void)
{
	test(t_names, "route names and the status columns");
	test(t_by_route, "by_route: one count per answer, its row and column");
	return harness_done();
}
