/*
 * agent/kobj.c: kobj_event_decode on arbitrary bytes, and the same bytes
 * as a PodList page (kobj_list_decode, then every item).  Invariants: an
 * error is a named one; a decoded pod's strings are NUL-terminated, within
 * their limits, and its labels lie inside the pool and are found by key;
 * slices of a Status lie inside the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/kobj.h"
#include "fuzz/fuzz.h"

#define FUZZ_NTOK 8192

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct json_tok toks[FUZZ_NTOK];
static struct kobj_event ev;
static struct kobj_list list;

static size_t
fuzz_strlen(const char *s, size_t cap)
{
	const char *nul = memchr(s, '\0', cap);

	fuzz_assert(nul != NULL);
	return (size_t)(nul - s);
}

/* Holds for any pod kobj_pod_decode returned, accepted or not. */
static void
fuzz_pod_strings(const struct kobj_pod *p)
{
	fuzz_strlen(p->uid, sizeof(p->uid));
	fuzz_strlen(p->ns, sizeof(p->ns));
	fuzz_strlen(p->name, sizeof(p->name));
	fuzz_strlen(p->sa, sizeof(p->sa));
	fuzz_strlen(p->rv, sizeof(p->rv));
}

static void
fuzz_pod_ok(const struct kobj_pod *p)
{
	const struct kobj_label *l;
	unsigned i;

	fuzz_pod_strings(p);
	fuzz_assert(p->uid[0] && p->ns[0] && p->name[0] && p->rv[0]);
	fuzz_assert(p->phase <= KOBJ_PHASE_UNKNOWN);
	fuzz_assert(p->nlabels <= LIM_KOBJ_LABELS);
	fuzz_assert(p->label_bytes <= sizeof(p->label_pool));
	for (i = 0; i < p->nlabels; i++) {
		l = &p->labels[i];
		fuzz_assert(l->key + l->key_len < p->label_bytes);
		fuzz_assert(l->val + l->val_len < p->label_bytes);
		fuzz_assert(strlen(kobj_label_key(p, i)) == l->key_len);
		fuzz_assert(strlen(kobj_label_value(p, i)) == l->val_len);
		fuzz_assert(kobj_pod_label(p, kobj_label_key(p, i)) ==
		    kobj_label_value(p, i));
	}
}

static void
fuzz_err(int r)
{
	fuzz_assert(r <= 0);
	fuzz_assert(r == 0 || strcmp(kobj_strerror(r), "unknown error") != 0);
}

static void
fuzz_slice(const char *p, size_t len, const char *buf, size_t size)
{
	fuzz_assert(p == NULL ? len == 0 : p >= buf && p + len <= buf + size);
}

static void
fuzz_event(const char *buf, size_t size)
{
	int r = kobj_event_decode(buf, size, toks, FUZZ_NTOK, &ev);

	fuzz_err(r);
	fuzz_pod_strings(&ev.pod);
	fuzz_strlen(ev.rv, sizeof(ev.rv));
	if (r < 0)
		return;
	switch (ev.type) {
	case KOBJ_EV_ADDED:
	case KOBJ_EV_MODIFIED:
	case KOBJ_EV_DELETED:
		fuzz_pod_ok(&ev.pod);
		fuzz_assert(strcmp(ev.rv, ev.pod.rv) == 0);
		break;
	case KOBJ_EV_BOOKMARK:
		fuzz_assert(ev.rv[0] != '\0');
		break;
	case KOBJ_EV_ERROR:
		fuzz_assert(ev.status.code >= 0 && ev.status.code <= 999);
		fuzz_slice(ev.status.reason, ev.status.reason_len, buf, size);
		fuzz_slice(ev.status.message, ev.status.message_len, buf, size);
		break;
	default:
		fuzz_assert(0);
	}
}

static void
fuzz_list(const char *buf, size_t size)
{
	struct kobj_pod pod;
	int r, n = 0;

	r = kobj_list_decode(buf, size, toks, FUZZ_NTOK, &list);
	fuzz_err(r);
	if (r < 0)
		return;
	fuzz_assert(list.rv[0] != '\0');
	fuzz_strlen(list.cont, sizeof(list.cont));
	while ((r = kobj_list_next(&list, &pod)) != 0) {
		fuzz_assert(r == 1 || r < 0);
		fuzz_err(r < 0 ? r : 0);
		if (r == 1)
			fuzz_pod_ok(&pod);
		fuzz_assert(++n <= list.nitems);
	}
	fuzz_assert(n == list.nitems);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf;

	/* An exact-size copy, so an over-read hits the sanitizer. */
	if ((buf = malloc(size ? size : 1)) == NULL)
		abort();
	memcpy(buf, data, size);
	fuzz_event(buf, size);
	fuzz_list(buf, size);
	free(buf);
	return 0;
}
