/*
 * selftest: `podid selftest`, the live agent checked from inside its
 * container.  One line per check, "PASS|WARN|FAIL  name  reason", or one
 * JSON object with --json; exit 0 only when no check failed.
 *
 * This header is the pure part, tested without an agent: the /status
 * document read into fixed fields, the verdict of each check from what
 * was read, and the output forms.  selftest/cmd.c does the I/O (the ops
 * listener, the policy file, /proc, netlink, the upstream connects) with
 * plain blocking sockets: it is a command-line tool, not the agent.
 */
#ifndef SELFTEST_SELFTEST_H
#define SELFTEST_SELFTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "agent/limits.h"

/* Errors are negative; selftest_strerror() names them. */
enum selftest_err {
	SELFTEST_E_JSON = -1,   /* the document is not JSON (or too many
	                            tokens for LIM_SELFTEST_JSON_TOKENS) */
	SELFTEST_E_FIELD = -2,  /* a field is missing or of another type */
	SELFTEST_E_SPACE = -3,  /* a string longer than its field */
	SELFTEST_E_PROC = -4,   /* /proc/PID/status does not parse */
	SELFTEST_E_REPORT = -5, /* more than LIM_SELFTEST_CHECKS checks */
	SELFTEST_E_OUTPUT = -6, /* writing the report failed */
};

enum selftest_result { SELFTEST_PASS, SELFTEST_WARN, SELFTEST_FAIL };

/* One check's line; reason is NUL-terminated, one line. */
struct selftest_check {
	const char *name; /* static: "agent", "policy", ... */
	enum selftest_result result;
	char reason[LIM_SELFTEST_REASON_BYTES];
};

/* Every check of one run, in order; caller storage. */
struct selftest_report {
	struct selftest_check v[LIM_SELFTEST_CHECKS];
	unsigned n;
};

/*
 * The agent's /status (agent/ops.h), as selftest needs it.  Strings are
 * NUL-terminated copies; aad is "" when the agent has none (null).
 */
struct selftest_status {
	char version[32];
	int64_t pid, uid, gid, started_at;
	int64_t ready_status;
	char ready_detail[320];
	struct {
		char file[256], sha256[65], last_error[256];
		int64_t loaded_at, identities, bindings, last_errors;
		int64_t reloads_ok, reloads_failed;
		bool last_failed;
	} policy;
	struct {
		char state[16], resource_version[65];
		bool synced;
		int64_t last_event_age_ms, watches, relists, errors;
	} kube;
	struct {
		int64_t cached, max, refused;
	} pods;
	struct {
		int64_t slots, used;
	} tokens;
	struct {
		char mode[16], node_ip[16];
		int64_t port, restored;
		bool keeper_alive;
	} rules;
	struct {
		char imds[256], aad[256];
	} upstream;
};

/*
 * Reads a /status document (buf, len bytes, need not be NUL-terminated)
 * into *out; tokens are on the stack (LIM_SELFTEST_JSON_TOKENS).  Every
 * field above must be present with its type.  Returns 0 or a
 * selftest_err (*out then partly filled).
 */
int selftest_status_parse(
    struct selftest_status *out, const char *buf, size_t len);

/*
 * Adds a check to r with a printf-style reason (cut to fit, newlines
 * replaced by spaces).  Returns 0, or SELFTEST_E_REPORT when r is full.
 */
int selftest_add(struct selftest_report *r, const char *name,
    enum selftest_result res, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* True when no check of r failed: the exit status is 0. */
bool selftest_ok(const struct selftest_report *r);

/* "PASS", "WARN" or "FAIL". */
const char *selftest_result_name(enum selftest_result res);

/*
 * Writes r as text (one "RESULT  name  reason" line per check) or as one
 * JSON object {"checks":[{"name","result","reason"}],"ok":bool} and a
 * newline.  Returns 0 or SELFTEST_E_OUTPUT.
 */
int selftest_print(FILE *f, const struct selftest_report *r, bool json);

/*
 * The kube check from st: FAIL unless synced, watching (or listing) and
 * the last event or bookmark younger than max_age_ms.  Adds it to r.
 */
int selftest_check_kube(struct selftest_report *r,
    const struct selftest_status *st, uint64_t max_age_ms);

/*
 * The pods check: WARN at 90% of max or more, FAIL when pods were
 * refused for a full table (with the count), PASS otherwise.
 */
int selftest_check_pods(
    struct selftest_report *r, const struct selftest_status *st);

/*
 * The policy check from the on-disk file's outcome: loaded (with its hex
 * SHA-256) or not (first_error: its first diagnostic, GNU form), compared
 * with the running policy in st.  Adds it to r.
 */
int selftest_check_policy(struct selftest_report *r,
    const struct selftest_status *st, bool loaded, const char *sha256,
    const char *first_error);

/*
 * The privileges check from the agent's /proc/PID/status text (buf, len
 * bytes): FAIL unless CapEff, CapPrm and CapAmb are 0 and every Uid and
 * Gid field equals want_uid / want_gid.  Returns what selftest_add does,
 * or SELFTEST_E_PROC (added as FAIL) when the text does not parse.
 */
int selftest_check_proc(struct selftest_report *r, const char *buf, size_t len,
    uint32_t want_uid, uint32_t want_gid);

/*
 * The rules check.  read_err: 0 when the ruleset could be read (matched
 * tells whether it is the expected one, why says how it differs), or the
 * errno of a refused read (EPERM: the documented limitation, no
 * CAP_NET_ADMIN in this container), or -1 for another failure (why).
 */
int selftest_check_rules(struct selftest_report *r,
    const struct selftest_status *st, int read_err, bool matched,
    const char *why);

/*
 * The pod check from a /status/pod answer (status, and its body of len
 * bytes): the pod's verdict, its identities and the rule granting each,
 * and with a token part, PASS on 200 ("token for ID, N bytes, expires in
 * S s") or FAIL with the agent's error.  The token is never in the body.
 */
int selftest_check_pod(struct selftest_report *r, const char *pod, int status,
    const char *body, size_t len);

/* A fixed description of err (enum selftest_err); "unknown error" else. */
const char *selftest_strerror(int err);

#endif
