/*
 * TLS 1.2 client connections on BearSSL, driven by the event loop without
 * blocking: BearSSL's four buffers (sendrec/recvrec toward the socket,
 * sendapp/recvapp toward the caller) are mapped onto fd readiness; br_sslio
 * is never used.  The server certificate is checked against the trust
 * anchors and the server name: DNS names by BearSSL (SAN dNSName, or CN
 * without SANs), IP literals here (SAN iPAddress only, and no SNI).
 *
 * Use, per connection slot:
 *	tls_conn_init(c, anchors, iobuf, BR_SSL_BUFSIZE_BIDI)   once, at start
 *	tls_conn_start(c, fd, "kube.test")   fd: non-blocking, connecting
 *	loop: poll fd for tls_conn_wants(c); on readiness tls_conn_pump(c),
 *	      then tls_conn_read()/tls_conn_write() until -EAGAIN
 *	tls_conn_close(c); close(fd); ... tls_conn_start() again for reuse
 *
 * Errors are negative: -EAGAIN (would block), TLS_ERR_* below, or
 * TLS_ERR_BR(x) for a BearSSL engine or X.509 error x.  tls_strerror()
 * names them all (BearSSL ones by their BR_ERR_ name).
 */
#ifndef AGENT_TLS_H
#define AGENT_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <bearssl.h>

#include "agent/limits.h"
#include "agent/pem.h"

/* Readiness the connection waits for; same values as LOOP_READ/LOOP_WRITE. */
#define TLS_WANT_READ  0x1u
#define TLS_WANT_WRITE 0x2u

/* A BearSSL error code x (BR_ERR_*, alerts included) as a tls error. */
#define TLS_ERR_BR_BASE 1000
#define TLS_ERR_BR(x)   (-(TLS_ERR_BR_BASE + (int)(x)))

enum tls_err {
	TLS_ERR_SYS = -2001,     /* socket error: errno in c->sys_errno */
	TLS_ERR_EOF = -2002,     /* peer closed the TCP stream uncleanly */
	TLS_ERR_CLOSED = -2003,  /* write after close */
	TLS_ERR_NAME = -2004,    /* server name empty or too long */
	TLS_ERR_BUFSIZE = -2005, /* I/O buffer under BR_SSL_BUFSIZE_BIDI */
	TLS_ERR_ANCHORS = -2006, /* no trust anchors */
	TLS_ERR_STATE = -2007,   /* not started (or not initialised) */
};

enum tls_state {
	TLS_S_IDLE,      /* initialised, not started */
	TLS_S_HANDSHAKE, /* started; no application data yet */
	TLS_S_OPEN,      /* handshake done: read and write */
	TLS_S_CLOSING,   /* close_notify sent or being sent */
	TLS_S_CLOSED,    /* closed cleanly (close_notify seen or sent) */
	TLS_S_FAILED,    /* failed: c->err says why */
};

/*
 * Private: the X.509 engine wrapper (BearSSL's minimal engine, plus the
 * IP SAN check).  vtable must stay first.
 */
struct tls_x509 {
	const br_x509_class *vtable;
	br_x509_minimal_context minimal;
	unsigned cert_index; /* certificate being received, 0 = leaf */
	bool ip_mode;        /* server name is an IP literal */
	bool ee_over;        /* the leaf did not fit ee[] */
	unsigned char ip[16];
	size_t ip_len; /* 4 or 16 */
	size_t ee_len;
	unsigned char ee[LIM_TLS_PEER_CERT_BYTES];
};

/*
 * One client connection slot: caller storage, reused across connections.
 * Read-only for the caller: state, err, sys_errno, fd.
 */
struct tls_conn {
	br_ssl_client_context cc;
	struct tls_x509 x509;
	int fd;
	enum tls_state state;
	int err;       /* first error, sticky until tls_conn_start() */
	int sys_errno; /* errno behind TLS_ERR_SYS */
	/* private */
	unsigned char *iobuf;
	size_t iolen;
};

/*
 * Prepares slot c once: anchors (which must outlive c) and the slot's I/O
 * buffer iobuf of iolen >= BR_SSL_BUFSIZE_BIDI bytes (caller-owned, sized
 * once at start).  Returns 0, TLS_ERR_BUFSIZE or TLS_ERR_ANCHORS.
 */
int tls_conn_init(struct tls_conn *c, const struct pem_anchors *anchors,
    unsigned char *iobuf, size_t iolen);

/*
 * Starts a handshake on fd (non-blocking, possibly still connecting; the
 * caller keeps owning it) for server_name, a DNS name or an IP literal
 * (IPv4, IPv6, or [IPv6]) of at most LIM_TLS_SERVER_NAME_BYTES bytes (the
 * name is copied).  Forgets any earlier session.  Nothing is sent until
 * tls_conn_pump().  Returns 0, TLS_ERR_NAME, TLS_ERR_STATE or a BearSSL error.
 */
int tls_conn_start(struct tls_conn *c, int fd, const char *server_name);

/*
 * Does all socket I/O possible now without blocking.  Returns 0 (also once
 * cleanly closed) or the connection's error (sticky): TLS_ERR_BR(...) for
 * certificate and protocol failures, TLS_ERR_EOF, TLS_ERR_SYS.
 */
int tls_conn_pump(struct tls_conn *c);

/*
 * TLS_WANT_READ/TLS_WANT_WRITE bits to poll fd for; 0 when closed or
 * failed, and also while received application data waits for
 * tls_conn_read() (read it first).
 */
uint32_t tls_conn_wants(const struct tls_conn *c);

/*
 * Copies up to len bytes of received application data into buf, pumping
 * first when none is buffered.  Returns the byte count, 0 at a clean end
 * (close_notify received), -EAGAIN when nothing is there yet, or the error.
 */
ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t len);

/*
 * Takes up to len bytes of application data, seals them into a record and
 * sends as much as the socket takes.  Returns the bytes taken (the caller
 * keeps the rest), -EAGAIN while the handshake runs or the buffer is full,
 * TLS_ERR_CLOSED after tls_conn_close(), or the error.
 */
ssize_t tls_conn_write(struct tls_conn *c, const void *buf, size_t len);

/*
 * Starts a clean close: queues close_notify and sends it if the socket
 * takes it (best effort).  Keep pumping while tls_conn_wants() is non-zero
 * to finish the exchange, or close fd at once.  Returns 0 or the error.
 */
int tls_conn_close(struct tls_conn *c);

/* Wipes the slot's session keys and I/O buffer; tls_conn_init() to reuse. */
void tls_conn_cleanup(struct tls_conn *c);

/*
 * True when DER certificate der (len bytes) lists ip (4 or 16 bytes) among
 * its subjectAltName iPAddress entries.  Pure; malformed input is false.
 * Exposed for tests and fuzzing.
 */
bool tls_cert_has_ip(const unsigned char *der, size_t len,
    const unsigned char *ip, size_t ip_len);

/*
 * Static name of an error: "BR_ERR_X509_NOT_TRUSTED" for
 * TLS_ERR_BR(BR_ERR_X509_NOT_TRUSTED), "BR_ERR_RECV_FATAL_ALERT(...)" for
 * alerts, text for TLS_ERR_*, "EAGAIN", or "unknown tls error".
 */
const char *tls_strerror(int err);

#endif
