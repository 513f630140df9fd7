/*
 * Watch ingest benchmark (issue 3): 250 realistic pods (managedFields,
 * Helm-style labels, one in four dual-stack, shaped as
 * tests/agent/data/pod-running.json) as MODIFIED watch event lines, the
 * whole stream replayed over and over through the path kube.c takes:
 * lines.c framing in 16 KiB pieces (a TLS record), kobj_event_decode and
 * podcache_upsert with policy/examples/team.pol compiled by pol_slot_load.
 * Prints, beside their anchors measured in the same run:
 *   - events/s of that path (goal >= 100,000/s on one core), beside
 *     json_parse alone on the same lines (the floor: tokenizing and
 *     validating the JSON), and decode without the cache between them;
 *     the replayed events change nothing the cache keeps (as most
 *     MODIFIED events: status times, resourceVersion), so the path is
 *     also timed on a stream where every event relabels its pod (a label
 *     value flips each round): the cache rewrites the record and the
 *     policy matches the pod again;
 *   - rates per second of this thread's CPU time, so that the other
 *     processes of a shared box do not count;
 *   - memory per pod record (struct podcache_entry, its strings inline:
 *     how much of its pool these pods use, how many spill) beside the
 *     decoded struct kobj_pod, and the address space per slot of a whole
 *     cache.
 * Resident memory of the real daemon with 250 pods is measured by
 * bench/watch_rss_bench.sh (it needs the fake API server).  Run from the
 * top of the tree (`make bench`): the policy is read from there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/json.h"

#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>
#include "agent/kobj.h"
#include "agent/limits.h"
#include "agent/lines.h"
#include "agent/podcache.h"
#include "policy/policy.h"

#define NPODS     250
#define ROUNDS    40     /* stream replays per timed run (even) */
#define RUNS      5      /* timed runs; the best is kept */
#define PIECE     16384u /* bytes pushed at a time: one TLS record */
#define LINE_MAX_ 8192u  /* room for one generated event line */
#define POLICY    "policy/examples/team.pol"
#define NRATES    5 /* figures of bench() */

/*
 * One MODIFIED event, compact as the API server sends it.  @KEY@ is
 * replaced by the pod's value (see gen_event); the rest is
 * tests/agent/data/pod-running.json.
 */
static const char event_tmpl[] =
    "{\"type\":\"MODIFIED\",\"object\":{\"apiVersion\":\"v1\",\"kind\":"
    "\"Pod\",\"metadata\":{\"annotations\":{\"kubectl.kubernetes.io/res"
    "tartedAt\":\"2026-11-27T09:14:02Z\",\"prometheus.io/port\":\"9090"
    "\",\"prometheus.io/scrape\":\"true\"},\"creationTimestamp\":\"2026"
    "-11-28T10:02:17Z\",\"generateName\":\"@APP@-@HASH@-\",\"labels\":{"
    "@LABELS@},\"managedFields\":[{\"apiVersion\":\"v1\",\"fieldsType\""
    ":\"FieldsV1\",\"fieldsV1\":{\"f:metadata\":{\"f:annotations\":{\"."
    "\":{},\"f:kubectl.kubernetes.io/restartedAt\":{},\"f:prometheus.io"
    "/port\":{},\"f:prometheus.io/scrape\":{}},\"f:generateName\":{},\""
    "f:labels\":{\".\":{}@FLABELS@},\"f:ownerReferences\":{\".\":{},\"k"
    ":{\\\"uid\\\":\\\"@OWNER@\\\"}\":{}}},\"f:spec\":{\"f:containers\""
    ":{\"k:{\\\"name\\\":\\\"@APP@\\\"}\":{\".\":{},\"f:env\":{\".\":{}"
    ",\"k:{\\\"name\\\":\\\"AZURE_CLIENT_ID\\\"}\":{\".\":{},\"f:name\""
    ":{},\"f:value\":{}}},\"f:image\":{},\"f:imagePullPolicy\":{},\"f:n"
    "ame\":{},\"f:ports\":{\".\":{},\"k:{\\\"containerPort\\\":8080,\\"
    "\"protocol\\\":\\\"TCP\\\"}\":{\".\":{},\"f:containerPort\":{},\"f"
    ":name\":{},\"f:protocol\":{}}},\"f:resources\":{\".\":{},\"f:limit"
    "s\":{\".\":{},\"f:memory\":{}},\"f:requests\":{\".\":{},\"f:cpu\":"
    "{},\"f:memory\":{}}},\"f:securityContext\":{\".\":{},\"f:allowPriv"
    "ilegeEscalation\":{},\"f:capabilities\":{\".\":{},\"f:drop\":{}},"
    "\"f:readOnlyRootFilesystem\":{},\"f:runAsNonRoot\":{}},\"f:termina"
    "tionMessagePath\":{},\"f:terminationMessagePolicy\":{}}},\"f:dnsPo"
    "licy\":{},\"f:enableServiceLinks\":{},\"f:restartPolicy\":{},\"f:s"
    "chedulerName\":{},\"f:securityContext\":{\".\":{},\"f:fsGroup\":{}"
    "},\"f:serviceAccount\":{},\"f:serviceAccountName\":{},\"f:terminat"
    "ionGracePeriodSeconds\":{}}},\"manager\":\"kube-controller-manager"
    "\",\"operation\":\"Update\",\"time\":\"2026-11-28T10:02:17Z\"},{\""
    "apiVersion\":\"v1\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:"
    "status\":{\"f:conditions\":{\"k:{\\\"type\\\":\\\"ContainersReady"
    "\\\"}\":{\".\":{},\"f:lastProbeTime\":{},\"f:lastTransitionTime\":"
    "{},\"f:status\":{},\"f:type\":{}},\"k:{\\\"type\\\":\\\"Initialize"
    "d\\\"}\":{\".\":{},\"f:lastProbeTime\":{},\"f:lastTransitionTime\""
    ":{},\"f:status\":{},\"f:type\":{}},\"k:{\\\"type\\\":\\\"Ready\\\""
    "}\":{\".\":{},\"f:lastProbeTime\":{},\"f:lastTransitionTime\":{},"
    "\"f:status\":{},\"f:type\":{}}},\"f:containerStatuses\":{},\"f:hos"
    "tIP\":{},\"f:hostIPs\":{},\"f:phase\":{},\"f:podIP\":{},\"f:podIPs"
    "\":{\".\":{},@FPODIPS@},\"f:startTime\":{}}},\"manager\":\"kubelet"
    "\",\"operation\":\"Update\",\"subresource\":\"status\",\"time\":\""
    "2026-11-28T10:02:21Z\"}],\"name\":\"@NAME@\",\"namespace\":\"@NS@"
    "\",\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"blockOwnerDe"
    "letion\":true,\"controller\":true,\"kind\":\"ReplicaSet\",\"name\""
    ":\"@APP@-@HASH@\",\"uid\":\"@OWNER@\"}],\"resourceVersion\":\"@RV@"
    "\",\"uid\":\"@UID@\"},\"spec\":{\"containers\":[{\"env\":[{\"name"
    "\":\"AZURE_CLIENT_ID\",\"value\":\"@CID@\"}],\"image\":\"registry."
    "example.com/@NS@/@APP@:1.14.2\",\"imagePullPolicy\":\"IfNotPresent"
    "\",\"name\":\"@APP@\",\"ports\":[{\"containerPort\":8080,\"name\":"
    "\"http\",\"protocol\":\"TCP\"}],\"resources\":{\"limits\":{\"memor"
    "y\":\"256Mi\"},\"requests\":{\"cpu\":\"100m\",\"memory\":\"128Mi\""
    "}},\"securityContext\":{\"allowPrivilegeEscalation\":false,\"capab"
    "ilities\":{\"drop\":[\"ALL\"]},\"readOnlyRootFilesystem\":true,\"r"
    "unAsNonRoot\":true},\"terminationMessagePath\":\"/dev/termination-"
    "log\",\"terminationMessagePolicy\":\"File\",\"volumeMounts\":[{\"m"
    "ountPath\":\"/var/run/secrets/kubernetes.io/serviceaccount\",\"nam"
    "e\":\"kube-api-access-@HASH5@\",\"readOnly\":true}]}],\"dnsPolicy"
    "\":\"ClusterFirst\",\"enableServiceLinks\":true,\"nodeName\":\"aks"
    "-nodepool1-31718369-vmss000002\",\"preemptionPolicy\":\"PreemptLow"
    "erPriority\",\"priority\":0,\"restartPolicy\":\"Always\",\"schedul"
    "erName\":\"default-scheduler\",\"securityContext\":{\"fsGroup\":20"
    "00},\"serviceAccount\":\"@SA@\",\"serviceAccountName\":\"@SA@\",\""
    "terminationGracePeriodSeconds\":30,\"tolerations\":[{\"effect\":\""
    "NoExecute\",\"key\":\"node.kubernetes.io/not-ready\",\"operator\":"
    "\"Exists\",\"tolerationSeconds\":300},{\"effect\":\"NoExecute\",\""
    "key\":\"node.kubernetes.io/unreachable\",\"operator\":\"Exists\","
    "\"tolerationSeconds\":300}],\"volumes\":[{\"name\":\"kube-api-acce"
    "ss-@HASH5@\",\"projected\":{\"defaultMode\":420,\"sources\":[{\"se"
    "rviceAccountToken\":{\"expirationSeconds\":3607,\"path\":\"token\""
    "}},{\"configMap\":{\"items\":[{\"key\":\"ca.crt\",\"path\":\"ca.cr"
    "t\"}],\"name\":\"kube-root-ca.crt\"}},{\"downwardAPI\":{\"items\":"
    "[{\"fieldRef\":{\"apiVersion\":\"v1\",\"fieldPath\":\"metadata.nam"
    "espace\"},\"path\":\"namespace\"}]}}]}}]},\"status\":{\"conditions"
    "\":[{\"lastProbeTime\":null,\"lastTransitionTime\":\"2026-11-28T10"
    ":02:17Z\",\"status\":\"True\",\"type\":\"Initialized\"},{\"lastPro"
    "beTime\":null,\"lastTransitionTime\":\"2026-11-28T10:02:21Z\",\"st"
    "atus\":\"True\",\"type\":\"Ready\"},{\"lastProbeTime\":null,\"last"
    "TransitionTime\":\"2026-11-28T10:02:21Z\",\"status\":\"True\",\"ty"
    "pe\":\"ContainersReady\"},{\"lastProbeTime\":null,\"lastTransition"
    "Time\":\"2026-11-28T10:02:17Z\",\"status\":\"True\",\"type\":\"Pod"
    "Scheduled\"}],\"containerStatuses\":[{\"containerID\":\"containerd"
    "://4e1f0c9b8a7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1"
    "f\",\"image\":\"registry.example.com/@NS@/@APP@:1.14.2\",\"imageID"
    "\":\"registry.example.com/@NS@/@APP@@sha256:0d1f2e3c4b5a69788796a5"
    "b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0\",\"lastState\":{},\"na"
    "me\":\"@APP@\",\"ready\":true,\"restartCount\":0,\"started\":true,"
    "\"state\":{\"running\":{\"startedAt\":\"2026-11-28T10:02:20Z\"}}}]"
    ",\"hostIP\":\"10.224.0.5\",\"hostIPs\":[{\"ip\":\"10.224.0.5\"}],"
    "\"phase\":\"Running\",\"podIP\":\"@IP@\",\"podIPs\":[@PODIPS@],\"q"
    "osClass\":\"Burstable\",\"startTime\":\"2026-11-28T10:02:17Z\"}}}";

struct var {
	const char *key, *val;
};

/*
 * This thread's CPU time, seconds: the figure is per second of one core,
 * and time the scheduler gives other processes on a shared box (the
 * engineers' builds, say) does not count against podid.
 */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* VmSize of this process, KiB. */
static long
vm_kib(void)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");
	long vm = -1;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmSize:", 7) == 0)
			vm = strtol(line + 7, NULL, 10);
	if (f != NULL)
		fclose(f);
	return vm;
}

/* Copies tmpl to dst, each @KEY@ of v replaced; 0 when it does not fit. */
static size_t
expand(char *dst, size_t cap, const char *tmpl, const struct var *v, size_t nv)
{
	const char *p = tmpl, *end;
	size_t n = 0, i, len;

	while (*p != '\0') {
		i = nv;
		if (*p == '@' && (end = strchr(p + 1, '@')) != NULL)
			for (i = 0; i < nv; i++)
				if (strlen(v[i].key) == (size_t)(end - p - 1) &&
				    strncmp(
				        v[i].key, p + 1, strlen(v[i].key)) == 0)
					break;
		if (i == nv) { /* not a key (an image digest's '@') */
			if (n + 1 >= cap)
				return 0;
			dst[n++] = *p++;
			continue;
		}
		if (n + (len = strlen(v[i].val)) >= cap)
			return 0;
		memcpy(dst + n, v[i].val, len);
		n += len;
		p = end + 1;
	}
	dst[n] = '\0';
	return n;
}

/* A Helm-style label set: "k":"v" pairs and managedFields' "f:k":{}. */
static void
gen_labels(int i, int variant, const char *app, const char *hash, char *lab,
    char *flab, size_t cap)
{
	const char *k[8] = {"app", "tier", "app.kubernetes.io/name",
	    "app.kubernetes.io/instance", "app.kubernetes.io/managed-by",
	    "helm.sh/chart", "pod-template-hash", NULL};
	const char *v[8] = {app, i % 2 ? "api" : "worker", app,
	    variant ? "release-b" : "release-a", "Helm", "app-5.15.2", hash,
	    NULL};
	size_t nl = 0, nf = 0, j, n = 7;

	if (i % 10 == 4) { /* an AKS add-on: the policy's exception */
		k[n] = "kubernetes.azure.com/managedby";
		v[n++] = "aks";
	}
	for (j = 0; j < n; j++) {
		nl += (size_t)snprintf(lab + nl, cap - nl, "%s\"%s\":\"%s\"",
		    j ? "," : "", k[j], v[j]);
		nf +=
		    (size_t)snprintf(flab + nf, cap - nf, ",\"f:%s\":{}", k[j]);
	}
}

/* The IPs: podIP, podIPs' elements and managedFields' keys for them. */
struct gen_ips {
	char ip[40], ips[160], fips[320];
};

static void
gen_ips(int i, struct gen_ips *g)
{
	static const char fk[] = "\"k:{\\\"ip\\\":\\\"%s\\\"}\":{\".\":{},"
	                         "\"f:ip\":{}}";
	char ip6[40], f6[160];

	snprintf(g->ip, sizeof(g->ip), "10.244.%d.%d", i / 200, i % 200 + 10);
	snprintf(g->ips, sizeof(g->ips), "{\"ip\":\"%s\"}", g->ip);
	snprintf(g->fips, sizeof(g->fips), fk, g->ip);
	if (i % 4 != 0)
		return;
	snprintf(ip6, sizeof(ip6), "fd00:244::%x", i + 16);
	snprintf(f6, sizeof(f6), fk, ip6);
	snprintf(g->ips, sizeof(g->ips), "{\"ip\":\"%s\"},{\"ip\":\"%s\"}",
	    g->ip, ip6);
	snprintf(g->fips + strlen(g->fips), sizeof(g->fips) - strlen(g->fips),
	    ",%s", f6);
}

/*
 * Pod i as a MODIFIED event line (with its '\n') at dst; returns its
 * length.  Three in ten are the orders app (granted orders-mi), one the
 * reports app (reports-mi), one an AKS add-on (the exception), the rest
 * other teams' pods that the policy grants nothing.  Variant 1 differs in
 * one label value, of the same length.
 */
static size_t
gen_event(char *dst, size_t cap, int i, int variant)
{
	static const char *ns_of[10] = {"shop", "shop", "shop", "analytics",
	    "kube-system", "team-a", "team-b", "team-c", "team-d", "web"};
	char app[32], hash[16], name[64], uid[40], owner[40], rv[16];
	char sa[32], cid[40], lab[1024], flab[1024];
	struct gen_ips g;
	size_t n;

	snprintf(app, sizeof(app), "%s",
	    i % 10 < 3        ? "orders"
	        : i % 10 == 3 ? "reports"
	                      : "svc");
	if (i % 10 > 4)
		snprintf(app, sizeof(app), "svc%d", i % 23);
	snprintf(hash, sizeof(hash), "5d8f7c9%02x", i % 16);
	snprintf(name, sizeof(name), "%s-%s-x%04d", app, hash, i);
	snprintf(uid, sizeof(uid), "5f0c1a52-3a8e-4a55-9d1f-%012d", i);
	snprintf(owner, sizeof(owner), "3f1d2c4b-8a7e-4f60-9b1d-%012d", i % 16);
	snprintf(rv, sizeof(rv), "%d", 1843921 + i);
	snprintf(sa, sizeof(sa), "%s", i % 10 < 3 ? "orders" : "default");
	snprintf(cid, sizeof(cid), "5b1f4a2e-9c3d-4e8f-a6b7-%012d", i % 10);
	gen_labels(i, variant, app, hash, lab, flab, sizeof(lab));
	gen_ips(i, &g);
	{
		const struct var v[] = {{"APP", app}, {"HASH", hash},
		    {"HASH5", hash + 4}, {"NAME", name}, {"NS", ns_of[i % 10]},
		    {"UID", uid}, {"OWNER", owner}, {"RV", rv}, {"SA", sa},
		    {"CID", cid}, {"LABELS", lab}, {"FLABELS", flab},
		    {"IP", g.ip}, {"PODIPS", g.ips}, {"FPODIPS", g.fips}};

		n = expand(dst, cap - 1, event_tmpl, v, sizeof(v) / sizeof(*v));
	}
	if (n == 0)
		return 0;
	dst[n++] = '\n';
	return n;
}

/* The state of one watch stream, sized as kube.c sizes it (once). */
struct ingest {
	struct lines l;
	char *buf;             /* LIM_KOBJ_EVENT_BYTES + 1 */
	struct json_tok *toks; /* LIM_KOBJ_EVENT_TOKENS */
	struct kobj_event ev;
	struct podcache *pc; /* NULL: decode only */
	const struct pol *pol;
	unsigned events, upserts, failed, granted;
	uint64_t clock_ms;
};

/* One line as kube_event + kube_apply take it. */
static void
ingest_line(struct ingest *in, const char *line, size_t len)
{
	const struct podcache_entry *e;

	in->events++;
	if (kobj_event_decode(
	        line, len, in->toks, LIM_KOBJ_EVENT_TOKENS, &in->ev) != 0 ||
	    in->ev.type != KOBJ_EV_MODIFIED) {
		in->failed++;
		return;
	}
	if (in->pc == NULL)
		return;
	if (podcache_upsert(in->pc, &in->ev.pod, in->pol, in->clock_ms++) !=
	    0) {
		in->failed++;
		return;
	}
	in->upserts++;
	e = podcache_by_uid(in->pc, in->ev.pod.uid);
	in->granted += e != NULL && e->grants.verdict == POL_GRANT;
}

/* The whole stream in PIECE-byte pushes, as kube_body takes chunks. */
static void
ingest_stream(struct ingest *in, const char *s, size_t len)
{
	const char *line;
	size_t n, ll, piece;
	int rc;

	while (len > 0) {
		piece = len < PIECE ? len : PIECE;
		len -= piece;
		while (piece > 0) {
			n = lines_push(&in->l, s, piece);
			s += n;
			piece -= n;
			while ((rc = lines_next(&in->l, &line, &ll)) != 0)
				if (rc < 0)
					in->failed++;
				else if (ll > 0)
					ingest_line(in, line, ll);
		}
	}
}

/*
 * Seconds for ROUNDS replays of the stream s[0]; with s[1], even rounds
 * replay s[1] instead, so that every event changes its pod and the cache
 * ends as s[0] left it (ROUNDS is even).
 */
static double
time_ingest(struct ingest *in, char *const s[2], size_t len)
{
	double t0 = now();
	int r;

	for (r = 0; r < ROUNDS; r++)
		ingest_stream(
		    in, s[1] != NULL && r % 2 == 0 ? s[1] : s[0], len);
	return now() - t0;
}

/* The anchor: json_parse alone on each line; seconds for ROUNDS. */
static double
time_json(
    struct json_tok *toks, const char *s, const size_t *off, unsigned *ntok)
{
	struct json_doc doc;
	double t0 = now();
	int r, i, rc;

	*ntok = 0;
	for (r = 0; r < ROUNDS; r++)
		for (i = 0; i < NPODS; i++) {
			rc = json_parse(&doc, s + off[i],
			    off[i + 1] - off[i] - 1, toks,
			    LIM_KOBJ_EVENT_TOKENS);
			*ntok += rc > 0 ? (unsigned)rc : 0;
		}
	*ntok /= ROUNDS * NPODS;
	return now() - t0;
}

/*
 * The second anchor: jsmn (strict, parent links), the tokenizer json.c
 * replaced, alone on each line, without the checks podid needs on top.
 */
static double
time_jsmn(const char *s, const size_t *off)
{
	static jsmntok_t toks[LIM_KOBJ_EVENT_TOKENS];
	double t0 = now();
	jsmn_parser p;
	int r, i;

	for (r = 0; r < ROUNDS; r++)
		for (i = 0; i < NPODS; i++) {
			jsmn_init(&p);
			if (jsmn_parse(&p, s + off[i], off[i + 1] - off[i] - 1,
			        toks, LIM_KOBJ_EVENT_TOKENS) <= 0)
				return 1e9;
		}
	return now() - t0;
}

/*
 * The measurements interleaved, RUNS times, best of each kept as events/s:
 * [0] the whole path, [1] the same with every event a change (streams s[0]
 * and s[1] in turn), [2] without the cache, [3] json_parse alone, [4]
 * jsmn alone.
 */
static void
bench(struct ingest *in, char *const s[2], size_t len, const size_t *off,
    double rate[NRATES], unsigned *ntok)
{
	char *const one[2] = {s[0], NULL};
	struct podcache *pc = in->pc;
	double best[NRATES] = {1e9, 1e9, 1e9, 1e9, 1e9}, t;
	int run;

	for (run = 0; run < RUNS; run++) {
		in->pc = pc;
		if ((t = time_ingest(in, one, len)) < best[0])
			best[0] = t;
		if ((t = time_ingest(in, s, len)) < best[1])
			best[1] = t;
		in->pc = NULL;
		if ((t = time_ingest(in, one, len)) < best[2])
			best[2] = t;
		if ((t = time_json(in->toks, s[0], off, ntok)) < best[3])
			best[3] = t;
		if ((t = time_jsmn(s[0], off)) < best[4])
			best[4] = t;
	}
	in->pc = pc;
	for (run = 0; run < NRATES; run++)
		rate[run] = (double)ROUNDS * NPODS / best[run];
}

/* The stream: NPODS event lines; off[i] is line i's first byte. */
static char *
gen_stream(size_t *len, size_t *off, int variant)
{
	char *s = malloc((size_t)NPODS * LINE_MAX_);
	size_t n = 0, l;
	int i;

	for (i = 0; s != NULL && i < NPODS; i++) {
		off[i] = n;
		if ((l = gen_event(s + n, LINE_MAX_, i, variant)) == 0) {
			fprintf(stderr, "watch_bench: event %d too long\n", i);
			free(s);
			return NULL;
		}
		n += l;
	}
	off[NPODS] = n;
	*len = n;
	return s;
}

static int
load_policy(struct pol_slot *slot)
{
	struct pol_slot_limits lim = {LIM_POLICY_FILE_BYTES,
	    LIM_POLICY_AST_BYTES, LIM_POLICY_BYTES, LIM_POLICY_TOKEN_BYTES,
	    LIM_POLICY_VALUES, LIM_POLICY_DIAGS};
	struct pol_options opt = {false, LIM_POLICY_BYTES};

	if (pol_slot_new(slot, &lim) != 0) {
		perror("watch_bench: pol_slot_new");
		return -1;
	}
	if (pol_slot_load(slot, POLICY, &opt, false) != 0) {
		dsl_diags_print(stderr, &slot->file, &slot->diags);
		return -1;
	}
	return 0;
}

/* Memory: the record, its strings, the cache and a stream's buffers. */
static void
report_memory(const struct ingest *in, long slot_kib)
{
	const struct podcache_entry *e;
	unsigned cur = 0, n = 0, spilled = 0;
	size_t str = 0;

	while ((e = podcache_next(in->pc, &cur)) != NULL) {
		n++;
		spilled += e->spilled_;
		str += strlen(e->uid) + strlen(e->ns) + strlen(e->name) +
		    strlen(e->sa) + 4 + e->label_bytes;
	}
	printf("  %-26s %10zu bytes  per pod, strings inline: these use %.0f "
	       "of its %u pool bytes, %u of %u pods spill (anchor: struct "
	       "kobj_pod, %zu bytes)\n",
	    "record, podcache_entry", sizeof(struct podcache_entry),
	    n ? (double)str / n : 0.0, PODCACHE_INLINE_BYTES, spilled, n,
	    sizeof(struct kobj_pod));
	printf("  %-26s %10.0f bytes  of address space, every table (%u "
	       "slots; empty ones stay unresident)\n",
	    "cache, per slot",
	    (double)slot_kib * 1024 / LIM_PODCACHE_PODS_DEFAULT,
	    LIM_PODCACHE_PODS_DEFAULT);
	printf("  %-26s %10zu bytes  of address space per stream (line buffer, "
	       "tokens, kobj_event)\n",
	    "watch buffers",
	    (size_t)LIM_KOBJ_EVENT_BYTES + 1 +
	        LIM_KOBJ_EVENT_TOKENS * sizeof(struct json_tok) +
	        sizeof(struct kobj_event));
}

static void
report(const double rate[NRATES], const struct ingest *in, size_t len,
    unsigned ntok, long slot_kib)
{
	static const char *what[NRATES] = {"podid: the whole path",
	    "podid: whole, all changes", "podid: decode, no cache",
	    "anchor: json_parse alone", "anchor: jsmn alone"};
	static const char *note[NRATES] = {
	    "lines + kobj_event_decode + podcache_upsert; goal >= 100000/s",
	    "the same, each event relabels its pod: record and grants redone",
	    "lines + kobj_event_decode", "the floor, on the same lines",
	    "strict, parent links: tokens only, no checks "
	    "(docs/architecture.md)"};
	int i;

	printf("watch: %d pods as MODIFIED events of %zu bytes on average "
	       "(managedFields, 7-8 labels, %u JSON tokens), %s, one core, "
	       "per second of CPU time\n",
	    NPODS, len / NPODS, ntok, POLICY);
	printf("  %-26s %10s %9s\n", "", "events/s", "us/event");
	for (i = 0; i < NRATES; i++)
		printf("  %-26s %10.0f %9.1f  %s\n", what[i], rate[i],
		    1e6 / rate[i], note[i]);
	printf("  podid takes %.2fx the time of json_parse alone; %.1f MB/s "
	       "of watch stream\n",
	    rate[3] / rate[0], rate[0] * (double)len / NPODS / 1e6);
	report_memory(in, slot_kib);
	printf("  (%u events, %u upserts, %u of them granted, %u failed)\n",
	    in->events, in->upserts, in->granted, in->failed);
}

int
main(void)
{
	static size_t off[NPODS + 1], off2[NPODS + 1];
	static struct ingest in;
	static struct pol_slot slot;
	double rate[NRATES];
	unsigned ntok;
	size_t len, len2;
	char *s[2] = {NULL, NULL};
	long vm0;

	if (load_policy(&slot) != 0 ||
	    (s[0] = gen_stream(&len, off, 0)) == NULL ||
	    (s[1] = gen_stream(&len2, off2, 1)) == NULL || len2 != len)
		return 1;
	in.buf = malloc(LIM_KOBJ_EVENT_BYTES + 1);
	in.toks = malloc(LIM_KOBJ_EVENT_TOKENS * sizeof(*in.toks));
	if (in.buf == NULL || in.toks == NULL)
		return 1;
	lines_init(&in.l, in.buf, LIM_KOBJ_EVENT_BYTES + 1);
	vm0 = vm_kib();
	in.pc =
	    podcache_new(LIM_PODCACHE_PODS_DEFAULT, LIM_PODCACHE_QUARANTINE_MS);
	if (in.pc == NULL)
		return 1;
	vm0 = vm_kib() - vm0;
	in.pol = &slot.pol;
	time_ingest(&in, (char *const[2]){s[0], NULL}, len); /* adds the pods */
	in.events = in.upserts = in.failed = in.granted = 0;
	bench(&in, s, len, off, rate, &ntok);
	report(rate, &in, len, ntok, vm0);
	podcache_free(in.pc);
	pol_slot_free(&slot);
	free(in.buf);
	free(in.toks);
	free(s[0]);
	free(s[1]);
	return in.failed != 0;
}
