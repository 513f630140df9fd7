/*
 * ktoken: TokenRequest minting for federated identities.  One hclient to
 * the API server, a fixed queue of gets, a fixed table of minted tokens.
 *
 * A get moves through: KT_WAIT (needs a token), KT_FLIGHT (its request is
 * on the wire), KT_ANSWER (its result is decided; the kick timer delivers
 * it from the loop).  Every get that shares a key (pod uid and audience)
 * with the one in flight takes that request's result.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "agent/hclient.h"
#include "agent/json.h"
#include "agent/ktoken.h"
#include "agent/limits.h"
#include "agent/log.h"

enum kt_state { KT_FREE, KT_WAIT, KT_FLIGHT, KT_ANSWER };

struct kt_get {
	enum kt_state state;
	uint16_t gen;
	char ns[LIM_KOBJ_NAME_BYTES + 1], sa[LIM_KOBJ_NAME_BYTES + 1];
	char pod[LIM_KOBJ_NAME_BYTES + 1], uid[40];
	char aud[LIM_KTOKEN_AUDIENCE_BYTES + 1];
	ktoken_cb cb;
	void *arg;
	int err, status; /* KT_ANSWER: the outcome */
	int slot;        /* KT_ANSWER with err 0: the cache slot */
	uint64_t seq;    /* arrival order */
};

struct kt_slot {
	bool used;
	char uid[40], aud[LIM_KTOKEN_AUDIENCE_BYTES + 1];
	char tok[LIM_KTOKEN_BYTES + 1];
	size_t len;
	int64_t expires;
};

struct ktoken {
	struct loop *loop;
	struct kube_config cfg;
	const char *authz; /* "Bearer ...", rewritten in place on rotation */
	const struct pem_anchors *anchors;
	bool ready; /* tls and hc readied (the first request) */
	struct hclient hc;
	struct tls_conn tls;
	struct loop_timer kick;
	int flight;       /* index of the get whose request is out, -1 none */
	struct kt_get fl; /* a copy of that get's key: it may be cancelled */
	bool fl_gone;     /* its pod went meanwhile: do not keep the token */
	uint64_t seq;
	struct ktoken_stats st;
	struct kt_get gets[LIM_KTOKEN_QUEUE];
	struct kt_slot slots[LIM_KTOKEN_SLOTS];
	char req[LIM_KTOKEN_REQUEST_BYTES];
	char body[LIM_KTOKEN_BODY_BYTES];
	size_t blen;
	bool body_over;
	char rbuf[LIM_KTOKEN_RECV_BYTES];
	unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
};

/* ---- pure parts ---------------------------------------------------- */

/* Names go into a path and JSON unescaped: allow what Kubernetes allows. */
static bool
kt_name_ok(const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i == max ||
		    !((s[i] >= 'a' && s[i] <= 'z') ||
		        (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		        s[i] == '.'))
			return false;
	return i > 0;
}

/* Audiences are URIs: printable, nothing JSON escapes. */
static bool
kt_aud_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i == LIM_KTOKEN_AUDIENCE_BYTES || s[i] <= 0x20 ||
		    s[i] == '"' || s[i] == '\\' || s[i] == 0x7f)
			return false;
	return i > 0;
}

int
ktoken_request(char *dst, size_t len, const char *hostport, const char *authz,
    const char *ns, const char *sa, const char *pod, const char *uid,
    const char *audience, unsigned expiration_s)
{
	char body[1024];
	int b, n;

	if (!kt_name_ok(ns, LIM_KOBJ_NAME_BYTES) ||
	    !kt_name_ok(sa, LIM_KOBJ_NAME_BYTES) ||
	    !kt_name_ok(pod, LIM_KOBJ_NAME_BYTES) || !kt_name_ok(uid, 39) ||
	    !kt_aud_ok(audience))
		return -1;
	b = snprintf(body, sizeof(body),
	    "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":"
	    "\"TokenRequest\",\"spec\":{\"audiences\":[\"%s\"],"
	    "\"expirationSeconds\":%u,\"boundObjectRef\":{\"kind\":\"Pod\","
	    "\"apiVersion\":\"v1\",\"name\":\"%s\",\"uid\":\"%s\"}}}",
	    audience, expiration_s, pod, uid);
	if (b < 0 || (size_t)b >= sizeof(body))
		return -1;
	n = snprintf(dst, len,
	    "POST /api/v1/namespaces/%s/serviceaccounts/%s/token HTTP/1.1\r\n"
	    "Host: %s\r\nAuthorization: %s\r\nAccept: application/json\r\n"
	    "Content-Type: application/json\r\nContent-Length: %d\r\n"
	    "User-Agent: podid\r\n\r\n%s",
	    ns, sa, hostport, authz, b, body);
	return n < 0 || (size_t)n >= len ? -1 : n;
}

static int
kt_digits(const char *s, size_t n, int *out)
{
	size_t i;
	int v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t
kt_days(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int
ktoken_rfc3339(const char *s, size_t len, int64_t *out)
{
	static const int mdays[] = {
	    31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo, d, h, mi, se, oh = 0, om = 0;
	size_t i = 19;
	int64_t off = 0;

	if (len < 20 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' ||
	    kt_digits(s, 4, &y) || kt_digits(s + 5, 2, &mo) ||
	    kt_digits(s + 8, 2, &d) || kt_digits(s + 11, 2, &h) ||
	    kt_digits(s + 14, 2, &mi) || kt_digits(s + 17, 2, &se))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
	    mi > 59 || se > 60)
		return -1;
	if (s[i] == '.') {
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == 20)
			return -1;
	}
	if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z'))
		off = 0;
	else if (i + 6 == len && (s[i] == '+' || s[i] == '-') &&
	    s[i + 3] == ':' && !kt_digits(s + i + 1, 2, &oh) &&
	    !kt_digits(s + i + 4, 2, &om) && oh < 24 && om < 60)
		off = (s[i] == '+' ? 1 : -1) * (int64_t)(oh * 3600 + om * 60);
	else
		return -1;
	*out = kt_days(y, mo, d) * 86400 + (int64_t)h * 3600 +
	    (int64_t)mi * 60 + (se == 60 ? 59 : se) - off;
	return 0;
}

int
ktoken_decode(
    const char *body, size_t len, char *tok, size_t cap, int64_t *expires)
{
	struct json_tok toks[LIM_KTOKEN_JSON_TOKENS];
	struct json_doc doc;
	const char *ts;
	size_t tslen;
	int st, t, e, n;

	if (json_parse(&doc, body, len, toks, LIM_KTOKEN_JSON_TOKENS) <= 0 ||
	    json_type(&doc, 0) != JSON_OBJECT ||
	    (st = json_obj_get(&doc, 0, "status")) < 0 ||
	    json_type(&doc, st) != JSON_OBJECT ||
	    (t = json_obj_get(&doc, st, "token")) < 0 ||
	    (e = json_obj_get(&doc, st, "expirationTimestamp")) < 0 ||
	    json_type(&doc, e) != JSON_STRING)
		return KTOKEN_E_DECODE;
	ts = json_slice(&doc, e, &tslen);
	if (ktoken_rfc3339(ts, tslen, expires) != 0)
		return KTOKEN_E_DECODE;
	n = json_str_unescape(&doc, t, tok, cap);
	if (n <= 0) {
		if (cap > 0)
			explicit_bzero(tok, cap);
		return KTOKEN_E_DECODE;
	}
	return n;
}

/* ---- the cache ------------------------------------------------------ */

static int64_t
kt_now(void)
{
	return (int64_t)time(NULL);
}

static void
kt_slot_wipe(struct ktoken *k, struct kt_slot *s)
{
	if (s->used)
		k->st.wiped++;
	explicit_bzero(s, sizeof(*s));
}

static int
kt_lookup(struct ktoken *k, const char *uid, const char *aud)
{
	unsigned i;

	for (i = 0; i < LIM_KTOKEN_SLOTS; i++) {
		struct kt_slot *s = &k->slots[i];

		if (!s->used || strcmp(s->uid, uid) != 0 ||
		    strcmp(s->aud, aud) != 0)
			continue;
		if (s->expires - kt_now() > (int64_t)LIM_KTOKEN_EARLY_S)
			return (int)i;
		kt_slot_wipe(k, s); /* too close to its end to hand out */
	}
	return -1;
}

/* A slot for a new token: a free one, else the one expiring first. */
static struct kt_slot *
kt_slot_take(struct ktoken *k)
{
	struct kt_slot *best = &k->slots[0];
	unsigned i;

	for (i = 0; i < LIM_KTOKEN_SLOTS; i++) {
		if (!k->slots[i].used)
			return &k->slots[i];
		if (k->slots[i].expires < best->expires)
			best = &k->slots[i];
	}
	kt_slot_wipe(k, best);
	return best;
}

/* ---- gets and the request ------------------------------------------ */

static void kt_next(struct ktoken *);

/* Settles every get sharing g's key: with slot (err 0) or the error. */
static void
kt_settle(
    struct ktoken *k, const struct kt_get *g, int err, int status, int slot)
{
	char uid[40], aud[LIM_KTOKEN_AUDIENCE_BYTES + 1];
	unsigned i;

	memcpy(uid, g->uid, sizeof(uid));
	memcpy(aud, g->aud, sizeof(aud));
	for (i = 0; i < LIM_KTOKEN_QUEUE; i++) {
		struct kt_get *o = &k->gets[i];

		if ((o->state == KT_WAIT || o->state == KT_FLIGHT) &&
		    strcmp(o->uid, uid) == 0 && strcmp(o->aud, aud) == 0) {
			o->state = KT_ANSWER;
			o->err = err;
			o->status = status;
			o->slot = slot;
		}
	}
	loop_timer_set(k->loop, &k->kick, 0);
}

static int
kt_body(struct hclient *hc, const char *data, size_t len, void *arg)
{
	struct ktoken *k = arg;

	(void)hc;
	if (len > sizeof(k->body) - k->blen) {
		k->body_over = true;
		return 0;
	}
	memcpy(k->body + k->blen, data, len);
	k->blen += len;
	return 0;
}

/* The answer to the request in flight. */
static void
kt_done(struct hclient *hc, int err, void *arg)
{
	struct ktoken *k = arg;
	struct kt_get *g = &k->fl;
	struct kt_slot *s;
	int status = err == 0 ? hc->resp.status : 0, n;
	int64_t exp;

	k->flight = -1;
	explicit_bzero(k->req, sizeof(k->req)); /* it held our own token */
	if (err != 0 || status < 200 || status > 202 || k->body_over) {
		char why[128];

		k->st.failed++;
		if (err == 0)
			snprintf(why, sizeof(why),
			    "refused by the API server "
			    "(HTTP %d)",
			    status);
		log_warnx("ktoken: token of %s/%s (pod %s): %s", g->ns, g->sa,
		    g->pod,
		    err != 0 ? hclient_strerror(hc, why, sizeof(why)) : why);
		kt_settle(k, g,
		    err != 0           ? KTOKEN_E_CONNECT
		        : k->body_over ? KTOKEN_E_DECODE
		                       : KTOKEN_E_HTTP,
		    status, -1);
		goto out;
	}
	s = kt_slot_take(k);
	n = ktoken_decode(k->body, k->blen, s->tok, sizeof(s->tok), &exp);
	if (n < 0) {
		k->st.failed++;
		log_warnx("ktoken: token of %s/%s: the answer does not decode",
		    g->ns, g->sa);
		kt_slot_wipe(k, s);
		kt_settle(k, g, KTOKEN_E_DECODE, status, -1);
		goto out;
	}
	if (k->fl_gone) {
		kt_slot_wipe(k, s);
		kt_settle(k, g, KTOKEN_E_GONE, status, -1);
		goto out;
	}
	s->used = true;
	s->len = (size_t)n;
	s->expires = exp;
	memcpy(s->uid, g->uid, sizeof(s->uid));
	memcpy(s->aud, g->aud, sizeof(s->aud));
	k->st.minted++;
	kt_settle(k, g, 0, status, (int)(s - k->slots));
out:
	explicit_bzero(k->body, k->blen);
	k->blen = 0;
}

static const struct hclient_cb kt_cb = {NULL, kt_body, kt_done};

/*
 * Readies the TLS context and the client at the first request, so that
 * start-up leaves them (26 KiB) untouched (issue 3).  It cannot fail:
 * ktoken_new checked the anchors and the I/O buffer has BearSSL's size.
 */
static bool
kt_ready(struct ktoken *k)
{
	if (k->ready)
		return true;
	if (tls_conn_init(&k->tls, k->anchors, k->iobuf, sizeof(k->iobuf)) != 0)
		return false;
	hclient_init(&k->hc, k->loop, &k->tls, k->rbuf, sizeof(k->rbuf));
	k->ready = true;
	return true;
}

/* Starts the request of the oldest waiting get, if none is out. */
static void
kt_next(struct ktoken *k)
{
	struct kt_get *g = NULL;
	unsigned i;
	int n;

	if (k->flight >= 0)
		return;
	for (i = 0; i < LIM_KTOKEN_QUEUE; i++)
		if (k->gets[i].state == KT_WAIT &&
		    (g == NULL || k->gets[i].seq < g->seq))
			g = &k->gets[i];
	if (g == NULL)
		return;
	if (!kt_ready(k)) {
		kt_settle(k, g, KTOKEN_E_CONNECT, 0, -1);
		return;
	}
	if (k->authz == NULL || strncmp(k->authz, "Bearer ", 7) != 0 ||
	    k->authz[7] == '\0') {
		kt_settle(k, g, KTOKEN_E_AUTH, 0, -1);
		return;
	}
	n = ktoken_request(k->req, sizeof(k->req), k->cfg.hostport, k->authz,
	    g->ns, g->sa, g->pod, g->uid, g->aud, LIM_KTOKEN_EXPIRATION_S);
	k->blen = 0;
	k->body_over = false;
	if (n < 0 ||
	    hclient_request(&k->hc, (struct sockaddr *)&k->cfg.addr,
	        k->cfg.addrlen, k->cfg.host, k->req, (size_t)n,
	        LIM_KTOKEN_TIMEOUT_MS, &kt_cb, k) != 0) {
		k->st.failed++;
		kt_settle(k, g, n < 0 ? KTOKEN_E_ARG : KTOKEN_E_CONNECT, 0, -1);
		return;
	}
	k->st.requests++;
	k->flight = (int)(g - k->gets);
	k->fl = *g;
	k->fl_gone = false;
	g->state = KT_FLIGHT;
}

/* Delivers settled gets (each callback may call ktoken again). */
static void
kt_kick(struct loop *l, struct loop_timer *t, void *arg)
{
	struct ktoken *k = arg;
	unsigned i;

	(void)l;
	(void)t;
	for (i = 0; i < LIM_KTOKEN_QUEUE; i++) {
		struct kt_get *g = &k->gets[i];
		const struct kt_slot *s;

		if (g->state != KT_ANSWER)
			continue;
		g->state = KT_FREE;
		g->gen++;
		s = g->slot >= 0 ? &k->slots[g->slot] : NULL;
		if (g->err == 0 &&
		    (s == NULL || !s->used || strcmp(s->uid, g->uid) != 0))
			g->err = KTOKEN_E_GONE;
		if (g->err == 0)
			g->cb(g->arg, 0, g->status, s->tok, s->len, s->expires);
		else
			g->cb(g->arg, g->err, g->status, NULL, 0, 0);
	}
	kt_next(k);
}

int
ktoken_get(struct ktoken *k, const char *ns, const char *sa, const char *pod,
    const char *uid, const char *audience, ktoken_cb cb, void *arg,
    uint32_t *handle)
{
	struct kt_get *g = NULL;
	unsigned i;
	int slot;

	k->st.gets++;
	if (!kt_name_ok(ns, LIM_KOBJ_NAME_BYTES) ||
	    !kt_name_ok(sa, LIM_KOBJ_NAME_BYTES) ||
	    !kt_name_ok(pod, LIM_KOBJ_NAME_BYTES) || !kt_name_ok(uid, 39) ||
	    !kt_aud_ok(audience))
		return KTOKEN_E_ARG;
	for (i = 0; i < LIM_KTOKEN_QUEUE && g == NULL; i++)
		if (k->gets[i].state == KT_FREE)
			g = &k->gets[i];
	if (g == NULL)
		return KTOKEN_E_FULL;
	snprintf(g->ns, sizeof(g->ns), "%s", ns);
	snprintf(g->sa, sizeof(g->sa), "%s", sa);
	snprintf(g->pod, sizeof(g->pod), "%s", pod);
	snprintf(g->uid, sizeof(g->uid), "%s", uid);
	snprintf(g->aud, sizeof(g->aud), "%s", audience);
	g->cb = cb;
	g->arg = arg;
	g->seq = ++k->seq;
	g->slot = -1;
	g->state = KT_WAIT;
	*handle = (uint32_t)g->gen << 16 | (uint32_t)(g - k->gets);
	if ((slot = kt_lookup(k, uid, audience)) >= 0) {
		k->st.hits++;
		g->state = KT_ANSWER;
		g->err = 0;
		g->status = 0;
		g->slot = slot;
	}
	loop_timer_set(k->loop, &k->kick, 0);
	return 0;
}

void
ktoken_cancel(struct ktoken *k, uint32_t handle)
{
	unsigned i = handle & 0xffff;
	struct kt_get *g;

	if (i >= LIM_KTOKEN_QUEUE)
		return;
	g = &k->gets[i];
	if (g->state == KT_FREE || g->gen != (uint16_t)(handle >> 16))
		return;
	/* A request out stays out: its answer still lands in the cache. */
	g->state = KT_FREE;
	g->gen++;
}

void
ktoken_pod_gone(struct ktoken *k, const char *uid)
{
	unsigned i;

	for (i = 0; i < LIM_KTOKEN_SLOTS; i++)
		if (k->slots[i].used && strcmp(k->slots[i].uid, uid) == 0)
			kt_slot_wipe(k, &k->slots[i]);
	if (k->flight >= 0 && strcmp(k->fl.uid, uid) == 0)
		k->fl_gone = true;
	for (i = 0; i < LIM_KTOKEN_QUEUE; i++) {
		struct kt_get *g = &k->gets[i];

		if (g->state != KT_FREE && strcmp(g->uid, uid) == 0) {
			g->state = KT_ANSWER;
			g->err = KTOKEN_E_GONE;
			g->slot = -1;
			loop_timer_set(k->loop, &k->kick, 0);
		}
	}
}

struct ktoken *
ktoken_new(struct loop *l, const struct kube_config *cfg,
    const struct pem_anchors *anchors, const char *authz)
{
	struct ktoken *k;

	if (anchors == NULL || anchors->count == 0) {
		errno = EINVAL;
		return NULL;
	}
	/* The one allocation, at start; kept out of core dumps (tokens):
	 * mmap, as madvise needs a page-aligned start (calloc's was not).
	 * Only the header is written here: the gets, the cache slots and
	 * the buffers stay untouched until used (issue 3). */
	k = mmap(NULL, sizeof(*k), PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (k == MAP_FAILED) {
		errno = ENOMEM;
		return NULL;
	}
	(void)madvise(k, sizeof(*k), MADV_DONTDUMP);
	k->loop = l;
	k->cfg = *cfg;
	k->authz = authz;
	k->anchors = anchors;
	k->flight = -1;
	loop_timer_init(&k->kick, kt_kick, k);
	return k;
}

void
ktoken_free(struct ktoken *k)
{
	if (k == NULL)
		return;
	if (k->ready)
		hclient_close(&k->hc);
	loop_timer_cancel(k->loop, &k->kick);
	if (k->ready)
		tls_conn_cleanup(&k->tls);
	explicit_bzero(k, sizeof(*k));
	munmap(k, sizeof(*k));
}

void
ktoken_stats(const struct ktoken *k, struct ktoken_stats *st)
{
	unsigned i;

	*st = k->st;
	st->cached = st->queued = 0;
	for (i = 0; i < LIM_KTOKEN_SLOTS; i++)
		st->cached += k->slots[i].used;
	for (i = 0; i < LIM_KTOKEN_QUEUE; i++)
		st->queued += k->gets[i].state != KT_FREE;
}
