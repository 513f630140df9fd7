/*
 * Syntax of the values a policy holds: GUIDs, DNS names, Kubernetes label
 * keys and values, ARM ids, URLs, IMDS paths.  Kubernetes' own rules are
 * followed exactly, so a selector can never name a label no pod can have.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "policy/check.h"

static bool
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static bool
is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool
pc_is_guid(const struct dsl_val *v)
{
	size_t i;

	if (v->len != 36)
		return false;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (v->s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)v->s[i]))
			return false;
	}
	return true;
}

static bool
dns_char(char c, bool fold)
{
	return is_lower_alnum(c) || (fold && c >= 'A' && c <= 'Z');
}

/* RFC 1123 label, [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63; fold: any case. */
static bool
dns_label(const char *s, size_t len, bool fold)
{
	size_t i;

	if (len == 0 || len > 63 || !dns_char(s[0], fold) ||
	    !dns_char(s[len - 1], fold))
		return false;
	for (i = 1; i < len - 1; i++)
		if (!dns_char(s[i], fold) && s[i] != '-')
			return false;
	return true;
}

/* RFC 1123 subdomain: labels joined by dots, at most 253. */
static bool
dns_subdomain(const char *s, size_t len, bool fold)
{
	const char *dot;
	size_t n;

	if (len == 0 || len > 253)
		return false;
	for (;;) {
		dot = memchr(s, '.', len);
		n = dot ? (size_t)(dot - s) : len;
		if (!dns_label(s, n, fold))
			return false;
		if (dot == NULL)
			return true;
		s += n + 1;
		len -= n + 1;
	}
}

bool
pc_is_dns_label(const char *s, size_t len)
{
	return dns_label(s, len, false);
}

bool
pc_is_dns_subdomain(const char *s, size_t len)
{
	return dns_subdomain(s, len, false);
}

/* A domain name for tenants and hosts: a subdomain in any case, dotted. */
bool
pc_is_dns_name(const struct dsl_val *v)
{
	return memchr(v->s, '.', v->len) != NULL &&
	    dns_subdomain(v->s, v->len, true);
}

/* Label name part: [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, <= 63. */
static bool
label_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 63 || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
		return false;
	for (i = 1; i < len - 1; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' &&
		    s[i] != '.')
			return false;
	return true;
}

bool
pc_is_label_key(const char *s, size_t len)
{
	const char *slash = memchr(s, '/', len);

	if (slash == NULL)
		return label_name_ok(s, len);
	return pc_is_dns_subdomain(s, (size_t)(slash - s)) &&
	    label_name_ok(slash + 1, len - (size_t)(slash - s) - 1);
}

bool
pc_is_label_value(const char *s, size_t len)
{
	return len == 0 || label_name_ok(s, len);
}

/* Takes one path segment "name/" off *p; false when absent. */
static bool
arm_segment(const char **p, const char *end, const char *name)
{
	size_t n = strlen(name);

	if ((size_t)(end - *p) < n + 1 || strncasecmp(*p, name, n) != 0 ||
	    (*p)[n] != '/')
		return false;
	*p += n + 1;
	return true;
}

/* The value of a segment: 1..90 bytes up to the next '/' or the end. */
static bool
arm_value(const char **p, const char *end, bool last)
{
	const char *q = *p;

	while (q < end && *q != '/' && *q != '?' && *q > ' ')
		q++;
	if (q == *p || q - *p > 128 || (last ? q != end : *q != '/'))
		return false;
	*p = last ? q : q + 1;
	return true;
}

/*
 * /subscriptions/S/resourceGroups/G/providers/
 * Microsoft.ManagedIdentity/userAssignedIdentities/N, case-insensitive as
 * ARM is.
 */
bool
pc_is_uami_id(const struct dsl_val *v)
{
	const char *p = v->s, *end = v->s + v->len;

	if (v->len < 2 || *p++ != '/')
		return false;
	return arm_segment(&p, end, "subscriptions") &&
	    arm_value(&p, end, false) &&
	    arm_segment(&p, end, "resourceGroups") &&
	    arm_value(&p, end, false) && arm_segment(&p, end, "providers") &&
	    arm_segment(&p, end, "Microsoft.ManagedIdentity") &&
	    arm_segment(&p, end, "userAssignedIdentities") &&
	    arm_value(&p, end, true);
}

/* https://host[:port][/path], no query, fragment, user or spaces. */
bool
pc_is_https_url(const struct dsl_val *v)
{
	const char *p, *end = v->s + v->len, *host;
	struct dsl_val h = {0};

	if (v->len <= 8 || strncasecmp(v->s, "https://", 8) != 0)
		return false;
	host = p = v->s + 8;
	while (p < end && *p != '/' && *p != ':')
		p++;
	h.s = host;
	h.len = (uint32_t)(p - host);
	h.quoted = false;
	if (!pc_is_dns_name(&h) &&
	    !(h.len == 9 && memcmp(host, "localhost", 9) == 0))
		return false;
	if (p < end && *p == ':') {
		for (host = ++p; p < end && *p >= '0' && *p <= '9'; p++)
			;
		if (p == host || p - host > 5)
			return false;
	}
	for (; p < end; p++)
		if (*p <= ' ' || *p == '?' || *p == '#' || *p == '@' ||
		    *p == '\\' || (unsigned char)*p >= 0x7f)
			return false;
	return true;
}

/*
 * A path under /metadata/ that podid may proxy to the node's IMDS: no
 * query, no dot segments, no backslash (CVE-2022-23551), not the token
 * path podid answers itself.
 */
bool
pc_is_proxy_path(const struct dsl_val *v)
{
	size_t i;

	if (v->len < 11 || memcmp(v->s, "/metadata/", 10) != 0)
		return false;
	if (v->len >= 18 && strncasecmp(v->s, "/metadata/identity", 18) == 0)
		return false;
	for (i = 0; i < v->len; i++) {
		if (v->s[i] <= ' ' || v->s[i] == '?' || v->s[i] == '#' ||
		    v->s[i] == '\\' || v->s[i] == '%' ||
		    (unsigned char)v->s[i] >= 0x7f)
			return false;
		if (v->s[i] == '.' && i > 0 && v->s[i - 1] == '/')
			return false;
		if (v->s[i] == '/' && i > 0 && v->s[i - 1] == '/')
			return false;
	}
	return v->s[v->len - 1] != '/';
}
