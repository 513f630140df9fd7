/*
 * jwt: signed client assertions for Azure AD certificate credentials.
 * See jwt.h for the shapes; everything here is pure (no syscalls, no
 * allocation): the clock and the random bytes come from the caller.
 */
#include <string.h>

#include "agent/abuf.h"
#include "agent/jwt.h"
#include "agent/limits.h"

static const char b64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

ssize_t
jwt_b64url(char *out, size_t len, const void *in, size_t n)
{
	const unsigned char *p = in;
	size_t need = n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1), o = 0, i;
	uint32_t v;

	if (len == 0 || need > len - 1)
		return JWT_ERR_SPACE;
	for (i = 0; i + 3 <= n; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
		out[o++] = b64url_chars[v >> 6 & 63];
		out[o++] = b64url_chars[v & 63];
	}
	if (n - i == 1) {
		v = (uint32_t)p[i] << 16;
		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
	} else if (n - i == 2) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
		out[o++] = b64url_chars[v >> 6 & 63];
	}
	out[o] = '\0';
	return (ssize_t)o;
}

/* Does the leaf's public key equal the one the private key implies? */
static int
signer_matches(const struct jwt_signer *s, const br_x509_pkey *pk)
{
	unsigned char n[LIM_JWT_RSA_BYTES], kbuf[BR_EC_KBUF_PUB_MAX_SIZE];
	const br_rsa_private_key *rsa = pem_key_rsa(&s->key);
	const br_ec_private_key *ec = pem_key_ec(&s->key);
	br_ec_public_key pub;
	size_t nlen, off;

	if (rsa != NULL) {
		if (pk->key_type != BR_KEYTYPE_RSA ||
		    (nlen = br_rsa_i31_compute_modulus(NULL, rsa)) == 0 ||
		    nlen > sizeof(n))
			return 0;
		br_rsa_i31_compute_modulus(n, rsa);
		/* The certificate's modulus may carry leading zeros. */
		for (off = 0; off < pk->key.rsa.nlen && pk->key.rsa.n[off] == 0;
		     off++)
			;
		return pk->key.rsa.nlen - off == nlen &&
		    memcmp(pk->key.rsa.n + off, n, nlen) == 0;
	}
	if (ec == NULL || pk->key_type != BR_KEYTYPE_EC ||
	    pk->key.ec.curve != ec->curve ||
	    br_ec_compute_pub(br_ec_get_default(), &pub, kbuf, ec) == 0)
		return 0;
	return pub.qlen == pk->key.ec.qlen &&
	    memcmp(pub.q, pk->key.ec.q, pub.qlen) == 0;
}

/* The thumbprint the header carries: SHA-1 for RS256, SHA-256 else. */
static int
signer_thumb(struct jwt_signer *s, const br_x509_certificate *leaf)
{
	unsigned char h[32];
	size_t hlen;

	if (s->alg == POL_SIGN_RS256) {
		br_sha1_context c;

		br_sha1_init(&c);
		br_sha1_update(&c, leaf->data, leaf->data_len);
		br_sha1_out(&c, h);
		hlen = 20;
	} else {
		br_sha256_context c;

		br_sha256_init(&c);
		br_sha256_update(&c, leaf->data, leaf->data_len);
		br_sha256_out(&c, h);
		hlen = 32;
	}
	return jwt_b64url(s->thumb, sizeof(s->thumb), h, hlen) < 0 ? -1 : 0;
}

static int
signer_key(struct jwt_signer *s, const char *key, size_t key_len)
{
	const br_ec_private_key *ec;

	if (pem_key_parse(&s->key, key, key_len) != 0)
		return JWT_ERR_KEY;
	if (s->alg == POL_SIGN_ES256) {
		ec = pem_key_ec(&s->key);
		if (ec == NULL || ec->curve != BR_EC_secp256r1)
			return JWT_ERR_KEY_TYPE;
	} else if (pem_key_rsa(&s->key) == NULL ||
	    pem_key_rsa(&s->key)->n_bitlen > LIM_JWT_RSA_BYTES * 8 ||
	    pem_key_rsa(&s->key)->n_bitlen < 2048)
		return JWT_ERR_KEY_TYPE;
	return 0;
}

int
jwt_signer_init(struct jwt_signer *s, enum pol_signing alg, const char *cert,
    size_t cert_len, const char *key, size_t key_len, unsigned char *scratch,
    size_t cap)
{
	br_x509_certificate certs[LIM_PEM_CHAIN_CERTS];
	br_x509_decoder_context xd;
	struct pem_chain chain;
	int rc;

	memset(s, 0, sizeof(*s));
	s->alg = alg;
	if ((rc = signer_key(s, key, key_len)) != 0)
		goto fail;
	rc = JWT_ERR_CERT;
	pem_chain_init(&chain, certs, LIM_PEM_CHAIN_CERTS, scratch, cap);
	if (pem_chain_parse(&chain, cert, cert_len) < 1)
		goto fail;
	br_x509_decoder_init(&xd, NULL, NULL);
	br_x509_decoder_push(&xd, certs[0].data, certs[0].data_len);
	if (br_x509_decoder_last_error(&xd) != 0 ||
	    br_x509_decoder_get_pkey(&xd) == NULL)
		goto fail;
	rc = JWT_ERR_MISMATCH;
	if (!signer_matches(s, br_x509_decoder_get_pkey(&xd)))
		goto fail;
	rc = JWT_ERR_CERT;
	if (signer_thumb(s, &certs[0]) != 0)
		goto fail;
	s->ready = 1;
	return 0;
fail:
	jwt_signer_cleanup(s);
	return rc;
}

void
jwt_signer_cleanup(struct jwt_signer *s)
{
	pem_key_cleanup(&s->key);
	explicit_bzero(s, sizeof(*s));
}

/* A claim value that goes into JSON as is: printable, nothing to escape. */
static bool
claim_ok(const char *v)
{
	size_t i;

	for (i = 0; v[i] != '\0'; i++)
		if (i == JWT_CLAIM_MAX || (unsigned char)v[i] < 0x20 ||
		    v[i] == '"' || v[i] == '\\' || v[i] == 0x7f)
			return false;
	return i > 0;
}

/*
 * Appends base64url(in) to b, whose memory has one byte past cap (for
 * jwt_b64url's NUL).  Sets b->over when it does not fit.
 */
static void
b64_add(struct abuf *b, const void *in, size_t n)
{
	ssize_t w;

	if (b->over ||
	    (w = jwt_b64url(b->p + b->len, b->cap - b->len + 1, in, n)) < 0) {
		b->over = true;
		return;
	}
	b->len += (size_t)w;
}

/* The jti: a version-4 GUID from 16 random bytes. */
static void
jti_format(char out[37], const unsigned char r[16])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	size_t i, o = 0;

	memcpy(b, r, 16);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[o] = '\0';
}

/* The header and the claims, each base64url, joined by a dot, onto o. */
static void
signing_input(struct abuf *o, const struct jwt_signer *s, const char *cid,
    const char *aud, int64_t now, unsigned life, const unsigned char *rnd)
{
	static const char *const algs[] = {"RS256", "PS256", "ES256"};
	char json[3 * JWT_CLAIM_MAX + 256], jti[37]; /* aud, iss, sub */
	struct abuf j;

	jti_format(jti, rnd);
	abuf_init(&j, json, sizeof(json));
	ABUF_LIT(&j, "{\"alg\":\"");
	abuf_str(&j, algs[s->alg]);
	if (s->alg == POL_SIGN_RS256)
		ABUF_LIT(&j, "\",\"typ\":\"JWT\",\"x5t\":\"");
	else
		ABUF_LIT(&j, "\",\"typ\":\"JWT\",\"x5t#S256\":\"");
	abuf_str(&j, s->thumb);
	ABUF_LIT(&j, "\"}");
	if (j.over)
		o->over = true;
	b64_add(o, json, j.len);
	abuf_ch(o, '.');
	abuf_init(&j, json, sizeof(json));
	ABUF_LIT(&j, "{\"aud\":\"");
	abuf_str(&j, aud);
	ABUF_LIT(&j, "\",\"iss\":\"");
	abuf_str(&j, cid);
	ABUF_LIT(&j, "\",\"sub\":\"");
	abuf_str(&j, cid);
	ABUF_LIT(&j, "\",\"jti\":\"");
	abuf_str(&j, jti);
	ABUF_LIT(&j, "\",\"nbf\":");
	abuf_i64(&j, now);
	ABUF_LIT(&j, ",\"iat\":");
	abuf_i64(&j, now);
	ABUF_LIT(&j, ",\"exp\":");
	abuf_i64(&j, now + (int64_t)life);
	abuf_ch(&j, '}');
	if (j.over) /* cannot happen: claims are at most JWT_CLAIM_MAX */
		o->over = true;
	b64_add(o, json, j.len);
}

/* MGF1 with SHA-256: XORs the mask of seed into db (n bytes). */
static void
mgf1_xor(unsigned char *db, size_t n, const unsigned char seed[32])
{
	unsigned char h[32], ctr[4];
	br_sha256_context c;
	uint32_t i;
	size_t k, o = 0;

	for (i = 0; o < n; i++) {
		ctr[0] = (unsigned char)(i >> 24);
		ctr[1] = (unsigned char)(i >> 16);
		ctr[2] = (unsigned char)(i >> 8);
		ctr[3] = (unsigned char)i;
		br_sha256_init(&c);
		br_sha256_update(&c, seed, 32);
		br_sha256_update(&c, ctr, 4);
		br_sha256_out(&c, h);
		for (k = 0; k < 32 && o < n; k++)
			db[o++] ^= h[k];
	}
}

/*
 * EMSA-PSS-ENCODE (RFC 8017 9.1.1) of mhash into em (k bytes, the modulus
 * length), for a modulus of nbits bits: salt 32 bytes, MGF1-SHA-256.
 */
static void
pss_encode(unsigned char *em, size_t k, uint32_t nbits,
    const unsigned char mhash[32], const unsigned char salt[32])
{
	uint32_t embits = nbits - 1;
	size_t emlen = (embits + 7) / 8, dblen = emlen - 33, off = k - emlen;
	unsigned char zeros[8] = {0}, *db = em + off, *h = db + dblen;
	br_sha256_context c;

	memset(em, 0, k);
	br_sha256_init(&c);
	br_sha256_update(&c, zeros, 8);
	br_sha256_update(&c, mhash, 32);
	br_sha256_update(&c, salt, 32);
	br_sha256_out(&c, h);
	db[dblen - 33] = 0x01;
	memcpy(db + dblen - 32, salt, 32);
	mgf1_xor(db, dblen, h);
	db[0] &= (unsigned char)(0xff >> (8 * emlen - embits));
	em[k - 1] = 0xbc;
}

/* The signature over the signing input's hash, raw, into sig. */
static ssize_t
sign_hash(const struct jwt_signer *s, const unsigned char h[32],
    const unsigned char *salt, unsigned char *sig, size_t cap)
{
	const br_rsa_private_key *rsa = pem_key_rsa(&s->key);
	size_t k;

	if (s->alg == POL_SIGN_ES256) {
		size_t n = br_ecdsa_sign_raw_get_default()(br_ec_get_default(),
		    &br_sha256_vtable, h, pem_key_ec(&s->key), sig);

		return n == 64 ? 64 : JWT_ERR_SIGN;
	}
	k = (rsa->n_bitlen + 7) / 8;
	if (k > cap)
		return JWT_ERR_SIGN;
	if (s->alg == POL_SIGN_RS256)
		return br_rsa_pkcs1_sign_get_default()(
		           BR_HASH_OID_SHA256, h, 32, rsa, sig) == 1
		    ? (ssize_t)k
		    : JWT_ERR_SIGN;
	pss_encode(sig, k, rsa->n_bitlen, h, salt);
	return br_rsa_private_get_default()(sig, rsa) == 1 ? (ssize_t)k
	                                                   : JWT_ERR_SIGN;
}

ssize_t
jwt_assertion(char *out, size_t len, const struct jwt_signer *s,
    const char *client_id, const char *aud, int64_t now, unsigned lifetime_s,
    const unsigned char rnd[JWT_RANDOM_BYTES])
{
	unsigned char h[32], sig[LIM_JWT_RSA_BYTES];
	br_sha256_context c;
	struct abuf o;
	ssize_t n;

	if (s == NULL || !s->ready)
		return JWT_ERR_STATE;
	if (!claim_ok(client_id) || !claim_ok(aud))
		return JWT_ERR_CLAIM;
	if (len == 0)
		return JWT_ERR_SPACE;
	out[0] = '\0';
	abuf_init(&o, out, len - 1); /* the last byte: the NUL */
	signing_input(&o, s, client_id, aud, now, lifetime_s, rnd);
	if (o.over)
		goto space;
	br_sha256_init(&c);
	br_sha256_update(&c, out, o.len);
	br_sha256_out(&c, h);
	n = sign_hash(s, h, rnd + 16, sig, sizeof(sig));
	if (n < 0) {
		out[0] = '\0';
		explicit_bzero(sig, sizeof(sig));
		return n;
	}
	abuf_ch(&o, '.');
	b64_add(&o, sig, (size_t)n);
	explicit_bzero(sig, sizeof(sig));
	if (o.over)
		goto space;
	out[o.len] = '\0';
	return (ssize_t)o.len;
space:
	out[0] = '\0';
	return JWT_ERR_SPACE;
}

const char *
jwt_strerror(int err)
{
	static const char *const names[] = {
	    "ok",
	    "no certificate, or it does not decode",
	    "no private key, or it does not decode",
	    "wrong key type (RS256, PS256: RSA >= 2048 bits; ES256: EC P-256)",
	    "the private key does not belong to the certificate",
	    "a claim is empty, too long or has a character JSON escapes",
	    "the output buffer is too small",
	    "signing failed",
	    "signer not initialised",
	};

	if (err > 0 || err < JWT_ERR_STATE)
		return "unknown jwt error";
	return names[-err];
}
