/*
 * The loop-driven stub resolver (see resolv.h).  Each lookup owns one
 * pending slot, an explicit state machine:
 *
 *	DONE     answer known at lookup time; a zero-delay timer delivers it
 *	START    nothing sent yet; the zero-delay timer sends the first try
 *	UDP      one datagram out, waiting for its answer or the timeout
 *	TCP_CONN non-blocking connect to the server that answered TC
 *	TCP_IO   query written and answer read, 2-byte length framing
 *
 * A try is one query to one server.  rq_try() starts the current try
 * (moving past tries that fail at once), rq_next_try() abandons it,
 * rq_cand_end() moves to the next search candidate or finishes, and
 * rq_finish() frees the slot before it calls back, so the callback may
 * start new lookups.  Callbacks only ever run from a timer or an fd event.
 */
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/dns.h"
#include "agent/limits.h"
#include "agent/log.h"
#include "agent/resolv.h"

#define RESOLV_NAME_CAP (LIM_RESOLV_NAME_BYTES + 2) /* trailing dot, NUL */

enum rq_state { RQ_FREE, RQ_DONE, RQ_START, RQ_UDP, RQ_TCP_CONN, RQ_TCP_IO };

struct resolv_host {
	struct in_addr addr;
	char name[RESOLV_NAME_CAP];
};

struct resolv_entry {
	char name[RESOLV_NAME_CAP]; /* as asked, lower case; "" when free */
	struct in_addr addrs[LIM_RESOLV_ADDRS];
	unsigned n;
	int err; /* 0, or RESOLV_E_NXDOMAIN / RESOLV_E_NODATA */
	uint64_t expires_ms;
};

/* What a file looked like when last read; a change means read it again. */
struct resolv_stamp {
	bool present;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim;
};

struct rq {
	enum rq_state state;
	struct resolv *r;
	unsigned idx;
	uint16_t gen;
	resolv_cb cb;
	void *arg;
	struct loop_timer timer;
	char name[RESOLV_NAME_CAP];  /* as asked, lower case */
	char qname[RESOLV_NAME_CAP]; /* the candidate being asked */
	unsigned cand, try;
	bool try_servfail, try_sent; /* what the candidate's tries met */
	bool got_nodata, got_servfail, has_neg;
	uint32_t neg_ttl;
	int fd;
	uint16_t id;
	uint8_t query[LIM_DNS_QUERY_BYTES + 2]; /* TCP length, then query */
	size_t qlen, sent;
	struct dns_tcp tcp;
	uint8_t *tcpbuf; /* LIM_RESOLV_TCP_BYTES of r->tcpbufs */
	int err;
	struct in_addr addrs[LIM_RESOLV_ADDRS];
	unsigned n;
};

struct resolv {
	struct loop *loop;
	struct resolv_config cfg;
	struct sockaddr_storage servers[LIM_RESOLV_SERVERS];
	socklen_t server_len[LIM_RESOLV_SERVERS];
	unsigned nservers;
	char search[LIM_RESOLV_SEARCH][RESOLV_NAME_CAP];
	unsigned nsearch, ndots, attempts;
	uint32_t timeout_ms;
	struct resolv_host *hosts;
	unsigned nhosts;
	struct resolv_entry *cache;
	struct rq *rqs;
	uint8_t *tcpbufs;
	char *filebuf; /* LIM_RESOLV_FILE_BYTES */
	struct resolv_stamp hosts_st, conf_st;
	uint64_t checked_ms;
	uint16_t ids[32];
	unsigned nids;
	uint8_t rbuf[LIM_RESOLV_TCP_BYTES]; /* one datagram or TCP read */
	struct resolv_stats stats;
};

static void rq_try(struct rq *);
static void rq_io(struct loop *, int, uint32_t, void *);

/* ---- configuration files ---- */

/* The next blank-separated word of [*p, end); false when none is left. */
static bool
resolv_word(const char **p, const char *end, const char **w, size_t *wl)
{
	const char *s = *p;

	while (s < end && (*s == ' ' || *s == '\t' || *s == '\r'))
		s++;
	*w = s;
	while (s < end && *s != ' ' && *s != '\t' && *s != '\r')
		s++;
	*wl = (size_t)(s - *w);
	*p = s;
	return *wl > 0;
}

/* Copies a word into dst[cap] with a NUL; false when it does not fit. */
static bool
resolv_wordcpy(char *dst, size_t cap, const char *w, size_t wl)
{
	if (wl >= cap)
		return false;
	memcpy(dst, w, wl);
	dst[wl] = '\0';
	return true;
}

static void
resolv_lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s + 32);
}

/* "N" of an option, capped at max and floored at min; -1 if not a number. */
static long
resolv_optnum(const char *s, size_t len, long min, long max)
{
	long v = 0;
	size_t i;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
		if (v > max)
			v = max;
	}
	return v < min ? min : v;
}

static void
resolv_conf_option(struct resolv *r, const char *w, size_t wl)
{
	long v;

	if (wl > 6 && memcmp(w, "ndots:", 6) == 0 &&
	    (v = resolv_optnum(w + 6, wl - 6, 0, LIM_RESOLV_NDOTS_MAX)) >= 0)
		r->ndots = (unsigned)v;
	else if (wl > 8 && memcmp(w, "timeout:", 8) == 0 &&
	    (v = resolv_optnum(
	         w + 8, wl - 8, 1, LIM_RESOLV_TIMEOUT_MAX_MS / 1000)) >= 0)
		r->timeout_ms = (uint32_t)v * 1000u;
	else if (wl > 9 && memcmp(w, "attempts:", 9) == 0 &&
	    (v = resolv_optnum(w + 9, wl - 9, 1, LIM_RESOLV_ATTEMPTS_MAX)) >= 0)
		r->attempts = (unsigned)v;
}

static void
resolv_conf_server(struct resolv *r, const char *w, size_t wl)
{
	struct sockaddr_in *sin;
	struct sockaddr_in6 *sin6;
	uint16_t port = htons(r->cfg.port ? r->cfg.port : 53);
	char text[INET6_ADDRSTRLEN];
	unsigned i = r->nservers;

	if (i >= LIM_RESOLV_SERVERS ||
	    !resolv_wordcpy(text, sizeof(text), w, wl))
		return;
	memset(&r->servers[i], 0, sizeof(r->servers[i]));
	sin = (struct sockaddr_in *)&r->servers[i];
	sin6 = (struct sockaddr_in6 *)&r->servers[i];
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = port;
		r->server_len[r->nservers++] = sizeof(*sin);
	} else if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = port;
		r->server_len[r->nservers++] = sizeof(*sin6);
	}
}

/* search and domain: the last line of either wins, as in glibc. */
static void
resolv_conf_search(struct resolv *r, const char *p, const char *end, bool one)
{
	uint8_t tmp[LIM_DNS_QUERY_BYTES];
	const char *w;
	size_t wl;

	r->nsearch = 0;
	while (
	    r->nsearch < LIM_RESOLV_SEARCH && resolv_word(&p, end, &w, &wl)) {
		if (wl > 1 && w[wl - 1] == '.')
			wl--; /* "example.com." is "example.com" */
		if (wl > LIM_RESOLV_NAME_BYTES - 2 ||
		    !resolv_wordcpy(
		        r->search[r->nsearch], RESOLV_NAME_CAP, w, wl) ||
		    dns_query_build(tmp, sizeof(tmp), 0, r->search[r->nsearch],
		        DNS_T_A) < 0)
			continue;
		resolv_lower(r->search[r->nsearch++]);
		if (one)
			break;
	}
}

/* One line of resolv.conf; unknown keywords are ignored, as in glibc. */
static void
resolv_conf_line(struct resolv *r, const char *p, const char *end)
{
	const char *w;
	size_t wl;

	if (!resolv_word(&p, end, &w, &wl) || w[0] == '#' || w[0] == ';')
		return;
	if (wl == 10 && memcmp(w, "nameserver", 10) == 0) {
		if (resolv_word(&p, end, &w, &wl))
			resolv_conf_server(r, w, wl);
	} else if (wl == 6 && memcmp(w, "search", 6) == 0)
		resolv_conf_search(r, p, end, false);
	else if (wl == 6 && memcmp(w, "domain", 6) == 0)
		resolv_conf_search(r, p, end, true);
	else if (wl == 7 && memcmp(w, "options", 7) == 0) {
		while (resolv_word(&p, end, &w, &wl))
			resolv_conf_option(r, w, wl);
	}
}

/* One line of hosts: an address, then names; IPv6 lines are skipped. */
static void
resolv_hosts_line(struct resolv *r, const char *p, const char *end)
{
	const char *w, *hash = memchr(p, '#', (size_t)(end - p));
	struct in_addr addr;
	char text[INET_ADDRSTRLEN];
	struct resolv_host *h;
	size_t wl;

	if (hash != NULL)
		end = hash;
	if (!resolv_word(&p, end, &w, &wl) ||
	    !resolv_wordcpy(text, sizeof(text), w, wl) ||
	    inet_pton(AF_INET, text, &addr) != 1)
		return;
	while (r->nhosts < LIM_RESOLV_HOSTS && resolv_word(&p, end, &w, &wl)) {
		h = &r->hosts[r->nhosts];
		if (wl > 1 && w[wl - 1] == '.')
			wl--;
		if (wl > LIM_RESOLV_NAME_BYTES ||
		    !resolv_wordcpy(h->name, sizeof(h->name), w, wl))
			continue;
		resolv_lower(h->name);
		h->addr = addr;
		r->nhosts++;
	}
}

/* Calls fn for each line of buf[0..len). */
static void
resolv_lines(struct resolv *r, size_t len,
    void (*fn)(struct resolv *, const char *, const char *))
{
	const char *p = r->filebuf, *end = r->filebuf + len, *nl;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		fn(r, p, nl ? nl : end);
		p = nl ? nl + 1 : end;
	}
}

static bool
resolv_stamp_eq(const struct resolv_stamp *a, const struct resolv_stamp *b)
{
	return a->present == b->present &&
	    (!a->present ||
	        (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	            a->mtim.tv_sec == b->mtim.tv_sec &&
	            a->mtim.tv_nsec == b->mtim.tv_nsec));
}

/*
 * Reads path into filebuf when it changed since *st (or force): returns
 * the length (0 for a missing file), or -1 when unchanged.  A file over
 * LIM_RESOLV_FILE_BYTES is cut after its last whole line.
 */
static long
resolv_file_read(
    struct resolv *r, const char *path, struct resolv_stamp *st, bool force)
{
	struct resolv_stamp now = {0};
	struct stat sb;
	size_t len = 0;
	ssize_t n;
	int fd;

	if (path != NULL &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) != -1) {
		if (fstat(fd, &sb) == 0)
			now = (struct resolv_stamp){
			    true, sb.st_dev, sb.st_ino, sb.st_size, sb.st_mtim};
		if (force || !resolv_stamp_eq(&now, st))
			while (len < LIM_RESOLV_FILE_BYTES &&
			    (n = read(fd, r->filebuf + len,
			         LIM_RESOLV_FILE_BYTES - len)) > 0)
				len += (size_t)n;
		close(fd);
	}
	if (!force && resolv_stamp_eq(&now, st))
		return -1;
	*st = now;
	if (len == LIM_RESOLV_FILE_BYTES) {
		log_warnx("resolv: %s: only its first %u bytes are used", path,
		    LIM_RESOLV_FILE_BYTES);
		while (len > 0 && r->filebuf[len - 1] != '\n')
			len--;
	}
	return (long)len;
}

/* Reads both files again when they changed (force: in any case). */
static void
resolv_reload(struct resolv *r, bool force)
{
	long len;

	if ((len = resolv_file_read(
	         r, r->cfg.resolv_conf_path, &r->conf_st, force)) >= 0) {
		r->nservers = r->nsearch = 0;
		r->ndots = LIM_RESOLV_NDOTS;
		r->timeout_ms = r->cfg.timeout_ms;
		r->attempts = r->cfg.attempts;
		resolv_lines(r, (size_t)len, resolv_conf_line);
		if (r->nservers == 0) /* glibc's default: the local host */
			resolv_conf_server(r, "127.0.0.1", 9);
		memset(r->cache, 0, sizeof(*r->cache) * r->cfg.cache_slots);
		r->stats.reloads += !force;
	}
	if ((len = resolv_file_read(
	         r, r->cfg.hosts_path, &r->hosts_st, force)) >= 0) {
		r->nhosts = 0;
		resolv_lines(r, (size_t)len, resolv_hosts_line);
		r->stats.reloads += !force;
	}
}

/* ---- cache and hosts ---- */

static struct resolv_entry *
resolv_cache_find(struct resolv *r, const char *name)
{
	uint64_t now = loop_clock_ms();
	unsigned i;

	for (i = 0; i < r->cfg.cache_slots; i++)
		if (r->cache[i].name[0] != '\0' &&
		    r->cache[i].expires_ms > now &&
		    strcmp(r->cache[i].name, name) == 0)
			return &r->cache[i];
	return NULL;
}

/* Keeps an answer for ttl_s; a full cache gives up its soonest expiry. */
static void
resolv_cache_put(struct resolv *r, const struct rq *rq, uint32_t ttl_s)
{
	uint64_t now = loop_clock_ms();
	struct resolv_entry *e = NULL, *c = &r->cache[0];
	unsigned i;

	/* the name's own entry first, so a name is never kept twice */
	for (i = 0; i < r->cfg.cache_slots && e == NULL; i++)
		if (strcmp(r->cache[i].name, rq->name) == 0)
			e = &r->cache[i];
	for (i = 0; i < r->cfg.cache_slots && e == NULL; i++)
		if (r->cache[i].name[0] == '\0' ||
		    r->cache[i].expires_ms <= now)
			e = &r->cache[i];
	for (i = 1; e == NULL && i < r->cfg.cache_slots; i++)
		if (r->cache[i].expires_ms < c->expires_ms)
			c = &r->cache[i];
	if (e == NULL) {
		e = c;
		r->stats.cache_evicted++;
	}
	memcpy(e->name, rq->name, sizeof(e->name));
	memcpy(e->addrs, rq->addrs, sizeof(e->addrs));
	e->n = rq->n;
	e->err = rq->err;
	e->expires_ms = now + (uint64_t)ttl_s * 1000u;
}

/* The hosts entries of name (without a trailing dot) into rq; count. */
static unsigned
resolv_hosts_find(struct resolv *r, struct rq *rq)
{
	char name[RESOLV_NAME_CAP];
	size_t len = strlen(rq->name);
	unsigned i;

	memcpy(name, rq->name, len + 1);
	if (len > 1 && name[len - 1] == '.')
		name[len - 1] = '\0';
	rq->n = 0;
	for (i = 0; i < r->nhosts && rq->n < LIM_RESOLV_ADDRS; i++)
		if (strcmp(r->hosts[i].name, name) == 0)
			rq->addrs[rq->n++] = r->hosts[i].addr;
	return rq->n;
}

/* ---- one lookup ---- */

static uint32_t
rq_handle(const struct rq *rq)
{
	return (uint32_t)rq->gen << 16 | rq->idx;
}

static uint16_t
resolv_random_id(struct resolv *r)
{
	if (r->nids == 0) {
		if (getrandom(r->ids, sizeof(r->ids), GRND_NONBLOCK) !=
		    (ssize_t)sizeof(r->ids)) {
			/* no entropy yet: weak, but the query still goes */
			r->ids[0] = (uint16_t)(loop_clock_ms() * 40503u);
			r->nids = 1;
		} else
			r->nids = sizeof(r->ids) / sizeof(r->ids[0]);
	}
	return r->ids[--r->nids];
}

static void
rq_close(struct rq *rq)
{
	if (rq->fd >= 0) {
		loop_del(rq->r->loop, rq->fd);
		close(rq->fd);
		rq->fd = -1;
	}
}

/* Frees the slot, then calls back: the callback may reuse it. */
static void
rq_finish(struct rq *rq)
{
	struct in_addr addrs[LIM_RESOLV_ADDRS];
	resolv_cb cb = rq->cb;
	void *arg = rq->arg;
	unsigned n = rq->err == 0 ? rq->n : 0;
	int err = rq->err;

	rq_close(rq);
	loop_timer_cancel(rq->r->loop, &rq->timer);
	memcpy(addrs, rq->addrs, sizeof(addrs));
	rq->state = RQ_FREE;
	rq->gen = (uint16_t)(rq->gen + 1 ? rq->gen + 1 : 1);
	cb(arg, err, addrs, n);
}

/* Candidate i of the search list into rq->qname; false to skip it. */
static bool
rq_candidate(struct rq *rq, unsigned i)
{
	const struct resolv *r = rq->r;
	size_t len = strlen(rq->name);
	unsigned dots = 0, k;
	const char *dom;

	for (k = 0; k < len; k++)
		dots += rq->name[k] == '.';
	if (rq->name[len - 1] == '.' || r->nsearch == 0) {
		memcpy(rq->qname, rq->name, len + 1);
		return true;
	}
	if (dots >= r->ndots)
		dom = i == 0 ? NULL : r->search[i - 1];
	else
		dom = i == r->nsearch ? NULL : r->search[i];
	if (dom == NULL) {
		memcpy(rq->qname, rq->name, len + 1);
		return true;
	}
	if (len + 1 + strlen(dom) > LIM_RESOLV_NAME_BYTES)
		return false;
	memcpy(rq->qname, rq->name, len);
	rq->qname[len] = '.';
	memcpy(rq->qname + len + 1, dom, strlen(dom) + 1);
	return true;
}

static unsigned
rq_ncand(const struct rq *rq)
{
	size_t len = strlen(rq->name);

	return rq->name[len - 1] == '.' ? 1 : rq->r->nsearch + 1;
}

/* Starts candidate rq->cand (or a later one that fits), first try. */
static void
rq_cand_start(struct rq *rq)
{
	while (rq->cand < rq_ncand(rq) && !rq_candidate(rq, rq->cand))
		rq->cand++;
	rq->try = 0;
	rq->try_servfail = rq->try_sent = false;
	rq_try(rq);
}

/*
 * The current candidate ended with err.  NXDOMAIN, no-data and server
 * failure go on to the next one; a timeout ends the lookup (glibc).
 */
static void
rq_cand_end(struct rq *rq, int err)
{
	uint32_t ttl;

	rq->got_nodata |= err == RESOLV_E_NODATA;
	rq->got_servfail |= err == RESOLV_E_SERVFAIL;
	if (err != RESOLV_E_TIMEOUT && err != RESOLV_E_SYS &&
	    rq->cand + 1 < rq_ncand(rq)) {
		rq->cand++;
		rq_cand_start(rq);
		return;
	}
	if (err != RESOLV_E_TIMEOUT && err != RESOLV_E_SYS)
		err = rq->got_nodata   ? RESOLV_E_NODATA
		    : rq->got_servfail ? RESOLV_E_SERVFAIL
		                       : RESOLV_E_NXDOMAIN;
	rq->err = err;
	rq->n = 0;
	if (err == RESOLV_E_NODATA || err == RESOLV_E_NXDOMAIN) {
		ttl = rq->has_neg ? rq->neg_ttl : LIM_RESOLV_NEG_TTL_S;
		ttl = ttl < LIM_RESOLV_NEG_TTL_MAX_S ? ttl
		                                     : LIM_RESOLV_NEG_TTL_MAX_S;
		resolv_cache_put(rq->r, rq,
		    ttl > LIM_RESOLV_TTL_MIN_S ? ttl : LIM_RESOLV_TTL_MIN_S);
	}
	rq_finish(rq);
}

/* Gives up the current try (timeout, failure, a server's refusal). */
static void
rq_next_try(struct rq *rq)
{
	rq_close(rq);
	rq->try++;
	rq_try(rq);
}

/* The server of the current try: tries rotate through them in order. */
static const struct sockaddr_storage *
rq_server(const struct rq *rq, socklen_t *len)
{
	unsigned i = rq->try % rq->r->nservers;

	*len = rq->r->server_len[i];
	return &rq->r->servers[i];
}

/* Opens a connected socket of type to the try's server, watched for ev. */
static int
rq_socket(struct rq *rq, int type, uint32_t ev)
{
	const struct sockaddr_storage *ss;
	socklen_t len;
	int fd;

	ss = rq_server(rq, &len);
	fd = socket(ss->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if ((connect(fd, (const struct sockaddr *)ss, len) == -1 &&
	        errno != EINPROGRESS) ||
	    loop_add(rq->r->loop, fd, ev, rq_io, rq) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends the current try over UDP; false when it could not be sent. */
static bool
rq_send_udp(struct rq *rq)
{
	struct resolv *r = rq->r;
	int n;

	rq->id = resolv_random_id(r);
	n = dns_query_build(
	    rq->query + 2, LIM_DNS_QUERY_BYTES, rq->id, rq->qname, DNS_T_A);
	if (n < 0)
		return false;
	rq->qlen = (size_t)n;
	rq->query[0] = (uint8_t)(n >> 8);
	rq->query[1] = (uint8_t)n;
	if ((rq->fd = rq_socket(rq, SOCK_DGRAM, LOOP_READ)) == -1)
		return false;
	if (send(rq->fd, rq->query + 2, rq->qlen, MSG_NOSIGNAL) !=
	    (ssize_t)rq->qlen) {
		rq_close(rq);
		return false;
	}
	r->stats.udp_queries++;
	rq->try_sent = true;
	rq->state = RQ_UDP;
	return true;
}

/* Starts the current try, or the next ones while they fail at once. */
static void
rq_try(struct rq *rq)
{
	struct resolv *r = rq->r;

	if (rq->cand >= rq_ncand(rq)) {
		rq_cand_end(rq, RESOLV_E_NXDOMAIN); /* nothing fit */
		return;
	}
	for (; rq->try < r->attempts * r->nservers; rq->try++) {
		if (!rq_send_udp(rq))
			continue;
		if (loop_timer_set(r->loop, &rq->timer, r->timeout_ms) == 0)
			return;
		rq_close(rq); /* no timer: it could wait forever */
		rq->err = RESOLV_E_SYS;
		rq_finish(rq);
		return;
	}
	/* servers that never answered usably count as a timeout */
	rq_cand_end(rq,
	    rq->try_servfail   ? RESOLV_E_SERVFAIL
	        : rq->try_sent ? RESOLV_E_TIMEOUT
	                       : RESOLV_E_SYS);
}

/* Truncated over UDP: the same query to the same server over TCP. */
static void
rq_start_tcp(struct rq *rq)
{
	rq_close(rq);
	rq->r->stats.truncated++;
	rq->sent = 0;
	dns_tcp_init(&rq->tcp, rq->tcpbuf, LIM_RESOLV_TCP_BYTES);
	if ((rq->fd = rq_socket(rq, SOCK_STREAM, LOOP_WRITE)) == -1) {
		rq_next_try(rq);
		return;
	}
	rq->r->stats.tcp_queries++;
	rq->state = RQ_TCP_CONN;
	if (loop_timer_set(rq->r->loop, &rq->timer, rq->r->timeout_ms) != 0)
		rq_next_try(rq);
}

/* A positive answer: cached for its TTL, then delivered. */
static void
rq_found(struct rq *rq, int n, const struct dns_info *info)
{
	uint32_t ttl = info->ttl;

	ttl = ttl < LIM_RESOLV_TTL_MAX_S ? ttl : LIM_RESOLV_TTL_MAX_S;
	ttl = ttl > LIM_RESOLV_TTL_MIN_S ? ttl : LIM_RESOLV_TTL_MIN_S;
	rq->err = 0;
	rq->n = (unsigned)n;
	resolv_cache_put(rq->r, rq, ttl);
	rq_finish(rq);
}

/* Acts on what dns_answer_parse said of a message from the server. */
static void
rq_answer(struct rq *rq, int n, const struct dns_info *info)
{
	bool tcp = rq->state != RQ_UDP;
	uint32_t neg = info->has_ttl ? info->ttl : LIM_RESOLV_NEG_TTL_S;

	if (n > 0) {
		rq_found(rq, n, info);
		return;
	}
	switch (n) {
	case DNS_E_TRUNCATED:
		if (tcp)
			rq_next_try(rq);
		else
			rq_start_tcp(rq);
		return;
	case DNS_E_NXDOMAIN:
	case DNS_E_NODATA:
		rq_close(rq);
		loop_timer_cancel(rq->r->loop, &rq->timer);
		rq->neg_ttl =
		    rq->has_neg && rq->neg_ttl < neg ? rq->neg_ttl : neg;
		rq->has_neg = true;
		rq_cand_end(rq,
		    n == DNS_E_NXDOMAIN ? RESOLV_E_NXDOMAIN : RESOLV_E_NODATA);
		return;
	case DNS_E_SERVFAIL:
	case DNS_E_REFUSED:
	case DNS_E_CNAME:
		rq->try_servfail = true;
		rq_next_try(rq);
		return;
	default: /* not our answer: over UDP, keep waiting for it */
		rq->r->stats.ignored++;
		if (tcp)
			rq_next_try(rq);
	}
}

static void
rq_parse(struct rq *rq, const uint8_t *msg, size_t len)
{
	struct dns_info info;
	int n;

	n = dns_answer_parse(msg, len, rq->id, rq->qname, DNS_T_A, rq->addrs,
	    LIM_RESOLV_ADDRS, &info);
	rq_answer(rq, n, &info);
}

static void
rq_udp_read(struct rq *rq)
{
	struct resolv *r = rq->r;
	unsigned reads;
	ssize_t n;

	for (reads = 0; reads < 8 && rq->state == RQ_UDP; reads++) {
		n = recv(rq->fd, r->rbuf, sizeof(r->rbuf), 0);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n == -1) { /* ICMP unreachable: this server is not there */
			rq_next_try(rq);
			return;
		}
		rq_parse(rq, r->rbuf, (size_t)n);
	}
}

/* TCP: writes the rest of the framed query, then reads the answer. */
static void
rq_tcp_io(struct rq *rq, uint32_t revents)
{
	struct resolv *r = rq->r;
	const uint8_t *msg;
	size_t len;
	ssize_t n;

	if (rq->sent < rq->qlen + 2 && (revents & (LOOP_WRITE | LOOP_ERROR))) {
		n = send(rq->fd, rq->query + rq->sent, rq->qlen + 2 - rq->sent,
		    MSG_NOSIGNAL);
		if (n == -1 && errno != EAGAIN && errno != EINTR)
			goto fail;
		rq->sent += n > 0 ? (size_t)n : 0;
		if (rq->sent == rq->qlen + 2)
			loop_mod(r->loop, rq->fd, LOOP_READ);
		return;
	}
	n = recv(rq->fd, r->rbuf, sizeof(r->rbuf), 0);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	/* bytes after the answer, if any, are not looked at */
	if (n <= 0 || dns_tcp_feed(&rq->tcp, r->rbuf, (size_t)n) < 0)
		goto fail;
	if (dns_tcp_done(&rq->tcp, &msg, &len))
		rq_parse(rq, msg, len);
	return;
fail:
	rq_next_try(rq);
}

static void
rq_tcp_connected(struct rq *rq)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(rq->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 ||
	    err != 0) {
		rq_next_try(rq);
		return;
	}
	rq->state = RQ_TCP_IO;
	rq_tcp_io(rq, LOOP_WRITE);
}

static void
rq_io(struct loop *l, int fd, uint32_t revents, void *arg)
{
	struct rq *rq = arg;

	(void)l;
	(void)fd;
	switch (rq->state) {
	case RQ_UDP:
		rq_udp_read(rq);
		break;
	case RQ_TCP_CONN:
		rq_tcp_connected(rq);
		break;
	case RQ_TCP_IO:
		rq_tcp_io(rq, revents);
		break;
	default:
		break;
	}
}

static void
rq_timer(struct loop *l, struct loop_timer *t, void *arg)
{
	struct rq *rq = arg;

	(void)l;
	(void)t;
	switch (rq->state) {
	case RQ_DONE:
		rq_finish(rq);
		break;
	case RQ_START:
		rq->cand = 0;
		rq_cand_start(rq);
		break;
	case RQ_UDP:
	case RQ_TCP_CONN:
	case RQ_TCP_IO:
		rq->r->stats.timeouts++;
		rq_next_try(rq);
		break;
	default:
		break;
	}
}

/* ---- public ---- */

void
resolv_config_default(struct resolv_config *c)
{
	memset(c, 0, sizeof(*c));
	c->hosts_path = "/etc/hosts";
	c->resolv_conf_path = "/etc/resolv.conf";
	c->cache_slots = LIM_RESOLV_CACHE_SLOTS;
	c->max_pending = LIM_RESOLV_PENDING;
	c->timeout_ms = LIM_RESOLV_TIMEOUT_MS;
	c->attempts = LIM_RESOLV_ATTEMPTS;
}

static bool
resolv_config_ok(const struct resolv_config *c)
{
	return c->cache_slots >= 1 &&
	    c->cache_slots <= LIM_RESOLV_CACHE_SLOTS_MAX &&
	    c->max_pending >= 1 && c->max_pending <= LIM_RESOLV_PENDING_MAX &&
	    c->timeout_ms >= 1 && c->timeout_ms <= LIM_RESOLV_TIMEOUT_MAX_MS &&
	    c->attempts >= 1 && c->attempts <= LIM_RESOLV_ATTEMPTS_MAX;
}

/* The only allocations: every table, sized from c, at start-up. */
struct resolv *
resolv_new(struct loop *l, const struct resolv_config *c)
{
	struct resolv *r;
	unsigned i;

	if (l == NULL || c == NULL || !resolv_config_ok(c)) {
		errno = EINVAL;
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->loop = l;
	r->cfg = *c;
	r->hosts = calloc(LIM_RESOLV_HOSTS, sizeof(*r->hosts));
	r->cache = calloc(c->cache_slots, sizeof(*r->cache));
	r->rqs = calloc(c->max_pending, sizeof(*r->rqs));
	r->tcpbufs = calloc(c->max_pending, LIM_RESOLV_TCP_BYTES);
	r->filebuf = malloc(LIM_RESOLV_FILE_BYTES);
	if (!r->hosts || !r->cache || !r->rqs || !r->tcpbufs || !r->filebuf) {
		resolv_free(r);
		errno = ENOMEM;
		return NULL;
	}
	for (i = 0; i < c->max_pending; i++) {
		r->rqs[i] = (struct rq){.r = r,
		    .idx = i,
		    .gen = 1,
		    .fd = -1,
		    .tcpbuf = r->tcpbufs + (size_t)i * LIM_RESOLV_TCP_BYTES};
		loop_timer_init(&r->rqs[i].timer, rq_timer, &r->rqs[i]);
	}
	resolv_reload(r, true);
	r->checked_ms = loop_clock_ms();
	return r;
}

void
resolv_free(struct resolv *r)
{
	unsigned i;

	if (r == NULL)
		return;
	/* slots are set up only once every table was allocated */
	for (i = 0;
	     r->rqs != NULL && r->rqs[0].r != NULL && i < r->cfg.max_pending;
	     i++) {
		rq_close(&r->rqs[i]);
		loop_timer_cancel(r->loop, &r->rqs[i].timer);
	}
	free(r->hosts);
	free(r->cache);
	free(r->rqs);
	free(r->tcpbufs);
	free(r->filebuf);
	free(r);
}

/* What is known without asking a server: literal, hosts, cache. */
static enum rq_state
resolv_known(struct resolv *r, struct rq *rq)
{
	const struct resolv_entry *e;

	if (inet_pton(AF_INET, rq->name, &rq->addrs[0]) == 1) {
		rq->n = 1;
		r->stats.literals++;
		return RQ_DONE;
	}
	if (resolv_hosts_find(r, rq) > 0) {
		r->stats.hosts_hits++;
		return RQ_DONE;
	}
	if ((e = resolv_cache_find(r, rq->name)) != NULL) {
		memcpy(rq->addrs, e->addrs, sizeof(rq->addrs));
		rq->n = e->n;
		rq->err = e->err;
		r->stats.cache_hits++;
		return RQ_DONE;
	}
	return RQ_START;
}

int
resolv_lookup(struct resolv *r, const char *name, resolv_cb cb, void *arg,
    uint32_t *handle)
{
	uint8_t tmp[LIM_DNS_QUERY_BYTES];
	struct rq *rq = NULL;
	size_t len;
	unsigned i;

	if (r == NULL || name == NULL || cb == NULL || handle == NULL)
		return RESOLV_E_INVAL;
	len = strlen(name);
	if (len == 0 || len > LIM_RESOLV_NAME_BYTES + (name[len - 1] == '.') ||
	    dns_query_build(tmp, sizeof(tmp), 0, name, DNS_T_A) < 0)
		return RESOLV_E_BADNAME;
	for (i = 0; i < r->cfg.max_pending && rq == NULL; i++)
		if (r->rqs[i].state == RQ_FREE)
			rq = &r->rqs[i];
	if (rq == NULL || loop_timer_set(r->loop, &rq->timer, 0) != 0) {
		r->stats.refused_full++;
		return RESOLV_E_FULL;
	}
	if (loop_clock_ms() - r->checked_ms >= LIM_RESOLV_RECHECK_MS) {
		r->checked_ms = loop_clock_ms();
		resolv_reload(r, false);
	}
	memcpy(rq->name, name, len + 1);
	resolv_lower(rq->name);
	rq->cb = cb;
	rq->arg = arg;
	rq->err = 0;
	rq->got_nodata = rq->got_servfail = rq->has_neg = false;
	rq->state = resolv_known(r, rq);
	r->stats.lookups++;
	*handle = rq_handle(rq);
	return 0;
}

void
resolv_cancel(struct resolv *r, uint32_t handle)
{
	struct rq *rq;

	if (r == NULL || (handle & 0xffffu) >= r->cfg.max_pending)
		return;
	rq = &r->rqs[handle & 0xffffu];
	if (rq->state == RQ_FREE || rq_handle(rq) != handle)
		return;
	rq_close(rq);
	loop_timer_cancel(r->loop, &rq->timer);
	rq->state = RQ_FREE;
	rq->gen = (uint16_t)(rq->gen + 1 ? rq->gen + 1 : 1);
}

const struct resolv_stats *
resolv_stats(const struct resolv *r)
{
	return &r->stats;
}

const char *
resolv_strerror(int err)
{
	static const char *const names[] = {
	    [-RESOLV_E_INVAL] = "invalid argument",
	    [-RESOLV_E_BADNAME] = "bad host name",
	    [-RESOLV_E_FULL] = "too many lookups at once",
	    [-RESOLV_E_NXDOMAIN] = "no such host",
	    [-RESOLV_E_NODATA] = "host has no ipv4 address",
	    [-RESOLV_E_TIMEOUT] = "dns timeout",
	    [-RESOLV_E_SERVFAIL] = "dns server failure",
	    [-RESOLV_E_SYS] = "dns socket failure",
	};

	if (err < 0 && -err < (int)(sizeof(names) / sizeof(*names)) &&
	    names[-err] != NULL)
		return names[-err];
	return "unknown resolver error";
}
