/*
 * dsl: the podid policy language's front end.  Lexer (re2c, dsl/lex.re),
 * recursive-descent parser into a syntax tree, diagnostics in GNU form and
 * the canonical formatter.  It knows the grammar, not the meaning: which
 * attributes an identity takes, and what a binding matches, is policy/'s.
 *
 * Memory: the caller owns everything.  The source must be followed by a NUL
 * byte (src[len] == 0: the lexer's sentinel); the tree lives in a caller
 * buffer (struct dsl_arena) and points into it and into the source, so
 * both must outlive the tree.  Nothing here allocates or does I/O, except
 * dsl_diag_print and dsl_fmt which write to a FILE.
 */
#ifndef DSL_DSL_H
#define DSL_DSL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- tokens ---------------------------------------------------------- */

enum dsl_tok {
	DSL_T_EOF,
	DSL_T_NL,      /* end of a line */
	DSL_T_WORD,    /* bare word: names, keys, values, keywords */
	DSL_T_STRING,  /* "quoted", slice includes the quotes */
	DSL_T_COMMENT, /* # ... to end of line, slice excludes the # */
	DSL_T_LBRACE,
	DSL_T_RBRACE,
	DSL_T_LPAREN,
	DSL_T_RPAREN,
	DSL_T_COMMA,
	DSL_T_EQ,   /* = or == */
	DSL_T_NE,   /* != */
	DSL_T_BANG, /* ! */
	DSL_T_STAR, /* * */
	DSL_T_ERROR /* lexical error: dsl_lexer.err says which */
};

enum dsl_lex_err {
	DSL_LEX_OK,
	DSL_LEX_BAD_BYTE,     /* a byte no token starts with */
	DSL_LEX_NUL,          /* a NUL byte before the end */
	DSL_LEX_UNTERMINATED, /* string not closed on its line */
	DSL_LEX_BAD_ESCAPE,   /* unknown escape in a string */
	DSL_LEX_ESCAPE_VALUE, /* \x or \u escape of a value not allowed */
	DSL_LEX_BAD_UTF8,     /* invalid UTF-8 in a string or comment */
	DSL_LEX_TOO_LONG      /* token longer than the limit */
};

struct dsl_token {
	enum dsl_tok type;
	const char *ptr; /* into the source */
	uint32_t len;
	uint32_t line, col; /* 1-based; col counts bytes */
};

struct dsl_lexer {
	const unsigned char *cur, *end, *line_start;
	uint32_t line;
	uint32_t max_token;   /* longest token accepted, bytes */
	enum dsl_lex_err err; /* set with DSL_T_ERROR */
};

/* Starts lexing src[0..len); src[len] must be 0. */
void dsl_lex_init(
    struct dsl_lexer *, const char *src, size_t len, uint32_t max_token);

/* The next token; after DSL_T_EOF it keeps returning DSL_T_EOF. */
void dsl_lex(struct dsl_lexer *, struct dsl_token *);

/*
 * Length of the valid UTF-8 sequence at p (p < end), or 0 when the bytes
 * there are not one.
 */
size_t dsl_utf8_len(const unsigned char *p, const unsigned char *end);

/* A fixed description of a lexical error, or of a token type. */
const char *dsl_lex_strerror(enum dsl_lex_err);
const char *dsl_tok_name(enum dsl_tok);

/*
 * Decodes a DSL_T_STRING token's text (quotes included) into dst.  Returns
 * the decoded length, or -1 when dst (dstlen bytes) is too small.  The lexer
 * already validated the escapes.
 */
int dsl_unescape(const char *tok, size_t len, char *dst, size_t dstlen);

/* ---- syntax tree ----------------------------------------------------- */

struct dsl_pos {
	uint32_t line, col;
};

/* A value: a bare word, a quoted string (decoded), or "*". */
struct dsl_val {
	const char *s; /* not NUL-terminated */
	uint32_t len;
	bool quoted, star;
	struct dsl_pos pos;
};

enum dsl_req_op {
	DSL_REQ_EQ,     /* key = value */
	DSL_REQ_NE,     /* key != value */
	DSL_REQ_IN,     /* key in (v, ...) */
	DSL_REQ_NOTIN,  /* key notin (v, ...) */
	DSL_REQ_EXISTS, /* key */
	DSL_REQ_ABSENT  /* !key */
};

/* One label requirement of a "label" line. */
struct dsl_req {
	struct dsl_val key;
	struct dsl_val *vals; /* EQ and NE: one; IN, NOTIN: one or more */
	uint32_t nvals;
	enum dsl_req_op op;
	struct dsl_pos pos;
};

enum dsl_stmt_kind {
	DSL_S_BLOCK,   /* word name { body } */
	DSL_S_ATTR,    /* word value, value ... */
	DSL_S_LABEL,   /* label req, req ... */
	DSL_S_COMMENT, /* a comment alone on its line */
};

struct dsl_stmt {
	enum dsl_stmt_kind kind;
	struct dsl_pos pos;
	struct dsl_val word;  /* keyword or attribute name; comment text */
	struct dsl_val name;  /* BLOCK: its name */
	struct dsl_val *vals; /* ATTR */
	uint32_t nvals;
	struct dsl_req *reqs; /* LABEL */
	uint32_t nreqs;
	struct dsl_stmt *body;   /* BLOCK: first statement inside */
	struct dsl_stmt *next;   /* the following statement, same level */
	struct dsl_val trailing; /* comment after the statement, len 0: none */
	bool blank_before;       /* one or more blank lines precede it */
	struct dsl_pos end;      /* BLOCK: position of its closing brace */
	struct dsl_val close_trailing; /* BLOCK: comment after the '}' */
};

struct dsl_file {
	const char *name; /* file name for diagnostics */
	const char *src;  /* source text, NUL at src[len] */
	size_t len;
	struct dsl_stmt *first;
};

/* ---- diagnostics ----------------------------------------------------- */

enum dsl_severity { DSL_ERROR, DSL_WARNING, DSL_NOTE };

#define DSL_DIAG_MSG 400

struct dsl_diag {
	enum dsl_severity sev;
	struct dsl_pos pos;
	char msg[DSL_DIAG_MSG];
};

/*
 * Diagnostics of one file, kept in a caller array of cap entries.  Past
 * cap they are counted, not kept (dropped > 0).
 */
struct dsl_diags {
	struct dsl_diag *v;
	uint32_t n, cap, dropped;
	uint32_t errors, warnings;
};

void dsl_diags_init(struct dsl_diags *, struct dsl_diag *v, uint32_t cap);

/* Adds one diagnostic (printf-style message, truncated to fit). */
void dsl_diag_add(struct dsl_diags *, enum dsl_severity, struct dsl_pos,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Prints d as "file:line:col: error: message", then the source line (cut
 * around the column when long; bytes that are not text shown as '?') and
 * a caret under the column.  A diagnostic about the whole file (line 0)
 * is "file: error: message".
 */
void dsl_diag_print(FILE *, const struct dsl_file *, const struct dsl_diag *);

/*
 * Sorts the kept diagnostics by position (stably: file-level ones first),
 * prints each, then "N more not shown".
 */
void dsl_diags_print(FILE *, const struct dsl_file *, struct dsl_diags *);

/* ---- parser ---------------------------------------------------------- */

/* A bump allocator over caller memory; never frees, never grows. */
struct dsl_arena {
	unsigned char *base;
	size_t size, used;
};

void dsl_arena_init(struct dsl_arena *, void *mem, size_t size);

/* size zeroed bytes aligned for any object, or NULL when full. */
void *dsl_arena_alloc(struct dsl_arena *, size_t size);

/* size bytes for text: not aligned, not zeroed; NULL when full. */
char *dsl_arena_alloc_text(struct dsl_arena *, size_t size);

struct dsl_limits {
	uint32_t max_token;  /* bytes in one token */
	uint32_t max_values; /* values on one line, <= DSL_VALUES_CAP */
};

#define DSL_VALUES_CAP 1024

/*
 * Parses f->src into the tree f->first, allocating from arena.  Every
 * syntax error is reported to diags (recovering at the next statement);
 * returns 0 when there was none, -1 otherwise (the tree then holds what
 * could be parsed), -2 when the arena ran out (a diagnostic says so).
 */
int dsl_parse(struct dsl_file *f, const struct dsl_limits *, struct dsl_arena *,
    struct dsl_diags *);

/* Writes the tree in canonical form.  fmt(parse(fmt(x))) == fmt(x). */
void dsl_fmt(FILE *, const struct dsl_file *);

/* True when s[0..len) can be written as a bare word. */
bool dsl_is_word(const char *s, size_t len);

/* Compares a value with a NUL-terminated literal. */
bool dsl_val_is(const struct dsl_val *, const char *lit);

#endif
