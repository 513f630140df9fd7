/*
 * policy: the meaning of a parsed policy.  pol_compile checks a syntax tree
 * (dsl/) and compiles it into a flat, bounded representation in caller
 * memory; pol_match answers, for one pod, which identities it gets and the
 * rule behind each, without allocating.
 *
 * A compiled policy is self-contained: every string it holds is copied into
 * its own memory, so the source and the syntax tree may go once compiled.
 * It is immutable; the daemon compiles a new one beside the running one and
 * swaps pointers (policy reload).
 */
#ifndef POLICY_POLICY_H
#define POLICY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsl/dsl.h"

/* Identities kept for one pod; past it the result says truncated. */
#define POL_MAX_GRANTS 16
#define POL_NONE       0xffffu

enum pol_kind {
	POL_MANAGED,     /* user-assigned managed identity, via node IMDS */
	POL_SECRET,      /* service principal, client secret in a file */
	POL_CERTIFICATE, /* service principal, certificate (PEM) */
	POL_FEDERATED    /* pod's service-account token exchanged */
};

enum pol_signing {
	POL_SIGN_RS256, /* with x5t (SHA-1 thumbprint) */
	POL_SIGN_PS256, /* with x5t#S256 */
	POL_SIGN_ES256  /* with x5t#S256 */
};

/* A string in the compiled policy: NUL-terminated, len without the NUL. */
struct pol_str {
	const char *s;
	uint32_t len;
};

struct pol_identity {
	struct pol_str name;
	enum pol_kind kind;
	struct pol_str client_id;   /* may be empty for managed */
	struct pol_str resource_id; /* managed: ARM id, may be empty */
	struct pol_str object_id;   /* managed: principal id, may be empty */
	struct pol_str tenant;      /* not managed */
	struct pol_str authority;   /* not managed: https://host */
	struct pol_str secret_file; /* secret */
	struct pol_str cert_file;   /* certificate */
	struct pol_str key_file;    /* certificate: defaults to cert_file */
	struct pol_str audience;    /* federated */
	enum pol_signing signing;   /* certificate */
	bool aad_v1;                /* use the v1 token endpoint */
	bool host_token;            /* hosts may ask for it (/host/token/) */
	uint32_t line;
};

enum pol_op {
	POL_OP_EQ,
	POL_OP_NE,
	POL_OP_IN,
	POL_OP_NOTIN,
	POL_OP_EXISTS,
	POL_OP_ABSENT
};

struct pol_req {
	enum pol_op op;
	struct pol_str key;
	const struct pol_str *vals; /* sorted, no duplicates */
	uint32_t nvals;
};

/* A binding (grants identities) or an exception (goes to node IMDS). */
struct pol_rule {
	struct pol_str name;
	bool exception;
	bool all_namespaces;
	bool host_network;                /* hostNetwork pods may match */
	const struct pol_str *namespaces; /* sorted; none when all */
	uint32_t nnamespaces;
	struct pol_str service_account; /* empty: any */
	const struct pol_req *reqs;
	uint32_t nreqs;
	const uint16_t *identities; /* bindings: indexes into identities */
	uint32_t nidentities;
	uint32_t line;
	uint64_t guard; /* label-key bits a pod needs (pol_key_bit) */
};

/* Namespace index: open addressing, each slot a list of rule numbers. */
struct pol_ns_slot {
	struct pol_str ns; /* s NULL: empty slot */
	uint32_t hash;
	const uint32_t *rules; /* ascending */
	uint32_t nrules;
};

struct pol {
	const char *file; /* name it was compiled from */
	const struct pol_identity *identities;
	uint32_t nidentities;
	const struct pol_rule *rules; /* file order */
	uint32_t nrules, nbindings, nexceptions;
	const struct pol_str *proxy_routes;
	uint32_t nproxy_routes;
	const struct pol_ns_slot *ns_index;
	uint32_t ns_mask;             /* slots - 1 */
	const uint32_t *all_ns_rules; /* rules with namespace *, ascending */
	uint32_t nall_ns_rules;
	const uint32_t *id_index; /* identity name hash: index+1, 0 empty */
	uint32_t id_mask;
	size_t bytes;    /* memory the compiled form keeps */
	size_t need;     /* memory compiling it needs (bytes + string table) */
	uint64_t digest; /* FNV-1a of the compiled content, for "same policy" */
};

struct pol_options {
	bool files_fatal; /* missing secret/cert files: error, not warning */
	size_t max_bytes; /* compiled policy budget */
};

/*
 * Checks f and compiles it into mem (size bytes, which must stay alive as
 * long as *out is used).  Every problem is reported to diags; returns 0, or
 * -1 when there was an error (then *out must not be used).  Warnings do not
 * fail the compile.
 */
int pol_compile(const struct dsl_file *f, const struct pol_options *, void *mem,
    size_t size, struct pol *out, struct dsl_diags *diags);

/* A pod as the matcher sees it; slices need not be NUL-terminated. */
struct pol_label {
	const char *key, *val;
	uint32_t klen, vlen;
};

struct pol_pod {
	const char *ns, *sa;
	uint32_t nslen, salen;
	const struct pol_label *labels;
	uint32_t nlabels;
	bool host_network;
};

struct pol_grant {
	uint16_t identity; /* index into pol.identities */
	uint32_t rule;     /* index into pol.rules */
};

enum pol_verdict {
	POL_DENY,     /* no binding matched: nothing granted */
	POL_GRANT,    /* grants[0..ngrants) */
	POL_EXCEPTION /* pass the pod's requests to the node's IMDS */
};

struct pol_result {
	enum pol_verdict verdict;
	uint32_t exception; /* EXCEPTION: the rule */
	uint32_t ngrants;
	bool truncated; /* more than POL_MAX_GRANTS identities matched */
	struct pol_grant grants[POL_MAX_GRANTS];
};

/*
 * Matches a pod.  Exceptions come first: a pod that one selects is passed
 * through.  Otherwise every binding is tried in file order and each
 * identity is granted once, by the first binding that grants it.  Cost: a
 * hash of the namespace, then each rule of that namespace and each rule of
 * "namespace *" in turn, each requirement a scan of the pod's labels.  No
 * allocation; safe to call concurrently on an immutable policy.
 */
void pol_match(const struct pol *, const struct pol_pod *, struct pol_result *);

/* The bit a label key sets in a pod's key mask (a 64-bit Bloom filter). */
uint64_t pol_key_bit(const char *key, size_t len);

/* Finds an identity by name; POL_NONE when there is none. */
uint32_t pol_identity_find(const struct pol *, const char *name, size_t len);

/* Does rule r select the pod?  When not, *why says which part failed. */
bool pol_rule_matches(const struct pol_rule *r, const struct pol_pod *,
    const char **why, const struct pol_req **failed);

/*
 * A load slot: the memory to read, parse and compile one policy file, sized
 * once (pol_slot_new is the only allocation).  The daemon keeps two, the
 * running policy's and a spare to load a new one into, and swaps them.
 */
struct pol_slot_limits {
	size_t file_bytes, ast_bytes, pol_bytes;
	uint32_t max_token, max_values, max_diags;
};

struct pol_slot {
	struct pol_slot_limits lim;
	char *src; /* file_bytes + 1 */
	void *ast_mem, *pol_mem;
	struct dsl_diag *diag_v;
	struct dsl_file file;
	struct dsl_diags diags;
	struct pol pol;
	bool loaded; /* pol holds a compiled policy */
	char path[256];
};

/* Allocates the slot's buffers; -1 (errno set) when out of memory. */
int pol_slot_new(struct pol_slot *, const struct pol_slot_limits *);
void pol_slot_free(struct pol_slot *);

/*
 * Reads path into the slot, parses and compiles it.  Returns 0, or -1 with
 * the reasons in slot->diags (a file that cannot be read, or is larger than
 * the limit, is one diagnostic at line 0).  syntax_only stops after parsing
 * (for the formatter).
 */
int pol_slot_load(struct pol_slot *, const char *path,
    const struct pol_options *, bool syntax_only);

/*
 * Gives the source and parse-tree memory of a loaded slot back to the
 * kernel (the compiled policy keeps what it needs); for the daemon, whose
 * slots live long.
 */
void pol_slot_release_scratch(struct pol_slot *);

/* Names of kinds, signing algorithms and operators, for output. */
const char *pol_kind_name(enum pol_kind);
const char *pol_signing_name(enum pol_signing);

#endif
