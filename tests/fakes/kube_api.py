#!/usr/bin/env python3
"""Strict fake Kubernetes API server for podid's tests (standard library only).

    python3 tests/fakes/kube_api.py --listen 127.0.0.1:0 \\
        --cert DIR/server.crt --key DIR/server.key --token-file F \\
        --node NODE --state-dir D [--port-file P] [--control-port-file C]
        [--control-listen 127.0.0.1:0] [--history N] [--issuer URL]

It writes its bound TLS port to P and its plain-HTTP control port to C (each
file written atomically, the control one first; copies in D/port and
D/control-port), then serves until killed.  D also receives violations.log,
requests.log (one JSON line per API request) and the token signing key
(sa-signing.key, sa-signing.pub).
Certificates come from tests/fakes/certs.py.  Protocol reference: section 6
of /work/shared/reference/imds-azure-kubernetes.md.

API (HTTPS, TLS 1.2+, HTTP/1.1, keep-alive)
-------------------------------------------
GET /api/v1/pods?fieldSelector=spec.nodeName%3DNODE[&limit=N][&continue=T]
    PodList {"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":
    RV[,"continue":T]},"items":[...]}.  Items are sorted by namespace/name and,
    as from a real server, carry no kind/apiVersion.  A paginated list is a
    snapshot: every page has the first page's RV and content.  Continue
    tokens expire after continue_ttl_ms (default 5 min) or at compaction.
GET /api/v1/pods?fieldSelector=...&watch=1&resourceVersion=RV
        &allowWatchBookmarks=true&timeoutSeconds=N
    200, chunked; one compact JSON event + "\\n" per chunk (by default):
    {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}.  The
    stream ends cleanly (last-chunk, connection kept) after N seconds.
    Bookmarks look like a real server's: a Pod with only
    metadata.resourceVersion, "spec":{"containers":null},"status":{}.
    RV older than the history window: HTTP 410 Status, or 200 + an ERROR
    event {"kind":"Status",...,"reason":"Expired","code":410,"message":
    "too old resource version: X (Y)"} (scenario watch_410_mode).  A live
    watcher overtaken by compaction gets the ERROR event ("event" mode) or a
    clean end of stream ("http" mode; its resume then gets the HTTP 410).
    RV newer than the server's: 504 "Too large resource version".
POST /api/v1/namespaces/NS/serviceaccounts/SA/token
    TokenRequest, validated as in section 6.3; 201 with status.token (RS256
    JWT, iss --issuer, sub system:serviceaccount:NS:SA, aud, exp, iat, nbf,
    jti, kubernetes.io {namespace, pod, node, serviceaccount}) and
    status.expirationTimestamp (RFC 3339).  Errors: 422 expirationSeconds out
    of [600, 2^32], 404 unknown pod/serviceaccount, 400 pod runs as another
    SA, 409 uid mismatch, 415 non-JSON body.
GET /openid/v1/jwks, GET /.well-known/openid-configuration
    Signing key (also written to STATE/sa-signing.pub); no token needed.

Strictness: every violation below is logged, one line each, to
STATE/violations.log (created empty at start) and answered as a real API
server would (or, where the real one is lenient, with the Status shown):
    - Authorization not exactly "Bearer <current content of --token-file>"
      (re-read, trailing whitespace stripped, on every request): 401
    - Accept other than absent or application/json: 406 unless it still
      admits JSON (*/*), in which case served
    - fieldSelector not exactly spec.nodeName=NODE once decoded, bad
      percent-escapes, non-integer or <= 0 limit, bad timeoutSeconds,
      resourceVersion with continue, continue with watch, unknown boolean
      spellings: 400
    - a continue token the fake never issued: 410 (an expired one also
      gets 410, but is no violation)
    - watch without timeoutSeconds (served with 1800 s), without
      resourceVersion or with "0" (served from "now" with synthetic ADDED
      events), without allowWatchBookmarks=true (no bookmarks)
    - unknown query parameters (ignored), duplicated ones (first wins),
      HTTP/1.0 requests, a body on GET, missing Host (400), unknown paths
      (404), wrong methods (405), TokenRequest without boundObjectRef/uid or
      audiences, or for a pod of another node
    Violations also appear in GET /state and can be cleared.  Bugs of the
    fake itself are counted in /state "internal_errors" (and on stderr).

Control API (plain HTTP on the control port, JSON in and out)
-------------------------------------------------------------
POST /pods          add or replace one pod (object) or several (list):
    {"name": required, "namespace": "default", "uid": generated (kept on
     replace; a different uid means DELETED + ADDED), "labels": {},
     "annotations": {}, "ip": "", "ips": [] (ip defaults to ips[0] and ips
     to [ip]), "phase": "Running", "hostNetwork": false (pod IP = host IP),
     "serviceAccount": "default", "netRaw": true (capabilities.add NET_RAW)
     | false (drop NET_RAW), "capAdd": [], "capDrop": [], "deleting": false
     (sets deletionTimestamp), "node": NODE (other nodes are filtered out
     but still advance the RV), "hostIP": "10.224.0.4", "image": ...,
     "merge": {...} deep-merged into the final object (null deletes a key)}
    -> {"rv": N, "pods": [objects]}
DELETE /pods/NS/NAME   remove a pod (DELETED event) -> {"rv": N}; 404 if none
POST /scenario      set toggles (others kept; {"reset": true} first restores
                    defaults) -> the scenario:
    split_every_byte        each watch byte in its own HTTP chunk
    chunk_bytes             re-chunk the watch stream in N-byte chunks that
                            straddle events (0: one chunk per event)
    chunk_delay_ms          pause before each chunk after the first
    truncate_after_bytes    cut each watch connection (partial chunk, no
                            TLS close_notify) after N body bytes
    disconnect_after_events end each watch (last-chunk, Connection closed)
                            after N ADDED/MODIFIED/DELETED events
    bookmark_every_ms       BOOKMARK period when the client asked for them
    watch_410_mode          "event" (default) or "http"
    expire_history          one-shot: the next watch request first compacts
                            the history, so its RV is too old
    list_page_limit_max     cap on page size when the client sends limit
    slow_list_ms            delay before each list response
    fail_next_n_requests_with  {"n": N, "code": 500|429|503|504,
                            "retry_after": S}: the next N authenticated API
                            requests fail with that Status (+Retry-After)
    continue_ttl_ms         continue token lifetime (default 300000)
    token_expiration_override_s  lifetime actually granted to tokens
GET /state          {"rv", "floor", "pods", "counts", "list_requests",
                     "watch_requests", "token_requests", "active_watches",
                     "last_list_query", "last_watch_query", "recent_requests",
                     "violations", "scenario", "tokens", "internal_errors",
                     "tls_failures", "last_sni"}
POST /compact       bump the RV and drop all history: every live watcher,
                    every older RV and every continue token becomes too old
POST /bump          {"n": 1}: advance the RV without events for this node
POST /watches/close {"mode": "clean"|"abrupt"}: end every live watch now
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
import select
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
import uuid

DEFAULT_WATCH_TIMEOUT_S = 1800
MAX_BODY = 1 << 20
MIN_TOKEN_S = 600
MAX_TOKEN_S = 1 << 32
DEFAULT_AUDIENCE = "https://kubernetes.default.svc.cluster.local"
CONTINUE_TOO_OLD = (
    "The provided continue parameter is too old to display a consistent "
    "list result. You can start a new list without the continue parameter.")
SCENARIO_DEFAULTS = {
    "split_every_byte": False,
    "chunk_bytes": 0,
    "chunk_delay_ms": 0,
    "truncate_after_bytes": None,
    "disconnect_after_events": None,
    "bookmark_every_ms": 0,
    "watch_410_mode": "event",
    "expire_history": False,
    "list_page_limit_max": None,
    "slow_list_ms": 0,
    "fail_next_n_requests_with": None,
    "continue_ttl_ms": 300000,
    "token_expiration_override_s": None,
}


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


def rfc3339(t=None):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def status(code, reason, message, details=None):
    """A metav1.Status failure object as the API server writes it."""
    obj = {"kind": "Status", "apiVersion": "v1", "metadata": {},
           "status": "Failure", "message": message, "reason": reason}
    if details is not None:
        obj["details"] = details
    obj["code"] = code
    return obj


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class ApiError(Exception):
    """An answer other than success; violation is logged when not None."""

    def __init__(self, code, reason, message, violation=None, headers=(),
                 details=None):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.violation, self.headers = violation, headers
        self.details = details


def bad_request(msg):
    return ApiError(400, "BadRequest", msg, violation=msg)


# ---------------------------------------------------------------- queries

def pct_decode(s):
    if re.search(r"%(?![0-9A-Fa-f]{2})", s):
        raise bad_request("malformed percent-escape in query: %r" % s)
    try:
        return urllib.parse.unquote_plus(s, errors="strict")
    except UnicodeDecodeError:
        raise bad_request("query is not valid UTF-8: %r" % s)


class Query:
    """Decoded query string: first value of each name, plus oddities."""

    def __init__(self, raw):
        self.raw = raw
        self.values = {}
        self.problems = []
        for part in raw.split("&") if raw else []:
            if ";" in part:
                raise bad_request("semicolon in query: %r" % part)
            if part == "":
                self.problems.append("empty query parameter")
                continue
            name, _, value = part.partition("=")
            name, value = pct_decode(name), pct_decode(value)
            if name in self.values:
                self.problems.append("duplicate query parameter %s" % name)
                continue
            self.values[name] = value

    def get(self, name):
        return self.values.get(name)

    def has(self, name):
        return name in self.values

    def boolean(self, name):
        v = self.values.get(name)
        if v is None:
            return None
        if v in ("1", "true"):
            return True
        if v in ("0", "false"):
            return False
        raise bad_request("%s must be true/1 or false/0, got %r" % (name, v))

    def positive_int(self, name):
        v = self.values.get(name)
        if v is None:
            return None
        if not re.fullmatch(r"[0-9]{1,18}", v) or int(v) <= 0:
            raise bad_request("%s must be an integer > 0, got %r" % (name, v))
        return int(v)

    def resource_version(self):
        v = self.values.get("resourceVersion")
        if v is None or v == "":
            return None
        if not re.fullmatch(r"[0-9]{1,18}", v):
            raise bad_request("resourceVersion: Invalid value: %r: strconv."
                              "ParseUint: parsing %r: invalid syntax" % (v, v))
        return int(v)


# ------------------------------------------------------------------- pods

POD_KEYS = {"name", "namespace", "uid", "labels", "annotations", "ip", "ips",
            "phase", "hostNetwork", "serviceAccount", "netRaw", "capAdd",
            "capDrop", "deleting", "node", "hostIP", "image", "merge"}
PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")


def deep_merge(dst, src):
    for k, v in src.items():
        if v is None:
            dst.pop(k, None)
        elif isinstance(v, dict) and isinstance(dst.get(k), dict):
            deep_merge(dst[k], v)
        else:
            dst[k] = v
    return dst


def check_pod_spec(p):
    if not isinstance(p, dict):
        raise ValueError("pod must be an object")
    unknown = set(p) - POD_KEYS
    if unknown:
        raise ValueError("unknown pod fields: %s" % ", ".join(sorted(unknown)))
    if not isinstance(p.get("name"), str) or not p["name"]:
        raise ValueError("pod name required")
    if p.get("phase", "Running") not in PHASES:
        raise ValueError("phase must be one of %s" % ", ".join(PHASES))
    for k in ("labels", "annotations", "merge"):
        if not isinstance(p.get(k, {}), dict):
            raise ValueError("%s must be an object" % k)
    for k in ("ips", "capAdd", "capDrop"):
        if not isinstance(p.get(k, []), list):
            raise ValueError("%s must be a list" % k)


def pod_capabilities(p):
    add, drop = list(p.get("capAdd", [])), list(p.get("capDrop", []))
    if p.get("netRaw") is True:
        add.append("NET_RAW")
    elif p.get("netRaw") is False:
        drop.append("NET_RAW")
    caps = {}
    if add:
        caps["add"] = add
    if drop:
        caps["drop"] = drop
    return caps


def pod_container(p, image, vol):
    c = {"name": "app", "image": image, "resources": {},
         "volumeMounts": [{"name": vol, "readOnly": True, "mountPath":
                           "/var/run/secrets/kubernetes.io/serviceaccount"}],
         "terminationMessagePath": "/dev/termination-log",
         "terminationMessagePolicy": "File",
         "imagePullPolicy": "IfNotPresent"}
    caps = pod_capabilities(p)
    if caps:
        c["securityContext"] = {"capabilities": caps}
    return c


def pod_spec(p, node, sa, vol, image):
    spec = {
        "volumes": [{"name": vol, "projected": {"sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607,
                                     "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [
                {"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}],
            "defaultMode": 420}}],
        "containers": [pod_container(p, image, vol)],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": sa,
        "serviceAccount": sa,
        "nodeName": node,
    }
    if p.get("hostNetwork"):
        spec["hostNetwork"] = True
    spec.update({
        "securityContext": {},
        "schedulerName": "default-scheduler",
        "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 300}],
        "priority": 0,
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
    })
    return spec


def pod_conditions(phase, t):
    ok = phase == "Running"

    def cond(kind, true, reason=None):
        c = {"type": kind, "status": "True" if true else "False",
             "lastProbeTime": None, "lastTransitionTime": t}
        if reason and not true:
            c["reason"] = reason
        return c
    why = {"Succeeded": "PodCompleted", "Failed": "PodFailed"}.get(
        phase, "ContainersNotReady")
    return [cond("PodReadyToStartContainers", ok),
            cond("Initialized", True), cond("Ready", ok, why),
            cond("ContainersReady", ok, why), cond("PodScheduled", True)]


def container_status(phase, image, uid, t):
    state = {
        "Pending": {"waiting": {"reason": "ContainerCreating"}},
        "Running": {"running": {"startedAt": t}},
        "Succeeded": {"terminated": {"exitCode": 0, "reason": "Completed",
                                     "startedAt": t, "finishedAt": t}},
        "Failed": {"terminated": {"exitCode": 1, "reason": "Error",
                                  "startedAt": t, "finishedAt": t}},
    }.get(phase, {"waiting": {}})
    cs = {"name": "app", "state": state, "lastState": {},
          "ready": phase == "Running", "restartCount": 0, "image": image,
          "imageID": image.split(":")[0] + "@sha256:" +
          hashlib.sha256(image.encode()).hexdigest(),
          "started": phase == "Running"}
    if phase != "Pending":
        cs["containerID"] = "containerd://" + hashlib.sha256(
            uid.encode()).hexdigest()
    return cs


def pod_status(p, phase, ips, host_ip, image, uid, t):
    st = {"phase": phase, "conditions": pod_conditions(phase, t),
          "hostIP": host_ip, "hostIPs": [{"ip": host_ip}]}
    if ips:
        st["podIP"] = p.get("ip") or ips[0]
        st["podIPs"] = [{"ip": ip} for ip in ips]
    st["startTime"] = t
    st["containerStatuses"] = [container_status(phase, image, uid, t)]
    st["qosClass"] = "BestEffort"
    return st


def managed_fields(p, ips, created, t):
    labels = {"f:" + k: {} for k in p.get("labels", {})}
    meta = {"f:metadata": {"f:labels": dict({".": {}}, **labels)}} \
        if labels else {}
    spec = {"f:containers": {'k:{"name":"app"}': {
        ".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {},
        "f:resources": {}, "f:terminationMessagePath": {},
        "f:terminationMessagePolicy": {}}},
        "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:restartPolicy": {},
        "f:schedulerName": {}, "f:securityContext": {},
        "f:terminationGracePeriodSeconds": {}}
    podips = {'k:{"ip":"%s"}' % ip: {".": {}, "f:ip": {}} for ip in ips}
    st = {"f:conditions": {'k:{"type":"Ready"}': {
        ".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {},
        "f:status": {}, "f:type": {}}}, "f:containerStatuses": {},
        "f:hostIP": {}, "f:phase": {}, "f:startTime": {}}
    if ips:
        st["f:podIP"] = {}
        st["f:podIPs"] = dict({".": {}}, **podips)
    return [{"manager": "kubectl-create", "operation": "Update",
             "apiVersion": "v1", "time": created, "fieldsType": "FieldsV1",
             "fieldsV1": dict(meta, **{"f:spec": spec})},
            {"manager": "kubelet", "operation": "Update", "apiVersion": "v1",
             "time": t, "fieldsType": "FieldsV1",
             "fieldsV1": {"f:status": st}, "subresource": "status"}]


def build_pod(p, default_node, rv, uid, created, deleted_at):
    """A Pod as `kubectl get pod -o json` shows it, minus kind/apiVersion."""
    t = rfc3339()
    phase = p.get("phase", "Running")
    host_ip = p.get("hostIP", "10.224.0.4")
    ips = list(p.get("ips") or ([p["ip"]] if p.get("ip") else []))
    if p.get("hostNetwork") and not ips and phase != "Pending":
        ips = [host_ip]
    image = p.get("image", "mcr.microsoft.com/azure-cli:2.61.0")
    sa = p.get("serviceAccount", "default")
    vol = "kube-api-access-" + hashlib.sha256(uid.encode()).hexdigest()[:5]
    meta = {"name": p["name"], "namespace": p.get("namespace", "default"),
            "uid": uid, "resourceVersion": str(rv),
            "creationTimestamp": created}
    if deleted_at:
        meta["deletionTimestamp"] = deleted_at
        meta["deletionGracePeriodSeconds"] = 30
    if p.get("labels"):
        meta["labels"] = dict(p["labels"])
    if p.get("annotations"):
        meta["annotations"] = dict(p["annotations"])
    meta["managedFields"] = managed_fields(p, ips, created, t)
    pod = {"metadata": meta,
           "spec": pod_spec(p, p.get("node", default_node), sa, vol, image),
           "status": pod_status(p, phase, ips, host_ip, image, uid, t)}
    return deep_merge(pod, json.loads(dumps(p.get("merge", {}))))


def with_kind(pod):
    return dict({"kind": "Pod", "apiVersion": "v1"}, **pod)


def pod_key(pod):
    return "%s/%s" % (pod["metadata"]["namespace"], pod["metadata"]["name"])


# ------------------------------------------------------------------ store

class Watcher:
    def __init__(self, wid, start_rv, query):
        self.id, self.start_rv, self.last_rv = wid, start_rv, start_rv
        self.query, self.started = query, time.time()
        self.close_mode = None


class Store:
    """Pods, the global RV, bounded event history, continue snapshots.

    Everything is guarded by self.cond; stored pod objects are never
    mutated, only replaced, so snapshots may share them."""

    def __init__(self, node, history):
        self.node = node
        self.cond = threading.Condition()
        self.pods = {}
        self.rv = 1000
        self.floor = self.rv
        self.history = collections.deque()
        self.history_max = history
        self.continues = {}
        self.watchers = {}
        self.next_watch = 1

    def _bump(self):
        self.rv += 1
        return self.rv

    def _ours(self, pod):
        return pod is not None and pod["spec"].get("nodeName") == self.node

    def _record(self, old, new, deleted=None):
        """Append the event this change means for our node's watchers."""
        if deleted is not None:
            kind, obj = ("DELETED", deleted) if self._ours(deleted) else (
                None, None)
        elif self._ours(old) and self._ours(new):
            kind, obj = "MODIFIED", new
        elif self._ours(new):
            kind, obj = "ADDED", new
        elif self._ours(old):
            kind, obj = "DELETED", new
        else:
            kind, obj = None, None
        if kind is None:
            return
        if len(self.history) >= self.history_max:
            self.floor = self.history.popleft()[0]
        line = dumps({"type": kind, "object": with_kind(obj)}) + "\n"
        self.history.append((self.rv, kind, line.encode()))

    def _delete_locked(self, key):
        old = self.pods.pop(key)
        gone = json.loads(dumps(old))
        gone["metadata"]["resourceVersion"] = str(self._bump())
        self._record(None, None, deleted=gone)

    def put(self, p):
        with self.cond:
            key = "%s/%s" % (p.get("namespace", "default"), p["name"])
            old = self.pods.get(key)
            if old and p.get("uid") and p["uid"] != old["metadata"]["uid"]:
                self._delete_locked(key)
                old = None
            meta = old["metadata"] if old else {}
            uid = p.get("uid") or meta.get("uid") or str(uuid.uuid4())
            created = meta.get("creationTimestamp", rfc3339())
            deleted_at = (meta.get("deletionTimestamp") or rfc3339()) \
                if p.get("deleting") else None
            pod = build_pod(p, self.node, self._bump(), uid, created,
                            deleted_at)
            self.pods[key] = pod
            self._record(old, pod)
            self.cond.notify_all()
            return pod

    def delete(self, key):
        with self.cond:
            if key not in self.pods:
                return None
            self._delete_locked(key)
            self.cond.notify_all()
            return self.rv

    def compact(self):
        with self.cond:
            self._bump()
            self.floor = self.rv
            self.history.clear()
            self.cond.notify_all()
            return self.rv

    def bump(self, n):
        with self.cond:
            self.rv += n
            self.cond.notify_all()
            return self.rv

    def close_watches(self, mode):
        with self.cond:
            for w in self.watchers.values():
                w.close_mode = mode
            self.cond.notify_all()
            return len(self.watchers)

    def node_pods(self):
        return sorted((p for p in self.pods.values() if self._ours(p)),
                      key=pod_key)


# ---------------------------------------------------------------- signing

def _openssl(args):
    res = subprocess.run(["openssl"] + args, capture_output=True)
    if res.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (args[0], res.stderr.decode()))
    return res.stdout


class Signer:
    """RS256 with PKCS#1 v1.5 done by pow() on a key made by openssl."""

    SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")

    def __init__(self, state_dir):
        key = os.path.join(state_dir, "sa-signing.key")
        _openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt",
                  "rsa_keygen_bits:2048", "-out", key])
        text = _openssl(["rsa", "-in", key, "-noout", "-text"]).decode()
        f = self._fields(text)
        self.n, self.e, self.d = f["modulus"], f["publicExponent"], \
            f["privateExponent"]
        self.p, self.q = f["prime1"], f["prime2"]
        self.dp, self.dq, self.qinv = f["exponent1"], f["exponent2"], \
            f["coefficient"]
        self.pem = _openssl(["rsa", "-in", key, "-pubout"])
        der = _openssl(["rsa", "-in", key, "-pubout", "-outform", "DER"])
        self.kid = b64url(hashlib.sha256(der).digest())
        with open(os.path.join(state_dir, "sa-signing.pub"), "wb") as fp:
            fp.write(self.pem)

    @staticmethod
    def _fields(text):
        fields, name = {}, None
        for line in text.splitlines():
            m = re.match(r"(\w+):\s*(\d+)?", line)
            if m and not line.startswith(" "):
                name = m.group(1)
                fields[name] = m.group(2) or ""
            elif name:
                fields[name] += line.strip().replace(":", "")
        return {k: int(v) if k == "publicExponent" else int(v, 16)
                for k, v in fields.items() if v}

    def sign(self, msg):
        k = (self.n.bit_length() + 7) // 8
        t = self.SHA256_PREFIX + hashlib.sha256(msg).digest()
        em = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
        m = int.from_bytes(em, "big")
        m1, m2 = pow(m, self.dp, self.p), pow(m, self.dq, self.q)
        s = m2 + (self.qinv * (m1 - m2) % self.p) * self.q
        assert pow(s, self.e, self.n) == m
        return s.to_bytes(k, "big")

    def jwt(self, claims):
        head = b64url(dumps({"alg": "RS256", "kid": self.kid}).encode())
        body = b64url(dumps(claims).encode())
        signing_input = (head + "." + body).encode()
        return head + "." + body + "." + b64url(self.sign(signing_input))

    def jwks(self):
        def num(x):
            return b64url(x.to_bytes((x.bit_length() + 7) // 8, "big"))
        return {"keys": [{"use": "sig", "kty": "RSA", "kid": self.kid,
                          "alg": "RS256", "n": num(self.n),
                          "e": num(self.e)}]}


# ------------------------------------------------------------- the fake

class Fake:
    """Shared state of both listeners."""

    def __init__(self, args):
        self.args = args
        self.state_dir = args.state_dir
        self.store = Store(args.node, args.history)
        self.signer = Signer(args.state_dir)
        self.node_uid = str(uuid.uuid5(uuid.NAMESPACE_DNS, args.node))
        self.lock = threading.Lock()
        self.scenario = dict(SCENARIO_DEFAULTS)
        self.violations = []
        self.counts = collections.Counter()
        self.last = {"list": None, "watch": None}
        self.recent = collections.deque(maxlen=100)
        self.tokens = collections.deque(maxlen=50)
        self.last_sni = None
        self.vpath = os.path.join(self.state_dir, "violations.log")
        open(self.vpath, "w").close()
        self.access = open(os.path.join(self.state_dir, "requests.log"), "a")

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

    def token(self):
        try:
            with open(self.args.token_file) as f:
                return f.read().rstrip()
        except OSError as e:
            print("kube_api: token file: %s" % e, file=sys.stderr)
            return None

    def scenario_get(self, name):
        with self.lock:
            return self.scenario[name]

    def scenario_set(self, changes):
        with self.lock:
            if changes.get("reset"):
                self.scenario = dict(SCENARIO_DEFAULTS)
            for k, v in changes.items():
                if k == "reset":
                    continue
                if k not in SCENARIO_DEFAULTS:
                    raise ValueError("unknown scenario toggle %r" % k)
                self.scenario[k] = v
            if self.scenario["watch_410_mode"] not in ("event", "http"):
                self.scenario["watch_410_mode"] = "event"
                raise ValueError("watch_410_mode must be event or http")
            return dict(self.scenario)

    def scenario_snapshot(self):
        with self.lock:
            return json.loads(dumps(self.scenario))

    def take_one_shot(self, name):
        with self.lock:
            v = self.scenario[name]
            self.scenario[name] = SCENARIO_DEFAULTS[name]
            return v

    def take_failure(self):
        """Consume one injected failure: (code, retry_after) or None."""
        with self.lock:
            f = self.scenario["fail_next_n_requests_with"]
            if not f or f.get("n", 0) <= 0:
                return None
            f["n"] -= 1
            return f.get("code", 500), f.get("retry_after")

    def log_request(self, entry):
        with self.lock:
            self.recent.append(entry)
            self.access.write(dumps(entry) + "\n")
            self.access.flush()

    def state(self):
        st = self.store
        with st.cond:
            pods = [with_kind(p) for p in sorted(st.pods.values(),
                                                 key=pod_key)]
            watches = [{"id": w.id, "start_rv": w.start_rv,
                        "last_rv": w.last_rv, "query": w.query,
                        "age_s": round(time.time() - w.started, 3)}
                       for w in st.watchers.values()]
            core = {"rv": st.rv, "floor": st.floor, "node": st.node,
                    "history_len": len(st.history), "pods": pods,
                    "active_watches": watches}
        with self.lock:
            core.update({
                "counts": dict(self.counts),
                "list_requests": self.counts["list"],
                "watch_requests": self.counts["watch"],
                "token_requests": self.counts["token"],
                "internal_errors": self.counts["internal_error"],
                "tls_failures": self.counts["tls_failure"],
                "last_list_query": self.last["list"],
                "last_watch_query": self.last["watch"],
                "recent_requests": list(self.recent),
                "violations": list(self.violations),
                "scenario": json.loads(dumps(self.scenario)),
                "tokens": list(self.tokens), "last_sni": self.last_sni})
        return core


# ------------------------------------------------------------ the writer

class Cut(Exception):
    """The scenario asked to cut the connection; it has been cut."""


class ChunkWriter:
    """Writes the watch body as HTTP/1.1 chunks, per the scenario."""

    def __init__(self, handler, sc):
        self.h = handler
        self.split = bool(sc["split_every_byte"])
        self.size = int(sc["chunk_bytes"] or 0)
        self.delay = (sc["chunk_delay_ms"] or 0) / 1000.0
        self.cut_at = sc["truncate_after_bytes"]
        self.sent = 0
        self.chunks = 0
        self.pending = b""

    def event(self, data):
        if self.split:
            for i in range(len(data)):
                self._chunk(data[i:i + 1])
        elif self.size > 0:
            self.pending += data
            while len(self.pending) >= self.size:
                self._chunk(self.pending[:self.size])
                self.pending = self.pending[self.size:]
        else:
            self._chunk(data)

    def flush(self):
        if self.pending:
            data, self.pending = self.pending, b""
            self._chunk(data)

    def _chunk(self, data):
        if self.delay and self.chunks:
            time.sleep(self.delay)
        self.chunks += 1
        if self.cut_at is not None and self.sent + len(data) > self.cut_at:
            keep = max(0, self.cut_at - self.sent)
            self.h.wfile.write(b"%x\r\n" % len(data) + data[:keep])
            self.h.abort()
            raise Cut()
        self.h.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
        self.sent += len(data)

    def end(self):
        self.flush()
        self.h.wfile.write(b"0\r\n\r\n")


def bookmark_line(rv):
    obj = {"kind": "Pod", "apiVersion": "v1",
           "metadata": {"resourceVersion": str(rv), "creationTimestamp": None},
           "spec": {"containers": None}, "status": {}}
    return (dumps({"type": "BOOKMARK", "object": obj}) + "\n").encode()


def too_old_status(rv, floor):
    return status(410, "Expired", "too old resource version: %d (%d)" %
                  (rv, floor))


def error_line(st):
    return (dumps({"type": "ERROR", "object": st}) + "\n").encode()


# ------------------------------------------------------------ API handler

LIST_PARAMS = {"fieldSelector", "limit", "continue", "resourceVersion",
               "resourceVersionMatch", "watch"}
WATCH_PARAMS = {"fieldSelector", "watch", "resourceVersion",
                "allowWatchBookmarks", "timeoutSeconds", "limit", "continue"}
TOKEN_PATH = re.compile(r"/api/v1/namespaces/([a-z0-9.-]+)/serviceaccounts/"
                        r"([a-z0-9.-]+)/token")
PUBLIC_PATHS = ("/openid/v1/jwks", "/.well-known/openid-configuration")


class ApiHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.1"  # status lines even on junk
    server_version = "fake-kube-apiserver"
    sys_version = ""
    timeout = 60

    def log_message(self, fmt, *args):
        pass

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

    def abort(self):
        """Drop the connection at once: no last-chunk, no close_notify."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def dispatch(self):
        self.status_sent = None
        url = urllib.parse.urlsplit(self.path)
        started = time.time()
        try:
            self.route(url)
        except ApiError as e:
            if e.violation:
                self.violation(e.violation)
            self.send_status(e)
        except Cut:
            pass
        except (OSError, ssl.SSLError):
            self.close_connection = True
        except Exception:
            self.fake.count("internal_error")
            traceback.print_exc()
            if self.status_sent is None:
                self.send_status(ApiError(500, "InternalError",
                                          "fake bug: see stderr"))
            self.close_connection = True
        self.fake.log_request({
            "time": rfc3339(started), "method": self.command,
            "path": url.path, "query": url.query, "status": self.status_sent,
            "seconds": round(time.time() - started, 3)})

    def send_json(self, code, obj, headers=()):
        body = dumps(obj).encode()
        self.send_response(code)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", "application/json")
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_status(self, e):
        self.send_json(e.code, status(e.code, e.reason, e.message, e.details),
                       e.headers)

    # -- request checks

    def read_body(self):
        te = self.headers.get("Transfer-Encoding")
        cl = self.headers.get("Content-Length")
        if te and cl:
            self.close_connection = True
            raise bad_request("both Transfer-Encoding and Content-Length")
        if te:
            if te.lower() != "chunked":
                self.close_connection = True
                raise bad_request("unsupported Transfer-Encoding %r" % te)
            return self.read_chunked()
        if cl is None:
            return b""
        if not re.fullmatch(r"[0-9]{1,9}", cl.strip()):
            self.close_connection = True
            raise bad_request("bad Content-Length %r" % cl)
        if int(cl) > MAX_BODY:
            self.close_connection = True
            raise ApiError(413, "RequestEntityTooLarge",
                           "request entity too large", "body over 1 MiB")
        return self.rfile.read(int(cl))

    def read_chunked(self):
        body = b""
        while True:
            line = self.rfile.readline(100).rstrip(b"\r\n")
            size = int(line.split(b";")[0], 16)
            if size == 0:
                while self.rfile.readline(1000) not in (b"\r\n", b"\n", b""):
                    pass
                return body
            body += self.rfile.read(size)
            self.rfile.readline(3)
            if len(body) > MAX_BODY:
                raise ApiError(413, "RequestEntityTooLarge",
                               "request entity too large", "body over 1 MiB")

    def check_auth(self):
        values = self.headers.get_all("Authorization") or []
        if len(values) > 1:
            self.violation("%d Authorization headers" % len(values))
        want = self.fake.token()
        got = values[0] if values else None
        if got is not None and want and got == "Bearer " + want:
            return True
        self.fake.count("unauthorized")
        if got is None:
            why = "no Authorization header"
        elif not got.startswith("Bearer "):
            why = "Authorization is not 'Bearer <token>'"
        else:
            why = "bearer token is not the current token file content"
        raise ApiError(401, "Unauthorized", "Unauthorized", why)

    def check_accept(self):
        accept = self.headers.get("Accept")
        if accept is None or accept.strip().lower() == "application/json":
            return
        types = [t.split(";")[0].strip().lower() for t in accept.split(",")]
        if "application/json" in types or "*/*" in types:
            self.violation("Accept %r is not application/json" % accept)
            return
        raise ApiError(406, "NotAcceptable",
                       "only the following media types are accepted: "
                       "application/json", "Accept %r refused" % accept)

    def check_request(self, body):
        words = self.requestline.split()
        if len(words) != 3 or words[2] != "HTTP/1.1":
            self.violation("%s request" % (
                words[2] if len(words) == 3 else "HTTP/0.9"))
        if not self.headers.get("Host"):
            self.close_connection = True
            raise bad_request("missing required Host header")
        if body and self.command == "GET":
            self.violation("GET with a %d-byte body" % len(body))

    def route(self, url):
        body = self.read_body()
        self.check_request(body)
        public = url.path in PUBLIC_PATHS
        if not public or self.headers.get("Authorization") is not None:
            self.check_auth()
        self.check_accept()
        if url.path == "/openid/v1/jwks":
            return self.send_json(200, self.fake.signer.jwks())
        if url.path == "/.well-known/openid-configuration":
            return self.send_json(200, self.openid_config())
        self.inject_failure()
        m = TOKEN_PATH.fullmatch(url.path)
        if url.path == "/api/v1/pods":
            self.need_method("GET")
            return self.pods(Query(url.query))
        if m:
            self.need_method("POST")
            return self.token_request(m.group(1), m.group(2), body)
        raise ApiError(404, "NotFound",
                       "the server could not find the requested resource",
                       "unknown path %s" % url.path)

    def need_method(self, method):
        if self.command != method:
            raise ApiError(405, "MethodNotAllowed",
                           "the server does not allow this method on the "
                           "requested resource",
                           "method %s not allowed" % self.command)

    def inject_failure(self):
        f = self.fake.take_failure()
        if f is None:
            return
        code, retry = f
        reasons = {429: ("TooManyRequests",
                         "Too many requests, please try again later."),
                   503: ("ServiceUnavailable", "the server is unavailable"),
                   504: ("Timeout", "the server was unable to respond in "
                         "time")}
        reason, msg = reasons.get(code, ("InternalError",
                                         "Internal error occurred: injected"))
        headers, details = [], None
        if retry is not None:
            headers.append(("Retry-After", str(retry)))
            details = {"retryAfterSeconds": retry}
        self.fake.count("injected_failure")
        raise ApiError(code, reason, msg, headers=headers, details=details)

    def openid_config(self):
        host = self.headers.get("Host", "localhost")
        return {"issuer": self.fake.args.issuer,
                "jwks_uri": "https://%s/openid/v1/jwks" % host,
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"]}

    # -- pods: list and watch

    def check_selector(self, q):
        want = "spec.nodeName=" + self.fake.args.node
        got = q.get("fieldSelector")
        if got != want:
            raise bad_request("fieldSelector must be exactly %r, got %r" %
                              (want, got))

    def pods(self, q):
        for p in q.problems:
            self.violation(p)
        self.check_selector(q)
        if q.boolean("watch"):
            return self.watch(q)
        for name in set(q.values) - LIST_PARAMS:
            self.violation("unexpected list parameter %s" % name)
        return self.list(q)

    def list(self, q):
        fake, st = self.fake, self.fake.store
        fake.count("list")
        with fake.lock:
            fake.last["list"] = q.raw
        limit = q.positive_int("limit")
        token = q.get("continue")
        rv = q.resource_version()
        if token is not None and rv is not None:
            raise bad_request("specifying resource version is not allowed "
                              "when using continue")
        delay = fake.scenario_get("slow_list_ms")
        if delay:
            time.sleep(delay / 1000.0)
        cap = fake.scenario_get("list_page_limit_max")
        if limit is not None and cap:
            limit = min(limit, int(cap))
        with st.cond:
            if token is not None:
                snap_rv, items = self.continued(token)
            else:
                if rv is not None and rv > st.rv:
                    raise self.too_large(rv, st.rv)
                snap_rv, items = st.rv, st.node_pods()
            page, more = (items, []) if limit is None else (
                items[:limit], items[limit:])
            meta = {"resourceVersion": str(snap_rv)}
            if more:
                meta["continue"] = self.new_continue(snap_rv, page[-1], more)
        self.send_json(200, {"kind": "PodList", "apiVersion": "v1",
                             "metadata": meta, "items": page})

    def continued(self, token):
        """The snapshot a continue token stands for (store lock held)."""
        st = self.fake.store
        ent = st.continues.get(token)
        if ent is None:
            raise ApiError(410, "Expired", CONTINUE_TOO_OLD,
                           "continue token the server never issued")
        ttl = self.fake.scenario_get("continue_ttl_ms") / 1000.0
        if time.monotonic() - ent[0] > ttl or ent[1] < st.floor:
            raise ApiError(410, "Expired", CONTINUE_TOO_OLD)
        return ent[1], ent[2]

    def new_continue(self, rv, last, rest):
        key = dumps({"v": "meta.k8s.io/v1", "rv": rv,
                     "start": pod_key(last) + "\x00"})
        token = b64url(key.encode())
        self.fake.store.continues[token] = (time.monotonic(), rv, rest)
        return token

    def too_large(self, rv, cur):
        return ApiError(504, "Timeout", "Too large resource version: %d, "
                        "current: %d" % (rv, cur),
                        "resourceVersion %d is newer than the server's %d" %
                        (rv, cur), details={"causes": [{
                            "reason": "ResourceVersionTooLarge",
                            "message": "Too large resource version"}],
                            "retryAfterSeconds": 1})

    def watch_params(self, q):
        for name in set(q.values) - WATCH_PARAMS:
            self.violation("unexpected watch parameter %s" % name)
        if q.has("continue"):
            raise bad_request("continue is not allowed on a watch")
        if q.has("limit"):
            self.violation("limit on a watch is ignored")
        timeout = q.positive_int("timeoutSeconds")
        if timeout is None:
            self.violation("watch without timeoutSeconds")
            timeout = DEFAULT_WATCH_TIMEOUT_S
        bookmarks = q.boolean("allowWatchBookmarks")
        if not bookmarks:
            self.violation("watch without allowWatchBookmarks=true")
        rv = q.resource_version()
        if rv is None or rv == 0:
            self.violation("watch without a list resourceVersion")
            rv = None
        return timeout, bool(bookmarks), rv

    def watch(self, q):
        fake, st = self.fake, self.fake.store
        fake.count("watch")
        with fake.lock:
            fake.last["watch"] = q.raw
        timeout, bookmarks, rv = self.watch_params(q)
        sc = fake.scenario_snapshot()
        if fake.take_one_shot("expire_history"):
            st.compact()
        with st.cond:
            initial = []
            if rv is None:
                initial = [(p["metadata"]["resourceVersion"], dumps(
                    {"type": "ADDED", "object": with_kind(p)}).encode() +
                    b"\n") for p in st.node_pods()]
                rv = st.rv
            elif rv > st.rv:
                raise self.too_large(rv, st.rv)
            elif rv < st.floor:
                self.too_old(rv, st.floor, sc)
                return
            w = Watcher(st.next_watch, rv, q.raw)
            st.next_watch += 1
            st.watchers[w.id] = w
        try:
            self.stream(w, sc, [x[1] for x in initial], timeout, bookmarks)
        finally:
            with st.cond:
                st.watchers.pop(w.id, None)

    def too_old(self, rv, floor, sc):
        if sc["watch_410_mode"] == "http":
            return self.send_status(ApiError(
                410, "Expired", too_old_status(rv, floor)["message"]))
        self.start_stream()
        out = ChunkWriter(self, sc)
        out.event(error_line(too_old_status(rv, floor)))
        out.end()

    def start_stream(self):
        self.send_response(200)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def peer_gone(self):
        """True when the client has closed its side (EOF on the socket)."""
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if not r:
                return False
            return socket.socket.recv(self.connection, 1,
                                      socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def stream(self, w, sc, initial, timeout, bookmarks):
        self.start_stream()
        out = ChunkWriter(self, sc)
        deadline = time.monotonic() + timeout
        period = (sc["bookmark_every_ms"] or 0) / 1000.0
        next_bm = time.monotonic() + period if bookmarks and period else None
        limit = sc["disconnect_after_events"]
        events = 0
        lines = initial
        while True:
            for line in lines:
                if limit is not None and events >= limit:
                    break
                out.event(line)
                events += 1
            if limit is not None and events >= limit:
                out.end()
                self.close_connection = True
                return
            lines, cur, verdict = self.wait_events(w, out, deadline, next_bm)
            if verdict == "timeout":
                out.end()
                return
            if verdict is not None:
                return self.end_watch(w, out, sc, verdict)
            if lines:
                continue
            if next_bm is not None and time.monotonic() >= next_bm:
                out.event(bookmark_line(cur))
                w.last_rv = max(w.last_rv, cur)
                next_bm = time.monotonic() + period

    def wait_events(self, w, out, deadline, next_bm):
        """Block until something is due; returns (lines, rv, verdict)."""
        st = self.fake.store
        with st.cond:
            while True:
                if w.close_mode is not None:
                    return [], st.rv, w.close_mode
                if w.last_rv < st.floor:
                    return [], st.rv, "too_old"
                lines = [e[2] for e in st.history if e[0] > w.last_rv]
                if lines:
                    w.last_rv = st.history[-1][0]
                    return lines, st.rv, None
                now = time.monotonic()
                if now >= deadline:
                    return [], st.rv, "timeout"
                if next_bm is not None and now >= next_bm:
                    return [], st.rv, None
                wake = min(deadline, next_bm or deadline, now + 0.25)
                if out.pending:
                    wake = min(wake, now + 0.02)
                if not st.cond.wait(max(0.0, wake - now)):
                    if out.pending:
                        st.cond.release()
                        try:
                            out.flush()
                        finally:
                            st.cond.acquire()
                    elif self.peer_gone():
                        return [], st.rv, "gone"

    def end_watch(self, w, out, sc, verdict):
        if verdict == "too_old":
            if sc["watch_410_mode"] == "event":
                out.event(error_line(too_old_status(
                    w.last_rv, self.fake.store.floor)))
            out.end()
        elif verdict == "clean":
            out.end()
            self.close_connection = True
        elif verdict == "abrupt":
            self.abort()
        else:
            self.close_connection = True

    # -- TokenRequest

    def token_request(self, ns, sa, body):
        fake = self.fake
        fake.count("token")
        ctype = (self.headers.get("Content-Type") or "").split(";")[0]
        if ctype.strip().lower() != "application/json":
            raise ApiError(415, "UnsupportedMediaType",
                           "the body of the request was in an unknown "
                           "format - accepted media types include: "
                           "application/json",
                           "TokenRequest Content-Type %r" % ctype)
        try:
            req = json.loads(body)
        except ValueError as e:
            raise bad_request("TokenRequest body is not JSON: %s" % e)
        if not isinstance(req, dict) or not isinstance(
                req.get("spec", {}), dict):
            raise bad_request("TokenRequest body is not an object")
        self.check_token_kind(req)
        spec = req.setdefault("spec", {})
        aud = self.audiences(spec)
        secs = self.expiration(spec)
        pod = self.bound_pod(ns, sa, spec)
        resp = self.issue(ns, sa, spec, aud, secs, pod)
        self.send_json(201, resp)

    def check_token_kind(self, req):
        for key, want in (("apiVersion", "authentication.k8s.io/v1"),
                          ("kind", "TokenRequest")):
            if key not in req:
                self.violation("TokenRequest without %s" % key)
            elif req[key] != want:
                raise bad_request("TokenRequest %s %r, want %r" %
                                  (key, req[key], want))

    def audiences(self, spec):
        aud = spec.get("audiences")
        if aud is None or aud == []:
            self.violation("TokenRequest without audiences")
            return [DEFAULT_AUDIENCE]
        if not isinstance(aud, list) or not all(
                isinstance(a, str) and a for a in aud):
            raise bad_request("spec.audiences must be a list of non-empty "
                              "strings")
        return aud

    def expiration(self, spec):
        secs = spec.get("expirationSeconds", 3600)
        if not isinstance(secs, int) or isinstance(secs, bool):
            raise bad_request("spec.expirationSeconds must be an integer")
        spec["expirationSeconds"] = secs
        if secs < MIN_TOKEN_S:
            msg = ("may not specify a duration less than 10 minutes")
        elif secs > MAX_TOKEN_S:
            msg = "may not specify a duration larger than 2^32 seconds"
        else:
            return secs
        full = "TokenRequest.authentication.k8s.io \"\" is invalid: " \
            "spec.expirationSeconds: Invalid value: %d: %s" % (secs, msg)
        raise ApiError(422, "Invalid", full, full, details={
            "group": "authentication.k8s.io", "kind": "TokenRequest",
            "causes": [{"reason": "FieldValueInvalid", "message":
                        "Invalid value: %d: %s" % (secs, msg),
                        "field": "spec.expirationSeconds"}]})

    def bound_pod(self, ns, sa, spec):
        st = self.fake.store
        with st.cond:
            pods = [p for p in st.pods.values()
                    if p["metadata"]["namespace"] == ns]
        if not any(p["spec"]["serviceAccountName"] == sa for p in pods):
            raise ApiError(404, "NotFound", 'serviceaccounts "%s" not found'
                           % sa, "serviceaccount %s/%s not found" % (ns, sa),
                           details={"name": sa, "kind": "serviceaccounts"})
        ref = spec.get("boundObjectRef")
        if ref is None:
            self.violation("TokenRequest without boundObjectRef")
            return None
        if not isinstance(ref, dict) or ref.get("kind") != "Pod" or \
                ref.get("apiVersion", "v1") != "v1":
            raise bad_request("cannot bind token to object of kind %r (want "
                              "Pod, v1)" % (ref.get("kind") if isinstance(
                                  ref, dict) else ref))
        name = ref.get("name")
        pod = next((p for p in pods if p["metadata"]["name"] == name), None)
        if pod is None:
            raise ApiError(404, "NotFound", 'pods "%s" not found' % name,
                           "bound pod %s/%s not found" % (ns, name),
                           details={"name": name, "kind": "pods"})
        return self.check_bound(ns, sa, ref, pod)

    def check_bound(self, ns, sa, ref, pod):
        if pod["spec"]["serviceAccountName"] != sa:
            raise bad_request(
                "cannot bind token for serviceaccount %r to pod running with "
                "different serviceaccount name." % sa)
        uid = pod["metadata"]["uid"]
        if not ref.get("uid"):
            self.violation("boundObjectRef without uid")
        elif ref["uid"] != uid:
            msg = ('Operation cannot be fulfilled on Pod "%s": the UID in '
                   "the bound object reference (%s) does not match the UID "
                   "in record. The object might have been deleted and then "
                   "recreated" % (ref.get("name"), ref["uid"]))
            raise ApiError(409, "Conflict", msg, "uid mismatch: " + msg)
        if pod["spec"]["nodeName"] != self.fake.args.node:
            self.violation("TokenRequest for pod %s/%s of node %s" %
                           (ns, ref.get("name"), pod["spec"]["nodeName"]))
        ref["uid"] = uid
        return pod

    def issue(self, ns, sa, spec, aud, secs, pod):
        fake = self.fake
        now = int(time.time())
        granted = fake.scenario_get("token_expiration_override_s") or secs
        claims = {"aud": aud, "exp": now + granted, "iat": now,
                  "iss": fake.args.issuer, "jti": str(uuid.uuid4()),
                  "kubernetes.io": {"namespace": ns, "serviceaccount": {
                      "name": sa, "uid": str(uuid.uuid5(
                          uuid.NAMESPACE_URL, "sa:%s/%s" % (ns, sa)))}},
                  "nbf": now, "sub": "system:serviceaccount:%s:%s" % (ns, sa)}
        if pod is not None:
            claims["kubernetes.io"]["pod"] = {
                "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}
            claims["kubernetes.io"]["node"] = {
                "name": pod["spec"]["nodeName"], "uid": fake.node_uid}
        token = fake.signer.jwt(claims)
        with fake.lock:
            fake.tokens.append(claims)
        spec["audiences"] = aud
        return {"kind": "TokenRequest",
                "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"name": sa, "namespace": ns,
                             "creationTimestamp": None},
                "spec": spec,
                "status": {"token": token,
                           "expirationTimestamp": rfc3339(now + granted)}}


# -------------------------------------------------------- control handler

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

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else b""
        return json.loads(data) if data.strip() else {}

    def do_GET(self):
        self.handle_control()

    do_POST = do_DELETE = do_GET

    def handle_control(self):
        fake = self.server.fake
        path = urllib.parse.urlsplit(self.path).path.rstrip("/")
        try:
            code, obj = self.control(fake, self.command, path, self.body())
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            code, obj = 400, {"error": "%s: %s" % (type(e).__name__, e)}
        self.reply(code, obj)

    def control(self, fake, method, path, body):
        st = fake.store
        if (method, path) == ("GET", "/state"):
            return 200, fake.state()
        if (method, path) == ("POST", "/pods"):
            specs = body if isinstance(body, list) else [body]
            for p in specs:
                check_pod_spec(p)
            pods = [with_kind(st.put(p)) for p in specs]
            return 200, {"rv": st.rv, "pods": pods}
        if method == "DELETE" and path.startswith("/pods/"):
            rv = st.delete(path[len("/pods/"):])
            if rv is None:
                return 404, {"error": "no such pod"}
            return 200, {"rv": rv}
        if (method, path) == ("POST", "/scenario"):
            return 200, fake.scenario_set(body)
        if (method, path) == ("POST", "/compact"):
            return 200, {"rv": st.compact()}
        if (method, path) == ("POST", "/bump"):
            return 200, {"rv": st.bump(int(body.get("n", 1)))}
        if (method, path) == ("POST", "/watches/close"):
            mode = body.get("mode", "clean")
            if mode not in ("clean", "abrupt"):
                raise ValueError("mode must be clean or abrupt")
            return 200, {"closed": st.close_watches(mode)}
        if (method, path) == ("DELETE", "/violations"):
            fake.clear_violations()
            return 200, {}
        return 404, {"error": "no such control endpoint %s %s" % (method,
                                                                   path)}


# ---------------------------------------------------------------- servers

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, fake, ctx=None):
        self.fake, self.ctx = fake, ctx
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

    def finish_request(self, request, client_address):
        if self.ctx is None:
            return super().finish_request(request, client_address)
        request.settimeout(10)
        try:
            conn = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.fake.count("tls_failure")
            print("kube_api: TLS handshake from %s failed: %s" %
                  (client_address[0], e), file=sys.stderr)
            return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            try:
                conn.close()
            except OSError:
                pass


def tls_context(fake, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])

    def sni(sock, name, context):
        with fake.lock:
            fake.last_sni = name
    ctx.sni_callback = sni
    return ctx


def split_addr(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


def write_atomic(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def parse_args(argv):
    ap = argparse.ArgumentParser(description="strict fake Kubernetes API")
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--node", required=True)
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--port-file")
    ap.add_argument("--control-listen", default="127.0.0.1:0")
    ap.add_argument("--control-port-file")
    ap.add_argument("--history", type=int, default=1000,
                    help="events kept for watch resumption")
    ap.add_argument("--issuer", default="https://kube.test")
    return ap.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    os.makedirs(args.state_dir, exist_ok=True)
    fake = Fake(args)
    api = Server(split_addr(args.listen), ApiHandler, fake,
                 tls_context(fake, args.cert, args.key))
    control = Server(split_addr(args.control_listen), ControlHandler, fake)
    threading.Thread(target=control.serve_forever, daemon=True).start()
    for path, port in ((args.control_port_file, control.server_port),
                       (os.path.join(args.state_dir, "control-port"),
                        control.server_port),
                       (os.path.join(args.state_dir, "port"), api.server_port),
                       (args.port_file, api.server_port)):
        if path:
            write_atomic(path, "%d\n" % port)
    print("kube_api: https on %d, control on %d, node %s" %
          (api.server_port, control.server_port, args.node), file=sys.stderr)
    try:
        api.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
