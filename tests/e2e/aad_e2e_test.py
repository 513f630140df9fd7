#!/usr/bin/env python3
"""End-to-end tests of issue 5, Azure AD identities, in network namespaces.

    O=build python3 tests/e2e/aad_e2e_test.py [CASE_FUNCTION...]

One topology (tests/e2e/topo.py): the fake API server and the strict fake
Azure AD (tests/fakes/aad.py, TLS with the test CA, on the root-side
address) in the root namespace; podid in the node namespace, run with
--aad-authority https://ROOT_IP:PORT --ca-file CA; eight pod namespaces
reaching 169.254.169.254 through the DNAT rule.  No node IMDS runs: every
identity here is a service principal (secret, certificate RS256, PS256,
ES256) or a federated one.  From the pods, curl and the unmodified Azure
SDK (@azure/identity 4.13.1, tests/e2e/node/getToken.js) ask for tokens;
the test checks statuses, IMDS's body shape, the exact requests the fake
Azure AD saw (its requests.log: form fields, the credential kind it
verified, its outcome), the service-account tokens the fake API server
minted (subject, audience, bound pod uid), podid's audit lines, and that
neither fake saw a violation.  Keys and certificates are made with openssl
at start, in the test's own directory (podid runs as uid 65534: its files
are 0644 there, never elsewhere).

Prints "ok NAME" or "FAIL NAME: why" per case and ends with "N passed, N
failed"; exits 1 on failure.  Needs root; every namespace and child goes,
also after a failure or SIGTERM, and a watchdog ends the run after 360 s.
"""

import base64
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from topo import FAKES, REPO, Results, Topo, wait_for  # noqa: E402

WATCHDOG_S = 360
TENANT = "3c5d7e9f-1a2b-4c3d-8e4f-5a6b7c8d9e01"
CID = {  # client ids of the app registrations
    "secret": "a1000000-0000-4000-8000-000000000001",
    "rs": "a1000000-0000-4000-8000-000000000002",
    "ps": "a1000000-0000-4000-8000-000000000003",
    "es": "a1000000-0000-4000-8000-000000000004",
    "fed": "a1000000-0000-4000-8000-000000000005",
    "unknown": "a1000000-0000-4000-8000-0000000000ff",  # never registered
}
SECRET_1 = "e2e-first-secret~value.1234567890"
SECRET_2 = "e2e-rotated-secret~value.ABCDEFGHIJKLMNOP"  # another length
ISSUER = "https://kube.test"  # the fake API server's default --issuer
FED_AUD = "api://AzureADTokenExchange"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

# Pod namespace index -> (namespace, name, labels, service account).
P_SECRET, P_RS, P_PS, P_ES, P_FED, P_FED2, P_REVOKE, P_UNKNOWN = range(8)
PODS = {
    P_SECRET: ("sp", "secret-1", {"app": "secret"}, "default"),
    P_RS: ("sp", "rs-1", {"app": "rs"}, "default"),
    P_PS: ("sp", "ps-1", {"app": "ps"}, "default"),
    P_ES: ("sp", "es-1", {"app": "es"}, "default"),
    P_FED: ("fed", "fed-1", {"app": "fed"}, "fed-sa"),
    P_FED2: ("fed", "fed-2", {"app": "fed"}, "other-sa"),
    P_REVOKE: ("sp", "revoke-1", {"app": "revoke"}, "default"),
    P_UNKNOWN: ("sp", "unknown-1", {"app": "unknown"}, "default"),
}

IDENTITIES = """\
identity sp-secret {
    kind        secret
    tenant      "%(t)s"
    client-id   "%(secret)s"
    secret-file "%(d)s/secrets/sp-secret"
}
identity cert-rs {
    kind      certificate
    tenant    "%(t)s"
    client-id "%(rs)s"
    cert-file "%(d)s/keys/rs.crt"
    key-file  "%(d)s/keys/rs.key"
    signing   rs256
}
identity cert-ps {
    kind      certificate
    tenant    "%(t)s"
    client-id "%(ps)s"
    cert-file "%(d)s/keys/ps.crt"
    key-file  "%(d)s/keys/ps.key"
    signing   ps256
}
identity cert-es {
    kind      certificate
    tenant    "%(t)s"
    client-id "%(es)s"
    cert-file "%(d)s/keys/es.pem"
    signing   es256
}
identity fed-id {
    kind      federated
    tenant    "%(t)s"
    client-id "%(fed)s"
}
identity sp-unknown {
    kind        secret
    tenant      "%(t)s"
    client-id   "%(unknown)s"
    secret-file "%(d)s/secrets/sp-unknown"
}
"""
BINDS = [("secret", "sp-secret", "sp", "secret"), ("rs", "cert-rs", "sp", "rs"),
         ("ps", "cert-ps", "sp", "ps"), ("es", "cert-es", "sp", "es"),
         ("fed", "fed-id", "fed", "fed"),
         ("revoke", "sp-secret", "sp", "revoke"),
         ("unknown", "sp-unknown", "sp", "unknown")]

VAULT = "https://vault.azure.net"
STORAGE = "https://storage.azure.com"
TOKEN_PATH = "/metadata/identity/oauth2/token"
FIELDS = {"access_token", "refresh_token", "expires_in", "expires_on",
          "ext_expires_in", "not_before", "resource", "token_type",
          "client_id"}
SDK = os.path.join(REPO, "tests", "e2e", "node", "getToken.js")


class Fail(Exception):
    pass


def need(cond, what):
    if not cond:
        raise Fail(what)


def eq(got, want, what):
    if got != want:
        raise Fail("%s: got %r, want %r" % (what, got, want))


def b64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_claims(tok):
    return json.loads(b64url(tok.split(".")[1]))


def limit(name):
    """A LIM_* value of agent/limits.h (a plain decimal with u)."""
    with open(os.path.join(REPO, "agent", "limits.h")) as f:
        m = re.search(r"#define\s+%s\s+(?:\\\s*)?(\d+)u" % name, f.read())
    return int(m.group(1))


class Resp:
    def __init__(self, status, headers, body, secs):
        self.status, self.headers, self.body, self.secs = \
            status, headers, body, secs
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "<%d %s>" % (self.status, self.body[:300])


def curl(ns, url, headers=("Metadata: true",), timeout=25):
    t0 = time.monotonic()
    argv = ["ip", "netns", "exec", ns, "curl", "-s", "-i", "-m",
            str(timeout)]
    for h in headers:
        argv += ["-H", h]
    r = subprocess.run(argv + [url], capture_output=True,
                       timeout=timeout + 10)
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/"):
        return Resp(0, {}, r.stdout.decode("latin-1"), time.monotonic() - t0)
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return Resp(int(lines[0].split()[1]), hdrs,
                body.decode("utf-8", "replace"), time.monotonic() - t0)


def make_keys(d):
    """RSA certificates for RS256 and PS256, an EC P-256 one for ES256 (its
    key in the certificate's file, as key-file's default reads it)."""
    keys = os.path.join(d, "keys")
    os.mkdir(keys, 0o755)
    for name, algo in (("rs", ["-newkey", "rsa:2048"]),
                       ("ps", ["-newkey", "rsa:3072"]),
                       ("es", ["-newkey", "ec", "-pkeyopt",
                               "ec_paramgen_curve:prime256v1"])):
        subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2",
                        "-subj", "/CN=podid-e2e-" + name] + algo +
                       ["-keyout", os.path.join(keys, name + ".key"),
                        "-out", os.path.join(keys, name + ".crt")],
                       check=True, capture_output=True)
    with open(os.path.join(keys, "es.pem"), "w") as out:
        for part in ("es.crt", "es.key"):
            with open(os.path.join(keys, part)) as f:
                out.write(f.read())
    for f in os.listdir(keys):
        os.chmod(os.path.join(keys, f), 0o644)  # uid 65534 reads them
    return {n: open(os.path.join(keys, n + ".crt")).read()
            for n in ("rs", "ps", "es")}


def write_secret(d, name, value):
    path = os.path.join(d, "secrets", name)
    with open(path + ".tmp", "w") as f:
        f.write(value + "\n")
    os.chmod(path + ".tmp", 0o644)
    os.replace(path + ".tmp", path)


class World:
    def __init__(self, t):
        self.t = t
        self.uids = {}
        self.tokens = set()
        self.podid_bin = os.path.join(REPO, os.environ.get("O", "build"),
                                      "podid")
        self.policy = os.path.join(t.dir, "policy.pol")

    # -- policy and podid -----------------------------------------------
    def policy_text(self, drop=()):
        vals = dict(CID, t=TENANT, d=self.t.dir)
        out = IDENTITIES % vals
        for rule, ident, ns, app in BINDS:
            if rule in drop:
                continue
            out += ("bind %s {\n    identity  %s\n    namespace %s\n"
                    "    label     app = %s\n}\n" % (rule, ident, ns, app))
        return out

    def write_policy(self, drop=()):
        tmp = self.policy + ".tmp"
        with open(tmp, "w") as f:
            f.write(self.policy_text(drop))
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.policy)

    def log(self):
        return self.t.log("podid")

    def loads(self):
        """Policies podid has loaded so far (its log)."""
        return self.log().count(" loaded: ")

    def wait_reload(self, before):
        wait_for(lambda: self.loads() > before, timeout=30,
                 what="podid's reload")

    def audits(self):
        return [json.loads(ln) for ln in self.log().splitlines()
                if '"stream":"audit"' in ln]

    # -- the fakes -------------------------------------------------------
    def aad_log(self):
        path = os.path.join(self.t.aad_state, "requests.log")
        with open(path) as f:
            return [json.loads(ln) for ln in f if ln.strip()]

    def aad_mark(self):
        return len(self.aad_log())

    def aad_since(self, mark):
        return self.aad_log()[mark:]

    def register(self, name, **cred):
        self.t.aad("POST", "/apps", dict(tenant=TENANT,
                                         client_id=CID[name], **cred))

    def fed_cred(self, sa):
        return {"issuer": ISSUER, "subject":
                "system:serviceaccount:fed:%s" % sa, "audiences": [FED_AUD],
                "key_file": os.path.join(self.t.kube_state,
                                         "sa-signing.pub")}

    def kube_tokens(self):
        return self.t.kube("GET", "/state")["tokens"]

    # -- requests --------------------------------------------------------
    def url(self, resource):
        return ("http://169.254.169.254%s?api-version=2018-02-01&resource=%s"
                % (TOKEN_PATH, urllib.parse.quote(resource, safe="")))

    def token(self, i, resource=VAULT, headers=("Metadata: true",)):
        return curl(self.t.pods[i], self.url(resource), headers)

    def check_token(self, r, name, resource, what="token"):
        """r is IMDS's 200 with app name's token for resource."""
        eq(r.status, 200, what + " status (%r)" % r)
        need(r.headers.get("content-type", "").startswith(
            "application/json"), what + ": content-type")
        d = r.json
        need(isinstance(d, dict), what + ": body not a JSON object")
        eq(set(d), FIELDS, what + " fields")
        for k, v in d.items():
            need(isinstance(v, str), "%s: %s is %r, not a string" %
                 (what, k, v))
        eq(d["client_id"], CID[name], what + " client_id")
        eq(d["resource"], resource, what + " resource")
        eq(d["token_type"], "Bearer", what + " token_type")
        now = time.time()
        exp = int(d["expires_on"])
        need(abs(exp - now - int(d["expires_in"])) <= 5,
             what + ": expires_in does not match expires_on (%r)" % d)
        need(int(d["not_before"]) <= now + 5 and exp > now + 60,
             what + ": times %r" % d)
        c = jwt_claims(d["access_token"])
        eq((c["appid"], c["aud"], c["tid"]), (CID[name], resource, TENANT),
           what + ": the token's appid, aud, tid")
        eq(c["ver"], "2.0", what + ": the v2 endpoint")
        self.tokens.add(d["access_token"])
        return d

    def check_error(self, r, status, what, desc=None, retry_after=None):
        eq(r.status, status, what + " status (%r)" % r)
        need(r.headers.get("content-type", "").startswith(
            "application/json"), what + ": content-type")
        d = r.json
        need(isinstance(d, dict) and isinstance(d.get("error"), str) and
             isinstance(d.get("error_description"), str),
             what + ": IMDS-shaped error body %r" % r.body)
        need("access_token" not in r.body, what + ": a token in the body")
        if desc is not None:
            need(desc in d["error_description"], "%s: description %r "
                 "without %r" % (what, d["error_description"], desc))
        ra = r.headers.get("retry-after")
        if retry_after:
            need(ra is not None and ra.isdigit() and int(ra) >= 1,
                 what + ": Retry-After %r" % ra)
        elif retry_after is False:
            need(ra is None, what + ": unexpected Retry-After %r" % ra)
        return d

    def one_request(self, mark, name, resource, kind, outcome="issued"):
        """The fake Azure AD saw exactly one token request since mark, of
        app name for resource with a credential of kind (secret:
        the length of the secret sent; else the assertion's verified
        kind), answered outcome.  Returns it."""
        new = self.aad_since(mark)
        eq(len(new), 1, "token requests Azure AD saw (%r)" % new)
        e = new[0]
        eq((e["method"], e["path"], e["tenant"], e["v1"]),
           ("POST", "/%s/oauth2/v2.0/token" % TENANT, TENANT, False),
           "method, path, tenant, v2")
        f = e.get("form", {})
        base = {"grant_type": "client_credentials", "client_id": CID[name],
                "scope": resource + "/.default"}
        if isinstance(kind, int):
            want = dict(base, client_secret="<%d bytes>" % kind)
            eq(f, want, "the form")
            need("assertion" not in e, "an assertion was verified")
        else:
            eq({k: v for k, v in f.items() if k != "client_assertion"},
               dict(base, client_assertion_type=ASSERTION_TYPE), "the form")
            need("client_assertion" in f, "no client_assertion")
            if outcome == "issued":
                eq(e.get("assertion"), kind, "the assertion verified")
        eq(e["outcome"], outcome, "Azure AD's outcome")
        return e

    def no_request(self, mark, what):
        eq(self.aad_since(mark), [], what + ": requests to Azure AD")

    def sdk(self, i, resource, *args, timeout=25):
        r = subprocess.run(["ip", "netns", "exec", self.t.pods[i], "node",
                            SDK, resource] + list(args),
                           capture_output=True, text=True,
                           timeout=timeout + 5)
        try:
            return json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise Fail("getToken.js: %r %r" % (r.stdout, r.stderr[-500:]))

    def sdk_same(self, i, resource, token):
        """The SDK in pod i gets token (podid's cached one) for resource."""
        m = self.aad_mark()
        out = self.sdk(i, resource)
        need(out.get("ok"), "the SDK failed: %r" % out)
        eq(out["tokenSha256"], hashlib.sha256(token.encode()).hexdigest(),
           "the SDK's token")
        self.no_request(m, "the SDK's (cached) token")


# ------------------------------------------------------------ the cases


def c_secret(w):
    """Secret identity: curl gets IMDS's shape, Azure AD one exact request;
    the SDK (no endpoint override) gets the same, cached, token."""
    m = w.aad_mark()
    d = w.check_token(w.token(P_SECRET), "secret", VAULT)
    w.one_request(m, "secret", VAULT, len(SECRET_1))
    m = w.aad_mark()
    eq(w.check_token(w.token(P_SECRET), "secret", VAULT, "again")
       ["access_token"], d["access_token"], "the cached token")
    w.no_request(m, "a cached token")
    w.sdk_same(P_SECRET, VAULT, d["access_token"])
    a = [x for x in w.audits() if x["pod"] == "secret-1"]
    need(a and all(x["outcome"] == "served" and x["identity"] == "sp-secret"
                   and x["rule"] == "secret" for x in a),
         "audit lines %r" % a)


def c_certificates(w):
    """RS256, PS256 and ES256 assertions: the fake verified each (x5t or
    x5t#S256, signature, aud, sub, times, a fresh jti per request)."""
    for i, name in ((P_RS, "rs"), (P_PS, "ps"), (P_ES, "es")):
        toks = set()
        for res in (VAULT, STORAGE):
            m = w.aad_mark()
            d = w.check_token(w.token(i, res), name, res, name + " " + res)
            w.one_request(m, name, res, "certificate")
            toks.add(d["access_token"])
        eq(len(toks), 2, name + ": two resources, two tokens")
        sdk_tok = next(t for t in toks if jwt_claims(t)["aud"] == VAULT)
        w.sdk_same(i, VAULT, sdk_tok)


def c_certificate_unregistered(w):
    """A certificate Azure AD does not know: 400 (AADSTS700027)."""
    ps = w.t.aad("GET", "/apps")
    need(any(a["client_id"] == CID["ps"] for a in ps), "ps registered")
    # The ps app now holds the rs certificate: ps-1's assertion is refused.
    w.register("ps", cert=w.certs["rs"])
    try:
        m = w.aad_mark()
        r = w.token(P_PS, "api://e2e-cert-refused")
        w.check_error(r, 400, "wrong certificate", "AADSTS700027",
                      retry_after=False)
        w.one_request(m, "ps", "api://e2e-cert-refused", "certificate",
                      "AADSTS700027")
        a = [x for x in w.audits() if x["pod"] == "ps-1"][-1]
        eq((a["outcome"], a["status"], a["code"]),
           ("upstream_error", 400, "AADSTS700027"), "audit")
    finally:
        w.register("ps", cert=w.certs["ps"])


def kube_token_of(w, mark, ns, sa, pod):
    """The one TokenRequest the fake API server minted since mark."""
    toks = w.kube_tokens()[mark:]
    eq(len(toks), 1, "service-account tokens minted (%r)" % toks)
    c = toks[0]
    eq((c["iss"], c["sub"], c["aud"]),
       (ISSUER, "system:serviceaccount:%s:%s" % (ns, sa), [FED_AUD]),
       "the SA token's iss, sub, aud")
    eq(c["kubernetes.io"]["pod"], {"name": pod, "uid": w.uids[(ns, pod)]},
       "the SA token's bound pod")
    return c


def c_federated(w):
    """Federated: the pod's own SA token (TokenRequest bound to its uid) is
    the assertion; a second pod of another SA bound to the same identity
    sends ITS OWN token, refused until Azure AD trusts that subject, then
    gets its own access token (never the first pod's cached one)."""
    km = len(w.kube_tokens())
    m = w.aad_mark()
    d1 = w.check_token(w.token(P_FED), "fed", VAULT, "fed-1")
    w.one_request(m, "fed", VAULT, "federated")
    kube_token_of(w, km, "fed", "fed-sa", "fed-1")
    w.sdk_same(P_FED, VAULT, d1["access_token"])
    # fed-2 runs as other-sa: only fed-sa is trusted so far.
    km, m = len(w.kube_tokens()), w.aad_mark()
    r = w.token(P_FED2)
    w.check_error(r, 400, "other-sa untrusted", "AADSTS70021",
                  retry_after=False)
    w.one_request(m, "fed", VAULT, "federated", "AADSTS70021")
    kube_token_of(w, km, "fed", "other-sa", "fed-2")
    # Azure AD trusts other-sa too now.
    w.register("fed", federated=[w.fed_cred("fed-sa"),
                                 w.fed_cred("other-sa")])
    km, m = len(w.kube_tokens()), w.aad_mark()
    d2 = w.check_token(w.token(P_FED2), "fed", VAULT, "fed-2")
    w.one_request(m, "fed", VAULT, "federated")
    need(d2["access_token"] != d1["access_token"],
         "fed-2 got fed-1's token")
    # Its SA token was kept from the refused attempt (or minted again).
    new = w.kube_tokens()[km:]
    need(all(c["sub"] == "system:serviceaccount:fed:other-sa" for c in new),
         "tokens minted for fed-2: %r" % new)
    # Each pod keeps its own cached token.
    m = w.aad_mark()
    eq(w.token(P_FED).json["access_token"], d1["access_token"], "fed-1 again")
    eq(w.token(P_FED2).json["access_token"], d2["access_token"], "fed-2 again")
    w.no_request(m, "cached federated tokens")


def c_rotated_secret(w):
    """The secret file rotated: until the reload podid sends the old one
    (refused once Azure AD has rotated); after SIGHUP the new one."""
    w.register("secret", secret=SECRET_2)
    write_secret(w.t.dir, "sp-secret", SECRET_2)
    res = "api://e2e-before-reload"
    m = w.aad_mark()
    r = w.token(P_SECRET, res)
    w.check_error(r, 400, "old secret", "AADSTS7000215", retry_after=False)
    w.one_request(m, "secret", res, len(SECRET_1), "AADSTS7000215")
    n = w.loads()
    os.kill(w.t.podid.pid, signal.SIGHUP)
    w.wait_reload(n)
    for res in ("api://e2e-after-reload", "api://e2e-before-reload"):
        m = w.aad_mark()
        w.check_token(w.token(P_SECRET, res), "secret", res, res)
        w.one_request(m, "secret", res, len(SECRET_2))
    need(SECRET_1 not in w.log() and SECRET_2 not in w.log(),
         "a secret in podid's log")


def c_revoked(w):
    """The binding removed from the policy file: the pod is refused at once
    although the token is cached; others keep theirs."""
    m = w.aad_mark()
    d = w.check_token(w.token(P_REVOKE), "secret", VAULT, "before")
    w.no_request(m, "revoke-1 shares secret-1's cached token")
    n = w.loads()
    w.write_policy(drop=("revoke",))
    w.wait_reload(n)
    r = w.token(P_REVOKE)
    w.check_error(r, 400, "revoked", retry_after=False)
    eq(r.json["error_description"], "Identity not found", "description")
    a = [x for x in w.audits() if x["pod"] == "revoke-1"][-1]
    eq((a["outcome"], a["status"]), ("no_identity", 400), "audit")
    eq(w.check_token(w.token(P_SECRET), "secret", VAULT, "secret-1")
       ["access_token"], d["access_token"], "secret-1's cached token")
    w.no_request(m, "after the revocation")
    # Bound again: served from the cache at once.
    n = w.loads()
    w.write_policy()
    w.wait_reload(n)
    eq(w.check_token(w.token(P_REVOKE), "secret", VAULT, "re-bound")
       ["access_token"], d["access_token"], "re-bound: the cached token")


def c_unknown_client(w):
    """An app Azure AD does not know: 400 with IMDS's error shape, the
    AADSTS code in the audit line; not retried."""
    m = w.aad_mark()
    r = w.token(P_UNKNOWN)
    d = w.check_error(r, 400, "unknown client", "AADSTS700016",
                      retry_after=False)
    eq(d["error"], "unauthorized_client", "error")
    w.one_request(m, "unknown", VAULT, len("unknown-app-secret"),
                  "AADSTS700016")
    a = [x for x in w.audits() if x["pod"] == "unknown-1"][-1]
    eq((a["outcome"], a["status"], a["code"], a["identity"]),
       ("upstream_error", 400, "AADSTS700016", "sp-unknown"), "audit")
    out = w.sdk(P_UNKNOWN, VAULT)
    need(not out.get("ok") and "AADSTS700016" in out["message"],
         "the SDK: %r" % out)


def c_aad_down(w):
    """Azure AD answering 503: a cached token is still served (no request);
    a new one is retried LIM_AAD_ATTEMPTS times, then 503 + Retry-After;
    once Azure AD is back it is fetched."""
    attempts = limit("LIM_AAD_ATTEMPTS")
    m = w.aad_mark()
    cached = w.check_token(w.token(P_SECRET), "secret", VAULT, "cached")
    w.t.aad("POST", "/scenario", {"fail_next_n": {
        "n": 100, "status": 503, "retry_after": 1}})
    try:
        eq(w.check_token(w.token(P_SECRET), "secret", VAULT, "while down")
           ["access_token"], cached["access_token"], "the cached token")
        w.no_request(m, "a cached token while Azure AD is down")
        res = "api://e2e-aad-down"
        r = w.token(P_SECRET, res)
        w.check_error(r, 503, "Azure AD down", retry_after=True)
        new = w.aad_since(m)
        eq([e["outcome"] for e in new], ["injected_503"] * attempts,
           "attempts Azure AD saw")
        need(r.secs >= attempts - 1.5, "retries %.1fs apart in all: "
             "Retry-After: 1 not honoured" % r.secs)
    finally:
        w.t.aad("POST", "/scenario", {"reset": True})
    m = w.aad_mark()
    w.check_token(w.token(P_SECRET, res), "secret", res, "back")
    w.one_request(m, "secret", res, len(SECRET_2))


def c_aad_reset(w):
    """A connection reset by Azure AD is retried: the pod gets its token."""
    w.t.aad("POST", "/scenario", {"reset_next_n": 1})
    try:
        res = "api://e2e-aad-reset"
        m = w.aad_mark()
        w.check_token(w.token(P_SECRET, res), "secret", res, "after a reset")
        eq([e["outcome"] for e in w.aad_since(m)], ["reset", "issued"],
           "requests Azure AD saw")
    finally:
        w.t.aad("POST", "/scenario", {"reset": True})


def aad_restart(w):
    """The fake Azure AD again, on the same ports, its apps registered."""
    t = w.t
    for f in ("port", "control-port"):
        os.unlink(os.path.join(t.aad_state, f))
    certs = os.path.join(t.dir, "certs")
    t.spawn("aad-2", [sys.executable, os.path.join(FAKES, "aad.py"),
                      "--listen", t.aad_url[len("https://"):],
                      "--state-dir", t.aad_state,
                      "--cert", os.path.join(certs, "server.crt"),
                      "--key", os.path.join(certs, "server.key"),
                      "--control-listen", t.aad_ctl[len("http://"):]])
    wait_for(lambda: os.path.exists(os.path.join(t.aad_state, "port")),
             timeout=30, what="the fake Azure AD again")
    w.register("secret", secret=SECRET_2)
    for name in ("rs", "ps", "es"):
        w.register(name, cert=w.certs[name])
    w.register("fed", federated=[w.fed_cred("fed-sa"),
                                 w.fed_cred("other-sa")])


def c_aad_stopped(w):
    """Azure AD gone (connections refused): a cached token is served, a new
    one gets 503 + Retry-After; with Azure AD back, podid's next fetch
    (on a new connection) succeeds."""
    cached = w.check_token(w.token(P_SECRET), "secret", VAULT, "cached")
    aad = [p for name, p, _ in w.t.procs if name == "aad"][0]
    os.killpg(aad.pid, signal.SIGTERM)
    aad.wait(10)
    res = "api://e2e-aad-stopped"
    try:
        eq(w.check_token(w.token(P_SECRET), "secret", VAULT, "while gone")
           ["access_token"], cached["access_token"], "the cached token")
        r = w.token(P_SECRET, res)
        w.check_error(r, 503, "Azure AD gone", retry_after=True)
        a = [x for x in w.audits() if x["pod"] == "secret-1"][-1]
        eq((a["outcome"], a["status"], a["resource"]),
           ("upstream_error", 503, res), "audit")
    finally:
        aad_restart(w)
    m = w.aad_mark()
    w.check_token(w.token(P_SECRET, res), "secret", res, "back")
    w.one_request(m, "secret", res, len(SECRET_2))


def c_no_leaks(w):
    """No access token (its signature) or client secret in any log or state
    file of the run (the secret and key files aside)."""
    need(len(w.tokens) >= 10, "too few tokens seen: %d" % len(w.tokens))
    leaks = []
    for root, _, files in os.walk(w.t.dir):
        for f in files:
            path = os.path.join(root, f)
            if path.startswith(os.path.join(w.t.dir, "secrets")) or \
                    path.startswith(os.path.join(w.t.dir, "keys")):
                continue
            with open(path, "rb") as fh:
                data = fh.read()
            for s in [SECRET_1, SECRET_2] + [t.rsplit(".", 1)[1]
                                             for t in w.tokens]:
                if s.encode() in data:
                    leaks.append(os.path.relpath(path, w.t.dir))
                    break
    eq(leaks, [], "files holding a token or secret")


CASES = [
    ("secret identity: curl and the Azure SDK", c_secret),
    ("certificate identities RS256, PS256, ES256", c_certificates),
    ("certificate Azure AD does not know: 400", c_certificate_unregistered),
    ("federated: each pod's own SA token", c_federated),
    ("rotated secret file used after reload", c_rotated_secret),
    ("revoked binding stops issuance at once", c_revoked),
    ("unknown client: 400, IMDS-shaped", c_unknown_client),
    ("Azure AD answers 503: cache served, else 503 + Retry-After",
     c_aad_down),
    ("Azure AD resets the connection: retried", c_aad_reset),
    ("Azure AD stopped: cache served, else 503 + Retry-After",
     c_aad_stopped),
    ("no token or secret in any log", c_no_leaks),
]


def setup(t, w):
    os.mkdir(os.path.join(t.dir, "secrets"), 0o755)
    write_secret(t.dir, "sp-secret", SECRET_1)
    write_secret(t.dir, "sp-unknown", "unknown-app-secret")
    w.certs = make_keys(t.dir)
    t.start_kube()
    t.start_aad()
    w.register("secret", secret=SECRET_1)
    for name in ("rs", "ps", "es"):
        w.register(name, cert=w.certs[name])
    w.register("fed", federated=[w.fed_cred("fed-sa")])
    w.write_policy()
    chk = subprocess.run([w.podid_bin, "policy", "check", w.policy],
                         capture_output=True, text=True)
    if chk.returncode != 0:
        raise Fail("policy check: %s%s" % (chk.stdout, chk.stderr))
    for i, (ns, name, labels, sa) in PODS.items():
        r = t.add_pod(i, ns, name, labels, sa=sa)
        w.uids[(ns, name)] = r["pods"][0]["metadata"]["uid"]
    t.dnat()
    t.start_podid(w.policy, "--aad-authority", t.aad_url, "--ca-file", t.ca)


def checked(w, fn):
    """A case fails too if either fake saw a violation meanwhile."""
    def run():
        ka = len(w.t.aad("GET", "/state")["violations"])
        kk = len(w.t.kube("GET", "/state")["violations"])
        try:
            fn(w)
        finally:
            va = w.t.aad("GET", "/state")["violations"][ka:]
            vk = w.t.kube("GET", "/state")["violations"][kk:]
        need(not va and not vk, "violations: aad %r, kube %r" % (va, vk))
        if w.t.podid.poll() is not None:
            raise Fail("podid exited: " + w.log()[-1500:])
    return run


def main():
    t0 = time.monotonic()
    res = Results()

    def overtime(*_):
        raise KeyboardInterrupt("watchdog: over %d s" % WATCHDOG_S)
    signal.signal(signal.SIGALRM, overtime)
    signal.signal(signal.SIGTERM, overtime)
    signal.alarm(WATCHDOG_S)
    only = set(sys.argv[1:])
    try:
        with Topo(npods=len(PODS)) as t:
            w = World(t)
            setup(t, w)
            for name, fn in CASES:
                if only and fn.__name__ not in only:
                    continue
                res.run(name, checked(w, fn))
    except KeyboardInterrupt as e:
        res.failed += 1
        print("FAIL run: %s" % (e or "interrupted"), flush=True)
    except Exception as e:  # the topology itself failed
        res.failed += 1
        print("FAIL set-up: %s: %s" % (type(e).__name__, e), flush=True)
    finally:
        signal.alarm(0)
    print("ran in %.0fs" % (time.monotonic() - t0))
    return res.done()


if __name__ == "__main__":
    sys.exit(main())
