/*
 * Tests of agent/cmd_args.c: cmd_uint takes decimal digits within its
 * range, at min-1/min and max/max+1, refuses everything strtoul would
 * have bent (sign, space, trailing junk, hex, wrap-around past 2^32), and
 * says why in one line on stderr; a refusal leaves *out as it was.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/cmd.h"
#include "tests/harness.h"

int main(void);

static char said[512]; /* what the last call wrote on stderr */

/* cmd_uint with stderr caught in said; *out starts at 7777. */
static int
call(const char *arg, unsigned min, unsigned max, unsigned *out)
{
	FILE *f = tmpfile();
	int saved = dup(2), rc;
	size_t n;

	*out = 7777;
	fflush(stderr);
	dup2(fileno(f), 2);
	rc = cmd_uint("run", "max-pods", arg, min, max, out);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(f);
	n = fread(said, 1, sizeof(said) - 1, f);
	said[n] = '\0';
	fclose(f);
	return rc;
}

static void
t_range(void)
{
	unsigned v;

	check_int(call("1", 1, 8192, &v), 0);
	check_int(v, 1);
	check_str(said, "");
	check_int(call("8192", 1, 8192, &v), 0);
	check_int(v, 8192);
	check_int(call("0", 1, 8192, &v), -1); /* min - 1 */
	check_int(v, 7777);
	check_str(said,
	    "podid run: --max-pods: \"0\" is not a whole number "
	    "from 1 to 8192\n");
	check_int(call("8193", 1, 8192, &v), -1); /* max + 1 */
	check_int(v, 7777);
	check_int(call("2", 2, 3600, &v), 0);
	check_int(call("1", 2, 3600, &v), -1);
	check_int(call("0", 0, 5, &v), 0);
	check_int(v, 0);
	check_int(call("007", 1, 10, &v), 0); /* leading zeros: still 7 */
	check_int(v, 7);
}

static void
t_refused(void)
{
	static const char *const bad[] = {"", " 5", "5 ", "+5", "-5", "5x",
	    "0x10", "1e3", "4294967297", "18446744073709551617",
	    "99999999999999999999999999", "８"};
	unsigned v, i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		check_int(call(bad[i], 0, 65536, &v), -1);
		check_int(v, 7777);
		check(strstr(said, "is not a whole number from 0 to 65536") !=
		    NULL);
	}
	/* The largest max a caller may pass: UINT_MAX - 1. */
	check_int(call("4294967294", 0, 4294967294u, &v), 0);
	check_int(v, 4294967294u);
	check_int(call("4294967295", 0, 4294967294u, &v), -1);
}

int
main(void)
{
	test(t_range, "whole numbers at min-1, min, max, max+1");
	test(t_refused, "signs, spaces, junk, hex and wrap-around refused");
	return harness_done();
}
