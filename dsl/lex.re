/*
 * The policy language's lexer.  dsl/lex.c is generated from this file by
 * re2c (make regen) and committed; do not edit lex.c by hand.
 *
 * The input ends with a NUL sentinel (src[len] == 0), so the scanner needs
 * no bounds checks; a NUL before the end is an error of its own.
 */
#include <stdbool.h>
#include <string.h>

#include "dsl/dsl.h"

void
dsl_lex_init(struct dsl_lexer *lx, const char *src, size_t len,
    uint32_t max_token)
{
	lx->cur = (const unsigned char *)src;
	lx->end = lx->cur + len;
	lx->line_start = lx->cur;
	lx->line = 1;
	lx->max_token = max_token;
	lx->err = DSL_LEX_OK;
}

size_t
dsl_utf8_len(const unsigned char *p, const unsigned char *end)
{
	size_t n, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

/* Checks the UTF-8 of [p, end); returns the offset of a bad byte or -1. */
static long
lex_check_utf8(const unsigned char *p, const unsigned char *end)
{
	const unsigned char *s = p;
	size_t n;

	while (p < end) {
		if ((n = dsl_utf8_len(p, end)) == 0)
			return (long)(p - s);
		p += n;
	}
	return -1;
}

/* The hex digits of a \u{...} escape name a Unicode scalar value. */
static bool
lex_unicode_ok(const unsigned char *p, const unsigned char *end)
{
	uint32_t cp = 0;

	for (; p < end; p++)
		cp = cp << 4 | (uint32_t)(*p <= '9' ? *p - '0' : (*p | 0x20) - 'a' + 10);
	return cp != 0 && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
}

static void
lex_set(struct dsl_lexer *lx, struct dsl_token *t, enum dsl_tok type,
    const unsigned char *start)
{
	t->type = type;
	t->ptr = (const char *)start;
	t->len = (uint32_t)(lx->cur - start);
	t->line = lx->line;
	t->col = (uint32_t)(start - lx->line_start) + 1;
}

/* An error token of len bytes at `at` (the bytes it is about). */
static void
lex_error_len(struct dsl_lexer *lx, struct dsl_token *t, enum dsl_lex_err err,
    const unsigned char *at, uint32_t len)
{
	lex_set(lx, t, DSL_T_ERROR, at);
	t->len = len;
	lx->err = err;
}

static void
lex_error(struct dsl_lexer *lx, struct dsl_token *t, enum dsl_lex_err err,
    const unsigned char *at)
{
	lex_error_len(lx, t, err, at, 1);
}

/* Skips the rest of a bad string so lexing resumes after it. */
static void
lex_skip_string(struct dsl_lexer *lx)
{
	while (lx->cur < lx->end && *lx->cur != '"' && *lx->cur != '\n') {
		if (*lx->cur == '\\' && lx->cur + 1 < lx->end &&
		    lx->cur[1] != '\n')
			lx->cur++;
		lx->cur++;
	}
	if (lx->cur < lx->end && *lx->cur == '"')
		lx->cur++;
}

/*
 * A string: "..." on one line.  Escapes: \\ \" \n \t \r \xHH (HH < 0x80)
 * and \u{H...} (a Unicode scalar value).  Text is valid UTF-8.
 */
static void
lex_string(struct dsl_lexer *lx, struct dsl_token *t, const unsigned char *s)
{
	const unsigned char *YYMARKER = NULL, *seg;
	long bad;

	for (;;) {
		seg = lx->cur;
		/*!re2c
		re2c:define:YYCTYPE = "unsigned char";
		re2c:define:YYCURSOR = "lx->cur";
		re2c:yyfill:enable = 0;

		hex = [0-9a-fA-F];

		"\""                { break; }
		"\\" [\\"ntr]       { continue; }
		"\\x" ([1-7] hex | "0" [1-9a-fA-F]) { continue; }
		"\\x" hex hex      {
			lex_skip_string(lx);
			lex_error_len(lx, t, DSL_LEX_ESCAPE_VALUE, seg, 4);
			return;
		}
		"\\u{" hex{1,6} "}" {
			if (!lex_unicode_ok(seg + 3, lx->cur - 1)) {
				uint32_t n = (uint32_t)(lx->cur - seg);

				lex_skip_string(lx);
				lex_error_len(lx, t, DSL_LEX_ESCAPE_VALUE, seg, n);
				return;
			}
			continue;
		}
		"\\" [xu]          {
			lex_skip_string(lx);
			lex_error_len(lx, t, DSL_LEX_ESCAPE_VALUE, seg, 2);
			return;
		}
		"\\"                {
			lex_skip_string(lx);
			lex_error_len(lx, t, DSL_LEX_BAD_ESCAPE, seg, 2);
			return;
		}
		[\x00\n]            {
			lx->cur--;
			if (lx->cur < lx->end && *lx->cur == 0) {
				const unsigned char *nul = lx->cur++;

				lex_skip_string(lx);
				lex_error(lx, t, DSL_LEX_NUL, nul);
				return;
			}
			lex_error(lx, t, DSL_LEX_UNTERMINATED, s);
			return;
		}
		[^"\\\x00\n]+       {
			if ((bad = lex_check_utf8(seg, lx->cur)) >= 0) {
				lex_skip_string(lx);
				lex_error(lx, t, DSL_LEX_BAD_UTF8, seg + bad);
				return;
			}
			continue;
		}
		*/
	}
	(void)YYMARKER;
	lex_set(lx, t, DSL_T_STRING, s);
	if (t->len > lx->max_token)
		lex_error(lx, t, DSL_LEX_TOO_LONG, s);
}

void
dsl_lex(struct dsl_lexer *lx, struct dsl_token *t)
{
	const unsigned char *YYMARKER = NULL, *s;
	long bad;

again:
	s = lx->cur;
	/*!re2c
	word = [A-Za-z0-9_./] [A-Za-z0-9_./:@+-]*;

	"\x00" {
		if (s < lx->end) {
			lex_error(lx, t, DSL_LEX_NUL, s);
			return;
		}
		lx->cur = s;
		lex_set(lx, t, DSL_T_EOF, s);
		return;
	}
	[ \t\r]+ { goto again; }
	"\n" {
		lex_set(lx, t, DSL_T_NL, s);
		lx->line++;
		lx->line_start = lx->cur;
		return;
	}
	"#" [^\n\x00]* {
		if (*lx->cur == 0 && lx->cur < lx->end) {
			/* A NUL inside a comment: the rest of the line goes. */
			const unsigned char *nul = lx->cur;

			while (lx->cur < lx->end && *lx->cur != '\n')
				lx->cur++;
			lex_error(lx, t, DSL_LEX_NUL, nul);
			return;
		}
		if ((bad = lex_check_utf8(s, lx->cur)) >= 0) {
			lex_error(lx, t, DSL_LEX_BAD_UTF8, s + bad);
			lx->cur = s + bad + 1;
			while (lx->cur < lx->end && *lx->cur != '\n')
				lx->cur++;
			return;
		}
		lex_set(lx, t, DSL_T_COMMENT, s + 1);
		t->col--;
		/* Trailing blanks (and the CR of a CRLF file) are not text. */
		while (t->len > 0 && (t->ptr[t->len - 1] == ' ' ||
		    t->ptr[t->len - 1] == '\t' || t->ptr[t->len - 1] == '\r'))
			t->len--;
		return;
	}
	"\"" { lex_string(lx, t, s); return; }
	word {
		lex_set(lx, t, DSL_T_WORD, s);
		if (t->len > lx->max_token)
			lex_error(lx, t, DSL_LEX_TOO_LONG, s);
		return;
	}
	"{"  { lex_set(lx, t, DSL_T_LBRACE, s); return; }
	"}"  { lex_set(lx, t, DSL_T_RBRACE, s); return; }
	"("  { lex_set(lx, t, DSL_T_LPAREN, s); return; }
	")"  { lex_set(lx, t, DSL_T_RPAREN, s); return; }
	","  { lex_set(lx, t, DSL_T_COMMA, s); return; }
	"==" { lex_set(lx, t, DSL_T_EQ, s); return; }
	"="  { lex_set(lx, t, DSL_T_EQ, s); return; }
	"!=" { lex_set(lx, t, DSL_T_NE, s); return; }
	"!"  { lex_set(lx, t, DSL_T_BANG, s); return; }
	"*"  { lex_set(lx, t, DSL_T_STAR, s); return; }
	*    {
		/* A whole UTF-8 character is one error, not one per byte. */
		size_t n = dsl_utf8_len(s, lx->end);

		if (n > 1)
			lx->cur = s + n;
		lex_error_len(lx, t, DSL_LEX_BAD_BYTE, s, n > 1 ? (uint32_t)n : 1);
		return;
	}
	*/
	(void)YYMARKER;
}

static const char *const lex_err_names[] = {
	[DSL_LEX_OK] = "no error",
	[DSL_LEX_BAD_BYTE] = "unexpected character",
	[DSL_LEX_NUL] = "NUL byte in the policy",
	[DSL_LEX_UNTERMINATED] = "unterminated string",
	[DSL_LEX_BAD_ESCAPE] = "unknown escape sequence in string",
	[DSL_LEX_ESCAPE_VALUE] = "invalid escape in string",
	[DSL_LEX_BAD_UTF8] = "invalid UTF-8",
	[DSL_LEX_TOO_LONG] = "token too long",
};

const char *
dsl_lex_strerror(enum dsl_lex_err err)
{
	if ((size_t)err >= sizeof(lex_err_names) / sizeof(*lex_err_names))
		return "unknown lexer error";
	return lex_err_names[err];
}

static const char *const lex_tok_names[] = {
	[DSL_T_EOF] = "end of file",
	[DSL_T_NL] = "end of line",
	[DSL_T_WORD] = "word",
	[DSL_T_STRING] = "string",
	[DSL_T_COMMENT] = "comment",
	[DSL_T_LBRACE] = "'{'",
	[DSL_T_RBRACE] = "'}'",
	[DSL_T_LPAREN] = "'('",
	[DSL_T_RPAREN] = "')'",
	[DSL_T_COMMA] = "','",
	[DSL_T_EQ] = "'='",
	[DSL_T_NE] = "'!='",
	[DSL_T_BANG] = "'!'",
	[DSL_T_STAR] = "'*'",
	[DSL_T_ERROR] = "invalid token",
};

const char *
dsl_tok_name(enum dsl_tok t)
{
	if ((size_t)t >= sizeof(lex_tok_names) / sizeof(*lex_tok_names))
		return "token";
	return lex_tok_names[t];
}

static unsigned
lex_hex(char c)
{
	return (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
}

/* Writes code point cp as UTF-8; returns its length. */
static size_t
lex_put_utf8(char *d, uint32_t cp)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xc0 | cp >> 6);
		d[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (char)(0xe0 | cp >> 12);
		d[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		d[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	d[0] = (char)(0xf0 | cp >> 18);
	d[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	d[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	d[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

int
dsl_unescape(const char *tok, size_t len, char *dst, size_t dstlen)
{
	const char *p = tok + 1, *end = tok + len - 1;
	size_t o = 0;
	uint32_t cp;
	char c;

	/* No escape decodes to more bytes than it is written with. */
	if (len < 2 || dstlen < len - 2)
		return -1;
	while (p < end) {
		if (*p != '\\') {
			dst[o++] = *p++;
			continue;
		}
		c = p[1];
		p += 2;
		switch (c) {
		case 'n': dst[o++] = '\n'; break;
		case 't': dst[o++] = '\t'; break;
		case 'r': dst[o++] = '\r'; break;
		case 'x':
			dst[o++] = (char)(lex_hex(p[0]) << 4 | lex_hex(p[1]));
			p += 2;
			break;
		case 'u':
			for (cp = 0, p++; *p != '}'; p++)
				cp = cp << 4 | lex_hex(*p);
			p++;
			o += lex_put_utf8(dst + o, cp);
			break;
		default: dst[o++] = c; break; /* \\ and \" */
		}
	}
	return (int)o;
}
