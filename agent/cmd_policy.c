/* podid policy: placeholder until the policy language lands. */
#include <stdio.h>

#include "agent/cmd.h"

int
cmd_policy(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "podid policy: not yet\n");
	return CMD_FAIL;
}
