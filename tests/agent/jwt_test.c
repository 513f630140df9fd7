/*
 * jwt: base64url, signer set-up (key types, key/certificate mismatch),
 * the exact header and claims, signatures checked with BearSSL's
 * verifiers (RS256, ES256) and an independent PSS check in
 * jwt_verify_test.sh (Python's cryptography), claims and output at N and
 * N+1.  Keys and certificates: tests/agent/data/jwt (test-only, made with
 * openssl).  `jwt_test --emit DIR` writes one assertion per algorithm for
 * the script.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/jwt.h"
#include "agent/limits.h"
#include "tests/harness.h"

static unsigned char scratch[LIM_PEM_CHAIN_BYTES];
static const unsigned char rnd[JWT_RANDOM_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8, 9,
    10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,
    29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
    48};

static char *
slurp(const char *name, size_t *len)
{
	char path[256];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "tests/agent/data/jwt/%s", name);
	if ((f = fopen(path, "rb")) == NULL || fseek(f, 0, SEEK_END) != 0 ||
	    (n = ftell(f)) < 0) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(2);
	}
	rewind(f);
	if ((buf = malloc((size_t)n + 1)) == NULL ||
	    fread(buf, 1, (size_t)n, f) != (size_t)n)
		exit(2);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int
signer(struct jwt_signer *s, enum pol_signing alg, const char *crt,
    const char *key)
{
	size_t cl, kl;
	char *c = slurp(crt, &cl), *k = slurp(key, &kl);
	int rc =
	    jwt_signer_init(s, alg, c, cl, k, kl, scratch, sizeof(scratch));

	free(c);
	free(k);
	return rc;
}

static void
t_b64url(void)
{
	static const struct {
		const char *in, *out;
	} v[] = {{"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"},
	    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"\xfb\xff", "-_8"}};
	char out[16];
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		check_int(
		    jwt_b64url(out, sizeof(out), v[i].in, strlen(v[i].in)),
		    strlen(v[i].out));
		check_str(out, v[i].out);
	}
	/* "foob" needs 6 characters and the NUL: 7 fits, 6 does not. */
	check_int(jwt_b64url(out, 7, "foob", 4), 6);
	check_int(jwt_b64url(out, 6, "foob", 4), JWT_ERR_SPACE);
	check_int(jwt_b64url(out, 0, "", 0), JWT_ERR_SPACE);
}

static void
t_signer_setup(void)
{
	struct jwt_signer s;

	check_int(signer(&s, POL_SIGN_RS256, "rsa.crt", "rsa.key"), 0);
	check_str(s.thumb, "TNujLKdfyFbVwUX-Xq6qhfgvVRY"); /* openssl -sha1 */
	jwt_signer_cleanup(&s);
	check_int(signer(&s, POL_SIGN_PS256, "rsa.crt", "rsa.key"), 0);
	check_str(s.thumb, "EZMFQAsuUUW_Ksq491aEnuiMLSJI-Bd4TAMRPj6dlPg");
	jwt_signer_cleanup(&s);
	check_int(signer(&s, POL_SIGN_ES256, "ec.crt", "ec.key"), 0);
	check_str(s.thumb, "EqQae_CuuSnR45DxESFDTZzkFBD_OHj_df8IeuDWivI");
	jwt_signer_cleanup(&s);
	check_int(
	    signer(&s, POL_SIGN_ES256, "rsa.crt", "rsa.key"), JWT_ERR_KEY_TYPE);
	check_int(
	    signer(&s, POL_SIGN_RS256, "ec.crt", "ec.key"), JWT_ERR_KEY_TYPE);
	check_int(signer(&s, POL_SIGN_ES256, "ec384.crt", "ec384.key"),
	    JWT_ERR_KEY_TYPE);
	check_int(signer(&s, POL_SIGN_ES256, "ec384.crt", "ec.key"),
	    JWT_ERR_MISMATCH);
	check_int(
	    signer(&s, POL_SIGN_RS256, "ec.crt", "rsa.key"), JWT_ERR_MISMATCH);
	check_int(
	    signer(&s, POL_SIGN_RS256, "rsa.key", "rsa.key"), JWT_ERR_CERT);
	check_int(
	    signer(&s, POL_SIGN_RS256, "rsa.crt", "rsa.crt"), JWT_ERR_KEY);
	/* A failed set-up leaves nothing to sign with. */
	{
		char out[64];

		check_int(
		    jwt_assertion(out, sizeof(out), &s, "a", "b", 0, 1, rnd),
		    JWT_ERR_STATE);
	}
}

/* One file holding the certificate and the key, as operators mount. */
static void
t_combined(void)
{
	size_t cl, kl;
	char *c = slurp("rsa.crt", &cl), *k = slurp("rsa.key", &kl);
	char *both = malloc(cl + kl);
	struct jwt_signer s;

	memcpy(both, k, kl);
	memcpy(both + kl, c, cl);
	check_int(jwt_signer_init(&s, POL_SIGN_RS256, both, cl + kl, both,
	              cl + kl, scratch, sizeof(scratch)),
	    0);
	jwt_signer_cleanup(&s);
	free(both);
	free(c);
	free(k);
}

static int
b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '-' ? 62 : c == '_' ? 63 : -1;
}

/* Test code: decodes base64url of n characters; returns the length. */
static size_t
unb64(unsigned char *out, const char *in, size_t n)
{
	uint32_t acc = 0;
	size_t i, o = 0;
	int bits = 0;

	for (i = 0; i < n; i++) {
		acc = acc << 6 | (uint32_t)b64val(in[i]);
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	return o;
}

/* The three parts of a compact JWS. */
struct parts {
	char head[256], claims[2048];
	unsigned char sig[512];
	size_t siglen, inlen;
};

static int
split(const char *jwt, struct parts *p)
{
	const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : 0;
	size_t n;

	if (d2 == NULL || strchr(d2 + 1, '.') != NULL)
		return -1;
	n = unb64((unsigned char *)p->head, jwt, (size_t)(d1 - jwt));
	p->head[n] = '\0';
	n = unb64((unsigned char *)p->claims, d1 + 1, (size_t)(d2 - d1 - 1));
	p->claims[n] = '\0';
	p->siglen = unb64(p->sig, d2 + 1, strlen(d2 + 1));
	p->inlen = (size_t)(d2 - jwt);
	return 0;
}

static void
hash(const char *in, size_t n, unsigned char h[32])
{
	br_sha256_context c;

	br_sha256_init(&c);
	br_sha256_update(&c, in, n);
	br_sha256_out(&c, h);
}

static const char claims_want[] =
    "{\"aud\":\"https://login.microsoftonline.com/t1/oauth2/v2.0/token\","
    "\"iss\":\"11111111-2222-3333-4444-555555555555\","
    "\"sub\":\"11111111-2222-3333-4444-555555555555\","
    "\"jti\":\"01020304-0506-4708-890a-0b0c0d0e0f10\","
    "\"nbf\":1764331200,\"iat\":1764331200,\"exp\":1764331800}";

static ssize_t
sign(const struct jwt_signer *s, char *out, size_t len)
{
	return jwt_assertion(out, len, s,
	    "11111111-2222-3333-4444-555555555555",
	    "https://login.microsoftonline.com/t1/oauth2/v2.0/token",
	    1764331200, 600, rnd);
}

static void
t_rs256(void)
{
	unsigned char h[32], want[32];
	char out[LIM_JWT_ASSERTION_BYTES], again[LIM_JWT_ASSERTION_BYTES];
	struct jwt_signer s;
	br_x509_decoder_context xd;
	size_t cl;
	char *c = slurp("rsa.crt", &cl);
	struct pem_chain ch;
	br_x509_certificate certs[2];
	static unsigned char der[8192];
	const br_x509_pkey *pk;
	struct parts p;
	ssize_t n;

	check_int(signer(&s, POL_SIGN_RS256, "rsa.crt", "rsa.key"), 0);
	n = sign(&s, out, sizeof(out));
	check(n > 0 && (size_t)n == strlen(out));
	check_int(split(out, &p), 0);
	check_str(p.head,
	    "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"x5t\":"
	    "\"TNujLKdfyFbVwUX-Xq6qhfgvVRY\"}");
	check_str(p.claims, claims_want);
	check_int(p.siglen, 256);
	/* PKCS#1 v1.5 is deterministic. */
	check_int(sign(&s, again, sizeof(again)), n);
	check_str(again, out);
	pem_chain_init(&ch, certs, 2, der, sizeof(der));
	check_int(pem_chain_parse(&ch, c, cl), 1);
	br_x509_decoder_init(&xd, NULL, NULL);
	br_x509_decoder_push(&xd, certs[0].data, certs[0].data_len);
	pk = br_x509_decoder_get_pkey(&xd);
	check(pk != NULL);
	hash(out, p.inlen, want);
	check(br_rsa_pkcs1_vrfy_get_default()(p.sig, p.siglen,
	          BR_HASH_OID_SHA256, 32, &pk->key.rsa, h) == 1);
	check(memcmp(h, want, 32) == 0);
	/* One byte changed in the claims: the signature no longer holds. */
	out[p.inlen - 3] ^= 1;
	hash(out, p.inlen, want);
	check(memcmp(h, want, 32) != 0);
	jwt_signer_cleanup(&s);
	free(c);
}

static void
t_es256(void)
{
	char out[LIM_JWT_ASSERTION_BYTES];
	unsigned char h[32];
	struct jwt_signer s;
	br_x509_decoder_context xd;
	size_t cl;
	char *c = slurp("ec.crt", &cl);
	struct pem_chain ch;
	br_x509_certificate certs[2];
	static unsigned char der[8192];
	struct parts p;

	check_int(signer(&s, POL_SIGN_ES256, "ec.crt", "ec.key"), 0);
	check(sign(&s, out, sizeof(out)) > 0);
	check_int(split(out, &p), 0);
	check_str(p.head,
	    "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"x5t#S256\":"
	    "\"EqQae_CuuSnR45DxESFDTZzkFBD_OHj_df8IeuDWivI\"}");
	check_str(p.claims, claims_want);
	check_int(p.siglen, 64); /* raw r||s, as JWS wants */
	pem_chain_init(&ch, certs, 2, der, sizeof(der));
	check_int(pem_chain_parse(&ch, c, cl), 1);
	br_x509_decoder_init(&xd, NULL, NULL);
	br_x509_decoder_push(&xd, certs[0].data, certs[0].data_len);
	hash(out, p.inlen, h);
	check(br_ecdsa_vrfy_raw_get_default()(br_ec_get_default(), h, 32,
	          &br_x509_decoder_get_pkey(&xd)->key.ec, p.sig, 64) == 1);
	h[0] ^= 1;
	check(br_ecdsa_vrfy_raw_get_default()(br_ec_get_default(), h, 32,
	          &br_x509_decoder_get_pkey(&xd)->key.ec, p.sig, 64) == 0);
	jwt_signer_cleanup(&s);
	free(c);
}

static void
t_ps256(void)
{
	char a[LIM_JWT_ASSERTION_BYTES], b[LIM_JWT_ASSERTION_BYTES];
	unsigned char r2[JWT_RANDOM_BYTES];
	struct jwt_signer s;
	struct parts p;

	check_int(signer(&s, POL_SIGN_PS256, "rsa.crt", "rsa.key"), 0);
	check(sign(&s, a, sizeof(a)) > 0);
	check_int(split(a, &p), 0);
	check_str(p.head,
	    "{\"alg\":\"PS256\",\"typ\":\"JWT\",\"x5t#S256\":"
	    "\"EZMFQAsuUUW_Ksq491aEnuiMLSJI-Bd4TAMRPj6dlPg\"}");
	check_int(p.siglen, 256);
	/* Another salt, another signature over the same input. */
	memcpy(r2, rnd, sizeof(r2));
	r2[40] ^= 0xff;
	check(jwt_assertion(b, sizeof(b), &s,
	          "11111111-2222-3333-4444-555555555555",
	          "https://login.microsoftonline.com/t1/oauth2/v2.0/token",
	          1764331200, 600, r2) > 0);
	check(strncmp(a, b, p.inlen) == 0 && strcmp(a, b) != 0);
	jwt_signer_cleanup(&s);
}

static void
t_limits(void)
{
	char out[LIM_JWT_ASSERTION_BYTES], cid[JWT_CLAIM_MAX + 2];
	struct jwt_signer s;
	ssize_t n;

	check_int(signer(&s, POL_SIGN_ES256, "ec.crt", "ec.key"), 0);
	memset(cid, 'a', sizeof(cid));
	cid[JWT_CLAIM_MAX] = '\0';
	check(jwt_assertion(out, sizeof(out), &s, cid, "aud", 0, 600, rnd) > 0);
	/* Every claim at its limit at once (aud, iss and sub). */
	check(jwt_assertion(out, sizeof(out), &s, cid, cid, 0, 600, rnd) > 0);
	{
		struct parts p;

		check_int(split(out, &p), 0);
		check(strlen(p.claims) > 3 * JWT_CLAIM_MAX);
	}
	cid[JWT_CLAIM_MAX] = 'a';
	cid[JWT_CLAIM_MAX + 1] = '\0';
	check_int(jwt_assertion(out, sizeof(out), &s, cid, "aud", 0, 600, rnd),
	    JWT_ERR_CLAIM);
	check_int(jwt_assertion(out, sizeof(out), &s, "", "aud", 0, 600, rnd),
	    JWT_ERR_CLAIM);
	check_int(
	    jwt_assertion(out, sizeof(out), &s, "a\"b", "aud", 0, 600, rnd),
	    JWT_ERR_CLAIM);
	check_int(
	    jwt_assertion(out, sizeof(out), &s, "ab", "a\\ud", 0, 600, rnd),
	    JWT_ERR_CLAIM);
	check_int(
	    jwt_assertion(out, sizeof(out), &s, "ab", "a\nd", 0, 600, rnd),
	    JWT_ERR_CLAIM);
	/* The output buffer at N (length + NUL) and N - 1. */
	n = sign(&s, out, sizeof(out));
	check(n > 0);
	check_int(sign(&s, out, (size_t)n + 1), n);
	check_int(sign(&s, out, (size_t)n), JWT_ERR_SPACE);
	check_str(out, "");
	check_int(sign(&s, out, 0), JWT_ERR_SPACE);
	jwt_signer_cleanup(&s);
	check_str(jwt_strerror(JWT_ERR_MISMATCH),
	    "the private key does not belong to the certificate");
	check_str(jwt_strerror(-99), "unknown jwt error");
}

/* Writes one assertion per algorithm into dir for jwt_verify_test.sh. */
static int
emit(const char *dir)
{
	static const struct {
		enum pol_signing alg;
		const char *crt, *key, *out;
	} v[] = {{POL_SIGN_RS256, "rsa.crt", "rsa.key", "rs256.jwt"},
	    {POL_SIGN_PS256, "rsa.crt", "rsa.key", "ps256.jwt"},
	    {POL_SIGN_ES256, "ec.crt", "ec.key", "es256.jwt"}};
	char out[LIM_JWT_ASSERTION_BYTES], path[512];
	struct jwt_signer s;
	FILE *f;
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (signer(&s, v[i].alg, v[i].crt, v[i].key) != 0 ||
		    sign(&s, out, sizeof(out)) < 0)
			return 1;
		jwt_signer_cleanup(&s);
		snprintf(path, sizeof(path), "%s/%s", dir, v[i].out);
		if ((f = fopen(path, "w")) == NULL)
			return 1;
		fputs(out, f);
		fclose(f);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--emit") == 0)
		return emit(argv[2]);
	test(t_b64url, "base64url vectors and space at N and N+1");
	test(t_signer_setup, "signer set-up: key types, mismatch, thumbprints");
	test(t_combined, "certificate and key in one file");
	test(t_rs256, "RS256: exact header and claims, BearSSL verifies");
	test(t_es256, "ES256: raw r||s, BearSSL verifies");
	test(t_ps256, "PS256: header, salted signatures");
	test(t_limits, "claims and output buffer at N and N+1");
	return harness_done();
}
