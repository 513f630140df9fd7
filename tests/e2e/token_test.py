#!/usr/bin/env python3
"""End-to-end tests of issue 4, the IMDS token endpoint, in network namespaces.

    O=build python3 tests/e2e/token_test.py

One topology (tests/e2e/topo.py): the fake API server in the root
namespace; podid, the strict fake IMDS on 169.254.169.254:80 and a bridge in
the node namespace; eight pod namespaces on veths, reaching
169.254.169.254 through the DNAT rule this test installs.  From the pods,
curl, raw sockets (python3) and the unmodified Azure SDK (@azure/identity,
tests/e2e/node/getToken.js) ask for tokens; the test checks statuses, body
shapes, headers, the fake IMDS's request counts and violations, podid's
audit lines and that no token ever reaches a log.  podid is restarted once
(with --max-connections 8) for the flood, the slow client and the API-server
outage.  Standard library only; needs root.  Prints "ok NAME" or "FAIL NAME:
why" per case and ends with "N passed, N failed"; exits 1 on failure.  All
namespaces and children go in every case, also after a failure or on
SIGTERM, and a watchdog ends the run after 400 s.
"""

import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from topo import NODE_NAME, REPO, Results, Topo, wait_for  # noqa: E402

WATCHDOG_S = 400
NPODS = 8
SUB = "/subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590"
MI = SUB + "/resourceGroups/e2e/providers/Microsoft.ManagedIdentity/" \
    "userAssignedIdentities/"
ORDERS = {"client_id": "5f0c1a52-3a8e-4a55-9d1f-2e7a1b4c9d01",
          "object_id": "11111111-2222-3333-4444-555555555501",
          "msi_res_id": MI + "orders"}
WEB = {"client_id": "6a1d2b63-4b9f-4b66-8e2a-3f8b2c5d0e02",
       "object_id": "11111111-2222-3333-4444-555555555502",
       "msi_res_id": MI + "web"}
BATCH = {"client_id": "7b2e3c74-5ca0-4c77-9f3b-4a9c3d6e1f03",
         "object_id": "11111111-2222-3333-4444-555555555503",
         "msi_res_id": MI + "batch"}
UNKNOWN_CID = "9c3f4d85-6db1-4d88-a04c-5bad4e7f2a04"

POLICY = """\
identity orders-mi {
    kind      managed
    client-id "%(oc)s"
    object-id "%(oo)s"
}
identity web-mi {
    kind        managed
    client-id   "%(wc)s"
    resource-id "%(wr)s"
}
identity batch-mi {
    kind        managed
    client-id   "%(bc)s"
    object-id   "%(bo)s"
    resource-id "%(br)s"
}
bind orders {
    identity  orders-mi
    namespace shop
    label     app = orders
}
bind web {
    identity  web-mi
    namespace shop
    label     app = web
}
bind multi {
    identity  orders-mi, batch-mi
    namespace batch
    label     app = multi
}
exception addons {
    namespace kube-system
    label     app = addon
}
host-token orders-mi
proxy-route /metadata/instance/compute/location
""" % {"oc": ORDERS["client_id"], "oo": ORDERS["object_id"],
       "wc": WEB["client_id"], "wr": WEB["msi_res_id"],
       "bc": BATCH["client_id"], "bo": BATCH["object_id"],
       "br": BATCH["msi_res_id"]}

# The pods: namespace index -> (namespace, name, labels).  P_LATE and
# P_SDK_LATE are added during their cases; P_NONE never is (until the
# ambiguous-address case).
P_ORDERS, P_WEB, P_PLAIN, P_MULTI, P_ADDON, P_LATE, P_NONE, P_SDK_LATE = \
    range(NPODS)
PODS = {
    P_ORDERS: ("shop", "orders-1", {"app": "orders"}),
    P_WEB: ("shop", "web-1", {"app": "web"}),
    P_PLAIN: ("shop", "plain-1", {"app": "plain"}),
    P_MULTI: ("batch", "multi-1", {"app": "multi"}),
    P_ADDON: ("kube-system", "addon-1", {"app": "addon"}),
}

VAULT = "https://vault.azure.net"
STORAGE = "https://storage.azure.com"
TOKEN_PATH = "/metadata/identity/oauth2/token"
IMDS = "http://169.254.169.254"
FIELDS = {"access_token", "refresh_token", "expires_in", "expires_on",
          "ext_expires_in", "not_before", "resource", "token_type",
          "client_id"}
AUDIT_FIELDS = ("ts", "pod_uid", "namespace", "pod", "identity", "rule",
                "resource", "outcome", "expires_on")
SDK = os.path.join(REPO, "tests", "e2e", "node", "getToken.js")

# ------------------------------------------------------------ helpers


class Fail(Exception):
    pass


def need(cond, what):
    if not cond:
        raise Fail(what)


def eq(got, want, what):
    if got != want:
        raise Fail("%s: got %r, want %r" % (what, got, want))


def q(s):
    """Percent-encodes a query value as the SDKs do."""
    return urllib.parse.quote(s, safe="")


def token_url(resource=VAULT, extra="", path=TOKEN_PATH, base=IMDS,
              version="2018-02-01"):
    url = base + path + "?"
    if version is not None:
        url += "api-version=%s&" % version
    if resource is not None:
        url += "resource=%s" % q(resource)
    return url + extra


class Resp:
    """One HTTP answer: status (0: no answer), headers (lower-case
    names), body text, parsed JSON (or None), seconds taken."""

    def __init__(self, status=0, headers=None, body="", secs=0.0, err=""):
        self.status, self.headers, self.body = status, headers or {}, body
        self.secs, self.err = secs, err
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "<%d %s %s>" % (self.status, self.body[:200], self.err)


def parse_http(raw, secs, err=""):
    """A whole response as bytes (curl -i or a socket) -> Resp."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return Resp(0, {}, raw.decode("latin-1"), secs, err or "no head")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return Resp(int(parts[1]), hdrs, body.decode("utf-8", "replace"), secs,
                err)


def curl_argv(url, headers=("Metadata: true",), timeout=10):
    argv = ["curl", "-s", "-i", "--path-as-is", "-m", str(timeout)]
    for h in headers:
        argv += ["-H", h]
    return argv + [url]


def curl(ns, url, headers=("Metadata: true",), timeout=10):
    """curl in network namespace ns -> Resp."""
    t0 = time.monotonic()
    r = subprocess.run(["ip", "netns", "exec", ns] +
                       curl_argv(url, headers, timeout),
                       capture_output=True, timeout=timeout + 10)
    return parse_http(r.stdout, time.monotonic() - t0,
                      "" if r.returncode == 0 else "curl exit %d" %
                      r.returncode)


class Bg:
    """A curl started in the background; .result() waits for its Resp."""

    def __init__(self, ns, url, headers=("Metadata: true",), timeout=10):
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(["ip", "netns", "exec", ns] +
                                  curl_argv(url, headers, timeout),
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL)
        self.done_at = None
        self.out = b""
        self.th = threading.Thread(target=self._wait, daemon=True)
        self.th.start()

    def _wait(self):
        self.out = self.p.communicate()[0]
        self.done_at = time.monotonic()

    def result(self, timeout=20):
        self.th.join(timeout)
        if self.done_at is None:
            self.p.kill()
            self.th.join(5)
            return Resp(0, err="no answer in %ss" % timeout)
        return parse_http(self.out, self.done_at - self.t0)


# Raw-socket clients run inside a pod namespace (python3 -c), so the
# request is exactly the bytes given and timing is seen from the pod.
RAW_CLIENT = r"""
import json, socket, sys, time
a = json.loads(sys.argv[1])
t0 = time.monotonic()
s = socket.create_connection((a["host"], a["port"]), timeout=a["timeout"])
s.sendall(a["req"].encode("latin-1"))
data = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
except OSError as e:
    pass
print(json.dumps({"raw": data.decode("latin-1"),
                  "secs": time.monotonic() - t0}))
"""

# Sends a request head one byte at a time; reports when the server cut it.
TRICKLE = r"""
import json, socket, sys, time
a = json.loads(sys.argv[1])
s = socket.create_connection((a["host"], a["port"]), timeout=1)
t0 = time.monotonic()
sent, got, cut = 0, b"", None
for ch in a["req"].encode():
    if time.monotonic() - t0 > a["limit"]:
        break
    try:
        s.sendall(bytes([ch]))
        sent += 1
    except OSError:
        cut = time.monotonic() - t0
        break
    end = time.monotonic() + a["gap"]
    while time.monotonic() < end:
        try:
            b = s.recv(4096)
        except socket.timeout:
            b = None
        except OSError:
            b = b""
        if b == b"":
            cut = time.monotonic() - t0
            break
        if b:
            got += b
        time.sleep(0.02)
    if cut is not None:
        break
print(json.dumps({"sent": sent, "total": len(a["req"]), "cut": cut,
                  "got": got.decode("latin-1")}))
"""

# Fills every connection slot, opens more, then uses the first ones.
FLOOD = r"""
import json, socket, sys, time
a = json.loads(sys.argv[1])
addr = (a["host"], a["port"])
held = [socket.create_connection(addr, timeout=5) for _ in range(a["hold"])]
time.sleep(0.5)
extra = []
for _ in range(a["extra"]):
    s = socket.create_connection(addr, timeout=5)
    data = b""
    try:
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
        closed = True
    except OSError:
        closed = False
    extra.append({"raw": data.decode("latin-1"), "closed": closed})
    s.close()
served = []
for s in held:
    s.sendall(a["req"].encode())
    data = b""
    while b"\r\n\r\n" not in data:
        b = s.recv(65536)
        if not b:
            break
        data += b
    head, _, body = data.partition(b"\r\n\r\n")
    n = 0
    for ln in head.split(b"\r\n"):
        if ln.lower().startswith(b"content-length:"):
            n = int(ln.split(b":")[1])
    while len(body) < n:
        b = s.recv(65536)
        if not b:
            break
        body += b
    served.append((head + b"\r\n\r\n" + body).decode("latin-1"))
for s in held:
    s.close()
print(json.dumps({"extra": extra, "served": served}))
"""


def in_ns_py(ns, script, args, timeout=30):
    r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c",
                        script, json.dumps(args)],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise Fail("client in %s: %s" % (ns, r.stderr[-500:]))
    return json.loads(r.stdout)


def raw(ns, req, host="169.254.169.254", port=80, timeout=10):
    """Sends req (str) as is from ns, reads to EOF -> Resp."""
    out = in_ns_py(ns, RAW_CLIENT, {"host": host, "port": port, "req": req,
                                    "timeout": timeout}, timeout + 10)
    return parse_http(out["raw"].encode("latin-1"), out["secs"])


def get_req(target, headers=("Metadata: true",), close=True):
    lines = ["GET %s HTTP/1.1" % target, "Host: 169.254.169.254"]
    lines += list(headers)
    if close:
        lines.append("Connection: close")
    return "\r\n".join(lines) + "\r\n\r\n"


def b64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_claims(tok):
    return json.loads(b64url(tok.split(".")[1]))


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


# ------------------------------------------------------------ the world


class World:
    def __init__(self, t):
        self.t = t
        self.uids = {}      # (ns, name) -> uid
        self.tokens = set()  # every access token a test received
        self.podid_logs = []  # log names of every podid started
        self.podid = None
        self.ns_of = {i: t.pods[i] for i in range(NPODS)}
        self.node_url = "http://%s:2579" % t.node_ip

    # -- podid ---------------------------------------------------------
    def start_podid(self, name, *extra, wait=True):
        t = self.t
        binary = os.path.join(REPO, os.environ.get("O", "build"), "podid")
        argv = [binary, "run", "--policy", self.policy,
                "--listen", "%s:2579" % t.node_ip,
                "--kube-api", "https://%s:%d" % (t.root_ip, t.kube_port),
                "--kube-token-file", t.token, "--kube-ca-file", t.ca,
                "--node", NODE_NAME, "--log-level", "debug"] + list(extra)
        self.podid = t.spawn(name, argv, ns=t.node)
        self.podid_name = name
        self.podid_logs.append(name)
        if wait:
            wait_for(self.ready, timeout=30, what="podid ready")

    def stop_podid(self):
        p = self.podid
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=30)

    def ready(self):
        if self.podid.poll() is not None:
            raise Fail("podid exited: " + self.t.log(self.podid_name)[-2000:])
        return self.node_get("/readyz", timeout=2).status == 200

    def node_get(self, path, headers=(), timeout=10):
        return curl(self.t.node, self.node_url + path, headers, timeout)

    def log(self):
        return self.t.log(self.podid_name)

    def ops(self, path):
        """(status, body) of podid's ops listener (127.0.0.1:2580)."""
        r = subprocess.run(["ip", "netns", "exec", self.t.node, "curl", "-s",
                            "-m", "5", "-w", "\n%{http_code}",
                            "http://127.0.0.1:2580" + path],
                           capture_output=True, text=True, timeout=15)
        body, _, code = r.stdout.rpartition("\n")
        return int(code or 0), body

    def cached(self, ns, name):
        """Whether podid's pod cache holds ns/name (its watch event is in)."""
        return self.ops("/status/pod?ns=%s&name=%s" % (ns, name))[0] == 200

    def kube_status(self):
        return json.loads(self.ops("/status")[1])["kube"]

    def parked(self, i):
        """Whether podid has read a request from pod i and not answered it
        (parked, or waiting for a token): one of its connections from the
        pod's address has bytes in, none left unread, and nothing sent
        since the last bytes came (lastrcv more recent than lastsnd)."""
        r = subprocess.run(["ip", "netns", "exec", self.t.node, "ss", "-tinH",
                            "state", "established", "( sport = :2579 )"],
                           capture_output=True, text=True, timeout=15)
        peer = self.t.pod_ips[i] + ":"
        lines = r.stdout.splitlines()
        for k, ln in enumerate(lines[:-1]):
            f = ln.split()
            if len(f) < 4 or not any(x.startswith(peer) for x in f) or \
                    f[0] != "0":
                continue
            info = dict(x.split(":", 1) for x in lines[k + 1].split()
                        if ":" in x and x.split(":", 1)[1][:1].isdigit())
            if int(info.get("bytes_received", 0)) == 0:
                continue
            if int(info.get("bytes_sent", 0)) == 0 or \
                    int(info.get("lastrcv", 0)) < int(info.get("lastsnd", 0)):
                return True
        return False

    def audits(self):
        out = []
        for ln in self.log().splitlines():
            if '"stream":"audit"' in ln:
                out.append(json.loads(ln))
        return out

    def mark(self):
        return len(self.audits())

    def audit_since(self, mark):
        return self.audits()[mark:]

    # -- the fakes -----------------------------------------------------
    def imds_state(self):
        return self.t.imds("GET", "/state")

    def upstream(self, client_id, resource):
        """Valid token requests the fake IMDS saw for the pair."""
        for e in self.imds_state()["per_identity_resource"]:
            if e["client_id"] == client_id and e["resource"] == resource:
                return e["requests"]
        return 0

    def imds_total(self):
        """Requests the fake IMDS answered, on any route."""
        return sum(self.imds_state()["counts"]["by_status"].values())

    def imds_scenario(self, **kw):
        self.t.imds("POST", "/scenario", kw)

    def add(self, i, ns, name, labels, **kw):
        r = self.t.add_pod(i, ns, name, labels, **kw)
        uid = r["pods"][0]["metadata"]["uid"]
        self.uids[(ns, name)] = uid
        return uid

    # -- requests ------------------------------------------------------
    def token(self, i, resource=VAULT, extra="", headers=("Metadata: true",),
              path=TOKEN_PATH, timeout=10):
        return curl(self.ns_of[i], token_url(resource, extra, path),
                    headers, timeout)

    def check_token(self, r, ident, resource, what="token", echo=None):
        """r is IMDS's 200 with ident's token for resource; returns it.
        echo: the selector IMDS echoes besides client_id ("object_id" or
        "msi_res_id"), with ident's value."""
        eq(r.status, 200, what + " status (%r)" % r)
        need(r.headers.get("content-type", "").startswith(
            "application/json"), what + ": content-type %r" %
            r.headers.get("content-type"))
        d = r.json
        need(isinstance(d, dict), what + ": body not a JSON object")
        eq(set(d), FIELDS | ({echo} if echo else set()), what + " fields")
        if echo:
            eq(d[echo].lower(), ident[echo].lower(), what + " " + echo)
        for k, v in d.items():
            need(isinstance(v, str), "%s: %s is %r, not a string" %
                 (what, k, v))
        eq(d["client_id"], ident["client_id"], what + " client_id")
        eq(d["resource"], resource, what + " resource")
        eq(d["token_type"], "Bearer", what + " token_type")
        eq(d["refresh_token"], "", what + " refresh_token")
        now = time.time()
        exp, nbf = int(d["expires_on"]), int(d["not_before"])
        need(abs(exp - now - int(d["expires_in"])) <= 5,
             what + ": expires_in does not match expires_on")
        eq(d["ext_expires_in"], d["expires_in"], what + " ext_expires_in")
        need(nbf <= now + 5 and exp > now + 60, what + ": times %r" % d)
        c = jwt_claims(d["access_token"])
        eq(c["appid"], ident["client_id"], what + ": the token's appid")
        eq(c["aud"], resource, what + ": the token's aud")
        self.tokens.add(d["access_token"])
        return d

    def check_error(self, r, status, desc, what="error", retry_after=None):
        eq(r.status, status, what + " status (%r)" % r)
        need(r.headers.get("content-type", "").startswith(
            "application/json"), what + ": content-type")
        need(isinstance(r.json, dict), what + ": body %r" % r.body)
        if desc is not None:
            eq(r.json.get("error_description"), desc, what + " description")
            need(isinstance(r.json.get("error"), str), what + ": no error")
        ra = r.headers.get("retry-after")
        if retry_after:
            need(ra is not None and ra.isdigit() and int(ra) >= 1,
                 what + ": Retry-After %r" % ra)
        elif retry_after is False:
            need(ra is None, what + ": unexpected Retry-After")

    def check_audit(self, a, ns_name=None, **want):
        for k in AUDIT_FIELDS:
            need(k in a, "audit line without %s: %r" % (k, a))
        if ns_name:
            eq((a["namespace"], a["pod"]), ns_name, "audit pod")
            eq(a["pod_uid"], self.uids[ns_name], "audit pod uid")
        for k, v in want.items():
            eq(a[k], v, "audit " + k)
        need("access_token" not in a and "token" not in a,
             "audit line carries a token field")

    def one_audit(self, mark, ns_name=None, **want):
        lines = self.audit_since(mark)
        eq(len(lines), 1, "audit lines (%r)" % lines)
        self.check_audit(lines[0], ns_name, **want)
        return lines[0]

    def sdk(self, i, resource, *args, timeout=25):
        r = subprocess.run(["ip", "netns", "exec", self.ns_of[i], "node",
                            SDK, resource] + list(args),
                           capture_output=True, text=True,
                           timeout=timeout + 5)
        try:
            return json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise Fail("getToken.js: %r %r" % (r.stdout, r.stderr[-500:]))


# ------------------------------------------------------------ the cases


def c_ready_before_list(w):
    """/readyz is 503 until the first pod list is in; /healthz 200 at once."""
    # The list answered 5 s after it is asked: time for a sanitized podid
    # on a loaded machine to listen and answer /readyz before it.
    w.t.kube("POST", "/scenario", {"slow_list_ms": 5000})
    try:
        w.start_podid("podid", wait=False)
        r = wait_for(lambda: (lambda x: x if x.status else None)(
            w.node_get("/readyz", timeout=2)), timeout=10,
            what="podid listening")
        eq(r.status, 503, "readyz before the list")
        eq(r.json, {"ready": False, "policy": True, "pods_synced": False,
                    "detail": ""}, "readyz body")
        h = w.node_get("/healthz")
        eq((h.status, h.json), (200, {"status": "ok"}), "healthz")
        wait_for(w.ready, timeout=20, what="ready after the list")
    finally:
        w.t.kube("POST", "/scenario", {"slow_list_ms": 0})
    r = w.node_get("/readyz")
    eq((r.status, r.json["ready"]), (200, True), "readyz once ready")


def c_own_token(w):
    """The right pod gets its own identity's token, IMDS's shape."""
    m = w.mark()
    r = w.token(P_ORDERS)
    d = w.check_token(r, ORDERS, VAULT)
    eq(w.upstream(ORDERS["client_id"], VAULT), 1, "upstream requests")
    a = w.one_audit(m, ("shop", "orders-1"), identity="orders-mi",
                    rule="orders", resource=VAULT, outcome="served",
                    status=200)
    eq(a["expires_on"], int(d["expires_on"]), "audit expires_on")
    r = w.token(P_WEB)
    w.check_token(r, WEB, VAULT, "web pod")


def c_cached(w):
    """A second request is served from the cache: same token, no fetch."""
    first = w.token(P_ORDERS).json["access_token"]
    m = w.mark()
    r = w.token(P_ORDERS)
    eq(w.check_token(r, ORDERS, VAULT)["access_token"], first, "token")
    eq(w.upstream(ORDERS["client_id"], VAULT), 1, "upstream requests")
    w.one_audit(m, ("shop", "orders-1"), outcome="served", code="cache")


def c_path_variants(w):
    """/metadata in any case, with or without the trailing slash."""
    for path in (TOKEN_PATH + "/", "/Metadata/identity/oauth2/token",
                 "/METADATA/identity/oauth2/token/"):
        w.check_token(w.token(P_ORDERS, path=path), ORDERS, VAULT, path)
    eq(w.upstream(ORDERS["client_id"], VAULT), 1, "upstream requests")
    for path in ("/metadata/identity/oauth2/tokenx",
                 "/metadata/Identity/oauth2/token",
                 "/metadata/identity/oauth2//token"):
        r = w.token(P_ORDERS, path=path)
        need(r.status == 400 and "access_token" not in r.body,
             "%s: %r" % (path, r))


def c_percent_decoded(w):
    """The query is percent-decoded: raw and encoded resources are one."""
    raw_url = IMDS + TOKEN_PATH + "?resource=" + VAULT + \
        "&api-version=2018-02-01"
    r = curl(w.ns_of[P_ORDERS], raw_url)
    w.check_token(r, ORDERS, VAULT, "unencoded resource")
    r = w.token(P_ORDERS, extra="&client_id=%s" %
                q(ORDERS["client_id"]).upper().replace("-", "%2D"))
    w.check_token(r, ORDERS, VAULT, "encoded, upper-case client_id")
    eq(w.upstream(ORDERS["client_id"], VAULT), 1, "upstream requests")
    r = curl(w.ns_of[P_ORDERS], IMDS + TOKEN_PATH +
             "?api-version=2018-02-01&resource=https%3A%2F%zzvault")
    w.check_error(r, 400, None, "bad escape")


def c_probe_at_once(w):
    """No Metadata header: 400 at once, even from a pod nobody knows."""
    for hdrs, what in (((), "no header"), (("Metadata: True",), "True"),
                       (("Metadata: false",), "false")):
        m = w.mark()
        r = w.token(P_NONE, headers=hdrs)
        w.check_error(r, 400, "Required metadata header not specified", what)
        # At once: not parked (2 s) for the unknown pod.
        need(r.secs < 1.5, "%s answered after %.2fs" % (what, r.secs))
        w.one_audit(m, outcome="bad_request", code="no_metadata", pod="",
                    status=400)
    # The @azure/identity probe: no query at all.
    r = curl(w.ns_of[P_NONE], IMDS + TOKEN_PATH, headers=())
    w.check_error(r, 400, "Required metadata header not specified", "probe")
    need(r.secs < 1.5, "probe answered after %.2fs" % r.secs)
    r = raw(w.ns_of[P_ORDERS], get_req(TOKEN_PATH + "?api-version=2018-02-01"
                                       "&resource=" + q(VAULT), headers=(
                                           "Metadata: true",
                                           "Metadata: true")))
    w.check_error(r, 400, "Required metadata header not specified",
                  "two Metadata headers")
    # A known pod's refusal names it.
    m = w.mark()
    r = w.token(P_ORDERS, headers=())
    w.check_error(r, 400, "Required metadata header not specified", "orders")
    w.one_audit(m, ("shop", "orders-1"), outcome="bad_request", identity="")


def c_xff_refused(w):
    """A request carrying X-Forwarded-For is refused, whoever sends it."""
    for h in ("X-Forwarded-For: 10.0.0.1", "X-Forwarded-For;"):
        m = w.mark()
        r = w.token(P_ORDERS, headers=("Metadata: true", h))
        w.check_error(r, 400, None, h)
        need("access_token" not in r.body, h + ": a token")
        w.one_audit(m, ("shop", "orders-1"), outcome="bad_request",
                    code="x_forwarded_for")
    r = raw(w.ns_of[P_ORDERS], get_req(
        TOKEN_PATH + "?api-version=2018-02-01&resource=" + q(VAULT),
        headers=("x-forwarded-for:", "Metadata: true")))
    w.check_error(r, 400, None, "lower-case, empty")
    need("access_token" not in r.body, "lower-case, empty: a token")


def c_query_checks(w):
    """Duplicate names, missing resource or api-version: IMDS's 400s."""
    base = IMDS + TOKEN_PATH
    cases = (
        ("?api-version=2018-02-01&resource=%s&resource=%s" % (
            q(VAULT), q(VAULT)), None, "duplicate resource"),
        ("?api-version=2018-02-01&api-version=2018-02-01&resource=%s" %
         q(VAULT), None, "duplicate api-version"),
        ("?api-version=2018-02-01&resource=%s&client_id=%s&client_id=%s" %
         (q(VAULT), ORDERS["client_id"], ORDERS["client_id"]), None,
         "duplicate client_id"),
        ("?api-version=2018-02-01&resource=%s&resourc%%65=x" % q(VAULT),
         None, "duplicate after decoding"),
        ("?api-version=2018-02-01",
         "Required query variable 'resource' is missing", "no resource"),
        ("?api-version=2018-02-01&resource=",
         "Required query variable 'resource' is missing", "empty resource"),
        ("?resource=%s" % q(VAULT),
         "Required query variable 'api-version' is missing",
         "no api-version"),
        ("?api-version=2017-01-01&resource=%s" % q(VAULT),
         "Invalid 'api-version' requested", "old api-version"),
        ("?api-version=2018-02-01&resource=%s&client_id=%s&object_id=%s" %
         (q(VAULT), ORDERS["client_id"], ORDERS["object_id"]), None,
         "two selectors"),
    )
    before = w.imds_state()["counts"]["token_requests"]
    for query, desc, what in cases:
        m = w.mark()
        r = curl(w.ns_of[P_ORDERS], base + query)
        w.check_error(r, 400, desc, what)
        need("access_token" not in r.body, what + ": a token")
        w.one_audit(m, ("shop", "orders-1"), outcome="bad_request")
    eq(w.imds_state()["counts"]["token_requests"], before,
       "requests reaching the fake IMDS")


def c_no_binding(w):
    """A pod no binding selects gets "Identity not found", and IMDS is not
    asked; nor is it for an identity the pod does not hold."""
    before = w.imds_state()["counts"]["token_requests"]
    m = w.mark()
    r = w.token(P_PLAIN)
    w.check_error(r, 400, "Identity not found", "plain pod", False)
    w.one_audit(m, ("shop", "plain-1"), outcome="no_identity", status=400,
                identity="", resource=VAULT)
    for sel in ("client_id=" + WEB["client_id"],
                "client_id=" + UNKNOWN_CID,
                "object_id=" + BATCH["object_id"],
                "msi_res_id=" + q(WEB["msi_res_id"])):
        r = w.token(P_ORDERS, extra="&" + sel)
        w.check_error(r, 400, "Identity not found", sel, False)
    eq(w.imds_state()["counts"]["token_requests"], before,
       "requests reaching the fake IMDS")


def c_selectors(w):
    """client_id, object_id, msi_res_id and mi_res_id select among the
    pod's identities (GUIDs and ARM ids without case)."""
    sels = (("client_id", BATCH["client_id"], BATCH),
            ("client_id", ORDERS["client_id"].upper(), ORDERS),
            ("object_id", BATCH["object_id"], BATCH),
            ("object_id", ORDERS["object_id"], ORDERS),
            ("msi_res_id", BATCH["msi_res_id"], BATCH),
            ("mi_res_id", BATCH["msi_res_id"].upper(), BATCH))
    for name, val, ident in sels:
        m = w.mark()
        r = w.token(P_MULTI, STORAGE, "&%s=%s" % (name, q(val)))
        echo = {"object_id": "object_id", "msi_res_id": "msi_res_id",
                "mi_res_id": "msi_res_id"}.get(name)
        w.check_token(r, ident, STORAGE, "%s=%s" % (name, val), echo=echo)
        a = w.one_audit(m, ("batch", "multi-1"), outcome="served",
                        rule="multi")
        eq(a["identity"], "orders-mi" if ident is ORDERS else "batch-mi",
           "audit identity")
    eq(w.upstream(BATCH["client_id"], STORAGE), 1, "batch upstream")
    eq(w.upstream(ORDERS["client_id"], STORAGE), 1, "orders upstream")


def c_several_no_selector(w):
    """Several identities and no selector: IMDS's error, never a pick."""
    before = w.imds_state()["counts"]["token_requests"]
    for _ in range(3):
        m = w.mark()
        r = w.token(P_MULTI, STORAGE)
        w.check_error(r, 400, "Multiple user assigned identities exist, "
                      "please specify the clientId / resourceId of the "
                      "identity in the token request", "no selector", False)
        w.one_audit(m, ("batch", "multi-1"), outcome="several_identities",
                    identity="")
    eq(w.imds_state()["counts"]["token_requests"], before,
       "requests reaching the fake IMDS")


def c_concurrent_one_fetch(w):
    """50 concurrent requests for a new token: one upstream fetch; a second
    resource: one more."""
    res = "https://management.azure.com/"
    # IMDS slow enough that the 50 requests arrive during the one fetch.
    w.imds_scenario(delay_ms=1500)
    m = w.mark()
    outd = tempfile.mkdtemp(prefix="podid-e2e-par-")
    try:
        argv = ["curl", "-s", "-Z", "--parallel-max", "50",
                "--parallel-immediate", "-m", "15", "-H", "Metadata: true",
                "-w", "%{http_code}\n"]
        for k in range(50):
            argv += [token_url(res), "-o", os.path.join(outd, "r%d" % k)]
        p = subprocess.run(["ip", "netns", "exec", w.ns_of[P_ORDERS]] + argv,
                           capture_output=True, text=True, timeout=30)
        codes = p.stdout.split()
        eq(codes, ["200"] * 50, "statuses")
        toks = set()
        for k in range(50):
            with open(os.path.join(outd, "r%d" % k)) as f:
                d = json.load(f)
            toks.add(d["access_token"])
            for v in d.values():
                need(isinstance(v, str), "a field not a string")
    finally:
        shutil.rmtree(outd, ignore_errors=True)
        w.imds_scenario(delay_ms=0)
    eq(len(toks), 1, "distinct tokens")
    w.tokens |= toks
    eq(w.upstream(ORDERS["client_id"], res), 1, "upstream requests")
    lines = [a for a in w.audit_since(m) if a["resource"] == res]
    eq(len(lines), 50, "audit lines")
    need(all(a["outcome"] == "served" for a in lines), "audit outcomes")
    need(sum(a["code"] != "cache" for a in lines) > 1,
         "no request waited on the shared fetch: %r" %
         sorted(set(a["code"] for a in lines)))
    res2 = "https://graph.microsoft.com/"
    w.check_token(w.token(P_ORDERS, res2), ORDERS, res2)
    w.check_token(w.token(P_ORDERS, res2), ORDERS, res2)
    eq(w.upstream(ORDERS["client_id"], res2), 1, "second resource")
    eq(w.upstream(ORDERS["client_id"], res), 1, "first resource after")


def c_many_resources(w):
    """30 new tokens at once: podid keeps to IMDS's limits (5 in flight,
    20 per second) and serves all of them."""
    before = w.imds_state()["counts"]
    w.imds_scenario(delay_ms=100)
    try:
        bgs = [Bg(w.ns_of[P_WEB], token_url("api://e2e-many-%d" % k),
                  timeout=20) for k in range(30)]
        rs = [b.result(30) for b in bgs]
    finally:
        w.imds_scenario(delay_ms=0)
    for k, r in enumerate(rs):
        w.check_token(r, WEB, "api://e2e-many-%d" % k, "resource %d" % k)
    st = w.imds_state()
    need(st["max_concurrency"] <= 5, "IMDS saw %d in flight" %
         st["max_concurrency"])
    eq(st["counts"].get("rate_limited", 0), before.get("rate_limited", 0),
       "rate-limited requests")
    eq(st["counts"]["token_requests"] - before["token_requests"], 30,
       "upstream requests")


def c_transient(w):
    """Upstream trouble: retried within budget; else 503 + Retry-After."""
    res = "api://e2e-transient-1"
    w.imds_scenario(fail_next_n={"n": 1, "status": 503})
    r = w.token(P_ORDERS, res)
    w.check_token(r, ORDERS, res, "after one 503")
    eq(w.upstream(ORDERS["client_id"], res), 2, "upstream requests")
    res = "api://e2e-transient-2"
    w.imds_scenario(fail_next_n={"n": 1, "status": 429, "retry_after": 30})
    m = w.mark()
    r = w.token(P_ORDERS, res)
    w.check_error(r, 503, None, "429 with Retry-After 30", True)
    eq(r.headers.get("retry-after"), "30", "Retry-After passed on")
    need(r.secs < 5, "answered after %.1fs" % r.secs)
    a = w.one_audit(m, ("shop", "orders-1"), status=503, resource=res)
    need(a["outcome"] != "served", "audit outcome")
    res = "api://e2e-transient-3"
    w.imds_scenario(fail_next_n={"n": 10, "status": 500})
    try:
        r = w.token(P_ORDERS, res, timeout=25)
    finally:
        w.imds_scenario(fail_next_n=None)
    w.check_error(r, 503, None, "500s until the budget", True)
    eq(w.upstream(ORDERS["client_id"], res), 4, "attempts")
    r = w.token(P_ORDERS, res)
    w.check_token(r, ORDERS, res, "once IMDS is back")


def c_park_timeout(w):
    """A pod no event ever names: parked about 2 s, then 503 + Retry-After."""
    before = w.imds_state()["counts"]["token_requests"]
    m = w.mark()
    r = w.token(P_NONE)
    w.check_error(r, 503, None, "unknown pod", True)
    need(1.7 <= r.secs <= 4.5, "answered after %.2fs" % r.secs)
    w.one_audit(m, None, outcome="pod_unknown", status=503, pod="")
    eq(w.imds_state()["counts"]["token_requests"], before,
       "requests reaching the fake IMDS")


def c_park_then_event(w):
    """A pod requesting before its watch event: answered once it lands."""
    bg = Bg(w.ns_of[P_LATE], token_url())
    # The request is in podid (read, unanswered) before the pod exists.
    wait_for(lambda: w.parked(P_LATE) or bg.done_at is not None,
             timeout=10, step=0.02, what="the request parked in podid")
    if bg.done_at is not None:
        raise Fail("answered before its pod existed: %r" % bg.result())
    # Taken before the add: the fake sends the watch event before it
    # answers the add, so podid may answer the pod before add() returns.
    event_at = time.monotonic()
    w.add(P_LATE, "shop", "late-1", {"app": "orders"})
    r = bg.result()
    w.check_token(r, ORDERS, VAULT, "parked request")
    need(bg.done_at >= event_at, "answered before the event")
    need(bg.done_at - event_at < 1.5, "answered %.2fs after the event" %
         (bg.done_at - event_at))
    # Parked at most 2 s from its arrival, which was after bg began: an
    # answer inside 1.9 s came from the event, not the park's deadline.
    need(r.secs < 1.9, "answered %.2fs after it asked" % r.secs)
    a = [x for x in w.audits() if x["pod"] == "late-1"]
    eq(len(a), 1, "audit lines for late-1")
    w.check_audit(a[0], ("shop", "late-1"), outcome="served")


def c_deleted_in_flight(w):
    """A pod deleted while its token is fetched gets none."""
    res = "api://e2e-inflight"
    w.imds_scenario(delay_ms=3000)
    try:
        bg = Bg(w.ns_of[P_LATE], token_url(res))
        # IMDS holds the fetch (3 s): the pod goes while it is out.
        wait_for(lambda: w.upstream(ORDERS["client_id"], res) >= 1 or
                 bg.done_at is not None, timeout=10,
                 what="the fetch at the fake IMDS")
        if bg.done_at is not None:
            raise Fail("answered before the fetch: %r" % bg.result())
        m = w.mark()
        w.t.kube("DELETE", "/pods/shop/late-1")
        r = bg.result()
    finally:
        w.imds_scenario(delay_ms=0)
    w.check_error(r, 400, "Identity not found", "deleted in flight")
    w.one_audit(m, ("shop", "late-1"), outcome="pod_gone", status=400)


def c_deleted_pod(w):
    """A deleted pod gets nothing: no token, no upstream request."""
    before = w.imds_state()["counts"]["token_requests"]
    m = w.mark()
    r = w.token(P_LATE, "api://e2e-deleted")
    need(r.status in (400, 503), "deleted pod: %r" % r)
    need("access_token" not in r.body, "deleted pod got a token")
    if r.status == 503:
        w.check_error(r, 503, None, "deleted pod", True)
    a = w.one_audit(m)
    need(a["outcome"] != "served" and a["pod"] in ("", "late-1"),
         "audit %r" % a)
    eq(w.imds_state()["counts"]["token_requests"], before,
       "requests reaching the fake IMDS")


def sdk_same(w, i, out, ident, resource, extra=""):
    """The SDK's token is the one curl gets for ident (cached)."""
    need(out.get("ok"), "SDK: %r" % out)
    d = w.check_token(w.token(i, resource, extra), ident, resource, "curl")
    eq(out["tokenSha256"], sha(d["access_token"]), "the SDK's token")


def c_sdk(w):
    """@azure/identity ManagedIdentityCredential, no endpoint override."""
    sdk_same(w, P_ORDERS, w.sdk(P_ORDERS, VAULT), ORDERS, VAULT)
    sdk_same(w, P_MULTI, w.sdk(P_MULTI, VAULT, BATCH["client_id"]), BATCH,
             VAULT, "&client_id=" + BATCH["client_id"])
    sdk_same(w, P_MULTI, w.sdk(P_MULTI, VAULT, "--resource-id",
                               BATCH["msi_res_id"]), BATCH, VAULT,
             "&client_id=" + BATCH["client_id"])
    sdk_same(w, P_MULTI, w.sdk(P_MULTI, VAULT, "--object-id",
                               ORDERS["object_id"]), ORDERS, VAULT,
             "&client_id=" + ORDERS["client_id"])
    out = w.sdk(P_MULTI, VAULT)
    need(not out.get("ok") and "Multiple user assigned" in out["message"],
         "several identities, no client id: %r" % out)
    out = w.sdk(P_PLAIN, VAULT)
    need(not out.get("ok") and "Identity not found" in out["message"],
         "no binding: %r" % out)
    out = w.sdk(P_WEB, VAULT, ORDERS["client_id"])
    need(not out.get("ok") and "Identity not found" in out["message"],
         "another pod's client id: %r" % out)


def c_sdk_parked(w):
    """The SDK in a pod whose event lands after its first request."""
    m = w.mark()
    p = subprocess.Popen(["ip", "netns", "exec", w.ns_of[P_SDK_LATE], "node",
                          SDK, STORAGE], stdout=subprocess.PIPE, text=True)
    # Wait until the SDK's request is parked in podid (read, unanswered:
    # its probe without Metadata is answered at once), then add the pod.
    wait_for(lambda: w.parked(P_SDK_LATE) or p.poll() is not None,
             timeout=20, step=0.05, what="the SDK's request")
    need(p.poll() is None, "the SDK ended before its pod existed")
    w.add(P_SDK_LATE, "shop", "sdk-late", {"app": "orders"})
    out_s = p.communicate(timeout=30)[0]
    out = json.loads(out_s.strip().splitlines()[-1])
    m2 = w.mark()
    sdk_same(w, P_SDK_LATE, out, ORDERS, STORAGE)
    lines = [a for a in w.audits()[m:m2] if a["pod"] == "sdk-late"]
    eq([a["outcome"] for a in lines], ["served"], "audit outcomes")
    need(not any(a["outcome"] == "pod_unknown" for a in w.audit_since(m)),
         "the SDK's request timed out parked")


def c_ip_reuse(w):
    """Pod A deleted, pod B created on A's address with another identity:
    B gets only B's identity, never A's, also right after the swap."""
    i = P_SDK_LATE
    a_tok = w.check_token(w.token(i), ORDERS, VAULT, "A before")
    bgs = []
    w.t.kube("DELETE", "/pods/shop/sdk-late")
    w.add(i, "shop", "web-late", {"app": "web"})
    # The swap is podid's once both watch events are in: before that A is,
    # to podid, still the live pod on the address.
    wait_for(lambda: w.cached("shop", "web-late") and
             not w.cached("shop", "sdk-late"), timeout=10,
             what="both watch events in podid")
    # Past the address's quarantine (5 s), with room for B's answers.
    stop = time.monotonic() + 7.5
    while time.monotonic() < stop:
        bgs.append(Bg(w.ns_of[i], token_url()))
        bgs.append(Bg(w.ns_of[i], token_url(
            extra="&client_id=" + ORDERS["client_id"])))
        time.sleep(0.25)
    served = 0
    for k, b in enumerate(bgs):
        r = b.result(20)
        # Even k: no selector (B's token or not yet); odd k: A's client id
        # (refused, or not yet).
        need(r.status in ((200, 503) if k % 2 == 0 else (400, 503)),
             "request %d after the swap: %r" % (k, r))
        if r.status == 200:
            w.check_token(r, WEB, VAULT, "B's token")
            need(r.json["access_token"] != a_tok["access_token"], "A's token")
            served += 1
        elif r.status == 400:
            eq(r.json.get("error_description"), "Identity not found", "400")
        else:
            w.check_error(r, 503, None, "during the swap", True)
    need(served > 0, "B never served")
    r = w.token(i, extra="&client_id=" + ORDERS["client_id"])
    w.check_error(r, 400, "Identity not found", "B asking for A's id")
    w.check_token(w.token(i), WEB, VAULT, "B after")


def c_ambiguous(w):
    """Two live pods claiming one address: 503 + Retry-After, no token."""
    w.add(P_NONE, "shop", "dup-a", {"app": "orders"})
    w.add(P_NONE, "shop", "dup-b", {"app": "web"})
    wait_for(lambda: w.cached("shop", "dup-a") and w.cached("shop", "dup-b"),
             timeout=10, what="both pods in podid's cache")
    r = w.token(P_NONE)
    need("access_token" not in r.body, "a token for a shared address")
    w.check_error(r, 503, None, "shared address", True)


def c_exception(w):
    """Exception pods: their request goes to the node's IMDS unchanged."""
    query = ("api-version=2018-02-01&resource=%s&client_id=%s" %
             (q(STORAGE), WEB["client_id"]))
    m = w.mark()
    r = curl(w.ns_of[P_ADDON], IMDS + TOKEN_PATH + "?" + query,
             headers=("Metadata: true", "X-E2e-Marker: addon"))
    w.check_token(r, WEB, STORAGE, "exception pod")
    last = w.imds_state()["last_token_request"]
    eq(last["query"], query, "the query IMDS saw")
    names = [h[0].lower() for h in last["headers"]]
    need("x-forwarded-for" not in names, "X-Forwarded-For added")
    need("x-e2e-marker" in names, "the pod's header dropped: %r" % names)
    ua = [h[1] for h in last["headers"] if h[0].lower() == "user-agent"]
    need(ua and ua[0].startswith("curl/"), "User-Agent %r" % ua)
    # Not a route the policy proxies: exception pods still reach IMDS.
    r = curl(w.ns_of[P_ADDON], IMDS + "/metadata/instance?api-version="
             "2021-02-01")
    eq(r.status, 200, "instance for an exception pod (%r)" % r)
    need("compute" in (r.json or {}), "instance body")
    lines = w.audit_since(m)
    eq(len(lines), 1, "audit lines (%r)" % lines)
    w.check_audit(lines[0], ("kube-system", "addon-1"), outcome="proxied",
                  status=200, identity="", resource=STORAGE)


def c_proxy_route(w):
    """proxy-route: the named route is proxied; other routes refused."""
    w.t.imds("POST", "/instance", {"compute": {"location": "e2e-west"}})
    path = "/metadata/instance/compute/location"
    qs = "?api-version=2021-01-01&format=text"
    r = curl(w.ns_of[P_ORDERS], IMDS + path + qs)
    eq((r.status, r.body), (200, "e2e-west"), "allowed route (%r)" % r)
    last = w.imds_state()["last_request"]
    eq((last["path"], "?" + last["query"]), (path, qs), "the request IMDS saw")
    need("x-forwarded-for" not in [h[0].lower() for h in last["headers"]],
         "X-Forwarded-For added")
    n = w.imds_total()
    for p in ("/metadata/instance", "/metadata/instance/compute",
              "/metadata/instance/compute/locationx",
              "/metadata/identity/info", "/metadata/versions"):
        r = curl(w.ns_of[P_ORDERS], IMDS + p + "?api-version=2021-01-01")
        need(r.status in (400, 403, 404), "%s: %r" % (p, r))
        need(isinstance(r.json, dict) and "error" in r.json, p + ": body")
    eq(w.imds_total(), n, "requests reaching IMDS")
    # IMDS refuses X-Forwarded-For everywhere: podid does not pass it on.
    for i in (P_ORDERS, P_ADDON):
        r = curl(w.ns_of[i], IMDS + path + qs,
                 headers=("Metadata: true", "X-Forwarded-For: 10.1.1.1"))
        eq(r.status, 400, "X-Forwarded-For from pod %d (%r)" % (i, r))
        need(isinstance(r.json, dict) and "error" in r.json, "XFF body")
    eq(w.imds_total(), n, "requests reaching IMDS")


def host_url(resource=VAULT, extra=""):
    return "/host/token/?resource=%s%s" % (q(resource), extra)


def c_host_token(w):
    """/host/token/ from the node: the named pod's host-token identity."""
    m = w.mark()
    r = w.node_get(host_url(), ("podns: shop", "podname: orders-1"))
    eq(r.status, 200, "host token (%r)" % r)
    d = r.json
    eq(set(d), {"token", "clientid"}, "host token fields")
    eq(d["clientid"], ORDERS["client_id"], "clientid")
    tok = d["token"]
    need(isinstance(tok, dict) and all(isinstance(v, str)
                                       for v in tok.values()), "token shape")
    eq(jwt_claims(tok["access_token"])["appid"], ORDERS["client_id"], "appid")
    w.tokens.add(tok["access_token"])
    w.one_audit(m, ("shop", "orders-1"), outcome="served",
                identity="orders-mi", route="host_token")
    # web-mi is the pod's, but not listed in host-token.
    m = w.mark()
    r = w.node_get(host_url(), ("podns: shop", "podname: web-1"))
    w.check_error(r, 400, "Identity not found", "identity not in host-token")
    w.one_audit(m, ("shop", "web-1"), outcome="no_identity",
                route="host_token")
    r = w.node_get(host_url(), ("podns: shop",))
    w.check_error(r, 400, None, "no podname")
    r = w.node_get(host_url(), ("podns: shop", "podname: nobody"))
    need(r.status == 503 and "access_token" not in r.body,
         "unknown pod name: %r" % r)


def c_host_token_from_pod(w):
    """/host/token/ from a pod is refused, by IMDS address or podid's."""
    hdrs = ("Metadata: true", "podns: shop", "podname: orders-1")
    for url in (IMDS + host_url(), w.node_url + host_url()):
        r = curl(w.ns_of[P_PLAIN], url, hdrs)
        eq(r.status, 403, "%s (%r)" % (url, r))
        need("access_token" not in r.body, "a token")


def c_flood(w):
    """More connections than --max-connections: the extra ones get 503 and
    are closed; the ones in the slots are still served."""
    w.stop_podid()
    w.start_podid("podid-flood", "--max-connections", "8")
    out = in_ns_py(w.ns_of[P_ORDERS], FLOOD, {
        "host": "169.254.169.254", "port": 80, "hold": 8, "extra": 10,
        "req": get_req(TOKEN_PATH + "?api-version=2018-02-01&resource=" +
                       q(VAULT))}, timeout=40)
    eq(len(out["extra"]), 10, "extra connections")
    for e in out["extra"]:
        r = parse_http(e["raw"].encode("latin-1"), 0)
        need(e["closed"], "an extra connection was not closed")
        w.check_error(r, 503, None, "an extra connection", True)
    eq(len(out["served"]), 8, "held connections")
    for s in out["served"]:
        w.check_token(parse_http(s.encode("latin-1"), 0), ORDERS, VAULT,
                      "a held connection")
    w.check_token(w.token(P_WEB), WEB, VAULT, "after the flood")


def c_slow_client(w):
    """A head trickled byte by byte is cut at the header timeout (5 s);
    others are served meanwhile."""
    res = {}

    def trickle():
        res["out"] = in_ns_py(w.ns_of[P_PLAIN], TRICKLE, {
            "host": "169.254.169.254", "port": 80, "gap": 0.25,
            "limit": 12, "req": get_req(TOKEN_PATH + "?api-version="
                                        "2018-02-01&resource=" + q(VAULT))})
    th = threading.Thread(target=trickle, daemon=True)
    th.start()
    time.sleep(0.5)
    slow = []
    while th.is_alive():
        r = w.token(P_ORDERS)
        w.check_token(r, ORDERS, VAULT, "meanwhile")
        slow.append(r.secs)
        time.sleep(0.3)
    th.join()
    out = res["out"]
    need(out["cut"] is not None, "never cut: %r" % out)
    need(4.5 <= out["cut"] <= 7.5, "cut after %.2fs" % out["cut"])
    need(out["sent"] < out["total"], "the whole head went through")
    need("access_token" not in out["got"], "the slow client got a token")
    # Served meanwhile, not held until the slow head is cut (~5 s).
    need(len(slow) >= 5 and max(slow) < 3.0,
         "others meanwhile: %r" % slow)


def c_api_down(w):
    """The API server gone: cached tokens are still served."""
    r = w.token(P_ORDERS, STORAGE)
    first = w.check_token(r, ORDERS, STORAGE, "before")["access_token"]
    n = w.upstream(ORDERS["client_id"], STORAGE)
    st = w.t.kube("GET", "/state")
    eq(st["violations"], [], "fake API server violations")
    errors = w.kube_status()["errors"]
    for name, p, _ in w.t.procs:
        if name == "kube" and p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)
    # podid has noticed: its watch ended and the API server refuses it.
    wait_for(lambda: w.kube_status()["errors"] > errors, timeout=15,
             what="podid to notice the API server gone")
    for _ in range(3):
        r = w.token(P_ORDERS, STORAGE)
        eq(w.check_token(r, ORDERS, STORAGE, "API down")["access_token"],
           first, "the cached token")
    eq(w.upstream(ORDERS["client_id"], STORAGE), n, "upstream requests")


def c_audit_complete(w):
    """Every audit line has its fields; never a token in any log."""
    for name in w.podid_logs:
        for ln in w.t.log(name).splitlines():
            d = json.loads(ln)
            if d.get("stream") == "audit":
                w.check_audit(d)
                need(isinstance(d["expires_on"], int), "expires_on type")
                need(d["outcome"] != "served" or d["expires_on"] > 0,
                     "served without expiry: %r" % d)
    need(len(w.tokens) >= 10, "too few tokens seen: %d" % len(w.tokens))
    leaks = []
    for root, _, files in os.walk(w.t.dir):
        for f in files:
            path = os.path.join(root, f)
            with open(path, "rb") as fh:
                data = fh.read()
            for tok in w.tokens:
                sig = tok.rsplit(".", 1)[1]
                if tok.encode() in data or sig.encode() in data:
                    leaks.append(os.path.relpath(path, w.t.dir))
                    break
    eq(leaks, [], "files holding a token")
    # Nor the API server's bearer token in podid's logs.
    with open(w.t.token) as f:
        bearer = f.read().strip()
    for name in w.podid_logs:
        need(bearer not in w.t.log(name), name + " logs the API token")


def c_fakes_clean(w):
    """The fake IMDS had no internal error (violations: after each case)."""
    eq(w.imds_state()["internal_errors"], 0, "fake IMDS internal errors")


def checked(w, fn):
    """Runs a case; it fails too if the fake IMDS saw a violation."""
    def run():
        before = len(w.imds_state()["violations"])
        try:
            fn(w)
        finally:
            new = w.imds_state()["violations"][before:]
        need(not new, "fake IMDS violations: %r" % new)
    return run


CASES = [
    ("readyz after the first list, healthz at once", c_ready_before_list),
    ("the right pod gets its own identity's token", c_own_token),
    ("a cached token: same token, no upstream request", c_cached),
    ("/metadata in any case, trailing slash", c_path_variants),
    ("query percent-decoded", c_percent_decoded),
    ("no Metadata: 400 at once, even unknown pods", c_probe_at_once),
    ("X-Forwarded-For refused", c_xff_refused),
    ("duplicate names, missing resource or api-version", c_query_checks),
    ("no binding or not its identity: Identity not found", c_no_binding),
    ("client_id/object_id/msi_res_id/mi_res_id select", c_selectors),
    ("several identities, no selector: IMDS's error", c_several_no_selector),
    ("50 concurrent requests: one upstream fetch", c_concurrent_one_fetch),
    ("30 new tokens at once within IMDS's limits", c_many_resources),
    ("transient upstream trouble: retry, or 503 + Retry-After",
     c_transient),
    ("unknown pod: parked ~2 s, then 503 + Retry-After", c_park_timeout),
    ("request before the watch event: served when it lands",
     c_park_then_event),
    ("pod deleted during the fetch gets no token", c_deleted_in_flight),
    ("deleted pod gets nothing", c_deleted_pod),
    ("Azure SDK with and without client id", c_sdk),
    ("Azure SDK before the watch event", c_sdk_parked),
    ("IP reuse: the new pod gets only its own identity", c_ip_reuse),
    ("two pods on one address: 503 + Retry-After", c_ambiguous),
    ("exception pod proxied unchanged", c_exception),
    ("proxy-route allowed, other routes refused", c_proxy_route),
    ("/host/token/ from the node", c_host_token),
    ("/host/token/ refused from a pod", c_host_token_from_pod),
    ("connection flood past --max-connections", c_flood),
    ("slow client cut at the header timeout", c_slow_client),
    ("API server down: cached tokens still served", c_api_down),
    ("audit lines complete, no token in any log", c_audit_complete),
    ("fake IMDS: no internal errors", c_fakes_clean),
]


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
        with Topo(npods=NPODS) as t:
            w = World(t)
            w.policy = os.path.join(t.dir, "policy.pol")
            with open(w.policy, "w") as f:
                f.write(POLICY)
            t.start_kube()
            t.start_imds([ORDERS, WEB, BATCH])
            for i, (ns, name, labels) in PODS.items():
                w.add(i, ns, name, labels)
            t.dnat()
            for name, fn in CASES:
                if only and fn.__name__ not in only and \
                        fn.__name__ != "c_ready_before_list":
                    continue
                if w.podid is not None and w.podid.poll() is not None:
                    res.run(name, lambda: (_ for _ in ()).throw(
                        Fail("podid exited: " + w.log()[-1500:])))
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
