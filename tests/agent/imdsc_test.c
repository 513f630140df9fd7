/*
 * agent/imdsc.c: the response decoders on vectors (every field, strings
 * and numbers, missing and mistyped members, limits at N and N+1, every
 * prefix, inputs against a PROT_NONE page), request targets and endpoint
 * URLs; then the client end to end, through the real token cache, against
 * a small HTTP server run on the test's own loop over loopback: the exact
 * request, retries on 5xx/429 honouring Retry-After, no retry on 400,
 * giving up after the attempts or the budget, concurrency and rate never
 * above IMDS's limits with 50 fetches, the queue at N and N+1, keep-alive
 * and a stale kept-alive connection, timeouts, refused connections,
 * unusable answers and cancels.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/imdsc.h"
#include "agent/limits.h"
#include "agent/loop.h"
#include "agent/tokcache.h"
#include "tests/guard.h"
#include "tests/harness.h"

int main(void);

#define CID "a1b2c3d4-0000-4000-8000-000000000001"
#define RID                                                                    \
	"/subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590/resourceGroups/"  \
	"rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uami"
#define NOW 1700000000

static struct tok_token tok;

static int
dec(const char *s)
{
	return imdsc_decode(guard_copy(s, strlen(s)), strlen(s), NOW, &tok);
}

/* ---- decoders ---------------------------------------------------------- */

static void
t_decode_imds_shape(void)
{
	/* The IMDS sample response: every field a string. */
	const char *s =
	    "{\"access_token\":\"eyJ0eXAi.eyJhdWQi.c2ln\","
	    "\"refresh_token\":\"\",\"expires_in\":\"3599\","
	    "\"expires_on\":\"1506484173\",\"ext_expires_in\":\"3599\","
	    "\"not_before\":\"1506480273\","
	    "\"resource\":\"https://management.azure.com/\","
	    "\"token_type\":\"Bearer\",\"client_id\":\"" CID "\"}";

	check_int(dec(s), 0);
	check_str(tok.access_token, "eyJ0eXAi.eyJhdWQi.c2ln");
	check_int(tok.access_len, 22);
	check_int(tok.expires_on, 1506484173);
	check_int(tok.not_before, 1506480273);
	check_int(tok.issued_at, NOW);
	check_str(tok.resource, "https://management.azure.com/");
	check_str(tok.token_type, "Bearer");
	check_str(tok.client_id, CID);
}

static void
t_decode_forms(void)
{
	/* Numbers instead of strings. */
	check_int(dec("{\"access_token\":\"t\",\"expires_on\":1506484173,"
	              "\"not_before\":1506480273,\"expires_in\":3599}"),
	    0);
	check_int(tok.expires_on, 1506484173);
	check_int(tok.not_before, 1506480273);
	/* expires_in alone: now + n, as a number or a string. */
	check_int(dec("{\"access_token\":\"t\",\"expires_in\":3599}"), 0);
	check_int(tok.expires_on, NOW + 3599);
	check_int(dec("{\"access_token\":\"t\",\"expires_in\":\"60\"}"), 0);
	check_int(tok.expires_on, NOW + 60);
	/* Both: expires_on wins. */
	check_int(dec("{\"expires_in\":\"5\",\"access_token\":\"t\","
	              "\"expires_on\":\"1800000000\"}"),
	    0);
	check_int(tok.expires_on, 1800000000);
	/* Defaults: not_before now, token_type Bearer, others empty. */
	check_int(tok.not_before, NOW);
	check_str(tok.token_type, "Bearer");
	check_str(tok.resource, "");
	check_str(tok.client_id, "");
	/* Unknown members of any type are ignored, also twice. */
	check_int(dec("{\"access_token\":\"t\",\"expires_on\":1,\"x\":[1,{}],"
	              "\"x\":null,\"object_id\":\"o\"}"),
	    0);
	/* Escapes decode; a decoded "/" is a fine token character. */
	check_int(dec("{\"access_token\":\"a\\/b\\u0041\",\"expires_on\":1,"
	              "\"resource\":\"https:\\/\\/vault.azure.net\"}"),
	    0);
	check_str(tok.access_token, "a/bA");
	check_str(tok.resource, "https://vault.azure.net");
	check_int(dec(" {\"access_token\":\"t\",\"expires_on\":\"0\"} \n"), 0);
	check_int(tok.expires_on, 0);
	check_int(dec("{\"access_token\":\"t\",\"expires_on\":"
	              "\"999999999999999999\"}"),
	    0);
	check_int(tok.expires_on, 999999999999999999);
}

static void
t_decode_errors(void)
{
	static const struct {
		const char *in;
		int err;
	} v[] = {
	    {"", IMDSC_E_JSON},
	    {"[]", IMDSC_E_JSON},
	    {"\"x\"", IMDSC_E_JSON},
	    {"{\"access_token\":\"t\"", IMDSC_E_JSON},
	    {"{\"access_token\":\"t\",\"expires_on\":1} x", IMDSC_E_JSON},
	    {"{\"access_token\":\"t\",\"expires_on\":1,}", IMDSC_E_JSON},
	    {"{\"expires_on\":1}", IMDSC_E_NOTOKEN},
	    {"{\"access_token\":\"t\"}", IMDSC_E_NOEXPIRY},
	    {"{\"access_token\":\"t\",\"not_before\":1}", IMDSC_E_NOEXPIRY},
	    {"{\"access_token\":\"\",\"expires_on\":1}", IMDSC_E_VALUE},
	    {"{\"access_token\":\"a b\",\"expires_on\":1}", IMDSC_E_VALUE},
	    {"{\"access_token\":\"a\\\"b\",\"expires_on\":1}", IMDSC_E_VALUE},
	    {"{\"access_token\":\"a\\\\b\",\"expires_on\":1}", IMDSC_E_VALUE},
	    {"{\"access_token\":\"\\u00e9\",\"expires_on\":1}", IMDSC_E_VALUE},
	    {"{\"access_token\":\"a\\u0000\",\"expires_on\":1}", IMDSC_E_VALUE},
	    {"{\"access_token\":1,\"expires_on\":1}", IMDSC_E_TYPE},
	    {"{\"access_token\":null,\"expires_on\":1}", IMDSC_E_TYPE},
	    {"{\"access_token\":\"t\",\"access_token\":\"u\","
	     "\"expires_on\":1}",
	        IMDSC_E_DUP},
	    {"{\"access_token\":\"t\",\"expires_on\":1,\"expires_on\":2}",
	        IMDSC_E_DUP},
	    {"{\"access_token\":\"t\",\"expires_on\":\"abc\"}", IMDSC_E_NUMBER},
	    {"{\"access_token\":\"t\",\"expires_on\":\"\"}", IMDSC_E_NUMBER},
	    {"{\"access_token\":\"t\",\"expires_on\":\"-1\"}", IMDSC_E_NUMBER},
	    {"{\"access_token\":\"t\",\"expires_on\":\"+1\"}", IMDSC_E_NUMBER},
	    {"{\"access_token\":\"t\",\"expires_on\":\" 1\"}", IMDSC_E_NUMBER},
	    {"{\"access_token\":\"t\",\"expires_on\":\"1.5\"}", IMDSC_E_NUMBER},
	    {"{\"access_token\":\"t\",\"expires_on\":\"\\u0031\"}",
	        IMDSC_E_NUMBER},
	    {"{\"access_token\":\"t\",\"expires_on\":"
	     "\"1000000000000000000\"}",
	        IMDSC_E_NUMBER},
	    {"{\"access_token\":\"t\",\"expires_on\":-1}", IMDSC_E_NUMBER},
	    {"{\"access_token\":\"t\",\"expires_on\":1.5}", IMDSC_E_NUMBER},
	    {"{\"access_token\":\"t\",\"expires_on\":1e3}", IMDSC_E_NUMBER},
	    {"{\"access_token\":\"t\",\"expires_on\":"
	     "99999999999999999999}",
	        IMDSC_E_NUMBER},
	    {"{\"access_token\":\"t\",\"expires_in\":9223372036854775807}",
	        IMDSC_E_NUMBER},
	    {"{\"access_token\":\"t\",\"expires_on\":true}", IMDSC_E_TYPE},
	    {"{\"access_token\":\"t\",\"expires_on\":null}", IMDSC_E_TYPE},
	    {"{\"access_token\":\"t\",\"expires_on\":{}}", IMDSC_E_TYPE},
	    {"{\"access_token\":\"t\",\"expires_on\":1,\"expires_in\":[]}",
	        IMDSC_E_TYPE},
	    {"{\"access_token\":\"t\",\"expires_on\":1,\"not_before\":\"x\"}",
	        IMDSC_E_NUMBER},
	    {"{\"access_token\":\"t\",\"expires_on\":1,\"resource\":1}",
	        IMDSC_E_TYPE},
	    {"{\"access_token\":\"t\",\"expires_on\":1,\"resource\":\"a\\nb\"}",
	        IMDSC_E_VALUE},
	    {"{\"access_token\":\"t\",\"expires_on\":1,\"client_id\":null}",
	        IMDSC_E_TYPE},
	    {"{\"access_token\":\"t\",\"expires_on\":1,\"token_type\":\"\"}",
	        IMDSC_E_VALUE},
	    {"{\"access_token\":\"t\",\"expires_on\":1,"
	     "\"token_type\":\"BearerBearerBearer\"}",
	        IMDSC_E_TOOLONG},
	    {"{\"access_token\":\"t\",\"expires_on\":1,\"client_id\":\""
	     "0123456789012345678901234567890123456789\"}",
	        IMDSC_E_TOOLONG},
	};
	size_t i;
	int rc;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		memset(&tok, 0xa5, sizeof(tok));
		rc = dec(v[i].in);
		if (rc != v[i].err)
			fprintf(stderr, "vector %zu: %s: got %d (%s)\n", i,
			    v[i].in, rc, imdsc_strerror(rc));
		check_int(rc, v[i].err);
		check(tok.access_len == 0 && tok.access_token[0] == '\0');
	}
}

/* {"access_token":"<n x 'a'>","expires_on":1,"resource":"<m x 'r'>"} */
static int
dec_sized(size_t n, size_t m)
{
	static char buf[2 * LIM_TOK_TOKEN_BYTES];
	char *p = buf;

	p += sprintf(p, "{\"access_token\":\"");
	memset(p, 'a', n);
	p += n;
	p += sprintf(p, "\",\"expires_on\":1,\"resource\":\"");
	memset(p, 'r', m);
	p += m;
	p += sprintf(p, "\"}");
	return imdsc_decode(
	    guard_copy(buf, (size_t)(p - buf)), (size_t)(p - buf), NOW, &tok);
}

static void
t_decode_limits(void)
{
	static char buf[4096];
	char *p;
	int i;

	check_int(dec_sized(LIM_TOK_TOKEN_BYTES, 1), 0);
	check_int(tok.access_len, LIM_TOK_TOKEN_BYTES);
	check_int(strlen(tok.access_token), LIM_TOK_TOKEN_BYTES);
	check_int(dec_sized(LIM_TOK_TOKEN_BYTES + 1, 1), IMDSC_E_TOOLONG);
	check_int(dec_sized(1, LIM_TOK_RESOURCE_BYTES), 0);
	check_int(strlen(tok.resource), LIM_TOK_RESOURCE_BYTES);
	check_int(dec_sized(1, LIM_TOK_RESOURCE_BYTES + 1), IMDSC_E_TOOLONG);
	/* JSON tokens: 1 object + 2 per member + array elements. */
	for (i = 0; i < 2; i++) {
		p = buf +
		    sprintf(buf,
		        "{\"access_token\":\"t\","
		        "\"expires_on\":1,\"x\":[1%s]",
		        i ? ",2" : "");
		for (int m = 3; m < 31; m++)
			p += sprintf(p, ",\"m%d\":0", m);
		sprintf(p, "}");
		check_int(imdsc_decode(buf, strlen(buf), NOW, &tok),
		    i ? IMDSC_E_MEMBERS : 0);
	}
	check_int((LIM_IMDSC_JSON_TOKENS), 64); /* the vector's arithmetic */
}

static void
t_decode_prefixes(void)
{
	const char *s =
	    "{\"access_token\":\"eyJ0.eyJh.c2ln\",\"expires_on\":"
	    "\"1506484173\",\"resource\":\"https://vault.azure.net\","
	    "\"token_type\":\"Bearer\",\"client_id\":\"" CID "\"}";
	size_t n = strlen(s), i;
	unsigned bad = 0;

	/* A body cut anywhere is refused; only the whole one decodes. */
	for (i = 0; i < n; i++)
		bad += imdsc_decode(guard_copy(s, i), i, NOW, &tok) == 0;
	check_int(bad, 0);
	check_int(imdsc_decode(guard_copy(s, n), n, NOW, &tok), 0);
	check_str(tok.resource, "https://vault.azure.net");
}

static void
t_decode_error_body(void)
{
	static char buf[2048];
	struct imdsc_error e;
	const char *s;

	s = "{\"error\":\"invalid_request\","
	    "\"error_description\":\"Identity not found\"}";
	check_int(
	    imdsc_decode_error(guard_copy(s, strlen(s)), strlen(s), &e), 0);
	check_str(e.error, "invalid_request");
	check_str(e.desc, "Identity not found");
	s = "{\"error\":\"invalid_resource\",\"error_description\":"
	    "\"AADSTS50001: x\\r\\nTrace ID: 1\"}";
	check_int(imdsc_decode_error(s, strlen(s), &e), 0);
	check_str(e.desc, "AADSTS50001: x  Trace ID: 1");
	s = "{\"error\":\"server_error\"}";
	check_int(imdsc_decode_error(s, strlen(s), &e), 0);
	check_str(e.desc, "");
	s = "{\"error_description\":\"x\"}";
	check_int(imdsc_decode_error(s, strlen(s), &e), IMDSC_E_NOERROR);
	check_str(e.desc, "");
	s = "{\"error\":\"\"}";
	check_int(imdsc_decode_error(s, strlen(s), &e), IMDSC_E_VALUE);
	s = "{\"error\":\"a b\"}";
	check_int(imdsc_decode_error(s, strlen(s), &e), IMDSC_E_VALUE);
	s = "{\"error\":1}";
	check_int(imdsc_decode_error(s, strlen(s), &e), IMDSC_E_TYPE);
	s = "{\"error\":\"x\",\"error_description\":2}";
	check_int(imdsc_decode_error(s, strlen(s), &e), IMDSC_E_TYPE);
	s = "not json";
	check_int(imdsc_decode_error(s, strlen(s), &e), IMDSC_E_JSON);
	/* error at LIM_IMDSC_ERROR_BYTES and one over; desc likewise. */
	snprintf(
	    buf, sizeof(buf), "{\"error\":\"%0*d\"}", LIM_IMDSC_ERROR_BYTES, 0);
	check_int(imdsc_decode_error(buf, strlen(buf), &e), 0);
	snprintf(buf, sizeof(buf), "{\"error\":\"%0*d\"}",
	    LIM_IMDSC_ERROR_BYTES + 1, 0);
	check_int(imdsc_decode_error(buf, strlen(buf), &e), IMDSC_E_TOOLONG);
	snprintf(buf, sizeof(buf),
	    "{\"error\":\"e\",\"error_description\":"
	    "\"%0*d\"}",
	    LIM_IMDSC_ERROR_DESC_BYTES, 0);
	check_int(imdsc_decode_error(buf, strlen(buf), &e), 0);
	check_int(strlen(e.desc), LIM_IMDSC_ERROR_DESC_BYTES);
	snprintf(buf, sizeof(buf),
	    "{\"error\":\"e\",\"error_description\":"
	    "\"%0*d\"}",
	    LIM_IMDSC_ERROR_DESC_BYTES + 1, 0);
	check_int(imdsc_decode_error(buf, strlen(buf), &e), IMDSC_E_TOOLONG);
	check_str(e.error, "");
}

static void
t_strerror(void)
{
	int e;

	for (e = -1; e >= IMDSC_E_LAST; e--)
		check(strcmp(imdsc_strerror(e), "unknown imdsc error") != 0);
	check_str(imdsc_strerror(IMDSC_E_LAST - 1), "unknown imdsc error");
	check_str(imdsc_strerror(0), "unknown imdsc error");
}

/* ---- targets and endpoints --------------------------------------------- */

static void
t_target(void)
{
	static char buf[LIM_IMDSC_REQUEST_BYTES];
	struct tok_req r;
	int n;

	memset(&r, 0, sizeof(r));
	snprintf(r.resource, sizeof(r.resource), "https://vault.azure.net");
	snprintf(r.client_id, sizeof(r.client_id), CID);
	snprintf(r.resource_id, sizeof(r.resource_id), RID);
	n = imdsc_target(buf, sizeof(buf), &r);
	check_str(buf,
	    "/metadata/identity/oauth2/token?api-version=2018-02-01"
	    "&resource=https%3A%2F%2Fvault.azure.net&client_id=" CID);
	check_int(n, strlen(buf));
	r.client_id[0] = '\0';
	imdsc_target(buf, sizeof(buf), &r);
	check_str(buf,
	    "/metadata/identity/oauth2/token?api-version=2018-02-01"
	    "&resource=https%3A%2F%2Fvault.azure.net&msi_res_id="
	    "%2Fsubscriptions%2F0b1f6471-1bf0-4dda-aec3-cb9272f09590"
	    "%2FresourceGroups%2Frg%2Fproviders%2FMicrosoft."
	    "ManagedIdentity%2FuserAssignedIdentities%2Fuami");
	r.resource_id[0] = '\0';
	snprintf(r.resource, sizeof(r.resource), "api://x y&z=\xc3\xa9~._-");
	n = imdsc_target(buf, sizeof(buf), &r);
	check_str(buf,
	    "/metadata/identity/oauth2/token?api-version=2018-02-01"
	    "&resource=api%3A%2F%2Fx%20y%26z%3D%C3%A9~._-");
	/* The buffer at the length + 1 (N) and at the length (N+1 short). */
	check_int(imdsc_target(buf, (size_t)n + 1, &r), n);
	check_int(imdsc_target(buf, (size_t)n, &r), IMDSC_E_SPACE);
	check_str(buf, "");
	/* The worst case fits the request buffer with its head. */
	memset(r.resource, '/', LIM_TOK_RESOURCE_BYTES);
	memset(r.resource_id, '/', LIM_TOK_RESOURCE_BYTES);
	n = imdsc_target(buf, sizeof(buf), &r);
	check(n > 0 && (size_t)n + 512 < LIM_IMDSC_REQUEST_BYTES);
}

static void
t_endpoint(void)
{
	static const struct {
		const char *url, *hostport;
		int family, port;
	} ok[] = {
	    {"http://169.254.169.254", "169.254.169.254", AF_INET, 80},
	    {"http://169.254.169.254/", "169.254.169.254", AF_INET, 80},
	    {"http://127.0.0.1:8080", "127.0.0.1:8080", AF_INET, 8080},
	    {"http://127.0.0.1:65535/", "127.0.0.1:65535", AF_INET, 65535},
	    {"http://[::1]:8080", "[::1]:8080", AF_INET6, 8080},
	    {"http://[fd00::1]", "[fd00::1]", AF_INET6, 80},
	};
	static const char *const bad[] = {"https://169.254.169.254", "http://",
	    "http://imds.example", "http://1.2.3.4:0", "http://1.2.3.4:65536",
	    "http://1.2.3.4:99999999", "http://1.2.3.4:", "http://1.2.3.4/path",
	    "http://1.2.3.4//", "http://[::1", "http://::1", "http://[1.2.3.4]",
	    "http://1.2.3", "http://1.2.3.4 ", "HTTP://1.2.3.4",
	    "http://[::1]x"};
	struct sockaddr_storage ss;
	socklen_t len;
	char hp[64];
	size_t i;
	int port;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		check_int(
		    imdsc_endpoint(ok[i].url, &ss, &len, hp, sizeof(hp)), 0);
		check_str(hp, ok[i].hostport);
		check_int(ss.ss_family, ok[i].family);
		port = ss.ss_family == AF_INET
		    ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
		    : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		check_int(port, ok[i].port);
		check_int(len,
		    ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
		                            : sizeof(struct sockaddr_in6));
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (imdsc_endpoint(bad[i], &ss, &len, hp, sizeof(hp)) !=
		    IMDSC_E_URL)
			fprintf(stderr, "accepted %s\n", bad[i]);
		check_int(imdsc_endpoint(bad[i], &ss, &len, hp, sizeof(hp)),
		    IMDSC_E_URL);
	}
	/* hostport buffer: length + 1 fits, length does not. */
	check_int(imdsc_endpoint("http://10.0.0.1", &ss, &len, hp, 9), 0);
	check_int(
	    imdsc_endpoint("http://10.0.0.1", &ss, &len, hp, 8), IMDSC_E_URL);
}

/* ---- a tiny HTTP server on the test's loop ----------------------------- */

struct plan {
	int status;
	unsigned retry_after; /* 0: no header */
	const char *body;     /* NULL: a token body */
	size_t token_len;     /* 0: "tok-<request number>" */
	size_t body_len;      /* with body NULL and > 0: junk of this size */
	uint64_t delay_ms;
	bool hold;  /* never answer */
	bool drop;  /* close without answering */
	bool close; /* Connection: close */
};

#define SRV_CONNS 200
#define SRV_LOG   600

struct sconn {
	int fd;
	bool pending; /* a request is being answered */
	unsigned reqno;
	struct plan plan;
	struct loop_timer timer;
	size_t len;
	char buf[8192];
};

static struct srv {
	int lfd;
	uint16_t port;
	void (*plan)(const char *target, unsigned nth, struct plan *);
	unsigned accepted, inflight, max_inflight, nlog;
	struct {
		char head[4096];
		char target[2048];
		uint64_t at_ms;
	} log[SRV_LOG];
	struct sconn c[SRV_CONNS];
	char out[LIM_IMDSC_BODY_BYTES + 4096];
} srv;

static struct loop *L;

static void
srv_close(struct sconn *c)
{
	if (c->fd < 0)
		return;
	loop_timer_cancel(L, &c->timer);
	loop_del(L, c->fd);
	close(c->fd);
	c->fd = -1;
	c->len = 0;
	if (c->pending)
		srv.inflight--;
	c->pending = false;
}

static void
srv_write(int fd, const char *p, size_t n)
{
	struct pollfd pfd = {fd, POLLOUT, 0};
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EAGAIN) {
			poll(&pfd, 1, 1000);
			continue;
		}
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void
srv_respond(struct sconn *c)
{
	const struct plan *p = &c->plan;
	char head[512], *b = srv.out + sizeof(head);
	size_t blen;
	int h;

	if (p->body != NULL)
		blen = (size_t)snprintf(b, 4096, "%s", p->body);
	else if (p->body_len > 0) {
		memset(b, 'x', p->body_len);
		blen = p->body_len;
	} else {
		blen = (size_t)sprintf(b, "{\"access_token\":\"");
		if (p->token_len > 0) {
			memset(b + blen, 'a', p->token_len);
			blen += p->token_len;
		} else
			blen += (size_t)sprintf(b + blen, "tok-%u", c->reqno);
		blen += (size_t)sprintf(b + blen,
		    "\",\"expires_on\":\"%lld\",\"expires_in\":\"3600\","
		    "\"resource\":\"r\",\"token_type\":\"Bearer\"}",
		    (long long)time(NULL) + 3600);
	}
	h = snprintf(head, sizeof(head),
	    "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\n",
	    p->status, blen);
	if (p->retry_after)
		h += snprintf(head + h, sizeof(head) - (size_t)h,
		    "Retry-After: %u\r\n", p->retry_after);
	h += snprintf(head + h, sizeof(head) - (size_t)h, "%s\r\n",
	    p->close ? "Connection: close\r\n" : "");
	memcpy(b - h, head, (size_t)h);
	srv_write(c->fd, b - h, (size_t)h + blen);
	c->pending = false;
	srv.inflight--;
	if (p->close)
		srv_close(c);
}

static void
srv_timer(struct loop *l, struct loop_timer *t, void *arg)
{
	(void)l;
	(void)t;
	srv_respond(arg);
}

/* A complete request head at c->buf: log it, then follow the plan. */
static void
srv_request(struct sconn *c, size_t hl)
{
	char *t = srv.log[srv.nlog].target, *sp;
	unsigned i, nth = 0;

	c->reqno = srv.nlog;
	memcpy(srv.log[srv.nlog].head, c->buf, hl);
	srv.log[srv.nlog].head[hl] = '\0';
	srv.log[srv.nlog].at_ms = loop_clock_ms();
	sp = strchr(srv.log[srv.nlog].head, ' ');
	snprintf(t, sizeof(srv.log[0].target), "%.*s",
	    sp ? (int)strcspn(sp + 1, " ") : 0, sp ? sp + 1 : "");
	for (i = 0; i < srv.nlog; i++)
		nth += strcmp(srv.log[i].target, t) == 0;
	srv.nlog += srv.nlog < SRV_LOG - 1;
	memmove(c->buf, c->buf + hl, c->len - hl);
	c->len -= hl;
	c->pending = true;
	if (++srv.inflight > srv.max_inflight)
		srv.max_inflight = srv.inflight;
	memset(&c->plan, 0, sizeof(c->plan));
	c->plan.status = 200;
	if (srv.plan != NULL)
		srv.plan(t, nth, &c->plan);
	if (c->plan.drop)
		srv_close(c);
	else if (c->plan.delay_ms > 0)
		loop_timer_set(L, &c->timer, c->plan.delay_ms);
	else if (!c->plan.hold)
		srv_respond(c);
}

static void
srv_io(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct sconn *c = arg;
	const char *end;
	ssize_t n;

	(void)l;
	(void)ev;
	n = read(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		srv_close(c);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	if (!c->pending && (end = strstr(c->buf, "\r\n\r\n")) != NULL)
		srv_request(c, (size_t)(end + 4 - c->buf));
}

static void
srv_accept(struct loop *l, int fd, uint32_t ev, void *arg)
{
	unsigned i;
	int cfd;

	(void)l;
	(void)ev;
	(void)arg;
	while ((cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >=
	    0) {
		for (i = 0; i < SRV_CONNS && srv.c[i].fd >= 0; i++)
			;
		if (i == SRV_CONNS) {
			close(cfd);
			continue;
		}
		srv.c[i].fd = cfd;
		srv.c[i].len = 0;
		srv.accepted++;
		loop_add(L, cfd, LOOP_READ, srv_io, &srv.c[i]);
	}
}

static void
srv_start(void)
{
	struct sockaddr_in sa = {0};
	socklen_t len = sizeof(sa);
	unsigned i;
	int one = 1;

	srv.lfd =
	    socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(srv.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (srv.lfd < 0 || bind(srv.lfd, (struct sockaddr *)&sa, len) != 0 ||
	    listen(srv.lfd, 512) != 0 ||
	    getsockname(srv.lfd, (struct sockaddr *)&sa, &len) != 0) {
		perror("test server");
		exit(2);
	}
	srv.port = ntohs(sa.sin_port);
	for (i = 0; i < SRV_CONNS; i++) {
		srv.c[i].fd = -1;
		loop_timer_init(&srv.c[i].timer, srv_timer, &srv.c[i]);
	}
	loop_add(L, srv.lfd, LOOP_READ, srv_accept, NULL);
}

/* ---- the client through the cache -------------------------------------- */

struct wrec {
	struct tok_waiter w;
	int calls, status;
	unsigned retry_after;
	size_t token_len;
	char token[64], error[64], desc[128], audit[32];
};

static struct wrec W[300];
static unsigned nwant;
static struct tokcache *TC;
static struct imdsc *IC;
static struct pol_identity MI = {.name = {"mi", 2},
    .kind = POL_MANAGED,
    .client_id = {CID, sizeof(CID) - 1}};

static void
wdone(struct tok_waiter *w, const struct tok_result *r)
{
	struct wrec *x = (struct wrec *)(void *)w;

	x->calls++;
	x->status = r->status;
	x->retry_after = r->retry_after_s;
	x->token_len = r->tok ? r->tok->access_len : 0;
	snprintf(x->token, sizeof(x->token), "%.*s", 63,
	    r->tok ? r->tok->access_token : "");
	snprintf(x->error, sizeof(x->error), "%s", r->error ? r->error : "");
	snprintf(
	    x->desc, sizeof(x->desc), "%s", r->error_desc ? r->error_desc : "");
	snprintf(x->audit, sizeof(x->audit), "%s",
	    r->audit_code ? r->audit_code : "");
}

static void
e2e_setup(unsigned slots, uint16_t port)
{
	struct sockaddr_in sa = {0};
	struct tok_fetcher f;
	char hp[32];
	unsigned i;

	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	snprintf(hp, sizeof(hp), "127.0.0.1:%u", port);
	TC = tokcache_new(L, slots, NULL);
	IC = imdsc_new(L, (struct sockaddr *)&sa, sizeof(sa), hp, TC);
	if (TC == NULL || IC == NULL) {
		perror("e2e setup");
		exit(2);
	}
	f = imdsc_fetcher(IC);
	tokcache_set_fetcher(TC, POL_MANAGED, &f);
	memset(W, 0, sizeof(W));
	for (i = 0; i < 300; i++)
		tokcache_waiter_init(&W[i].w, wdone);
	srv.nlog = srv.accepted = srv.max_inflight = 0;
	srv.plan = NULL;
}

static void
e2e_teardown(void)
{
	unsigned i;

	tokcache_free(TC); /* first: it cancels through the fetcher */
	imdsc_free(IC);
	TC = NULL;
	IC = NULL;
	for (i = 0; i < SRV_CONNS; i++)
		srv_close(&srv.c[i]);
	srv.inflight = 0;
}

static void
set_opts(
    unsigned attempts, uint32_t backoff, uint32_t budget, uint32_t attempt_ms)
{
	struct imdsc_opts o = {attempts, backoff, budget, attempt_ms};

	check_int(imdsc_set_opts(IC, &o), 0);
}

static enum tok_get
fetch(const char *res, unsigned i)
{
	const struct tok_token *out;

	return tokcache_get(TC, &MI, res, strlen(res), NULL, &W[i].w, &out);
}

static bool
all_done(void)
{
	unsigned i;

	for (i = 0; i < nwant; i++)
		if (W[i].calls == 0)
			return false;
	return true;
}

static void
guard_cb(struct loop *l, struct loop_timer *t, void *arg)
{
	(void)l;
	(void)t;
	*(bool *)arg = true;
}

/* Runs the loop until the first n waiters are answered or ms pass. */
static bool
run(unsigned n, uint64_t ms)
{
	struct loop_timer g;
	bool fired = false;

	nwant = n;
	loop_timer_init(&g, guard_cb, &fired);
	loop_timer_set(L, &g, ms);
	while (!(n > 0 && all_done()) && !fired)
		loop_run_once(L);
	loop_timer_cancel(L, &g);
	return n == 0 || all_done();
}

/*
 * Runs the loop until the test server's counter *v is want, 5 s at most.
 * What the server sees of a request the client gave up on (a timeout, a
 * cancel) comes in a later iteration than the client's answer, later
 * still on a loaded machine: a one-shot look may come too early.
 */
static bool
run_until_srv(const unsigned *v, unsigned want)
{
	struct loop_timer g;
	bool fired = false;

	loop_timer_init(&g, guard_cb, &fired);
	loop_timer_set(L, &g, 5000);
	while (*v != want && !fired)
		loop_run_once(L);
	loop_timer_cancel(L, &g);
	return *v == want;
}

static struct imdsc_stats
ist(void)
{
	struct imdsc_stats s;

	imdsc_stats(IC, &s);
	return s;
}

/* ---- end to end -------------------------------------------------------- */

static void
t_e2e_request(void)
{
	char want[1024];
	const struct tok_token *out;
	struct pol_identity byres = {.name = {"r", 1},
	    .kind = POL_MANAGED,
	    .resource_id = {RID, sizeof(RID) - 1}};

	e2e_setup(8, srv.port);
	check(fetch("https://vault.azure.net", 0) == TOK_WAIT);
	check(run(1, 5000));
	check_int(W[0].status, 200);
	check_str(W[0].token, "tok-0");
	check_int(srv.nlog, 1);
	snprintf(want, sizeof(want),
	    "GET /metadata/identity/oauth2/token?api-version=2018-02-01"
	    "&resource=https%%3A%%2F%%2Fvault.azure.net&client_id=" CID
	    " HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUser-Agent: podid\r\n"
	    "Connection: keep-alive\r\nMetadata: true\r\n\r\n",
	    srv.port);
	check_str(srv.log[0].head, want);
	check(strstr(srv.log[0].head, "X-Forwarded-For") == NULL);
	/* From the cache now: no second request. */
	check(tokcache_get(TC, &MI, "https://vault.azure.net", 23, NULL,
	          &W[1].w, &out) == TOK_HIT);
	check(out != NULL && strcmp(out->access_token, "tok-0") == 0);
	/* An identity known by its resource id only. */
	check(
	    tokcache_get(TC, &byres, "r", 1, NULL, &W[2].w, &out) == TOK_WAIT);
	nwant = 3;
	W[1].calls = 1;
	check(run(3, 5000));
	check_int(srv.nlog, 2);
	check(
	    strstr(srv.log[1].target,
	        "&resource=r&msi_res_id=%2Fsubscriptions"
	        "%2F0b1f6471-1bf0-4dda-aec3-cb9272f09590%2FresourceGroups%2Frg"
	        "%2Fproviders%2FMicrosoft.ManagedIdentity%"
	        "2FuserAssignedIdentities"
	        "%2Fuami") != NULL);
	check(strstr(srv.log[1].target, "client_id") == NULL);
	/* The second request went on the kept-alive connection. */
	check_int(srv.accepted, 1);
	check_int(ist().requests, 2);
	check_int(ist().ok, 2);
	e2e_teardown();
}

static void
plan_500_once(const char *t, unsigned nth, struct plan *p)
{
	(void)t;
	if (nth == 0)
		p->status = 500;
}

static void
plan_429_ra1(const char *t, unsigned nth, struct plan *p)
{
	if (nth == 0) {
		p->status = strstr(t, "resource=a") ? 429 : 503;
		p->retry_after = 1;
	}
}

static void
t_e2e_retry(void)
{
	e2e_setup(8, srv.port);
	set_opts(4, 50, 10000, 2000);
	srv.plan = plan_500_once;
	check(fetch("r", 0) == TOK_WAIT);
	check(run(1, 5000));
	check_int(W[0].status, 200);
	check_int(srv.nlog, 2);
	check_str(srv.log[0].head, srv.log[1].head);
	check_int(ist().retries, 1);
	e2e_teardown();
	/* 429 and 503 with Retry-After: 1 wait a second, not 50 ms. */
	e2e_setup(8, srv.port);
	set_opts(4, 50, 10000, 2000);
	srv.plan = plan_429_ra1;
	check(fetch("a", 0) == TOK_WAIT);
	check(fetch("b", 1) == TOK_WAIT);
	check(run(2, 5000));
	check(W[0].status == 200 && W[1].status == 200);
	check_int(srv.nlog, 4);
	check(srv.log[2].at_ms - srv.log[0].at_ms >= 990);
	check(srv.log[3].at_ms - srv.log[1].at_ms >= 990);
	check_int(ist().retries, 2);
	e2e_teardown();
}

static void
plan_status(const char *t, unsigned nth, struct plan *p)
{
	(void)nth;
	if (strstr(t, "resource=400"))
		p->status = 400,
		p->body = "{\"error\":\"invalid_request\","
		          "\"error_description\":\"Identity not found\"}";
	else if (strstr(t, "resource=403"))
		p->status = 403, p->body = "nope";
	else if (strstr(t, "resource=405"))
		p->status = 405, p->body = "{\"error\":\"method_not_allowed\"}";
	else if (strstr(t, "resource=204"))
		p->status = 204, p->body = "";
	else if (strstr(t, "resource=junk"))
		p->body = "{\"access_token\":\"t\"}";
	else if (strstr(t, "resource=big1"))
		p->token_len = LIM_TOK_TOKEN_BYTES + 1;
	else if (strstr(t, "resource=big"))
		p->token_len = LIM_TOK_TOKEN_BYTES;
	else if (strstr(t, "resource=huge1"))
		p->body_len = LIM_IMDSC_BODY_BYTES + 1;
	else if (strstr(t, "resource=huge"))
		p->body_len = LIM_IMDSC_BODY_BYTES;
}

static void
t_e2e_no_retry(void)
{
	static const char *const res[] = {
	    "400", "403", "405", "204", "junk", "big", "big1", "huge", "huge1"};
	static const int want[] = {400, 403, 403, 503, 503, 200, 503, 503, 503};
	static const char *const audit[] = {"imds_400", "imds_403", "imds_405",
	    "imds_204", "imds_bad_token", "ok", "imds_bad_token",
	    "imds_bad_token", "imds_too_large"};
	unsigned i;

	e2e_setup(16, srv.port);
	set_opts(4, 20, 10000, 2000);
	srv.plan = plan_status;
	for (i = 0; i < 9; i++)
		check(fetch(res[i], i) == TOK_WAIT);
	check(run(9, 5000));
	run(0, 200); /* a retry would show up by now */
	check_int(srv.nlog, 9);
	check_int(ist().retries, 0);
	for (i = 0; i < 9; i++) {
		if (W[i].status != want[i] || strcmp(W[i].audit, audit[i]))
			fprintf(stderr, "%s: %d %s\n", res[i], W[i].status,
			    W[i].audit);
		check_int(W[i].status, want[i]);
		check_str(W[i].audit, audit[i]);
	}
	check_str(W[0].error, "invalid_request");
	check_str(W[0].desc, "Identity not found");
	check_str(W[1].error, "forbidden");
	check_str(W[2].error, "method_not_allowed");
	check_int(W[5].token_len, LIM_TOK_TOKEN_BYTES);
	e2e_teardown();
}

static void
plan_fail(const char *t, unsigned nth, struct plan *p)
{
	(void)nth;
	p->status = 500;
	if (strstr(t, "resource=ra60"))
		p->status = 429, p->retry_after = 60;
	if (strstr(t, "resource=gone"))
		p->status = 410;
	if (strstr(t, "resource=nf"))
		p->status = 404;
}

static void
t_e2e_give_up(void)
{
	e2e_setup(8, srv.port);
	/* The attempts: exactly LIM_IMDSC_ATTEMPTS requests, then 503. */
	set_opts(LIM_IMDSC_ATTEMPTS, 20, 10000, 2000);
	srv.plan = plan_fail;
	check(fetch("r", 0) == TOK_WAIT);
	check(fetch("gone", 1) == TOK_WAIT);
	check(fetch("nf", 2) == TOK_WAIT);
	check(run(3, 5000));
	check_int(srv.nlog, 3 * LIM_IMDSC_ATTEMPTS);
	check(W[0].status == 503 && W[1].status == 503 && W[2].status == 503);
	check_int(W[0].retry_after, LIM_IMDSC_RETRY_AFTER_S);
	check_str(W[0].error, "service_unavailable");
	check_str(W[0].audit, "imds_500");
	check_str(W[1].audit, "imds_410");
	check_str(W[2].audit, "imds_404");
	e2e_teardown();
	/*
	 * The budget: delays 1000, 2000 ms; 2500 ms allows one retry, as long
	 * as the first answer came within 1500 ms (a loaded machine needs
	 * some: 100 and 250 ms gave it 150).
	 */
	e2e_setup(8, srv.port);
	set_opts(LIM_IMDSC_ATTEMPTS, 1000, 2500, 2000);
	srv.plan = plan_fail;
	check(fetch("r", 0) == TOK_WAIT);
	/* Retry-After beyond the budget: at once, passed on. */
	check(fetch("ra60", 1) == TOK_WAIT);
	check(run(2, 5000));
	check_int(srv.nlog, 3);
	check(W[0].status == 503 && W[1].status == 503);
	check_int(W[1].retry_after, 60);
	check_str(W[1].audit, "imds_429");
	e2e_teardown();
	/* No more attempts than LIM_IMDSC_ATTEMPTS may be asked for. */
	e2e_setup(8, srv.port);
	{
		struct imdsc_opts o = {LIM_IMDSC_ATTEMPTS + 1, 1, 1, 1};

		check_int(imdsc_set_opts(IC, &o), -1);
		o.attempts = 0;
		check_int(imdsc_set_opts(IC, &o), -1);
	}
	e2e_teardown();
}

static void
plan_slow(const char *t, unsigned nth, struct plan *p)
{
	(void)t;
	(void)nth;
	p->delay_ms = 30;
}

static void
t_e2e_limits(void)
{
	char res[16];
	unsigned i, ok = 0, worst = 0, n;

	e2e_setup(64, srv.port);
	srv.plan = plan_slow;
	for (i = 0; i < 50; i++) {
		snprintf(res, sizeof(res), "r%u", i);
		check(fetch(res, i) == TOK_WAIT);
	}
	check(run(50, 10000));
	for (i = 0; i < 50; i++)
		ok += W[i].status == 200;
	check_int(ok, 50);
	check_int(srv.nlog, 50);
	/* In flight: never above the cap, and the cap was reached. */
	check_int(srv.max_inflight, LIM_IMDS_CONCURRENCY);
	check_int(ist().max_running, LIM_IMDS_CONCURRENCY);
	/* Rate: no LIM+1 requests within 900 ms (100 ms for scheduling). */
	for (i = 0; i + LIM_IMDS_RATE_PER_S < srv.nlog; i++)
		if (srv.log[i + LIM_IMDS_RATE_PER_S].at_ms - srv.log[i].at_ms <
		    900)
			worst++;
	check_int(worst, 0);
	/* ... while LIM within a second did go (the window is not slower). */
	n = 0;
	for (i = 0; i < srv.nlog; i++)
		n += srv.log[i].at_ms - srv.log[0].at_ms < 900;
	check_int(n, LIM_IMDS_RATE_PER_S);
	check(ist().rate_waits >= 2);
	check(srv.accepted <= LIM_IMDS_CONCURRENCY);
	e2e_teardown();
}

static void
plan_hold(const char *t, unsigned nth, struct plan *p)
{
	(void)t;
	(void)nth;
	p->hold = true;
}

static void
t_e2e_queue(void)
{
	const unsigned n = LIM_IMDS_CONCURRENCY + LIM_IMDS_QUEUE;
	char res[16];
	unsigned i, called = 0;

	e2e_setup(n + 8, srv.port);
	srv.plan = plan_hold;
	for (i = 0; i < n; i++) { /* N: all taken */
		snprintf(res, sizeof(res), "q%u", i);
		check(fetch(res, i) == TOK_WAIT);
	}
	check(run_until_srv(&srv.inflight, LIM_IMDS_CONCURRENCY));
	run(0, 200); /* no more than that */
	for (i = 0; i < n; i++)
		called += W[i].calls;
	check_int(called, 0);
	check_int(srv.inflight, LIM_IMDS_CONCURRENCY);
	check_int(ist().queued, LIM_IMDS_QUEUE);
	check_int(ist().rejected, 0);
	/* N+1: refused at once, with Retry-After. */
	check(fetch("one-more", n) == TOK_WAIT);
	check_int(W[n].calls, 0); /* not from inside the get */
	run(0, 50);
	check_int(W[n].calls, 1);
	check_int(W[n].status, 503);
	check_int(W[n].retry_after, LIM_IMDSC_RETRY_AFTER_S);
	check_str(W[n].audit, "imds_queue_full");
	check_int(ist().rejected, 1);
	for (i = 0, called = 0; i < n; i++)
		called += W[i].calls;
	check_int(called, 0);
	/* A reload drops them all: cancelled, the connections closed. */
	tokcache_repolicy(TC, NULL);
	for (i = 0, called = 0; i < n; i++)
		called += W[i].calls == 1 && W[i].status == 503;
	check_int(called, n);
	check_int(ist().queued, 0);
	check_int(ist().running, 0);
	check(run_until_srv(&srv.inflight, 0));
	/* The freed connections serve again. */
	srv.plan = NULL;
	check(fetch("after", 0) == TOK_WAIT);
	W[0].calls = 0;
	check(run(1, 5000));
	check_int(W[0].status, 200);
	e2e_teardown();
}

static void
plan_keepalive(const char *t, unsigned nth, struct plan *p)
{
	if (strstr(t, "resource=drop") && nth == 0)
		p->drop = true;
	if (strstr(t, "resource=close"))
		p->close = true;
}

static void
t_e2e_connections(void)
{
	e2e_setup(8, srv.port);
	set_opts(4, 20, 10000, 2000);
	srv.plan = plan_keepalive;
	check(fetch("a", 0) == TOK_WAIT);
	check(run(1, 5000));
	/* Dropped unanswered on the kept-alive connection: resent at
	 * once on a new one, not counted as an attempt. */
	check(fetch("drop", 1) == TOK_WAIT);
	check(run(2, 5000));
	check_int(W[1].status, 200);
	check_int(srv.nlog, 3);
	check_int(srv.accepted, 2);
	check_int(ist().reconnects, 1);
	check_int(ist().retries, 0);
	/* Connection: close, then a fresh connection. */
	check(fetch("close", 2) == TOK_WAIT);
	check(run(3, 5000));
	check(fetch("b", 3) == TOK_WAIT);
	check(run(4, 5000));
	check_int(W[3].status, 200);
	check_int(srv.accepted, 3);
	e2e_teardown();
	/* Dropped on a fresh connection: a failed attempt, retried. */
	e2e_setup(8, srv.port);
	set_opts(4, 20, 10000, 2000);
	srv.plan = plan_keepalive;
	check(fetch("drop", 0) == TOK_WAIT);
	check(run(1, 5000));
	check_int(W[0].status, 200);
	check_int(ist().reconnects, 0);
	check_int(ist().retries, 1);
	e2e_teardown();
}

static void
t_e2e_timeout_refused(void)
{
	struct sockaddr_in sa = {0};
	socklen_t len = sizeof(sa);
	int fd;

	e2e_setup(8, srv.port);
	set_opts(2, 10, 10000, 100);
	srv.plan = plan_hold;
	check(fetch("t", 0) == TOK_WAIT);
	check(run(1, 5000));
	check_int(W[0].status, 503);
	check_str(W[0].audit, "timeout");
	check(run_until_srv(&srv.nlog, 2));
	e2e_teardown();
	/* A port nobody listens on. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&sa, len);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	close(fd);
	e2e_setup(8, ntohs(sa.sin_port));
	set_opts(3, 10, 10000, 1000);
	check(fetch("t", 0) == TOK_WAIT);
	check(run(1, 5000));
	check_int(W[0].status, 503);
	check_str(W[0].audit, "connect");
	check_int(ist().requests, 3);
	e2e_teardown();
}

static void
t_e2e_new(void)
{
	struct sockaddr_in sa = {0};
	struct tokcache *t = tokcache_new(L, 4, NULL);
	char big[LIM_TLS_SERVER_NAME_BYTES + 2];

	memset(big, 'h', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sa.sin_family = AF_INET;
	errno = 0;
	check(imdsc_new(L, (struct sockaddr *)&sa, 0, "h", t) == NULL &&
	    errno == EINVAL);
	check(imdsc_new(L, (struct sockaddr *)&sa, sizeof(sa), "", t) == NULL);
	check(imdsc_new(L, (struct sockaddr *)&sa, sizeof(sa), "h", NULL) ==
	    NULL);
	check(imdsc_new(L, (struct sockaddr *)&sa, sizeof(sa), big, t) == NULL);
	big[sizeof(big) - 2] = '\0'; /* LIM_TLS_SERVER_NAME_BYTES: fits */
	IC = imdsc_new(L, (struct sockaddr *)&sa, sizeof(sa), big, t);
	check(IC != NULL);
	imdsc_free(IC);
	imdsc_free(NULL);
	IC = NULL;
	tokcache_free(t);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	L = loop_new(1024, 1024);
	if (L == NULL) {
		perror("loop_new");
		return 2;
	}
	test(t_decode_imds_shape, "decode the IMDS sample response");
	test(t_decode_forms, "decode numbers, expires_in, defaults, escapes");
	test(t_decode_errors, "decode refusals, one per rule");
	test(t_decode_limits, "token, resource and JSON limits at N and N+1");
	test(t_decode_prefixes, "every prefix refused, guard page");
	test(t_decode_error_body, "error bodies and their limits");
	test(t_strerror, "error names");
	test(t_target, "request targets, percent-encoding, buffer at N, N+1");
	test(t_endpoint, "--imds-endpoint URLs");
	srv_start();
	test(t_e2e_new, "imdsc_new arguments");
	test(t_e2e_request, "the exact request; cache hit; msi_res_id");
	test(t_e2e_retry, "retry 500; 429 and 503 honour Retry-After");
	test(t_e2e_no_retry, "400 passed on, other 4xx and bad answers once");
	test(t_e2e_give_up, "503 after the attempts or the budget");
	test(t_e2e_limits, "50 fetches: concurrency and rate caps");
	test(t_e2e_queue, "queue at N and N+1; cancel by reload");
	test(t_e2e_connections, "keep-alive, stale connection, close");
	test(t_e2e_timeout_refused, "timeouts and refused connections");
	close(srv.lfd);
	loop_free(L);
	return harness_done();
}
