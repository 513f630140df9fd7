/*
 * keeper: the interception rules' guardian.  `podid run` forks it before
 * it drops its own privileges; the keeper keeps CAP_NET_ADMIN alone (as
 * an unprivileged user, no_new_privs set) and does one thing: every
 * LIM_RULES_KEEP_MS it compares podid's nf_tables ruleset with the
 * expected one and restores it when a CNI or kube-proxy resync, or an
 * admin, removed or altered it.  Each restoration is reported to the agent
 * on a pipe, one line each, which the agent logs and counts.  The serving
 * process itself holds no capability.
 */
#ifndef AGENT_KEEPER_H
#define AGENT_KEEPER_H

#include <stdbool.h>
#include <sys/types.h>

#include "agent/rules.h"

struct keeper {
	pid_t pid; /* 0: not running */
	int fd;    /* read end of the report pipe, non-blocking */
};

/*
 * Forks the keeper for spec, to run as uid/gid.  Returns 0 (k filled), or
 * -1 with errno.  The child never returns; it exits when the agent goes.
 */
int keeper_start(
    struct keeper *k, const struct rules_spec *spec, uid_t uid, gid_t gid);

/*
 * Reads the reports waiting on k->fd into buf (lines, NUL-terminated).
 * Returns the bytes read, 0 when none are waiting, -1 at end (the keeper
 * is gone).
 */
ssize_t keeper_read(struct keeper *k, char *buf, size_t len);

/* Lets the keeper go: it ends when the agent exits (PR_SET_PDEATHSIG). */
void keeper_stop(struct keeper *k);

#endif
