/*
 * Recursive-descent parser for the policy language.
 *
 *	file      = { line } EOF
 *	line      = [ stmt ] [ COMMENT ] NL
 *	stmt      = block | attr
 *	block     = WORD value "{" [ COMMENT ] NL { body-line } "}"
 *	body-line = [ label | attr ] [ COMMENT ] NL
 *	attr      = WORD [ value { "," value } ]
 *	label     = "label" req { "," req }
 *	req       = "!" key | key [ ( "=" | "==" | "!=" ) value
 *	          | ( "in" | "notin" ) "(" value { "," value } ")" ]
 *	key       = WORD | STRING
 *	value     = WORD | STRING | "*"
 *
 * A line may continue after a comma and inside parentheses.  The grammar
 * knows no keyword but "label": which statements and attributes exist is
 * checked by policy/.  On an error the parser reports it and skips to the
 * end of the line (a block header error still parses the block's body), so
 * one run reports every error of a file.
 */
#include <string.h>

#include "dsl/dsl.h"

struct parser {
	struct dsl_file *f;
	struct dsl_lexer lx;
	struct dsl_token tok;
	const struct dsl_limits *lim;
	struct dsl_arena *arena;
	struct dsl_diags *diags;
	bool failed;              /* a syntax error was reported */
	bool oom;                 /* the arena ran out: stop */
	struct dsl_stmt *pending; /* a block that closed its outer one */
	bool stray_ok;            /* that outer block's '}' may still come */
	uint32_t nvals;
	struct dsl_val vals[DSL_VALUES_CAP];
	struct dsl_pos cont; /* a ',' of this statement ending its line (0) */
	uint32_t cont_to;    /* the line the statement went on at after it */
};

static struct dsl_pos
tok_pos(const struct dsl_token *t)
{
	struct dsl_pos pos = {t->line, t->col};

	return pos;
}

/* "unexpected character ..." for the bytes of an error token. */
static void
bad_char(struct parser *p, const struct dsl_token *t)
{
	const unsigned char *u = (const unsigned char *)t->ptr;
	uint32_t cp;

	if (t->len == 1 && u[0] > 0x20 && u[0] < 0x7f)
		dsl_diag_add(p->diags, DSL_ERROR, tok_pos(t),
		    "unexpected character '%c'", u[0]);
	else if (t->len == 1)
		dsl_diag_add(p->diags, DSL_ERROR, tok_pos(t),
		    "unexpected byte 0x%02x", u[0]);
	else {
		cp = t->len == 2 ? (u[0] & 0x1fu) << 6 | (u[1] & 0x3fu)
		    : t->len == 3
		    ? (u[0] & 0x0fu) << 12 | (u[1] & 0x3fu) << 6 |
		        (u[2] & 0x3fu)
		    : (u[0] & 0x07u) << 18 | (u[1] & 0x3fu) << 12 |
		        (u[2] & 0x3fu) << 6 | (u[3] & 0x3fu);
		if (cp == 0xfeff)
			dsl_diag_add(p->diags, DSL_ERROR, tok_pos(t),
			    "unexpected character U+FEFF (byte order mark): "
			    "save the file without it");
		else
			dsl_diag_add(p->diags, DSL_ERROR, tok_pos(t),
			    "unexpected character '%.*s' (U+%04X)", (int)t->len,
			    t->ptr, cp);
	}
}

static void
bad_escape(struct parser *p, const struct dsl_token *t)
{
	const char *why;

	if (p->lx.err == DSL_LEX_BAD_ESCAPE) {
		if ((unsigned char)t->ptr[1] < 0x21 ||
		    (unsigned char)t->ptr[1] > 0x7e)
			dsl_diag_add(p->diags, DSL_ERROR, tok_pos(t),
			    "unknown escape sequence in string");
		else
			dsl_diag_add(p->diags, DSL_ERROR, tok_pos(t),
			    "unknown escape \"%.*s\" in string", (int)t->len,
			    t->ptr);
		return;
	}
	if (t->ptr[1] == 'x')
		why = t->len == 2 ? "\\x takes two hex digits, 01 to 7f"
		    : t->ptr[2] == '0' && t->ptr[3] == '0'
		    ? "a string cannot hold a NUL byte"
		    : "\\x takes 01 to 7f; write other characters as UTF-8 "
		      "or \\u{...}";
	else
		why = t->len == 2 ? "\\u takes 1 to 6 hex digits in braces"
		                  : "not a Unicode scalar value (1 to 10FFFF, "
		                    "no surrogates)";
	dsl_diag_add(p->diags, DSL_ERROR, tok_pos(t),
	    "invalid escape \"%.*s\" in string: %s", (int)t->len, t->ptr, why);
}

/* Advances to the next token, reporting lexical errors as they come. */
static void
next(struct parser *p)
{
	dsl_lex(&p->lx, &p->tok);
	if (p->tok.type != DSL_T_ERROR)
		return;
	p->failed = true;
	if (p->lx.err == DSL_LEX_TOO_LONG)
		dsl_diag_add(p->diags, DSL_ERROR, tok_pos(&p->tok),
		    "token longer than %u bytes", p->lim->max_token);
	else if (p->lx.err == DSL_LEX_BAD_BYTE)
		bad_char(p, &p->tok);
	else if (p->lx.err == DSL_LEX_BAD_ESCAPE ||
	    p->lx.err == DSL_LEX_ESCAPE_VALUE)
		bad_escape(p, &p->tok);
	else
		dsl_diag_add(p->diags, DSL_ERROR, tok_pos(&p->tok), "%s",
		    dsl_lex_strerror(p->lx.err));
}

/* Reports "expected X, got Y" unless the token was a lexical error. */
static void
syntax_error(struct parser *p, const char *expected)
{
	const struct dsl_token *t = &p->tok;

	p->failed = true;
	if (t->type == DSL_T_ERROR)
		return;
	if (t->type == DSL_T_WORD)
		dsl_diag_add(p->diags, DSL_ERROR, tok_pos(t),
		    "expected %s, got \"%.*s\"", expected,
		    (int)(t->len > 40 ? 40 : t->len), t->ptr);
	else
		dsl_diag_add(p->diags, DSL_ERROR, tok_pos(t),
		    "expected %s, got %s", expected, dsl_tok_name(t->type));
}

static void *
alloc_any(struct parser *p, size_t size, bool text)
{
	void *m;

	if (p->oom)
		return NULL;
	m = text ? dsl_arena_alloc_text(p->arena, size)
	         : dsl_arena_alloc(p->arena, size);
	if (m == NULL) {
		p->oom = p->failed = true;
		dsl_diag_add(p->diags, DSL_ERROR, tok_pos(&p->tok),
		    "policy too large: parser memory (%zu bytes) exhausted",
		    p->arena->size);
	}
	return m;
}

static void *
alloc(struct parser *p, size_t size)
{
	return alloc_any(p, size, false);
}

/*
 * Skips to the end of the line; stops before a '}' when in a block.
 * Returns true when it skipped a '{' at top level: the caller then parses
 * the block's body, so the errors inside it are found too.
 */
static bool
recover(struct parser *p, bool in_block)
{
	while (p->tok.type != DSL_T_NL && p->tok.type != DSL_T_EOF) {
		if (in_block && p->tok.type == DSL_T_RBRACE)
			return false;
		if (!in_block && p->tok.type == DSL_T_LBRACE) {
			next(p);
			return true;
		}
		next(p);
	}
	return false;
}

/* After a comma or "(": newlines continue the statement. */
static bool
skip_continuation(struct parser *p)
{
	for (;;) {
		while (p->tok.type == DSL_T_NL)
			next(p);
		if (p->tok.type != DSL_T_COMMENT)
			return true;
		p->failed = true;
		dsl_diag_add(p->diags, DSL_ERROR, tok_pos(&p->tok),
		    "a comment cannot stand inside a list; put it before the "
		    "statement");
		next(p);
	}
}

/*
 * Past a ',' at comma: when the statement went on on a later line, that
 * is kept, for cont_note() to name if that line then does not parse.
 */
static bool
after_comma(struct parser *p, struct dsl_pos comma)
{
	if (!skip_continuation(p))
		return false;
	if (p->tok.line > comma.line) {
		p->cont = comma;
		p->cont_to = p->tok.line;
	}
	return true;
}

/*
 * After a syntax error on line `line`: if a trailing ',' carried the
 * statement onto that line, say so where the ',' is (a list meant to end
 * there swallowed the next line's setting as one more value).
 */
static void
cont_note(struct parser *p, uint32_t line)
{
	if (p->cont.line == 0 || p->cont_to != line)
		return;
	dsl_diag_add(p->diags, DSL_NOTE, p->cont,
	    "this ',' continues the list onto line %u; remove it if that "
	    "line starts a new setting",
	    line);
	p->cont.line = 0;
}

/* Turns the current WORD, STRING or STAR token into a value. */
static bool
take_value(struct parser *p, struct dsl_val *v)
{
	const struct dsl_token *t = &p->tok;
	char *buf;
	int n;

	memset(v, 0, sizeof(*v));
	v->pos = tok_pos(t);
	switch (t->type) {
	case DSL_T_WORD:
		v->s = t->ptr;
		v->len = t->len;
		break;
	case DSL_T_STAR:
		v->s = t->ptr;
		v->len = 1;
		v->star = true;
		break;
	case DSL_T_STRING:
		if ((buf = alloc_any(p, t->len, true)) == NULL)
			return false;
		n = dsl_unescape(t->ptr, t->len, buf, t->len);
		v->s = buf;
		v->len = n < 0 ? 0 : (uint32_t)n;
		v->quoted = true;
		break;
	default:
		return false;
	}
	next(p);
	return true;
}

/* Copies the values gathered in p->vals into the arena. */
static struct dsl_val *
keep_values(struct parser *p, uint32_t from, uint32_t *n)
{
	struct dsl_val *v;

	*n = p->nvals - from;
	if (*n == 0)
		return NULL;
	if ((v = alloc(p, *n * sizeof(*v))) == NULL)
		return NULL;
	memcpy(v, p->vals + from, *n * sizeof(*v));
	p->nvals = from;
	return v;
}

static bool
push_value(struct parser *p)
{
	if (p->nvals == p->lim->max_values) {
		p->failed = true;
		dsl_diag_add(p->diags, DSL_ERROR, tok_pos(&p->tok),
		    "more than %u values in one statement", p->lim->max_values);
		return false;
	}
	if (!take_value(p, &p->vals[p->nvals])) {
		syntax_error(p, "a value");
		cont_note(p, p->tok.line);
		return false;
	}
	p->nvals++;
	return true;
}

/* value { "," value }, the first one optional when `optional`. */
static bool
parse_values(struct parser *p, bool optional)
{
	enum dsl_tok t = p->tok.type;
	struct dsl_pos comma;

	if (optional && t != DSL_T_WORD && t != DSL_T_STRING && t != DSL_T_STAR)
		return true;
	for (;;) {
		if (!push_value(p))
			return false;
		if (p->tok.type != DSL_T_COMMA)
			return true;
		comma = tok_pos(&p->tok);
		next(p);
		if (!after_comma(p, comma))
			return false;
	}
}

static bool
parse_set(struct parser *p, struct dsl_req *r)
{
	uint32_t from = p->nvals;

	if (p->tok.type != DSL_T_LPAREN) {
		syntax_error(p, "'('");
		return false;
	}
	next(p);
	if (!skip_continuation(p) || !parse_values(p, false) ||
	    !skip_continuation(p))
		return false;
	if (p->tok.type != DSL_T_RPAREN) {
		syntax_error(p, "',' or ')'");
		return false;
	}
	next(p);
	r->vals = keep_values(p, from, &r->nvals);
	return !p->oom;
}

/* key [ op value | in (...) ], or !key. */
static bool
parse_req(struct parser *p, struct dsl_req *r)
{
	uint32_t from = p->nvals;
	bool neg = false;

	r->pos = tok_pos(&p->tok);
	if (p->tok.type == DSL_T_BANG) {
		neg = true;
		next(p);
	}
	if ((p->tok.type != DSL_T_WORD && p->tok.type != DSL_T_STRING) ||
	    !take_value(p, &r->key)) {
		if (!p->oom)
			syntax_error(p, "a label key");
		return false;
	}
	r->op = neg ? DSL_REQ_ABSENT : DSL_REQ_EXISTS;
	if (neg)
		return true;
	if (p->tok.type == DSL_T_EQ || p->tok.type == DSL_T_NE) {
		r->op = p->tok.type == DSL_T_EQ ? DSL_REQ_EQ : DSL_REQ_NE;
		next(p);
		if (!push_value(p))
			return false;
		r->vals = keep_values(p, from, &r->nvals);
		return !p->oom;
	}
	if (p->tok.type == DSL_T_WORD && p->tok.len == 2 &&
	    memcmp(p->tok.ptr, "in", 2) == 0)
		r->op = DSL_REQ_IN;
	else if (p->tok.type == DSL_T_WORD && p->tok.len == 5 &&
	    memcmp(p->tok.ptr, "notin", 5) == 0)
		r->op = DSL_REQ_NOTIN;
	else
		return true;
	next(p);
	return parse_set(p, r);
}

static bool
parse_label(struct parser *p, struct dsl_stmt *s)
{
	struct dsl_req tmp[64], *r;
	struct dsl_pos comma;
	uint32_t n = 0;

	s->kind = DSL_S_LABEL;
	for (;;) {
		if (n == sizeof(tmp) / sizeof(*tmp)) {
			p->failed = true;
			dsl_diag_add(p->diags, DSL_ERROR, tok_pos(&p->tok),
			    "more than %zu requirements on one label line",
			    sizeof(tmp) / sizeof(*tmp));
			return false;
		}
		memset(&tmp[n], 0, sizeof(tmp[n]));
		if (!parse_req(p, &tmp[n]))
			return false;
		n++;
		if (p->tok.type != DSL_T_COMMA)
			break;
		comma = tok_pos(&p->tok);
		next(p);
		if (!after_comma(p, comma))
			return false;
	}
	if ((r = alloc(p, n * sizeof(*r))) == NULL)
		return false;
	memcpy(r, tmp, n * sizeof(*r));
	s->reqs = r;
	s->nreqs = n;
	return true;
}

/* [ COMMENT ] then end of line (or of file). */
static bool
parse_line_end(struct parser *p, struct dsl_stmt *s, bool in_block)
{
	if (p->tok.type == DSL_T_COMMENT) {
		if (s != NULL) {
			s->trailing.s = p->tok.ptr;
			s->trailing.len = p->tok.len;
			s->trailing.pos = tok_pos(&p->tok);
		}
		next(p);
	}
	if (p->tok.type == DSL_T_NL || p->tok.type == DSL_T_EOF)
		return true;
	if (in_block && p->tok.type == DSL_T_RBRACE) {
		p->failed = true;
		dsl_diag_add(p->diags, DSL_ERROR, tok_pos(&p->tok),
		    "'}' must stand on a line of its own");
	} else {
		syntax_error(p, "end of line");
		cont_note(p, p->tok.line);
	}
	return false;
}

static struct dsl_stmt *
new_stmt(struct parser *p, enum dsl_stmt_kind kind, bool blank)
{
	struct dsl_stmt *s;

	if ((s = alloc(p, sizeof(*s))) == NULL)
		return NULL;
	s->kind = kind;
	s->pos = tok_pos(&p->tok);
	s->blank_before = blank;
	p->cont.line = 0;
	return s;
}

static struct dsl_stmt *
parse_comment(struct parser *p, bool blank)
{
	struct dsl_stmt *s;

	if ((s = new_stmt(p, DSL_S_COMMENT, blank)) == NULL)
		return NULL;
	s->word.s = p->tok.ptr;
	s->word.len = p->tok.len;
	s->word.pos = s->pos;
	next(p);
	return s;
}

static void parse_block_rest(struct parser *, struct dsl_stmt *);

static bool
is_block_keyword(const struct dsl_val *w)
{
	return dsl_val_is(w, "identity") || dsl_val_is(w, "bind") ||
	    dsl_val_is(w, "exception");
}

/*
 * A block header whose names are not exactly one: report it and keep the
 * first name, so the body is still parsed and checked.
 */
static void
block_names(struct parser *p, struct dsl_stmt *s, uint32_t from)
{
	if (p->nvals - from != 1) {
		p->failed = true;
		dsl_diag_add(p->diags, DSL_ERROR, s->word.pos,
		    "\"%.*s\" block needs exactly one name, got %u",
		    (int)s->word.len, s->word.s, p->nvals - from);
	}
	if (p->nvals > from)
		s->name = p->vals[from];
	p->nvals = from;
	s->kind = DSL_S_BLOCK;
}

/*
 * A block inside a block: blocks do not nest, so the outer one is taken
 * as closed here (the likely mistake is a missing '}') and this block is
 * handed to the top level through p->pending.
 */
static void
nested_block(struct parser *p, struct dsl_stmt *s, const struct dsl_stmt *outer)
{
	p->failed = true;
	dsl_diag_add(p->diags, DSL_ERROR, s->word.pos,
	    "blocks do not nest: close \"%.*s %.*s\" (line %u) before \"%.*s\"",
	    (int)outer->word.len, outer->word.s, (int)outer->name.len,
	    outer->name.s, outer->pos.line, (int)s->word.len, s->word.s);
	parse_block_rest(p, s);
	p->pending = s;
	p->stray_ok = true;
}

/* Values after a missing comma: counted, reported at the first. */
static bool
extra_values(struct parser *p, uint32_t *count)
{
	struct dsl_token first = p->tok;
	enum dsl_tok t;

	*count = 0;
	for (;;) {
		t = p->tok.type;
		if (t != DSL_T_WORD && t != DSL_T_STRING && t != DSL_T_STAR)
			break;
		if (!push_value(p))
			return false;
		(*count)++;
	}
	if (*count > 0 && p->tok.type != DSL_T_LBRACE) {
		struct dsl_token now = p->tok;

		p->tok = first; /* report where the comma is missing */
		syntax_error(p, "',' or end of line");
		cont_note(p, first.line);
		p->tok = now;
		return false;
	}
	return true;
}

/*
 * A statement starting with a word: an attribute, a label line (in a
 * block) or a block.  outer is the block it stands in, or NULL.  Returns
 * NULL after an error.
 */
static struct dsl_stmt *
parse_stmt(struct parser *p, const struct dsl_stmt *outer, bool blank)
{
	struct dsl_stmt *s;
	uint32_t from = p->nvals, extra;

	if ((s = new_stmt(p, DSL_S_ATTR, blank)) == NULL)
		return NULL;
	take_value(p, &s->word);
	if (outer && dsl_val_is(&s->word, "label")) {
		if (!parse_label(p, s) || !parse_line_end(p, s, true))
			return NULL;
		return s;
	}
	if (!parse_values(p, true) || !extra_values(p, &extra))
		return NULL;
	if (p->tok.type == DSL_T_LBRACE) {
		next(p);
		block_names(p, s, from);
		if (outer != NULL) {
			nested_block(p, s, outer);
			return NULL;
		}
		parse_block_rest(p, s);
		return s;
	}
	if (outer == NULL && is_block_keyword(&s->word)) {
		/* "identity x" and its body, without the '{'. */
		p->failed = true;
		dsl_diag_add(p->diags, DSL_ERROR, tok_pos(&p->tok),
		    "expected '{' after \"%.*s%s%.*s\"", (int)s->word.len,
		    s->word.s, p->nvals > from ? " " : "",
		    p->nvals > from ? (int)p->vals[from].len : 0,
		    p->nvals > from ? p->vals[from].s : "");
		block_names(p, s, from);
		parse_block_rest(p, s);
		return s;
	}
	s->vals = keep_values(p, from, &s->nvals);
	if (p->oom)
		return NULL;
	if (p->tok.type == DSL_T_EQ || p->tok.type == DSL_T_NE) {
		syntax_error(p,
		    "',' or end of line (only \"label\" lines "
		    "hold requirements)");
		return NULL;
	}
	if (!parse_line_end(p, s, outer != NULL))
		return NULL;
	return s;
}

/* A broken statement that swallowed a '{': its body is still checked. */
static void
skip_block(struct parser *p, const struct dsl_token *start)
{
	struct dsl_stmt skipped;

	memset(&skipped, 0, sizeof(skipped));
	skipped.pos = tok_pos(start);
	skipped.word.s = start->ptr;
	skipped.word.len = start->type == DSL_T_WORD ? start->len : 0;
	parse_block_rest(p, &skipped);
}

/*
 * Parses lines until '}' (in a block) or EOF, linking the statements.
 * outer is the block being parsed, NULL at top level.  Returns the first
 * statement.
 */
static struct dsl_stmt *
parse_lines(struct parser *p, const struct dsl_stmt *outer)
{
	struct dsl_stmt *first = NULL, **link = &first, *s;
	struct dsl_token start;
	bool blank = false;
	uint32_t nl = 0;

	for (;;) {
		if (p->oom || (outer != NULL && p->pending != NULL))
			return first;
		start = p->tok;
		s = NULL;
		switch (p->tok.type) {
		case DSL_T_NL:
			blank = ++nl > 1;
			next(p);
			continue;
		case DSL_T_EOF:
			return first;
		case DSL_T_RBRACE:
			if (outer != NULL)
				return first;
			if (!p->stray_ok) {
				p->failed = true;
				dsl_diag_add(p->diags, DSL_ERROR,
				    tok_pos(&p->tok), "'}' closes no block");
			}
			p->stray_ok = false;
			next(p);
			break;
		case DSL_T_COMMENT:
			s = parse_comment(p, blank && first);
			break;
		case DSL_T_WORD:
			p->stray_ok = p->stray_ok && outer != NULL;
			s = parse_stmt(p, outer, blank && first);
			break;
		default:
			syntax_error(
			    p, outer ? "an attribute or '}'" : "a statement");
		}
		if (s != NULL) {
			*link = s;
			link = &s->next;
		} else if (recover(p, outer != NULL))
			skip_block(p, &start);
		if (outer == NULL && p->pending != NULL) {
			*link = p->pending;
			link = &p->pending->next;
			p->pending = NULL;
		}
		blank = false;
		nl = 0;
	}
}

/* After a block's '{': the rest of its line, its body, its '}'. */
static void
parse_block_rest(struct parser *p, struct dsl_stmt *blk)
{
	struct dsl_token start;

	if (!parse_line_end(p, blk, false))
		recover(p, true);
	blk->body = parse_lines(p, blk);
	if (p->oom || p->pending != NULL)
		return; /* closed by a block that should not nest */
	if (p->tok.type != DSL_T_RBRACE) {
		p->failed = true;
		dsl_diag_add(p->diags, DSL_ERROR, blk->pos,
		    "\"%.*s\" block is not closed: '}' missing",
		    (int)blk->word.len, blk->word.s);
		return;
	}
	blk->end = tok_pos(&p->tok);
	next(p);
	if (p->tok.type == DSL_T_COMMENT) {
		blk->close_trailing.s = p->tok.ptr;
		blk->close_trailing.len = p->tok.len;
		blk->close_trailing.pos = tok_pos(&p->tok);
	}
	start = p->tok;
	if (!parse_line_end(p, NULL, false) && recover(p, false))
		skip_block(p, &start);
}

int
dsl_parse(struct dsl_file *f, const struct dsl_limits *lim,
    struct dsl_arena *arena, struct dsl_diags *diags)
{
	/* About 40 KiB, mostly the value scratch array: on the stack. */
	struct parser p;

	memset(&p, 0, sizeof(p));
	p.f = f;
	p.lim = lim;
	p.arena = arena;
	p.diags = diags;
	dsl_lex_init(&p.lx, f->src, f->len, lim->max_token);
	next(&p);
	f->first = parse_lines(&p, NULL);
	if (p.oom)
		return -2;
	return p.failed ? -1 : 0;
}

bool
dsl_val_is(const struct dsl_val *v, const char *lit)
{
	size_t n = strlen(lit);

	return !v->star && v->len == n && memcmp(v->s, lit, n) == 0;
}
