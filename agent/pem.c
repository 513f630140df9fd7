/*
 * PEM loading.  BearSSL's streaming PEM decoder (br_pem_decoder_*) splits
 * the text into objects; a small walker (struct pem_reader) hands each
 * object's bytes to the parser that wants it: the X.509 decoder for trust
 * anchors and chains, the private-key decoder for keys.  Nothing here
 * allocates except the one start-up sizing in pem_anchors_load(), and only
 * pem_anchors_load() makes system calls.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/limits.h"
#include "agent/log.h"
#include "agent/pem.h"

#define PEM_IN_NONE 0 /* between objects */
#define PEM_IN_TAKE 1 /* inside an object the parser takes */
#define PEM_IN_SKIP 2 /* inside an object the parser skips */

static const char *const pem_err_names[] = {
    [0] = "ok",
    [-PEM_ERR_SYNTAX] = "malformed pem object (bad base64 or banner)",
    [-PEM_ERR_TRUNCATED] = "input ends inside a pem object",
    [-PEM_ERR_CERT] = "certificate does not decode",
    [-PEM_ERR_TOO_MANY] = "too many certificates for the store",
    [-PEM_ERR_NO_SPACE] = "certificates too large for the store",
    [-PEM_ERR_NO_CERT] = "no certificate found",
    [-PEM_ERR_KEY] = "private key does not decode",
    [-PEM_ERR_KEY_ENCRYPTED] = "encrypted private keys are not supported",
    [-PEM_ERR_NO_KEY] = "no private key found",
    [-PEM_ERR_TWO_KEYS] = "more than one private key",
    [-PEM_ERR_FILE_TOO_BIG] = "pem file too large",
    [-PEM_ERR_IO] = "cannot read pem file",
    [-PEM_ERR_NOMEM] = "out of memory sizing the store",
    [-PEM_ERR_STATE] = "store not initialised",
};

const char *
pem_strerror(int err)
{
	size_t n = sizeof(pem_err_names) / sizeof(*pem_err_names);

	if (err > 0 || (size_t)-err >= n || pem_err_names[-err] == NULL)
		return "unknown pem error";
	return pem_err_names[-err];
}

/* ---- the object walker ---- */

static void
pem_reader_init(struct pem_reader *r, int (*begin)(void *, const char *),
    void (*data)(void *, const void *, size_t), int (*end)(void *), void *arg)
{
	br_pem_decoder_init(&r->pc);
	r->begin = begin;
	r->data = data;
	r->end = end;
	r->arg = arg;
	r->in_obj = PEM_IN_NONE;
	r->err = 0;
}

static void
pem_reader_dest(void *arg, const void *buf, size_t len)
{
	struct pem_reader *r = arg;

	if (r->err == 0 && len > 0)
		r->data(r->arg, buf, len);
}

static void
pem_reader_event(struct pem_reader *r, int ev)
{
	int rc;

	switch (ev) {
	case BR_PEM_BEGIN_OBJ:
		rc = r->begin(r->arg, br_pem_decoder_name(&r->pc));
		if (rc < 0) {
			r->err = rc;
			break;
		}
		r->in_obj = rc ? PEM_IN_TAKE : PEM_IN_SKIP;
		/* A NULL destination makes the decoder drop the bytes. */
		br_pem_decoder_setdest(&r->pc, rc ? pem_reader_dest : NULL, r);
		break;
	case BR_PEM_END_OBJ:
		if (r->in_obj == PEM_IN_TAKE && (rc = r->end(r->arg)) < 0)
			r->err = rc;
		r->in_obj = PEM_IN_NONE;
		break;
	case BR_PEM_ERROR:
		r->err = PEM_ERR_SYNTAX;
		break;
	}
}

static int
pem_reader_feed(struct pem_reader *r, const char *buf, size_t len)
{
	size_t n;

	/* The decoder stops at each event; it always consumes otherwise. */
	while (len > 0 && r->err == 0) {
		n = br_pem_decoder_push(&r->pc, buf, len);
		buf += n;
		len -= n;
		pem_reader_event(r, br_pem_decoder_event(&r->pc));
	}
	return r->err;
}

static int
pem_reader_finish(struct pem_reader *r)
{
	/* The decoder reports a banner only once its line has ended. */
	if (r->err == 0)
		pem_reader_feed(r, "\n", 1);
	if (r->err == 0 && r->in_obj != PEM_IN_NONE)
		r->err = PEM_ERR_TRUNCATED;
	return r->err;
}

static bool
pem_is_cert(const char *name)
{
	return strcmp(name, "CERTIFICATE") == 0 ||
	    strcmp(name, "X509 CERTIFICATE") == 0;
}

/* ---- one DER object per decoder ---- */

static void
gate_init(struct pem_der_gate *g)
{
	memset(g, 0, sizeof(*g));
}

/*
 * The length of the DER object whose header is hdr[0..n): 0 while more
 * header bytes are needed, -1 when it is not a SEQUENCE with a definite
 * length of at most 4 length bytes.
 */
static long
gate_der_total(const unsigned char *hdr, size_t n)
{
	size_t lenbytes, i;
	unsigned long len = 0;

	if (n >= 1 && hdr[0] != 0x30)
		return -1;
	if (n < 2)
		return 0;
	if (hdr[1] < 0x80)
		return 2 + (long)hdr[1];
	lenbytes = hdr[1] & 0x7f;
	if (lenbytes == 0 || lenbytes > 4)
		return -1;
	if (n < 2 + lenbytes)
		return 0;
	for (i = 0; i < lenbytes; i++)
		len = len << 8 | hdr[2 + i];
	return (long)(2 + lenbytes + len);
}

/*
 * Passes the bytes of one DER object on to push(ctx, ...), exactly: the
 * header once complete, then the body; bytes past the object's end mark
 * the gate bad instead of reaching the decoder.
 */
static void
gate_push(struct pem_der_gate *g, const void *buf, size_t len,
    void (*push)(void *, const void *, size_t), void *ctx)
{
	const unsigned char *p = buf;
	long total;
	size_t take;

	while (len > 0 && !g->bad && g->total == 0) {
		g->hdr[g->hdrlen++] = *p++;
		len--;
		total = gate_der_total(g->hdr, g->hdrlen);
		if (total < 0 || (total == 0 && g->hdrlen == sizeof(g->hdr)))
			g->bad = true;
		else if (total > 0) {
			g->total = (size_t)total;
			push(ctx, g->hdr, g->hdrlen);
			g->pushed = g->hdrlen;
		}
	}
	if (g->bad || len == 0)
		return;
	take = g->total - g->pushed < len ? g->total - g->pushed : len;
	push(ctx, p, take);
	g->pushed += take;
	if (take < len)
		g->bad = true; /* trailing bytes */
}

/* The whole object, and nothing after it, went through. */
static bool
gate_complete(const struct pem_der_gate *g)
{
	return !g->bad && g->total != 0 && g->pushed == g->total;
}

/* ---- trust anchors ---- */

static void
anchors_dn(void *arg, const void *buf, size_t len)
{
	struct pem_anchors *a = arg;

	if (len == 0 || a->overflow)
		return;
	if (len > a->cap - a->used) {
		a->overflow = true;
		return;
	}
	memcpy(a->mem + a->used, buf, len);
	a->used += len;
}

static int
anchors_begin(void *arg, const char *name)
{
	struct pem_anchors *a = arg;

	if (!pem_is_cert(name)) {
		a->skipped++;
		return 0;
	}
	a->dn_start = a->used;
	a->overflow = false;
	gate_init(&a->gate);
	br_x509_decoder_init(&a->xd, anchors_dn, a);
	return 1;
}

static void
anchors_push(void *ctx, const void *buf, size_t len)
{
	br_x509_decoder_push(&((struct pem_anchors *)ctx)->xd, buf, len);
}

static void
anchors_data(void *arg, const void *buf, size_t len)
{
	struct pem_anchors *a = arg;

	gate_push(&a->gate, buf, len, anchors_push, a);
}

/* Copies len bytes of key material into the store; NULL when full. */
static unsigned char *
anchors_store(struct pem_anchors *a, const unsigned char *src, size_t len)
{
	unsigned char *dst;

	if (len == 0 || len > a->cap - a->used)
		return NULL;
	dst = a->mem + a->used;
	memcpy(dst, src, len);
	a->used += len;
	return dst;
}

static int
anchors_copy_key(
    struct pem_anchors *a, br_x509_pkey *dst, const br_x509_pkey *src)
{
	*dst = *src;
	switch (src->key_type) {
	case BR_KEYTYPE_RSA:
		dst->key.rsa.n =
		    anchors_store(a, src->key.rsa.n, src->key.rsa.nlen);
		dst->key.rsa.e =
		    anchors_store(a, src->key.rsa.e, src->key.rsa.elen);
		if (dst->key.rsa.n == NULL || dst->key.rsa.e == NULL)
			return PEM_ERR_NO_SPACE;
		return 0;
	case BR_KEYTYPE_EC:
		dst->key.ec.q =
		    anchors_store(a, src->key.ec.q, src->key.ec.qlen);
		return dst->key.ec.q == NULL ? PEM_ERR_NO_SPACE : 0;
	default:
		return PEM_ERR_CERT;
	}
}

static int
anchors_end(void *arg)
{
	struct pem_anchors *a = arg;
	br_x509_trust_anchor *ta;
	int err = br_x509_decoder_last_error(&a->xd);

	if (err == 0 && !gate_complete(&a->gate))
		err = -1; /* not exactly one DER object */
	if (err != 0) {
		/*
		 * BearSSL says "unexpected" both for a key type it lacks
		 * (Ed25519, DSA) and for bad DER; either way the certificate
		 * cannot anchor anything, and one odd entry in a system
		 * bundle must not stop the daemon.  Leave it out, counted.
		 */
		a->rejected++;
		a->used = a->dn_start;
		return 0;
	}
	if (a->overflow)
		return PEM_ERR_NO_SPACE;
	if (a->count == a->max)
		return PEM_ERR_TOO_MANY;
	ta = &a->ta[a->count];
	memset(ta, 0, sizeof(*ta));
	ta->dn.data = a->mem + a->dn_start;
	ta->dn.len = a->used - a->dn_start;
	ta->flags = br_x509_decoder_isCA(&a->xd) ? BR_X509_TA_CA : 0;
	err = anchors_copy_key(a, &ta->pkey, br_x509_decoder_get_pkey(&a->xd));
	if (err < 0)
		return err;
	a->count++;
	return 0;
}

static void
anchors_reset(struct pem_anchors *a)
{
	a->count = a->used = a->skipped = a->rejected = 0;
	a->overflow = false;
	a->dn_start = 0;
	pem_reader_init(&a->rd, anchors_begin, anchors_data, anchors_end, a);
}

void
pem_anchors_init(struct pem_anchors *a, br_x509_trust_anchor *ta, size_t max,
    unsigned char *mem, size_t cap)
{
	memset(a, 0, sizeof(*a));
	if (ta == NULL || mem == NULL)
		return; /* left uninitialised: the parsers say PEM_ERR_STATE */
	a->ta = ta;
	a->max = max;
	a->mem = mem;
	a->cap = cap;
	anchors_reset(a);
}

ssize_t
pem_anchors_feed(struct pem_anchors *a, const char *buf, size_t len)
{
	int rc;

	if (a->rd.begin == NULL)
		return PEM_ERR_STATE;
	rc = pem_reader_feed(&a->rd, buf, len);
	return rc < 0 ? rc : (ssize_t)len;
}

int
pem_anchors_finish(struct pem_anchors *a)
{
	int rc;

	if (a->rd.begin == NULL)
		return PEM_ERR_STATE;
	rc = pem_reader_finish(&a->rd);
	if (rc == 0 && a->count == 0)
		rc = a->rd.err = PEM_ERR_NO_CERT;
	if (rc < 0) {
		a->count = a->used = 0;
		return rc;
	}
	return (int)a->count;
}

int
pem_anchors_parse(struct pem_anchors *a, const char *buf, size_t len)
{
	ssize_t rc;

	if (a->rd.begin == NULL)
		return PEM_ERR_STATE;
	anchors_reset(a);
	rc = pem_anchors_feed(a, buf, len);
	if (rc < 0) {
		a->count = a->used = 0;
		return (int)rc;
	}
	return pem_anchors_finish(a);
}

/* Start-up: the one allocation of the store, sized from agent/limits.h. */
static int
anchors_alloc(struct pem_anchors *a)
{
	br_x509_trust_anchor *ta;
	unsigned char *mem;

	ta = calloc(LIM_PEM_ANCHORS, sizeof(*ta));
	mem = malloc(LIM_PEM_ANCHOR_BYTES);
	if (ta == NULL || mem == NULL) {
		free(ta);
		free(mem);
		return PEM_ERR_NOMEM;
	}
	pem_anchors_init(a, ta, LIM_PEM_ANCHORS, mem, LIM_PEM_ANCHOR_BYTES);
	a->owned = true;
	return 0;
}

static int
anchors_read(struct pem_anchors *a, int fd)
{
	char buf[4096];
	size_t total = 0;
	ssize_t n, rc;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return PEM_ERR_IO;
		if (n == 0)
			return 0;
		total += (size_t)n;
		if (total > LIM_PEM_FILE_BYTES)
			return PEM_ERR_FILE_TOO_BIG;
		if ((rc = pem_anchors_feed(a, buf, (size_t)n)) < 0)
			return (int)rc;
	}
}

int
pem_anchors_load(struct pem_anchors *a, const char *path)
{
	int fd, rc, saved;

	if (a->ta == NULL && (rc = anchors_alloc(a)) < 0)
		return rc;
	anchors_reset(a);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return PEM_ERR_IO;
	rc = anchors_read(a, fd);
	saved = errno;
	close(fd);
	errno = saved;
	if (rc < 0) {
		a->count = a->used = 0;
		return rc;
	}
	if ((rc = pem_anchors_finish(a)) < 0)
		return rc;
	if (a->skipped > 0)
		log_info("pem: %s: skipped %zu non-certificate objects", path,
		    a->skipped);
	if (a->rejected > 0)
		log_warnx("pem: %s: left out %zu undecodable certificates",
		    path, a->rejected);
	return rc;
}

void
pem_anchors_free(struct pem_anchors *a)
{
	if (a->owned) {
		free(a->ta);
		free(a->mem);
	}
	memset(a, 0, sizeof(*a));
}

/* ---- private key ---- */

static int
key_begin(void *arg, const char *name)
{
	struct pem_key *k = arg;

	if (strcmp(name, "ENCRYPTED PRIVATE KEY") == 0)
		return PEM_ERR_KEY_ENCRYPTED;
	if (strcmp(name, "PRIVATE KEY") != 0 &&
	    strcmp(name, "RSA PRIVATE KEY") != 0 &&
	    strcmp(name, "EC PRIVATE KEY") != 0) {
		k->skipped++;
		return 0;
	}
	if (k->state != 0)
		return PEM_ERR_TWO_KEYS;
	br_skey_decoder_init(&k->dc);
	k->state = 1;
	gate_init(&k->gate);
	return 1;
}

static void
key_push(void *ctx, const void *buf, size_t len)
{
	br_skey_decoder_push(&((struct pem_key *)ctx)->dc, buf, len);
}

static void
key_data(void *arg, const void *buf, size_t len)
{
	struct pem_key *k = arg;

	gate_push(&k->gate, buf, len, key_push, k);
}

static int
key_end(void *arg)
{
	struct pem_key *k = arg;

	if (!gate_complete(&k->gate) || br_skey_decoder_last_error(&k->dc) != 0)
		return PEM_ERR_KEY;
	k->type = br_skey_decoder_key_type(&k->dc);
	k->state = 2;
	return 0;
}

int
pem_key_parse(struct pem_key *k, const char *buf, size_t len)
{
	struct pem_reader rd;
	int rc;

	pem_key_cleanup(k);
	pem_reader_init(&rd, key_begin, key_data, key_end, k);
	rc = pem_reader_feed(&rd, buf, len);
	if (rc == 0)
		rc = pem_reader_finish(&rd);
	if (rc == 0 && k->state != 2)
		rc = PEM_ERR_NO_KEY;
	/* Legacy OpenSSL encryption puts headers the decoder calls syntax. */
	if (rc == PEM_ERR_SYNTAX && k->state == 1 &&
	    memmem(buf, len, "Proc-Type: 4,ENCRYPTED", 22) != NULL)
		rc = PEM_ERR_KEY_ENCRYPTED;
	/* The decoder's buffer held plaintext key bytes. */
	explicit_bzero(&rd, sizeof(rd));
	if (rc < 0) {
		pem_key_cleanup(k);
		return rc;
	}
	return 0;
}

const br_rsa_private_key *
pem_key_rsa(const struct pem_key *k)
{
	return k->state == 2 ? br_skey_decoder_get_rsa(&k->dc) : NULL;
}

const br_ec_private_key *
pem_key_ec(const struct pem_key *k)
{
	return k->state == 2 ? br_skey_decoder_get_ec(&k->dc) : NULL;
}

void
pem_key_cleanup(struct pem_key *k)
{
	explicit_bzero(k, sizeof(*k));
}

/* ---- certificate chain ---- */

static int
chain_begin(void *arg, const char *name)
{
	struct pem_chain *c = arg;

	if (!pem_is_cert(name)) {
		c->skipped++;
		return 0;
	}
	if (c->count == c->max)
		return PEM_ERR_TOO_MANY;
	c->certs[c->count].data = c->mem + c->used;
	c->certs[c->count].data_len = 0;
	c->overflow = false;
	gate_init(&c->gate);
	br_x509_decoder_init(&c->xd, NULL, NULL);
	return 1;
}

/* The certificate's bytes: to the decoder and into the chain's memory. */
static void
chain_push(void *ctx, const void *buf, size_t len)
{
	struct pem_chain *c = ctx;

	br_x509_decoder_push(&c->xd, buf, len);
	if (c->overflow || len > c->cap - c->used) {
		c->overflow = true;
		return;
	}
	memcpy(c->mem + c->used, buf, len);
	c->used += len;
	c->certs[c->count].data_len += len;
}

static void
chain_data(void *arg, const void *buf, size_t len)
{
	struct pem_chain *c = arg;

	gate_push(&c->gate, buf, len, chain_push, c);
}

static int
chain_end(void *arg)
{
	struct pem_chain *c = arg;

	if (br_x509_decoder_last_error(&c->xd) != 0 || !gate_complete(&c->gate))
		return PEM_ERR_CERT;
	if (c->overflow)
		return PEM_ERR_NO_SPACE;
	c->count++;
	return 0;
}

void
pem_chain_init(struct pem_chain *c, br_x509_certificate *certs, size_t max,
    unsigned char *mem, size_t cap)
{
	memset(c, 0, sizeof(*c));
	if (certs == NULL || mem == NULL)
		return; /* left uninitialised: the parser says PEM_ERR_STATE */
	c->certs = certs;
	c->max = max;
	c->mem = mem;
	c->cap = cap;
}

int
pem_chain_parse(struct pem_chain *c, const char *buf, size_t len)
{
	struct pem_reader rd;
	int rc;

	if (c->certs == NULL || c->mem == NULL)
		return PEM_ERR_STATE;
	c->count = c->used = c->skipped = 0;
	pem_reader_init(&rd, chain_begin, chain_data, chain_end, c);
	rc = pem_reader_feed(&rd, buf, len);
	if (rc == 0)
		rc = pem_reader_finish(&rd);
	if (rc == 0 && c->count == 0)
		rc = PEM_ERR_NO_CERT;
	/* A combined file may hold the key: do not leave its bytes around. */
	explicit_bzero(&rd, sizeof(rd));
	if (rc < 0) {
		c->count = c->used = 0;
		return rc;
	}
	return (int)c->count;
}
