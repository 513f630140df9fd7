/*
 * The IMDS-compatible routes.  A token request goes through:
 *
 *	checks (Metadata, X-Forwarded-For, query)  -> 400 at once
 *	the pod, by source address                 -> parked while unknown
 *	the policy's verdict for it                 -> exception: proxied
 *	the identity (selector or the only one)    -> 400 Identity not found
 *	the token cache                             -> waits for the upstream
 *
 * Every answer to a token request writes one audit line.  Bodies follow
 * IMDS's shapes: {"error","error_description"} for the identity route,
 * every success field a string.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "agent/abuf.h"
#include "agent/hclient.h"
#include "agent/imds.h"
#include "agent/log.h"

#define JSON_CT "application/json; charset=utf-8"

/* The escaped resource is cut where log_json_escape into a buffer of
 * LIM_TOK_RESOURCE_BYTES * 2 bytes cut it (a resource of control bytes). */
#define IMDS_RES_ESC_MAX (LIM_TOK_RESOURCE_BYTES * 2 - 1)

enum sel_kind { SEL_NONE, SEL_CLIENT_ID, SEL_OBJECT_ID, SEL_RESOURCE_ID };

struct imds_proxy {
	struct hclient hc;
	struct imds *m;
	struct srv_conn *c;
	uint32_t gen;
	int status;
	char ctype[128];
	size_t blen;
	bool busy, toobig;
	char rbuf[LIM_SRV_WRITE_BYTES];
	char body[LIM_SRV_WRITE_BYTES - 512];
};

/* The pod a connection's current request resolved to, for its audit
 * line: kept apart from the cache, which may drop the pod meanwhile. */
struct imds_who {
	char uid[LIM_KOBJ_UID_BYTES + 1];
	char ns[LIM_KOBJ_NAMESPACE_BYTES + 1];
	char name[LIM_KOBJ_NAME_BYTES + 1];
};

struct imds {
	struct loop *loop;
	struct imds_config cfg;
	struct server *srv;
	struct imds_who *who; /* one per connection slot */
	unsigned nwho;
	struct srv_conn *parked; /* doubly linked through park_next/prev */
	struct imds_proxy *proxies;
	struct imds_stats st;
};

static void imds_token_route(struct imds *, struct srv_conn *);
static void imds_resolve(struct imds *, struct srv_conn *);

/* ---- counters ---------------------------------------------------------- */

const uint16_t imds_codes[IMDS_CODES_N] = {
    200, 400, 403, 404, 405, 408, 413, 414, 429, 431, 500, 502, 503, 504, 0};

static const char *const imds_route_names[IMDS_R_N] = {
    [IMDS_R_TOKEN] = "token",
    [IMDS_R_HOST_TOKEN] = "host_token",
    [IMDS_R_HEALTHZ] = "healthz",
    [IMDS_R_READYZ] = "readyz",
    [IMDS_R_PROXY] = "proxy",
    [IMDS_R_OTHER] = "other",
};

const char *
imds_route_name(enum imds_route r)
{
	return (unsigned)r < IMDS_R_N ? imds_route_names[r] : "other";
}

/* The column of imds_codes for status; the last one for any other. */
static unsigned
imds_code_col(int status)
{
	switch (status) {
	case 200:
		return 0;
	case 400:
		return 1;
	case 403:
		return 2;
	case 404:
		return 3;
	case 405:
		return 4;
	case 408:
		return 5;
	case 413:
		return 6;
	case 414:
		return 7;
	case 429:
		return 8;
	case 431:
		return 9;
	case 500:
		return 10;
	case 502:
		return 11;
	case 503:
		return 12;
	case 504:
		return 13;
	default:
		return IMDS_CODES_N - 1;
	}
}

/* The counters' route of c's request (c->route: an enum http_route). */
static enum imds_route
imds_count_route(const struct srv_conn *c)
{
	switch (c->route) {
	case HTTP_ROUTE_TOKEN:
		return IMDS_R_TOKEN;
	case HTTP_ROUTE_HOST_TOKEN:
		return IMDS_R_HOST_TOKEN;
	case HTTP_ROUTE_HEALTHZ:
		return IMDS_R_HEALTHZ;
	case HTTP_ROUTE_READYZ:
		return IMDS_R_READYZ;
	case HTTP_ROUTE_METADATA:
		return IMDS_R_PROXY;
	default:
		return IMDS_R_OTHER;
	}
}

/* Every answer of imds goes through here: counted, then given. */
static void
imds_respond(struct imds *m, struct srv_conn *c, int status, const char *ctype,
    const char *extra, const char *body, size_t len)
{
	if (c->state == SRV_WAITING)
		m->st.by_route[imds_count_route(c)][imds_code_col(status)]++;
	srv_respond(c, status, ctype, extra, body, len);
}

/* ---- answers ---------------------------------------------------------- */

static void
imds_error(struct imds *m, struct srv_conn *c, int status, const char *error,
    const char *desc, unsigned retry_after)
{
	char body[512], extra[64];
	struct abuf b, x;

	/* Cut to the buffer as snprintf would (a long upstream description
	 * used to be sent with the length it would have had). */
	abuf_init(&b, body, sizeof(body) - 1);
	ABUF_LIT(&b, "{\"error\":\"");
	abuf_str(&b, error);
	ABUF_LIT(&b, "\",\"error_description\":\"");
	abuf_str(&b, desc);
	ABUF_LIT(&b, "\"}");
	abuf_init(&x, extra, sizeof(extra) - 1);
	if (retry_after > 0) {
		ABUF_LIT(&x, "Retry-After: ");
		abuf_u64(&x, retry_after);
		ABUF_LIT(&x, "\r\n");
	}
	extra[x.len] = '\0';
	imds_respond(m, c, status, JSON_CT, x.len ? extra : NULL, body, b.len);
}

static struct imds_who *
imds_who(struct imds *m, const struct srv_conn *c)
{
	static struct imds_who none;

	if (c->id >= m->nwho) {
		memset(&none, 0, sizeof(none));
		return &none;
	}
	return &m->who[c->id];
}

/* Remembers the pod the request resolved to, for the audit line. */
static void
imds_note_pod(
    struct imds *m, const struct srv_conn *c, const struct podcache_entry *e)
{
	struct imds_who *w = imds_who(m, c);

	abuf_strlcpy(w->uid, sizeof(w->uid), e->uid);
	abuf_strlcpy(w->ns, sizeof(w->ns), e->ns);
	abuf_strlcpy(w->name, sizeof(w->name), e->name);
}

/* The client's address as inet_ntop writes it, IPv4 by hand (glibc's
 * inet_ntop formats IPv4 with sprintf). */
static void
imds_peer(struct abuf *b, const struct in6_addr *a)
{
	char v6[INET6_ADDRSTRLEN];
	int i;

	if (!IN6_IS_ADDR_V4MAPPED(a)) {
		inet_ntop(AF_INET6, a, v6, sizeof(v6));
		abuf_str(b, v6);
		return;
	}
	for (i = 12; i < 16; i++) {
		if (i > 12)
			abuf_ch(b, '.');
		abuf_u64(b, a->s6_addr[i]);
	}
}

/*
 * The audit line: who asked, what for, what happened; never a token.  The
 * pod is the one the request resolved to (imds_note_pod), if any.
 */
static void
imds_audit(struct imds *m, struct srv_conn *c, const char *identity,
    const char *rule, const char *outcome, int status, int64_t expires_on,
    const char *code)
{
	char line[2048];
	const struct imds_who *e = imds_who(m, c);
	struct abuf b;

	/* What snprintf(line, sizeof(line), ...) wrote: cut at 2047 bytes. */
	abuf_init(&b, line, sizeof(line) - 1);
	if (c->host)
		ABUF_LIT(&b, "\"route\":\"host_token\",\"client\":\"");
	else
		ABUF_LIT(&b, "\"route\":\"token\",\"client\":\"");
	imds_peer(&b, &c->peer);
	ABUF_LIT(&b, "\",\"pod_uid\":\"");
	abuf_str(&b, e->uid);
	ABUF_LIT(&b, "\",\"namespace\":\"");
	abuf_str(&b, e->ns);
	ABUF_LIT(&b, "\",\"pod\":\"");
	abuf_str(&b, e->name);
	ABUF_LIT(&b, "\",\"identity\":\"");
	abuf_str(&b, identity ? identity : "");
	ABUF_LIT(&b, "\",\"rule\":\"");
	abuf_str(&b, rule ? rule : "");
	ABUF_LIT(&b, "\",\"resource\":\"");
	abuf_json(&b, c->resource, c->resource_len, IMDS_RES_ESC_MAX);
	ABUF_LIT(&b, "\",\"outcome\":\"");
	abuf_str(&b, outcome);
	ABUF_LIT(&b, "\",\"status\":");
	abuf_i64(&b, status);
	ABUF_LIT(&b, ",\"expires_on\":");
	abuf_i64(&b, expires_on);
	ABUF_LIT(&b, ",\"code\":\"");
	abuf_str(&b, code ? code : "");
	abuf_ch(&b, '"');
	line[b.len] = '\0';
	log_audit(line);
	if (status == 200)
		m->st.tokens_served++;
	else
		m->st.tokens_refused++;
}

/*
 * IMDS's success fields after access_token, every one a string; cid is
 * the client id echoed.  IMDS echoes the selector a request named too.
 */
static void
imds_token_fields(struct abuf *b, const struct srv_conn *c,
    const struct tok_token *t, const struct pol_identity *id, const char *cid)
{
	int64_t in = t->expires_on - (int64_t)time(NULL);

	if (in < 0)
		in = 0;
	ABUF_LIT(b, "\",\"refresh_token\":\"\",\"expires_in\":\"");
	abuf_i64(b, in);
	ABUF_LIT(b, "\",\"expires_on\":\"");
	abuf_i64(b, t->expires_on);
	ABUF_LIT(b, "\",\"ext_expires_in\":\"");
	abuf_i64(b, in);
	ABUF_LIT(b, "\",\"not_before\":\"");
	abuf_i64(b, t->not_before ? t->not_before : t->issued_at);
	ABUF_LIT(b, "\",\"resource\":\"");
	abuf_json(b, c->resource, c->resource_len, IMDS_RES_ESC_MAX);
	ABUF_LIT(b, "\",\"token_type\":\"");
	abuf_str(b, t->token_type[0] ? t->token_type : "Bearer");
	ABUF_LIT(b, "\",\"client_id\":\"");
	abuf_str(b, cid);
	abuf_ch(b, '"');
	if (c->sel_kind == SEL_OBJECT_ID && id->object_id.len) {
		ABUF_LIT(b, ",\"object_id\":\"");
		abuf_str(b, id->object_id.s);
		abuf_ch(b, '"');
	} else if (c->sel_kind == SEL_RESOURCE_ID && id->resource_id.len) {
		ABUF_LIT(b, ",\"msi_res_id\":\"");
		abuf_str(b, id->resource_id.s);
		abuf_ch(b, '"');
	}
}

/* 200 with the token in IMDS's shape (or /host/token/'s wrapper). */
static void
imds_send_token(struct imds *m, struct srv_conn *c, const struct tok_token *t,
    const struct pol_identity *id)
{
	char body[LIM_TOK_TOKEN_BYTES + 3072];
	const char *cid = t->client_id[0] ? t->client_id : id->client_id.s;
	struct abuf b;

	if (cid == NULL)
		cid = "";
	/* The limit snprintf(body, sizeof(body), ...) had: room for a NUL. */
	abuf_init(&b, body, sizeof(body) - 1);
	if (c->host)
		ABUF_LIT(&b, "{\"token\":");
	ABUF_LIT(&b, "{\"access_token\":\"");
	abuf_add(&b, t->access_token, strnlen(t->access_token, t->access_len));
	imds_token_fields(&b, c, t, id, cid);
	abuf_ch(&b, '}');
	if (c->host) {
		ABUF_LIT(&b, ",\"clientid\":\"");
		abuf_str(&b, cid);
		ABUF_LIT(&b, "\"}");
	}
	if (b.over) {
		explicit_bzero(body, b.len);
		imds_error(m, c, 500, "server_error", "token too large", 0);
		return;
	}
	imds_respond(m, c, 200, JSON_CT, NULL, body, b.len);
	explicit_bzero(body, b.len);
}

/* ---- parking: requests from pods not seen yet ------------------------ */

static void
park_unlink(struct imds *m, struct srv_conn *c)
{
	if (!c->parked)
		return;
	if (c->park_prev)
		c->park_prev->park_next = c->park_next;
	else
		m->parked = c->park_next;
	if (c->park_next)
		c->park_next->park_prev = c->park_prev;
	c->park_next = c->park_prev = NULL;
	c->parked = false;
}

/* Waits for the pod's event, at most until park_deadline. */
static void
imds_park(struct imds *m, struct srv_conn *c, uint64_t until)
{
	uint64_t now = loop_now_ms(m->loop);

	if (c->park_deadline == 0) {
		c->park_deadline = now + m->cfg.park_ms;
		m->st.parked++;
	}
	if (until == 0 || until > c->park_deadline)
		until = c->park_deadline;
	if (now >= c->park_deadline) {
		m->st.park_timeouts++;
		imds_audit(
		    m, c, NULL, NULL, "pod_unknown", 503, 0, "pod_unknown");
		imds_error(m, c, 503, "service_unavailable",
		    "podid: this pod is not known yet", LIM_IMDS_RETRY_AFTER_S);
		return;
	}
	c->parked = true;
	c->park_prev = NULL;
	c->park_next = m->parked;
	if (m->parked)
		m->parked->park_prev = c;
	m->parked = c;
	srv_wait(c, until - now);
}

void
imds_pod_changed(struct imds *m, const struct podcache_entry *e)
{
	struct srv_conn *c, *next;

	for (c = m->parked; c != NULL; c = next) {
		next = c->park_next;
		if (!((e->ips & 1) && memcmp(&c->peer, &e->ip[0], 16) == 0) &&
		    !((e->ips & 2) && memcmp(&c->peer, &e->ip[1], 16) == 0))
			continue;
		park_unlink(m, c);
		imds_resolve(m, c);
	}
}

/* ---- proxying to the node's IMDS ------------------------------------- */

/*
 * An exception pod's token request: audited with the status it gets,
 * IMDS's ("proxied") or ours when IMDS gave none ("proxy_failed").
 */
static void
proxy_audit(struct imds *m, struct srv_conn *c, int status, const char *code)
{
	if (c->route == HTTP_ROUTE_TOKEN)
		imds_audit(m, c, NULL, NULL,
		    strcmp(code, "exception") == 0 ? "proxied" : "proxy_failed",
		    status, 0, code);
}

static void
proxy_head(struct hclient *hc, const struct httpc_resp *r, void *arg)
{
	struct imds_proxy *p = arg;
	struct httpc_slice ct = httpc_header(r, "Content-Type");

	(void)hc;
	p->status = r->status;
	snprintf(p->ctype, sizeof(p->ctype), "%.*s",
	    ct.ptr ? (int)(ct.len < 127 ? ct.len : 127) : 16,
	    ct.ptr ? ct.ptr : "application/json");
}

static int
proxy_body(struct hclient *hc, const char *d, size_t len, void *arg)
{
	struct imds_proxy *p = arg;

	(void)hc;
	if (len > sizeof(p->body) - p->blen) {
		p->toobig = true;
		return -1;
	}
	memcpy(p->body + p->blen, d, len);
	p->blen += len;
	return 0;
}

static void
proxy_done(struct hclient *hc, int err, void *arg)
{
	struct imds_proxy *p = arg;
	struct srv_conn *c = p->c;
	struct imds *m = p->m;
	char ebuf[128];

	p->busy = false;
	if (c == NULL || c->gen != p->gen || c->state != SRV_WAITING)
		return; /* the client went away */
	c->upstream = NULL;
	if (err != 0) {
		m->st.proxy_failed++;
		log_warnx("imds: proxy to the node's IMDS: %s",
		    p->toobig ? "answer too large"
		              : hclient_strerror(hc, ebuf, sizeof(ebuf)));
		proxy_audit(m, c, 502, "proxy_failed");
		imds_error(m, c, 502, "server_error",
		    "podid: the node's IMDS did not answer", 0);
		return;
	}
	m->st.proxied++;
	proxy_audit(m, c, p->status, "exception");
	imds_respond(m, c, p->status, p->ctype, NULL, p->body, p->blen);
}

static const struct hclient_cb proxy_cb = {proxy_head, proxy_body, proxy_done};

/* Passes the request, as it came, to the node's IMDS. */
static void
imds_proxy(struct imds *m, struct srv_conn *c)
{
	struct imds_proxy *p = NULL;
	unsigned i;

	for (i = 0; i < LIM_IMDS_PROXY_SLOTS; i++)
		if (!m->proxies[i].busy) {
			p = &m->proxies[i];
			break;
		}
	if (p != NULL && p->m == NULL) {
		/* Readied when first taken: start-up leaves the slots (26 KiB
		 * each) untouched (issue 3). */
		p->m = m;
		hclient_init(&p->hc, m->loop, NULL, p->rbuf, sizeof(p->rbuf));
	}
	if (p == NULL) {
		proxy_audit(m, c, 503, "proxy_busy");
		imds_error(m, c, 503, "service_unavailable",
		    "podid: too many requests to the node's IMDS", 1);
		return;
	}
	p->busy = true;
	p->c = c;
	p->gen = c->gen;
	p->status = 0;
	p->blen = 0;
	p->toobig = false;
	c->upstream = p;
	if (hclient_request(&p->hc, (struct sockaddr *)&m->cfg.imds_addr,
	        m->cfg.imds_len, "", c->rbuf + c->head_off, c->head_len,
	        m->cfg.token_wait_ms, &proxy_cb, p) != 0) {
		p->busy = false;
		c->upstream = NULL;
		proxy_audit(m, c, 502, "proxy_failed");
		imds_error(m, c, 502, "server_error",
		    "podid: cannot reach the node's IMDS", 0);
		return;
	}
	srv_wait(c, m->cfg.token_wait_ms + 1000);
}

/* ---- the token route --------------------------------------------------- */

static bool
imds_route_allowed(const struct pol *p, struct http_slice path)
{
	uint32_t i;
	size_t n;

	for (i = 0; p != NULL && i < p->nproxy_routes; i++) {
		n = p->proxy_routes[i].len;
		if (path.len >= n &&
		    memcmp(path.ptr, p->proxy_routes[i].s, n) == 0 &&
		    (path.len == n || path.ptr[n] == '/'))
			return true;
	}
	return false;
}

/* Which granted identity the request names, or the only one. */
static const struct pol_grant *
imds_select(const struct pol *p, struct srv_conn *c, const struct pol_result *r,
    bool *several)
{
	const struct pol_grant *found = NULL;
	const struct pol_identity *id;
	const struct pol_str *f;
	uint32_t i, n = 0;

	*several = false;
	for (i = 0; i < r->ngrants; i++) {
		id = &p->identities[r->grants[i].identity];
		if (c->host && !id->host_token)
			continue;
		if (c->sel_kind != SEL_NONE) {
			f = c->sel_kind == SEL_CLIENT_ID   ? &id->client_id
			    : c->sel_kind == SEL_OBJECT_ID ? &id->object_id
			                                   : &id->resource_id;
			if (f->len == 0 || strcasecmp(f->s, c->sel) != 0)
				continue;
		}
		found = &r->grants[i];
		n++;
	}
	if (c->sel_kind == SEL_NONE && n > 1) {
		*several = true;
		return NULL;
	}
	return found;
}

/* Does the pod still have identity i (after a wait, a policy swap)? */
static bool
imds_still_granted(
    const struct pol *p, const struct podcache_entry *e, uint32_t i)
{
	uint32_t k;

	if (p == NULL || i >= p->nidentities || e->grants.verdict != POL_GRANT)
		return false;
	for (k = 0; k < e->grants.ngrants; k++)
		if (e->grants.grants[k].identity == i)
			return true;
	return false;
}

static void
imds_waited(struct tok_waiter *w, const struct tok_result *r)
{
	struct srv_conn *c = (struct srv_conn *)(void *)((char *)w -
	    offsetof(struct srv_conn, waiter));
	struct imds *m = c->upstream;
	const struct pol *p = *m->cfg.policy;
	const struct podcache_entry *e = podcache_still(m->cfg.cache, &c->pod);
	const struct pol_identity *id;

	c->upstream = NULL;
	if (e == NULL || !e->live || !imds_still_granted(p, e, c->identity)) {
		/* The pod went, stopped, or lost the identity meanwhile. */
		imds_audit(m, c, NULL, NULL, "pod_gone", 400, 0, "");
		imds_error(
		    m, c, 400, "invalid_request", "Identity not found", 0);
		return;
	}
	id = &p->identities[c->identity];
	imds_audit(m, c, id->name.s, p->rules[c->rule].name.s,
	    r->status == 200 ? "served" : "upstream_error", r->status,
	    r->status == 200 ? r->tok->expires_on : 0,
	    r->audit_code ? r->audit_code : r->error);
	if (r->status == 200)
		imds_send_token(m, c, r->tok, id);
	else
		imds_error(m, c, r->status,
		    r->error ? r->error : "server_error",
		    r->error_desc ? r->error_desc : "podid: upstream failed",
		    r->retry_after_s);
}

/* The identity is chosen: the token, now or after the upstream. */
static void
imds_fetch(struct imds *m, struct srv_conn *c, const struct podcache_entry *e,
    const struct pol_grant *g)
{
	const struct pol *p = *m->cfg.policy;
	const struct pol_identity *id = &p->identities[g->identity];
	const struct tok_token *tok;
	struct tok_req pod;

	memset(&pod, 0, sizeof(pod));
	abuf_strlcpy(pod.pod_ns, sizeof(pod.pod_ns), e->ns);
	abuf_strlcpy(pod.pod_name, sizeof(pod.pod_name), e->name);
	abuf_strlcpy(pod.pod_uid, sizeof(pod.pod_uid), e->uid);
	abuf_strlcpy(pod.pod_sa, sizeof(pod.pod_sa), e->sa);
	c->identity = g->identity;
	c->rule = g->rule;
	tokcache_waiter_init(&c->waiter, imds_waited);
	c->upstream = m;
	switch (tokcache_get(m->cfg.tokens, id, c->resource, c->resource_len,
	    &pod, &c->waiter, &tok)) {
	case TOK_HIT:
		c->upstream = NULL;
		imds_audit(m, c, id->name.s, p->rules[g->rule].name.s, "served",
		    200, tok->expires_on, "cache");
		imds_send_token(m, c, tok, id);
		return;
	case TOK_WAIT:
		srv_wait(c, m->cfg.token_wait_ms);
		return;
	case TOK_INVALID:
		c->upstream = NULL;
		imds_audit(m, c, id->name.s, p->rules[g->rule].name.s,
		    "invalid", 400, 0, "invalid_request");
		imds_error(m, c, 400, "invalid_request",
		    "podid: the resource or identity is not acceptable", 0);
		return;
	default:
		c->upstream = NULL;
		imds_audit(m, c, id->name.s, p->rules[g->rule].name.s, "busy",
		    503, 0, "token_cache_full");
		imds_error(m, c, 503, "service_unavailable",
		    "podid: token cache busy", 2);
	}
}

/* The pod is known: what does the policy give it? */
static void
imds_grant(struct imds *m, struct srv_conn *c, const struct podcache_entry *e)
{
	const struct pol *p = *m->cfg.policy;
	const struct pol_grant *g;
	bool several;

	if (e->grants.verdict == POL_EXCEPTION && !c->host) {
		imds_proxy(m, c);
		return;
	}
	if (p == NULL || e->grants.verdict != POL_GRANT ||
	    (g = imds_select(p, c, &e->grants, &several)) == NULL) {
		several = p && e->grants.verdict == POL_GRANT && several;
		imds_audit(m, c, NULL, NULL,
		    several ? "several_identities" : "no_identity", 400, 0, "");
		imds_error(m, c, 400, "invalid_request",
		    several ? "Multiple user assigned identities exist, please "
		              "specify "
		              "the clientId / resourceId of the identity in "
		              "the token "
		              "request"
		            : "Identity not found",
		    0);
		return;
	}
	imds_fetch(m, c, e, g);
}

/* Finds the calling pod (by address, or by name for hosts). */
static void
imds_resolve(struct imds *m, struct srv_conn *c)
{
	const struct podcache_entry *e = NULL;
	uint64_t now = loop_now_ms(m->loop);
	struct http_slice ns, name;

	if (c->host) {
		ns = http_header(&c->req, "podns");
		name = http_header(&c->req, "podname");
		e = podcache_by_name(
		    m->cfg.cache, ns.ptr, ns.len, name.ptr, name.len);
		if (e == NULL) {
			imds_park(m, c, 0);
			return;
		}
		podcache_ref(m->cfg.cache, e, &c->pod);
		imds_note_pod(m, c, e);
		imds_grant(m, c, e);
		return;
	}
	switch (podcache_resolve(m->cfg.cache, &c->peer, now, &e)) {
	case PODCACHE_FOUND:
		podcache_ref(m->cfg.cache, e, &c->pod);
		imds_note_pod(m, c, e);
		imds_grant(m, c, e);
		return;
	case PODCACHE_QUARANTINED:
		imds_park(m, c,
		    podcache_quarantine_until(m->cfg.cache, &c->peer) + 1);
		return;
	case PODCACHE_AMBIGUOUS:
		m->st.ambiguous++;
		imds_audit(m, c, NULL, NULL, "ambiguous_ip", 503, 0, "");
		imds_error(m, c, 503, "service_unavailable",
		    "podid: two pods claim this address", 2);
		return;
	default:
		imds_park(m, c, 0);
	}
}

/*
 * A token request refused before its pod is looked for (a probe, a bad
 * query): answered at once, and audited with the pod when the cache
 * already knows it (never parked for that).
 */
static void
imds_refuse(struct imds *m, struct srv_conn *c, int status, const char *desc,
    const char *code)
{
	const struct podcache_entry *e = NULL;

	if (!c->host &&
	    podcache_resolve(m->cfg.cache, &c->peer, loop_now_ms(m->loop),
	        &e) == PODCACHE_FOUND)
		imds_note_pod(m, c, e);
	imds_audit(m, c, NULL, NULL, "bad_request", status, 0, code);
	imds_error(m, c, status, "invalid_request", desc, 0);
}

/* A selector's kind by its parameter name; SEL_NONE for others. */
static int
imds_sel_kind(const char *name)
{
	if (strcmp(name, "client_id") == 0)
		return SEL_CLIENT_ID;
	if (strcmp(name, "object_id") == 0)
		return SEL_OBJECT_ID;
	if (strcmp(name, "msi_res_id") == 0 || strcmp(name, "mi_res_id") == 0)
		return SEL_RESOURCE_ID;
	return SEL_NONE;
}

/*
 * IMDS's checks on the query: NULL, or why it is refused (*code set).
 * One decoding pass after the duplicate check.
 */
static const char *
imds_query(struct srv_conn *c, const char **code)
{
	struct http_query_iter it;
	struct http_param prm;
	bool have_ver = false, ver_ok = false;
	int rc, kind, nsel = 0;

	*code = "bad_query";
	if ((rc = http_query_check(c->req.query)) < 0)
		return http_strerror(rc);
	c->sel_kind = SEL_NONE;
	c->resource_len = 0;
	http_query_init(&it, c->req.query);
	while ((rc = http_query_next(&it, &prm)) == 1) {
		if (strcmp(prm.name, "api-version") == 0) {
			have_ver = true;
			ver_ok = strcmp(prm.value, "2018-02-01") >= 0;
		} else if (strcmp(prm.name, "resource") == 0) {
			if (prm.value_len >= sizeof(c->resource))
				return http_strerror(HTTP_ERR_QUERY_VALUE_LONG);
			memcpy(c->resource, prm.value, prm.value_len + 1);
			c->resource_len = prm.value_len;
		} else if ((kind = imds_sel_kind(prm.name)) != SEL_NONE &&
		    prm.value_len > 0) {
			memcpy(c->sel, prm.value, prm.value_len + 1);
			c->sel_kind = kind;
			nsel++;
		}
	}
	if (rc < 0)
		return http_strerror(rc);
	*code = "api_version";
	if (!c->host && !have_ver)
		return "Required query variable 'api-version' is missing";
	if (!c->host && !ver_ok)
		return "Invalid 'api-version' requested";
	*code = "no_resource";
	if (c->resource_len == 0)
		return "Required query variable 'resource' is missing";
	*code = "bad_query";
	if (nsel > 1)
		return "Only one of client_id, object_id and msi_res_id may be "
		       "given";
	return NULL;
}

/* The fields the token route checks, counted in one pass over the head. */
struct imds_fields {
	unsigned metadata, xff, podns, podname;
	struct http_slice md; /* the first Metadata value */
};

/* name (len bytes) is lit (lower case), ASCII case-insensitively. */
static bool
imds_name_is(const struct http_slice *name, const char *lit, size_t len)
{
	return name->len == len && strncasecmp(name->ptr, lit, len) == 0;
}

static void
imds_scan_fields(const struct http_req *r, struct imds_fields *f)
{
	const struct http_slice *n;
	size_t i;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < r->nheaders; i++) {
		n = &r->headers[i].name;
		if (imds_name_is(n, "metadata", 8)) {
			if (f->metadata++ == 0)
				f->md = r->headers[i].value;
		} else if (imds_name_is(n, "x-forwarded-for", 15))
			f->xff++;
		else if (imds_name_is(n, "podns", 5))
			f->podns++;
		else if (imds_name_is(n, "podname", 7))
			f->podname++;
	}
}

/* The checks IMDS makes before anything else; NULL when they pass. */
static const char *
imds_head_checks(struct srv_conn *c, int *status, const char **code)
{
	struct imds_fields f;

	imds_scan_fields(&c->req, &f);
	*status = 400;
	*code = "no_metadata";
	if (!c->host &&
	    (f.metadata != 1 || f.md.len != 4 ||
	        memcmp(f.md.ptr, "true", 4) != 0))
		return "Required metadata header not specified";
	*code = "x_forwarded_for";
	if (f.xff > 0)
		return "Requests with X-Forwarded-For are not accepted";
	if (c->host && !c->local) {
		*status = 403;
		*code = "not_local";
		return "podid: /host/token/ is for callers on the node";
	}
	*code = "no_pod_headers";
	if (c->host && (f.podns != 1 || f.podname != 1))
		return "missing 'podname' and 'podns' from request header";
	return imds_query(c, code);
}

static void
imds_token_route(struct imds *m, struct srv_conn *c)
{
	const char *why, *code;
	int status;

	/* A probe without the header is answered at once. */
	if ((why = imds_head_checks(c, &status, &code)) != NULL) {
		imds_refuse(m, c, status, why, code);
		return;
	}
	c->park_deadline = 0;
	if (c->host)
		m->st.host_tokens++;
	imds_resolve(m, c);
}

/* ---- the other routes ------------------------------------------------ */

static void
imds_ready(struct imds *m, struct srv_conn *c)
{
	const struct kube_stats *ks =
	    m->cfg.kube ? kube_stats(m->cfg.kube) : NULL;
	bool pol = *m->cfg.policy != NULL, synced = ks == NULL || ks->synced;
	char body[512];
	int n;

	n = snprintf(body, sizeof(body),
	    "{\"ready\":%s,\"policy\":%s,\"pods_synced\":%s,\"detail\":\"%s\"}",
	    pol && synced ? "true" : "false", pol ? "true" : "false",
	    synced ? "true" : "false",
	    m->cfg.ready_detail ? m->cfg.ready_detail : "");
	imds_respond(
	    m, c, pol && synced ? 200 : 503, JSON_CT, NULL, body, (size_t)n);
}

/*
 * A /metadata route that is not the token: exception pods and allowed
 * routes go to the node's IMDS; the rest is refused.  IMDS refuses
 * X-Forwarded-For on every route, so such a request is not passed on.
 */
static void
imds_metadata_route(struct imds *m, struct srv_conn *c)
{
	static const char denied[] = "{\"error\":\"podid: this IMDS route is "
	                             "not allowed by the policy\"}";
	static const char xff[] =
	    "{\"error\":\"Bad request. X-Forwarded-For is not accepted\"}";
	const struct podcache_entry *e = NULL;

	if (http_header_count(&c->req, "X-Forwarded-For") > 0) {
		imds_respond(m, c, 400, JSON_CT, NULL, xff, sizeof(xff) - 1);
		return;
	}
	if (podcache_resolve(m->cfg.cache, &c->peer, loop_now_ms(m->loop),
	        &e) == PODCACHE_FOUND &&
	    e->grants.verdict == POL_EXCEPTION) {
		imds_proxy(m, c);
		return;
	}
	if (imds_route_allowed(*m->cfg.policy, c->req.path)) {
		imds_proxy(m, c);
		return;
	}
	imds_respond(m, c, 403, JSON_CT, NULL, denied, sizeof(denied) - 1);
}

static void
imds_request(struct srv_conn *c, void *arg)
{
	struct imds *m = arg;
	enum http_route route = http_route(c->req.path);

	c->route = (int)route;
	c->host = false;
	c->parked = false;
	c->upstream = NULL;
	c->resource_len = 0;
	memset(imds_who(m, c), 0, sizeof(struct imds_who));
	switch (route) {
	case HTTP_ROUTE_TOKEN:
		imds_token_route(m, c);
		return;
	case HTTP_ROUTE_HOST_TOKEN:
		c->host = true;
		imds_token_route(m, c);
		return;
	case HTTP_ROUTE_HEALTHZ:
		imds_respond(
		    m, c, 200, JSON_CT, NULL, "{\"status\":\"ok\"}", 15);
		return;
	case HTTP_ROUTE_READYZ:
		imds_ready(m, c);
		return;
	case HTTP_ROUTE_METADATA:
		imds_metadata_route(m, c);
		return;
	case HTTP_ROUTE_INVALID:
	case HTTP_ROUTE_TOKEN_LIKE:
		imds_error(m, c, 400, "invalid_request", "Invalid request", 0);
		return;
	default:
		imds_respond(
		    m, c, 404, JSON_CT, NULL, "{\"error\":\"Not found\"}", 21);
	}
}

static void
imds_timeout(struct srv_conn *c, void *arg)
{
	struct imds *m = arg;

	if (c->parked) {
		park_unlink(m, c);
		imds_resolve(m, c); /* once more: may park again, or answer */
		return;
	}
	if (c->upstream == m) {
		tokcache_cancel(m->cfg.tokens, &c->waiter);
		c->upstream = NULL;
		imds_audit(
		    m, c, NULL, NULL, "upstream_timeout", 503, 0, "timeout");
		imds_error(m, c, 503, "service_unavailable",
		    "podid: the token is still being fetched", 2);
		return;
	}
	if (c->upstream != NULL) {
		struct imds_proxy *p = c->upstream;

		hclient_close(&p->hc);
		p->busy = false;
		c->upstream = NULL;
		proxy_audit(m, c, 504, "proxy_timeout");
		imds_error(m, c, 504, "server_error",
		    "podid: the node's IMDS did not answer in time", 0);
	}
}

static void
imds_abort(struct srv_conn *c, void *arg)
{
	struct imds *m = arg;

	park_unlink(m, c);
	if (c->upstream == m)
		tokcache_cancel(m->cfg.tokens, &c->waiter);
	else if (c->upstream != NULL)
		((struct imds_proxy *)c->upstream)->c = NULL;
	c->upstream = NULL;
}

struct server_handler
imds_server_handler(struct imds *m)
{
	struct server_handler h = {imds_request, imds_timeout, imds_abort, m};

	return h;
}

struct imds *
imds_new(struct loop *loop, const struct imds_config *cfg)
{
	struct imds *m;

	/* Start-up sizing: the object and its proxy slots (readied when
	 * first taken, imds_proxy). */
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->proxies = calloc(LIM_IMDS_PROXY_SLOTS, sizeof(*m->proxies))) ==
	        NULL) {
		free(m);
		return NULL;
	}
	m->loop = loop;
	m->cfg = *cfg;
	return m;
}

void
imds_bind(struct imds *m, struct server *s)
{
	m->srv = s;
	/* Start-up sizing: one audit record per connection slot. */
	m->nwho = server_max_conns(s);
	if ((m->who = calloc(m->nwho, sizeof(*m->who))) == NULL)
		fatal("imds: %u connection slots", m->nwho);
}

void
imds_free(struct imds *m)
{
	unsigned i;

	if (m == NULL)
		return;
	for (i = 0; i < LIM_IMDS_PROXY_SLOTS; i++)
		if (m->proxies[i].m != NULL) /* readied */
			hclient_close(&m->proxies[i].hc);
	free(m->proxies);
	free(m->who);
	free(m);
}

void
imds_stats(const struct imds *m, struct imds_stats *out)
{
	*out = m->st;
}
