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

/*
 * Writes line[from..to) as text: valid UTF-8 as it is, tabs kept, every
 * other control byte or invalid byte as '?'.
 */
static void
diag_put_line(FILE *out, const char *line, size_t from, size_t to)
{
	const unsigned char *p = (const unsigned char *)line + from,
	                    *end = (const unsigned char *)line + to;
	size_t n;

	while (p < end) {
		n = dsl_utf8_len(p, end);
		if (n > 1)
			fwrite(p, 1, n, out);
		else if (*p == '\t' || (*p >= 0x20 && *p < 0x7f))
			fputc(*p, out);
		else
			fputc('?', out);
		p += n ? n : 1;
	}
}

/* Under each character before the column: a tab or a space. */
static void
diag_put_caret(FILE *out, const char *line, size_t from, size_t col)
{
	const unsigned char *p = (const unsigned char *)line + from,
	                    *end = (const unsigned char *)line + col;
	size_t n;

	while (p < end) {
		n = dsl_utf8_len(p, end);
		fputc(*p == '\t' ? '\t' : ' ', out);
		p += n ? n : 1;
	}
	fputs("^\n", out);
}

/* Moves i back to the start of the UTF-8 character it is in. */
static size_t
diag_char_start(const char *line, size_t i)
{
	while (i > 0 && ((unsigned char)line[i] & 0xc0) == 0x80)
		i--;
	return i;
}

void
dsl_diag_print(FILE *out, const struct dsl_file *f, const struct dsl_diag *d)
{
	const char *line;
	size_t len, col, from, to;

	if (d->pos.line == 0) {
		fprintf(out, "%s: %s: %s\n", f->name, diag_sev_name(d->sev),
		    d->msg);
		return;
	}
	fprintf(out, "%s:%u:%u: %s: %s\n", f->name, d->pos.line, d->pos.col,
	    diag_sev_name(d->sev), d->msg);
	if ((line = diag_find_line(f, d->pos.line, &len)) == NULL)
		return;
	if (len > 0 && line[len - 1] == '\r')
		len--; /* a CRLF file */
	col = d->pos.col ? d->pos.col - 1 : 0;
	if (col > len)
		col = len;
	from = diag_char_start(
	    line, col > DIAG_SHOW_MAX / 2 ? col - DIAG_SHOW_MAX / 2 : 0);
	to = from + DIAG_SHOW_MAX < len
	    ? diag_char_start(line, from + DIAG_SHOW_MAX)
	    : len;
	fputs(from ? " ..." : " ", out);
	diag_put_line(out, line, from, to);
	fputs(to < len ? "...\n" : "\n", out);
	fputs(from ? "    " : " ", out);
	diag_put_caret(out, line, from, col);
}

static bool
diag_before(const struct dsl_diag *a, const struct dsl_diag *b)
{
	return a->pos.line < b->pos.line ||
	    (a->pos.line == b->pos.line && a->pos.col < b->pos.col);
}

void
dsl_diags_print(FILE *out, const struct dsl_file *f, struct dsl_diags *d)
{
	struct dsl_diag t;
	uint32_t i, j;

	/* Insertion sort: stable, and the list is nearly in order. */
	for (i = 1; i < d->n; i++) {
		t = d->v[i];
		for (j = i; j > 0 && diag_before(&t, &d->v[j - 1]); j--)
			d->v[j] = d->v[j - 1];
		d->v[j] = t;
	}
	for (i = 0; i < d->n; i++)
		dsl_diag_print(out, f, &d->v[i]);
	if (d->dropped)
		fprintf(out, "%s: %u more diagnostic%s not shown\n", f->name,
		    d->dropped, d->dropped == 1 ? "" : "s");
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
