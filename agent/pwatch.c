/*
 * pwatch: the policy file's watch.  inotify on the file's directory (the
 * kubelet's `..data` swap replaces the file's inode, so a watch on the
 * file would die with it), debounced by a settle timer, and a periodic
 * fingerprint check for what inotify cannot see (a policy path that is a
 * symlink out of the directory, a lost watch, a writer that never closes).
 *
 * The settle timer is armed by the first event and not moved by later
 * ones: a kubelet swap (IN_CREATE of the new directory, of ..data_tmp,
 * IN_MOVED_FROM/TO, IN_DELETE of the old directory) lands within one
 * window, and a stream of swaps still gets a compare every window instead
 * of never.  If a window closes mid-swap, the fingerprint is still the old
 * one (the rename is atomic) and the rename's own event opens the next.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/limits.h"
#include "agent/log.h"
#include "agent/loop.h"
#include "agent/pwatch.h"

/* What the directory is watched for: entries coming, going, written. */
#define PWATCH_MASK                                                            \
	(IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |                 \
	    IN_CLOSE_WRITE | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF |       \
	    IN_ONLYDIR)

/* Events on the file's own name that may change its bytes unseen. */
#define PWATCH_FORCING (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE)

/* Events saying the watch is over (IN_IGNORED follows the removal). */
#define PWATCH_ENDING (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)

/* The file as stat(2) and readlink(2) see it; compared field by field. */
struct pwatch_fp {
	int err; /* stat's errno, 0: the fields below are set */
	dev_t dev;
	ino_t ino;
	off_t size;
	int64_t mtime_s;
	long mtime_ns;
	int link_err;    /* readlinkat's errno on ..data, 0: link is set */
	size_t link_len; /* bytes of link */
	char link[LIM_PWATCH_PATH_BYTES];
};

struct pwatch {
	struct loop *loop;
	int fd; /* inotify; -1 once the watch ended */
	bool deaf, forced;
	uint64_t check_ms;
	void (*changed)(void *arg);
	void *arg;
	struct loop_timer settle, check;
	struct pwatch_stats st;
	unsigned cur; /* fp[cur] is the last seen; the other spare */
	struct pwatch_fp fp[2];
	const char *base; /* in path, after the last '/' */
	size_t base_len;
	char path[LIM_PWATCH_PATH_BYTES];      /* the policy file */
	char dir[LIM_PWATCH_PATH_BYTES];       /* its directory */
	char data[LIM_PWATCH_PATH_BYTES + 8u]; /* dir + "/..data" */
};

static const char *const pwatch_errnames[] = {
    [0] = "ok",
    [-PWATCH_ERR_INVAL] = "invalid argument",
    [-PWATCH_ERR_NAME] = "inotify event name not NUL-terminated",
};

const char *
pwatch_strerror(int err)
{
	if (err > 0 ||
	    -err >= (int)(sizeof(pwatch_errnames) / sizeof(*pwatch_errnames)))
		return "unknown pwatch error";
	return pwatch_errnames[-err];
}

/* ---- the event walker (pure) ----------------------------------------- */

void
pwatch_scan_init(struct pwatch_scan *s)
{
	memset(s, 0, sizeof(*s));
}

/* One event's meaning; name is name_len bytes, NUL-terminated inside. */
static void
pwatch_scan_one(struct pwatch_scan *s, uint32_t mask, const char *name,
    size_t name_len, const char *base, size_t base_len)
{
	s->events++;
	s->any = true;
	if (mask & IN_Q_OVERFLOW) {
		s->overflow = true;
		s->forced = true;
	}
	if (mask & PWATCH_ENDING) {
		s->lost = true;
		s->forced = true;
	}
	if ((mask & PWATCH_FORCING) && name_len > base_len &&
	    memcmp(name, base, base_len) == 0 && name[base_len] == '\0')
		s->forced = true;
}

long
pwatch_scan_feed(struct pwatch_scan *s, const void *buf, size_t len,
    const char *base, size_t base_len)
{
	const char *p = buf;
	struct inotify_event ev;
	size_t off = 0, rec;

	if (s == NULL || (buf == NULL && len > 0) || base == NULL ||
	    len > (size_t)LONG_MAX)
		return PWATCH_ERR_INVAL;
	while (len - off >= sizeof(ev)) {
		/* The kernel aligns records; a copy makes any buffer safe. */
		memcpy(&ev, p + off, sizeof(ev));
		if (ev.len > len - off - sizeof(ev))
			break; /* cut: need more */
		rec = sizeof(ev) + ev.len;
		if (ev.len > 0 &&
		    memchr(p + off + sizeof(ev), '\0', ev.len) == NULL)
			return PWATCH_ERR_NAME;
		pwatch_scan_one(
		    s, ev.mask, p + off + sizeof(ev), ev.len, base, base_len);
		off += rec;
	}
	return (long)off;
}

/* ---- fingerprints ---------------------------------------------------- */

static void
pwatch_fingerprint(const struct pwatch *pw, struct pwatch_fp *fp)
{
	struct stat sb;
	ssize_t n;

	memset(fp, 0, offsetof(struct pwatch_fp, link));
	if (stat(pw->path, &sb) == -1)
		fp->err = errno;
	else {
		fp->dev = sb.st_dev;
		fp->ino = sb.st_ino;
		fp->size = sb.st_size;
		fp->mtime_s = (int64_t)sb.st_mtim.tv_sec;
		fp->mtime_ns = sb.st_mtim.tv_nsec;
	}
	/* A target is at most PATH_MAX - 1 bytes: never cut here. */
	n = readlinkat(AT_FDCWD, pw->data, fp->link, sizeof(fp->link));
	if (n < 0)
		fp->link_err = errno;
	else
		fp->link_len = (size_t)n;
}

static bool
pwatch_fp_equal(const struct pwatch_fp *a, const struct pwatch_fp *b)
{
	return a->err == b->err && a->dev == b->dev && a->ino == b->ino &&
	    a->size == b->size && a->mtime_s == b->mtime_s &&
	    a->mtime_ns == b->mtime_ns && a->link_err == b->link_err &&
	    a->link_len == b->link_len &&
	    memcmp(a->link, b->link, a->link_len) == 0;
}

/* ---- the loop side --------------------------------------------------- */

/* The watch is over: only the periodic check is left. */
static void
pwatch_unwatch(struct pwatch *pw, const char *why)
{
	if (pw->fd == -1)
		return;
	loop_del(pw->loop, pw->fd);
	close(pw->fd);
	pw->fd = -1;
	pw->st.watching = false;
	if (pw->check_ms > 0)
		log_warnx(
		    "pwatch: the watch on %s ended (%s); only the periodic "
		    "check (every %llu ms) notices policy changes now",
		    pw->dir, why, (unsigned long long)pw->check_ms);
	else
		log_warnx("pwatch: the watch on %s ended (%s); policy changes "
		          "go unnoticed until SIGHUP",
		    pw->dir, why);
}

/* Settled: compare, and tell the caller when it changed. */
static void
pwatch_settled(struct loop *l, struct loop_timer *t, void *arg)
{
	struct pwatch *pw = arg;
	unsigned next = pw->cur ^ 1u;
	bool forced = pw->forced;

	(void)l;
	(void)t;
	pw->forced = false;
	pwatch_fingerprint(pw, &pw->fp[next]);
	pw->st.compares++;
	if (!forced && pwatch_fp_equal(&pw->fp[next], &pw->fp[pw->cur]))
		return;
	pw->cur = next;
	pw->st.changes++;
	log_debug("pwatch: %s changed%s", pw->path,
	    forced ? " (or may have: written, replaced or events lost)" : "");
	pw->changed(pw->arg);
}

static void
pwatch_arm_settle(struct pwatch *pw)
{
	if (loop_timer_pending(&pw->settle))
		return;
	if (loop_timer_set(pw->loop, &pw->settle, LIM_PWATCH_SETTLE_MS) != 0)
		log_warnx("pwatch: no timer for the settle time; the periodic "
		          "check will notice");
}

/* The safety net: a change inotify did not report is settled as one. */
static void
pwatch_check(struct loop *l, struct loop_timer *t, void *arg)
{
	struct pwatch *pw = arg;
	struct pwatch_fp *spare = &pw->fp[pw->cur ^ 1u];

	pw->st.checks++;
	if (loop_timer_set(l, t, pw->check_ms) != 0)
		log_warnx("pwatch: no timer for the periodic check");
	if (loop_timer_pending(&pw->settle))
		return; /* a compare is coming anyway */
	pwatch_fingerprint(pw, spare);
	pw->st.compares++;
	if (!pwatch_fp_equal(spare, &pw->fp[pw->cur])) {
		log_debug(
		    "pwatch: the periodic check found %s changed", pw->path);
		pwatch_arm_settle(pw);
	}
}

/* Reads what is waiting, bounded per wake-up (level-triggered). */
static void
pwatch_io(struct loop *l, int fd, uint32_t revents, void *arg)
{
	struct pwatch *pw = arg;
	_Alignas(struct inotify_event) char buf[LIM_PWATCH_READ_BYTES];
	struct pwatch_scan s;
	ssize_t n = 0;
	unsigned i;

	(void)l;
	(void)revents;
	pwatch_scan_init(&s);
	for (i = 0; i < LIM_PWATCH_READS; i++) {
		if ((n = read(fd, buf, sizeof(buf))) <= 0)
			break;
		if (!pw->deaf &&
		    pwatch_scan_feed(&s, buf, (size_t)n, pw->base,
		        pw->base_len) != (long)n) {
			/* Never from a sane kernel; reload to be safe. */
			log_warnx("pwatch: malformed inotify events");
			s.any = s.forced = true;
		}
	}
	pw->st.events += s.events;
	pw->st.overflows += s.overflow ? 1u : 0u;
	pw->forced = pw->forced || s.forced;
	if (s.any)
		pwatch_arm_settle(pw);
	if (n == -1 && errno != EAGAIN && errno != EINTR) {
		log_warn("pwatch: reading inotify events");
		pwatch_unwatch(pw, "read failed");
	} else if (s.lost)
		pwatch_unwatch(pw, "directory removed, moved or unmounted");
}

/* ---- life ------------------------------------------------------------ */

/* Splits path into dir, base and dir/..data; -1 with errno. */
static int
pwatch_paths(struct pwatch *pw, const char *path)
{
	size_t len = strlen(path), dlen;
	const char *slash;

	if (len >= sizeof(pw->path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (len == 0 || path[len - 1] == '/') {
		errno = EINVAL;
		return -1;
	}
	memcpy(pw->path, path, len + 1);
	if ((slash = strrchr(pw->path, '/')) == NULL) {
		strcpy(pw->dir, ".");
		pw->base = pw->path;
	} else {
		dlen = slash == pw->path ? 1 : (size_t)(slash - pw->path);
		memcpy(pw->dir, pw->path, dlen);
		pw->dir[dlen] = '\0';
		pw->base = slash + 1;
	}
	pw->base_len = strlen(pw->base);
	/* Fits: dir is shorter than path, and data has 8 bytes more. */
	snprintf(pw->data, sizeof(pw->data), "%s/..data", pw->dir);
	return 0;
}

/* The inotify fd and its watch, in the loop; -1 with errno. */
static int
pwatch_open(struct pwatch *pw)
{
	int rc;

	if ((pw->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		return -1;
	if (inotify_add_watch(pw->fd, pw->dir, PWATCH_MASK) == -1)
		return -1;
	if ((rc = loop_add(pw->loop, pw->fd, LOOP_READ, pwatch_io, pw)) != 0) {
		errno = rc == LOOP_ERR_RANGE ? ERANGE
		    : rc == LOOP_ERR_SYS     ? errno
		                             : EINVAL;
		return -1;
	}
	pw->st.watching = true;
	return 0;
}

struct pwatch *
pwatch_new(struct loop *l, const char *policy_path, uint64_t check_ms,
    void (*changed)(void *arg), void *arg)
{
	struct pwatch *pw;
	int saved;

	if (l == NULL || policy_path == NULL || changed == NULL) {
		errno = EINVAL;
		return NULL;
	}
	/* The one allocation, at start-up: paths and fingerprints inside. */
	if ((pw = calloc(1, sizeof(*pw))) == NULL)
		return NULL;
	pw->loop = l;
	pw->fd = -1;
	pw->check_ms = check_ms;
	pw->changed = changed;
	pw->arg = arg;
	loop_timer_init(&pw->settle, pwatch_settled, pw);
	loop_timer_init(&pw->check, pwatch_check, pw);
	if (pwatch_paths(pw, policy_path) == -1 || pwatch_open(pw) == -1)
		goto fail;
	pwatch_fingerprint(pw, &pw->fp[pw->cur]);
	if (check_ms > 0 && loop_timer_set(l, &pw->check, check_ms) != 0) {
		errno = ENOMEM;
		goto fail;
	}
	return pw;
fail:
	saved = errno;
	pwatch_free(pw);
	errno = saved;
	return NULL;
}

void
pwatch_free(struct pwatch *pw)
{
	if (pw == NULL)
		return;
	loop_timer_cancel(pw->loop, &pw->settle);
	loop_timer_cancel(pw->loop, &pw->check);
	if (pw->fd != -1) {
		(void)loop_del(pw->loop, pw->fd); /* NOENT before loop_add */
		close(pw->fd);
	}
	free(pw);
}

const struct pwatch_stats *
pwatch_stats(const struct pwatch *pw)
{
	return &pw->st;
}

void
pwatch_test_deaf(struct pwatch *pw, bool deaf)
{
	pw->deaf = deaf;
}
