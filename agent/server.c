/*
 * The listener and its connection slots.
 *
 *	FREE -accept-> READING -head-> WAITING -respond-> WRITING -+
 *	                  ^            (handler)                    |
 *	                  +------------- keep-alive ----------------+
 *	                                 close: CLOSING -drained-> FREE
 *
 * Every buffer is a slot's own, carved from two arrays at start.  A slot's
 * generation goes up with each request and each reuse, so a late wake-up
 * for an old request is recognised.  The timer of a slot is the idle
 * timeout before a head's first byte, the header timeout from it, the
 * handler's wait deadline while waiting, the write timeout while writing,
 * and the linger time while closing.
 *
 * Pipelined requests are handed over one at a time by srv_serve()'s loop.
 * An answer given from anywhere but request() (a timer, a token fetch, a
 * pod event) resumes the connection from its own timer one iteration
 * later, so a handler is never re-entered from inside srv_respond and
 * whatever code called srv_respond finishes first.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/abuf.h"
#include "agent/log.h"
#include "agent/server.h"

struct server {
	struct loop *loop;
	struct server_config cfg;
	struct server_handler h;
	int lfd;
	struct srv_conn *conns;
	char *rmem, *wmem;
	uint32_t *free_ids; /* a stack of the slots freed */
	unsigned nfree;
	unsigned fresh; /* slots fresh..max_conns-1 were never used */
	size_t wsize;   /* a slot's write buffer: cfg.write_bytes or default */
	struct server_stats st;
	struct loop_timer accept_timer; /* ends a pause of accept(2) */
	uint64_t warn_next;             /* loop ms: next accept warning */
	struct in6_addr local[LIM_SRV_LOCAL_ADDRS];
};

static void srv_io(struct loop *, int, uint32_t, void *);
static void srv_timer(struct loop *, struct loop_timer *, void *);
static void srv_accept_cb(struct loop *, int, uint32_t, void *);
static void srv_accept_resume(struct loop *, struct loop_timer *, void *);
static void srv_close(struct srv_conn *);
static void srv_serve(struct srv_conn *);

/*
 * Sets the readiness c's socket is watched for, with epoll_ctl only when
 * it changes: a keep-alive request would otherwise cost one more syscall.
 */
static int
srv_events(struct srv_conn *c, uint32_t events)
{
	int rc;

	if (c->events == events)
		return 0;
	if ((rc = loop_mod(c->srv->loop, c->fd, events)) == 0)
		c->events = events;
	return rc;
}

static const char srv_busy[] =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    "Retry-After: 1\r\nConnection: close\r\nContent-Length: 81\r\n\r\n"
    "{\"error\":\"service_unavailable\","
    "\"error_description\":\"podid: too many connections\"}";

static const char srv_toobig[] =
    "{\"error\":\"server_error\","
    "\"error_description\":\"podid: response too large\"}";

/* "80" but not "", "+80", " 80", "80x" or "0": digits only, 1..65535. */
static long
srv_parse_port(const char *s)
{
	long port = 0;

	if (*s == '\0')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++)
		if ((port = port * 10 + (*s - '0')) > 65535)
			return -1;
	return *s == '\0' && port > 0 ? port : -1;
}

int
server_parse_addr(const char *s, struct sockaddr_storage *out, socklen_t *len)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
	const char *colon = strrchr(s, ':');
	char host[INET6_ADDRSTRLEN + 2];
	long port;
	size_t hl;

	if (colon == NULL || (port = srv_parse_port(colon + 1)) == -1 ||
	    (hl = (size_t)(colon - s)) >= sizeof(host))
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

/*
 * Slot i, made ready on its first use: slots never used stay untouched, so
 * a large --max-connections costs address space, not resident memory.
 */
static struct srv_conn *
srv_slot(struct server *s, uint32_t i)
{
	struct srv_conn *c = &s->conns[i];

	if (c->srv == NULL) {
		c->id = i;
		c->fd = -1;
		c->srv = s;
		c->rbuf = s->rmem + (size_t)i * LIM_SRV_READ_BYTES;
		c->wbuf = s->wmem + (size_t)i * s->wsize;
		loop_timer_init(&c->timer, srv_timer, c);
	}
	return c;
}

/* The slot a new connection gets: the last freed (warm), else a fresh one. */
static struct srv_conn *
srv_pick(struct server *s)
{
	if (s->nfree > 0)
		return srv_slot(s, s->free_ids[s->nfree - 1]);
	if (s->fresh < s->cfg.max_conns)
		return srv_slot(s, s->fresh);
	return NULL;
}

struct server *
server_new(struct loop *loop, const struct server_config *cfg,
    const struct server_handler *h)
{
	struct server *s;
	unsigned n = cfg->max_conns;
	size_t wsize =
	    cfg->write_bytes ? cfg->write_bytes : LIM_SRV_WRITE_BYTES;
	int saved;

	if (n == 0 || n > LIM_SRV_CONNS_MAX ||
	    cfg->nlocal > LIM_SRV_LOCAL_ADDRS || h->request == NULL ||
	    h->timeout == NULL || wsize < LIM_SRV_WRITE_MIN_BYTES ||
	    wsize > LIM_SRV_WRITE_MAX_BYTES) {
		errno = EINVAL;
		return NULL;
	}
	/* Start-up sizing: slots and their buffers, touched only as used. */
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->lfd = -1;
	s->loop = loop;
	s->cfg = *cfg;
	s->wsize = wsize;
	s->h = *h;
	if (cfg->nlocal > 0)
		memcpy(s->local, cfg->local, cfg->nlocal * sizeof(*s->local));
	s->cfg.local = s->local;
	loop_timer_init(&s->accept_timer, srv_accept_resume, s);
	s->conns = calloc(n, sizeof(*s->conns));
	s->rmem = malloc((size_t)n * LIM_SRV_READ_BYTES);
	s->wmem = malloc((size_t)n * wsize);
	s->free_ids = calloc(n, sizeof(*s->free_ids));
	if (s->conns == NULL || s->rmem == NULL || s->wmem == NULL ||
	    s->free_ids == NULL || srv_listen(s) == -1 ||
	    loop_add(loop, s->lfd, LOOP_READ, srv_accept_cb, s) != 0) {
		saved = errno;
		server_free(s);
		errno = saved;
		return NULL;
	}
	s->st.max_conns = n;
	return s;
}

void
server_free(struct server *s)
{
	unsigned i;

	if (s == NULL)
		return;
	/* A failed server_new may have no slot table yet. */
	for (i = 0; s->conns != NULL && i < s->fresh; i++)
		srv_close(&s->conns[i]);
	loop_timer_cancel(s->loop, &s->accept_timer);
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

int
server_addr(
    const struct server *s, struct sockaddr_storage *out, socklen_t *len)
{
	*len = sizeof(*out);
	return getsockname(s->lfd, (struct sockaddr *)out, len);
}

/* Frees the slot; a handler waiting on it hears of it first. */
static void
srv_close(struct srv_conn *c)
{
	struct server *s = c->srv;

	if (c->state == SRV_FREE)
		return;
	if (c->state == SRV_WAITING && s->h.abort != NULL)
		s->h.abort(c, s->h.arg);
	loop_timer_cancel(s->loop, &c->timer);
	if (c->fd >= 0) {
		loop_del(s->loop, c->fd);
		close(c->fd);
	}
	c->fd = -1;
	c->state = SRV_FREE;
	c->in_request = c->resume = false;
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
	} else if (ss->ss_family == AF_INET6) {
		memcpy(&c->peer, &s6->sin6_addr, sizeof(c->peer));
		c->peer_port = ntohs(s6->sin6_port);
	} else
		c->peer_port = 0; /* no address: resolves to no pod */
	c->local = srv_is_local(c->srv, &c->peer);
}

/*
 * All slots busy: a canned 503, best effort, and the socket goes.  The
 * request, often there already, is read and dropped first: closing with
 * unread input makes the kernel send RST, which can destroy the 503.
 */
static void
srv_refuse(struct server *s, int fd)
{
	char drop[1024];
	ssize_t n;
	int i;

	s->st.refused_full++;
	for (i = 0; i < 8; i++)
		if (recv(fd, drop, sizeof(drop), MSG_DONTWAIT) <= 0)
			break;
	/* A fresh socket's buffer takes it, or it is lost. */
	n = send(
	    fd, srv_busy, sizeof(srv_busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)n;
	(void)shutdown(fd, SHUT_WR);
	close(fd);
}

/*
 * accept(2) failed for want of fds or memory.  The listener stays readable
 * with the connection in the backlog, so it is muted for a while instead
 * of spinning; the warning comes at most once per LIM_SRV_LOG_MS.
 */
static void
srv_accept_pause(struct server *s)
{
	uint64_t now = loop_now_ms(s->loop);

	s->st.accept_errors++;
	if (now >= s->warn_next) {
		log_warn(
		    "server: accept, pausing %u ms", LIM_SRV_ACCEPT_PAUSE_MS);
		s->warn_next = now + LIM_SRV_LOG_MS;
	}
	if (loop_timer_set(
	        s->loop, &s->accept_timer, LIM_SRV_ACCEPT_PAUSE_MS) == 0)
		(void)loop_mod(s->loop, s->lfd, 0);
}

static void
srv_accept_resume(struct loop *l, struct loop_timer *t, void *arg)
{
	struct server *s = arg;

	(void)t;
	(void)loop_mod(l, s->lfd, LOOP_READ);
}

/* A new connection in the slot srv_pick gave, or refused when that fails. */
static void
srv_open(struct server *s, struct srv_conn *c, int fd,
    const struct sockaddr_storage *ss)
{
	int one = 1;

	if (loop_add(s->loop, fd, LOOP_READ, srv_io, c) != 0) {
		srv_refuse(s, fd);
		return;
	}
	/* Before the first byte, the idle timeout. */
	if (loop_timer_set(s->loop, &c->timer, s->cfg.idle_ms) != 0) {
		loop_del(s->loop, fd);
		srv_refuse(s, fd);
		return;
	}
	if (s->nfree > 0)
		s->nfree--;
	else
		s->fresh++;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->events = LOOP_READ;
	c->state = SRV_READING;
	c->rlen = c->consumed = c->wlen = c->woff = 0;
	c->timer_wait = c->in_request = c->resume = c->req_fresh = false;
	http_req_init(&c->req);
	srv_peer(c, ss);
	s->st.accepted++;
	s->st.open++;
}

static void
srv_accept_cb(struct loop *l, int lfd, uint32_t revents, void *arg)
{
	struct server *s = arg;
	struct sockaddr_storage ss = {0};
	struct srv_conn *c;
	socklen_t len;
	unsigned i;
	int fd;

	(void)l;
	(void)revents;
	/* Bounded, so that a flood cannot keep the loop here. */
	for (i = 0; i < LIM_SRV_BACKLOG; i++) {
		len = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				srv_accept_pause(s);
			return;
		}
		if ((c = srv_pick(s)) == NULL)
			srv_refuse(s, fd);
		else
			srv_open(s, c, fd, &ss);
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

/*
 * Writes head and body into the slot's write buffer; false when they do
 * not fit.  An HTTP/1.0 client is told when the connection stays open.
 * Straight appends, no printf: this runs once per request.
 */
static bool
srv_format(struct srv_conn *c, int status, const char *ctype, const char *extra,
    const char *body, size_t len)
{
	struct abuf b;

	abuf_init(&b, c->wbuf, c->srv->wsize);
	if (status == 200)
		ABUF_LIT(&b, "HTTP/1.1 200 OK");
	else {
		ABUF_LIT(&b, "HTTP/1.1 ");
		abuf_i64(&b, status);
		abuf_ch(&b, ' ');
		abuf_str(&b, srv_reason(status));
	}
	ABUF_LIT(&b, "\r\nContent-Type: ");
	abuf_str(&b, ctype);
	ABUF_LIT(&b, "\r\nContent-Length: ");
	abuf_u64(&b, len);
	ABUF_LIT(&b, "\r\n");
	if (extra != NULL)
		abuf_str(&b, extra);
	if (!c->keep_alive)
		ABUF_LIT(&b, "Connection: close\r\n");
	else if (c->req.minor_version == 0)
		ABUF_LIT(&b, "Connection: keep-alive\r\n");
	ABUF_LIT(&b, "\r\n");
	abuf_add(&b, body, len);
	if (b.over)
		return false;
	c->wlen = b.len;
	c->woff = 0;
	return true;
}

/* Writes what it can; true when all is out (and the socket is fine). */
static bool
srv_flush(struct srv_conn *c)
{
	ssize_t n;

	while (c->woff < c->wlen) {
		n = send(
		    c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
		if (n > 0) {
			c->woff += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* Only writability now: no reads, no busy loop. */
			(void)srv_events(c, LOOP_WRITE);
			return false;
		}
		srv_close(c);
		return false;
	}
	return true;
}

/*
 * Reads and drops input until the client closes, an error, or the linger
 * timer: a few reads per event, so a client cannot hold the loop.
 */
static void
srv_drain(struct srv_conn *c)
{
	ssize_t n;
	int i;

	for (i = 0; i < 4; i++) {
		n = recv(c->fd, c->rbuf, LIM_SRV_READ_BYTES, 0);
		if (n > 0)
			continue;
		if (n == -1 &&
		    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		srv_close(c);
		return;
	}
}

/*
 * The last response is out.  Closing at once with unread input would send
 * RST, which can destroy that response before the client reads it (RFC
 * 9112 section 9.6): send FIN, then drain until the client closes too.
 */
static void
srv_linger(struct srv_conn *c)
{
	struct server *s = c->srv;

	c->state = SRV_CLOSING;
	if (shutdown(c->fd, SHUT_WR) == -1 || srv_events(c, LOOP_READ) != 0 ||
	    loop_timer_set(s->loop, &c->timer, LIM_SRV_LINGER_MS) != 0) {
		srv_close(c);
		return;
	}
	srv_drain(c);
}

/*
 * A response is out: close, or go on.  direct is true from the server's
 * own io callback, where the next buffered request can be served at once;
 * inside request() the serving loop goes on when it returns; from any
 * other caller the slot's timer resumes it in a later iteration.
 */
static void
srv_sent(struct srv_conn *c, bool direct)
{
	struct server *s = c->srv;
	bool more = c->consumed < c->rlen;

	if (!c->keep_alive) {
		srv_linger(c);
		return;
	}
	c->state = SRV_READING;
	c->req_fresh = true;
	(void)srv_events(c, LOOP_READ);
	if (!more)
		(void)loop_timer_set(s->loop, &c->timer, s->cfg.idle_ms);
	else if (direct || c->in_request)
		(void)loop_timer_set(s->loop, &c->timer, s->cfg.header_ms);
	else {
		c->resume = true;
		(void)loop_timer_set(s->loop, &c->timer, 0);
	}
	if (more && direct)
		srv_serve(c);
}

/* Formats and starts sending a response, any status, any state. */
static void
srv_reply(struct srv_conn *c, int status, const char *ctype, const char *extra,
    const char *body, size_t len, bool direct)
{
	struct server *s = c->srv;

	if (!srv_format(c, status, ctype, extra, body, len)) {
		log_warnx("server: a response of %zu bytes does not fit", len);
		status = 500;
		c->keep_alive = false;
		(void)srv_format(c, status, "application/json", NULL,
		    srv_toobig, sizeof(srv_toobig) - 1);
	}
	s->st.by_status[status >= 100 && status < 600 ? status / 100 : 0]++;
	c->state = SRV_WRITING;
	c->timer_wait = false;
	/* Most answers go out at once, and srv_sent sets the next timer:
	 * the write timeout is armed only for one that did not. */
	if (srv_flush(c))
		srv_sent(c, direct);
	else if (c->state == SRV_WRITING)
		(void)loop_timer_set(s->loop, &c->timer, s->cfg.write_ms);
}

void
srv_respond(struct srv_conn *c, int status, const char *ctype,
    const char *extra, const char *body, size_t len)
{
	if (c->state != SRV_WAITING) {
		log_warnx("server: response %d when none is due", status);
		return;
	}
	srv_reply(c, status, ctype, extra, body, len, false);
}

void
srv_wait(struct srv_conn *c, uint64_t ms)
{
	if (c->state != SRV_WAITING) {
		log_warnx("server: wait when no request is held");
		return;
	}
	c->timer_wait = true;
	(void)loop_timer_set(c->srv->loop, &c->timer, ms);
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
	/* RFC 9110 section 15.5.6: a 405 names the methods allowed. */
	srv_reply(c, status, "application/json; charset=utf-8",
	    status == 405 ? "Allow: GET\r\n" : NULL, body, (size_t)n, true);
}

/* A callback returned leaving its request neither answered nor waiting. */
static void
srv_check_answered(struct srv_conn *c, uint32_t gen)
{
	if (c->gen != gen || c->state != SRV_WAITING || c->timer_wait)
		return;
	log_warnx("server: a request was left unanswered");
	c->keep_alive = false;
	srv_reply(c, 500, "application/json", NULL,
	    "{\"error\":\"server_error\"}", 25, true);
}

/* A complete head of len bytes: the request becomes the handler's. */
static void
srv_dispatch(struct srv_conn *c, size_t len)
{
	struct server *s = c->srv;
	uint32_t gen;

	c->head_off = c->consumed;
	c->head_len = len;
	c->consumed += len;
	c->keep_alive = c->req.keep_alive;
	c->started_ms = loop_now_ms(s->loop);
	s->st.requests++;
	c->state = SRV_WAITING;
	c->timer_wait = c->resume = false;
	gen = ++c->gen;
	loop_timer_cancel(s->loop, &c->timer);
	c->in_request = true;
	s->h.request(c, s->h.arg);
	c->in_request = false;
	srv_check_answered(c, gen);
}

/*
 * A head that does not complete in a full buffer: moved to the front when
 * a request before it used the room (and parsed again once more bytes
 * come), else it is too long.
 */
static void
srv_need_more(struct srv_conn *c)
{
	if (c->rlen < LIM_SRV_READ_BYTES)
		return;
	if (c->consumed == 0) {
		srv_bad(c, HTTP_ERR_HEAD_LONG);
		return;
	}
	memmove(c->rbuf, c->rbuf + c->consumed, c->rlen - c->consumed);
	c->rlen -= c->consumed;
	c->consumed = 0;
	c->req_fresh = true;
}

/*
 * Hands the buffered requests over one at a time.  A handler that answers
 * at once returns here instead of being re-entered from srv_respond, so
 * the stack stays flat however many requests a client pipelines.
 */
static void
srv_serve(struct srv_conn *c)
{
	int rc;

	while (c->state == SRV_READING && c->consumed < c->rlen) {
		if (c->req_fresh) {
			http_req_init(&c->req);
			c->req_fresh = false;
		}
		rc = http_req_feed(
		    &c->req, c->rbuf + c->consumed, c->rlen - c->consumed);
		if (rc == HTTP_NEED_MORE) {
			srv_need_more(c);
			return;
		}
		if (rc < 0) {
			srv_bad(c, rc);
			return;
		}
		srv_dispatch(c, (size_t)rc);
	}
}

static void
srv_read(struct srv_conn *c)
{
	struct server *s = c->srv;
	ssize_t n;
	bool first;

	if (c->consumed == c->rlen)
		c->rlen = c->consumed = 0;
	first = c->rlen == 0;
	if (c->rlen < LIM_SRV_READ_BYTES) {
		n = recv(
		    c->fd, c->rbuf + c->rlen, LIM_SRV_READ_BYTES - c->rlen, 0);
		if (n == -1 &&
		    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (n <= 0) {
			srv_close(c);
			return;
		}
		c->rlen += (size_t)n;
	}
	srv_serve(c);
	/*
	 * A request has header_ms from its first byte: slow heads fail.  Armed
	 * after serving, and only for a head left incomplete, so a request
	 * that came whole costs no timer (srv_sent or the handler set one).
	 */
	if (first && c->state == SRV_READING && c->consumed < c->rlen)
		(void)loop_timer_set(s->loop, &c->timer, s->cfg.header_ms);
}

/*
 * While the handler waits: pipelined bytes are taken in (after the head
 * it holds, which stays put), and a client that closes or resets ends the
 * wait with abort().  With the buffer full, reading stops; a reset still
 * shows as LOOP_ERROR.
 */
static void
srv_read_ahead(struct srv_conn *c, uint32_t revents)
{
	ssize_t n;

	if (c->rlen == LIM_SRV_READ_BYTES) {
		if (revents & LOOP_ERROR)
			srv_close(c);
		else
			(void)srv_events(c, 0);
		return;
	}
	n = recv(c->fd, c->rbuf + c->rlen, LIM_SRV_READ_BYTES - c->rlen, 0);
	if (n > 0)
		c->rlen += (size_t)n;
	else if (n == 0 ||
	    (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		srv_close(c);
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
	case SRV_WAITING:
		srv_read_ahead(c, revents);
		break;
	case SRV_WRITING:
		if (srv_flush(c))
			srv_sent(c, true);
		break;
	case SRV_CLOSING:
		srv_drain(c);
		break;
	default:
		break;
	}
}

/* The handler's wait deadline: its timeout(), which answers or waits. */
static void
srv_deadline(struct srv_conn *c)
{
	struct server *s = c->srv;
	uint32_t gen = c->gen;

	c->timer_wait = false;
	s->h.timeout(c, s->h.arg);
	srv_check_answered(c, gen);
}

static void
srv_timer(struct loop *l, struct loop_timer *t, void *arg)
{
	struct srv_conn *c = arg;
	struct server *s = c->srv;

	(void)l;
	(void)t;
	if (c->state == SRV_WAITING && c->timer_wait) {
		srv_deadline(c);
		return;
	}
	if (c->state == SRV_READING && c->resume) {
		c->resume = false;
		(void)loop_timer_set(s->loop, &c->timer, s->cfg.header_ms);
		srv_serve(c);
		return;
	}
	if (c->state != SRV_CLOSING)
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
	return id < s->cfg.max_conns ? srv_slot(s, id) : NULL;
}

unsigned
server_max_conns(const struct server *s)
{
	return s->cfg.max_conns;
}
