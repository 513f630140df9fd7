/*
 * The rules keeper.  A separate process so that the serving one can hold
 * nothing: the keeper's whole job is rules_status and, when that differs,
 * rules_install, in a loop.  It dies with the agent (PR_SET_PDEATHSIG), and
 * the rules stay when it does: podid fails closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <cap-ng.h>

#include "agent/keeper.h"
#include "agent/log.h"

/* CAP_NET_ADMIN alone, as uid/gid, no way back up. */
static int
keeper_drop(uid_t uid, gid_t gid)
{
	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED,
	        CAP_NET_ADMIN) != 0)
		return -1;
	if (getuid() == 0 &&
	    capng_change_id((int)uid, (int)gid,
	        CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING) != 0)
		return -1;
	if (getuid() != 0 && capng_apply(CAPNG_SELECT_BOTH) != 0)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return 0;
}

static void keeper_report(int fd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
keeper_report(int fd, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(fd, line, (size_t)n) < 0 && errno == EPIPE)
		_exit(0); /* the agent is gone */
}

static void __attribute__((noreturn)) keeper_main(
    int fd, const struct rules_spec *spec, uid_t uid, gid_t gid, pid_t agent)
{
	struct timespec ts = {LIM_RULES_KEEP_MS / 1000,
	    (long)(LIM_RULES_KEEP_MS % 1000) * 1000000L};
	struct rules_state st;
	int rc;

	(void)prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
	(void)prctl(PR_SET_NAME, "podid-keeper", 0, 0, 0);
	/*
	 * The agent may have died before PR_SET_PDEATHSIG: then the keeper has
	 * been reparented, to init or to a subreaper, whose pid is not 1.
	 */
	if (getppid() != agent)
		_exit(0);
	if (keeper_drop(uid, gid) != 0) {
		keeper_report(fd, "failed: cannot keep CAP_NET_ADMIN alone");
		_exit(1);
	}
	keeper_report(fd, "started: checking every %u ms", LIM_RULES_KEEP_MS);
	for (;;) {
		nanosleep(&ts, NULL);
		if (getppid() != agent)
			_exit(0);
		if ((rc = rules_status(spec, &st)) != 0) {
			keeper_report(fd, "failed: reading the ruleset: %s",
			    rules_strerror(rc));
			continue;
		}
		if (st.verdict == RULES_MATCH)
			continue;
		rc = rules_install(spec);
		keeper_report(fd, "%s: %s: %s%s%s",
		    rc >= 0 ? "restored" : "failed",
		    rules_verdict_name(st.verdict), st.why, rc >= 0 ? "" : ": ",
		    rc >= 0 ? "" : rules_strerror(rc));
	}
}

int
keeper_start(
    struct keeper *k, const struct rules_spec *spec, uid_t uid, gid_t gid)
{
	int p[2];
	pid_t pid, agent = getpid();

	k->pid = 0;
	k->fd = -1;
	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	if ((pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		/* Nothing of the agent's but the pipe and stderr. */
		close(p[0]);
		if (p[1] > 3)
			(void)close_range(3, (unsigned)p[1] - 1, 0);
		(void)close_range((unsigned)p[1] + 1, ~0u, 0);
		keeper_main(p[1], spec, uid, gid, agent);
	}
	close(p[1]);
	(void)fcntl(p[0], F_SETFL, O_NONBLOCK);
	k->pid = pid;
	k->fd = p[0];
	return 0;
}

ssize_t
keeper_read(struct keeper *k, char *buf, size_t len)
{
	ssize_t n = read(k->fd, buf, len - 1);

	if (n > 0) {
		buf[n] = '\0';
		return n;
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	return -1;
}

void
keeper_stop(struct keeper *k)
{
	/*
	 * No kill(2): the agent runs under its seccomp allowlist by now.  The
	 * keeper ends with the agent (PR_SET_PDEATHSIG), or at its next
	 * report on the closed pipe.
	 */
	if (k->fd >= 0)
		close(k->fd);
	k->pid = 0;
	k->fd = -1;
}
