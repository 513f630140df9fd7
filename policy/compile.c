/*
 * Semantic checks and compilation of a policy's syntax tree into the flat
 * representation of policy.h.  Identities are compiled first so bindings
 * may name identities defined further down.  All output memory comes from
 * the caller's buffer; running out of it is a diagnostic, not a crash.
 */
#include <string.h>

#include "policy/check.h"
#include "policy/policy.h"

/* The attributes an identity block takes, and for which kinds. */
enum id_attr {
	IA_KIND,
	IA_CLIENT_ID,
	IA_RESOURCE_ID,
	IA_OBJECT_ID,
	IA_TENANT,
	IA_AUTHORITY,
	IA_ENDPOINT,
	IA_SECRET_FILE,
	IA_CERT_FILE,
	IA_KEY_FILE,
	IA_SIGNING,
	IA_AUDIENCE,
	IA__COUNT
};

#define K(x)  (1u << (x))
#define K_AAD (K(POL_SECRET) | K(POL_CERTIFICATE) | K(POL_FEDERATED))

static const struct {
	const char *name;
	unsigned allowed, required; /* masks of enum pol_kind */
} id_attrs[IA__COUNT] = {
    [IA_KIND] = {"kind", 0xf, 0},
    [IA_CLIENT_ID] = {"client-id", 0xf, K_AAD},
    [IA_RESOURCE_ID] = {"resource-id", K(POL_MANAGED), 0},
    [IA_OBJECT_ID] = {"object-id", K(POL_MANAGED), 0},
    [IA_TENANT] = {"tenant", K_AAD, K_AAD},
    [IA_AUTHORITY] = {"authority", K_AAD, 0},
    [IA_ENDPOINT] = {"endpoint", K_AAD, 0},
    [IA_SECRET_FILE] = {"secret-file", K(POL_SECRET), K(POL_SECRET)},
    [IA_CERT_FILE] = {"cert-file", K(POL_CERTIFICATE), K(POL_CERTIFICATE)},
    [IA_KEY_FILE] = {"key-file", K(POL_CERTIFICATE), 0},
    [IA_SIGNING] = {"signing", K(POL_CERTIFICATE), 0},
    [IA_AUDIENCE] = {"audience", K(POL_FEDERATED), 0},
};

static const char *const kind_names[] = {
    [POL_MANAGED] = "managed",
    [POL_SECRET] = "secret",
    [POL_CERTIFICATE] = "certificate",
    [POL_FEDERATED] = "federated",
};

static const char *const signing_names[] = {
    [POL_SIGN_RS256] = "rs256",
    [POL_SIGN_PS256] = "ps256",
    [POL_SIGN_ES256] = "es256",
};

const char *
pol_kind_name(enum pol_kind k)
{
	return (unsigned)k < 4 ? kind_names[k] : "unknown";
}

const char *
pol_signing_name(enum pol_signing s)
{
	return (unsigned)s < 3 ? signing_names[s] : "unknown";
}

static int
word_index(const struct dsl_val *v, const char *const *names, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (names[i] != NULL && v->len == strlen(names[i]) &&
		    memcmp(v->s, names[i], v->len) == 0)
			return i;
	return -1;
}

static bool
id_check_value(struct pol_comp *c, enum id_attr a, const struct dsl_val *v,
    struct pol_identity *id)
{
	switch (a) {
	case IA_CLIENT_ID:
		return pc_expect(c, v, pc_is_guid(v), "a client id (GUID)");
	case IA_OBJECT_ID:
		return pc_expect(c, v, pc_is_guid(v), "an object id (GUID)");
	case IA_TENANT:
		return pc_expect(c, v, pc_is_guid(v) || pc_is_dns_name(v),
		    "a tenant id (GUID) or a tenant domain name");
	case IA_RESOURCE_ID:
		return pc_expect(c, v, pc_is_uami_id(v),
		    "an ARM id /subscriptions/SUB/resourceGroups/RG/providers/"
		    "Microsoft.ManagedIdentity/userAssignedIdentities/NAME");
	case IA_AUTHORITY:
		return pc_expect(c, v, pc_is_https_url(v),
		    "an https:// URL without query, e.g. "
		    "https://login.microsoftonline.com");
	case IA_SECRET_FILE:
	case IA_CERT_FILE:
	case IA_KEY_FILE:
		return pc_expect(c, v,
		    v->len > 1 && v->s[0] == '/' && !pc_has_ctl(v),
		    "an absolute file path");
	case IA_AUDIENCE:
		return pc_expect(c, v,
		    v->len > 0 && v->len <= 256 && !pc_has_ctl(v),
		    "an audience of 1 to 256 bytes, no control characters");
	case IA_ENDPOINT:
		if (dsl_val_is(v, "v1") || dsl_val_is(v, "v2")) {
			id->aad_v1 = dsl_val_is(v, "v1");
			return true;
		}
		return pc_expect(c, v, false, "v1 or v2");
	case IA_SIGNING: {
		int i = word_index(v, signing_names, 3);

		if (i >= 0)
			id->signing = (enum pol_signing)i;
		return pc_expect(c, v, i >= 0, "rs256, ps256 or es256");
	}
	default:
		return true;
	}
}

/* Gathers an identity block's attributes, one statement each. */
static bool
id_gather(struct pol_comp *c, const struct dsl_stmt *blk,
    const struct dsl_stmt **seen)
{
	const struct dsl_stmt *s;
	bool ok = true;
	int a;

	for (s = blk->body; s != NULL; s = s->next) {
		if (s->kind == DSL_S_COMMENT)
			continue;
		for (a = 0; a < IA__COUNT; a++)
			if (dsl_val_is(&s->word, id_attrs[a].name))
				break;
		if (a == IA__COUNT) {
			pc_error(c, s->word.pos,
			    "unknown identity attribute \"%.*s\"",
			    (int)s->word.len, s->word.s);
			ok = false;
		} else if (seen[a] != NULL) {
			pc_error(c, s->word.pos,
			    "\"%s\" given twice (first at line %u)",
			    id_attrs[a].name, seen[a]->pos.line);
			ok = false;
		} else if (pc_one_value(c, s) == NULL)
			ok = false;
		else
			seen[a] = s;
	}
	return ok;
}

static struct pol_str *
id_field(struct pol_identity *id, enum id_attr a)
{
	switch (a) {
	case IA_CLIENT_ID:
		return &id->client_id;
	case IA_RESOURCE_ID:
		return &id->resource_id;
	case IA_OBJECT_ID:
		return &id->object_id;
	case IA_TENANT:
		return &id->tenant;
	case IA_AUTHORITY:
		return &id->authority;
	case IA_SECRET_FILE:
		return &id->secret_file;
	case IA_CERT_FILE:
		return &id->cert_file;
	case IA_KEY_FILE:
		return &id->key_file;
	case IA_AUDIENCE:
		return &id->audience;
	default:
		return NULL;
	}
}

/* Checks the attributes against the kind and stores them. */
static bool
id_fill(struct pol_comp *c, const struct dsl_stmt *blk,
    const struct dsl_stmt **seen, struct pol_identity *id)
{
	struct pol_str *field;
	struct dsl_val v;
	bool ok = true;
	unsigned k = K(id->kind);
	int a;

	for (a = IA_CLIENT_ID; a < IA__COUNT; a++) {
		if (seen[a] == NULL) {
			if (id_attrs[a].required & k) {
				pc_error(c, blk->name.pos,
				    "identity \"%s\" of kind %s needs \"%s\"",
				    id->name.s, kind_names[id->kind],
				    id_attrs[a].name);
				ok = false;
			}
			continue;
		}
		if (!(id_attrs[a].allowed & k)) {
			pc_error(c, seen[a]->word.pos,
			    "\"%s\" does not apply to a %s identity",
			    id_attrs[a].name, kind_names[id->kind]);
			ok = false;
			continue;
		}
		v = seen[a]->vals[0];
		if (a == IA_AUTHORITY)
			while (v.len > 8 && v.s[v.len - 1] == '/')
				v.len--; /* the token path is appended */
		if (!id_check_value(c, (enum id_attr)a, &v, id))
			ok = false;
		else if ((field = id_field(id, (enum id_attr)a)) != NULL)
			*field = pc_keep(c, &v);
	}
	return ok;
}

static void
id_defaults(
    struct pol_comp *c, const struct dsl_stmt *blk, struct pol_identity *id)
{
	if (id->kind == POL_MANAGED && id->client_id.len == 0 &&
	    id->resource_id.len == 0)
		pc_error(c, blk->name.pos,
		    "managed identity \"%s\" needs \"client-id\" or "
		    "\"resource-id\"",
		    id->name.s);
	if (id->kind != POL_MANAGED && id->authority.len == 0)
		id->authority =
		    pc_keep_lit(c, "https://login.microsoftonline.com");
	if (id->kind == POL_CERTIFICATE && id->key_file.len == 0)
		id->key_file = id->cert_file;
	if (id->kind == POL_FEDERATED && id->audience.len == 0)
		id->audience = pc_keep_lit(c, "api://AzureADTokenExchange");
}

static void
compile_identity(
    struct pol_comp *c, const struct dsl_stmt *blk, struct pol_identity *id)
{
	const struct dsl_stmt *seen[IA__COUNT] = {0};
	const struct dsl_val *kv;
	int kind;

	memset(id, 0, sizeof(*id));
	id->name = pc_keep(c, &blk->name);
	id->line = blk->pos.line;
	if (!id_gather(c, blk, seen))
		return;
	if (seen[IA_KIND] == NULL) {
		pc_error(c, blk->name.pos,
		    "identity \"%s\" has no \"kind\" (managed, secret, "
		    "certificate or federated)",
		    id->name.s);
		return;
	}
	kv = &seen[IA_KIND]->vals[0];
	if ((kind = word_index(kv, kind_names, 4)) < 0) {
		pc_expect(c, kv, false,
		    "a kind: managed, secret, certificate or federated");
		return;
	}
	id->kind = (enum pol_kind)kind;
	if (id_fill(c, blk, seen, id))
		id_defaults(c, blk, id);
}

/* Statements of the top level, by keyword. */
static bool
is_block(const struct dsl_stmt *s, const char *kw)
{
	return s->kind == DSL_S_BLOCK && dsl_val_is(&s->word, kw);
}

static bool
is_attr(const struct dsl_stmt *s, const char *kw)
{
	return s->kind == DSL_S_ATTR && dsl_val_is(&s->word, kw);
}

static bool
check_top(struct pol_comp *c, const struct dsl_stmt *s)
{
	if (s->kind == DSL_S_COMMENT || is_block(s, "identity") ||
	    is_block(s, "bind") || is_block(s, "exception") ||
	    is_attr(s, "host-token") || is_attr(s, "proxy-route"))
		return true;
	pc_error(c, s->word.pos,
	    "unknown %s \"%.*s\": expected identity, bind, exception, "
	    "host-token or proxy-route",
	    s->kind == DSL_S_BLOCK ? "block" : "statement", (int)s->word.len,
	    s->word.s);
	return false;
}

static void
compile_identities(struct pol_comp *c)
{
	const struct dsl_stmt *s;
	struct pol_identity *ids;
	uint32_t n = 0;

	for (s = c->f->first; s != NULL; s = s->next)
		if (check_top(c, s) && is_block(s, "identity"))
			n++;
	if ((ids = pc_alloc(c, n * sizeof(*ids))) == NULL)
		return;
	c->out->identities = c->ids = ids;
	for (s = c->f->first; s != NULL; s = s->next) {
		if (!is_block(s, "identity"))
			continue;
		if (!pc_check_name(c, &s->name, "identity"))
			continue;
		if (pc_id_add(c, &s->name, c->out->nidentities) < 0)
			continue;
		compile_identity(c, s, &ids[c->out->nidentities++]);
	}
}

static void
compile_host_tokens(struct pol_comp *c)
{
	const struct dsl_stmt *s;
	struct pol_identity *ids = c->ids;
	uint32_t i, id;

	for (s = c->f->first; s != NULL; s = s->next) {
		if (!is_attr(s, "host-token"))
			continue;
		if (s->nvals == 0)
			pc_error(c, s->word.pos,
			    "\"host-token\" needs one or more identity names");
		for (i = 0; i < s->nvals; i++) {
			if ((id = pc_id_ref(c, &s->vals[i])) == POL_NONE)
				continue;
			if (ids[id].host_token)
				pc_warning(c, s->vals[i].pos,
				    "identity \"%s\" is already a host token",
				    ids[id].name.s);
			ids[id].host_token = true;
			c->used[id] = true;
		}
	}
}

static void
compile_proxy_routes(struct pol_comp *c)
{
	const struct dsl_stmt *s;
	struct pol_str *r;
	uint32_t n = 0, i;

	for (s = c->f->first; s != NULL; s = s->next)
		if (is_attr(s, "proxy-route"))
			n += s->nvals;
	if ((r = pc_alloc(c, n * sizeof(*r))) == NULL)
		return;
	c->out->proxy_routes = r;
	for (s = c->f->first; s != NULL; s = s->next) {
		if (!is_attr(s, "proxy-route"))
			continue;
		if (s->nvals == 0)
			pc_error(c, s->word.pos,
			    "\"proxy-route\" needs one or more paths");
		for (i = 0; i < s->nvals; i++)
			if (pc_expect(c, &s->vals[i],
			        pc_is_proxy_path(&s->vals[i]),
			        "an IMDS path under /metadata/ (no query, '%', "
			        "'\\', "
			        "\"//\" or dot segment, no trailing '/', not "
			        "under "
			        "/metadata/identity)"))
				r[c->out->nproxy_routes++] =
				    pc_keep(c, &s->vals[i]);
	}
}

static uint64_t
fnv1a64(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

int
pol_compile(const struct dsl_file *f, const struct pol_options *opt, void *mem,
    size_t size, struct pol *out, struct dsl_diags *diags)
{
	struct pol_comp c;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	c.f = f;
	c.opt = opt;
	c.diags = diags;
	c.out = out;
	dsl_arena_init(&c.mem, mem, size);
	if (pc_intern_init(&c) == -1)
		return -1;
	out->file = pc_keep_lit(&c, f->name).s;
	out->digest = fnv1a64(f->src, f->len);
	if (pc_count_and_size(&c) == 0) {
		compile_identities(&c);
		compile_host_tokens(&c);
		pc_compile_rules(&c);
		compile_proxy_routes(&c);
		if (!c.failed)
			pc_index_namespaces(&c);
		if (!c.failed)
			pc_check_semantics(&c);
	}
	out->bytes = c.mem.used;
	out->need = ((c.mem.used + 15) & ~(size_t)15) +
	    (c.intern_mask + 1) * sizeof(uint32_t);
	return c.failed ? -1 : 0;
}
