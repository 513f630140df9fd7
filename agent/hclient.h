/*
 * hclient: one outgoing HTTP/1.1 connection, plain or TLS, driven by the
 * event loop.  It connects without blocking, sends one request at a time,
 * parses the response head and hands the decoded body (chunked framing
 * removed) to the caller as it arrives.  A connection the server keeps
 * alive is reused for the next request to the same peer.
 *
 * Every slot is sized at start: the caller gives the receive buffer and,
 * for TLS, a tls_conn slot with its I/O buffer.  Nothing is allocated per
 * request.  Used by the Kubernetes watch, and by the IMDS and Azure AD
 * clients.
 */
#ifndef AGENT_HCLIENT_H
#define AGENT_HCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "agent/httpc.h"
#include "agent/loop.h"
#include "agent/tls.h"

enum hclient_err {
	HCLIENT_E_CONNECT = -1, /* socket or connect failed (errno in detail) */
	HCLIENT_E_TIMEOUT = -2, /* no progress within the deadline */
	HCLIENT_E_CLOSED = -3,  /* peer closed before the response ended */
	HCLIENT_E_HEAD = -4,    /* response head larger than the buffer */
	HCLIENT_E_PROTO = -5,   /* malformed response (httpc error in detail) */
	HCLIENT_E_TLS = -6,     /* TLS failed (tls error in detail) */
	HCLIENT_E_ABORT = -7,   /* the body callback refused the data */
	HCLIENT_E_IO = -8,      /* read or write failed (errno in detail) */
	HCLIENT_E_BUSY = -9,    /* a request is already running */
};

struct hclient;

/*
 * Callbacks of one request.  head: the response head was parsed (resp
 * valid until done).  body: len decoded body bytes at data (valid during
 * the call); returning < 0 aborts.  done: the response ended (err 0) or
 * failed (err < 0); the connection may be reused from inside done.
 */
struct hclient_cb {
	void (*head)(struct hclient *, const struct httpc_resp *, void *arg);
	/* resp's slices are valid during head only; its numbers until done. */
	int (*body)(struct hclient *, const char *data, size_t len, void *arg);
	void (*done)(struct hclient *, int err, void *arg);
};

enum hclient_state {
	HC_IDLE,       /* no connection */
	HC_CONNECTING, /* TCP (and TLS) connection being set up */
	HC_SENDING,    /* writing the request */
	HC_HEAD,       /* reading the response head */
	HC_BODY,       /* reading the body */
	HC_KEEPALIVE   /* connected, no request */
};

struct hclient {
	/* Read-only for the caller. */
	enum hclient_state state;
	int err, detail; /* last failure and its errno/httpc/tls code */
	struct httpc_resp resp;
	uint64_t requests, reused; /* counters */
	/* Private. */
	struct loop *loop;
	struct tls_conn *tls; /* NULL: plain TCP */
	int fd;
	struct loop_timer timer;
	uint64_t idle_ms;
	const char *out;
	size_t outlen, outoff;
	char *rbuf;
	size_t rcap, rlen;
	struct httpc_chunked chunked;
	uint64_t body_left;
	const struct hclient_cb *cb;
	void *arg;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	char server_name[LIM_TLS_SERVER_NAME_BYTES + 1];
};

/*
 * Prepares a slot.  tls (already tls_conn_init'ed with its anchors and I/O
 * buffer) makes it a TLS client; NULL a plain one.  rbuf of rcap bytes
 * receives responses: it bounds the response head and one read.
 */
void hclient_init(struct hclient *, struct loop *, struct tls_conn *tls,
    char *rbuf, size_t rcap);

/*
 * Sends req (request head and body, reqlen bytes) to peer, reusing a
 * kept-alive connection to the same peer.  server_name is the TLS name to
 * verify (a DNS name or IP literal).  req must stay valid until done is
 * called.  idle_ms bounds connecting, and then each wait for more bytes.
 * Returns 0 (the callbacks follow from the loop) or HCLIENT_E_BUSY /
 * HCLIENT_E_CONNECT.
 */
int hclient_request(struct hclient *, const struct sockaddr *peer,
    socklen_t peerlen, const char *server_name, const char *req, size_t reqlen,
    uint64_t idle_ms, const struct hclient_cb *, void *arg);

/* Drops the connection and any request without calling done. */
void hclient_close(struct hclient *);

/* "connect: Connection refused", "tls: BR_ERR_X509_NOT_TRUSTED", ... */
const char *hclient_strerror(const struct hclient *, char *buf, size_t len);

#endif
