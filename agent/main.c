/*
 * podid: one binary, several subcommands.
 *	podid policy check|explain|fmt ...	the policy language, offline
 *	podid pods [--watch] ...		the node's pods, from the API server
 *	podid run --policy FILE ...		the node agent
 *	podid rules install|status|remove	the interception rules
 *	podid selftest [--pod NS/NAME] ...	the running agent, checked
 * Each subcommand lives in agent/cmd_<name>.c and returns the exit status.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "agent/cmd.h"

struct main_cmd {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
};

static const struct main_cmd main_cmds[] = {
    {"run", cmd_run, "run the node agent (the IMDS endpoint for pods)"},
    {"policy", cmd_policy, "check, explain or format policy files"},
    {"pods", cmd_pods, "this node's pods and what the policy grants each"},
    {"rules", cmd_rules, "install, check or remove the interception rules"},
    {"selftest", cmd_selftest, "check the running agent from beside it"},
};

static void
main_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: podid <command> [args]\n\ncommands:\n");
	for (i = 0; i < sizeof(main_cmds) / sizeof(*main_cmds); i++)
		fprintf(
		    f, "  %-10s %s\n", main_cmds[i].name, main_cmds[i].help);
	fprintf(f, "\n'podid <command> --help' describes each.\n");
}

/* Output errors (a full disk, a closed pipe) fail the command. */
static int
main_finish(int rc)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "podid: writing output: %s\n", strerror(errno));
		return rc == CMD_OK ? CMD_FAIL : rc;
	}
	return rc;
}

int
main(int argc, char **argv)
{
	size_t i;

	/* A peer gone mid-write is an error to handle, not a reason to die. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		main_usage(stderr);
		return CMD_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		main_usage(stdout);
		return 0;
	}
	for (i = 0; i < sizeof(main_cmds) / sizeof(*main_cmds); i++)
		if (strcmp(argv[1], main_cmds[i].name) == 0)
			return main_finish(main_cmds[i].fn(argc - 1, argv + 1));
	fprintf(stderr, "podid: unknown command \"%s\"\n", argv[1]);
	main_usage(stderr);
	return CMD_USAGE;
}
