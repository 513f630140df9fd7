#!/usr/bin/env python3
"""Tests of the strict fake Azure AD (tests/fakes/aad.py).

Drives the fake over TLS with Python's http.client trusting the test CA:
v2 and v1 answers and their JWT-shaped tokens, every refusal with its
AADSTS code, the injected faults (429 with Retry-After, 5xx, delay, reset)
and the control API.  Ends with the line "N passed, N failed"; exits
non-zero on failure.  The fake is killed on exit and after 240 s.
"""

import base64
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse
import uuid
import hashlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
import certs  # noqa: E402

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "11111111-2222-4333-8444-555555555555"
SECRET = "s3cr~et+/=&%value"
PASSED = 0
FAILED = 0
CURRENT = ["-"]
TESTS = []
CTX = {}


def check(cond, what):
    global PASSED, FAILED
    if cond:
        PASSED += 1
    else:
        FAILED += 1
        print("FAIL %s: %s" % (CURRENT[0], what))
    return cond


def test(fn):
    TESTS.append(fn)
    return fn


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Fake:
    def __init__(self, root, cdir):
        self.dir = os.path.join(root, "aad")
        os.makedirs(self.dir)
        self.log = open(os.path.join(root, "aad.log"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "aad.py"), "--state-dir",
             self.dir, "--certs-dir", cdir, "--ip", "127.0.0.1"],
            stdout=self.log, stderr=self.log)
        for _ in range(600):  # 30 s: CA and keys made on a loaded machine
            if os.path.exists(os.path.join(self.dir, "port")):
                break
            time.sleep(0.05)
        self.port = int(open(os.path.join(self.dir, "port")).read())
        self.cport = int(open(os.path.join(self.dir, "control-port")).read())
        self.tls = ssl.create_default_context(
            cafile=os.path.join(cdir, "ca.crt"))

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def control(self, method, path, obj=None):
        c = http.client.HTTPConnection("127.0.0.1", self.cport, timeout=10)
        body = json.dumps(obj).encode() if obj is not None else None
        c.request(method, path, body=body)
        r = c.getresponse()
        data = json.loads(r.read())
        c.close()
        return r.status, data

    def post(self, path, body, ctype="application/x-www-form-urlencoded",
             method="POST"):
        c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10,
                                        context=self.tls)
        c.request(method, path, body=body,
                  headers={"Content-Type": ctype,
                           "Accept": "application/json"})
        r = c.getresponse()
        data = r.read()
        c.close()
        try:
            obj = json.loads(data)
        except ValueError:
            obj = None
        return r.status, dict(r.getheaders()), obj


def form(**kw):
    d = {"grant_type": "client_credentials", "client_id": CLIENT,
         "client_secret": SECRET, "scope": "https://vault.azure.net/.default"}
    d.update(kw)
    return urllib.parse.urlencode({k: v for k, v in d.items()
                                   if v is not None}).encode()


def v2(**kw):
    return CTX["fake"].post("/%s/oauth2/v2.0/token" % TENANT, form(**kw))


def refused(res, status, error, code):
    st, _, obj = res
    ok = check(st == status, "status %d, want %d (%r)" % (st, status, obj))
    ok = ok and check(obj is not None and obj.get("error") == error and
                      obj.get("error_codes") == [code] and
                      obj["error_description"].startswith(
                          "AADSTS%d: " % code) and
                      "\r\nTrace ID: " in obj["error_description"],
                      "body %r, want %s AADSTS%d" % (obj, error, code))
    return ok


@test
def t_v2_token():
    st, h, obj = v2()
    check(st == 200, "status %d %r" % (st, obj))
    check(h.get("Content-Type") == "application/json; charset=utf-8",
          "content type %r" % h.get("Content-Type"))
    check(obj["expires_in"] == 3599 and obj["ext_expires_in"] == 3599 and
          obj["token_type"] == "Bearer", "v2 numbers: %r" % obj)
    check(set(obj) == {"token_type", "expires_in", "ext_expires_in",
                       "access_token"}, "v2 fields %r" % sorted(obj))
    parts = obj["access_token"].split(".")
    check(len(parts) == 3, "JWT shape")
    claims = json.loads(b64d(parts[1]))
    check(claims["aud"] == "https://vault.azure.net" and
          claims["appid"] == CLIENT and claims["tid"] == TENANT and
          claims["exp"] - claims["iat"] == 3599 and
          claims["iss"] == "https://sts.windows.net/%s/" % TENANT,
          "claims %r" % claims)
    check(json.loads(b64d(parts[0]))["typ"] == "JWT", "header")
    st, state = CTX["fake"].control("GET", "/state")
    check(state["tokens_issued"] == 1 and state["token_requests"] == 1,
          "counts %r" % state)
    check(state["violations"] == [], "violations %r" % state["violations"])
    check(state["last_request"]["form"]["client_secret"] == "<%d bytes>" %
          len(SECRET), "secret never logged")
    check(SECRET not in open(os.path.join(CTX["fake"].dir,
                                          "requests.log")).read(),
          "secret not in requests.log")


@test
def t_v1_token():
    st, _, obj = CTX["fake"].post(
        "/%s/oauth2/token" % TENANT,
        form(scope=None, resource="https://management.azure.com/"))
    check(st == 200, "status %d %r" % (st, obj))
    check(obj["expires_in"] == "3599" and obj["resource"] ==
          "https://management.azure.com/" and
          int(obj["expires_on"]) - int(obj["not_before"]) == 3599,
          "v1 strings: %r" % obj)


@test
def t_refusals():
    f = CTX["fake"]
    refused(v2(client_secret="wrong"), 401, "invalid_client", 7000215)
    refused(v2(client_id="99999999-2222-4333-8444-555555555555"), 400,
            "unauthorized_client", 700016)
    refused(f.post("/00000000-0000-4000-8000-000000000000/oauth2/v2.0/token",
                   form()), 400, "invalid_request", 90002)
    refused(v2(grant_type="password"), 400, "unsupported_grant_type", 70003)
    refused(v2(grant_type=None), 400, "invalid_request", 900144)
    refused(v2(scope="https://vault.azure.net"), 400, "invalid_scope",
            1002012)
    refused(v2(scope=None), 400, "invalid_request", 900144)
    refused(v2(resource="https://vault.azure.net"), 400, "invalid_request",
            901002)
    refused(v2(extra="1"), 400, "invalid_request", 90013)
    refused(v2(client_secret=None), 400, "invalid_request", 900144)
    refused(f.post("/%s/oauth2/v2.0/token" % TENANT, form() + b"&scope=x"),
            400, "invalid_request", 90013)
    refused(f.post("/%s/oauth2/v2.0/token" % TENANT,
                   b"grant_type=client_credentials&client_id=a b"), 400,
            "invalid_request", 90013)
    refused(f.post("/%s/oauth2/v2.0/token" % TENANT, b"client_id=%zz"),
            400, "invalid_request", 90013)
    refused(f.post("/%s/oauth2/v2.0/token" % TENANT, form(),
                   ctype="application/json"), 400, "invalid_request",
            900144)
    refused(v2(client_secret=None, client_assertion_type=ASSERTION_TYPE,
               client_assertion="a.b.c"), 400, "invalid_request", 50027)
    st, _, _ = f.post("/%s/oauth2/v2.0/token" % TENANT, form(), method="PUT")
    check(st == 405, "PUT is 405, got %d" % st)
    st, _, _ = f.post("/%s/oauth2/v3/token" % TENANT, form())
    check(st == 404, "unknown path is 404, got %d" % st)
    st, state = f.control("GET", "/state")
    check(state["tokens_issued"] == 0, "nothing issued")
    check(state["counts"].get("AADSTS90013") == 4, "counts %r" %
          state["counts"])


@test
def t_faults():
    f = CTX["fake"]
    f.control("POST", "/scenario", {"fail_next_n": {
        "n": 2, "status": 429, "retry_after": 7}})
    st, h, obj = v2()
    check(st == 429 and h.get("Retry-After") == "7", "429 + Retry-After")
    st, h, obj = v2()
    check(st == 429, "second 429")
    st, _, _ = v2()
    check(st == 200, "then 200")
    f.control("POST", "/scenario", {"fail_next_n": {"n": 1, "status": 500}})
    st, h, obj = v2()
    check(st == 500 and "Retry-After" not in h, "500 without Retry-After")
    f.control("POST", "/scenario", {"delay_next_n": {"n": 1,
                                                     "seconds": 0.5}})
    t0 = time.time()
    st, _, _ = v2()
    check(st == 200 and time.time() - t0 >= 0.5, "delayed answer")
    f.control("POST", "/scenario", {"reset_next_n": 1})
    try:
        v2()
        check(False, "reset expected")
    except (ConnectionError, ssl.SSLError, http.client.HTTPException,
            OSError):
        check(True, "reset")
    st, _, _ = v2()
    check(st == 200, "after the reset")
    st, _ = f.control("POST", "/scenario", {"fail_next_n": {
        "n": 1, "status": 404}})
    check(st == 400, "404 is not an injectable status")
    st, state = f.control("GET", "/state")
    check(state["counts"].get("injected_429") == 2 and
          state["counts"].get("reset") == 1, "counts %r" % state["counts"])


@test
def t_apps():
    f = CTX["fake"]
    st, apps = f.control("GET", "/apps")
    check(apps == [{"tenant": TENANT, "client_id": CLIENT,
                    "secret_len": len(SECRET), "cert": False,
                    "federated": []}],
          "apps %r" % apps)
    st, _ = f.control("POST", "/apps", {"tenant": TENANT,
                                        "client_id": CLIENT})
    check(st == 400, "an app needs a secret, a cert or federated")
    st, _ = f.control("POST", "/apps", {"tenant": TENANT,
                                        "client_id": CLIENT,
                                        "cert": "not a PEM"})
    check(st == 400, "a cert must be a PEM certificate")
    f.control("POST", "/apps", {"tenant": TENANT, "client_id": CLIENT,
                                "secret": "rotated"})
    refused(v2(), 401, "invalid_client", 7000215)
    st, _, _ = v2(client_secret="rotated")
    check(st == 200, "rotated secret accepted")
    f.control("DELETE", "/apps")
    refused(v2(), 400, "invalid_request", 90002)


# ---- assertions: certificates and federated tokens --------------------

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DATA = os.path.join(HERE, "..", "agent", "data", "jwt")
ISSUER = "https://kube.test"
SUBJECT = "system:serviceaccount:team-a:app-sa"
FED_AUD = "api://AzureADTokenExchange"


def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def pem(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


def sign(alg, keypem, head, claims):
    """A compact JWT of head and claims signed with alg by keypem."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from cryptography.hazmat.primitives.asymmetric.utils import \
        decode_dss_signature
    from cryptography.hazmat.primitives.serialization import \
        load_pem_private_key
    key = load_pem_private_key(keypem, None)
    data = (b64e(json.dumps(dict(head, alg=alg)).encode()) + "." +
            b64e(json.dumps(claims).encode())).encode()
    if alg == "RS256":
        sig = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "PS256":
        sig = key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                         salt_length=32), hashes.SHA256())
    else:
        r, s_ = decode_dss_signature(key.sign(data, ec.ECDSA(
            hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s_.to_bytes(32, "big")
    return data.decode() + "." + b64e(sig)


def thumbs(certpem):
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    der = x509.load_pem_x509_certificate(certpem).public_bytes(Encoding.DER)
    return {"x5t": b64e(hashlib.sha1(der).digest()),
            "x5t#S256": b64e(hashlib.sha256(der).digest())}


def token_url(v1=False):
    return "https://127.0.0.1:%d/%s/oauth2/%stoken" % (
        CTX["fake"].port, TENANT, "" if v1 else "v2.0/")


def cert_assertion(alg="RS256", kind="rsa", **over):
    """A certificate assertion as podid signs it; over replaces claims
    (None deletes) and "head" the header."""
    now = int(time.time())
    claims = {"aud": token_url(), "iss": CLIENT, "sub": CLIENT,
              "jti": str(uuid.uuid4()), "nbf": now, "iat": now,
              "exp": now + 600}
    t = thumbs(pem(kind + ".crt"))
    head = {"typ": "JWT"}
    head.update({"x5t": t["x5t"]} if alg == "RS256" else
                {"x5t#S256": t["x5t#S256"]})
    head.update(over.pop("head", {}))
    for k, v in over.items():
        if v is None:
            claims.pop(k, None)
        else:
            claims[k] = v
    return sign(alg, pem(kind + ".key"), head, claims)


def assert_v2(assertion, v1=False):
    if v1:
        return CTX["fake"].post("/%s/oauth2/token" % TENANT, form(
            client_secret=None, scope=None, resource="https://x.test/",
            client_assertion_type=ASSERTION_TYPE,
            client_assertion=assertion))
    return v2(client_secret=None, client_assertion_type=ASSERTION_TYPE,
              client_assertion=assertion)


def register_cert(kind="rsa"):
    CTX["fake"].control("POST", "/apps", {
        "tenant": TENANT, "client_id": CLIENT,
        "cert": pem(kind + ".crt").decode()})


@test
def t_cert_tokens():
    register_cert("rsa")
    for alg in ("RS256", "PS256"):
        st, _, obj = assert_v2(cert_assertion(alg))
        check(st == 200 and "access_token" in obj, "%s: %d %r" %
              (alg, st, obj))
    st, _, obj = assert_v2(cert_assertion(aud=token_url(True)), v1=True)
    check(st == 200, "v1 URL as aud: %d %r" % (st, obj))
    register_cert("ec")
    st, _, obj = assert_v2(cert_assertion("ES256", "ec"))
    check(st == 200, "ES256: %d %r" % (st, obj))
    st, state = CTX["fake"].control("GET", "/state")
    check(state["tokens_issued"] == 4 and
          state["last_request"]["assertion"] == "certificate" and
          state["last_request"]["form"]["client_assertion"].endswith(
              "bytes>"), "state %r" % state["last_request"])


@test
def t_cert_refusals():
    register_cert("rsa")
    good = cert_assertion()
    bad_sig = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    refused(assert_v2(bad_sig), 401, "invalid_client", 700027)
    refused(assert_v2(cert_assertion(head={"x5t": b64e(b"x" * 20)})), 401,
            "invalid_client", 700027)
    # The EC certificate's key, the RSA certificate registered.
    refused(assert_v2(cert_assertion("ES256", "ec")), 401, "invalid_client",
            700027)
    # RS256 with only x5t#S256; PS256 with only x5t.
    t = thumbs(pem("rsa.crt"))
    refused(assert_v2(cert_assertion(head={"x5t": None, "x5t#S256":
                                           t["x5t#S256"]})), 401,
            "invalid_client", 700027)
    refused(assert_v2(cert_assertion(aud="https://login.microsoftonline.com"
                                     "/%s/oauth2/v2.0/token" % TENANT)),
            400, "invalid_client", 50013)
    refused(assert_v2(cert_assertion(aud=token_url(True))), 400,
            "invalid_client", 50013)
    now = int(time.time())
    refused(assert_v2(cert_assertion(exp=now - 1)), 400, "invalid_client",
            700024)
    refused(assert_v2(cert_assertion(exp=now + 7200)), 400,
            "invalid_client", 700024)
    refused(assert_v2(cert_assertion(nbf=now + 3600)), 400,
            "invalid_client", 700024)
    refused(assert_v2(cert_assertion(sub="someone-else")), 400,
            "invalid_client", 700021)
    refused(assert_v2(cert_assertion(jti=None)), 400, "invalid_request",
            50027)
    refused(assert_v2(cert_assertion(head={"typ": None})), 400,
            "invalid_request", 50027)
    refused(assert_v2(good.replace(".", "!", 1)), 400, "invalid_request",
            50027)
    st, _, _ = assert_v2(good)
    check(st == 200, "the good one first: %d" % st)
    refused(assert_v2(good), 400, "invalid_client", 700230)
    # Without a registered certificate, even a good assertion fails.
    CTX["fake"].control("POST", "/apps", {"tenant": TENANT,
                                          "client_id": CLIENT,
                                          "secret": SECRET})
    refused(assert_v2(cert_assertion()), 401, "invalid_client", 700027)
    st, state = CTX["fake"].control("GET", "/state")
    check(state["tokens_issued"] == 1, "one issued: %r" % state["counts"])


def fed_setup():
    """An issuer key (PEM files) and an app trusting team-a/app-sa."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    if "fed_key" not in CTX:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        CTX["fed_key"] = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        CTX["fed_pub"] = os.path.join(CTX["root"], "sa-signing.pub")
        with open(CTX["fed_pub"], "wb") as f:
            f.write(key.public_key().public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo))
    CTX["fake"].control("POST", "/apps", {
        "tenant": TENANT, "client_id": CLIENT, "federated": [{
            "issuer": ISSUER, "subject": SUBJECT, "audiences": [FED_AUD],
            "key_file": CTX["fed_pub"]}]})


def sa_token(key=None, **over):
    now = int(time.time())
    claims = {"aud": [FED_AUD], "iss": ISSUER, "sub": SUBJECT,
              "exp": now + 3600, "iat": now, "nbf": now,
              "jti": str(uuid.uuid4())}
    claims.update(over)
    return sign("RS256", key or CTX["fed_key"], {"kid": "k"}, claims)


@test
def t_federated():
    fed_setup()
    tok = sa_token()
    st, _, obj = assert_v2(tok)
    check(st == 200, "federated: %d %r" % (st, obj))
    st, _, obj = assert_v2(tok)
    check(st == 200, "a service-account token may be used again")
    st, state = CTX["fake"].control("GET", "/state")
    check(state["last_request"]["assertion"] == "federated", "kind")
    refused(assert_v2(sa_token(sub="system:serviceaccount:team-a:other")),
            400, "invalid_grant", 70021)
    refused(assert_v2(sa_token(iss="https://other.test")), 400,
            "invalid_grant", 70021)
    refused(assert_v2(sa_token(aud=["https://kubernetes.default.svc"])),
            400, "invalid_grant", 70021)
    refused(assert_v2(sa_token(key=pem("rsa.key"))), 401, "invalid_client",
            700027)
    refused(assert_v2(sa_token(exp=int(time.time()) - 10)), 400,
            "invalid_client", 700024)
    st, state = CTX["fake"].control("GET", "/state")
    check(state["tokens_issued"] == 2, "two issued: %r" % state["counts"])


def main():
    signal.signal(signal.SIGALRM, lambda *a: sys.exit("timeout"))
    # A watchdog for hangs, not a time limit: 33 s were measured on a
    # loaded machine (15 s idle), and `make sanitize` runs on slower ones.
    signal.alarm(240)
    root = tempfile.mkdtemp(prefix="aad-test-")
    fake = None
    try:
        cdir = os.path.join(root, "certs")
        certs.make(cdir, ips=["127.0.0.1"], dns=["localhost"])
        CTX["root"] = root
        fake = CTX["fake"] = Fake(root, cdir)
        for fn in TESTS:
            CURRENT[0] = fn.__name__
            before = FAILED
            try:
                fake.control("DELETE", "/state")
                fake.control("POST", "/scenario", {"reset": True})
                fake.control("DELETE", "/apps")
                fake.control("POST", "/apps", {"tenant": TENANT,
                                               "client_id": CLIENT,
                                               "secret": SECRET})
                fn()
            except Exception:
                check(False, "exception:\n" + traceback.format_exc())
            print("%s %s" % ("ok  " if FAILED == before else "FAIL",
                             fn.__name__))
        st, state = fake.control("GET", "/state")
    except BaseException as e:
        check(False, "setup: %r" % e)
        traceback.print_exc()
    finally:
        signal.alarm(0)
        if fake is not None:
            fake.kill()
            if FAILED:
                print(open(fake.log.name).read()[-3000:])
        shutil.rmtree(root, ignore_errors=True)
    print("%d passed, %d failed" % (PASSED, FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
