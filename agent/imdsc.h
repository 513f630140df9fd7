/*
 * imdsc: the fetcher of managed-identity tokens, a client of the node's
 * IMDS (--imds-endpoint, default http://169.254.169.254).  It plugs into
 * the token cache as the POL_MANAGED fetcher and keeps to IMDS's limits
 * for the identity category: at most LIM_IMDS_CONCURRENCY requests in
 * flight (one hclient slot each) and LIM_IMDS_RATE_PER_S sent in any
 * second.  Fetches beyond wait in a FIFO queue of LIM_IMDS_QUEUE; past it
 * a fetch fails at once (on the next loop turn) with 503 + Retry-After.
 *
 * Retries follow IMDS's guidance: 404, 408, 410, 429, 5xx, timeouts and
 * connection failures are retried with exponential backoff (honouring
 * Retry-After), at most LIM_IMDSC_ATTEMPTS requests and never past
 * LIM_IMDS_RETRY_BUDGET_MS after the fetch began; then 503 + Retry-After.
 * 400 ("Identity not found") goes to the pods as IMDS said it; other 4xx
 * are not retried.  Everything is sized at imdsc_new.
 */
#ifndef AGENT_IMDSC_H
#define AGENT_IMDSC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "agent/limits.h"
#include "agent/loop.h"
#include "agent/metrics.h"
#include "agent/tokcache.h"

/* Errors of the pure functions below; imdsc_strerror() names them. */
enum imdsc_err {
	IMDSC_E_JSON = -1,     /* not a JSON object, or malformed JSON */
	IMDSC_E_MEMBERS = -2,  /* more than LIM_IMDSC_JSON_TOKENS tokens */
	IMDSC_E_DUP = -3,      /* a known member appears twice */
	IMDSC_E_TYPE = -4,     /* a known member has the wrong JSON type */
	IMDSC_E_TOOLONG = -5,  /* a string does not fit its field */
	IMDSC_E_VALUE = -6,    /* empty, or a character a field cannot hold */
	IMDSC_E_NUMBER = -7,   /* a time is not a non-negative integer */
	IMDSC_E_NOTOKEN = -8,  /* no access_token */
	IMDSC_E_NOEXPIRY = -9, /* neither expires_on nor expires_in */
	IMDSC_E_NOERROR = -10, /* an error body without "error" */
	IMDSC_E_URL = -11,     /* endpoint not http://IP[:port][/] */
	IMDSC_E_SPACE = -12,   /* output does not fit the buffer */
};
#define IMDSC_E_LAST IMDSC_E_SPACE

/* An IMDS error body, {"error":"...","error_description":"..."}. */
struct imdsc_error {
	char error[LIM_IMDSC_ERROR_BYTES + 1];
	char desc[LIM_IMDSC_ERROR_DESC_BYTES + 1]; /* "" when absent */
};

/* Retry timing; imdsc_opts_default() gives the LIM_IMDS_* values. */
struct imdsc_opts {
	unsigned attempts;   /* requests per fetch: 1..LIM_IMDSC_ATTEMPTS */
	uint32_t backoff_ms; /* first retry delay, doubled per retry */
	uint32_t budget_ms;  /* no retry starts later after the fetch began */
	uint32_t attempt_ms; /* idle timeout of one request (>= 1) */
};

/*
 * Counters since imdsc_new, and the current queue and flight.  dur_ok and
 * dur_error: the latency of each request that ended, from its start to its
 * last byte or failure; ok for a whole 200 answer, error for the rest
 * (other statuses, timeouts, connection failures).
 */
struct imdsc_stats {
	uint64_t fetches;  /* started by the cache */
	uint64_t requests; /* sent to IMDS, retries included */
	uint64_t retries, ok, failed, rejected; /* rejected: queue full */
	uint64_t reconnects; /* a kept-alive connection had gone: resent */
	uint64_t rate_waits; /* the rate limit held a request back */
	unsigned running, queued, max_running, max_queued;
	struct metrics_hist dur_ok, dur_error;
};

struct imdsc;

/*
 * Makes the client: imds (copied) is the endpoint's address, hostport its
 * Host header ("169.254.169.254", "127.0.0.1:8080").  Results go to tc.
 * The one allocation, at start-up.  Uses LIM_IMDS_CONCURRENCY fds and up
 * to LIM_IMDS_CONCURRENCY * 2 + LIM_IMDS_QUEUE + 2 timers of loop.
 * Returns NULL with errno EINVAL (bad address or hostport) or ENOMEM.
 */
struct imdsc *imdsc_new(struct loop *, const struct sockaddr *imds, socklen_t,
    const char *hostport, struct tokcache *tc);

/* Closes connections and stops timers without calling the cache; NULL ok. */
void imdsc_free(struct imdsc *);

/* The fetcher to give tokcache_set_fetcher(tc, POL_MANAGED, ...). */
struct tok_fetcher imdsc_fetcher(struct imdsc *);

/* Fills *o with the defaults (LIM_IMDSC_ATTEMPTS, _BACKOFF_MS, ...). */
void imdsc_opts_default(struct imdsc_opts *o);

/*
 * Replaces the retry timing (tests shorten it).  Applies to requests
 * started afterwards.  Returns 0, or -1 when a value is out of range.
 */
int imdsc_set_opts(struct imdsc *, const struct imdsc_opts *);

/* Fills *st with the counters. */
void imdsc_stats(const struct imdsc *, struct imdsc_stats *st);

/*
 * Decodes a 200 body (len bytes, need not be NUL-terminated) into *out,
 * now being the epoch seconds it arrived (issued_at; expires_in alone
 * gives expires_on = now + expires_in).  Times may be strings of digits
 * or integer numbers; access_token (1..LIM_TOK_TOKEN_BYTES characters
 * from 0x21-0x7e but '"' and '\') and an expiry are required; resource,
 * client_id (may be "") and token_type ("Bearer") are optional strings
 * without control characters; not_before defaults to now.  Unknown
 * members are ignored.  Pure.  Returns 0 or an enum imdsc_err; *out is
 * wiped on error.
 */
int imdsc_decode(
    const char *body, size_t len, int64_t now, struct tok_token *out);

/*
 * Decodes an error body: "error" (1..LIM_IMDSC_ERROR_BYTES of [A-Za-z0-9_.-])
 * is required, "error_description" (up to LIM_IMDSC_ERROR_DESC_BYTES;
 * control characters become spaces) optional.  Pure.  Returns 0 or an
 * enum imdsc_err; *out is zeroed on error.
 */
int imdsc_decode_error(const char *body, size_t len, struct imdsc_error *out);

/*
 * Writes the request target for req into dst (NUL-terminated):
 * /metadata/identity/oauth2/token?api-version=2018-02-01&resource=R and
 * &client_id=C, or &msi_res_id=M when there is no client-id, values
 * percent-encoded (all but unreserved characters).  Returns the length or
 * IMDSC_E_SPACE.
 */
int imdsc_target(char *dst, size_t len, const struct tok_req *req);

/*
 * Parses --imds-endpoint: http://IPv4[:port], http://[IPv6][:port], an
 * optional trailing "/"; no names (IMDS is an address, and no lookup may
 * block the loop).  Fills *ss, *sslen and hostport (the Host header).
 * Returns 0 or IMDSC_E_URL.
 */
int imdsc_endpoint(const char *url, struct sockaddr_storage *ss,
    socklen_t *sslen, char *hostport, size_t hostportlen);

/* Static name of an imdsc_err ("unknown imdsc error" for others). */
const char *imdsc_strerror(int err);

#endif
