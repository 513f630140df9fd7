/*
 * One outgoing HTTP/1.1 connection as an explicit state machine:
 *
 *	IDLE -> CONNECTING -> SENDING -> HEAD -> BODY -> KEEPALIVE | IDLE
 *	                                                  KEEPALIVE -> SENDING
 *
 * hc_drive() runs on every readiness event and moves between states; a
 * failure anywhere closes the socket and calls done once.  The body is
 * decoded in the receive buffer itself (chunked framing removed in place)
 * and handed out as it comes, so a watch stream of any length flows
 * through a fixed buffer.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/hclient.h"

static void hc_io(struct loop *, int, uint32_t, void *);
static void hc_timeout(struct loop *, struct loop_timer *, void *);

void
hclient_init(struct hclient *hc, struct loop *loop, struct tls_conn *tls,
    char *rbuf, size_t rcap)
{
	memset(hc, 0, sizeof(*hc));
	hc->loop = loop;
	hc->tls = tls;
	hc->fd = -1;
	hc->rbuf = rbuf;
	hc->rcap = rcap;
	loop_timer_init(&hc->timer, hc_timeout, hc);
}

static void
hc_close_fd(struct hclient *hc)
{
	loop_timer_cancel(hc->loop, &hc->timer);
	if (hc->fd >= 0) {
		loop_del(hc->loop, hc->fd);
		close(hc->fd);
	}
	hc->fd = -1;
	hc->state = HC_IDLE;
}

void
hclient_close(struct hclient *hc)
{
	hc_close_fd(hc);
	hc->cb = NULL;
}

/* Ends the request with an error; done is the last thing touched. */
static void
hc_fail(struct hclient *hc, int err, int detail)
{
	const struct hclient_cb *cb = hc->cb;
	void *arg = hc->arg;

	hc->err = err;
	hc->detail = detail;
	hclient_close(hc);
	if (cb != NULL)
		cb->done(hc, err, arg);
}

/* The response ended: keep the connection when the server allows it. */
static void
hc_finish(struct hclient *hc, bool reusable)
{
	const struct hclient_cb *cb = hc->cb;
	void *arg = hc->arg;

	hc->cb = NULL;
	hc->err = 0;
	if (reusable && !hc->resp.conn_close &&
	    hc->resp.body != HTTPC_BODY_EOF) {
		hc->state = HC_KEEPALIVE;
		loop_timer_cancel(hc->loop, &hc->timer);
		loop_mod(hc->loop, hc->fd, LOOP_READ);
	} else
		hc_close_fd(hc);
	if (cb != NULL)
		cb->done(hc, 0, arg);
}

/*
 * A TLS failure rc as the error it is: a socket error is a failed connect
 * while connecting and an i/o error after (a reset: the peer closed); an
 * end without close_notify is the peer closing; the rest is TLS.
 */
static void
hc_fail_tls(struct hclient *hc, int rc)
{
	int e = hc->tls->sys_errno;

	if (rc == TLS_ERR_SYS && hc->state == HC_CONNECTING)
		hc_fail(hc, HCLIENT_E_CONNECT, e);
	else if (rc == TLS_ERR_SYS && e == ECONNRESET)
		hc_fail(hc, HCLIENT_E_CLOSED, e);
	else if (rc == TLS_ERR_SYS)
		hc_fail(hc, HCLIENT_E_IO, e);
	else if (rc == TLS_ERR_EOF)
		hc_fail(hc, HCLIENT_E_CLOSED, rc);
	else
		hc_fail(hc, HCLIENT_E_TLS, rc);
}

static void
hc_timeout(struct loop *loop, struct loop_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	hc_fail(arg, HCLIENT_E_TIMEOUT, 0);
}

static int
hc_connect(struct hclient *hc)
{
	int one = 1;

	hc->fd = socket(
	    hc->peer.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (hc->fd == -1)
		return -errno;
	(void)setsockopt(hc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(hc->fd, (struct sockaddr *)&hc->peer, hc->peerlen) == -1 &&
	    errno != EINPROGRESS)
		return -errno;
	if (hc->tls != NULL &&
	    tls_conn_start(hc->tls, hc->fd, hc->server_name) != 0)
		return -EINVAL;
	if (loop_add(hc->loop, hc->fd, LOOP_WRITE | LOOP_READ, hc_io, hc) != 0)
		return -EMFILE;
	hc->state = HC_CONNECTING;
	return 0;
}

int
hclient_request(struct hclient *hc, const struct sockaddr *peer,
    socklen_t peerlen, const char *server_name, const char *req, size_t reqlen,
    uint64_t idle_ms, const struct hclient_cb *cb, void *arg)
{
	bool same = hc->state == HC_KEEPALIVE && peerlen == hc->peerlen &&
	    memcmp(peer, &hc->peer, peerlen) == 0 &&
	    strcmp(server_name, hc->server_name) == 0;
	int rc;

	if (hc->state != HC_IDLE && hc->state != HC_KEEPALIVE)
		return HCLIENT_E_BUSY;
	hc->out = req;
	hc->outlen = reqlen;
	hc->outoff = 0;
	hc->rlen = 0;
	hc->idle_ms = idle_ms;
	hc->cb = cb;
	hc->arg = arg;
	httpc_resp_init(&hc->resp);
	hc->requests++;
	if (same) {
		hc->reused++;
		hc->state = HC_SENDING;
		loop_mod(hc->loop, hc->fd, LOOP_WRITE);
	} else {
		hclient_close(hc);
		hc->cb = cb;
		if (peerlen > sizeof(hc->peer))
			return HCLIENT_E_CONNECT;
		memcpy(&hc->peer, peer, peerlen);
		hc->peerlen = peerlen;
		snprintf(hc->server_name, sizeof(hc->server_name), "%s",
		    server_name);
		if ((rc = hc_connect(hc)) != 0) {
			hc->err = HCLIENT_E_CONNECT;
			hc->detail = -rc;
			hclient_close(hc);
			return HCLIENT_E_CONNECT;
		}
	}
	loop_timer_set(hc->loop, &hc->timer, idle_ms);
	return 0;
}

/* Hands body bytes to the caller; false when the request is over. */
static bool
hc_deliver(struct hclient *hc, const char *data, size_t len)
{
	if (len == 0 || hc->cb == NULL || hc->cb->body == NULL)
		return true;
	if (hc->cb->body(hc, data, len, hc->arg) < 0) {
		hc_fail(hc, HCLIENT_E_ABORT, 0);
		return false;
	}
	return true;
}

/* Body bytes at rbuf[0..rlen); false when the request is over. */
static bool
hc_body(struct hclient *hc)
{
	size_t n = hc->rlen;
	ssize_t rc;

	hc->rlen = 0;
	switch (hc->resp.body) {
	case HTTPC_BODY_NONE:
		hc_finish(hc, n == 0);
		return false;
	case HTTPC_BODY_LENGTH:
		if (n > hc->body_left)
			n = (size_t)hc->body_left;
		hc->body_left -= n;
		if (!hc_deliver(hc, hc->rbuf, n))
			return false;
		if (hc->body_left == 0) {
			hc_finish(hc, true);
			return false;
		}
		return true;
	case HTTPC_BODY_CHUNKED:
		rc = httpc_chunked_feed(&hc->chunked, hc->rbuf, &n);
		if (rc < HTTPC_NEED_MORE) {
			hc_fail(hc, HCLIENT_E_PROTO, (int)rc);
			return false;
		}
		if (!hc_deliver(hc, hc->rbuf, n))
			return false;
		if (rc >= 0) {
			hc_finish(hc, rc == 0);
			return false;
		}
		return true;
	case HTTPC_BODY_EOF:
		return hc_deliver(hc, hc->rbuf, n);
	}
	return true;
}

/* A complete head: skip 1xx, tell the caller, start the body. */
static bool
hc_head(struct hclient *hc)
{
	int rc;

	for (;;) {
		rc = httpc_resp_feed(&hc->resp, hc->rbuf, hc->rlen);
		if (rc == HTTPC_NEED_MORE) {
			if (hc->rlen == hc->rcap) {
				hc_fail(hc, HCLIENT_E_HEAD, 0);
				return false;
			}
			return true;
		}
		if (rc < 0) {
			hc_fail(hc, HCLIENT_E_PROTO, rc);
			return false;
		}
		if (hc->resp.status >= 200)
			break;
		memmove(hc->rbuf, hc->rbuf + rc, hc->rlen - (size_t)rc);
		hc->rlen -= (size_t)rc;
		httpc_resp_init(&hc->resp);
	}
	if (hc->cb != NULL && hc->cb->head != NULL)
		hc->cb->head(hc, &hc->resp, hc->arg);
	if (hc->cb == NULL)
		return false;
	hc->body_left = hc->resp.content_length;
	httpc_chunked_init(&hc->chunked);
	memmove(hc->rbuf, hc->rbuf + rc, hc->rlen - (size_t)rc);
	hc->rlen -= (size_t)rc;
	hc->state = HC_BODY;
	return hc_body(hc);
}

static ssize_t
hc_read(struct hclient *hc, char *buf, size_t len)
{
	ssize_t n;

	if (hc->tls != NULL)
		return tls_conn_read(hc->tls, buf, len);
	n = read(hc->fd, buf, len);
	return n < 0 ? -errno : n;
}

/* The peer closed (n == 0) or reading failed (n < 0). */
static void
hc_read_end(struct hclient *hc, ssize_t n)
{
	if (hc->state == HC_KEEPALIVE) {
		hclient_close(hc); /* the server let an idle connection go */
		return;
	}
	if (hc->state == HC_BODY && hc->resp.body == HTTPC_BODY_EOF &&
	    (n == 0 || n == TLS_ERR_EOF)) {
		hc_finish(hc, false);
		return;
	}
	if (n == 0 || n == -ECONNRESET)
		hc_fail(hc, HCLIENT_E_CLOSED, (int)-n);
	else if (hc->tls != NULL && n < -1000)
		hc_fail_tls(hc, (int)n);
	else
		hc_fail(hc, HCLIENT_E_IO, (int)-n);
}

/* Reads until the socket is drained; false when the request is over. */
static bool
hc_receive(struct hclient *hc)
{
	ssize_t n;

	for (;;) {
		if (hc->state == HC_KEEPALIVE) {
			char scratch[64];

			n = hc_read(hc, scratch, sizeof(scratch));
			if (n == -EAGAIN)
				return true;
			hc_read_end(hc, n > 0 ? 0 : n);
			return false;
		}
		n = hc_read(hc, hc->rbuf + hc->rlen, hc->rcap - hc->rlen);
		if (n == -EAGAIN)
			return true;
		if (n <= 0) {
			hc_read_end(hc, n);
			return false;
		}
		hc->rlen += (size_t)n;
		loop_timer_set(hc->loop, &hc->timer, hc->idle_ms);
		if (!(hc->state == HC_HEAD ? hc_head(hc) : hc_body(hc)))
			return false;
	}
}

static bool
hc_send(struct hclient *hc)
{
	ssize_t n;

	while (hc->outoff < hc->outlen) {
		if (hc->tls != NULL)
			n = tls_conn_write(hc->tls, hc->out + hc->outoff,
			    hc->outlen - hc->outoff);
		else if ((n = write(hc->fd, hc->out + hc->outoff,
		              hc->outlen - hc->outoff)) < 0)
			n = -errno;
		if (n == -EAGAIN)
			return true;
		if (n < 0) {
			if (hc->tls != NULL && n < -1000)
				hc_fail_tls(hc, (int)n);
			else
				hc_fail(hc, HCLIENT_E_IO, (int)-n);
			return false;
		}
		hc->outoff += (size_t)n;
	}
	hc->state = HC_HEAD;
	loop_timer_set(hc->loop, &hc->timer, hc->idle_ms);
	return true;
}

/* CONNECTING: is the TCP (and TLS) connection up yet? */
static bool
hc_connected(struct hclient *hc, uint32_t revents)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (hc->tls != NULL) {
		if (hc->tls->state == TLS_S_OPEN)
			hc->state = HC_SENDING;
		return true;
	}
	if (!(revents & (LOOP_WRITE | LOOP_ERROR)))
		return true;
	if (getsockopt(hc->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
		soerr = errno;
	if (soerr != 0) {
		hc_fail(hc, HCLIENT_E_CONNECT, soerr);
		return false;
	}
	hc->state = HC_SENDING;
	return true;
}

static void
hc_interest(struct hclient *hc)
{
	uint32_t want;

	if (hc->tls != NULL) {
		want = tls_conn_wants(hc->tls);
		if (want == 0)
			want = LOOP_READ;
	} else
		want = hc->state == HC_CONNECTING || hc->state == HC_SENDING
		    ? LOOP_WRITE
		    : LOOP_READ;
	loop_mod(hc->loop, hc->fd, want);
}

static void
hc_io(struct loop *loop, int fd, uint32_t revents, void *arg)
{
	struct hclient *hc = arg;
	int rc;

	(void)loop;
	(void)fd;
	if (hc->tls != NULL && (rc = tls_conn_pump(hc->tls)) != 0) {
		hc_fail_tls(hc, rc);
		return;
	}
	if (hc->state == HC_CONNECTING && !hc_connected(hc, revents))
		return;
	if (hc->state == HC_SENDING && !hc_send(hc))
		return;
	if ((hc->state == HC_HEAD || hc->state == HC_BODY ||
	        hc->state == HC_KEEPALIVE) &&
	    !hc_receive(hc))
		return;
	if (hc->fd >= 0)
		hc_interest(hc);
}

static const char *const hc_err_names[] = {
    [1] = "connect",
    [2] = "timed out",
    [3] = "connection closed by peer",
    [4] = "response head too large",
    [5] = "malformed response",
    [6] = "tls",
    [7] = "aborted",
    [8] = "i/o error",
    [9] = "busy",
};

const char *
hclient_strerror(const struct hclient *hc, char *buf, size_t len)
{
	int e = -hc->err;
	const char *name = e > 0 && e <= 9 ? hc_err_names[e] : "no error";

	/* detail: an errno (> 0), or TLS_ERR_EOF for a peer closing. */
	if (hc->err == HCLIENT_E_CLOSED && hc->detail == TLS_ERR_EOF)
		snprintf(buf, len, "%s without TLS close_notify", name);
	else if (hc->err == HCLIENT_E_CONNECT || hc->err == HCLIENT_E_IO ||
	    (hc->err == HCLIENT_E_CLOSED && hc->detail))
		snprintf(buf, len, "%s: %s", name, strerror(hc->detail));
	else if (hc->err == HCLIENT_E_TLS)
		snprintf(buf, len, "%s: %s", name, tls_strerror(hc->detail));
	else if (hc->err == HCLIENT_E_PROTO)
		snprintf(buf, len, "%s: %s", name, httpc_strerror(hc->detail));
	else
		snprintf(buf, len, "%s", name);
	return buf;
}
