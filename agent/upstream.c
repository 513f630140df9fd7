/*
 * The shared plumbing of the token upstream clients (see upstream.h).
 * The rate is a sliding window rather than a bucket: a bucket of N lets
 * 2N through in one second (a full bucket, then its refill); the window
 * never lets more than N into any window_ms.
 */
#include <stddef.h>
#include <string.h>

#include "agent/loop.h"
#include "agent/upstream.h"

void
up_q_insert(struct up_queue *q, struct up_link *l, bool front)
{
	if (front) {
		l->prev = NULL;
		l->next = q->head;
		*(q->head ? &q->head->prev : &q->tail) = l;
		q->head = l;
	} else {
		l->next = NULL;
		l->prev = q->tail;
		*(q->tail ? &q->tail->next : &q->head) = l;
		q->tail = l;
	}
}

void
up_q_remove(struct up_queue *q, struct up_link *l)
{
	*(l->prev ? &l->prev->next : &q->head) = l->next;
	*(l->next ? &l->next->prev : &q->tail) = l->prev;
	l->prev = l->next = NULL;
}

uint64_t
up_rate_wait(
    const struct up_rate *r, unsigned per, uint64_t window_ms, uint64_t now)
{
	uint64_t oldest = r->sent[r->next];

	if (r->n < per || now >= oldest + window_ms)
		return 0;
	return oldest + window_ms - now;
}

void
up_rate_note(struct up_rate *r, unsigned per, uint64_t now)
{
	r->sent[r->next] = now;
	r->next = (r->next + 1) % per;
	if (r->n < per)
		r->n++;
}

uint64_t
up_backoff_ms(uint32_t base_ms, unsigned attempts)
{
	unsigned shift = attempts > 1 ? attempts - 1 : 0;

	return (uint64_t)base_ms << (shift < 16 ? shift : 16);
}

bool
up_retry_delay(uint64_t backoff_ms, unsigned retry_after_s, unsigned attempts,
    unsigned max_attempts, uint64_t elapsed_ms, uint32_t budget_ms,
    uint64_t *delay_ms)
{
	uint64_t delay = backoff_ms;

	if ((uint64_t)retry_after_s * 1000 > delay)
		delay = (uint64_t)retry_after_s * 1000;
	*delay_ms = delay;
	return attempts < max_attempts && elapsed_ms + delay <= budget_ms;
}

unsigned
up_retry_after(struct httpc_slice v, unsigned max_s)
{
	unsigned s = 0;
	size_t i;

	for (i = 0; v.ptr != NULL && i < v.len; i++) {
		if (v.ptr[i] < '0' || v.ptr[i] > '9')
			return 0;
		if (s < max_s)
			s = s * 10 + (unsigned)(v.ptr[i] - '0');
	}
	return s < max_s ? s : max_s;
}

int
up_body_add(char *body, size_t cap, size_t *len, const char *data, size_t n)
{
	if (n > cap - *len)
		return -1;
	memcpy(body + *len, data, n);
	*len += n;
	return 0;
}

void
up_resp_init(struct up_resp *r, char *body, size_t cap, unsigned ra_max_s)
{
	memset(r, 0, sizeof(*r));
	r->body = body;
	r->cap = cap;
	r->ra_max_s = ra_max_s;
}

void
up_resp_start(struct up_resp *r)
{
	r->status = 0;
	r->retry_after_s = 0;
	r->bodylen = 0;
}

void
up_head_cb(struct hclient *hc, const struct httpc_resp *resp, void *arg)
{
	struct up_resp *r = arg;

	(void)hc;
	r->status = resp->status;
	r->retry_after_s =
	    up_retry_after(httpc_header(resp, "Retry-After"), r->ra_max_s);
}

int
up_body_cb(struct hclient *hc, const char *data, size_t len, void *arg)
{
	struct up_resp *r = arg;

	(void)hc;
	return up_body_add(r->body, r->cap, &r->bodylen, data, len);
}

void
up_observe(struct metrics_hist *ok, struct metrics_hist *error, bool was_ok,
    uint64_t sent_us)
{
	uint64_t now = loop_clock_us();

	metrics_hist_observe(
	    was_ok ? ok : error, now > sent_us ? now - sent_us : 0);
}
