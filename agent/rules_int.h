/*
 * rules: private helpers shared by agent/rules*.c (netlink attribute
 * building and walking).  Not part of the module's contract.
 */
#ifndef AGENT_RULES_INT_H
#define AGENT_RULES_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/netlink.h>

/* A request being built into p[0..cap); full is sticky. */
struct rules_buf {
	uint8_t *p;
	size_t cap, len;
	bool full;
};

#define RULES_BUF_FULL ((size_t)-1) /* an offset when nothing fit */

/* Attributes: the payload is copied; strings with their NUL. */
void rules_attr(
    struct rules_buf *b, uint16_t type, const void *data, size_t len);
void rules_attr_u32(struct rules_buf *b, uint16_t type, uint32_t v);
void rules_attr_str(struct rules_buf *b, uint16_t type, const char *s);

/* A nest: begin returns its offset, end sets its length. */
size_t rules_nest_begin(struct rules_buf *b, uint16_t type);
void rules_nest_end(struct rules_buf *b, size_t at);

/* An nfnetlink message: netlink header and nfgenmsg; end sets its length. */
size_t rules_msg_begin(struct rules_buf *b, uint16_t type, uint16_t flags,
    uint32_t seq, uint8_t family, uint16_t res_id);
void rules_msg_end(struct rules_buf *b, size_t at);

/* One attribute being read: type without flag bits, payload slice. */
struct rules_nla {
	uint16_t type;
	const uint8_t *p;
	size_t len;
};

/* The next attribute at *off: 1, 0 at the end, -1 malformed. */
int rules_nla_next(
    const uint8_t *p, size_t len, size_t *off, struct rules_nla *a);

/* A 32-bit big-endian attribute; false when not 4 bytes. */
bool rules_nla_u32(const struct rules_nla *a, uint32_t *v);

/* A string attribute copied, truncated to cap - 1; true when it fit. */
bool rules_nla_str(const struct rules_nla *a, char *dst, size_t cap);

/* The string attribute is exactly s. */
bool rules_nla_is(const struct rules_nla *a, const char *s);

/* One complete message: 1, 0 need more, or RULES_E_MALFORMED/TOOBIG. */
int rules_nlmsg(const uint8_t *p, size_t len, struct nlmsghdr *h,
    const uint8_t **body, size_t *blen, size_t *span);

/* An NLMSG_ERROR/DONE body: *err and the echoed type; -1 malformed. */
int rules_nlerr(const struct nlmsghdr *h, const uint8_t *body, size_t blen,
    int *err, uint16_t *echoed);

#endif
