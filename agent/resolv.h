/*
 * resolv: name to IPv4 addresses without ever blocking the loop.  In
 * order: an IPv4 literal, the hosts file, the cache, then DNS over UDP to
 * the nameservers of resolv.conf (TCP when an answer comes truncated).
 * Search domains, ndots, timeout and attempts behave as in glibc:
 *  - a name with a trailing dot is absolute and asked as is;
 *  - one with at least ndots dots is asked as is first, then with each
 *    search domain; one with fewer dots, search domains first;
 *  - NXDOMAIN and no-data go on to the next candidate, a timeout ends the
 *    lookup; each try goes to the next server (in order), attempts rounds.
 * Queries carry a random ID (getrandom) from a fresh socket (source port
 * chosen by the kernel), connected to the server asked; an answer counts
 * only with our ID and our question echoed, else it is ignored.
 *
 * Answers are cached for their TTL (min over the records used, between
 * LIM_RESOLV_TTL_MIN_S and LIM_RESOLV_TTL_MAX_S); NXDOMAIN and no-data for
 * the SOA's negative TTL (at most LIM_RESOLV_NEG_TTL_MAX_S) or
 * LIM_RESOLV_NEG_TTL_S.  A full cache replaces the entry nearest expiry.
 * Both files are read at resolv_new (before any seccomp drop) and read
 * again, before a lookup, when their mtime changed (checked at most every
 * LIM_RESOLV_RECHECK_MS); a new resolv.conf empties the cache.
 *
 * IPv4 only (A records; hosts lines with IPv6 addresses are skipped); the
 * codec (agent/dns.h) knows AAAA.  Everything is sized at resolv_new;
 * nothing is allocated per lookup.
 */
#ifndef AGENT_RESOLV_H
#define AGENT_RESOLV_H

#include <netinet/in.h>
#include <stdint.h>

#include "agent/loop.h"

/* Errors: negative return codes and callback errs; resolv_strerror(). */
enum resolv_err {
	RESOLV_E_INVAL = -1,   /* bad argument */
	RESOLV_E_BADNAME = -2, /* not a usable host name */
	RESOLV_E_FULL = -3,    /* all max_pending slots (or loop timers) busy */
	RESOLV_E_NXDOMAIN = -4, /* no such name (with any search domain) */
	RESOLV_E_NODATA = -5,   /* the name has no IPv4 address */
	RESOLV_E_TIMEOUT = -6,  /* no server answered in time */
	RESOLV_E_SERVFAIL = -7, /* servers failed or refused to answer */
	RESOLV_E_SYS = -8,      /* a socket could not be made or watched */
};

/* Where to read the configuration and how big the tables are. */
struct resolv_config {
	const char *hosts_path;       /* "/etc/hosts"; NULL: no hosts file */
	const char *resolv_conf_path; /* "/etc/resolv.conf" */
	uint16_t port;                /* 0: 53; tests override */
	unsigned cache_slots;         /* 1..LIM_RESOLV_CACHE_SLOTS_MAX */
	unsigned max_pending;         /* 1..LIM_RESOLV_PENDING_MAX */
	uint32_t timeout_ms; /* per try, unless resolv.conf says timeout:N */
	unsigned attempts;   /* rounds, unless resolv.conf says attempts:N */
};

/* Counters since resolv_new; read with resolv_stats(). */
struct resolv_stats {
	uint64_t lookups;       /* resolv_lookup calls accepted */
	uint64_t refused_full;  /* lookups refused: RESOLV_E_FULL */
	uint64_t literals;      /* answered as an IPv4 literal */
	uint64_t hosts_hits;    /* answered from the hosts file */
	uint64_t cache_hits;    /* answered from the cache */
	uint64_t cache_evicted; /* live entries replaced by a new answer */
	uint64_t udp_queries;   /* datagrams sent */
	uint64_t tcp_queries;   /* queries sent over TCP */
	uint64_t truncated;     /* UDP answers with TC set */
	uint64_t ignored;       /* answers ignored: wrong ID, question, form */
	uint64_t timeouts;      /* tries that timed out */
	uint64_t reloads;       /* hosts or resolv.conf read again */
};

/* Fills c with /etc/hosts, /etc/resolv.conf, port 53 and the LIM_ defaults. */
void resolv_config_default(struct resolv_config *c);

/*
 * Makes a resolver on loop l (which must have a timer per pending lookup
 * free): the one allocation, at start-up.  Reads both files now; a missing
 * file counts as empty (no servers: 127.0.0.1, as glibc).  Returns NULL
 * with errno EINVAL (sizes out of range) or ENOMEM.
 */
struct resolv *resolv_new(struct loop *l, const struct resolv_config *c);

/* Closes sockets, disarms timers, frees r (NULL is fine); no callbacks. */
void resolv_free(struct resolv *r);

/*
 * The result of a lookup, from the loop: err 0 with n (1..LIM_RESOLV_ADDRS)
 * addresses, valid during the call only, or a negative enum resolv_err
 * with n 0.  The callback may start or cancel lookups.
 */
typedef void (*resolv_cb)(
    void *arg, int err, const struct in_addr *addrs, unsigned n);

/*
 * Starts resolving name (copied).  Returns 0 and sets *handle: cb will be
 * called once, later, from the loop (never from inside this call, even for
 * a literal, a hosts entry or a cache hit).  Or a negative error now:
 * RESOLV_E_INVAL, RESOLV_E_BADNAME, RESOLV_E_FULL (counted).
 */
int resolv_lookup(struct resolv *r, const char *name, resolv_cb cb, void *arg,
    uint32_t *handle);

/*
 * Abandons the lookup handle: no callback after this.  A handle already
 * finished or cancelled (or 0) is ignored; handles are not reused soon.
 */
void resolv_cancel(struct resolv *r, uint32_t handle);

/* The counters; the pointer is valid as long as r. */
const struct resolv_stats *resolv_stats(const struct resolv *r);

/* A fixed description of err (enum resolv_err). */
const char *resolv_strerror(int err);

#endif
