/*
 * podid selftest: the I/O half.  Asks the agent's ops listener (loopback),
 * reads the policy file, the agent's /proc status and the nf_tables
 * ruleset, and connects to the upstreams, then prints the report
 * (selftest/selftest.c judges).  Plain blocking sockets with timeouts: a
 * command-line tool, run by hand or by `kubectl exec`.
 */
#include <arpa/inet.h>
#include <bearssl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/cmd.h"
#include "agent/httpc.h"
#include "agent/imdsc.h"
#include "agent/limits.h"
#include "agent/log.h"
#include "agent/rules.h"
#include "agent/server.h"
#include "policy/policy.h"
#include "selftest/selftest.h"

/* A namespace is a DNS label, a pod name a DNS subdomain. */
#define ST_NS_BYTES   63
#define ST_NAME_BYTES 253
/* /status/pod?ns=NS&name=NAME&resource=R, each percent-encoded (x3). */
#define ST_POD_PATH_BYTES                                                      \
	(sizeof("/status/pod?ns=&name=&resource=") +                           \
	    (size_t)3 *                                                        \
	        (ST_NS_BYTES + ST_NAME_BYTES + LIM_TOK_RESOURCE_BYTES))

static const char st_usage[] =
    "usage: podid selftest [--ops ADDR:PORT] [--policy FILE] [--user UID]\n"
    "                      [--pod NS/NAME [--resource R]] [--json]\n"
    "                      [--max-event-age S]\n"
    "\n"
    "Checks the running agent from beside it (its container, or the node):\n"
    "agent (its ops listener answers), policy (the file parses and is the\n"
    "running one), kube (synced, watch current), pods (cache use), rules\n"
    "(the DNAT rule, or the keeper when nf_tables cannot be read),\n"
    "privileges (no capability, the expected --user), upstream (IMDS and\n"
    "Azure AD reachable) and, with --pod, that pod's identities and, with\n"
    "--resource, a token fetched through the agent (never printed).\n"
    "One line per check: PASS, WARN or FAIL and why; --json for one JSON\n"
    "object.  Exit 0 when no check fails, 1 otherwise, 64 on bad usage.\n"
    "Defaults: --ops 127.0.0.1:2580, the agent's own --policy file and\n"
    "user, --max-event-age 330 (the watch timeout and its grace).\n";

struct st_opts {
	const char *ops, *policy, *pod, *resource;
	bool json, has_user;
	unsigned user;
	uint64_t max_age_ms;
};

/* ---- a blocking HTTP GET to the ops listener ------------------------------ */

/* A TCP connection within ms, or -1 with errno. */
static int
st_connect(const struct sockaddr *sa, socklen_t len, int ms)
{
	struct pollfd p;
	socklen_t el = sizeof(int);
	int fd, err = 0;

	if ((fd = socket(sa->sa_family,
	         SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1)
		return -1;
	if (connect(fd, sa, len) == -1 && errno != EINPROGRESS)
		goto fail;
	p.fd = fd;
	p.events = POLLOUT;
	if ((err = poll(&p, 1, ms)) <= 0) {
		errno = err == 0 ? ETIMEDOUT : errno;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == -1 || err) {
		errno = err ? err : errno;
		goto fail;
	}
	(void)fcntl(fd, F_SETFL, 0);
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

struct st_http {
	char buf[LIM_SELFTEST_RESP_BYTES];
	size_t len;
	int status;
	const char *body;
	size_t blen;
};

/* Reads the whole answer (the request said Connection: close). */
static int
st_read_all(int fd, struct st_http *h, int ms)
{
	struct timeval tv = {ms / 1000, (suseconds_t)(ms % 1000) * 1000};
	ssize_t n;

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	h->len = 0;
	while (h->len < sizeof(h->buf) &&
	    (n = read(fd, h->buf + h->len, sizeof(h->buf) - h->len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		h->len += (size_t)n;
	}
	if (h->len == sizeof(h->buf)) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

/* GET path from the ops listener; 0 with h filled, or -1 (errno). */
static int
st_get(const char *ops, const char *path, int ms, struct st_http *h)
{
	static struct httpc_resp resp;
	struct sockaddr_storage ss;
	socklen_t sl;
	char req[2048];
	int fd, n, head;

	if (server_parse_addr(ops, &ss, &sl) == -1) {
		errno = EINVAL;
		return -1;
	}
	n = snprintf(req, sizeof(req),
	    "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path,
	    ops);
	if (n < 0 || (size_t)n >= sizeof(req)) {
		errno = E2BIG;
		return -1;
	}
	if ((fd = st_connect((struct sockaddr *)&ss, sl, LIM_SELFTEST_IO_MS)) ==
	    -1)
		return -1;
	if (write(fd, req, (size_t)n) != n || st_read_all(fd, h, ms) == -1) {
		n = errno;
		close(fd);
		errno = n;
		return -1;
	}
	close(fd);
	httpc_resp_init(&resp);
	if ((head = httpc_resp_feed(&resp, h->buf, h->len)) < 0 ||
	    (resp.body == HTTPC_BODY_LENGTH &&
	        resp.content_length > h->len - (size_t)head)) {
		errno = EPROTO;
		return -1;
	}
	h->status = resp.status;
	h->body = h->buf + head;
	h->blen = resp.body == HTTPC_BODY_LENGTH ? (size_t)resp.content_length
	                                         : h->len - (size_t)head;
	return 0;
}

/* ---- the checks that need I/O ----------------------------------------------- */

static int
st_check_agent(struct selftest_report *r, const struct st_opts *o,
    struct st_http *h, struct selftest_status *st)
{
	int rc;

	if (st_get(o->ops, "/healthz", LIM_SELFTEST_IO_MS, h) == -1 ||
	    h->status != 200) {
		selftest_add(r, "agent", SELFTEST_FAIL,
		    "no answer from the ops listener %s: %s", o->ops,
		    h->status ? "not 200" : strerror(errno));
		return -1;
	}
	if (st_get(o->ops, "/status", LIM_SELFTEST_IO_MS, h) == -1 ||
	    h->status != 200) {
		selftest_add(r, "agent", SELFTEST_FAIL, "/status on %s: %s",
		    o->ops,
		    h->status == 403 ? "refused (not a loopback address?)"
		                     : "no answer");
		return -1;
	}
	if ((rc = selftest_status_parse(st, h->body, h->blen)) != 0) {
		selftest_add(r, "agent", SELFTEST_FAIL, "/status: %s",
		    selftest_strerror(rc));
		return -1;
	}
	selftest_add(r, "agent", SELFTEST_PASS,
	    "podid %s, pid %lld, up %lld s, ready %lld (%s)", st->version,
	    (long long)st->pid, (long long)(time(NULL) - st->started_at),
	    (long long)st->ready_status, st->ready_detail);
	return 0;
}

/* Loads the file as the agent would; *out stays for the upstream check. */
static void
st_check_policy(struct selftest_report *r, const struct selftest_status *st,
    const char *file, struct pol_slot *slot, bool *loaded)
{
	struct pol_options opt = {.files_fatal = true};
	static const char hex[] = "0123456789abcdef";
	char sha[65] = "", err[320] = "";
	br_sha256_context ctx;
	unsigned char d[32];
	const struct dsl_diag *dg = NULL;
	uint32_t i;
	size_t k;

	*loaded = cmd_policy_slot_new(slot) == 0 &&
	    pol_slot_load(slot, file, &opt, false) == 0;
	if (slot->src != NULL) {
		br_sha256_init(&ctx);
		br_sha256_update(&ctx, slot->src, slot->file.len);
		br_sha256_out(&ctx, d);
		for (k = 0; k < sizeof(d); k++) {
			sha[2 * k] = hex[d[k] >> 4];
			sha[2 * k + 1] = hex[d[k] & 15];
		}
	}
	for (i = 0; i < slot->diags.n && dg == NULL; i++)
		if (slot->diags.v[i].sev == DSL_ERROR)
			dg = &slot->diags.v[i];
	if (dg != NULL)
		snprintf(err, sizeof(err), "%s:%u:%u: error: %.250s", file,
		    dg->pos.line, dg->pos.col, dg->msg);
	else if (!*loaded)
		snprintf(err, sizeof(err), "%s: cannot load", file);
	selftest_check_policy(r, st, *loaded, sha, err);
}

static void
st_check_rules(struct selftest_report *r, const struct selftest_status *st)
{
	static struct rules_state rs; /* 20 KiB: off the stack */
	struct rules_spec spec;
	struct in_addr ip = {0};
	int rc, e;

	if (strcmp(st->rules.mode, "off") == 0) {
		selftest_check_rules(r, st, 0, true, "");
		return;
	}
	(void)inet_pton(AF_INET, st->rules.node_ip, &ip);
	rules_spec_init(&spec, ip, (uint16_t)st->rules.port);
	errno = 0;
	if ((rc = rules_status(&spec, &rs)) < 0) {
		e = errno;
		selftest_check_rules(r, st,
		    (e == EPERM || e == EACCES) ? e : -1, false,
		    rules_strerror(rc));
		return;
	}
	selftest_check_rules(r, st, 0, rs.verdict == RULES_MATCH, rs.why);
}

static void
st_check_privileges(struct selftest_report *r, const struct selftest_status *st,
    const struct st_opts *o)
{
	char path[64], buf[8192];
	ssize_t n;
	size_t len = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%lld/status", (long long)st->pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		selftest_add(r, "privileges", SELFTEST_WARN,
		    "cannot read %s: %s (another pid namespace?)", path,
		    strerror(errno));
		return;
	}
	while (len < sizeof(buf) &&
	    (n = read(fd, buf + len, sizeof(buf) - len)) > 0)
		len += (size_t)n;
	close(fd);
	selftest_check_proc(r, buf, len,
	    o->has_user ? o->user : (uint32_t)st->uid, (uint32_t)st->gid);
}

/* "https://host[:port][/...]" or "http://..." -> a TCP connect. */
static int
st_reach_url(const char *url, char *why, size_t wlen)
{
	struct addrinfo hints, *ai = NULL;
	char host[256], port[8];
	const char *p, *end;
	int fd, rc;
	bool tls = strncmp(url, "https://", 8) == 0;

	p = url + (tls ? 8 : strncmp(url, "http://", 7) == 0 ? 7 : 0);
	end = p + strcspn(p, "/");
	snprintf(port, sizeof(port), "%s", tls ? "443" : "80");
	if (*p == '[') { /* [v6]:port */
		snprintf(host, sizeof(host), "%.*s", (int)(strcspn(p + 1, "]")),
		    p + 1);
		p += strcspn(p, "]");
	} else
		snprintf(host, sizeof(host), "%.*s", (int)strcspn(p, ":/"), p);
	if ((p = memchr(p, ':', (size_t)(end - p))) != NULL)
		snprintf(port, sizeof(port), "%.*s", (int)(end - p - 1), p + 1);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		snprintf(why, wlen, "%s: %s", host, gai_strerror(rc));
		return -1;
	}
	fd = st_connect(ai->ai_addr, ai->ai_addrlen, LIM_SELFTEST_IO_MS);
	rc = errno;
	freeaddrinfo(ai);
	if (fd == -1) {
		snprintf(why, wlen, "%s port %s: %s", host, port, strerror(rc));
		return -1;
	}
	close(fd);
	snprintf(why, wlen, "%s port %s", host, port);
	return 0;
}

#define ST_AAD_DEFAULT "https://login.microsoftonline.com"

/*
 * Azure AD authorities the policy's identities use (an identity without
 * one uses the agent's default, dflt); 0 when none needs Azure AD.
 */
static unsigned
st_authorities(
    const struct pol *p, const char *dflt, const char **v, unsigned max)
{
	unsigned n = 0, k;
	uint32_t i;

	for (i = 0; p != NULL && i < p->nidentities; i++) {
		const struct pol_str *a = &p->identities[i].authority;
		/* The compiled policy spells the default out; --aad-authority
		 * (the agent's dflt) replaces it, as agent/aad.c does. */
		const char *s = a->len > 0 && strcmp(a->s, ST_AAD_DEFAULT) != 0
		    ? a->s
		    : dflt;

		if (p->identities[i].kind == POL_MANAGED || s == NULL ||
		    *s == '\0')
			continue;
		for (k = 0; k < n && strcmp(v[k], s) != 0; k++)
			;
		if (k == n && n < max)
			v[n++] = s;
	}
	return n;
}

/* IMDS always; Azure AD only when an identity of the policy needs it. */
static void
st_check_upstream(struct selftest_report *r, const struct selftest_status *st,
    const struct pol *p)
{
	const char *aad[4];
	unsigned n = st_authorities(p, st->upstream.aad, aad, 4), i;
	char why[512], w[300];
	int rc = st_reach_url(st->upstream.imds, why, sizeof(why));

	if (rc != 0) {
		selftest_add(r, "upstream", SELFTEST_FAIL,
		    "IMDS %s unreachable: %s", st->upstream.imds, why);
		return;
	}
	for (i = 0; i < n; i++)
		if (st_reach_url(aad[i], w, sizeof(w)) != 0) {
			selftest_add(r, "upstream", SELFTEST_FAIL,
			    "IMDS reachable; Azure AD %s unreachable: %s",
			    aad[i], w);
			return;
		}
	selftest_add(r, "upstream", SELFTEST_PASS, "IMDS %s reachable; %s",
	    st->upstream.imds,
	    n ? "Azure AD reachable" : "no identity needs Azure AD");
}

/* Percent-encodes s (unreserved bytes stay) onto dst. */
static void
st_qenc(char *dst, size_t len, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = strlen(dst);
	unsigned char ch;

	for (; *s != '\0' && o + 4 < len; s++) {
		ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch) != NULL)
			dst[o++] = (char)ch;
		else {
			dst[o++] = '%';
			dst[o++] = hex[ch >> 4];
			dst[o++] = hex[ch & 15];
		}
	}
	dst[o] = '\0';
}

static void
st_check_pod(
    struct selftest_report *r, const struct st_opts *o, struct st_http *h)
{
	/* st_parse checked NS/NAME and the lengths: all of it fits. */
	const char *slash = strchr(o->pod, '/');
	char path[ST_POD_PATH_BYTES] = "/status/pod?ns=", ns[ST_NS_BYTES + 1];

	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - o->pod), o->pod);
	st_qenc(path, sizeof(path), ns);
	strcat(path, "&name=");
	st_qenc(path, sizeof(path), slash + 1);
	if (o->resource != NULL) {
		strcat(path, "&resource=");
		st_qenc(path, sizeof(path), o->resource);
	}
	if (st_get(o->ops, path,
	        o->resource ? LIM_SELFTEST_TOKEN_MS : LIM_SELFTEST_IO_MS,
	        h) == -1) {
		selftest_add(
		    r, "pod", SELFTEST_FAIL, "%s: %s", o->pod, strerror(errno));
		return;
	}
	selftest_check_pod(r, o->pod, h->status, h->body, h->blen);
}

static int
st_parse(int argc, char **argv, struct st_opts *o)
{
	static const struct option longopts[] = {
	    {"ops", required_argument, NULL, 'o'},
	    {"policy", required_argument, NULL, 'p'},
	    {"pod", required_argument, NULL, 'P'},
	    {"resource", required_argument, NULL, 'r'},
	    {"json", no_argument, NULL, 'j'},
	    {"user", required_argument, NULL, 'u'},
	    {"max-event-age", required_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sockaddr_storage ss;
	socklen_t sl;
	const char *slash;
	unsigned v;
	int ch;

	memset(o, 0, sizeof(*o));
	o->ops = "127.0.0.1:2580";
	o->max_age_ms =
	    (uint64_t)(LIM_KUBE_WATCH_S + LIM_KUBE_WATCH_GRACE_S) * 1000;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			if (server_parse_addr(optarg, &ss, &sl) == -1) {
				fprintf(stderr,
				    "podid selftest: --ops: \"%s\" is not "
				    "IP:PORT\n",
				    optarg);
				return -1;
			}
			o->ops = optarg;
			break;
		case 'p':
			o->policy = optarg;
			break;
		case 'P':
			slash = strchr(optarg, '/');
			if (slash == NULL || slash == optarg ||
			    slash - optarg > ST_NS_BYTES || slash[1] == '\0' ||
			    strlen(slash + 1) > ST_NAME_BYTES ||
			    strchr(slash + 1, '/')) {
				fprintf(stderr,
				    "podid selftest: --pod: \"%s\" is not "
				    "NAMESPACE/NAME (at most %d and %d "
				    "characters)\n",
				    optarg, ST_NS_BYTES, ST_NAME_BYTES);
				return -1;
			}
			o->pod = optarg;
			break;
		case 'r':
			if (*optarg == '\0' ||
			    strlen(optarg) > LIM_TOK_RESOURCE_BYTES) {
				fprintf(stderr,
				    "podid selftest: --resource: 1 to %u "
				    "characters\n",
				    LIM_TOK_RESOURCE_BYTES);
				return -1;
			}
			o->resource = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'u':
			if (cmd_uint("selftest", "user", optarg, 0, 0xfffffffeU,
			        &o->user) == -1)
				return -1;
			o->has_user = true;
			break;
		case 'a':
			if (cmd_uint("selftest", "max-event-age", optarg, 1,
			        86400, &v) == -1)
				return -1;
			o->max_age_ms = (uint64_t)v * 1000;
			break;
		case 'h':
			return 1;
		default:
			return -1;
		}
	}
	if (o->resource != NULL && o->pod == NULL) {
		fputs("podid selftest: --resource needs --pod\n", stderr);
		return -1;
	}
	return optind == argc ? 0 : -1;
}

/* Every check, in order; the agent's /status first (the rest needs it). */
static void
st_run(struct selftest_report *r, const struct st_opts *o)
{
	static struct st_http h;
	static struct selftest_status st;
	static struct pol_slot slot;
	bool loaded = false;

	if (st_check_agent(r, o, &h, &st) != 0)
		return;
	st_check_policy(
	    r, &st, o->policy ? o->policy : st.policy.file, &slot, &loaded);
	selftest_check_kube(r, &st, o->max_age_ms);
	selftest_check_pods(r, &st);
	st_check_rules(r, &st);
	st_check_privileges(r, &st, o);
	st_check_upstream(r, &st, loaded ? &slot.pol : NULL);
	if (o->pod != NULL)
		st_check_pod(r, o, &h);
	pol_slot_free(&slot);
}

int
cmd_selftest(int argc, char **argv)
{
	static struct selftest_report r;
	struct st_opts o;
	int rc;

	if ((rc = st_parse(argc, argv, &o)) != 0) {
		fputs(st_usage, rc == 1 ? stdout : stderr);
		return rc == 1 ? CMD_OK : CMD_USAGE;
	}
	log_init(LOG_LVL_WARN, false);
	st_run(&r, &o);
	if (selftest_print(stdout, &r, o.json) != 0)
		return CMD_FAIL;
	return selftest_ok(&r) ? CMD_OK : CMD_FAIL;
}
