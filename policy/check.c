/*
 * The compiler's shared helpers and the checks that need the whole policy:
 * shadowed rules, unused identities, and the files identities read.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "policy/check.h"

static void pc_vdiag(struct pol_comp *, enum dsl_severity, struct dsl_pos,
    const char *, va_list) __attribute__((format(printf, 4, 0)));

static void
pc_vdiag(struct pol_comp *c, enum dsl_severity sev, struct dsl_pos pos,
    const char *fmt, va_list ap)
{
	char msg[DSL_DIAG_MSG];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	dsl_diag_add(c->diags, sev, pos, "%s", msg);
	if (sev == DSL_ERROR)
		c->failed = true;
}

void
pc_error(struct pol_comp *c, struct dsl_pos pos, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pc_vdiag(c, DSL_ERROR, pos, fmt, ap);
	va_end(ap);
}

void
pc_warning(struct pol_comp *c, struct dsl_pos pos, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pc_vdiag(c, DSL_WARNING, pos, fmt, ap);
	va_end(ap);
}

const char *
pc_show(const char *s, size_t len, char *buf, size_t buflen)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;
	unsigned char ch;

	for (i = 0; i < len && o + 8 < buflen; i++) {
		ch = (unsigned char)s[i];
		if (o >= 100) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch == '"' || ch == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)ch;
		} else if (ch == '\n' || ch == '\t' || ch == '\r') {
			buf[o++] = '\\';
			buf[o++] = ch == '\n' ? 'n' : ch == '\t' ? 't' : 'r';
		} else if (ch < 0x20 || ch == 0x7f) {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[ch >> 4];
			buf[o++] = hex[ch & 15];
		} else
			buf[o++] = (char)ch;
	}
	buf[o] = '\0';
	return buf;
}

bool
pc_has_ctl(const struct dsl_val *v)
{
	uint32_t i;

	for (i = 0; i < v->len; i++)
		if ((unsigned char)v->s[i] < 0x20 || v->s[i] == 0x7f)
			return true;
	return false;
}

bool
pc_expect(
    struct pol_comp *c, const struct dsl_val *v, bool ok, const char *what)
{
	char buf[128];

	if (!ok)
		pc_error(c, v->pos, "expected %s, got \"%s\"", what,
		    pc_show(v->s, v->len, buf, sizeof(buf)));
	return ok;
}

const struct dsl_val *
pc_one_value(struct pol_comp *c, const struct dsl_stmt *s)
{
	if (s->nvals == 1 && !s->vals[0].star)
		return &s->vals[0];
	pc_error(c, s->word.pos, "\"%.*s\" takes exactly one value, got %s",
	    (int)s->word.len, s->word.s,
	    s->nvals == 0       ? "none"
	        : s->nvals == 1 ? "*"
	                        : "several");
	return NULL;
}

void *
pc_alloc(struct pol_comp *c, size_t size)
{
	struct dsl_pos none = {0, 0};
	void *p;

	if (c->oom)
		return NULL;
	if ((p = dsl_arena_alloc(&c->mem, size ? size : 1)) == NULL) {
		c->oom = true;
		pc_error(c, none,
		    "policy does not fit in %zu bytes of policy memory",
		    c->mem.size);
	}
	return p;
}

static uint32_t
count_vals(const struct dsl_stmt *s)
{
	uint32_t n = 0, i;

	for (; s != NULL; s = s->next) {
		n += 2 + s->nvals + count_vals(s->body);
		for (i = 0; i < s->nreqs; i++)
			n += 1 + s->reqs[i].nvals;
	}
	return n;
}

int
pc_intern_init(struct pol_comp *c)
{
	uint32_t n = count_vals(c->f->first) + 8, size = 16;
	size_t bytes;

	while (size < 2 * n)
		size <<= 1;
	bytes = size * sizeof(uint32_t);
	if (bytes + 64 > c->mem.size) {
		pc_alloc(c, c->mem.size + 1); /* reports it */
		return -1;
	}
	c->mem.size = (c->mem.size - bytes) & ~(size_t)15; /* keep it aligned */
	c->intern = (uint32_t *)(void *)(c->mem.base + c->mem.size);
	c->intern_mask = size - 1;
	memset(c->intern, 0, bytes);
	return 0;
}

/* Strings hold no NUL (the lexer refuses one), so NUL ends each copy. */
static struct pol_str
keep(struct pol_comp *c, const char *s, size_t len)
{
	struct pol_str out = {"", 0};
	uint32_t i = pc_hash(s, len) & c->intern_mask;
	const char *cand;
	char *p;

	for (; c->intern[i] != 0; i = (i + 1) & c->intern_mask) {
		cand = (const char *)c->mem.base + c->intern[i] - 1;
		if (memcmp(cand, s, len) == 0 && cand[len] == '\0') {
			out.s = cand;
			out.len = (uint32_t)len;
			return out;
		}
	}
	if ((p = dsl_arena_alloc_text(&c->mem, len + 1)) == NULL) {
		pc_alloc(c, c->mem.size + 1); /* reports it */
		return out;
	}
	memcpy(p, s, len);
	p[len] = '\0';
	c->intern[i] = (uint32_t)(p - (char *)c->mem.base) + 1;
	out.s = p;
	out.len = (uint32_t)len;
	return out;
}

struct pol_str
pc_keep(struct pol_comp *c, const struct dsl_val *v)
{
	return keep(c, v->s, v->len);
}

struct pol_str
pc_keep_lit(struct pol_comp *c, const char *s)
{
	return keep(c, s, strlen(s));
}

/* Names of identities and rules: [A-Za-z0-9][A-Za-z0-9._-]*, <= 63. */
bool
pc_check_name(struct pol_comp *c, const struct dsl_val *v, const char *what)
{
	bool ok = v->len > 0 && v->len <= 63 && !v->star;
	uint32_t i;

	for (i = 0; ok && i < v->len; i++) {
		char ch = v->s[i];

		ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') ||
		    (i > 0 && (ch == '-' || ch == '_' || ch == '.'));
	}
	if (!ok) {
		char buf[128];

		pc_error(c, v->pos,
		    "invalid %s name \"%s\": use letters, digits, '-', '_' "
		    "and '.', at most 63",
		    what, pc_show(v->s, v->len, buf, sizeof(buf)));
	}
	return ok;
}

/* ---- shadowing ------------------------------------------------------- */

static bool
str_eq(const struct pol_str *a, const char *s, size_t len)
{
	return a->len == len && memcmp(a->s, s, len) == 0;
}

static bool
set_has(const struct pol_str *v, uint32_t n, const struct pol_str *x)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (str_eq(&v[i], x->s, x->len))
			return true;
	return false;
}

/* Does b forbid value x of key (x != ... or x notin ...)? */
static bool
forbids(const struct pol_rule *b, const struct pol_str *key,
    const struct pol_str *x)
{
	const struct pol_req *q;
	uint32_t i;

	for (i = 0; i < b->nreqs; i++) {
		q = &b->reqs[i];
		if (!str_eq(&q->key, key->s, key->len))
			continue;
		if (q->op == POL_OP_ABSENT)
			return true;
		if ((q->op == POL_OP_NE || q->op == POL_OP_NOTIN) &&
		    set_has(q->vals, q->nvals, x))
			return true;
		if ((q->op == POL_OP_EQ || q->op == POL_OP_IN) &&
		    !set_has(q->vals, q->nvals, x))
			return true;
	}
	return false;
}

/*
 * Is requirement a implied by rule b's requirements?  Sound, not
 * complete: it looks at b's requirements on the same key one at a time.
 */
static bool
implied(const struct pol_req *a, const struct pol_rule *b)
{
	const struct pol_req *q;
	uint32_t i, j;

	if (a->op == POL_OP_NE || a->op == POL_OP_NOTIN) {
		for (j = 0; j < a->nvals; j++)
			if (!forbids(b, &a->key, &a->vals[j]))
				return false;
		return true;
	}
	for (i = 0; i < b->nreqs; i++) {
		q = &b->reqs[i];
		if (!str_eq(&q->key, a->key.s, a->key.len))
			continue;
		if (a->op == POL_OP_ABSENT && q->op == POL_OP_ABSENT)
			return true;
		if (q->op != POL_OP_EQ && q->op != POL_OP_IN &&
		    q->op != POL_OP_EXISTS)
			continue;
		if (a->op == POL_OP_EXISTS)
			return true;
		if (q->op == POL_OP_EXISTS || a->op == POL_OP_ABSENT)
			continue;
		for (j = 0; j < q->nvals; j++)
			if (!set_has(a->vals, a->nvals, &q->vals[j]))
				break;
		if (j == q->nvals)
			return true; /* b's allowed values are a's subset */
	}
	return false;
}

static bool
ns_subset(const struct pol_rule *b, const struct pol_rule *a)
{
	uint32_t i;

	if (a->all_namespaces)
		return true;
	if (b->all_namespaces)
		return false;
	for (i = 0; i < b->nnamespaces; i++)
		if (!set_has(a->namespaces, a->nnamespaces, &b->namespaces[i]))
			return false;
	return true;
}

/* Does rule a select every pod that rule b selects? */
static bool
covers(const struct pol_rule *a, const struct pol_rule *b)
{
	uint32_t i;

	if (!ns_subset(b, a) || (b->host_network && !a->host_network))
		return false;
	if (a->service_account.len &&
	    !str_eq(&b->service_account, a->service_account.s,
	        a->service_account.len))
		return false;
	for (i = 0; i < a->nreqs; i++)
		if (!implied(&a->reqs[i], b))
			return false;
	return true;
}

static bool
grants_subset(const struct pol_rule *b, const struct pol_rule *a)
{
	uint32_t i, j;

	for (i = 0; i < b->nidentities; i++) {
		for (j = 0; j < a->nidentities; j++)
			if (a->identities[j] == b->identities[i])
				break;
		if (j == a->nidentities)
			return false;
	}
	return true;
}

static void
shadow_report(
    struct pol_comp *c, const struct pol_rule *b, const struct pol_rule *a)
{
	struct dsl_pos pos = {b->line, 1};

	if (a->exception && !b->exception)
		pc_error(c, pos,
		    "bind \"%s\" never applies: every pod it "
		    "selects is an exception of \"%s\" (line %u)",
		    b->name.s, a->name.s, a->line);
	else
		pc_error(c, pos,
		    "%s \"%s\" is shadowed by \"%s\" (line %u), "
		    "which selects every pod it does%s",
		    b->exception ? "exception" : "bind", b->name.s, a->name.s,
		    a->line, b->exception ? "" : " and grants the same");
}

/* Does candidate rule a (index ai) shadow rule b (index bi)? */
static bool
shadows(const struct pol *p, uint32_t ai, uint32_t bi)
{
	const struct pol_rule *a = &p->rules[ai], *b = &p->rules[bi];

	/* a's required keys must all be required by b: one AND first. */
	if (ai == bi || (a->guard & ~b->guard) != 0 || !covers(a, b))
		return false;
	if (a->exception)
		return b->exception ? ai < bi : true;
	return !b->exception && ai < bi && grants_subset(b, a);
}

static bool
shadow_scan(struct pol_comp *c, const uint32_t *cand, uint32_t n, uint32_t bi)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (shadows(c->out, cand[i], bi)) {
			shadow_report(
			    c, &c->out->rules[bi], &c->out->rules[cand[i]]);
			return true;
		}
	return false;
}

/*
 * A rule that covers b names all of b's namespaces, so the candidates are
 * the rules of b's first namespace and the rules of every namespace.
 */
static void
check_shadowing(struct pol_comp *c)
{
	const struct pol *p = c->out;
	const struct pol_rule *b;
	uint32_t bi, h, i;

	for (bi = 0; bi < p->nrules; bi++) {
		b = &p->rules[bi];
		if (shadow_scan(c, p->all_ns_rules, p->nall_ns_rules, bi) ||
		    b->all_namespaces)
			continue;
		h = pc_hash(b->namespaces[0].s, b->namespaces[0].len);
		for (i = h & p->ns_mask;; i = (i + 1) & p->ns_mask)
			if (p->ns_index[i].hash == h &&
			    str_eq(&p->ns_index[i].ns, b->namespaces[0].s,
			        b->namespaces[0].len))
				break;
		shadow_scan(c, p->ns_index[i].rules, p->ns_index[i].nrules, bi);
	}
}

/* ---- files and unused identities ------------------------------------- */

static void
check_file(struct pol_comp *c, const struct pol_identity *id,
    const struct pol_str *path, const char *what)
{
	struct dsl_pos pos = {id->line, 1};

	if (path->len == 0 || access(path->s, R_OK) == 0)
		return;
	if (c->opt->files_fatal)
		pc_error(c, pos, "%s \"%s\" of identity \"%s\": %s", what,
		    path->s, id->name.s, strerror(errno));
	else
		pc_warning(c, pos, "%s \"%s\" of identity \"%s\": %s", what,
		    path->s, id->name.s, strerror(errno));
}

void
pc_check_semantics(struct pol_comp *c)
{
	const struct pol_identity *id;
	struct dsl_pos pos;
	uint32_t i;

	check_shadowing(c);
	for (i = 0; i < c->out->nidentities; i++) {
		id = &c->out->identities[i];
		pos.line = id->line;
		pos.col = 1;
		if (!c->used[i])
			pc_warning(c, pos,
			    "identity \"%s\" is not used by any "
			    "binding or host-token",
			    id->name.s);
		check_file(c, id, &id->secret_file, "secret file");
		check_file(c, id, &id->cert_file, "certificate file");
		if (id->key_file.s != id->cert_file.s)
			check_file(c, id, &id->key_file, "key file");
	}
}
