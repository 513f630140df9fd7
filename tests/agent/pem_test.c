/*
 * Tests of agent/pem.c.  Certificates and keys are made at test time with
 * the openssl CLI in a temporary directory (removed at exit): RSA and EC
 * CAs, an EC leaf signed by the RSA CA, an Ed25519 certificate BearSSL
 * cannot use, keys in every supported and a few unsupported forms, and
 * leaves with a subject DN of chosen length to hit the byte limits exactly.
 * Parsers are fed whole, byte by byte, and against a PROT_NONE page.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/limits.h"
#include "agent/pem.h"
#include "tests/guard.h"
#include "tests/harness.h"

int main(void);

static char dir[] = "/tmp/podid-pem-test-XXXXXX";

/* Valid PEM and Base64 around three bytes that are no DER object. */
static const char not_a_cert[] =
    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
static const char not_a_key[] =
    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";

/* The private openssl config keeps the system one (CA:TRUE everywhere) out. */
static const char gen_script[] =
    "set -e\n"
    "cat > cnf <<'EOF'\n"
    "[ req ]\n"
    "distinguished_name = dn\n"
    "prompt = no\n"
    "[ dn ]\n"
    "CN = unused\n"
    "[ v3_ca ]\n"
    "basicConstraints = critical, CA:TRUE\n"
    "keyUsage = critical, keyCertSign, cRLSign\n"
    "[ leaf ]\n"
    "basicConstraints = critical, CA:FALSE\n"
    "EOF\n"
    "export OPENSSL_CONF=$PWD/cnf\n"
    "exec 2>gen.log\n"
    "openssl req -x509 -config cnf -extensions v3_ca -newkey rsa:2048 "
    "-nodes -keyout ca-rsa.key -out ca-rsa.crt -subj /CN=podid-rsa-ca "
    "-days 30\n"
    "openssl req -x509 -config cnf -extensions v3_ca -newkey ec "
    "-pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca-ec.key "
    "-out ca-ec.crt -subj /CN=podid-ec-ca -days 30\n"
    "openssl req -new -config cnf -newkey ec "
    "-pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key "
    "-out leaf.csr -subj /CN=leaf.test\n"
    "openssl x509 -req -in leaf.csr -CA ca-rsa.crt -CAkey ca-rsa.key "
    "-set_serial 2 -days 30 -extfile cnf -extensions leaf -out leaf.crt\n"
    "openssl x509 -in leaf.crt -outform der -out leaf.der\n"
    "openssl x509 -in ca-rsa.crt -outform der -out ca-rsa.der\n"
    "openssl req -x509 -config cnf -newkey ed25519 -nodes -keyout ed.key "
    "-out ed.crt -subj /CN=ed -days 30\n"
    "openssl pkey -in ca-rsa.key -out rsa-pkcs8.key\n"
    "openssl rsa -in ca-rsa.key -traditional -out rsa-pkcs1.key\n"
    "openssl ec -in leaf.key -out ec-sec1.key\n"
    "openssl ecparam -name prime256v1 -genkey -out ec-param.key\n"
    "openssl pkcs8 -topk8 -in leaf.key -passout pass:x -out enc-pkcs8.key\n"
    "openssl rsa -in ca-rsa.key -aes128 -passout pass:x -traditional "
    "-out enc-legacy.key\n"
    /* A valid key followed by bytes past its DER end (BearSSL 0.6 crash). */
    "openssl pkey -in leaf.key -outform der -out leaf-key.der\n"
    "{ echo '-----BEGIN PRIVATE KEY-----'; { cat leaf-key.der; "
    "printf 'Ye'; } | openssl base64; echo '-----END PRIVATE KEY-----'; } "
    "> trailing.key\n"
    "{ echo '-----BEGIN PRIVATE KEY-----'; printf '\\002\\001\\000' | "
    "openssl base64; echo '-----END PRIVATE KEY-----'; } > notseq.key\n";

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
sh(const char *fmt, ...)
{
	char cmd[40000];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return -1;
	return system(cmd);
}

static void
cleanup_dir(void)
{
	sh("rm -rf '%s'", dir);
}

static char *
path(const char *name)
{
	static char buf[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

/* Test code: reads a whole file into a fresh buffer (NUL-terminated). */
static char *
slurp(const char *name, size_t *len)
{
	FILE *f = fopen(path(name), "rb");
	char *buf;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
		fprintf(stderr, "cannot read %s\n", name);
		exit(2);
	}
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
		exit(2);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void
spill(const char *name, const char *buf, size_t len)
{
	FILE *f = fopen(path(name), "wb");

	if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
		exit(2);
}

/* A store in static caller storage, big enough for the tests. */
static br_x509_trust_anchor ta[LIM_PEM_ANCHORS + 1];
static unsigned char mem[LIM_PEM_ANCHOR_BYTES];
static struct pem_anchors A;

static int
parse_anchors(const char *name)
{
	size_t len;
	char *buf = slurp(name, &len);
	int rc;

	pem_anchors_init(&A, ta, LIM_PEM_ANCHORS, mem, sizeof(mem));
	rc = pem_anchors_parse(&A, buf, len);
	free(buf);
	return rc;
}

/* Writes out: times copies of first, then second (when not NULL). */
static void
concat(const char *out, int times, const char *first, const char *second)
{
	size_t l1, l2 = 0;
	char *b1 = slurp(first, &l1), *b2 = second ? slurp(second, &l2) : NULL;
	FILE *f = fopen(path(out), "wb");
	int i;

	for (i = 0; f != NULL && i < times; i++)
		fwrite(b1, 1, l1, f);
	if (f != NULL && b2 != NULL)
		fwrite(b2, 1, l2, f);
	if (f == NULL || fclose(f) != 0)
		exit(2);
	free(b1);
	free(b2);
}

/* Makes out: an EC leaf signed by the RSA CA, subject DC of dclen bytes. */
static void
mk_leaf(const char *out, size_t dclen)
{
	static char dc[16384];

	if (dclen >= sizeof(dc))
		exit(2);
	memset(dc, 'a', dclen);
	dc[dclen] = '\0';
	if (sh("cd '%s' && OPENSSL_CONF=cnf openssl req -new -config cnf "
	       "-key leaf.key -subj /DC=%s -out dc.csr 2>>gen.log && "
	       "openssl x509 -req -in dc.csr -CA ca-rsa.crt -CAkey ca-rsa.key "
	       "-set_serial 3 -days 30 -out %s 2>>gen.log",
	        dir, dc, out) != 0) {
		fprintf(stderr, "openssl failed making %s\n", out);
		exit(2);
	}
}

/* ---- trust anchors ---- */

static void
t_anchors_basic(void)
{
	size_t len, i;
	char *der = slurp("ca-rsa.der", &len);

	concat("two.pem", 1, "ca-rsa.crt", "ca-ec.crt");
	check_int(parse_anchors("two.pem"), 2);
	check_int(A.count, 2);
	check_int(A.skipped, 0);
	check_int(A.rejected, 0);
	check_int(A.ta[0].flags, BR_X509_TA_CA);
	check_int(A.ta[1].flags, BR_X509_TA_CA);
	check_int(A.ta[0].pkey.key_type, BR_KEYTYPE_RSA);
	check_int(A.ta[0].pkey.key.rsa.nlen, 256);
	check_int(A.ta[0].pkey.key.rsa.elen, 3);
	check(memcmp(A.ta[0].pkey.key.rsa.e, "\x01\x00\x01", 3) == 0);
	/* The modulus is in the certificate's DER, verbatim. */
	check(memmem(der, len, A.ta[0].pkey.key.rsa.n, 256) != NULL);
	check_int(A.ta[1].pkey.key_type, BR_KEYTYPE_EC);
	check_int(A.ta[1].pkey.key.ec.curve, BR_EC_secp256r1);
	check_int(A.ta[1].pkey.key.ec.qlen, 65);
	check(A.ta[1].pkey.key.ec.q[0] == 0x04);
	/* The DN (the subject's encoding) holds the CN; all inside mem. */
	check(memmem(A.ta[0].dn.data, A.ta[0].dn.len, "podid-rsa-ca", 12));
	check(memmem(A.ta[1].dn.data, A.ta[1].dn.len, "podid-ec-ca", 11));
	for (i = 0; i < A.count; i++) {
		check(A.ta[i].dn.data >= mem);
		check(A.ta[i].dn.data + A.ta[i].dn.len <= mem + A.used);
	}
	free(der);
}

/* Whole, byte by byte and in two halves: same anchors, same bytes. */
static void
t_anchors_bytewise(void)
{
	static unsigned char mem2[8192];
	br_x509_trust_anchor ta2[4];
	struct pem_anchors b;
	size_t len, i, ok = 0;
	char *buf;

	concat("three.pem", 1, "ca-rsa.crt", "leaf.crt");
	concat("three.pem", 1, "three.pem", "ca-ec.crt");
	buf = slurp("three.pem", &len);
	pem_anchors_init(&A, ta, LIM_PEM_ANCHORS, mem, sizeof(mem));
	check_int(pem_anchors_parse(&A, buf, len), 3);
	pem_anchors_init(&b, ta2, 4, mem2, sizeof(mem2));
	for (i = 0; i < len; i++)
		ok += pem_anchors_feed(&b, buf + i, 1) == 1;
	check_int(ok, len);
	check_int(pem_anchors_finish(&b), 3);
	check_int(b.used, A.used);
	check(memcmp(mem2, mem, A.used) == 0);
	for (i = 0; i < 3; i++) {
		check_int(ta2[i].flags, A.ta[i].flags);
		check_int(ta2[i].dn.len, A.ta[i].dn.len);
	}
	pem_anchors_init(&b, ta2, 4, mem2, sizeof(mem2));
	check_int(pem_anchors_feed(&b, buf, len / 2), (ssize_t)(len / 2));
	check_int(pem_anchors_feed(&b, buf + len / 2, len - len / 2),
	    (ssize_t)(len - len / 2));
	check_int(pem_anchors_finish(&b), 3);
	free(buf);
}

static void
t_anchors_guard(void)
{
	size_t len, cut;
	char *buf = slurp("ca-ec.crt", &len);
	const char *g;

	/* Without the final newline, then whole, each against PROT_NONE. */
	for (cut = 1; cut <= 2; cut++) {
		g = guard_copy(buf, len - (cut == 1));
		pem_anchors_init(&A, ta, LIM_PEM_ANCHORS, mem, sizeof(mem));
		check_int(pem_anchors_parse(&A, g, len - (cut == 1)), 1);
	}
	free(buf);
}

static void
t_anchors_leaf_not_ca(void)
{
	check_int(parse_anchors("leaf.crt"), 1);
	check_int(A.ta[0].flags, 0);
	check_int(A.ta[0].pkey.key_type, BR_KEYTYPE_EC);
}

static void
t_anchors_skip_and_reject(void)
{
	concat("mixed.pem", 1, "leaf.key", "ed.crt");
	concat("mixed.pem", 1, "mixed.pem", "ca-ec.crt");
	check_int(parse_anchors("mixed.pem"), 1);
	check_int(A.skipped, 1);
	check_int(A.rejected, 1);
	check(memmem(A.ta[0].dn.data, A.ta[0].dn.len, "podid-ec-ca", 11));
	/* The rejected certificate's DN bytes were given back. */
	check_int(A.used, A.ta[0].dn.len + 65);
	check_int(parse_anchors("ed.crt"), PEM_ERR_NO_CERT);
	check_int(parse_anchors("leaf.key"), PEM_ERR_NO_CERT);
	check_int(A.count, 0);
}

static void
t_anchors_truncated(void)
{
	size_t len, cut;
	char *buf = slurp("ca-ec.crt", &len), *end;
	int rc, bad = 0, at_line = 0;

	end = strstr(buf, "-----END");
	pem_anchors_init(&A, ta, LIM_PEM_ANCHORS, mem, sizeof(mem));
	/*
	 * A cut at a line end inside the object is "truncated"; inside a
	 * line it may also be a broken quartet.  Never a crash or a success.
	 */
	for (cut = strlen("-----BEGIN CERTIFICATE-----"); cut < len; cut++) {
		rc = pem_anchors_parse(&A, buf, cut);
		if (buf + cut <= end && buf[cut - 1] == '\n') {
			at_line++;
			bad += rc != PEM_ERR_TRUNCATED;
		} else if (buf + cut <= end)
			bad += rc != PEM_ERR_TRUNCATED && rc != PEM_ERR_SYNTAX;
		else
			bad += rc != 1 && rc != PEM_ERR_SYNTAX;
		bad += rc < 0 && A.count != 0;
	}
	check_int(bad, 0);
	check(at_line >= 3);
	free(buf);
}

static void
t_anchors_syntax(void)
{
	size_t len;
	char *buf = slurp("ca-ec.crt", &len);

	buf[40] = '*'; /* inside the Base64 body */
	pem_anchors_init(&A, ta, LIM_PEM_ANCHORS, mem, sizeof(mem));
	check_int(pem_anchors_parse(&A, buf, len), PEM_ERR_SYNTAX);
	check_int(A.count, 0);
	/* Errors are sticky on the feed path too. */
	pem_anchors_init(&A, ta, LIM_PEM_ANCHORS, mem, sizeof(mem));
	check_int(pem_anchors_feed(&A, buf, len), PEM_ERR_SYNTAX);
	check_int(pem_anchors_feed(&A, "x", 1), PEM_ERR_SYNTAX);
	check_int(pem_anchors_finish(&A), PEM_ERR_SYNTAX);
	/* Valid Base64 of something that is not a certificate. */
	check_int(pem_anchors_parse(&A, not_a_cert, strlen(not_a_cert)),
	    PEM_ERR_NO_CERT);
	check_int(A.rejected, 1);
	free(buf);
}

static void
t_anchors_empty_and_state(void)
{
	struct pem_anchors z;

	pem_anchors_init(&A, ta, LIM_PEM_ANCHORS, mem, sizeof(mem));
	check_int(pem_anchors_parse(&A, "", 0), PEM_ERR_NO_CERT);
	check_int(pem_anchors_parse(&A, "just text\n", 10), PEM_ERR_NO_CERT);
	memset(&z, 0, sizeof(z));
	check_int(pem_anchors_parse(&z, "x", 1), PEM_ERR_STATE);
	check_int(pem_anchors_feed(&z, "x", 1), PEM_ERR_STATE);
	check_int(pem_anchors_finish(&z), PEM_ERR_STATE);
	pem_anchors_init(&z, NULL, 4, mem, sizeof(mem));
	check_int(pem_anchors_parse(&z, "x", 1), PEM_ERR_STATE);
	pem_anchors_free(&z); /* no-op on caller storage */
	pem_anchors_free(&z);
}

/* Caller-sized store: slots and bytes at N and N+1. */
static void
t_anchors_store_limits(void)
{
	size_t len, need;
	char *buf;

	concat("two.pem", 1, "ca-rsa.crt", "ca-ec.crt");
	buf = slurp("two.pem", &len);
	pem_anchors_init(&A, ta, 2, mem, sizeof(mem));
	check_int(pem_anchors_parse(&A, buf, len), 2);
	need = A.used;
	pem_anchors_init(&A, ta, 1, mem, sizeof(mem));
	check_int(pem_anchors_parse(&A, buf, len), PEM_ERR_TOO_MANY);
	pem_anchors_init(&A, ta, 2, mem, need);
	check_int(pem_anchors_parse(&A, buf, len), 2);
	pem_anchors_init(&A, ta, 2, mem, need - 1);
	check_int(pem_anchors_parse(&A, buf, len), PEM_ERR_NO_SPACE);
	/* Short by one inside the DN, not only inside the key. */
	pem_anchors_init(&A, ta, 2, mem, 10);
	check_int(pem_anchors_parse(&A, buf, len), PEM_ERR_NO_SPACE);
	free(buf);
}

/* The daemon's sizes: LIM_PEM_ANCHORS certificates fit, one more not. */
static void
t_lim_anchors(void)
{
	struct pem_anchors a;

	memset(&a, 0, sizeof(a));
	concat("n.pem", LIM_PEM_ANCHORS, "ca-ec.crt", NULL);
	check_int(pem_anchors_load(&a, path("n.pem")), LIM_PEM_ANCHORS);
	check(a.owned);
	concat("n1.pem", LIM_PEM_ANCHORS + 1, "ca-ec.crt", NULL);
	check_int(pem_anchors_load(&a, path("n1.pem")), PEM_ERR_TOO_MANY);
	check_int(a.count, 0);
	pem_anchors_free(&a);
	check(a.ta == NULL);
}

/* The byte store: exactly LIM_PEM_ANCHOR_BYTES fits, one byte more not. */
static void
t_lim_anchor_bytes(void)
{
	struct pem_anchors a;
	size_t ux, k, r, uy;

	mk_leaf("x.crt", 900);
	check(parse_anchors("x.crt") == 1);
	ux = A.used;
	k = LIM_PEM_ANCHOR_BYTES / ux - 1;
	r = LIM_PEM_ANCHOR_BYTES - k * ux; /* in [ux, 2 ux) */
	check(k + 1 <= LIM_PEM_ANCHORS);
	mk_leaf("y.crt", 900 + r - ux);
	check(parse_anchors("y.crt") == 1);
	uy = A.used;
	check_int(uy, r);
	memset(&a, 0, sizeof(a));
	concat("b.pem", (int)k, "x.crt", "y.crt");
	check_int(pem_anchors_load(&a, path("b.pem")), (int)k + 1);
	check_int(a.used, LIM_PEM_ANCHOR_BYTES);
	mk_leaf("y1.crt", 900 + r - ux + 1);
	concat("b1.pem", (int)k, "x.crt", "y1.crt");
	check_int(pem_anchors_load(&a, path("b1.pem")), PEM_ERR_NO_SPACE);
	pem_anchors_free(&a);
}

/* The file: LIM_PEM_FILE_BYTES is read, one byte more refused. */
static void
t_lim_file_bytes(void)
{
	struct pem_anchors a;
	size_t len;
	char *cert = slurp("ca-ec.crt", &len);
	char *buf = malloc(LIM_PEM_FILE_BYTES + 1);

	if (buf == NULL)
		exit(2);
	memset(buf, '\n', LIM_PEM_FILE_BYTES + 1);
	memcpy(buf, cert, len);
	memset(&a, 0, sizeof(a));
	spill("f.pem", buf, LIM_PEM_FILE_BYTES);
	check_int(pem_anchors_load(&a, path("f.pem")), 1);
	spill("f1.pem", buf, LIM_PEM_FILE_BYTES + 1);
	check_int(pem_anchors_load(&a, path("f1.pem")), PEM_ERR_FILE_TOO_BIG);
	errno = 0;
	check_int(pem_anchors_load(&a, path("missing.pem")), PEM_ERR_IO);
	check_int(errno, ENOENT);
	pem_anchors_free(&a);
	free(buf);
	free(cert);
}

/* The system bundle fits the default limits. */
static void
t_system_bundle(void)
{
	static const char sys[] = "/etc/ssl/certs/ca-certificates.crt";
	struct pem_anchors a;
	int rc;

	if (access(sys, R_OK) != 0) {
		fprintf(
		    stderr, "note: %s missing, system bundle not tried\n", sys);
		return;
	}
	memset(&a, 0, sizeof(a));
	rc = pem_anchors_load(&a, sys);
	check(rc >= 100);
	check_int(a.rejected, 0);
	check(a.used < LIM_PEM_ANCHOR_BYTES / 2);
	fprintf(
	    stderr, "note: system bundle: %d anchors, %zu bytes\n", rc, a.used);
	pem_anchors_free(&a);
}

/* ---- private keys ---- */

static int
parse_key(struct pem_key *k, const char *name)
{
	size_t len;
	char *buf = slurp(name, &len);
	const char *g = guard_copy(buf, len);
	int rc;

	rc = pem_key_parse(k, g, len);
	free(buf);
	return rc;
}

/* The EC key's public point is the one in the leaf certificate. */
static void
t_key_ec(void)
{
	static const char *const names[] = {"leaf.key", "ec-sec1.key"};
	unsigned char pub[BR_EC_KBUF_PUB_MAX_SIZE];
	br_ec_public_key pk;
	struct pem_key k;
	size_t i;

	check_int(parse_anchors("leaf.crt"), 1);
	for (i = 0; i < 2; i++) {
		check_int(parse_key(&k, names[i]), 0);
		check_int(k.type, BR_KEYTYPE_EC);
		check(pem_key_rsa(&k) == NULL);
		if (pem_key_ec(&k) == NULL) {
			check(0);
			continue;
		}
		check_int(pem_key_ec(&k)->curve, BR_EC_secp256r1);
		check_int(br_ec_compute_pub(
		              br_ec_get_default(), &pk, pub, pem_key_ec(&k)),
		    65);
		check(memcmp(pub, A.ta[0].pkey.key.ec.q, 65) == 0);
		pem_key_cleanup(&k);
	}
	/* "EC PARAMETERS" first, then the key. */
	check_int(parse_key(&k, "ec-param.key"), 0);
	check_int(k.skipped, 1);
	check(pem_key_ec(&k) != NULL);
	pem_key_cleanup(&k);
}

/* The RSA key's modulus is the one in the RSA CA certificate. */
static void
t_key_rsa(void)
{
	static const char *const names[] = {
	    "ca-rsa.key", "rsa-pkcs8.key", "rsa-pkcs1.key"};
	unsigned char n[512];
	struct pem_key k;
	size_t i;

	check_int(parse_anchors("ca-rsa.crt"), 1);
	for (i = 0; i < 3; i++) {
		check_int(parse_key(&k, names[i]), 0);
		check_int(k.type, BR_KEYTYPE_RSA);
		check(pem_key_ec(&k) == NULL);
		if (pem_key_rsa(&k) == NULL) {
			check(0);
			continue;
		}
		check_int(pem_key_rsa(&k)->n_bitlen, 2048);
		check_int(
		    br_rsa_compute_modulus_get_default()(n, pem_key_rsa(&k)),
		    256);
		check(memcmp(n, A.ta[0].pkey.key.rsa.n, 256) == 0);
		pem_key_cleanup(&k);
	}
}

static void
t_key_errors(void)
{
	struct pem_key k;
	size_t len, cut;
	char *buf;

	check_int(parse_key(&k, "enc-pkcs8.key"), PEM_ERR_KEY_ENCRYPTED);
	check_int(parse_key(&k, "enc-legacy.key"), PEM_ERR_KEY_ENCRYPTED);
	check_int(parse_key(&k, "leaf.crt"), PEM_ERR_NO_KEY);
	check_int(k.type, 0);
	check(pem_key_ec(&k) == NULL && pem_key_rsa(&k) == NULL);
	concat("two.key", 1, "leaf.key", "ca-rsa.key");
	check_int(parse_key(&k, "two.key"), PEM_ERR_TWO_KEYS);
	check(pem_key_ec(&k) == NULL);
	check_int(pem_key_parse(&k, not_a_key, strlen(not_a_key)), PEM_ERR_KEY);
	/* Bytes after the key's DER, and DER that is not a SEQUENCE. */
	check_int(parse_key(&k, "trailing.key"), PEM_ERR_KEY);
	check_int(parse_key(&k, "notseq.key"), PEM_ERR_KEY);
	/* A combined key + certificate file is fine. */
	concat("combo.pem", 1, "leaf.crt", "leaf.key");
	check_int(parse_key(&k, "combo.pem"), 0);
	check_int(k.skipped, 1);
	/* Truncated inside the key. */
	buf = slurp("leaf.key", &len);
	cut = (size_t)(strchr(buf + len / 2, '\n') - buf) + 1;
	check_int(pem_key_parse(&k, buf, cut), PEM_ERR_TRUNCATED);
	check_int(pem_key_parse(&k, buf, cut - 3), PEM_ERR_SYNTAX);
	free(buf);
}

/*
 * A fuzzer's find: a PKCS#8 key whose PEM body goes on past the key's DER.
 * BearSSL 0.6's br_skey_decoder reads through NULL when fed those bytes in
 * a later push; pem.c must hand it exactly one DER object.
 */
/* clang-format off */
static const unsigned char key_trailing[] = {
	0x2d, 0x2d, 0x2d, 0x2d, 0x2d, 0x42, 0x45, 0x47, 0x49, 0x4e, 0x20, 0x50,
	0x52, 0x49, 0x56, 0x41, 0x54, 0x45, 0x20, 0x4b, 0x45, 0x59, 0x2d, 0x2d,
	0x2d, 0x2d, 0x2d, 0x0a, 0x4d, 0x49, 0x47, 0x48, 0x41, 0x67, 0x45, 0x41,
	0x4d, 0x42, 0x4d, 0x47, 0x42, 0x79, 0x71, 0x47, 0x53, 0x4d, 0x34, 0x39,
	0x41, 0x67, 0x45, 0x47, 0x43, 0x43, 0x71, 0x47, 0x53, 0x4d, 0x34, 0x39,
	0x41, 0x77, 0x45, 0x48, 0x42, 0x47, 0x30, 0x77, 0x61, 0x77, 0x49, 0x42,
	0x41, 0x51, 0x51, 0x67, 0x34, 0x4f, 0x56, 0x56, 0x70, 0x5a, 0x56, 0x4e,
	0x6b, 0x59, 0x37, 0x46, 0x4f, 0x68, 0x79, 0x68, 0x0a, 0x6c, 0x46, 0x69,
	0x6d, 0x39, 0x6c, 0x57, 0x30, 0x43, 0x59, 0x76, 0x58, 0x50, 0x41, 0x31,
	0x58, 0x33, 0x66, 0x5a, 0x64, 0x68, 0x36, 0x2f, 0x32, 0x59, 0x4b, 0x47,
	0x68, 0x52, 0x41, 0x4e, 0x43, 0x41, 0x41, 0x52, 0x45, 0x49, 0x73, 0x73,
	0x34, 0x66, 0x31, 0x56, 0x75, 0x6c, 0x47, 0x44, 0x34, 0x59, 0x6f, 0x6f,
	0x42, 0x50, 0x53, 0x74, 0x61, 0x35, 0x32, 0x75, 0x76, 0x64, 0x66, 0x74,
	0x78, 0x0a, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c,
	0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c,
	0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c,
	0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c,
	0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c,
	0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c,
	0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c,
	0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c,
	0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c,
	0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c,
	0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x4a, 0x54, 0x37, 0x36, 0x73,
	0x7a, 0x55, 0x54, 0x47, 0x65, 0x76, 0x67, 0x49, 0x2f, 0x6a, 0x68, 0x68,
	0x52, 0x6c, 0x76, 0x59, 0x4e, 0x7a, 0x67, 0x36, 0x2f, 0x66, 0x2b, 0x46,
	0x36, 0x68, 0x70, 0x76, 0x4f, 0x71, 0x38, 0x61, 0x37, 0x41, 0x7a, 0x57,
	0x56, 0x4c, 0x49, 0x42, 0x37, 0x49, 0x45, 0x4e, 0x52, 0x62, 0x43, 0x4e,
	0x32, 0x76, 0x63, 0x74, 0x43, 0x65, 0x0a, 0x4b, 0x64, 0x75, 0x65, 0x32,
	0x6d, 0x43, 0x4d, 0x61, 0x61, 0x61, 0x35, 0x65, 0x67, 0x72, 0x57, 0x68,
	0x71, 0x44, 0x65, 0x6a, 0x72, 0x6c, 0x49, 0x66, 0x6e, 0x43, 0x6e, 0x68,
	0x6e, 0x6c, 0x76, 0x48, 0x53, 0x65, 0x55, 0x47, 0x68, 0x55, 0x6d, 0x35,
	0x39, 0x59, 0x62, 0x65, 0x6d, 0x44, 0x74, 0x41, 0x52, 0x53, 0x68, 0x4d,
	0x57, 0x43, 0x71, 0x39, 0x51, 0x49, 0x44, 0x41, 0x51, 0x41, 0x42, 0x0a,
	0x41, 0x6f, 0x47, 0x42, 0x41, 0x4c, 0x32, 0x73, 0x69, 0x72, 0x49, 0x53,
	0x55, 0x79, 0x39, 0x6f, 0x50, 0x53, 0x66, 0x68, 0x6e, 0x4e, 0x4b, 0x32,
	0x75, 0x74, 0x61, 0x42, 0x78, 0x78, 0x56, 0x6d, 0x58, 0x47, 0x54, 0x4a,
	0x6c, 0x42, 0x57, 0x59, 0x35, 0x32, 0x44, 0x51, 0x6b, 0x6a, 0x6a, 0x65,
	0x6d, 0x33, 0x5a, 0x77, 0x46, 0x4b, 0x56, 0x38, 0x64, 0x54, 0x75, 0x37,
	0x55, 0x49, 0x2f, 0x56, 0x0a, 0x4a, 0x72, 0x6c, 0x45, 0x56, 0x6b, 0x79,
	0x30, 0x74, 0x31, 0x4b, 0x56, 0x6c, 0x35, 0x32, 0x34, 0x78, 0x67, 0x65,
	0x71, 0x32, 0x58, 0x6b, 0x31, 0x47, 0x73, 0x43, 0x4b, 0x75, 0x66, 0x57,
	0x54, 0x54, 0x50, 0x34, 0x75, 0x50, 0x53, 0x4b, 0x53, 0x52, 0x64, 0x42,
	0x54, 0x52, 0x41, 0x36, 0x66, 0x70, 0x76, 0x70, 0x5a, 0x33, 0x4b, 0x4d,
	0x4e, 0x4f, 0x4c, 0x37, 0x78, 0x6d, 0x32, 0x44, 0x2b, 0x0a, 0x63, 0x74,
	0x39, 0x35, 0x36, 0x35, 0x2b, 0x64, 0x47, 0x4b, 0x6c, 0x35, 0x4e, 0x68,
	0x69, 0x4b, 0x74, 0x71, 0x68, 0x4b, 0x63, 0x35, 0x48, 0x6c, 0x46, 0x36,
	0x45, 0x48, 0x79, 0x2f, 0x69, 0x47, 0x45, 0x30, 0x54, 0x54, 0x54, 0x5a,
	0x47, 0x73, 0x4f, 0x63, 0x58, 0x67, 0x51, 0x6e, 0x68, 0x42, 0x41, 0x6b,
	0x45, 0x41, 0x37, 0x66, 0x5a, 0x37, 0x59, 0x70, 0x37, 0x34, 0x4c, 0x30,
	0x51, 0x75, 0x0a, 0x31, 0x53, 0x36, 0x51, 0x55, 0x51, 0x70, 0x45, 0x42,
	0x5a, 0x53, 0x70, 0x79, 0x49, 0x72, 0x67, 0x4e, 0x6b, 0x4d, 0x56, 0x48,
	0x4f, 0x46, 0x42, 0x76, 0x6d, 0x49, 0x52, 0x54, 0x54, 0x37, 0x6e, 0x76,
	0x65, 0x70, 0x61, 0x73, 0x69, 0x63, 0x41, 0x37, 0x6c, 0x72, 0x62, 0x64,
	0x76, 0x55, 0x6e, 0x39, 0x69, 0x46, 0x66, 0x47, 0x50, 0x57, 0x32, 0x2f,
	0x45, 0x42, 0x45, 0x6c, 0x52, 0x79, 0x69, 0x0a, 0x35, 0x70, 0x74, 0x74,
	0x6a, 0x47, 0x2b, 0x55, 0x6b, 0x51, 0x4a, 0x42, 0x41, 0x4e, 0x56, 0x67,
	0x4a, 0x67, 0x51, 0x54, 0x33, 0x2b, 0x4d, 0x69, 0x68, 0x6b, 0x77, 0x4b,
	0x4a, 0x69, 0x66, 0x30, 0x71, 0x54, 0x69, 0x32, 0x39, 0x42, 0x62, 0x66,
	0x53, 0x6b, 0x48, 0x63, 0x41, 0x69, 0x4b, 0x58, 0x6b, 0x70, 0x34, 0x56,
	0x56, 0x67, 0x68, 0x62, 0x54, 0x61, 0x58, 0x71, 0x45, 0x4e, 0x41, 0x4a,
	0x0a, 0x69, 0x48, 0x35, 0x77, 0x50, 0x70, 0x55, 0x74, 0x4e, 0x79, 0x49,
	0x32, 0x35, 0x46, 0x71, 0x39, 0x73, 0x47, 0x7a, 0x77, 0x73, 0x79, 0x50,
	0x52, 0x63, 0x62, 0x38, 0x48, 0x45, 0x41, 0x37, 0x75, 0x45, 0x69, 0x55,
	0x43, 0x51, 0x43, 0x6c, 0x6a, 0x73, 0x4d, 0x78, 0x54, 0x69, 0x43, 0x6c,
	0x34, 0x65, 0x34, 0x6a, 0x61, 0x34, 0x34, 0x45, 0x6b, 0x2f, 0x76, 0x58,
	0x56, 0x69, 0x4c, 0x35, 0x33, 0x0a, 0x34, 0x55, 0x32, 0x75, 0x31, 0x31,
	0x4a, 0x42, 0x6e, 0x39, 0x54, 0x45, 0x61, 0x2b, 0x76, 0x36, 0x6f, 0x41,
	0x59, 0x35, 0x5a, 0x2f, 0x4d, 0x4b, 0x73, 0x36, 0x2f, 0x42, 0x6e, 0x2b,
	0x43, 0x4e, 0x2f, 0x5a, 0x68, 0x69, 0x37, 0x34, 0x36, 0x41, 0x31, 0x6f,
	0x59, 0x44, 0x69, 0x36, 0x6f, 0x2f, 0x34, 0x39, 0x6d, 0x6d, 0x65, 0x53,
	0x52, 0x76, 0x46, 0x2f, 0x45, 0x43, 0x51, 0x47, 0x35, 0x6e, 0x0a, 0x66,
	0x34, 0x51, 0x67, 0x6e, 0x48, 0x6d, 0x30, 0x42, 0x58, 0x55, 0x57, 0x30,
	0x30, 0x4e, 0x64, 0x54, 0x71, 0x6e, 0x76, 0x30, 0x45, 0x42, 0x39, 0x62,
	0x4c, 0x6a, 0x44, 0x45, 0x37, 0x2b, 0x2b, 0x57, 0x62, 0x69, 0x2b, 0x4a,
	0x58, 0x50, 0x52, 0x65, 0x6b, 0x33, 0x63, 0x33, 0x4c, 0x49, 0x6f, 0x48,
	0x4a, 0x33, 0x2f, 0x69, 0x67, 0x49, 0x36, 0x45, 0x51, 0x72, 0x39, 0x43,
	0x41, 0x38, 0x44, 0x0a, 0x6b, 0x32, 0x50, 0x71, 0x37, 0x32, 0x59, 0x62,
	0x47, 0x78, 0x58, 0x53, 0x6d, 0x37, 0x5a, 0x39, 0x37, 0x4a, 0x6b, 0x43,
	0x51, 0x41, 0x2b, 0x62, 0x36, 0x49, 0x77, 0x62, 0x51, 0x49, 0x42, 0x37,
	0x35, 0x75, 0x61, 0x4a, 0x56, 0x63, 0x4b, 0x47, 0x62, 0x66, 0x63, 0x48,
	0x69, 0x2b, 0x41, 0x47, 0x30, 0x4b, 0x74, 0x56, 0x31, 0x67, 0x30, 0x68,
	0x46, 0x75, 0x6d, 0x42, 0x58, 0x34, 0x49, 0x31, 0x0a, 0x36, 0x2f, 0x64,
	0x6f, 0x67, 0x52, 0x51, 0x64, 0x44, 0x55, 0x79, 0x76, 0x41, 0x65, 0x56,
	0x34, 0x4a, 0x41, 0x67, 0x37, 0x70, 0x6c, 0x38, 0x5a, 0x58, 0x53, 0x61,
	0x48, 0x57, 0x65, 0x34, 0x69, 0x53, 0x56, 0x70, 0x59, 0x59, 0x6a, 0x6d,
	0x62, 0x62, 0x31, 0x49, 0x3d, 0x0a, 0x2d, 0x2d, 0x2d, 0x2d, 0x2d, 0x45,
	0x4e, 0x44, 0x20, 0x52, 0x53, 0x41, 0x20, 0x50, 0x52, 0x49, 0x50, 0x54,
	0x53, 0x43, 0x4f, 0x42, 0x52, 0x6d, 0x56, 0x6b, 0x38, 0x6e, 0x55, 0x52,
	0x73, 0x2f, 0x6b, 0x74, 0x63, 0x6b, 0x63, 0x6a, 0x53, 0x69, 0x61, 0x74,
	0x5a, 0x66, 0x70, 0x51, 0x45, 0x34, 0x51, 0x0a, 0x2d, 0x2d, 0x2d, 0x2d,
	0x2d, 0x45, 0x4e, 0x44, 0x20, 0x50, 0x52, 0x49, 0x56, 0x41, 0x54, 0x45,
	0x20, 0x4b, 0x45, 0x59, 0x2d, 0x2d, 0x2d, 0x2d, 0x2d, 0x0a, 0x2d, 0x2d,
	0x2d, 0x2d, 0x2d, 0x42, 0x45, 0x47, 0x49, 0x4e, 0x20, 0x43, 0x45, 0x52,
	0x54, 0x49, 0x46, 0x49, 0x35, 0x74, 0x42, 0x77, 0x44, 0x71, 0x56, 0x56,
	0x36, 0x68, 0x69, 0x31, 0x6a, 0x59, 0x54, 0x41, 0x65, 0x46, 0x77, 0x30,
	0x79, 0x4e, 0x6a, 0x45, 0x78, 0x4d, 0x56, 0x6d, 0x4c, 0x6a, 0x74, 0x31,
	0x41, 0x7a, 0x7a, 0x4e, 0x56, 0x39, 0x77, 0x4d, 0x68, 0x61, 0x46, 0x2b,
	0x47, 0x4f, 0x58, 0x75, 0x54, 0x69, 0x71, 0x0a, 0x2d, 0x2d, 0x2d, 0x2d,
	0x2d, 0x45, 0x4e, 0x44, 0x20, 0x43, 0x45, 0x54, 0x45, 0x2d, 0x2d, 0x2d,
	0x2d, 0x2d, 0x0a, 0x2d, 0x2d, 0x2d, 0x2d, 0x2d, 0x42, 0x45, 0x47, 0x49,
	0x4e, 0x20, 0x43, 0x45, 0x52, 0x54, 0x49, 0x46, 0x49, 0x43, 0x41, 0x54,
	0x45, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b,
	0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b,
	0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b,
	0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b,
	0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b,
	0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x6b, 0x7a, 0x0a, 0x4d, 0x33, 0x32, 0x6a,
	0x68,
};
/* clang-format on */

static void
t_key_trailing_bytes(void)
{
	struct pem_key k;

	check_int(
	    pem_key_parse(&k, (const char *)key_trailing, sizeof(key_trailing)),
	    PEM_ERR_KEY);
	check(pem_key_ec(&k) == NULL && pem_key_rsa(&k) == NULL);
}

static void
t_key_wipe(void)
{
	struct pem_key k;
	const unsigned char *x, *p;
	size_t xlen, i, nz = 0;

	check_int(parse_key(&k, "leaf.key"), 0);
	x = pem_key_ec(&k)->x;
	xlen = pem_key_ec(&k)->xlen;
	check_int(xlen, 32);
	for (i = 0; i < xlen; i++)
		nz += x[i] != 0;
	check(nz > 0);
	pem_key_cleanup(&k);
	p = (const unsigned char *)&k;
	for (i = nz = 0; i < sizeof(k); i++)
		nz += p[i] != 0;
	check_int(nz, 0);
	check(pem_key_ec(&k) == NULL);
}

/* ---- certificate chains ---- */

static br_x509_certificate certs[LIM_PEM_CHAIN_CERTS + 1];
static unsigned char chain_mem[LIM_PEM_CHAIN_BYTES];

static int
parse_chain(struct pem_chain *c, size_t max, size_t cap, const char *name)
{
	size_t len;
	char *buf = slurp(name, &len);
	const char *g = guard_copy(buf, len);
	int rc;

	pem_chain_init(c, certs, max, chain_mem, cap);
	rc = pem_chain_parse(c, g, len);
	free(buf);
	return rc;
}

static void
t_chain_basic(void)
{
	struct pem_chain c;
	size_t l1, l2;
	char *d1 = slurp("leaf.der", &l1), *d2 = slurp("ca-rsa.der", &l2);

	concat("chain.pem", 1, "leaf.key", "leaf.crt");
	concat("chain.pem", 1, "chain.pem", "ca-rsa.crt");
	check_int(parse_chain(&c, LIM_PEM_CHAIN_CERTS, LIM_PEM_CHAIN_BYTES,
	              "chain.pem"),
	    2);
	check_int(c.skipped, 1);
	check_int(certs[0].data_len, l1);
	check(memcmp(certs[0].data, d1, l1) == 0);
	check_int(certs[1].data_len, l2);
	check(memcmp(certs[1].data, d2, l2) == 0);
	check(certs[1].data == certs[0].data + l1);
	check_int(c.used, l1 + l2);
	check_int(
	    parse_chain(&c, 8, sizeof(chain_mem), "leaf.key"), PEM_ERR_NO_CERT);
	check_int(
	    parse_chain(&c, 8, sizeof(chain_mem), "ed.crt"), PEM_ERR_CERT);
	check_int(
	    pem_chain_parse(&c, not_a_cert, strlen(not_a_cert)), PEM_ERR_CERT);
	check_int(c.count, 0);
	pem_chain_init(&c, NULL, 8, chain_mem, 10);
	check_int(pem_chain_parse(&c, "", 0), PEM_ERR_STATE);
	free(d1);
	free(d2);
}

/* Slots: LIM_PEM_CHAIN_CERTS certificates fit, one more not. */
static void
t_lim_chain_certs(void)
{
	struct pem_chain c;

	concat("c8.pem", LIM_PEM_CHAIN_CERTS, "leaf.crt", NULL);
	check_int(
	    parse_chain(&c, LIM_PEM_CHAIN_CERTS, LIM_PEM_CHAIN_BYTES, "c8.pem"),
	    LIM_PEM_CHAIN_CERTS);
	concat("c9.pem", LIM_PEM_CHAIN_CERTS + 1, "leaf.crt", NULL);
	check_int(
	    parse_chain(&c, LIM_PEM_CHAIN_CERTS, LIM_PEM_CHAIN_BYTES, "c9.pem"),
	    PEM_ERR_TOO_MANY);
	check_int(c.count, 0);
}

/* Bytes: exactly LIM_PEM_CHAIN_BYTES of DER fits, one byte more not. */
static void
t_lim_chain_bytes(void)
{
	struct pem_chain c;
	size_t dx, k, r;

	mk_leaf("cx.crt", 8000);
	check_int(parse_chain(&c, 8, sizeof(chain_mem), "cx.crt"), 1);
	dx = certs[0].data_len;
	k = LIM_PEM_CHAIN_BYTES / dx - 1;
	r = LIM_PEM_CHAIN_BYTES - k * dx; /* in [dx, 2 dx) */
	check(k + 1 <= LIM_PEM_CHAIN_CERTS);
	mk_leaf("cy.crt", 8000 + r - dx);
	check_int(parse_chain(&c, 8, sizeof(chain_mem), "cy.crt"), 1);
	check_int(certs[0].data_len, r);
	concat("cb.pem", (int)k, "cx.crt", "cy.crt");
	check_int(
	    parse_chain(&c, LIM_PEM_CHAIN_CERTS, LIM_PEM_CHAIN_BYTES, "cb.pem"),
	    (int)k + 1);
	check_int(c.used, LIM_PEM_CHAIN_BYTES);
	mk_leaf("cy1.crt", 8000 + r - dx + 1);
	concat("cb1.pem", (int)k, "cx.crt", "cy1.crt");
	check_int(parse_chain(
	              &c, LIM_PEM_CHAIN_CERTS, LIM_PEM_CHAIN_BYTES, "cb1.pem"),
	    PEM_ERR_NO_SPACE);
}

static void
t_strerror(void)
{
	int e;

	for (e = PEM_ERR_STATE; e <= 0; e++)
		check(strcmp(pem_strerror(e), "unknown pem error") != 0);
	check_str(pem_strerror(PEM_ERR_STATE - 1), "unknown pem error");
	check_str(pem_strerror(1), "unknown pem error");
	check_str(pem_strerror(PEM_ERR_TOO_MANY),
	    "too many certificates for the store");
}

int
main(void)
{
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	atexit(cleanup_dir);
	if (sh("cd '%s' && cat > gen.sh <<'PODIDEOF'\n%sPODIDEOF\nsh gen.sh",
	        dir, gen_script) != 0) {
		sh("cat '%s/gen.log' >&2", dir);
		fprintf(stderr, "openssl could not make the test material\n");
		return 2;
	}
	test(t_anchors_basic, "anchors: rsa and ec cas");
	test(t_anchors_bytewise, "anchors: whole, byte by byte, halves");
	test(t_anchors_guard, "anchors: against a PROT_NONE page");
	test(t_anchors_leaf_not_ca, "anchors: leaf has no CA flag");
	test(t_anchors_skip_and_reject, "anchors: skip keys, reject ed25519");
	test(t_anchors_truncated, "anchors: truncated at every byte");
	test(t_anchors_syntax, "anchors: bad base64, bad der, sticky");
	test(t_anchors_empty_and_state, "anchors: empty input, no storage");
	test(t_anchors_store_limits, "anchors: caller store at N and N+1");
	test(t_lim_anchors, "anchors: LIM_PEM_ANCHORS at N and N+1");
	test(t_lim_anchor_bytes, "anchors: LIM_PEM_ANCHOR_BYTES at N and N+1");
	test(t_lim_file_bytes, "anchors: LIM_PEM_FILE_BYTES at N and N+1");
	test(t_system_bundle, "anchors: system bundle fits");
	test(t_key_trailing_bytes, "key: bytes past the DER object refused");
	test(t_key_ec, "key: pkcs8, sec1, with parameters");
	test(t_key_rsa, "key: pkcs8 and pkcs1 rsa");
	test(t_key_errors, "key: encrypted, none, two, bad, truncated");
	test(t_key_wipe, "key: cleanup wipes");
	test(t_chain_basic, "chain: der slices, skips key");
	test(t_lim_chain_certs, "chain: LIM_PEM_CHAIN_CERTS at N and N+1");
	test(t_lim_chain_bytes, "chain: LIM_PEM_CHAIN_BYTES at N and N+1");
	test(t_strerror, "strerror names every error");
	return harness_done();
}
