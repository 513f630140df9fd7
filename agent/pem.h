/*
 * PEM loading on BearSSL: trust anchors from a CA bundle, a private key, and
 * a certificate chain.  Everything is decoded once at start-up into storage
 * sized once (agent/limits.h); the parsers are pure and push-style (no
 * syscalls, no allocation, no globals): only pem_anchors_load() reads a
 * file and allocates, and it does so once.
 *
 * Objects whose name does not concern the parser at hand (a key in a
 * certificate bundle, "EC PARAMETERS", ...) are skipped and counted; text
 * between objects is ignored.
 */
#ifndef AGENT_PEM_H
#define AGENT_PEM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <bearssl.h>

/* Errors: negative return codes; pem_strerror() names them. */
enum pem_err {
	PEM_OK = 0,
	PEM_ERR_SYNTAX = -1,        /* bad Base64 or banner inside an object */
	PEM_ERR_TRUNCATED = -2,     /* input ends inside an object */
	PEM_ERR_CERT = -3,          /* a certificate does not decode */
	PEM_ERR_TOO_MANY = -4,      /* more certificates than slots */
	PEM_ERR_NO_SPACE = -5,      /* names/keys/DER exceed the byte store */
	PEM_ERR_NO_CERT = -6,       /* no certificate at all */
	PEM_ERR_KEY = -7,           /* a private key does not decode */
	PEM_ERR_KEY_ENCRYPTED = -8, /* encrypted private key (unsupported) */
	PEM_ERR_NO_KEY = -9,        /* no private key at all */
	PEM_ERR_TWO_KEYS = -10,     /* more than one private key */
	PEM_ERR_FILE_TOO_BIG = -11, /* file larger than LIM_PEM_FILE_BYTES */
	PEM_ERR_IO = -12,           /* open/read failed; see errno */
	PEM_ERR_NOMEM = -13,        /* the one start-up allocation failed */
	PEM_ERR_STATE = -14,        /* store not initialised / misuse */
};

/*
 * Private: the streaming PEM object walker the parsers share.  Callers
 * never touch it; it is here only so that the structs below can be
 * caller storage.
 */
struct pem_reader {
	br_pem_decoder_context pc;
	int (*begin)(void *arg, const char *name); /* 1 take, 0 skip, <0 err */
	void (*data)(void *arg, const void *buf, size_t len);
	int (*end)(void *arg); /* 0 or <0 err */
	void *arg;
	int in_obj; /* 0 between objects, 1 taken, 2 skipped */
	int err;    /* sticky: first error */
};

/*
 * A trust-anchor store.  ta[0..count-1] are ready for
 * br_ssl_client_init_full(); their DNs and public keys point into mem, so
 * the store must outlive every TLS context using it.  Read-only for the
 * caller: ta, count, skipped (non-certificate objects), rejected
 * (certificates BearSSL cannot decode, e.g. Ed25519 or DSA keys: left out).
 */
/*
 * Private: hands a BearSSL decoder exactly one DER object.  BearSSL 0.6's
 * key and X.509 decoders read through NULL when given bytes past the end
 * of their object in a later push (both found by fuzzing).
 */
struct pem_der_gate {
	unsigned char hdr[6];
	size_t hdrlen, total, pushed;
	bool bad; /* not a SEQUENCE, or bytes after its end */
};

struct pem_anchors {
	br_x509_trust_anchor *ta;
	size_t count, max;
	unsigned char *mem;
	size_t used, cap;
	size_t skipped, rejected;
	/* private */
	bool owned;      /* ta and mem allocated by pem_anchors_load */
	bool overflow;   /* the current DN did not fit in mem */
	size_t dn_start; /* where the current certificate's DN begins */
	struct pem_reader rd;
	struct pem_der_gate gate;
	br_x509_decoder_context xd;
};

/*
 * Prepares a for parsing into caller storage: ta has max slots, mem cap
 * bytes (for DNs and public keys); both must outlive a.  Nothing is
 * allocated; pem_anchors_free() leaves them alone.  Re-initialising
 * forgets the anchors parsed so far.
 */
void pem_anchors_init(struct pem_anchors *a, br_x509_trust_anchor *ta,
    size_t max, unsigned char *mem, size_t cap);

/*
 * Pushes len bytes of a PEM bundle (any split, down to one byte at a time).
 * Returns len (all bytes consumed) or a negative pem_err; errors are
 * sticky.  Certificates become anchors (BR_X509_TA_CA set when their basic
 * constraints say CA); undecodable ones are left out (rejected), other
 * objects skipped.
 */
ssize_t pem_anchors_feed(struct pem_anchors *a, const char *buf, size_t len);

/*
 * Ends the input: returns the number of anchors (>= 1), PEM_ERR_TRUNCATED
 * when the input stopped inside an object, PEM_ERR_NO_CERT when there was
 * no usable certificate, or the sticky error of an earlier feed.
 */
int pem_anchors_finish(struct pem_anchors *a);

/*
 * Parses a whole bundle of len bytes (buf need not be NUL-terminated) into
 * a, which pem_anchors_init() or pem_anchors_load() prepared; anchors parsed
 * before are forgotten.  Pure: the fuzzed entry point.  Returns the number of
 * anchors or a negative pem_err (then a holds no anchors).
 */
int pem_anchors_parse(struct pem_anchors *a, const char *buf, size_t len);

/*
 * Start-up only: allocates the store once (LIM_PEM_ANCHORS slots and
 * LIM_PEM_ANCHOR_BYTES) unless a already has caller storage, then reads
 * path (at most LIM_PEM_FILE_BYTES, blocking) and parses it.  Returns the
 * number of anchors or a negative pem_err (PEM_ERR_IO with errno set).
 * Logs a note for skipped objects.  Release with pem_anchors_free().
 */
int pem_anchors_load(struct pem_anchors *a, const char *path);

/*
 * Frees what pem_anchors_load() allocated (nothing for caller storage) and
 * zeroes a.  Safe on a zeroed or already freed store.  TLS contexts using
 * the anchors must be gone first.
 */
void pem_anchors_free(struct pem_anchors *a);

/*
 * A private key (RSA or EC; PKCS#8 "PRIVATE KEY", PKCS#1 "RSA PRIVATE KEY",
 * SEC1 "EC PRIVATE KEY").  Fixed size: the key material lives inside.
 * Secret: wipe with pem_key_cleanup().
 */
struct pem_key {
	br_skey_decoder_context dc;
	int type;       /* BR_KEYTYPE_RSA, BR_KEYTYPE_EC, 0 when none */
	size_t skipped; /* non-key objects (certificates, parameters) */
	/* private */
	int state; /* 0 no key yet, 1 decoding, 2 done */
	struct pem_der_gate gate;
};

/*
 * Parses the one private key of a PEM text of len bytes into k (which needs
 * no prior init); other objects are skipped.  Pure.  Returns 0 or
 * PEM_ERR_NO_KEY, PEM_ERR_TWO_KEYS, PEM_ERR_KEY, PEM_ERR_KEY_ENCRYPTED,
 * PEM_ERR_SYNTAX, PEM_ERR_TRUNCATED (then k holds no key).  Copies of the
 * key transit only through k and a stack PEM context that is wiped.
 */
int pem_key_parse(struct pem_key *k, const char *buf, size_t len);

/*
 * The parsed key, or NULL when k holds no key of that type.  The pointer
 * and the key material it refers to live inside k: valid until
 * pem_key_cleanup() or the next pem_key_parse() on k.
 */
const br_rsa_private_key *pem_key_rsa(const struct pem_key *k);
const br_ec_private_key *pem_key_ec(const struct pem_key *k);

/* Wipes the key material (explicit_bzero) and forgets the key. */
void pem_key_cleanup(struct pem_key *k);

/*
 * A certificate chain, leaf first, as br_x509_certificate entries whose
 * data are DER slices into caller storage.  Read-only for the caller:
 * certs, count, skipped.  Needs no cleanup (certificates are public).
 */
struct pem_chain {
	br_x509_certificate *certs;
	size_t count, max;
	unsigned char *mem;
	size_t used, cap;
	size_t skipped;
	/* private */
	bool overflow;
	struct pem_der_gate gate;
	br_x509_decoder_context xd;
};

/*
 * Prepares c for parsing into caller storage: certs has max slots and mem
 * cap bytes of DER (LIM_PEM_CHAIN_CERTS and LIM_PEM_CHAIN_BYTES are the
 * daemon's sizes); both must outlive c.
 */
void pem_chain_init(struct pem_chain *c, br_x509_certificate *certs, size_t max,
    unsigned char *mem, size_t cap);

/*
 * Parses the certificates of a PEM text of len bytes into c (forgetting
 * earlier ones), each checked to decode; other objects (the key of a
 * combined file) are skipped.  Pure.  Returns the number of certificates
 * or a negative pem_err (then c holds none).
 */
int pem_chain_parse(struct pem_chain *c, const char *buf, size_t len);

/* Static text for a pem_err ("unknown pem error" for others). */
const char *pem_strerror(int err);

#endif
