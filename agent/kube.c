/*
 * The pod watch, as a state machine over one hclient connection:
 *
 *	BACKOFF --timer--> LISTING --last page--> WATCHING --end--> WATCHING
 *	   ^                 |  ^                    |  410 ---------> LISTING
 *	   +---- error ------+  +---- 410 (list) ----+  error -------> BACKOFF
 *
 * A list fills the cache between podcache_sync_begin and _end, so pods
 * gone while we were away are dropped (and their IPs quarantined).  A
 * watch that ends normally (timeoutSeconds) or drops resumes from the last
 * resourceVersion at once; only repeated failures wait, exponentially.
 * The decisions live in kube_done(); the I/O callbacks only gather.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/hclient.h"
#include "agent/json.h"
#include "agent/kube.h"
#include "agent/lines.h"
#include "agent/log.h"

enum kube_req { KUBE_REQ_LIST, KUBE_REQ_WATCH };

struct kube {
	struct loop *loop;
	struct kube_config cfg;
	struct podcache *cache;
	const struct pol *const *policy;
	struct kube_hooks hooks;
	enum kube_state state;
	struct kube_stats st;
	/* The connection. */
	struct hclient hc;
	struct tls_conn tls;
	unsigned char *tls_iobuf;
	char *rbuf;
	/* The request in flight and what came back. */
	enum kube_req req;
	char reqbuf[LIM_KUBE_REQUEST_BYTES];
	size_t reqlen;
	uint64_t idle_ms;
	bool reused;   /* sent on a kept-alive connection */
	bool too_big;  /* the list page did not fit the body or the tokens */
	unsigned page; /* pods asked per list page: halved while too big */
	int status;
	uint64_t retry_after_ms;
	bool relist; /* a 410: list again; kept until a list completes */
	bool resync; /* an event was lost: likewise */
	/* List body, or watch lines: one buffer. */
	char *body;
	size_t bodylen;
	struct lines lines;
	struct json_tok *toks;
	struct kobj_event ev;
	struct kobj_list list;
	struct kobj_pod pod;
	char rv[LIM_KOBJ_RV_BYTES + 1];
	char cont[LIM_KOBJ_CONTINUE_BYTES + 1];
	/* Retry and the token. */
	unsigned failures;
	uint64_t prng;
	struct loop_timer retry_timer, token_timer;
	char authz[LIM_KUBE_TOKEN_BYTES + 8]; /* "Bearer <token>" */
};

static void kube_list_page(struct kube *);
static void kube_watch(struct kube *);

/* ---- configuration ---------------------------------------------------- */

static int
cfg_addr(struct kube_config *c, const char *host, const char *port, char *err,
    size_t errlen)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&c->addr;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&c->addr;
	struct addrinfo hints, *res;
	long p = strtol(port, NULL, 10);
	int rc;

	if (p <= 0 || p > 65535) {
		snprintf(err, errlen, "bad port \"%s\"", port);
		return -1;
	}
	memset(&c->addr, 0, sizeof(c->addr));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)p);
		c->addrlen = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
		c->addrlen = sizeof(*s6);
		return 0;
	}
	/* A name: resolved once, at start-up, never on the loop. */
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "cannot resolve \"%s\": %s", host,
		    gai_strerror(rc));
		return -1;
	}
	memcpy(&c->addr, res->ai_addr, res->ai_addrlen);
	c->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* https://HOST[:PORT], HOST a name, an IPv4 or a [IPv6]. */
static int
cfg_url(struct kube_config *c, const char *url, char *host, size_t hostlen,
    char *port, size_t portlen, char *err, size_t errlen)
{
	const char *h, *end, *colon;

	if (strncmp(url, "https://", 8) != 0) {
		snprintf(err, errlen, "--kube-api must be an https:// URL");
		return -1;
	}
	h = url + 8;
	end = h + strcspn(h, "/");
	if (*h == '[') {
		if ((colon = memchr(h, ']', (size_t)(end - h))) == NULL)
			goto bad;
		snprintf(host, hostlen, "%.*s", (int)(colon - h - 1), h + 1);
		colon = colon[1] == ':' ? colon + 1 : NULL;
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		snprintf(
		    host, hostlen, "%.*s", (int)((colon ? colon : end) - h), h);
	}
	snprintf(port, portlen, "%.*s", colon ? (int)(end - colon - 1) : 3,
	    colon ? colon + 1 : "443");
	if (*host == '\0' || (*end != '\0' && strcmp(end, "/") != 0))
		goto bad;
	snprintf(c->hostport, sizeof(c->hostport), "%.*s", (int)(end - h), h);
	return 0;
bad:
	snprintf(err, errlen, "bad --kube-api URL \"%s\"", url);
	return -1;
}

int
kube_config_init(struct kube_config *c, const char *api_url,
    const char *token_file, const char *ca_file, const char *node, char *err,
    size_t errlen)
{
	char url[512], port[16];
	const char *h, *p;

	memset(c, 0, sizeof(*c));
	c->page_size = LIM_KUBE_PAGE_PODS;
	c->watch_timeout_s = LIM_KUBE_WATCH_S;
	if (api_url == NULL) {
		if ((h = getenv("KUBERNETES_SERVICE_HOST")) == NULL ||
		    ((p = getenv("KUBERNETES_SERVICE_PORT_HTTPS")) == NULL &&
		        (p = getenv("KUBERNETES_SERVICE_PORT")) == NULL)) {
			snprintf(err, errlen,
			    "not in a cluster "
			    "(KUBERNETES_SERVICE_HOST unset): give --kube-api");
			return -1;
		}
		snprintf(url, sizeof(url),
		    strchr(h, ':') ? "https://[%s]:%s" : "https://%s:%s", h, p);
		api_url = url;
	}
	if (node == NULL && (node = getenv("NODE_NAME")) == NULL) {
		snprintf(
		    err, errlen, "no node name: give --node or set NODE_NAME");
		return -1;
	}
	if (strlen(node) > LIM_KOBJ_NAME_BYTES || *node == '\0' ||
	    strpbrk(node, "&?#%/ ") != NULL) {
		snprintf(err, errlen, "bad node name \"%s\"", node);
		return -1;
	}
	snprintf(c->node, sizeof(c->node), "%s", node);
	snprintf(c->token_file, sizeof(c->token_file), "%s",
	    token_file ? token_file : KUBE_SA_DIR "/token");
	snprintf(c->ca_file, sizeof(c->ca_file), "%s",
	    ca_file ? ca_file : KUBE_SA_DIR "/ca.crt");
	if (cfg_url(c, api_url, c->host, sizeof(c->host), port, sizeof(port),
	        err, errlen) == -1)
		return -1;
	return cfg_addr(c, c->host, port, err, errlen);
}

/* ---- targets, backoff ------------------------------------------------- */

int
kube_list_target(
    char *dst, size_t len, const char *node, unsigned limit, const char *cont)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o;
	int n;

	n = snprintf(dst, len,
	    "/api/v1/pods?fieldSelector=spec.nodeName%%3D%s&limit=%u%s", node,
	    limit, cont && *cont ? "&continue=" : "");
	if (n < 0 || (size_t)n >= len)
		return -1;
	/* The continue token is opaque: percent-encode all but unreserved. */
	for (o = (size_t)n; cont && *cont; cont++) {
		unsigned char ch = (unsigned char)*cont;
		bool plain = (ch >= 'a' && ch <= 'z') ||
		    (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '.' || ch == '_' || ch == '~';

		if (o + 4 > len)
			return -1;
		if (plain)
			dst[o++] = (char)ch;
		else {
			dst[o++] = '%';
			dst[o++] = hex[ch >> 4];
			dst[o++] = hex[ch & 15];
		}
	}
	dst[o] = '\0';
	return (int)o;
}

int
kube_watch_target(
    char *dst, size_t len, const char *node, const char *rv, unsigned timeout_s)
{
	int n = snprintf(dst, len,
	    "/api/v1/pods?fieldSelector=spec.nodeName%%3D%s&watch=1"
	    "&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%u",
	    node, rv, timeout_s);

	return n < 0 || (size_t)n >= len ? -1 : n;
}

uint64_t
kube_backoff_ms(unsigned n, double r)
{
	uint64_t d = LIM_KUBE_BACKOFF_MIN_MS, half;

	while (n-- > 0 && d < LIM_KUBE_BACKOFF_MAX_MS)
		d *= 2;
	if (d > LIM_KUBE_BACKOFF_MAX_MS)
		d = LIM_KUBE_BACKOFF_MAX_MS;
	/* Jitter: anywhere in the upper half, so retries spread out. */
	half = d / 2;
	return half + (uint64_t)((double)half * r);
}

static double
kube_random(struct kube *k)
{
	/* xorshift64*: jitter needs spread, not secrecy. */
	k->prng ^= k->prng >> 12;
	k->prng ^= k->prng << 25;
	k->prng ^= k->prng >> 27;
	return (double)((k->prng * 2685821657736338717ull) >> 11) /
	    (double)(1ull << 53);
}

/* ---- the token -------------------------------------------------------- */

/* Re-reads the (rotating, projected) token; keeps the old one on error. */
static int
kube_read_token(struct kube *k)
{
	char buf[LIM_KUBE_TOKEN_BYTES + 1];
	ssize_t n;
	size_t len = 0;
	int fd;

	if ((fd = open(k->cfg.token_file, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("kube: token file %s", k->cfg.token_file);
		return -1;
	}
	while (len < sizeof(buf) &&
	    (n = read(fd, buf + len, sizeof(buf) - len)) > 0)
		len += (size_t)n;
	close(fd);
	while (len > 0 &&
	    (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
	        buf[len - 1] == ' '))
		len--;
	if (len == 0 || len > LIM_KUBE_TOKEN_BYTES ||
	    memchr(buf, '\n', len) != NULL) {
		log_warnx("kube: token file %s is empty, too long or not one "
		          "line",
		    k->cfg.token_file);
		explicit_bzero(buf, sizeof(buf));
		return -1;
	}
	explicit_bzero(k->authz, sizeof(k->authz));
	memcpy(k->authz, "Bearer ", 7);
	memcpy(k->authz + 7, buf, len);
	explicit_bzero(buf, sizeof(buf));
	k->st.token_reads++;
	return 0;
}

static void
kube_token_timer(struct loop *l, struct loop_timer *t, void *arg)
{
	struct kube *k = arg;

	(void)kube_read_token(k);
	loop_timer_set(l, t, LIM_KUBE_TOKEN_REREAD_MS);
}

/* ---- requests --------------------------------------------------------- */

static const struct hclient_cb kube_cb;

/* Sends the request in reqbuf (again); returns 0 or -1 (logged). */
static int
kube_transmit(struct kube *k)
{
	uint64_t reused = k->hc.reused;
	char ebuf[128];

	k->status = 0;
	k->retry_after_ms = 0;
	k->bodylen = 0;
	k->too_big = false;
	if (hclient_request(&k->hc, (struct sockaddr *)&k->cfg.addr,
	        k->cfg.addrlen, k->cfg.host, k->reqbuf, k->reqlen, k->idle_ms,
	        &kube_cb, k) != 0) {
		log_warnx(
		    "kube: %s", hclient_strerror(&k->hc, ebuf, sizeof(ebuf)));
		return -1;
	}
	k->reused = k->hc.reused != reused;
	return 0;
}

static int
kube_send(
    struct kube *k, enum kube_req req, const char *target, uint64_t idle_ms)
{
	struct httpc_hdr hdrs[2] = {
	    {HTTPC_STR("Authorization"), {k->authz, strlen(k->authz)}},
	    {HTTPC_STR("Accept"), HTTPC_STR("application/json")},
	};
	int n;

	n = httpc_req_format(k->reqbuf, sizeof(k->reqbuf), "GET",
	    k->cfg.hostport, target, hdrs, 2, 0);
	if (n < 0)
		return n;
	k->req = req;
	k->reqlen = (size_t)n;
	k->idle_ms = idle_ms;
	return kube_transmit(k);
}

static void
kube_retry(struct loop *l, struct loop_timer *t, void *arg)
{
	struct kube *k = arg;

	(void)l;
	(void)t;
	/* A list cut short is no list: its resourceVersion is not a start. */
	if (k->relist || k->resync || !k->st.synced || k->rv[0] == '\0')
		kube_list_page(k);
	else
		kube_watch(k);
}

/* Waits before the next attempt: Retry-After when given, else backoff. */
static void
kube_backoff(struct kube *k)
{
	uint64_t ms = kube_backoff_ms(k->failures++, kube_random(k));

	if (k->retry_after_ms > ms)
		ms = k->retry_after_ms;
	k->state = KUBE_BACKOFF;
	k->st.errors++;
	loop_timer_set(k->loop, &k->retry_timer, ms);
	log_debug("kube: retrying in %llu ms", (unsigned long long)ms);
}

/*
 * Lists again from the first page: at once the first time, with backoff
 * when it repeats (continue tokens that keep expiring, a server that
 * keeps saying 410), so the API server is never hammered.
 */
static void
kube_relist(struct kube *k)
{
	k->relist = true;
	k->state = KUBE_BACKOFF; /* kube_list_page begins a new list */
	if (k->failures == 0) {
		k->failures++;
		kube_list_page(k);
	} else
		kube_backoff(k);
}

static void
kube_list_page(struct kube *k)
{
	char target[LIM_KUBE_REQUEST_BYTES / 2];

	if (k->state != KUBE_LISTING) {
		/* A new list: whatever it lacks leaves the cache after. */
		podcache_sync_begin(k->cache);
		k->cont[0] = '\0';
		k->st.lists++;
	}
	k->state = KUBE_LISTING;
	if (kube_list_target(
	        target, sizeof(target), k->cfg.node, k->page, k->cont) < 0 ||
	    kube_send(k, KUBE_REQ_LIST, target, LIM_KUBE_LIST_IDLE_MS) != 0) {
		k->state = KUBE_BACKOFF;
		kube_backoff(k);
	}
}

static void
kube_watch(struct kube *k)
{
	char target[LIM_KUBE_REQUEST_BYTES / 2];
	unsigned t = k->cfg.watch_timeout_s, half;

	/* Spread the renewals of many nodes: timeoutSeconds in [t/2, t]. */
	half = t / 2;
	t = half + (unsigned)((double)(t - half + 1) * kube_random(k));
	if (t > k->cfg.watch_timeout_s)
		t = k->cfg.watch_timeout_s;
	k->state = KUBE_WATCHING;
	k->st.watches++;
	lines_init(&k->lines, k->body, LIM_KOBJ_EVENT_BYTES + 1);
	if (kube_watch_target(target, sizeof(target), k->cfg.node, k->rv, t) <
	        0 ||
	    kube_send(k, KUBE_REQ_WATCH, target,
	        (uint64_t)(t + LIM_KUBE_WATCH_GRACE_S) * 1000) != 0)
		kube_backoff(k);
}

/* ---- responses -------------------------------------------------------- */

static void
kube_head(struct hclient *hc, const struct httpc_resp *resp, void *arg)
{
	struct kube *k = arg;
	struct httpc_slice ra = httpc_header(resp, "Retry-After");
	uint64_t secs = 0;
	size_t i;

	(void)hc;
	k->status = resp->status;
	for (i = 0; ra.ptr && i < ra.len && ra.ptr[i] >= '0' &&
	     ra.ptr[i] <= '9' && secs < 3600;
	     i++)
		secs = secs * 10 + (uint64_t)(ra.ptr[i] - '0');
	k->retry_after_ms = secs * 1000;
}

/*
 * A pod event: into the cache, then to the hook.  refused is 0, or the
 * kobj error that kept the pod from being decoded whole.
 */
static void
kube_apply(
    struct kube *k, enum kobj_ev type, const struct kobj_pod *pod, int refused)
{
	const struct podcache_entry *e = NULL;
	uint64_t now = loop_now_ms(k->loop);
	int rc = 0;

	if (type == KOBJ_EV_DELETED || refused != 0) {
		/* A pod we cannot describe is dropped: fail closed. */
		podcache_remove(k->cache, pod->uid, now);
		if (refused != 0) {
			k->st.refused_pods++;
			log_warnx("kube: pod %s/%s refused: %s", pod->ns,
			    pod->name, kobj_strerror(refused));
		}
	} else if ((rc = podcache_upsert(k->cache, pod,
	                k->policy ? *k->policy : NULL, now)) != 0) {
		k->st.refused_pods++;
		podcache_remove(k->cache, pod->uid, now);
		if (rc != PODCACHE_E_FULL) /* the cache logs a full table */
			log_warnx("kube: pod %s/%s refused by the cache: %s",
			    pod->ns, pod->name, podcache_strerror(rc));
	} else
		e = podcache_by_uid(k->cache, pod->uid);
	if (k->hooks.change != NULL)
		k->hooks.change(k, refused != 0 ? KOBJ_EV_DELETED : type, pod,
		    e, k->hooks.arg);
}

/* One watch event line; < 0 ends the stream (relist or resync). */
static int
kube_event(struct kube *k, const char *line, size_t len)
{
	int rc;

	rc = kobj_event_decode(
	    line, len, k->toks, LIM_KOBJ_EVENT_TOKENS, &k->ev);
	k->st.last_event_ms = loop_now_ms(k->loop);
	if (rc != 0 && k->ev.pod.uid[0] != '\0' &&
	    (k->ev.type == KOBJ_EV_ADDED || k->ev.type == KOBJ_EV_MODIFIED ||
	        k->ev.type == KOBJ_EV_DELETED)) {
		kube_apply(k, k->ev.type, &k->ev.pod, rc);
		return 0;
	}
	if (rc != 0) {
		log_warnx("kube: undecodable watch event (%s): relisting",
		    kobj_strerror(rc));
		k->resync = true;
		return -1;
	}
	if (k->ev.type == KOBJ_EV_ERROR) {
		if (kobj_status_is_gone(&k->ev.status)) {
			log_info("kube: watch from resourceVersion %s expired "
			         "(%.*s): listing again",
			    k->rv, (int)k->ev.status.message_len,
			    k->ev.status.message ? k->ev.status.message : "");
			k->relist = true;
			k->st.relists_410++;
		} else
			log_warnx("kube: watch error event %d: %.*s",
			    k->ev.status.code, (int)k->ev.status.message_len,
			    k->ev.status.message ? k->ev.status.message : "");
		return -1;
	}
	if (k->ev.rv[0] != '\0')
		memcpy(k->rv, k->ev.rv, sizeof(k->rv));
	k->failures = 0; /* the stream delivers: it is up */
	if (k->ev.type == KOBJ_EV_BOOKMARK) {
		k->st.bookmarks++;
		return 0;
	}
	k->st.events++;
	kube_apply(k, k->ev.type, &k->ev.pod, 0);
	return 0;
}

static int
kube_body(struct hclient *hc, const char *data, size_t len, void *arg)
{
	struct kube *k = arg;
	const char *line;
	size_t n, ll;
	int rc;

	(void)hc;
	if (k->req == KUBE_REQ_LIST || k->status != 200) {
		/* A list page, or an error's Status: kept whole. */
		if (len > LIM_KOBJ_EVENT_BYTES - k->bodylen) {
			k->too_big =
			    k->req == KUBE_REQ_LIST && k->status == 200;
			if (!k->too_big)
				log_warnx("kube: response larger than %u bytes",
				    LIM_KOBJ_EVENT_BYTES);
			return -1;
		}
		memcpy(k->body + k->bodylen, data, len);
		k->bodylen += len;
		return 0;
	}
	while (len > 0) {
		n = lines_push(&k->lines, data, len);
		data += n;
		len -= n;
		while ((rc = lines_next(&k->lines, &line, &ll)) != 0) {
			if (rc == LINES_E_TOOLONG) {
				k->st.skipped_events++;
				log_warnx("kube: watch event larger than %u "
				          "bytes skipped: relisting",
				    LIM_KOBJ_EVENT_BYTES);
				k->resync = true;
				return -1;
			}
			if (ll > 0 && kube_event(k, line, ll) < 0)
				return -1;
		}
	}
	return 0;
}

/* A complete 200 list page: into the cache; returns 0 or -1. */
static int
kube_list_done(struct kube *k)
{
	int rc;

	k->body[k->bodylen] = '\0';
	rc = kobj_list_decode(
	    k->body, k->bodylen, k->toks, LIM_KOBJ_EVENT_TOKENS, &k->list);
	if (rc == JSON_E_NOMEM) {
		k->too_big = true; /* more pods than tokens: fewer a page */
		return -1;
	}
	if (rc != 0) {
		log_warnx("kube: undecodable pod list (%s)", kobj_strerror(rc));
		return -1;
	}
	k->st.list_pages++;
	while ((rc = kobj_list_next(&k->list, &k->pod)) != 0)
		kube_apply(k, KOBJ_EV_ADDED, &k->pod, rc < 0 ? rc : 0);
	memcpy(k->rv, k->list.rv, sizeof(k->rv));
	memcpy(k->cont, k->list.cont, sizeof(k->cont));
	return 0;
}

/*
 * Gives the pages of a buffer back to the kernel: a list fills much of the
 * body buffer and the JSON tokens, a watch event touches only their start.
 * Their contents are not needed again (a later touch reads zeros).
 */
static void
kube_release(void *p, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t head = (pg - (size_t)((uintptr_t)p % pg)) % pg;
	size_t body = len > head ? (len - head) / pg * pg : 0;

	/* Whole pages only: the allocator's bytes around them stay. */
	if (body > 0)
		(void)madvise((char *)p + head, body, MADV_DONTNEED);
}

/*
 * A pod the new list no longer has (it went while the watch was down):
 * told to the hook as a deletion, like a DELETED event, as its slot goes
 * (podcache_sync_end); only its uid, namespace and name are known.
 */
static void
kube_gone(const struct podcache_entry *e, void *arg)
{
	struct kube *k = arg;

	memset(&k->pod, 0, sizeof(k->pod));
	snprintf(k->pod.uid, sizeof(k->pod.uid), "%s", e->uid);
	snprintf(k->pod.ns, sizeof(k->pod.ns), "%s", e->ns);
	snprintf(k->pod.name, sizeof(k->pod.name), "%s", e->name);
	k->hooks.change(k, KOBJ_EV_DELETED, &k->pod, NULL, k->hooks.arg);
}

/* The page ended the list: sweep, tell, and start watching. */
static void
kube_synced(struct kube *k)
{
	unsigned gone = podcache_sync_end(k->cache, loop_now_ms(k->loop),
	    k->hooks.change != NULL ? kube_gone : NULL, k);

	kube_release(k->body, LIM_KOBJ_EVENT_BYTES + 1);
	kube_release(k->toks, LIM_KOBJ_EVENT_TOKENS * sizeof(*k->toks));
	k->st.synced = true;
	k->st.synced_ms = k->st.last_event_ms = loop_now_ms(k->loop);
	k->failures = 0;
	k->relist = k->resync = false;
	log_info("kube: listed the pods of node %s at resourceVersion %s "
	         "(%u gone since the last list)",
	    k->cfg.node, k->rv, gone);
	if (k->hooks.synced != NULL)
		k->hooks.synced(k, k->hooks.arg);
	kube_watch(k);
}

/*
 * The message of the Status an error answer carries, for the log: sets
 * *msg (into the body buffer, valid until the next request) and returns
 * its length, at most 200; 0 and "" when the body is no Status.
 */
static int
kube_status_msg(struct kube *k, const char **msg)
{
	struct json_doc doc;
	struct kobj_status st = {0};

	*msg = "";
	/* json_parse returns the number of tokens: > 0 is success. */
	if (k->bodylen == 0 ||
	    json_parse(&doc, k->body, k->bodylen, k->toks,
	        LIM_KOBJ_EVENT_TOKENS) <= 0 ||
	    kobj_status_decode(&doc, 0, &st) != 0 || st.message == NULL)
		return 0;
	*msg = st.message;
	return st.message_len > 200 ? 200 : (int)st.message_len;
}

static void
kube_log_status(struct kube *k)
{
	const char *msg;
	int n = kube_status_msg(k, &msg);

	log_warnx("kube: %s answered %d%s%.*s",
	    k->req == KUBE_REQ_LIST ? "list" : "watch", k->status,
	    n > 0 ? ": " : "", n, msg);
}

/*
 * A list page larger than one event may be (bytes or JSON tokens) cannot
 * be decoded: ask for half as many pods a page from now on, down to one.
 * Returns false when pages are one pod already.
 */
static bool
kube_smaller_pages(struct kube *k)
{
	if (k->page <= 1) {
		log_warnx("kube: one pod is larger than %u bytes or %u JSON "
		          "tokens: cannot list",
		    LIM_KOBJ_EVENT_BYTES, LIM_KOBJ_EVENT_TOKENS);
		return false;
	}
	log_warnx("kube: a list page of %u pods is larger than %u bytes or "
	          "%u JSON tokens: asking for %u a page",
	    k->page, LIM_KOBJ_EVENT_BYTES, LIM_KOBJ_EVENT_TOKENS, k->page / 2);
	k->page /= 2;
	return true;
}

/*
 * Whether a failed request only met a kept-alive connection the server
 * had closed meanwhile (it may close one at any time, as a watch ends):
 * then it went out on a reused connection and nothing came back.
 */
static bool
kube_is_stale_conn(const struct kube *k, int err)
{
	return k->reused && k->status == 0 &&
	    (err == HCLIENT_E_CLOSED || err == HCLIENT_E_IO ||
	        err == HCLIENT_E_TLS);
}

/* Every request ends here: decide what comes next. */
static void
kube_done(struct hclient *hc, int err, void *arg)
{
	struct kube *k = arg;
	const char *msg;
	char ebuf[160];
	int n;

	if (kube_is_stale_conn(k, err)) {
		/* No failure: the same GET at once, on a new connection. */
		log_debug("kube: %s: kept-alive connection gone (%s): sending "
		          "again on a new one",
		    k->req == KUBE_REQ_LIST ? "list" : "watch",
		    hclient_strerror(hc, ebuf, sizeof(ebuf)));
		if (k->req == KUBE_REQ_WATCH)
			lines_reset(&k->lines);
		if (kube_transmit(k) != 0)
			kube_backoff(k);
		return;
	}
	if (err != 0 && err != HCLIENT_E_ABORT)
		log_warnx("kube: %s: %s",
		    k->req == KUBE_REQ_LIST ? "list" : "watch",
		    hclient_strerror(hc, ebuf, sizeof(ebuf)));
	if (k->req == KUBE_REQ_WATCH && (k->relist || k->resync)) {
		kube_relist(k); /* the stream said so */
		return;
	}
	if (err == 0 && k->status == 410) {
		/* A watch too old, or a list's continue token expired. */
		n = kube_status_msg(k, &msg);
		log_info("kube: %s answered 410%s%.*s%s: listing again",
		    k->req == KUBE_REQ_LIST ? "list" : "watch",
		    n > 0 ? " (" : "", n, msg, n > 0 ? ")" : "");
		k->st.relists_410++;
		kube_relist(k);
		return;
	}
	if (err == 0 && k->status != 200) {
		kube_log_status(k);
		if (k->status == 401)
			(void)kube_read_token(k);
		kube_backoff(k);
		return;
	}
	if (k->req == KUBE_REQ_LIST) {
		if (err == 0 && kube_list_done(k) == 0) {
			if (k->cont[0] != '\0')
				kube_list_page(k);
			else
				kube_synced(k);
		} else if (k->too_big && kube_smaller_pages(k))
			kube_list_page(k); /* the same page, fewer pods */
		else
			kube_backoff(k);
		return;
	}
	/* A watch ended: at its timeout (err 0) or dropped.  Resume. */
	if (err == 0)
		k->failures = 0;
	if (k->failures == 0) {
		k->failures += err != 0;
		kube_watch(k);
	} else
		kube_backoff(k);
}

static const struct hclient_cb kube_cb = {kube_head, kube_body, kube_done};

/* ---- life ------------------------------------------------------------- */

struct kube *
kube_new(struct loop *loop, const struct kube_config *cfg,
    const struct pem_anchors *anchors, struct podcache *cache,
    const struct pol *const *policy, const struct kube_hooks *hooks)
{
	struct kube *k;

	/* Start-up sizing: the object, and buffers touched only as used. */
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	k->tls_iobuf = malloc(BR_SSL_BUFSIZE_BIDI);
	k->rbuf = malloc(LIM_KUBE_RECV_BYTES);
	k->body = malloc(LIM_KOBJ_EVENT_BYTES + 1);
	k->toks = malloc(LIM_KOBJ_EVENT_TOKENS * sizeof(*k->toks));
	if (k->tls_iobuf == NULL || k->rbuf == NULL || k->body == NULL ||
	    k->toks == NULL ||
	    tls_conn_init(
	        &k->tls, anchors, k->tls_iobuf, BR_SSL_BUFSIZE_BIDI) != 0) {
		kube_free(k);
		errno = ENOMEM;
		return NULL;
	}
	k->loop = loop;
	k->cfg = *cfg;
	k->page = cfg->page_size > 0 ? cfg->page_size : LIM_KUBE_PAGE_PODS;
	k->cache = cache;
	k->policy = policy;
	if (hooks != NULL)
		k->hooks = *hooks;
	k->prng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^
	    (uint64_t)(uintptr_t)k;
	k->prng |= 1;
	hclient_init(&k->hc, loop, &k->tls, k->rbuf, LIM_KUBE_RECV_BYTES);
	loop_timer_init(&k->retry_timer, kube_retry, k);
	loop_timer_init(&k->token_timer, kube_token_timer, k);
	k->state = KUBE_BACKOFF;
	return k;
}

void
kube_free(struct kube *k)
{
	if (k == NULL)
		return;
	if (k->loop != NULL) {
		hclient_close(&k->hc);
		loop_timer_cancel(k->loop, &k->retry_timer);
		loop_timer_cancel(k->loop, &k->token_timer);
		tls_conn_cleanup(&k->tls);
	}
	explicit_bzero(k->authz, sizeof(k->authz));
	free(k->tls_iobuf);
	free(k->rbuf);
	free(k->body);
	free(k->toks);
	free(k);
}

int
kube_start(struct kube *k)
{
	if (kube_read_token(k) != 0)
		return -1;
	loop_timer_set(k->loop, &k->token_timer, LIM_KUBE_TOKEN_REREAD_MS);
	kube_list_page(k);
	return 0;
}

enum kube_state
kube_state(const struct kube *k)
{
	return k->state;
}

const struct kube_stats *
kube_stats(const struct kube *k)
{
	return &k->st;
}

const char *
kube_authz(const struct kube *k)
{
	return k->authz;
}

const char *
kube_rv(const struct kube *k)
{
	return k->rv;
}
