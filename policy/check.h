/*
 * Private to policy/: the compiler's state and the helpers that compile.c,
 * rules.c, index.c and check.c share.
 */
#ifndef POLICY_CHECK_H
#define POLICY_CHECK_H

#include "policy/policy.h"

struct pol_comp {
	const struct dsl_file *f;
	const struct pol_options *opt;
	struct dsl_diags *diags;
	struct dsl_arena mem; /* the compiled policy's memory */
	struct pol *out;
	bool failed, oom;
	uint32_t nid_blocks, nrule_blocks; /* counted before compiling */
	bool *used;                        /* per identity: referenced */
	struct pol_identity *ids;          /* out->identities, writable */
	uint32_t *id_hash, id_mask;        /* identity names: index + 1 */
	uint32_t *rule_hash, rule_mask;    /* rule names: index + 1 */
	uint32_t *intern, intern_mask;     /* strings kept: offset + 1 */
};

void pc_error(struct pol_comp *, struct dsl_pos, const char *, ...)
    __attribute__((format(printf, 3, 4)));
void pc_warning(struct pol_comp *, struct dsl_pos, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * A value as messages show it: quoted content escaped the way the policy
 * would write it, cut at 100 bytes.  Returns buf.
 */
const char *pc_show(const char *s, size_t len, char *buf, size_t buflen);

/* The one value of an attribute, or NULL after reporting why not. */
const struct dsl_val *pc_one_value(struct pol_comp *, const struct dsl_stmt *);

/* True when the value holds a control character (tab included). */
bool pc_has_ctl(const struct dsl_val *);

/* Reports "expected WHAT, got VALUE" unless ok; returns ok. */
bool pc_expect(
    struct pol_comp *, const struct dsl_val *, bool ok, const char *what);

/* Memory from the compiled policy's buffer; NULL (reported) when full. */
void *pc_alloc(struct pol_comp *, size_t);
struct pol_str pc_keep(struct pol_comp *, const struct dsl_val *);
struct pol_str pc_keep_lit(struct pol_comp *, const char *);

/*
 * Sizes the string table that makes equal strings one copy.  It is scratch
 * space taken from the top of the policy memory while compiling.
 */
int pc_intern_init(struct pol_comp *);

/* Counts blocks and sizes the name tables; -1 when out of memory. */
int pc_count_and_size(struct pol_comp *);
bool pc_check_name(struct pol_comp *, const struct dsl_val *, const char *);
int pc_id_add(struct pol_comp *, const struct dsl_val *, uint32_t index);
uint32_t pc_id_ref(struct pol_comp *, const struct dsl_val *);
int pc_rule_add(struct pol_comp *, const struct dsl_val *, uint32_t index);
uint32_t pc_hash(const char *, size_t);

/* Value syntax. */
bool pc_is_guid(const struct dsl_val *);
bool pc_is_dns_name(const struct dsl_val *);
bool pc_is_dns_label(const char *, size_t);
bool pc_is_dns_subdomain(const char *, size_t);
bool pc_is_uami_id(const struct dsl_val *);
bool pc_is_https_url(const struct dsl_val *);
bool pc_is_proxy_path(const struct dsl_val *);
bool pc_is_label_key(const char *, size_t);
bool pc_is_label_value(const char *, size_t);

/* The passes after identities (rules.c, index.c, check.c). */
void pc_compile_rules(struct pol_comp *);
void pc_index_namespaces(struct pol_comp *);
void pc_check_semantics(struct pol_comp *);

#endif
