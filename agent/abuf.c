/*
 * The out-of-line appends of abuf.h.  Numbers are written backwards into
 * the buffer (or a scratch array when it lacks room), two digits a step
 * from a table; values that fit 32 bits (nearly all: statuses, lengths,
 * times) divide in 32 bits.
 */
#include "agent/abuf.h"

static const char abuf_pairs[201] = "00010203040506070809"
                                    "10111213141516171819"
                                    "20212223242526272829"
                                    "30313233343536373839"
                                    "40414243444546474849"
                                    "50515253545556575859"
                                    "60616263646566676869"
                                    "70717273747576777879"
                                    "80818283848586878889"
                                    "90919293949596979899";

/* The number of decimal digits of v. */
static size_t
abuf_ndigits(uint64_t v)
{
	size_t n = 1;

	for (; v >= 10000; v /= 10000)
		n += 4;
	return n + (v >= 10) + (v >= 100) + (v >= 1000);
}

/* Writes v's digits to end just before end, two a step from a table. */
static void
abuf_digits(char *end, uint64_t v)
{
	uint32_t low;

	/* Above 32 bits: eight digits at a time (zero-padded) in 64 bits. */
	while (v > UINT32_MAX) {
		low = (uint32_t)(v % 100000000u);
		v /= 100000000u;
		for (int k = 0; k < 4; k++, low /= 100) {
			end -= 2;
			memcpy(end, abuf_pairs + (size_t)(low % 100) * 2, 2);
		}
	}
	for (low = (uint32_t)v; low >= 100; low /= 100) {
		end -= 2;
		memcpy(end, abuf_pairs + (size_t)(low % 100) * 2, 2);
	}
	if (low >= 10)
		memcpy(end - 2, abuf_pairs + (size_t)low * 2, 2);
	else
		end[-1] = (char)('0' + low);
}

void
abuf_add_cut(struct abuf *b, const void *s, size_t n)
{
	size_t room = b->cap - b->len;

	if (n > room) {
		n = room;
		b->over = true;
	}
	if (n > 0)
		memcpy(b->p + b->len, s, n);
	b->len += n;
}

void
abuf_str(struct abuf *b, const char *s)
{
	abuf_add(b, s, strlen(s));
}

/* abuf_u64 without the room for n digits: through a scratch array. */
static void
abuf_u64_cut(struct abuf *b, uint64_t v, size_t n)
{
	char tmp[20]; /* UINT64_MAX has 20 digits */

	abuf_digits(tmp + n, v);
	abuf_add_cut(b, tmp, n);
}

void
abuf_u64(struct abuf *b, uint64_t v)
{
	size_t n = abuf_ndigits(v);

	/* Straight into the buffer: no scratch array, no stack canary. */
	if (n <= b->cap - b->len) {
		abuf_digits(b->p + b->len + n, v);
		b->len += n;
		return;
	}
	abuf_u64_cut(b, v, n);
}

void
abuf_i64(struct abuf *b, int64_t v)
{
	if (v < 0) {
		abuf_ch(b, '-');
		/* -(v + 1) + 1: INT64_MIN has no positive int64_t. */
		abuf_u64(b, (uint64_t)(-(v + 1)) + 1);
		return;
	}
	abuf_u64(b, (uint64_t)v);
}

/* A byte that goes into a JSON string as it is (log_json_escape's). */
static inline bool
abuf_json_plain(unsigned char c)
{
	return c >= 0x20 && c != '"' && c != '\\' && c != 0x7f;
}

/* Appends the escape of c, if it fits in max - *out; false if not. */
static bool
abuf_json_esc(struct abuf *b, unsigned char c, size_t *out, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
	size_t k = 6;

	if (c == '"' || c == '\\') {
		esc[1] = (char)c;
		k = 2;
	}
	if (k > max - *out)
		return false;
	*out += k;
	abuf_add(b, esc, k);
	return true;
}

void
abuf_json(struct abuf *b, const char *src, size_t len, size_t max)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, run, out = 0;

	while (i < len) {
		/* A run of plain bytes goes in with one copy. */
		for (run = i; run < len && abuf_json_plain(s[run]); run++)
			continue;
		if (run - i > max - out) {
			abuf_add(b, src + i, max - out);
			return;
		}
		abuf_add(b, src + i, run - i);
		out += run - i;
		if ((i = run) == len || !abuf_json_esc(b, s[i], &out, max))
			return;
		i++;
	}
}

size_t
abuf_strlcpy(char *dst, size_t dstlen, const char *src)
{
	size_t n = strnlen(src, dstlen - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
	return n;
}
