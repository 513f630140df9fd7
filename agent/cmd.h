/*
 * Subcommands of the podid binary.  Each takes argc/argv starting at its own
 * name and returns the process exit status.
 */
#ifndef AGENT_CMD_H
#define AGENT_CMD_H

#define CMD_OK     0
#define CMD_FAIL   1  /* runtime failure */
#define CMD_USAGE  64 /* EX_USAGE: bad command line */
#define CMD_CONFIG 78 /* EX_CONFIG: bad configuration (policy) */

/*
 * A numeric option of command cmd: arg must be decimal digits only and
 * within [min, max] (max < UINT_MAX).  Returns 0 with *out set, or -1
 * after one line on stderr naming the command, the option, the argument
 * and the range.  agent/cmd_args.c.
 */
int cmd_uint(const char *cmd, const char *opt, const char *arg, unsigned min,
    unsigned max, unsigned *out);

/* podid policy check|explain|fmt: agent/cmd_policy.c */
int cmd_policy(int argc, char **argv);

struct pol_slot;

/*
 * Sizes a policy load slot from the limits in agent/limits.h (the one
 * start-up allocation of a slot).  Returns 0, or -1 with errno.
 */
int cmd_policy_slot_new(struct pol_slot *slot);

/* podid pods: agent/cmd_pods.c */
int cmd_pods(int argc, char **argv);

/* podid run: agent/cmd_run.c */
int cmd_run(int argc, char **argv);

/* podid rules install|status|remove: agent/cmd_rules.c */
int cmd_rules(int argc, char **argv);

/*
 * podid selftest: selftest/cmd.c (a layer above agent/: declared here so
 * main.c needs no include from it).  Exit 0 when no check fails.
 */
int cmd_selftest(int argc, char **argv);

#endif
