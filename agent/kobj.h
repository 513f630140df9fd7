/*
 * kobj: the Kubernetes objects podid reads -- pods, pod watch events, pod
 * list pages and Status objects -- decoded from JSON (agent/json.h) into
 * fixed-size records holding exactly what podid needs.
 *
 * Strict by design: a field of the wrong type, a name that Kubernetes
 * itself would not accept, or a pod whose labels do not all fit is an
 * error, never a partial record (matching a policy on part of a pod could
 * grant wrongly).  Absent and null optional fields read as their zero.
 *
 * Memory: nothing allocates.  Strings are copied into the records; the
 * few slices (Status reason and message) point into the caller's input.
 * Token arrays are the caller's.  The realistic pods of tests/agent/data/
 * take 245-516 tokens (20 bytes each), managedFields up to 224 of them;
 * many containers or env entries add more.  Size an event's array with
 * LIM_KOBJ_EVENT_TOKENS, and a list page's with about 1000 per pod
 * requested (limit=250: 250000 tokens, 5 MB, allocated once); a page that
 * does not fit fails with JSON_E_NOMEM, so ask for fewer.
 */
#ifndef AGENT_KOBJ_H
#define AGENT_KOBJ_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/json.h"
#include "agent/limits.h"

/*
 * Errors are negative; kobj functions also pass json_parse's errors
 * (enum json_err, -1..-99) through.  kobj_strerror() names both.
 */
enum kobj_err {
	KOBJ_E_NOTOBJ = -100,      /* the value is not a JSON object */
	KOBJ_E_KIND = -101,        /* kind is not the expected one */
	KOBJ_E_METADATA = -102,    /* metadata missing or not an object */
	KOBJ_E_UID = -103,         /* metadata.uid missing or malformed */
	KOBJ_E_NAMESPACE = -104,   /* metadata.namespace not a DNS label */
	KOBJ_E_NAME = -105,        /* metadata.name not a DNS subdomain */
	KOBJ_E_RV = -106,          /* metadata.resourceVersion malformed */
	KOBJ_E_DELETION = -107,    /* metadata.deletionTimestamp not a string */
	KOBJ_E_LABELS = -108,      /* labels not an object of strings */
	KOBJ_E_LABEL_COUNT = -109, /* more than LIM_KOBJ_LABELS labels */
	KOBJ_E_LABEL_POOL = -110,  /* labels exceed LIM_KOBJ_LABEL_POOL_BYTES */
	KOBJ_E_LABEL_SYNTAX = -111, /* label key or value Kubernetes refuses */
	KOBJ_E_LABEL_DUP = -112,    /* a label key given twice */
	KOBJ_E_SPEC = -113,         /* spec missing or not an object */
	KOBJ_E_SA = -114,           /* spec.serviceAccountName malformed */
	KOBJ_E_HOSTNET = -115,      /* spec.hostNetwork not a boolean */
	KOBJ_E_CONTAINERS = -116, /* containers or securityContexts malformed */
	KOBJ_E_STATUS = -117,     /* status not an object */
	KOBJ_E_PHASE = -118,      /* status.phase not a known phase */
	KOBJ_E_IP = -119,         /* podIP/podIPs malformed or inconsistent */
	KOBJ_E_EVENT = -120,      /* watch event without type or object */
	KOBJ_E_EVTYPE = -121,     /* watch event of an unknown type */
	KOBJ_E_APISTATUS = -122,  /* Status code/reason/message mistyped */
	KOBJ_E_ITEMS = -123,      /* list items missing or not an array */
	KOBJ_E_CONTINUE = -124,   /* list metadata.continue malformed */
};
#define KOBJ_E_LAST KOBJ_E_CONTINUE

enum kobj_phase {
	KOBJ_PHASE_NONE, /* no status.phase yet */
	KOBJ_PHASE_PENDING,
	KOBJ_PHASE_RUNNING,
	KOBJ_PHASE_SUCCEEDED,
	KOBJ_PHASE_FAILED,
	KOBJ_PHASE_UNKNOWN,
};

/* One label: offsets of its NUL-terminated key and value in label_pool. */
struct kobj_label {
	uint16_t key, key_len;
	uint16_t val, val_len;
};

/* A pod as podid sees it (about 2 KiB, no pointers: copy it freely). */
struct kobj_pod {
	char uid[LIM_KOBJ_UID_BYTES + 1];
	char ns[LIM_KOBJ_NAMESPACE_BYTES + 1];
	char name[LIM_KOBJ_NAME_BYTES + 1];
	char sa[LIM_KOBJ_SA_BYTES + 1]; /* "" when the pod names none */
	char rv[LIM_KOBJ_RV_BYTES + 1];
	struct in_addr ip4;  /* valid when has_ip4 */
	struct in6_addr ip6; /* valid when has_ip6 */
	bool has_ip4, has_ip6;
	bool host_network; /* spec.hostNetwork: shares the node's IPs */
	bool terminating;  /* metadata.deletionTimestamp set */
	bool net_raw;      /* some container may open raw sockets */
	enum kobj_phase phase;
	uint8_t nlabels;
	uint16_t label_bytes; /* used bytes of label_pool */
	struct kobj_label labels[LIM_KOBJ_LABELS];
	char label_pool[LIM_KOBJ_LABEL_POOL_BYTES];
};

/* A Status object (an ERROR event's, or an error response body's). */
struct kobj_status {
	int code; /* 0 when absent; 410 when a resourceVersion expired */
	const char *reason;  /* raw JSON string contents, escapes not */
	size_t reason_len;   /* decoded; NULL/0 when absent; valid */
	const char *message; /* while the parsed input is */
	size_t message_len;
};

enum kobj_ev {
	KOBJ_EV_NONE,
	KOBJ_EV_ADDED,
	KOBJ_EV_MODIFIED,
	KOBJ_EV_DELETED,
	KOBJ_EV_BOOKMARK,
	KOBJ_EV_ERROR,
};

/* One watch event: which members are set depends on type. */
struct kobj_event {
	enum kobj_ev type;
	char rv[LIM_KOBJ_RV_BYTES + 1]; /* all but ERROR: the object's RV */
	struct kobj_pod pod;            /* ADDED, MODIFIED, DELETED */
	struct kobj_status status;      /* ERROR */
	struct json_doc doc;            /* the parsed line */
	int object;                     /* its "object" token */
};

/* A page of a pod list; iterate its items with kobj_list_next. */
struct kobj_list {
	struct json_doc doc;
	char rv[LIM_KOBJ_RV_BYTES + 1];
	char cont[LIM_KOBJ_CONTINUE_BYTES + 1]; /* "" on the last page */
	int nitems;
	int next_; /* private: next item token */
	int left_; /* private: items not yet returned */
};

/*
 * Decodes pod object obj of doc into *out (cleared first).  Returns 0 or
 * a negative enum kobj_err.  On error the identity (uid, ns, name) is
 * still filled when it was itself valid, so that a caller can forget a
 * pod it can no longer describe.
 */
int kobj_pod_decode(const struct json_doc *doc, int obj, struct kobj_pod *out);

/* Key and value of label i (< pod->nlabels), NUL-terminated; NULL past. */
const char *kobj_label_key(const struct kobj_pod *pod, unsigned i);
const char *kobj_label_value(const struct kobj_pod *pod, unsigned i);

/* The value of the pod's label key, or NULL when it has none. */
const char *kobj_pod_label(const struct kobj_pod *pod, const char *key);

/* "Pending", "Running"...; "" for KOBJ_PHASE_NONE. */
const char *kobj_phase_name(enum kobj_phase phase);

/*
 * Decodes Status object obj of doc (an ERROR event's object, or the body
 * of an HTTP error such as 410 Gone).  Returns 0 or a negative error;
 * reason and message point into doc's input.
 */
int kobj_status_decode(
    const struct json_doc *doc, int obj, struct kobj_status *out);

/* True when st says the resourceVersion is gone: re-list, then watch. */
bool kobj_status_is_gone(const struct kobj_status *st);

/*
 * Parses and decodes one watch event line (line[0..len), without its
 * newline) into *out, using toks[0..ntok) for the JSON.  Returns 0 or a
 * negative error (json's or kobj's); when the pod of an ADDED, MODIFIED or
 * DELETED event is refused, out->type and out->pod's identity are set as
 * kobj_pod_decode leaves them.  out->doc points into line and toks.
 */
int kobj_event_decode(const char *line, size_t len, struct json_tok *toks,
    unsigned ntok, struct kobj_event *out);

/*
 * Parses a PodList page (buf[0..len), toks[0..ntok)) into *out: its
 * resourceVersion, continue token and items.  Returns 0 or a negative
 * error.  out->doc points into buf and toks, which must outlive the
 * iteration.
 */
int kobj_list_decode(const char *buf, size_t len, struct json_tok *toks,
    unsigned ntok, struct kobj_list *out);

/*
 * Decodes the next item of list into *pod.  Returns 1 when *pod holds it,
 * 0 after the last, or a negative error for a refused item (as
 * kobj_pod_decode); iteration then goes on with the next call.
 */
int kobj_list_next(struct kobj_list *list, struct kobj_pod *pod);

/* A fixed description of err, kobj's or json's; "unknown error" else. */
const char *kobj_strerror(int err);

#endif
