/*
 * ops: the node-local operations listener (--ops-listen, 127.0.0.1:2580 by
 * default), a second server instance beside the pods' one, never reached
 * through the DNAT rule:
 *
 *	/healthz	200 "ok": the loop answers
 *	/readyz		200 or 503, a one-line text detail ("ok", "policy:
 *			FILE:L:C: error: ..." after a failed reload while an
 *			older policy serves, "waiting for the first pod list")
 *	/metrics	Prometheus text (agent/metrics.h)
 *	/status		JSON: the agent's state, for `podid selftest`
 *	/status/pod	JSON: one pod as cached, its identities and the rule
 *			granting each; with resource=, a token fetched through
 *			the cache, described (status, identity, length,
 *			expiry) but never shown
 *
 * /status and /status/pod answer only peers on loopback (403 otherwise),
 * even when the listener is bound to a node address for Prometheus.
 */
#ifndef AGENT_OPS_H
#define AGENT_OPS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "agent/loop.h"
#include "agent/sources.h"

/*
 * Where to listen and what to show.  src is the agent's (cmd_run's) and
 * must outlive the ops listener; it is only read.  pid is the agent's,
 * taken before the privilege drop.
 */
struct ops_config {
	struct sockaddr_storage listen;
	socklen_t listen_len;
	const struct sources *src;
	pid_t pid;
};

struct ops;

/*
 * Binds the listener (call it before privileges go) and sizes its
 * LIM_OPS_CONNS connection slots with LIM_OPS_WRITE_BYTES responses: the
 * one allocation.  Returns NULL with errno (that of server_new).  Release
 * with ops_free.
 */
struct ops *ops_new(struct loop *, const struct ops_config *);

/* Closes every connection and the listener; NULL is fine. */
void ops_free(struct ops *);

/*
 * The bound address (the port the kernel chose for port 0).  Returns 0, or
 * -1 with errno.
 */
int ops_addr(const struct ops *, struct sockaddr_storage *out, socklen_t *len);

/*
 * The /readyz verdict and detail: writes one line (no newline) into buf
 * (len bytes, NUL-terminated) and returns 200 (ready) or 503.  Pure apart
 * from reading src's live modules.
 */
int ops_ready(const struct sources *src, char *buf, size_t len);

/*
 * Writes the /status JSON document for src into buf (len bytes,
 * NUL-terminated).  now_ms is loop time (for ages), pid the agent's.
 * Returns its length, or -1 when it does not fit.
 */
int ops_status_json(char *buf, size_t len, const struct sources *src,
    uint64_t now_ms, pid_t pid);

/*
 * True when a (IPv4 as v4-mapped) is a loopback address: 127.0.0.0/8 or
 * ::1, the only peers /status and /status/pod answer.
 */
bool ops_peer_is_loopback(const struct in6_addr *a);

#endif
