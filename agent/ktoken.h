/*
 * ktoken: service-account tokens for federated identities, minted with the
 * Kubernetes TokenRequest API (../shared/reference/imds-azure-kubernetes.md
 * section 6.3):
 *
 *	POST /api/v1/namespaces/NS/serviceaccounts/SA/token
 *	{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest",
 *	 "spec":{"audiences":["api://AzureADTokenExchange"],
 *	  "expirationSeconds":3600,"boundObjectRef":{"kind":"Pod",
 *	  "apiVersion":"v1","name":"POD","uid":"UID"}}}
 *
 * The token is bound to the pod's uid: it dies with the pod, and podid
 * keeps it only until LIM_KTOKEN_EARLY_S before its expirationTimestamp
 * or until the pod goes (ktoken_pod_gone wipes it).  podid's RBAC needs
 * only `create` on serviceaccounts/token.
 *
 * One connection to the API server, requests one at a time from a fixed
 * queue; minted tokens in a fixed number of slots, wiped when dropped.
 * Nothing is allocated after ktoken_new.
 */
#ifndef AGENT_KTOKEN_H
#define AGENT_KTOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "agent/kube.h"
#include "agent/loop.h"
#include "agent/pem.h"

enum ktoken_err {
	KTOKEN_E_FULL = -1,    /* the queue is full */
	KTOKEN_E_ARG = -2,     /* a name empty or over its limit */
	KTOKEN_E_HTTP = -3,    /* the API server refused (status in detail) */
	KTOKEN_E_DECODE = -4,  /* the answer is not a TokenRequest status */
	KTOKEN_E_CONNECT = -5, /* connection, TLS or timeout */
	KTOKEN_E_GONE = -6,    /* the pod went while its token was asked */
	KTOKEN_E_AUTH = -7     /* podid has no API token to ask with */
};

/*
 * Called once per ktoken_get, later, from the loop.  err 0: token (len
 * bytes, NUL-terminated) valid during the call only, expires at epoch s.
 * Otherwise a negative ktoken_err; status is the API server's HTTP status
 * when it answered (403 for missing RBAC, 404 for an unknown pod or
 * service account), else 0.
 */
typedef void (*ktoken_cb)(void *arg, int err, int status, const char *token,
    size_t len, int64_t expires);

struct ktoken;

/*
 * Makes the client for the API server of cfg (copied), trusting anchors
 * (which must outlive it), authenticating with authz ("Bearer ...", read
 * at each request: the caller may rewrite it in place when the token
 * rotates; kube_authz() gives the watch's).
 * The one allocation, at start; TLS is readied at the first request.
 * NULL with errno: EINVAL without anchors, ENOMEM out of memory.
 */
struct ktoken *ktoken_new(struct loop *, const struct kube_config *cfg,
    const struct pem_anchors *anchors, const char *authz);

/* Closes the connection, wipes every token and frees; NULL is fine. */
void ktoken_free(struct ktoken *);

/*
 * A token of service account sa in namespace ns, bound to pod (name, uid),
 * for audience.  A cached one answers without a request (still through
 * the loop).  Returns 0 and sets *handle (for ktoken_cancel), or
 * KTOKEN_E_FULL / KTOKEN_E_ARG at once (no callback then).
 */
int ktoken_get(struct ktoken *, const char *ns, const char *sa, const char *pod,
    const char *uid, const char *audience, ktoken_cb cb, void *arg,
    uint32_t *handle);

/* Forgets a pending get: no callback follows.  Unknown handles are fine. */
void ktoken_cancel(struct ktoken *, uint32_t handle);

/*
 * The pod uid went: wipes its cached tokens, and its pending gets are
 * answered KTOKEN_E_GONE (from the loop).
 */
void ktoken_pod_gone(struct ktoken *, const char *uid);

struct ktoken_stats {
	uint64_t gets, hits, requests, minted, failed, wiped;
	unsigned cached, queued;
};
void ktoken_stats(const struct ktoken *, struct ktoken_stats *);

/*
 * Builds the TokenRequest's request (head and body) into dst.  Pure, for
 * tests.  Returns the length, or -1 when it does not fit or a name has a
 * character that would need escaping.
 */
int ktoken_request(char *dst, size_t len, const char *hostport,
    const char *authz, const char *ns, const char *sa, const char *pod,
    const char *uid, const char *audience, unsigned expiration_s);

/*
 * Decodes a TokenRequest answer body (len bytes): status.token into tok
 * (cap bytes, NUL-terminated) and status.expirationTimestamp into
 * *expires (epoch s).  Pure.  Returns the token's length or
 * KTOKEN_E_DECODE.
 */
int ktoken_decode(
    const char *body, size_t len, char *tok, size_t cap, int64_t *expires);

/*
 * An RFC 3339 time ("2026-11-28T13:00:00Z", fraction and +hh:mm offsets
 * accepted) into epoch seconds.  Pure.  Returns 0 or -1.
 */
int ktoken_rfc3339(const char *s, size_t len, int64_t *out);

#endif
