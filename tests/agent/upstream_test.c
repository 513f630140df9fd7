/*
 * agent/upstream.c: the FIFO (tail and front, removal anywhere, linked
 * both ways), the rate window (IMDS's and Azure AD's numbers, the
 * ring at LIM_UP_RATE_SLOTS and wrapping, the wait to the ms), the backoff
 * (doubling, its cap at 2^16 at N and N+1), the retry decision (attempts
 * and budget at N and N+1, Retry-After over the backoff), Retry-After
 * values (digits, dates, the cap at N and N+1, guarded against a
 * PROT_NONE page), body gathering at its capacity and past it, the
 * hclient head and body callbacks on a connection-like record, latency
 * recorded by outcome.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/limits.h"
#include "agent/loop.h"
#include "agent/upstream.h"
#include "tests/guard.h"
#include "tests/harness.h"

struct item {
	int id;
	struct up_link link;
};

/* The ids of q from head to tail, and back from tail to head. */
static void
q_ids(struct up_queue *q, char *fwd, char *back)
{
	struct up_link *l;

	for (l = q->head; l != NULL; l = l->next)
		*fwd++ = (char)('0' + UP_ENTRY(l, struct item, link)->id);
	for (l = q->tail; l != NULL; l = l->prev)
		*back++ = (char)('0' + UP_ENTRY(l, struct item, link)->id);
	*fwd = *back = '\0';
}

static void
t_queue(void)
{
	struct item it[5];
	struct up_queue q;
	char fwd[8], back[8];
	int i;

	memset(&q, 0, sizeof(q));
	for (i = 0; i < 5; i++)
		it[i].id = i;
	up_q_insert(&q, &it[1].link, false);
	up_q_insert(&q, &it[2].link, false);
	up_q_insert(&q, &it[0].link, true); /* a retry goes first */
	up_q_insert(&q, &it[3].link, false);
	q_ids(&q, fwd, back);
	check_str(fwd, "0123");
	check_str(back, "3210");
	up_q_remove(&q, &it[2].link); /* middle */
	check(it[2].link.prev == NULL && it[2].link.next == NULL);
	up_q_remove(&q, &it[0].link); /* head */
	up_q_remove(&q, &it[3].link); /* tail */
	q_ids(&q, fwd, back);
	check_str(fwd, "1");
	check_str(back, "1");
	up_q_remove(&q, &it[1].link);
	check(q.head == NULL && q.tail == NULL);
	up_q_insert(&q, &it[4].link, true); /* front of an empty queue */
	q_ids(&q, fwd, back);
	check_str(fwd, "4");
	check_str(back, "4");
}

static void
t_rate(void)
{
	struct up_rate r;
	unsigned i, per = LIM_IMDS_RATE_PER_S;
	uint64_t win = 1000 + LIM_IMDSC_RATE_MARGIN_MS;

	memset(&r, 0, sizeof(r));
	check_int(up_rate_wait(&r, per, win, 0), 0);
	/* per - 1 sent: one more may go; per sent: the window is full. */
	for (i = 0; i < per - 1; i++)
		up_rate_note(&r, per, 100 + i);
	check_int(up_rate_wait(&r, per, win, 200), 0);
	up_rate_note(&r, per, 200);
	check_int(up_rate_wait(&r, per, win, 200), 100 + win - 200);
	check_int(up_rate_wait(&r, per, win, 100 + win - 1), 1);
	check_int(up_rate_wait(&r, per, win, 100 + win), 0);
	/* The next oldest moves up once one more is sent. */
	up_rate_note(&r, per, 100 + win);
	check_int(up_rate_wait(&r, per, win, 100 + win), 1);
	/* Azure AD's: 10 per 1000 ms without margin. */
	memset(&r, 0, sizeof(r));
	for (i = 0; i < LIM_AAD_RATE_PER_S; i++)
		up_rate_note(&r, LIM_AAD_RATE_PER_S, 0);
	check_int(up_rate_wait(&r, LIM_AAD_RATE_PER_S, 1000, 999), 1);
	check_int(up_rate_wait(&r, LIM_AAD_RATE_PER_S, 1000, 1000), 0);
}

static void
t_rate_slots(void)
{
	struct up_rate r;
	unsigned i, per = LIM_UP_RATE_SLOTS;

	/* The whole ring, wrapped three times over: always the last per. */
	memset(&r, 0, sizeof(r));
	for (i = 0; i < 3 * per + 1; i++)
		up_rate_note(&r, per, 10 * i);
	check_int(r.n, per);
	/* Oldest of the last per: sent at 10 * (3 * per + 1 - per). */
	check_int(up_rate_wait(&r, per, 1000, 10 * (2 * per + 1)), 1000);
	check_int(up_rate_wait(&r, per, 1000, 10 * (2 * per + 1) + 1000), 0);
}

static void
t_backoff(void)
{
	check_int(up_backoff_ms(1000, 0), 1000);
	check_int(up_backoff_ms(1000, 1), 1000);
	check_int(up_backoff_ms(1000, 2), 2000);
	check_int(up_backoff_ms(1000, 4), 8000);
	/* The doubling stops at 2^16: attempts 17 (N) and 18 (N+1). */
	check_int(up_backoff_ms(3, 17), 3ull << 16);
	check_int(up_backoff_ms(3, 18), 3ull << 16);
	check_int(up_backoff_ms(UINT32_MAX, 1000), (uint64_t)UINT32_MAX << 16);
}

static void
t_retry_delay(void)
{
	uint64_t d = 0;

	check(up_retry_delay(2000, 0, 1, 4, 0, 10000, &d));
	check_int(d, 2000);
	check(up_retry_delay(2000, 5, 1, 4, 0, 10000, &d));
	check_int(d, 5000); /* Retry-After over the backoff */
	check(up_retry_delay(2000, 1, 1, 4, 0, 10000, &d));
	check_int(d, 2000); /* and not under it */
	/* Attempts: 3 of 4 sent may retry, 4 of 4 not. */
	check(up_retry_delay(100, 0, 3, 4, 0, 10000, &d));
	check(!up_retry_delay(100, 0, 4, 4, 0, 10000, &d));
	/* Budget: elapsed + delay at N and N+1. */
	check(up_retry_delay(1000, 0, 1, 4, 9000, 10000, &d));
	check(!up_retry_delay(1000, 0, 1, 4, 9001, 10000, &d));
	check(!up_retry_delay(0, 3600, 1, 4, 0, 10000, &d));
	check_int(d, 3600000);
}

static unsigned
ra(const char *s, unsigned max)
{
	struct httpc_slice v;

	v.len = strlen(s);
	v.ptr = guard_copy(s, v.len);
	return up_retry_after(v, max);
}

static void
t_retry_after(void)
{
	struct httpc_slice none = {NULL, 0};

	check_int(up_retry_after(none, 3600), 0);
	check_int(ra("", 3600), 0);
	check_int(ra("0", 3600), 0);
	check_int(ra("120", 3600), 120);
	check_int(ra("007", 3600), 7);
	check_int(ra("12a", 3600), 0);
	check_int(ra("-1", 3600), 0);
	check_int(ra(" 5", 3600), 0);
	check_int(ra("Wed, 21 Oct 2015 07:28:00 GMT", 3600), 0);
	/* The cap at N and N+1, and far past it (no overflow). */
	check_int(ra("3600", 3600), 3600);
	check_int(ra("3601", 3600), 3600);
	check_int(ra("99999999999999999999999999", 3600), 3600);
	check_int(ra("99999999999999999999999999x", 3600), 0);
	check_int(ra("61", LIM_AAD_RETRY_AFTER_MAX_S), 61);
}

static void
t_body(void)
{
	char body[8];
	size_t len = 0;

	memset(body, 0, sizeof(body));
	check_int(up_body_add(body, sizeof(body), &len, "abc", 3), 0);
	check_int(up_body_add(body, sizeof(body), &len, "", 0), 0);
	check_int(up_body_add(body, sizeof(body), &len, "defgh", 5), 0);
	check_int(len, 8); /* N: exactly full */
	check(memcmp(body, "abcdefgh", 8) == 0);
	check_int(up_body_add(body, sizeof(body), &len, "i", 1), -1);
	check_int(len, 8); /* N+1: refused, nothing copied */
	len = 6;
	check_int(up_body_add(body, sizeof(body), &len, "xyz", 3), -1);
	check_int(len, 6);
	check(memcmp(body, "abcdefgh", 8) == 0);
}

/* A connection record as the clients have it: up_resp first. */
struct conn {
	struct up_resp r;
	char body[8];
};

static void
t_gather(void)
{
	static struct conn c;
	struct httpc_resp resp;

	memset(&resp, 0, sizeof(resp));
	up_resp_init(&c.r, c.body, sizeof(c.body), 3600);
	resp.status = 429;
	resp.headers[0].name = (struct httpc_slice)HTTPC_STR("retry-after");
	resp.headers[0].value = (struct httpc_slice)HTTPC_STR("7200");
	resp.nheaders = 1;
	up_head_cb(NULL, &resp, &c);
	check_int(c.r.status, 429);
	check_int(c.r.retry_after_s, 3600);                /* cut to ra_max_s */
	check_int(up_body_cb(NULL, "12345678", 8, &c), 0); /* N */
	check_int(up_body_cb(NULL, "9", 1, &c), -1);       /* N+1 */
	check_int(c.r.bodylen, 8);
	check(memcmp(c.body, "12345678", 8) == 0);
	up_resp_start(&c.r);
	check(c.r.status == 0 && c.r.retry_after_s == 0 && c.r.bodylen == 0);
	check(c.r.body == c.body && c.r.cap == 8 && c.r.ra_max_s == 3600);
	resp.nheaders = 0; /* no Retry-After */
	resp.status = 200;
	up_head_cb(NULL, &resp, &c);
	check_int(c.r.status, 200);
	check_int(c.r.retry_after_s, 0);
}

static void
t_observe(void)
{
	struct metrics_hist ok, err;
	uint64_t t0 = loop_clock_us();

	memset(&ok, 0, sizeof(ok));
	memset(&err, 0, sizeof(err));
	up_observe(&ok, &err, true, t0);
	check_int(ok.count, 1);
	check_int(err.count, 0);
	up_observe(&ok, &err, false, t0);
	check_int(err.count, 1);
	/* A start in the future (never in use) counts as 0 us. */
	up_observe(&ok, &err, false, UINT64_MAX);
	check_int(err.count, 2);
	check(err.sum_us < UINT64_MAX / 2);
}

int
main(void)
{
	test(t_queue, "FIFO: tail, front, removal anywhere, both ways");
	test(t_rate, "rate window: IMDS and Azure AD numbers, waits to the ms");
	test(t_rate_slots, "rate window at LIM_UP_RATE_SLOTS, wrapped");
	test(t_backoff, "backoff doubling, its cap at N and N+1");
	test(t_retry_delay, "retry: Retry-After, attempts and budget N, N+1");
	test(t_retry_after, "Retry-After values, cap at N and N+1");
	test(t_body, "body gathering at capacity N and N+1");
	test(t_gather, "head and body callbacks, Retry-After cut, body N+1");
	test(t_observe, "latency by outcome");
	return harness_done();
}
