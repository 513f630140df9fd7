/*
 * podid run: the node agent.  Everything is sized here, once: the policy
 * slots (the running one and a spare to load the next into), the pod
 * cache, the watch, the token cache and its fetchers, the listener and
 * its connection slots.  Then one loop runs until SIGTERM or SIGINT;
 * SIGHUP reloads the policy (a broken one never replaces a working one).
 */
#include <arpa/inet.h>
#include <bearssl.h>
#include <errno.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/aad.h"
#include "agent/cmd.h"
#include "agent/imds.h"
#include "agent/imdsc.h"
#include "agent/kube.h"
#include "agent/limits.h"
#include "agent/keeper.h"
#include "agent/ktoken.h"
#include "agent/log.h"
#include "agent/ops.h"
#include "agent/priv.h"
#include "agent/pwatch.h"
#include "agent/resolv.h"
#include "agent/server.h"
#include "agent/sources.h"

static const char run_usage[] =
    "usage: podid run --policy FILE [--listen ADDR:PORT] [--imds-endpoint "
    "URL]\n"
    "                 [--max-connections N] [--max-pods N] [--token-slots N]\n"
    "                 [--kube-api URL] [--kube-token-file FILE]\n"
    "                 [--kube-ca-file FILE] [--node NAME] [--host-ip IP]...\n"
    "                 [--log-level LEVEL] [--log-format json|text]\n"
    "                 [--user UID] [--group GID] [--seccomp on|off]\n"
    "                 [--rules keep|install|off] [--node-ip IP]\n"
    "                 [--ops-listen ADDR:PORT|off] [--aad-authority URL]\n"
    "                 [--ca-file FILE]\n"
    "\n"
    "Runs the node agent: answers pods' IMDS token requests (reached through\n"
    "the DNAT rule) for the identities --policy grants them. Defaults:\n"
    "--listen 0.0.0.0:2579, --imds-endpoint http://169.254.169.254,\n"
    "--max-connections 256, --max-pods 512, --token-slots 256. Once it\n"
    "listens it drops every capability, becomes --user/--group (default\n"
    "65534) and installs its seccomp allowlist. SIGHUP reloads the policy.\n"
    "--rules keep (the default as root) installs the interception rules\n"
    "(DNAT of 169.254.169.254:80 to --node-ip, default --listen's address)\n"
    "and keeps them in place from a helper holding CAP_NET_ADMIN alone;\n"
    "install only installs them; off leaves them to `podid rules install`.\n"
    "--ops-listen (default 127.0.0.1:2580) serves /healthz, /readyz,\n"
    "/metrics, and to loopback peers only /status for `podid selftest`.\n"
    "Service principals and federated identities get their tokens from\n"
    "Azure AD (--aad-authority replaces the policy's default\n"
    "https://login.microsoftonline.com), trusting --ca-file (default\n"
    "/etc/ssl/certs/ca-certificates.crt).\n";

struct run_opts {
	const char *policy, *listen, *imds, *api, *token, *ca, *node;
	const char *aad_authority, *aad_ca; /* NULL: defaults */
	unsigned max_conns, max_pods, token_slots;
	struct in6_addr local[LIM_SRV_LOCAL_ADDRS];
	unsigned nlocal;
	bool json, seccomp;
	enum log_level level;
	uid_t uid;
	gid_t gid;
	const char *rules;      /* keep, install or off */
	const char *ops_listen; /* the ops listener; NULL: off */
	struct in_addr node_ip; /* the DNAT target; 0: --listen's */
	/* The addresses above, parsed once by run_check_addrs. */
	struct sockaddr_storage listen_sa, ops_sa, imds_sa;
	socklen_t listen_len, ops_len, imds_len;
	char imds_hostport[128];
};

struct run {
	struct run_opts o;
	struct loop *loop;
	struct pol_slot slots[2];
	int running; /* index of the running slot, -1 before the first */
	const struct pol *policy;
	struct podcache *cache;
	struct kube *kube;
	struct tokcache *tokens;
	struct imdsc *imdsc;
	struct imds *imds;
	struct server *srv;
	struct pem_anchors anchors;
	struct keeper keeper;
	struct pwatch *pwatch; /* the policy file's watch; NULL: none */
	struct resolv *resolv; /* names of Azure AD authorities */
	struct ktoken *ktoken; /* TokenRequest, for federated identities */
	struct aad *aad;       /* Azure AD; NULL without its trust anchors */
	struct pem_anchors aad_anchors;
	char ready_detail[256];
	struct ops *ops;
	struct sources src; /* what /status, /metrics and selftest show */
	struct src_policy spol;
	struct src_rules srules;
};

static int
run_local_addr(struct run_opts *o, const char *s)
{
	struct in6_addr a;
	struct in_addr v4;

	memset(&a, 0, sizeof(a));
	if (inet_pton(AF_INET, s, &v4) == 1) {
		a.s6_addr[10] = a.s6_addr[11] = 0xff;
		memcpy(&a.s6_addr[12], &v4, 4);
	} else if (inet_pton(AF_INET6, s, &a) != 1)
		return -1;
	if (o->nlocal == LIM_SRV_LOCAL_ADDRS)
		return -1;
	o->local[o->nlocal++] = a;
	return 0;
}

/* The node's own addresses, for /host/token/: at start, once. */
static void
run_local_ifaddrs(struct run_opts *o)
{
	struct ifaddrs *ifa, *i;
	char buf[INET6_ADDRSTRLEN];

	if (getifaddrs(&ifa) == -1)
		return;
	for (i = ifa; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL)
			continue;
		if (i->ifa_addr->sa_family == AF_INET)
			inet_ntop(AF_INET,
			    &((struct sockaddr_in *)(void *)i->ifa_addr)
			         ->sin_addr,
			    buf, sizeof(buf));
		else if (i->ifa_addr->sa_family == AF_INET6)
			inet_ntop(AF_INET6,
			    &((struct sockaddr_in6 *)(void *)i->ifa_addr)
			         ->sin6_addr,
			    buf, sizeof(buf));
		else
			continue;
		(void)run_local_addr(o, buf);
	}
	freeifaddrs(ifa);
}

/*
 * Sanitizer builds run their leak check at exit with ptrace and clone,
 * which the allowlist forbids: there seccomp is off unless asked for.
 */
#if defined(__SANITIZE_ADDRESS__)
#define RUN_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RUN_SANITIZED 1
#endif
#endif
#ifndef RUN_SANITIZED
#define RUN_SANITIZED 0
#endif

/* A numeric user or group id (no name service: nothing to look up in). */
static int
run_id(const char *s, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v >= 0xffffffffUL)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int
run_parse(int argc, char **argv, struct run_opts *o)
{
	static const struct option longopts[] = {
	    {"policy", required_argument, NULL, 'p'},
	    {"listen", required_argument, NULL, 'L'},
	    {"imds-endpoint", required_argument, NULL, 'i'},
	    {"max-connections", required_argument, NULL, 'C'},
	    {"max-pods", required_argument, NULL, 'm'},
	    {"token-slots", required_argument, NULL, 'S'},
	    {"kube-api", required_argument, NULL, 'a'},
	    {"kube-token-file", required_argument, NULL, 't'},
	    {"kube-ca-file", required_argument, NULL, 'c'},
	    {"node", required_argument, NULL, 'n'},
	    {"host-ip", required_argument, NULL, 'H'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"log-format", required_argument, NULL, 'f'},
	    {"user", required_argument, NULL, 'u'},
	    {"group", required_argument, NULL, 'g'},
	    {"seccomp", required_argument, NULL, 's'},
	    {"rules", required_argument, NULL, 'r'},
	    {"node-ip", required_argument, NULL, 'N'},
	    {"ops-listen", required_argument, NULL, 'O'},
	    {"aad-authority", required_argument, NULL, 'A'},
	    {"ca-file", required_argument, NULL, 'T'},
	    {NULL, 0, NULL, 0},
	};
	int ch, lvl;

	memset(o, 0, sizeof(*o));
	o->listen = "0.0.0.0:2579";
	o->imds = "http://169.254.169.254";
	o->max_conns = LIM_SRV_CONNS_DEFAULT;
	o->max_pods = LIM_PODCACHE_PODS_DEFAULT;
	o->token_slots = LIM_TOK_SLOTS_DEFAULT;
	o->json = true;
	o->level = LOG_LVL_INFO;
	o->uid = PRIV_NOBODY;
	o->gid = PRIV_NOBODY;
	o->seccomp = !RUN_SANITIZED;
	o->rules = geteuid() == 0 ? "keep" : "off";
	o->ops_listen = "127.0.0.1:2580";
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			o->policy = optarg;
			break;
		case 'L':
			o->listen = optarg;
			break;
		case 'i':
			o->imds = optarg;
			break;
		case 'C':
			if (cmd_uint("run", "max-connections", optarg, 1,
			        LIM_SRV_CONNS_MAX, &o->max_conns) == -1)
				return -1;
			break;
		case 'm':
			if (cmd_uint("run", "max-pods", optarg, 1,
			        LIM_PODCACHE_PODS_MAX, &o->max_pods) == -1)
				return -1;
			break;
		case 'S':
			if (cmd_uint("run", "token-slots", optarg, 1,
			        LIM_TOK_SLOTS_MAX, &o->token_slots) == -1)
				return -1;
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
		case 'H':
			if (run_local_addr(o, optarg) == -1)
				return -1;
			break;
		case 'l':
			if ((lvl = log_level_parse(optarg)) < 0)
				return -1;
			o->level = (enum log_level)lvl;
			break;
		case 'f':
			if (strcmp(optarg, "json") != 0 &&
			    strcmp(optarg, "text") != 0)
				return -1;
			o->json = strcmp(optarg, "json") == 0;
			break;
		case 'u':
		case 'g':
			if (run_id(optarg, ch == 'u' ? &o->uid : &o->gid) == -1)
				return -1;
			break;
		case 's':
			if (strcmp(optarg, "on") != 0 &&
			    strcmp(optarg, "off") != 0)
				return -1;
			o->seccomp = strcmp(optarg, "on") == 0;
			break;
		case 'r':
			if (strcmp(optarg, "keep") != 0 &&
			    strcmp(optarg, "install") != 0 &&
			    strcmp(optarg, "off") != 0)
				return -1;
			o->rules = optarg;
			break;
		case 'N':
			if (inet_pton(AF_INET, optarg, &o->node_ip) != 1)
				return -1;
			break;
		case 'A':
			o->aad_authority = optarg;
			break;
		case 'T':
			o->aad_ca = optarg;
			break;
		case 'O':
			o->ops_listen =
			    strcmp(optarg, "off") == 0 ? NULL : optarg;
			break;
		default:
			return -1;
		}
	}
	if (o->policy == NULL)
		return -1;
	return optind == argc ? 0 : -1;
}

/*
 * The addresses on the command line, each checked before anything starts,
 * so a typo is named rather than failing later with a vaguer error.
 */
static int
run_check_addrs(struct run_opts *o)
{
	struct aad_url u;

	if (server_parse_addr(o->listen, &o->listen_sa, &o->listen_len) == -1) {
		log_warnx("run: --listen %s: not IP:PORT (port 1 to 65535)",
		    o->listen);
		return -1;
	}
	if (o->ops_listen != NULL &&
	    server_parse_addr(o->ops_listen, &o->ops_sa, &o->ops_len) == -1) {
		log_warnx(
		    "run: --ops-listen %s: not IP:PORT or off", o->ops_listen);
		return -1;
	}
	if (imdsc_endpoint(o->imds, &o->imds_sa, &o->imds_len, o->imds_hostport,
	        sizeof(o->imds_hostport)) != 0) {
		log_warnx(
		    "run: --imds-endpoint %s: not http://IP[:PORT]", o->imds);
		return -1;
	}
	if (o->aad_authority != NULL &&
	    aad_authority_parse(o->aad_authority, &u) != 0) {
		log_warnx("run: --aad-authority %s: not https://HOST[:PORT]"
		          "[/PATH]",
		    o->aad_authority);
		return -1;
	}
	return 0;
}

/* Every diagnostic of a failed load, one log line each, GNU form. */
static void
run_log_diags(const struct pol_slot *s)
{
	uint32_t i;

	for (i = 0; i < s->diags.n; i++)
		log_warnx("policy: %s:%u:%u: %s: %s", s->file.name,
		    s->diags.v[i].pos.line, s->diags.v[i].pos.col,
		    s->diags.v[i].sev == DSL_ERROR ? "error" : "warning",
		    s->diags.v[i].msg);
}

/* A failed attempt, for /readyz, /status and selftest. */
static void
run_note_failure(struct run *r, const struct pol_slot *s)
{
	struct src_policy *sp = &r->spol;
	const struct dsl_diag *d = NULL;
	uint32_t i;
	int n;

	for (i = 0; i < s->diags.n && d == NULL; i++)
		if (s->diags.v[i].sev == DSL_ERROR)
			d = &s->diags.v[i];
	if (r->running >= 0)
		sp->reloads_failed++;
	sp->last_failed = true;
	sp->last_errors = s->diags.errors;
	/* A long message is cut: the log has it whole. */
	if (d == NULL)
		n = snprintf(sp->last_error, sizeof(sp->last_error),
		    "%s: error: does not load", s->file.name);
	else if (d->pos.line == 0) /* about the whole file */
		n = snprintf(sp->last_error, sizeof(sp->last_error),
		    "%s: error: %s", s->file.name, d->msg);
	else
		n = snprintf(sp->last_error, sizeof(sp->last_error),
		    "%s:%u:%u: error: %s", s->file.name, d->pos.line,
		    d->pos.col, d->msg);
	if (n < 0)
		sp->last_error[0] = '\0';
}

/* A good load: its bytes' SHA-256 (before the text goes) and the time. */
static void
run_note_loaded(struct run *r, const struct pol_slot *s)
{
	static const char hex[] = "0123456789abcdef";
	struct src_policy *sp = &r->spol;
	br_sha256_context ctx;
	unsigned char d[32];
	size_t i;

	br_sha256_init(&ctx);
	br_sha256_update(&ctx, s->src, s->file.len);
	br_sha256_out(&ctx, d);
	for (i = 0; i < sizeof(d); i++) {
		sp->sha256[2 * i] = hex[d[i] >> 4];
		sp->sha256[2 * i + 1] = hex[d[i] & 15];
	}
	sp->sha256[64] = '\0';
	if (r->running >= 0)
		sp->reloads_ok++;
	sp->loaded_at = sp->attempt_at;
	sp->last_failed = false;
	sp->last_errors = 0;
	sp->last_error[0] = '\0';
}

/*
 * Loads the policy into the spare slot; on success it becomes the running
 * one and the cache and tokens follow it.  On failure nothing changes but
 * the record of the attempt (r->spol).
 */
static int
run_load_policy(struct run *r)
{
	struct pol_options opt = {.files_fatal = true};
	int spare = r->running == 0 ? 1 : 0;
	struct pol_slot *s = &r->slots[spare];

	r->spol.attempt_at = (int64_t)time(NULL);
	if (pol_slot_load(s, r->o.policy, &opt, false) != 0) {
		run_note_failure(r, s);
		run_log_diags(s);
		snprintf(r->ready_detail, sizeof(r->ready_detail),
		    "the policy on disk does not load (%u errors); the running "
		    "one stays",
		    s->diags.errors);
		log_warnx("policy: %s does not load; %s", r->o.policy,
		    r->running < 0 ? "nothing to serve"
		                   : "keeping the running one");
		return -1;
	}
	run_log_diags(s); /* warnings */
	run_note_loaded(r, s);
	pol_slot_release_scratch(s);
	r->policy = &s->pol;
	r->running = spare;
	r->ready_detail[0] = '\0';
	if (r->cache != NULL)
		podcache_repolicy(r->cache, r->policy);
	if (r->tokens != NULL)
		tokcache_repolicy(r->tokens, r->policy);
	if (r->aad != NULL)
		(void)aad_repolicy(r->aad, r->policy); /* re-reads secrets */
	log_info("policy: %s loaded: %u identities, %u bindings, %u exceptions",
	    r->o.policy, r->policy->nidentities, r->policy->nbindings,
	    r->policy->nexceptions);
	return 0;
}

/* The policy file changed on disk (pwatch): load it as SIGHUP does. */
static void
run_policy_changed(void *arg)
{
	struct run *r = arg;

	log_info("policy: %s changed on disk: reloading", r->o.policy);
	(void)run_load_policy(r);
}

static void
run_signal(struct loop *l, int signo, void *arg)
{
	struct run *r = arg;

	if (signo == SIGHUP) {
		(void)run_load_policy(r);
		return;
	}
	log_info("signal %d: stopping", signo);
	loop_stop(l);
}

static void
run_pod_change(struct kube *k, enum kobj_ev ev, const struct kobj_pod *pod,
    const struct podcache_entry *e, void *arg)
{
	struct run *r = arg;

	(void)k;
	if (e != NULL && r->imds != NULL)
		imds_pod_changed(r->imds, e);
	/* Its service-account tokens die with it: wipe ours now. */
	if (ev == KOBJ_EV_DELETED && r->ktoken != NULL)
		ktoken_pod_gone(r->ktoken, pod->uid);
}

/*
 * Azure AD: the resolver for authority names, the TokenRequest client for
 * federated identities, and the client itself, fetching for the three
 * service-principal kinds.  Without its trust anchors (no CA bundle) the
 * agent still serves managed identities; the others answer 503.
 */
static int
run_setup_aad(struct run *r, const struct kube_config *kc)
{
	static const enum pol_kind kinds[] = {
	    POL_SECRET, POL_CERTIFICATE, POL_FEDERATED};
	const char *ca = r->o.aad_ca != NULL
	    ? r->o.aad_ca
	    : "/etc/ssl/certs/ca-certificates.crt";
	struct resolv_config rc;
	struct tok_fetcher f;
	size_t i;
	int n;

	if ((n = pem_anchors_load(&r->aad_anchors, ca)) < 0) {
		if (r->o.aad_ca != NULL) {
			log_warnx("run: --ca-file %s: %s", ca, pem_strerror(n));
			return CMD_CONFIG;
		}
		log_warnx("run: %s: %s: identities from Azure AD will get 503",
		    ca, pem_strerror(n));
		return CMD_OK;
	}
	resolv_config_default(&rc);
	if ((r->resolv = resolv_new(r->loop, &rc)) == NULL)
		log_warn("run: the resolver; only IP-literal authorities work");
	if ((r->ktoken = ktoken_new(
	         r->loop, kc, &r->anchors, kube_authz(r->kube))) == NULL ||
	    (r->aad = aad_new(r->loop, r->tokens, &r->aad_anchors, r->resolv,
	         r->o.aad_authority, r->policy)) == NULL)
		return CMD_FAIL;
	aad_set_ktoken(r->aad, r->ktoken);
	f = aad_fetcher(r->aad);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		tokcache_set_fetcher(r->tokens, kinds[i], &f);
	return CMD_OK;
}

/* Sizes and wires everything, in dependency order. */
static int
run_setup(struct run *r, struct kube_config *kc)
{
	struct kube_hooks hooks = {run_pod_change, NULL, r};
	struct server_config sc;
	struct imds_config ic;
	struct tok_fetcher f;
	int n;

	memset(&sc, 0, sizeof(sc));
	memset(&ic, 0, sizeof(ic));
	sc.listen = r->o.listen_sa;
	sc.listen_len = r->o.listen_len;
	ic.imds_addr = r->o.imds_sa;
	ic.imds_len = r->o.imds_len;
	if ((n = pem_anchors_load(&r->anchors, kc->ca_file)) < 0) {
		log_warnx("run: CA file %s: %s", kc->ca_file, pem_strerror(n));
		return CMD_CONFIG;
	}
	if ((r->loop = loop_new(LIM_LOOP_FDS, LIM_LOOP_TIMERS)) == NULL ||
	    (r->cache = podcache_new(
	         r->o.max_pods, LIM_PODCACHE_QUARANTINE_MS)) == NULL ||
	    (r->kube = kube_new(r->loop, kc, &r->anchors, r->cache, &r->policy,
	         &hooks)) == NULL ||
	    (r->tokens = tokcache_new(r->loop, r->o.token_slots, NULL)) ==
	        NULL ||
	    (r->imdsc = imdsc_new(r->loop, (struct sockaddr *)&ic.imds_addr,
	         ic.imds_len, r->o.imds_hostport, r->tokens)) == NULL)
		return CMD_FAIL;
	f = imdsc_fetcher(r->imdsc);
	tokcache_set_fetcher(r->tokens, POL_MANAGED, &f);
	ic.policy = &r->policy;
	ic.cache = r->cache;
	ic.tokens = r->tokens;
	ic.kube = r->kube;
	ic.park_ms = LIM_IMDS_PARK_MS;
	ic.token_wait_ms = LIM_IMDS_TOKEN_WAIT_MS;
	ic.ready_detail = r->ready_detail;
	if ((n = run_setup_aad(r, kc)) != CMD_OK)
		return n;
	if ((r->imds = imds_new(r->loop, &ic)) == NULL)
		return CMD_FAIL;
	sc.max_conns = r->o.max_conns;
	sc.header_ms = LIM_SRV_HEADER_MS;
	sc.idle_ms = LIM_SRV_IDLE_MS;
	sc.write_ms = LIM_SRV_WRITE_MS;
	sc.local = r->o.local;
	sc.nlocal = r->o.nlocal;
	{
		struct server_handler h = imds_server_handler(r->imds);

		if ((r->srv = server_new(r->loop, &sc, &h)) == NULL) {
			log_warn("run: listen on %s", r->o.listen);
			return CMD_FAIL;
		}
	}
	imds_bind(r->imds, r->srv);
	loop_signal(r->loop, SIGTERM, run_signal, r);
	loop_signal(r->loop, SIGINT, run_signal, r);
	loop_signal(r->loop, SIGHUP, run_signal, r);
	/* Without a watch (no inotify instance left) SIGHUP still works. */
	if ((r->pwatch = pwatch_new(r->loop, r->o.policy, LIM_PWATCH_CHECK_MS,
	         run_policy_changed, r)) == NULL)
		log_warn("run: watching %s for changes; only SIGHUP reloads it",
		    r->o.policy);
	return CMD_OK;
}

/* A line from the keeper: a restoration, or its trouble. */
static void
run_keeper_io(struct loop *l, int fd, uint32_t revents, void *arg)
{
	struct run *r = arg;
	char buf[1024], *line, *save = NULL;
	ssize_t n;

	(void)revents;
	while ((n = keeper_read(&r->keeper, buf, sizeof(buf))) > 0)
		for (line = strtok_r(buf, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save)) {
			if (strncmp(line, "restored", 8) == 0) {
				r->srules.restored++;
				log_warnx("rules: %s (restorations: %llu)",
				    line,
				    (unsigned long long)r->srules.restored);
			} else
				log_info("rules: keeper %s", line);
		}
	if (n < 0) {
		log_warnx("rules: the keeper exited; the rules stay, but "
		          "nothing restores them now");
		loop_del(l, fd);
		close(fd);
		r->keeper.fd = -1;
		r->srules.keeper_alive = false;
	}
}

/*
 * The interception rules, before anything else needs the network: the
 * DNAT rule atomically (nf_tables), pods' connections opened to the real
 * IMDS before it cut (conntrack), and the keeper forked while we still
 * hold CAP_NET_ADMIN.
 */
static int
run_rules(struct run *r, const struct sockaddr_storage *listen)
{
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)listen;
	struct rules_spec spec;
	struct in_addr ip = r->o.node_ip, imds;
	unsigned cut = 0;
	int rc, installed;

	if (strcmp(r->o.rules, "off") == 0)
		return CMD_OK;
	if (ip.s_addr == 0 && listen->ss_family == AF_INET)
		ip = s4->sin_addr;
	if (ip.s_addr == 0 || listen->ss_family != AF_INET) {
		log_warnx(
		    "run: --rules %s needs --node-ip (or an IPv4 --listen "
		    "address)",
		    r->o.rules);
		return CMD_USAGE;
	}
	rules_spec_init(&spec, ip, ntohs(s4->sin_port));
	inet_ntop(AF_INET, &ip, r->srules.node_ip, sizeof(r->srules.node_ip));
	r->srules.port = ntohs(s4->sin_port);
	if ((installed = rules_install(&spec)) < 0) {
		log_warnx("run: installing the interception rules: %s",
		    rules_strerror(installed));
		return CMD_FAIL;
	}
	inet_pton(AF_INET, RULES_IMDS_ADDR, &imds);
	if ((rc = rules_conntrack_flush(imds, RULES_IMDS_PORT, &cut)) < 0)
		log_warnx("run: cutting pods' connections to IMDS: %s",
		    rules_strerror(rc));
	log_info("run: interception rules %s (%u earlier connections to IMDS "
	         "cut)",
	    installed == 1 ? "already in place" : "installed", cut);
	if (strcmp(r->o.rules, "keep") == 0 &&
	    keeper_start(&r->keeper, &spec, r->o.uid, r->o.gid) != 0) {
		log_warn("run: starting the rules keeper");
		return CMD_FAIL;
	}
	r->srules.keeper_alive = strcmp(r->o.rules, "keep") == 0;
	return CMD_OK;
}

/*
 * Everything that needs privilege is done: the socket is bound, the files
 * are open.  From here on podid holds no capability (priv.c logs the
 * result once); any failing step ends it.
 */
static int
run_drop(struct run *r)
{
	struct priv_spec ps = {r->o.uid, r->o.gid, r->o.seccomp, NULL, 0};
	int rc;

	if ((rc = priv_drop(&ps)) != 0) {
		log_warnx("run: dropping privileges: %s", priv_strerror(rc));
		return CMD_FAIL;
	}
	if (!r->o.seccomp)
		log_warnx("run: seccomp allowlist off (--seccomp off, or a "
		          "sanitizer build)");
	return CMD_OK;
}

/*
 * What the operator-facing outputs read (agent/sources.h), then the ops
 * listener, bound before privileges go like the pods' one.
 */
static int
run_ops(struct run *r)
{
	struct sources *src = &r->src;
	struct ops_config oc;

	src->loop = r->loop;
	src->srv = r->srv;
	src->imds = r->imds;
	src->kube = r->kube;
	src->cache = r->cache;
	src->tokens = r->tokens;
	src->imdsc = r->imdsc;
	src->policy = &r->policy;
	src->pol = &r->spol;
	src->rules = &r->srules;
	src->imds_endpoint = r->o.imds;
	src->aad = r->aad;
	if (r->aad != NULL)
		src->aad_authority = r->o.aad_authority != NULL
		    ? r->o.aad_authority
		    : "https://login.microsoftonline.com";
	src->max_pods = r->o.max_pods;
	src->started_at = (int64_t)time(NULL);
	src->uid = r->o.uid;
	src->gid = r->o.gid;
	if (r->o.ops_listen == NULL)
		return CMD_OK;
	memset(&oc, 0, sizeof(oc));
	oc.listen = r->o.ops_sa;
	oc.listen_len = r->o.ops_len;
	oc.src = src;
	oc.pid = getpid();
	if ((r->ops = ops_new(r->loop, &oc)) == NULL) {
		log_warn("run: ops listener on %s", r->o.ops_listen);
		return CMD_FAIL;
	}
	return CMD_OK;
}

static void
run_teardown(struct run *r)
{
	if (r->keeper.fd >= 0 && r->loop != NULL)
		loop_del(r->loop, r->keeper.fd);
	keeper_stop(&r->keeper); /* the rules stay: podid fails closed */
	ops_free(r->ops);        /* cancels its token waits: before the cache */
	pwatch_free(r->pwatch);
	server_free(r->srv);
	imds_free(r->imds);
	tokcache_free(r->tokens); /* cancels through the fetchers: first */
	imdsc_free(r->imdsc);
	aad_free(r->aad); /* cancels through the resolver and ktoken */
	ktoken_free(r->ktoken);
	resolv_free(r->resolv);
	kube_free(r->kube);
	podcache_free(r->cache);
	if (r->loop != NULL)
		loop_free(r->loop);
	pem_anchors_free(&r->anchors);
	pem_anchors_free(&r->aad_anchors);
	pol_slot_free(&r->slots[0]);
	pol_slot_free(&r->slots[1]);
}

int
cmd_run(int argc, char **argv)
{
	static struct run r;
	struct kube_config kc;
	char err[256];
	int rc;

	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		fputs(run_usage, stdout);
		return CMD_OK;
	}
	if (run_parse(argc, argv, &r.o) == -1) {
		fputs(run_usage, stderr);
		return CMD_USAGE;
	}
	log_init(r.o.level, r.o.json);
	if (run_check_addrs(&r.o) == -1)
		return CMD_USAGE;
	run_local_ifaddrs(&r.o);
	if (kube_config_init(&kc, r.o.api, r.o.token, r.o.ca, r.o.node, err,
	        sizeof(err)) == -1) {
		log_warnx("run: %s", err);
		return CMD_CONFIG;
	}
	r.running = -1;
	r.keeper.fd = -1;
	r.spol.file = r.o.policy;
	r.srules.mode = r.o.rules;
	if (cmd_policy_slot_new(&r.slots[0]) == -1 ||
	    cmd_policy_slot_new(&r.slots[1]) == -1)
		fatal("run: policy memory");
	if (run_load_policy(&r) != 0) {
		run_teardown(&r);
		return CMD_CONFIG;
	}
	if ((rc = run_rules(&r, &r.o.listen_sa)) != CMD_OK) {
		run_teardown(&r);
		return rc;
	}
	if ((rc = run_setup(&r, &kc)) != CMD_OK ||
	    (rc = run_ops(&r)) != CMD_OK) {
		if (rc == CMD_FAIL)
			log_warn("run: start-up");
		run_teardown(&r);
		return rc;
	}
	if (r.keeper.fd >= 0)
		loop_add(r.loop, r.keeper.fd, LOOP_READ, run_keeper_io, &r);
	log_info("run: listening on %s for node %s (ops: %s)", r.o.listen,
	    kc.node, r.o.ops_listen ? r.o.ops_listen : "off");
	if ((rc = run_drop(&r)) != CMD_OK) {
		run_teardown(&r);
		return rc;
	}
	if (kube_start(r.kube) != 0 || loop_run(r.loop) != 0)
		rc = CMD_FAIL;
	run_teardown(&r);
	return rc;
}
