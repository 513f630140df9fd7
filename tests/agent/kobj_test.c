/*
 * agent/kobj.c: realistic pods, a watch stream and a list page from
 * tests/agent/data/ (kubectl get pod -o json shapes); every field's type
 * and syntax errors on a small template pod; each limit at N and N+1;
 * NET_RAW variations; both forms of 410; inputs against a PROT_NONE page.
 * Run from the top of the tree (tests/run.sh does).
 */
#include <arpa/inet.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/kobj.h"
#include "tests/guard.h"
#include "tests/harness.h"

#define DATA "tests/agent/data/"
#define NTOK LIM_KOBJ_EVENT_TOKENS
#define OMIT ((const char *)omit_)
#define BIG  65536

static const char omit_[] = "omit";
static struct json_tok toks[NTOK];
static char filebuf[BIG];

static size_t
read_data(const char *name)
{
	char path[256];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), DATA "%s", name);
	if ((f = fopen(path, "rb")) == NULL) {
		perror(path);
		exit(2);
	}
	n = fread(filebuf, 1, sizeof(filebuf), f);
	fclose(f);
	if (n == sizeof(filebuf)) {
		fprintf(stderr, "%s: too large for the test buffer\n", path);
		exit(2);
	}
	return n;
}

/* Parses data file name (against the guard page) and decodes its pod. */
static int
decode_file(const char *name, struct json_doc *doc, struct kobj_pod *pod)
{
	size_t n = read_data(name);
	int r;

	r = json_parse(doc, guard_copy(filebuf, n), n, toks, NTOK);
	printf("%s: %zu bytes, %d tokens\n", name, n, r);
	if (r < 0)
		return r;
	return kobj_pod_decode(doc, 0, pod);
}

static bool
ip4_is(const struct kobj_pod *pod, const char *s)
{
	struct in_addr a;

	return pod->has_ip4 && inet_pton(AF_INET, s, &a) == 1 &&
	    memcmp(&a, &pod->ip4, sizeof(a)) == 0;
}

static bool
ip6_is(const struct kobj_pod *pod, const char *s)
{
	struct in6_addr a;

	return pod->has_ip6 && inet_pton(AF_INET6, s, &a) == 1 &&
	    memcmp(&a, &pod->ip6, sizeof(a)) == 0;
}

/* ---- fixtures ------------------------------------------------------------ */

static void
t_pod_running(void)
{
	struct json_doc doc;
	struct kobj_pod pod;

	check_int(decode_file("pod-running.json", &doc, &pod), 0);
	check_str(pod.uid, "8c2b6f0e-41d3-4e6a-9f5c-2a7b1d0e3c94");
	check_str(pod.ns, "shop");
	check_str(pod.name, "web-7c9d8f6b5-x2k4p");
	check_str(pod.sa, "web");
	check_str(pod.rv, "1843921");
	check_int(pod.phase, KOBJ_PHASE_RUNNING);
	check(ip4_is(&pod, "10.244.1.23"));
	check(!pod.has_ip6);
	check(!pod.host_network && !pod.terminating && !pod.net_raw);
	check_int(pod.nlabels, 5);
	check_str(kobj_pod_label(&pod, "aadpodidbinding"), "web-identity");
	check_str(kobj_pod_label(&pod, "app.kubernetes.io/name"), "web");
	check_str(kobj_pod_label(&pod, "tier"), "frontend");
	check(kobj_pod_label(&pod, "app") == NULL);
	check_str(kobj_label_key(&pod, 0), "aadpodidbinding");
	check_str(kobj_label_value(&pod, 4), "frontend");
	check(kobj_label_key(&pod, 5) == NULL);
	check(kobj_label_value(&pod, 5) == NULL);
	printf("sizeof(struct kobj_pod) = %zu, sizeof(struct kobj_event) = "
	       "%zu\n",
	    sizeof(struct kobj_pod), sizeof(struct kobj_event));
}

static void
t_pod_dualstack(void)
{
	struct json_doc doc;
	struct kobj_pod pod;

	check_int(decode_file("pod-dualstack-terminating.json", &doc, &pod), 0);
	check_str(pod.name, "ledger-1");
	check_str(pod.ns, "payments");
	check(pod.terminating);
	check(ip4_is(&pod, "10.244.1.57"));
	check(ip6_is(&pod, "fd00:10:244:1::39"));
	/* both regular and init containers drop NET_RAW; the debug
	 * container added by kubectl debug has no securityContext */
	check(pod.net_raw);
	check_int(pod.nlabels, 4);
	check_str(kobj_pod_label(&pod, "statefulset.kubernetes.io/pod-name"),
	    "ledger-1");
}

static void
t_pod_hostnet(void)
{
	struct json_doc doc;
	struct kobj_pod pod;

	check_int(decode_file("pod-hostnet.json", &doc, &pod), 0);
	check(pod.host_network);
	check(pod.net_raw); /* privileged */
	check(ip4_is(&pod, "10.224.0.5"));
	check_str(pod.sa, "kube-proxy");
	check_str(pod.ns, "kube-system");
}

static void
t_pod_pending(void)
{
	struct json_doc doc;
	struct kobj_pod pod;

	check_int(decode_file("pod-pending.json", &doc, &pod), 0);
	check_int(pod.phase, KOBJ_PHASE_PENDING);
	check(!pod.has_ip4 && !pod.has_ip6);
	check(pod.net_raw); /* drop all, add cap_net_raw */
	check_str(pod.sa, "exporter");
	check_str(kobj_pod_label(&pod, "job"), "nightly-export");
	check_str(kobj_phase_name(pod.phase), "Pending");
	check_str(kobj_phase_name(KOBJ_PHASE_NONE), "");
	check_str(kobj_phase_name((enum kobj_phase)99), "");
}

/* ---- the template pod ---------------------------------------------------- */

enum {
	F_KIND,
	F_META,
	F_UID,
	F_NS,
	F_NAME,
	F_RV,
	F_DEL,
	F_LABELS,
	F_SPEC,
	F_SA,
	F_HOSTNET,
	F_CONT,
	F_INIT,
	F_EPH,
	F_STATUS,
	F_PHASE,
	F_PODIP,
	F_PODIPS,
	F_N
};

static const char *const fkey[F_N] = {"kind", "metadata", "uid", "namespace",
    "name", "resourceVersion", "deletionTimestamp", "labels", "spec",
    "serviceAccountName", "hostNetwork", "containers", "initContainers",
    "ephemeralContainers", "status", "phase", "podIP", "podIPs"};

/* The template: NULL for an object means "build it from its fields". */
static const char *const fdefault[F_N] = {
    [F_KIND] = "\"Pod\"",
    [F_UID] = "\"8c2b6f0e-41d3-4e6a-9f5c-2a7b1d0e3c94\"",
    [F_NS] = "\"shop\"",
    [F_NAME] = "\"web-1\"",
    [F_RV] = "\"42\"",
    [F_DEL] = OMIT,
    [F_LABELS] = "{\"app\":\"web\"}",
    [F_SA] = "\"web\"",
    [F_HOSTNET] = OMIT,
    [F_CONT] = "[{\"name\":\"web\",\"securityContext\":{\"capabilities\":"
               "{\"drop\":[\"ALL\"]}}}]",
    [F_INIT] = OMIT,
    [F_EPH] = OMIT,
    [F_PHASE] = "\"Running\"",
    [F_PODIP] = "\"10.244.1.23\"",
    [F_PODIPS] = "[{\"ip\":\"10.244.1.23\"}]",
};

struct tpl {
	char buf[8192];
	size_t len;
	const char *v[F_N];
};

static void
tpl_put(struct tpl *t, const char *s)
{
	size_t n = strlen(s);

	if (t->len + n >= sizeof(t->buf)) {
		fprintf(stderr, "template overflow\n");
		exit(2);
	}
	memcpy(t->buf + t->len, s, n + 1);
	t->len += n;
}

static void
tpl_member(struct tpl *t, int f)
{
	if (t->v[f] == OMIT)
		return;
	if (t->buf[t->len - 1] != '{')
		tpl_put(t, ",");
	tpl_put(t, "\"");
	tpl_put(t, fkey[f]);
	tpl_put(t, "\":");
	tpl_put(t, t->v[f]);
}

/* Member f, an object made of fields first..last unless overridden. */
static void
tpl_object(struct tpl *t, int f, int first, int last)
{
	int i;

	if (t->v[f] != NULL) {
		tpl_member(t, f);
		return;
	}
	tpl_put(t, t->buf[t->len - 1] == '{' ? "\"" : ",\"");
	tpl_put(t, fkey[f]);
	tpl_put(t, "\":{");
	for (i = first; i <= last; i++)
		tpl_member(t, i);
	tpl_put(t, "}");
}

/* Writes the pod t->v describes into t->buf. */
static const char *
tpl_emit(struct tpl *t)
{
	t->len = 0;
	tpl_put(t, "{");
	tpl_member(t, F_KIND);
	tpl_object(t, F_META, F_UID, F_LABELS);
	tpl_object(t, F_SPEC, F_SA, F_EPH);
	tpl_object(t, F_STATUS, F_PHASE, F_PODIPS);
	tpl_put(t, "}");
	return t->buf;
}

/* Builds the template pod with up to two fields replaced. */
static const char *
tpl_build(struct tpl *t, int f1, const char *v1, int f2, const char *v2)
{
	memcpy(t->v, fdefault, sizeof(t->v));
	if (v1 != NULL)
		t->v[f1] = v1;
	if (v2 != NULL)
		t->v[f2] = v2;
	return tpl_emit(t);
}

static int
tpl_decode(int f1, const char *v1, int f2, const char *v2, struct kobj_pod *pod)
{
	static struct tpl t;
	struct json_doc doc;
	int r;

	tpl_build(&t, f1, v1, f2, v2);
	r = json_parse(&doc, guard_copy(t.buf, t.len), t.len, toks, NTOK);
	if (r < 0) {
		fprintf(stderr, "template does not parse: %s\n", t.buf);
		return r;
	}
	return kobj_pod_decode(&doc, 0, pod);
}

/* "\"" + n times c + "\"" in a static buffer. */
static const char *
qrep(char c, size_t n)
{
	static char buf[2][2048];
	static int which;
	char *b = buf[which ^= 1];

	b[0] = '"';
	memset(b + 1, c, n);
	b[n + 1] = '"';
	b[n + 2] = '\0';
	return b;
}

static void
t_template_ok(void)
{
	struct kobj_pod pod;

	check_int(tpl_decode(0, NULL, 0, NULL, &pod), 0);
	check_str(pod.name, "web-1");
	check_str(pod.rv, "42");
	check(ip4_is(&pod, "10.244.1.23"));
	check(!pod.net_raw && !pod.terminating && !pod.host_network);
	check_str(kobj_pod_label(&pod, "app"), "web");
}

static const struct {
	int f1;
	const char *v1;
	int f2;
	const char *v2;
	int err;
} field_cases[] = {
    /* kind, metadata, identity */
    {F_KIND, "\"Node\"", 0, NULL, KOBJ_E_KIND},
    {F_KIND, "5", 0, NULL, KOBJ_E_KIND},
    {F_KIND, OMIT, 0, NULL, 0},
    {F_META, OMIT, 0, NULL, KOBJ_E_METADATA},
    {F_META, "null", 0, NULL, KOBJ_E_METADATA},
    {F_META, "[]", 0, NULL, KOBJ_E_METADATA},
    {F_UID, OMIT, 0, NULL, KOBJ_E_UID},
    {F_UID, "5", 0, NULL, KOBJ_E_UID},
    {F_UID, "null", 0, NULL, KOBJ_E_UID},
    {F_UID, "\"\"", 0, NULL, KOBJ_E_UID},
    {F_UID, "\"8c2b6f0e-41d3-4e6a-9f5c-2a7b1d0e3c9g\"", 0, NULL, KOBJ_E_UID},
    {F_UID, "\"8C2B6F0E-41D3-4E6A-9F5C-2A7B1D0E3C94\"", 0, NULL, 0},
    {F_NS, OMIT, 0, NULL, KOBJ_E_NAMESPACE},
    {F_NS, "[\"shop\"]", 0, NULL, KOBJ_E_NAMESPACE},
    {F_NS, "\"Shop\"", 0, NULL, KOBJ_E_NAMESPACE},
    {F_NS, "\"a.b\"", 0, NULL, KOBJ_E_NAMESPACE},
    {F_NS, "\"shop/x\"", 0, NULL, KOBJ_E_NAMESPACE},
    {F_NS, "\"-shop\"", 0, NULL, KOBJ_E_NAMESPACE},
    {F_NAME, OMIT, 0, NULL, KOBJ_E_NAME},
    {F_NAME, "true", 0, NULL, KOBJ_E_NAME},
    {F_NAME, "\"a..b\"", 0, NULL, KOBJ_E_NAME},
    {F_NAME, "\"a.-b\"", 0, NULL, KOBJ_E_NAME},
    {F_NAME, "\"web-1.\"", 0, NULL, KOBJ_E_NAME},
    {F_NAME, "\"web?x=1\"", 0, NULL, KOBJ_E_NAME},
    {F_NAME, "\"web-1.x-2\"", 0, NULL, 0},
    {F_NAME, "\"w\\u0065b\"", 0, NULL, 0},
    {F_RV, OMIT, 0, NULL, KOBJ_E_RV},
    {F_RV, "42", 0, NULL, KOBJ_E_RV},
    {F_RV, "\"\"", 0, NULL, KOBJ_E_RV},
    {F_RV, "\"4 2\"", 0, NULL, KOBJ_E_RV},
    {F_DEL, "null", 0, NULL, 0},
    {F_DEL, "5", 0, NULL, KOBJ_E_DELETION},
    {F_DEL, "{}", 0, NULL, KOBJ_E_DELETION},
    /* labels */
    {F_LABELS, OMIT, 0, NULL, 0},
    {F_LABELS, "null", 0, NULL, 0},
    {F_LABELS, "{}", 0, NULL, 0},
    {F_LABELS, "[]", 0, NULL, KOBJ_E_LABELS},
    {F_LABELS, "\"app=web\"", 0, NULL, KOBJ_E_LABELS},
    {F_LABELS, "{\"app\":5}", 0, NULL, KOBJ_E_LABELS},
    {F_LABELS, "{\"app\":null}", 0, NULL, KOBJ_E_LABELS},
    {F_LABELS, "{\"app\":true}", 0, NULL, KOBJ_E_LABELS},
    {F_LABELS, "{\"app\":[\"web\"]}", 0, NULL, KOBJ_E_LABELS},
    {F_LABELS, "{\"app\":\"w\\u0000\"}", 0, NULL, KOBJ_E_LABELS},
    {F_LABELS, "{\"app\":\"a\",\"app\":\"b\"}", 0, NULL, KOBJ_E_LABEL_DUP},
    {F_LABELS, "{\"app\":\"a\",\"\\u0061pp\":\"a\"}", 0, NULL,
        KOBJ_E_LABEL_DUP},
    {F_LABELS, "{\"app\":\"\"}", 0, NULL, 0},
    {F_LABELS, "{\"example.com/app\":\"web\"}", 0, NULL, 0},
    {F_LABELS, "{\"a_b.c-d\":\"A_b.9\"}", 0, NULL, 0},
    {F_LABELS, "{\"a b\":\"web\"}", 0, NULL, KOBJ_E_LABEL_SYNTAX},
    {F_LABELS, "{\"app\":\"w b\"}", 0, NULL, KOBJ_E_LABEL_SYNTAX},
    {F_LABELS, "{\"app\":\"-web\"}", 0, NULL, KOBJ_E_LABEL_SYNTAX},
    {F_LABELS, "{\"app\":\"web.\"}", 0, NULL, KOBJ_E_LABEL_SYNTAX},
    {F_LABELS, "{\"\":\"web\"}", 0, NULL, KOBJ_E_LABEL_SYNTAX},
    {F_LABELS, "{\"/app\":\"web\"}", 0, NULL, KOBJ_E_LABEL_SYNTAX},
    {F_LABELS, "{\"app/\":\"web\"}", 0, NULL, KOBJ_E_LABEL_SYNTAX},
    {F_LABELS, "{\"a/b/c\":\"web\"}", 0, NULL, KOBJ_E_LABEL_SYNTAX},
    {F_LABELS, "{\"Example.com/app\":\"web\"}", 0, NULL, KOBJ_E_LABEL_SYNTAX},
    {F_LABELS, "{\"app\":\"w\\u00e9b\"}", 0, NULL, KOBJ_E_LABEL_SYNTAX},
    /* spec */
    {F_SPEC, OMIT, 0, NULL, KOBJ_E_SPEC},
    {F_SPEC, "\"x\"", 0, NULL, KOBJ_E_SPEC},
    {F_SA, OMIT, 0, NULL, 0},
    {F_SA, "null", 0, NULL, 0},
    {F_SA, "\"\"", 0, NULL, 0},
    {F_SA, "5", 0, NULL, KOBJ_E_SA},
    {F_SA, "\"Web\"", 0, NULL, KOBJ_E_SA},
    {F_SA, "\"../web\"", 0, NULL, KOBJ_E_SA},
    {F_HOSTNET, "null", 0, NULL, 0},
    {F_HOSTNET, "\"true\"", 0, NULL, KOBJ_E_HOSTNET},
    {F_HOSTNET, "1", 0, NULL, KOBJ_E_HOSTNET},
    {F_CONT, OMIT, 0, NULL, KOBJ_E_CONTAINERS},
    {F_CONT, "null", 0, NULL, KOBJ_E_CONTAINERS},
    {F_CONT, "{}", 0, NULL, KOBJ_E_CONTAINERS},
    {F_CONT, "[5]", 0, NULL, KOBJ_E_CONTAINERS},
    {F_CONT, "[{\"securityContext\":5}]", 0, NULL, KOBJ_E_CONTAINERS},
    {F_CONT, "[{\"securityContext\":{\"capabilities\":[]}}]", 0, NULL,
        KOBJ_E_CONTAINERS},
    {F_CONT, "[{\"securityContext\":{\"privileged\":\"yes\"}}]", 0, NULL,
        KOBJ_E_CONTAINERS},
    {F_CONT,
        "[{\"securityContext\":{\"capabilities\":{\"add\":"
        "\"NET_RAW\"}}}]",
        0, NULL, KOBJ_E_CONTAINERS},
    {F_CONT, "[{\"securityContext\":{\"capabilities\":{\"drop\":[5]}}}]", 0,
        NULL, KOBJ_E_CONTAINERS},
    {F_CONT,
        "[{\"securityContext\":{\"capabilities\":{\"drop\":"
        "[\"\\u0000\"]}}}]",
        0, NULL, KOBJ_E_CONTAINERS},
    {F_INIT, "5", 0, NULL, KOBJ_E_CONTAINERS},
    {F_INIT, "null", 0, NULL, 0},
    {F_EPH, "{}", 0, NULL, KOBJ_E_CONTAINERS},
    /* status */
    {F_STATUS, OMIT, 0, NULL, 0},
    {F_STATUS, "null", 0, NULL, 0},
    {F_STATUS, "{}", 0, NULL, 0},
    {F_STATUS, "[]", 0, NULL, KOBJ_E_STATUS},
    {F_PHASE, OMIT, 0, NULL, 0},
    {F_PHASE, "5", 0, NULL, KOBJ_E_PHASE},
    {F_PHASE, "\"running\"", 0, NULL, KOBJ_E_PHASE},
    {F_PHASE, "\"Bogus\"", 0, NULL, KOBJ_E_PHASE},
    {F_PODIP, "5", F_PODIPS, OMIT, KOBJ_E_IP},
    {F_PODIP, "\"10.0.0.300\"", F_PODIPS, OMIT, KOBJ_E_IP},
    {F_PODIP, "\"010.0.0.1\"", F_PODIPS, OMIT, KOBJ_E_IP},
    {F_PODIP, "\"fe80::1%eth0\"", F_PODIPS, OMIT, KOBJ_E_IP},
    {F_PODIP, "\"\"", F_PODIPS, OMIT, 0},
    {F_PODIP, "null", F_PODIPS, "null", 0},
    {F_PODIP, "\"10.244.1.24\"", 0, NULL, KOBJ_E_IP},
    {F_PODIP, "\"fd00::1\"", 0, NULL, KOBJ_E_IP},
    {F_PODIPS, "{}", 0, NULL, KOBJ_E_IP},
    {F_PODIPS, "[5]", 0, NULL, KOBJ_E_IP},
    {F_PODIPS, "[{}]", 0, NULL, KOBJ_E_IP},
    {F_PODIPS, "[{\"ip\":5}]", 0, NULL, KOBJ_E_IP},
    {F_PODIPS, "[{\"ip\":\"\"}]", F_PODIP, OMIT, KOBJ_E_IP},
    {F_PODIPS, "[{\"ip\":\"10.244.1.23\"},{\"ip\":\"10.244.1.24\"}]", 0, NULL,
        KOBJ_E_IP},
    {F_PODIPS,
        "[{\"ip\":\"10.244.1.23\"},{\"ip\":\"fd00::1\"},"
        "{\"ip\":\"fd00::2\"}]",
        0, NULL, KOBJ_E_IP},
    {F_PODIPS, "[{\"ip\":\"fd00::1\"},{\"ip\":\"10.244.1.23\"}]", 0, NULL,
        KOBJ_E_IP}, /* podIP is not podIPs[0] */
    {F_PODIPS, "[{\"ip\":\"fd00::1\"},{\"ip\":\"10.244.1.23\"}]", F_PODIP,
        "\"fd00::1\"", 0},
    {F_PODIPS, "[]", 0, NULL, 0},
    {F_PODIPS, "[{\"ip\":\"10.244.1.23\",\"ip\":\"10.244.1.23\"}]", 0, NULL,
        KOBJ_E_IP},
};

static void
t_field_errors(void)
{
	struct kobj_pod pod;
	size_t i;
	int r;

	for (i = 0; i < sizeof(field_cases) / sizeof(*field_cases); i++) {
		r = tpl_decode(field_cases[i].f1, field_cases[i].v1,
		    field_cases[i].f2, field_cases[i].v2, &pod);
		if (r != field_cases[i].err)
			fprintf(stderr, "field case %zu (%s=%s): %s\n", i,
			    fkey[field_cases[i].f1], field_cases[i].v1,
			    kobj_strerror(r));
		check_int(r, field_cases[i].err);
	}
}

static void
t_identity_kept_on_error(void)
{
	struct kobj_pod pod;

	check_int(
	    tpl_decode(F_PHASE, "\"Bogus\"", 0, NULL, &pod), KOBJ_E_PHASE);
	check_str(pod.uid, "8c2b6f0e-41d3-4e6a-9f5c-2a7b1d0e3c94");
	check_str(pod.ns, "shop");
	check_str(pod.name, "web-1");
	check_int(tpl_decode(F_NAME, "5", 0, NULL, &pod), KOBJ_E_NAME);
	check_str(pod.uid, "8c2b6f0e-41d3-4e6a-9f5c-2a7b1d0e3c94");
	check_str(pod.name, "");
}

static void
t_ip_variants(void)
{
	struct kobj_pod pod;

	check_int(tpl_decode(F_PODIPS, OMIT, 0, NULL, &pod), 0);
	check(ip4_is(&pod, "10.244.1.23") && !pod.has_ip6);
	check_int(tpl_decode(F_PODIPS, "[{\"ip\":\"fd00::17\"}]", F_PODIP,
	              "\"fd00::17\"", &pod),
	    0);
	check(ip6_is(&pod, "fd00::17") && !pod.has_ip4);
	check_int(tpl_decode(
	              F_PODIPS, "[{\"ip\":\"fd00::17\"}]", F_PODIP, OMIT, &pod),
	    0);
	check(ip6_is(&pod, "fd00::17") && !pod.has_ip4);
	check_int(tpl_decode(F_PODIPS,
	              "[{\"ip\":\"10.244.1.23\"},{\"ip\":\"fd00::17\"}]", 0,
	              NULL, &pod),
	    0);
	check(ip4_is(&pod, "10.244.1.23") && ip6_is(&pod, "fd00::17"));
	check_int(tpl_decode(F_PODIP, "\"\"", F_PODIPS, OMIT, &pod), 0);
	check(!pod.has_ip4 && !pod.has_ip6);
}

static void
t_flags(void)
{
	struct kobj_pod pod;

	check_int(
	    tpl_decode(F_DEL, "\"2026-11-28T10:15:44Z\"", 0, NULL, &pod), 0);
	check(pod.terminating);
	check_int(tpl_decode(F_DEL, "null", 0, NULL, &pod), 0);
	check(!pod.terminating);
	check_int(tpl_decode(F_HOSTNET, "true", 0, NULL, &pod), 0);
	check(pod.host_network);
	check_int(tpl_decode(F_HOSTNET, "false", 0, NULL, &pod), 0);
	check(!pod.host_network);
	check_int(tpl_decode(F_PHASE, "\"Succeeded\"", 0, NULL, &pod), 0);
	check_int(pod.phase, KOBJ_PHASE_SUCCEEDED);
	check_int(tpl_decode(F_PHASE, "\"Failed\"", 0, NULL, &pod), 0);
	check_int(pod.phase, KOBJ_PHASE_FAILED);
	check_int(tpl_decode(F_PHASE, "\"Unknown\"", 0, NULL, &pod), 0);
	check_int(pod.phase, KOBJ_PHASE_UNKNOWN);
	check_int(tpl_decode(F_PHASE, OMIT, 0, NULL, &pod), 0);
	check_int(pod.phase, KOBJ_PHASE_NONE);
	check_int(tpl_decode(F_SA, OMIT, 0, NULL, &pod), 0);
	check_str(pod.sa, "");
}

/* ---- NET_RAW ------------------------------------------------------------ */

#define SC(caps) "[{\"name\":\"c\",\"securityContext\":" caps "}]"
#define CAPS(c)  SC("{\"capabilities\":" c "}")

static const struct {
	const char *containers, *init, *eph;
	bool raw;
} raw_cases[] = {
    {"[{\"name\":\"c\"}]", NULL, NULL, true},
    {"[]", NULL, NULL, false},
    {SC("{}"), NULL, NULL, true},
    {SC("null"), NULL, NULL, true},
    {CAPS("{}"), NULL, NULL, true},
    {CAPS("null"), NULL, NULL, true},
    {CAPS("{\"drop\":[\"ALL\"]}"), NULL, NULL, false},
    {CAPS("{\"drop\":[\"all\"]}"), NULL, NULL, false},
    {CAPS("{\"drop\":[\"\\u0041LL\"]}"), NULL, NULL, false},
    {CAPS("{\"drop\":[\"NET_RAW\"]}"), NULL, NULL, false},
    {CAPS("{\"drop\":[\"CAP_NET_RAW\"]}"), NULL, NULL, false},
    {CAPS("{\"drop\":[\"cap_net_raw\"]}"), NULL, NULL, false},
    {CAPS("{\"drop\":[\"Net_Raw\"]}"), NULL, NULL, false},
    {CAPS("{\"drop\":[\"NET_ADMIN\",\"NET_RAW\"]}"), NULL, NULL, false},
    {CAPS("{\"drop\":[\"NET_ADMIN\"]}"), NULL, NULL, true},
    {CAPS("{\"drop\":[]}"), NULL, NULL, true},
    {CAPS("{\"drop\":null}"), NULL, NULL, true},
    {CAPS("{\"drop\":[\"NET_RAWX\"]}"), NULL, NULL, true},
    {CAPS("{\"drop\":[\"CAP_\"]}"), NULL, NULL, true},
    {CAPS("{\"drop\":[\"CAP_CAP_NET_RAW\"]}"), NULL, NULL, true},
    {CAPS("{\"drop\":[\"NET_RAW_AND_A_VERY_LONG_CAPABILITY_NAME\"]}"), NULL,
        NULL, true},
    {CAPS("{\"drop\":[\"ALL\"],\"add\":[\"NET_RAW\"]}"), NULL, NULL, true},
    {CAPS("{\"drop\":[\"ALL\"],\"add\":[\"CAP_NET_RAW\"]}"), NULL, NULL, true},
    {CAPS("{\"drop\":[\"ALL\"],\"add\":[\"net_raw\"]}"), NULL, NULL, true},
    {CAPS("{\"drop\":[\"ALL\"],\"add\":[\"ALL\"]}"), NULL, NULL, true},
    {CAPS("{\"drop\":[\"NET_RAW\"],\"add\":[\"NET_RAW\"]}"), NULL, NULL, true},
    {CAPS("{\"drop\":[\"ALL\"],\"add\":[\"NET_BIND_SERVICE\"]}"), NULL, NULL,
        false},
    {CAPS("{\"drop\":[\"ALL\"],\"add\":null}"), NULL, NULL, false},
    {SC("{\"privileged\":true,\"capabilities\":{\"drop\":[\"ALL\"]}}"), NULL,
        NULL, true},
    {SC("{\"privileged\":false,\"capabilities\":{\"drop\":[\"ALL\"]}}"), NULL,
        NULL, false},
    {SC("{\"privileged\":true}"), NULL, NULL, true},
    {"[{\"securityContext\":{\"capabilities\":{\"drop\":[\"ALL\"]}}},"
     "{\"name\":\"sidecar\"}]",
        NULL, NULL, true},
    {CAPS("{\"drop\":[\"ALL\"]}"), "[{\"name\":\"init\"}]", NULL, true},
    {CAPS("{\"drop\":[\"ALL\"]}"), NULL, "[{\"name\":\"debug\"}]", true},
    {CAPS("{\"drop\":[\"ALL\"]}"), CAPS("{\"drop\":[\"ALL\"]}"),
        CAPS("{\"drop\":[\"NET_RAW\"]}"), false},
    {CAPS("{\"drop\":[\"ALL\"]}"), "[]", "[]", false},
};

static void
t_net_raw(void)
{
	struct kobj_pod pod;
	static struct tpl t;
	struct json_doc doc;
	size_t i;
	int r;

	for (i = 0; i < sizeof(raw_cases) / sizeof(*raw_cases); i++) {
		tpl_build(&t, F_CONT, raw_cases[i].containers, F_INIT,
		    raw_cases[i].init);
		if (raw_cases[i].eph != NULL) {
			t.v[F_EPH] = raw_cases[i].eph;
			tpl_emit(&t);
		}
		check(json_parse(&doc, guard_copy(t.buf, t.len), t.len, toks,
		          NTOK) > 0);
		r = kobj_pod_decode(&doc, 0, &pod);
		check_int(r, 0);
		if (pod.net_raw != raw_cases[i].raw)
			fprintf(stderr, "net_raw case %zu: %s\n", i, t.buf);
		check(pod.net_raw == raw_cases[i].raw);
	}
}

/* ---- limits at N and N+1 ------------------------------------------------- */

static void
t_name_limits(void)
{
	struct kobj_pod pod;
	char uid[64];

	check_int(tpl_decode(
	              F_NS, qrep('a', LIM_KOBJ_NAMESPACE_BYTES), 0, NULL, &pod),
	    0);
	check_int(strlen(pod.ns), LIM_KOBJ_NAMESPACE_BYTES);
	check_int(tpl_decode(F_NS, qrep('a', LIM_KOBJ_NAMESPACE_BYTES + 1), 0,
	              NULL, &pod),
	    KOBJ_E_NAMESPACE);
	check_int(
	    tpl_decode(F_NAME, qrep('a', LIM_KOBJ_NAME_BYTES), 0, NULL, &pod),
	    0);
	check_int(strlen(pod.name), LIM_KOBJ_NAME_BYTES);
	check_int(tpl_decode(F_NAME, qrep('a', LIM_KOBJ_NAME_BYTES + 1), 0,
	              NULL, &pod),
	    KOBJ_E_NAME);
	check_int(
	    tpl_decode(F_SA, qrep('s', LIM_KOBJ_SA_BYTES), 0, NULL, &pod), 0);
	check_int(strlen(pod.sa), LIM_KOBJ_SA_BYTES);
	check_int(
	    tpl_decode(F_SA, qrep('s', LIM_KOBJ_SA_BYTES + 1), 0, NULL, &pod),
	    KOBJ_E_SA);
	check_int(
	    tpl_decode(F_RV, qrep('9', LIM_KOBJ_RV_BYTES), 0, NULL, &pod), 0);
	check_int(strlen(pod.rv), LIM_KOBJ_RV_BYTES);
	check_int(
	    tpl_decode(F_RV, qrep('9', LIM_KOBJ_RV_BYTES + 1), 0, NULL, &pod),
	    KOBJ_E_RV);
	snprintf(uid, sizeof(uid), "%s", qrep('f', LIM_KOBJ_UID_BYTES));
	check_int(tpl_decode(F_UID, uid, 0, NULL, &pod), 0);
	check_int(strlen(pod.uid), LIM_KOBJ_UID_BYTES);
	check_int(
	    tpl_decode(F_UID, qrep('f', LIM_KOBJ_UID_BYTES + 1), 0, NULL, &pod),
	    KOBJ_E_UID);
}

/* {"k00":"vvv",...}: n labels, values of vlen bytes, the last one of
 * vlen + extra. */
static const char *
labels_json(unsigned n, size_t vlen, size_t extra)
{
	static char buf[8192];
	size_t o = 0;
	unsigned i;

	buf[o++] = '{';
	for (i = 0; i < n; i++) {
		o += (size_t)snprintf(buf + o, sizeof(buf) - o,
		    "%s\"k%02u\":%s", i ? "," : "", i,
		    qrep('v', vlen + (i == n - 1 ? extra : 0)));
	}
	buf[o++] = '}';
	buf[o] = '\0';
	return buf;
}

static void
t_label_limits(void)
{
	struct kobj_pod pod;
	size_t v;

	check_int(tpl_decode(F_LABELS, labels_json(LIM_KOBJ_LABELS, 1, 0), 0,
	              NULL, &pod),
	    0);
	check_int(pod.nlabels, LIM_KOBJ_LABELS);
	check_str(kobj_pod_label(&pod, "k31"), "v");
	check_int(tpl_decode(F_LABELS, labels_json(LIM_KOBJ_LABELS + 1, 1, 0),
	              0, NULL, &pod),
	    KOBJ_E_LABEL_COUNT);
	/* 16 labels of "kNN\0" + value + "\0" fill the pool exactly */
	v = LIM_KOBJ_LABEL_POOL_BYTES / 16 - 5;
	check_int(
	    tpl_decode(F_LABELS, labels_json(16, v, 0), 0, NULL, &pod), 0);
	check_int(pod.label_bytes, LIM_KOBJ_LABEL_POOL_BYTES);
	check_int(strlen(kobj_pod_label(&pod, "k15")), v);
	check_int(tpl_decode(F_LABELS, labels_json(16, v, 1), 0, NULL, &pod),
	    KOBJ_E_LABEL_POOL);
	/* a value or a key name: 63 bytes, not 64 */
	check_int(
	    tpl_decode(F_LABELS, labels_json(1, 63, 0), 0, NULL, &pod), 0);
	check_int(tpl_decode(F_LABELS, labels_json(1, 63, 1), 0, NULL, &pod),
	    KOBJ_E_LABEL_SYNTAX);
}

static void
t_label_key_limits(void)
{
	char prefix[300], key[700], json[800];
	struct kobj_pod pod;
	size_t i;

	/* prefix 253 bytes: four 62-byte parts and a 1-byte one, dotted */
	memset(prefix, 'a', 253);
	for (i = 62; i < 253; i += 63)
		prefix[i] = '.';
	prefix[253] = '\0';
	check_int(strlen(prefix), 253);
	check(prefix[252] == 'a' && prefix[251] == '.');
	snprintf(key, sizeof(key), "%s/%.63s", prefix, qrep('n', 63) + 1);
	snprintf(json, sizeof(json), "{\"%s\":\"x\"}", key);
	check_int(tpl_decode(F_LABELS, json, 0, NULL, &pod), 0);
	check_str(kobj_label_key(&pod, 0), key);
	snprintf(json, sizeof(json), "{\"%sp/n\":\"x\"}", prefix);
	check_int(
	    tpl_decode(F_LABELS, json, 0, NULL, &pod), KOBJ_E_LABEL_SYNTAX);
	snprintf(json, sizeof(json), "{\"%s/%.64s\":\"x\"}", prefix,
	    qrep('n', 64) + 1);
	check_int(
	    tpl_decode(F_LABELS, json, 0, NULL, &pod), KOBJ_E_LABEL_SYNTAX);
}

/* ---- watch events ------------------------------------------------------- */

static int
event(const char *s, struct kobj_event *ev)
{
	size_t n = strlen(s);

	return kobj_event_decode(guard_copy(s, n), n, toks, NTOK, ev);
}

/* Decodes the lines of data/watch.jsonl in order. */
static void
t_watch_stream(void)
{
	static const enum kobj_ev want[] = {KOBJ_EV_ADDED, KOBJ_EV_MODIFIED,
	    KOBJ_EV_BOOKMARK, KOBJ_EV_DELETED, KOBJ_EV_ADDED, KOBJ_EV_ERROR};
	static struct kobj_event ev;
	size_t n = read_data("watch.jsonl"), i = 0;
	char *line = filebuf, *nl;

	while (
	    i < 6 && (nl = memchr(line, '\n', n - (size_t)(line - filebuf)))) {
		check_int(
		    kobj_event_decode(guard_copy(line, (size_t)(nl - line)),
		        (size_t)(nl - line), toks, NTOK, &ev),
		    0);
		check_int(ev.type, want[i]);
		if (i == 0)
			check_str(ev.pod.name, "export-nightly");
		if (i == 1)
			check_str(ev.rv, "1843921");
		if (i == 2)
			check_str(ev.rv, "1844301");
		if (i == 3)
			check(ev.pod.terminating && ev.pod.has_ip6);
		if (i == 4)
			check(ev.pod.host_network);
		if (i == 5) {
			check_int(ev.status.code, 410);
			check(kobj_status_is_gone(&ev.status));
			check(ev.status.reason_len == 7 &&
			    memcmp(ev.status.reason, "Expired", 7) == 0);
			check_int(ev.status.message_len,
			    strlen("too old resource version: 1790032 "
			           "(1844107)"));
		}
		line = nl + 1;
		i++;
	}
	check_int(i, 6);
	check(line == filebuf + n);
}

/* Every prefix of every event is refused without reading past it. */
static void
t_watch_prefixes(void)
{
	static struct kobj_event ev;
	size_t n = read_data("watch.jsonl"), k, len;
	char *line = filebuf, *nl;

	while ((nl = memchr(line, '\n', n - (size_t)(line - filebuf)))) {
		len = (size_t)(nl - line);
		for (k = 0; k < len; k++)
			check(kobj_event_decode(
			          guard_copy(line, k), k, toks, NTOK, &ev) < 0);
		line = nl + 1;
	}
}

static void
t_event_errors(void)
{
	static struct kobj_event ev;

	check_int(event("", &ev), JSON_E_EMPTY);
	check_int(event("{\"type\":\"ADDED\",", &ev), JSON_E_PARTIAL);
	check_int(event("[]", &ev), KOBJ_E_EVENT);
	check_int(event("{\"type\":\"ADDED\"}", &ev), KOBJ_E_EVENT);
	check_int(event("{\"object\":{}}", &ev), KOBJ_E_EVENT);
	check_int(event("{\"type\":5,\"object\":{}}", &ev), KOBJ_E_EVENT);
	check_int(
	    event("{\"type\":\"ADDED\",\"object\":[]}", &ev), KOBJ_E_EVENT);
	check_int(
	    event("{\"type\":\"ADDED\",\"type\":\"ADDED\",\"object\":{}}", &ev),
	    KOBJ_E_EVENT);
	check_int(
	    event("{\"type\":\"UPDATED\",\"object\":{}}", &ev), KOBJ_E_EVTYPE);
	check_int(
	    event("{\"type\":\"added\",\"object\":{}}", &ev), KOBJ_E_EVTYPE);
	check_int(
	    event("{\"type\":\"ADDED\",\"object\":{}}", &ev), KOBJ_E_METADATA);
	check_int(ev.type, KOBJ_EV_ADDED);
	check_int(event("{\"type\":\"BOOKMARK\",\"object\":{}}", &ev),
	    KOBJ_E_METADATA);
	check_int(
	    event("{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{}}}", &ev),
	    KOBJ_E_RV);
	check_int(event("{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Node\","
	                "\"metadata\":{\"resourceVersion\":\"5\"}}}",
	              &ev),
	    KOBJ_E_KIND);
	check_int(event("{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{"
	                "\"resourceVersion\":\"5\"}}}",
	              &ev),
	    0);
	check_str(ev.rv, "5");
	check_int(
	    event("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Pod\"}}", &ev),
	    KOBJ_E_KIND);
	check_int(
	    event("{\"type\":\"ERROR\",\"object\":{\"code\":\"410\"}}", &ev),
	    KOBJ_E_APISTATUS);
	check_int(
	    event("{\"type\":\"ERROR\",\"object\":{\"code\":4.1e2}}", &ev),
	    KOBJ_E_APISTATUS);
	check_int(event("{\"type\":\"ERROR\",\"object\":{\"code\":1000}}", &ev),
	    KOBJ_E_APISTATUS);
	check_int(event("{\"type\":\"ERROR\",\"object\":{\"code\":-1}}", &ev),
	    KOBJ_E_APISTATUS);
	check_int(event("{\"type\":\"ERROR\",\"object\":{\"reason\":5}}", &ev),
	    KOBJ_E_APISTATUS);
	check_int(
	    event("{\"type\":\"ERROR\",\"object\":{\"message\":[]}}", &ev),
	    KOBJ_E_APISTATUS);
	check_int(event("{\"type\":\"ERROR\",\"object\":{}}", &ev), 0);
	check_int(ev.status.code, 0);
	check(ev.status.reason == NULL && ev.status.message == NULL);
	check(!kobj_status_is_gone(&ev.status));
}

/* A MODIFIED pod that no longer fits still names itself. */
static void
t_event_refused_pod(void)
{
	static struct kobj_event ev;
	static struct tpl t;
	static char line[sizeof(t.buf) + 64];

	tpl_build(
	    &t, F_LABELS, labels_json(LIM_KOBJ_LABELS + 1, 1, 0), 0, NULL);
	snprintf(
	    line, sizeof(line), "{\"type\":\"MODIFIED\",\"object\":%s}", t.buf);
	check_int(event(line, &ev), KOBJ_E_LABEL_COUNT);
	check_int(ev.type, KOBJ_EV_MODIFIED);
	check_str(ev.pod.uid, "8c2b6f0e-41d3-4e6a-9f5c-2a7b1d0e3c94");
	check_str(ev.pod.ns, "shop");
	check_str(ev.pod.name, "web-1");
	check_str(ev.rv, "42");
}

/* 410 as an HTTP error body and as a watch ERROR event. */
static void
t_gone_both_forms(void)
{
	static struct kobj_event ev;
	struct kobj_status st;
	struct json_doc doc;
	size_t n = read_data("status-410.json");

	check(json_parse(&doc, guard_copy(filebuf, n), n, toks, NTOK) > 0);
	check_int(kobj_status_decode(&doc, 0, &st), 0);
	check_int(st.code, 410);
	check(kobj_status_is_gone(&st));
	check(st.reason_len == 7 && memcmp(st.reason, "Expired", 7) == 0);
	check(st.message_len > 100);
	check_int(event("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\","
	                "\"apiVersion\":\"v1\",\"metadata\":{},\"status\":"
	                "\"Failure\",\"message\":\"The resourceVersion for "
	                "the provided watch is too old.\",\"reason\":\"Gone\","
	                "\"code\":410}}",
	              &ev),
	    0);
	check_int(ev.type, KOBJ_EV_ERROR);
	check(kobj_status_is_gone(&ev.status));
	check(ev.status.reason_len == 4);
	/* code alone, reason alone */
	check_int(
	    event("{\"type\":\"ERROR\",\"object\":{\"code\":410}}", &ev), 0);
	check(kobj_status_is_gone(&ev.status));
	check(ev.status.reason == NULL && ev.status.reason_len == 0);

	check_int(event("{\"type\":\"ERROR\",\"object\":{\"reason\":"
	                "\"Expired\"}}",
	              &ev),
	    0);
	check(kobj_status_is_gone(&ev.status));
	check_int(event("{\"type\":\"ERROR\",\"object\":{\"reason\":"
	                "\"InternalError\",\"code\":500}}",
	              &ev),
	    0);
	check(!kobj_status_is_gone(&ev.status));
	check_int(kobj_status_decode(&doc, 99, &st), KOBJ_E_NOTOBJ);
}

/* ---- lists --------------------------------------------------------------- */

static void
t_list(void)
{
	static const char *const names[] = {"web-7c9d8f6b5-x2k4p", "ledger-1",
	    "kube-proxy-8zq5d", "export-nightly"};
	static struct kobj_list list;
	struct kobj_pod pod;
	size_t n = read_data("podlist.json");
	int i = 0, r;

	check_int(
	    kobj_list_decode(guard_copy(filebuf, n), n, toks, NTOK, &list), 0);
	printf("podlist.json: %zu bytes, %d tokens, %d pods\n", n,
	    list.doc.ntok, list.nitems);
	check_str(list.rv, "1844320");
	check(strncmp(list.cont, "eyJ2Ijoi", 8) == 0);
	check_int(list.nitems, 4);
	while ((r = kobj_list_next(&list, &pod)) == 1 && i < 4)
		check_str(pod.name, names[i++]);
	check_int(r, 0);
	check_int(i, 4);
	check_int(kobj_list_next(&list, &pod), 0);
}

static int
decode_list(const char *s, struct kobj_list *l)
{
	size_t n = strlen(s);

	return kobj_list_decode(guard_copy(s, n), n, toks, NTOK, l);
}

static void
t_list_items(void)
{
	static struct kobj_list l;
	static struct tpl t;
	static char buf[3 * sizeof(t.buf)];
	struct kobj_pod pod;
	int n;

	/* a refused item between two good ones: reported, then skipped */
	n = snprintf(buf, sizeof(buf),
	    "{\"metadata\":{\"resourceVersion\":\"7\"},\"items\":[%s,",
	    tpl_build(&t, 0, NULL, 0, NULL));
	n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s,",
	    tpl_build(&t, F_UID, "7", 0, NULL));
	snprintf(buf + n, sizeof(buf) - (size_t)n, "%s]}",
	    tpl_build(&t, F_NAME, "\"web-2\"", 0, NULL));
	check_int(decode_list(buf, &l), 0);
	check_str(l.cont, "");
	check_int(l.nitems, 3);
	check_int(kobj_list_next(&l, &pod), 1);
	check_str(pod.name, "web-1");
	check_int(kobj_list_next(&l, &pod), KOBJ_E_UID);
	check_int(kobj_list_next(&l, &pod), 1);
	check_str(pod.name, "web-2");
	check_int(kobj_list_next(&l, &pod), 0);
}

static void
t_list_errors(void)
{
	static char buf[LIM_KOBJ_CONTINUE_BYTES + 128];
	static struct kobj_list l;
	struct kobj_pod pod;

	check_int(
	    decode_list("{\"metadata\":{\"resourceVersion\":\"7\"},\"items\":"
	                "null}",
	        &l),
	    0);
	check_int(l.nitems, 0);
	check_int(kobj_list_next(&l, &pod), 0);
	check_int(
	    decode_list("{\"metadata\":{\"resourceVersion\":\"7\"},\"items\":"
	                "[]}",
	        &l),
	    0);
	check_int(kobj_list_next(&l, &pod), 0);
	check_int(decode_list("[]", &l), KOBJ_E_NOTOBJ);
	check_int(decode_list("{\"kind\":\"NodeList\",\"metadata\":{"
	                      "\"resourceVersion\":\"7\"},\"items\":[]}",
	              &l),
	    KOBJ_E_KIND);
	check_int(decode_list("{\"items\":[]}", &l), KOBJ_E_METADATA);
	check_int(decode_list("{\"metadata\":{},\"items\":[]}", &l), KOBJ_E_RV);
	check_int(decode_list("{\"metadata\":{\"resourceVersion\":\"7\"}}", &l),
	    KOBJ_E_ITEMS);
	check_int(
	    decode_list(
	        "{\"metadata\":{\"resourceVersion\":\"7\"},\"items\":{}}", &l),
	    KOBJ_E_ITEMS);
	check_int(
	    decode_list("{\"metadata\":{\"resourceVersion\":\"7\",\"continue\":"
	                "5},\"items\":[]}",
	        &l),
	    KOBJ_E_CONTINUE);
	check_int(
	    decode_list("{\"metadata\":{\"resourceVersion\":\"7\",\"continue\":"
	                "\"a b\"},\"items\":[]}",
	        &l),
	    KOBJ_E_CONTINUE);
	snprintf(buf, sizeof(buf),
	    "{\"metadata\":{\"resourceVersion\":\"7\",\"continue\":%s},"
	    "\"items\":[]}",
	    qrep('c', LIM_KOBJ_CONTINUE_BYTES));
	check_int(decode_list(buf, &l), 0);
	check_int(strlen(l.cont), LIM_KOBJ_CONTINUE_BYTES);
	snprintf(buf, sizeof(buf),
	    "{\"metadata\":{\"resourceVersion\":\"7\",\"continue\":%s},"
	    "\"items\":[]}",
	    qrep('c', LIM_KOBJ_CONTINUE_BYTES + 1));
	check_int(decode_list(buf, &l), KOBJ_E_CONTINUE);
}

/* An event of exactly LIM_KOBJ_EVENT_TOKENS tokens decodes; one more
 * token and it does not fit the array sized by that limit. */
static void
t_event_token_limit(void)
{
	static struct kobj_event ev;
	static struct tpl t;
	static char line[2 * LIM_KOBJ_EVENT_TOKENS + sizeof(t.buf) + 64];
	struct json_doc doc;
	size_t o, k;
	int base, pad;

	tpl_build(&t, 0, NULL, 0, NULL);
	o = (size_t)snprintf(
	    line, sizeof(line), "{\"type\":\"ADDED\",\"object\":%s}", t.buf);
	base = json_parse(&doc, line, o, toks, NTOK);
	check(base > 0);
	/* ,"pad":[0,0,...] after "object": 2 tokens + one per 0 */
	for (pad = 0; pad < 2; pad++) {
		o = (size_t)snprintf(line, sizeof(line),
		    "{\"type\":\"ADDED\",\"object\":%s,\"pad\":[", t.buf);
		for (k = 0;
		     k < LIM_KOBJ_EVENT_TOKENS - (size_t)base - 2 + (size_t)pad;
		     k++) {
			memcpy(line + o, k ? ",0" : "0", k ? 2 : 1);
			o += k ? 2 : 1;
		}
		memcpy(line + o, "]}", 3);
		o += 2;
		check_int(kobj_event_decode(guard_copy(line, o), o, toks,
		              LIM_KOBJ_EVENT_TOKENS, &ev),
		    pad ? JSON_E_NOMEM : 0);
		if (!pad)
			check_int(ev.doc.ntok, LIM_KOBJ_EVENT_TOKENS);
	}
}

static void
t_strerror(void)
{
	int e;

	for (e = KOBJ_E_NOTOBJ; e >= KOBJ_E_LAST; e--)
		check(kobj_strerror(e) != NULL &&
		    strcmp(kobj_strerror(e), "unknown error") != 0);
	check_str(kobj_strerror(KOBJ_E_LAST - 1), "unknown error");
	check_str(kobj_strerror(JSON_E_DEPTH), json_strerror(JSON_E_DEPTH));
	check_str(kobj_strerror(-50), "unknown error");
}

/* Tokens per pod with and without managedFields, for sizing. */
static void
t_token_counts(void)
{
	static const char *const files[] = {"pod-running.json",
	    "pod-dualstack-terminating.json", "pod-hostnet.json",
	    "pod-pending.json"};
	struct json_doc doc;
	size_t i, n;
	int all, mf, r;

	for (i = 0; i < sizeof(files) / sizeof(*files); i++) {
		n = read_data(files[i]);
		all = json_parse(&doc, filebuf, n, toks, NTOK);
		check(all > 0);
		r = json_obj_get(
		    &doc, json_obj_get(&doc, 0, "metadata"), "managedFields");
		mf = r >= 0 ? json_next(&doc, r) - r + 1 : 0;
		printf("%s: %d tokens, %d of them managedFields\n", files[i],
		    all, mf);
		check(all < 1000);
	}
}

/*
 * Members read in one pass (json_obj_getv): a member given twice, also
 * once escaped, is refused with that member's error, as json_obj_get did;
 * an escaped key alone is read.  Pods written out in full.
 */
static void
t_dup_members(void)
{
#define M(meta, spec, status)                                                  \
	"{\"kind\":\"Pod\",\"metadata\":{\"uid\":\"8c2b6f0e-41d3-4e6a\","      \
	"\"namespace\":\"shop\",\"resourceVersion\":\"4\"," meta "},"          \
	"\"spec\":{\"containers\":[]" spec "},\"status\":{" status "}}"
	static const struct {
		const char *in;
		int err;
	} c[] = {
	    {M("\"name\":\"web\"", "", ""), 0},
	    {M("\"n\\u0061me\":\"web\"", "", ""), 0},
	    {M("\"name\":\"web\",\"name\":\"web\"", "", ""), KOBJ_E_NAME},
	    {M("\"name\":\"web\",\"n\\u0061me\":\"x\"", "", ""), KOBJ_E_NAME},
	    {M("\"name\":\"web\",\"labels\":{},\"labels\":{}", "", ""),
	        KOBJ_E_LABELS},
	    {M("\"name\":\"web\"", ",\"containers\":[]", ""),
	        KOBJ_E_CONTAINERS},
	    {M("\"name\":\"web\"", ",\"hostNetwork\":true,\"hostNetwork\":true",
	         ""),
	        KOBJ_E_HOSTNET},
	    {M("\"name\":\"web\"", "",
	         "\"phase\":\"Running\",\"phase\":\"Running\""),
	        KOBJ_E_PHASE},
	    {M("\"name\":\"web\"", "", "\"podIP\":\"\",\"p\\u006fdIP\":\"\""),
	        KOBJ_E_IP},
	};
#undef M
	struct json_doc doc;
	struct kobj_pod pod;
	size_t i, n;

	for (i = 0; i < sizeof(c) / sizeof(*c); i++) {
		n = strlen(c[i].in);
		check(json_parse(&doc, guard_copy(c[i].in, n), n, toks, NTOK) >
		    0);
		check_int(kobj_pod_decode(&doc, 0, &pod), c[i].err);
		if (c[i].err == 0)
			check_str(pod.name, "web");
	}
	n = strlen("{\"metadata\":{},\"metadata\":{}}");
	check(
	    json_parse(&doc, guard_copy("{\"metadata\":{},\"metadata\":{}}", n),
	        n, toks, NTOK) > 0);
	check_int(kobj_pod_decode(&doc, 0, &pod), KOBJ_E_METADATA);
}

int
main(void)
{
	test(t_pod_running, "pod: running, drops ALL");
	test(t_pod_dualstack, "pod: dual-stack, terminating, debug container");
	test(t_pod_hostnet, "pod: hostNetwork, privileged");
	test(t_pod_pending, "pod: pending, adds cap_net_raw");
	test(t_template_ok, "template pod decodes");
	test(t_field_errors, "every field's type and syntax errors");
	test(t_dup_members, "members given twice, escaped keys");
	test(t_identity_kept_on_error, "refused pod keeps its identity");
	test(t_ip_variants, "podIP fallback, v6-only, dual-stack");
	test(t_flags, "terminating, hostNetwork, phases, no SA");
	test(t_net_raw, "NET_RAW variations");
	test(t_name_limits, "uid/namespace/name/sa/rv at N and N+1");
	test(t_label_limits, "label count and pool at N and N+1");
	test(t_label_key_limits, "label key prefix and name at N and N+1");
	test(t_watch_stream, "watch stream fixture, in order");
	test(t_watch_prefixes, "every prefix of every event refused");
	test(t_event_errors, "event shape errors, bookmark, ERROR status");
	test(t_event_refused_pod, "refused MODIFIED pod still names itself");
	test(t_gone_both_forms, "410: HTTP body and watch ERROR");
	test(t_list, "list page fixture");
	test(t_list_items, "list: a refused item does not stop iteration");
	test(t_list_errors, "list errors, continue at N and N+1");
	test(t_event_token_limit, "event tokens at N and N+1");
	test(t_strerror, "every error has a name");
	test(t_token_counts, "token counts per pod");
	return harness_done();
}
