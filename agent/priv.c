/*
 * Dropping privileges: libcap-ng for the ids and the capability sets,
 * prctl for no_new_privs and the ambient set, a hand-written classic BPF
 * program for seccomp, and a read-back of /proc/self/status that has the
 * last word.  Every step is fatal; nothing here is tried twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <cap-ng.h>

#include "agent/log.h"
#include "agent/priv.h"

static const char *const priv_err_names[] = {
    [0] = "ok",
    [-PRIV_ERR_SPEC] = "bad --user, --group or extra syscalls (uid and gid "
                       "must not be 0 or -1)",
    [-PRIV_ERR_CAPNG] = "reading the capabilities (libcap-ng)",
    [-PRIV_ERR_KEEPCAPS] = "keeping capabilities across the id switch "
                           "(PR_SET_KEEPCAPS)",
    [-PRIV_ERR_CAPS_SWITCH] = "raising CAP_SETUID, CAP_SETGID and "
                              "CAP_SETPCAP for the id switch (not root, "
                              "or the container lacks them)",
    [-PRIV_ERR_BOUNDING] = "clearing the capability bounding set",
    [-PRIV_ERR_SETGID] = "switching to the group (setresgid)",
    [-PRIV_ERR_SETGROUPS] = "dropping the supplementary groups (setgroups)",
    [-PRIV_ERR_SETUID] = "switching to the user (setresuid)",
    [-PRIV_ERR_CAPS_CLEAR] = "clearing the capability sets (capset)",
    [-PRIV_ERR_AMBIENT] = "clearing the ambient capabilities",
    [-PRIV_ERR_NNP] = "setting no_new_privs",
    [-PRIV_ERR_ARCH] = "seccomp: no syscall table for this architecture",
    [-PRIV_ERR_SECCOMP] = "installing the seccomp filter",
    [-PRIV_ERR_STATUS_IO] = "reading /proc/self/status",
    [-PRIV_ERR_STATUS] = "/proc/self/status is malformed or incomplete",
    [-PRIV_ERR_STATUS_LINE] = "/proc/self/status: a needed line is too long",
    [-PRIV_ERR_GROUPS] = "/proc/self/status: too many supplementary groups",
    [-PRIV_ERR_VERIFY] = "verifying /proc/self/status: a privilege is left",
};

const char *
priv_strerror(int err)
{
	size_t n = sizeof(priv_err_names) / sizeof(*priv_err_names);

	if (err > 0 || (size_t)-err >= n || priv_err_names[-err] == NULL)
		return "unknown priv error";
	return priv_err_names[-err];
}

/* ---- the /proc/self/status parser ---- */

enum priv_kind { PRIV_K_IDS, PRIV_K_GROUPS, PRIV_K_HEX, PRIV_K_DEC };

static const struct priv_field {
	const char *key;
	unsigned bit;
	enum priv_kind kind;
	int idx; /* IDS: 0 uid, 1 gid; HEX: cap[] index; DEC: 0 nnp, 1 seccomp */
} priv_fields[] = {
    {"Uid", PRIV_ST_UID, PRIV_K_IDS, 0},
    {"Gid", PRIV_ST_GID, PRIV_K_IDS, 1},
    {"Groups", PRIV_ST_GROUPS, PRIV_K_GROUPS, 0},
    {"CapInh", PRIV_ST_CAPINH, PRIV_K_HEX, PRIV_CAP_INH},
    {"CapPrm", PRIV_ST_CAPPRM, PRIV_K_HEX, PRIV_CAP_PRM},
    {"CapEff", PRIV_ST_CAPEFF, PRIV_K_HEX, PRIV_CAP_EFF},
    {"CapBnd", PRIV_ST_CAPBND, PRIV_K_HEX, PRIV_CAP_BND},
    {"CapAmb", PRIV_ST_CAPAMB, PRIV_K_HEX, PRIV_CAP_AMB},
    {"NoNewPrivs", PRIV_ST_NONEWPRIVS, PRIV_K_DEC, 0},
    {"Seccomp", PRIV_ST_SECCOMP, PRIV_K_DEC, 1},
};

/* A cursor over one line: p[0..n). */
struct priv_cur {
	const char *p;
	size_t n, i;
};

static void
cur_skip_ws(struct priv_cur *c)
{
	while (c->i < c->n && (c->p[c->i] == ' ' || c->p[c->i] == '\t'))
		c->i++;
}

/* A decimal uint32 at the cursor; -1 when there is none or it overflows. */
static int
cur_dec(struct priv_cur *c, uint32_t *out)
{
	uint64_t v = 0;
	size_t start = c->i;

	while (c->i < c->n && c->p[c->i] >= '0' && c->p[c->i] <= '9') {
		v = v * 10 + (uint64_t)(c->p[c->i++] - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	if (c->i == start)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* 1 to 16 hex digits, as the kernel's %016llx prints them. */
static int
cur_hex(struct priv_cur *c, uint64_t *out)
{
	uint64_t v = 0;
	size_t start = c->i;
	char ch;
	int d;

	while (c->i < c->n && c->i - start < 17) {
		ch = c->p[c->i];
		if (ch >= '0' && ch <= '9')
			d = ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			d = ch - 'a' + 10;
		else
			break;
		v = v << 4 | (uint64_t)d;
		c->i++;
	}
	if (c->i == start || c->i - start > 16)
		return -1;
	*out = v;
	return 0;
}

/* The value after "Key:": the field's shape, then nothing but blanks. */
static int
status_value(
    struct priv_status *st, const struct priv_field *f, struct priv_cur *c)
{
	uint32_t *ids, g;
	int i;

	cur_skip_ws(c);
	switch (f->kind) {
	case PRIV_K_IDS:
		ids = f->idx == 0 ? st->uid : st->gid;
		for (i = 0; i < 4; i++, cur_skip_ws(c))
			if (cur_dec(c, &ids[i]) != 0)
				return PRIV_ERR_STATUS;
		break;
	case PRIV_K_GROUPS:
		for (; c->i < c->n; cur_skip_ws(c)) {
			if (cur_dec(c, &g) != 0)
				return PRIV_ERR_STATUS;
			if (st->ngroups == LIM_PRIV_GROUPS)
				return PRIV_ERR_GROUPS;
			st->groups[st->ngroups++] = g;
		}
		break;
	case PRIV_K_HEX:
		if (cur_hex(c, &st->cap[f->idx]) != 0)
			return PRIV_ERR_STATUS;
		break;
	case PRIV_K_DEC:
		if (cur_dec(c, f->idx == 0 ? &st->no_new_privs : &st->seccomp))
			return PRIV_ERR_STATUS;
		break;
	}
	cur_skip_ws(c);
	return c->i == c->n ? 0 : PRIV_ERR_STATUS;
}

/* One whole line in st->line (st->over: it was cut). */
static int
status_line(struct priv_status *st)
{
	const char *colon = memchr(st->line, ':', st->len);
	struct priv_cur c = {st->line, st->len, 0};
	size_t i, klen;

	if (colon == NULL)
		return st->over ? 0 : PRIV_ERR_STATUS;
	klen = (size_t)(colon - st->line);
	for (i = 0; i < sizeof(priv_fields) / sizeof(*priv_fields); i++) {
		if (strlen(priv_fields[i].key) != klen ||
		    memcmp(priv_fields[i].key, st->line, klen) != 0)
			continue;
		if (st->over)
			return PRIV_ERR_STATUS_LINE;
		if (st->seen & priv_fields[i].bit)
			return PRIV_ERR_STATUS; /* twice: not the kernel's */
		st->seen |= priv_fields[i].bit;
		c.i = klen + 1;
		return status_value(st, &priv_fields[i], &c);
	}
	return 0; /* a line podid does not need */
}

void
priv_status_init(struct priv_status *st)
{
	memset(st, 0, sizeof(*st));
}

int
priv_status_feed(struct priv_status *st, const char *buf, size_t len)
{
	const char *nl;
	size_t take, i = 0;

	if (st->err != 0)
		return st->err;
	while (i < len) {
		nl = memchr(buf + i, '\n', len - i);
		take = (nl != NULL ? (size_t)(nl - buf) : len) - i;
		if (take > sizeof(st->line) - st->len) {
			st->over = true;
			take = sizeof(st->line) - st->len;
		}
		memcpy(st->line + st->len, buf + i, take);
		st->len += take;
		if (nl == NULL)
			break;
		if ((st->err = status_line(st)) != 0)
			return st->err;
		st->len = 0;
		st->over = false;
		i = (size_t)(nl - buf) + 1;
	}
	return (int)len;
}

int
priv_status_done(struct priv_status *st)
{
	if (st->err == 0 && (st->len > 0 || st->over))
		st->err = status_line(st);
	st->len = 0;
	st->over = false;
	if (st->err == 0 && st->seen != PRIV_ST_ALL)
		st->err = PRIV_ERR_STATUS;
	return st->err;
}

/* ---- reading, checking and formatting this process's status ---- */

static int
priv_status_read(struct priv_status *st)
{
	char buf[1024];
	ssize_t n;
	int fd, rc = 0, saved;

	priv_status_init(st);
	if ((fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)) == -1)
		return PRIV_ERR_STATUS_IO;
	while (rc == 0 && (n = read(fd, buf, sizeof(buf))) != 0) {
		if (n == -1 && errno != EINTR)
			rc = PRIV_ERR_STATUS_IO;
		else if (n > 0 &&
		    (rc = priv_status_feed(st, buf, (size_t)n)) > 0)
			rc = 0;
	}
	saved = errno;
	close(fd);
	errno = saved;
	return rc != 0 ? rc : priv_status_done(st);
}

/* "65534", or "0/65534/65534/65534" when real, effective... differ. */
static void
ids_format(char *buf, size_t len, const uint32_t id[4])
{
	if (id[0] == id[1] && id[1] == id[2] && id[2] == id[3])
		snprintf(buf, len, "%u", id[0]);
	else
		snprintf(buf, len, "%u/%u/%u/%u", id[0], id[1], id[2], id[3]);
}

static void
status_format(const struct priv_status *st, char *buf, size_t len)
{
	char uid[48], gid[48], groups[LIM_PRIV_GROUPS * 11 + 1];
	size_t i, o = 0;

	groups[0] = '\0';
	for (i = 0; i < st->ngroups; i++)
		o += (size_t)snprintf(groups + o, sizeof(groups) - o, "%s%u",
		    i ? "," : "", st->groups[i]);
	ids_format(uid, sizeof(uid), st->uid);
	ids_format(gid, sizeof(gid), st->gid);
	snprintf(buf, len,
	    "Uid=%s Gid=%s Groups=%s CapInh=%llx CapPrm=%llx CapEff=%llx "
	    "CapBnd=%llx CapAmb=%llx NoNewPrivs=%u Seccomp=%u",
	    uid, gid, groups, (unsigned long long)st->cap[PRIV_CAP_INH],
	    (unsigned long long)st->cap[PRIV_CAP_PRM],
	    (unsigned long long)st->cap[PRIV_CAP_EFF],
	    (unsigned long long)st->cap[PRIV_CAP_BND],
	    (unsigned long long)st->cap[PRIV_CAP_AMB], st->no_new_privs,
	    st->seccomp);
}

/* Each of the four ids is want, or (want -1) is not 0. */
static bool
ids_are(const uint32_t id[4], uint32_t want)
{
	int i;

	for (i = 0; i < 4; i++)
		if (want == (uint32_t)-1 ? id[i] == 0 : id[i] != want)
			return false;
	return true;
}

/* One finding of status_check(): logged when loud; counts 1. */
static int priv_finding(bool, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static int
priv_finding(bool loud, const char *fmt, ...)
{
	char msg[128];
	va_list ap;

	if (!loud)
		return 1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("priv: verify: %s", msg);
	return 1;
}

/*
 * Counts the privileges left.  spec NULL: no root id, seccomp on.  Else
 * spec's ids, no group but spec's gid, seccomp if spec asks for it.
 */
static int
status_check(
    const struct priv_status *st, const struct priv_spec *spec, bool loud)
{
	static const char *const names[PRIV_CAP_N] = {
	    "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
	uint32_t uid = spec ? spec->uid : (uint32_t)-1;
	uint32_t gid = spec ? spec->gid : (uint32_t)-1;
	char ids[48];
	int bad = 0;
	size_t i;

	for (i = 0; i < PRIV_CAP_N; i++)
		if (st->cap[i] != 0)
			bad += priv_finding(loud, "%s is %llx, want 0",
			    names[i], (unsigned long long)st->cap[i]);
	ids_format(ids, sizeof(ids), st->uid);
	if (!ids_are(st->uid, uid))
		bad += priv_finding(loud, "Uid is %s, want %u", ids, uid);
	ids_format(ids, sizeof(ids), st->gid);
	if (!ids_are(st->gid, gid))
		bad += priv_finding(loud, "Gid is %s, want %u", ids, gid);
	for (i = 0; i < st->ngroups; i++)
		if (st->groups[i] != gid)
			bad +=
			    priv_finding(loud, "group %u kept", st->groups[i]);
	if (st->no_new_privs != 1)
		bad += priv_finding(
		    loud, "NoNewPrivs is %u, want 1", st->no_new_privs);
	if ((spec == NULL || spec->seccomp) && st->seccomp != 2)
		bad += priv_finding(loud, "Seccomp is %u, want 2", st->seccomp);
	return bad ? PRIV_ERR_VERIFY : 0;
}

int
priv_report(char *buf, size_t len)
{
	struct priv_status st;
	int rc;

	if ((rc = priv_status_read(&st)) != 0) {
		snprintf(buf, len, "%s", priv_strerror(rc));
		return rc;
	}
	if (len > 0)
		status_format(&st, buf, len);
	return status_check(&st, NULL, false);
}

/* ---- the seccomp allowlist ---- */

#if defined(__x86_64__) && !defined(__ILP32__)
#define PRIV_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define PRIV_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef PRIV_AUDIT_ARCH

/* How a rule looks at one argument (its low 32 bits: ints, flags). */
enum priv_op {
	PRIV_OP_ANY,     /* any arguments */
	PRIV_OP_EQ,      /* arg == val */
	PRIV_OP_NONE_OF, /* no bit of val set in arg */
	PRIV_OP_SELF,    /* arg == our pid */
};

struct priv_rule {
	int nr;
	unsigned char op, arg;
	uint32_t val;
};

#define PRIV_ALLOW(name)                                                       \
	{                                                                      \
		__NR_##name, PRIV_OP_ANY, 0, 0                                 \
	}
#define PRIV_ALLOW_EQ(name, a, v)                                              \
	{                                                                      \
		__NR_##name, PRIV_OP_EQ, a, v                                  \
	}
#define PRIV_ALLOW_NONE_OF(name, a, v)                                         \
	{                                                                      \
		__NR_##name, PRIV_OP_NONE_OF, a, v                             \
	}
#define PRIV_ALLOW_SELF(name, a)                                               \
	{                                                                      \
		__NR_##name, PRIV_OP_SELF, a, 0                                \
	}

/* Opening for anything but reading. */
#define PRIV_O_WRITE (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)

/*
 * What podid does after the drop (strace -f of `podid run` through
 * tests/e2e, SIGHUP reloads, API server and IMDS outages included), the
 * loop's syscalls first: the filter is a linear scan.  Anything else, and
 * any other architecture or the x32 ABI, kills the process.
 */
static const struct priv_rule priv_allow[] = {
    /* the event loop */
    PRIV_ALLOW(epoll_pwait), /* epoll_wait() on aarch64 */
#ifdef __NR_epoll_wait
    PRIV_ALLOW(epoll_wait),
#endif
    PRIV_ALLOW(epoll_ctl),
    PRIV_ALLOW(read),
    PRIV_ALLOW(write),
    PRIV_ALLOW(close),
    PRIV_ALLOW(clock_gettime), /* when the vDSO falls back */
    PRIV_ALLOW(gettimeofday),
#ifdef __NR_time
    PRIV_ALLOW(time),
#endif
    PRIV_ALLOW(signalfd4), /* loop_signal() */
    PRIV_ALLOW(rt_sigprocmask),
    /* pods' connections, the API server and IMDS: TCP/IP only */
    PRIV_ALLOW(accept4),
    PRIV_ALLOW(recvfrom), /* recv() */
    PRIV_ALLOW(sendto),   /* send(MSG_NOSIGNAL) */
    PRIV_ALLOW(setsockopt),
    PRIV_ALLOW(getsockopt), /* SO_ERROR of a connect */
    PRIV_ALLOW(shutdown),
    PRIV_ALLOW_EQ(socket, 0, AF_INET),
    PRIV_ALLOW_EQ(socket, 0, AF_INET6),
    PRIV_ALLOW(connect),
    /* policy reloads, the rotated API token: files are only read */
    PRIV_ALLOW_NONE_OF(openat, 2, PRIV_O_WRITE),
#ifdef __NR_open
    PRIV_ALLOW_NONE_OF(open, 1, PRIV_O_WRITE), /* musl's open(), fopen() */
#endif
    PRIV_ALLOW_EQ(fcntl, 1, F_SETFD), /* musl's O_CLOEXEC, old kernels */
    PRIV_ALLOW(fstat),
#ifdef __NR_newfstatat
    PRIV_ALLOW(newfstatat), /* glibc's fstat() */
#endif
#ifdef __NR_access
    PRIV_ALLOW(access), /* a policy checks its secret files */
#endif
    PRIV_ALLOW(faccessat),
    PRIV_ALLOW(readlinkat), /* pwatch: the ConfigMap's ..data link */
#ifdef __NR_readlink
    PRIV_ALLOW(readlink), /* musl's readlink() */
#endif
#ifdef __NR_stat
    PRIV_ALLOW(stat), /* musl's stat() on old kernels: pwatch */
#endif
#ifdef __NR_faccessat2
    PRIV_ALLOW(faccessat2),
#endif
    /* memory: malloc; never executable */
    PRIV_ALLOW(brk),
    PRIV_ALLOW_NONE_OF(mmap, 2, PROT_EXEC),
    PRIV_ALLOW_NONE_OF(mprotect, 2, PROT_EXEC),
    PRIV_ALLOW(munmap),
    PRIV_ALLOW(mremap),
    PRIV_ALLOW(madvise),
    PRIV_ALLOW(getrandom), /* BearSSL's seeder without RDRAND; malloc */
    /* leaving, and dying readably */
    PRIV_ALLOW(exit_group),
    PRIV_ALLOW(exit),
    PRIV_ALLOW(rt_sigreturn),
    PRIV_ALLOW(restart_syscall),
    PRIV_ALLOW(writev),      /* glibc's last words (stack smashing, malloc) */
    PRIV_ALLOW(sigaltstack), /* ASan asks before each noreturn call */
    /* abort(): SIGABRT to ourselves, and nobody else */
    PRIV_ALLOW(rt_sigaction),
    PRIV_ALLOW(getpid),
    PRIV_ALLOW(gettid),
    PRIV_ALLOW_SELF(tgkill, 0),
};

#define PRIV_NRULES (sizeof(priv_allow) / sizeof(*priv_allow))

/* Head 6 (arch, x32), at most 5 per rule, 2 per extra, the last kill. */
_Static_assert(6 + 5 * PRIV_NRULES + (size_t)2 * LIM_PRIV_EXTRA_SYSCALLS + 1 <=
        LIM_PRIV_FILTER_INSNS,
    "LIM_PRIV_FILTER_INSNS too small for the allowlist");

#define PRIV_NR_OFF offsetof(struct seccomp_data, nr)
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define PRIV_ARG_OFF(i) (offsetof(struct seccomp_data, args) + (size_t)8 * (i))
#else
#define PRIV_ARG_OFF(i)                                                        \
	(offsetof(struct seccomp_data, args) + (size_t)8 * (i) + 4u)
#endif

struct priv_prog {
	struct sock_filter f[LIM_PRIV_FILTER_INSNS];
	unsigned short n;
	uint32_t kill;
};

static void
prog_put(struct priv_prog *p, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k)
{
	struct sock_filter ins = {code, jt, jf, k};

	p->f[p->n++] = ins; /* fits: the _Static_assert above */
}

/* One rule; A holds the syscall number before and after. */
static void
prog_rule(struct priv_prog *p, const struct priv_rule *r, uint32_t pid)
{
	if (r->op == PRIV_OP_ANY) {
		prog_put(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, (uint32_t)r->nr);
		prog_put(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
		return;
	}
	prog_put(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 4, (uint32_t)r->nr);
	prog_put(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, PRIV_ARG_OFF(r->arg));
	if (r->op == PRIV_OP_NONE_OF)
		prog_put(p, BPF_JMP | BPF_JSET | BPF_K, 1, 0, r->val);
	else
		prog_put(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1,
		    r->op == PRIV_OP_SELF ? pid : r->val);
	prog_put(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
	prog_put(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, PRIV_NR_OFF);
}

static void
prog_build(struct priv_prog *p, const struct priv_spec *spec)
{
	struct priv_rule extra = {0, PRIV_OP_ANY, 0, 0};
	uint32_t pid = (uint32_t)getpid();
	size_t i;

	p->n = 0;
	prog_put(p, BPF_LD | BPF_W | BPF_ABS, 0, 0,
	    offsetof(struct seccomp_data, arch));
	prog_put(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, PRIV_AUDIT_ARCH);
	prog_put(p, BPF_RET | BPF_K, 0, 0, p->kill);
	prog_put(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, PRIV_NR_OFF);
#ifdef __X32_SYSCALL_BIT
	/* x32 shares x86_64's arch value; its numbers carry this bit. */
	prog_put(p, BPF_JMP | BPF_JGE | BPF_K, 0, 1, __X32_SYSCALL_BIT);
	prog_put(p, BPF_RET | BPF_K, 0, 0, p->kill);
#endif
	for (i = 0; i < PRIV_NRULES; i++)
		prog_rule(p, &priv_allow[i], pid);
	for (i = 0; i < spec->nextra; i++) {
		extra.nr = spec->extra[i];
		prog_rule(p, &extra, pid);
	}
	prog_put(p, BPF_RET | BPF_K, 0, 0, p->kill);
}

/* KILL_PROCESS (4.14); before it KILL_THREAD, the same for one thread. */
static uint32_t
priv_kill_action(void)
{
#ifdef SYS_seccomp
	uint32_t a = SECCOMP_RET_KILL_PROCESS;

	if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &a) == 0)
		return a;
#endif
	return SECCOMP_RET_KILL_THREAD;
}

static int
priv_seccomp(const struct priv_spec *spec)
{
	struct priv_prog p;
	struct sock_fprog fp;

	p.kill = priv_kill_action();
	prog_build(&p, spec);
	fp.len = p.n;
	fp.filter = p.f;
#ifdef SYS_seccomp
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) == 0)
		return 0;
	if (errno != ENOSYS)
		return PRIV_ERR_SECCOMP;
#endif
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp, 0, 0) == -1)
		return PRIV_ERR_SECCOMP;
	return 0;
}

#else /* no table for this architecture */

#define PRIV_NRULES ((size_t)0)

static int
priv_seccomp(const struct priv_spec *spec)
{
	(void)spec;
	return PRIV_ERR_ARCH;
}

#endif

/* ---- the drop ---- */

static int
priv_spec_check(const struct priv_spec *spec)
{
	if (spec->uid == 0 || spec->gid == 0 || spec->uid == (uid_t)-1 ||
	    spec->gid == (gid_t)-1 || spec->nextra > LIM_PRIV_EXTRA_SYSCALLS ||
	    (spec->nextra > 0 && spec->extra == NULL))
		return PRIV_ERR_SPEC;
	return 0;
}

/* Already the target, holding nothing: an unprivileged start. */
static bool
priv_is_target(const struct priv_status *st, const struct priv_spec *spec)
{
	return ids_are(st->uid, spec->uid) && ids_are(st->gid, spec->gid) &&
	    st->cap[PRIV_CAP_INH] == 0 && st->cap[PRIV_CAP_PRM] == 0 &&
	    st->cap[PRIV_CAP_EFF] == 0;
}

/* capng_change_id()'s documented failures, as steps. */
static int
priv_change_id(const struct priv_spec *spec)
{
	int flags = CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING;

#ifdef CAPNG_SUPPORTS_AMBIENT
	flags |= CAPNG_CLEAR_AMBIENT;
#endif
	capng_clear(CAPNG_SELECT_BOTH);
	switch (capng_change_id(
	    (int)spec->uid, (int)spec->gid, (capng_flags_t)flags)) {
	case 0:
		return 0;
	case -2:
	case -7:
		return PRIV_ERR_KEEPCAPS;
	case -3:
		return PRIV_ERR_CAPS_SWITCH;
	case -4:
		return PRIV_ERR_SETGID;
	case -5:
		return PRIV_ERR_SETGROUPS;
	case -6:
		return PRIV_ERR_SETUID;
	case -8:
		return PRIV_ERR_BOUNDING;
	case -9:
		return PRIV_ERR_CAPS_CLEAR;
	default:
		return PRIV_ERR_CAPNG;
	}
}

/*
 * The steps that change the process, in order; the first failure ends.
 * before: the status at the start, NULL when it listed too many groups.
 */
static int
priv_steps(const struct priv_spec *spec, const struct priv_status *before)
{
	int rc;

	if ((before == NULL || !priv_is_target(before, spec)) &&
	    (rc = priv_change_id(spec)) != 0)
		return rc;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1)
		return PRIV_ERR_AMBIENT;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return PRIV_ERR_NNP;
	if (spec->seccomp && (rc = priv_seccomp(spec)) != 0)
		return rc;
	return 0;
}

/* Steps that failed in a syscall, whose errno says why. */
static bool
priv_err_has_errno(int rc)
{
	return (rc <= PRIV_ERR_KEEPCAPS && rc >= PRIV_ERR_SECCOMP &&
	           rc != PRIV_ERR_ARCH) ||
	    rc == PRIV_ERR_STATUS_IO;
}

int
priv_drop(const struct priv_spec *spec)
{
	struct priv_status st;
	char text[1024];
	int rc;

	if ((rc = priv_spec_check(spec)) != 0)
		goto fail;
	/* Groups beyond LIM_PRIV_GROUPS: a root start; they are dropped. */
	if ((rc = priv_status_read(&st)) != 0 && rc != PRIV_ERR_GROUPS)
		goto fail;
	if ((rc = priv_steps(spec, rc == 0 ? &st : NULL)) != 0 ||
	    (rc = priv_status_read(&st)) != 0)
		goto fail;
	if ((rc = status_check(&st, spec, true)) != 0)
		goto fail;
	status_format(&st, text, sizeof(text));
	if (spec->seccomp)
		log_info("priv: dropped: %s; seccomp allowlist of %zu rules",
		    text, PRIV_NRULES + spec->nextra);
	else
		log_info("priv: dropped: %s; seccomp off", text);
	return 0;
fail:
	if (priv_err_has_errno(rc))
		log_warn("priv: %s", priv_strerror(rc));
	else
		log_warnx("priv: %s", priv_strerror(rc));
	return rc;
}
