/*
 * The event loop.  Level-triggered epoll over a fixed slot table indexed by
 * fd; a binary min-heap of caller-owned timers; signals through a signalfd
 * registered as one more fd.
 *
 * Each slot carries a generation number that goes into the epoll data next
 * to the fd and is bumped by every add and delete.  An event collected in a
 * batch for an fd that a previous callback deleted (and maybe re-added for
 * a new file with the same number) no longer matches and is dropped, which
 * is what makes deleting any fd inside any callback safe.
 *
 * Timers are ordered by (deadline, arming sequence).  The sequence number
 * taken when an iteration starts dispatching fences off timers armed during
 * that dispatch, so a callback re-arming itself with a zero delay cannot
 * keep one iteration spinning.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "agent/limits.h"
#include "agent/log.h"
#include "agent/loop.h"

struct loop_slot {
	loop_io_fn cb; /* NULL: slot free */
	void *arg;
	uint32_t events; /* LOOP_READ|LOOP_WRITE asked for */
	uint32_t gen;    /* matches the epoll data of live events */
};

struct loop_sig {
	loop_sig_fn cb;
	void *arg;
};

struct loop {
	int epfd;
	int sigfd; /* -1 until the first loop_signal() */
	bool stop;
	sigset_t sigmask; /* signals read from sigfd */
	uint64_t now_ms;
	uint64_t timer_seq; /* next arming sequence number */
	unsigned max_fds, max_timers, ntimers;
	struct loop_slot *slots;  /* [max_fds], after the struct */
	struct loop_timer **heap; /* [max_timers], after the slots */
	struct loop_sig sigs[NSIG];
	struct loop_stats stats;
	struct epoll_event events[LIM_LOOP_EVENTS];
};

static const char *const loop_errnames[] = {
    [0] = "ok",
    [-LOOP_ERR_INVAL] = "invalid argument",
    [-LOOP_ERR_RANGE] = "fd beyond the slot table",
    [-LOOP_ERR_EXIST] = "fd already registered",
    [-LOOP_ERR_NOENT] = "fd not registered",
    [-LOOP_ERR_TIMERS_FULL] = "timer table full",
    [-LOOP_ERR_SYS] = "system call failed",
};

const char *
loop_strerror(int err)
{
	if (err > 0 ||
	    -err >= (int)(sizeof(loop_errnames) / sizeof(*loop_errnames)))
		return "unknown loop error";
	return loop_errnames[-err];
}

uint64_t
loop_clock_ms(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail with a valid pointer on Linux. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t
loop_clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct loop *
loop_new(unsigned max_fds, unsigned max_timers)
{
	struct loop *l;
	size_t size;
	int saved;

	if (max_fds == 0 || max_fds > LIM_LOOP_FDS || max_timers == 0 ||
	    max_timers > LIM_LOOP_TIMERS) {
		errno = EINVAL;
		return NULL;
	}
	/*
	 * The loop's one allocation, made once at start-up: the struct, then
	 * the slot table, then the heap.  The limits above bound the product.
	 */
	size = sizeof(*l) + (size_t)max_fds * sizeof(*l->slots) +
	    (size_t)max_timers * sizeof(struct loop_timer *);
	if ((l = calloc(1, size)) == NULL)
		return NULL;
	l->slots = (struct loop_slot *)(l + 1);
	l->heap = (struct loop_timer **)(l->slots + max_fds);
	l->max_fds = max_fds;
	l->max_timers = max_timers;
	l->sigfd = -1;
	sigemptyset(&l->sigmask);
	l->now_ms = loop_clock_ms();
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		saved = errno;
		free(l);
		errno = saved;
		return NULL;
	}
	return l;
}

void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	if (l->sigfd != -1)
		close(l->sigfd);
	close(l->epfd);
	free(l);
}

/* epoll_ctl with the fd and its slot generation packed into the data. */
static int
loop_ctl(struct loop *l, int op, int fd, uint32_t events)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	if (events & LOOP_READ)
		ev.events |= EPOLLIN;
	if (events & LOOP_WRITE)
		ev.events |= EPOLLOUT;
	ev.data.u64 = (uint64_t)l->slots[fd].gen << 32 | (uint32_t)fd;
	if (epoll_ctl(l->epfd, op, fd, &ev) == -1)
		return LOOP_ERR_SYS;
	return 0;
}

/* Common checks; returns the slot of fd or NULL with *err set. */
static struct loop_slot *
loop_slot(struct loop *l, int fd, uint32_t events, int *err)
{
	if (fd < 0 || (events & ~(LOOP_READ | LOOP_WRITE)) != 0) {
		*err = LOOP_ERR_INVAL;
		return NULL;
	}
	if ((unsigned)fd >= l->max_fds) {
		*err = LOOP_ERR_RANGE;
		return NULL;
	}
	return &l->slots[fd];
}

int
loop_add(struct loop *l, int fd, uint32_t events, loop_io_fn cb, void *arg)
{
	struct loop_slot *s;
	int rc = 0;

	if (cb == NULL)
		return LOOP_ERR_INVAL;
	if ((s = loop_slot(l, fd, events, &rc)) == NULL) {
		if (rc == LOOP_ERR_RANGE)
			l->stats.fd_refused++;
		return rc;
	}
	if (s->cb != NULL)
		return LOOP_ERR_EXIST;
	s->gen++;
	if ((rc = loop_ctl(l, EPOLL_CTL_ADD, fd, events)) != 0)
		return rc;
	s->cb = cb;
	s->arg = arg;
	s->events = events;
	return 0;
}

int
loop_mod(struct loop *l, int fd, uint32_t events)
{
	struct loop_slot *s;
	int rc = 0;

	if ((s = loop_slot(l, fd, events, &rc)) == NULL)
		return rc;
	if (s->cb == NULL)
		return LOOP_ERR_NOENT;
	if ((rc = loop_ctl(l, EPOLL_CTL_MOD, fd, events)) != 0)
		return rc;
	s->events = events;
	return 0;
}

int
loop_del(struct loop *l, int fd)
{
	struct loop_slot *s;
	int rc = 0;

	if ((s = loop_slot(l, fd, 0, &rc)) == NULL)
		return rc;
	if (s->cb == NULL)
		return LOOP_ERR_NOENT;
	/*
	 * Failure means the fd was already closed (and so left the set);
	 * the slot is freed either way.
	 */
	(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	s->cb = NULL;
	s->arg = NULL;
	s->events = 0;
	s->gen++;
	return 0;
}

/* Timer heap. */

static bool
loop_timer_before(const struct loop_timer *a, const struct loop_timer *b)
{
	if (a->deadline_ms != b->deadline_ms)
		return a->deadline_ms < b->deadline_ms;
	return a->seq < b->seq;
}

static void
loop_heap_put(struct loop *l, unsigned i, struct loop_timer *t)
{
	l->heap[i] = t;
	t->heap_idx = i;
}

static void
loop_heap_up(struct loop *l, unsigned i)
{
	struct loop_timer *t = l->heap[i];
	unsigned parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (!loop_timer_before(t, l->heap[parent]))
			break;
		loop_heap_put(l, i, l->heap[parent]);
		i = parent;
	}
	loop_heap_put(l, i, t);
}

static void
loop_heap_down(struct loop *l, unsigned i)
{
	struct loop_timer *t = l->heap[i];
	unsigned child;

	while ((child = 2 * i + 1) < l->ntimers) {
		if (child + 1 < l->ntimers &&
		    loop_timer_before(l->heap[child + 1], l->heap[child]))
			child++;
		if (!loop_timer_before(l->heap[child], t))
			break;
		loop_heap_put(l, i, l->heap[child]);
		i = child;
	}
	loop_heap_put(l, i, t);
}

/* Restores the heap after the timer at i changed or arrived. */
static void
loop_heap_fix(struct loop *l, unsigned i)
{
	if (i > 0 && loop_timer_before(l->heap[i], l->heap[(i - 1) / 2]))
		loop_heap_up(l, i);
	else
		loop_heap_down(l, i);
}

void
loop_timer_init(struct loop_timer *t, loop_timer_fn cb, void *arg)
{
	t->deadline_ms = 0;
	t->seq = 0;
	t->heap_idx = LOOP_TIMER_IDLE;
	t->cb = cb;
	t->arg = arg;
}

bool
loop_timer_pending(const struct loop_timer *t)
{
	return t->heap_idx != LOOP_TIMER_IDLE;
}

int
loop_timer_set(struct loop *l, struct loop_timer *t, uint64_t delay_ms)
{
	uint64_t now = loop_clock_ms();

	if (!loop_timer_pending(t)) {
		if (l->ntimers == l->max_timers) {
			l->stats.timer_refused++;
			return LOOP_ERR_TIMERS_FULL;
		}
		loop_heap_put(l, l->ntimers++, t);
	}
	t->deadline_ms =
	    delay_ms > UINT64_MAX - now ? UINT64_MAX : now + delay_ms;
	t->seq = l->timer_seq++;
	loop_heap_fix(l, t->heap_idx);
	return 0;
}

void
loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	struct loop_timer *last;
	unsigned i;

	if (!loop_timer_pending(t))
		return;
	i = t->heap_idx;
	t->heap_idx = LOOP_TIMER_IDLE;
	last = l->heap[--l->ntimers];
	if (last == t)
		return;
	loop_heap_put(l, i, last);
	loop_heap_fix(l, i);
}

/* Fires the timers due at l->now_ms that were armed before seq_cut. */
static void
loop_run_timers(struct loop *l, uint64_t seq_cut)
{
	struct loop_timer *t;

	while (l->ntimers > 0) {
		t = l->heap[0];
		if (t->deadline_ms > l->now_ms || t->seq >= seq_cut)
			break;
		loop_timer_cancel(l, t);
		l->stats.timers_fired++;
		t->cb(l, t, t->arg);
	}
}

/* ms until the earliest deadline, for epoll_wait: -1 when none. */
static int
loop_timeout(const struct loop *l)
{
	uint64_t now, deadline;

	if (l->ntimers == 0)
		return -1;
	deadline = l->heap[0]->deadline_ms;
	now = loop_clock_ms();
	if (deadline <= now)
		return 0;
	if (deadline - now > INT_MAX)
		return INT_MAX;
	return (int)(deadline - now);
}

/* Signals. */

static void
loop_sig_read(struct loop *l, int fd, uint32_t revents, void *arg)
{
	struct signalfd_siginfo si;
	ssize_t n;
	int signo;

	(void)revents;
	(void)arg;
	while ((n = read(fd, &si, sizeof(si))) == (ssize_t)sizeof(si)) {
		signo = (int)si.ssi_signo;
		if (signo <= 0 || signo >= NSIG || l->sigs[signo].cb == NULL)
			continue;
		l->stats.signals++;
		l->sigs[signo].cb(l, signo, l->sigs[signo].arg);
	}
	if (n == -1 && errno != EAGAIN && errno != EINTR)
		log_warn("signalfd read");
}

/* Points the signalfd (made on first use) at mask. */
static int
loop_sigfd_update(struct loop *l, const sigset_t *mask)
{
	int fd, rc;

	if (l->sigfd != -1)
		return signalfd(l->sigfd, mask, 0) == -1 ? LOOP_ERR_SYS : 0;
	if ((fd = signalfd(-1, mask, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		return LOOP_ERR_SYS;
	if ((rc = loop_add(l, fd, LOOP_READ, loop_sig_read, NULL)) != 0) {
		close(fd);
		return rc;
	}
	l->sigfd = fd;
	return 0;
}

int
loop_signal(struct loop *l, int signo, loop_sig_fn cb, void *arg)
{
	sigset_t one, mask;
	int rc;

	if (signo <= 0 || signo >= NSIG || cb == NULL || signo == SIGKILL ||
	    signo == SIGSTOP)
		return LOOP_ERR_INVAL;
	sigemptyset(&one);
	sigaddset(&one, signo);
	mask = l->sigmask;
	sigaddset(&mask, signo);
	/* Blocked first, so no instance slips past to the default action. */
	if (sigprocmask(SIG_BLOCK, &one, NULL) == -1)
		return LOOP_ERR_SYS;
	if ((rc = loop_sigfd_update(l, &mask)) != 0)
		return rc;
	l->sigmask = mask;
	l->sigs[signo].cb = cb;
	l->sigs[signo].arg = arg;
	return 0;
}

/* Running. */

static void
loop_dispatch(struct loop *l, const struct epoll_event *ev)
{
	int fd = (int)(uint32_t)ev->data.u64;
	uint32_t gen = (uint32_t)(ev->data.u64 >> 32), rev = 0;
	struct loop_slot *s = &l->slots[fd];

	if (ev->events & EPOLLIN)
		rev |= LOOP_READ;
	if (ev->events & EPOLLOUT)
		rev |= LOOP_WRITE;
	if (ev->events & (EPOLLERR | EPOLLHUP))
		rev |= LOOP_ERROR;
	/* A callback earlier in the batch may have deleted or modified fd. */
	rev &= s->events | LOOP_ERROR;
	if (s->cb == NULL || s->gen != gen || rev == 0) {
		l->stats.stale_events++;
		return;
	}
	l->stats.io_callbacks++;
	s->cb(l, fd, rev, s->arg);
}

int
loop_run_once(struct loop *l)
{
	uint64_t seq_cut;
	int i, n;

	n = epoll_wait(l->epfd, l->events, LIM_LOOP_EVENTS, loop_timeout(l));
	if (n == -1) {
		if (errno != EINTR)
			return LOOP_ERR_SYS;
		l->stats.eintr++;
		n = 0;
	}
	l->stats.iterations++;
	l->now_ms = loop_clock_ms();
	seq_cut = l->timer_seq;
	for (i = 0; i < n; i++)
		loop_dispatch(l, &l->events[i]);
	loop_run_timers(l, seq_cut);
	return 0;
}

int
loop_run(struct loop *l)
{
	int rc = 0;

	while (!l->stop && (rc = loop_run_once(l)) == 0)
		continue;
	l->stop = false;
	return rc;
}

void
loop_stop(struct loop *l)
{
	l->stop = true;
}

uint64_t
loop_now_ms(const struct loop *l)
{
	return l->now_ms;
}

const struct loop_stats *
loop_stats(const struct loop *l)
{
	return &l->stats;
}
