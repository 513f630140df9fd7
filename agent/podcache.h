/*
 * podcache: the pods of this node, by IP, uid and namespace/name, with the
 * identities the policy grants each, so that a token request never waits
 * on the API server.  Fed by the pod watch (upsert, remove, relist sync),
 * read by the IMDS front (resolve, still) and by `podid pods` (next).
 *
 * An IP resolves to a pod only when exactly one live pod holds it: phase
 * Pending or Running, no deletionTimestamp, not hostNetwork.  An IP that a
 * live pod gives up (deleted, terminating, terminal, replaced, IP changed)
 * is quarantined for quarantine_ms: it resolves to nobody even when a new
 * pod already claims it, so a request from a recycled IP is never answered
 * as the old pod.  Answers are bound to the pod uid (podcache_ref).
 *
 * Memory: podcache_new is the only allocation, sized from max_pods; a full
 * table refuses a pod (PODCACHE_E_FULL, counted, logged) and never grows.
 * Single-threaded: no call may run concurrently with a changing call.
 */
#ifndef AGENT_PODCACHE_H
#define AGENT_PODCACHE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/kobj.h"
#include "agent/limits.h"
#include "policy/policy.h"

/* Errors are negative; podcache_strerror() names them. */
enum podcache_err {
	PODCACHE_E_FULL = -1,  /* every pod slot is taken: pod refused */
	PODCACHE_E_INVAL = -2, /* the pod record is malformed: refused */
	PODCACHE_E_NOENT = -3, /* no pod with that uid */
};

enum podcache_verdict {
	PODCACHE_FOUND,       /* exactly one live holder, not quarantined */
	PODCACHE_UNKNOWN,     /* no live holder: the pod may not be seen yet */
	PODCACHE_AMBIGUOUS,   /* two live pods or more hold the IP */
	PODCACHE_QUARANTINED, /* the IP was released less than quarantine ago */
};

/* Bytes of a record's own string pool; longer pods use a spill buffer. */
#define PODCACHE_INLINE_BYTES 532

/*
 * One pod.  Strings are NUL-terminated and live in the record (or its
 * spill buffer): a pointer stays valid until the next call that changes
 * the cache (upsert, remove, sync_end, repolicy); keep a podcache_ref
 * across those.  Fields ending in _ are private.
 */
struct podcache_entry {
	const char *uid, *ns, *name;
	const char *sa;        /* "" when the pod names none */
	const char *labels;    /* nlabels pairs "key\0value\0", in pod order */
	struct in6_addr ip[2]; /* [0] IPv4 (v4-mapped), [1] IPv6 */
	struct pol_result grants; /* the policy's answer for this pod */
	uint32_t gen;             /* slot generation: see podcache_ref */
	uint32_t pol_epoch_;      /* the policy grants was computed with */
	uint16_t label_bytes;     /* bytes of the labels run */
	uint8_t nlabels;
	uint8_t ips;       /* bit 0: ip[0] valid, bit 1: ip[1] valid */
	uint8_t phase;     /* enum kobj_phase */
	bool host_network; /* spec.hostNetwork */
	bool terminating;  /* metadata.deletionTimestamp set */
	bool net_raw;      /* a container may open raw sockets */
	bool live;         /* Pending/Running, not terminating, not host */
	bool stale_, spilled_;
	char pool_[PODCACHE_INLINE_BYTES];
};

/* What a request keeps of the pod it resolved to (see podcache_still). */
struct podcache_ref {
	uint32_t slot, gen;
	char uid[LIM_KOBJ_UID_BYTES + 1];
};

/* Gauges (now) and counters (since podcache_new). */
struct podcache_stats {
	unsigned pods, capacity;
	unsigned ambiguous_ips; /* IPs now held by two live pods or more */
	unsigned quarantined;   /* IPs now in quarantine */
	uint64_t refused_full;  /* upserts refused: table full */
	uint64_t quarantine_evictions; /* quarantine full: soonest dropped */
};

struct podcache;

/*
 * Makes a cache of max_pods pod slots (1..LIM_PODCACHE_PODS_MAX) whose
 * released IPs stay quarantined quarantine_ms (0..LIM_PODCACHE_
 * QUARANTINE_MAX_MS; 0 disables quarantine).  The only allocation, at
 * start; NULL with errno EINVAL or ENOMEM.  Release with podcache_free.
 */
struct podcache *podcache_new(unsigned max_pods, unsigned quarantine_ms);
void podcache_free(struct podcache *);

/*
 * ADDED or MODIFIED: inserts or updates the pod by uid, copying what it
 * needs of *pod, re-indexes its IPs (quarantining those it gave up) and
 * matches it against policy (NULL: no policy, nothing granted) when it is
 * new, its namespace, service account, labels or hostNetwork changed, or
 * policy is not the one of the previous upsert or repolicy; an unchanged
 * pod only counts as listed.  A pod of the same namespace/name with
 * another uid is removed first.  Returns 0, PODCACHE_E_FULL (refused,
 * counted, logged at most every LIM_PODCACHE_LOG_MS) or PODCACHE_E_INVAL
 * (the cache is unchanged).
 */
int podcache_upsert(struct podcache *, const struct kobj_pod *pod,
    const struct pol *policy, uint64_t now_ms);

/*
 * DELETED: forgets the pod with that uid (NUL-terminated), quarantining
 * the IPs it held while live.  Returns 0 or PODCACHE_E_NOENT.
 */
int podcache_remove(struct podcache *, const char *uid, uint64_t now_ms);

/*
 * Relist (after a watch 410): sync_begin marks every pod; upserts of the
 * new list unmark theirs; sync_end removes the pods still marked, as
 * podcache_remove does, drops ended quarantine entries, and returns how
 * many pods it removed.  Until sync_end, unlisted pods keep their slots.
 * gone (may be NULL) is called with each pod just before it is removed,
 * so that whoever holds something of a pod that went while the watch was
 * down hears of it as of a deletion; it must not change the cache.
 */
void podcache_sync_begin(struct podcache *);
unsigned podcache_sync_end(struct podcache *, uint64_t now_ms,
    void (*gone)(const struct podcache_entry *, void *), void *arg);

/*
 * Which pod sends from ip (IPv4 as v4-mapped, see podcache_map4)?  *out is
 * the pod for PODCACHE_FOUND, NULL otherwise; valid as an entry is (see
 * struct podcache_entry).  No allocation, no change to the cache.
 */
enum podcache_verdict podcache_resolve(const struct podcache *,
    const struct in6_addr *ip, uint64_t now_ms,
    const struct podcache_entry **out);

/* When the quarantine of ip ends (ms, the clock of now_ms); 0 if none. */
uint64_t podcache_quarantine_until(
    const struct podcache *, const struct in6_addr *ip);

/* Writes the v4-mapped form (::ffff:a.b.c.d) of an IPv4 address. */
void podcache_map4(struct in6_addr *out, const struct in_addr *ip4);

/*
 * Lookups by namespace/name (slices, need not be NUL-terminated; for
 * /host/token/) and by uid (NUL-terminated).  Any pod, live or not; NULL
 * when there is none.  Valid as an entry is.
 */
const struct podcache_entry *podcache_by_name(const struct podcache *,
    const char *ns, size_t nslen, const char *name, size_t namelen);
const struct podcache_entry *podcache_by_uid(
    const struct podcache *, const char *uid);

/*
 * Binds an answer to the pod: podcache_ref fills *ref from e (an entry of
 * this cache); podcache_still returns the entry when the same pod (uid and
 * slot generation) still holds that slot, NULL when it was removed, even
 * if another pod took the slot since.  Liveness is the caller's: e->live.
 */
void podcache_ref(const struct podcache *, const struct podcache_entry *e,
    struct podcache_ref *ref);
const struct podcache_entry *podcache_still(
    const struct podcache *, const struct podcache_ref *ref);

/*
 * Policy swap: recomputes every pod's grants with policy (NULL: none).
 * Grants hold indexes into the policy they were computed with, so the
 * cache must be repolicied before the old policy's memory is reused (also
 * a reload into the same memory: upserts tell policies by address), and
 * later upserts must pass the same policy.
 */
void podcache_repolicy(struct podcache *, const struct pol *policy);

/*
 * The matcher's view of e: labels[] (room for LIM_KOBJ_LABELS) and *out
 * point into e.  For `podid policy explain` style output.
 */
void podcache_pol_pod(const struct podcache_entry *e, struct pol_label *labels,
    struct pol_pod *out);

/*
 * Iteration: *cursor starts at 0; returns the next pod, NULL at the end.
 * Slot order; a pod changed or removed meanwhile may be skipped or seen
 * twice, never a freed slot.
 */
const struct podcache_entry *podcache_next(
    const struct podcache *, unsigned *cursor);

/* Drops expired quarantine entries (also done when the table fills). */
void podcache_expire(struct podcache *, uint64_t now_ms);

/* Fills *out; O(capacity) for the gauges. */
void podcache_stats(
    const struct podcache *, uint64_t now_ms, struct podcache_stats *out);

/*
 * Self-check for tests and fuzzing: walks every record and index, O(size).
 * Returns 0, or -1 with *why naming the broken invariant.
 */
int podcache_check(const struct podcache *, const char **why);

/* A fixed name for err; "unknown error" else. */
const char *podcache_strerror(int err);

#endif
