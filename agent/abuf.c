/*
 * The out-of-line appends of abuf.h.  Numbers are written backwards into a
 * small scratch array, then appended once: no division by anything but a
 * constant (which compilers turn into a multiplication).
 */
#include "agent/abuf.h"

void
abuf_str(struct abuf *b, const char *s)
{
	abuf_add(b, s, strlen(s));
}

void
abuf_u64(struct abuf *b, uint64_t v)
{
	char tmp[20]; /* UINT64_MAX has 20 digits */
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	abuf_add(b, tmp + i, sizeof(tmp) - i);
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

size_t
abuf_strlcpy(char *dst, size_t dstlen, const char *src)
{
	size_t n = strnlen(src, dstlen - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
	return n;
}
