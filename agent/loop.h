/*
 * The event loop: one epoll set for the whole daemon (OpenNTPD ntp.c, Redis
 * ae.c).  Fixed fd slots indexed by fd, a fixed min-heap of timers on
 * CLOCK_MONOTONIC whose earliest deadline is the epoll timeout, and signals
 * read from a signalfd.  Single-threaded; nothing here allocates after
 * loop_new().  Callbacks may add, modify and delete any fd or timer.
 */
#ifndef AGENT_LOOP_H
#define AGENT_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;

/* Interest and readiness bits for loop_add/loop_mod and the io callback. */
#define LOOP_READ  0x1u
#define LOOP_WRITE 0x2u
#define LOOP_ERROR 0x4u /* revents only: EPOLLERR/EPOLLHUP, always sent */

/* Errors: negative return codes; loop_strerror() names them. */
enum loop_err {
	LOOP_OK = 0,
	LOOP_ERR_INVAL = -1,       /* bad argument */
	LOOP_ERR_RANGE = -2,       /* fd >= max_fds: slot table is full */
	LOOP_ERR_EXIST = -3,       /* fd already registered */
	LOOP_ERR_NOENT = -4,       /* fd not registered */
	LOOP_ERR_TIMERS_FULL = -5, /* timer heap at max_timers */
	LOOP_ERR_SYS = -6,         /* a system call failed; see errno */
};

/*
 * Called with the ready bits (LOOP_READ, LOOP_WRITE, LOOP_ERROR) of fd, only
 * those still asked for plus LOOP_ERROR; a pipe at EOF shows LOOP_ERROR
 * alone, so the callback must read or delete on it (level-triggered).
 * Never called for an fd deleted earlier in the same batch.
 */
typedef void (*loop_io_fn)(struct loop *l, int fd, uint32_t revents, void *arg);

struct loop_timer;

/* Called once when t expires; t is no longer pending and may be re-armed. */
typedef void (*loop_timer_fn)(struct loop *l, struct loop_timer *t, void *arg);

/* Called from the loop (not from a signal handler) for each signal read. */
typedef void (*loop_sig_fn)(struct loop *l, int signo, void *arg);

/*
 * A timer lives in the caller's own object; the loop only keeps a pointer
 * to it while it is pending, so it must be cancelled before its storage
 * goes away.  Fields are private: use loop_timer_*().
 */
struct loop_timer {
	uint64_t deadline_ms; /* CLOCK_MONOTONIC, ms */
	uint64_t seq;         /* orders equal deadlines by arming time */
	unsigned heap_idx;    /* LOOP_TIMER_IDLE when not pending */
	loop_timer_fn cb;
	void *arg;
};
#define LOOP_TIMER_IDLE (~0u)

/* Counters since loop_new(); read with loop_stats(). */
struct loop_stats {
	uint64_t iterations;    /* epoll_wait calls returned */
	uint64_t eintr;         /* epoll_wait interrupted */
	uint64_t io_callbacks;  /* io callbacks run */
	uint64_t stale_events;  /* events dropped: fd deleted in the batch */
	uint64_t timers_fired;  /* timer callbacks run */
	uint64_t signals;       /* signal callbacks run */
	uint64_t fd_refused;    /* loop_add with fd >= max_fds */
	uint64_t timer_refused; /* loop_timer_set with the heap full */
};

/*
 * Makes a loop with fd slots 0..max_fds-1 and room for max_timers pending
 * timers: the one allocation, at start-up.  max_fds must be 1..LIM_LOOP_FDS
 * and max_timers 1..LIM_LOOP_TIMERS.  Returns NULL with errno set (EINVAL,
 * ENOMEM, or epoll_create1's).  Release with loop_free().
 */
struct loop *loop_new(unsigned max_fds, unsigned max_timers);

/*
 * Closes the epoll set and the signalfd and frees l (NULL is fine).  The
 * caller's fds are not closed; pending timers are simply forgotten.
 * Signals given to loop_signal() stay blocked.
 */
void loop_free(struct loop *l);

/*
 * Watches fd for events (LOOP_READ|LOOP_WRITE, level-triggered) and calls
 * cb(l, fd, revents, arg).  Returns 0, LOOP_ERR_RANGE (fd >= max_fds;
 * counted in fd_refused), LOOP_ERR_EXIST, LOOP_ERR_INVAL or LOOP_ERR_SYS.
 */
int loop_add(struct loop *l, int fd, uint32_t events, loop_io_fn cb, void *arg);

/* Replaces the interest set of a registered fd.  0 or negative error. */
int loop_mod(struct loop *l, int fd, uint32_t events);

/*
 * Stops watching fd; call it before close(fd).  Safe inside any callback:
 * events already collected for fd in this batch are dropped.  Returns 0 or
 * LOOP_ERR_NOENT / LOOP_ERR_RANGE.
 */
int loop_del(struct loop *l, int fd);

/* Prepares caller-owned t (not pending) to call cb(l, t, arg). */
void loop_timer_init(struct loop_timer *t, loop_timer_fn cb, void *arg);

/*
 * Arms t to fire delay_ms from now (fresh CLOCK_MONOTONIC reading); arming
 * a pending timer moves it.  A timer armed from a callback fires in a later
 * iteration at the earliest.  Returns 0 or LOOP_ERR_TIMERS_FULL (counted).
 */
int loop_timer_set(struct loop *l, struct loop_timer *t, uint64_t delay_ms);

/* Disarms t if pending (safe inside any callback, also t's own). */
void loop_timer_cancel(struct loop *l, struct loop_timer *t);

/* True while t is armed and has not fired. */
bool loop_timer_pending(const struct loop_timer *t);

/*
 * Blocks signo and dispatches it as cb(l, signo, arg) from the loop through
 * one signalfd (which takes an fd slot).  Replaces an earlier handler for
 * signo.  Returns 0, LOOP_ERR_INVAL, LOOP_ERR_RANGE (signalfd beyond the
 * slots) or LOOP_ERR_SYS; after an error signo may be left blocked.
 */
int loop_signal(struct loop *l, int signo, loop_sig_fn cb, void *arg);

/*
 * Runs one iteration: waits for fds (at most until the earliest timer,
 * forever when there is none), runs their callbacks, then the due timers.
 * Returns 0 (also on EINTR) or LOOP_ERR_SYS.
 */
int loop_run_once(struct loop *l);

/*
 * Runs iterations until loop_stop(); returns 0, or LOOP_ERR_SYS when
 * epoll_wait fails.  A stop requested before the call returns at once.
 */
int loop_run(struct loop *l);

/* Makes loop_run() return after the current iteration. */
void loop_stop(struct loop *l);

/* CLOCK_MONOTONIC in ms as read at the start of this iteration's dispatch. */
uint64_t loop_now_ms(const struct loop *l);

/* CLOCK_MONOTONIC in ms, read now. */
uint64_t loop_clock_ms(void);

/* CLOCK_MONOTONIC in us, read now: for latencies, where ms are too coarse. */
uint64_t loop_clock_us(void);

/* The counters; the pointer is valid as long as l. */
const struct loop_stats *loop_stats(const struct loop *l);

/* Static name of a loop_err ("unknown loop error" for others). */
const char *loop_strerror(int err);

#endif
