/* Compiler and matcher tests: semantics, limits, shadowing, budget. */
#include <stdio.h>
#include <string.h>

#include "policy/policy.h"
#include "tests/harness.h"

static unsigned char ast_mem[1 << 20], pol_mem[1 << 20];
static struct dsl_diag diag_v[64];
static struct dsl_diags diags;
static struct dsl_file file;
static struct pol pol;

static const char ids[] = "identity a {\n kind managed\n client-id "
                          "\"00000000-0000-0000-0000-00000000000a\"\n}\n"
                          "identity b {\n kind managed\n client-id "
                          "\"00000000-0000-0000-0000-00000000000b\"\n}\n"
                          "identity c {\n kind managed\n client-id "
                          "\"00000000-0000-0000-0000-00000000000c\"\n}\n";

static int
compile_sized(const char *src, size_t size)
{
	static char buf[1 << 16];
	struct dsl_limits lim = {4096, 1024};
	struct pol_options opt = {false, 0};
	struct dsl_arena a;

	snprintf(buf, sizeof(buf), "%s%s", ids, src);
	memset(&file, 0, sizeof(file));
	file.name = "t.pol";
	file.src = buf;
	file.len = strlen(buf);
	dsl_arena_init(&a, ast_mem, sizeof(ast_mem));
	dsl_diags_init(&diags, diag_v, 64);
	if (dsl_parse(&file, &lim, &a, &diags) != 0)
		return -2;
	return pol_compile(&file, &opt, pol_mem, size, &pol, &diags);
}

static int
compile(const char *src)
{
	return compile_sized(src, sizeof(pol_mem));
}

static bool
has_diag(enum dsl_severity sev, const char *text)
{
	uint32_t i;

	for (i = 0; i < diags.n; i++)
		if (diag_v[i].sev == sev && strstr(diag_v[i].msg, text))
			return true;
	return false;
}

/* A pod: "ns", "sa", host network, then "k=v" labels. */
static struct pol_label pod_labels[40];

static struct pol_pod
mkpod(const char *ns, const char *sa, bool hostnet, const char *const *lbl)
{
	struct pol_pod p = {ns, sa, (uint32_t)strlen(ns), (uint32_t)strlen(sa),
	    pod_labels, 0, hostnet};
	const char *eq;

	for (; lbl && *lbl; lbl++) {
		eq = strchr(*lbl, '=');
		pod_labels[p.nlabels].key = *lbl;
		pod_labels[p.nlabels].klen = (uint32_t)(eq - *lbl);
		pod_labels[p.nlabels].val = eq + 1;
		pod_labels[p.nlabels++].vlen = (uint32_t)strlen(eq + 1);
	}
	return p;
}

/* Identity names granted to the pod, comma-joined, or "deny"/"exc:R". */
static const char *
grants(const struct pol_pod *pod)
{
	static char out[256];
	struct pol_result r;
	uint32_t i;

	pol_match(&pol, pod, &r);
	if (r.verdict == POL_DENY)
		return "deny";
	if (r.verdict == POL_EXCEPTION) {
		snprintf(
		    out, sizeof(out), "exc:%s", pol.rules[r.exception].name.s);
		return out;
	}
	out[0] = '\0';
	for (i = 0; i < r.ngrants; i++)
		snprintf(out + strlen(out), sizeof(out) - strlen(out),
		    "%s%s@%s", i ? "," : "",
		    pol.identities[r.grants[i].identity].name.s,
		    pol.rules[r.grants[i].rule].name.s);
	return out;
}

static void
t_operators(void)
{
	const char *l1[] = {"app=web", "tier=api", NULL};
	const char *l2[] = {"app=web", "tier=db", "debug=1", NULL};
	const char *l3[] = {"app=web", NULL};
	struct pol_pod p;

	check_int(compile("bind r1 {\n identity a\n namespace n\n"
	                  " label app = web, tier in (api, edge), !debug\n}\n"
	                  "bind r2 {\n identity b\n namespace n\n"
	                  " label app, tier != db\n}\n"
	                  "bind r3 {\n identity c\n namespace n\n"
	                  " label tier notin (api, db)\n}\n"),
	    0);
	p = mkpod("n", "default", false, l1);
	check_str(grants(&p), "a@r1,b@r2");
	p = mkpod("n", "default", false, l2);
	check_str(grants(&p), "deny");
	/* != and notin match a pod without the label (Kubernetes rules). */
	p = mkpod("n", "default", false, l3);
	check_str(grants(&p), "b@r2,c@r3");
	p = mkpod("other", "default", false, l1);
	check_str(grants(&p), "deny");
}

static void
t_hostnet_and_sa(void)
{
	const char *l[] = {"app=x", NULL};
	struct pol_pod p;

	check_int(
	    compile("bind r1 {\n identity a\n namespace n\n label app = x\n}\n"
	            "bind r2 {\n identity b\n namespace n\n"
	            " service-account s\n host-network allow\n}\n"),
	    0);
	p = mkpod("n", "s", false, l);
	check_str(grants(&p), "a@r1,b@r2");
	/* hostNetwork pods match only rules that allow them. */
	p = mkpod("n", "s", true, l);
	check_str(grants(&p), "b@r2");
	p = mkpod("n", "t", true, l);
	check_str(grants(&p), "deny");
}

static void
t_exceptions_and_wildcard(void)
{
	const char *sys[] = {"component=mic", NULL};
	const char *app[] = {"app=x", NULL};
	struct pol_pod p;

	check_int(
	    compile(
	        "bind every {\n identity a\n namespace *\n label app = x\n}\n"
	        "bind mine {\n identity b\n namespace n\n}\n"
	        "exception sys {\n namespace kube-system\n label "
	        "component\n}\n"),
	    0);
	check(has_diag(DSL_WARNING, "every namespace"));
	check(has_diag(DSL_WARNING, "identity \"c\" is not used"));
	p = mkpod("kube-system", "d", false, sys);
	check_str(grants(&p), "exc:sys");
	p = mkpod("kube-system", "d", false, app);
	check_str(grants(&p), "a@every");
	p = mkpod("n", "d", false, app);
	check_str(grants(&p), "a@every,b@mine");
	p = mkpod("zzz", "d", false, NULL);
	check_str(grants(&p), "deny");
}

/* An identity is granted once, by the first rule in file order. */
static void
t_first_rule_wins(void)
{
	struct pol_pod p;

	check_int(compile("bind r1 {\n identity b\n namespace n\n label x\n}\n"
	                  "bind r2 {\n identity a, b\n namespace n, m\n}\n"),
	    0);
	p = mkpod("n", "d", false, (const char *const[]){"x=1", NULL});
	check_str(grants(&p), "b@r1,a@r2");
}

static void
t_max_grants(void)
{
	char src[1 << 14] = "";
	struct pol_result r;
	struct pol_pod p = mkpod("n", "d", false, NULL);
	int i;

	/* POL_MAX_GRANTS + 1 identities for one pod. */
	for (i = 0; i <= POL_MAX_GRANTS; i++)
		snprintf(src + strlen(src), sizeof(src) - strlen(src),
		    "identity m%d {\n kind managed\n client-id "
		    "\"00000000-0000-0000-0000-0000000000%02d\"\n}\n"
		    "bind r%d {\n identity m%d\n namespace n\n label k%d != "
		    "z\n}\n",
		    i, i, i, i, i);
	check_int(compile(src), 0);
	pol_match(&pol, &p, &r);
	check_int(r.ngrants, POL_MAX_GRANTS);
	check(r.truncated);
	/* Exactly POL_MAX_GRANTS: all kept, not truncated. */
	p = mkpod("n", "d", false, (const char *const[]){"k0=z", NULL});
	pol_match(&pol, &p, &r);
	check_int(r.ngrants, POL_MAX_GRANTS);
	check(!r.truncated);
}

static void
t_shadowing(void)
{
	static const struct {
		const char *src;
		const char *msg; /* NULL: no shadowing */
	} cases[] = {
	    {"bind r1 {\n identity a\n namespace n\n label app\n}\n"
	     "bind r2 {\n identity a\n namespace n\n label app = x, t\n}\n",
	        "\"r2\" is shadowed by \"r1\""},
	    {"bind r1 {\n identity a\n namespace n\n label app in (x, y)\n}\n"
	     "bind r2 {\n identity a\n namespace n\n label app = x\n}\n",
	        "shadowed"},
	    /* r2 grants more: not shadowed. */
	    {"bind r1 {\n identity a\n namespace n\n label app\n}\n"
	     "bind r2 {\n identity a, b\n namespace n\n label app = x\n}\n",
	        NULL},
	    /* r2 spans a namespace r1 lacks. */
	    {"bind r1 {\n identity a\n namespace n\n}\n"
	     "bind r2 {\n identity a\n namespace n, m\n}\n",
	        NULL},
	    {"bind r1 {\n identity a\n namespace *\n}\n"
	     "bind r2 {\n identity a\n namespace n, m\n label q\n}\n",
	        "shadowed"},
	    {"bind r1 {\n identity a\n namespace n\n label env != prod\n}\n"
	     "bind r2 {\n identity a\n namespace n\n label env = dev\n}\n",
	        "shadowed"},
	    {"bind r1 {\n identity a\n namespace n\n label env notin (a, "
	     "b)\n}\n"
	     "bind r2 {\n identity a\n namespace n\n label !env\n}\n",
	        "shadowed"},
	    {"bind r1 {\n identity a\n namespace n\n label env != prod\n}\n"
	     "bind r2 {\n identity a\n namespace n\n label env\n}\n",
	        NULL},
	    /* hostNetwork: r1 does not allow what r2 allows. */
	    {"bind r1 {\n identity a\n namespace n\n}\n"
	     "bind r2 {\n identity a\n namespace n\n host-network allow\n}\n",
	        NULL},
	    {"bind r1 {\n identity a\n namespace n\n service-account s\n}\n"
	     "bind r2 {\n identity a\n namespace n\n}\n",
	        NULL},
	    {"exception e {\n namespace n\n label sys\n}\n"
	     "bind r2 {\n identity a\n namespace n\n label sys = 1\n}\n",
	        "never applies"},
	    /* An exception after the binding still takes its pods. */
	    {"bind r2 {\n identity a\n namespace n\n label sys = 1\n}\n"
	     "exception e {\n namespace n\n label sys\n}\n",
	        "never applies"},
	    {"exception e1 {\n namespace n\n}\n"
	     "exception e2 {\n namespace n\n label x\n}\n",
	        "exception \"e2\" is shadowed"},
	};
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		rc = compile(cases[i].src);
		if (cases[i].msg == NULL) {
			check_int(rc, 0);
		} else {
			check_int(rc, -1);
			if (!has_diag(DSL_ERROR, cases[i].msg))
				fprintf(stderr, "case %zu: no \"%s\"\n", i,
				    cases[i].msg);
			check(has_diag(DSL_ERROR, cases[i].msg));
		}
	}
}

/* The compiled size is what it uses: N bytes fit, N-1 do not. */
static void
t_budget(void)
{
	static const char src[] = "bind r1 {\n identity a, b, c\n namespace n, "
	                          "m\n label x in (1, 2)\n}\n";
	size_t need;

	check_int(compile(src), 0);
	need = pol.need;
	check(pol.bytes < need);
	check_int(compile_sized(src, need), 0);
	check_int(compile_sized(src, need - 1), -1);
	check(has_diag(DSL_ERROR, "does not fit"));
}

static void
t_identities(void)
{
	const struct pol_identity *id;
	uint32_t i;

	check_int(
	    compile(
	        "identity s {\n kind secret\n tenant contoso.onmicrosoft.com\n"
	        " client-id \"00000000-0000-0000-0000-000000000001\"\n"
	        " secret-file /nonexistent/s\n authority "
	        "\"https://login.example.com/\"\n}\n"
	        "identity f {\n kind federated\n tenant "
	        "\"00000000-0000-0000-0000-000000000002\"\n"
	        " client-id \"00000000-0000-0000-0000-000000000003\"\n}\n"
	        "identity k {\n kind certificate\n tenant t.example.com\n"
	        " client-id \"00000000-0000-0000-0000-000000000004\"\n"
	        " cert-file /nonexistent/c\n signing es256\n endpoint v1\n}\n"
	        "host-token s, f, k, a, b, c\n"),
	    0);
	check(has_diag(DSL_WARNING, "secret file \"/nonexistent/s\""));
	i = pol_identity_find(&pol, "s", 1);
	check(i != POL_NONE);
	id = &pol.identities[i];
	check(id->kind == POL_SECRET && id->host_token);
	check_str(id->authority.s, "https://login.example.com");
	id = &pol.identities[pol_identity_find(&pol, "f", 1)];
	check_str(id->audience.s, "api://AzureADTokenExchange");
	check_str(id->authority.s, "https://login.microsoftonline.com");
	id = &pol.identities[pol_identity_find(&pol, "k", 1)];
	check(id->signing == POL_SIGN_ES256 && id->aad_v1);
	check_str(id->key_file.s, "/nonexistent/c");
	check(pol_identity_find(&pol, "zz", 2) == POL_NONE);
}

static void
t_files_fatal(void)
{
	struct pol_options opt = {true, 0};
	struct dsl_arena a;
	struct dsl_limits lim = {4096, 1024};
	static const char src[] =
	    "identity s {\n kind secret\n tenant t.example.com\n"
	    " client-id \"00000000-0000-0000-0000-000000000001\"\n"
	    " secret-file /nonexistent/s\n}\nhost-token s\n";

	memset(&file, 0, sizeof(file));
	file.name = "t.pol";
	file.src = src;
	file.len = sizeof(src) - 1;
	dsl_arena_init(&a, ast_mem, sizeof(ast_mem));
	dsl_diags_init(&diags, diag_v, 64);
	check_int(dsl_parse(&file, &lim, &a, &diags), 0);
	check_int(
	    pol_compile(&file, &opt, pol_mem, sizeof(pol_mem), &pol, &diags),
	    -1);
	check(has_diag(DSL_ERROR, "No such file"));
}

int
main(void)
{
	test(t_operators, "label operators");
	test(t_hostnet_and_sa, "hostNetwork and service account");
	test(t_exceptions_and_wildcard, "exceptions and namespace *");
	test(t_first_rule_wins, "first rule wins");
	test(t_max_grants, "grants limit N and N+1");
	test(t_shadowing, "shadowing");
	test(t_budget, "compiled budget N and N-1");
	test(t_identities, "identity attributes and defaults");
	test(t_files_fatal, "missing files fatal when running");
	return harness_done();
}
