/*
 * The IMDS client.  Each fetch the cache starts is a record moving
 * through one state machine:
 *
 *	start --> QUEUED --conn free, rate allows--> RUNNING --200/400/4xx--> (result)
 *	  |         ^                                   |
 *	  |         +---- backoff timer ---- BACKOFF <--+ 404/408/410/429/5xx/transport
 *	  |                                     |
 *	  +-- no free record: rejected          +-- attempts or budget spent --> 503
 *
 * The decisions live in ic_outcome() and ic_failed(); the hclient
 * callbacks only gather.  Nothing is dispatched from inside start: start
 * queues and arms a zero-delay "kick" timer, whose callback answers the
 * rejected fetches and feeds the queue to free connections.  So the
 * cache's callbacks never run under its own calls.
 *
 * The rate limit is a sliding window rather than a bucket: the send
 * times of the last LIM_IMDS_RATE_PER_S requests are kept, and one more
 * may go only 1000 ms (plus LIM_IMDSC_RATE_MARGIN_MS) after the oldest of
 * them.  The time is noted when a request is started, and a new connection
 * delays its write by the connect; the margin covers that, so IMDS never
 * sees more than 20 in a second of its own clock.  A bucket of 20 would let
 * 40 through in one second (a full bucket, then its refill); the window
 * never lets more than 20 into any second.  No jitter is added: IMDS is
 * per VM, so nodes do not compete, and the window spreads our own retries.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "agent/hclient.h"
#include "agent/imdsc.h"
#include "agent/log.h"
#include "agent/oauth.h"
#include "agent/upstream.h"

#define IC_NFETCH (LIM_IMDS_CONCURRENCY + LIM_IMDS_QUEUE)
#define IC_PATH   "/metadata/identity/oauth2/token?api-version=2018-02-01"

enum ic_state {
	IC_FREE,
	IC_QUEUED,  /* waiting for a connection and the rate */
	IC_RUNNING, /* a request is out on conn */
	IC_BACKOFF, /* waiting to retry */
	IC_ENDING   /* its result is being given to the cache */
};

struct imdsc;
struct ic_conn;

struct ic_fetch {
	enum ic_state state;
	uint32_t handle;
	unsigned attempts;       /* requests sent */
	bool resent;             /* resent once after a stale keep-alive */
	uint64_t start_ms;       /* when the cache started it */
	unsigned retry_after_s;  /* IMDS's last Retry-After */
	struct up_link link;     /* the queue */
	struct ic_conn *conn;    /* RUNNING */
	struct loop_timer timer; /* BACKOFF */
	struct imdsc *ic;
	char audit[32];    /* the last failure, for the audit line */
	char identity[64]; /* for logs */
	size_t reqlen;     /* of its request, ic->req[index of the fetch] */
};

struct ic_conn {
	struct up_resp r; /* first: the hclient callbacks' arg */
	struct hclient hc;
	struct imdsc *ic;
	struct ic_fetch *f; /* NULL: free */
	bool reused;        /* the request went on a kept-alive connection */
	uint64_t sent_us;   /* when the request started, for the latency */
	char rbuf[LIM_IMDSC_RECV_BYTES];
	char body[LIM_IMDSC_BODY_BYTES];
};

struct ic_reject {
	uint32_t handle;
	bool live; /* false: cancelled since */
};

struct imdsc {
	struct loop *loop;
	struct tokcache *tc;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char hostport[LIM_TLS_SERVER_NAME_BYTES + 1];
	struct imdsc_opts opt;
	struct imdsc_stats st;
	struct up_queue q;   /* of struct ic_fetch */
	struct up_rate rate; /* send times (ms) */
	struct loop_timer kick, rate_timer;
	struct ic_reject rej[LIM_IMDS_QUEUE]; /* a ring */
	unsigned rhead, rcount;
	size_t maplen;
	/* Scratch for one result at a time (never nested: see the top). */
	struct tok_token tok;
	struct imdsc_error eb;
	struct ic_conn conn[LIM_IMDS_CONCURRENCY];
	struct ic_fetch fetch[IC_NFETCH];
	/*
	 * The fetches' requests, apart from them: start-up touches every
	 * fetch (its timer), and pages of requests never written stay out
	 * of resident memory (133 x 4 KiB otherwise).
	 */
	char req[IC_NFETCH][LIM_IMDSC_REQUEST_BYTES];
};

/* ---- decoding (pure) --------------------------------------------------- */

/* agent/oauth.c decodes; its errors are ours, number for number. */
#define IC_SAME(e) ((int)IMDSC_E_##e == (int)OAUTH_E_##e)
_Static_assert(IC_SAME(JSON) && IC_SAME(MEMBERS) && IC_SAME(DUP) &&
        IC_SAME(TYPE) && IC_SAME(TOOLONG) && IC_SAME(VALUE) &&
        IC_SAME(NUMBER) && IC_SAME(NOTOKEN) && IC_SAME(NOEXPIRY) &&
        IC_SAME(NOERROR),
    "imdsc_err and oauth_err differ");
_Static_assert(offsetof(struct ic_conn, r) == 0, "up_resp first");
_Static_assert(LIM_IMDS_RATE_PER_S <= LIM_UP_RATE_SLOTS, "rate window");

/* IMDS echoes the request: resource and client_id are kept. */
static int
ic_decode_strings(const struct json_doc *doc, struct tok_token *out)
{
	int rc;

	if ((rc = oauth_access_token(doc, out)) != 0 ||
	    (rc = oauth_opt_str(doc, "resource", out->resource,
	         sizeof(out->resource), false)) != 0 ||
	    (rc = oauth_opt_str(doc, "client_id", out->client_id,
	         sizeof(out->client_id), false)) != 0 ||
	    (rc = oauth_opt_str(doc, "token_type", out->token_type,
	         sizeof(out->token_type), true)) != 0)
		return rc;
	if (out->token_type[0] == '\0')
		memcpy(out->token_type, "Bearer", 7);
	return 0;
}

int
imdsc_decode(const char *body, size_t len, int64_t now, struct tok_token *out)
{
	/* IMDS's expires_on is what it will honour; no ext_expires_in. */
	static const struct oauth_times how = {OAUTH_EXPIRES_ON_WINS, NULL};
	struct json_tok toks[LIM_IMDSC_JSON_TOKENS];
	struct json_doc doc;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = oauth_parse(&doc, body, len, toks, LIM_IMDSC_JSON_TOKENS)) ==
	        0 &&
	    (rc = ic_decode_strings(&doc, out)) == 0 &&
	    (rc = oauth_times(&doc, now, &how, out)) == 0)
		return 0;
	explicit_bzero(out, sizeof(*out));
	return rc;
}

int
imdsc_decode_error(const char *body, size_t len, struct imdsc_error *out)
{
	struct json_tok toks[LIM_IMDSC_JSON_TOKENS];
	struct json_doc doc;
	size_t n = 0, i;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = oauth_parse(&doc, body, len, toks, LIM_IMDSC_JSON_TOKENS)) !=
	        0 ||
	    (rc = oauth_error_code(&doc, out->error, sizeof(out->error))) != 0)
		goto fail;
	/* The whole description or none (IMDS's are short): too long is
	 * an error, unlike Azure AD's first line cut to fit. */
	rc = oauth_str(
	    &doc, "error_description", out->desc, sizeof(out->desc), &n);
	if (rc < 0)
		goto fail;
	/* Azure AD's descriptions carry CR LF before their trace ids. */
	for (i = 0; rc == 0 && i < n; i++)
		if ((unsigned char)out->desc[i] < 0x20 || out->desc[i] == 0x7f)
			out->desc[i] = ' ';
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	return rc;
}

/* ---- request target, endpoint (pure) ----------------------------------- */

static int
ic_append(char *dst, size_t len, size_t *o, const char *s, bool encode)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (!encode || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			if (*o + 1 >= len)
				return -1;
			dst[(*o)++] = (char)c;
			continue;
		}
		if (*o + 3 >= len)
			return -1;
		dst[(*o)++] = '%';
		dst[(*o)++] = hex[c >> 4];
		dst[(*o)++] = hex[c & 15];
	}
	return 0;
}

int
imdsc_target(char *dst, size_t len, const struct tok_req *req)
{
	const char *name = NULL, *val = NULL;
	size_t o = 0;

	if (req->client_id[0] != '\0') {
		name = "&client_id=";
		val = req->client_id;
	} else if (req->resource_id[0] != '\0') {
		name = "&msi_res_id=";
		val = req->resource_id;
	}
	if (len == 0 ||
	    ic_append(dst, len, &o, IC_PATH "&resource=", false) != 0 ||
	    ic_append(dst, len, &o, req->resource, true) != 0 ||
	    (name != NULL &&
	        (ic_append(dst, len, &o, name, false) != 0 ||
	            ic_append(dst, len, &o, val, true) != 0))) {
		if (len > 0)
			dst[0] = '\0';
		return IMDSC_E_SPACE;
	}
	dst[o] = '\0';
	return (int)o;
}

/* ":port" at *p (if any), 1..65535; advances *p.  -1 when bad. */
static long
ic_port(const char **p)
{
	long port = 0;
	int digits = 0;

	if (**p != ':')
		return 80;
	for ((*p)++; **p >= '0' && **p <= '9' && digits < 6; (*p)++, digits++)
		port = port * 10 + (**p - '0');
	return digits == 0 || port == 0 || port > 65535 ? -1 : port;
}

static int
ic_sockaddr(struct sockaddr_storage *ss, socklen_t *sslen, const char *ip,
    bool v6, long port)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (!v6 && inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*sslen = sizeof(*s4);
		return 0;
	}
	if (v6 && inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof(*s6);
		return 0;
	}
	return -1;
}

int
imdsc_endpoint(const char *url, struct sockaddr_storage *ss, socklen_t *sslen,
    char *hostport, size_t hostportlen)
{
	char ip[INET6_ADDRSTRLEN];
	const char *h = url + 7, *e, *p;
	bool v6;
	long port;

	if (strncmp(url, "http://", 7) != 0)
		return IMDSC_E_URL;
	if ((v6 = *h == '[')) {
		if ((e = strchr(++h, ']')) == NULL)
			return IMDSC_E_URL;
		p = e + 1;
	} else
		p = e = h + strcspn(h, ":/");
	if (e == h || (size_t)(e - h) >= sizeof(ip))
		return IMDSC_E_URL;
	memcpy(ip, h, (size_t)(e - h));
	ip[e - h] = '\0';
	if ((port = ic_port(&p)) < 0 || (*p == '/' ? p[1] : *p) != '\0' ||
	    (size_t)(p - (url + 7)) >= hostportlen ||
	    ic_sockaddr(ss, sslen, ip, v6, port) != 0)
		return IMDSC_E_URL;
	memcpy(hostport, url + 7, (size_t)(p - (url + 7)));
	hostport[p - (url + 7)] = '\0';
	return 0;
}

/* Its own errors; those it shares with oauth.c are named there. */
static const char *const ic_err_names[] = {
    [11] = "endpoint is not http://IP[:port]",
    [12] = "no space",
};

const char *
imdsc_strerror(int err)
{
	if (err >= OAUTH_E_LAST && err < 0)
		return oauth_strerror(err);
	if (err >= IMDSC_E_LAST && err < 0)
		return ic_err_names[-err];
	return "unknown imdsc error";
}

/* ---- the queue, the rate, the kick ------------------------------------- */

static void
ic_q_insert(struct imdsc *ic, struct ic_fetch *f, bool front)
{
	f->state = IC_QUEUED;
	up_q_insert(&ic->q, &f->link, front);
	if (++ic->st.queued > ic->st.max_queued)
		ic->st.max_queued = ic->st.queued;
}

static void
ic_q_remove(struct imdsc *ic, struct ic_fetch *f)
{
	up_q_remove(&ic->q, &f->link);
	ic->st.queued--;
}

/* ms until one more request may go: 0 when it may now.  The window has
 * the margin for connect delays (see the top). */
static uint64_t
ic_rate_wait(const struct imdsc *ic, uint64_t now)
{
	return up_rate_wait(&ic->rate, LIM_IMDS_RATE_PER_S,
	    1000 + LIM_IMDSC_RATE_MARGIN_MS, now);
}

static bool
ic_kick(struct imdsc *ic)
{
	return loop_timer_pending(&ic->kick) ||
	    loop_timer_set(ic->loop, &ic->kick, 0) == 0;
}

static void
ic_fetch_release(struct ic_fetch *f)
{
	f->state = IC_FREE;
	f->conn = NULL;
	f->link.prev = f->link.next = NULL;
}

static void
ic_conn_end(struct imdsc *ic, struct ic_conn *c)
{
	if (c->f != NULL) {
		c->f->conn = NULL;
		c->f = NULL;
		ic->st.running--;
	}
}

/* The buffers saw a token: wipe them once a response is dealt with. */
static void
ic_conn_wipe(struct ic_conn *c)
{
	explicit_bzero(c->rbuf, sizeof(c->rbuf));
	explicit_bzero(c->body, sizeof(c->body));
	c->r.bodylen = 0;
}

/* ---- results ----------------------------------------------------------- */

/* Gives r to the cache; the record stays taken until the call returns. */
static void
ic_deliver(struct imdsc *ic, struct ic_fetch *f, const struct tok_result *r)
{
	f->state = IC_ENDING;
	tokcache_fetched(ic->tc, f->handle, r);
	ic_fetch_release(f);
}

static void
ic_final(struct imdsc *ic, struct ic_fetch *f, int status, unsigned ra,
    const char *error, const char *desc)
{
	struct tok_result r = {status, ra, NULL, error, desc, f->audit};

	ic->st.failed++;
	ic_deliver(ic, f, &r);
}

static void
ic_give_up(struct imdsc *ic, struct ic_fetch *f)
{
	unsigned ra =
	    f->retry_after_s ? f->retry_after_s : LIM_IMDSC_RETRY_AFTER_S;

	log_warnx("imdsc: identity %s: no token after %u requests (%s)",
	    f->identity, f->attempts, f->audit);
	ic_final(ic, f, 503, ra, "service_unavailable",
	    "the node's IMDS is unavailable; retry later");
}

/* One request failed in a way worth retrying: back off, or give up. */
static void
ic_failed(struct imdsc *ic, struct ic_fetch *f, unsigned ra, const char *code)
{
	uint64_t delay;

	snprintf(f->audit, sizeof(f->audit), "%s", code);
	f->retry_after_s = ra;
	/* No jitter: see the top. */
	if (!up_retry_delay(up_backoff_ms(ic->opt.backoff_ms, f->attempts), ra,
	        f->attempts, ic->opt.attempts, loop_clock_ms() - f->start_ms,
	        ic->opt.budget_ms, &delay)) {
		ic_give_up(ic, f);
		return;
	}
	f->state = IC_BACKOFF;
	if (loop_timer_set(ic->loop, &f->timer, delay) != 0) {
		ic_give_up(ic, f);
		return;
	}
	ic->st.retries++;
	log_debug("imdsc: identity %s: %s, retrying in %llu ms", f->identity,
	    code, (unsigned long long)delay);
}

static void
ic_ok(struct imdsc *ic, struct ic_fetch *f, struct ic_conn *c)
{
	struct tok_result r = {200, 0, &ic->tok, NULL, NULL, "ok"};
	int rc;

	rc = imdsc_decode(c->body, c->r.bodylen, (int64_t)time(NULL), &ic->tok);
	if (rc != 0) {
		log_warnx("imdsc: identity %s: unusable token answer (%s)",
		    f->identity, imdsc_strerror(rc));
		snprintf(f->audit, sizeof(f->audit), "imds_bad_token");
		ic_final(ic, f, 503, LIM_IMDSC_RETRY_AFTER_S,
		    "service_unavailable",
		    "the node's IMDS gave an unusable answer");
		return;
	}
	ic->st.ok++;
	ic_deliver(ic, f, &r);
	explicit_bzero(&ic->tok, sizeof(ic->tok));
}

/*
 * A 4xx we do not retry.  400 (unknown identity, bad resource) goes to
 * the pods as IMDS said it.  Others come from IMDS refusing podid itself;
 * like aad-pod-identity's NMI, the pods get 403 (IMDS's words if any).
 */
static void
ic_refused(struct imdsc *ic, struct ic_fetch *f, struct ic_conn *c)
{
	int status = c->r.status == 400 ? 400 : 403;

	snprintf(f->audit, sizeof(f->audit), "imds_%d", c->r.status);
	if (imdsc_decode_error(c->body, c->r.bodylen, &ic->eb) != 0) {
		snprintf(ic->eb.error, sizeof(ic->eb.error), "%s",
		    status == 400 ? "invalid_request" : "forbidden");
		snprintf(ic->eb.desc, sizeof(ic->eb.desc),
		    "the node's IMDS refused the request (HTTP %d)",
		    c->r.status);
	}
	log_warnx("imdsc: identity %s: IMDS answered %d (%s)", f->identity,
	    c->r.status, ic->eb.error);
	ic_final(ic, f, status, 0, ic->eb.error, ic->eb.desc);
}

static bool
ic_retryable(int status)
{
	return status == 404 || status == 408 || status == 410 ||
	    status == 429 || (status >= 500 && status <= 599);
}

static const char *
ic_transport_code(int err)
{
	switch (err) {
	case HCLIENT_E_CONNECT:
		return "connect";
	case HCLIENT_E_TIMEOUT:
		return "timeout";
	case HCLIENT_E_CLOSED:
		return "closed";
	case HCLIENT_E_HEAD:
	case HCLIENT_E_PROTO:
		return "malformed";
	default:
		return "io";
	}
}

/* A request ended (err 0: a whole response in c): what comes next. */
static void
ic_outcome(struct imdsc *ic, struct ic_fetch *f, struct ic_conn *c, int err)
{
	char code[16];

	if (err == HCLIENT_E_ABORT) {
		snprintf(f->audit, sizeof(f->audit), "imds_too_large");
		ic_final(ic, f, 503, LIM_IMDSC_RETRY_AFTER_S,
		    "service_unavailable",
		    "the node's IMDS answer is too large");
	} else if (err != 0 && c->reused && !f->resent && c->r.status == 0 &&
	    (err == HCLIENT_E_CLOSED || err == HCLIENT_E_IO)) {
		/* IMDS let the idle connection go as we reused it: resend
		 * at once on a new one; it was never answered. */
		f->resent = true;
		f->attempts--;
		ic->st.reconnects++;
		ic_q_insert(ic, f, true);
	} else if (err != 0)
		ic_failed(ic, f, 0, ic_transport_code(err));
	else if (c->r.status == 200)
		ic_ok(ic, f, c);
	else if (ic_retryable(c->r.status)) {
		snprintf(code, sizeof(code), "imds_%d", c->r.status);
		ic_failed(ic, f, c->r.retry_after_s, code);
	} else if (c->r.status >= 400)
		ic_refused(ic, f, c);
	else {
		snprintf(f->audit, sizeof(f->audit), "imds_%d", c->r.status);
		ic_final(ic, f, 503, LIM_IMDSC_RETRY_AFTER_S,
		    "service_unavailable",
		    "the node's IMDS gave an unusable answer");
	}
}

/* ---- requests ---------------------------------------------------------- */

static void
ic_done(struct hclient *hc, int err, void *arg)
{
	struct ic_conn *c = arg;
	struct imdsc *ic = c->ic;
	struct ic_fetch *f = c->f;

	(void)hc;
	ic_conn_end(ic, c);
	if (f != NULL) {
		up_observe(&ic->st.dur_ok, &ic->st.dur_error,
		    err == 0 && c->r.status == 200, c->sent_us);
		ic_outcome(ic, f, c, err);
	}
	ic_conn_wipe(c);
	(void)ic_kick(ic); /* the connection is free for the queue */
}

static const struct hclient_cb ic_cb = {up_head_cb, up_body_cb, ic_done};

static void
ic_send(struct imdsc *ic, struct ic_fetch *f, struct ic_conn *c, uint64_t now)
{
	up_rate_note(&ic->rate, LIM_IMDS_RATE_PER_S, now);
	f->state = IC_RUNNING;
	f->conn = c;
	f->attempts++;
	c->f = f;
	up_resp_start(&c->r);
	c->reused = c->hc.state == HC_KEEPALIVE;
	c->sent_us = loop_clock_us();
	ic->st.requests++;
	if (++ic->st.running > ic->st.max_running)
		ic->st.max_running = ic->st.running;
	if (hclient_request(&c->hc, (const struct sockaddr *)&ic->addr,
	        ic->addrlen, ic->hostport, ic->req[f - ic->fetch], f->reqlen,
	        ic->opt.attempt_ms, &ic_cb, c) != 0) {
		ic_conn_end(ic, c);
		ic_failed(ic, f, 0, "connect");
	}
}

/* A free connection, a kept-alive one first. */
static struct ic_conn *
ic_idle_conn(struct imdsc *ic)
{
	struct ic_conn *any = NULL;
	unsigned i;

	for (i = 0; i < LIM_IMDS_CONCURRENCY; i++) {
		if (ic->conn[i].f != NULL)
			continue;
		if (ic->conn[i].hc.state == HC_KEEPALIVE)
			return &ic->conn[i];
		if (any == NULL)
			any = &ic->conn[i];
	}
	return any;
}

/* Sends queued fetches while a connection is free and the rate allows. */
static void
ic_pump(struct imdsc *ic)
{
	struct ic_conn *c;
	struct ic_fetch *f;
	uint64_t now, wait;

	while (ic->q.head != NULL && (c = ic_idle_conn(ic)) != NULL) {
		now = loop_clock_ms();
		if ((wait = ic_rate_wait(ic, now)) > 0) {
			if (!loop_timer_pending(&ic->rate_timer)) {
				ic->st.rate_waits++;
				(void)loop_timer_set(
				    ic->loop, &ic->rate_timer, wait);
			}
			return;
		}
		f = UP_ENTRY(ic->q.head, struct ic_fetch, link);
		ic_q_remove(ic, f);
		ic_send(ic, f, c, now);
	}
}

/* Answers the fetches refused for a full queue (only those there now). */
static void
ic_rejects(struct imdsc *ic)
{
	static const struct tok_result busy = {503, LIM_IMDSC_RETRY_AFTER_S,
	    NULL, "service_unavailable",
	    "too many token requests wait for the node's IMDS; retry later",
	    "imds_queue_full"};
	struct ic_reject e;
	unsigned n = ic->rcount;

	while (n-- > 0 && ic->rcount > 0) {
		e = ic->rej[ic->rhead];
		ic->rhead = (ic->rhead + 1) % LIM_IMDS_QUEUE;
		ic->rcount--;
		if (e.live)
			tokcache_fetched(ic->tc, e.handle, &busy);
	}
}

static void
ic_kick_cb(struct loop *l, struct loop_timer *t, void *arg)
{
	(void)l;
	(void)t;
	ic_rejects(arg);
	ic_pump(arg);
}

static void
ic_rate_cb(struct loop *l, struct loop_timer *t, void *arg)
{
	(void)l;
	(void)t;
	ic_pump(arg);
}

static void
ic_backoff_cb(struct loop *l, struct loop_timer *t, void *arg)
{
	struct ic_fetch *f = arg;

	(void)l;
	(void)t;
	ic_q_insert(f->ic, f, true); /* older than anything queued since */
	ic_pump(f->ic);
}

/* ---- the fetcher ------------------------------------------------------- */

static int
ic_reject(struct imdsc *ic, uint32_t handle)
{
	if (ic->rcount == LIM_IMDS_QUEUE || !ic_kick(ic))
		return -1;
	ic->rej[(ic->rhead + ic->rcount++) % LIM_IMDS_QUEUE] =
	    (struct ic_reject){handle, true};
	ic->st.rejected++;
	return 0;
}

static int
ic_start(void *ctx, const struct tok_req *req, uint32_t handle)
{
	static const struct httpc_hdr md = {
	    HTTPC_STR("Metadata"), HTTPC_STR("true")};
	struct imdsc *ic = ctx;
	char target[LIM_IMDSC_REQUEST_BYTES];
	struct ic_fetch *f = NULL;
	unsigned i;
	int n;

	ic->st.fetches++;
	for (i = 0; i < IC_NFETCH && f == NULL; i++)
		if (ic->fetch[i].state == IC_FREE)
			f = &ic->fetch[i];
	if (f == NULL)
		return ic_reject(ic, handle);
	if (imdsc_target(target, sizeof(target), req) < 0 ||
	    (n = httpc_req_format(ic->req[f - ic->fetch],
	         LIM_IMDSC_REQUEST_BYTES, "GET", ic->hostport, target, &md, 1,
	         0)) < 0 ||
	    !ic_kick(ic)) {
		ic->st.failed++;
		return -1;
	}
	f->reqlen = (size_t)n;
	f->handle = handle;
	f->attempts = 0;
	f->resent = false;
	f->start_ms = loop_clock_ms();
	f->retry_after_s = 0;
	f->audit[0] = '\0';
	snprintf(f->identity, sizeof(f->identity), "%s", req->identity);
	ic_q_insert(ic, f, false);
	return 0;
}

static void
ic_cancel(void *ctx, uint32_t handle)
{
	struct imdsc *ic = ctx;
	struct ic_fetch *f;
	unsigned i;

	for (i = 0; i < LIM_IMDS_QUEUE; i++)
		if (ic->rej[i].handle == handle)
			ic->rej[i].live = false;
	for (i = 0; i < IC_NFETCH; i++) {
		f = &ic->fetch[i];
		if (f->handle != handle || f->state == IC_FREE ||
		    f->state == IC_ENDING)
			continue;
		if (f->state == IC_QUEUED)
			ic_q_remove(ic, f);
		else if (f->state == IC_BACKOFF)
			loop_timer_cancel(ic->loop, &f->timer);
		else if (f->state == IC_RUNNING) {
			struct ic_conn *c = f->conn;

			hclient_close(&c->hc);
			ic_conn_end(ic, c);
			ic_conn_wipe(c);
			(void)ic_kick(ic);
		}
		ic_fetch_release(f);
		return;
	}
}

struct tok_fetcher
imdsc_fetcher(struct imdsc *ic)
{
	struct tok_fetcher f = {ic_start, ic_cancel, ic};

	return f;
}

/* ---- life -------------------------------------------------------------- */

void
imdsc_opts_default(struct imdsc_opts *o)
{
	o->attempts = LIM_IMDSC_ATTEMPTS;
	o->backoff_ms = LIM_IMDSC_BACKOFF_MS;
	o->budget_ms = LIM_IMDS_RETRY_BUDGET_MS;
	o->attempt_ms = LIM_IMDSC_ATTEMPT_MS;
}

int
imdsc_set_opts(struct imdsc *ic, const struct imdsc_opts *o)
{
	if (o->attempts == 0 || o->attempts > LIM_IMDSC_ATTEMPTS ||
	    o->attempt_ms == 0)
		return -1;
	ic->opt = *o;
	return 0;
}

void
imdsc_stats(const struct imdsc *ic, struct imdsc_stats *st)
{
	*st = ic->st;
}

struct imdsc *
imdsc_new(struct loop *loop, const struct sockaddr *imds, socklen_t len,
    const char *hostport, struct tokcache *tc)
{
	struct imdsc *ic;
	unsigned i;

	if (imds == NULL || len == 0 || len > sizeof(ic->addr) ||
	    hostport == NULL || *hostport == '\0' ||
	    strlen(hostport) >= sizeof(ic->hostport) || tc == NULL) {
		errno = EINVAL;
		return NULL;
	}
	/* The one allocation, at start-up; its buffers see tokens, so it
	 * stays out of core dumps. */
	ic = mmap(NULL, sizeof(*ic), PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ic == MAP_FAILED) {
		errno = ENOMEM;
		return NULL;
	}
	(void)madvise(ic, sizeof(*ic), MADV_DONTDUMP);
	ic->loop = loop;
	ic->tc = tc;
	memcpy(&ic->addr, imds, len);
	ic->addrlen = len;
	memcpy(ic->hostport, hostport, strlen(hostport) + 1);
	imdsc_opts_default(&ic->opt);
	loop_timer_init(&ic->kick, ic_kick_cb, ic);
	loop_timer_init(&ic->rate_timer, ic_rate_cb, ic);
	for (i = 0; i < LIM_IMDS_CONCURRENCY; i++) {
		ic->conn[i].ic = ic;
		up_resp_init(&ic->conn[i].r, ic->conn[i].body,
		    sizeof(ic->conn[i].body), LIM_IMDSC_RETRY_AFTER_MAX_S);
		hclient_init(&ic->conn[i].hc, loop, NULL, ic->conn[i].rbuf,
		    sizeof(ic->conn[i].rbuf));
	}
	for (i = 0; i < IC_NFETCH; i++) {
		ic->fetch[i].ic = ic;
		loop_timer_init(
		    &ic->fetch[i].timer, ic_backoff_cb, &ic->fetch[i]);
	}
	return ic;
}

void
imdsc_free(struct imdsc *ic)
{
	unsigned i;

	if (ic == NULL)
		return;
	for (i = 0; i < LIM_IMDS_CONCURRENCY; i++)
		hclient_close(&ic->conn[i].hc);
	for (i = 0; i < IC_NFETCH; i++)
		loop_timer_cancel(ic->loop, &ic->fetch[i].timer);
	loop_timer_cancel(ic->loop, &ic->kick);
	loop_timer_cancel(ic->loop, &ic->rate_timer);
	explicit_bzero(ic, sizeof(*ic));
	munmap(ic, sizeof(*ic));
}
