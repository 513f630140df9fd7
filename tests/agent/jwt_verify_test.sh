#!/bin/sh
# The assertions podid signs, checked by an independent implementation:
# Python's cryptography verifies RS256 (PKCS#1 v1.5), PS256 (PSS, MGF1
# SHA-256, salt 32) and ES256 (raw r||s) against the test certificates, and
# the x5t / x5t#S256 thumbprints against the certificates' DER.  Needs
# $O/tests/agent/jwt_test.  Ends with "N passed, N failed".
cd "$(dirname "$0")/../.." || exit 1
O=${O:-build}
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
if ! "$O/tests/agent/jwt_test" --emit "$dir"; then
	echo "FAIL jwt_test --emit"
	echo "0 passed, 1 failed"
	exit 1
fi
python3 - "$dir" <<'PY'
import base64, hashlib, json, sys
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

d = sys.argv[1]
data = "tests/agent/data/jwt/"
passed = failed = 0


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def verify(name, crt, alg):
    global passed, failed
    tok = open("%s/%s" % (d, name)).read()
    cert = x509.load_pem_x509_certificate(open(data + crt, "rb").read())
    der = cert.public_bytes(serialization.Encoding.DER)
    h64, c64, s64 = tok.split(".")
    head, claims, sig = json.loads(b64d(h64)), json.loads(b64d(c64)), b64d(s64)
    signed = (h64 + "." + c64).encode()
    pub = cert.public_key()
    try:
        assert head["alg"] == alg and head["typ"] == "JWT", head
        if alg == "RS256":
            assert head["x5t"] == b64e(hashlib.sha1(der).digest())
            pub.verify(sig, signed, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "PS256":
            assert head["x5t#S256"] == b64e(hashlib.sha256(der).digest())
            pub.verify(sig, signed, padding.PSS(
                mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                hashes.SHA256())
        else:
            assert head["x5t#S256"] == b64e(hashlib.sha256(der).digest())
            r = int.from_bytes(sig[:32], "big")
            s = int.from_bytes(sig[32:], "big")
            pub.verify(utils.encode_dss_signature(r, s), signed,
                       ec.ECDSA(hashes.SHA256()))
        assert claims["iss"] == claims["sub"]
        assert claims["exp"] - claims["iat"] == 600
        # A flipped bit in the claims must break the signature.
        bad = (h64 + "." + b64e(b64d(c64).replace(b"t1", b"t2"))).encode()
        try:
            if alg == "PS256":
                pub.verify(sig, bad, padding.PSS(
                    mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                    hashes.SHA256())
            elif alg == "RS256":
                pub.verify(sig, bad, padding.PKCS1v15(), hashes.SHA256())
            else:
                pub.verify(utils.encode_dss_signature(r, s), bad,
                           ec.ECDSA(hashes.SHA256()))
            raise AssertionError("tampered claims verified")
        except InvalidSignature:
            pass
        passed += 1
        print("ok   %s verifies (%s)" % (alg, name))
    except (AssertionError, InvalidSignature, KeyError) as e:
        failed += 1
        print("FAIL %s: %r" % (alg, e))


verify("rs256.jwt", "rsa.crt", "RS256")
verify("ps256.jwt", "rsa.crt", "PS256")
verify("es256.jwt", "ec.crt", "ES256")
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
PY
