/*
 * server: the HTTP/1.1 listener pods reach (through the DNAT rule) and
 * hosts call.  Fixed connection slots sized at start; when all are busy a
 * new connection is answered 503 and closed, and the others go on.  Each
 * connection is a state machine (READING -> WAITING (the handler's) ->
 * WRITING -> READING | CLOSING -> FREE) with keep-alive and pipelining, a
 * header timeout, an idle timeout and a write timeout.  What a request
 * means is the handler's business (agent/imds.c); the server parses,
 * bounds and writes.
 */
#ifndef AGENT_SERVER_H
#define AGENT_SERVER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "agent/http.h"
#include "agent/loop.h"
#include "agent/podcache.h"
#include "agent/tokcache.h"

enum srv_state {
	SRV_FREE,    /* slot unused */
	SRV_READING, /* waiting for (the rest of) a request head */
	SRV_WAITING, /* the request is the handler's until it responds */
	SRV_WRITING, /* sending a response */
	SRV_CLOSING  /* "Connection: close" sent: draining input, then closed */
};

/*
 * One client connection.  The handler may use the fields under "handler"
 * while the request is its (from request() until it responds).  gen
 * changes with every request and every reuse of the slot: a late wake-up
 * compares the gen it saved with c->gen (and c->state with SRV_WAITING).
 */
struct srv_conn {
	/* Ordered by alignment (no padding), public fields first. */
	struct http_req req;  /* the request being handled */
	uint64_t started_ms;  /* when its head was complete */
	struct in6_addr peer; /* IPv4 as v4-mapped */
	enum srv_state state;
	uint32_t id, gen; /* slot index; generation, see above */
	int fd;
	uint16_t peer_port;
	bool local; /* the peer is this node itself */
	/* handler */
	bool parked;
	bool host; /* /host/token/ */
	int route;
	int sel_kind;
	uint32_t identity; /* index into the policy, during a token wait */
	uint32_t rule;     /* the rule that granted it */
	struct tok_waiter waiter;
	struct podcache_ref pod;
	struct srv_conn *park_next, *park_prev;
	uint64_t park_deadline;    /* loop ms */
	void *upstream;            /* a proxy slot, while proxying */
	size_t head_off, head_len; /* the raw request head in rbuf */
	size_t resource_len;
	char resource[LIM_TOK_RESOURCE_BYTES + 1];
	char sel[LIM_HTTP_PARAM_VALUE_BYTES + 1]; /* identity selector */
	/* private */
	struct server *srv;
	struct loop_timer timer;
	char *rbuf, *wbuf;
	size_t rlen, consumed, wlen, woff;
	uint32_t events; /* LOOP_* the socket is watched for */
	bool keep_alive;
	bool timer_wait; /* the timer is the handler's wait deadline */
	bool in_request; /* inside the handler's request() */
	bool req_fresh;  /* c->req must be reset before the next head */
	bool resume;     /* the timer hands over a buffered request */
};

/*
 * The handler's callbacks.  Each of request() and timeout() must answer
 * (srv_respond) or wait again (srv_wait) before returning; a request left
 * neither way is answered 500.  The server never calls request() from
 * inside srv_respond: the next pipelined request comes after the current
 * callback, whichever it is, has returned.
 */
struct server_handler {
	/* A complete request head in c->req: answer now or srv_wait. */
	void (*request)(struct srv_conn *c, void *arg);
	/* The wait deadline of srv_wait passed: answer or srv_wait again. */
	void (*timeout)(struct srv_conn *c, void *arg);
	/* The connection goes while the handler waits on it: the client
	 * closed or reset it, or server_free.  Forget c; do not answer.
	 * May be NULL. */
	void (*abort)(struct srv_conn *c, void *arg);
	void *arg;
};

/*
 * max_conns slots, 1..LIM_SRV_CONNS_MAX; nlocal addresses at local (copied),
 * at most LIM_SRV_LOCAL_ADDRS.  Timeouts in ms: header_ms from a head's
 * first byte, idle_ms before the first byte of a connection's next
 * request, write_ms for a response to be taken in by the client.
 * write_bytes, head included, is LIM_SRV_WRITE_MIN_BYTES..
 * LIM_SRV_WRITE_MAX_BYTES (0: LIM_SRV_WRITE_BYTES).
 */
struct server_config {
	struct sockaddr_storage listen;
	socklen_t listen_len;
	unsigned max_conns;
	uint64_t header_ms, idle_ms, write_ms;
	const struct in6_addr *local; /* this node's addresses */
	unsigned nlocal;
	size_t
	    write_bytes; /* a slot's response buffer; 0: LIM_SRV_WRITE_BYTES */
};

/*
 * Counters since server_new.  timeouts counts header, idle and write
 * timeouts (not the handler's wait deadlines); bad_requests the heads
 * refused by the parser; refused_full the connections answered 503 at
 * once; accept_errors failed accept(2) calls (EMFILE and the like).
 */
struct server_stats {
	uint64_t accepted, refused_full, requests, timeouts, bad_requests;
	uint64_t accept_errors;
	uint64_t by_status[6]; /* 1xx..5xx by first digit; [0] others */
	unsigned open, max_conns;
};

struct server;

/*
 * Binds and listens (before privileges go) and sizes the slots: the one
 * allocation, at start.  Returns NULL with errno set: EINVAL for a
 * configuration out of the bounds above or a handler without request or
 * timeout, ENOMEM, or that of socket/bind/listen.  Release with
 * server_free().
 */
struct server *server_new(
    struct loop *, const struct server_config *, const struct server_handler *);

/*
 * Closes every connection (abort() for those the handler waits on), the
 * listener, and frees the server.  NULL is fine.
 */
void server_free(struct server *);

/*
 * Answers c's current request: status line, Content-Type, extra header
 * lines (each ending "\r\n", or NULL) and body (NULL when len is 0).  Only
 * while the request is the handler's (c->state SRV_WAITING); otherwise it
 * is ignored with a warning.  On return c is no longer the handler's.  A
 * response that does not fit the slot's write buffer (write_bytes of the
 * configuration, head included) becomes a 500 and the connection is
 * closed.
 */
void srv_respond(struct srv_conn *c, int status, const char *ctype,
    const char *extra, const char *body, size_t len);

/*
 * The handler will answer later; timeout() fires after ms unless it does.
 * Only while the request is the handler's (else ignored with a warning).
 * A client that closes or resets meanwhile (a half-close after the
 * request counts: as with nginx and Go, it means gone) brings abort().
 */
void srv_wait(struct srv_conn *c, uint64_t ms);

/*
 * Parses an address "HOST:PORT" (IPv4), "[V6]:PORT" or ":PORT" (all IPv4)
 * into *out and *len; PORT is 1..65535 in decimal digits.  Returns 0 or
 * -1 when s is not one of these.
 */
int server_parse_addr(
    const char *s, struct sockaddr_storage *out, socklen_t *len);

/*
 * The address the listener is bound to, with the port the kernel chose
 * when the configuration asked for port 0.  Returns 0, or -1 with errno.
 */
int server_addr(
    const struct server *, struct sockaddr_storage *out, socklen_t *len);

/* Copies the counters into *out. */
void server_stats(const struct server *, struct server_stats *out);

/*
 * Slot id (0..server_max_conns()-1), whatever its state, or NULL beyond:
 * for tests and the handler's wake-ups.  Valid as long as the server.
 */
struct srv_conn *server_conn(struct server *, uint32_t id);

/* The number of connection slots. */
unsigned server_max_conns(const struct server *);

#endif
