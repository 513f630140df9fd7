/*
 * What the subcommands share in reading their command lines.
 */
#include <stdio.h>

#include "agent/cmd.h"

int
cmd_uint(const char *cmd, const char *opt, const char *arg, unsigned min,
    unsigned max, unsigned *out)
{
	const char *p = arg;
	unsigned long long v = 0;

	/* Digits only: strtoul would take " 5", "+5", "-5" and "5x". */
	if (*p == '\0')
		goto bad;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			goto bad;
		v = v * 10 + (unsigned)(*p - '0');
		if (v > max)
			goto bad;
	}
	if (v < min)
		goto bad;
	*out = (unsigned)v;
	return 0;
bad:
	fprintf(stderr,
	    "podid %s: --%s: \"%s\" is not a whole number from %u "
	    "to %u\n",
	    cmd, opt, arg, min, max);
	return -1;
}
