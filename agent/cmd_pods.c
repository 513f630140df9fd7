/*
 * podid pods: this node's pods as the cache holds them, with what the
 * policy would grant each -- the operator's "what would podid grant here".
 * Lists once and prints, or with --watch keeps printing changes (and the
 * whole cache again on SIGUSR1) until SIGINT/SIGTERM.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cmd.h"
#include "agent/kube.h"
#include "agent/limits.h"
#include "agent/log.h"
#include "policy/policy.h"

static const char pods_usage[] =
    "usage: podid pods [--policy FILE] [--watch] [--output text|json]\n"
    "                  [--kube-api URL] [--kube-token-file FILE]\n"
    "                  [--kube-ca-file FILE] [--node NAME] [--max-pods N]\n"
    "                  [--timeout SECONDS] [--log-level LEVEL]\n"
    "\n"
    "Lists this node's pods from the Kubernetes API as podid's cache holds\n"
    "them, with the identities --policy would grant each. In a pod, the\n"
    "API server, token and CA come from the service account; --node\n"
    "defaults to $NODE_NAME. --watch keeps printing changes; SIGUSR1 then\n"
    "prints the whole cache again. --output json prints one JSON object\n"
    "per line.\n";

struct pods_ctx {
	struct loop *loop;
	struct podcache *cache;
	struct kube *kube;
	const struct pol *policy;
	bool watch, json, done_ok;
	struct loop_timer deadline;
};

static void
pods_ips(const struct podcache_entry *e, char *buf, size_t len, bool json)
{
	char a[INET6_ADDRSTRLEN];
	size_t o = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < 2; i++) {
		if (!(e->ips & (1u << i)))
			continue;
		if (i == 0)
			inet_ntop(AF_INET, &e->ip[0].s6_addr[12], a, sizeof(a));
		else
			inet_ntop(AF_INET6, &e->ip[1], a, sizeof(a));
		o += (size_t)snprintf(buf + o, len - o,
		    json ? "%s\"%s\"" : "%s%s", o ? "," : "", a);
	}
	if (!json && o == 0)
		snprintf(buf, len, "-");
}

/* What the policy says, as text ("id (rule), ...") or a JSON member. */
static void
pods_grants(const struct pods_ctx *c, const struct podcache_entry *e, char *buf,
    size_t len)
{
	const struct pol_result *r = &e->grants;
	const struct pol *p = c->policy;
	size_t o = 0;
	uint32_t i;

	buf[0] = '\0';
	if (p == NULL || r->verdict == POL_DENY) {
		snprintf(buf, len,
		    c->json ? "\"verdict\":\"deny\",\"identities\":[]" : "-");
		return;
	}
	if (r->verdict == POL_EXCEPTION) {
		snprintf(buf, len,
		    c->json ? "\"verdict\":\"exception\",\"rule\":"
		              "\"%s\",\"identities\":[]"
		            : "exception %s (node IMDS)",
		    p->rules[r->exception].name.s);
		return;
	}
	if (c->json)
		o = (size_t)snprintf(
		    buf, len, "\"verdict\":\"grant\",\"identities\":[");
	for (i = 0; i < r->ngrants && o < len; i++) {
		const char *id = p->identities[r->grants[i].identity].name.s;
		const struct pol_rule *rule = &p->rules[r->grants[i].rule];

		o += (size_t)snprintf(buf + o, len - o,
		    c->json
		        ? "%s{\"identity\":\"%s\",\"rule\":\"%s\",\"line\":%u}"
		        : "%s%s (%s)",
		    i ? (c->json ? "," : ", ") : "", id, rule->name.s,
		    rule->line);
	}
	if (c->json && o < len)
		snprintf(buf + o, len - o, "]");
}

static void
pods_print(
    const struct pods_ctx *c, const struct podcache_entry *e, const char *event)
{
	char ips[128], grants[2048];

	pods_ips(e, ips, sizeof(ips), c->json);
	pods_grants(c, e, grants, sizeof(grants));
	if (c->json)
		printf(
		    "{%s%s%s\"uid\":\"%s\",\"namespace\":\"%s\",\"name\":\"%"
		    "s\","
		    "\"serviceAccount\":\"%s\",\"ips\":[%s],\"phase\":\"%s\","
		    "\"hostNetwork\":%s,\"terminating\":%s,\"netRaw\":%s,"
		    "\"live\":%s,%s}\n",
		    event ? "\"event\":\"" : "", event ? event : "",
		    event ? "\"," : "", e->uid, e->ns, e->name, e->sa, ips,
		    kobj_phase_name(e->phase),
		    e->host_network ? "true" : "false",
		    e->terminating ? "true" : "false",
		    e->net_raw ? "true" : "false", e->live ? "true" : "false",
		    grants);
	else
		printf("%s%-20s %-40s %-16s %-10s %s%s%s  %s\n",
		    event ? event : "", e->ns, e->name, ips,
		    kobj_phase_name(e->phase), e->host_network ? "H" : "-",
		    e->terminating ? "T" : "-", e->net_raw ? "R" : "-", grants);
}

static void
pods_dump(struct pods_ctx *c)
{
	const struct podcache_entry *e;
	unsigned cursor = 0, n = 0;

	if (c->json)
		printf("{\"dump\":\"begin\",\"resourceVersion\":\"%s\"}\n",
		    kube_rv(c->kube));
	else
		printf("%-20s %-40s %-16s %-10s %s  %s\n", "NAMESPACE", "NAME",
		    "IP", "PHASE", "HTR", "IDENTITIES (RULE)");
	while ((e = podcache_next(c->cache, &cursor)) != NULL) {
		pods_print(c, e, NULL);
		n++;
	}
	if (c->json)
		printf("{\"dump\":\"end\",\"pods\":%u}\n", n);
	fflush(stdout);
}

static void
pods_change(struct kube *k, enum kobj_ev ev, const struct kobj_pod *pod,
    const struct podcache_entry *e, void *arg)
{
	struct pods_ctx *c = arg;

	(void)k;
	if (!c->watch || !kube_stats(k)->synced)
		return;
	if (e != NULL)
		pods_print(c, e, ev == KOBJ_EV_ADDED ? "ADDED" : "MODIFIED");
	else if (c->json)
		printf("{\"event\":\"DELETED\",\"uid\":\"%s\",\"namespace\":"
		       "\"%s\",\"name\":\"%s\"}\n",
		    pod->uid, pod->ns, pod->name);
	else
		printf("DELETED %s/%s\n", pod->ns, pod->name);
	fflush(stdout);
}

static void
pods_synced(struct kube *k, void *arg)
{
	struct pods_ctx *c = arg;

	(void)k;
	loop_timer_cancel(c->loop, &c->deadline);
	pods_dump(c);
	c->done_ok = true;
	if (!c->watch)
		loop_stop(c->loop);
}

static void
pods_deadline(struct loop *l, struct loop_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	log_warnx("pods: no complete list of the node's pods in time");
	loop_stop(l);
}

static void
pods_signal(struct loop *l, int signo, void *arg)
{
	struct pods_ctx *c = arg;

	if (signo == SIGUSR1 && c->done_ok)
		pods_dump(c);
	else if (signo != SIGUSR1)
		loop_stop(l);
}

struct pods_opts {
	const char *policy, *api, *token, *ca, *node;
	unsigned max_pods, timeout_s, page, watch_s;
	bool watch, json;
};

static int
pods_parse(int argc, char **argv, struct pods_opts *o)
{
	static const struct option longopts[] = {
	    {"policy", required_argument, NULL, 'p'},
	    {"kube-api", required_argument, NULL, 'a'},
	    {"kube-token-file", required_argument, NULL, 't'},
	    {"kube-ca-file", required_argument, NULL, 'c'},
	    {"node", required_argument, NULL, 'n'},
	    {"watch", no_argument, NULL, 'w'},
	    {"output", required_argument, NULL, 'o'},
	    {"max-pods", required_argument, NULL, 'm'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"page-size", required_argument, NULL, 'P'},
	    {"watch-timeout", required_argument, NULL, 'W'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch, lvl;

	memset(o, 0, sizeof(*o));
	o->max_pods = LIM_PODCACHE_PODS_DEFAULT;
	o->timeout_s = 30;
	o->page = LIM_KUBE_PAGE_PODS;
	o->watch_s = LIM_KUBE_WATCH_S;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			o->policy = optarg;
			break;
		case 'a':
			o->api = optarg;
			break;
		case 't':
			o->token = optarg;
			break;
		case 'c':
			o->ca = optarg;
			break;
		case 'n':
			o->node = optarg;
			break;
		case 'w':
			o->watch = true;
			break;
		case 'o':
			if (strcmp(optarg, "json") != 0 &&
			    strcmp(optarg, "text") != 0)
				return -1;
			o->json = strcmp(optarg, "json") == 0;
			break;
		case 'm':
			if (cmd_uint("pods", "max-pods", optarg, 1,
			        LIM_PODCACHE_PODS_MAX, &o->max_pods) == -1)
				return -1;
			break;
		case 'T':
			if (cmd_uint("pods", "timeout", optarg, 1, 3600,
			        &o->timeout_s) == -1)
				return -1;
			break;
		case 'P':
			if (cmd_uint("pods", "page-size", optarg, 1, 500,
			        &o->page) == -1)
				return -1;
			break;
		case 'W':
			if (cmd_uint("pods", "watch-timeout", optarg, 2, 3600,
			        &o->watch_s) == -1)
				return -1;
			break;
		case 'l':
			if ((lvl = log_level_parse(optarg)) < 0)
				return -1;
			log_init((enum log_level)lvl, false);
			break;
		default:
			return -1;
		}
	}
	return optind == argc ? 0 : -1;
}

static int
pods_policy(struct pol_slot *slot, const char *path)
{
	struct pol_options opt = {.files_fatal = false};
	int rc;

	if (cmd_policy_slot_new(slot) == -1)
		return CMD_FAIL;
	rc = pol_slot_load(slot, path, &opt, false);
	dsl_diags_print(stderr, &slot->file, &slot->diags);
	return rc == 0 ? CMD_OK : CMD_CONFIG;
}

/* Everything sized and wired; then the loop runs until done. */
static int
pods_run(
    const struct pods_opts *o, struct kube_config *kc, const struct pol *policy)
{
	struct pem_anchors anchors;
	struct kube_hooks hooks = {pods_change, pods_synced, NULL};
	struct pods_ctx c;
	int rc = CMD_FAIL, n;

	memset(&c, 0, sizeof(c));
	memset(&anchors, 0, sizeof(anchors));
	c.watch = o->watch;
	c.json = o->json;
	c.policy = policy;
	hooks.arg = &c;
	if ((n = pem_anchors_load(&anchors, kc->ca_file)) < 0) {
		log_warnx("pods: CA file %s: %s", kc->ca_file, pem_strerror(n));
		return CMD_CONFIG;
	}
	if ((c.loop = loop_new(LIM_LOOP_FDS_CMD, LIM_LOOP_TIMERS_CMD)) ==
	        NULL ||
	    (c.cache = podcache_new(o->max_pods, LIM_PODCACHE_QUARANTINE_MS)) ==
	        NULL ||
	    (c.kube = kube_new(
	         c.loop, kc, &anchors, c.cache, &c.policy, &hooks)) == NULL) {
		log_warn("pods: start-up");
		goto out;
	}
	loop_signal(c.loop, SIGINT, pods_signal, &c);
	loop_signal(c.loop, SIGTERM, pods_signal, &c);
	loop_signal(c.loop, SIGUSR1, pods_signal, &c);
	loop_timer_init(&c.deadline, pods_deadline, &c);
	loop_timer_set(c.loop, &c.deadline, (uint64_t)o->timeout_s * 1000);
	if (kube_start(c.kube) == 0 && loop_run(c.loop) == 0 && c.done_ok)
		rc = CMD_OK;
out:
	kube_free(c.kube);
	podcache_free(c.cache);
	if (c.loop != NULL)
		loop_free(c.loop);
	pem_anchors_free(&anchors);
	return rc;
}

int
cmd_pods(int argc, char **argv)
{
	struct pods_opts o;
	struct kube_config kc;
	struct pol_slot slot;
	char err[256];
	int rc;

	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		fputs(pods_usage, stdout);
		return CMD_OK;
	}
	if (pods_parse(argc, argv, &o) == -1) {
		fputs(pods_usage, stderr);
		return CMD_USAGE;
	}
	if (kube_config_init(
	        &kc, o.api, o.token, o.ca, o.node, err, sizeof(err)) == -1) {
		fprintf(stderr, "podid pods: %s\n", err);
		return CMD_CONFIG;
	}
	kc.page_size = o.page;
	kc.watch_timeout_s = o.watch_s;
	memset(&slot, 0, sizeof(slot));
	if (o.policy != NULL && (rc = pods_policy(&slot, o.policy)) != CMD_OK) {
		pol_slot_free(&slot);
		return rc;
	}
	rc = pods_run(&o, &kc, o.policy ? &slot.pol : NULL);
	if (o.policy != NULL)
		pol_slot_free(&slot);
	return rc;
}
