/*
 * The pure half of `podid selftest`: reading /status, judging each check,
 * printing the report.  No I/O but the final print; tested on its own.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent/json.h"
#include "agent/log.h"
#include "agent/priv.h"
#include "selftest/selftest.h"

/* ---- /status -------------------------------------------------------------- */

/* Member key of object obj, which must have type want (or null, if ok). */
static int
st_member(const struct json_doc *d, int obj, const char *key,
    enum json_type want, bool null_ok)
{
	int t = json_obj_get(d, obj, key);
	enum json_type ty = json_type(d, t);

	if (t < 0 || (ty != want && !(null_ok && ty == JSON_NULL)))
		return SELFTEST_E_FIELD;
	return t;
}

static int
st_str(const struct json_doc *d, int obj, const char *key, char *dst,
    size_t len, bool null_ok)
{
	int t = st_member(d, obj, key, JSON_STRING, null_ok);

	if (t < 0)
		return t;
	if (json_type(d, t) == JSON_NULL) {
		dst[0] = '\0';
		return 0;
	}
	if (json_str_unescape(d, t, dst, len) < 0)
		return SELFTEST_E_SPACE;
	return 0;
}

static int
st_int(const struct json_doc *d, int obj, const char *key, int64_t *out)
{
	int t = st_member(d, obj, key, JSON_NUMBER, false);

	if (t < 0 || json_int64(d, t, out) != 0)
		return SELFTEST_E_FIELD;
	return 0;
}

static int
st_bool(const struct json_doc *d, int obj, const char *key, bool *out)
{
	int t = json_obj_get(d, obj, key);

	if (t < 0 || json_bool(d, t, out) != 0)
		return SELFTEST_E_FIELD;
	return 0;
}

/* Folds the first error of a sequence of reads into one code. */
#define ST_TRY(rc, expr)                                                       \
	do {                                                                   \
		int st_rc_ = (expr);                                           \
		if ((rc) == 0 && st_rc_ < 0)                                   \
			(rc) = st_rc_;                                         \
	} while (0)

static int
st_policy(const struct json_doc *d, int root, struct selftest_status *s)
{
	int o = st_member(d, root, "policy", JSON_OBJECT, false), rc = 0;

	if (o < 0)
		return o;
	ST_TRY(rc,
	    st_str(d, o, "file", s->policy.file, sizeof(s->policy.file), true));
	ST_TRY(rc,
	    st_str(d, o, "sha256", s->policy.sha256, sizeof(s->policy.sha256),
	        true));
	ST_TRY(rc,
	    st_str(d, o, "last_error", s->policy.last_error,
	        sizeof(s->policy.last_error), false));
	ST_TRY(rc, st_int(d, o, "loaded_at", &s->policy.loaded_at));
	ST_TRY(rc, st_int(d, o, "identities", &s->policy.identities));
	ST_TRY(rc, st_int(d, o, "bindings", &s->policy.bindings));
	ST_TRY(rc, st_int(d, o, "last_errors", &s->policy.last_errors));
	ST_TRY(rc, st_int(d, o, "reloads_ok", &s->policy.reloads_ok));
	ST_TRY(rc, st_int(d, o, "reloads_failed", &s->policy.reloads_failed));
	ST_TRY(rc, st_bool(d, o, "last_failed", &s->policy.last_failed));
	return rc;
}

static int
st_kube(const struct json_doc *d, int root, struct selftest_status *s)
{
	int o = st_member(d, root, "kube", JSON_OBJECT, false), rc = 0;

	if (o < 0)
		return o;
	ST_TRY(rc,
	    st_str(d, o, "state", s->kube.state, sizeof(s->kube.state), false));
	ST_TRY(rc,
	    st_str(d, o, "resource_version", s->kube.resource_version,
	        sizeof(s->kube.resource_version), false));
	ST_TRY(rc, st_bool(d, o, "synced", &s->kube.synced));
	ST_TRY(
	    rc, st_int(d, o, "last_event_age_ms", &s->kube.last_event_age_ms));
	ST_TRY(rc, st_int(d, o, "watches", &s->kube.watches));
	ST_TRY(rc, st_int(d, o, "relists", &s->kube.relists));
	ST_TRY(rc, st_int(d, o, "errors", &s->kube.errors));
	return rc;
}

static int
st_tables(const struct json_doc *d, int root, struct selftest_status *s)
{
	int p = st_member(d, root, "pods", JSON_OBJECT, false);
	int t = st_member(d, root, "tokens", JSON_OBJECT, false);
	int r = st_member(d, root, "rules", JSON_OBJECT, false);
	int u = st_member(d, root, "upstream", JSON_OBJECT, false), rc = 0;

	if (p < 0 || t < 0 || r < 0 || u < 0)
		return SELFTEST_E_FIELD;
	ST_TRY(rc, st_int(d, p, "cached", &s->pods.cached));
	ST_TRY(rc, st_int(d, p, "max", &s->pods.max));
	ST_TRY(rc, st_int(d, p, "refused", &s->pods.refused));
	ST_TRY(rc, st_int(d, t, "slots", &s->tokens.slots));
	ST_TRY(rc, st_int(d, t, "used", &s->tokens.used));
	ST_TRY(rc,
	    st_str(d, r, "mode", s->rules.mode, sizeof(s->rules.mode), false));
	ST_TRY(rc,
	    st_str(d, r, "node_ip", s->rules.node_ip, sizeof(s->rules.node_ip),
	        false));
	ST_TRY(rc, st_int(d, r, "port", &s->rules.port));
	ST_TRY(rc, st_int(d, r, "restored", &s->rules.restored));
	ST_TRY(rc, st_bool(d, r, "keeper_alive", &s->rules.keeper_alive));
	ST_TRY(rc,
	    st_str(d, u, "imds", s->upstream.imds, sizeof(s->upstream.imds),
	        true));
	ST_TRY(rc,
	    st_str(
	        d, u, "aad", s->upstream.aad, sizeof(s->upstream.aad), true));
	return rc;
}

int
selftest_status_parse(struct selftest_status *s, const char *buf, size_t len)
{
	struct json_tok toks[LIM_SELFTEST_JSON_TOKENS];
	struct json_doc d;
	int rc = 0, ready;

	memset(s, 0, sizeof(*s));
	if (json_parse(&d, buf, len, toks, LIM_SELFTEST_JSON_TOKENS) < 0)
		return SELFTEST_E_JSON;
	if (json_type(&d, 0) != JSON_OBJECT)
		return SELFTEST_E_FIELD;
	ST_TRY(rc,
	    st_str(&d, 0, "version", s->version, sizeof(s->version), false));
	ST_TRY(rc, st_int(&d, 0, "pid", &s->pid));
	ST_TRY(rc, st_int(&d, 0, "uid", &s->uid));
	ST_TRY(rc, st_int(&d, 0, "gid", &s->gid));
	ST_TRY(rc, st_int(&d, 0, "started_at", &s->started_at));
	ready = st_member(&d, 0, "ready", JSON_OBJECT, false);
	ST_TRY(rc, ready);
	if (ready >= 0) {
		ST_TRY(rc, st_int(&d, ready, "status", &s->ready_status));
		ST_TRY(rc,
		    st_str(&d, ready, "detail", s->ready_detail,
		        sizeof(s->ready_detail), false));
	}
	ST_TRY(rc, st_policy(&d, 0, s));
	ST_TRY(rc, st_kube(&d, 0, s));
	ST_TRY(rc, st_tables(&d, 0, s));
	return rc;
}

/* ---- the report ------------------------------------------------------------ */

int
selftest_add(struct selftest_report *r, const char *name,
    enum selftest_result res, const char *fmt, ...)
{
	struct selftest_check *c;
	va_list ap;
	char *p;

	if (r->n >= LIM_SELFTEST_CHECKS)
		return SELFTEST_E_REPORT;
	c = &r->v[r->n++];
	c->name = name;
	c->result = res;
	va_start(ap, fmt);
	(void)vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
	/* One line each, whatever a diagnostic or a peer put in. */
	for (p = c->reason; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	return 0;
}

bool
selftest_ok(const struct selftest_report *r)
{
	unsigned i;

	for (i = 0; i < r->n; i++)
		if (r->v[i].result == SELFTEST_FAIL)
			return false;
	return true;
}

const char *
selftest_result_name(enum selftest_result res)
{
	switch (res) {
	case SELFTEST_PASS:
		return "PASS";
	case SELFTEST_WARN:
		return "WARN";
	default:
		return "FAIL";
	}
}

static int
st_print_json(FILE *f, const struct selftest_report *r)
{
	char esc[LIM_SELFTEST_REASON_BYTES * 6];
	unsigned i;

	fputs("{\"checks\":[", f);
	for (i = 0; i < r->n; i++) {
		log_json_escape(
		    esc, sizeof(esc), r->v[i].reason, strlen(r->v[i].reason));
		fprintf(f,
		    "%s{\"name\":\"%s\",\"result\":\"%s\",\"reason\":"
		    "\"%s\"}",
		    i ? "," : "", r->v[i].name,
		    selftest_result_name(r->v[i].result), esc);
	}
	fprintf(f, "],\"ok\":%s}\n", selftest_ok(r) ? "true" : "false");
	return 0;
}

int
selftest_print(FILE *f, const struct selftest_report *r, bool json)
{
	unsigned i;

	if (json)
		st_print_json(f, r);
	else
		for (i = 0; i < r->n; i++)
			fprintf(f, "%s  %-10s  %s\n",
			    selftest_result_name(r->v[i].result), r->v[i].name,
			    r->v[i].reason);
	return ferror(f) ? SELFTEST_E_OUTPUT : 0;
}

/* ---- the checks ------------------------------------------------------------ */

int
selftest_check_kube(struct selftest_report *r, const struct selftest_status *st,
    uint64_t max_age_ms)
{
	uint64_t age = (uint64_t)st->kube.last_event_age_ms;

	if (!st->kube.synced)
		return selftest_add(r, "kube", SELFTEST_FAIL,
		    "no complete pod list yet (state %s, %lld errors)",
		    st->kube.state, (long long)st->kube.errors);
	if (strcmp(st->kube.state, "backoff") == 0)
		return selftest_add(r, "kube", SELFTEST_FAIL,
		    "the API server is not answering (backing off after %lld "
		    "errors); last event %llu s ago",
		    (long long)st->kube.errors,
		    (unsigned long long)(age / 1000));
	if (age >= max_age_ms)
		return selftest_add(r, "kube", SELFTEST_FAIL,
		    "the watch is stalled: last event or bookmark %llu s ago "
		    "(limit %llu s)",
		    (unsigned long long)(age / 1000),
		    (unsigned long long)(max_age_ms / 1000));
	return selftest_add(r, "kube", SELFTEST_PASS,
	    "%s at resourceVersion %s, last event %llu s ago (%lld watches, "
	    "%lld relists, %lld errors)",
	    st->kube.state, st->kube.resource_version,
	    (unsigned long long)(age / 1000), (long long)st->kube.watches,
	    (long long)st->kube.relists, (long long)st->kube.errors);
}

int
selftest_check_pods(struct selftest_report *r, const struct selftest_status *st)
{
	int64_t n = st->pods.cached, max = st->pods.max;

	if (st->pods.refused > 0)
		return selftest_add(r, "pods", SELFTEST_FAIL,
		    "%lld pods refused: the table of %lld is full (raise "
		    "--max-pods); %lld cached",
		    (long long)st->pods.refused, (long long)max, (long long)n);
	if (max > 0 && n * 10 >= max * 9)
		return selftest_add(r, "pods", SELFTEST_WARN,
		    "%lld of %lld pod slots used (90%% or more)", (long long)n,
		    (long long)max);
	return selftest_add(r, "pods", SELFTEST_PASS,
	    "%lld of %lld pod slots used", (long long)n, (long long)max);
}

int
selftest_check_policy(struct selftest_report *r,
    const struct selftest_status *st, bool loaded, const char *sha256,
    const char *first_error)
{
	const char *file = st->policy.file;

	if (!loaded)
		return selftest_add(r, "policy", SELFTEST_FAIL,
		    "%s does not load: %s%s", file, first_error,
		    st->policy.last_failed ? "; the agent serves the one "
		                             "loaded before"
		                           : "");
	if (strcmp(sha256, st->policy.sha256) != 0)
		return selftest_add(r, "policy", SELFTEST_FAIL,
		    "on-disk policy is not the running one (%s%s)",
		    st->policy.last_failed ? "reload failed: "
		                           : "not reloaded yet",
		    st->policy.last_failed ? st->policy.last_error : "");
	if (st->policy.last_failed)
		return selftest_add(r, "policy", SELFTEST_WARN,
		    "%s is the running one, but the last reload failed: %s",
		    file, st->policy.last_error);
	return selftest_add(r, "policy", SELFTEST_PASS,
	    "%s loads and is the running one (sha256 %.12s, %lld "
	    "identities, %lld bindings, %lld reloads)",
	    file, sha256, (long long)st->policy.identities,
	    (long long)st->policy.bindings, (long long)st->policy.reloads_ok);
}

int
selftest_check_proc(struct selftest_report *r, const char *buf, size_t len,
    uint32_t want_uid, uint32_t want_gid)
{
	struct priv_status ps;
	unsigned i;
	bool ids = true;

	priv_status_init(&ps);
	if (priv_status_feed(&ps, buf, len) < 0 || priv_status_done(&ps) != 0) {
		selftest_add(r, "privileges", SELFTEST_FAIL,
		    "the agent's /proc status does not parse");
		return SELFTEST_E_PROC;
	}
	for (i = 0; i < 4; i++)
		ids = ids && ps.uid[i] == want_uid && ps.gid[i] == want_gid;
	if (!ids || ps.cap[PRIV_CAP_EFF] || ps.cap[PRIV_CAP_PRM] ||
	    ps.cap[PRIV_CAP_AMB])
		return selftest_add(r, "privileges", SELFTEST_FAIL,
		    "uid %u gid %u (want %u/%u), CapEff=%llx CapPrm=%llx "
		    "CapAmb=%llx (want 0)",
		    ps.uid[1], ps.gid[1], want_uid, want_gid,
		    (unsigned long long)ps.cap[PRIV_CAP_EFF],
		    (unsigned long long)ps.cap[PRIV_CAP_PRM],
		    (unsigned long long)ps.cap[PRIV_CAP_AMB]);
	return selftest_add(r, "privileges", SELFTEST_PASS,
	    "uid %u gid %u, no capabilities (bounding %llx), NoNewPrivs %u, "
	    "Seccomp %u",
	    ps.uid[1], ps.gid[1], (unsigned long long)ps.cap[PRIV_CAP_BND],
	    ps.no_new_privs, ps.seccomp);
}

/* The keeper's part of the rules line. */
static enum selftest_result
st_keeper(const struct selftest_status *st, char *buf, size_t len)
{
	bool keep = strcmp(st->rules.mode, "keep") == 0;

	if (!keep) {
		snprintf(buf, len, "no keeper (--rules %s)", st->rules.mode);
		return SELFTEST_PASS;
	}
	snprintf(buf, len, "keeper %s, %lld restorations",
	    st->rules.keeper_alive ? "alive" : "dead",
	    (long long)st->rules.restored);
	return st->rules.keeper_alive ? SELFTEST_PASS : SELFTEST_FAIL;
}

int
selftest_check_rules(struct selftest_report *r,
    const struct selftest_status *st, int read_err, bool matched,
    const char *why)
{
	char kp[96];
	enum selftest_result k = st_keeper(st, kp, sizeof(kp));

	if (strcmp(st->rules.mode, "off") == 0)
		return selftest_add(r, "rules", SELFTEST_WARN,
		    "rules left to `podid rules` (--rules off): not checked");
	if (read_err == EPERM || read_err == EACCES)
		return selftest_add(r, "rules",
		    k == SELFTEST_FAIL ? SELFTEST_FAIL : SELFTEST_WARN,
		    "cannot read nf_tables without CAP_NET_ADMIN; %s", kp);
	if (read_err != 0)
		return selftest_add(r, "rules", SELFTEST_WARN,
		    "cannot read the rules: %s; %s", why, kp);
	if (!matched)
		return selftest_add(r, "rules", SELFTEST_FAIL,
		    "DNAT rule missing or altered: %s; %s", why, kp);
	if (k == SELFTEST_FAIL)
		return selftest_add(r, "rules", SELFTEST_WARN,
		    "DNAT of 169.254.169.254:80 to %s:%lld in place, but the "
		    "%s: nothing restores it",
		    st->rules.node_ip, (long long)st->rules.port, kp);
	return selftest_add(r, "rules", SELFTEST_PASS,
	    "DNAT of 169.254.169.254:80 to %s:%lld in place; %s",
	    st->rules.node_ip, (long long)st->rules.port, kp);
}

const char *
selftest_strerror(int err)
{
	switch (err) {
	case SELFTEST_E_JSON:
		return "not a JSON document";
	case SELFTEST_E_FIELD:
		return "a field is missing or has another type";
	case SELFTEST_E_SPACE:
		return "a string is longer than its field";
	case SELFTEST_E_PROC:
		return "/proc status does not parse";
	case SELFTEST_E_REPORT:
		return "too many checks";
	case SELFTEST_E_OUTPUT:
		return "writing the report failed";
	default:
		return "unknown error";
	}
}

/* ---- /status/pod ------------------------------------------------------------ */

/* "id (kind, rule R), ..." from the identities array. */
static void
st_identities(const struct json_doc *d, int arr, char *buf, size_t len)
{
	struct json_iter it;
	char name[128], kind[32], rule[128];
	size_t off = 0;
	int k, v, n;

	buf[0] = '\0';
	json_iter_init(&it, d, arr);
	while (json_iter_next(&it, &k, &v) && off < len) {
		if (st_str(d, v, "name", name, sizeof(name), false) != 0 ||
		    st_str(d, v, "kind", kind, sizeof(kind), false) != 0 ||
		    st_str(d, v, "rule", rule, sizeof(rule), false) != 0)
			continue;
		n = snprintf(buf + off, len - off, "%s%s (%s, rule %s)",
		    off ? ", " : "", name, kind, rule);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

static int
st_pod_token(struct selftest_report *r, const struct json_doc *d, int tok,
    const char *pod, const char *ids)
{
	char id[128] = "", err[64] = "", desc[256] = "";
	int64_t status = 0, length = 0, in = 0;

	(void)st_str(d, tok, "identity", id, sizeof(id), true);
	if (st_int(d, tok, "status", &status) != 0)
		return selftest_add(r, "pod", SELFTEST_FAIL,
		    "%s: the token part does not parse", pod);
	if (status == 200 && st_int(d, tok, "length", &length) == 0 &&
	    st_int(d, tok, "expires_in", &in) == 0)
		return selftest_add(r, "pod", SELFTEST_PASS,
		    "%s: %s; token for %s, %lld bytes, expires in %lld s", pod,
		    ids, id, (long long)length, (long long)in);
	(void)st_str(d, tok, "error", err, sizeof(err), true);
	(void)st_str(d, tok, "description", desc, sizeof(desc), true);
	return selftest_add(r, "pod", SELFTEST_FAIL,
	    "%s: %s; no token%s%s: status %lld %s %s", pod, ids[0] ? ids : "-",
	    id[0] ? " for " : "", id, (long long)status, err, desc);
}

int
selftest_check_pod(struct selftest_report *r, const char *pod, int status,
    const char *body, size_t len)
{
	struct json_tok toks[LIM_SELFTEST_JSON_TOKENS];
	struct json_doc d;
	char verdict[32] = "", ids[LIM_SELFTEST_REASON_BYTES] = "";
	int arr, tok;

	if (status == 404)
		return selftest_add(r, "pod", SELFTEST_FAIL,
		    "%s: not in the agent's pod cache", pod);
	if (status != 200 ||
	    json_parse(&d, body, len, toks, LIM_SELFTEST_JSON_TOKENS) < 0 ||
	    st_str(&d, 0, "verdict", verdict, sizeof(verdict), false) != 0 ||
	    (arr = st_member(&d, 0, "identities", JSON_ARRAY, false)) < 0)
		return selftest_add(r, "pod", SELFTEST_FAIL,
		    "%s: the agent answered %d", pod, status);
	st_identities(&d, arr, ids, sizeof(ids) - 64);
	if ((tok = st_member(&d, 0, "token", JSON_OBJECT, false)) >= 0)
		return st_pod_token(r, &d, tok, pod, ids);
	if (strcmp(verdict, "grant") == 0)
		return selftest_add(
		    r, "pod", SELFTEST_PASS, "%s: granted %s", pod, ids);
	return selftest_add(r, "pod", SELFTEST_WARN,
	    "%s: %s: no identity for this pod", pod, verdict);
}
