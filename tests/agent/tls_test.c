/*
 * Tests of agent/tls.c.  A test CA and server certificates are made at test
 * time with the openssl CLI (DNS SAN kube.test + IP SAN 127.0.0.1, RSA and
 * EC keys; an expired one; one from another CA; one with another name and
 * no IP), and real TLS servers run as python3 children on ephemeral
 * loopback ports.  The client side is a poll() loop over the tls_conn API.
 * Children die with the test (PR_SET_PDEATHSIG, atexit); alarm() ends a
 * hang.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/limits.h"
#include "agent/loop.h"
#include "agent/pem.h"
#include "agent/tls.h"
#include "tests/guard.h"
#include "tests/harness.h"

int main(void);

_Static_assert(TLS_WANT_READ == LOOP_READ && TLS_WANT_WRITE == LOOP_WRITE,
    "tls wants bits must match the loop's");

static char dir[] = "/tmp/podid-tls-test-XXXXXX";

static const char gen_script[] =
    "set -e\n"
    "cat > cnf <<'EOF'\n"
    "[ req ]\n"
    "distinguished_name = dn\n"
    "prompt = no\n"
    "[ dn ]\n"
    "CN = unused\n"
    "[ v3_ca ]\n"
    "basicConstraints = critical, CA:TRUE\n"
    "keyUsage = critical, keyCertSign, cRLSign\n"
    "[ srv ]\n"
    "basicConstraints = critical, CA:FALSE\n"
    "keyUsage = critical, digitalSignature, keyEncipherment\n"
    "extendedKeyUsage = serverAuth\n"
    "subjectAltName = DNS:kube.test, IP:127.0.0.1\n"
    "[ other ]\n"
    "basicConstraints = critical, CA:FALSE\n"
    "keyUsage = critical, digitalSignature, keyEncipherment\n"
    "extendedKeyUsage = serverAuth\n"
    "subjectAltName = DNS:other.test\n"
    "[ v6 ]\n"
    "basicConstraints = critical, CA:FALSE\n"
    "subjectAltName = email:a@b.test, DNS:abcd, IP:10.0.0.1, IP:::1\n"
    "[ ca ]\n"
    "default_ca = ca_default\n"
    "[ ca_default ]\n"
    "database = index.txt\n"
    "new_certs_dir = .\n"
    "serial = serial\n"
    "default_md = sha256\n"
    "policy = pol\n"
    "unique_subject = no\n"
    "[ pol ]\n"
    "commonName = supplied\n"
    "EOF\n"
    "export OPENSSL_CONF=$PWD/cnf\n"
    "exec 2>gen.log\n"
    "ec='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes'\n"
    "openssl req -x509 -config cnf -extensions v3_ca $ec -keyout ca.key "
    "-out ca.crt -subj /CN=podid-test-ca -days 30\n"
    "openssl req -x509 -config cnf -extensions v3_ca $ec -keyout ca2.key "
    "-out ca2.crt -subj /CN=podid-other-ca -days 30\n"
    "openssl req -new -config cnf -newkey rsa:2048 -nodes -keyout srv.key "
    "-out srv.csr -subj /CN=kube.test\n"
    "openssl req -new -config cnf $ec -keyout srv-ec.key -out srv-ec.csr "
    "-subj /CN=kube.test\n"
    "sign() { openssl x509 -req -in $1 -CA $2.crt -CAkey $2.key "
    "-set_serial $5 -days 30 -extfile cnf -extensions $3 -out $4; }\n"
    "sign srv.csr ca srv srv.crt 11\n"
    "sign srv-ec.csr ca srv srv-ec.crt 12\n"
    "sign srv.csr ca other other.crt 13\n"
    "sign srv.csr ca2 srv otherca.crt 14\n"
    "sign srv-ec.csr ca v6 v6.crt 15\n"
    "touch index.txt\n"
    "echo 01 > serial\n"
    "openssl ca -batch -config cnf -cert ca.crt -keyfile ca.key "
    "-in srv.csr -out expired.crt -startdate 20200101000000Z "
    "-enddate 20200102000000Z -extensions srv -notext\n"
    "for c in srv other v6 expired; do "
    "openssl x509 -in $c.crt -outform der -out $c.der; done\n";

/* The server: echo (or say "bye" and close_notify), one client at a time. */
static const char server_py[] =
    "import socket, ssl, sys\n"
    "cert, key, mode = sys.argv[1:4]\n"
    "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "ctx.load_cert_chain(cert, key)\n"
    "ls = socket.socket()\n"
    "ls.bind(('127.0.0.1', 0))\n"
    "ls.listen(8)\n"
    "print(ls.getsockname()[1], flush=True)\n"
    "while True:\n"
    "    c, _ = ls.accept()\n"
    "    try:\n"
    "        s = ctx.wrap_socket(c, server_side=True)\n"
    "        if mode == 'bye':\n"
    "            s.sendall(b'bye\\n')\n"
    "        else:\n"
    "            while True:\n"
    "                d = s.recv(65536)\n"
    "                if not d:\n"
    "                    break\n"
    "                s.sendall(d)\n"
    "        s.unwrap()\n"
    "    except (ssl.SSLError, OSError):\n"
    "        pass\n"
    "    c.close()\n";

/* ---- helpers ---- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return -1;
	return system(cmd);
}

static char *
path(const char *name)
{
	static char buf[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

/* Test code: reads a whole file into a fresh buffer. */
static unsigned char *
slurp(const char *name, size_t *len)
{
	FILE *f = fopen(path(name), "rb");
	unsigned char *buf;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0)
		exit(2);
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
		exit(2);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

#define MAX_CHILDREN 16
static pid_t children[MAX_CHILDREN];

static void
reap(pid_t pid)
{
	int i;

	for (i = 0; i < MAX_CHILDREN; i++) {
		if (children[i] != pid || pid == 0)
			continue;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		children[i] = 0;
	}
}

static void
cleanup(void)
{
	int i;

	for (i = 0; i < MAX_CHILDREN; i++)
		reap(children[i]);
	sh("rm -rf '%s'", dir);
}

/* Starts the python server on cert/key; returns its port (pid in *pid). */
static int
server_start(const char *cert, const char *key, const char *mode, pid_t *pid)
{
	struct pollfd pfd;
	char line[32] = "";
	size_t len = 0;
	int p[2], i;
	ssize_t n;

	if (pipe(p) == -1 || (*pid = fork()) == -1)
		exit(2);
	if (*pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(p[1], 1);
		close(p[0]);
		execlp("python3", "python3", "-c", server_py, path(cert),
		    path(key), mode, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < MAX_CHILDREN && children[i] != 0; i++)
		;
	if (i < MAX_CHILDREN)
		children[i] = *pid;
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	/* The port line may come in pieces. */
	while (len < sizeof(line) - 1 && strchr(line, '\n') == NULL &&
	    poll(&pfd, 1, 20000) == 1 &&
	    (n = read(p[0], line + len, sizeof(line) - 1 - len)) > 0)
		len += (size_t)n;
	close(p[0]);
	if (strchr(line, '\n') == NULL || atoi(line) <= 0) {
		fprintf(stderr, "python3 tls server did not start\n");
		exit(2);
	}
	return atoi(line);
}

static int
tcp_connect(int port)
{
	struct sockaddr_in sin;
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		exit(2);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 &&
	    errno != EINPROGRESS)
		exit(2);
	return fd;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* What one client exchange sends and got back. */
struct xfer {
	const unsigned char *out;
	size_t out_len, sent;
	unsigned char *in;
	size_t in_cap, in_len;
	bool eof; /* tls_conn_read returned 0 */
};

/* Writes and reads as far as possible; 0 or a tls error. */
static int
xfer_step(struct tls_conn *c, struct xfer *x)
{
	ssize_t n;

	while (x->sent < x->out_len) {
		n = tls_conn_write(c, x->out + x->sent, x->out_len - x->sent);
		if (n == -EAGAIN)
			break;
		if (n < 0)
			return (int)n;
		x->sent += (size_t)n;
	}
	while (x->in_len < x->in_cap && !x->eof) {
		n = tls_conn_read(c, x->in + x->in_len, x->in_cap - x->in_len);
		if (n == -EAGAIN)
			break;
		if (n < 0)
			return (int)n;
		if (n == 0)
			x->eof = true;
		x->in_len += (size_t)n;
	}
	return 0;
}

/*
 * Drives c with poll() until done: the handshake over, everything sent and
 * in_cap bytes (or the end) received; or closed.  Returns 0, the tls
 * error, or -ETIMEDOUT after 20 s.
 */
static int
drive(struct tls_conn *c, struct xfer *x)
{
	uint64_t deadline = now_ms() + 20000;
	struct pollfd pfd;
	uint32_t w;
	int rc;

	for (;;) {
		if ((rc = tls_conn_pump(c)) < 0)
			return rc;
		if (c->state != TLS_S_HANDSHAKE && (rc = xfer_step(c, x)) < 0)
			return rc;
		if (c->state == TLS_S_CLOSED)
			return 0;
		if (c->state == TLS_S_OPEN && x->sent == x->out_len &&
		    (x->in_len == x->in_cap || x->eof))
			return 0;
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		w = tls_conn_wants(c);
		pfd.fd = c->fd;
		pfd.events = (short)(((w & TLS_WANT_READ) ? POLLIN : 0) |
		    ((w & TLS_WANT_WRITE) ? POLLOUT : 0));
		poll(&pfd, 1, 100);
	}
}

/* Closes cleanly: close_notify both ways; returns the final state. */
static int
close_cleanly(struct tls_conn *c)
{
	uint64_t deadline = now_ms() + 20000;
	struct pollfd pfd;
	uint32_t w;

	if (tls_conn_close(c) < 0)
		return -1;
	while ((w = tls_conn_wants(c)) != 0 && now_ms() < deadline) {
		pfd.fd = c->fd;
		pfd.events = (short)(((w & TLS_WANT_READ) ? POLLIN : 0) |
		    ((w & TLS_WANT_WRITE) ? POLLOUT : 0));
		poll(&pfd, 1, 100);
		if (tls_conn_pump(c) < 0)
			return -1;
	}
	return (int)c->state;
}

static struct pem_anchors anchors, anchors2;
static unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
static struct tls_conn conn;

/* One connection to port as name: handshake, then exchange x. */
static int
connect_as(int port, const char *name, struct xfer *x)
{
	struct xfer none = {0};
	int rc;

	check_int(tls_conn_init(&conn, &anchors, iobuf, sizeof(iobuf)), 0);
	check_int(tls_conn_start(&conn, tcp_connect(port), name), 0);
	rc = drive(&conn, x ? x : &none);
	return rc;
}

static void
disconnect(void)
{
	if (conn.fd >= 0)
		close(conn.fd);
	conn.fd = -1;
}

/* ---- tests against real servers ---- */

static int port_rsa, port_ec, port_other, port_otherca, port_expired, port_bye;
static pid_t pid_rsa, pid_ec, pid_other, pid_otherca, pid_expired, pid_bye;

static void
t_echo_dns(void)
{
	static unsigned char big[200000], back[200000];
	unsigned char buf[64];
	struct xfer x = {
	    (const unsigned char *)"hello, podid\n", 13, 0, buf, 13, 0, false};
	size_t i;

	check_int(connect_as(port_rsa, "kube.test", &x), 0);
	check_int(conn.state, TLS_S_OPEN);
	check_int(x.in_len, 13);
	check(memcmp(buf, "hello, podid\n", 13) == 0);
	/* Many records, partial writes, reads while writing. */
	srand(7);
	for (i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)rand();
	x = (struct xfer){big, sizeof(big), 0, back, sizeof(back), 0, false};
	check_int(drive(&conn, &x), 0);
	check_int(x.in_len, sizeof(big));
	check(memcmp(back, big, sizeof(big)) == 0);
	/* Idle and open: the engine waits for records. */
	check_int(tls_conn_wants(&conn), TLS_WANT_READ);
	check_int(close_cleanly(&conn), TLS_S_CLOSED);
	check_int(conn.err, 0);
	check_int(tls_conn_write(&conn, "x", 1), TLS_ERR_CLOSED);
	check_int(tls_conn_read(&conn, buf, sizeof(buf)), 0);
	disconnect();
}

static void
t_echo_ec(void)
{
	unsigned char buf[8];
	struct xfer x = {(const unsigned char *)"ec!", 3, 0, buf, 3, 0, false};

	check_int(connect_as(port_ec, "kube.test", &x), 0);
	check(memcmp(buf, "ec!", 3) == 0);
	check_int(close_cleanly(&conn), TLS_S_CLOSED);
	disconnect();
}

static void
t_ip_san(void)
{
	unsigned char buf[8];
	struct xfer x = {(const unsigned char *)"ip", 2, 0, buf, 2, 0, false};

	check_int(connect_as(port_rsa, "127.0.0.1", &x), 0);
	check(memcmp(buf, "ip", 2) == 0);
	check(conn.x509.ip_mode);
	disconnect();
	/* The certificate has 127.0.0.1, not .2 */
	check_int(connect_as(port_rsa, "127.0.0.2", NULL),
	    TLS_ERR_BR(BR_ERR_X509_BAD_SERVER_NAME));
	disconnect();
	/* A certificate without any IP SAN. */
	check_int(connect_as(port_other, "127.0.0.1", NULL),
	    TLS_ERR_BR(BR_ERR_X509_BAD_SERVER_NAME));
	check_str(tls_strerror(conn.err), "BR_ERR_X509_BAD_SERVER_NAME");
	check_int(conn.state, TLS_S_FAILED);
	check_int(tls_conn_wants(&conn), 0);
	disconnect();
}

static void
t_wrong_name(void)
{
	check_int(connect_as(port_rsa, "wrong.test", NULL),
	    TLS_ERR_BR(BR_ERR_X509_BAD_SERVER_NAME));
	disconnect();
	check_int(connect_as(port_other, "kube.test", NULL),
	    TLS_ERR_BR(BR_ERR_X509_BAD_SERVER_NAME));
	disconnect();
	check_int(connect_as(port_other, "other.test", NULL), 0);
	disconnect();
}

static void
t_wrong_ca(void)
{
	int rc = connect_as(port_otherca, "kube.test", NULL);

	check_int(rc, TLS_ERR_BR(BR_ERR_X509_NOT_TRUSTED));
	check_str(tls_strerror(rc), "BR_ERR_X509_NOT_TRUSTED");
	/* Sticky: every call says the same. */
	check_int(tls_conn_pump(&conn), rc);
	check_int(tls_conn_write(&conn, "x", 1), rc);
	check_int(tls_conn_close(&conn), rc);
	disconnect();
	/* Trusting the other CA makes it fine. */
	check_int(tls_conn_init(&conn, &anchors2, iobuf, sizeof(iobuf)), 0);
	check_int(
	    tls_conn_start(&conn, tcp_connect(port_otherca), "kube.test"), 0);
	{
		struct xfer none = {0};

		check_int(drive(&conn, &none), 0);
	}
	disconnect();
}

static void
t_expired(void)
{
	int rc = connect_as(port_expired, "kube.test", NULL);

	check_int(rc, TLS_ERR_BR(BR_ERR_X509_EXPIRED));
	check_str(tls_strerror(rc), "BR_ERR_X509_EXPIRED");
	disconnect();
}

/* The server says "bye" and sends close_notify: data, then a clean end. */
static void
t_peer_close_notify(void)
{
	unsigned char buf[16];
	struct xfer x = {NULL, 0, 0, buf, sizeof(buf), 0, false};

	check_int(connect_as(port_bye, "kube.test", &x), 0);
	check_int(x.in_len, 4);
	check(memcmp(buf, "bye\n", 4) == 0);
	check(x.eof || conn.state == TLS_S_CLOSED);
	check_int(conn.state, TLS_S_CLOSED);
	check_int(conn.err, 0);
	check_int(tls_conn_read(&conn, buf, sizeof(buf)), 0);
	disconnect();
}

/* One slot, reused: a failure, then a success, then a failure again. */
static void
t_slot_reuse(void)
{
	struct xfer none = {0};

	check_int(tls_conn_init(&conn, &anchors, iobuf, sizeof(iobuf)), 0);
	check_int(
	    tls_conn_start(&conn, tcp_connect(port_otherca), "kube.test"), 0);
	check_int(drive(&conn, &none), TLS_ERR_BR(BR_ERR_X509_NOT_TRUSTED));
	disconnect();
	check_int(tls_conn_start(&conn, tcp_connect(port_rsa), "kube.test"), 0);
	check_int(conn.err, 0);
	check_int(drive(&conn, &none), 0);
	disconnect();
	check_int(
	    tls_conn_start(&conn, tcp_connect(port_expired), "kube.test"), 0);
	check_int(drive(&conn, &none), TLS_ERR_BR(BR_ERR_X509_EXPIRED));
	disconnect();
}

/* ---- tests against an in-process peer ---- */

static int
listen_any(int *port)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 4) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == -1)
		exit(2);
	*port = ntohs(sin.sin_port);
	return fd;
}

/*
 * Connects, lets the ClientHello reach a raw server socket, reads it, then
 * has the server write reply (may be empty) and close.  Returns the error
 * the client ends with.
 */
static int
raw_peer(const char *reply)
{
	struct xfer none = {0};
	struct pollfd pfd;
	char hello[8192];
	int lfd, sfd, port, rc;
	ssize_t n = 0;

	lfd = listen_any(&port);
	check_int(tls_conn_init(&conn, &anchors, iobuf, sizeof(iobuf)), 0);
	check_int(tls_conn_start(&conn, tcp_connect(port), "kube.test"), 0);
	/* The ClientHello waits; room for records too (bidi buffer). */
	check(tls_conn_wants(&conn) & TLS_WANT_WRITE);
	if ((sfd = accept(lfd, NULL, NULL)) == -1)
		exit(2);
	pfd.fd = sfd;
	pfd.events = POLLIN;
	/* Pump until the hello is out, then read all of it. */
	while (n <= 0 && tls_conn_pump(&conn) == 0)
		if (poll(&pfd, 1, 100) == 1)
			n = read(sfd, hello, sizeof(hello));
	check(n > 5);
	check(hello[0] == 22); /* a handshake record */
	check_int(conn.state, TLS_S_HANDSHAKE);
	if (strlen(reply) > 0)
		check_int(
		    write(sfd, reply, strlen(reply)), (ssize_t)strlen(reply));
	close(sfd);
	close(lfd);
	rc = drive(&conn, &none);
	disconnect();
	return rc;
}

static void
t_close_mid_handshake(void)
{
	int rc = raw_peer("");

	check_int(rc, TLS_ERR_EOF);
	check_int(conn.state, TLS_S_FAILED);
	check_str(tls_strerror(rc),
	    "peer closed the connection without close_notify");
	/* Not TLS at all: an HTTP answer. */
	check_int(raw_peer("HTTP/1.1 400 Bad Request\r\n\r\n"),
	    TLS_ERR_BR(BR_ERR_UNSUPPORTED_VERSION));
}

static void
t_refused(void)
{
	struct xfer none = {0};
	int lfd, port;

	lfd = listen_any(&port);
	close(lfd); /* nobody listens there now */
	check_int(tls_conn_init(&conn, &anchors, iobuf, sizeof(iobuf)), 0);
	check_int(tls_conn_start(&conn, tcp_connect(port), "kube.test"), 0);
	check_int(drive(&conn, &none), TLS_ERR_SYS);
	check_int(conn.sys_errno, ECONNREFUSED);
	check_str(tls_strerror(TLS_ERR_SYS), "socket error");
	disconnect();
}

/* ---- tests without a peer ---- */

static void
t_api_states(void)
{
	static unsigned char small[BR_SSL_BUFSIZE_BIDI - 1];
	struct pem_anchors none;
	char buf[4];

	memset(&none, 0, sizeof(none));
	check_int(tls_conn_init(&conn, &anchors, small, sizeof(small)),
	    TLS_ERR_BUFSIZE);
	check_int(tls_conn_init(&conn, &anchors, NULL, 0), TLS_ERR_BUFSIZE);
	check_int(
	    tls_conn_init(&conn, &none, iobuf, sizeof(iobuf)), TLS_ERR_ANCHORS);
	check_int(
	    tls_conn_init(&conn, NULL, iobuf, sizeof(iobuf)), TLS_ERR_ANCHORS);
	check_int(tls_conn_start(&conn, 0, "kube.test"), TLS_ERR_STATE);
	check_int(tls_conn_init(&conn, &anchors, iobuf, sizeof(iobuf)), 0);
	check_int(conn.state, TLS_S_IDLE);
	check_int(tls_conn_pump(&conn), TLS_ERR_STATE);
	check_int(tls_conn_read(&conn, buf, 4), TLS_ERR_STATE);
	check_int(tls_conn_write(&conn, buf, 4), TLS_ERR_STATE);
	check_int(tls_conn_close(&conn), TLS_ERR_STATE);
	check_int(tls_conn_wants(&conn), 0);
}

/* LIM_TLS_SERVER_NAME_BYTES at N and N+1, and other bad names. */
static void
t_lim_server_name(void)
{
	char name[LIM_TLS_SERVER_NAME_BYTES + 2];
	size_t i;

	for (i = 0; i < sizeof(name) - 1; i++)
		name[i] = (i % 64 == 63) ? '.' : 'a';
	name[LIM_TLS_SERVER_NAME_BYTES] = '\0';
	check_int(tls_conn_init(&conn, &anchors, iobuf, sizeof(iobuf)), 0);
	check_int(tls_conn_start(&conn, -1, name), 0);
	check_int(conn.state, TLS_S_HANDSHAKE);
	name[LIM_TLS_SERVER_NAME_BYTES] = 'a';
	name[LIM_TLS_SERVER_NAME_BYTES + 1] = '\0';
	check_int(tls_conn_start(&conn, -1, name), TLS_ERR_NAME);
	check_int(tls_conn_start(&conn, -1, ""), TLS_ERR_NAME);
	check_int(tls_conn_start(&conn, -1, NULL), TLS_ERR_NAME);
	/* IP literals switch to IP mode, names do not. */
	check_int(tls_conn_start(&conn, -1, "[::1]"), 0);
	check(conn.x509.ip_mode && conn.x509.ip_len == 16);
	check_int(tls_conn_start(&conn, -1, "10.0.0.1"), 0);
	check(conn.x509.ip_mode && conn.x509.ip_len == 4);
	check_int(tls_conn_start(&conn, -1, "10.0.0.1.example"), 0);
	check(!conn.x509.ip_mode);
}

/* Feeds der through the connection's X.509 engine as a one-cert chain. */
static unsigned
x509_verdict(
    const char *name, const unsigned char *der, size_t len, uint32_t announced)
{
	const br_x509_class **x = &conn.x509.vtable;

	check_int(tls_conn_init(&conn, &anchors, iobuf, sizeof(iobuf)), 0);
	check_int(tls_conn_start(&conn, -1, name), 0);
	(*x)->start_chain(x, conn.x509.ip_mode ? NULL : name);
	(*x)->start_cert(x, announced);
	(*x)->append(x, der, len);
	(*x)->end_cert(x);
	return (*x)->end_chain(x);
}

static void
t_x509_wrapper(void)
{
	size_t l1, l2, l3;
	unsigned char *srv = slurp("srv.der", &l1),
	              *other = slurp("other.der", &l2);
	unsigned char *exp = slurp("expired.der", &l3);

	check_int(x509_verdict("kube.test", srv, l1, (uint32_t)l1), 0);
	check_int(x509_verdict("127.0.0.1", srv, l1, (uint32_t)l1), 0);
	check_int(x509_verdict("127.0.0.2", srv, l1, (uint32_t)l1),
	    BR_ERR_X509_BAD_SERVER_NAME);
	check_int(x509_verdict("::1", srv, l1, (uint32_t)l1),
	    BR_ERR_X509_BAD_SERVER_NAME);
	check_int(x509_verdict("127.0.0.1", other, l2, (uint32_t)l2),
	    BR_ERR_X509_BAD_SERVER_NAME);
	/* BearSSL's verdict comes first. */
	check_int(x509_verdict("127.0.0.1", exp, l3, (uint32_t)l3),
	    BR_ERR_X509_EXPIRED);
	free(srv);
	free(other);
	free(exp);
}

/* LIM_TLS_PEER_CERT_BYTES at N and N+1: the leaf kept for the IP check. */
static void
t_lim_peer_cert(void)
{
	static unsigned char junk[LIM_TLS_PEER_CERT_BYTES + 1];
	unsigned v;

	/* N bytes are kept (BearSSL then rejects the junk itself). */
	v = x509_verdict("127.0.0.1", junk, LIM_TLS_PEER_CERT_BYTES,
	    LIM_TLS_PEER_CERT_BYTES);
	check(v != 0 && v != BR_ERR_X509_LIMIT_EXCEEDED);
	check(!conn.x509.ee_over);
	check_int(conn.x509.ee_len, LIM_TLS_PEER_CERT_BYTES);
	/* N+1 announced, or N announced and N+1 sent: refused. */
	check_int(x509_verdict("127.0.0.1", junk, LIM_TLS_PEER_CERT_BYTES + 1,
	              LIM_TLS_PEER_CERT_BYTES + 1),
	    BR_ERR_X509_LIMIT_EXCEEDED);
	check_int(x509_verdict("127.0.0.1", junk, LIM_TLS_PEER_CERT_BYTES + 1,
	              LIM_TLS_PEER_CERT_BYTES),
	    BR_ERR_X509_LIMIT_EXCEEDED);
	/* Names are checked by BearSSL, which needs no copy. */
	v = x509_verdict("kube.test", junk, LIM_TLS_PEER_CERT_BYTES + 1,
	    LIM_TLS_PEER_CERT_BYTES + 1);
	check(v != BR_ERR_X509_LIMIT_EXCEEDED);
}

static void
t_cert_has_ip(void)
{
	static const unsigned char lo[4] = {127, 0, 0, 1},
	                           lo2[4] = {127, 0, 0, 2},
	                           ten[4] = {10, 0, 0, 1}, v6[16] = {[15] = 1};
	size_t l1, l2, cut, hits = 0;
	unsigned char *srv = slurp("srv.der", &l1), *v6c = slurp("v6.der", &l2);
	const unsigned char *g = guard_copy(srv, l1);

	check(tls_cert_has_ip(g, l1, lo, 4));
	check(!tls_cert_has_ip(g, l1, lo2, 4));
	check(!tls_cert_has_ip(g, l1, v6, 16));
	check(!tls_cert_has_ip(g, l1, lo, 3));
	/* Truncated anywhere: no match, no over-read. */
	for (cut = 0; cut < l1; cut++)
		hits += tls_cert_has_ip(g + l1 - cut, cut, lo, 4);
	check_int(hits, 0);
	/* After an email and a DNS name, two IPs of both families. */
	check(tls_cert_has_ip(v6c, l2, v6, 16));
	check(tls_cert_has_ip(v6c, l2, ten, 4));
	check(!tls_cert_has_ip(v6c, l2, lo, 4));
	/* Four bytes of a DNS name are not an IP. */
	check(!tls_cert_has_ip(v6c, l2, (const unsigned char *)"abcd", 4));
	check(memmem(v6c, l2, "abcd", 4) != NULL);
	check(!tls_cert_has_ip(NULL, 0, lo, 4));
	free(srv);
	free(v6c);
}

static void
t_strerror(void)
{
	static const int codes[] = {BR_ERR_BAD_PARAM, BR_ERR_BAD_MAC, BR_ERR_IO,
	    BR_ERR_X509_INVALID_VALUE, BR_ERR_X509_NOT_TRUSTED,
	    BR_ERR_X509_WEAK_PUBLIC_KEY};
	size_t i;
	int e, named = 0;

	for (i = 0; i < sizeof(codes) / sizeof(*codes); i++)
		check(strncmp(tls_strerror(TLS_ERR_BR(codes[i])), "BR_ERR_",
		          7) == 0);
	/* Every code BearSSL defines below 64 has a name. */
	for (e = 0; e < 64; e++)
		named +=
		    strncmp(tls_strerror(TLS_ERR_BR(e)), "BR_ERR_", 7) == 0;
	check_int(named, 60); /* 11, 30, 61 and 63 are unassigned */
	check_str(tls_strerror(TLS_ERR_BR(BR_ERR_X509_EXPIRED)),
	    "BR_ERR_X509_EXPIRED");
	check_str(tls_strerror(TLS_ERR_BR(BR_ERR_RECV_FATAL_ALERT + 40)),
	    "BR_ERR_RECV_FATAL_ALERT(handshake_failure)");
	check_str(tls_strerror(TLS_ERR_BR(BR_ERR_SEND_FATAL_ALERT + 42)),
	    "BR_ERR_SEND_FATAL_ALERT(bad_certificate)");
	check_str(tls_strerror(TLS_ERR_BR(BR_ERR_RECV_FATAL_ALERT + 255)),
	    "BR_ERR_RECV_FATAL_ALERT(unknown)");
	check_str(tls_strerror(-EAGAIN), "EAGAIN");
	check_str(tls_strerror(TLS_ERR_EOF),
	    "peer closed the connection without close_notify");
	check_str(tls_strerror(TLS_ERR_BR(11)), "unknown tls error");
	check_str(tls_strerror(-1), "unknown tls error");
	check_str(tls_strerror(TLS_ERR_BR(5000)), "unknown tls error");
	check_str(tls_strerror(7), "unknown tls error");
}

static void
t_cleanup_wipes(void)
{
	size_t i, nz = 0;

	check_int(tls_conn_init(&conn, &anchors, iobuf, sizeof(iobuf)), 0);
	memset(iobuf, 0xa5, sizeof(iobuf));
	tls_conn_cleanup(&conn);
	for (i = 0; i < sizeof(iobuf); i++)
		nz += iobuf[i] != 0;
	check_int(nz, 0);
	check_int(conn.fd, -1);
	check_int(conn.state, TLS_S_IDLE);
}

int
main(void)
{
	alarm(120);
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(dir) == NULL)
		return 2;
	atexit(cleanup);
	if (sh("cd '%s' && cat > gen.sh <<'PODIDEOF'\n%sPODIDEOF\nsh gen.sh",
	        dir, gen_script) != 0) {
		sh("cat '%s/gen.log' >&2", dir);
		fprintf(stderr, "openssl could not make the test material\n");
		return 2;
	}
	if (pem_anchors_load(&anchors, path("ca.crt")) != 1 ||
	    pem_anchors_load(&anchors2, path("ca2.crt")) != 1)
		return 2;
	port_rsa = server_start("srv.crt", "srv.key", "echo", &pid_rsa);
	port_ec = server_start("srv-ec.crt", "srv-ec.key", "echo", &pid_ec);
	port_other = server_start("other.crt", "srv.key", "echo", &pid_other);
	port_otherca =
	    server_start("otherca.crt", "srv.key", "echo", &pid_otherca);
	port_expired =
	    server_start("expired.crt", "srv.key", "echo", &pid_expired);
	port_bye = server_start("srv.crt", "srv.key", "bye", &pid_bye);

	test(t_echo_dns, "dns name: handshake, echo both ways, clean close");
	test(t_echo_ec, "ecdsa server certificate");
	test(t_ip_san, "ip literal: san ip ok, wrong ip and no ip refused");
	test(t_wrong_name, "wrong dns name refused");
	test(t_wrong_ca, "other ca: not trusted, sticky");
	test(t_expired, "expired certificate");
	test(t_peer_close_notify, "peer close_notify: data then clean end");
	test(t_slot_reuse, "slot reused after failures");
	test(t_close_mid_handshake, "peer closes mid-handshake, or not tls");
	test(t_refused, "connection refused");
	test(t_api_states, "init errors and calls before start");
	test(t_lim_server_name, "LIM_TLS_SERVER_NAME_BYTES at N and N+1");
	test(t_x509_wrapper, "x509 wrapper verdicts");
	test(t_lim_peer_cert, "LIM_TLS_PEER_CERT_BYTES at N and N+1");
	test(t_cert_has_ip, "tls_cert_has_ip on real and truncated der");
	test(t_strerror, "strerror names");
	test(t_cleanup_wipes, "cleanup wipes the i/o buffer");

	reap(pid_rsa);
	reap(pid_ec);
	reap(pid_other);
	reap(pid_otherca);
	reap(pid_expired);
	reap(pid_bye);
	pem_anchors_free(&anchors);
	pem_anchors_free(&anchors2);
	return harness_done();
}
