/*
 * kube: this node's pods from the Kubernetes API, kept in the pod cache.
 * Lists the node's pods (paginated), then watches from the list's
 * resourceVersion with bookmarks; resumes after a disconnect from the last
 * resourceVersion seen, relists when the server says it is too old (HTTP
 * 410 or an ERROR event with code 410), and backs off exponentially, with
 * jitter, on errors.  One explicit state machine on the event loop; all
 * memory sized once by kube_new.
 */
#ifndef AGENT_KUBE_H
#define AGENT_KUBE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "agent/kobj.h"
#include "agent/loop.h"
#include "agent/pem.h"
#include "agent/podcache.h"

#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* Where the API server is and who we are; see kube_config_init. */
struct kube_config {
	char host[LIM_TLS_SERVER_NAME_BYTES + 1];      /* TLS name: DNS or IP */
	char hostport[LIM_TLS_SERVER_NAME_BYTES + 16]; /* Host header */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char token_file[256], ca_file[256];
	char node[LIM_KOBJ_NAME_BYTES + 1];
	unsigned
	    page_size; /* pods per list page (halved, down to 1, when a page does not fit) */
	unsigned watch_timeout_s; /* timeoutSeconds of each watch */
};

/*
 * Fills cfg from api_url ("https://HOST[:PORT]"; NULL: in-cluster, from
 * KUBERNETES_SERVICE_HOST and _PORT), the token and CA files (NULL: the
 * service account's) and node (NULL: $NODE_NAME).  A DNS name is resolved
 * here, once, at start-up.  Returns 0, or -1 with a message in err.
 */
int kube_config_init(struct kube_config *, const char *api_url,
    const char *token_file, const char *ca_file, const char *node, char *err,
    size_t errlen);

enum kube_state {
	KUBE_BACKOFF, /* waiting before the next try */
	KUBE_LISTING, /* a list page is on its way */
	KUBE_WATCHING /* a watch stream is open (or being opened) */
};

struct kube_stats {
	uint64_t lists, list_pages, watches, events, bookmarks;
	uint64_t relists_410, errors, refused_pods, skipped_events;
	uint64_t token_reads;
	uint64_t last_event_ms; /* loop time of the last event or bookmark */
	uint64_t synced_ms;     /* loop time of the last complete list */
	bool synced;            /* a list has completed */
};

struct kube;

/*
 * Hooks.  change: a pod was added, changed (e) or removed (e NULL; the
 * decoded pod tells which).  synced: a complete list is in the cache.
 */
struct kube_hooks {
	void (*change)(struct kube *, enum kobj_ev, const struct kobj_pod *,
	    const struct podcache_entry *e, void *arg);
	void (*synced)(struct kube *, void *arg);
	void *arg;
};

/*
 * Makes the watcher: the TLS slot, buffers and JSON tokens, sized once.
 * policy points at the running policy pointer (it may be swapped; NULL
 * for none).  Returns NULL (errno) when out of memory.
 */
struct kube *kube_new(struct loop *, const struct kube_config *,
    const struct pem_anchors *, struct podcache *,
    const struct pol *const *policy, const struct kube_hooks *);
void kube_free(struct kube *);

/* Reads the token and starts listing.  Returns 0, or -1 (logged). */
int kube_start(struct kube *);

enum kube_state kube_state(const struct kube *);
const struct kube_stats *kube_stats(const struct kube *);
const char *kube_rv(const struct kube *);

/*
 * "Bearer <token>": the service-account token the watch authenticates
 * with, rewritten in place when the token file rotates ("" before the
 * first read).  Valid as long as the kube; for the TokenRequest client.
 */
const char *kube_authz(const struct kube *);

/* The list query, for tests: "/api/v1/pods?fieldSelector=..." */
int kube_list_target(
    char *dst, size_t len, const char *node, unsigned limit, const char *cont);
int kube_watch_target(char *dst, size_t len, const char *node, const char *rv,
    unsigned timeout_s);

/* Backoff: attempt n (0-based) -> delay in ms, jittered by r in [0,1). */
uint64_t kube_backoff_ms(unsigned n, double r);

#endif
