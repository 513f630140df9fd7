/*
 * Diagnostics in GNU form, and the arena the syntax tree lives in.
 */
#include <stdarg.h>
#include <string.h>

#include "dsl/dsl.h"

/* Source lines longer than this are shown cut around the column. */
#define DIAG_SHOW_MAX 160

void
dsl_diags_init(struct dsl_diags *d, struct dsl_diag *v, uint32_t cap)
{
	memset(d, 0, sizeof(*d));
	d->v = v;
	d->cap = cap;
}

void
dsl_diag_add(struct dsl_diags *d, enum dsl_severity sev, struct dsl_pos pos,
    const char *fmt, ...)
{
	struct dsl_diag *dg;
	va_list ap;

	if (sev == DSL_ERROR)
		d->errors++;
	else if (sev == DSL_WARNING)
		d->warnings++;
	if (d->n == d->cap) {
		d->dropped++;
		return;
	}
	dg = &d->v[d->n++];
	dg->sev = sev;
	dg->pos = pos;
	va_start(ap, fmt);
	vsnprintf(dg->msg, sizeof(dg->msg), fmt, ap);
	va_end(ap);
}

static const char *
diag_sev_name(enum dsl_severity sev)
{
	switch (sev) {
	case DSL_ERROR:
		return "error";
	case DSL_WARNING:
		return "warning";
	default:
		return "note";
	}
}

/* Finds line number `line` of the source; its length goes to *len. */
static const char *
diag_find_line(const struct dsl_file *f, uint32_t line, size_t *len)
{
	const char *p = f->src, *end = f->src + f->len, *nl;
	uint32_t n;

	for (n = 1; n < line && p < end; n++) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			return NULL;
		p = nl + 1;
	}
	nl = memchr(p, '\n', (size_t)(end - p));
	*len = (size_t)((nl ? nl : end) - p);
	return p;
}

/* Writes one byte of a source line so that control bytes stay visible. */
static void
diag_put_shown(FILE *out, unsigned char c)
{
	if (c == '\t' || (c >= 0x20 && c != 0x7f))
		fputc(c, out);
	else
		fputc('?', out);
}

void
dsl_diag_print(FILE *out, const struct dsl_file *f, const struct dsl_diag *d)
{
	const char *line;
	size_t len, col, from, to, i;

	fprintf(out, "%s:%u:%u: %s: %s\n", f->name, d->pos.line, d->pos.col,
	    diag_sev_name(d->sev), d->msg);
	if (d->pos.line == 0 || (line = diag_find_line(f, d->pos.line, &len)) ==
	    NULL)
		return;
	col = d->pos.col ? d->pos.col - 1 : 0;
	if (col > len)
		col = len;
	from = col > DIAG_SHOW_MAX / 2 ? col - DIAG_SHOW_MAX / 2 : 0;
	to = from + DIAG_SHOW_MAX < len ? from + DIAG_SHOW_MAX : len;
	fputs(from ? " ..." : " ", out);
	for (i = from; i < to; i++)
		diag_put_shown(out, (unsigned char)line[i]);
	fputs(to < len ? "...\n" : "\n", out);
	/* The caret line copies tabs so the caret stays under the column. */
	fputs(from ? "    " : " ", out);
	for (i = from; i < col; i++)
		fputc(line[i] == '\t' ? '\t' : ' ', out);
	fputs("^\n", out);
}

void
dsl_diags_print(FILE *out, const struct dsl_file *f, const struct dsl_diags *d)
{
	uint32_t i;

	for (i = 0; i < d->n; i++)
		dsl_diag_print(out, f, &d->v[i]);
	if (d->dropped)
		fprintf(out, "%s: %u more diagnostics not shown\n", f->name,
		    d->dropped);
}

void
dsl_arena_init(struct dsl_arena *a, void *mem, size_t size)
{
	a->base = mem;
	a->size = size;
	a->used = 0;
}

void *
dsl_arena_alloc(struct dsl_arena *a, size_t size)
{
	size_t at = (a->used + 15) & ~(size_t)15;
	void *p;

	if (at > a->size || size > a->size - at)
		return NULL;
	p = a->base + at;
	a->used = at + size;
	memset(p, 0, size);
	return p;
}

char *
dsl_arena_alloc_text(struct dsl_arena *a, size_t size)
{
	char *p;

	if (size > a->size - a->used)
		return NULL;
	p = (char *)a->base + a->used;
	a->used += size;
	return p;
}
