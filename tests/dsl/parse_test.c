/* Parser and formatter tests: tree shape, recovery, limits, fmt. */
#include <stdlib.h>
#include <string.h>

#include "dsl/dsl.h"
#include "tests/harness.h"

static unsigned char arena_mem[1 << 20];
static struct dsl_diag diag_v[64];
static struct dsl_diags diags;
static struct dsl_file file;

static int
parse_lim(const char *src, size_t arena_size, uint32_t max_values)
{
	struct dsl_limits lim = {4096, max_values};
	struct dsl_arena a;

	memset(&file, 0, sizeof(file));
	file.name = "t.pol";
	file.src = src;
	file.len = strlen(src);
	dsl_arena_init(&a, arena_mem, arena_size);
	dsl_diags_init(&diags, diag_v, 64);
	return dsl_parse(&file, &lim, &a, &diags);
}

static int
parse(const char *src)
{
	return parse_lim(src, sizeof(arena_mem), 1024);
}

static void
t_tree(void)
{
	const struct dsl_stmt *s, *b;

	check_int(parse("# head\nidentity \"a b\" { # open\n kind managed\n\n"
	                "  label x = \"1\", !y, z notin (p, q), w\n"
	                "}\nhost-token a, b\n"),
	    0);
	s = file.first;
	check(s != NULL && s->kind == DSL_S_COMMENT);
	check(s->word.len == 5 && memcmp(s->word.s, " head", 5) == 0);
	s = s->next;
	check(s->kind == DSL_S_BLOCK && dsl_val_is(&s->word, "identity"));
	check(s->name.quoted && s->name.len == 3 &&
	    memcmp(s->name.s, "a b", 3) == 0);
	check(s->trailing.len == 5);
	b = s->body;
	check(b->kind == DSL_S_ATTR && b->nvals == 1 &&
	    dsl_val_is(&b->vals[0], "managed"));
	b = b->next;
	check(b->kind == DSL_S_LABEL && b->nreqs == 4 && b->blank_before);
	check(b->reqs[0].op == DSL_REQ_EQ && b->reqs[0].vals[0].quoted);
	check(b->reqs[1].op == DSL_REQ_ABSENT);
	check(b->reqs[2].op == DSL_REQ_NOTIN && b->reqs[2].nvals == 2);
	check(b->reqs[3].op == DSL_REQ_EXISTS);
	check(b->next == NULL);
	s = s->next;
	check(s->kind == DSL_S_ATTR && s->nvals == 2 && !s->blank_before);
	check(s->next == NULL);
}

static void
t_continuation(void)
{
	check_int(parse("bind x {\n label a in (\n  b,\n  c\n ), d = e,\n"
	                "  f\n identity p,\n  q\n}\n"),
	    0);
	check(file.first->body->nreqs == 3);
	check(file.first->body->next->nvals == 2);
	check_int(parse("bind x {\n identity p, # no\n  q\n}\n"), -1);
	check_int(diags.errors, 1);
}

/* Every error of the file in one run, and parsing goes on after each. */
static void
t_recovery(void)
{
	check_int(parse("identity a {\n kind = managed\n client-id (x\n}\n"
	                "bind b c {\n label !\n label k in x\n}\n"
	                "}\nexception e {\n namespace x\n"),
	    -1);
	check_int(diags.errors, 7);
	check_int(diag_v[0].pos.line, 2);
	check_int(diag_v[1].pos.line, 3);
	check_int(diag_v[2].pos.line, 5);
	check_int(diag_v[3].pos.line, 6);
	check_int(diag_v[4].pos.line, 7);
	check_int(diag_v[5].pos.line, 9);
	check_int(diag_v[6].pos.line, 10);
	check(strstr(diag_v[6].msg, "not closed") != NULL);
}

static void
t_values_limit(void)
{
	char src[256];

	strcpy(src, "host-token a, b, c, d\n");
	check_int(parse_lim(src, sizeof(arena_mem), 4), 0);
	strcpy(src, "host-token a, b, c, d, e\n");
	check_int(parse_lim(src, sizeof(arena_mem), 4), -1);
	check(strstr(diag_v[0].msg, "more than 4 values") != NULL);
}

/* Arena exhaustion is reported once, and never overruns. */
static void
t_arena_limit(void)
{
	static const char src[] = "identity a {\n kind managed\n}\n";
	size_t need, n;

	check_int(parse_lim(src, sizeof(arena_mem), 16), 0);
	/* Find the exact need, then check N and N-1 bytes. */
	for (need = 0; parse_lim(src, need, 16) != 0; need++)
		;
	check_int(parse_lim(src, need, 16), 0);
	check_int(parse_lim(src, need - 1, 16), -2);
	check_int(diags.errors, 1);
	check(strstr(diag_v[0].msg, "parser memory") != NULL);
	for (n = 0; n < need; n++)
		check(parse_lim(src, n, 16) == -2);
}

static void
t_diag_cap(void)
{
	char src[4096] = "";
	int i;

	for (i = 0; i < 70; i++)
		strcat(src, "$\n");
	check_int(parse(src), -1);
	check_int(diags.n, 64);
	check_int(diags.dropped, 6);
	check_int(diags.errors, 70);
}

/* fmt output, and fmt of that output, are the same text. */
static char *
fmt_str(const char *src)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (parse(src) != 0) {
		fclose(f);
		free(buf);
		return NULL;
	}
	dsl_fmt(f, &file);
	fclose(f);
	return buf;
}

static void
t_fmt(void)
{
	char *a, *b;

	a = fmt_str(
	    "# c\nidentity   x{\n  kind managed   # k\n"
	    "client-id \"t\\x01\\u{e9}\"\n\n\n  label a==b,c notin(d,e)\n"
	    "}  # end\nhost-token x,y\n");
	check(a != NULL);
	if (a == NULL)
		return;
	check_str(a,
	    "# c\nidentity x {\n    kind      managed  # k\n"
	    "    client-id \"t\\x01\xc3\xa9\"\n\n"
	    "    label     a = b, c notin (d, e)\n}  # end\n\n"
	    "host-token x, y\n");
	b = fmt_str(a);
	check(b != NULL && strcmp(a, b) == 0);
	free(a);
	free(b);
}

int
main(void)
{
	test(t_tree, "tree");
	test(t_continuation, "continuation");
	test(t_recovery, "recovery");
	test(t_values_limit, "values limit N and N+1");
	test(t_arena_limit, "arena limit N and N-1");
	test(t_diag_cap, "diagnostics cap");
	test(t_fmt, "fmt canonical and idempotent");
	return harness_done();
}
