/*
 * pwatch: noticing that the policy file changed (issue #7).  The policy
 * usually sits in a mounted ConfigMap directory, which the kubelet updates
 * by writing a new timestamped directory and renaming a `..data` symlink
 * over the old one: the file's own inode goes away, so pwatch watches the
 * DIRECTORY with inotify (set up in pwatch_new, before the privilege
 * drop), plus a slow periodic check as a safety net.
 *
 * Events are debounced: the first one arms a settle timer
 * (LIM_PWATCH_SETTLE_MS, not moved by later events, so a stream of swaps
 * cannot starve it) and when it fires pwatch compares a fingerprint of the
 * file (stat() through symlinks: dev, ino, size, mtime; plus the `..data`
 * link's target) with the last one.  changed() is called only when it
 * differs, or when the kernel dropped events (IN_Q_OVERFLOW), the policy
 * file itself was written, created or renamed into place (content may
 * change under an equal size and a coarse mtime), or the watch ended.
 * One kubelet swap is one call; an unrelated file in the directory none.
 *
 * After the drop it calls read(2) (the inotify fd), stat(2) (newfstatat)
 * and readlinkat(2).  Single-threaded; nothing is allocated after
 * pwatch_new().
 */
#ifndef AGENT_PWATCH_H
#define AGENT_PWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct pwatch;

/* Errors of the event walker: negative codes; pwatch_strerror() names them. */
enum pwatch_err {
	PWATCH_OK = 0,
	PWATCH_ERR_INVAL = -1, /* bad argument */
	PWATCH_ERR_NAME = -2,  /* an event's name is not NUL-terminated */
};

/* Counters since pwatch_new(); read with pwatch_stats(). */
struct pwatch_stats {
	uint64_t events;    /* inotify events read */
	uint64_t overflows; /* IN_Q_OVERFLOW: the kernel dropped events */
	uint64_t checks;    /* periodic checks run */
	uint64_t compares;  /* fingerprints taken and compared */
	uint64_t changes;   /* changed() calls */
	bool watching;      /* the directory watch is alive */
};

/*
 * Watches policy_path (a file; its directory must exist) and calls
 * changed(arg) from the loop when it changed, as described above; every
 * check_ms a periodic check compares the fingerprint too (0: none).
 * policy_path is copied (at most LIM_PWATCH_PATH_BYTES with its NUL).
 * The one allocation, at start-up.  Returns NULL with errno set (EINVAL,
 * ENAMETOOLONG, ENOMEM, ERANGE when the loop has no slot for the fd, or
 * inotify's).  changed() must not call pwatch_free().
 */
struct pwatch *pwatch_new(struct loop *l, const char *policy_path,
    uint64_t check_ms, void (*changed)(void *arg), void *arg);

/* Stops watching, closes the inotify fd and frees pw (NULL is fine). */
void pwatch_free(struct pwatch *pw);

/* The counters; the pointer is valid as long as pw. */
const struct pwatch_stats *pwatch_stats(const struct pwatch *pw);

/*
 * For tests: while deaf, inotify events are read and thrown away, as if
 * the kernel had never sent them; only the periodic check notices.
 */
void pwatch_test_deaf(struct pwatch *pw, bool deaf);

/*
 * What a batch of inotify events means; fill with pwatch_scan_init(),
 * then pwatch_scan_feed() each read(2).  Plain data, caller storage.
 */
struct pwatch_scan {
	uint32_t events; /* events walked */
	bool any;        /* any event: time to settle and compare */
	bool forced;     /* call changed() even with an equal fingerprint */
	bool overflow;   /* IN_Q_OVERFLOW seen */
	bool lost;       /* the watch ended (IN_IGNORED, *_SELF, unmount) */
};

/* Clears s for a new batch. */
void pwatch_scan_init(struct pwatch_scan *s);

/*
 * Walks the struct inotify_event records in buf[0..len) (any alignment)
 * for the file named base (base_len bytes, no '/') and adds them to s.  Pure:
 * no syscalls, no allocation.  Returns the bytes of whole events consumed
 * (less than len: the rest is a cut event, "need more"), or
 * PWATCH_ERR_INVAL / PWATCH_ERR_NAME.
 */
long pwatch_scan_feed(struct pwatch_scan *s, const void *buf, size_t len,
    const char *base, size_t base_len);

/* Static name of a pwatch_err ("unknown pwatch error" for others). */
const char *pwatch_strerror(int err);

#endif
