/*
 * jwt: the client-assertion JWTs podid signs for Azure AD's certificate
 * credentials (../shared/reference/imds-azure-kubernetes.md section 4.1):
 *
 *	header	{"alg":"RS256","typ":"JWT","x5t":"<SHA-1 of the cert>"}
 *		{"alg":"PS256"|"ES256","typ":"JWT","x5t#S256":"<SHA-256>"}
 *	claims	{"aud":"<token endpoint>","iss":"<client id>","sub":"<client id>",
 *		 "jti":"<fresh GUID>","nbf":now,"iat":now,"exp":now+lifetime}
 *
 * A signer is made once per identity from its PEM certificate and key and
 * keeps the key inside (wipe it with jwt_signer_cleanup).  Signing is pure:
 * the caller gives the clock and the random bytes (jti and the PSS salt),
 * so tests are exact.  BearSSL 0.6 has no RSA-PSS: EMSA-PSS (RFC 8017
 * 9.1.1, MGF1 with SHA-256, 32-byte salt) is encoded here and signed with
 * BearSSL's raw RSA private operation.  ES256 signatures are deterministic
 * (BearSSL follows RFC 6979) and in JWS's raw r||s form.
 */
#ifndef AGENT_JWT_H
#define AGENT_JWT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/pem.h"
#include "policy/policy.h"

enum jwt_err {
	JWT_OK = 0,
	JWT_ERR_CERT = -1,     /* no certificate, or it does not decode */
	JWT_ERR_KEY = -2,      /* no private key, or it does not decode */
	JWT_ERR_KEY_TYPE = -3, /* RS256/PS256 need RSA, ES256 an EC P-256 key */
	JWT_ERR_MISMATCH = -4, /* the key is not the certificate's */
	JWT_ERR_CLAIM = -5, /* empty, too long, or a character JSON escapes */
	JWT_ERR_SPACE = -6, /* the output buffer is too small */
	JWT_ERR_SIGN = -7,  /* BearSSL refused to sign */
	JWT_ERR_STATE = -8  /* signer not initialised */
};

/* Random bytes one assertion needs: 16 for the jti GUID, 32 of PSS salt. */
#define JWT_RANDOM_BYTES 48

/* Longest claim value accepted (aud, client id). */
#define JWT_CLAIM_MAX 512

struct jwt_signer {
	enum pol_signing alg;
	struct pem_key key; /* secret: jwt_signer_cleanup wipes it */
	char thumb[48];     /* base64url thumbprint of the leaf certificate */
	/* private */
	int ready;
};

/*
 * Makes s from a certificate (PEM, the leaf first; the chain's other
 * certificates are ignored) and its private key (PEM; both may be the
 * same text).  scratch (cap bytes, LIM_PEM_CHAIN_BYTES is enough) holds
 * the certificates' DER during the call only.  Checks the key type against
 * alg and that the key belongs to the certificate.  Pure.  Returns 0 or a
 * negative jwt_err; on error s holds no key.
 */
int jwt_signer_init(struct jwt_signer *s, enum pol_signing alg,
    const char *cert, size_t cert_len, const char *key, size_t key_len,
    unsigned char *scratch, size_t cap);

/* Wipes the key; s may then be initialised again. */
void jwt_signer_cleanup(struct jwt_signer *s);

/*
 * Writes one signed assertion for client_id (iss and sub) and aud (the
 * token endpoint URL) into out (len bytes, NUL-terminated), valid from now
 * for lifetime_s seconds.  rnd: JWT_RANDOM_BYTES fresh random bytes.
 * Returns the length without the NUL, or a negative jwt_err.
 */
ssize_t jwt_assertion(char *out, size_t len, const struct jwt_signer *s,
    const char *client_id, const char *aud, int64_t now, unsigned lifetime_s,
    const unsigned char rnd[JWT_RANDOM_BYTES]);

/*
 * base64url without padding of n bytes into out (len bytes, NUL added).
 * Returns the length, or JWT_ERR_SPACE.  Pure; used by tests and the fake.
 */
ssize_t jwt_b64url(char *out, size_t len, const void *in, size_t n);

/* Static text for a jwt_err. */
const char *jwt_strerror(int err);

#endif
