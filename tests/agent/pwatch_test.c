/*
 * Tests of agent/pwatch.c with a real loop and a temporary directory: a
 * kubelet-style `..data` swap is one call, an in-place write and an
 * editor's rename-over are one call each, an unrelated file none, events
 * while settling still one call, a stream of swaps is not starved, a queue
 * overflow (provoked by more renames than max_queued_events while nobody
 * reads) forces one call, the periodic check catches what a deaf inotify
 * missed, a removed directory ends the watch; the path limit at N and N+1
 * and the argument checks.  The pure event walker is fed whole, in every
 * split and byte by byte, against a PROT_NONE page.  No upper time bound
 * tighter than a second is asserted; alarm() ends a hang.  The watch's
 * tests wait for what they expect (a call, a compare, a check) with a
 * deadline of seconds, never for a fixed time that a loaded machine may
 * not give the loop; "nothing more" is then a further settle time or two.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/limits.h"
#include "agent/loop.h"
#include "agent/pwatch.h"
#include "tests/guard.h"
#include "tests/harness.h"

int main(void);

#define BASE "policy.podid"

/* What changed() saw. */
struct calls {
	int n;
	uint64_t at_ms;      /* loop_clock_ms() of the last call */
	uint64_t min_gap_ms; /* shortest time between two calls */
	const char *path;    /* when set, read at each call into last */
	char last[32];
};

static void
on_changed(void *arg)
{
	struct calls *c = arg;
	uint64_t now = loop_clock_ms();
	FILE *f;
	size_t n = 0;

	if (c->n > 0 && (c->min_gap_ms == 0 || now - c->at_ms < c->min_gap_ms))
		c->min_gap_ms = now - c->at_ms;
	c->n++;
	c->at_ms = now;
	if (c->path != NULL && (f = fopen(c->path, "r")) != NULL) {
		n = fread(c->last, 1, sizeof(c->last) - 1, f);
		fclose(f);
	}
	c->last[n] = '\0';
}

static void
stop_timer(struct loop *l, struct loop_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	loop_stop(l);
}

/* Runs l for ms milliseconds. */
static void
run_for(struct loop *l, uint64_t ms)
{
	struct loop_timer t;

	loop_timer_init(&t, stop_timer, NULL);
	loop_timer_set(l, &t, ms);
	check(loop_run(l) == 0);
	loop_timer_cancel(l, &t);
}

/* Runs l until *v >= want, T_WAIT_MS at most; *v >= want. */
#define T_WAIT_MS 10000u
static bool
run_until(struct loop *l, const uint64_t *v, uint64_t want)
{
	uint64_t end = loop_clock_ms() + T_WAIT_MS;

	while (*v < want && loop_clock_ms() < end)
		run_for(l, 10);
	return *v >= want;
}

/* Runs l until c has seen n calls, T_WAIT_MS at most. */
static bool
run_until_calls(struct loop *l, const struct calls *c, int n)
{
	uint64_t end = loop_clock_ms() + T_WAIT_MS;

	while (c->n < n && loop_clock_ms() < end)
		run_for(l, 10);
	return c->n >= n;
}

/* A settle time and more: long enough for a call that would come. */
#define T_QUIET_MS (4 * LIM_PWATCH_SETTLE_MS)

/* ---- a directory to play in ------------------------------------------ */

struct tdir {
	char dir[64], file[128];
	unsigned gen; /* kubelet generations written */
};

static void
path_in(const struct tdir *d, char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", d->dir, name);
}

static void
put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		perror(path);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
}

static void
tdir_make(struct tdir *d)
{
	memset(d, 0, sizeof(*d));
	strcpy(d->dir, "/tmp/pwatch-test-XXXXXX");
	if (mkdtemp(d->dir) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	path_in(d, d->file, sizeof(d->file), BASE);
}

/* Removes everything in d (one level of ..TIMESTAMP directories). */
static void
tdir_remove(struct tdir *d)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", d->dir);
}

/*
 * The kubelet's AtomicWriter: a new ..N directory with the file, a
 * ..data_tmp symlink to it renamed over ..data, the file's symlink into
 * ..data made once, then the old directory removed.
 */
static void
kubelet_swap(struct tdir *d, const char *text)
{
	char ts[64], p[256], q[512];

	snprintf(ts, sizeof(ts), "..2026_11_28_14_00_%02u.%09u", d->gen % 60,
	    d->gen);
	path_in(d, p, sizeof(p), ts);
	check(mkdir(p, 0755) == 0);
	snprintf(q, sizeof(q), "%s/%s", p, BASE);
	put_file(q, text);
	path_in(d, p, sizeof(p), "..data_tmp");
	check(symlink(ts, p) == 0);
	path_in(d, q, sizeof(q), "..data");
	check(rename(p, q) == 0);
	if (d->gen == 0)
		check(symlink("..data/" BASE, d->file) == 0);
	if (d->gen > 0) {
		snprintf(ts, sizeof(ts), "..2026_11_28_14_00_%02u.%09u",
		    (d->gen - 1) % 60, d->gen - 1);
		path_in(d, p, sizeof(p), ts);
		snprintf(q, sizeof(q), "%s/%s", p, BASE);
		check(unlink(q) == 0);
		check(rmdir(p) == 0);
	}
	d->gen++;
}

/* A loop and a watch on d's file; check_ms 0: no periodic check. */
static struct pwatch *
watch(struct loop **l, const struct tdir *d, uint64_t check_ms, struct calls *c)
{
	struct pwatch *pw;

	memset(c, 0, sizeof(*c));
	*l = loop_new(64, 16);
	check(*l != NULL);
	pw = pwatch_new(*l, d->file, check_ms, on_changed, c);
	check(pw != NULL);
	if (pw == NULL || *l == NULL)
		exit(2);
	check(pwatch_stats(pw)->watching);
	return pw;
}

static void
unwatch(struct loop *l, struct pwatch *pw, struct tdir *d)
{
	pwatch_free(pw);
	loop_free(l);
	tdir_remove(d);
}

/* ---- the watch -------------------------------------------------------- */

static void
t_kubelet_swap(void)
{
	struct tdir d;
	struct loop *l;
	struct pwatch *pw;
	struct calls c;
	uint64_t t0;

	tdir_make(&d);
	kubelet_swap(&d, "one\n");
	pw = watch(&l, &d, 0, &c);
	run_for(l, 100);
	check_int(c.n, 0);
	t0 = loop_clock_ms();
	kubelet_swap(&d, "two\n");
	/* Not before the settle time (read on the clock), then once. */
	check(run_until_calls(l, &c, 1));
	check_int(c.n, 1);
	check(c.at_ms >= t0 + LIM_PWATCH_SETTLE_MS);
	check(pwatch_stats(pw)->events >= 4); /* one swap, several events */
	check_int(pwatch_stats(pw)->changes, 1);
	check_int(pwatch_stats(pw)->compares, 1);
	/* Nothing more happens: no second call. */
	run_for(l, T_QUIET_MS);
	check_int(c.n, 1);
	unwatch(l, pw, &d);
}

/* ..data retargeted at a hard link of the same file: only the link says. */
static void
t_link_target_only(void)
{
	struct tdir d;
	struct loop *l;
	struct pwatch *pw;
	struct calls c;
	char a[256], b[256], fa[512], fb[512], tmp[256], data[256];

	tdir_make(&d);
	kubelet_swap(&d, "one\n");
	pw = watch(&l, &d, 0, &c);
	path_in(&d, a, sizeof(a), "..2026_11_28_14_00_00.000000000");
	path_in(&d, b, sizeof(b), "..other");
	check(mkdir(b, 0755) == 0);
	snprintf(fa, sizeof(fa), "%s/%s", a, BASE);
	snprintf(fb, sizeof(fb), "%s/%s", b, BASE);
	check(link(fa, fb) == 0);
	path_in(&d, tmp, sizeof(tmp), "..data_tmp");
	path_in(&d, data, sizeof(data), "..data");
	check(symlink("..other", tmp) == 0);
	check(rename(tmp, data) == 0);
	check(run_until_calls(l, &c, 1));
	run_for(l, T_QUIET_MS);
	check_int(c.n, 1);
	unwatch(l, pw, &d);
}

static void
t_in_place_write(void)
{
	struct timespec times[2];
	struct stat sb;
	struct tdir d;
	struct loop *l;
	struct pwatch *pw;
	struct calls c;

	tdir_make(&d);
	put_file(d.file, "aaaa\n");
	pw = watch(&l, &d, 0, &c);
	put_file(d.file, "bbbb\n");
	check(run_until_calls(l, &c, 1));
	run_for(l, T_QUIET_MS);
	check_int(c.n, 1);
	/*
	 * Same size, inode and mtime (put back, as a coarse clock could
	 * leave it): the fingerprint is equal, yet the write of the file
	 * itself forces the call.
	 */
	check(stat(d.file, &sb) == 0);
	times[0] = sb.st_atim;
	times[1] = sb.st_mtim;
	put_file(d.file, "cccc\n");
	check(utimensat(AT_FDCWD, d.file, times, 0) == 0);
	check(run_until_calls(l, &c, 2));
	run_for(l, T_QUIET_MS);
	check_int(c.n, 2);
	check_int(pwatch_stats(pw)->changes, 2);
	unwatch(l, pw, &d);
}

static void
t_rename_over(void)
{
	struct tdir d;
	struct loop *l;
	struct pwatch *pw;
	struct calls c;
	char tmp[400];

	tdir_make(&d);
	put_file(d.file, "old\n");
	pw = watch(&l, &d, 0, &c);
	path_in(&d, tmp, sizeof(tmp), "." BASE ".swp");
	put_file(tmp, "new policy\n");
	check(rename(tmp, d.file) == 0);
	check(run_until_calls(l, &c, 1));
	run_for(l, T_QUIET_MS);
	check_int(c.n, 1);
	check_int(pwatch_stats(pw)->changes, 1);
	unwatch(l, pw, &d);
}

static void
t_unrelated_file(void)
{
	struct tdir d;
	struct loop *l;
	struct pwatch *pw;
	struct calls c;
	char p[400], q[400];

	tdir_make(&d);
	kubelet_swap(&d, "policy\n");
	pw = watch(&l, &d, 0, &c);
	path_in(&d, p, sizeof(p), "other.txt");
	put_file(p, "x\n");
	path_in(&d, q, sizeof(q), BASE ".bak"); /* a name with ours inside */
	check(rename(p, q) == 0);
	check(chmod(q, 0600) == 0);
	check(unlink(q) == 0);
	path_in(&d, p, sizeof(p), "subdir");
	check(mkdir(p, 0755) == 0);
	check(rmdir(p) == 0);
	/* Compared (the events were read at once, one settle), and equal. */
	check(run_until(l, &pwatch_stats(pw)->compares, 1));
	run_for(l, T_QUIET_MS);
	check_int(c.n, 0);
	check(pwatch_stats(pw)->events >= 6);
	unwatch(l, pw, &d);
}

static void
t_events_while_settling(void)
{
	struct tdir d;
	struct loop *l;
	struct pwatch *pw;
	struct calls c;
	char p[400];
	int i;

	tdir_make(&d);
	kubelet_swap(&d, "one\n");
	pw = watch(&l, &d, 0, &c);
	kubelet_swap(&d, "two\n");
	/*
	 * One iteration: the events are read and the settle time runs.  A
	 * timer armed in an iteration never fires in it, so the noise and
	 * the next swap come while settling however slow the machine is.
	 */
	check_int(loop_run_once(l), 0);
	check(pwatch_stats(pw)->events >= 4);
	check_int(pwatch_stats(pw)->compares, 0);
	path_in(&d, p, sizeof(p), "noise");
	for (i = 0; i < 5; i++) {
		put_file(p, "noise\n");
		check(unlink(p) == 0);
	}
	kubelet_swap(&d, "three\n");
	check(run_until_calls(l, &c, 1));
	run_for(l, T_QUIET_MS);
	check_int(c.n, 1);
	check_int(pwatch_stats(pw)->compares, 1);
	unwatch(l, pw, &d);
}

/*
 * Swaps every 10 ms: the settle window is fixed, so calls keep coming,
 * never closer than a settle time (however slow the machine, which only
 * stretches the stream), and the last swap is always seen.
 */
static void
t_swap_stream_not_starved(void)
{
	struct tdir d;
	struct loop *l;
	struct pwatch *pw;
	struct calls c;
	char text[32];
	int i, swaps = 40;

	tdir_make(&d);
	kubelet_swap(&d, "gen 0\n");
	pw = watch(&l, &d, 0, &c);
	c.path = d.file;
	for (i = 1; i <= swaps; i++) {
		snprintf(text, sizeof(text), "gen %d\n", i);
		kubelet_swap(&d, text);
		run_for(l, 10);
	}
	check(c.n >= 2);
	check(c.min_gap_ms >= LIM_PWATCH_SETTLE_MS); /* debounced */
	/* The last swap is always seen. */
	snprintf(text, sizeof(text), "gen %d\n", swaps);
	while (strcmp(c.last, text) != 0 && run_until_calls(l, &c, c.n + 1))
		continue;
	check_str(c.last, text);
	check(c.n >= 3);
	check_int(pwatch_stats(pw)->changes, c.n);
	unwatch(l, pw, &d);
}

static unsigned
max_queued_events(void)
{
	FILE *f = fopen("/proc/sys/fs/inotify/max_queued_events", "r");
	unsigned v = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%u", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

/* More events than the kernel queues: IN_Q_OVERFLOW forces a call. */
static void
t_queue_overflow(void)
{
	struct tdir d;
	struct loop *l;
	struct pwatch *pw;
	struct calls c;
	char a[400], b[400];
	unsigned i, max = max_queued_events();

	if (max == 0 || max > 200000) {
		fprintf(stderr,
		    "queue overflow: max_queued_events %u, "
		    "skipped\n",
		    max);
		return;
	}
	tdir_make(&d);
	put_file(d.file, "policy\n");
	pw = watch(&l, &d, 0, &c);
	path_in(&d, a, sizeof(a), "a");
	path_in(&d, b, sizeof(b), "b");
	put_file(a, "x\n");
	/* Two events per rename, nobody reading meanwhile. */
	for (i = 0; i < max / 2 + 16; i++)
		check(rename(i % 2 ? b : a, i % 2 ? a : b) == 0);
	check(run_until_calls(l, &c, 1));
	run_for(l, T_QUIET_MS);
	check_int(pwatch_stats(pw)->overflows, 1);
	check_int(c.n, 1); /* the fingerprint is the same: forced */
	unwatch(l, pw, &d);
}

/* More events than LIM_PWATCH_READ_BYTES x LIM_PWATCH_READS: all read. */
static void
t_many_events(void)
{
	struct tdir d;
	struct loop *l;
	struct pwatch *pw;
	struct calls c;
	char p[400], name[16];
	unsigned i, n = 1000;
	int fd;

	/* Each event: the header and a 16-byte padded name. */
	check(3u * n * (sizeof(struct inotify_event) + 16u) >
	    LIM_PWATCH_READ_BYTES * LIM_PWATCH_READS);
	tdir_make(&d);
	put_file(d.file, "policy\n");
	pw = watch(&l, &d, 0, &c);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "f%05u", i);
		path_in(&d, p, sizeof(p), name);
		check((fd = open(p, O_CREAT | O_WRONLY, 0600)) != -1);
		close(fd);             /* IN_CREATE, IN_CLOSE_WRITE */
		check(unlink(p) == 0); /* IN_DELETE */
	}
	check(run_until(l, &pwatch_stats(pw)->events, 3u * n));
	check(run_until(l, &pwatch_stats(pw)->compares, 1));
	run_for(l, T_QUIET_MS);
	check_int(pwatch_stats(pw)->events, 3u * n);
	check_int(pwatch_stats(pw)->overflows, 0);
	check_int(c.n, 0);
	unwatch(l, pw, &d);
}

/* inotify deaf: the periodic check notices, through the settle time. */
static void
t_periodic_check(void)
{
	struct tdir d;
	struct loop *l;
	struct pwatch *pw;
	struct calls c;

	tdir_make(&d);
	kubelet_swap(&d, "one\n");
	pw = watch(&l, &d, 100, &c);
	pwatch_test_deaf(pw, true);
	check(run_until(l, &pwatch_stats(pw)->checks, 2));
	check_int(c.n, 0); /* checks ran, nothing changed */
	kubelet_swap(&d, "two\n");
	check(run_until_calls(l, &c, 1));
	check_int(c.n, 1);
	check_int(pwatch_stats(pw)->events, 0);
	/* Without inotify nor checks nothing would have noticed. */
	pwatch_test_deaf(pw, false);
	kubelet_swap(&d, "three\n");
	check(run_until_calls(l, &c, 2));
	check_int(c.n, 2);
	check(pwatch_stats(pw)->events > 0);
	unwatch(l, pw, &d);
}

/* The directory goes: the watch ends (fd closed), one last call. */
static void
t_directory_removed(void)
{
	struct tdir d;
	struct loop *l;
	struct pwatch *pw;
	struct calls c;

	tdir_make(&d);
	put_file(d.file, "policy\n");
	pw = watch(&l, &d, 0, &c);
	check(unlink(d.file) == 0);
	check(rmdir(d.dir) == 0);
	check(run_until_calls(l, &c, 1));
	check_int(c.n, 1);
	check(!pwatch_stats(pw)->watching);
	run_for(l, T_QUIET_MS);
	check_int(c.n, 1);
	unwatch(l, pw, &d);
}

/* ---- arguments and the path limit ------------------------------------- */

/* A directory nested under base so that dir + "/" + name is len bytes. */
static void
long_path(char *out, size_t cap, const char *base, size_t len)
{
	size_t n;
	char seg[201];

	memset(seg, 'd', 200);
	seg[200] = '\0';
	snprintf(out, cap, "%s", base);
	while (strlen(out) + 1 + 200 + 1 + 10 < len) {
		n = strlen(out);
		snprintf(out + n, cap - n, "/%s", seg);
		if (mkdir(out, 0755) == -1 && errno != EEXIST) {
			perror("mkdir");
			exit(2);
		}
	}
	n = strlen(out);
	out[n++] = '/';
	memset(out + n, 'f', len - n);
	out[len] = '\0';
}

static void
t_path_limit(void)
{
	static char p[LIM_PWATCH_PATH_BYTES + 16];
	struct tdir d;
	struct loop *l;
	struct pwatch *pw;
	struct calls c;

	tdir_make(&d);
	l = loop_new(64, 16);
	/* N bytes with the NUL: accepted (the file need not exist). */
	long_path(p, sizeof(p), d.dir, LIM_PWATCH_PATH_BYTES - 1);
	check_int(strlen(p), LIM_PWATCH_PATH_BYTES - 1);
	pw = pwatch_new(l, p, 0, on_changed, &c);
	check(pw != NULL);
	pwatch_free(pw);
	/* N + 1: refused. */
	long_path(p, sizeof(p), d.dir, LIM_PWATCH_PATH_BYTES);
	errno = 0;
	check(pwatch_new(l, p, 0, on_changed, &c) == NULL);
	check_int(errno, ENAMETOOLONG);
	loop_free(l);
	tdir_remove(&d);
}

static void
t_arguments(void)
{
	struct loop *l = loop_new(64, 16);
	struct calls c;
	struct pwatch *pw;

	errno = 0;
	check(pwatch_new(NULL, "/tmp/x", 0, on_changed, &c) == NULL);
	check_int(errno, EINVAL);
	check(pwatch_new(l, NULL, 0, on_changed, &c) == NULL);
	check(pwatch_new(l, "/tmp/x", 0, NULL, &c) == NULL);
	errno = 0;
	check(pwatch_new(l, "", 0, on_changed, &c) == NULL);
	check_int(errno, EINVAL);
	check(pwatch_new(l, "/tmp/", 0, on_changed, &c) == NULL);
	errno = 0;
	check(
	    pwatch_new(l, "/nonexistent-pwatch/p", 0, on_changed, &c) == NULL);
	check_int(errno, ENOENT);
	errno = 0;
	check(pwatch_new(l, "/etc/hostname/p", 0, on_changed, &c) == NULL);
	check_int(errno, ENOTDIR);
	/* A bare name watches the working directory; "/x" watches "/". */
	check((pw = pwatch_new(l, "policy.podid", 0, on_changed, &c)) != NULL);
	pwatch_free(pw);
	check((pw = pwatch_new(l, "/pwatch-none", 0, on_changed, &c)) != NULL);
	pwatch_free(pw);
	pwatch_free(NULL);
	loop_free(l);
}

/* ---- the event walker ------------------------------------------------- */

/* Appends one record with name (padded to 16 bytes, or none). */
static size_t
put_event(char *buf, size_t off, uint32_t mask, const char *name)
{
	struct inotify_event ev;
	size_t nlen = name ? (strlen(name) + 16) / 16 * 16 : 0;

	memset(&ev, 0, sizeof(ev));
	ev.wd = name ? 1 : -1;
	ev.mask = mask;
	ev.len = (uint32_t)nlen;
	memcpy(buf + off, &ev, sizeof(ev));
	memset(buf + off + sizeof(ev), 0, nlen);
	if (name)
		memcpy(buf + off + sizeof(ev), name, strlen(name));
	return off + sizeof(ev) + nlen;
}

/*
 * Feeds buf[0..len) in pieces of step bytes as they would arrive (each
 * feed gets what is pending), each piece against the guard page.  Returns
 * the last negative error, or 0 with everything consumed.
 */
static long
scan(struct pwatch_scan *s, const char *buf, size_t len, size_t step)
{
	size_t have = 0, done = 0;
	long r;

	pwatch_scan_init(s);
	while (have < len) {
		have = have + step < len ? have + step : len;
		r = pwatch_scan_feed(s, guard_copy(buf + done, have - done),
		    have - done, BASE, strlen(BASE));
		if (r < 0)
			return r;
		done += (size_t)r;
	}
	return done == len ? 0 : -100;
}

static void
scan_all_ways(const char *buf, size_t len, const struct pwatch_scan *want)
{
	struct pwatch_scan s;
	size_t step;

	for (step = 1; step <= len; step++) {
		if (scan(&s, buf, len, step) == 0 && s.events == want->events &&
		    s.any == want->any && s.forced == want->forced &&
		    s.overflow == want->overflow && s.lost == want->lost)
			continue;
		fprintf(stderr,
		    "in pieces of %zu: events %u any %d forced %d "
		    "overflow %d lost %d\n",
		    step, s.events, s.any, s.forced, s.overflow, s.lost);
		check(!"the walk as expected");
		break;
	}
}

static void
t_scan_names(void)
{
	char buf[1024];
	size_t n = 0;
	struct pwatch_scan want = {0};

	/* Unrelated names, and ours only deleted: no force. */
	n = put_event(buf, n, IN_CREATE | IN_ISDIR, "..2026_11_28");
	n = put_event(buf, n, IN_CREATE, "..data_tmp");
	n = put_event(buf, n, IN_MOVED_FROM, "..data_tmp");
	n = put_event(buf, n, IN_MOVED_TO, "..data");
	n = put_event(buf, n, IN_CLOSE_WRITE, BASE ".swp");
	n = put_event(buf, n, IN_CLOSE_WRITE, "policy.podi");
	n = put_event(buf, n, IN_CLOSE_WRITE, "x" BASE);
	n = put_event(buf, n, IN_DELETE, BASE);
	n = put_event(buf, n, IN_ATTRIB, BASE);
	want.events = 9;
	want.any = true;
	scan_all_ways(buf, n, &want);
	/* Ours written, created or renamed into place: forced. */
	{
		static const uint32_t m[] = {
		    IN_CLOSE_WRITE, IN_CREATE, IN_MOVED_TO};
		size_t i, k;

		for (i = 0; i < 3; i++) {
			k = put_event(buf, 0, IN_ATTRIB, "a");
			k = put_event(buf, k, m[i], BASE);
			want.events = 2;
			want.forced = true;
			scan_all_ways(buf, k, &want);
		}
	}
}

static void
t_scan_overflow_and_lost(void)
{
	char buf[256];
	size_t n;
	struct pwatch_scan want = {0};

	n = put_event(buf, 0, IN_Q_OVERFLOW, NULL);
	want.events = 1;
	want.any = want.forced = want.overflow = true;
	scan_all_ways(buf, n, &want);
	n = put_event(buf, 0, IN_DELETE_SELF, NULL);
	n = put_event(buf, n, IN_IGNORED, NULL);
	want.events = 2;
	want.overflow = false;
	want.lost = true;
	scan_all_ways(buf, n, &want);
	n = put_event(buf, 0, IN_MOVE_SELF, NULL);
	want.events = 1;
	scan_all_ways(buf, n, &want);
	n = put_event(buf, 0, IN_UNMOUNT, NULL);
	scan_all_ways(buf, n, &want);
}

static void
t_scan_errors(void)
{
	char buf[256];
	struct pwatch_scan s;
	struct inotify_event ev;
	size_t n;

	/* A name without its NUL. */
	n = put_event(buf, 0, IN_CREATE, "0123456789abcdef");
	memset(buf + sizeof(ev), 'x', n - sizeof(ev));
	pwatch_scan_init(&s);
	check_int(
	    pwatch_scan_feed(&s, guard_copy(buf, n), n, BASE, strlen(BASE)),
	    PWATCH_ERR_NAME);
	/* A cut record: nothing consumed, nothing counted. */
	n = put_event(buf, 0, IN_CREATE, "abc");
	pwatch_scan_init(&s);
	check_int(pwatch_scan_feed(
	              &s, guard_copy(buf, n - 1), n - 1, BASE, strlen(BASE)),
	    0);
	check_int(s.events, 0);
	check_int(pwatch_scan_feed(&s, guard_copy(buf, 3), 3, BASE, 4), 0);
	/* A length past the buffer is "need more", never a read past it. */
	memcpy(&ev, buf, sizeof(ev));
	ev.len = UINT32_MAX;
	memcpy(buf, &ev, sizeof(ev));
	check_int(pwatch_scan_feed(&s, guard_copy(buf, n), n, BASE, 4), 0);
	check_int(pwatch_scan_feed(&s, NULL, 0, BASE, 4), 0);
	check_int(pwatch_scan_feed(NULL, buf, n, BASE, 4), PWATCH_ERR_INVAL);
	check_int(pwatch_scan_feed(&s, NULL, 1, BASE, 4), PWATCH_ERR_INVAL);
	check_int(pwatch_scan_feed(&s, buf, n, NULL, 0), PWATCH_ERR_INVAL);
	check_str(pwatch_strerror(PWATCH_ERR_NAME),
	    "inotify event name not NUL-terminated");
	check_str(pwatch_strerror(0), "ok");
	check_str(pwatch_strerror(-99), "unknown pwatch error");
	check_str(pwatch_strerror(3), "unknown pwatch error");
}

int
main(void)
{
	alarm(60);
	test(t_scan_names, "walker: names, whole and in every split");
	test(t_scan_overflow_and_lost, "walker: overflow and the watch's end");
	test(t_scan_errors, "walker: errors and cut records");
	test(t_arguments, "arguments");
	test(t_path_limit, "path limit at N and N+1");
	test(t_kubelet_swap, "kubelet ..data swap: exactly one call");
	test(t_link_target_only, "..data retargeted, same file: one call");
	test(t_in_place_write, "in-place write: a call each time");
	test(t_rename_over, "editor's rename-over: one call");
	test(t_unrelated_file, "unrelated files: no call");
	test(t_events_while_settling, "events while settling: one call");
	test(t_swap_stream_not_starved, "a swap every 10 ms: not starved");
	test(t_many_events, "more events than one wake-up reads");
	test(t_queue_overflow, "queue overflow: one forced call");
	test(t_periodic_check, "periodic check behind a deaf inotify");
	test(t_directory_removed, "directory removed: the watch ends");
	return harness_done();
}
