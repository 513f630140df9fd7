#!/usr/bin/env python3
"""Strict fake Azure Instance Metadata Service for podid's tests (stdlib only).

    python3 tests/fakes/imds.py --listen ADDR:PORT --state-dir D
        [--port-file P] [--control-listen H:P] [--control-port-file CP]
        [--identities FILE] [--tenant GUID] [--token-lifetime S]

It serves plain HTTP/1.1 (keep-alive) on ADDR:PORT (e.g. 169.254.169.254:80
inside a test network namespace, 127.0.0.1:0 elsewhere) and a plain-HTTP
control API on --control-listen (default 127.0.0.1:0).  It writes the control
port to CP and D/control-port, then the IMDS port to D/port and P (each file
written atomically, the control one first), then serves until killed.  D also
receives violations.log (created empty at start) and requests.log (one JSON
line per IMDS request).  Protocol reference: sections 1, 3 and 7 of
/work/shared/reference/imds-azure-kubernetes.md.

The node's identities (--identities FILE, or PUT /identities)
--------------------------------------------------------------
A JSON list of user-assigned identities, or an object
    {"tenant": GUID, "system_assigned": IDENTITY | null,
     "user_assigned": [IDENTITY, ...]}
where IDENTITY is {"client_id": GUID, "object_id": GUID, "msi_res_id":
"/subscriptions/S/resourceGroups/RG/providers/Microsoft.ManagedIdentity/
userAssignedIdentities/NAME" (user-assigned only), "tenant": GUID (default
the document's, else --tenant)}.  Unknown keys are refused.  None by default.

Violations
----------
A violation is something podid must never do; each is one line in
violations.log and /state.  podid builds token requests itself, so every
fault on the token route is one (except the @azure/identity probe shape: no
Metadata and no query string at all).  Other routes may carry a pod's own
request that podid proxies, so their client errors (404, 405, bad
api-version, missing Metadata...) are answered as IMDS would, without a
violation.  Transport faults, X-Forwarded-For and floods are violations on
every route.

IMDS (every route: GET only, else 405; `/metadata` matched case-insensitively)
----------------------------------------------------------------------------
GET /metadata/identity/oauth2/token[/]?api-version=V&resource=R
        [&client_id=C | &object_id=O | &msi_res_id=M][&authority=A]
        [&bypass_cache=true]
    Checked in this order, each failure a 400 {"error":"invalid_request",
    "error_description":TEXT} with Content-Type application/json;
    charset=utf-8 unless shown otherwise:
    - header X-Forwarded-For present: "Request contains an X-Forwarded-For
      header" (IMDS rejects it; its exact answer is undocumented, so the
      text is the fake's).
    - header Metadata missing or not exactly "true" (after trimming
      blanks; "True" is refused): "Required metadata header not specified"
      (exact IMDS text).
    - a malformed percent-escape or non-UTF-8 query, or a duplicate
      parameter name after decoding ("Duplicate query parameter 'NAME'").
    - api-version missing ("Required query variable 'api-version' is
      missing") or not a supported version >= 2018-02-01 ("Invalid
      'api-version' requested").  (Field reports; not documented.)
    - resource missing or empty: "Required query variable 'resource' is
      missing" (exact, as quoted from IMDS in aad-pod-identity PR #450).
    - (served, but violations: bypass_cache other than "true"; unknown
      parameters such as mi_res_id or clientid, ignored as IMDS ignores
      them, so IMDS would silently pick another identity; empty parameters
      or ones without "="; an empty client_id / object_id / msi_res_id.)
    - two or more of client_id / object_id / msi_res_id: "Only one of
      client_id, object_id or msi_res_id may be specified" (fake's text).
    - selector matching no identity (GUIDs and ARM ids compared without
      case), or no selector and no identity at all: "Identity not found".
    - no selector, no system-assigned and several user-assigned identities:
      "Multiple user assigned identities exist, please specify the clientId
      / resourceId of the identity in the token request" (exact IMDS text).
      These last two are answers about the node's identities, not
      violations.
    No selector picks the system-assigned identity, else the only
    user-assigned one.  Then the scenario's delay_ms, reset_connection_next_n
    and fail_next_n apply, in that order, and a token is issued: 200
    application/json; charset=utf-8 with every field a string:
    {"access_token": JWT, "refresh_token": "", "expires_in": L,
     "expires_on": now+L, "ext_expires_in": L, "not_before": now,
     "resource": R, "token_type": "Bearer", "client_id": C}
    The JWT has header {"typ","alg":"RS256","x5t","kid"}, claims {aud: R,
    iss, iat, nbf, exp, appid, oid, sub, tid, idtyp: "app", uti, ver,
    xms_mirid (user-assigned), xms_fake_serial: N} and a fake 256-byte
    signature; N is a per-process counter, so every issuance differs.
GET /metadata/identity/info?api-version=V
    {"tenantId": tenant} (the system-assigned's, else the first identity's,
    else --tenant); same header and api-version checks as the token route.
GET /metadata/instance[/KEY/...]?api-version=V[&format=json|text]
    Compute + network metadata (section 1.4; every primitive a string);
    route parameters walk into it (404 {"error":"Not found"} if absent); a
    leaf needs format=text (400 otherwise) and is sent as text/plain;
    format=text on an object lists its keys one per line ("/" after
    non-leaves; the fake's approximation).  Errors here use {"error": TEXT}:
    "Bad request. Required metadata header not specified", and without a
    supported api-version the documented "Bad request. api-version is
    invalid or was not specified in the request. For more information refer
    to aka.ms/azureimds" with "newest-versions".
GET /metadata/versions
    {"apiVersions": [...]} (the documented list); Metadata header required.
Anything else: 404 (identity-shaped under /metadata/identity).

Rate limits, as IMDS documents them for the identity category
(/metadata/identity/*): more than 20 accepted requests within one second, or
more than 5 in flight at once (a delayed answer is in flight), get 429
{"error":"too_many_requests",...} (no Retry-After) and a violation: podid
must queue, never flood.  Checked before everything else; only accepted
requests fill the window.  Both numbers are scenario toggles.

Transport faults (violations on every route, the request being served
unless stated): HTTP/1.0, a missing Host (400), an absolute-form target (a
proxy), a body on GET, chunked requests (400, connection closed), Forwarded
/ Via / X-Forwarded-Host / X-Forwarded-Proto / X-Real-IP headers, several
Metadata headers, unparseable requests (http.server's own 400/505).  Bugs
of the fake itself are counted in /state "internal_errors" (and on
stderr).

Control API (plain HTTP on the control port, JSON in and out)
-------------------------------------------------------------
POST /scenario      set toggles (others kept; {"reset": true} first restores
                    the defaults) -> the scenario.  GET /scenario reads it.
    fail_next_n             {"n": N, "status": 404|410|429|500|503,
                            "retry_after": S (optional, -> Retry-After)}: the
                            next N valid token requests fail with that
                            status and an IMDS-shaped body
    delay_ms                wait before answering each valid token request
    reset_connection_next_n the next N valid token requests get a TCP RST
                            instead of an answer
    token_lifetime_s        lifetime of issued tokens (default
                            --token-lifetime, 86400 like managed identities)
    rate_limit_per_s        identity-category rate limit (default 20)
    max_concurrent          identity-category concurrency limit (default 5)
GET /state          {"token_requests" (every request on the token path),
                     "tokens_issued", "per_identity_resource": [{"client_id",
                     "resource", "requests" (valid ones), "issued"}],
                     "counts" (token_requests, tokens_issued, probes,
                     rate_limited, injected_failures, resets, by_status...),
                     "max_concurrency", "in_flight", "last_request",
                     "last_token_request" ({"method", "path", "query",
                     "params" (decoded), "headers": [[name, value]...]}),
                     "recent_requests", "tokens" (last 50: serial,
                     client_id, resource, sha256, expires_on), "violations",
                     "scenario", "identities", "internal_errors"}
                    A request is fully accounted for (and in
                    requests.log) before the first byte of its answer.
DELETE /state       reset every counter, the last requests, recent requests,
                    tokens, violations and the rate-limit window (not the
                    scenario or identities)
GET|PUT /identities read or replace the identities (document as above)
POST /instance      deep-merge an object into the instance metadata
                    ({"compute": {"location": "westus"}}; null deletes)
DELETE /violations  clear violations.log and the in-memory list
"""

import argparse
import base64
import collections
import hashlib
import http.server
import json
import os
import re
import socket
import socketserver
import struct
import sys
import threading
import time
import traceback
import urllib.parse

DEFAULT_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
DEFAULT_LIFETIME_S = 86400
MAX_BODY = 1 << 20
FAKE_KID = "fake-imds-kid"
SERVER = "IMDS/150.870.65.1544"
JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"

# instance-metadata-service.md, "Supported API versions" (ascending).
API_VERSIONS = (
    "2017-03-01", "2017-04-02", "2017-08-01", "2017-10-01", "2017-12-01",
    "2018-02-01", "2018-04-02", "2018-10-01", "2019-02-01", "2019-03-11",
    "2019-04-30", "2019-06-01", "2019-06-04", "2019-08-01", "2019-08-15",
    "2019-11-01", "2020-06-01", "2020-07-15", "2020-09-01", "2020-10-01",
    "2020-12-01", "2021-01-01", "2021-02-01", "2021-03-01", "2021-05-01",
    "2021-08-01", "2021-10-01", "2021-11-01", "2021-11-15", "2021-12-13",
    "2023-07-01", "2023-11-15", "2024-03-15", "2024-07-17", "2025-04-07")
IDENTITY_MIN_VERSION = "2018-02-01"
INSTANCE_MIN_VERSION = "2017-04-02"

MSG_NO_METADATA = "Required metadata header not specified"
MSG_NO_RESOURCE = "Required query variable 'resource' is missing"
MSG_NO_VERSION = "Required query variable 'api-version' is missing"
MSG_BAD_VERSION = "Invalid 'api-version' requested"
MSG_NOT_FOUND = "Identity not found"
MSG_MULTIPLE = ("Multiple user assigned identities exist, please specify "
                "the clientId / resourceId of the identity in the token "
                "request")
MSG_SELECTORS = ("Only one of client_id, object_id or msi_res_id may be "
                 "specified")
MSG_XFF = "Request contains an X-Forwarded-For header"
MSG_INSTANCE_VERSION = ("Bad request. api-version is invalid or was not "
                        "specified in the request. For more information "
                        "refer to aka.ms/azureimds")

SELECTORS = ("client_id", "object_id", "msi_res_id")
TOKEN_PARAMS = {"api-version", "resource", "authority", "bypass_cache"} | \
    set(SELECTORS)
PROXY_HEADERS = ("Forwarded", "Via", "X-Forwarded-Host", "X-Forwarded-Proto",
                 "X-Real-IP")
FAIL_STATUSES = {
    404: ("not_found", "The requested resource was not found; IMDS is "
          "updating, retry"),
    410: ("service_unavailable", "IMDS is updating and will be available "
          "within 70 seconds"),
    429: ("too_many_requests", "Too many requests"),
    500: ("unknown", "Failed to retrieve token from the Active directory."),
    503: ("service_unavailable", "The service is temporarily unavailable"),
}
SCENARIO_DEFAULTS = {
    "fail_next_n": None,
    "delay_ms": 0,
    "reset_connection_next_n": 0,
    "token_lifetime_s": DEFAULT_LIFETIME_S,
    "rate_limit_per_s": 20,
    "max_concurrent": 5,
}

TOKEN_PATH = re.compile(r"/(?i:metadata)/identity/oauth2/token/?")
INFO_PATH = re.compile(r"/(?i:metadata)/identity/info")
VERSIONS_PATH = re.compile(r"/(?i:metadata)/versions")
INSTANCE_PATH = re.compile(r"/(?i:metadata)/instance((?:/[^/]+)*)/?")
IDENTITY_CATEGORY = re.compile(r"/(?i:metadata)/identity(/.*)?")
GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
ARM_UAI = re.compile(r"/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/"
                     r"[-\w._()]+/providers/Microsoft\.ManagedIdentity/"
                     r"userAssignedIdentities/[-\w]+", re.IGNORECASE)


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


def rfc3339(t=None):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class ImdsError(Exception):
    """An answer other than success; violation is logged when not None.

    code is the IdentityErrorResponse "error" (identity routes); text is its
    error_description, or the whole "error" of an ErrorResponse elsewhere."""

    def __init__(self, status, code, text, violation=None, headers=(),
                 extra=None, always=False):
        super().__init__(text)
        self.status, self.code, self.text = status, code, text
        self.violation, self.headers = violation, list(headers)
        self.extra = extra or {}
        self.always = always  # a violation on any route, not just tokens


def invalid(text, violation=None):
    return ImdsError(400, "invalid_request", text, violation)


class Reset(Exception):
    """The connection has been reset on purpose; nothing more to send."""


# ---------------------------------------------------------------- queries

def pct_decode(s):
    if re.search(r"%(?![0-9A-Fa-f]{2})", s):
        raise invalid("Malformed query string",
                      "malformed percent-escape in query: %r" % s)
    try:
        return urllib.parse.unquote_plus(s, errors="strict")
    except UnicodeDecodeError:
        raise invalid("Malformed query string",
                      "query is not valid UTF-8: %r" % s)


def parse_query(raw, problems):
    """Decoded name -> value; duplicates raise, oddities go to problems."""
    values = {}
    for part in raw.split("&") if raw else []:
        if part == "":
            problems.append("empty query parameter in %r" % raw)
            continue
        name, eq, value = part.partition("=")
        name, value = pct_decode(name), pct_decode(value)
        if not eq:
            problems.append("query parameter %r without '='" % name)
        if name in values:
            raise invalid("Duplicate query parameter '%s'" % name,
                          "duplicate query parameter %s" % name)
        values[name] = value
    return values


# ------------------------------------------------------------- identities

def check_identity(obj, system, tenant):
    if not isinstance(obj, dict):
        raise ValueError("an identity must be an object")
    keys = {"client_id", "object_id", "tenant"} | (
        set() if system else {"msi_res_id"})
    unknown = set(obj) - keys
    if unknown:
        raise ValueError("unknown identity fields: %s" %
                         ", ".join(sorted(unknown)))
    for k in ("client_id", "object_id"):
        if not isinstance(obj.get(k), str) or not GUID.fullmatch(obj[k]):
            raise ValueError("%s must be a GUID, got %r" % (k, obj.get(k)))
    if not system and (not isinstance(obj.get("msi_res_id"), str) or
                       not ARM_UAI.fullmatch(obj["msi_res_id"])):
        raise ValueError("msi_res_id must be a user-assigned identity ARM "
                         "id, got %r" % obj.get("msi_res_id"))
    t = obj.get("tenant", tenant)
    if not isinstance(t, str) or not GUID.fullmatch(t):
        raise ValueError("tenant must be a GUID, got %r" % t)
    out = {"client_id": obj["client_id"], "object_id": obj["object_id"],
           "tenant": t}
    if not system:
        out["msi_res_id"] = obj["msi_res_id"]
    return out


def load_identities(doc, default_tenant):
    """Validate an identities document; returns {"system", "user"}."""
    if isinstance(doc, list):
        doc = {"user_assigned": doc}
    if not isinstance(doc, dict):
        raise ValueError("identities: a list or an object")
    unknown = set(doc) - {"tenant", "system_assigned", "user_assigned"}
    if unknown:
        raise ValueError("unknown identities fields: %s" %
                         ", ".join(sorted(unknown)))
    tenant = doc.get("tenant", default_tenant)
    users = doc.get("user_assigned", [])
    if not isinstance(users, list):
        raise ValueError("user_assigned must be a list")
    sysobj = doc.get("system_assigned")
    system = None if sysobj is None else check_identity(sysobj, True, tenant)
    user = [check_identity(u, False, tenant) for u in users]
    seen = set()
    for ident in user + ([system] if system else []):
        for k in SELECTORS:
            v = ident.get(k)
            if v is not None and (k, v.lower()) in seen:
                raise ValueError("two identities share %s %s" % (k, v))
            if v is not None:
                seen.add((k, v.lower()))
    return {"system": system, "user": user}


def select_identity(ids, params):
    """The identity a token request names, or an ImdsError."""
    given = [k for k in SELECTORS if k in params]
    if len(given) > 1:
        raise invalid(MSG_SELECTORS, "several selectors: %s" %
                      ", ".join(given))
    everyone = ([ids["system"]] if ids["system"] else []) + ids["user"]
    if given:
        k = given[0]
        want = params[k].lower()
        for ident in everyone:
            if ident.get(k, "").lower() == want:
                return ident
        raise invalid(MSG_NOT_FOUND)
    if ids["system"]:
        return ids["system"]
    if len(ids["user"]) == 1:
        return ids["user"][0]
    if ids["user"]:
        raise invalid(MSG_MULTIPLE)
    raise invalid(MSG_NOT_FOUND)


# --------------------------------------------------------------- instance

def default_instance():
    sub = "8d1f35e4-6a77-4a2b-9d1e-2f6c1b7a9c01"
    rid = ("/subscriptions/%s/resourceGroups/MC_podid_test_westeurope/"
           "providers/Microsoft.Compute/virtualMachineScaleSets/"
           "aks-nodepool1-12345678-vmss/virtualMachines/0" % sub)
    compute = {
        "azEnvironment": "AzurePublicCloud", "evictionPolicy": "",
        "isHostCompatibilityLayerVm": "false", "licenseType": "",
        "location": "westeurope", "name": "aks-nodepool1-12345678-vmss_0",
        "offer": "", "osType": "Linux", "placementGroupId": "",
        "plan": {"name": "", "product": "", "publisher": ""},
        "platformFaultDomain": "0", "platformUpdateDomain": "0",
        "priority": "Regular", "provider": "Microsoft.Compute",
        "publisher": "", "resourceGroupName": "MC_podid_test_westeurope",
        "resourceId": rid, "sku": "", "subscriptionId": sub,
        "tags": "aks-managed-poolName:nodepool1",
        "tagsList": [{"name": "aks-managed-poolName", "value": "nodepool1"}],
        "userData": "", "version": "", "vmId":
        "5c08b38e-4d57-4c23-ac45-aca61037f084",
        "vmScaleSetName": "aks-nodepool1-12345678-vmss",
        "vmSize": "Standard_D4s_v3", "zone": "1"}
    network = {"interface": [{
        "ipv4": {"ipAddress": [{"privateIpAddress": "10.224.0.4",
                                "publicIpAddress": ""}],
                 "subnet": [{"address": "10.224.0.0", "prefix": "16"}]},
        "ipv6": {"ipAddress": []},
        "macAddress": "000D3AF806EC"}]}
    return {"compute": compute, "network": network}


def deep_merge(dst, src):
    for k, v in src.items():
        if v is None:
            dst.pop(k, None)
        elif isinstance(v, dict) and isinstance(dst.get(k), dict):
            deep_merge(dst[k], v)
        else:
            dst[k] = v
    return dst


def walk(tree, keys):
    """Follow route parameters into the instance tree; None if absent."""
    node = tree
    for k in keys:
        if isinstance(node, dict) and k in node:
            node = node[k]
        elif isinstance(node, list) and re.fullmatch(r"[0-9]+", k) and \
                int(k) < len(node):
            node = node[int(k)]
        else:
            return None
    return node


def as_text(node):
    if isinstance(node, str):
        return node
    if isinstance(node, dict):
        items = list(node.items())
    else:
        items = [(str(i), v) for i, v in enumerate(node)]
    return "".join("%s%s\n" % (k, "" if isinstance(v, str) else "/")
                   for k, v in items)


# ------------------------------------------------------------- the fake

class Fake:
    """State shared by both listeners; everything under self.lock."""

    def __init__(self, args):
        self.args = args
        self.state_dir = args.state_dir
        self.lock = threading.Lock()
        self.tenant = args.tenant
        self.identities = {"system": None, "user": []}
        if args.identities:
            with open(args.identities) as f:
                self.identities = load_identities(json.load(f), args.tenant)
        self.instance = default_instance()
        self.scenario = dict(SCENARIO_DEFAULTS,
                             token_lifetime_s=args.token_lifetime)
        self.serial = 0
        self.in_flight = 0
        self.window = collections.deque()
        self.vpath = os.path.join(self.state_dir, "violations.log")
        open(self.vpath, "w").close()
        self.access = open(os.path.join(self.state_dir, "requests.log"), "a")
        self._reset_observations()

    def _reset_observations(self):
        self.violations = []
        self.counts = collections.Counter()
        self.by_status = collections.Counter()
        self.per_pair = {}
        self.max_concurrency = 0
        self.last = {"any": None, "token": None}
        self.recent = collections.deque(maxlen=100)
        self.tokens = collections.deque(maxlen=50)

    def reset_state(self):
        with self.lock:
            self._reset_observations()
            self.window.clear()
            open(self.vpath, "w").close()

    def violation(self, what, msg):
        line = "%s %s: %s" % (rfc3339(), what, msg)
        with self.lock:
            self.violations.append(line)
            with open(self.vpath, "a") as f:
                f.write(line + "\n")

    def clear_violations(self):
        with self.lock:
            self.violations = []
            open(self.vpath, "w").close()

    def count(self, name, n=1):
        with self.lock:
            self.counts[name] += n

    # -- identity-category admission (rate and concurrency)

    def admit(self):
        """Enter the identity category: None, or why it is refused."""
        with self.lock:
            now = time.monotonic()
            while self.window and now - self.window[0] >= 1.0:
                self.window.popleft()
            self.in_flight += 1
            self.max_concurrency = max(self.max_concurrency, self.in_flight)
            limit = self.scenario["max_concurrent"]
            rate = self.scenario["rate_limit_per_s"]
            if self.in_flight > limit:
                why = "%d identity requests in flight (limit %d)" % (
                    self.in_flight, limit)
            elif len(self.window) >= rate:
                why = "more than %d identity requests within 1 s" % rate
            else:
                self.window.append(now)
                return None
            self.counts["rate_limited"] += 1
            return why

    def leave(self):
        with self.lock:
            self.in_flight -= 1

    # -- scenario

    def scenario_set(self, changes):
        if not isinstance(changes, dict):
            raise ValueError("scenario: an object")
        new = dict(SCENARIO_DEFAULTS,
                   token_lifetime_s=self.args.token_lifetime) \
            if changes.get("reset") else None
        with self.lock:
            sc = new or dict(self.scenario)
            for k, v in changes.items():
                if k == "reset":
                    continue
                if k not in SCENARIO_DEFAULTS:
                    raise ValueError("unknown scenario toggle %r" % k)
                sc[k] = check_toggle(k, v)
            self.scenario = sc
            return json.loads(dumps(sc))

    def take_hooks(self):
        """Consume one request's worth of scenario: (delay, reset, fail)."""
        with self.lock:
            sc = self.scenario
            reset = sc["reset_connection_next_n"] > 0
            if reset:
                sc["reset_connection_next_n"] -= 1
            fail = None
            f = sc["fail_next_n"]
            if not reset and f and f["n"] > 0:
                f["n"] -= 1
                fail = (f["status"], f.get("retry_after"))
            return sc["delay_ms"] / 1000.0, reset, fail

    # -- identities and tokens

    def set_identities(self, doc):
        ids = load_identities(doc, self.args.tenant)
        with self.lock:
            self.identities = ids
        return self.identities_doc()

    def identities_doc(self):
        with self.lock:
            return {"system_assigned": self.identities["system"],
                    "user_assigned": list(self.identities["user"])}

    def info_tenant(self):
        with self.lock:
            ids = self.identities
            first = ids["system"] or (ids["user"][0] if ids["user"] else None)
            return first["tenant"] if first else self.tenant

    def pair(self, ident, resource, key):
        with self.lock:
            p = self.per_pair.setdefault(
                (ident["client_id"], resource), {
                    "client_id": ident["client_id"], "resource": resource,
                    "requests": 0, "issued": 0})
            p[key] += 1

    def issue(self, ident, resource):
        """A fresh JWT-looking token and the IMDS answer carrying it."""
        with self.lock:
            self.serial += 1
            serial = self.serial
            lifetime = int(self.scenario["token_lifetime_s"])
        now = int(time.time())
        claims = {"aud": resource,
                  "iss": "https://sts.windows.net/%s/" % ident["tenant"],
                  "iat": now, "nbf": now, "exp": now + lifetime,
                  "aio": b64url(os.urandom(12)), "appid": ident["client_id"],
                  "appidacr": "2", "idp": "https://sts.windows.net/%s/" %
                  ident["tenant"], "idtyp": "app", "oid": ident["object_id"],
                  "sub": ident["object_id"], "tid": ident["tenant"],
                  "uti": b64url(struct.pack(">Q", serial) + os.urandom(8)),
                  "ver": "1.0", "xms_fake_serial": serial}
        if "msi_res_id" in ident:
            claims["xms_mirid"] = ident["msi_res_id"]
        head = b64url(dumps({"typ": "JWT", "alg": "RS256", "x5t": FAKE_KID,
                             "kid": FAKE_KID}).encode())
        body = b64url(dumps(claims).encode())
        sig = hashlib.shake_256((head + "." + body).encode()).digest(256)
        token = "%s.%s.%s" % (head, body, b64url(sig))
        answer = {"access_token": token, "refresh_token": "",
                  "expires_in": str(lifetime),
                  "expires_on": str(now + lifetime),
                  "ext_expires_in": str(lifetime), "not_before": str(now),
                  "resource": resource, "token_type": "Bearer",
                  "client_id": ident["client_id"]}
        with self.lock:
            self.counts["tokens_issued"] += 1
            self.tokens.append({
                "serial": serial, "client_id": ident["client_id"],
                "resource": resource, "expires_on": now + lifetime,
                "sha256": hashlib.sha256(token.encode()).hexdigest()})
        self.pair(ident, resource, "issued")
        return answer

    def merge_instance(self, obj):
        if not isinstance(obj, dict):
            raise ValueError("instance: an object")
        with self.lock:
            deep_merge(self.instance, json.loads(dumps(obj)))
            return json.loads(dumps(self.instance))

    def instance_copy(self):
        with self.lock:
            return json.loads(dumps(self.instance))

    def log_request(self, entry, status):
        with self.lock:
            self.by_status[str(status)] += 1
            self.recent.append(entry)
            self.access.write(dumps(entry) + "\n")
            self.access.flush()

    def note_request(self, seen, token):
        with self.lock:
            self.last["any"] = seen
            if token:
                self.last["token"] = seen
                self.counts["token_requests"] += 1

    def state(self):
        with self.lock:
            counts = dict(self.counts)
            counts["by_status"] = dict(self.by_status)
            return json.loads(dumps({
                "token_requests": self.counts["token_requests"],
                "tokens_issued": self.counts["tokens_issued"],
                "per_identity_resource": sorted(
                    self.per_pair.values(),
                    key=lambda p: (p["client_id"], p["resource"])),
                "counts": counts,
                "max_concurrency": self.max_concurrency,
                "in_flight": self.in_flight,
                "last_request": self.last["any"],
                "last_token_request": self.last["token"],
                "recent_requests": list(self.recent),
                "tokens": list(self.tokens),
                "violations": list(self.violations),
                "scenario": self.scenario,
                "identities": {"system_assigned": self.identities["system"],
                               "user_assigned": self.identities["user"]},
                "internal_errors": self.counts["internal_error"]}))


def check_toggle(k, v):
    def count(x):
        if not isinstance(x, int) or isinstance(x, bool) or x < 0:
            raise ValueError("%s must be an integer >= 0, got %r" % (k, x))
        return x
    if k == "fail_next_n":
        if v is None:
            return None
        if not isinstance(v, dict) or set(v) - {"n", "status",
                                                "retry_after"}:
            raise ValueError("fail_next_n: {n, status, retry_after}")
        if v.get("status") not in FAIL_STATUSES:
            raise ValueError("fail_next_n status must be one of %s" %
                             sorted(FAIL_STATUSES))
        out = {"n": count(v.get("n", 1)), "status": v["status"]}
        if v.get("retry_after") is not None:
            out["retry_after"] = count(v["retry_after"])
        return out
    if k in ("token_lifetime_s", "rate_limit_per_s", "max_concurrent") and \
            count(v) == 0:
        raise ValueError("%s must be > 0" % k)
    return count(v)


# ------------------------------------------------------------ IMDS handler

class ImdsHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.1"  # status lines even on junk
    server_version = SERVER
    sys_version = ""
    timeout = 60
    disable_nagle_algorithm = True  # head and body are two writes

    def log_message(self, fmt, *args):
        pass

    def version_string(self):
        return SERVER

    @property
    def fake(self):
        return self.server.fake

    def what(self):
        return "%s %s" % (getattr(self, "command", None) or "-",
                          getattr(self, "path", None) or "-")

    def send_error(self, code, message=None, explain=None):
        # Only http.server calls this: a request it could not even parse.
        self.fake.violation(self.what(), "malformed request (%d %s): %r" % (
            code, message, getattr(self, "raw_requestline", b"")[:200]))
        super().send_error(code, message, explain)

    def violation(self, msg):
        self.fake.violation(self.what(), msg)

    def send_response(self, code, message=None):
        self.status_sent = code
        super().send_response(code, message)

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    # -- the request as a whole

    def dispatch(self):
        self.status_sent = None
        self.identity = self.admitted = self.settled = False
        self.strict = True  # until route(): see the docstring, Violations
        self.started = time.time()
        self.url = url = urllib.parse.urlsplit(self.path)
        self.note(url)
        try:
            self.handle_request(url)
        except ImdsError as e:
            if e.violation and (self.strict or e.always):
                self.violation(e.violation)
            self.send_failure(e)
        except Reset:
            pass
        except OSError:
            self.close_connection = True
        except Exception:
            self.fake.count("internal_error")
            traceback.print_exc()
            if self.status_sent is None:
                self.send_failure(ImdsError(500, "server_error",
                                            "fake bug: see stderr"))
            self.close_connection = True
        self.settle()

    settled = True  # http.server's own error answers have nothing to settle

    def settle(self):
        """Leave the identity category and log the request, once.

        Done before the answer's first byte (end_headers), so a client that
        has its answer also sees it in /state and requests.log."""
        if self.settled:
            return
        self.settled = True
        if self.admitted:
            self.fake.leave()
        entry = {"time": rfc3339(self.started), "method": self.command,
                 "path": self.url.path, "query": self.url.query,
                 "status": self.status_sent,
                 "seconds": round(time.time() - self.started, 3)}
        self.fake.log_request(entry, self.status_sent)

    def end_headers(self):
        self.settle()
        super().end_headers()

    def note(self, url):
        seen = {"method": self.command, "path": url.path,
                "query": url.query, "version": self.request_version,
                "headers": [[k, v] for k, v in self.headers.items()]}
        try:
            seen["params"] = parse_query(url.query, [])
        except ImdsError:
            seen["params"] = None
        self.fake.note_request(seen, TOKEN_PATH.fullmatch(url.path))

    def handle_request(self, url):
        body = self.read_body()
        self.check_transport(body)
        self.identity = bool(IDENTITY_CATEGORY.fullmatch(url.path))
        if not self.identity:
            return self.route(url)
        why = self.fake.admit()
        self.admitted = True  # settle() leaves
        if why:
            raise ImdsError(429, "too_many_requests", "Too many requests",
                            why)
        self.route(url)

    def send_body(self, code, body, ctype, headers=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, code, obj, headers=()):
        self.send_body(code, dumps(obj).encode(), JSON_TYPE, headers)

    def send_failure(self, e):
        if self.identity:
            obj = {"error": e.code, "error_description": e.text}
        else:
            obj = dict({"error": e.text}, **e.extra)
        self.send_json(e.status, obj, e.headers)

    # -- checks common to every route

    def read_body(self):
        te = self.headers.get("Transfer-Encoding")
        cl = self.headers.get("Content-Length")
        if te is not None:
            self.close_connection = True
            raise ImdsError(400, "invalid_request", "Bad request",
                            "Transfer-Encoding %r on a request" % te)
        if cl is None:
            return b""
        if not re.fullmatch(r"[0-9]{1,9}", cl.strip()) or \
                int(cl) > MAX_BODY:
            self.close_connection = True
            raise ImdsError(400, "invalid_request", "Bad request",
                            "bad Content-Length %r" % cl)
        return self.rfile.read(int(cl))

    def check_transport(self, body):
        if self.request_version != "HTTP/1.1":
            self.violation("%s request" % self.request_version)
        if not self.path.startswith("/"):
            self.violation("absolute-form request target (a proxy?)")
        if body:
            self.violation("%s with a %d-byte body" % (self.command,
                                                       len(body)))
        for h in PROXY_HEADERS:
            if self.headers.get(h) is not None:
                self.violation("proxy header %s: %r" % (h, self.headers[h]))
        if not self.headers.get("Host"):
            self.close_connection = True
            raise ImdsError(400, "invalid_request", "Bad request",
                            "missing required Host header")

    def check_headers(self, url, probe_ok):
        """X-Forwarded-For and Metadata, in that order."""
        if self.headers.get("X-Forwarded-For") is not None:
            raise ImdsError(400, "invalid_request", MSG_XFF,
                            "X-Forwarded-For %r sent to IMDS" %
                            self.headers["X-Forwarded-For"], always=True)
        values = self.headers.get_all("Metadata") or []
        if len(values) > 1:
            self.violation("%d Metadata headers" % len(values))
        if len(values) == 1 and values[0].strip() == "true":
            return
        why = "Metadata header %s" % (
            "missing" if not values else "is %r" % values)
        if probe_ok and not values and url.query == "" and \
                "?" not in self.path:
            self.fake.count("probes")
            why = None
        text = MSG_NO_METADATA if self.identity else \
            "Bad request. " + MSG_NO_METADATA
        raise invalid(text, why)

    def need_get(self):
        if self.command != "GET":
            raise ImdsError(405, "method_not_allowed",
                            "The requested method is not allowed",
                            "method %s" % self.command,
                            headers=[("Allow", "GET")])

    def query(self, url):
        problems = []
        params = parse_query(url.query, problems)
        for p in problems if self.strict else ():
            self.violation(p)
        return params

    # -- routes

    def route(self, url):
        path = url.path
        self.strict = bool(TOKEN_PATH.fullmatch(path))
        if self.strict:
            return self.token(url)
        if INFO_PATH.fullmatch(path):
            return self.info(url)
        m = INSTANCE_PATH.fullmatch(path)
        if m:
            return self.instance(url, [urllib.parse.unquote(k) for k in
                                       m.group(1).split("/")[1:]])
        if VERSIONS_PATH.fullmatch(path):
            return self.versions(url)
        raise ImdsError(404, "not_found", "Not found",
                        "unknown path %s" % path)

    def identity_version(self, params):
        v = params.get("api-version")
        if v is None:
            raise invalid(MSG_NO_VERSION, "no api-version")
        if v not in API_VERSIONS or v < IDENTITY_MIN_VERSION:
            raise invalid(MSG_BAD_VERSION, "api-version %r" % v)

    def token(self, url):
        self.need_get()
        self.check_headers(url, probe_ok=True)
        params = self.query(url)
        self.identity_version(params)
        if not params.get("resource"):
            raise invalid(MSG_NO_RESOURCE, "no resource")
        for name in sorted(set(params) - TOKEN_PARAMS):
            self.violation("query parameter %r is not an IMDS name (IMDS "
                           "ignores it)" % name)
        if params.get("bypass_cache", "true") != "true":
            self.violation("bypass_cache=%r" % params["bypass_cache"])
        for name in SELECTORS:
            if params.get(name) == "":
                self.violation("empty %s" % name)
        with self.fake.lock:
            ids = self.fake.identities
        ident = select_identity(ids, params)
        self.fake.pair(ident, params["resource"], "requests")
        self.scenario_hooks()
        self.send_json(200, self.fake.issue(ident, params["resource"]))

    def scenario_hooks(self):
        delay, reset, fail = self.fake.take_hooks()
        if delay:
            time.sleep(delay)
        if reset:
            self.fake.count("resets")
            self.reset_connection()
        if fail:
            status, retry = fail
            self.fake.count("injected_failures")
            code, text = FAIL_STATUSES[status]
            headers = [] if retry is None else [("Retry-After", str(retry))]
            raise ImdsError(status, code, text, headers=headers)

    def reset_connection(self):
        """Close with a TCP RST (SO_LINGER 0), answering nothing.

        Settled first, as an answer is: a client that has seen the reset
        (and retries at once) finds it in /state and requests.log, and the
        request out of the in-flight count."""
        self.settle()
        self.close_connection = True
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
            self.rfile.close()
            sock.close()
        except OSError:
            pass
        raise Reset()

    def info(self, url):
        self.need_get()
        self.check_headers(url, probe_ok=False)
        self.identity_version(self.query(url))
        self.send_json(200, {"tenantId": self.fake.info_tenant()})

    def instance_version(self, params):
        v = params.get("api-version")
        if v not in API_VERSIONS or v < INSTANCE_MIN_VERSION:
            raise ImdsError(400, "bad_request", MSG_INSTANCE_VERSION,
                            "instance api-version %r" % v,
                            extra={"newest-versions":
                                   list(reversed(API_VERSIONS[-3:]))})

    def instance(self, url, keys):
        self.need_get()
        self.check_headers(url, probe_ok=False)
        params = self.query(url)
        self.instance_version(params)
        fmt = params.get("format", "json")
        if fmt not in ("json", "text"):
            raise ImdsError(400, "bad_request", "Bad request. Unsupported "
                            "format %r" % fmt, "format=%r" % fmt)
        node = walk(self.fake.instance_copy(), keys)
        if node is None:
            raise ImdsError(404, "not_found", "Not found")
        if fmt == "text":
            return self.send_body(200, as_text(node).encode(), TEXT_TYPE)
        if isinstance(node, str):
            raise ImdsError(400, "bad_request", "Bad request. Querying a "
                            "leaf node requires format=text")
        self.send_json(200, node)

    def versions(self, url):
        self.need_get()
        self.check_headers(url, probe_ok=False)
        self.query(url)
        self.send_json(200, {"apiVersions": list(API_VERSIONS)})


# -------------------------------------------------------- control handler

class ControlHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, obj):
        body = (json.dumps(obj, indent=1) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else b""
        return json.loads(data) if data.strip() else {}

    def do_GET(self):
        fake = self.server.fake
        path = urllib.parse.urlsplit(self.path).path.rstrip("/")
        try:
            code, obj = self.control(fake, self.command, path, self.body())
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
        if (method, path) == ("GET", "/identities"):
            return 200, fake.identities_doc()
        if (method, path) == ("PUT", "/identities"):
            return 200, fake.set_identities(body)
        if (method, path) == ("POST", "/instance"):
            return 200, fake.merge_instance(body)
        if (method, path) == ("DELETE", "/violations"):
            fake.clear_violations()
            return 200, {}
        return 404, {"error": "no such control endpoint %s %s" % (method,
                                                                   path)}


# ---------------------------------------------------------------- servers

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, handler, fake):
        self.fake = fake
        self.address_family = socket.AF_INET6 if ":" in addr[0] \
            else socket.AF_INET
        super().__init__(addr, handler)

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):
            self.fake.count("internal_error")
            super().handle_error(request, client_address)

    def server_bind(self):
        # HTTPServer.server_bind would call getfqdn(): slow without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def split_addr(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


def write_atomic(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def parse_args(argv):
    ap = argparse.ArgumentParser(description="strict fake Azure IMDS")
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--port-file")
    ap.add_argument("--control-listen", default="127.0.0.1:0")
    ap.add_argument("--control-port-file")
    ap.add_argument("--identities", help="JSON file, see the docstring")
    ap.add_argument("--tenant", default=DEFAULT_TENANT)
    ap.add_argument("--token-lifetime", type=int, default=DEFAULT_LIFETIME_S,
                    help="seconds (default 86400)")
    args = ap.parse_args(argv)
    if not GUID.fullmatch(args.tenant) or args.token_lifetime <= 0:
        ap.error("--tenant must be a GUID and --token-lifetime > 0")
    return args


def main(argv):
    args = parse_args(argv)
    os.makedirs(args.state_dir, exist_ok=True)
    try:
        fake = Fake(args)
    except (OSError, ValueError) as e:
        print("imds: %s" % e, file=sys.stderr)
        return 78
    imds = Server(split_addr(args.listen), ImdsHandler, fake)
    control = Server(split_addr(args.control_listen), ControlHandler, fake)
    threading.Thread(target=control.serve_forever, daemon=True).start()
    for path, port in ((args.control_port_file, control.server_port),
                       (os.path.join(args.state_dir, "control-port"),
                        control.server_port),
                       (os.path.join(args.state_dir, "port"),
                        imds.server_port),
                       (args.port_file, imds.server_port)):
        if path:
            write_atomic(path, "%d\n" % port)
    print("imds: http on %s:%d, control on %d" % (
        imds.server_name, imds.server_port, control.server_port),
        file=sys.stderr)
    try:
        imds.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
