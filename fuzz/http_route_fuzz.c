/*
 * Fuzz target: http_route().  The input, copied to an exact-size buffer,
 * is a raw path.  Checked here, independently of agent/http.c: anything
 * not canonical (no leading '/', '\', '%', a non-VCHAR byte, "//" inside,
 * a "." or ".." segment) is HTTP_ROUTE_INVALID; HTTP_ROUTE_TOKEN is only
 * ever the one path (any case for "metadata", optional trailing '/'); a
 * proxiable HTTP_ROUTE_METADATA never names a token.  And the route does
 * not change when "metadata" changes case or a trailing '/' comes or goes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(c)                                                         \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

static bool
canonical(const char *p, size_t n)
{
	size_t i, seg = 1;

	if (n == 0 || p[0] != '/')
		return false;
	for (i = 1; i < n; i++)
		if ((unsigned char)p[i] <= 0x20 ||
		    (unsigned char)p[i] >= 0x7f || p[i] == '\\' || p[i] == '%')
			return false;
	for (i = 1; i <= n; i++) {
		if (i < n && p[i] != '/')
			continue;
		if (i == seg && i < n)
			return false;
		if ((i - seg == 1 && p[seg] == '.') ||
		    (i - seg == 2 && p[seg] == '.' && p[seg + 1] == '.'))
			return false;
		seg = i + 1;
	}
	return true;
}

/* p (n bytes) contains lit, ignoring ASCII case. */
static bool
icontains(const char *p, size_t n, const char *lit)
{
	size_t i, len = strlen(lit);

	for (i = 0; i + len <= n; i++)
		if (strncasecmp(p + i, lit, len) == 0)
			return true;
	return false;
}

static bool
is_token_path(const char *p, size_t n)
{
	static const char rest[] = "/identity/oauth2/token";

	if (n > 0 && p[n - 1] == '/')
		n--;
	return n == 9 + sizeof(rest) - 1 &&
	    strncasecmp(p, "/metadata", 9) == 0 &&
	    memcmp(p + 9, rest, sizeof(rest) - 1) == 0;
}

static void
check_route(const char *p, size_t n, enum http_route r)
{
	FUZZ_ASSERT(strcmp(http_route_name(r), "unknown") != 0);
	FUZZ_ASSERT((r == HTTP_ROUTE_INVALID) == !canonical(p, n));
	FUZZ_ASSERT((r == HTTP_ROUTE_TOKEN) ==
	    (canonical(p, n) && is_token_path(p, n)));
	if (r == HTTP_ROUTE_METADATA) {
		FUZZ_ASSERT(n >= 10 && strncasecmp(p, "/metadata/", 10) == 0);
		FUZZ_ASSERT((n >= 18 && strncmp(p + 9, "/instance", 9) == 0) ||
		    (!icontains(p, n, "token") && !icontains(p, n, "oauth")));
	}
	if (r == HTTP_ROUTE_HOST_TOKEN)
		FUZZ_ASSERT(strncmp(p, "/host/token", 11) == 0);
}

/* The route does not change with the case of "metadata" or with a
 * trailing '/' added or removed; alt has room for size + 1 bytes. */
static void
check_variants(const char *buf, size_t size, enum http_route r, char *alt)
{
	struct http_slice s = {alt, size};
	size_t i;

	memcpy(alt, buf, size);
	if (size >= 9 && strncasecmp(buf, "/metadata", 9) == 0) {
		for (i = 1; i < 9; i++)
			alt[i] ^= 0x20;
		FUZZ_ASSERT(http_route(s) == r);
		memcpy(alt, buf, size);
	}
	if (buf[size - 1] == '/')
		s.len = size - 1;
	else
		alt[s.len++] = '/';
	FUZZ_ASSERT(http_route(s) == r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_slice s;
	enum http_route r;
	char *buf, *alt;

	if ((buf = malloc(size ? size : 1)) == NULL)
		return 0;
	if ((alt = malloc(size + 1)) == NULL) {
		free(buf);
		return 0;
	}
	if (size > 0)
		memcpy(buf, data, size);
	else
		buf[0] = '\0'; /* never read: size is 0 */
	s.ptr = buf;
	s.len = size;
	r = http_route(s);
	check_route(buf, size, r);
	if (r != HTTP_ROUTE_INVALID && size >= 2)
		check_variants(buf, size, r, alt);
	free(alt);
	free(buf);
	return 0;
}
