/*
 * priv: dropping every privilege, once, after start-up (OpenBSD httpd's
 * proc_run(), Kore's seccomp table).  The caller first installs its rules,
 * binds its listening socket and opens what it needs; then priv_drop()
 * clears every capability set (bounding and ambient too), drops the
 * supplementary groups, switches to --user/--group (libcap-ng), sets
 * no_new_privs and installs a seccomp allowlist of the syscalls podid
 * uses, where any other syscall kills the process (SIGSYS).  It then reads
 * /proc/self/status back, checks every value and logs the result once.
 *
 * /proc/self/status is read with a pure push parser (priv_status_*): no
 * syscalls, no allocation, no globals; fixed fields in caller storage.
 */
#ifndef AGENT_PRIV_H
#define AGENT_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/limits.h"

/* The default --user and --group: "nobody" and "nogroup" on Debian. */
#define PRIV_NOBODY 65534u

/* Errors: negative return codes; priv_strerror() names the failed step. */
enum priv_err {
	PRIV_OK = 0,
	PRIV_ERR_SPEC = -1,         /* uid/gid 0 or -1, too many extras */
	PRIV_ERR_CAPNG = -2,        /* libcap-ng cannot read the state */
	PRIV_ERR_KEEPCAPS = -3,     /* PR_SET_KEEPCAPS on or off */
	PRIV_ERR_CAPS_SWITCH = -4,  /* raising SETUID/SETGID/SETPCAP */
	PRIV_ERR_BOUNDING = -5,     /* clearing the bounding set */
	PRIV_ERR_SETGID = -6,       /* setresgid() to the group */
	PRIV_ERR_SETGROUPS = -7,    /* setgroups(0) */
	PRIV_ERR_SETUID = -8,       /* setresuid() to the user */
	PRIV_ERR_CAPS_CLEAR = -9,   /* the final capset() to nothing */
	PRIV_ERR_AMBIENT = -10,     /* PR_CAP_AMBIENT_CLEAR_ALL */
	PRIV_ERR_NNP = -11,         /* PR_SET_NO_NEW_PRIVS */
	PRIV_ERR_ARCH = -12,        /* no seccomp table for this arch */
	PRIV_ERR_SECCOMP = -13,     /* installing the seccomp filter */
	PRIV_ERR_STATUS_IO = -14,   /* /proc/self/status unreadable */
	PRIV_ERR_STATUS = -15,      /* malformed, incomplete, a field twice */
	PRIV_ERR_STATUS_LINE = -16, /* a needed line too long */
	PRIV_ERR_GROUPS = -17,      /* over LIM_PRIV_GROUPS groups */
	PRIV_ERR_VERIFY = -18,      /* a privilege is left (logged) */
};

/*
 * What priv_drop() switches to.  uid and gid: the numeric --user and
 * --group (PRIV_NOBODY by default; neither may be 0 or -1).  seccomp:
 * install the allowlist (off only for debugging and sanitizer builds).
 * extra[0..nextra): syscall numbers the caller needs on top of the
 * table, allowed with any arguments; at most LIM_PRIV_EXTRA_SYSCALLS.
 */
struct priv_spec {
	uid_t uid;
	gid_t gid;
	bool seccomp;
	const int *extra;
	size_t nextra;
};

/*
 * Drops every privilege as spec says, then verifies /proc/self/status
 * (CapInh, CapPrm, CapEff, CapBnd, CapAmb 0; Uid and Gid the target, no
 * other group; NoNewPrivs 1; Seccomp 2 when asked for) and logs it once
 * with log_info.  Returns 0, or the negative priv_err of the first step
 * that failed (also logged, with errno): the caller must then exit 1.
 * Irreversible; call it once, single-threaded, after all start-up work.
 */
int priv_drop(const struct priv_spec *spec);

/*
 * Formats this process's privileges from /proc/self/status into buf
 * (len bytes, always NUL-terminated when len > 0), for selftest: e.g.
 * "Uid=65534 Gid=65534 Groups= CapInh=0 CapPrm=0 CapEff=0 CapBnd=0
 * CapAmb=0 NoNewPrivs=1 Seccomp=2".  Returns 0 when no privilege is left
 * (caps all 0, NoNewPrivs 1, Seccomp 2, uid and gid not 0),
 * PRIV_ERR_VERIFY when some is, another priv_err when unreadable.
 */
int priv_report(char *buf, size_t len);

/* The name of a priv_err (the step that failed); never NULL. */
const char *priv_strerror(int err);

/* ---- the /proc/<pid>/status parser ---- */

/* Bits of struct priv_status's seen: the fields found so far. */
#define PRIV_ST_UID        0x001u
#define PRIV_ST_GID        0x002u
#define PRIV_ST_GROUPS     0x004u
#define PRIV_ST_CAPINH     0x008u
#define PRIV_ST_CAPPRM     0x010u
#define PRIV_ST_CAPEFF     0x020u
#define PRIV_ST_CAPBND     0x040u
#define PRIV_ST_CAPAMB     0x080u
#define PRIV_ST_NONEWPRIVS 0x100u
#define PRIV_ST_SECCOMP    0x200u
#define PRIV_ST_ALL        0x3ffu

/*
 * Parser state and results, caller storage.  uid and gid: real,
 * effective, saved, filesystem.  groups[0..ngroups): supplementary groups.
 * cap[]: CapInh, CapPrm, CapEff, CapBnd, CapAmb, in that order (enum
 * priv_cap).  Results are valid after priv_status_done() returned 0.
 */
enum priv_cap {
	PRIV_CAP_INH,
	PRIV_CAP_PRM,
	PRIV_CAP_EFF,
	PRIV_CAP_BND,
	PRIV_CAP_AMB,
	PRIV_CAP_N
};
struct priv_status {
	uint32_t uid[4], gid[4];
	uint32_t groups[LIM_PRIV_GROUPS];
	size_t ngroups;
	uint64_t cap[PRIV_CAP_N];
	uint32_t no_new_privs, seccomp;
	unsigned seen; /* PRIV_ST_* */
	/* private */
	char line[LIM_PRIV_STATUS_LINE_BYTES];
	size_t len; /* bytes of the current line in line[] */
	bool over;  /* the current line is longer than line[] */
	int err;    /* sticky: first error */
};

/* Starts a parse into st (caller storage, no allocation). */
void priv_status_init(struct priv_status *st);

/*
 * Feeds len bytes of the file (any split).  Returns len (everything is
 * consumed: a partial line waits in st) or a negative priv_err, which
 * sticks.  A needed line longer than LIM_PRIV_STATUS_LINE_BYTES (without
 * its newline) is PRIV_ERR_STATUS_LINE; other long lines are skipped.
 */
int priv_status_feed(struct priv_status *st, const char *buf, size_t len);

/*
 * Ends the input (a last line without newline counts).  Returns 0 when
 * every field of PRIV_ST_ALL was found exactly once and well-formed,
 * else the first error (PRIV_ERR_STATUS for a missing field).
 */
int priv_status_done(struct priv_status *st);

#endif
