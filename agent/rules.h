/*
 * rules: podid's interception rules, in nf_tables, over its own netlink
 * socket (no iptables binary, no libmnl/libnftnl).  The ruleset is one
 * table of podid's own holding one base chain and one rule:
 *
 *	table ip podid {
 *		chain prerouting {
 *			type nat hook prerouting priority dstnat - 10; policy accept;
 *			ip daddr 169.254.169.254 tcp dport 80 dnat to NODE-IP:PORT
 *		}
 *	}
 *
 * Priority -110 runs before iptables-nft's nat PREROUTING (-100), so
 * kube-proxy and CNI chains never see a pod's IMDS traffic first; their
 * resyncs and `iptables -t nat -F` do not touch this table.  Prerouting
 * never sees locally generated packets: the node's own traffic (podid's
 * upstream calls, hostNetwork pods) goes to the real IMDS.
 *
 * Three layers, so the first two are testable without a kernel:
 *  - builders (rules_msg_*): netlink requests into caller buffers;
 *  - parsers (rules_dump_*, rules_ct_*): pure and push-style over the
 *    kernel's answers, results copied into fixed slots of caller storage;
 *  - actions (rules_install, rules_remove, rules_status,
 *    rules_conntrack_flush): one NETLINK_NETFILTER socket per call, fixed
 *    stack buffers, nothing allocated.  Every nfnetlink request needs
 *    CAP_NET_ADMIN in the network namespace, reading ones included.
 */
#ifndef AGENT_RULES_H
#define AGENT_RULES_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "agent/limits.h"

#define RULES_TABLE      "podid"
#define RULES_CHAIN      "prerouting"
#define RULES_PRIORITY   (-110) /* NF_IP_PRI_NAT_DST - 10 */
#define RULES_IMDS_ADDR  "169.254.169.254"
#define RULES_IMDS_PORT  80
#define RULES_NAME_BYTES 256 /* NFT_NAME_MAXLEN, NUL included */
#define RULES_EXPR_NAME  16  /* NFT_EXPR_MAXNAMELEN, NUL included */
#define RULES_EXPR_ATTRS 16  /* 32-bit attributes kept per expression */
#define RULES_EXPR_DATA  16  /* data bytes kept per expression */
#define RULES_WHY_BYTES  160 /* rules_state.why, NUL included */

/* Errors: negative return codes; rules_strerror() names them. */
enum rules_err {
	RULES_E_NOSPACE = -1,   /* a request does not fit its buffer */
	RULES_E_MALFORMED = -2, /* an answer that does not parse */
	RULES_E_TOOBIG = -3,    /* an answer over LIM_RULES_RECV_BYTES */
	RULES_E_SOCKET = -4,    /* netlink socket set-up failed (errno) */
	RULES_E_IO = -5,        /* send or receive failed (errno) */
	RULES_E_TIMEOUT = -6,   /* no answer within LIM_RULES_TIMEOUT_MS */
	RULES_E_KERNEL = -7,    /* the kernel refused a request (errno) */
	RULES_E_CHANGED = -8,   /* the ruleset kept changing during dumps */
	RULES_E_SPEC = -9,      /* a spec with a zero address or port */
};

/*
 * What to install or expect.  Addresses in network order, ports in host
 * order.  For rules_status, node_ip INADDR_ANY or port 0 accepts any DNAT
 * target of the right shape.  rules_spec_init fills the IMDS side.
 */
struct rules_spec {
	struct in_addr node_ip; /* DNAT target: podid's listening address */
	uint16_t port;          /* DNAT target port (2579) */
	struct in_addr imds_ip; /* 169.254.169.254 */
	uint16_t imds_port;     /* 80 */
};

/* Sets *s to intercept 169.254.169.254:80 towards node_ip:port. */
void rules_spec_init(
    struct rules_spec *s, struct in_addr node_ip, uint16_t port);

/* How the installed ruleset differs from the expected one. */
enum rules_verdict {
	RULES_MATCH = 0,    /* exactly the expected ruleset */
	RULES_NO_TABLE,     /* no table ip podid */
	RULES_TABLE_FLAGS,  /* the table is dormant (or otherwise flagged) */
	RULES_NO_CHAIN,     /* no chain prerouting in it */
	RULES_WRONG_HOOK,   /* not a base chain at prerouting, -110 */
	RULES_WRONG_TYPE,   /* not type nat, or policy not accept */
	RULES_TABLE_EXTRA,  /* other chains, sets or objects in the table */
	RULES_NO_RULE,      /* the chain is empty */
	RULES_WRONG_RULE,   /* a rule of another shape */
	RULES_WRONG_TARGET, /* the expected match, another DNAT target */
	RULES_EXTRA_RULES,  /* more than the one rule */
};

/*
 * One rule expression as the kernel dumps it: the name, every 32-bit
 * attribute of its data by attribute type (host order; bit t of has set
 * when u32[t] was present), and the value of cmp/immediate data.
 */
struct rules_expr {
	char name[RULES_EXPR_NAME];
	uint32_t u32[RULES_EXPR_ATTRS];
	uint16_t has;
	uint8_t data[RULES_EXPR_DATA];
	uint8_t datalen;  /* bytes of data (0..RULES_EXPR_DATA) */
	bool data_long;   /* the value was longer than RULES_EXPR_DATA */
	bool has_verdict; /* immediate data was a verdict */
	int32_t verdict;  /* NF_ACCEPT, NFT_JUMP, ... */
	char vchain[32];  /* jump/goto target, truncated */
};

/* One rule of table podid; exprs beyond LIM_RULES_EXPRS are counted. */
struct rules_rule {
	char chain[RULES_NAME_BYTES];
	uint64_t handle;
	unsigned nexprs; /* expressions in the rule */
	unsigned kept;   /* of which stored in expr[] */
	struct rules_expr expr[LIM_RULES_EXPRS];
};

/*
 * The installed ruleset as far as podid looks at it, and the verdict.
 * Caller storage (about 20 KiB): filled by rules_status() or, piece by
 * piece, by the dump parser; rules_check() sets verdict and why.
 */
struct rules_state {
	enum rules_verdict verdict;
	char why[RULES_WHY_BYTES]; /* one line, lower case, no newline */
	bool table;                /* table ip podid exists */
	uint32_t table_flags;      /* NFT_TABLE_F_* */
	uint32_t table_use;        /* chains, sets and objects in it */
	bool chain;                /* chain prerouting exists */
	bool chain_base;           /* ... with a hook */
	uint32_t hooknum;          /* NF_INET_* */
	int32_t priority;
	char type[16]; /* "nat", truncated */
	bool has_policy;
	uint32_t policy; /* NF_ACCEPT or NF_DROP */
	unsigned nrules; /* rules in the table */
	unsigned kept;   /* of which stored in rule[] */
	struct rules_rule rule[LIM_RULES_RULES];
};

/*
 * Builds the install batch (begin, add+delete+add table, chain, rule, end)
 * into buf: one transaction that leaves exactly the expected ruleset,
 * whatever was there.  Messages use seq, seq+1, ... seq+6.  Returns the
 * length, RULES_E_NOSPACE when cap is too small, RULES_E_SPEC.
 */
ssize_t rules_msg_install(
    void *buf, size_t cap, uint32_t seq, const struct rules_spec *spec);

/*
 * Builds just the rule's NFTA_RULE_EXPRESSIONS attribute (for tests):
 * payload, cmp, meta, cmp, payload, cmp, immediate, immediate, nat.
 * Returns the length or RULES_E_NOSPACE / RULES_E_SPEC.
 */
ssize_t rules_msg_exprs(void *buf, size_t cap, const struct rules_spec *spec);

/*
 * Builds the remove batch (add table, delete table: never ENOENT), seqs
 * seq..seq+3.  Returns the length or RULES_E_NOSPACE.
 */
ssize_t rules_msg_remove(void *buf, size_t cap, uint32_t seq);

/* The three status requests, in the order rules_status sends them. */
enum rules_get {
	RULES_GET_TABLE, /* GETTABLE ip podid, acked */
	RULES_GET_CHAIN, /* GETCHAIN ip podid prerouting, acked */
	RULES_GET_RULES, /* GETRULE dump of table ip podid */
};

/* Builds one status request with seq.  Length or RULES_E_NOSPACE. */
ssize_t rules_msg_get(void *buf, size_t cap, uint32_t seq, enum rules_get what);

/*
 * Parser of the kernel's answers to requests with seqs [lo, hi]: tables,
 * chains and rules of table ip podid go into *st, the rest is skipped.
 * want counts the acks, errors and DONEs that end the exchange (one per
 * acked message or dump); an error on lo or hi (a batch's begin or end)
 * ends it too.  Members are read-only for the caller.
 */
struct rules_dump {
	struct rules_state *st;
	uint32_t lo, hi;
	unsigned want, got; /* answers expected, received */
	int kerr;           /* errno of the first refusal, or 0 */
	uint32_t kseq;      /* the refused message's seq */
	bool intr;          /* NLM_F_DUMP_INTR: dump inconsistent */
	bool done;          /* the exchange is over */
};

/* Starts a parse into st (not cleared: one st collects several). */
void rules_dump_init(struct rules_dump *d, struct rules_state *st, uint32_t lo,
    uint32_t hi, unsigned want);

/*
 * Takes the complete netlink messages at the start of buf[0..len) and
 * returns the bytes they took (0: need more), or RULES_E_MALFORMED /
 * RULES_E_TOOBIG.  A kernel refusal is not an error here: see kerr.
 * ENOENT for GETTABLE/GETCHAIN records an absence, not a refusal.
 */
ssize_t rules_dump_feed(struct rules_dump *d, const void *buf, size_t len);

/* Clears st to "nothing seen": before the first rules_dump_init. */
void rules_state_clear(struct rules_state *st);

/*
 * Compares st with spec: sets st->verdict and st->why.  Pure.  Returns
 * the verdict.
 */
enum rules_verdict rules_check(
    const struct rules_spec *spec, struct rules_state *st);

/*
 * Reads the ruleset (three requests, re-read up to LIM_RULES_STATUS_TRIES
 * times while it changes mid-dump) and checks it against spec.  Returns 0
 * with out filled and its verdict set, or a negative error (errno set for
 * RULES_E_SOCKET/IO/KERNEL).  Cheap: a few small messages.
 */
int rules_status(const struct rules_spec *spec, struct rules_state *out);

/*
 * Installs the ruleset for spec atomically.  Returns 1 when it was
 * already exactly in place (nothing sent: a second install changes
 * nothing), 0 when installed, or a negative error (errno as above).
 */
int rules_install(const struct rules_spec *spec);

/*
 * Deletes table ip podid and everything in it, atomically.  Returns 0,
 * also when there was none, or a negative error.
 */
int rules_remove(void);

/*
 * Prints st's ruleset as `nft list table ip podid` would (the expected
 * ruleset prints identically); other expressions in nft-like or raw form.
 * Prints nothing when there is no table.  Returns 0 or -1 (stdio error).
 */
int rules_print(FILE *f, const struct rules_state *st);

/*
 * One conntrack entry of a dump: the original direction's tuple, with
 * what deleting exactly it takes (id, zone).  Ports in host order.
 */
struct rules_ct_entry {
	struct in_addr src, dst;
	uint16_t sport, dport;
	uint8_t proto;
	uint16_t zone;
	uint32_t id;
	uint32_t status; /* IPS_* */
	bool has_id;
};

/*
 * Parser of a conntrack dump (seq) looking for entries to cut: TCP to
 * dst:dport, not destination-NATed (those already go to podid).  Members
 * are read-only for the caller; hit is valid right after a feed that set
 * matched.
 */
struct rules_ct {
	struct in_addr dst;
	uint16_t dport;
	uint32_t seq;
	bool matched;
	bool done;
	int kerr;
	unsigned seen; /* entries parsed */
	struct rules_ct_entry hit;
};

/* Starts a conntrack dump parse for entries to dst:dport (host order). */
void rules_ct_init(
    struct rules_ct *c, uint32_t seq, struct in_addr dst, uint16_t dport);

/*
 * Takes ONE complete netlink message from buf[0..len): returns its bytes
 * (0: need more) or RULES_E_MALFORMED / RULES_E_TOOBIG.  Sets matched and
 * hit for an entry to cut, done at NLMSG_DONE or an error (kerr).
 */
ssize_t rules_ct_feed(struct rules_ct *c, const void *buf, size_t len);

/* Builds the conntrack dump request (IPv4).  Length or RULES_E_NOSPACE. */
ssize_t rules_msg_ct_dump(void *buf, size_t cap, uint32_t seq);

/* Builds the acked delete of exactly entry e.  Length or RULES_E_NOSPACE. */
ssize_t rules_msg_ct_delete(
    void *buf, size_t cap, uint32_t seq, const struct rules_ct_entry *e);

/*
 * Deletes the conntrack entries of TCP connections to dst:dport (host
 * order) that are not destination-NATed: pods' connections opened to the
 * real IMDS before the rules existed; their next packet then meets the
 * DNAT rule and is reset.  *deleted (may be NULL) counts them.  Returns 0
 * or a negative error (errno as above).
 */
int rules_conntrack_flush(
    struct in_addr dst, uint16_t dport, unsigned *deleted);

/* Names err (enum rules_err); "unknown error" otherwise. */
const char *rules_strerror(int err);

/* Names v ("match", "no table", ...). */
const char *rules_verdict_name(enum rules_verdict v);

#endif
