/*
 * The listener and its connection slots.
 *
 *	FREE -accept-> READING -head-> (handler) -respond-> WRITING
 *	                  ^               |  srv_wait: WAITING -respond-^
 *	                  +-- keep-alive -+-- next pipelined head: handler
 *
 * Every buffer is a slot's own, carved from two arrays at start.  A slot's
 * generation goes up each time it is reused, so a late wake-up for an old
 * connection is recognised.  The timer of a slot is the header timeout
 * while reading, the idle timeout between requests, the handler's wait
 * deadline while waiting, and the write timeout while writing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/log.h"
#include "agent/server.h"

struct server {
	struct loop *loop;
	struct server_config cfg;
	struct server_handler h;
	int lfd;
	struct srv_conn *conns;
	char *rmem, *wmem;
	uint32_t *free_ids;
	unsigned nfree;
	struct server_stats st;
	struct in6_addr local[LIM_SRV_LOCAL_ADDRS];
};

static void srv_io(struct loop *, int, uint32_t, void *);
static void srv_timer(struct loop *, struct loop_timer *, void *);
static void srv_next(struct srv_conn *);

static const char srv_busy[] =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    "Retry-After: 1\r\nConnection: close\r\nContent-Length: 81\r\n\r\n"
    "{\"error\":\"service_unavailable\",\"error_description\":\"podid: too "
    "many "
    "connections\"}";

int
server_parse_addr(const char *s, struct sockaddr_storage *out, socklen_t *len)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
	const char *colon = strrchr(s, ':');
	char host[INET6_ADDRSTRLEN + 2];
	long port;
	size_t hl;

	if (colon == NULL || (port = strtol(colon + 1, NULL, 10)) <= 0 ||
	    port > 65535 || (hl = (size_t)(colon - s)) >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(out, 0, sizeof(*out));
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			return -1;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return 0;
	}
	if (hl > 0 && inet_pton(AF_INET, host, &s4->sin_addr) != 1)
		return -1;
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	*len = sizeof(*s4);
	return 0;
}

static int
srv_listen(struct server *s)
{
	int one = 1;

	s->lfd = socket(s->cfg.listen.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lfd == -1)
		return -1;
	(void)setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s->lfd, (struct sockaddr *)&s->cfg.listen,
	        s->cfg.listen_len) == -1 ||
	    listen(s->lfd, LIM_SRV_BACKLOG) == -1)
		return -1;
	return 0;
}

static void srv_accept_cb(struct loop *l, int fd, uint32_t revents, void *arg);

struct server *
server_new(struct loop *loop, const struct server_config *cfg,
    const struct server_handler *h)
{
	struct server *s;
	unsigned i, n = cfg->max_conns;

	/* Start-up sizing: slots and their buffers, touched only as used. */
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->lfd = -1;
	s->loop = loop;
	s->cfg = *cfg;
	s->h = *h;
	if (cfg->nlocal > LIM_SRV_LOCAL_ADDRS)
		s->cfg.nlocal = LIM_SRV_LOCAL_ADDRS;
	memcpy(s->local, cfg->local, s->cfg.nlocal * sizeof(*s->local));
	s->conns = calloc(n, sizeof(*s->conns));
	s->rmem = malloc((size_t)n * LIM_SRV_READ_BYTES);
	s->wmem = malloc((size_t)n * LIM_SRV_WRITE_BYTES);
	s->free_ids = calloc(n, sizeof(*s->free_ids));
	if (s->conns == NULL || s->rmem == NULL || s->wmem == NULL ||
	    s->free_ids == NULL || srv_listen(s) == -1 ||
	    loop_add(loop, s->lfd, LOOP_READ, srv_accept_cb, s) != 0) {
		server_free(s);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		s->conns[i].id = i;
		s->conns[i].fd = -1;
		s->conns[i].srv = s;
		s->conns[i].rbuf = s->rmem + (size_t)i * LIM_SRV_READ_BYTES;
		s->conns[i].wbuf = s->wmem + (size_t)i * LIM_SRV_WRITE_BYTES;
		loop_timer_init(&s->conns[i].timer, srv_timer, &s->conns[i]);
		s->free_ids[n - 1 - i] = i;
	}
	s->nfree = n;
	s->st.max_conns = n;
	return s;
}

static void srv_close(struct srv_conn *c);

void
server_free(struct server *s)
{
	unsigned i;

	if (s == NULL)
		return;
	for (i = 0; s->conns != NULL && i < s->cfg.max_conns; i++)
		if (s->conns[i].state != SRV_FREE)
			srv_close(&s->conns[i]);
	if (s->lfd >= 0) {
		loop_del(s->loop, s->lfd);
		close(s->lfd);
	}
	free(s->conns);
	free(s->rmem);
	free(s->wmem);
	free(s->free_ids);
	free(s);
}

static void
srv_close(struct srv_conn *c)
{
	struct server *s = c->srv;

	if (c->state == SRV_WAITING && s->h.abort != NULL)
		s->h.abort(c, s->h.arg);
	loop_timer_cancel(s->loop, &c->timer);
	if (c->fd >= 0) {
		loop_del(s->loop, c->fd);
		close(c->fd);
	}
	c->fd = -1;
	c->state = SRV_FREE;
	c->gen++;
	s->free_ids[s->nfree++] = c->id;
	s->st.open--;
}

static bool
srv_is_local(const struct server *s, const struct in6_addr *a)
{
	static const unsigned char v4lo[12] = {
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	unsigned i;

	if (IN6_IS_ADDR_LOOPBACK(a) ||
	    (memcmp(a->s6_addr, v4lo, 12) == 0 && a->s6_addr[12] == 127))
		return true;
	for (i = 0; i < s->cfg.nlocal; i++)
		if (memcmp(a, &s->local[i], sizeof(*a)) == 0)
			return true;
	return false;
}

static void
srv_peer(struct srv_conn *c, const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

	memset(&c->peer, 0, sizeof(c->peer));
	if (ss->ss_family == AF_INET) {
		c->peer.s6_addr[10] = c->peer.s6_addr[11] = 0xff;
		memcpy(&c->peer.s6_addr[12], &s4->sin_addr, 4);
		c->peer_port = ntohs(s4->sin_port);
	} else {
		c->peer = s6->sin6_addr;
		c->peer_port = ntohs(s6->sin6_port);
	}
	c->local = srv_is_local(c->srv, &c->peer);
}

/* All slots busy: a canned 503, best effort, and the socket goes. */
static void
srv_refuse(struct server *s, int fd)
{
	ssize_t n;

	s->st.refused_full++;
	/* Best effort: a fresh socket's buffer takes it, or it is lost. */
	n = write(fd, srv_busy, sizeof(srv_busy) - 1);
	(void)n;
	close(fd);
}

static void
srv_accept_cb(struct loop *l, int lfd, uint32_t revents, void *arg)
{
	struct server *s = arg;
	struct sockaddr_storage ss;
	socklen_t len;
	struct srv_conn *c;
	int fd, one = 1;

	(void)revents;
	for (;;) {
		len = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("server: accept");
			return;
		}
		if (s->nfree == 0) {
			srv_refuse(s, fd);
			continue;
		}
		c = &s->conns[s->free_ids[--s->nfree]];
		(void)setsockopt(
		    fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (loop_add(l, fd, LOOP_READ, srv_io, c) != 0) {
			s->free_ids[s->nfree++] = c->id;
			srv_refuse(s, fd);
			continue;
		}
		c->fd = fd;
		c->state = SRV_READING;
		c->rlen = c->consumed = c->wlen = c->woff = 0;
		c->timer_wait = false;
		http_req_init(&c->req);
		srv_peer(c, &ss);
		s->st.accepted++;
		s->st.open++;
		loop_timer_set(l, &c->timer, s->cfg.idle_ms);
	}
}

static const char *
srv_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Payload Too Large";
	case 414:
		return "URI Too Long";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

static bool srv_flush(struct srv_conn *c);

void
srv_respond(struct srv_conn *c, int status, const char *ctype,
    const char *extra, const char *body, size_t len)
{
	struct server *s = c->srv;
	int n;

	n = snprintf(c->wbuf, LIM_SRV_WRITE_BYTES,
	    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "%s%s\r\n",
	    status, srv_reason(status), ctype, len, extra ? extra : "",
	    c->keep_alive ? "" : "Connection: close\r\n");
	if (n < 0 || (size_t)n + len > LIM_SRV_WRITE_BYTES) {
		log_warnx("server: response of %zu bytes does not fit", len);
		status = 500;
		n = snprintf(c->wbuf, LIM_SRV_WRITE_BYTES,
		    "HTTP/1.1 500 Internal Server Error\r\nContent-Length: "
		    "0\r\n"
		    "Connection: close\r\n\r\n");
		c->keep_alive = false;
		len = 0;
	}
	memcpy(c->wbuf + n, body, len);
	c->wlen = (size_t)n + len;
	c->woff = 0;
	s->st.by_status[status / 100 <= 5 ? status / 100 : 0]++;
	c->state = SRV_WRITING;
	c->timer_wait = false;
	loop_timer_set(s->loop, &c->timer, s->cfg.write_ms);
	if (srv_flush(c))
		srv_next(c);
}

void
srv_wait(struct srv_conn *c, uint64_t ms)
{
	c->state = SRV_WAITING;
	c->timer_wait = true;
	loop_timer_set(c->srv->loop, &c->timer, ms);
}

/* Writes what it can; true when all is out (and the socket is fine). */
static bool
srv_flush(struct srv_conn *c)
{
	ssize_t n;

	while (c->woff < c->wlen) {
		n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
		if (n > 0) {
			c->woff += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EAGAIN) {
			loop_mod(c->srv->loop, c->fd, LOOP_WRITE);
			return false;
		}
		srv_close(c);
		return false;
	}
	return true;
}

/* A bad request head: its status, then the connection goes. */
static void
srv_bad(struct srv_conn *c, int err)
{
	char body[160];
	int n, status = http_err_status(err);

	c->srv->st.bad_requests++;
	c->keep_alive = false;
	n = snprintf(body, sizeof(body),
	    "{\"error\":\"invalid_request\",\"error_description\":\"%s\"}",
	    http_strerror(err));
	srv_respond(c, status, "application/json; charset=utf-8", NULL, body,
	    (size_t)n);
}

/* Tries to parse a request from the buffered bytes; hands it over. */
static void
srv_parse(struct srv_conn *c)
{
	struct server *s = c->srv;
	int rc;

	rc = http_req_feed(
	    &c->req, c->rbuf + c->consumed, c->rlen - c->consumed);
	if (rc == HTTP_NEED_MORE) {
		if (c->rlen == LIM_SRV_READ_BYTES && c->consumed > 0) {
			/* Make room: move the partial head to the front. */
			memmove(c->rbuf, c->rbuf + c->consumed,
			    c->rlen - c->consumed);
			c->rlen -= c->consumed;
			c->consumed = 0;
			http_req_init(&c->req);
			srv_parse(c);
		} else if (c->rlen == LIM_SRV_READ_BYTES)
			srv_bad(c, HTTP_ERR_HEAD_LONG);
		return;
	}
	if (rc < 0) {
		srv_bad(c, rc);
		return;
	}
	c->head_off = c->consumed;
	c->head_len = (size_t)rc;
	c->consumed += (size_t)rc;
	c->keep_alive = c->req.keep_alive;
	c->started_ms = loop_now_ms(s->loop);
	s->st.requests++;
	c->state = SRV_WAITING; /* the handler's until it responds */
	c->timer_wait = false;
	loop_timer_cancel(s->loop, &c->timer);
	s->h.request(c, s->h.arg);
}

/* After a response: close, or go on with the next request. */
static void
srv_next(struct srv_conn *c)
{
	struct server *s = c->srv;

	if (c->state == SRV_FREE)
		return;
	if (!c->keep_alive) {
		c->state = SRV_CLOSING;
		shutdown(c->fd, SHUT_WR);
		srv_close(c);
		return;
	}
	c->state = SRV_READING;
	http_req_init(&c->req);
	loop_mod(s->loop, c->fd, LOOP_READ);
	if (c->consumed < c->rlen) {
		loop_timer_set(s->loop, &c->timer, s->cfg.header_ms);
		srv_parse(c);
	} else {
		c->rlen = c->consumed = 0;
		loop_timer_set(s->loop, &c->timer, s->cfg.idle_ms);
	}
}

static void
srv_read(struct srv_conn *c)
{
	struct server *s = c->srv;
	ssize_t n;
	bool first = c->rlen == c->consumed;

	if (c->consumed == c->rlen)
		c->rlen = c->consumed = 0;
	n = read(c->fd, c->rbuf + c->rlen, LIM_SRV_READ_BYTES - c->rlen);
	if (n == 0 || (n == -1 && errno != EAGAIN)) {
		srv_close(c);
		return;
	}
	if (n == -1)
		return;
	c->rlen += (size_t)n;
	/* A request has header_ms from its first byte: slow heads fail. */
	if (first)
		loop_timer_set(s->loop, &c->timer, s->cfg.header_ms);
	srv_parse(c);
}

static void
srv_io(struct loop *l, int fd, uint32_t revents, void *arg)
{
	struct srv_conn *c = arg;

	(void)l;
	(void)fd;
	switch (c->state) {
	case SRV_READING:
		srv_read(c);
		break;
	case SRV_WRITING:
		if (srv_flush(c))
			srv_next(c);
		break;
	case SRV_WAITING:
		/* A client that hangs up while waiting frees its slot. */
		if (revents & LOOP_ERROR)
			srv_close(c);
		else
			loop_mod(c->srv->loop, c->fd, 0);
		break;
	default:
		break;
	}
}

static void
srv_timer(struct loop *l, struct loop_timer *t, void *arg)
{
	struct srv_conn *c = arg;
	struct server *s = c->srv;

	(void)l;
	(void)t;
	if (c->state == SRV_WAITING && c->timer_wait) {
		c->timer_wait = false;
		s->h.timeout(c, s->h.arg);
		return;
	}
	s->st.timeouts++;
	srv_close(c);
}

void
server_stats(const struct server *s, struct server_stats *out)
{
	*out = s->st;
}

struct srv_conn *
server_conn(struct server *s, uint32_t id)
{
	return id < s->cfg.max_conns ? &s->conns[id] : NULL;
}

unsigned
server_max_conns(const struct server *s)
{
	return s->cfg.max_conns;
}
