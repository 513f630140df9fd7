/*
 * podid rules install|remove|status: the interception rules by hand, or
 * from an init container (`install` alone, so the main container needs
 * no capability for them).  Each needs CAP_NET_ADMIN in the node's
 * network namespace, `status` too (nfnetlink checks it on every request).
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cmd.h"
#include "agent/log.h"
#include "agent/rules.h"

static const char rules_usage[] =
    "usage: podid rules install --node-ip IP [--port PORT]\n"
    "       podid rules status [--node-ip IP] [--port PORT]\n"
    "       podid rules remove\n"
    "\n"
    "install  puts table ip podid in place, atomically: TCP to\n"
    "         169.254.169.254:80 arriving at the node (from pods) is DNATed\n"
    "         to IP:PORT (podid's listening address; port 2579 by default).\n"
    "         A second install changes nothing.  Then cuts the connections\n"
    "         pods had opened to the real IMDS before (conntrack).\n"
    "status   prints the installed table as nft would and whether it is\n"
    "         the expected one (with --node-ip, to that target): exit 0 when\n"
    "         it is, 1 when not.\n"
    "remove   deletes table ip podid: pods reach the node's IMDS again.\n"
    "\n"
    "The rules stay when podid stops: `remove` is the only uninstall.\n"
    "Bad arguments exit 78.  Needs CAP_NET_ADMIN.\n";

struct rules_opts {
	const char *verb;
	struct in_addr node_ip;
	unsigned long port;
	bool has_ip, has_port;
};

static int
rules_parse(int argc, char **argv, struct rules_opts *o)
{
	static const struct option longopts[] = {
	    {"node-ip", required_argument, NULL, 'i'},
	    {"port", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	unsigned port;
	int ch;

	memset(o, 0, sizeof(*o));
	o->port = 2579;
	o->verb = argv[1];
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'i':
			if (inet_pton(AF_INET, optarg, &o->node_ip) != 1 ||
			    o->node_ip.s_addr == 0) {
				fprintf(stderr,
				    "podid rules: --node-ip: \"%s\" is not "
				    "an IPv4 address other than 0.0.0.0\n",
				    optarg);
				return -1;
			}
			o->has_ip = true;
			break;
		case 'p':
			if (cmd_uint(
			        "rules", "port", optarg, 1, 65535, &port) == -1)
				return -1;
			o->port = port;
			o->has_port = true;
			break;
		case 'h':
			return 1;
		default:
			return -1;
		}
	}
	return optind == argc ? 0 : -1;
}

/* errno means something only for some errors. */
static void
rules_fail(const char *what, int rc)
{
	if (rc == RULES_E_SOCKET || rc == RULES_E_IO || rc == RULES_E_KERNEL)
		log_warn("rules: %s: %s", what, rules_strerror(rc));
	else
		log_warnx("rules: %s: %s", what, rules_strerror(rc));
}

static int
rules_do_install(const struct rules_opts *o)
{
	struct rules_spec s;
	char ip[INET_ADDRSTRLEN];
	unsigned cut = 0;
	int rc;

	rules_spec_init(&s, o->node_ip, (uint16_t)o->port);
	inet_ntop(AF_INET, &o->node_ip, ip, sizeof(ip));
	if ((rc = rules_install(&s)) < 0) {
		rules_fail("install", rc);
		return CMD_FAIL;
	}
	log_info("rules: %s: table ip %s sends %s:%u to %s:%lu",
	    rc == 1 ? "already in place" : "installed", RULES_TABLE,
	    RULES_IMDS_ADDR, RULES_IMDS_PORT, ip, o->port);
	/* Also when in place: an earlier install may have failed here. */
	if ((rc = rules_conntrack_flush(s.imds_ip, s.imds_port, &cut)) < 0) {
		rules_fail("cutting connections to the node's imds", rc);
		return CMD_FAIL;
	}
	log_info("rules: cut %u connection(s) opened to %s:%u before the rules",
	    cut, RULES_IMDS_ADDR, RULES_IMDS_PORT);
	return CMD_OK;
}

static int
rules_do_status(const struct rules_opts *o)
{
	static struct rules_state st; /* 20 KiB: off the stack */
	struct rules_spec s;
	int rc;

	rules_spec_init(
	    &s, o->node_ip, o->has_ip || o->has_port ? (uint16_t)o->port : 0);
	if ((rc = rules_status(&s, &st)) < 0) {
		rules_fail("status", rc);
		return CMD_FAIL;
	}
	if (rules_print(stdout, &st) == -1)
		return CMD_FAIL;
	printf("# %s: %s\n", st.verdict == RULES_MATCH ? "match" : "mismatch",
	    st.why);
	return st.verdict == RULES_MATCH ? CMD_OK : CMD_FAIL;
}

int
cmd_rules(int argc, char **argv)
{
	struct rules_opts o;
	int rc;

	if (argc > 1 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(rules_usage, stdout);
		return CMD_OK;
	}
	log_init(LOG_LVL_INFO, false);
	if (argc < 2 || (rc = rules_parse(argc, argv, &o)) == -1)
		goto usage;
	if (rc == 1) {
		fputs(rules_usage, stdout);
		return CMD_OK;
	}
	if (strcmp(o.verb, "install") == 0 && o.has_ip)
		return rules_do_install(&o);
	if (strcmp(o.verb, "status") == 0)
		return rules_do_status(&o);
	if (strcmp(o.verb, "remove") == 0 && !o.has_ip && !o.has_port) {
		if ((rc = rules_remove()) < 0) {
			rules_fail("remove", rc);
			return CMD_FAIL;
		}
		log_info("rules: table ip %s removed", RULES_TABLE);
		return CMD_OK;
	}
usage:
	fputs(rules_usage, stderr);
	return CMD_USAGE;
}
