/*
 * Tests of agent/priv.c.  The /proc/<pid>/status parser: a sample fed
 * whole, at every split point and byte by byte, each piece against a
 * PROT_NONE page; malformed, missing and duplicate fields; the line and
 * group limits at N and N+1.  Then, as root, priv_drop() in forked
 * children: the kernel's own /proc/self/status text afterwards (all five
 * capability sets 0, NoNewPrivs 1, Seccomp 2, uid/gid 65534, no groups);
 * the syscalls podid uses still work; forbidden ones (ptrace, mount,
 * AF_UNIX sockets, writable opens, PROT_EXEC, execve, signals to others,
 * the x32 and i386 ABIs) kill the whole process with SIGSYS; each failing
 * step is named (libcap-ng's switch, setresgid, setgroups and setresuid
 * made to fail in user namespaces, a bounding set that cannot be
 * cleared).  Without root only the parser and argument checks run.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cap-ng.h>

#include "agent/limits.h"
#include "agent/log.h"
#include "agent/priv.h"
#include "tests/guard.h"
#include "tests/harness.h"

#define NOBODY   65534u
#define GUARD_SZ (1u << 16)
#define OUT_MAX  16384

/* ---- inputs against a PROT_NONE page ---- */

/* Feeds s in pieces of step bytes (0: whole), then ends it. */
static int
parse(struct priv_status *st, const char *s, size_t len, size_t step)
{
	size_t i, n;
	int rc;

	priv_status_init(st);
	for (i = 0; i < len; i += n) {
		n = step == 0 || len - i < step ? len - i : step;
		rc = priv_status_feed(st, guard_copy(s + i, n), n);
		if (rc < 0)
			return rc;
		if (rc != (int)n)
			return 1000; /* everything must be consumed */
	}
	return priv_status_done(st);
}

static int
parse_str(struct priv_status *st, const char *s)
{
	return parse(st, s, strlen(s), 0);
}

/* ---- the parser ---- */

static char sample[8192];

/* A status as Linux 6.x prints it, with a long line podid does not need. */
static const char *
sample_text(void)
{
	char mems[4000];

	memset(mems, 'f', sizeof(mems) - 1);
	mems[sizeof(mems) - 1] = '\0';
	snprintf(sample, sizeof(sample),
	    "Name:\tpodid\nUmask:\t0022\nState:\tR (running)\nTgid:\t42\n"
	    "Ngid:\t0\nPid:\t42\nPPid:\t1\nTracerPid:\t0\n"
	    "Uid:\t1000\t65534\t65534\t7\n"
	    "Gid:\t65533\t65533\t65533\t65533\nFDSize:\t64\n"
	    "Groups:\t4 24 65533 \nNStgid:\t42\nVmPeak:\t   10000 kB\n"
	    "SigQ:\t0/127431\nSigPnd:\t0000000000000000\n"
	    "CapInh:\t0000000000000000\nCapPrm:\t0000000000003000\n"
	    "CapEff:\t00000000000030c0\nCapBnd:\t000001ffffffffff\n"
	    "CapAmb:\t0000000000000001\nNoNewPrivs:\t1\nSeccomp:\t2\n"
	    "Seccomp_filters:\t1\nSpeculation_Store_Bypass:\tthread "
	    "vulnerable\nMems_allowed:\t%s\nCpus_allowed_list:\t0-7\n"
	    "voluntary_ctxt_switches:\t3",
	    mems);
	return sample;
}

static void
check_sample(const struct priv_status *st)
{
	check_int(st->uid[0], 1000);
	check_int(st->uid[1], 65534);
	check_int(st->uid[3], 7);
	check_int(st->gid[2], 65533);
	check_int(st->ngroups, 3);
	check_int(st->groups[0], 4);
	check_int(st->groups[2], 65533);
	check(st->cap[PRIV_CAP_INH] == 0);
	check(st->cap[PRIV_CAP_PRM] == 0x3000);
	check(st->cap[PRIV_CAP_EFF] == 0x30c0);
	check(st->cap[PRIV_CAP_BND] == 0x1ffffffffffull);
	check(st->cap[PRIV_CAP_AMB] == 1);
	check_int(st->no_new_privs, 1);
	check_int(st->seccomp, 2);
	check_int(st->seen, PRIV_ST_ALL);
}

static void
t_status_sample(void)
{
	const char *s = sample_text();
	size_t len = strlen(s), cut;
	struct priv_status st;
	int whole, bytes, splits = 0;

	whole = parse(&st, s, len, 0);
	check_int(whole, 0);
	check_sample(&st);
	bytes = parse(&st, s, len, 1);
	check_int(bytes, 0);
	check_sample(&st);
	for (cut = 1; cut < len; cut++) {
		priv_status_init(&st);
		if (priv_status_feed(&st, guard_copy(s, cut), cut) !=
		        (int)cut ||
		    priv_status_feed(&st, guard_copy(s + cut, len - cut),
		        len - cut) != (int)(len - cut) ||
		    priv_status_done(&st) != 0 ||
		    st.cap[PRIV_CAP_EFF] != 0x30c0 || st.uid[3] != 7 ||
		    st.ngroups != 3)
			splits++;
	}
	check_int(splits, 0);
}

/* The test process's own status, against getuid() and friends. */
static void
t_status_proc(void)
{
	char buf[GUARD_SZ];
	struct priv_status st;
	ssize_t n;
	int fd;

	fd = open("/proc/self/status", O_RDONLY);
	check(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	check(n > 0);
	check_int(parse(&st, buf, (size_t)n, 0), 0);
	check_int(st.uid[0], getuid());
	check_int(st.uid[1], geteuid());
	check_int(st.gid[0], getgid());
	check_int(st.ngroups, getgroups(0, NULL));
	check_int(st.no_new_privs, prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	check_int(st.seccomp, prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
	check_int(parse(&st, buf, (size_t)n, 1), 0);
}

/* The sample with one line replaced (key "Key:" up to its newline). */
static int
parse_with(const char *key, const char *line)
{
	static char doc[sizeof(sample) + 4 * LIM_PRIV_STATUS_LINE_BYTES];
	const char *s = sample_text(), *at = strstr(s, key), *nl;
	struct priv_status st;

	if (at == NULL || (nl = strchr(at + 1, '\n')) == NULL)
		return 2000;
	snprintf(doc, sizeof(doc), "%.*s%s%s", (int)(at - s), s, line, nl);
	return parse_str(&st, doc);
}

static void
t_status_malformed(void)
{
	struct priv_status st;

	check_int(parse_with("\nUid:", "\nUid:\t1\t2\t3"), PRIV_ERR_STATUS);
	check_int(
	    parse_with("\nUid:", "\nUid:\t1\t2\t3\t4\t5"), PRIV_ERR_STATUS);
	check_int(parse_with("\nUid:", "\nUid:\t1\t2\t3\t4294967296"),
	    PRIV_ERR_STATUS);
	check_int(parse_with("\nUid:", "\nUid:\t1\t2\t3\t4294967295"), 0);
	check_int(parse_with("\nUid:", "\nUid:\t-1\t2\t3\t4"), PRIV_ERR_STATUS);
	check_int(parse_with("\nGid:", "\nGid:\t1 2 3 4x"), PRIV_ERR_STATUS);
	check_int(parse_with("\nCapEff:", "\nCapEff:\t"), PRIV_ERR_STATUS);
	check_int(parse_with("\nCapEff:", "\nCapEff:\t00000000000000000"),
	    PRIV_ERR_STATUS); /* 17 digits */
	check_int(parse_with("\nCapEff:", "\nCapEff:\tffffffffffffffff"), 0);
	check_int(parse_with("\nCapEff:", "\nCapEff:\t00000000000030C0"),
	    PRIV_ERR_STATUS);
	check_int(parse_with("\nCapEff:", "\nCapEff:\t0 0"), PRIV_ERR_STATUS);
	check_int(parse_with("\nSeccomp:", "\nSeccomp:\t"), PRIV_ERR_STATUS);
	check_int(parse_with("\nSeccomp:", "\nSeccomp:\ttwo"), PRIV_ERR_STATUS);
	check_int(parse_with("\nGroups:", "\nGroups:\t4,5"), PRIV_ERR_STATUS);
	check_int(parse_with("\nGroups:", "\nGroups:\t"), 0);
	check_int(parse_with("\nUmask:", "\nno colon here"), PRIV_ERR_STATUS);
	/* Twice is not the kernel's output: refused. */
	check_int(parse_with("\nSeccomp:", "\nSeccomp:\t2\nSeccomp:\t0"),
	    PRIV_ERR_STATUS);
	/* "Seccomp_filters" is not "Seccomp". */
	check_int(parse_with("\nSeccomp:", "\nSeccomp_x:\t2"), PRIV_ERR_STATUS);
	check_int(parse_str(&st, ""), PRIV_ERR_STATUS);
	/* An error sticks. */
	priv_status_init(&st);
	check_int(priv_status_feed(&st, "Uid:\tx\n", 7), PRIV_ERR_STATUS);
	check_int(
	    priv_status_feed(&st, "Gid:\t1\t1\t1\t1\n", 13), PRIV_ERR_STATUS);
	check_int(priv_status_done(&st), PRIV_ERR_STATUS);
}

/* Each needed field missing in turn. */
static void
t_status_missing(void)
{
	static const char *const keys[] = {"\nUid:", "\nGid:", "\nGroups:",
	    "\nCapInh:", "\nCapPrm:", "\nCapEff:", "\nCapBnd:", "\nCapAmb:",
	    "\nNoNewPrivs:", "\nSeccomp:"};
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(*keys); i++)
		check_int(parse_with(keys[i], "\nOther:\t1"), PRIV_ERR_STATUS);
}

/* "Groups:\t" + n groups, padded with blanks to len bytes. */
static const char *
groups_line(size_t n, size_t len)
{
	static char line[2 * LIM_PRIV_STATUS_LINE_BYTES];
	size_t i, o;

	o = (size_t)snprintf(line, sizeof(line), "\nGroups:\t");
	for (i = 0; i < n; i++)
		o += (size_t)snprintf(
		    line + o, sizeof(line) - o, "%zu ", 1000 + i);
	while (o < len + 1 && o < sizeof(line) - 1)
		line[o++] = ' ';
	line[o] = '\0';
	return line;
}

/* key then 'x' up to len bytes after the leading newline. */
static const char *
long_line(const char *key, size_t len)
{
	static char line[4 * LIM_PRIV_STATUS_LINE_BYTES];
	size_t o = (size_t)snprintf(line, sizeof(line), "%s", key);

	while (o < len + 1 && o < sizeof(line) - 1)
		line[o++] = 'x';
	line[o] = '\0';
	return line;
}

static void
t_status_limits(void)
{
	size_t n = LIM_PRIV_STATUS_LINE_BYTES;

	check_int(parse_with("\nGroups:", groups_line(LIM_PRIV_GROUPS, 0)), 0);
	check_int(parse_with("\nGroups:", groups_line(LIM_PRIV_GROUPS + 1, 0)),
	    PRIV_ERR_GROUPS);
	/* The line without its newline: N bytes, then N + 1. */
	check_int(parse_with("\nGroups:", groups_line(2, n)), 0);
	check_int(parse_with("\nGroups:", groups_line(2, n + 1)),
	    PRIV_ERR_STATUS_LINE);
	/* Lines podid does not need may be of any length. */
	check_int(parse_with("\nUmask:", long_line("\nUmask:\t", 3 * n)), 0);
	check_int(parse_with("\nUmask:", long_line("\nno colon ", 3 * n)), 0);
	check_int(parse_with("\nUmask:", long_line("\nUmask:\t", n)), 0);
}

/* ---- children ---- */

/*
 * Ends a child at once.  Not _exit(): ASan intercepts it to look for
 * leaks, with threads and ptrace the filter forbids.
 */
static void __attribute__((noreturn)) child_exit(int code)
{
	syscall(SYS_exit_group, code);
	abort();
}

struct out {
	int status; /* from waitpid */
	char text[OUT_MAX];
	size_t len;
};

/* Writes a formatted line to fd 1 with one write(2): no stdio. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0 && write(1, buf, (size_t)n) < 0)
		child_exit(3);
}

static void
collect(int fd, pid_t pid, struct out *o)
{
	ssize_t n;

	o->len = 0;
	while (
	    (n = read(fd, o->text + o->len, sizeof(o->text) - 1 - o->len)) > 0)
		o->len += (size_t)n;
	o->text[o->len] = '\0';
	close(fd);
	if (waitpid(pid, &o->status, 0) == -1)
		o->status = -1;
}

/*
 * Runs fn(arg) in a child whose fds 1 and 2 go to o->text; the child logs
 * in text form and is killed by SIGALRM after 20 s, whatever it does.
 */
static void
run_child(void (*fn)(const void *), const void *arg, struct out *o)
{
	int p[2];
	pid_t pid;

	if (pipe(p) == -1 || (pid = fork()) == -1) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[1]);
		log_init(LOG_LVL_INFO, false);
		alarm(20);
		fn(arg);
		child_exit(0);
	}
	close(p[1]);
	collect(p[0], pid, o);
}

static bool
exited(const struct out *o, int code)
{
	return WIFEXITED(o->status) && WEXITSTATUS(o->status) == code;
}

static bool
killed_by(const struct out *o, int sig)
{
	return WIFSIGNALED(o->status) && WTERMSIG(o->status) == sig;
}

static bool
has(const struct out *o, const char *s)
{
	return strstr(o->text, s) != NULL;
}

static int
count(const struct out *o, const char *s)
{
	const char *p = o->text;
	int n = 0;

	while ((p = strstr(p, s)) != NULL && ++n)
		p++;
	return n;
}

static void
show(const struct out *o)
{
	fprintf(
	    stderr, "    child status 0x%x, said:\n%s\n", o->status, o->text);
}

static const struct priv_spec spec_nobody = {NOBODY, NOBODY, true, NULL, 0};

/* priv_drop(spec), its return code said as "rc=N"; child_exit(9) on failure. */
static void
drop_orchild_exit(const struct priv_spec *spec)
{
	int rc = priv_drop(spec);

	say("rc=%d\n", rc);
	if (rc != 0)
		child_exit(9);
}

/* Copies /proc/self/status to fd 1, after a "status:" line. */
static void
say_status(void)
{
	char buf[8192];
	ssize_t n;
	int fd;

	say("status:\n");
	if ((fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)) == -1)
		child_exit(4);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (write(1, buf, (size_t)n) < 0)
			child_exit(4);
	close(fd);
}

/* ---- root: the drop itself ---- */

static void
c_drop_status(const void *arg)
{
	char rep[1024];

	drop_orchild_exit(arg);
	say_status();
	say("report=%d %s\n", priv_report(rep, sizeof(rep)), rep);
}

static void
t_drop_status(void)
{
	static struct out o;

	run_child(c_drop_status, &spec_nobody, &o);
	check(exited(&o, 0));
	check(has(&o, "rc=0\n"));
	/* The kernel's own words, not the parser under test. */
	check(has(&o, "\nCapInh:\t0000000000000000\n"));
	check(has(&o, "\nCapPrm:\t0000000000000000\n"));
	check(has(&o, "\nCapEff:\t0000000000000000\n"));
	check(has(&o, "\nCapBnd:\t0000000000000000\n"));
	check(has(&o, "\nCapAmb:\t0000000000000000\n"));
	check(has(&o, "\nNoNewPrivs:\t1\n"));
	check(has(&o, "\nSeccomp:\t2\n"));
	check(has(&o, "\nUid:\t65534\t65534\t65534\t65534\n"));
	check(has(&o, "\nGid:\t65534\t65534\t65534\t65534\n"));
	check(has(&o, "\nGroups:\t \n") || has(&o, "\nGroups:\t\n"));
	/* Logged once, and what selftest would print. */
	check(has(&o,
	    "podid: priv: dropped: Uid=65534 Gid=65534 Groups= "
	    "CapInh=0 CapPrm=0 CapEff=0 CapBnd=0 CapAmb=0 "
	    "NoNewPrivs=1 Seccomp=2; seccomp allowlist of "));
	check_int(count(&o, "priv: dropped"), 1);
	check(has(&o,
	    "report=0 Uid=65534 Gid=65534 Groups= CapInh=0 CapPrm=0 "
	    "CapEff=0 CapBnd=0 CapAmb=0 NoNewPrivs=1 Seccomp=2\n"));
	if (!exited(&o, 0) || !has(&o, "\nSeccomp:\t2\n"))
		show(&o);
}

/* Another uid and gid than 65534, and the seccomp filter off. */
static void
t_drop_other_ids(void)
{
	static const struct priv_spec spec = {4242, 4343, false, NULL, 0};
	static struct out o;

	run_child(c_drop_status, &spec, &o);
	check(exited(&o, 0));
	check(has(&o, "\nUid:\t4242\t4242\t4242\t4242\n"));
	check(has(&o, "\nGid:\t4343\t4343\t4343\t4343\n"));
	check(has(&o, "\nCapBnd:\t0000000000000000\n"));
	check(has(&o, "\nNoNewPrivs:\t1\n"));
	check(has(&o, "\nSeccomp:\t0\n"));
	check(has(&o, "seccomp off"));
	/* priv_report() wants seccomp: it says a privilege is left. */
	check(has(&o, "report=-18 "));
	if (!exited(&o, 0))
		show(&o);
}

/* ---- root: what podid does afterwards still works ---- */

struct world {
	int lfd, ep, pfd[2];
	struct sockaddr_in addr; /* of lfd */
	char file[64];
};

static void
c_net(struct world *w)
{
	struct epoll_event ev = {.events = EPOLLIN}, out;
	int c, s, one = 1, err = -1;
	socklen_t alen;
	char buf[8];

	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	say("connect=%d\n",
	    connect(c, (struct sockaddr *)&w->addr, sizeof(w->addr)) == 0 ||
	        errno == EINPROGRESS);
	ev.data.fd = w->lfd;
	say("epoll_ctl=%d\n", epoll_ctl(w->ep, EPOLL_CTL_ADD, w->lfd, &ev));
	say("epoll_wait=%d\n", epoll_wait(w->ep, &out, 1, 5000));
	s = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	say("accept4=%d\n", s >= 0);
	say("setsockopt=%d\n",
	    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)));
	alen = sizeof(err);
	one = getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &alen);
	say("getsockopt=%d/%d\n", one, err);
	say("send=%zd\n", send(s, "hi", 2, MSG_NOSIGNAL));
	ev.data.fd = c;
	epoll_ctl(w->ep, EPOLL_CTL_ADD, c, &ev);
	epoll_wait(w->ep, &out, 1, 5000); /* c readable (lfd is drained) */
	say("recv=%zd\n", recv(c, buf, sizeof(buf), 0));
	say("shutdown=%d\n", shutdown(s, SHUT_WR));
	c = socket(AF_INET6, SOCK_STREAM, 0);
	say("socket6=%d\n", c >= 0 || errno == EAFNOSUPPORT);
}

static void
c_files(struct world *w)
{
	struct stat sb;
	char buf[16];
	int fd;

	fd = open(w->file, O_RDONLY | O_CLOEXEC);
	say("open=%d\n", fd >= 0);
	say("fstat=%d\n", fstat(fd, &sb));
	say("read=%zd\n", read(fd, buf, sizeof(buf)));
	say("close=%d\n", close(fd));
	say("access=%d\n", access(w->file, R_OK));
	say("faccessat=%d\n", faccessat(AT_FDCWD, w->file, R_OK, 0));
	say("stat=%d\n", stat(w->file, &sb));
}

static void
c_memory_time(void)
{
	struct timespec ts;
	struct timeval tv;
	char *p, *q, rnd[8];

	p = malloc(64u << 20); /* mmap */
	say("malloc=%d\n", p != NULL);
	q = realloc(p, 128u << 20); /* mremap */
	say("realloc=%d\n", q != NULL);
	free(q); /* munmap */
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	say("mmap=%d\n", p != MAP_FAILED);
	say("mprotect=%d\n", mprotect(p, 4096, PROT_READ));
	say("madvise=%d\n", madvise(p, 4096, MADV_DONTNEED));
	say("munmap=%d\n", munmap(p, 4096));
	say("brk=%d\n", syscall(SYS_brk, 0) != -1);
	say("clock_gettime=%ld\n", syscall(SYS_clock_gettime, 1, &ts));
	say("gettimeofday=%ld\n", syscall(SYS_gettimeofday, &tv, NULL));
	say("getrandom=%zd\n", getrandom(rnd, sizeof(rnd), GRND_NONBLOCK));
	say("getpid=%d\n", getpid() > 0 && gettid() > 0);
}

static void
c_signals(struct world *w)
{
	struct signalfd_siginfo si;
	struct iovec iov[2] = {{"wri", 3}, {"tev\n", 4}};
	sigset_t m;
	int fd;

	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	say("sigprocmask=%d\n", sigprocmask(SIG_BLOCK, &m, NULL));
	fd = signalfd(-1, &m, SFD_CLOEXEC);
	say("signalfd=%d\n", fd >= 0);
	say("raise=%d\n", raise(SIGUSR1)); /* tgkill to ourselves */
	say("sigread=%d\n", read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si));
	say("writev=%zd\n", writev(1, iov, 2));
	say("pipe=%zd\n", write(w->pfd[1], "x", 1));
}

/* Everything set up before the drop, as podid run does. */
static void
c_allowed(const void *arg)
{
	const struct priv_spec *spec = arg;
	struct world w;
	socklen_t alen = sizeof(w.addr);

	memset(&w.addr, 0, sizeof(w.addr));
	w.addr.sin_family = AF_INET;
	w.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	w.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (w.lfd == -1 ||
	    bind(w.lfd, (struct sockaddr *)&w.addr, sizeof(w.addr)) ||
	    getsockname(w.lfd, (struct sockaddr *)&w.addr, &alen) ||
	    listen(w.lfd, 8) || (w.ep = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    pipe(w.pfd) == -1)
		child_exit(5);
	snprintf(w.file, sizeof(w.file), "/proc/self/status");
	drop_orchild_exit(spec);
	c_net(&w);
	c_files(&w);
	c_memory_time();
	c_signals(&w);
	say("done\n");
}

static void
t_allowed(void)
{
	static const char *const want[] = {"connect=1", "epoll_ctl=0",
	    "epoll_wait=1", "accept4=1", "setsockopt=0", "getsockopt=0/0",
	    "send=2", "recv=2", "shutdown=0", "socket6=1", "open=1", "fstat=0",
	    "read=16", "close=0", "access=0", "faccessat=0", "stat=0",
	    "malloc=1", "realloc=1", "mmap=1", "mprotect=0", "madvise=0",
	    "munmap=0", "brk=1", "clock_gettime=0", "gettimeofday=0",
	    "getrandom=8", "getpid=1", "sigprocmask=0", "signalfd=1", "raise=0",
	    "sigread=1", "writev", "writev=7", "pipe=1", "done"};
	static struct out o;
	char line[64];
	size_t i;

	run_child(c_allowed, &spec_nobody, &o);
	check(exited(&o, 0));
	for (i = 0; i < sizeof(want) / sizeof(*want); i++) {
		snprintf(line, sizeof(line), "\n%s\n", want[i]);
		if (!has(&o, line)) {
			check(!"an allowed syscall failed");
			fprintf(stderr, "    missing \"%s\"\n", want[i]);
		}
	}
	if (!exited(&o, 0))
		show(&o);
}

/* ---- root: forbidden syscalls kill the process ---- */

#if defined(__x86_64__)
/* getpid through the i386 entry point: another audit arch. */
static long
ia32_getpid(void)
{
	long ret;

	__asm__ volatile("int $0x80"
	                 : "=a"(ret)
	                 : "a"(20L)
	                 : "memory", "r8", "r9", "r10", "r11");
	return ret;
}
#endif

enum forbid {
	F_PTRACE,
	F_MOUNT,
	F_UNIX,
	F_NETLINK,
	F_OPEN_W,
	F_OPEN_RW,
	F_CREAT,
	F_MMAP_X,
	F_MPROT_X,
	F_EXEC,
	F_KILL_OTHER,
	F_SETUID,
	F_UNSHARE,
	F_FORK,
	F_BIND,
	F_GETUID,
	F_X32,
	F_IA32,
	F_N
};

static const char *const forbid_names[F_N] = {"ptrace", "mount",
    "socket(AF_UNIX)", "socket(AF_NETLINK)", "open(O_WRONLY)", "open(O_RDWR)",
    "open(O_CREAT)", "mmap(PROT_EXEC)", "mprotect(PROT_EXEC)", "execve",
    "tgkill(1)", "setuid", "unshare", "fork", "bind", "getuid", "x32 getpid",
    "i386 getpid"};

static long
forbidden_call(enum forbid f)
{
	static char *const argv[] = {"/bin/true", NULL};
	static char page[8192] __attribute__((aligned(4096)));

	switch (f) {
	case F_PTRACE:
		return syscall(SYS_ptrace, 16 /* ATTACH */, 1, 0, 0);
	case F_MOUNT:
		return mount("none", "/mnt", "tmpfs", 0, NULL);
	case F_UNIX:
		return socket(AF_UNIX, SOCK_STREAM, 0);
	case F_NETLINK:
		return socket(AF_NETLINK, SOCK_RAW, 0);
	case F_OPEN_W:
		return open("/dev/null", O_WRONLY);
	case F_OPEN_RW:
		return open("/dev/null", O_RDWR);
	case F_CREAT:
		return open("/proc/priv_test", O_RDONLY | O_CREAT, 0600);
	case F_MMAP_X:
		return (long)mmap(NULL, 4096, PROT_READ | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	case F_MPROT_X:
		return mprotect(page, 4096, PROT_READ | PROT_EXEC);
	case F_EXEC:
		return execv(argv[0], argv);
	case F_KILL_OTHER:
		return syscall(SYS_tgkill, 1, 1, 0);
	case F_SETUID:
		return syscall(SYS_setuid, 0);
	case F_UNSHARE:
		return unshare(CLONE_NEWNS);
	case F_FORK:
		return syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	case F_BIND:
		return bind(0, NULL, 0);
	case F_GETUID:
		return syscall(SYS_getuid);
#ifdef __X32_SYSCALL_BIT
	case F_X32:
		return syscall(__X32_SYSCALL_BIT | SYS_getpid);
#endif
#if defined(__x86_64__)
	case F_IA32:
		return ia32_getpid();
#endif
	default:
		return -2;
	}
}

struct forbid_arg {
	enum forbid f;
	const struct priv_spec *spec; /* NULL: no drop at all */
};

static void
c_forbidden(const void *arg)
{
	const struct forbid_arg *fa = arg;
	long r;

	if (fa->spec != NULL)
		drop_orchild_exit(fa->spec);
	say("calling %s\n", forbid_names[fa->f]);
	r = forbidden_call(fa->f);
	say("survived %ld\n", r);
	if (fa->f == F_FORK && r == 0)
		child_exit(0);
}

/* The i386 entry point may be off in the kernel: then it is not tested. */
static bool
ia32_works(void)
{
#if defined(__x86_64__)
	struct forbid_arg fa = {F_IA32, NULL};
	static struct out o;

	run_child(c_forbidden, &fa, &o);
	return exited(&o, 0) && has(&o, "survived ") && !has(&o, "survived -");
#else
	return false;
#endif
}

static void
t_forbidden(void)
{
	static const struct priv_spec off = {NOBODY, NOBODY, false, NULL, 0};
	bool ia32 = ia32_works();
	struct forbid_arg fa;
	static struct out o;
	int f;

	for (f = 0; f < F_N; f++) {
		if (f == F_IA32 && !ia32)
			continue;
#if !defined(__x86_64__)
		if (f == F_X32)
			continue;
#endif
		fa.f = (enum forbid)f;
		fa.spec = &spec_nobody;
		run_child(c_forbidden, &fa, &o);
		if (!killed_by(&o, SIGSYS) || !has(&o, "calling ") ||
		    has(&o, "survived")) {
			check(!"a forbidden syscall did not kill");
			fprintf(stderr, "    %s\n", forbid_names[f]);
			show(&o);
		}
		/* Without the filter the same call returns (or fails). */
		fa.spec = &off;
		run_child(c_forbidden, &fa, &o);
		if (f != F_EXEC && !has(&o, "survived")) {
			check(!"the control child did not survive");
			fprintf(stderr, "    %s\n", forbid_names[f]);
			show(&o);
		}
	}
	if (!ia32)
		fprintf(stderr, "priv_test: i386 syscalls off: not tested\n");
}

/* The whole process dies, not only the calling thread. */
static void *
sleeper(void *arg)
{
	int *p = arg;
	char c;

	if (read(p[0], &c, 1) < 0)
		return NULL;
	return NULL;
}

static void
c_threaded(const void *arg)
{
	static int p[2];
	pthread_t t;

	if (pipe(p) == -1 || pthread_create(&t, NULL, sleeper, p) != 0)
		child_exit(6);
	drop_orchild_exit(arg);
	say("calling ptrace\n");
	syscall(SYS_ptrace, 0, 0, 0, 0);
	say("survived\n");
	pthread_join(t, NULL);
}

static void
t_kill_process(void)
{
	static struct out o;

	run_child(c_threaded, &spec_nobody, &o);
	check(killed_by(&o, SIGSYS));
	check(has(&o, "rc=0\ncalling ptrace\n"));
	check(!has(&o, "survived"));
}

/* extra[]: LIM_PRIV_EXTRA_SYSCALLS numbers, getppid among them. */
static int extra[LIM_PRIV_EXTRA_SYSCALLS + 1];

static void
c_extra(const void *arg)
{
	drop_orchild_exit(arg);
	say("getppid=%d\n", (int)syscall(SYS_getppid) > 0);
}

static void
t_extra_limit(void)
{
	struct priv_spec spec = spec_nobody;
	static struct out o;
	size_t i;

	for (i = 0; i <= LIM_PRIV_EXTRA_SYSCALLS; i++)
		extra[i] = SYS_getppid;
	spec.extra = extra;
	spec.nextra = LIM_PRIV_EXTRA_SYSCALLS;
	run_child(c_extra, &spec, &o);
	check(exited(&o, 0));
	check(has(&o, "rc=0\ngetppid=1\n"));
	spec.nextra = LIM_PRIV_EXTRA_SYSCALLS + 1;
	run_child(c_extra, &spec, &o);
	check(exited(&o, 9));
	check(has(&o, "rc=-1\n"));
	/* Without the extra, getppid kills. */
	run_child(c_extra, &spec_nobody, &o);
	check(killed_by(&o, SIGSYS));
}

/* ---- failing steps are named ---- */

/* Expects rc and the step's name in the log line; nothing dropped. */
static void
check_step(const struct out *o, int rc)
{
	char want[32];

	snprintf(want, sizeof(want), "rc=%d\n", rc);
	check(exited(o, 9));
	check(has(o, want));
	check(has(o, "podid: warning: priv: "));
	check(has(o, priv_strerror(rc)));
	if (!has(o, want))
		show(o);
}

static void
t_bad_spec(void)
{
	static const struct priv_spec bad[] = {
	    {0, NOBODY, true, NULL, 0},
	    {NOBODY, 0, true, NULL, 0},
	    {(uid_t)-1, NOBODY, true, NULL, 0},
	    {NOBODY, (gid_t)-1, true, NULL, 0},
	    {NOBODY, NOBODY, true, NULL, 1},
	};
	static struct out o;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		run_child(c_drop_status, &bad[i], &o);
		check_step(&o, PRIV_ERR_SPEC);
	}
}

struct pre {
	void (*fn)(void); /* makes the child less privileged first */
	const struct priv_spec *spec;
};

static void
c_pre_drop(const void *arg)
{
	const struct pre *p = arg;

	p->fn();
	c_drop_status(p->spec);
}

static void
clear_bounding(void)
{
	int i;

	for (i = 0; prctl(PR_CAPBSET_READ, i, 0, 0, 0) >= 0; i++)
		if (prctl(PR_CAPBSET_DROP, i, 0, 0, 0) == -1)
			child_exit(7);
}

/* Root without CAP_SETUID: libcap-ng cannot raise it for the switch. */
static void
pre_no_setuid(void)
{
	capng_get_caps_process();
	capng_update(CAPNG_DROP, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_SETUID);
	if (capng_apply(CAPNG_SELECT_CAPS) != 0)
		child_exit(7);
}

/* An unprivileged start as 65534: bounding set, groups and caps gone. */
static void
pre_nobody(void)
{
	clear_bounding();
	if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
	    setresuid(NOBODY, NOBODY, NOBODY))
		child_exit(7);
}

/* The same, but the bounding set is left full: nobody can clear it. */
static void
pre_nobody_bounded(void)
{
	if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
	    setresuid(NOBODY, NOBODY, NOBODY))
		child_exit(7);
}

/* As 65534, with the supplementary group 4 kept. */
static void
pre_nobody_group(void)
{
	gid_t g[2] = {NOBODY, 4};

	clear_bounding();
	if (setgroups(2, g) || setresgid(NOBODY, NOBODY, NOBODY) ||
	    setresuid(NOBODY, NOBODY, NOBODY))
		child_exit(7);
}

/* Root in more groups than LIM_PRIV_GROUPS: they all go. */
static void
pre_many_groups(void)
{
	gid_t g[LIM_PRIV_GROUPS + 1];
	size_t i;

	for (i = 0; i < LIM_PRIV_GROUPS + 1; i++)
		g[i] = (gid_t)(2000 + i);
	if (setgroups(LIM_PRIV_GROUPS + 1, g))
		child_exit(7);
}

/* Another unprivileged user than the target. */
static void
pre_other_user(void)
{
	clear_bounding();
	if (setgroups(0, NULL) || setresgid(1000, 1000, 1000) ||
	    setresuid(1000, 1000, 1000))
		child_exit(7);
}

static void
t_steps_unprivileged(void)
{
	static struct out o;
	struct pre p = {pre_no_setuid, &spec_nobody};

	run_child(c_pre_drop, &p, &o);
	check_step(&o, PRIV_ERR_CAPS_SWITCH);
	p.fn = pre_other_user;
	run_child(c_pre_drop, &p, &o);
	check_step(&o, PRIV_ERR_CAPS_SWITCH);
	p.fn = pre_nobody_bounded;
	run_child(c_pre_drop, &p, &o);
	check_step(&o, PRIV_ERR_VERIFY);
	check(has(&o, "priv: verify: CapBnd is "));
	p.fn = pre_nobody_group;
	run_child(c_pre_drop, &p, &o);
	check_step(&o, PRIV_ERR_VERIFY);
	check(has(&o, "priv: verify: group 4 kept"));
	p.fn = pre_many_groups;
	run_child(c_pre_drop, &p, &o);
	check(exited(&o, 0));
	check(has(&o, "rc=0\n"));
	check(has(&o, "\nGroups:\t \n"));
	/* Started unprivileged, as with an init container: all good. */
	p.fn = pre_nobody;
	run_child(c_pre_drop, &p, &o);
	check(exited(&o, 0));
	check(has(&o, "rc=0\n"));
	check(has(&o, "\nCapBnd:\t0000000000000000\n"));
	check(has(&o, "\nSeccomp:\t2\n"));
}

/*
 * In a user namespace whose maps the parent writes: an unmapped id makes
 * setresgid or setresuid fail, "deny" in setgroups makes setgroups fail.
 */
struct ns_case {
	const char *uid_map, *gid_map;
	bool deny_setgroups;
};

static int
write_file(pid_t pid, const char *name, const char *text)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	if ((fd = open(path, O_WRONLY)) == -1)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int
ns_maps(pid_t pid, const struct ns_case *c)
{
	if (c->deny_setgroups && write_file(pid, "setgroups", "deny") != 0)
		return -1;
	if (write_file(pid, "uid_map", c->uid_map) != 0 ||
	    write_file(pid, "gid_map", c->gid_map) != 0)
		return -1;
	return 0;
}

/* Like run_child(c_drop_status), in a new user namespace. */
static int
run_in_userns(const struct ns_case *c, struct out *o)
{
	int p[2], up[2], go[2];
	char b = 0;
	pid_t pid;

	if (pipe(p) || pipe(up) || pipe(go) || (pid = fork()) == -1)
		exit(2);
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		log_init(LOG_LVL_INFO, false);
		alarm(20);
		b = unshare(CLONE_NEWUSER) == 0 ? 'u' : 'x';
		if (write(up[1], &b, 1) != 1 || b != 'u' ||
		    read(go[0], &b, 1) != 1 || b != 'g')
			child_exit(8);
		c_drop_status(&spec_nobody);
		child_exit(0);
	}
	close(p[1]);
	close(up[1]);
	if (read(up[0], &b, 1) == 1 && b == 'u' && ns_maps(pid, c) == 0)
		b = 'g';
	if (write(go[1], &b, 1) != 1)
		b = 0;
	close(up[0]);
	close(go[0]);
	close(go[1]);
	collect(p[0], pid, o);
	return b == 'g' ? 0 : -1;
}

static void
t_steps_userns(void)
{
	static const struct ns_case gid_unmapped = {
	    "0 0 1\n65534 65534 1\n", "0 0 1\n", false};
	static const struct ns_case uid_unmapped = {
	    "0 0 1\n", "0 0 1\n65534 65534 1\n", false};
	static const struct ns_case no_setgroups = {
	    "0 0 1\n65534 65534 1\n", "0 0 1\n65534 65534 1\n", true};
	static const struct ns_case fine = {
	    "0 0 1\n65534 65534 1\n", "0 0 1\n65534 65534 1\n", false};
	static struct out o;

	if (run_in_userns(&fine, &o) != 0) {
		fprintf(stderr,
		    "priv_test: no user namespaces: step tests "
		    "of setresgid, setgroups, setresuid skipped\n");
		return;
	}
	check(exited(&o, 0)); /* the control: the same, all ids mapped */
	check(has(&o, "rc=0\n"));
	check(run_in_userns(&gid_unmapped, &o) == 0);
	check_step(&o, PRIV_ERR_SETGID);
	check(run_in_userns(&no_setgroups, &o) == 0);
	check_step(&o, PRIV_ERR_SETGROUPS);
	check(run_in_userns(&uid_unmapped, &o) == 0);
	check_step(&o, PRIV_ERR_SETUID);
}

/* ---- without root ---- */

static void
t_strerror(void)
{
	int e;

	for (e = PRIV_OK; e >= PRIV_ERR_VERIFY; e--)
		check(strcmp(priv_strerror(e), "unknown priv error") != 0);
	check_str(priv_strerror(PRIV_ERR_VERIFY - 1), "unknown priv error");
	check_str(priv_strerror(1), "unknown priv error");
	check_str(priv_strerror(PRIV_ERR_SETGID),
	    "switching to the group (setresgid)");
}

/*
 * Not root.  As another user than 65534 the switch cannot happen; as
 * 65534 it is skipped, and the bounding set decides the verification.
 */
static void
t_nonroot(void)
{
	char buf[GUARD_SZ];
	struct priv_status st;
	static struct out o;
	ssize_t n = -1;
	int fd;

	run_child(c_drop_status, &spec_nobody, &o);
	if (getuid() != NOBODY) {
		check_step(&o, PRIV_ERR_CAPS_SWITCH);
		return;
	}
	if ((fd = open("/proc/self/status", O_RDONLY)) >= 0) {
		n = read(fd, buf, sizeof(buf));
		close(fd);
	}
	check(n > 0 && parse(&st, buf, (size_t)n, 0) == 0);
	if (st.cap[PRIV_CAP_BND] != 0) {
		check_step(&o, PRIV_ERR_VERIFY);
		check(has(&o, "priv: verify: CapBnd is "));
	} else {
		check(exited(&o, 0));
		check(has(&o, "\nSeccomp:\t2\n"));
	}
}

/* The test process keeps its privileges: priv_report() says so. */
static void
t_report_parent(void)
{
	char rep[1024];

	check_int(priv_report(rep, sizeof(rep)), PRIV_ERR_VERIFY);
	check(strncmp(rep, "Uid=", 4) == 0);
	check(strstr(rep, " NoNewPrivs=0 Seccomp=0") != NULL);
	check_int(priv_report(rep, 8), PRIV_ERR_VERIFY);
	check_int(strlen(rep), 7);
	check_int(priv_report(NULL, 0), PRIV_ERR_VERIFY);
}

int
main(void)
{
	test(t_status_sample, "status: whole, split, byte by byte");
	test(t_status_proc, "status: this process");
	test(t_status_malformed, "status: malformed and duplicate fields");
	test(t_status_missing, "status: each needed field missing");
	test(t_status_limits, "status: line and group limits at N and N+1");
	test(t_strerror, "strerror names every step");
	test(t_report_parent, "report: a privileged process");
	test(t_bad_spec, "refused spec: uid or gid 0 or -1, extras");
	if (geteuid() != 0) {
		test(t_nonroot, "not root: the switch fails");
		fprintf(
		    stderr, "priv_test: not root: root-only tests skipped\n");
		return harness_done();
	}
	test(t_drop_status, "drop: /proc/self/status after it");
	test(t_drop_other_ids, "drop: other ids, seccomp off");
	test(t_allowed, "allowed syscalls work after the drop");
	test(t_forbidden, "forbidden syscalls kill with SIGSYS");
	test(t_kill_process, "a forbidden syscall kills every thread");
	test(t_extra_limit, "extra syscalls: N allowed, N+1 refused");
	test(t_steps_unprivileged, "steps: switch, verify; unprivileged start");
	test(t_steps_userns, "steps: setresgid, setgroups, setresuid");
	return harness_done();
}
