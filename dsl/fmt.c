/*
 * The canonical form of a policy: four-space indentation, attribute values
 * aligned within a block, one blank line around blocks, "=" for equality,
 * ", " between values, strings re-escaped the one way.  Comments and the
 * author's single blank lines are kept.  fmt(parse(fmt(x))) == fmt(x).
 */
#include <string.h>

#include "dsl/dsl.h"

bool
dsl_is_word(const char *s, size_t len)
{
	size_t i;
	unsigned char c;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '/')
			continue;
		if (i > 0 && (c == ':' || c == '@' || c == '+' || c == '-'))
			continue;
		return false;
	}
	return true;
}

static void
fmt_string(FILE *out, const char *s, size_t len)
{
	size_t i;
	unsigned char c;

	fputc('"', out);
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '\t')
			fputs("\\t", out);
		else if (c == '\r')
			fputs("\\r", out);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void
fmt_val(FILE *out, const struct dsl_val *v)
{
	if (v->star)
		fputc('*', out);
	else if (v->quoted)
		fmt_string(out, v->s, v->len);
	else
		fwrite(v->s, 1, v->len, out);
}

static void
fmt_vals(FILE *out, const struct dsl_val *v, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		if (i)
			fputs(", ", out);
		fmt_val(out, &v[i]);
	}
}

static void
fmt_req(FILE *out, const struct dsl_req *r)
{
	static const char *const ops[] = {
	    [DSL_REQ_EQ] = " = ",
	    [DSL_REQ_NE] = " != ",
	    [DSL_REQ_IN] = " in (",
	    [DSL_REQ_NOTIN] = " notin (",
	};

	if (r->op == DSL_REQ_ABSENT)
		fputc('!', out);
	fmt_val(out, &r->key);
	if (r->op == DSL_REQ_EXISTS || r->op == DSL_REQ_ABSENT)
		return;
	fputs(ops[r->op], out);
	fmt_vals(out, r->vals, r->nvals);
	if (r->op == DSL_REQ_IN || r->op == DSL_REQ_NOTIN)
		fputc(')', out);
}

static void
fmt_trailing(FILE *out, const struct dsl_val *c)
{
	if (c->s != NULL) {
		fputs("  #", out);
		fwrite(c->s, 1, c->len, out);
	}
	fputc('\n', out);
}

/* Statement word, padded to width when it has something after it. */
static void
fmt_word(FILE *out, const struct dsl_stmt *s, int width)
{
	bool more = s->kind == DSL_S_LABEL || s->nvals > 0;
	int pad = width - (int)s->word.len + 1;

	fmt_val(out, &s->word);
	if (more)
		fprintf(out, "%*s", pad < 1 ? 1 : pad, "");
}

static void
fmt_stmt(FILE *out, const struct dsl_stmt *s, const char *indent, int width)
{
	uint32_t i;

	fputs(indent, out);
	switch (s->kind) {
	case DSL_S_COMMENT:
		fputc('#', out);
		fwrite(s->word.s, 1, s->word.len, out);
		fputc('\n', out);
		return;
	case DSL_S_LABEL:
		fmt_word(out, s, width);
		for (i = 0; i < s->nreqs; i++) {
			if (i)
				fputs(", ", out);
			fmt_req(out, &s->reqs[i]);
		}
		break;
	case DSL_S_ATTR:
		fmt_word(out, s, width);
		fmt_vals(out, s->vals, s->nvals);
		break;
	case DSL_S_BLOCK:
		break;
	}
	fmt_trailing(out, &s->trailing);
}

static int
fmt_width(const struct dsl_stmt *s)
{
	int w = 0;

	for (; s != NULL; s = s->next)
		if ((s->kind == DSL_S_ATTR || s->kind == DSL_S_LABEL) &&
		    (int)s->word.len > w && s->word.len <= 16)
			w = (int)s->word.len;
	return w;
}

static void
fmt_block(FILE *out, const struct dsl_stmt *b)
{
	const struct dsl_stmt *s;
	int width = fmt_width(b->body);

	fmt_val(out, &b->word);
	fputc(' ', out);
	fmt_val(out, &b->name);
	fputs(" {", out);
	fmt_trailing(out, &b->trailing);
	for (s = b->body; s != NULL; s = s->next) {
		if (s->blank_before && s != b->body)
			fputc('\n', out);
		fmt_stmt(out, s, "    ", width);
	}
	fputc('}', out);
	fmt_trailing(out, &b->close_trailing);
}

void
dsl_fmt(FILE *out, const struct dsl_file *f)
{
	const struct dsl_stmt *s, *prev = NULL;

	for (s = f->first; s != NULL; prev = s, s = s->next) {
		if (prev != NULL &&
		    (s->blank_before || prev->kind == DSL_S_BLOCK ||
		        (s->kind == DSL_S_BLOCK &&
		            prev->kind != DSL_S_COMMENT)))
			fputc('\n', out);
		if (s->kind == DSL_S_BLOCK)
			fmt_block(out, s);
		else
			fmt_stmt(out, s, "", 0);
	}
}
