/*
 * The operations listener: health, readiness, metrics and the state
 * `podid selftest` reads.  Its own server instance with a few slots and a
 * large write buffer (a /metrics page), so operators' tools never take a
 * pod's connection slot and pods never reach this port through the DNAT
 * rule (that goes to --listen only).  Everything is rendered from struct
 * sources at request time into the slot's buffer: no state of its own
 * beyond the connection waiting for a token.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/http.h"
#include "agent/imds.h"
#include "agent/kube.h"
#include "agent/limits.h"
#include "agent/log.h"
#include "agent/metrics.h"
#include "agent/ops.h"
#include "agent/server.h"
#include "agent/tokcache.h"

#define OPS_JSON "application/json; charset=utf-8"
#define OPS_TEXT "text/plain; charset=utf-8"

struct ops {
	struct loop *loop;
	struct server *srv;
	struct ops_config cfg;
	char *body; /* LIM_OPS_WRITE_BYTES, for the response being built */
};

/* ---- a bounded JSON writer --------------------------------------------- */

struct ops_out {
	char *p;
	size_t len, off;
	bool over; /* something did not fit: the document is void */
};

static void ops_put(struct ops_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
ops_put(struct ops_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->over)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->p + o->off, o->len - o->off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->len - o->off) {
		o->over = true;
		return;
	}
	o->off += (size_t)n;
}

/* A JSON string (escaped), or null for NULL. */
static void
ops_str(struct ops_out *o, const char *s)
{
	char esc[1024];

	if (s == NULL) {
		ops_put(o, "null");
		return;
	}
	/* Longer values than any field podid shows are cut, never split. */
	log_json_escape(esc, sizeof(esc), s, strlen(s));
	ops_put(o, "\"%s\"", esc);
}

/* "key":"value", with a leading comma unless first. */
static void
ops_kv(struct ops_out *o, bool first, const char *key, const char *s)
{
	ops_put(o, "%s\"%s\":", first ? "" : ",", key);
	ops_str(o, s);
}

static void
ops_ku(struct ops_out *o, const char *key, unsigned long long v)
{
	ops_put(o, ",\"%s\":%llu", key, v);
}

static void
ops_kb(struct ops_out *o, const char *key, bool v)
{
	ops_put(o, ",\"%s\":%s", key, v ? "true" : "false");
}

/* ---- pure renderings ---------------------------------------------------- */

bool
ops_peer_is_loopback(const struct in6_addr *a)
{
	static const unsigned char v4map[12] = {
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return IN6_IS_ADDR_LOOPBACK(a) ||
	    (memcmp(a->s6_addr, v4map, 12) == 0 && a->s6_addr[12] == 127);
}

int
ops_ready(const struct sources *src, char *buf, size_t len)
{
	const struct kube_stats *ks = src->kube ? kube_stats(src->kube) : NULL;
	const struct pol *p = src->policy ? *src->policy : NULL;

	if (p == NULL) {
		snprintf(buf, len, "no policy loaded");
		return 503;
	}
	if (ks != NULL && !ks->synced) {
		snprintf(buf, len, "waiting for the first pod list");
		return 503;
	}
	/* Ready: an older policy serves, but the operator must see this. */
	if (src->pol != NULL && src->pol->last_failed)
		snprintf(buf, len, "policy: %s", src->pol->last_error);
	else
		snprintf(buf, len, "ok");
	return 200;
}

static const char *
ops_kube_state(const struct kube *k)
{
	if (k == NULL)
		return "none";
	switch (kube_state(k)) {
	case KUBE_LISTING:
		return "listing";
	case KUBE_WATCHING:
		return "watching";
	default:
		return "backoff";
	}
}

static void
ops_status_policy(struct ops_out *o, const struct sources *src)
{
	const struct src_policy *sp = src->pol;
	const struct pol *p = src->policy ? *src->policy : NULL;

	ops_put(o, ",\"policy\":{");
	ops_kv(o, true, "file", sp ? sp->file : NULL);
	ops_kv(o, false, "sha256", sp ? sp->sha256 : NULL);
	ops_put(o, ",\"loaded_at\":%lld,\"attempt_at\":%lld",
	    (long long)(sp ? sp->loaded_at : 0),
	    (long long)(sp ? sp->attempt_at : 0));
	ops_ku(o, "identities", p ? p->nidentities : 0);
	ops_ku(o, "bindings", p ? p->nbindings : 0);
	ops_kb(o, "last_failed", sp && sp->last_failed);
	ops_ku(o, "last_errors", sp ? sp->last_errors : 0);
	ops_kv(o, false, "last_error", sp ? sp->last_error : "");
	ops_ku(o, "reloads_ok", sp ? sp->reloads_ok : 0);
	ops_ku(o, "reloads_failed", sp ? sp->reloads_failed : 0);
	ops_put(o, "}");
}

static void
ops_status_kube(struct ops_out *o, const struct sources *src, uint64_t now)
{
	const struct kube_stats *ks = src->kube ? kube_stats(src->kube) : NULL;
	uint64_t age = 0;

	if (ks != NULL && ks->synced && now >= ks->last_event_ms)
		age = now - ks->last_event_ms;
	ops_put(o, ",\"kube\":{");
	ops_kv(o, true, "state", ops_kube_state(src->kube));
	ops_kb(o, "synced", ks && ks->synced);
	ops_ku(o, "last_event_age_ms", age);
	ops_kv(
	    o, false, "resource_version", src->kube ? kube_rv(src->kube) : "");
	ops_ku(o, "watches", ks ? ks->watches : 0);
	ops_ku(o, "relists", ks ? ks->relists_410 : 0);
	ops_ku(o, "errors", ks ? ks->errors : 0);
	ops_put(o, "}");
}

static void
ops_status_tables(struct ops_out *o, const struct sources *src, uint64_t now)
{
	struct podcache_stats ps;
	struct tokcache_stats ts;
	const struct src_rules *sr = src->rules;

	memset(&ps, 0, sizeof(ps));
	memset(&ts, 0, sizeof(ts));
	if (src->cache != NULL)
		podcache_stats(src->cache, now, &ps);
	if (src->tokens != NULL)
		tokcache_stats(src->tokens, &ts);
	ops_put(o, ",\"pods\":{\"cached\":%u,\"max\":%u,\"refused\":%llu}",
	    ps.pods, src->max_pods, (unsigned long long)ps.refused_full);
	ops_put(o, ",\"tokens\":{\"slots\":%u,\"used\":%u}", ts.slots, ts.used);
	ops_put(o, ",\"rules\":{");
	ops_kv(o, true, "mode", sr ? sr->mode : "off");
	ops_kv(o, false, "node_ip", sr ? sr->node_ip : "");
	ops_ku(o, "port", sr ? sr->port : 0);
	ops_kb(o, "keeper_alive", sr && sr->keeper_alive);
	ops_ku(o, "restored", sr ? sr->restored : 0);
	ops_put(o, "},\"upstream\":{");
	ops_kv(o, true, "imds", src->imds_endpoint);
	ops_kv(o, false, "aad", src->aad_authority);
	ops_put(o, "}");
}

int
ops_status_json(char *buf, size_t len, const struct sources *src,
    uint64_t now_ms, pid_t pid)
{
	struct ops_out o = {buf, len, 0, len == 0};
	char detail[320];
	int ready;

	if (len > 0)
		buf[0] = '\0';
	ready = ops_ready(src, detail, sizeof(detail));

	ops_put(&o, "{");
	ops_kv(&o, true, "version", PODID_VERSION);
	ops_put(&o, ",\"pid\":%ld,\"uid\":%lu,\"gid\":%lu,\"started_at\":%lld",
	    (long)pid, (unsigned long)src->uid, (unsigned long)src->gid,
	    (long long)src->started_at);
	ops_put(&o, ",\"ready\":{\"status\":%d,", ready);
	ops_kv(&o, true, "detail", detail);
	ops_put(&o, "}");
	ops_status_policy(&o, src);
	ops_status_kube(&o, src, now_ms);
	ops_status_tables(&o, src, now_ms);
	ops_put(&o, "}");
	return o.over ? -1 : (int)o.off;
}

/* ---- /status/pod --------------------------------------------------------- */

static void
ops_pod_json(struct ops_out *o, const struct podcache_entry *e)
{
	char ip[INET6_ADDRSTRLEN];
	const char *l = e->labels;
	unsigned i;
	bool first = true;

	ops_put(o, "\"pod\":{");
	ops_kv(o, true, "namespace", e->ns);
	ops_kv(o, false, "name", e->name);
	ops_kv(o, false, "uid", e->uid);
	ops_kv(o, false, "service_account", e->sa);
	ops_kv(o, false, "phase", kobj_phase_name((enum kobj_phase)e->phase));
	ops_kb(o, "live", e->live);
	ops_kb(o, "host_network", e->host_network);
	ops_kb(o, "terminating", e->terminating);
	ops_put(o, ",\"ips\":[");
	for (i = 0; i < 2; i++) {
		if (!(e->ips & (1u << i)))
			continue;
		if (i == 0)
			inet_ntop(
			    AF_INET, &e->ip[0].s6_addr[12], ip, sizeof(ip));
		else
			inet_ntop(AF_INET6, &e->ip[1], ip, sizeof(ip));
		ops_put(o, "%s", first ? "" : ",");
		ops_str(o, ip);
		first = false;
	}
	ops_put(o, "],\"labels\":{");
	for (i = 0; i < e->nlabels; i++) {
		ops_put(o, "%s", i ? "," : "");
		ops_str(o, l);
		l += strlen(l) + 1;
		ops_put(o, ":");
		ops_str(o, l);
		l += strlen(l) + 1;
	}
	ops_put(o, "}}");
}

static void
ops_grants_json(
    struct ops_out *o, const struct pol *p, const struct podcache_entry *e)
{
	const struct pol_result *r = &e->grants;
	const struct pol_identity *id;
	uint32_t i, n = 0;

	ops_kv(o, false, "verdict",
	    p == NULL                         ? "no policy"
	        : r->verdict == POL_GRANT     ? "grant"
	        : r->verdict == POL_EXCEPTION ? "exception"
	                                      : "deny");
	if (p != NULL && r->verdict == POL_EXCEPTION &&
	    r->exception < p->nrules)
		ops_kv(o, false, "exception", p->rules[r->exception].name.s);
	ops_put(o, ",\"identities\":[");
	for (i = 0; p != NULL && p->identities != NULL && p->rules != NULL &&
	     r->verdict == POL_GRANT && i < r->ngrants;
	     i++) {
		if (r->grants[i].identity >= p->nidentities ||
		    r->grants[i].rule >= p->nrules)
			continue;
		id = &p->identities[r->grants[i].identity];
		ops_put(o, "%s{", n++ ? "," : "");
		ops_kv(o, true, "name", id->name.s);
		ops_kv(o, false, "kind", pol_kind_name(id->kind));
		ops_kv(o, false, "client_id", id->client_id.s);
		ops_kv(o, false, "rule", p->rules[r->grants[i].rule].name.s);
		ops_kb(o, "host_token", id->host_token);
		ops_put(o, "}");
	}
	ops_put(o, "]");
	ops_kb(o, "truncated", r->truncated);
}

/* The token's description: never the token, nor any part of it. */
static void
ops_token_json(struct ops_out *o, const struct pol_identity *id,
    const struct tok_result *r)
{
	int64_t now = (int64_t)time(NULL);

	ops_put(o, ",\"token\":{\"status\":%d", r->status);
	ops_kv(o, false, "identity", id ? id->name.s : NULL);
	if (r->status == 200 && r->tok != NULL) {
		ops_kv(o, false, "client_id",
		    r->tok->client_id[0] ? r->tok->client_id
		                         : (id ? id->client_id.s : ""));
		ops_put(o, ",\"expires_on\":%lld,\"expires_in\":%lld",
		    (long long)r->tok->expires_on,
		    (long long)(r->tok->expires_on - now));
		ops_ku(o, "length", r->tok->access_len);
	} else {
		ops_kv(o, false, "error", r->error ? r->error : "server_error");
		ops_kv(o, false, "description",
		    r->error_desc ? r->error_desc : "");
	}
	ops_put(o, "}");
}

/* The whole /status/pod answer for e; r NULL without a token part. */
static void
ops_pod_answer(struct ops *ops, struct srv_conn *c,
    const struct podcache_entry *e, const struct pol_identity *id,
    const struct tok_result *r)
{
	const struct pol *p = *ops->cfg.src->policy;
	struct ops_out o = {ops->body, LIM_OPS_WRITE_BYTES - 512, 0, false};

	ops_put(&o, "{");
	ops_pod_json(&o, e);
	ops_grants_json(&o, p, e);
	if (r != NULL)
		ops_token_json(&o, id, r);
	ops_put(&o, "}\n");
	if (o.over) {
		srv_respond(c, 500, OPS_TEXT, NULL, "too large\n", 10);
		return;
	}
	srv_respond(c, 200, OPS_JSON, NULL, ops->body, o.off);
}

static void
ops_error(struct srv_conn *c, int status, const char *msg)
{
	char body[256];
	int n = snprintf(body, sizeof(body), "{\"error\":\"%s\"}\n", msg);

	srv_respond(c, status, OPS_JSON, NULL, body, (size_t)n);
}

/* The first granted identity the pod still has (after a wait too). */
static const struct pol_identity *
ops_granted(const struct pol *p, const struct podcache_entry *e, uint32_t want)
{
	uint32_t i;

	if (p == NULL || e->grants.verdict != POL_GRANT)
		return NULL;
	for (i = 0; i < e->grants.ngrants; i++) {
		if (e->grants.grants[i].identity >= p->nidentities)
			continue;
		if (want == POL_NONE || e->grants.grants[i].identity == want)
			return &p->identities[e->grants.grants[i].identity];
	}
	return NULL;
}

static struct srv_conn *
ops_conn_of(struct tok_waiter *w)
{
	return (struct srv_conn *)(void *)((char *)w -
	    offsetof(struct srv_conn, waiter));
}

static void
ops_token_done(struct tok_waiter *w, const struct tok_result *r)
{
	struct srv_conn *c = ops_conn_of(w);
	struct ops *ops = c->upstream;
	const struct pol *p = *ops->cfg.src->policy;
	const struct podcache_entry *e;
	const struct pol_identity *id;

	c->upstream = NULL;
	e = podcache_still(ops->cfg.src->cache, &c->pod);
	if (e == NULL) {
		ops_error(c, 404, "the pod went away during the token fetch");
		return;
	}
	id = ops_granted(p, e, c->identity);
	ops_pod_answer(ops, c, e, id, r);
}

/* A token of the pod's first identity, through the cache like a pod's. */
static void
ops_fetch(struct ops *ops, struct srv_conn *c, const struct podcache_entry *e)
{
	const struct pol *p = *ops->cfg.src->policy;
	const struct pol_identity *id = ops_granted(p, e, POL_NONE);
	const struct tok_token *tok = NULL;
	struct tok_result r = {503, 0, NULL, "no_identity", "", ""};
	struct tok_req pod;

	if (id == NULL || ops->cfg.src->tokens == NULL) {
		r.error_desc = "the policy grants this pod no identity";
		ops_pod_answer(ops, c, e, NULL, &r);
		return;
	}
	memset(&pod, 0, sizeof(pod));
	snprintf(pod.pod_ns, sizeof(pod.pod_ns), "%s", e->ns);
	snprintf(pod.pod_name, sizeof(pod.pod_name), "%s", e->name);
	snprintf(pod.pod_uid, sizeof(pod.pod_uid), "%s", e->uid);
	snprintf(pod.pod_sa, sizeof(pod.pod_sa), "%s", e->sa);
	podcache_ref(ops->cfg.src->cache, e, &c->pod);
	c->identity = (uint32_t)(id - p->identities);
	tokcache_waiter_init(&c->waiter, ops_token_done);
	c->upstream = ops;
	switch (tokcache_get(ops->cfg.src->tokens, id, c->resource,
	    c->resource_len, &pod, &c->waiter, &tok)) {
	case TOK_HIT:
		c->upstream = NULL;
		r.status = 200;
		r.tok = tok;
		break;
	case TOK_WAIT:
		srv_wait(c, LIM_IMDS_TOKEN_WAIT_MS);
		return;
	case TOK_INVALID:
		c->upstream = NULL;
		r.status = 400;
		r.error = "invalid_request";
		r.error_desc = "the resource or identity is not acceptable";
		break;
	default:
		c->upstream = NULL;
		r.error = "service_unavailable";
		r.error_desc = "token cache busy";
	}
	ops_pod_answer(ops, c, e, id, &r);
}

/* One query parameter into dst; "" when absent.  -1 when malformed. */
static int
ops_param(struct srv_conn *c, const char *name, char *dst, size_t len)
{
	int n = http_query_get(c->req.query, name, dst, len);

	if (n == HTTP_ERR_QUERY_ABSENT) {
		dst[0] = '\0';
		return 0;
	}
	return n < 0 ? -1 : n;
}

static void
ops_status_pod(struct ops *ops, struct srv_conn *c)
{
	char ns[LIM_KOBJ_NAMESPACE_BYTES + 1], name[LIM_KOBJ_NAME_BYTES + 1];
	const struct podcache_entry *e;
	int n;

	if (c->req.query.ptr == NULL || http_query_check(c->req.query) != 0 ||
	    ops_param(c, "ns", ns, sizeof(ns)) <= 0 ||
	    ops_param(c, "name", name, sizeof(name)) <= 0 ||
	    (n = ops_param(c, "resource", c->resource, sizeof(c->resource))) <
	        0) {
		ops_error(c, 400, "want ns=NS&name=NAME[&resource=R]");
		return;
	}
	c->resource_len = (size_t)n;
	if (ops->cfg.src->cache == NULL ||
	    (e = podcache_by_name(ops->cfg.src->cache, ns, strlen(ns), name,
	         strlen(name))) == NULL) {
		ops_error(c, 404, "no such pod in the cache");
		return;
	}
	if (c->resource_len == 0)
		ops_pod_answer(ops, c, e, NULL, NULL);
	else
		ops_fetch(ops, c, e);
}

/* ---- routes -------------------------------------------------------------- */

static bool
ops_path_is(const struct srv_conn *c, const char *path)
{
	size_t n = strlen(path);

	return c->req.path.len == n && memcmp(c->req.path.ptr, path, n) == 0;
}

static void
ops_route_ready(struct srv_conn *c, const struct sources *src)
{
	char body[320];
	int status = ops_ready(src, body, sizeof(body) - 1);
	size_t n = strlen(body);

	body[n++] = '\n';
	srv_respond(c, status, OPS_TEXT, NULL, body, n);
}

static void
ops_route_status(struct ops *ops, struct srv_conn *c)
{
	int n = ops_status_json(ops->body, LIM_OPS_WRITE_BYTES - 512,
	    ops->cfg.src, loop_now_ms(ops->loop), ops->cfg.pid);

	if (n < 0) {
		srv_respond(c, 500, OPS_TEXT, NULL, "too large\n", 10);
		return;
	}
	srv_respond(c, 200, OPS_JSON, NULL, ops->body, (size_t)n);
}

/* Prometheus text, rendered by agent/metrics.c from the same sources. */
static void
ops_route_metrics(struct ops *ops, struct srv_conn *c)
{
	ssize_t n = metrics_render(ops->body, LIM_OPS_WRITE_BYTES - 512,
	    ops->cfg.src, loop_now_ms(ops->loop));

	if (n < 0) {
		srv_respond(c, 500, OPS_TEXT, NULL, "too large\n", 10);
		return;
	}
	srv_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", NULL,
	    ops->body, (size_t)n);
}

static void
ops_request(struct srv_conn *c, void *arg)
{
	struct ops *ops = arg;

	c->upstream = NULL;
	c->resource_len = 0;
	if (ops_path_is(c, "/healthz"))
		srv_respond(c, 200, OPS_TEXT, NULL, "ok\n", 3);
	else if (ops_path_is(c, "/readyz"))
		ops_route_ready(c, ops->cfg.src);
	else if (ops_path_is(c, "/metrics"))
		ops_route_metrics(ops, c);
	else if (!ops_path_is(c, "/status") && !ops_path_is(c, "/status/pod"))
		srv_respond(c, 404, OPS_TEXT, NULL, "not found\n", 10);
	else if (!ops_peer_is_loopback(&c->peer))
		srv_respond(c, 403, OPS_TEXT, NULL, "loopback only\n", 14);
	else if (ops_path_is(c, "/status"))
		ops_route_status(ops, c);
	else
		ops_status_pod(ops, c);
}

static void
ops_timeout(struct srv_conn *c, void *arg)
{
	struct ops *ops = arg;

	if (c->upstream == ops)
		tokcache_cancel(ops->cfg.src->tokens, &c->waiter);
	c->upstream = NULL;
	ops_error(c, 504, "the token is still being fetched");
}

static void
ops_abort(struct srv_conn *c, void *arg)
{
	struct ops *ops = arg;

	if (c->upstream == ops)
		tokcache_cancel(ops->cfg.src->tokens, &c->waiter);
	c->upstream = NULL;
}

struct ops *
ops_new(struct loop *loop, const struct ops_config *cfg)
{
	struct server_handler h = {ops_request, ops_timeout, ops_abort, NULL};
	struct server_config sc;
	struct ops *ops;
	int saved;

	/* Start-up sizing: the object and its body buffer. */
	if ((ops = calloc(1, sizeof(*ops))) == NULL ||
	    (ops->body = malloc(LIM_OPS_WRITE_BYTES)) == NULL) {
		free(ops);
		return NULL;
	}
	ops->loop = loop;
	ops->cfg = *cfg;
	memset(&sc, 0, sizeof(sc));
	sc.listen = cfg->listen;
	sc.listen_len = cfg->listen_len;
	sc.max_conns = LIM_OPS_CONNS;
	sc.header_ms = LIM_SRV_HEADER_MS;
	sc.idle_ms = LIM_SRV_IDLE_MS;
	sc.write_ms = LIM_SRV_WRITE_MS;
	sc.write_bytes = LIM_OPS_WRITE_BYTES;
	h.arg = ops;
	if ((ops->srv = server_new(loop, &sc, &h)) == NULL) {
		saved = errno;
		ops_free(ops);
		errno = saved;
		return NULL;
	}
	return ops;
}

void
ops_free(struct ops *ops)
{
	if (ops == NULL)
		return;
	server_free(ops->srv);
	free(ops->body);
	free(ops);
}

int
ops_addr(const struct ops *ops, struct sockaddr_storage *out, socklen_t *len)
{
	return server_addr(ops->srv, out, len);
}
