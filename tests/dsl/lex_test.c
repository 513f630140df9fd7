/* Lexer tests: every token, every error, limits, and no over-read. */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dsl/dsl.h"
#include "tests/harness.h"

#define MAXTOK 64

/* Lexes src (NUL-terminated) into types[]; returns the count.  The first
 * error is kept in *last_err and *err. */
static int
lex_all(const char *src, size_t len, enum dsl_tok *types, int max,
    struct dsl_token *last_err, enum dsl_lex_err *err)
{
	struct dsl_lexer lx;
	struct dsl_token t;
	int n = 0;

	dsl_lex_init(&lx, src, len, MAXTOK);
	*err = DSL_LEX_OK;
	do {
		dsl_lex(&lx, &t);
		if (t.type == DSL_T_ERROR && *err == DSL_LEX_OK) {
			*last_err = t;
			*err = lx.err;
		}
		if (n < max)
			types[n] = t.type;
		n++;
	} while (t.type != DSL_T_EOF && n < 1000);
	return n;
}

static void
t_tokens(void)
{
	static const char src[] =
	    "bind x {\n  label a.b/c == \"v\", !d, e != f, g in (h, *)\n}"
	    " # note\n";
	static const enum dsl_tok want[] = {DSL_T_WORD, DSL_T_WORD,
	    DSL_T_LBRACE, DSL_T_NL, DSL_T_WORD, DSL_T_WORD, DSL_T_EQ,
	    DSL_T_STRING, DSL_T_COMMA, DSL_T_BANG, DSL_T_WORD, DSL_T_COMMA,
	    DSL_T_WORD, DSL_T_NE, DSL_T_WORD, DSL_T_COMMA, DSL_T_WORD,
	    DSL_T_WORD, DSL_T_LPAREN, DSL_T_WORD, DSL_T_COMMA, DSL_T_STAR,
	    DSL_T_RPAREN, DSL_T_NL, DSL_T_RBRACE, DSL_T_COMMENT, DSL_T_NL,
	    DSL_T_EOF};
	enum dsl_tok got[64];
	struct dsl_token e;
	enum dsl_lex_err err;
	int n, i;

	n = lex_all(src, sizeof(src) - 1, got, 64, &e, &err);
	check_int(n, (int)(sizeof(want) / sizeof(*want)));
	for (i = 0; i < n && i < (int)(sizeof(want) / sizeof(*want)); i++)
		check_int(got[i], want[i]);
	check_int(err, DSL_LEX_OK);
}

static void
t_positions(void)
{
	static const char src[] = "a\n\tbb \"c\" # d\n";
	struct dsl_lexer lx;
	struct dsl_token t;

	dsl_lex_init(&lx, src, sizeof(src) - 1, MAXTOK);
	dsl_lex(&lx, &t);
	check(t.type == DSL_T_WORD && t.line == 1 && t.col == 1);
	dsl_lex(&lx, &t);
	check(t.type == DSL_T_NL);
	dsl_lex(&lx, &t);
	check(t.type == DSL_T_WORD && t.line == 2 && t.col == 2 && t.len == 2);
	dsl_lex(&lx, &t);
	check(t.type == DSL_T_STRING && t.col == 5 && t.len == 3);
	dsl_lex(&lx, &t);
	check(t.type == DSL_T_COMMENT && t.col == 9 && t.len == 2);
	check(memcmp(t.ptr, " d", 2) == 0);
	dsl_lex(&lx, &t);
	dsl_lex(&lx, &t);
	check(t.type == DSL_T_EOF && t.line == 3);
	dsl_lex(&lx, &t);
	check(t.type == DSL_T_EOF); /* EOF is sticky */
}

static enum dsl_lex_err
first_error(const char *src, size_t len, uint32_t *col)
{
	enum dsl_tok got[8];
	struct dsl_token e = {0};
	enum dsl_lex_err err;

	lex_all(src, len, got, 8, &e, &err);
	*col = e.col;
	return err;
}

static void
t_errors(void)
{
	static const struct {
		const char *src;
		size_t len;
		enum dsl_lex_err err;
		uint32_t col;
	} cases[] = {
	    {"a $", 3, DSL_LEX_BAD_BYTE, 3},
	    {"a\x01", 2, DSL_LEX_BAD_BYTE, 2},
	    {"a \xff", 3, DSL_LEX_BAD_BYTE, 3},
	    {"a \0 b", 5, DSL_LEX_NUL, 3},
	    {"\"ab\0c\"", 6, DSL_LEX_NUL, 4},
	    {"x \"abc\n", 7, DSL_LEX_UNTERMINATED, 3},
	    {"x \"abc", 6, DSL_LEX_UNTERMINATED, 3},
	    {"\"a\\qb\"", 6, DSL_LEX_BAD_ESCAPE, 3},
	    {"\"\\x00\"", 6, DSL_LEX_ESCAPE_VALUE, 2},
	    {"\"\\x80\"", 6, DSL_LEX_ESCAPE_VALUE, 2},
	    {"\"\\u{110000}\"", 12, DSL_LEX_ESCAPE_VALUE, 2},
	    {"\"\\u{d800}\"", 10, DSL_LEX_ESCAPE_VALUE, 2},
	    {"\"\\u{}\"", 6, DSL_LEX_ESCAPE_VALUE, 2},
	    {"\"a\xc3\x28\"", 5, DSL_LEX_BAD_UTF8, 3},
	    {"\"\xe0\x80\x80\"", 5, DSL_LEX_BAD_UTF8, 2},
	    {"\"\xed\xa0\x80\"", 5, DSL_LEX_BAD_UTF8, 2},
	    {"# \xf5\x80", 4, DSL_LEX_BAD_UTF8, 3},
	    {"# a\0b $", 7, DSL_LEX_NUL, 4},
	    {"x \xef\xbb\xbf", 5, DSL_LEX_BAD_BYTE, 3},
	};
	uint32_t col;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		check_int(first_error(cases[i].src, cases[i].len, &col),
		    cases[i].err);
		check_int(col, cases[i].col);
	}
	/* After a NUL in a comment or string, the rest is not lexed again. */
	{
		enum dsl_tok got[16];
		struct dsl_token e;
		enum dsl_lex_err err;

		check_int(lex_all("# a\0b $\nx", 9, got, 16, &e, &err), 4);
		check_int(lex_all("\"a\0b $\" y", 9, got, 16, &e, &err), 3);
		/* A whole UTF-8 character is one error token of its length. */
		check_int(lex_all("\xc3\xb6x", 3, got, 16, &e, &err), 3);
		check_int(e.len, 2);
	}
	/* Valid multibyte text is fine in strings and comments. */
	check_int(
	    first_error("\"gr\xc3\xbc\xc3\x9f\" # \xe2\x82\xac", 14, &col),
	    DSL_LEX_OK);
}

static void
t_token_limit(void)
{
	char buf[MAXTOK + 8];
	uint32_t col;

	/* A word of MAXTOK bytes is fine, one more is too long. */
	memset(buf, 'w', MAXTOK);
	buf[MAXTOK] = '\0';
	check_int(first_error(buf, MAXTOK, &col), DSL_LEX_OK);
	memset(buf, 'w', MAXTOK + 1);
	buf[MAXTOK + 1] = '\0';
	check_int(first_error(buf, MAXTOK + 1, &col), DSL_LEX_TOO_LONG);
	/* A string token counts its quotes. */
	buf[0] = '"';
	memset(buf + 1, 's', MAXTOK - 2);
	buf[MAXTOK - 1] = '"';
	buf[MAXTOK] = '\0';
	check_int(first_error(buf, MAXTOK, &col), DSL_LEX_OK);
	memset(buf + 1, 's', MAXTOK - 1);
	buf[MAXTOK] = '"';
	buf[MAXTOK + 1] = '\0';
	check_int(first_error(buf, MAXTOK + 1, &col), DSL_LEX_TOO_LONG);
}

static void
t_unescape(void)
{
	static const char tok[] =
	    "\"a\\\"b\\\\c\\n\\t\\r\\x41\\u{20ac}\\u{1F600}\"";
	char out[64];
	int n;

	n = dsl_unescape(tok, sizeof(tok) - 1, out, sizeof(out));
	check_int(n, 16);
	check(
	    memcmp(out, "a\"b\\c\n\t\rA\xe2\x82\xac\xf0\x9f\x98\x80", 16) == 0);
	/* The destination must hold the raw length minus the quotes. */
	check_int(dsl_unescape(tok, sizeof(tok) - 1, out, sizeof(tok) - 4), -1);
}

/*
 * Each prefix of a policy, ending right before a PROT_NONE page with its
 * NUL sentinel as the page's last byte: an over-read faults.
 */
static void
t_guard_page(void)
{
	static const char src[] =
	    "identity a {\n kind managed # c\n client-id \"x\\u{41}\"\n}\n"
	    "bind b { label k in (v, w), !z\n}\n\"unterminated\n$";
	size_t page = (size_t)sysconf(_SC_PAGESIZE), n;
	unsigned char *mem;
	enum dsl_tok got[128];
	struct dsl_token e;
	enum dsl_lex_err err;
	char *p;

	mem = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	check(mem != MAP_FAILED);
	if (mem == MAP_FAILED)
		return;
	check(mprotect(mem + page, page, PROT_NONE) == 0);
	for (n = 0; n < sizeof(src); n++) {
		p = (char *)mem + page - n - 1;
		memcpy(p, src, n);
		p[n] = '\0';
		lex_all(p, n, got, 128, &e, &err);
	}
	munmap(mem, 2 * page);
}

int
main(void)
{
	test(t_tokens, "tokens");
	test(t_positions, "positions");
	test(t_errors, "errors");
	test(t_token_limit, "token limit N and N+1");
	test(t_unescape, "unescape");
	test(t_guard_page, "guard page");
	return harness_done();
}
