/*
 * upstream: the plumbing the two token upstream clients share,
 * agent/imdsc.c (IMDS) and agent/aad.c (Azure AD): the sliding send-time
 * window that keeps to a rate, the FIFO of waiting fetches, the retry
 * arithmetic (doubling backoff, Retry-After, attempts and time budget),
 * Retry-After parsing, gathering
 * a response body and timing a request.  Each client keeps its own state
 * machine, limits and policy (jitter or none, which statuses retry); the
 * numbers that differ are parameters here, never defaults.
 */
#ifndef AGENT_UPSTREAM_H
#define AGENT_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/hclient.h"
#include "agent/httpc.h"
#include "agent/limits.h"
#include "agent/metrics.h"

/* A link of a FIFO; embed one in each record that may queue. */
struct up_link {
	struct up_link *prev, *next;
};

/* A FIFO of links; zeroed storage is an empty queue.  The caller counts. */
struct up_queue {
	struct up_link *head, *tail;
};

/* The record of type holding link l (not NULL) as its member. */
#define UP_ENTRY(l, type, member)                                              \
	((type *)(void *)((char *)(l)-offsetof(type, member)))

/*
 * Puts l (not in any queue) at the tail of q, or at its head when front
 * (a retry goes before what was queued since its fetch began).
 */
void up_q_insert(struct up_queue *q, struct up_link *l, bool front);

/* Takes l (in q) out of q; its links are NULL afterwards. */
void up_q_remove(struct up_queue *q, struct up_link *l);

/*
 * The send times (ms) of the last requests, a ring: one more may go once
 * the oldest of the last `per` left the window.  Zeroed storage is an
 * empty window.  per (requests per window) is at most LIM_UP_RATE_SLOTS
 * and the same at every call on one window.
 */
struct up_rate {
	uint64_t sent[LIM_UP_RATE_SLOTS];
	unsigned n, next;
};

/*
 * ms until one more request may go at now (ms), 0 when it may now: the
 * oldest of the last per send times plus window_ms (the window and any
 * slack the caller adds).  Pure.
 */
uint64_t up_rate_wait(
    const struct up_rate *r, unsigned per, uint64_t window_ms, uint64_t now);

/* Notes a request sent at now (ms) in r, keeping the last per times. */
void up_rate_note(struct up_rate *r, unsigned per, uint64_t now);

/*
 * The backoff before retry number `attempts` (requests sent so far, >= 1
 * for a retry): base_ms doubled per retry after the first, the doubling
 * capped at 2^16.  No jitter: a caller that wants it adds it.  Pure.
 */
uint64_t up_backoff_ms(uint32_t base_ms, unsigned attempts);

/*
 * The delay before a retry: backoff_ms, or retry_after_s when longer;
 * into *delay_ms.  Returns false when no retry may start: attempts
 * already reached max_attempts, or elapsed_ms (since the fetch began)
 * plus the delay passes budget_ms.  Pure.
 */
bool up_retry_delay(uint64_t backoff_ms, unsigned retry_after_s,
    unsigned attempts, unsigned max_attempts, uint64_t elapsed_ms,
    uint32_t budget_ms, uint64_t *delay_ms);

/*
 * A Retry-After header value in delta-seconds, cut to max_s (below
 * UINT_MAX / 10); 0 when absent (v.ptr NULL), empty or not all digits (an HTTP date counts as
 * absent).  Pure; reads v.len bytes only.
 */
unsigned up_retry_after(struct httpc_slice v, unsigned max_s);

/*
 * Appends data[0..n) to body[*len..cap): the hclient body callback's work.
 * Returns 0, or -1 (nothing copied) when it does not fit: the callback
 * returns it and the request ends with HCLIENT_E_ABORT.
 */
int up_body_add(
    char *body, size_t cap, size_t *len, const char *data, size_t n);

/*
 * What a request's hclient callbacks gather: the status, Retry-After and
 * the body, into the caller's buffer.  Made the first member of the record
 * given to hclient_request as arg, it lets up_head_cb and up_body_cb be
 * that record's head and body callbacks.
 */
struct up_resp {
	int status;             /* of the response, 0 before its head */
	unsigned retry_after_s; /* Retry-After, cut to ra_max_s */
	size_t bodylen;
	char *body; /* the caller's, cap bytes */
	size_t cap;
	unsigned ra_max_s;
};

/* Sets r up over body (cap bytes, the caller's; it must outlive r). */
void up_resp_init(struct up_resp *r, char *body, size_t cap, unsigned ra_max_s);

/* Before each request: no status, no Retry-After, an empty body. */
void up_resp_start(struct up_resp *r);

/*
 * hclient callbacks; arg points to a record whose first member is a
 * struct up_resp.  The body callback returns -1 when the body does not
 * fit (the request then ends with HCLIENT_E_ABORT).
 */
void up_head_cb(struct hclient *, const struct httpc_resp *, void *arg);
int up_body_cb(struct hclient *, const char *data, size_t len, void *arg);

/*
 * Records a request's latency, from sent_us to now (loop_clock_us), in
 * *ok when it ended with a whole 200 answer, else in *error.
 */
void up_observe(struct metrics_hist *ok, struct metrics_hist *error,
    bool was_ok, uint64_t sent_us);

#endif
