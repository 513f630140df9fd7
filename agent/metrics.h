/*
 * metrics: the Prometheus exposition of /metrics (text format 0.0.4), drawn
 * from the live modules' counters through struct sources, and the
 * fixed-bucket latency histogram the upstream clients (imdsc, and aad
 * later) keep.  Every family is named podid_*, with its unit in the name,
 * HELP and TYPE lines; labels take only bounded values (routes, codes,
 * targets, outcomes), never a path, a pod or an identity.
 *
 * Histogram buckets, upper bounds inclusive (Prometheus "le"), in ms:
 * 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, then +Inf.
 */
#ifndef AGENT_METRICS_H
#define AGENT_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/limits.h"

struct sources;

/* Errors; metrics_strerror() names them. */
enum metrics_err {
	METRICS_E_SPACE = -1, /* the exposition does not fit the buffer */
};
#define METRICS_E_LAST METRICS_E_SPACE

/*
 * A latency histogram: bucket[i] counts the observations in bucket i
 * alone (the renderer makes them cumulative); count every observation,
 * those past the last bound too; sum_us their sum in microseconds.
 * Zero it to start (caller storage, no init function needed).
 */
struct metrics_hist {
	uint64_t bucket[LIM_METRICS_BUCKETS];
	uint64_t count;
	uint64_t sum_us;
};

/*
 * Records one duration of us microseconds in h: into the first bucket
 * whose bound is >= us (a value equal to a bound goes into that bucket),
 * or only into count and sum past the last bound.  No syscalls.
 */
void metrics_hist_observe(struct metrics_hist *h, uint64_t us);

/*
 * Renders every metric of src in Prometheus text format 0.0.4 into buf, NUL
 * terminated: len must exceed the exposition's length (LIM_METRICS_BYTES is
 * enough for the largest one).  now_ms is the loop's clock (CLOCK_MONOTONIC
 * ms, for ages).  Modules src leaves NULL are left out.  Pure with respect
 * to I/O: it only reads the modules' counters.  Returns the length without
 * the NUL, or METRICS_E_SPACE (buf then holds "", never a cut exposition).
 */
ssize_t metrics_render(
    char *buf, size_t len, const struct sources *src, uint64_t now_ms);

/* Static name of a metrics_err ("unknown metrics error" for others). */
const char *metrics_strerror(int err);

#endif
