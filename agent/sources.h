/*
 * sources: what the agent's parts show the operator-facing outputs
 * (/metrics, /status, podid selftest): the live modules, and the few facts
 * only cmd_run knows (the policy's load history, the interception rules).
 * cmd_run fills one struct sources at start and keeps the src_* parts
 * current; everyone else only reads it, from the loop.
 */
#ifndef AGENT_SOURCES_H
#define AGENT_SOURCES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Which podid this is, in /status and /metrics; the build may set it
 * (-DPODID_VERSION='"1.2.3"'). */
#ifndef PODID_VERSION
#define PODID_VERSION "0.7-dev"
#endif

struct loop;
struct server;
struct imds;
struct kube;
struct podcache;
struct tokcache;
struct imdsc;
struct aad;
struct pol;

/* The policy file's history; last_error is "" after a good load. */
struct src_policy {
	const char *file;   /* --policy, as given */
	char sha256[65];    /* hex SHA-256 of the running policy's bytes */
	int64_t loaded_at;  /* epoch s the running policy was swapped in */
	int64_t attempt_at; /* epoch s of the last load attempt */
	uint64_t reloads_ok, reloads_failed; /* attempts after the first */
	bool last_failed;                    /* the last attempt failed */
	unsigned last_errors;                /* its error count */
	char last_error[256];                /* its first error, GNU form */
};

/* The interception rules as cmd_run set them up. */
struct src_rules {
	const char *mode;  /* "keep", "install" or "off" */
	char node_ip[16];  /* DNAT target, "" when off */
	uint16_t port;     /* DNAT target port */
	bool keeper_alive; /* mode keep: the keeper still runs */
	uint64_t restored; /* rule sets the keeper put back */
};

struct sources {
	struct loop *loop;
	struct server *srv; /* the pods' listener */
	struct imds *imds;
	struct kube *kube;
	struct podcache *cache;
	struct tokcache *tokens;
	struct imdsc *imdsc;
	struct aad *aad; /* NULL: no Azure AD client (no trust anchors) */
	const struct pol *const *policy; /* the running policy pointer */
	const struct src_policy *pol;
	const struct src_rules *rules;
	const char *imds_endpoint; /* --imds-endpoint */
	const char *aad_authority; /* the default authority; NULL: no aad */
	unsigned max_pods;
	int64_t started_at; /* epoch s */
	uid_t uid;          /* the user podid runs as after the drop */
	gid_t gid;
};

#endif
