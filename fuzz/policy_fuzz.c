/*
 * Lexer + parser + compiler + formatter.  Invariants: nothing crashes or
 * over-reads; when a file parses, its canonical form parses too and is a
 * fixed point of the formatter; a compiled policy's indexes are in range.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static unsigned char ast_mem[4 << 20], ast2_mem[4 << 20], pol_mem[1 << 20];
static struct dsl_diag diag_v[64];

static char *
fmt_to_buf(const struct dsl_file *f, size_t *len)
{
	char *buf = NULL;
	FILE *out = open_memstream(&buf, len);

	assert(out != NULL);
	dsl_fmt(out, f);
	fclose(out);
	return buf;
}

static int
parse(struct dsl_file *f, const char *src, size_t len, unsigned char *mem,
    size_t memlen, struct dsl_diags *d)
{
	struct dsl_limits lim = {4096, 1024};
	struct dsl_arena a;

	memset(f, 0, sizeof(*f));
	f->name = "fuzz.pol";
	f->src = src;
	f->len = len;
	dsl_arena_init(&a, mem, memlen);
	dsl_diags_init(d, diag_v, 64);
	return dsl_parse(f, &lim, &a, d);
}

static void
check_compiled(const struct pol *p)
{
	uint32_t r, i;

	for (r = 0; r < p->nrules; r++) {
		const struct pol_rule *rule = &p->rules[r];

		for (i = 0; i < rule->nidentities; i++)
			assert(rule->identities[i] < p->nidentities);
		assert(rule->all_namespaces || rule->nnamespaces > 0);
	}
	for (i = 0; i < p->nall_ns_rules; i++)
		assert(p->all_ns_rules[i] < p->nrules);
}

static void
roundtrip(const struct dsl_file *f)
{
	struct dsl_file f2, f3;
	struct dsl_diags d;
	char *one, *two;
	size_t n1, n2;

	one = fmt_to_buf(f, &n1);
	assert(parse(&f2, one, n1, ast2_mem, sizeof(ast2_mem), &d) == 0);
	two = fmt_to_buf(&f2, &n2);
	assert(n1 == n2 && memcmp(one, two, n1) == 0);
	(void)f3;
	free(one);
	free(two);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pol_options opt = {false, 0};
	struct dsl_file f;
	struct dsl_diags d;
	struct pol p;
	char *src;

	if (size > 256 * 1024)
		return 0;
	/* Exact size plus the sentinel the lexer needs. */
	if ((src = malloc(size + 1)) == NULL)
		return 0;
	memcpy(src, data, size);
	src[size] = '\0';
	if (parse(&f, src, size, ast_mem, sizeof(ast_mem), &d) == 0) {
		roundtrip(&f);
		if (pol_compile(&f, &opt, pol_mem, sizeof(pol_mem), &p, &d) ==
		    0)
			check_compiled(&p);
	}
	assert(d.n <= 64);
	free(src);
	return 0;
}
