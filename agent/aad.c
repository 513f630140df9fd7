/*
 * The Azure AD client.  Each fetch the cache starts is a record moving
 * through one state machine, as in agent/imdsc.c:
 *
 *	start --> QUEUED --authority ready, conn free--> RUNNING --200/4xx--> (result)
 *	  |         ^  |                                    |
 *	  |         |  +-- circuit open: fail fast          | 408/429/5xx/transport
 *	  |         +------- backoff timer ------ BACKOFF <-+
 *	  |                                         |
 *	  +-- no free record: rejected              +-- attempts, budget: 503/429
 *
 * "Authority ready" means: its address is known (an IP literal, or a
 * lookup answered less than LIM_AAD_ADDR_MS ago), fewer than
 * LIM_AAD_CONCURRENCY of its requests run, its rate window has room, and
 * its circuit is closed (or half-open with no probe out).  The decisions
 * live in aad_outcome() and aad_retry(); the hclient callbacks only gather.
 * start never dispatches: it queues and arms a zero-delay kick timer, so
 * the cache's callbacks never run under its own calls.
 *
 * The circuit: consecutive 5xx or transport failures per authority; at
 * the threshold it opens until open_until, during which queued fetches of
 * that authority fail fast.  Then the first fetch goes as a probe and the
 * others wait: an answer from Azure AD (any 200 or 4xx) closes it, another
 * failure opens it again.  429 neither counts nor resets: Azure AD is up.
 *
 * Credentials live in a table keyed by identity name (the policy's, as the
 * cache cuts it), with the kind, client-id, tenant and authority they were
 * read for: a secret's bytes, a certificate's signer, a federated
 * identity's audience.  A request is built when it is sent, so a retry
 * after a reload uses the new secret, and every certificate request
 * carries a freshly signed assertion (Azure AD refuses a jti seen before).
 * A federated fetch starts in TOKEN: ktoken answers from the loop with the
 * pod's service-account token, kept in the fetch record for its retries,
 * then the fetch queues like the others.  The buffers that saw a secret or
 * a token are wiped once the request is over.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/aad.h"
#include "agent/hclient.h"
#include "agent/jwt.h"
#include "agent/ktoken.h"
#include "agent/log.h"
#include "agent/oauth.h"
#include "agent/upstream.h"
#include "agent/resolv.h"

#define AAD_NFETCH            (LIM_AAD_CONNS + LIM_AAD_QUEUE)
#define AAD_DEFAULT_AUTHORITY "https://login.microsoftonline.com"
#define AAD_DEFAULT_AUDIENCE  "api://AzureADTokenExchange"
#define AAD_ASSERTION_TYPE                                                     \
	"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define AAD_CODE_CHARS                                                         \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"

enum aad_state {
	AS_FREE,
	AS_TOKEN,   /* federated: waiting for the pod's service-account token */
	AS_QUEUED,  /* waiting for its authority and a connection */
	AS_RUNNING, /* a request is out on conn */
	AS_BACKOFF, /* waiting to retry */
	AS_ENDING   /* its result is being given to the cache */
};

enum aad_circuit { AC_CLOSED, AC_OPEN, AC_HALF_OPEN };

struct aad;
struct aad_conn;

/* One authority host: address, flight, rate window, circuit. */
struct aad_auth {
	bool used;
	char key[sizeof(((struct tok_req *)0)->authority)];
	struct aad_url url;
	bool have_addr, resolving;
	uint64_t addr_until;
	uint32_t lookup;
	unsigned running;
	struct up_rate rate; /* send times (ms) */
	enum aad_circuit circ;
	unsigned fails; /* consecutive */
	uint64_t open_until;
	bool probing;
	struct aad *a;
};

struct aad_fetch {
	enum aad_state state;
	uint32_t handle;
	const struct tok_req *req; /* the cache's, valid until the result */
	struct aad_auth *auth;
	unsigned attempts;
	bool resent, throttled, probe;
	uint64_t start_ms;
	unsigned retry_after_s;
	struct up_link link; /* the queue */
	struct aad_conn *conn;
	struct loop_timer timer;
	struct aad *a;
	char audit[32];
	uint32_t kt_handle; /* AS_TOKEN: the ktoken get */
	size_t sa_len;      /* federated: the SA token, wiped at the end */
	char *sa_tok;       /* LIM_KTOKEN_BYTES + 1, in aad's sa_tok[] */
};

struct aad_conn {
	struct up_resp r; /* first: the hclient callbacks' arg */
	struct hclient hc;
	struct tls_conn tls;
	struct aad *a;
	struct aad_fetch *f; /* NULL: free */
	bool reused;
	uint64_t sent_us; /* when the request started, for the latency */
	size_t reqlen;
	char req[LIM_AAD_REQUEST_BYTES];
	char rbuf[LIM_AAD_RECV_BYTES];
	char body[LIM_AAD_BODY_BYTES];
	unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
};

/* One identity's credential: a secret, a signer or an audience by kind. */
struct aad_secret {
	bool used, seen, loaded, v1;
	enum pol_kind kind;
	char name[sizeof(((struct tok_req *)0)->identity)];
	char client_id[sizeof(((struct tok_req *)0)->client_id)];
	char tenant[sizeof(((struct tok_req *)0)->tenant)];
	char authority[sizeof(((struct tok_req *)0)->authority)];
	size_t len;
	char bytes[LIM_AAD_SECRET_BYTES];
	char audience[LIM_KTOKEN_AUDIENCE_BYTES + 1]; /* federated */
	struct jwt_signer signer;                     /* certificate */
};

/* A fetch answered without a record (queue full, no ktoken, ...): its
 * static result goes out from the kick timer. */
struct aad_reject {
	uint32_t handle;
	bool live;
	const struct tok_result *r;
};

struct aad {
	struct loop *loop;
	struct tokcache *tc;
	const struct pem_anchors *anchors;
	struct resolv *resolv;
	struct ktoken *kt;
	char default_authority[sizeof(((struct tok_req *)0)->authority)];
	struct aad_opts opt;
	struct aad_stats st;
	uint64_t rng;
	struct up_queue q; /* of struct aad_fetch */
	struct loop_timer kick, rate_timer;
	struct aad_reject rej[LIM_AAD_QUEUE];
	unsigned rhead, rcount;
	/* Scratch for one result or request at a time (never nested). */
	struct tok_token tok;
	struct aad_error eb;
	char desc[LIM_AAD_ERROR_DESC_BYTES + 64];
	char form[LIM_AAD_REQUEST_BYTES];
	char assertion[LIM_JWT_ASSERTION_BYTES];
	/* Certificate and key files at a reload, and the chain's DER. */
	char pem_cert[LIM_AAD_PEM_BYTES], pem_key[LIM_AAD_PEM_BYTES];
	unsigned char pem_scratch[LIM_PEM_CHAIN_BYTES];
	struct aad_auth auth[LIM_AAD_AUTHORITIES];
	struct aad_secret sec[LIM_AAD_IDENTITIES];
	struct aad_conn conn[LIM_AAD_CONNS];
	struct aad_fetch fetch[AAD_NFETCH];
	/* The fetches' SA tokens apart from the fetches: start-up writes
	 * every fetch's header, and 8 KiB tokens between them would make
	 * each header a page of its own (issue 3: ~540 KiB resident). */
	char sa_tok[AAD_NFETCH][LIM_KTOKEN_BYTES + 1];
};

/* ---- decoding (pure) --------------------------------------------------- */

/* agent/oauth.c decodes; its errors are ours, number for number. */
#define AAD_SAME(e) ((int)AAD_E_##e == (int)OAUTH_E_##e)
_Static_assert(AAD_SAME(JSON) && AAD_SAME(MEMBERS) && AAD_SAME(DUP) &&
        AAD_SAME(TYPE) && AAD_SAME(TOOLONG) && AAD_SAME(VALUE) &&
        AAD_SAME(NUMBER) && AAD_SAME(NOTOKEN) && AAD_SAME(NOEXPIRY) &&
        AAD_SAME(NOERROR),
    "aad_err and oauth_err differ");
_Static_assert(offsetof(struct aad_conn, r) == 0, "up_resp first");
_Static_assert(LIM_AAD_RATE_PER_S <= LIM_UP_RATE_SLOTS, "rate window");

static int
aad_decode_strings(const struct json_doc *doc, struct tok_token *out)
{
	int rc;

	if ((rc = oauth_access_token(doc, out)) != 0 ||
	    (rc = oauth_opt_str(doc, "token_type", out->token_type,
	         sizeof(out->token_type), true)) != 0)
		return rc;
	if (out->token_type[0] == '\0')
		memcpy(out->token_type, "Bearer", 7);
	/* v1 echoes resource: checked, then left for the caller to fill
	 * with what the pod asked (IMDS echoes the request). */
	rc = oauth_opt_str(
	    doc, "resource", out->resource, sizeof(out->resource), false);
	memset(out->resource, 0, sizeof(out->resource));
	return rc;
}

int
aad_decode(const char *body, size_t len, int64_t now, struct tok_token *out)
{
	/* expires_in on our clock wins over Azure AD's expires_on (clock
	 * skew); ext_expires_in is checked, never used. */
	static const struct oauth_times how = {
	    OAUTH_EXPIRES_IN_WINS, "ext_expires_in"};
	struct json_tok toks[LIM_AAD_JSON_TOKENS];
	struct json_doc doc;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = oauth_parse(&doc, body, len, toks, LIM_AAD_JSON_TOKENS)) ==
	        0 &&
	    (rc = aad_decode_strings(&doc, out)) == 0 &&
	    (rc = oauth_times(&doc, now, &how, out)) == 0)
		return 0;
	explicit_bzero(out, sizeof(*out));
	return rc;
}

/* "AADSTS" digits ":" at the start of s: the number, or 0. */
static uint32_t
aad_code_prefix(const char *s)
{
	uint64_t x = 0;
	size_t i;

	if (strncmp(s, "AADSTS", 6) != 0)
		return 0;
	for (i = 6; s[i] >= '0' && s[i] <= '9' && i < 16; i++)
		x = x * 10 + (uint64_t)(s[i] - '0');
	return i > 6 && s[i] == ':' && x <= UINT32_MAX ? (uint32_t)x : 0;
}

/* The first line of the description, cut at a character boundary. */
static int
aad_error_desc(const struct json_doc *doc, struct aad_error *out)
{
	char tmp[LIM_AAD_BODY_BYTES + 1];
	size_t n = 0, i;
	int rc;

	rc = oauth_str(doc, "error_description", tmp, sizeof(tmp), &n);
	if (rc != 0) {
		explicit_bzero(tmp, sizeof(tmp));
		return rc < 0 ? rc : 0;
	}
	n = strcspn(tmp, "\r\n");
	if (n > LIM_AAD_ERROR_DESC_BYTES) {
		n = LIM_AAD_ERROR_DESC_BYTES;
		while (n > 0 && ((unsigned char)tmp[n] & 0xc0) == 0x80)
			n--;
	}
	for (i = 0; i < n; i++)
		out->desc[i] = (unsigned char)tmp[i] < 0x20 || tmp[i] == 0x7f
		    ? ' '
		    : tmp[i];
	out->desc[n] = '\0';
	explicit_bzero(tmp, sizeof(tmp));
	return 0;
}

/* error_codes: an array of integers; the first is kept. */
static int
aad_error_codes(const struct json_doc *doc, struct aad_error *out)
{
	struct json_iter it;
	int v = oauth_member(doc, "error_codes", JSON_ARRAY), k, e;
	int64_t x;
	bool first = true;

	if (v <= 0)
		return v;
	(void)json_iter_init(&it, doc, v);
	while (json_iter_next(&it, &k, &e)) {
		if (json_type(doc, e) != JSON_NUMBER ||
		    json_int64(doc, e, &x) != 0 || x < 0 || x > UINT32_MAX)
			return AAD_E_NUMBER;
		if (first)
			out->code = (uint32_t)x;
		first = false;
	}
	return 0;
}

static int
aad_error_fields(const struct json_doc *doc, struct aad_error *out)
{
	size_t n = 0;
	int rc;

	if ((rc = oauth_error_code(doc, out->error, sizeof(out->error))) != 0 ||
	    (rc = aad_error_desc(doc, out)) != 0 ||
	    (rc = aad_error_codes(doc, out)) != 0)
		return rc;
	rc = oauth_str(doc, "correlation_id", out->correlation,
	    sizeof(out->correlation), &n);
	if (rc < 0)
		return rc;
	if (rc == 0 && strspn(out->correlation, AAD_CODE_CHARS) != n)
		return AAD_E_VALUE;
	if (out->code == 0)
		out->code = aad_code_prefix(out->desc);
	return 0;
}

int
aad_decode_error(const char *body, size_t len, struct aad_error *out)
{
	struct json_tok toks[LIM_AAD_JSON_TOKENS];
	struct json_doc doc;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = oauth_parse(&doc, body, len, toks, LIM_AAD_JSON_TOKENS)) ==
	        0 &&
	    (rc = aad_error_fields(&doc, out)) == 0)
		return 0;
	memset(out, 0, sizeof(*out));
	return rc;
}

/* ---- forms, authorities (pure) ----------------------------------------- */

/* Appends s (n bytes), form-url-encoded when encode; -1 when full. */
static int
aad_append(
    char *dst, size_t len, size_t *o, const char *s, size_t n, bool encode)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char c;
	size_t i;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (!encode || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			if (*o + 1 >= len)
				return -1;
			dst[(*o)++] = (char)c;
			continue;
		}
		if (*o + 3 >= len)
			return -1;
		dst[(*o)++] = '%';
		dst[(*o)++] = hex[c >> 4];
		dst[(*o)++] = hex[c & 15];
	}
	return 0;
}

#define AAD_LIT(s) (s), sizeof(s) - 1

static int
aad_form_cred(char *dst, size_t len, size_t *o, const struct aad_cred *cred)
{
	if (cred->assertion != NULL)
		return aad_append(dst, len, o,
		           AAD_LIT("&client_assertion_type="), false) != 0 ||
		        aad_append(dst, len, o, AAD_LIT(AAD_ASSERTION_TYPE),
		            true) != 0 ||
		        aad_append(dst, len, o, AAD_LIT("&client_assertion="),
		            false) != 0 ||
		        aad_append(dst, len, o, cred->assertion,
		            cred->assertion_len, true) != 0
		    ? -1
		    : 0;
	if (cred->secret == NULL)
		return -1;
	return aad_append(dst, len, o, AAD_LIT("&client_secret="), false) !=
	            0 ||
	        aad_append(dst, len, o, cred->secret, cred->secret_len, true) !=
	            0
	    ? -1
	    : 0;
}

int
aad_form(char *dst, size_t len, const struct tok_req *req, bool v1,
    const struct aad_cred *cred)
{
	size_t o = 0;

	if (len == 0 ||
	    aad_append(dst, len, &o,
	        AAD_LIT("grant_type=client_credentials&client_id="),
	        false) != 0 ||
	    aad_append(dst, len, &o, req->client_id, strlen(req->client_id),
	        true) != 0 ||
	    aad_form_cred(dst, len, &o, cred) != 0 ||
	    aad_append(dst, len, &o, v1 ? "&resource=" : "&scope=", v1 ? 10 : 7,
	        false) != 0 ||
	    aad_append(dst, len, &o, req->resource, strlen(req->resource),
	        true) != 0 ||
	    (!v1 &&
	        aad_append(dst, len, &o, AAD_LIT("/.default"), true) != 0)) {
		if (len > 0)
			explicit_bzero(dst, o < len ? o + 1 : len);
		if (len > 0)
			dst[0] = '\0';
		return AAD_E_SPACE;
	}
	dst[o] = '\0';
	return (int)o;
}

/* A DNS name: labels of [A-Za-z0-9-], not starting or ending with '-'. */
static bool
aad_dns_name(const char *h, size_t n)
{
	size_t i, label = 0;

	if (n == 0 || n > 253 || h[n - 1] == '.')
		return false;
	for (i = 0; i < n; i++) {
		if (h[i] == '.') {
			if (label == 0 || h[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((h[i] >= 'a' && h[i] <= 'z') ||
		        (h[i] >= 'A' && h[i] <= 'Z') ||
		        (h[i] >= '0' && h[i] <= '9') || h[i] == '-') ||
		    (label == 0 && h[i] == '-') || ++label > 63)
			return false;
	}
	return h[n - 1] != '-';
}

/* The host at h..e into out: an IP literal sets the address. */
static int
aad_url_host(struct aad_url *out, const char *h, size_t n, bool v6)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&out->addr;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->addr;

	if (n == 0 || n >= sizeof(out->host))
		return AAD_E_URL;
	memcpy(out->host, h, n);
	out->host[n] = '\0';
	if (v6 && inet_pton(AF_INET6, out->host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		out->addrlen = sizeof(*s6);
		out->literal = true;
		return 0;
	}
	if (!v6 && inet_pton(AF_INET, out->host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		out->addrlen = sizeof(*s4);
		out->literal = true;
		return 0;
	}
	/* All digits and dots yet no IPv4: a typo, not a name. */
	if (v6 || strspn(out->host, "0123456789.") == n ||
	    !aad_dns_name(out->host, n))
		return AAD_E_URL;
	return 0;
}

/* ":port" at *p, if any; advances *p.  0 when bad. */
static uint16_t
aad_url_port(const char **p)
{
	long port = 0;
	int digits = 0;

	if (**p != ':')
		return 443;
	for ((*p)++; **p >= '0' && **p <= '9' && digits < 6; (*p)++, digits++)
		port = port * 10 + (**p - '0');
	return digits == 0 || port > 65535 ? 0 : (uint16_t)port;
}

/* The path after the host: "" or "/x/y" (a trailing "/" dropped). */
static int
aad_url_path(struct aad_url *out, const char *p)
{
	size_t n = strlen(p), i;

	if (n > 0 && p[n - 1] == '/')
		n--;
	if (n > 0 && p[0] != '/')
		return AAD_E_URL;
	if (n >= sizeof(out->path))
		return AAD_E_URL;
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f ||
		    strchr("?#@%\\\"<>", p[i]) != NULL ||
		    (p[i] == '/' && i > 0 && p[i - 1] == '/'))
			return AAD_E_URL;
	memcpy(out->path, p, n);
	out->path[n] = '\0';
	return 0;
}

int
aad_authority_parse(const char *url, struct aad_url *out)
{
	const char *h = url + 8, *e, *p;
	bool v6;

	memset(out, 0, sizeof(*out));
	if (strncmp(url, "https://", 8) != 0)
		return AAD_E_URL;
	if ((v6 = *h == '[')) {
		if ((e = strchr(++h, ']')) == NULL)
			return AAD_E_URL;
		p = e + 1;
	} else
		p = e = h + strcspn(h, ":/");
	if (aad_url_host(out, h, (size_t)(e - h), v6) != 0 ||
	    (out->port = aad_url_port(&p)) == 0 || (*p != '\0' && *p != '/') ||
	    aad_url_path(out, p) != 0) {
		memset(out, 0, sizeof(*out));
		return AAD_E_URL;
	}
	if (v6)
		((struct sockaddr_in6 *)&out->addr)->sin6_port =
		    htons(out->port);
	else if (out->literal)
		((struct sockaddr_in *)&out->addr)->sin_port = htons(out->port);
	snprintf(out->hostport, sizeof(out->hostport), "%s%s%s", v6 ? "[" : "",
	    out->host, v6 ? "]" : "");
	if (out->port != 443)
		snprintf(out->hostport + strlen(out->hostport),
		    sizeof(out->hostport) - strlen(out->hostport), ":%u",
		    out->port);
	return 0;
}

/* Its own errors; those it shares with oauth.c are named there. */
static const char *const aad_err_names[] = {
    [11] = "authority is not https://host[:port][/path]",
    [12] = "no space",
};

const char *
aad_strerror(int err)
{
	if (err >= OAUTH_E_LAST && err < 0)
		return oauth_strerror(err);
	if (err >= AAD_E_LAST && err < 0)
		return aad_err_names[-err];
	return "unknown aad error";
}

/* ---- secrets ----------------------------------------------------------- */

/* Reads a secret file into buf (cap bytes); its length, or -1. */
static ssize_t
aad_read_secret(const char *path, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while (n < cap && (r = read(fd, buf + n, cap - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			return -1;
		}
		n += (size_t)r;
	}
	close(fd);
	/* One trailing newline (LF or CR LF) is the file's, not the secret's. */
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n == 0 || n > LIM_AAD_SECRET_BYTES) {
		errno = n == 0 ? ENODATA : EFBIG;
		return -1;
	}
	return (ssize_t)n;
}

/* Copies policy string p into dst; false when it does not fit. */
static bool
aad_pcopy(char *dst, size_t dstlen, const struct pol_str *p, bool cut)
{
	size_t n = p->len;

	if (n >= dstlen && !cut)
		return false;
	if (n >= dstlen)
		n = dstlen - 1;
	if (n > 0)
		memcpy(dst, p->s, n);
	dst[n] = '\0';
	return memchr(dst, '\0', n) == NULL;
}

static struct aad_secret *
aad_secret_slot(struct aad *a, const struct aad_secret *want)
{
	struct aad_secret *free_slot = NULL;
	unsigned i;

	for (i = 0; i < LIM_AAD_IDENTITIES; i++) {
		struct aad_secret *s = &a->sec[i];

		if (!s->used) {
			if (free_slot == NULL)
				free_slot = s;
		} else if (!s->seen && s->kind == want->kind &&
		    strcmp(s->name, want->name) == 0 &&
		    strcmp(s->client_id, want->client_id) == 0 &&
		    strcmp(s->tenant, want->tenant) == 0 &&
		    strcmp(s->authority, want->authority) == 0)
			return s;
	}
	if (free_slot != NULL)
		memset(free_slot, 0, sizeof(*free_slot));
	return free_slot;
}

/* The slot of identity id (kept from the last policy when its kind, name,
 * client-id, tenant and authority are the same), marked seen; NULL when
 * a field is too long or the table is full (logged). */
static struct aad_secret *
aad_ident_take(struct aad *a, const struct pol_identity *id)
{
	struct aad_secret want = {0}, *s;

	want.kind = id->kind;
	if (!aad_pcopy(want.name, sizeof(want.name), &id->name, true) ||
	    !aad_pcopy(want.client_id, sizeof(want.client_id), &id->client_id,
	        false) ||
	    !aad_pcopy(want.tenant, sizeof(want.tenant), &id->tenant, false) ||
	    !aad_pcopy(want.authority, sizeof(want.authority), &id->authority,
	        false)) {
		log_warnx("aad: identity %s: a field is too long", want.name);
		return NULL;
	}
	if ((s = aad_secret_slot(a, &want)) == NULL) {
		log_warnx("aad: identity %s: more than %u Azure AD identities",
		    want.name, LIM_AAD_IDENTITIES);
		return NULL;
	}
	if (!s->used)
		*s = want;
	s->used = s->seen = true;
	s->v1 = id->aad_v1;
	return s;
}

/* One POL_SECRET identity: 0, or -1 when its secret is not there. */
static int
aad_secret_load(struct aad *a, const struct pol_identity *id)
{
	char path[4096], buf[LIM_AAD_SECRET_BYTES + 3];
	struct aad_secret *s;
	ssize_t n;

	if ((s = aad_ident_take(a, id)) == NULL)
		return -1;
	if (!aad_pcopy(path, sizeof(path), &id->secret_file, false)) {
		log_warnx(
		    "aad: identity %s: secret file name too long", s->name);
		return -1;
	}
	a->st.secret_loads++;
	n = aad_read_secret(path, buf, sizeof(buf));
	if (n < 0) {
		explicit_bzero(buf, sizeof(buf));
		log_warn("aad: identity %s: secret file %s%s", s->name, path,
		    s->loaded ? " (the secret read before is kept)" : "");
		return -1;
	}
	explicit_bzero(s->bytes, sizeof(s->bytes));
	memcpy(s->bytes, buf, (size_t)n);
	s->len = (size_t)n;
	s->loaded = true;
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

/* Reads a whole PEM file into buf (cap bytes); its length, or -1 with
 * errno (EFBIG when it does not fit). */
static ssize_t
aad_read_pem(const char *path, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r = 1;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while (n < cap && (r = read(fd, buf + n, cap - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			return -1;
		}
		n += (size_t)r;
	}
	/* Full: one more byte tells a file of exactly cap bytes apart. */
	if (n == cap && read(fd, &(char){0}, 1) != 0) {
		close(fd);
		errno = EFBIG;
		return -1;
	}
	close(fd);
	return (ssize_t)n;
}

/* Reads the certificate and key files of id into the reload buffers;
 * 0, or -1 (logged).  *keyp, *klen: the key's text (maybe the cert's). */
static int
aad_cert_files(struct aad *a, const struct pol_identity *id, const char *name,
    size_t *clen, const char **keyp, size_t *klen)
{
	char cpath[4096], kpath[4096];
	const struct pol_str *kf =
	    id->key_file.len > 0 ? &id->key_file : &id->cert_file;
	ssize_t n;

	if (!aad_pcopy(cpath, sizeof(cpath), &id->cert_file, false) ||
	    !aad_pcopy(kpath, sizeof(kpath), kf, false) || cpath[0] == '\0') {
		log_warnx(
		    "aad: identity %s: no usable certificate file name", name);
		return -1;
	}
	if ((n = aad_read_pem(cpath, a->pem_cert, sizeof(a->pem_cert))) < 0) {
		log_warn("aad: identity %s: certificate file %s", name, cpath);
		return -1;
	}
	*clen = (size_t)n;
	*keyp = a->pem_cert;
	*klen = *clen;
	if (strcmp(cpath, kpath) == 0)
		return 0;
	if ((n = aad_read_pem(kpath, a->pem_key, sizeof(a->pem_key))) < 0) {
		log_warn("aad: identity %s: key file %s", name, kpath);
		return -1;
	}
	*keyp = a->pem_key;
	*klen = (size_t)n;
	return 0;
}

/*
 * One POL_CERTIFICATE identity: its signer made again from the files (the
 * old one wiped first: a certificate that no longer loads must not keep
 * signing).  0, or -1 when it did not load.
 */
static int
aad_cert_load(struct aad *a, const struct pol_identity *id)
{
	struct aad_secret *s;
	const char *key = NULL;
	size_t clen = 0, klen = 0;
	int rc = -1;

	if ((s = aad_ident_take(a, id)) == NULL)
		return -1;
	a->st.cert_loads++;
	jwt_signer_cleanup(&s->signer);
	s->loaded = false;
	if (aad_cert_files(a, id, s->name, &clen, &key, &klen) != 0)
		goto out;
	rc = jwt_signer_init(&s->signer, id->signing, a->pem_cert, clen, key,
	    klen, a->pem_scratch, sizeof(a->pem_scratch));
	if (rc != 0) {
		log_warnx("aad: identity %s: certificate %.*s: %s", s->name,
		    (int)id->cert_file.len, id->cert_file.s, jwt_strerror(rc));
		rc = -1;
		goto out;
	}
	s->loaded = true;
out:
	explicit_bzero(a->pem_cert, sizeof(a->pem_cert));
	explicit_bzero(a->pem_key, sizeof(a->pem_key));
	explicit_bzero(a->pem_scratch, sizeof(a->pem_scratch));
	return rc;
}

/* One POL_FEDERATED identity: its audience (default Azure's). */
static int
aad_federated_load(struct aad *a, const struct pol_identity *id)
{
	struct aad_secret *s;

	if ((s = aad_ident_take(a, id)) == NULL)
		return -1;
	if (id->audience.len == 0)
		memcpy(s->audience, AAD_DEFAULT_AUDIENCE,
		    sizeof(AAD_DEFAULT_AUDIENCE));
	else if (!aad_pcopy(
	             s->audience, sizeof(s->audience), &id->audience, false)) {
		log_warnx("aad: identity %s: audience too long", s->name);
		s->loaded = false;
		return -1;
	}
	s->loaded = true;
	return 0;
}

static void
aad_ident_wipe(struct aad_secret *s)
{
	jwt_signer_cleanup(&s->signer);
	explicit_bzero(s, sizeof(*s));
}

int
aad_repolicy(struct aad *a, const struct pol *pol)
{
	unsigned i, bad = 0, cbad = 0;
	const struct pol_identity *id;

	/* Free slots are all zero (never used, or wiped): writing them would
	 * bring the whole table into memory (issue 3: ~1 MiB at start). */
	for (i = 0; i < LIM_AAD_IDENTITIES; i++)
		if (a->sec[i].used)
			a->sec[i].seen = false;
	for (i = 0; pol != NULL && i < pol->nidentities; i++) {
		id = &pol->identities[i];
		if (id->kind == POL_CERTIFICATE)
			cbad += aad_cert_load(a, id) != 0;
		else if ((id->kind == POL_SECRET &&
		             aad_secret_load(a, id) != 0) ||
		    (id->kind == POL_FEDERATED &&
		        aad_federated_load(a, id) != 0))
			bad++;
	}
	for (i = 0; i < LIM_AAD_IDENTITIES; i++)
		if (a->sec[i].used && !a->sec[i].seen)
			aad_ident_wipe(&a->sec[i]);
	a->st.secret_errors += bad;
	a->st.cert_errors += cbad;
	return (int)(bad + cbad);
}

static const struct aad_secret *
aad_secret_find(const struct aad *a, const struct tok_req *req)
{
	unsigned i;

	for (i = 0; i < LIM_AAD_IDENTITIES; i++) {
		const struct aad_secret *s = &a->sec[i];

		if (s->used && s->kind == req->kind &&
		    strcmp(s->name, req->identity) == 0 &&
		    strcmp(s->client_id, req->client_id) == 0 &&
		    strcmp(s->tenant, req->tenant) == 0 &&
		    strcmp(s->authority, req->authority) == 0)
			return s;
	}
	return NULL;
}

/* ---- authorities: address, rate, circuit ------------------------------- */

static bool aad_kick(struct aad *);
static void aad_q_remove(struct aad *, struct aad_fetch *);
static void aad_final(struct aad *, struct aad_fetch *, int, unsigned,
    const char *, const char *);

static struct aad_auth *
aad_auth_get(struct aad *a, const char *authority)
{
	struct aad_auth *free_slot = NULL;
	unsigned i;

	if (a->default_authority[0] != '\0' &&
	    strcmp(authority, AAD_DEFAULT_AUTHORITY) == 0)
		authority = a->default_authority;
	for (i = 0; i < LIM_AAD_AUTHORITIES; i++) {
		if (a->auth[i].used && strcmp(a->auth[i].key, authority) == 0)
			return &a->auth[i];
		if (!a->auth[i].used && free_slot == NULL)
			free_slot = &a->auth[i];
	}
	if (free_slot == NULL || strlen(authority) >= sizeof(free_slot->key) ||
	    aad_authority_parse(authority, &free_slot->url) != 0)
		return NULL;
	free_slot->used = true;
	free_slot->a = a;
	memcpy(free_slot->key, authority, strlen(authority) + 1);
	free_slot->have_addr = free_slot->url.literal;
	free_slot->addr_until = UINT64_MAX;
	return free_slot;
}

/* Fails the queued fetches of au (its lookup failed). */
static void
aad_fail_auth(struct aad *a, struct aad_auth *au, int err)
{
	struct aad_fetch *f;
	struct up_link *l;

again:
	for (l = a->q.head; l != NULL; l = l->next) {
		f = UP_ENTRY(l, struct aad_fetch, link);
		if (f->auth != au)
			continue;
		aad_q_remove(a, f);
		snprintf(f->audit, sizeof(f->audit), "aad_resolve");
		log_warnx("aad: identity %s: %s: %s", f->req->identity,
		    au->url.host, resolv_strerror(err));
		aad_final(a, f, 503, LIM_AAD_RETRY_AFTER_S,
		    "service_unavailable",
		    "Azure AD's address cannot be looked up");
		goto again; /* the cache's callbacks may have queued more */
	}
}

/* The resolver's answer: the first address is used for LIM_AAD_ADDR_MS
 * (the resolver caches for the TTL, so asking again is cheap). */
static void
aad_resolved(void *arg, int err, const struct in_addr *addrs, unsigned n)
{
	struct aad_auth *au = arg;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&au->url.addr;

	au->resolving = false;
	au->lookup = 0;
	if (err != 0 || n == 0) {
		aad_fail_auth(au->a, au, err != 0 ? err : RESOLV_E_NODATA);
		return;
	}
	memset(&au->url.addr, 0, sizeof(au->url.addr));
	s4->sin_family = AF_INET;
	s4->sin_port = htons(au->url.port);
	s4->sin_addr = addrs[0];
	au->url.addrlen = sizeof(*s4);
	au->have_addr = true;
	au->addr_until = loop_clock_ms() + LIM_AAD_ADDR_MS;
	(void)aad_kick(au->a);
}

/* Starts a lookup of au's host: 0 (an answer follows) or -1. */
static int
aad_lookup(struct aad *a, struct aad_auth *au)
{
	int rc;

	if (a->resolv == NULL) {
		log_warnx("aad: %s: no resolver for a host name", au->url.host);
		return -1;
	}
	rc = resolv_lookup(
	    a->resolv, au->url.host, aad_resolved, au, &au->lookup);
	if (rc != 0) {
		log_warnx("aad: %s: %s", au->url.host, resolv_strerror(rc));
		return -1;
	}
	return 0;
}

/* Azure AD answered: the circuit closes. */
static void
aad_circuit_ok(struct aad *a, struct aad_auth *au)
{
	au->fails = 0;
	if (au->circ != AC_CLOSED) {
		log_info("aad: %s answers again: circuit closed", au->url.host);
		if (au->circ == AC_OPEN)
			a->st.circuits_open--;
		au->circ = AC_CLOSED;
	}
}

/* A 5xx or transport failure: true when the circuit is open now. */
static bool
aad_circuit_fail(struct aad *a, struct aad_auth *au)
{
	au->fails++;
	if (au->circ == AC_OPEN)
		return true;
	if (au->circ != AC_HALF_OPEN && au->fails < a->opt.circuit_failures)
		return false;
	au->circ = AC_OPEN;
	au->open_until = loop_clock_ms() + a->opt.circuit_open_ms;
	a->st.circuit_opens++;
	a->st.circuits_open++;
	log_warnx("aad: %s: %u failures in a row: circuit open for %u ms",
	    au->url.host, au->fails, a->opt.circuit_open_ms);
	return true;
}

/* Seconds until au's circuit may let a probe through (>= 1). */
static unsigned
aad_circuit_wait_s(const struct aad_auth *au)
{
	uint64_t now = loop_clock_ms();

	if (au->open_until <= now)
		return 1;
	return (unsigned)((au->open_until - now + 999) / 1000);
}

/* ---- the queue, the kick ----------------------------------------------- */

static void
aad_q_insert(struct aad *a, struct aad_fetch *f, bool front)
{
	f->state = AS_QUEUED;
	up_q_insert(&a->q, &f->link, front);
	if (++a->st.queued > a->st.max_queued)
		a->st.max_queued = a->st.queued;
}

static void
aad_q_remove(struct aad *a, struct aad_fetch *f)
{
	up_q_remove(&a->q, &f->link);
	a->st.queued--;
}

static bool
aad_kick(struct aad *a)
{
	return loop_timer_pending(&a->kick) ||
	    loop_timer_set(a->loop, &a->kick, 0) == 0;
}

static void
aad_conn_end(struct aad *a, struct aad_conn *c)
{
	struct aad_fetch *f = c->f;

	if (f == NULL)
		return;
	if (f->auth != NULL) {
		f->auth->running--;
		if (f->probe)
			f->auth->probing = false;
	}
	f->probe = false;
	f->conn = NULL;
	c->f = NULL;
	a->st.running--;
}

/* The buffers saw a secret or a token: wipe them once a request is over. */
static void
aad_conn_wipe(struct aad_conn *c)
{
	explicit_bzero(c->req, c->reqlen);
	explicit_bzero(c->rbuf, sizeof(c->rbuf));
	explicit_bzero(c->body, c->r.bodylen);
	c->reqlen = c->r.bodylen = 0;
}

/* ---- results ----------------------------------------------------------- */

static void
aad_deliver(struct aad *a, struct aad_fetch *f, const struct tok_result *r)
{
	f->state = AS_ENDING;
	tokcache_fetched(a->tc, f->handle, r);
	explicit_bzero(f->sa_tok, f->sa_len);
	f->sa_len = 0;
	f->state = AS_FREE;
	f->conn = NULL;
	f->req = NULL;
	f->link.prev = f->link.next = NULL;
}

static void
aad_final(struct aad *a, struct aad_fetch *f, int status, unsigned ra,
    const char *error, const char *desc)
{
	struct tok_result r = {status, ra, NULL, error, desc, f->audit};

	a->st.failed++;
	aad_deliver(a, f, &r);
}

static void
aad_fast_fail(struct aad *a, struct aad_fetch *f)
{
	a->st.fast_fails++;
	snprintf(f->audit, sizeof(f->audit), "aad_circuit_open");
	aad_final(a, f, 503, aad_circuit_wait_s(f->auth), "service_unavailable",
	    "Azure AD is unavailable; retry later");
}

static void
aad_give_up(struct aad *a, struct aad_fetch *f)
{
	unsigned ra =
	    f->retry_after_s ? f->retry_after_s : LIM_AAD_RETRY_AFTER_S;

	log_warnx("aad: identity %s: no token after %u requests (%s)",
	    f->req->identity, f->attempts, f->audit);
	if (f->throttled)
		aad_final(a, f, 429, ra, "too_many_requests",
		    "Azure AD throttles token requests; retry later");
	else
		aad_final(a, f, 503, ra, "service_unavailable",
		    "Azure AD is unavailable; retry later");
}

static uint64_t
aad_jitter(struct aad *a, uint64_t delay)
{
	/* xorshift64*: jitter only, no secrecy needed. */
	a->rng ^= a->rng >> 12;
	a->rng ^= a->rng << 25;
	a->rng ^= a->rng >> 27;
	return delay / 2 + (a->rng * 2685821657736338717ull) % (delay / 2 + 1);
}

/* One request failed in a way worth retrying: back off, or give up. */
static void
aad_retry(struct aad *a, struct aad_fetch *f, unsigned ra, const char *code)
{
	uint64_t delay;

	snprintf(f->audit, sizeof(f->audit), "%s", code);
	f->retry_after_s = ra;
	/* Jittered, unlike IMDS's: nodes compete for one Azure AD. */
	if (!up_retry_delay(
	        aad_jitter(a, up_backoff_ms(a->opt.backoff_ms, f->attempts)),
	        ra, f->attempts, a->opt.attempts, loop_clock_ms() - f->start_ms,
	        a->opt.budget_ms, &delay)) {
		aad_give_up(a, f);
		return;
	}
	f->state = AS_BACKOFF;
	if (loop_timer_set(a->loop, &f->timer, delay) != 0) {
		aad_give_up(a, f);
		return;
	}
	a->st.retries++;
	log_debug("aad: identity %s: %s, retrying in %llu ms", f->req->identity,
	    code, (unsigned long long)delay);
}

/* A 5xx or transport failure: the circuit hears of it first. */
static void
aad_failed(struct aad *a, struct aad_fetch *f, unsigned ra, const char *code)
{
	if (aad_circuit_fail(a, f->auth)) {
		snprintf(f->audit, sizeof(f->audit), "%s", code);
		a->st.fast_fails++;
		aad_final(a, f, 503, aad_circuit_wait_s(f->auth),
		    "service_unavailable",
		    "Azure AD is unavailable; retry later");
		return;
	}
	aad_retry(a, f, ra, code);
}

static void
aad_ok(struct aad *a, struct aad_fetch *f, struct aad_conn *c)
{
	struct tok_result r = {200, 0, &a->tok, NULL, NULL, "ok"};
	int rc;

	rc = aad_decode(c->body, c->r.bodylen, (int64_t)time(NULL), &a->tok);
	if (rc != 0) {
		log_warnx("aad: identity %s: unusable token answer (%s)",
		    f->req->identity, aad_strerror(rc));
		a->st.bad_answer++;
		snprintf(f->audit, sizeof(f->audit), "aad_bad_token");
		aad_final(a, f, 503, LIM_AAD_RETRY_AFTER_S,
		    "service_unavailable", "Azure AD gave an unusable answer");
		return;
	}
	/* As IMDS answers: the resource the pod asked, the client id. */
	memcpy(a->tok.resource, f->req->resource, sizeof(a->tok.resource));
	memcpy(a->tok.client_id, f->req->client_id, sizeof(a->tok.client_id));
	a->st.ok++;
	aad_deliver(a, f, &r);
	explicit_bzero(&a->tok, sizeof(a->tok));
}

/* Azure AD's error names that IMDS's identity errors share. */
static const char *
aad_imds_error(const char *e)
{
	static const char *const same[] = {"invalid_request",
	    "unauthorized_client", "invalid_scope", "invalid_resource",
	    "access_denied"};
	unsigned i;

	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		if (strcmp(e, same[i]) == 0)
			return same[i];
	return strcmp(e, "invalid_client") == 0 ? "unauthorized_client"
	                                        : "invalid_request";
}

/* A 4xx: Azure AD refused the request itself; the pods get 400. */
static void
aad_refused(struct aad *a, struct aad_fetch *f, struct aad_conn *c)
{
	struct aad_error *e = &a->eb;

	a->st.refused++;
	if (aad_decode_error(c->body, c->r.bodylen, e) != 0)
		snprintf(e->error, sizeof(e->error), "invalid_request");
	if (e->code != 0)
		snprintf(f->audit, sizeof(f->audit), "AADSTS%u", e->code);
	else
		snprintf(f->audit, sizeof(f->audit), "aad_%d", c->r.status);
	if (e->desc[0] != '\0')
		snprintf(a->desc, sizeof(a->desc),
		    "Azure AD refused the token request: %s", e->desc);
	else
		snprintf(a->desc, sizeof(a->desc),
		    "Azure AD refused the token request (HTTP %d, %s)",
		    c->r.status, e->error);
	log_warnx("aad: identity %s: Azure AD answered %d %s (%s, "
	          "correlation %s)",
	    f->req->identity, c->r.status, e->error, f->audit,
	    e->correlation[0] ? e->correlation : "none");
	aad_final(a, f, 400, 0, aad_imds_error(e->error), a->desc);
}

static const char *
aad_transport_code(int err)
{
	switch (err) {
	case HCLIENT_E_CONNECT:
		return "connect";
	case HCLIENT_E_TIMEOUT:
		return "timeout";
	case HCLIENT_E_CLOSED:
		return "closed";
	case HCLIENT_E_TLS:
		return "tls";
	case HCLIENT_E_HEAD:
	case HCLIENT_E_PROTO:
		return "malformed";
	default:
		return "io";
	}
}

static void
aad_answered(struct aad *a, struct aad_fetch *f, struct aad_conn *c)
{
	char code[16];

	snprintf(code, sizeof(code), "aad_%d", c->r.status);
	if (c->r.status == 429) {
		a->st.throttled++;
		f->throttled = true;
		aad_retry(a, f, c->r.retry_after_s, code);
		return;
	}
	f->throttled = false;
	if (c->r.status == 408 || (c->r.status >= 500 && c->r.status <= 599)) {
		a->st.server++;
		aad_failed(a, f, c->r.retry_after_s, code);
		return;
	}
	aad_circuit_ok(a, f->auth);
	if (c->r.status == 200)
		aad_ok(a, f, c);
	else if (c->r.status >= 400 && c->r.status <= 499)
		aad_refused(a, f, c);
	else {
		a->st.bad_answer++;
		snprintf(f->audit, sizeof(f->audit), "%s", code);
		aad_final(a, f, 503, LIM_AAD_RETRY_AFTER_S,
		    "service_unavailable", "Azure AD gave an unusable answer");
	}
}

/* A request ended (err 0: a whole response in c): what comes next. */
static void
aad_outcome(struct aad *a, struct aad_fetch *f, struct aad_conn *c, int err)
{
	if (err == HCLIENT_E_ABORT) {
		a->st.bad_answer++;
		snprintf(f->audit, sizeof(f->audit), "aad_too_large");
		aad_final(a, f, 503, LIM_AAD_RETRY_AFTER_S,
		    "service_unavailable", "Azure AD's answer is too large");
	} else if (err != 0 && c->reused && !f->resent && c->r.status == 0 &&
	    (err == HCLIENT_E_CLOSED || err == HCLIENT_E_IO)) {
		/* Azure AD let the idle connection go as we reused it:
		 * resend at once on a new one; it was never answered. */
		f->resent = true;
		f->attempts--;
		aad_q_insert(a, f, true);
	} else if (err != 0) {
		char why[96];

		a->st.transport++;
		log_debug("aad: identity %s: %s", f->req->identity,
		    hclient_strerror(&c->hc, why, sizeof(why)));
		aad_failed(a, f, 0, aad_transport_code(err));
	} else
		aad_answered(a, f, c);
}

/* ---- requests ---------------------------------------------------------- */

static void
aad_done_cb(struct hclient *hc, int err, void *arg)
{
	struct aad_conn *c = arg;
	struct aad *a = c->a;
	struct aad_fetch *f = c->f;

	(void)hc;
	aad_conn_end(a, c);
	if (f != NULL) {
		up_observe(&a->st.dur_ok, &a->st.dur_error,
		    err == 0 && c->r.status == 200, c->sent_us);
		aad_outcome(a, f, c, err);
	}
	aad_conn_wipe(c);
	(void)aad_kick(a);
}

static const struct hclient_cb aad_cb = {up_head_cb, up_body_cb, aad_done_cb};

/* A credential is missing: 503 with audit code, logged. */
static int
aad_no_cred(struct aad *a, struct aad_fetch *f, const char *code,
    const char *why, const char *desc)
{
	snprintf(f->audit, sizeof(f->audit), "%s", code);
	log_warnx("aad: identity %s: %s", f->req->identity, why);
	aad_final(
	    a, f, 503, LIM_AAD_RETRY_AFTER_S, "service_unavailable", desc);
	return -1;
}

/* A fresh assertion of s's signer for aud into a->assertion. */
static int
aad_sign(struct aad *a, struct aad_fetch *f, const struct aad_secret *s,
    const char *aud, struct aad_cred *cred)
{
	unsigned char rnd[JWT_RANDOM_BYTES];
	ssize_t n;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		explicit_bzero(rnd, sizeof(rnd));
		return aad_no_cred(a, f, "aad_random", "getrandom failed",
		    "podid cannot sign the client assertion");
	}
	n = jwt_assertion(a->assertion, sizeof(a->assertion), &s->signer,
	    f->req->client_id, aud, (int64_t)time(NULL), LIM_JWT_LIFETIME_S,
	    rnd);
	explicit_bzero(rnd, sizeof(rnd));
	if (n < 0) {
		explicit_bzero(a->assertion, sizeof(a->assertion));
		log_warnx("aad: identity %s: assertion: %s", f->req->identity,
		    jwt_strerror((int)n));
		return aad_no_cred(a, f, "aad_assertion",
		    "the client assertion was not signed",
		    "podid cannot sign the client assertion");
	}
	a->st.assertions++;
	cred->assertion = a->assertion;
	cred->assertion_len = (size_t)n;
	return 0;
}

/* f's credential into *cred (aud: the token URL); 0, or -1 with f
 * answered. */
static int
aad_credential(struct aad *a, struct aad_fetch *f, const struct aad_secret *s,
    const char *aud, struct aad_cred *cred)
{
	switch (f->req->kind) {
	case POL_SECRET:
		if (s == NULL || !s->loaded)
			return aad_no_cred(a, f, "aad_no_secret",
			    "no client secret loaded",
			    "the identity's client secret is not available");
		cred->secret = s->bytes;
		cred->secret_len = s->len;
		return 0;
	case POL_CERTIFICATE:
		if (s == NULL || !s->loaded)
			return aad_no_cred(a, f, "cert_load_failed",
			    "no certificate loaded",
			    "the identity's certificate is not available");
		return aad_sign(a, f, s, aud, cred);
	case POL_FEDERATED:
		if (f->sa_len == 0)
			return aad_no_cred(a, f, "aad_no_sa_token",
			    "no service-account token",
			    "the pod's service-account token is not available");
		cred->assertion = f->sa_tok;
		cred->assertion_len = f->sa_len;
		return 0;
	default:
		return aad_no_cred(a, f, "aad_kind", "unusable kind",
		    "the identity cannot be served");
	}
}

/* The token URL's path into target and the whole URL (the assertion's
 * aud) into url; 0 or -1. */
static int
aad_target(const struct aad_fetch *f, bool v1, char *target, size_t tlen,
    char *url, size_t ulen)
{
	size_t o = 0;
	int n;

	if (aad_append(target, tlen, &o, f->auth->url.path,
	        strlen(f->auth->url.path), false) != 0 ||
	    aad_append(target, tlen, &o, "/", 1, false) != 0 ||
	    aad_append(target, tlen, &o, f->req->tenant, strlen(f->req->tenant),
	        true) != 0 ||
	    aad_append(target, tlen, &o,
	        v1 ? "/oauth2/token" : "/oauth2/v2.0/token", v1 ? 13 : 18,
	        false) != 0)
		return -1;
	target[o] = '\0';
	n = snprintf(url, ulen, "https://%s%s", f->auth->url.hostport, target);
	return n < 0 || (size_t)n >= ulen ? -1 : 0;
}

/* Writes f's request into c->req; 0, or -1 with f answered. */
static int
aad_build(struct aad *a, struct aad_fetch *f, struct aad_conn *c)
{
	static const struct httpc_hdr hdr[] = {
	    {HTTPC_STR("Content-Type"),
	        HTTPC_STR("application/x-www-form-urlencoded")},
	    {HTTPC_STR("Accept"), HTTPC_STR("application/json")}};
	const struct aad_secret *s = aad_secret_find(a, f->req);
	struct aad_cred cred = {NULL, 0, NULL, 0};
	char target[512], url[sizeof(target) + sizeof(f->auth->url.hostport)];
	bool v1 = s != NULL && s->v1;
	int n = -1, h;

	if (aad_target(f, v1, target, sizeof(target), url, sizeof(url)) == 0) {
		if (aad_credential(a, f, s, url, &cred) != 0)
			return -1;
		n = aad_form(a->form, sizeof(a->form), f->req, v1, &cred);
	}
	explicit_bzero(a->assertion,
	    cred.assertion == a->assertion ? cred.assertion_len : 0);
	h = n < 0 ? -1
	          : httpc_req_format(c->req, sizeof(c->req), "POST",
	                f->auth->url.hostport, target, hdr, 2, (size_t)n);
	if (h < 0 || (size_t)h + (size_t)n > sizeof(c->req)) {
		explicit_bzero(a->form, sizeof(a->form));
		snprintf(f->audit, sizeof(f->audit), "aad_request_too_long");
		aad_final(a, f, 400, 0, "invalid_request",
		    "the token request does not fit");
		return -1;
	}
	memcpy(c->req + h, a->form, (size_t)n);
	c->reqlen = (size_t)h + (size_t)n;
	explicit_bzero(a->form, (size_t)n);
	return 0;
}

static void
aad_send(struct aad *a, struct aad_fetch *f, struct aad_conn *c, uint64_t now)
{
	struct aad_auth *au = f->auth;

	if (aad_build(a, f, c) != 0)
		return;
	up_rate_note(&au->rate, LIM_AAD_RATE_PER_S, now);
	if (au->circ == AC_HALF_OPEN)
		au->probing = f->probe = true;
	f->state = AS_RUNNING;
	f->conn = c;
	f->attempts++;
	c->f = f;
	up_resp_start(&c->r);
	c->reused = c->hc.state == HC_KEEPALIVE;
	c->sent_us = loop_clock_us();
	au->running++;
	a->st.requests++;
	if (++a->st.running > a->st.max_running)
		a->st.max_running = a->st.running;
	if (hclient_request(&c->hc, (const struct sockaddr *)&au->url.addr,
	        au->url.addrlen, au->url.host, c->req, c->reqlen,
	        a->opt.attempt_ms, &aad_cb, c) != 0) {
		aad_conn_end(a, c);
		aad_conn_wipe(c);
		a->st.transport++;
		aad_failed(a, f, 0, "connect");
	}
}

/*
 * Readies a connection slot when first taken, so that start-up leaves the
 * slots' TLS contexts (26 KiB each) untouched (issue 3).  It cannot fail:
 * aad_new checked the anchors, and the I/O buffer has BearSSL's size; if
 * it did, the slot stays unready and is not used.
 */
static bool
aad_conn_ready(struct aad *a, struct aad_conn *c)
{
	if (c->a != NULL)
		return true;
	if (tls_conn_init(&c->tls, a->anchors, c->iobuf, sizeof(c->iobuf)) != 0)
		return false;
	hclient_init(&c->hc, a->loop, &c->tls, c->rbuf, sizeof(c->rbuf));
	up_resp_init(
	    &c->r, c->body, sizeof(c->body), LIM_AAD_RETRY_AFTER_MAX_S);
	c->a = a;
	return true;
}

/* A free connection: kept alive to au first, then idle, then any.  An
 * unready slot is idle (HC_IDLE is zero) and is readied here. */
static struct aad_conn *
aad_idle_conn(struct aad *a, const struct aad_auth *au)
{
	struct aad_conn *idle = NULL, *any = NULL, *c;
	unsigned i;

	for (i = 0; i < LIM_AAD_CONNS; i++) {
		c = &a->conn[i];
		if (c->f != NULL)
			continue;
		if (c->hc.state == HC_KEEPALIVE &&
		    c->hc.peerlen == au->url.addrlen &&
		    memcmp(&c->hc.peer, &au->url.addr, au->url.addrlen) == 0)
			return c;
		if (c->hc.state == HC_IDLE && idle == NULL)
			idle = c;
		if (any == NULL)
			any = c;
	}
	c = idle != NULL ? idle : any;
	return c != NULL && aad_conn_ready(a, c) ? c : NULL;
}

/*
 * Whether f may go now: 1 yes, 0 not yet (it waits), -1 failed fast
 * (answered: the queue may have changed).
 */
static int
aad_ready(struct aad *a, struct aad_fetch *f, uint64_t now, uint64_t *wait)
{
	struct aad_auth *au = f->auth;
	uint64_t w;

	if (au->circ == AC_OPEN && now < au->open_until) {
		aad_q_remove(a, f);
		aad_fast_fail(a, f);
		return -1;
	}
	if (au->circ == AC_OPEN) {
		au->circ = AC_HALF_OPEN;
		a->st.circuits_open--;
	}
	if (au->circ == AC_HALF_OPEN && au->probing)
		return 0;
	if (!au->have_addr || now >= au->addr_until) {
		if (!au->resolving && aad_lookup(a, au) == 0)
			au->resolving = true;
		if (!au->resolving) {
			aad_q_remove(a, f);
			snprintf(f->audit, sizeof(f->audit), "aad_resolve");
			aad_final(a, f, 503, LIM_AAD_RETRY_AFTER_S,
			    "service_unavailable",
			    "Azure AD's address cannot be looked up");
			return -1;
		}
		return 0;
	}
	if (au->running >= LIM_AAD_CONCURRENCY)
		return 0;
	if ((w = up_rate_wait(&au->rate, LIM_AAD_RATE_PER_S, 1000, now)) > 0) {
		if (*wait == 0 || w < *wait)
			*wait = w;
		return 0;
	}
	return 1;
}

/* Sends queued fetches whose authority is ready, while connections last. */
static void
aad_pump(struct aad *a)
{
	struct up_link *l, *next;
	struct aad_fetch *f;
	struct aad_conn *c;
	uint64_t now, wait;
	int r;

again:
	wait = 0;
	now = loop_clock_ms();
	for (l = a->q.head; l != NULL; l = next) {
		next = l->next;
		f = UP_ENTRY(l, struct aad_fetch, link);
		if ((r = aad_ready(a, f, now, &wait)) < 0)
			goto again;
		if (r == 0)
			continue;
		if ((c = aad_idle_conn(a, f->auth)) == NULL)
			break;
		aad_q_remove(a, f);
		aad_send(a, f, c, now);
		goto again; /* a failed send may have answered the cache */
	}
	if (wait > 0) {
		a->st.rate_waits++;
		(void)loop_timer_set(a->loop, &a->rate_timer, wait);
	}
}

static const struct tok_result aad_busy = {503, LIM_AAD_RETRY_AFTER_S, NULL,
    "service_unavailable",
    "too many token requests wait for Azure AD; retry later", "aad_queue_full"};
static const struct tok_result aad_no_api = {503, LIM_AAD_RETRY_AFTER_S, NULL,
    "service_unavailable",
    "podid has no API server client for federated identities", "no_api_server"};
static const struct tok_result aad_kt_full = {503, LIM_AAD_RETRY_AFTER_S, NULL,
    "service_unavailable",
    "too many service-account tokens are being asked for; retry later",
    "tokenrequest_full"};
static const struct tok_result aad_kt_arg = {503, LIM_AAD_RETRY_AFTER_S, NULL,
    "service_unavailable", "the pod's names cannot be used in a TokenRequest",
    "tokenrequest_bad_name"};

static void
aad_rejects(struct aad *a)
{
	struct aad_reject e;
	unsigned n = a->rcount;

	while (n-- > 0 && a->rcount > 0) {
		e = a->rej[a->rhead];
		a->rhead = (a->rhead + 1) % LIM_AAD_QUEUE;
		a->rcount--;
		if (e.live)
			tokcache_fetched(a->tc, e.handle, e.r);
	}
}

static void
aad_kick_cb(struct loop *l, struct loop_timer *t, void *arg)
{
	(void)l;
	(void)t;
	aad_rejects(arg);
	aad_pump(arg);
}

static void
aad_rate_cb(struct loop *l, struct loop_timer *t, void *arg)
{
	(void)l;
	(void)t;
	aad_pump(arg);
}

static void
aad_backoff_cb(struct loop *l, struct loop_timer *t, void *arg)
{
	struct aad_fetch *f = arg;

	(void)l;
	(void)t;
	aad_q_insert(f->a, f, true); /* older than anything queued since */
	aad_pump(f->a);
}

/* ---- the fetcher ------------------------------------------------------- */

/* Answers handle with r from the kick timer (never inside start). */
static int
aad_reject(struct aad *a, uint32_t handle, const struct tok_result *r)
{
	if (a->rcount == LIM_AAD_QUEUE || !aad_kick(a))
		return -1;
	a->rej[(a->rhead + a->rcount++) % LIM_AAD_QUEUE] =
	    (struct aad_reject){handle, true, r};
	if (r == &aad_busy)
		a->st.rejected++;
	else
		a->st.failed++;
	return 0;
}

/* Why ktoken gave no token: the audit code, and a log line saying why. */
static void
aad_kt_failed(struct aad *a, struct aad_fetch *f, int err, int status)
{
	const struct tok_req *q = f->req;
	const char *why = "";

	if (err == KTOKEN_E_HTTP) {
		snprintf(f->audit, sizeof(f->audit), "tokenrequest_%d", status);
		why = status == 403 ? ": podid needs create on "
		                      "serviceaccounts/token (RBAC)"
		    : status == 404 ? ": no such pod or service account"
		                    : "";
	} else
		snprintf(f->audit, sizeof(f->audit), "%s",
		    err == KTOKEN_E_GONE          ? "pod_gone"
		        : err == KTOKEN_E_CONNECT ? "tokenrequest_connect"
		        : err == KTOKEN_E_DECODE  ? "tokenrequest_decode"
		        : err == KTOKEN_E_AUTH    ? "tokenrequest_auth"
		                                  : "tokenrequest_failed");
	log_warnx("aad: identity %s: no service-account token for %s/%s "
	          "(pod %s): %s%s",
	    q->identity, q->pod_ns, q->pod_sa, q->pod_name, f->audit, why);
	a->st.sa_errors++;
	aad_final(a, f, 503, LIM_AAD_RETRY_AFTER_S, "service_unavailable",
	    "the pod's service-account token is not available");
}

/* ktoken's answer for a federated fetch (from the loop). */
static void
aad_kt_cb(void *arg, int err, int status, const char *token, size_t len,
    int64_t expires)
{
	struct aad_fetch *f = arg;
	struct aad *a = f->a;

	(void)expires;
	if (f->state != AS_TOKEN)
		return;
	if (err == 0 && (len == 0 || len > LIM_KTOKEN_BYTES))
		err = KTOKEN_E_DECODE;
	if (err != 0) {
		aad_kt_failed(a, f, err, status);
		return;
	}
	memcpy(f->sa_tok, token, len);
	f->sa_tok[len] = '\0';
	f->sa_len = len;
	a->st.sa_tokens++;
	aad_q_insert(a, f, false);
	aad_pump(a);
}

/* A federated fetch asks for the pod's token first; 0, or -1 when f
 * was not used (then handle is answered through the reject ring). */
static int
aad_start_federated(struct aad *a, struct aad_fetch *f, uint32_t handle)
{
	const struct aad_secret *s = aad_secret_find(a, f->req);
	const struct tok_req *q = f->req;
	int rc;

	if (a->kt == NULL)
		return aad_reject(a, handle, &aad_no_api) == 0 ? 1 : -1;
	f->state = AS_TOKEN;
	rc = ktoken_get(a->kt, q->pod_ns, q->pod_sa, q->pod_name, q->pod_uid,
	    s != NULL && s->loaded ? s->audience : AAD_DEFAULT_AUDIENCE,
	    aad_kt_cb, f, &f->kt_handle);
	if (rc == 0)
		return 0;
	f->state = AS_FREE;
	f->req = NULL;
	log_warnx("aad: identity %s: TokenRequest for %s/%s not asked (%s)",
	    q->identity, q->pod_ns, q->pod_sa,
	    rc == KTOKEN_E_FULL ? "queue full" : "bad name");
	return aad_reject(a, handle,
	           rc == KTOKEN_E_FULL ? &aad_kt_full : &aad_kt_arg) == 0
	    ? 1
	    : -1;
}

static int
aad_start(void *ctx, const struct tok_req *req, uint32_t handle)
{
	struct aad *a = ctx;
	struct aad_fetch *f = NULL;
	struct aad_auth *au;
	unsigned i;

	a->st.fetches++;
	if ((req->kind != POL_SECRET && req->kind != POL_CERTIFICATE &&
	        req->kind != POL_FEDERATED) ||
	    (au = aad_auth_get(a, req->authority)) == NULL || !aad_kick(a)) {
		log_warnx("aad: identity %s: unusable kind or authority %s",
		    req->identity, req->authority);
		a->st.failed++;
		return -1;
	}
	for (i = 0; i < AAD_NFETCH && f == NULL; i++)
		if (a->fetch[i].state == AS_FREE)
			f = &a->fetch[i];
	if (f == NULL)
		return aad_reject(a, handle, &aad_busy);
	f->handle = handle;
	f->req = req;
	f->auth = au;
	f->attempts = 0;
	f->resent = f->throttled = f->probe = false;
	f->start_ms = loop_clock_ms();
	f->retry_after_s = 0;
	f->audit[0] = '\0';
	f->sa_len = 0;
	if (req->kind == POL_FEDERATED)
		return aad_start_federated(a, f, handle) < 0 ? -1 : 0;
	aad_q_insert(a, f, false);
	return 0;
}

static void
aad_cancel(void *ctx, uint32_t handle)
{
	struct aad *a = ctx;
	struct aad_fetch *f;
	unsigned i;

	for (i = 0; i < LIM_AAD_QUEUE; i++)
		if (a->rej[i].handle == handle)
			a->rej[i].live = false;
	for (i = 0; i < AAD_NFETCH; i++) {
		f = &a->fetch[i];
		if (f->handle != handle || f->state == AS_FREE ||
		    f->state == AS_ENDING)
			continue;
		if (f->state == AS_QUEUED)
			aad_q_remove(a, f);
		else if (f->state == AS_TOKEN)
			ktoken_cancel(a->kt, f->kt_handle);
		else if (f->state == AS_BACKOFF)
			loop_timer_cancel(a->loop, &f->timer);
		else if (f->state == AS_RUNNING) {
			struct aad_conn *c = f->conn;

			hclient_close(&c->hc);
			aad_conn_end(a, c);
			aad_conn_wipe(c);
			(void)aad_kick(a);
		}
		explicit_bzero(f->sa_tok, f->sa_len);
		f->sa_len = 0;
		f->state = AS_FREE;
		f->req = NULL;
		return;
	}
}

void
aad_set_ktoken(struct aad *a, struct ktoken *kt)
{
	a->kt = kt;
}

struct tok_fetcher
aad_fetcher(struct aad *a)
{
	struct tok_fetcher f = {aad_start, aad_cancel, a};

	return f;
}

/* ---- life -------------------------------------------------------------- */

void
aad_opts_default(struct aad_opts *o)
{
	o->attempts = LIM_AAD_ATTEMPTS;
	o->backoff_ms = LIM_AAD_BACKOFF_MS;
	o->budget_ms = LIM_AAD_RETRY_BUDGET_MS;
	o->attempt_ms = LIM_AAD_ATTEMPT_MS;
	o->circuit_failures = LIM_AAD_CIRCUIT_FAILURES;
	o->circuit_open_ms = LIM_AAD_CIRCUIT_OPEN_MS;
}

int
aad_set_opts(struct aad *a, const struct aad_opts *o)
{
	if (o->attempts == 0 || o->attempts > LIM_AAD_ATTEMPTS ||
	    o->attempt_ms == 0 || o->circuit_failures == 0)
		return -1;
	a->opt = *o;
	return 0;
}

void
aad_stats(const struct aad *a, struct aad_stats *st)
{
	*st = a->st;
}

struct aad *
aad_new(struct loop *loop, struct tokcache *tc,
    const struct pem_anchors *anchors, struct resolv *resolver,
    const char *default_authority, const struct pol *pol)
{
	struct aad_url u;
	struct aad *a;
	unsigned i;

	if (loop == NULL || tc == NULL || anchors == NULL ||
	    anchors->count == 0 ||
	    (default_authority != NULL && *default_authority != '\0' &&
	        (strlen(default_authority) >= sizeof(a->default_authority) ||
	            aad_authority_parse(default_authority, &u) != 0))) {
		errno = EINVAL;
		return NULL;
	}
	/* The one allocation, at start-up; it holds secrets and tokens, so
	 * it stays out of core dumps. */
	a = mmap(NULL, sizeof(*a), PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED) {
		errno = ENOMEM;
		return NULL;
	}
	(void)madvise(a, sizeof(*a), MADV_DONTDUMP);
	a->loop = loop;
	a->tc = tc;
	a->anchors = anchors;
	a->resolv = resolver;
	if (default_authority != NULL)
		snprintf(a->default_authority, sizeof(a->default_authority),
		    "%s", default_authority);
	aad_opts_default(&a->opt);
	if (getrandom(&a->rng, sizeof(a->rng), GRND_NONBLOCK) !=
	        (ssize_t)sizeof(a->rng) ||
	    a->rng == 0)
		a->rng = loop_clock_ms() ^ ((uint64_t)getpid() << 32) ^ 1;
	loop_timer_init(&a->kick, aad_kick_cb, a);
	loop_timer_init(&a->rate_timer, aad_rate_cb, a);
	for (i = 0; i < AAD_NFETCH; i++) {
		a->fetch[i].a = a;
		a->fetch[i].sa_tok = a->sa_tok[i];
		loop_timer_init(
		    &a->fetch[i].timer, aad_backoff_cb, &a->fetch[i]);
	}
	/* Connection slots are readied when first taken (aad_conn_ready). */
	(void)aad_repolicy(a, pol);
	return a;
}

void
aad_free(struct aad *a)
{
	unsigned i;

	if (a == NULL)
		return;
	for (i = 0; i < LIM_AAD_AUTHORITIES; i++)
		if (a->auth[i].resolving && a->resolv != NULL)
			resolv_cancel(a->resolv, a->auth[i].lookup);
	for (i = 0; i < LIM_AAD_CONNS; i++) {
		if (a->conn[i].a == NULL)
			continue; /* never readied */
		hclient_close(&a->conn[i].hc);
		tls_conn_cleanup(&a->conn[i].tls);
	}
	for (i = 0; i < AAD_NFETCH; i++) {
		if (a->fetch[i].state == AS_TOKEN && a->kt != NULL)
			ktoken_cancel(a->kt, a->fetch[i].kt_handle);
		loop_timer_cancel(a->loop, &a->fetch[i].timer);
	}
	for (i = 0; i < LIM_AAD_IDENTITIES; i++)
		jwt_signer_cleanup(&a->sec[i].signer);
	loop_timer_cancel(a->loop, &a->kick);
	loop_timer_cancel(a->loop, &a->rate_timer);
	explicit_bzero(a, sizeof(*a));
	munmap(a, sizeof(*a));
}
