#!/usr/bin/env python3
"""Strict fake Azure AD (Entra ID) token endpoint for podid's tests (stdlib).

    python3 tests/fakes/aad.py --state-dir D [--listen ADDR:PORT]
        [--cert server.crt --key server.key | --certs-dir C [--ip IP ...]]
        [--control-listen H:P] [--apps FILE] [--token-lifetime S]

It serves HTTPS (TLS from tests/fakes/certs.py: --cert/--key, or --certs-dir
to make them there with the --ip and --dns subjectAltNames, default
127.0.0.1 and localhost) on
--listen (default 127.0.0.1:0) and a plain-HTTP control API on
--control-listen (default 127.0.0.1:0).  It writes D/control-port, then
D/port (each atomically, the control one first), then serves until killed.
D also receives requests.log (one JSON line per token request, the secret
never in it).  Protocol reference: section 4 of
/work/shared/reference/imds-azure-kubernetes.md.

Apps (--apps FILE, or POST /apps): a list of
    {"tenant": T, "client_id": C, "secret": S, "cert": PEM,
     "federated": [{"issuer": URL, "subject": "system:serviceaccount:NS:SA",
                    "audiences": [A, ...], "key_file": PEM-public-key path}]}
with at least one of secret, cert (the certificate's PEM text) or federated
(key_file: the issuer's signing key, e.g. the fake API server's
STATE/sa-signing.pub, read at each request).
Tenants exist when an app names them.  Strict, like Azure AD:

POST /{tenant}/oauth2/v2.0/token (v2) or /{tenant}/oauth2/token (v1), else
404 (path) or 405 (method); checked in this order, each failure an Azure AD
error body {"error", "error_description": "AADSTSn: text\\r\\nTrace ID: ...
\\r\\nCorrelation ID: ...\\r\\nTimestamp: ...", "error_codes": [n],
"timestamp", "trace_id", "correlation_id", "error_uri"}:
  - Content-Type other than application/x-www-form-urlencoded (a charset
    parameter allowed): 400 invalid_request AADSTS900144 ('grant_type'
    missing, as Azure AD says for a body it cannot read).
  - a body that is not strict form encoding (a bad %-escape, a raw
    character outside unreserved and "+", non-UTF-8), an empty field name
    or a duplicate field: 400 invalid_request AADSTS90013 (fake's choice).
  - unknown fields (anything but grant_type, client_id, client_secret,
    client_assertion_type, client_assertion, scope (v2), resource (v1)):
    400 invalid_request AADSTS90013; resource on v2: AADSTS901002.
  - grant_type missing: AADSTS900144; not client_credentials: 400
    unsupported_grant_type AADSTS70003.
  - tenant unknown: 400 invalid_request AADSTS90002.
  - client_id missing: AADSTS900144; unknown in the tenant: 400
    unauthorized_client AADSTS700016.
  - v2 scope missing (AADSTS900144) or not one value ending "/.default":
    400 invalid_scope AADSTS1002012; v1 resource missing: AADSTS900144.
  - credential: exactly one of client_secret or client_assertion_type +
    client_assertion (else AADSTS900144).  A secret other than the app's
    (or an app without one): 401 invalid_client AADSTS7000215.  An
    assertion (verify_assertion) is a certificate assertion when its iss is
    the client_id, else a federated token.  Refusals, in this order:
      malformed (three base64url JSON parts, header and claims objects,
      string iss/sub, integer exp/nbf, aud a string or list): 400
      invalid_request AADSTS50027;
    certificate: typ "JWT" (AADSTS50027); alg RS256 with x5t = SHA-1 of
      the registered certificate's DER, or PS256 (PSS, MGF1-SHA-256, salt
      32) / ES256 (raw r||s) with x5t#S256 = its SHA-256, and the
      signature by its key, else (or no certificate registered) 401
      invalid_client AADSTS700027; sub != iss: AADSTS700021; aud other than
      the exact token URL called (https://HOST:PORT/TENANT/oauth2/...):
      400 invalid_client AADSTS50013 (fake's choice); exp past or more than
      1 h + 5 min ahead, nbf (else iat) absent or more than 5 min
      ahead: AADSTS700024; no jti, or a jti seen before (per app): AADSTS700230
      (fake's choice, "replayed");
    federated: no registered credential with the token's iss: 400
      invalid_grant AADSTS70021; alg not RS256 or a bad signature by the
      issuer's key: 401 invalid_client AADSTS700027; exp/nbf as above:
      AADSTS700024; no credential with that iss whose subject is sub and
      one of whose audiences is in aud: AADSTS70021.
Then the scenario (delay, reset, injected status) and a token: 200
application/json; charset=utf-8 with an access token shaped as a JWT
(header.payload.signature, base64url; claims aud, iss, iat, nbf, exp,
appid, tid, oid, sub, ver, uti, xms_fake_serial), v2:
    {"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,
     "access_token":...}                              (numbers)
v1: the same plus "expires_on", "not_before", "resource", all strings.

Control API (plain HTTP, JSON in and out):
POST /apps      register apps (a list or one object; replaces the same
                tenant + client_id) -> the apps (secrets shown as lengths)
GET /apps, DELETE /apps
POST /scenario  {"fail_next_n": {"n": N, "status": 429|500|502|503|504,
                 "retry_after": S}, "delay_next_n": {"n": N, "seconds": S},
                 "reset_next_n": N, "token_lifetime_s": S}; {"reset": true}
                first restores the defaults.  Injected faults apply to
                valid requests only (after every check), in the order
                delay, reset, fail.
GET /state      {"token_requests" (every request on a token path),
                 "tokens_issued", "counts": {by outcome}, "last_request",
                 "recent_requests" (last 50), "scenario", "violations"}
DELETE /state   clears the counters, the logs and the violations
Violations (transport things podid must never do, served anyway): HTTP/1.0,
no Host, a Host other than the listen address, chunked or no
Content-Length, no Accept: application/json.
"""

import argparse
import base64
import hashlib
import http.server
import json
import os
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import certs  # noqa: E402

FORM_TYPE = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json; charset=utf-8"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_BODY = 1 << 20
DEFAULT_LIFETIME_S = 3599
FAIL_STATUSES = {429, 500, 502, 503, 504}
COMMON_FIELDS = {"grant_type", "client_id", "client_secret",
                 "client_assertion_type", "client_assertion"}
UNRESERVED = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                 b"0123456789-._~+")
MESSAGES = {
    900144: "The request body must contain the following parameter: '%s'.",
    90013: "Invalid input received from the user: %s.",
    901002: "The 'resource' request parameter is not supported.",
    70003: "The app requested an unsupported grant type '%s'.",
    90002: "Tenant '%s' not found. Check to make sure you have the correct "
           "tenant ID and are signing into the correct cloud.",
    700016: "Application with identifier '%s' was not found in the "
            "directory '%s'.",
    1002012: "The provided value for scope %s is not valid. Client "
             "credential flows must have a scope value with /.default "
             "suffixed to the resource identifier (application ID URI).",
    7000215: "Invalid client secret provided. Ensure the secret being sent "
             "in the request is the client secret value, not the client "
             "secret ID, for a secret added to app '%s'.",
    700027: "Client assertion failed signature validation. [Reason - %s]",
    50027: "JWT token is invalid or is malformed: %s.",
    700021: "Client assertion application identifier doesn't match "
            "'client_id' parameter.",
    50013: "Assertion failed signature validation. [Reason - The "
           "assertion audience '%s' is not the token endpoint '%s'.]",
    700024: "Client assertion is not within its valid time range: %s.",
    700230: "Client assertion identifier (jti) '%s' was already used "
            "(fake's code for a replayed assertion).",
    70021: "No matching federated identity record found for presented "
           "assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'. "
           "Assertion Audience: '%s'.",
}
SKEW_S = 300


class AadError(Exception):
    def __init__(self, status, error, code, *args):
        super().__init__(error)
        self.status, self.error, self.code = status, error, code
        self.text = "AADSTS%d: %s" % (code, MESSAGES[code] % args
                                      if args else MESSAGES[code])


class Reset(Exception):
    """The scenario asked for a TCP reset instead of an answer."""


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def strict_form(body):
    """Parse strict application/x-www-form-urlencoded into a dict."""
    fields = {}
    if not body:
        return fields
    for part in body.split(b"&"):
        if b"=" not in part:
            raise AadError(400, "invalid_request", 90013,
                           "a field without '='")
        raw_name, raw_val = part.split(b"=", 1)
        for raw in (raw_name, raw_val):
            i = 0
            while i < len(raw):
                c = raw[i]
                if c == 0x25:  # '%'
                    h = raw[i + 1:i + 3]
                    if len(h) != 2 or not all(
                            x in b"0123456789abcdefABCDEF" for x in h):
                        raise AadError(400, "invalid_request", 90013,
                                       "a malformed percent-escape")
                    i += 3
                    continue
                if c not in UNRESERVED:
                    raise AadError(400, "invalid_request", 90013,
                                   "an unencoded character 0x%02x" % c)
                i += 1
        try:
            name = urllib.parse.unquote_plus(raw_name.decode(),
                                             errors="strict")
            val = urllib.parse.unquote_plus(raw_val.decode(),
                                            errors="strict")
        except UnicodeDecodeError:
            raise AadError(400, "invalid_request", 90013, "non-UTF-8 input")
        if not name:
            raise AadError(400, "invalid_request", 90013, "an empty name")
        if name in fields:
            raise AadError(400, "invalid_request", 90013,
                           "duplicate field '%s'" % name)
        fields[name] = val
    return fields


def malformed(why):
    return AadError(400, "invalid_request", 50027, why)


def b64d(part):
    if not part or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                       "qrstuvwxyz0123456789-_" for c in part):
        raise malformed("a part is not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except ValueError:
        raise malformed("a part is not base64url")


def jwt_parts(token):
    """(header, claims, signing input, signature) of a compact JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        raise malformed("not three parts")
    try:
        head = json.loads(b64d(parts[0]))
        claims = json.loads(b64d(parts[1]))
    except (ValueError, UnicodeDecodeError):
        raise malformed("a part is not JSON")
    if not isinstance(head, dict) or not isinstance(claims, dict):
        raise malformed("a part is not a JSON object")
    for k in ("iss", "sub"):
        if not isinstance(claims.get(k), str):
            raise malformed("no string %s" % k)
    for k in ("exp", "nbf"):
        if k in claims and (not isinstance(claims[k], int) or
                            isinstance(claims[k], bool)):
            raise malformed("%s is not an integer" % k)
    aud = claims.get("aud")
    if not (isinstance(aud, str) or (isinstance(aud, list) and aud and all(
            isinstance(x, str) for x in aud))):
        raise malformed("aud is not a string or a list of strings")
    return head, claims, (parts[0] + "." + parts[1]).encode(), b64d(parts[2])


def verify_sig(pub, alg, data, sig):
    """True when sig is alg's signature of data by public key pub."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import \
        encode_dss_signature
    try:
        if alg == "RS256" and isinstance(pub, rsa.RSAPublicKey):
            pub.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "PS256" and isinstance(pub, rsa.RSAPublicKey):
            pub.verify(sig, data, padding.PSS(
                mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                hashes.SHA256())
        elif alg == "ES256" and isinstance(pub, ec.EllipticCurvePublicKey) \
                and pub.curve.name == "secp256r1" and len(sig) == 64:
            der = encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                       int.from_bytes(sig[32:], "big"))
            pub.verify(der, data, ec.ECDSA(hashes.SHA256()))
        else:
            return False
        return True
    except InvalidSignature:
        return False


def check_times(claims, now):
    exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat"))
    if exp is None or exp <= now:
        raise AadError(400, "invalid_client", 700024, "expired")
    if exp > now + 3600 + SKEW_S:
        raise AadError(400, "invalid_client", 700024, "exp too far ahead")
    if nbf is None or nbf > now + SKEW_S:
        raise AadError(400, "invalid_client", 700024, "not yet valid")


def verify_certificate(fake, app, head, claims, data, sig, audience):
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    if head.get("typ") != "JWT":
        raise malformed("typ is not JWT")
    if not app.get("cert"):
        raise AadError(401, "invalid_client", 700027,
                       "no certificate registered for the app")
    cert = x509.load_pem_x509_certificate(app["cert"].encode())
    der = cert.public_bytes(Encoding.DER)
    alg = head.get("alg")
    if alg == "RS256":
        ok = head.get("x5t") == b64url(hashlib.sha1(der).digest())
    elif alg in ("PS256", "ES256"):
        ok = head.get("x5t#S256") == b64url(hashlib.sha256(der).digest())
    else:
        raise AadError(401, "invalid_client", 700027, "alg %s" % alg)
    if not ok:
        raise AadError(401, "invalid_client", 700027,
                       "The key was not found (thumbprint)")
    if not verify_sig(cert.public_key(), alg, data, sig):
        raise AadError(401, "invalid_client", 700027, "bad signature")
    if claims["sub"] != claims["iss"]:
        raise AadError(400, "invalid_client", 700021)
    if claims["aud"] != audience:
        raise AadError(400, "invalid_client", 50013, claims["aud"],
                       audience)
    check_times(claims, int(time.time()))
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise malformed("no jti")
    with fake.lock:
        seen = fake.jtis.setdefault(app["client_id"].lower(), set())
        if jti in seen:
            raise AadError(400, "invalid_client", 700230, jti)
        seen.add(jti)


def verify_federated(app, head, claims, data, sig):
    from cryptography.hazmat.primitives.serialization import \
        load_pem_public_key
    aud = claims["aud"] if isinstance(claims["aud"], list) else \
        [claims["aud"]]
    nomatch = AadError(400, "invalid_grant", 70021, claims["iss"],
                       claims["sub"], ",".join(aud))
    creds = [c for c in app.get("federated", [])
             if c["issuer"] == claims["iss"]]
    if not creds:
        raise nomatch
    with open(creds[0]["key_file"], "rb") as f:
        pub = load_pem_public_key(f.read())
    if head.get("alg") != "RS256" or not verify_sig(pub, "RS256", data, sig):
        raise AadError(401, "invalid_client", 700027,
                       "bad signature by the issuer's key")
    check_times(claims, int(time.time()))
    for c in creds:
        if c["subject"] == claims["sub"] and set(c["audiences"]) & set(aud):
            return
    raise nomatch


def verify_assertion(fake, app, form, audience):
    """Certificate and federated credentials: verify the client_assertion
    JWT (see the docstring at the top).  Returns the kind or raises."""
    head, claims, data, sig = jwt_parts(form["client_assertion"])
    if claims["iss"].lower() == app["client_id"].lower():
        verify_certificate(fake, app, head, claims, data, sig, audience)
        return "certificate"
    verify_federated(app, head, claims, data, sig)
    return "federated"


class Fake:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.state_dir = args.state_dir
        self.default_lifetime = args.token_lifetime
        self.apps = {}
        self.serial = 0
        self.jtis = {}
        self.scenario = self.default_scenario()
        self.reset_state()
        if args.apps:
            with open(args.apps) as f:
                self.add_apps(json.load(f))

    def default_scenario(self):
        return {"fail_next_n": {"n": 0, "status": 503, "retry_after": None},
                "delay_next_n": {"n": 0, "seconds": 0},
                "reset_next_n": 0,
                "token_lifetime_s": self.default_lifetime}

    def reset_state(self):
        with self.lock:
            self.counts = {}
            self.token_requests = 0
            self.tokens_issued = 0
            self.last_request = None
            self.recent = []
            self.violations = []
        open(os.path.join(self.state_dir, "requests.log"), "w").close()

    def count(self, name):
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1

    def violation(self, msg):
        with self.lock:
            self.violations.append(msg)

    def add_apps(self, doc):
        apps = doc if isinstance(doc, list) else [doc]
        for a in apps:
            if not isinstance(a, dict) or set(a) - {
                    "tenant", "client_id", "secret", "cert", "federated"}:
                raise ValueError("an app is {tenant, client_id, secret, "
                                 "cert, federated}")
            if not a.get("tenant") or not a.get("client_id") or not (
                    "secret" in a or "cert" in a or "federated" in a):
                raise ValueError("an app needs tenant, client_id and one of "
                                 "secret, cert or federated")
            if "cert" in a:
                from cryptography import x509
                x509.load_pem_x509_certificate(a["cert"].encode())
            for c in a.get("federated", []):
                if not isinstance(c, dict) or set(c) != {
                        "issuer", "subject", "audiences", "key_file"} or \
                        not isinstance(c["audiences"], list):
                    raise ValueError("a federated credential is {issuer, "
                                     "subject, audiences, key_file}")
        with self.lock:
            for a in apps:
                self.apps[(a["tenant"].lower(), a["client_id"].lower())] = \
                    dict(a)
        return self.apps_doc()

    def apps_doc(self):
        with self.lock:
            return [{"tenant": a["tenant"], "client_id": a["client_id"],
                     "secret_len": len(a.get("secret", "")),
                     "cert": "cert" in a,
                     "federated": a.get("federated", [])}
                    for a in self.apps.values()]

    def clear_apps(self):
        with self.lock:
            self.apps = {}

    def tenant_known(self, tenant):
        with self.lock:
            return any(t == tenant.lower() for t, _ in self.apps)

    def app(self, tenant, client_id):
        with self.lock:
            return self.apps.get((tenant.lower(), client_id.lower()))

    def scenario_set(self, changes):
        with self.lock:
            if changes.pop("reset", False):
                self.scenario = self.default_scenario()
            for k, v in changes.items():
                if k not in self.scenario:
                    raise ValueError("unknown scenario key %s" % k)
                if k == "fail_next_n":
                    if v.get("status") not in FAIL_STATUSES:
                        raise ValueError("status must be one of %s" %
                                         sorted(FAIL_STATUSES))
                    v = {"n": int(v.get("n", 1)), "status": v["status"],
                         "retry_after": v.get("retry_after")}
                elif k == "delay_next_n":
                    v = {"n": int(v.get("n", 1)),
                         "seconds": float(v.get("seconds", 0))}
                else:
                    v = int(v)
                self.scenario[k] = v
            return json.loads(json.dumps(self.scenario))

    def take_hooks(self):
        """The faults for one valid request: (delay_s, reset, fail)."""
        with self.lock:
            s = self.scenario
            delay = reset = fail = None
            if s["delay_next_n"]["n"] > 0:
                s["delay_next_n"]["n"] -= 1
                delay = s["delay_next_n"]["seconds"]
            if s["reset_next_n"] > 0:
                s["reset_next_n"] -= 1
                reset = True
            elif s["fail_next_n"]["n"] > 0:
                s["fail_next_n"]["n"] -= 1
                fail = dict(s["fail_next_n"])
            return delay, reset, fail, s["token_lifetime_s"]

    def note(self, entry, outcome):
        entry["outcome"] = outcome
        with self.lock:
            self.counts[outcome] = self.counts.get(outcome, 0) + 1
            self.last_request = entry
            self.recent = (self.recent + [entry])[-50:]
            with open(os.path.join(self.state_dir, "requests.log"),
                      "a") as f:
                f.write(json.dumps(entry) + "\n")

    def issue(self, tenant, client_id, resource, v1, lifetime):
        with self.lock:
            self.serial += 1
            self.tokens_issued += 1
            serial = self.serial
        now = int(time.time())
        head = {"typ": "JWT", "alg": "RS256", "x5t": "fake-aad-x5t",
                "kid": "fake-aad-kid"}
        claims = {"aud": resource, "iss": "https://sts.windows.net/%s/" %
                  tenant, "iat": now, "nbf": now, "exp": now + lifetime,
                  "appid": client_id, "tid": tenant, "oid": str(
                      uuid.uuid5(uuid.NAMESPACE_URL, tenant + client_id)),
                  "sub": client_id, "ver": "1.0" if v1 else "2.0",
                  "uti": b64url(os.urandom(16)), "xms_fake_serial": serial}
        token = ".".join((b64url(json.dumps(head).encode()),
                          b64url(json.dumps(claims).encode()),
                          b64url(os.urandom(256))))
        if not v1:
            return {"token_type": "Bearer", "expires_in": lifetime,
                    "ext_expires_in": lifetime, "access_token": token}
        return {"token_type": "Bearer", "expires_in": str(lifetime),
                "ext_expires_in": str(lifetime),
                "expires_on": str(now + lifetime), "not_before": str(now),
                "resource": resource, "access_token": token}

    def state(self):
        with self.lock:
            return {"token_requests": self.token_requests,
                    "tokens_issued": self.tokens_issued,
                    "counts": dict(self.counts),
                    "last_request": self.last_request,
                    "recent_requests": list(self.recent),
                    "scenario": json.loads(json.dumps(self.scenario)),
                    "violations": list(self.violations)}


def error_body(e):
    trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
    ts = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    return {"error": e.error,
            "error_description": "%s\r\nTrace ID: %s\r\nCorrelation ID: %s"
                                 "\r\nTimestamp: %s" % (e.text, trace, corr,
                                                        ts),
            "error_codes": [e.code], "timestamp": ts, "trace_id": trace,
            "correlation_id": corr,
            "error_uri": "https://login.microsoftonline.com/error?code=%d" %
                         e.code}


class AadHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def version_string(self):
        return "Microsoft-IIS/10.0"

    @property
    def fake(self):
        return self.server.fake

    def send_json(self, code, obj, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store, no-cache")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def transport_checks(self):
        if self.request_version != "HTTP/1.1":
            self.fake.violation("%s request" % self.request_version)
        host = self.headers.get("Host")
        if host is None:
            self.fake.violation("no Host header")
        elif host != self.server.hostport and not host.endswith(
                ":%d" % self.server.server_port):
            self.fake.violation("Host %r, listening on %s" %
                                (host, self.server.hostport))
        if self.headers.get("Transfer-Encoding"):
            self.fake.violation("chunked request")
        if self.headers.get("Accept") != "application/json":
            self.fake.violation("Accept is %r, not application/json" %
                                self.headers.get("Accept"))

    def read_body(self):
        n = self.headers.get("Content-Length")
        if n is None or not n.isdigit() or int(n) > MAX_BODY:
            self.fake.violation("Content-Length %r" % n)
            self.close_connection = True
            return b""
        return self.rfile.read(int(n))

    def route(self):
        """(tenant, v1) for a token path, else None."""
        parts = urllib.parse.urlsplit(self.path).path.split("/")
        if len(parts) == 4 and parts[0] == "" and parts[2:] == [
                "oauth2", "token"] and parts[1]:
            return urllib.parse.unquote(parts[1]), True
        if len(parts) == 5 and parts[0] == "" and parts[2:] == [
                "oauth2", "v2.0", "token"] and parts[1]:
            return urllib.parse.unquote(parts[1]), False
        return None

    def do_GET(self):
        self.transport_checks()
        body = self.read_body() if self.command != "GET" else b""
        r = self.route()
        if r is None:
            self.send_json(404, {"error": "not_found"})
            return
        with self.fake.lock:
            self.fake.token_requests += 1
        entry = {"method": self.command, "path": self.path,
                 "headers": [[k, v] for k, v in self.headers.items()],
                 "v1": r[1], "tenant": r[0], "t": time.time()}
        if self.command != "POST":
            self.fake.note(entry, "method")
            self.send_json(405, {"error": "method_not_allowed"},
                           [("Allow", "POST")])
            return
        try:
            self.token(entry, r[0], r[1], body)
        except AadError as e:
            self.fake.note(entry, "AADSTS%d" % e.code)
            self.send_json(e.status, error_body(e))
        except Reset:
            self.fake.note(entry, "reset")
            self.reset_connection()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def check_form(self, form, v1):
        allowed = COMMON_FIELDS | ({"resource"} if v1 else {"scope"})
        if not v1 and "resource" in form:
            raise AadError(400, "invalid_request", 901002)
        for k in form:
            if k not in allowed:
                raise AadError(400, "invalid_request", 90013,
                               "unknown field '%s'" % k)
        if "grant_type" not in form:
            raise AadError(400, "invalid_request", 900144, "grant_type")
        if form["grant_type"] != "client_credentials":
            raise AadError(400, "unsupported_grant_type", 70003,
                           form["grant_type"])

    def target(self, form, v1):
        if v1:
            if not form.get("resource"):
                raise AadError(400, "invalid_request", 900144, "resource")
            return form["resource"]
        scope = form.get("scope")
        if not scope:
            raise AadError(400, "invalid_request", 900144, "scope")
        if " " in scope or not scope.endswith("/.default") or \
                scope == "/.default":
            raise AadError(400, "invalid_scope", 1002012, scope)
        return scope[:-len("/.default")]

    def credential(self, app, form, tenant, v1, entry):
        has_secret = "client_secret" in form
        has_assertion = "client_assertion" in form or \
            "client_assertion_type" in form
        if has_secret == has_assertion:
            raise AadError(400, "invalid_request", 900144,
                           "client_assertion' or 'client_secret")
        if has_assertion:
            if form.get("client_assertion_type") != ASSERTION_TYPE or \
                    not form.get("client_assertion"):
                raise AadError(400, "invalid_request", 900144,
                               "client_assertion_type")
            # The URL as the client called it: its Host and path.
            url = "https://%s%s" % (self.headers.get("Host") or
                                    self.server.hostport,
                                    urllib.parse.urlsplit(self.path).path)
            entry["assertion"] = verify_assertion(self.fake, app, form, url)
            return
        if app.get("secret") is None or form["client_secret"] != \
                app["secret"]:
            raise AadError(401, "invalid_client", 7000215, app["client_id"])

    def token(self, entry, tenant, v1, body):
        ctype = (self.headers.get("Content-Type") or "").split(";")
        if ctype[0].strip().lower() != FORM_TYPE or any(
                p.strip().lower() not in ("charset=utf-8", "")
                for p in ctype[1:]):
            raise AadError(400, "invalid_request", 900144, "grant_type")
        form = strict_form(body)
        entry["form"] = {k: ("<%d bytes>" % len(v) if k in (
            "client_secret", "client_assertion") else v)
            for k, v in form.items()}
        self.check_form(form, v1)
        if not self.fake.tenant_known(tenant):
            raise AadError(400, "invalid_request", 90002, tenant)
        if not form.get("client_id"):
            raise AadError(400, "invalid_request", 900144, "client_id")
        app = self.fake.app(tenant, form["client_id"])
        if app is None:
            raise AadError(400, "unauthorized_client", 700016,
                           form["client_id"], tenant)
        resource = self.target(form, v1)
        self.credential(app, form, tenant, v1, entry)
        delay, reset, fail, lifetime = self.fake.take_hooks()
        if delay:
            time.sleep(delay)
        if reset:
            raise Reset()
        if fail:
            self.fake.note(entry, "injected_%d" % fail["status"])
            hdrs = [("Retry-After", str(fail["retry_after"]))] \
                if fail["retry_after"] is not None else []
            err = "temporarily_unavailable" if fail["status"] != 500 \
                else "server_error"
            self.send_json(fail["status"], {"error": err,
                                            "error_description":
                                            "injected by the fake"}, hdrs)
            return
        ans = self.fake.issue(tenant, app["client_id"], resource, v1,
                              lifetime)
        self.fake.note(entry, "issued")
        self.send_json(200, ans)

    def reset_connection(self):
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True
        try:
            self.connection.close()
        except OSError:
            pass


class ControlHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, obj):
        body = (json.dumps(obj, indent=1) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        fake = self.server.fake
        path = urllib.parse.urlsplit(self.path).path.rstrip("/")
        try:
            n = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(n) if n else b""
            body = json.loads(data) if data.strip() else {}
            code, obj = self.control(fake, self.command, path, body)
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            code, obj = 400, {"error": "%s: %s" % (type(e).__name__, e)}
        self.reply(code, obj)

    do_POST = do_PUT = do_DELETE = do_GET

    def control(self, fake, method, path, body):
        if (method, path) == ("GET", "/state"):
            return 200, fake.state()
        if (method, path) == ("DELETE", "/state"):
            fake.reset_state()
            return 200, {}
        if (method, path) == ("POST", "/scenario"):
            return 200, fake.scenario_set(body)
        if (method, path) == ("GET", "/scenario"):
            return 200, fake.state()["scenario"]
        if (method, path) == ("POST", "/apps"):
            return 200, fake.add_apps(body)
        if (method, path) == ("GET", "/apps"):
            return 200, fake.apps_doc()
        if (method, path) == ("DELETE", "/apps"):
            fake.clear_apps()
            return 200, []
        return 404, {"error": "no such control endpoint %s %s" % (method,
                                                                   path)}


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, handler, fake, tls=None):
        self.fake = fake
        self.tls = tls
        self.address_family = socket.AF_INET6 if ":" in addr[0] \
            else socket.AF_INET
        super().__init__(addr, handler)
        host = self.server_address[0]
        self.hostport = "%s:%d" % ("[%s]" % host if ":" in host else host,
                                   self.server_address[1])

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False)
        return sock, addr

    def finish_request(self, request, client_address):
        # The handshake in the handler's thread: a slow client never
        # blocks accept.
        if self.tls is not None:
            try:
                request.settimeout(10)
                request.do_handshake()
            except (OSError, ssl.SSLError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def split_addr(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


def write_atomic(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def main(argv):
    ap = argparse.ArgumentParser(description="strict fake Azure AD")
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--control-listen", default="127.0.0.1:0")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--certs-dir")
    ap.add_argument("--ip", action="append")
    ap.add_argument("--dns", action="append")
    ap.add_argument("--apps", help="JSON file, see the docstring")
    ap.add_argument("--token-lifetime", type=int, default=DEFAULT_LIFETIME_S)
    args = ap.parse_args(argv)
    if args.certs_dir:
        made = certs.make(args.certs_dir, ips=args.ip or ["127.0.0.1"],
                          dns=args.dns or ["localhost"])
        args.cert, args.key = made["server.crt"], made["server.key"]
    if not args.cert or not args.key:
        ap.error("--cert and --key, or --certs-dir, are needed")
    os.makedirs(args.state_dir, exist_ok=True)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.minimum_version = ssl.TLSVersion.TLSv1_2
    tls.load_cert_chain(args.cert, args.key)
    fake = Fake(args)
    aad = Server(split_addr(args.listen), AadHandler, fake, tls)
    control = Server(split_addr(args.control_listen), ControlHandler, fake)
    threading.Thread(target=control.serve_forever, daemon=True).start()
    write_atomic(os.path.join(args.state_dir, "control-port"),
                 "%d\n" % control.server_port)
    write_atomic(os.path.join(args.state_dir, "port"),
                 "%d\n" % aad.server_port)
    print("aad: https on %s, control on %d" % (aad.hostport,
                                                control.server_port),
          file=sys.stderr)
    try:
        aad.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
