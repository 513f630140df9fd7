/*
 * server: the HTTP/1.1 listener pods reach (through the DNAT rule) and
 * hosts call.  Fixed connection slots sized at start; when all are busy a
 * new connection is answered 503 and closed, and the others go on.  Each
 * connection is a state machine (READING -> HANDLING [-> WAITING] ->
 * WRITING -> READING | closed) with keep-alive and pipelining, a header
 * timeout, an idle timeout and a write timeout.  What a request means is
 * the handler's business (agent/imds.c); the server parses, bounds and
 * writes.
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
	SRV_WAITING, /* the handler is waiting: pod, token or upstream */
	SRV_WRITING, /* sending a response */
	SRV_CLOSING  /* response sent, closing */
};

/*
 * One client connection.  The handler may use the fields under "handler"
 * while the request is its (from request() until it responds).
 */
struct srv_conn {
	enum srv_state state;
	uint32_t id, gen; /* slot index; generation, bumped per use */
	int fd;
	struct in6_addr peer; /* IPv4 as v4-mapped */
	uint16_t peer_port;
	bool local;          /* the peer is this node itself */
	struct http_req req; /* the request being handled */
	uint64_t started_ms; /* when its head was complete */
	/* handler */
	int route;
	struct tok_waiter waiter;
	struct podcache_ref pod;
	struct srv_conn *park_next, *park_prev;
	bool parked;
	uint32_t identity; /* index into the policy, during a token wait */
	uint32_t rule;     /* the rule that granted it */
	char resource[LIM_TOK_RESOURCE_BYTES + 1];
	size_t resource_len;
	char sel[LIM_HTTP_PARAM_VALUE_BYTES + 1]; /* identity selector */
	int sel_kind;
	bool host;                 /* /host/token/ */
	uint64_t park_deadline;    /* loop ms */
	void *upstream;            /* a proxy slot, while proxying */
	size_t head_off, head_len; /* the raw request head in rbuf */
	/* private */
	struct server *srv;
	struct loop_timer timer;
	char *rbuf, *wbuf;
	size_t rlen, consumed, wlen, woff;
	bool keep_alive;
	bool timer_wait; /* the timer is the handler's wait deadline */
};

struct server_handler {
	/* A complete request head in c->req: answer now or srv_wait. */
	void (*request)(struct srv_conn *c, void *arg);
	/* The wait deadline of srv_wait passed. */
	void (*timeout)(struct srv_conn *c, void *arg);
	/* The connection is going away while the handler waits on it. */
	void (*abort)(struct srv_conn *c, void *arg);
	void *arg;
};

struct server_config {
	struct sockaddr_storage listen;
	socklen_t listen_len;
	unsigned max_conns;
	uint64_t header_ms, idle_ms, write_ms;
	const struct in6_addr *local; /* this node's addresses */
	unsigned nlocal;
};

struct server_stats {
	uint64_t accepted, refused_full, requests, timeouts, bad_requests;
	uint64_t by_status[6]; /* 1xx..5xx by first digit; [0] others */
	unsigned open, max_conns;
};

struct server;

/* Binds and listens (before privileges go), sizes the slots. */
struct server *server_new(
    struct loop *, const struct server_config *, const struct server_handler *);
void server_free(struct server *);

/*
 * Answers c's current request: status line, Content-Type, extra header
 * lines (each ending "\r\n", or NULL) and body.  Then the next pipelined
 * request, if any, is handled.  A response that does not fit the slot's
 * write buffer becomes a 500.
 */
void srv_respond(struct srv_conn *c, int status, const char *ctype,
    const char *extra, const char *body, size_t len);

/* The handler will answer later; timeout fires after ms unless it does. */
void srv_wait(struct srv_conn *c, uint64_t ms);

/* Parsing an address "HOST:PORT", "[V6]:PORT" or ":PORT" (all IPv4). */
int server_parse_addr(
    const char *s, struct sockaddr_storage *out, socklen_t *len);

void server_stats(const struct server *, struct server_stats *);

/* Iterates open connections (for tests and the handler's wake-ups). */
struct srv_conn *server_conn(struct server *, uint32_t id);
unsigned server_max_conns(const struct server *);

#endif
