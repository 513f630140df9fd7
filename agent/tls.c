/*
 * Non-blocking TLS 1.2 client on BearSSL.  The engine's state bits say what
 * it can do next: SENDREC (records to write to the socket), RECVREC (room
 * for bytes from the socket), SENDAPP/RECVAPP (application data in and
 * out).  tls_conn_pump() moves bytes between the socket and the engine
 * until neither direction makes progress; the event loop then waits for
 * the readiness tls_conn_wants() derives from the same bits.
 *
 * BearSSL's minimal X.509 engine checks DNS names only, so the engine is
 * wrapped: for an IP literal the name check is switched off in BearSSL
 * (no SNI either, RFC 6066 forbids literals there) and the leaf
 * certificate's subjectAltName iPAddress entries are checked here, after
 * BearSSL has validated the chain.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/tls.h"

/* ---- error names ---- */

struct tls_name {
	int code;
	const char *name;
};

#define TLS_NAME(x)                                                            \
	{                                                                      \
		x, #x                                                          \
	}

static const struct tls_name tls_br_names[] = {
    TLS_NAME(BR_ERR_OK),
    TLS_NAME(BR_ERR_BAD_PARAM),
    TLS_NAME(BR_ERR_BAD_STATE),
    TLS_NAME(BR_ERR_UNSUPPORTED_VERSION),
    TLS_NAME(BR_ERR_BAD_VERSION),
    TLS_NAME(BR_ERR_BAD_LENGTH),
    TLS_NAME(BR_ERR_TOO_LARGE),
    TLS_NAME(BR_ERR_BAD_MAC),
    TLS_NAME(BR_ERR_NO_RANDOM),
    TLS_NAME(BR_ERR_UNKNOWN_TYPE),
    TLS_NAME(BR_ERR_UNEXPECTED),
    TLS_NAME(BR_ERR_BAD_CCS),
    TLS_NAME(BR_ERR_BAD_ALERT),
    TLS_NAME(BR_ERR_BAD_HANDSHAKE),
    TLS_NAME(BR_ERR_OVERSIZED_ID),
    TLS_NAME(BR_ERR_BAD_CIPHER_SUITE),
    TLS_NAME(BR_ERR_BAD_COMPRESSION),
    TLS_NAME(BR_ERR_BAD_FRAGLEN),
    TLS_NAME(BR_ERR_BAD_SECRENEG),
    TLS_NAME(BR_ERR_EXTRA_EXTENSION),
    TLS_NAME(BR_ERR_BAD_SNI),
    TLS_NAME(BR_ERR_BAD_HELLO_DONE),
    TLS_NAME(BR_ERR_LIMIT_EXCEEDED),
    TLS_NAME(BR_ERR_BAD_FINISHED),
    TLS_NAME(BR_ERR_RESUME_MISMATCH),
    TLS_NAME(BR_ERR_INVALID_ALGORITHM),
    TLS_NAME(BR_ERR_BAD_SIGNATURE),
    TLS_NAME(BR_ERR_WRONG_KEY_USAGE),
    TLS_NAME(BR_ERR_NO_CLIENT_AUTH),
    TLS_NAME(BR_ERR_IO),
    TLS_NAME(BR_ERR_X509_OK),
    TLS_NAME(BR_ERR_X509_INVALID_VALUE),
    TLS_NAME(BR_ERR_X509_TRUNCATED),
    TLS_NAME(BR_ERR_X509_EMPTY_CHAIN),
    TLS_NAME(BR_ERR_X509_INNER_TRUNC),
    TLS_NAME(BR_ERR_X509_BAD_TAG_CLASS),
    TLS_NAME(BR_ERR_X509_BAD_TAG_VALUE),
    TLS_NAME(BR_ERR_X509_INDEFINITE_LENGTH),
    TLS_NAME(BR_ERR_X509_EXTRA_ELEMENT),
    TLS_NAME(BR_ERR_X509_UNEXPECTED),
    TLS_NAME(BR_ERR_X509_NOT_CONSTRUCTED),
    TLS_NAME(BR_ERR_X509_NOT_PRIMITIVE),
    TLS_NAME(BR_ERR_X509_PARTIAL_BYTE),
    TLS_NAME(BR_ERR_X509_BAD_BOOLEAN),
    TLS_NAME(BR_ERR_X509_OVERFLOW),
    TLS_NAME(BR_ERR_X509_BAD_DN),
    TLS_NAME(BR_ERR_X509_BAD_TIME),
    TLS_NAME(BR_ERR_X509_UNSUPPORTED),
    TLS_NAME(BR_ERR_X509_LIMIT_EXCEEDED),
    TLS_NAME(BR_ERR_X509_WRONG_KEY_TYPE),
    TLS_NAME(BR_ERR_X509_BAD_SIGNATURE),
    TLS_NAME(BR_ERR_X509_TIME_UNKNOWN),
    TLS_NAME(BR_ERR_X509_EXPIRED),
    TLS_NAME(BR_ERR_X509_DN_MISMATCH),
    TLS_NAME(BR_ERR_X509_BAD_SERVER_NAME),
    TLS_NAME(BR_ERR_X509_CRITICAL_EXTENSION),
    TLS_NAME(BR_ERR_X509_NOT_CA),
    TLS_NAME(BR_ERR_X509_FORBIDDEN_KEY_USAGE),
    TLS_NAME(BR_ERR_X509_WEAK_PUBLIC_KEY),
    TLS_NAME(BR_ERR_X509_NOT_TRUSTED),
};

/* TLS alert descriptions (RFC 5246 7.2, RFC 8446 6), for fatal alerts. */
#define TLS_ALERTS(X)                                                          \
	X(0, close_notify)                                                     \
	X(10, unexpected_message)                                              \
	X(20, bad_record_mac)                                                  \
	X(21, decryption_failed)                                               \
	X(22, record_overflow)                                                 \
	X(30, decompression_failure)                                           \
	X(40, handshake_failure)                                               \
	X(41, no_certificate)                                                  \
	X(42, bad_certificate)                                                 \
	X(43, unsupported_certificate)                                         \
	X(44, certificate_revoked)                                             \
	X(45, certificate_expired)                                             \
	X(46, certificate_unknown)                                             \
	X(47, illegal_parameter)                                               \
	X(48, unknown_ca)                                                      \
	X(49, access_denied)                                                   \
	X(50, decode_error)                                                    \
	X(51, decrypt_error)                                                   \
	X(60, export_restriction)                                              \
	X(70, protocol_version)                                                \
	X(71, insufficient_security)                                           \
	X(80, internal_error)                                                  \
	X(86, inappropriate_fallback)                                          \
	X(90, user_canceled)                                                   \
	X(100, no_renegotiation)                                               \
	X(109, missing_extension)                                              \
	X(110, unsupported_extension)                                          \
	X(112, unrecognized_name)                                              \
	X(113, bad_certificate_status_response)                                \
	X(115, unknown_psk_identity)                                           \
	X(116, certificate_required)                                           \
	X(120, no_application_protocol)

#define TLS_RECV_ALERT(n, s)                                                   \
	{BR_ERR_RECV_FATAL_ALERT + (n), "BR_ERR_RECV_FATAL_ALERT(" #s ")"},
#define TLS_SEND_ALERT(n, s)                                                   \
	{BR_ERR_SEND_FATAL_ALERT + (n), "BR_ERR_SEND_FATAL_ALERT(" #s ")"},

static const struct tls_name tls_alert_names[] = {
    TLS_ALERTS(TLS_RECV_ALERT) TLS_ALERTS(TLS_SEND_ALERT)};

static const struct tls_name tls_own_names[] = {
    {TLS_ERR_SYS, "socket error"},
    {TLS_ERR_EOF, "peer closed the connection without close_notify"},
    {TLS_ERR_CLOSED, "connection closed"},
    {TLS_ERR_NAME, "server name empty or too long"},
    {TLS_ERR_BUFSIZE, "tls i/o buffer too small"},
    {TLS_ERR_ANCHORS, "no trust anchors"},
    {TLS_ERR_STATE, "tls connection not started"},
    {-EAGAIN, "EAGAIN"},
    {0, "ok"},
};

static const char *
tls_lookup(const struct tls_name *t, size_t n, int code)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (t[i].code == code)
			return t[i].name;
	return NULL;
}

#define TLS_LOOKUP(t, c) tls_lookup((t), sizeof(t) / sizeof(*(t)), (c))

const char *
tls_strerror(int err)
{
	const char *s;
	int br = -err - TLS_ERR_BR_BASE;

	if ((s = TLS_LOOKUP(tls_own_names, err)) != NULL)
		return s;
	if (br < 0 || br >= 1000)
		return "unknown tls error";
	if ((s = TLS_LOOKUP(tls_br_names, br)) != NULL ||
	    (s = TLS_LOOKUP(tls_alert_names, br)) != NULL)
		return s;
	if (br >= BR_ERR_SEND_FATAL_ALERT && br < BR_ERR_SEND_FATAL_ALERT + 256)
		return "BR_ERR_SEND_FATAL_ALERT(unknown)";
	if (br >= BR_ERR_RECV_FATAL_ALERT && br < BR_ERR_RECV_FATAL_ALERT + 256)
		return "BR_ERR_RECV_FATAL_ALERT(unknown)";
	return "unknown tls error";
}

/* ---- subjectAltName iPAddress check (pure DER walking) ---- */

struct tls_der {
	const unsigned char *p;
	size_t len;
};

/*
 * Takes one TLV off the front of d: its tag byte and value.  Certificates
 * use DER, so only low tag numbers and definite lengths of at most 4 bytes
 * are accepted.
 */
static bool
tls_der_next(struct tls_der *d, unsigned *tag, struct tls_der *val)
{
	size_t hdr = 2, n, len;

	if (d->len < 2 || (d->p[0] & 0x1f) == 0x1f)
		return false;
	*tag = d->p[0];
	len = d->p[1];
	if (len & 0x80) {
		n = len & 0x7f;
		if (n == 0 || n > 4 || d->len - 2 < n)
			return false;
		for (len = 0; n > 0; n--)
			len = (len << 8) | d->p[hdr++];
	}
	if (len > d->len - hdr)
		return false;
	val->p = d->p + hdr;
	val->len = len;
	d->p += hdr + len;
	d->len -= hdr + len;
	return true;
}

/* GeneralNames: iPAddress is [7] IMPLICIT OCTET STRING, tag 0x87. */
static bool
tls_names_have_ip(struct tls_der names, const unsigned char *ip, size_t ip_len)
{
	struct tls_der v;
	unsigned tag;

	while (names.len > 0) {
		if (!tls_der_next(&names, &tag, &v))
			return false;
		if (tag == 0x87 && v.len == ip_len &&
		    memcmp(v.p, ip, ip_len) == 0)
			return true;
	}
	return false;
}

/* Extension ::= SEQUENCE { extnID, critical BOOLEAN OPTIONAL, OCTET STRING } */
static bool
tls_ext_has_ip(struct tls_der ext, const unsigned char *ip, size_t ip_len)
{
	static const unsigned char oid_san[] = {0x55, 0x1d, 0x11};
	struct tls_der oid, v, names;
	unsigned tag;

	if (!tls_der_next(&ext, &tag, &oid) || tag != 0x06 ||
	    oid.len != sizeof(oid_san) ||
	    memcmp(oid.p, oid_san, sizeof(oid_san)) != 0)
		return false;
	if (!tls_der_next(&ext, &tag, &v))
		return false;
	if (tag == 0x01 && !tls_der_next(&ext, &tag, &v))
		return false;
	if (tag != 0x04 || !tls_der_next(&v, &tag, &names) || tag != 0x30)
		return false;
	return tls_names_have_ip(names, ip, ip_len);
}

bool
tls_cert_has_ip(const unsigned char *der, size_t len, const unsigned char *ip,
    size_t ip_len)
{
	struct tls_der d = {der, len}, cert, tbs, v = {NULL, 0}, exts;
	unsigned tag = 0;

	/* Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { ... } ... } */
	if (!tls_der_next(&d, &tag, &cert) || tag != 0x30 ||
	    !tls_der_next(&cert, &tag, &tbs) || tag != 0x30)
		return false;
	/* The extensions are the [3] EXPLICIT element at the end. */
	while (tbs.len > 0 && tag != 0xa3)
		if (!tls_der_next(&tbs, &tag, &v))
			return false;
	if (tag != 0xa3 || !tls_der_next(&v, &tag, &exts) || tag != 0x30)
		return false;
	while (exts.len > 0) {
		if (!tls_der_next(&exts, &tag, &v) || tag != 0x30)
			return false;
		if (tls_ext_has_ip(v, ip, ip_len))
			return true;
	}
	return false;
}

/* ---- the X.509 engine wrapper ---- */

static struct tls_x509 *
tls_x509_of(const br_x509_class **ctx)
{
	return (struct tls_x509 *)(void *)ctx; /* vtable is the first field */
}

static bool
tls_x509_keeps_leaf(const struct tls_x509 *x)
{
	return x->ip_mode && x->cert_index == 0;
}

static void
tls_x509_start_chain(const br_x509_class **ctx, const char *server_name)
{
	struct tls_x509 *x = tls_x509_of(ctx);

	x->cert_index = 0;
	x->ee_len = 0;
	x->ee_over = false;
	x->minimal.vtable->start_chain(&x->minimal.vtable, server_name);
}

static void
tls_x509_start_cert(const br_x509_class **ctx, uint32_t length)
{
	struct tls_x509 *x = tls_x509_of(ctx);

	if (tls_x509_keeps_leaf(x) && length > sizeof(x->ee))
		x->ee_over = true;
	x->minimal.vtable->start_cert(&x->minimal.vtable, length);
}

static void
tls_x509_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
	struct tls_x509 *x = tls_x509_of(ctx);

	if (tls_x509_keeps_leaf(x) && !x->ee_over) {
		if (len > sizeof(x->ee) - x->ee_len) {
			x->ee_over = true;
		} else {
			memcpy(x->ee + x->ee_len, buf, len);
			x->ee_len += len;
		}
	}
	x->minimal.vtable->append(&x->minimal.vtable, buf, len);
}

static void
tls_x509_end_cert(const br_x509_class **ctx)
{
	struct tls_x509 *x = tls_x509_of(ctx);

	x->minimal.vtable->end_cert(&x->minimal.vtable);
	x->cert_index++;
}

static unsigned
tls_x509_end_chain(const br_x509_class **ctx)
{
	struct tls_x509 *x = tls_x509_of(ctx);
	unsigned err;

	err = x->minimal.vtable->end_chain(&x->minimal.vtable);
	if (!x->ip_mode)
		return err;
	/* A leaf too large to keep cannot be checked: refuse it. */
	if (x->ee_over)
		return BR_ERR_X509_LIMIT_EXCEEDED;
	if (err != 0)
		return err;
	if (!tls_cert_has_ip(x->ee, x->ee_len, x->ip, x->ip_len))
		return BR_ERR_X509_BAD_SERVER_NAME;
	return 0;
}

static const br_x509_pkey *
tls_x509_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
	const struct tls_x509 *x = (const struct tls_x509 *)(const void *)ctx;

	return x->minimal.vtable->get_pkey(&x->minimal.vtable, usages);
}

static const br_x509_class tls_x509_vtable = {
    sizeof(struct tls_x509),
    tls_x509_start_chain,
    tls_x509_start_cert,
    tls_x509_append,
    tls_x509_end_cert,
    tls_x509_end_chain,
    tls_x509_get_pkey,
};

/* ---- the connection ---- */

static int
tls_fail(struct tls_conn *c, int err)
{
	if (c->err == 0)
		c->err = err;
	c->state = TLS_S_FAILED;
	return c->err;
}

int
tls_conn_init(struct tls_conn *c, const struct pem_anchors *anchors,
    unsigned char *iobuf, size_t iolen)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->state = TLS_S_IDLE;
	if (iobuf == NULL || iolen < BR_SSL_BUFSIZE_BIDI)
		return TLS_ERR_BUFSIZE;
	if (anchors == NULL || anchors->count == 0)
		return TLS_ERR_ANCHORS;
	br_ssl_client_init_full(
	    &c->cc, &c->x509.minimal, anchors->ta, anchors->count);
	br_ssl_engine_set_versions(&c->cc.eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_set_buffer(&c->cc.eng, iobuf, iolen, 1);
	c->iobuf = iobuf;
	c->iolen = iolen;
	c->x509.vtable = &tls_x509_vtable;
	br_ssl_engine_set_x509(&c->cc.eng, &c->x509.vtable);
	return 0;
}

/* An IPv4 or IPv6 literal (IPv6 possibly in brackets) into ip. */
static bool
tls_parse_ip(const char *name, size_t n, unsigned char *ip, size_t *ip_len)
{
	char tmp[LIM_TLS_SERVER_NAME_BYTES + 1];

	if (inet_pton(AF_INET, name, ip) == 1) {
		*ip_len = 4;
		return true;
	}
	if (n >= 2 && name[0] == '[' && name[n - 1] == ']') {
		memcpy(tmp, name + 1, n - 2);
		tmp[n - 2] = '\0';
		name = tmp;
	}
	if (inet_pton(AF_INET6, name, ip) == 1) {
		*ip_len = 16;
		return true;
	}
	return false;
}

int
tls_conn_start(struct tls_conn *c, int fd, const char *server_name)
{
	struct tls_x509 *x = &c->x509;
	size_t n;

	if (x->vtable != &tls_x509_vtable)
		return TLS_ERR_STATE;
	if (server_name == NULL ||
	    (n = strnlen(server_name, LIM_TLS_SERVER_NAME_BYTES + 1)) == 0 ||
	    n > LIM_TLS_SERVER_NAME_BYTES)
		return TLS_ERR_NAME;
	c->fd = fd;
	c->err = c->sys_errno = 0;
	x->ip_mode = tls_parse_ip(server_name, n, x->ip, &x->ip_len);
	/* For an IP the engine gets no name: no SNI, no DNS name check. */
	if (!br_ssl_client_reset(&c->cc, x->ip_mode ? NULL : server_name, 0))
		return tls_fail(
		    c, TLS_ERR_BR(br_ssl_engine_last_error(&c->cc.eng)));
	c->state = TLS_S_HANDSHAKE;
	return 0;
}

/* After our close_notify, a peer that just hangs up ends things cleanly. */
static int
tls_eof(struct tls_conn *c)
{
	if (c->state == TLS_S_CLOSING) {
		c->state = TLS_S_CLOSED;
		return 0;
	}
	return tls_fail(c, TLS_ERR_EOF);
}

/* Socket errors: 1 to retry (EINTR), 0 would block, or the failure. */
static int
tls_sys(struct tls_conn *c)
{
	if (errno == EINTR)
		return 1;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return 0;
	c->sys_errno = errno;
	return tls_fail(c, TLS_ERR_SYS);
}

/* Writes pending records: 1 progress, 0 nothing doable, <0 error. */
static int
tls_send_records(struct tls_conn *c)
{
	br_ssl_engine_context *eng = &c->cc.eng;
	unsigned char *buf;
	size_t len;
	ssize_t n;

	if ((buf = br_ssl_engine_sendrec_buf(eng, &len)) == NULL)
		return 0;
	n = send(c->fd, buf, len, MSG_NOSIGNAL);
	if (n < 0)
		return tls_sys(c);
	br_ssl_engine_sendrec_ack(eng, (size_t)n);
	return n > 0;
}

/* Reads records: 1 progress, 0 nothing doable, <0 error. */
static int
tls_recv_records(struct tls_conn *c)
{
	br_ssl_engine_context *eng = &c->cc.eng;
	unsigned char *buf;
	size_t len;
	ssize_t n;

	if ((buf = br_ssl_engine_recvrec_buf(eng, &len)) == NULL)
		return 0;
	n = recv(c->fd, buf, len, 0);
	if (n < 0)
		return tls_sys(c);
	if (n == 0)
		return tls_eof(c);
	br_ssl_engine_recvrec_ack(eng, (size_t)n);
	return 1;
}

/* The engine stopped: cleanly (close_notify) or with an error. */
static int
tls_engine_closed(struct tls_conn *c)
{
	int e = br_ssl_engine_last_error(&c->cc.eng);

	if (e == BR_ERR_OK) {
		c->state = TLS_S_CLOSED;
		return 0;
	}
	return tls_fail(c, TLS_ERR_BR(e));
}

int
tls_conn_pump(struct tls_conn *c)
{
	unsigned st;
	int s, r;

	if (c->state == TLS_S_IDLE)
		return TLS_ERR_STATE;
	do {
		if (c->err != 0 || c->state == TLS_S_CLOSED)
			return c->err;
		st = br_ssl_engine_current_state(&c->cc.eng);
		if (st & BR_SSL_CLOSED)
			return tls_engine_closed(c);
		if (c->state == TLS_S_HANDSHAKE &&
		    (st & (BR_SSL_SENDAPP | BR_SSL_RECVAPP)))
			c->state = TLS_S_OPEN;
		if ((s = tls_send_records(c)) < 0)
			return s;
		if ((r = tls_recv_records(c)) < 0)
			return r;
	} while (s > 0 || r > 0);
	return 0;
}

uint32_t
tls_conn_wants(const struct tls_conn *c)
{
	unsigned st;
	uint32_t w = 0;

	if (c->state == TLS_S_IDLE || c->state == TLS_S_CLOSED ||
	    c->state == TLS_S_FAILED)
		return 0;
	st = br_ssl_engine_current_state(&c->cc.eng);
	if (st & BR_SSL_CLOSED)
		return 0;
	if (st & BR_SSL_SENDREC)
		w |= TLS_WANT_WRITE;
	if (st & BR_SSL_RECVREC)
		w |= TLS_WANT_READ;
	return w;
}

ssize_t
tls_conn_read(struct tls_conn *c, void *buf, size_t len)
{
	br_ssl_engine_context *eng = &c->cc.eng;
	unsigned char *app;
	size_t alen;
	int rc;

	if (c->state == TLS_S_IDLE)
		return TLS_ERR_STATE;
	if (len == 0)
		return 0;
	if ((app = br_ssl_engine_recvapp_buf(eng, &alen)) == NULL) {
		if ((rc = tls_conn_pump(c)) < 0)
			return rc;
		app = br_ssl_engine_recvapp_buf(eng, &alen);
	}
	if (app == NULL)
		return c->state == TLS_S_CLOSED ? 0 : -EAGAIN;
	if (alen > len)
		alen = len;
	memcpy(buf, app, alen);
	br_ssl_engine_recvapp_ack(eng, alen);
	return (ssize_t)alen;
}

ssize_t
tls_conn_write(struct tls_conn *c, const void *buf, size_t len)
{
	br_ssl_engine_context *eng = &c->cc.eng;
	unsigned char *app;
	size_t alen;
	int rc;

	if (c->state == TLS_S_IDLE)
		return TLS_ERR_STATE;
	if (c->err != 0)
		return c->err;
	if (c->state == TLS_S_CLOSING || c->state == TLS_S_CLOSED)
		return TLS_ERR_CLOSED;
	if (len == 0)
		return 0;
	if ((app = br_ssl_engine_sendapp_buf(eng, &alen)) == NULL) {
		if ((rc = tls_conn_pump(c)) < 0)
			return rc;
		if ((app = br_ssl_engine_sendapp_buf(eng, &alen)) == NULL)
			return c->state == TLS_S_CLOSED ? TLS_ERR_CLOSED
			                                : -EAGAIN;
	}
	if (alen > len)
		alen = len;
	memcpy(app, buf, alen);
	br_ssl_engine_sendapp_ack(eng, alen);
	br_ssl_engine_flush(eng, 0);
	if ((rc = tls_conn_pump(c)) < 0)
		return rc;
	return (ssize_t)alen;
}

int
tls_conn_close(struct tls_conn *c)
{
	if (c->state == TLS_S_IDLE)
		return TLS_ERR_STATE;
	if (c->err != 0)
		return c->err;
	if (c->state == TLS_S_CLOSING || c->state == TLS_S_CLOSED)
		return 0;
	c->state = TLS_S_CLOSING;
	br_ssl_engine_close(&c->cc.eng);
	return tls_conn_pump(c);
}

void
tls_conn_cleanup(struct tls_conn *c)
{
	/* The I/O buffer holds plaintext; the context the session keys. */
	if (c->iobuf != NULL)
		explicit_bzero(c->iobuf, c->iolen);
	explicit_bzero(c, sizeof(*c));
	c->fd = -1;
}
