/*
 * Kubernetes objects from JSON.  Each decoder reads the few members podid
 * needs through json_obj_get (so a duplicated member is an error, not a
 * silent pick) and checks names with Kubernetes' own rules: these strings
 * end up in URLs (TokenRequest paths), policy matches and logs, so a
 * value the API server would never have stored is refused here too.
 */
#include <arpa/inet.h>
#include <string.h>

#include "agent/kobj.h"

_Static_assert(LIM_KOBJ_LABELS <= 255, "nlabels is a uint8_t");
_Static_assert(LIM_KOBJ_LABEL_POOL_BYTES <= 65535, "offsets are uint16_t");

#define KOBJ_ABSENT (-1) /* member absent or null; == JSON_E_NOKEY */

/* Longest label key: DNS subdomain prefix, '/', 63-byte name. */
#define KOBJ_LABEL_NAME_BYTES 63u

static const char *const kobj_errs[] = {
    [0] = "not a json object",
    [-KOBJ_E_KIND - 100] = "unexpected kind",
    [-KOBJ_E_METADATA - 100] = "metadata missing or not an object",
    [-KOBJ_E_UID - 100] = "metadata.uid missing or malformed",
    [-KOBJ_E_NAMESPACE - 100] = "metadata.namespace missing or malformed",
    [-KOBJ_E_NAME - 100] = "metadata.name missing or malformed",
    [-KOBJ_E_RV - 100] = "metadata.resourceVersion missing or malformed",
    [-KOBJ_E_DELETION - 100] = "metadata.deletionTimestamp not a string",
    [-KOBJ_E_LABELS - 100] = "metadata.labels not an object of strings",
    [-KOBJ_E_LABEL_COUNT - 100] = "too many labels",
    [-KOBJ_E_LABEL_POOL - 100] = "labels too long in total",
    [-KOBJ_E_LABEL_SYNTAX - 100] = "label key or value malformed",
    [-KOBJ_E_LABEL_DUP - 100] = "label key given twice",
    [-KOBJ_E_SPEC - 100] = "spec missing or not an object",
    [-KOBJ_E_SA - 100] = "spec.serviceAccountName malformed",
    [-KOBJ_E_HOSTNET - 100] = "spec.hostNetwork not a boolean",
    [-KOBJ_E_CONTAINERS - 100] = "containers or security contexts malformed",
    [-KOBJ_E_STATUS - 100] = "status not an object",
    [-KOBJ_E_PHASE - 100] = "status.phase unknown or not a string",
    [-KOBJ_E_IP - 100] = "status.podIP or podIPs malformed or inconsistent",
    [-KOBJ_E_EVENT - 100] = "watch event without type or object",
    [-KOBJ_E_EVTYPE - 100] = "unknown watch event type",
    [-KOBJ_E_APISTATUS - 100] = "status code, reason or message malformed",
    [-KOBJ_E_ITEMS - 100] = "list items missing or not an array",
    [-KOBJ_E_CONTINUE - 100] = "list metadata.continue malformed",
};

const char *
kobj_strerror(int err)
{
	if (err <= KOBJ_E_NOTOBJ && err >= KOBJ_E_LAST)
		return kobj_errs[-err - 100];
	return json_strerror(err);
}

static const char *const kobj_phases[] = {
    [KOBJ_PHASE_NONE] = "",
    [KOBJ_PHASE_PENDING] = "Pending",
    [KOBJ_PHASE_RUNNING] = "Running",
    [KOBJ_PHASE_SUCCEEDED] = "Succeeded",
    [KOBJ_PHASE_FAILED] = "Failed",
    [KOBJ_PHASE_UNKNOWN] = "Unknown",
};

const char *
kobj_phase_name(enum kobj_phase phase)
{
	if ((unsigned)phase >= sizeof(kobj_phases) / sizeof(*kobj_phases))
		return "";
	return kobj_phases[phase];
}

/* ---- Kubernetes name syntax ------------------------------------------- */

static bool
kobj_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
kobj_alnum(char c)
{
	return kobj_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* One dot-free part of a DNS-1123 name: [a-z0-9]([-a-z0-9]*[a-z0-9])? */
static bool
kobj_dns_part(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || !kobj_lower_alnum(s[0]) || !kobj_lower_alnum(s[n - 1]))
		return false;
	for (i = 1; i < n; i++)
		if (!kobj_lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

/* DNS-1123 label: namespaces. */
static bool
kobj_dns_label(const char *s, size_t n)
{
	return n <= 63 && kobj_dns_part(s, n);
}

/* DNS-1123 subdomain: pod and service account names, label prefixes. */
static bool
kobj_dns_subdomain(const char *s, size_t n)
{
	const char *dot;

	if (n == 0 || n > 253)
		return false;
	while ((dot = memchr(s, '.', n)) != NULL) {
		if (!kobj_dns_part(s, (size_t)(dot - s)))
			return false;
		n -= (size_t)(dot - s) + 1;
		s = dot + 1;
	}
	return kobj_dns_part(s, n);
}

/* Label name or value: ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], <= 63. */
static bool
kobj_qualified(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > KOBJ_LABEL_NAME_BYTES || !kobj_alnum(s[0]) ||
	    !kobj_alnum(s[n - 1]))
		return false;
	for (i = 1; i < n; i++)
		if (!kobj_alnum(s[i]) && s[i] != '-' && s[i] != '_' &&
		    s[i] != '.')
			return false;
	return true;
}

/* Label key: [DNS-subdomain "/"] qualified-name. */
static bool
kobj_label_key_ok(const char *s, size_t n)
{
	const char *slash = memchr(s, '/', n);
	size_t plen;

	if (slash == NULL)
		return kobj_qualified(s, n);
	plen = (size_t)(slash - s);
	return kobj_dns_subdomain(s, plen) &&
	    kobj_qualified(slash + 1, n - plen - 1);
}

static bool
kobj_label_value_ok(const char *s, size_t n)
{
	return n == 0 || kobj_qualified(s, n);
}

/* metadata.uid: a UUID as the API server makes them, hex and dashes. */
static bool
kobj_uid_ok(const char *s, size_t n)
{
	size_t i;
	char c;

	for (i = 0; i < n; i++) {
		c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		        (c >= 'A' && c <= 'F') || c == '-'))
			return false;
	}
	return n > 0;
}

/* Opaque tokens (resourceVersion, continue): printable, no blanks. */
static bool
kobj_opaque_ok(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] >= 0x7f)
			return false;
	return n > 0;
}

/* ---- member access ----------------------------------------------------- */

/*
 * The helpers below take v, what json_obj_get (or json_obj_getv) gave for
 * a member: decoders read the members they need of a wide object in one
 * pass, so a pod costs one visit per member, not one per lookup.
 */

/* Member value v as a token; KOBJ_ABSENT when absent or null, err when the
 * key is given twice. */
static int
kobj_member(const struct json_doc *d, int v, int err)
{
	if (v == JSON_E_NOKEY)
		return KOBJ_ABSENT;
	if (v < 0)
		return err;
	return json_type(d, v) == JSON_NULL ? KOBJ_ABSENT : v;
}

/* Member value v that must be an object, absent only if optional. */
static int
kobj_object(const struct json_doc *d, int v, bool required, int err)
{
	v = kobj_member(d, v, err);
	if (v == KOBJ_ABSENT)
		return required ? err : KOBJ_ABSENT;
	if (v < 0 || json_type(d, v) != JSON_OBJECT)
		return err;
	return v;
}

/*
 * Copies string member value v into dst (cap bytes with the NUL).  With ok
 * set the member is required and must pass ok(); without, absent reads as
 * "".  Returns 0 or err.
 */
static int
kobj_str(const struct json_doc *d, int v, char *dst, size_t cap,
    bool (*ok)(const char *, size_t), int err)
{
	int n;

	v = kobj_member(d, v, err);
	dst[0] = '\0';
	if (v == KOBJ_ABSENT)
		return ok ? err : 0;
	if (v < 0 || (n = json_str_unescape(d, v, dst, cap)) < 0)
		goto fail;
	if (ok && !ok(dst, (size_t)n))
		goto fail;
	return 0;
fail:
	dst[0] = '\0';
	return err;
}

/* Boolean member value v into *out; absent reads as false. */
static int
kobj_bool(const struct json_doc *d, int v, bool *out, int err)
{
	v = kobj_member(d, v, err);
	*out = false;
	if (v == KOBJ_ABSENT)
		return 0;
	if (v < 0 || json_bool(d, v, out) < 0)
		return err;
	return 0;
}

/* "kind" (member value v), when present, must be want. */
static int
kobj_kind(const struct json_doc *d, int v, const char *want)
{
	v = kobj_member(d, v, KOBJ_E_KIND);
	if (v == KOBJ_ABSENT)
		return 0;
	return json_str_eq(d, v, want) ? 0 : KOBJ_E_KIND;
}

/* Member key of obj, for the decoders that read one or two. */
static int
kobj_get(const struct json_doc *d, int obj, const char *key)
{
	return json_obj_get(d, obj, key);
}

/* ---- labels ------------------------------------------------------------ */

/* Appends string token tok, decoded, to the pod's label pool. */
static int
kobj_pool_put(const struct json_doc *d, int tok, struct kobj_pod *pod,
    uint16_t *off, uint16_t *len)
{
	size_t room = sizeof(pod->label_pool) - pod->label_bytes;
	int r;

	r = json_str_unescape(d, tok, pod->label_pool + pod->label_bytes, room);
	if (r == JSON_E_SPACE)
		return KOBJ_E_LABEL_POOL;
	if (r < 0)
		return KOBJ_E_LABELS; /* not a string, or \u0000 */
	*off = pod->label_bytes;
	*len = (uint16_t)r;
	pod->label_bytes = (uint16_t)(pod->label_bytes + r + 1);
	return 0;
}

static int
kobj_label_add(const struct json_doc *d, int k, int v, struct kobj_pod *pod)
{
	struct kobj_label *l = &pod->labels[pod->nlabels];
	const char *key;
	unsigned i;
	int r;

	if (json_type(d, v) != JSON_STRING)
		return KOBJ_E_LABELS;
	if (pod->nlabels == LIM_KOBJ_LABELS)
		return KOBJ_E_LABEL_COUNT;
	if ((r = kobj_pool_put(d, k, pod, &l->key, &l->key_len)) < 0 ||
	    (r = kobj_pool_put(d, v, pod, &l->val, &l->val_len)) < 0)
		return r;
	key = pod->label_pool + l->key;
	if (!kobj_label_key_ok(key, l->key_len) ||
	    !kobj_label_value_ok(pod->label_pool + l->val, l->val_len))
		return KOBJ_E_LABEL_SYNTAX;
	for (i = 0; i < pod->nlabels; i++)
		if (pod->labels[i].key_len == l->key_len &&
		    memcmp(kobj_label_key(pod, i), key, l->key_len) == 0)
			return KOBJ_E_LABEL_DUP;
	pod->nlabels++;
	return 0;
}

/* metadata.labels, member value v. */
static int
kobj_labels(const struct json_doc *d, int v, struct kobj_pod *pod)
{
	struct json_iter it;
	int labels, k, r;

	labels = kobj_object(d, v, false, KOBJ_E_LABELS);
	if (labels == KOBJ_ABSENT)
		return 0;
	if (labels < 0 || json_iter_init(&it, d, labels) < 0)
		return KOBJ_E_LABELS;
	while (json_iter_next(&it, &k, &v))
		if ((r = kobj_label_add(d, k, v, pod)) < 0)
			return r;
	return 0;
}

const char *
kobj_label_key(const struct kobj_pod *pod, unsigned i)
{
	return i < pod->nlabels ? pod->label_pool + pod->labels[i].key : NULL;
}

const char *
kobj_label_value(const struct kobj_pod *pod, unsigned i)
{
	return i < pod->nlabels ? pod->label_pool + pod->labels[i].val : NULL;
}

const char *
kobj_pod_label(const struct kobj_pod *pod, const char *key)
{
	unsigned i;

	for (i = 0; i < pod->nlabels; i++)
		if (strcmp(kobj_label_key(pod, i), key) == 0)
			return kobj_label_value(pod, i);
	return NULL;
}

/* ---- NET_RAW ------------------------------------------------------------ */

/*
 * s equals want (upper case) in any case, ASCII only (no locale); with
 * prefix set, s may go on after it.
 */
static bool
kobj_caseeq(const char *s, const char *want, bool prefix)
{
	char c;

	for (; *want != '\0'; s++, want++) {
		c = *s >= 'a' && *s <= 'z' ? (char)(*s - 'a' + 'A') : *s;
		if (c != *want)
			return false;
	}
	return prefix || *s == '\0';
}

/* NET_RAW or ALL, in any case, with or without CAP_ (as runtimes read). */
static bool
kobj_cap_is_raw(const char *s)
{
	if (kobj_caseeq(s, "CAP_", true))
		s += 4;
	return kobj_caseeq(s, "NET_RAW", false) || kobj_caseeq(s, "ALL", false);
}

/* Sets *hit when capability list key of caps names NET_RAW or ALL. */
static int
kobj_cap_list(const struct json_doc *d, int caps, const char *key, bool *hit)
{
	struct json_iter it;
	char name[32];
	int list, k, v, r;

	*hit = false;
	list = kobj_member(d, kobj_get(d, caps, key), KOBJ_E_CONTAINERS);
	if (list == KOBJ_ABSENT)
		return 0;
	if (list < 0 || json_type(d, list) != JSON_ARRAY)
		return KOBJ_E_CONTAINERS;
	json_iter_init(&it, d, list);
	while (json_iter_next(&it, &k, &v)) {
		r = json_str_unescape(d, v, name, sizeof(name));
		if (r == JSON_E_SPACE)
			continue; /* longer than any capability name */
		if (r < 0)
			return KOBJ_E_CONTAINERS;
		if (kobj_cap_is_raw(name))
			*hit = true;
	}
	return 0;
}

/*
 * Whether container c may open raw sockets.  Runtimes grant NET_RAW by
 * default, so only a drop of NET_RAW or ALL takes it away; an add of
 * either, or privileged, gives it back.  A container that both adds and
 * drops counts as NET_RAW: runtimes differ in which wins.
 */
static int
kobj_container_raw(const struct json_doc *d, int c, bool *raw)
{
	bool priv, add, drop;
	int sc, caps, r;

	*raw = true;
	if (json_type(d, c) != JSON_OBJECT)
		return KOBJ_E_CONTAINERS;
	sc = kobj_object(
	    d, kobj_get(d, c, "securityContext"), false, KOBJ_E_CONTAINERS);
	if (sc == KOBJ_ABSENT)
		return 0;
	if (sc < 0)
		return sc;
	if ((r = kobj_bool(d, kobj_get(d, sc, "privileged"), &priv,
	         KOBJ_E_CONTAINERS)) < 0)
		return r;
	caps = kobj_object(
	    d, kobj_get(d, sc, "capabilities"), false, KOBJ_E_CONTAINERS);
	if (caps == KOBJ_ABSENT)
		return 0;
	if (caps < 0)
		return caps;
	if ((r = kobj_cap_list(d, caps, "add", &add)) < 0 ||
	    (r = kobj_cap_list(d, caps, "drop", &drop)) < 0)
		return r;
	*raw = priv || add || !drop;
	return 0;
}

/* ORs the NET_RAW of a container list (member value v) into pod->net_raw. */
static int
kobj_containers(
    const struct json_doc *d, int v, bool required, struct kobj_pod *pod)
{
	struct json_iter it;
	int list, k, r;
	bool raw;

	list = kobj_member(d, v, KOBJ_E_CONTAINERS);
	if (list == KOBJ_ABSENT)
		return required ? KOBJ_E_CONTAINERS : 0;
	if (list < 0 || json_type(d, list) != JSON_ARRAY)
		return KOBJ_E_CONTAINERS;
	json_iter_init(&it, d, list);
	while (json_iter_next(&it, &k, &v)) {
		if ((r = kobj_container_raw(d, v, &raw)) < 0)
			return r;
		pod->net_raw |= raw;
	}
	return 0;
}

/* ---- IPs --------------------------------------------------------------- */

/* String token tok as an address: *fam AF_INET or AF_INET6, addr. */
static int
kobj_ip_parse(
    const struct json_doc *d, int tok, int *fam, unsigned char addr[16])
{
	char s[INET6_ADDRSTRLEN + 1];

	if (json_str_unescape(d, tok, s, sizeof(s)) <= 0)
		return KOBJ_E_IP;
	if (inet_pton(AF_INET, s, addr) == 1)
		*fam = AF_INET;
	else if (inet_pton(AF_INET6, s, addr) == 1)
		*fam = AF_INET6;
	else
		return KOBJ_E_IP;
	return 0;
}

/* Stores one address; a second of the same family is an error. */
static int
kobj_ip_add(struct kobj_pod *pod, int fam, const unsigned char *addr)
{
	if (fam == AF_INET && !pod->has_ip4) {
		memcpy(&pod->ip4, addr, sizeof(pod->ip4));
		pod->has_ip4 = true;
		return 0;
	}
	if (fam == AF_INET6 && !pod->has_ip6) {
		memcpy(&pod->ip6, addr, sizeof(pod->ip6));
		pod->has_ip6 = true;
		return 0;
	}
	return KOBJ_E_IP;
}

/* status.podIPs (member value list): [{"ip": "..."}], one per family.  *first gets
 * the family of the first entry (0 when none). */
static int
kobj_pod_ips(
    const struct json_doc *d, int list, struct kobj_pod *pod, int *first)
{
	unsigned char addr[16];
	struct json_iter it;
	int k, v, ip, fam, r;

	*first = 0;
	list = kobj_member(d, list, KOBJ_E_IP);
	if (list == KOBJ_ABSENT)
		return 0;
	if (list < 0 || json_type(d, list) != JSON_ARRAY)
		return KOBJ_E_IP;
	json_iter_init(&it, d, list);
	while (json_iter_next(&it, &k, &v)) {
		ip = kobj_member(d, kobj_get(d, v, "ip"), KOBJ_E_IP);
		if (json_type(d, v) != JSON_OBJECT || ip < 0)
			return KOBJ_E_IP;
		if ((r = kobj_ip_parse(d, ip, &fam, addr)) < 0 ||
		    (r = kobj_ip_add(pod, fam, addr)) < 0)
			return r;
		if (*first == 0)
			*first = fam;
	}
	return 0;
}

/* status.podIP (member value ip): alone, or equal to podIPs[0]. */
static int
kobj_pod_ip(const struct json_doc *d, int ip, struct kobj_pod *pod, int first)
{
	unsigned char addr[16];
	int fam;

	ip = kobj_member(d, ip, KOBJ_E_IP);
	if (ip == KOBJ_ABSENT || json_str_eq(d, ip, ""))
		return 0;
	if (ip < 0 || kobj_ip_parse(d, ip, &fam, addr) < 0)
		return KOBJ_E_IP;
	if (first == 0)
		return kobj_ip_add(pod, fam, addr);
	if (fam != first)
		return KOBJ_E_IP;
	if (fam == AF_INET)
		return memcmp(&pod->ip4, addr, 4) == 0 ? 0 : KOBJ_E_IP;
	return memcmp(&pod->ip6, addr, 16) == 0 ? 0 : KOBJ_E_IP;
}

/* ---- the pod ------------------------------------------------------------ */

/* The members of a pod's objects that podid reads, in check order. */
enum {
	KOBJ_M_UID,
	KOBJ_M_NS,
	KOBJ_M_NAME,
	KOBJ_M_RV,
	KOBJ_M_DEL,
	KOBJ_M_LABELS,
	KOBJ_M_N
};
static const char *const kobj_meta_keys[KOBJ_M_N] = {"uid", "namespace", "name",
    "resourceVersion", "deletionTimestamp", "labels"};

enum {
	KOBJ_S_SA,
	KOBJ_S_HOSTNET,
	KOBJ_S_CONT,
	KOBJ_S_INIT,
	KOBJ_S_EPH,
	KOBJ_S_N
};
static const char *const kobj_spec_keys[KOBJ_S_N] = {"serviceAccountName",
    "hostNetwork", "containers", "initContainers", "ephemeralContainers"};

enum { KOBJ_T_PHASE, KOBJ_T_IPS, KOBJ_T_IP, KOBJ_T_N };
static const char *const kobj_status_keys[KOBJ_T_N] = {
    "phase", "podIPs", "podIP"};

enum { KOBJ_P_META, KOBJ_P_KIND, KOBJ_P_SPEC, KOBJ_P_STATUS, KOBJ_P_N };
static const char *const kobj_pod_keys[KOBJ_P_N] = {
    "metadata", "kind", "spec", "status"};

static int
kobj_pod_meta(const struct json_doc *d, int meta, struct kobj_pod *pod)
{
	int m[KOBJ_M_N], r, del;

	json_obj_getv(d, meta, kobj_meta_keys, KOBJ_M_N, m);
	if ((r = kobj_str(d, m[KOBJ_M_UID], pod->uid, sizeof(pod->uid),
	         kobj_uid_ok, KOBJ_E_UID)) < 0 ||
	    (r = kobj_str(d, m[KOBJ_M_NS], pod->ns, sizeof(pod->ns),
	         kobj_dns_label, KOBJ_E_NAMESPACE)) < 0 ||
	    (r = kobj_str(d, m[KOBJ_M_NAME], pod->name, sizeof(pod->name),
	         kobj_dns_subdomain, KOBJ_E_NAME)) < 0 ||
	    (r = kobj_str(d, m[KOBJ_M_RV], pod->rv, sizeof(pod->rv),
	         kobj_opaque_ok, KOBJ_E_RV)) < 0)
		return r;
	del = kobj_member(d, m[KOBJ_M_DEL], KOBJ_E_DELETION);
	if (del != KOBJ_ABSENT && json_type(d, del) != JSON_STRING)
		return KOBJ_E_DELETION;
	pod->terminating = del != KOBJ_ABSENT;
	return kobj_labels(d, m[KOBJ_M_LABELS], pod);
}

static bool
kobj_sa_ok(const char *s, size_t n)
{
	return n == 0 || kobj_dns_subdomain(s, n);
}

static int
kobj_pod_spec(const struct json_doc *d, int spec, struct kobj_pod *pod)
{
	int m[KOBJ_S_N], r;

	json_obj_getv(d, spec, kobj_spec_keys, KOBJ_S_N, m);
	if ((r = kobj_str(d, m[KOBJ_S_SA], pod->sa, sizeof(pod->sa), NULL,
	         KOBJ_E_SA)) < 0)
		return r;
	if (!kobj_sa_ok(pod->sa, strlen(pod->sa))) {
		pod->sa[0] = '\0';
		return KOBJ_E_SA;
	}
	if ((r = kobj_bool(
	         d, m[KOBJ_S_HOSTNET], &pod->host_network, KOBJ_E_HOSTNET)) < 0)
		return r;
	if ((r = kobj_containers(d, m[KOBJ_S_CONT], true, pod)) < 0 ||
	    (r = kobj_containers(d, m[KOBJ_S_INIT], false, pod)) < 0 ||
	    (r = kobj_containers(d, m[KOBJ_S_EPH], false, pod)) < 0)
		return r;
	return 0;
}

static int
kobj_pod_status(const struct json_doc *d, int status, struct kobj_pod *pod)
{
	int m[KOBJ_T_N], phase, first, r;
	unsigned i;

	json_obj_getv(d, status, kobj_status_keys, KOBJ_T_N, m);
	phase = kobj_member(d, m[KOBJ_T_PHASE], KOBJ_E_PHASE);
	if (phase != KOBJ_ABSENT) {
		for (i = KOBJ_PHASE_PENDING; i <= KOBJ_PHASE_UNKNOWN; i++)
			if (json_str_eq(d, phase, kobj_phases[i]))
				pod->phase = (enum kobj_phase)i;
		if (pod->phase == KOBJ_PHASE_NONE)
			return KOBJ_E_PHASE;
	}
	if ((r = kobj_pod_ips(d, m[KOBJ_T_IPS], pod, &first)) < 0)
		return r;
	return kobj_pod_ip(d, m[KOBJ_T_IP], pod, first);
}

int
kobj_pod_decode(const struct json_doc *d, int obj, struct kobj_pod *out)
{
	int m[KOBJ_P_N], meta, spec, status, r;

	memset(out, 0, sizeof(*out));
	if (json_type(d, obj) != JSON_OBJECT)
		return KOBJ_E_NOTOBJ;
	json_obj_getv(d, obj, kobj_pod_keys, KOBJ_P_N, m);
	meta = kobj_object(d, m[KOBJ_P_META], true, KOBJ_E_METADATA);
	if (meta < 0)
		return meta;
	/* identity first: it is what a caller needs to drop a refused pod */
	if ((r = kobj_pod_meta(d, meta, out)) < 0 ||
	    (r = kobj_kind(d, m[KOBJ_P_KIND], "Pod")) < 0)
		return r;
	if ((spec = kobj_object(d, m[KOBJ_P_SPEC], true, KOBJ_E_SPEC)) < 0)
		return spec;
	if ((r = kobj_pod_spec(d, spec, out)) < 0)
		return r;
	status = kobj_object(d, m[KOBJ_P_STATUS], false, KOBJ_E_STATUS);
	if (status == KOBJ_ABSENT)
		return 0;
	if (status < 0)
		return status;
	return kobj_pod_status(d, status, out);
}

/* ---- Status, events, lists ---------------------------------------------- */

/* String member key of obj as a raw slice; absent leaves NULL/0. */
static int
kobj_slice(const struct json_doc *d, int obj, const char *key, const char **p,
    size_t *len)
{
	int v = kobj_member(d, kobj_get(d, obj, key), KOBJ_E_APISTATUS);

	*p = NULL;
	*len = 0;
	if (v == KOBJ_ABSENT)
		return 0;
	if (v < 0 || json_type(d, v) != JSON_STRING)
		return KOBJ_E_APISTATUS;
	*p = json_slice(d, v, len);
	return 0;
}

int
kobj_status_decode(const struct json_doc *d, int obj, struct kobj_status *out)
{
	int64_t code = 0;
	int v, r;

	memset(out, 0, sizeof(*out));
	if (json_type(d, obj) != JSON_OBJECT)
		return KOBJ_E_NOTOBJ;
	if ((r = kobj_kind(d, kobj_get(d, obj, "kind"), "Status")) < 0)
		return r;
	v = kobj_member(d, kobj_get(d, obj, "code"), KOBJ_E_APISTATUS);
	if (v != KOBJ_ABSENT &&
	    (v < 0 || json_int64(d, v, &code) < 0 || code < 0 || code > 999))
		return KOBJ_E_APISTATUS;
	out->code = (int)code;
	if ((r = kobj_slice(d, obj, "reason", &out->reason, &out->reason_len)) <
	        0 ||
	    (r = kobj_slice(
	         d, obj, "message", &out->message, &out->message_len)) < 0)
		return r;
	return 0;
}

bool
kobj_status_is_gone(const struct kobj_status *st)
{
	if (st->code == 410)
		return true;
	return (st->reason_len == 7 && memcmp(st->reason, "Expired", 7) == 0) ||
	    (st->reason_len == 4 && memcmp(st->reason, "Gone", 4) == 0);
}

static enum kobj_ev
kobj_ev_type(const struct json_doc *d, int tok)
{
	static const char *const names[] = {
	    [KOBJ_EV_ADDED] = "ADDED",
	    [KOBJ_EV_MODIFIED] = "MODIFIED",
	    [KOBJ_EV_DELETED] = "DELETED",
	    [KOBJ_EV_BOOKMARK] = "BOOKMARK",
	    [KOBJ_EV_ERROR] = "ERROR",
	};
	unsigned i;

	for (i = KOBJ_EV_ADDED; i <= KOBJ_EV_ERROR; i++)
		if (json_str_eq(d, tok, names[i]))
			return (enum kobj_ev)i;
	return KOBJ_EV_NONE;
}

/* A BOOKMARK's object: a Pod with nothing but metadata.resourceVersion. */
static int
kobj_bookmark(const struct json_doc *d, int obj, struct kobj_event *out)
{
	int meta, r;

	if ((r = kobj_kind(d, kobj_get(d, obj, "kind"), "Pod")) < 0)
		return r;
	if ((meta = kobj_object(
	         d, kobj_get(d, obj, "metadata"), true, KOBJ_E_METADATA)) < 0)
		return meta;
	return kobj_str(d, kobj_get(d, meta, "resourceVersion"), out->rv,
	    sizeof(out->rv), kobj_opaque_ok, KOBJ_E_RV);
}

int
kobj_event_decode(const char *line, size_t len, struct json_tok *toks,
    unsigned ntok, struct kobj_event *out)
{
	struct json_doc *d = &out->doc;
	int type, r;

	memset(out, 0, sizeof(*out));
	out->object = -1;
	if ((r = json_parse(d, line, len, toks, ntok)) < 0)
		return r;
	if (json_type(d, 0) != JSON_OBJECT)
		return KOBJ_E_EVENT;
	type = json_obj_get(d, 0, "type");
	out->object = json_obj_get(d, 0, "object");
	if (json_type(d, type) != JSON_STRING ||
	    json_type(d, out->object) != JSON_OBJECT)
		return KOBJ_E_EVENT;
	if ((out->type = kobj_ev_type(d, type)) == KOBJ_EV_NONE)
		return KOBJ_E_EVTYPE;
	if (out->type == KOBJ_EV_BOOKMARK)
		return kobj_bookmark(d, out->object, out);
	if (out->type == KOBJ_EV_ERROR)
		return kobj_status_decode(d, out->object, &out->status);
	r = kobj_pod_decode(d, out->object, &out->pod);
	memcpy(out->rv, out->pod.rv, sizeof(out->rv));
	return r;
}

int
kobj_list_decode(const char *buf, size_t len, struct json_tok *toks,
    unsigned ntok, struct kobj_list *out)
{
	const struct json_doc *d = &out->doc;
	int meta, items, r;

	memset(out, 0, sizeof(*out));
	if ((r = json_parse(&out->doc, buf, len, toks, ntok)) < 0)
		return r;
	if (json_type(d, 0) != JSON_OBJECT)
		return KOBJ_E_NOTOBJ;
	if ((r = kobj_kind(d, kobj_get(d, 0, "kind"), "PodList")) < 0)
		return r;
	if ((meta = kobj_object(
	         d, kobj_get(d, 0, "metadata"), true, KOBJ_E_METADATA)) < 0)
		return meta;
	if ((r = kobj_str(d, kobj_get(d, meta, "resourceVersion"), out->rv,
	         sizeof(out->rv), kobj_opaque_ok, KOBJ_E_RV)) < 0 ||
	    (r = kobj_str(d, kobj_get(d, meta, "continue"), out->cont,
	         sizeof(out->cont), NULL, KOBJ_E_CONTINUE)) < 0)
		return r;
	if (out->cont[0] != '\0' &&
	    !kobj_opaque_ok(out->cont, strlen(out->cont)))
		return KOBJ_E_CONTINUE;
	items = json_obj_get(d, 0, "items");
	if (json_type(d, items) == JSON_NULL)
		return 0; /* Go marshals an empty slice as null */
	if (json_type(d, items) != JSON_ARRAY)
		return KOBJ_E_ITEMS;
	out->nitems = json_size(d, items);
	out->left_ = out->nitems;
	out->next_ = items + 1;
	return 0;
}

int
kobj_list_next(struct kobj_list *list, struct kobj_pod *pod)
{
	int item = list->next_, r;

	if (list->left_ <= 0)
		return 0;
	list->left_--;
	list->next_ = json_next(&list->doc, item);
	r = kobj_pod_decode(&list->doc, item, pod);
	return r < 0 ? r : 1;
}
