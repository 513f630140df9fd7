/*
 * Tests of agent/loop.c: fd readiness on pipes and socketpairs, deletion
 * inside a batch, timers (order, re-arm, cancel, capacity, timeout), signals
 * through signalfd, stop, EINTR, and the per-wait event limit.  No test
 * asserts an upper time bound tighter than seconds; alarm() ends a hang.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/limits.h"
#include "agent/loop.h"
#include "tests/harness.h"

int main(void);

/* What io callbacks saw. */
struct rec {
	int calls;
	int fd;
	uint32_t revents;
	void *arg;
};

static void
rec_io(struct loop *l, int fd, uint32_t revents, void *arg)
{
	struct rec *r = arg;

	(void)l;
	r->calls++;
	r->fd = fd;
	r->revents = revents;
	r->arg = arg;
}

static void
stop_timer(struct loop *l, struct loop_timer *t, void *arg)
{
	int *fired = arg;

	(void)t;
	if (fired != NULL)
		(*fired)++;
	loop_stop(l);
}

/* Runs l until stopped, with a guard timer so a broken loop cannot hang. */
static int
run_guarded(struct loop *l, uint64_t guard_ms, int *guard_fired)
{
	struct loop_timer guard;
	int rc;

	loop_timer_init(&guard, stop_timer, guard_fired);
	check_int(loop_timer_set(l, &guard, guard_ms), 0);
	rc = loop_run(l);
	loop_timer_cancel(l, &guard);
	return rc;
}

static void
t_new_limits(void)
{
	struct loop *l;

	errno = 0;
	check(loop_new(0, 1) == NULL);
	check_int(errno, EINVAL);
	check(loop_new(1, 0) == NULL);
	l = loop_new(LIM_LOOP_FDS, 1);
	check(l != NULL);
	loop_free(l);
	errno = 0;
	check(loop_new(LIM_LOOP_FDS + 1, 1) == NULL);
	check_int(errno, EINVAL);
	l = loop_new(1, LIM_LOOP_TIMERS);
	check(l != NULL);
	loop_free(l);
	check(loop_new(1, LIM_LOOP_TIMERS + 1) == NULL);
	loop_free(NULL);
}

static void
t_strerror(void)
{
	int e;

	for (e = LOOP_OK; e >= LOOP_ERR_SYS; e--)
		check(strcmp(loop_strerror(e), "unknown loop error") != 0);
	check_str(loop_strerror(LOOP_ERR_RANGE), "fd beyond the slot table");
	check_str(loop_strerror(1), "unknown loop error");
	check_str(loop_strerror(LOOP_ERR_SYS - 1), "unknown loop error");
}

static void
t_pipe_read(void)
{
	struct loop *l = loop_new(1024, 4);
	struct rec r = {0};
	int p[2];
	char c;

	check(pipe(p) == 0);
	check_int(loop_add(l, p[0], LOOP_READ, rec_io, &r), 0);
	check_int(write(p[1], "x", 1), 1);
	check_int(loop_run_once(l), 0);
	check_int(r.calls, 1);
	check_int(r.fd, p[0]);
	check_int(r.revents, LOOP_READ);
	check(r.arg == &r);
	check_int(read(p[0], &c, 1), 1);
	/* Writer gone: a pipe reports only the hang-up, as LOOP_ERROR. */
	close(p[1]);
	check_int(loop_run_once(l), 0);
	check_int(r.calls, 2);
	check_int(r.revents, LOOP_ERROR);
	check_int(loop_del(l, p[0]), 0);
	close(p[0]);
	check_int(loop_stats(l)->io_callbacks, 2);
	loop_free(l);
}

static void
t_write_then_mod(void)
{
	struct loop *l = loop_new(1024, 4);
	struct rec r = {0};
	int sv[2], guard = 0;

	check(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	check_int(loop_add(l, sv[0], LOOP_WRITE, rec_io, &r), 0);
	check_int(loop_run_once(l), 0);
	check_int(r.calls, 1);
	check_int(r.revents, LOOP_WRITE);
	/* Read interest only, nothing to read: silence until the guard. */
	check_int(loop_mod(l, sv[0], LOOP_READ), 0);
	check_int(run_guarded(l, 30, &guard), 0);
	check_int(guard, 1);
	check_int(r.calls, 1);
	check_int(write(sv[1], "y", 1), 1);
	check_int(loop_run_once(l), 0);
	check_int(r.calls, 2);
	check_int(r.revents, LOOP_READ);
	/* Both at once. */
	check_int(loop_mod(l, sv[0], LOOP_READ | LOOP_WRITE), 0);
	check_int(loop_run_once(l), 0);
	check_int(r.revents, LOOP_READ | LOOP_WRITE);
	loop_del(l, sv[0]);
	close(sv[0]);
	close(sv[1]);
	loop_free(l);
}

static void
t_bad_calls(void)
{
	struct loop *l = loop_new(1024, 4);
	struct rec r = {0};
	int p[2];

	check(pipe(p) == 0);
	check_int(loop_add(l, -1, LOOP_READ, rec_io, &r), LOOP_ERR_INVAL);
	check_int(loop_add(l, p[0], 0x10, rec_io, &r), LOOP_ERR_INVAL);
	check_int(loop_add(l, p[0], LOOP_READ, NULL, &r), LOOP_ERR_INVAL);
	check_int(loop_mod(l, p[0], LOOP_READ), LOOP_ERR_NOENT);
	check_int(loop_del(l, p[0]), LOOP_ERR_NOENT);
	check_int(loop_add(l, p[0], LOOP_READ, rec_io, &r), 0);
	check_int(loop_add(l, p[0], LOOP_READ, rec_io, &r), LOOP_ERR_EXIST);
	check_int(loop_mod(l, p[0], LOOP_ERROR), LOOP_ERR_INVAL);
	check_int(loop_del(l, p[0]), 0);
	check_int(loop_del(l, p[0]), LOOP_ERR_NOENT);
	check_int(loop_del(l, 5000), LOOP_ERR_RANGE);
	check_int(loop_signal(l, SIGKILL, NULL, NULL), LOOP_ERR_INVAL);
	check_int(loop_signal(l, 0, NULL, NULL), LOOP_ERR_INVAL);
	check_int(loop_stats(l)->fd_refused, 0);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}

/* fd max_fds-1 is accepted, fd max_fds refused and counted. */
static void
t_fd_range(void)
{
	enum { MAX = 200 };
	struct loop *l = loop_new(MAX, 4);
	struct rec r = {0};
	int p[2];

	check(pipe(p) == 0);
	check(fcntl(MAX - 1, F_GETFD) == -1 && fcntl(MAX, F_GETFD) == -1);
	check_int(dup2(p[0], MAX - 1), MAX - 1);
	check_int(dup2(p[0], MAX), MAX);
	check_int(loop_add(l, MAX - 1, LOOP_READ, rec_io, &r), 0);
	check_int(loop_add(l, MAX, LOOP_READ, rec_io, &r), LOOP_ERR_RANGE);
	check_int(loop_stats(l)->fd_refused, 1);
	check_int(loop_mod(l, MAX, LOOP_READ), LOOP_ERR_RANGE);
	check_int(write(p[1], "z", 1), 1);
	check_int(loop_run_once(l), 0);
	check_int(r.calls, 1);
	check_int(r.fd, MAX - 1);
	loop_del(l, MAX - 1);
	close(MAX - 1);
	close(MAX);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}

/*
 * Two ready fds in one batch: whichever runs first deletes and closes the
 * other, then registers a new pipe that reuses its number.  The batched
 * event of the old file must reach nobody.
 */
struct victim {
	int a[2], b[2];
	int first_calls, reused_calls;
	int newpipe[2];
	struct rec reused;
};

static void
victim_io(struct loop *l, int fd, uint32_t revents, void *arg)
{
	struct victim *v = arg;
	int other = fd == v->a[0] ? v->b[0] : v->a[0];

	(void)revents;
	v->first_calls++;
	if (v->first_calls > 1)
		return;
	check_int(loop_del(l, other), 0);
	close(other);
	check(pipe(v->newpipe) == 0);
	check_int(v->newpipe[0], other); /* lowest free number */
	check_int(write(v->newpipe[1], "n", 1), 1);
	check_int(loop_add(l, v->newpipe[0], LOOP_READ, rec_io, &v->reused), 0);
}

static void
t_delete_other_in_batch(void)
{
	struct loop *l = loop_new(1024, 4);
	struct victim v;

	memset(&v, 0, sizeof(v));
	check(pipe(v.a) == 0 && pipe(v.b) == 0);
	check_int(write(v.a[1], "a", 1), 1);
	check_int(write(v.b[1], "b", 1), 1);
	check_int(loop_add(l, v.a[0], LOOP_READ, victim_io, &v), 0);
	check_int(loop_add(l, v.b[0], LOOP_READ, victim_io, &v), 0);
	check_int(loop_run_once(l), 0);
	check_int(v.first_calls, 1);
	check_int(v.reused.calls, 0);
	check_int(loop_stats(l)->stale_events, 1);
	/* The new registration works on the next iteration. */
	check_int(loop_run_once(l), 0);
	check_int(v.reused.calls, 1);
	check_int(v.reused.fd, v.newpipe[0]);
	loop_del(l, v.a[0] == v.newpipe[0] ? v.b[0] : v.a[0]);
	loop_del(l, v.newpipe[0]);
	close(v.a[0] == v.newpipe[0] ? v.b[0] : v.a[0]);
	close(v.a[1]);
	close(v.b[1]);
	close(v.newpipe[0]);
	close(v.newpipe[1]);
	loop_free(l);
}

/* A callback narrowing another fd's interest drops its batched event. */
struct narrow {
	int a, b, calls;
};

static void
narrow_io(struct loop *l, int fd, uint32_t revents, void *arg)
{
	struct narrow *n = arg;

	(void)revents;
	n->calls++;
	check_int(loop_mod(l, fd == n->a ? n->b : n->a, 0), 0);
}

static void
t_mod_other_in_batch(void)
{
	struct loop *l = loop_new(1024, 4);
	struct narrow n = {0};
	int a[2], b[2];

	check(pipe(a) == 0 && pipe(b) == 0);
	n.a = a[0];
	n.b = b[0];
	check_int(write(a[1], "a", 1), 1);
	check_int(write(b[1], "b", 1), 1);
	check_int(loop_add(l, a[0], LOOP_READ, narrow_io, &n), 0);
	check_int(loop_add(l, b[0], LOOP_READ, narrow_io, &n), 0);
	check_int(loop_run_once(l), 0);
	check_int(n.calls, 1);
	check_int(loop_stats(l)->stale_events, 1);
	loop_del(l, a[0]);
	loop_del(l, b[0]);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	loop_free(l);
}

/*
 * Timers fire in deadline order, ties in arming order.  Each arming reads
 * the clock afresh, so the order is that of the deadlines as armed, not of
 * the delays: a test taken off the CPU for 20 ms between two armings
 * (a loaded machine) moves the later ones back.
 */
struct order {
	int seen[8];
	int n;
};

struct otimer {
	struct loop_timer t;
	struct order *o;
	int id;
};

static void
order_timer(struct loop *l, struct loop_timer *t, void *arg)
{
	struct otimer *ot = arg;

	(void)l;
	check(!loop_timer_pending(t));
	check(t == &ot->t);
	if (ot->o->n < 8)
		ot->o->seen[ot->o->n++] = ot->id;
}

static void
t_timer_order(void)
{
	static const uint64_t delay[6] = {30, 10, 20, 0, 0, 0};
	static const int want[6] = {3, 4, 5, 1, 2, 0};
	struct loop *l = loop_new(16, 8);
	struct otimer ot[6];
	struct order o = {{0}, 0};
	int i, j, k, guard = 0, sorted[6], planned = 1;

	for (i = 0; i < 6; i++) {
		ot[i].o = &o;
		ot[i].id = i;
		loop_timer_init(&ot[i].t, order_timer, &ot[i]);
		check(!loop_timer_pending(&ot[i].t));
		check_int(loop_timer_set(l, &ot[i].t, delay[i]), 0);
		check(loop_timer_pending(&ot[i].t));
	}
	/* The order the deadlines ask for: by deadline, then arming. */
	for (i = 0; i < 6; i++) {
		for (j = i; j > 0; j--) {
			k = sorted[j - 1];
			if (ot[k].t.deadline_ms <= ot[i].t.deadline_ms)
				break;
			sorted[j] = k;
		}
		sorted[j] = i;
		/* Armed as planned when the clock moved < 10 ms meanwhile. */
		planned = planned &&
		    ot[i].t.deadline_ms - delay[i] <
		        ot[0].t.deadline_ms - delay[0] + 10;
	}
	check_int(run_guarded(l, 200, &guard), 0);
	check_int(guard, 1);
	check_int(o.n, 6);
	for (i = 0; i < 6; i++) {
		check_int(o.seen[i], sorted[i]);
		if (planned)
			check_int(o.seen[i], want[i]);
	}
	check_int(loop_stats(l)->timers_fired, 7);
	loop_free(l);
}

/* Re-arming moves a pending timer; it takes no second heap place. */
static void
t_timer_rearm(void)
{
	struct loop *l = loop_new(16, 2);
	struct loop_timer a, stop;
	int a_fired = 0, stopped = 0;

	loop_timer_init(&a, stop_timer, &a_fired);
	loop_timer_init(&stop, stop_timer, &stopped);
	check_int(loop_timer_set(l, &a, 10), 0);
	check_int(loop_timer_set(l, &a, 60000), 0); /* moved, not added */
	check_int(loop_timer_set(l, &stop, 30), 0);
	check_int(loop_run(l), 0);
	check_int(stopped, 1);
	check_int(a_fired, 0);
	check(loop_timer_pending(&a));
	/* Moved earlier it fires first. */
	check_int(loop_timer_set(l, &stop, 60000), 0);
	check_int(loop_timer_set(l, &a, 5), 0);
	check_int(loop_run(l), 0);
	check_int(a_fired, 1);
	check_int(stopped, 1);
	loop_timer_cancel(l, &stop);
	check(!loop_timer_pending(&stop));
	loop_timer_cancel(l, &stop); /* idle: no-op */
	loop_free(l);
}

/* Cancel inside callbacks: its own (no-op) and one due in the same pass. */
struct canceller {
	struct loop_timer self, victim;
	int self_calls, victim_calls;
};

static void
victim_timer(struct loop *l, struct loop_timer *t, void *arg)
{
	struct canceller *c = arg;

	(void)l;
	(void)t;
	c->victim_calls++;
}

static void
cancel_timer(struct loop *l, struct loop_timer *t, void *arg)
{
	struct canceller *c = arg;

	c->self_calls++;
	loop_timer_cancel(l, t);
	loop_timer_cancel(l, &c->victim);
	check(!loop_timer_pending(&c->victim));
}

static void
t_timer_cancel_in_callback(void)
{
	struct loop *l = loop_new(16, 4);
	struct canceller c;
	int guard = 0;

	memset(&c, 0, sizeof(c));
	loop_timer_init(&c.self, cancel_timer, &c);
	loop_timer_init(&c.victim, victim_timer, &c);
	check_int(loop_timer_set(l, &c.self, 0), 0);
	check_int(
	    loop_timer_set(l, &c.victim, 0), 0); /* due in the same pass */
	check_int(run_guarded(l, 50, &guard), 0);
	check_int(c.self_calls, 1);
	check_int(c.victim_calls, 0);
	check_int(guard, 1);
	loop_free(l);
}

/* N = max_timers arm; N+1 is refused and counted; all N fire in order. */
enum { MANY = 1000 };

struct many {
	struct loop_timer t[MANY + 1];
	uint64_t last_deadline;
	int fired, out_of_order;
};

static void
many_timer(struct loop *l, struct loop_timer *t, void *arg)
{
	struct many *m = arg;

	if (t->deadline_ms < m->last_deadline)
		m->out_of_order++;
	m->last_deadline = t->deadline_ms;
	if (++m->fired == MANY)
		loop_stop(l);
}

static void
t_timer_many(void)
{
	static struct many m;
	struct loop *l = loop_new(16, MANY);
	int i;

	memset(&m, 0, sizeof(m));
	for (i = 0; i <= MANY; i++)
		loop_timer_init(&m.t[i], many_timer, &m);
	for (i = 0; i < MANY; i++)
		check_int(
		    loop_timer_set(l, &m.t[i], (uint64_t)(i * 7919) % 60), 0);
	check_int(loop_timer_set(l, &m.t[MANY], 1), LOOP_ERR_TIMERS_FULL);
	check_int(loop_stats(l)->timer_refused, 1);
	check(!loop_timer_pending(&m.t[MANY]));
	/* Cancel a few from the middle, then put them back. */
	for (i = 100; i < 110; i++)
		loop_timer_cancel(l, &m.t[i]);
	for (i = 100; i < 110; i++)
		check_int(loop_timer_set(l, &m.t[i], 7), 0);
	check_int(loop_run(l), 0);
	check_int(m.fired, MANY);
	check_int(m.out_of_order, 0);
	check_int(loop_stats(l)->timers_fired, MANY);
	loop_free(l);
}

/* A timer re-arming itself at 0 ms fires once per iteration, no spin. */
struct spinner {
	struct loop_timer t;
	int fired;
	uint64_t iter_at_fire[5];
};

static void
spin_timer(struct loop *l, struct loop_timer *t, void *arg)
{
	struct spinner *s = arg;

	s->iter_at_fire[s->fired] = loop_stats(l)->iterations;
	if (++s->fired == 5) {
		loop_stop(l);
		return;
	}
	check_int(loop_timer_set(l, t, 0), 0);
}

static void
t_timer_zero_rearm(void)
{
	struct loop *l = loop_new(16, 4);
	struct spinner s;
	int i;

	memset(&s, 0, sizeof(s));
	loop_timer_init(&s.t, spin_timer, &s);
	check_int(loop_timer_set(l, &s.t, 0), 0);
	check_int(loop_run(l), 0);
	check_int(s.fired, 5);
	for (i = 1; i < 5; i++)
		check(s.iter_at_fire[i] > s.iter_at_fire[i - 1]);
	loop_free(l);
}

/*
 * The epoll timeout is the earliest deadline: a 50 ms timer ends the run
 * after >= 50 ms in a handful of iterations (not a busy loop), long before
 * the 10 s timer.
 */
static void
t_timeout_from_deadline(void)
{
	struct loop *l = loop_new(16, 4);
	struct loop_timer t50, t10s;
	int f50 = 0, f10s = 0;
	uint64_t start, elapsed;

	loop_timer_init(&t50, stop_timer, &f50);
	loop_timer_init(&t10s, stop_timer, &f10s);
	check_int(loop_timer_set(l, &t10s, 10000), 0);
	start = loop_clock_ms();
	check_int(loop_timer_set(l, &t50, 50), 0);
	check_int(loop_run(l), 0);
	elapsed = loop_clock_ms() - start;
	check_int(f50, 1);
	check_int(f10s, 0);
	check(elapsed >= 50);
	check(elapsed < 5000);
	check(loop_stats(l)->iterations <= 10);
	check(loop_now_ms(l) >= start + 50);
	loop_timer_cancel(l, &t10s);
	loop_free(l);
}

/* loop_now_ms is cached for the iteration; loop_clock_ms is fresh. */
struct nowcheck {
	uint64_t before, after, clock_after;
};

static void
now_timer(struct loop *l, struct loop_timer *t, void *arg)
{
	struct nowcheck *n = arg;

	(void)t;
	n->before = loop_now_ms(l);
	usleep(5000);
	n->after = loop_now_ms(l);
	n->clock_after = loop_clock_ms();
	loop_stop(l);
}

static void
t_now_cached(void)
{
	struct loop *l = loop_new(16, 4);
	struct loop_timer t;
	struct nowcheck n = {0, 0, 0};

	loop_timer_init(&t, now_timer, &n);
	check_int(loop_timer_set(l, &t, 1), 0);
	check_int(loop_run(l), 0);
	check_int(n.after, n.before);
	check(n.clock_after >= n.before + 5);
	loop_free(l);
}

static void
t_stop(void)
{
	struct loop *l = loop_new(16, 4);
	struct loop_timer t;
	int fired = 0;

	/* A stop requested before the run returns at once, once. */
	loop_stop(l);
	check_int(loop_run(l), 0);
	check_int(loop_stats(l)->iterations, 0);
	loop_timer_init(&t, stop_timer, &fired);
	check_int(loop_timer_set(l, &t, 1), 0);
	check_int(loop_run(l), 0);
	check_int(fired, 1);
	check(loop_stats(l)->iterations >= 1);
	loop_free(l);
}

/* SIGUSR1 and SIGUSR2 sent to ourselves come back through the loop. */
struct sigrec {
	int usr1, usr2;
};

static void
sig_cb(struct loop *l, int signo, void *arg)
{
	struct sigrec *s = arg;

	if (signo == SIGUSR1)
		s->usr1++;
	if (signo == SIGUSR2)
		s->usr2++;
	if (s->usr1 && s->usr2)
		loop_stop(l);
}

static void
t_signal(void)
{
	struct loop *l = loop_new(1024, 4);
	struct sigrec s = {0, 0};
	int guard = 0;

	check_int(loop_signal(l, SIGUSR1, sig_cb, &s), 0);
	check_int(kill(getpid(), SIGUSR1), 0); /* blocked: stays pending */
	check_int(loop_signal(l, SIGUSR2, sig_cb, &s), 0);
	check_int(kill(getpid(), SIGUSR2), 0);
	check_int(run_guarded(l, 5000, &guard), 0);
	check_int(guard, 0);
	check_int(s.usr1, 1);
	check_int(s.usr2, 1);
	check_int(loop_stats(l)->signals, 2);
	loop_free(l);
}

/*
 * epoll_wait interrupted by a real handler: counted, the run goes on.  A
 * child sends SIGWINCH every 20 ms until it is killed: one signal may land
 * while the loop is not waiting (it is then no EINTR), and a loaded machine
 * may start the child late, so the run lasts until an EINTR was counted
 * (10 s at most), polled by a timer that re-arms itself.
 */
static void
winch_handler(int signo)
{
	(void)signo;
}

static void
eintr_poll(struct loop *l, struct loop_timer *t, void *arg)
{
	int *polls = arg;

	(*polls)++;
	if (loop_stats(l)->eintr >= 1)
		loop_stop(l);
	else
		check_int(loop_timer_set(l, t, 50), 0);
}

static void
t_eintr(void)
{
	struct loop *l = loop_new(16, 4);
	struct sigaction sa, old;
	struct loop_timer poller;
	int fired = 0, polls = 0;
	pid_t pid, parent = getpid();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = winch_handler;
	check(sigaction(SIGWINCH, &sa, &old) == 0);
	if ((pid = fork()) == 0) {
		while (getppid() == parent && kill(parent, SIGWINCH) == 0)
			usleep(20000);
		_exit(0);
	}
	check(pid > 0);
	loop_timer_init(&poller, eintr_poll, &polls);
	check_int(loop_timer_set(l, &poller, 50), 0);
	check_int(run_guarded(l, 10000, &fired), 0);
	check_int(fired, 0);
	check(polls >= 1);
	check(loop_stats(l)->eintr >= 1);
	loop_timer_cancel(l, &poller);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	sigaction(SIGWINCH, &old, NULL);
	loop_free(l);
}

/* LIM_LOOP_EVENTS ready fds take one iteration; one more takes two. */
static void
drain_io(struct loop *l, int fd, uint32_t revents, void *arg)
{
	char c;

	(void)l;
	(void)revents;
	(void)arg;
	check_int(read(fd, &c, 1), 1);
}

static void
events_per_wait(unsigned nready, uint64_t want_iterations)
{
	struct loop *l = loop_new(1024, 4);
	int p[LIM_LOOP_EVENTS + 1][2];
	unsigned i;

	for (i = 0; i < nready; i++) {
		check(pipe(p[i]) == 0);
		check_int(write(p[i][1], "e", 1), 1);
		check_int(loop_add(l, p[i][0], LOOP_READ, drain_io, NULL), 0);
	}
	while (loop_stats(l)->io_callbacks < nready &&
	    loop_stats(l)->iterations < 10)
		check_int(loop_run_once(l), 0);
	check_int(loop_stats(l)->io_callbacks, nready);
	check_int(loop_stats(l)->iterations, want_iterations);
	for (i = 0; i < nready; i++) {
		loop_del(l, p[i][0]);
		close(p[i][0]);
		close(p[i][1]);
	}
	loop_free(l);
}

static void
t_events_per_wait(void)
{
	events_per_wait(LIM_LOOP_EVENTS, 1);
	events_per_wait(LIM_LOOP_EVENTS + 1, 2);
}

int
main(void)
{
	alarm(60); /* a hung loop fails the binary instead of the CI job */
	test(t_new_limits, "loop_new limits at N and N+1");
	test(t_strerror, "error names");
	test(t_pipe_read, "pipe readable, then EOF with LOOP_ERROR");
	test(t_write_then_mod, "socketpair writable, loop_mod");
	test(t_bad_calls, "invalid, duplicate and unknown fds");
	test(t_fd_range, "fd >= max_fds refused and counted");
	test(t_delete_other_in_batch, "delete another fd inside a batch");
	test(t_mod_other_in_batch, "narrow another fd inside a batch");
	test(t_timer_order, "timers fire in deadline order");
	test(t_timer_rearm, "re-arming moves a timer");
	test(t_timer_cancel_in_callback, "cancel inside a timer callback");
	test(t_timer_many, "max_timers timers, one more refused");
	test(t_timer_zero_rearm, "zero-delay re-arm waits an iteration");
	test(t_timeout_from_deadline, "epoll timeout from earliest deadline");
	test(t_now_cached, "loop_now_ms cached per iteration");
	test(t_stop, "loop_stop");
	test(t_eintr, "EINTR counted and survived");
	test(t_signal, "SIGUSR1 and SIGUSR2 through signalfd");
	test(t_events_per_wait, "LIM_LOOP_EVENTS per wait at N and N+1");
	return harness_done();
}
