/*
 * rules: the actions.  Each opens its own NETLINK_NETFILTER socket, sends
 * requests built by rules_msg.c and feeds the answers to rules_parse.c
 * until the exchange is over (every acked message answered, or the dump's
 * DONE), then closes it.  Blocking, with a receive timeout: these run at
 * start-up, from `podid rules`, or every few seconds from a checker, and
 * take a few small messages each.
 *
 * Buffers are on the stack (one LIM_RULES_RECV_BYTES datagram, one
 * LIM_RULES_MSG_BYTES request, a struct rules_state); nothing is
 * allocated.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/netlink.h>

#include "agent/rules.h"

/* One netlink socket and the next sequence number to use on it. */
struct nl {
	int fd;
	uint32_t seq;
};

static void
nl_close(struct nl *n)
{
	int e = errno;

	if (n->fd != -1)
		close(n->fd);
	n->fd = -1;
	errno = e;
}

static int
nl_open(struct nl *n)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	struct timeval tv = {(time_t)(LIM_RULES_TIMEOUT_MS / 1000),
	    (suseconds_t)(LIM_RULES_TIMEOUT_MS % 1000) * 1000};
	int one = 1;

	n->seq = 1;
	n->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (n->fd == -1)
		return RULES_E_SOCKET;
	if (setsockopt(n->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    bind(n->fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		nl_close(n);
		return RULES_E_SOCKET;
	}
	/* Acks without a copy of the request; older kernels ignore it. */
	(void)setsockopt(
	    n->fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	return 0;
}

static int
nl_send(struct nl *n, const void *buf, size_t len)
{
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	ssize_t r;

	do
		r = sendto(n->fd, buf, len, 0, (struct sockaddr *)&kernel,
		    sizeof(kernel));
	while (r == -1 && errno == EINTR);
	if (r == -1)
		return RULES_E_IO;
	if ((size_t)r != len) {
		errno = EMSGSIZE;
		return RULES_E_IO;
	}
	return 0;
}

/* One datagram from the kernel: its length or a negative error. */
static ssize_t
nl_recv(struct nl *n, void *buf, size_t cap)
{
	struct sockaddr_nl from;
	socklen_t fl;
	ssize_t r;

	for (;;) {
		memset(&from, 0, sizeof(from));
		fl = sizeof(from);
		r = recvfrom(
		    n->fd, buf, cap, MSG_TRUNC, (struct sockaddr *)&from, &fl);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return errno == EAGAIN || errno == EWOULDBLOCK
			    ? RULES_E_TIMEOUT
			    : RULES_E_IO;
		if ((size_t)r > cap)
			return RULES_E_TOOBIG;
		if (fl == sizeof(from) && from.nl_pid == 0)
			return r;
	}
}

/* Feeds answers to d until the exchange is over; a refusal sets errno. */
static int
nl_wait(struct nl *n, struct rules_dump *d)
{
	uint8_t buf[LIM_RULES_RECV_BYTES] __attribute__((aligned(8)));
	ssize_t r, took;

	while (!d->done) {
		if ((r = nl_recv(n, buf, sizeof(buf))) < 0)
			return (int)r;
		if ((took = rules_dump_feed(d, buf, (size_t)r)) < 0)
			return (int)took;
		if (took != r)
			return RULES_E_MALFORMED;
	}
	if (d->kerr != 0) {
		errno = d->kerr;
		return RULES_E_KERNEL;
	}
	return 0;
}

/* Sends msg (seqs lo..hi) and waits for want answers into st. */
static int
nl_exchange(struct nl *n, const void *msg, ssize_t len, uint32_t lo,
    uint32_t hi, unsigned want, struct rules_state *st)
{
	struct rules_dump d;
	int rc;

	if (len < 0)
		return (int)len;
	if ((rc = nl_send(n, msg, (size_t)len)) < 0)
		return rc;
	rules_dump_init(&d, st, lo, hi, want);
	if ((rc = nl_wait(n, &d)) < 0)
		return rc;
	return d.intr ? 1 : 0;
}

/* One read of table, chain and rules: 1 when a dump was inconsistent. */
static int
status_once(struct rules_state *st)
{
	uint8_t msg[LIM_RULES_MSG_BYTES];
	struct nl n;
	int rc = 0, intr = 0;
	enum rules_get what;

	rules_state_clear(st);
	if ((rc = nl_open(&n)) < 0)
		return rc;
	for (what = RULES_GET_TABLE; what <= RULES_GET_RULES; what++) {
		uint32_t seq = n.seq++;

		rc = nl_exchange(&n, msg,
		    rules_msg_get(msg, sizeof(msg), seq, what), seq, seq, 1,
		    st);
		if (rc < 0)
			break;
		intr |= rc;
	}
	nl_close(&n);
	return rc < 0 ? rc : intr;
}

int
rules_status(const struct rules_spec *spec, struct rules_state *out)
{
	unsigned try;
	int rc = 1;

	for (try = 0; try < LIM_RULES_STATUS_TRIES && rc == 1; try++)
		rc = status_once(out);
	if (rc < 0)
		return rc;
	if (rc == 1)
		return RULES_E_CHANGED;
	rules_check(spec, out);
	return 0;
}

/* Sends a batch of seqs seq..seq+nmsg+1 and waits for its nmsg acks. */
static int
batch(const void *msg, ssize_t len, unsigned nmsg, struct rules_state *st)
{
	struct nl n;
	int rc;

	if (len < 0)
		return (int)len;
	if ((rc = nl_open(&n)) < 0)
		return rc;
	rc = nl_exchange(&n, msg, len, n.seq, n.seq + nmsg + 1, nmsg, st);
	nl_close(&n);
	return rc < 0 ? rc : 0;
}

int
rules_install(const struct rules_spec *spec)
{
	uint8_t msg[LIM_RULES_MSG_BYTES];
	struct rules_state st;
	ssize_t len;

	if ((len = rules_msg_install(msg, sizeof(msg), 1, spec)) < 0)
		return (int)len;
	/* A failed read is no reason not to try: the batch needs none. */
	if (rules_status(spec, &st) == 0 && st.verdict == RULES_MATCH)
		return 1;
	return batch(msg, len, 5, &st);
}

int
rules_remove(void)
{
	uint8_t msg[LIM_RULES_MSG_BYTES];
	struct rules_state st;

	rules_state_clear(&st);
	return batch(msg, rules_msg_remove(msg, sizeof(msg), 1), 2, &st);
}

/* Deletes e: 0 done, 1 already gone, or a negative error. */
static int
ct_delete(struct nl *n, const struct rules_ct_entry *e)
{
	uint8_t msg[256];
	struct rules_state st;
	uint32_t seq = n->seq++;
	int rc;

	rules_state_clear(&st);
	rc = nl_exchange(n, msg, rules_msg_ct_delete(msg, sizeof(msg), seq, e),
	    seq, seq, 1, &st);
	if (rc == RULES_E_KERNEL && errno == ENOENT)
		return 1;
	return rc < 0 ? rc : 0;
}

/* Walks one dump datagram, deleting each entry to cut on del. */
static int
ct_walk(struct rules_ct *c, const uint8_t *buf, size_t len, struct nl *del,
    unsigned *deleted)
{
	size_t off = 0;
	ssize_t took;
	int rc;

	while (off < len) {
		if ((took = rules_ct_feed(c, buf + off, len - off)) < 0)
			return (int)took;
		if (took == 0)
			return RULES_E_MALFORMED;
		off += (size_t)took;
		if (!c->matched)
			continue;
		if ((rc = ct_delete(del, &c->hit)) < 0)
			return rc;
		*deleted += rc == 0;
	}
	return 0;
}

/*
 * Two sockets: the dump goes on while entries are deleted on the other,
 * so no list of them is kept, however many there are.
 */
int
rules_conntrack_flush(struct in_addr dst, uint16_t dport, unsigned *deleted)
{
	uint8_t buf[LIM_RULES_RECV_BYTES] __attribute__((aligned(8)));
	struct nl dump, del = {-1, 1};
	unsigned count = 0;
	struct rules_ct c;
	ssize_t r;
	int rc;

	if ((rc = nl_open(&dump)) < 0 || (rc = nl_open(&del)) < 0)
		goto out;
	rules_ct_init(&c, dump.seq, dst, dport);
	if ((rc = nl_send(&dump, buf,
	         (size_t)rules_msg_ct_dump(buf, sizeof(buf), dump.seq))) < 0)
		goto out;
	while (!c.done) {
		if ((r = nl_recv(&dump, buf, sizeof(buf))) < 0) {
			rc = (int)r;
			goto out;
		}
		if ((rc = ct_walk(&c, buf, (size_t)r, &del, &count)) < 0)
			goto out;
	}
	if (c.kerr != 0) {
		errno = c.kerr;
		rc = RULES_E_KERNEL;
	}
out:
	nl_close(&del);
	nl_close(&dump);
	if (deleted != NULL)
		*deleted = count;
	return rc;
}
