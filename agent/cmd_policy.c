/*
 * podid policy check|explain|fmt: the policy language, offline.
 *
 *	check FILE...	diagnostics, or one summary line per file (exit 0/78)
 *	explain FILE --namespace NS [--label K=V]... [--service-account SA]
 *	    [--host-network] [--name NAME]
 *			the identities that pod would get and the rule behind
 *			each, or why it gets none
 *	fmt FILE	the canonical form on stdout
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/cmd.h"
#include "agent/limits.h"
#include "policy/policy.h"

static const char policy_usage[] =
    "usage: podid policy check FILE...\n"
    "       podid policy explain FILE --namespace NS [--label KEY=VALUE]...\n"
    "                            [--service-account SA] [--host-network]\n"
    "                            [--name NAME]\n"
    "       podid policy fmt FILE\n"
    "\n"
    "check    parse and check each file; print every diagnostic, or one\n"
    "         summary line per file. Exit 0 when all are valid, 78 if not.\n"
    "explain  which identities a pod with these properties would get, and\n"
    "         the rule (file:line) behind each, or why it gets none.\n"
    "fmt      print FILE in canonical form; formatting the output again\n"
    "         changes nothing.\n";

#define EXPLAIN_MAX_LABELS 64
#define S(n)               ((n) == 1 ? "" : "s")

struct explain_args {
	const char *file, *name;
	struct pol_pod pod;
	struct pol_label labels[EXPLAIN_MAX_LABELS];
};

int
cmd_policy_slot_new(struct pol_slot *slot)
{
	static const struct pol_slot_limits lim = {
	    .file_bytes = LIM_POLICY_FILE_BYTES,
	    .ast_bytes = LIM_POLICY_AST_BYTES,
	    .pol_bytes = LIM_POLICY_BYTES,
	    .max_token = LIM_POLICY_TOKEN_BYTES,
	    .max_values = LIM_POLICY_VALUES,
	    .max_diags = LIM_POLICY_DIAGS,
	};

	return pol_slot_new(slot, &lim);
}

static int
policy_slot(struct pol_slot *slot)
{
	if (cmd_policy_slot_new(slot) == -1) {
		fprintf(stderr, "podid: policy memory: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int
policy_check(int argc, char **argv)
{
	struct pol_options opt = {.files_fatal = false};
	struct pol_slot slot;
	const struct pol *p;
	int i, rc = CMD_OK;

	if (argc < 1) {
		fputs(policy_usage, stderr);
		return CMD_USAGE;
	}
	if (policy_slot(&slot) == -1)
		return CMD_FAIL;
	for (i = 0; i < argc; i++) {
		if (pol_slot_load(&slot, argv[i], &opt, false) == -1)
			rc = CMD_CONFIG;
		dsl_diags_print(stderr, &slot.file, &slot.diags);
		if (!slot.loaded)
			continue;
		p = &slot.pol;
		printf("%s: ok: %u identit%s, %u binding%s, %u exception%s, "
		       "%u proxy route%s, %u warning%s, %zu bytes compiled\n",
		    argv[i], p->nidentities, p->nidentities == 1 ? "y" : "ies",
		    p->nbindings, S(p->nbindings), p->nexceptions,
		    S(p->nexceptions), p->nproxy_routes, S(p->nproxy_routes),
		    slot.diags.warnings, S(slot.diags.warnings), p->bytes);
	}
	pol_slot_free(&slot);
	return rc;
}

static int
policy_fmt(int argc, char **argv)
{
	struct pol_slot slot;
	int rc = CMD_OK;

	if (argc != 1) {
		fputs(policy_usage, stderr);
		return CMD_USAGE;
	}
	if (policy_slot(&slot) == -1)
		return CMD_FAIL;
	if (pol_slot_load(&slot, argv[0], NULL, true) == -1) {
		dsl_diags_print(stderr, &slot.file, &slot.diags);
		rc = CMD_CONFIG;
	} else
		dsl_fmt(stdout, &slot.file);
	pol_slot_free(&slot);
	return rc;
}

static int
explain_parse(int argc, char **argv, struct explain_args *a)
{
	const char *eq;
	int i;

	memset(a, 0, sizeof(*a));
	a->pod.labels = a->labels;
	a->name = "(pod)";
	for (i = 0; i < argc; i++) {
		const char *opt = argv[i],
		           *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(opt, "--host-network") == 0) {
			a->pod.host_network = true;
			continue;
		}
		if (opt[0] != '-') {
			if (a->file != NULL)
				return -1;
			a->file = opt;
			continue;
		}
		if (val == NULL)
			return -1;
		i++;
		if (strcmp(opt, "--namespace") == 0) {
			a->pod.ns = val;
			a->pod.nslen = (uint32_t)strlen(val);
		} else if (strcmp(opt, "--service-account") == 0) {
			a->pod.sa = val;
			a->pod.salen = (uint32_t)strlen(val);
		} else if (strcmp(opt, "--name") == 0)
			a->name = val;
		else if (strcmp(opt, "--label") == 0 &&
		    (eq = strchr(val, '=')) != NULL &&
		    a->pod.nlabels < EXPLAIN_MAX_LABELS) {
			struct pol_label *l = &a->labels[a->pod.nlabels++];

			l->key = val;
			l->klen = (uint32_t)(eq - val);
			l->val = eq + 1;
			l->vlen = (uint32_t)strlen(eq + 1);
		} else
			return -1;
	}
	return a->file != NULL && a->pod.ns != NULL ? 0 : -1;
}

/* Prints a requirement as the language writes it, and the pod's side. */
static void
explain_req(const struct pol_req *q, const struct explain_args *a)
{
	static const char *const ops[] = {
	    [POL_OP_EQ] = " = ",
	    [POL_OP_NE] = " != ",
	    [POL_OP_IN] = " in (",
	    [POL_OP_NOTIN] = " notin (",
	    [POL_OP_EXISTS] = "",
	    [POL_OP_ABSENT] = "",
	};
	uint32_t i;

	printf(": %s%s%s", q->op == POL_OP_ABSENT ? "!" : "", q->key.s,
	    ops[q->op]);
	for (i = 0; i < q->nvals; i++)
		printf("%s%s", i ? ", " : "", q->vals[i].s);
	if (q->op == POL_OP_IN || q->op == POL_OP_NOTIN)
		putchar(')');
	for (i = 0; i < a->pod.nlabels; i++)
		if (a->labels[i].klen == q->key.len &&
		    memcmp(a->labels[i].key, q->key.s, q->key.len) == 0) {
			printf(" (pod has %s=%s)", q->key.s, a->labels[i].val);
			return;
		}
	printf(" (pod has no label %s)", q->key.s);
}

/* Why each rule that could apply to the pod's namespace did not. */
static void
explain_misses(const struct pol *p, const struct explain_args *a)
{
	const struct pol_req *failed;
	const char *why;
	uint32_t r, shown = 0;

	for (r = 0; r < p->nrules; r++) {
		const struct pol_rule *rule = &p->rules[r];

		if (pol_rule_matches(rule, &a->pod, &why, &failed) ||
		    strcmp(why, "namespace not selected") == 0)
			continue;
		printf("  %s \"%s\" (%s:%u) does not apply: %s",
		    rule->exception ? "exception" : "bind", rule->name.s,
		    p->file, rule->line, why);
		if (failed != NULL)
			explain_req(failed, a);
		else if (strcmp(why, "service account differs") == 0)
			printf(": %s (pod has %s)", rule->service_account.s,
			    a->pod.salen ? a->pod.sa : "none");
		putchar('\n');
		shown += !rule->exception;
	}
	if (shown == 0)
		printf("  no binding names namespace \"%s\"\n", a->pod.ns);
}

/* For a granted pod: the exceptions of its namespace, and why not. */
static void
explain_exceptions(const struct pol *p, const struct explain_args *a)
{
	const struct pol_req *failed;
	const char *why;
	uint32_t r;

	for (r = 0; r < p->nrules; r++) {
		const struct pol_rule *rule = &p->rules[r];

		if (!rule->exception ||
		    pol_rule_matches(rule, &a->pod, &why, &failed) ||
		    strcmp(why, "namespace not selected") == 0)
			continue;
		printf("  exception \"%s\" (%s:%u) does not apply: %s",
		    rule->name.s, p->file, rule->line, why);
		if (failed != NULL)
			explain_req(failed, a);
		putchar('\n');
	}
}

static void
explain_print(const struct pol *p, const struct explain_args *a)
{
	struct pol_result res;
	const struct pol_identity *id;
	uint32_t i;

	pol_match(p, &a->pod, &res);
	printf("pod %s/%s", a->pod.ns, a->name);
	if (res.verdict == POL_EXCEPTION) {
		printf(": exception \"%s\" (%s:%u): its requests go to the "
		       "node's IMDS unchanged\n",
		    p->rules[res.exception].name.s, p->file,
		    p->rules[res.exception].line);
		return;
	}
	if (res.verdict == POL_DENY) {
		printf(": no identity (deny by default)\n");
		explain_misses(p, a);
		return;
	}
	printf(": %u identit%s\n", res.ngrants, res.ngrants == 1 ? "y" : "ies");
	for (i = 0; i < res.ngrants; i++) {
		id = &p->identities[res.grants[i].identity];
		printf("  %s (%s, %s %s%s) granted by bind \"%s\" (%s:%u)\n",
		    id->name.s, pol_kind_name(id->kind),
		    id->client_id.len ? "client-id" : "resource-id",
		    id->client_id.len ? id->client_id.s : id->resource_id.s,
		    id->host_token ? ", host-token" : "",
		    p->rules[res.grants[i].rule].name.s, p->file,
		    p->rules[res.grants[i].rule].line);
	}
	if (res.truncated)
		printf(
		    "  (more than %d identities: the rest are not granted)\n",
		    POL_MAX_GRANTS);
	if (res.ngrants > 1)
		printf("  several identities: requests must name one "
		       "(client_id, object_id, msi_res_id or mi_res_id)\n");
	explain_exceptions(p, a);
}

static int
policy_explain(int argc, char **argv)
{
	struct pol_options opt = {.files_fatal = false};
	struct explain_args a;
	struct pol_slot slot;
	int rc = CMD_OK;

	if (explain_parse(argc, argv, &a) == -1) {
		fputs(policy_usage, stderr);
		return CMD_USAGE;
	}
	if (policy_slot(&slot) == -1)
		return CMD_FAIL;
	if (pol_slot_load(&slot, a.file, &opt, false) == -1)
		rc = CMD_CONFIG;
	dsl_diags_print(stderr, &slot.file, &slot.diags);
	if (rc == CMD_OK)
		explain_print(&slot.pol, &a);
	pol_slot_free(&slot);
	return rc;
}

int
cmd_policy(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		fputs(policy_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? CMD_USAGE : CMD_OK;
	}
	if (strcmp(argv[1], "check") == 0)
		return policy_check(argc - 2, argv + 2);
	if (strcmp(argv[1], "explain") == 0)
		return policy_explain(argc - 2, argv + 2);
	if (strcmp(argv[1], "fmt") == 0)
		return policy_fmt(argc - 2, argv + 2);
	fprintf(stderr, "podid policy: unknown subcommand \"%s\"\n", argv[1]);
	fputs(policy_usage, stderr);
	return CMD_USAGE;
}
