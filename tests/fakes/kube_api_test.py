#!/usr/bin/env python3
"""Tests of the strict fake Kubernetes API server (tests/fakes/kube_api.py).

Drives the fake with curl (a real client, --cacert) and with Python's
http.client and a raw TLS socket (to see chunk boundaries and truncation).
Ends with the line "N passed, N failed"; exits non-zero on failure.  Every
server it starts is killed on exit, on failure and after 240 s.
"""

import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import certs  # noqa: E402

NODE = "node-a"
TOKEN = "token-one"
PASSED = 0
FAILED = 0
CURRENT = ["-"]
TESTS = []


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


# ------------------------------------------------------------ the servers

class Fake:
    """One running kube_api.py with its own state dir."""

    def __init__(self, root, name, cert, key, extra=()):
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        self.token_file = os.path.join(self.dir, "token")
        self.set_token(TOKEN)
        self.state_dir = os.path.join(self.dir, "state")
        pf = os.path.join(self.dir, "port")
        cf = os.path.join(self.dir, "control-port")
        self.log = open(os.path.join(self.dir, "stderr"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "kube_api.py"),
             "--listen", "127.0.0.1:0", "--cert", cert, "--key", key,
             "--token-file", self.token_file, "--node", NODE,
             "--state-dir", self.state_dir, "--port-file", pf,
             "--control-port-file", cf] + list(extra),
            stdout=self.log, stderr=self.log)
        self.pf, self.cf = pf, cf
        self.port = self.cport = None

    def wait(self):
        # 60 s: three fakes load their keys at once, in Python, on a
        # machine that may be loaded (15 s were seen to be too few).
        deadline = time.monotonic() + 60
        while not os.path.exists(self.pf):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("fake did not start: see %s" %
                                   self.log.name)
            time.sleep(0.02)
        self.port = int(open(self.pf).read())
        self.cport = int(open(self.cf).read())
        return self

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()

    def set_token(self, tok):
        with open(self.token_file, "w") as f:
            f.write(tok + "\n")

    def ctl(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.cport, timeout=10)
        data = None if body is None else json.dumps(body)
        c.request(method, path, data,
                  {"Content-Type": "application/json"} if data else {})
        r = c.getresponse()
        out = json.loads(r.read())
        c.close()
        if r.status != 200 and not path.startswith("/pods/"):
            raise RuntimeError("control %s %s: %d %s" % (method, path,
                                                         r.status, out))
        return out

    def state(self):
        return self.ctl("GET", "/state")

    def add(self, **pod):
        return self.ctl("POST", "/pods", pod)["pods"][0]

    def scenario(self, **toggles):
        return self.ctl("POST", "/scenario", toggles)

    def take_violations(self):
        v = self.state()["violations"]
        self.ctl("DELETE", "/violations")
        return v

    def reset(self):
        self.ctl("POST", "/scenario", {"reset": True})
        for p in self.state()["pods"]:
            m = p["metadata"]
            self.ctl("DELETE", "/pods/%s/%s" % (m["namespace"], m["name"]))
        self.ctl("DELETE", "/violations")
        self.set_token(TOKEN)


CTX = {}


def ssl_ctx(ca=None):
    ctx = ssl.create_default_context(cafile=ca or CTX["certs"]["ca.crt"])
    return ctx


def api(method, target, token=TOKEN, headers=None, body=None, fake=None,
        conn=None):
    """One request over http.client+TLS; returns (status, headers, json)."""
    fake = fake or CTX["fake"]
    c = conn or http.client.HTTPSConnection("127.0.0.1", fake.port,
                                            context=ssl_ctx(), timeout=10)
    h = {"Accept": "application/json"}
    if token is not None:
        h["Authorization"] = "Bearer " + token
    h.update(headers or {})
    h = {k: v for k, v in h.items() if v is not None}
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    c.request(method, target, body, h)
    r = c.getresponse()
    data = r.read()
    if conn is None:
        c.close()
    try:
        obj = json.loads(data)
    except ValueError:
        obj = None
    return r.status, {k.lower(): v for k, v in r.getheaders()}, obj


def curl(args, token=TOKEN, fake=None, ca=None):
    """Run curl against the fake; returns (exit code, status, body)."""
    fake = fake or CTX["fake"]
    cmd = ["curl", "-sS", "--max-time", "10", "--cacert",
           ca or CTX["certs"]["ca.crt"], "-H", "Accept: application/json",
           "-w", "\n%{http_code}"]
    if token is not None:
        cmd += ["-H", "Authorization: Bearer " + token]
    cmd += [a.replace("URL", "https://127.0.0.1:%d" % fake.port)
            for a in args]
    r = subprocess.run(cmd, capture_output=True, text=True)
    body, _, code = r.stdout.rpartition("\n")
    return r.returncode, int(code or 0), body, r.stderr


def sel(node=NODE):
    return "fieldSelector=spec.nodeName%3D" + node


def pods_url(extra=""):
    return "/api/v1/pods?" + sel() + ("&" + extra if extra else "")


# --------------------------------------------------- raw chunked client

class Chunks:
    """Incremental HTTP/1.1 chunked-body parser that keeps boundaries."""

    def __init__(self):
        self.buf = b""
        self.chunks = []
        self.done = False
        self.bad = False

    def feed(self, data):
        self.buf += data
        while not self.done and not self.bad:
            nl = self.buf.find(b"\r\n")
            if nl < 0:
                return
            try:
                size = int(self.buf[:nl], 16)
            except ValueError:
                self.bad = True
                return
            if size == 0:
                if self.buf[nl + 2:nl + 4] == b"\r\n":
                    self.done = True
                return
            if len(self.buf) < nl + 2 + size + 2:
                return
            chunk = self.buf[nl + 2:nl + 2 + size]
            if self.buf[nl + 2 + size:nl + 4 + size] != b"\r\n":
                self.bad = True
                return
            self.chunks.append(chunk)
            self.buf = self.buf[nl + 4 + size:]

    def body(self):
        return b"".join(self.chunks)

    def partial(self):
        """Bytes of an incomplete chunk after its size line."""
        nl = self.buf.find(b"\r\n")
        return self.buf[nl + 2:] if nl >= 0 else b""


class Watch:
    """A watch request over a raw TLS socket, read in a thread."""

    def __init__(self, query, token=TOKEN, fake=None, stop_after=None,
                 version="HTTP/1.1", until=None):
        fake = fake or CTX["fake"]
        self.fake = fake
        self.until = until  # the client leaves once until(events) holds
        self.status = None
        self.head = b""
        self.body = Chunks()
        self.eof = False
        self.error = None
        self.stop_after = stop_after
        raw = socket.create_connection(("127.0.0.1", fake.port), timeout=15)
        self.sock = ssl_ctx().wrap_socket(raw, server_hostname="127.0.0.1")
        req = ("GET %s %s\r\nHost: 127.0.0.1:%d\r\nAccept: application/json"
               "\r\nAuthorization: Bearer %s\r\n\r\n" %
               ("/api/v1/pods?" + query, version, fake.port, token))
        self.sock.sendall(req.encode())
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        buf = b""
        try:
            while b"\r\n\r\n" not in buf:
                data = self.sock.recv(65536)
                if not data:
                    self.eof = True
                    return
                buf += data
            self.head, _, rest = buf.partition(b"\r\n\r\n")
            self.status = int(self.head.split(b" ")[1])
            if b"chunked" not in self.head.lower():
                self.plain = rest
                return
            self.body.feed(rest)
            while not self.body.done and not self._enough():
                data = self.sock.recv(65536)
                if not data:
                    self.eof = True
                    return
                self.body.feed(data)
        except (OSError, ssl.SSLError) as e:
            self.error = e
            self.eof = True
        finally:
            self.sock.close()

    def _enough(self):
        if self.until is not None:
            return self.until(self.events())
        return self.stop_after is not None and \
            len(self.events()) >= self.stop_after

    def join(self, timeout=30):
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def events(self):
        lines = self.body.body().split(b"\n")
        return [json.loads(x) for x in lines[:-1]]

    def types(self):
        return [e["type"] for e in self.events()]


def wait_for(pred, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def active_watches(fake=None):
    return len((fake or CTX["fake"]).state()["active_watches"])


def list_rv():
    st, _, obj = api("GET", pods_url())
    if st != 200:
        raise RuntimeError("list failed: %d %s" % (st, obj))
    return int(obj["metadata"]["resourceVersion"])


# ------------------------------------------------------------------ tests

@test
def certificates():
    c = CTX["certs"]

    def verify(crt, ca):
        r = subprocess.run(["openssl", "verify", "-CAfile", ca, crt],
                           capture_output=True, text=True)
        return r.returncode, r.stdout + r.stderr
    check(verify(c["server.crt"], c["ca.crt"])[0] == 0, "server.crt verifies")
    check(verify(c["server-ec.crt"], c["ca.crt"])[0] == 0,
          "server-ec.crt verifies")
    rc, out = verify(c["expired.crt"], c["ca.crt"])
    check(rc != 0 and "expired" in out, "expired.crt is expired: " + out)
    check(verify(c["wrong-ca.crt"], c["ca.crt"])[0] != 0,
          "wrong-ca.crt does not verify against ca.crt")
    check(verify(c["wrong-ca.crt"], c["wrong-ca-root.crt"])[0] == 0,
          "wrong-ca.crt verifies against its own root")
    txt = subprocess.run(["openssl", "x509", "-in", c["server.crt"], "-noout",
                          "-ext", "subjectAltName,basicConstraints"],
                         capture_output=True, text=True).stdout
    check("IP Address:127.0.0.1" in txt and "DNS:kube.test" in txt and
          "CA:FALSE" in txt, "server SANs and CA:FALSE: " + txt)
    ec = subprocess.run(["openssl", "pkey", "-in", c["server-ec.key"],
                         "-noout", "-text"], capture_output=True, text=True)
    check("P-256" in ec.stdout, "server-ec.key is P-256")
    before = os.stat(c["ca.crt"]).st_mtime_ns
    t = time.monotonic()
    certs.make(os.path.dirname(c["ca.crt"]), ["127.0.0.1", "::1"],
               ["localhost", "kube.test"])
    check(os.stat(c["ca.crt"]).st_mtime_ns == before and
          time.monotonic() - t < 1, "second make() reuses the files")


@test
def tls_clients():
    rc, code, body, err = curl(["URL/openid/v1/jwks"], token=None)
    check(rc == 0 and code == 200, "curl --cacert ca.crt works: %s" % err)
    rc, code, body, err = curl(["URL/openid/v1/jwks"], token=None,
                               ca=CTX["certs"]["wrong-ca-root.crt"])
    check(rc == 60, "curl with another CA fails to verify: rc %d" % rc)
    with socket.create_connection(("127.0.0.1", CTX["fake"].port)) as raw:
        ctx = ssl_ctx()
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        with ctx.wrap_socket(raw, server_hostname="kube.test") as s:
            check(s.version() in ("TLSv1.2", "TLSv1.3"), "TLS 1.2+")
            check(s.selected_alpn_protocol() == "http/1.1", "ALPN http/1.1")
    check(CTX["fake"].state()["last_sni"] == "kube.test", "SNI recorded")
    ec = CTX["ec"]
    rc, code, body, err = curl(["--tlsv1.2", "--tls-max", "1.2", "-v",
                                "URL/openid/v1/jwks"], token=None, fake=ec)
    check(rc == 0 and code == 200 and "ECDHE-ECDSA" in err,
          "EC P-256 server works with curl: %s" % err[-300:])
    rc, code, body, err = curl(["URL/openid/v1/jwks"], token=None,
                               fake=CTX["expired"])
    check(rc == 60 and "expired" in err, "expired cert refused: " + err)
    check(wait_for(lambda: CTX["expired"].state()["tls_failures"] >= 1),
          "failed handshake counted")


@test
def auth():
    f = CTX["fake"]
    rc, code, body, _ = curl(["URL" + pods_url()], token=None)
    obj = json.loads(body)
    check(code == 401 and obj["kind"] == "Status" and
          obj["reason"] == "Unauthorized" and obj["code"] == 401,
          "missing token: 401 Status: %s" % body)
    check(any("no Authorization" in v for v in f.take_violations()),
          "missing token is a violation")
    rc, code, body, _ = curl(["URL" + pods_url()], token="nope")
    check(code == 401, "wrong token: 401")
    st, _, _ = api("GET", pods_url(), token=None,
                   headers={"Authorization": "bearer " + TOKEN})
    check(st == 401, "lower-case scheme: 401")
    check(len(f.take_violations()) == 2, "each failure logged")
    check(os.path.getsize(os.path.join(f.state_dir, "violations.log")) == 0,
          "violations.log cleared")
    f.set_token("token-two")
    rc, code, _, _ = curl(["URL" + pods_url()])
    check(code == 401, "old token refused after rotation")
    rc, code, _, _ = curl(["URL" + pods_url()], token="token-two")
    check(code == 200, "new token accepted after rotation")
    check(len(f.take_violations()) == 1, "only the stale token logged")


@test
def accept_and_paths():
    f = CTX["fake"]
    st, _, obj = api("GET", pods_url(),
                     headers={"Accept": "application/yaml"})
    check(st == 406 and obj["reason"] == "NotAcceptable", "yaml: 406")
    st, _, _ = api("GET", pods_url(), headers={"Accept": "*/*"})
    check(st == 200, "*/* still served")
    st, _, _ = api("GET", pods_url(), headers={"Accept": None})
    check(st == 200, "no Accept served")
    v = f.take_violations()
    check(len(v) == 2 and "yaml" in v[0] and "*/*" in v[1],
          "yaml and */* logged, absent Accept not: %s" % v)
    st, _, obj = api("GET", "/api/v1/namespaces/default/pods")
    check(st == 404 and obj["reason"] == "NotFound", "unknown path: 404")
    st, _, obj = api("POST", pods_url(), body={})
    check(st == 405, "POST pods: 405")
    check(len(f.take_violations()) == 2, "404 and 405 logged")
    st, _, _ = api("GET", pods_url(), body="x")
    check(st == 200 and len(f.take_violations()) == 1, "GET body logged")


@test
def list_query_strictness():
    f = CTX["fake"]
    bad = ["", "fieldSelector=spec.nodeName%3Dother",
           "fieldSelector=spec.nodeName%3D%3D" + NODE,
           sel() + "%2Cstatus.phase%3DRunning",
           sel() + "&limit=0", sel() + "&limit=ten", sel() + "&limit=-1",
           "fieldSelector=spec.nodeName%zz" + NODE, sel() + ";x=1",
           sel() + "&watch=yes"]
    for q in bad:
        st, _, obj = api("GET", "/api/v1/pods?" + q)
        check(st == 400 and obj["kind"] == "Status" and
              obj["reason"] == "BadRequest", "400 for %r: %d" % (q, st))
    check(len(f.take_violations()) == len(bad), "each bad query logged")
    st, _, _ = api("GET", "/api/v1/pods?fieldSelector=spec.nodeName=" + NODE)
    check(st == 200 and not f.take_violations(), "raw '=' decodes the same")
    st, _, _ = api("GET", pods_url("labelSelector=a%3Db"))
    check(st == 200, "unknown parameter ignored")
    st, _, _ = api("GET", pods_url(sel()))
    check(st == 200, "duplicate parameter served")
    v = f.take_violations()
    check(len(v) == 2 and "labelSelector" in v[0] and "duplicate" in v[1],
          "unknown and duplicate parameters logged: %s" % v)
    st, _, obj = api("GET", pods_url("resourceVersion=999999"))
    check(st == 504 and "Too large" in obj["message"], "future RV: 504")
    f.take_violations()


@test
def list_content():
    f = CTX["fake"]
    f.add(name="web", namespace="team", ip="10.244.1.7", labels={"app": "w"},
          serviceAccount="web-sa", netRaw=True)
    f.add(name="host", namespace="kube-system", hostNetwork=True,
          netRaw=False, hostIP="10.224.0.9")
    f.add(name="pend", phase="Pending")
    f.add(name="dual", ips=["10.244.1.8", "fd00::8"], deleting=True)
    f.add(name="elsewhere", node="node-b", ip="10.244.9.9")
    rc, code, body, _ = curl(["URL" + pods_url()])
    obj = json.loads(body)
    check(code == 200 and obj["kind"] == "PodList" and
          obj["apiVersion"] == "v1", "PodList")
    names = ["%s/%s" % (p["metadata"]["namespace"], p["metadata"]["name"])
             for p in obj["items"]]
    check(names == ["default/dual", "default/pend", "kube-system/host",
                    "team/web"], "sorted, node-b filtered out: %s" % names)
    check(all("kind" not in p for p in obj["items"]), "items without kind")
    check(obj["metadata"]["resourceVersion"] == str(f.state()["rv"]) and
          "continue" not in obj["metadata"], "list RV, no continue")
    it = {p["metadata"]["name"]: p for p in obj["items"]}
    web = it["web"]
    check(web["metadata"]["labels"] == {"app": "w"} and
          len(web["metadata"]["uid"]) == 36 and
          web["metadata"]["managedFields"][0]["fieldsType"] == "FieldsV1",
          "metadata fields")
    check(web["spec"]["nodeName"] == NODE and
          web["spec"]["serviceAccountName"] == "web-sa" and
          "hostNetwork" not in web["spec"], "spec fields")
    check(web["spec"]["containers"][0]["securityContext"]["capabilities"] ==
          {"add": ["NET_RAW"]}, "NET_RAW added")
    check(web["status"]["phase"] == "Running" and
          web["status"]["podIP"] == "10.244.1.7" and
          web["status"]["podIPs"] == [{"ip": "10.244.1.7"}] and
          {c["type"] for c in web["status"]["conditions"]} >=
          {"Ready", "PodScheduled"}, "status fields")
    host = it["host"]
    check(host["spec"]["hostNetwork"] is True and
          host["status"]["podIP"] == "10.224.0.9" and
          host["spec"]["containers"][0]["securityContext"] ==
          {"capabilities": {"drop": ["NET_RAW"]}}, "host network pod")
    check("podIP" not in it["pend"]["status"] and
          it["pend"]["status"]["phase"] == "Pending", "pending: no IP")
    check(it["dual"]["status"]["podIPs"] == [{"ip": "10.244.1.8"},
                                            {"ip": "fd00::8"}] and
          "deletionTimestamp" in it["dual"]["metadata"],
          "dual stack, deleting")
    check(not f.take_violations(), "no violations for a clean list")


@test
def pagination():
    f = CTX["fake"]
    for i in range(5):
        f.add(name="p%d" % i, ip="10.244.2.%d" % i)
    c = http.client.HTTPSConnection("127.0.0.1", f.port, context=ssl_ctx(),
                                    timeout=10)
    st, _, p1 = api("GET", pods_url("limit=2"), conn=c)
    rv = p1["metadata"]["resourceVersion"]
    tok = p1["metadata"].get("continue")
    check(st == 200 and len(p1["items"]) == 2 and tok, "page 1 of 2 items")
    check("remainingItemCount" not in p1["metadata"],
          "no remainingItemCount with a field selector")
    f.add(name="p00", ip="10.244.2.99")
    st, _, p2 = api("GET", pods_url("limit=2&continue=" + tok), conn=c)
    st, _, p3 = api("GET", pods_url("limit=2&continue=" +
                                    p2["metadata"]["continue"]), conn=c)
    names = [p["metadata"]["name"] for p in p1["items"] + p2["items"] +
             p3["items"]]
    check(names == ["p0", "p1", "p2", "p3", "p4"], "snapshot pages: %s" %
          names)
    check(p2["metadata"]["resourceVersion"] == rv ==
          p3["metadata"]["resourceVersion"], "every page has the first RV")
    check("continue" not in p3["metadata"], "last page has no continue")
    st, _, again = api("GET", pods_url("limit=2&continue=" + tok), conn=c)
    check(st == 200 and again["items"] == p2["items"], "token reusable")
    c.close()
    f.scenario(list_page_limit_max=1)
    st, _, capped = api("GET", pods_url("limit=3"))
    check(len(capped["items"]) == 1 and capped["metadata"]["continue"],
          "server caps the page size")
    st, _, full = api("GET", pods_url())
    check(len(full["items"]) == 6, "no limit, no paging")
    check(not f.take_violations(), "clean pagination logs nothing")
    st, _, obj = api("GET", pods_url("limit=2&continue=bm90LWlzc3VlZA"))
    check(st == 410 and obj["reason"] == "Expired" and
          "too old" in obj["message"], "unknown continue: 410")
    check(len(f.take_violations()) == 1, "unissued continue logged")
    st, _, obj = api("GET", pods_url("limit=2&resourceVersion=%s&continue=%s"
                                     % (rv, tok)))
    check(st == 400, "resourceVersion with continue: 400")
    f.take_violations()
    f.scenario(continue_ttl_ms=1)
    time.sleep(0.01)
    st, _, _ = api("GET", pods_url("limit=2&continue=" + tok))
    check(st == 410 and not f.take_violations(), "expired token: 410")
    f.scenario(continue_ttl_ms=300000)
    st, _, p1 = api("GET", pods_url("limit=2"))
    f.ctl("POST", "/compact")
    st, _, _ = api("GET", pods_url("limit=2&continue=" +
                                   p1["metadata"]["continue"]))
    check(st == 410 and not f.take_violations(), "compaction expires tokens")


@test
def watch_events():
    f = CTX["fake"]
    f.add(name="old", ip="10.244.3.1")
    rv = list_rv()
    t = time.monotonic()
    w = Watch(sel() + "&watch=1&resourceVersion=%d&allowWatchBookmarks=true"
              "&timeoutSeconds=3" % rv)
    check(wait_for(lambda: active_watches() == 1), "watch is active")
    # 3 s for the four changes below to reach the watch, on a loaded machine.
    f.add(name="new", ip="10.244.3.2", phase="Pending")
    f.add(name="new", ip="10.244.3.2")
    f.add(name="other", node="node-b")
    f.ctl("DELETE", "/pods/default/new")
    check(w.join(30), "watch ended")
    check(2.9 < time.monotonic() - t < 20, "ended by timeoutSeconds")
    check(w.status == 200 and b"transfer-encoding: chunked" in
          w.head.lower(), "200 chunked")
    check(w.body.done and not w.body.bad, "ended with last-chunk")
    ev = w.events()
    check([e["type"] for e in ev] == ["ADDED", "MODIFIED", "DELETED"],
          "events: %s" % [e["type"] for e in ev])
    check(all(e["object"]["kind"] == "Pod" for e in ev), "objects have kind")
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in ev]
    check(rvs == sorted(rvs) and rvs[0] > rv and len(set(rvs)) == 3,
          "RVs increase: %s" % rvs)
    check(len(w.body.chunks) == 3 and all(
        c.endswith(b"\n") for c in w.body.chunks), "one chunk per event")
    check(wait_for(lambda: active_watches() == 0), "watch unregistered")
    st = f.state()
    check(st["watch_requests"] >= 1 and "watch=1" in st["last_watch_query"],
          "state counts the watch")
    check(not f.take_violations(), "a correct watch logs nothing")


@test
def watch_bookmarks():
    f = CTX["fake"]
    rv = list_rv()
    f.scenario(bookmark_every_ms=150)
    # 3 s for 3 bookmarks 150 ms apart: room for a loaded machine's stall
    # of a second or two, since a late bookmark only delays the next.
    rc, code, body, _ = curl(["--raw", "-N", "URL" + pods_url(
        "watch=true&resourceVersion=%d&allowWatchBookmarks=true"
        "&timeoutSeconds=3" % rv)])
    check(code == 200 and re.match(r"[0-9a-f]+\n\{", body) and
          body.count('"BOOKMARK"') >= 3 and body.endswith("\n0\n\n"),
          "curl --raw sees chunked bookmarks: %r" % body[:200])

    def bumped(ev):  # 3 bookmarks, the last after the bump
        bms = [e for e in ev if e["type"] == "BOOKMARK"]
        return len(bms) >= 3 and \
            int(bms[-1]["object"]["metadata"]["resourceVersion"]) == rv + 3
    # Up to 10 s for the bump and the bookmarks (the client leaves once
    # they came): a watch of 1 s could end before a stalled bump.
    w = Watch(sel() + "&watch=1&resourceVersion=%d&allowWatchBookmarks=true"
              "&timeoutSeconds=10" % rv, until=bumped)
    check(wait_for(lambda: active_watches() == 1), "watch is active")
    f.ctl("POST", "/bump", {"n": 3})
    w.join(30)
    check(wait_for(lambda: active_watches() == 0), "watch unregistered")
    bms = [e for e in w.events() if e["type"] == "BOOKMARK"]
    check(len(bms) >= 3, "bookmarks arrive: %d" % len(bms))
    o = bms[-1]["object"] if bms else {}
    check(o.get("spec") == {"containers": None} and o.get("status") == {} and
          int(o["metadata"]["resourceVersion"]) == rv + 3,
          "bookmark shape and RV: %s" % o)
    check(not f.take_violations(), "bookmark watch logs nothing")
    w = Watch(sel() + "&watch=1&resourceVersion=%d&timeoutSeconds=1" % rv)
    w.join(30)
    check(w.status == 200 and not w.events(), "no bookmarks unless asked")
    v = f.take_violations()
    check(len(v) == 1 and "allowWatchBookmarks" in v[0], "logged: %s" % v)


@test
def watch_required_parameters():
    f = CTX["fake"]
    f.add(name="a", ip="10.244.4.1")
    f.add(name="b", ip="10.244.4.2")
    rv = list_rv()
    f.scenario(disconnect_after_events=0)
    w = Watch(sel() + "&watch=1&resourceVersion=%d&allowWatchBookmarks=true"
              % rv)
    w.join(30)
    v = f.take_violations()
    check(w.status == 200 and len(v) == 1 and "timeoutSeconds" in v[0],
          "missing timeoutSeconds logged: %s" % v)
    f.scenario(disconnect_after_events=2)
    w = Watch(sel() + "&watch=1&allowWatchBookmarks=true&timeoutSeconds=5")
    w.join(30)
    check(w.types() == ["ADDED", "ADDED"], "no RV: synthetic ADDED")
    v = f.take_violations()
    check(len(v) == 1 and "resourceVersion" in v[0], "no RV logged: %s" % v)
    for q in ("timeoutSeconds=0", "timeoutSeconds=x",
              "timeoutSeconds=1&resourceVersion=abc",
              "timeoutSeconds=1&continue=abc"):
        st, _, _ = api("GET", pods_url("watch=1&allowWatchBookmarks=true&" +
                                       q))
        check(st == 400, "watch with %s: 400" % q)
    st, _, obj = api("GET", pods_url("watch=1&allowWatchBookmarks=true&"
                                     "timeoutSeconds=1&resourceVersion=%d" %
                                     (rv + 100)))
    check(st == 504, "watch from the future: 504")
    check(len(f.take_violations()) >= 5, "bad watches logged")


def watch_query(rv):
    return (sel() + "&watch=1&resourceVersion=%d&allowWatchBookmarks=true"
            "&timeoutSeconds=2" % rv)


@test
def watch_410_http():
    f = CTX["fake"]
    rv = list_rv()
    f.scenario(watch_410_mode="http", expire_history=True)
    rc, code, body, _ = curl(["URL/api/v1/pods?" + watch_query(rv)])
    obj = json.loads(body)
    check(code == 410 and obj["kind"] == "Status" and obj["code"] == 410 and
          obj["reason"] == "Expired" and
          obj["message"].startswith("too old resource version: %d (" % rv),
          "HTTP 410 Status: %s" % body)
    check(f.state()["scenario"]["expire_history"] is False, "one-shot")
    rv2 = list_rv()
    check(rv2 > rv, "re-list gives a newer RV")
    f.scenario(disconnect_after_events=1)
    f.add(name="x", ip="10.244.5.1")
    w = Watch(watch_query(rv2))
    w.join(30)
    check(w.status == 200 and w.types() == ["ADDED"], "watch from new RV")
    check(not f.take_violations(), "410 handling logs nothing")


@test
def watch_410_event():
    f = CTX["fake"]
    rv = list_rv()
    f.scenario(expire_history=True)
    w = Watch(watch_query(rv))
    check(w.join(30), "stream ends")
    ev = w.events()
    check(w.status == 200 and len(ev) == 1 and ev[0]["type"] == "ERROR",
          "200 + one ERROR event")
    o = ev[0]["object"] if ev else {}
    check(o.get("kind") == "Status" and o.get("code") == 410 and
          o.get("reason") == "Expired" and "too old resource version" in
          o.get("message", ""), "ERROR object is a 410 Status: %s" % o)
    check(w.body.done, "stream closed cleanly")


@test
def compaction_hits_live_watch():
    f = CTX["fake"]
    rv = list_rv()
    w = Watch(watch_query(rv))
    check(wait_for(lambda: active_watches() == 1), "watch is active")
    f.ctl("POST", "/compact")
    check(w.join(30), "watch ended by compaction")
    ev = w.events()
    check(ev and ev[-1]["type"] == "ERROR" and
          ev[-1]["object"]["code"] == 410, "live watcher gets ERROR 410")
    f.scenario(watch_410_mode="http")
    rv = list_rv()
    w = Watch(watch_query(rv))
    check(wait_for(lambda: active_watches() == 1), "second watch active")
    f.ctl("POST", "/compact")
    check(w.join(30) and w.body.done and not w.events(),
          "http mode: clean end, no event")
    st, _, obj = api("GET", pods_url("watch=1&allowWatchBookmarks=true&"
                                     "timeoutSeconds=1&resourceVersion=%d" %
                                     rv))
    check(st == 410 and obj["code"] == 410, "resume from old RV: HTTP 410")
    check(not f.take_violations(), "compaction logs nothing")


@test
def history_window():
    f = CTX["ec"]
    rv = int(f.state()["rv"])
    for i in range(5):
        f.add(name="h%d" % i, ip="10.244.6.%d" % i)
    w = Watch(watch_query(rv), fake=f)
    w.join(30)
    check(w.types() == ["ERROR"], "RV behind a 3-event history: 410")
    w = Watch(watch_query(rv + 2), fake=f, stop_after=3)
    w.join(30)
    check(w.types() == ["ADDED"] * 3, "RV inside the window replays")
    check(not f.take_violations(), "history window logs nothing")


@test
def split_every_byte():
    f = CTX["fake"]
    rv = list_rv()
    f.add(name="s", ip="10.244.7.1", labels={"k": "v"})
    f.scenario(split_every_byte=True, disconnect_after_events=1)
    w = Watch(watch_query(rv))
    check(w.join(30), "split watch ended")
    body = w.body.body()
    check(len(w.body.chunks) == len(body) > 1000 and
          all(len(c) == 1 for c in w.body.chunks),
          "one byte per chunk: %d chunks" % len(w.body.chunks))
    check(w.types() == ["ADDED"], "event reassembles")
    check(w.body.done and b"connection: close" not in w.head.lower(),
          "clean end")
    f.scenario(reset=True, chunk_bytes=97, disconnect_after_events=2)
    f.add(name="t", ip="10.244.7.2")
    w = Watch(watch_query(rv))
    w.join(30)
    sizes = [len(c) for c in w.body.chunks]
    check(w.types() == ["ADDED", "ADDED"] and sizes[:-1] == [97] *
          (len(sizes) - 1) and any(b"\n{" in c for c in w.body.chunks),
          "97-byte chunks straddle events")
    f.scenario(reset=True, chunk_delay_ms=200, disconnect_after_events=2)
    t = time.monotonic()
    w = Watch(watch_query(rv))
    w.join(30)
    check(w.types() == ["ADDED", "ADDED"] and time.monotonic() - t >= 0.2,
          "chunk_delay_ms paces the chunks")


@test
def truncation_and_disconnect():
    f = CTX["fake"]
    rv = list_rv()
    f.add(name="u", ip="10.244.8.1")
    f.add(name="v", ip="10.244.8.2")
    f.scenario(truncate_after_bytes=50)
    w = Watch(watch_query(rv))
    check(w.join(30), "truncated watch ended")
    check(w.status == 200 and not w.body.done and not w.body.chunks and
          len(w.body.partial()) == 50 and w.eof,
          "cut mid-event after 50 bytes: %d" % len(w.body.partial()))
    f.scenario(truncate_after_bytes=None, disconnect_after_events=1)
    w = Watch(watch_query(rv))
    check(w.join(30), "disconnected watch ended")
    check(w.types() == ["ADDED"] and w.body.done, "one event then last-chunk")
    f.scenario(disconnect_after_events=None)
    w = Watch(watch_query(rv), stop_after=2)
    check(w.join(30) and w.types() == ["ADDED", "ADDED"], "client read 2")
    check(wait_for(lambda: active_watches() == 0, 3),
          "server notices the client left")
    w = Watch(watch_query(list_rv()))
    check(wait_for(lambda: active_watches() == 1), "watch active")
    f.ctl("POST", "/watches/close", {"mode": "abrupt"})
    check(w.join(30) and not w.body.done and w.eof, "abrupt close")
    check(not f.take_violations(), "cuts log nothing")


@test
def injected_failures():
    f = CTX["fake"]
    f.scenario(fail_next_n_requests_with={"n": 2, "code": 429,
                                          "retry_after": 3})
    st, h, obj = api("GET", pods_url())
    check(st == 429 and h.get("retry-after") == "3" and
          obj["reason"] == "TooManyRequests" and
          obj["details"]["retryAfterSeconds"] == 3, "429 with Retry-After")
    st, _, _ = api("GET", pods_url("watch=1&timeoutSeconds=1"))
    check(st == 429, "second request fails too")
    st, _, _ = api("GET", pods_url())
    check(st == 200, "third succeeds")
    f.scenario(fail_next_n_requests_with={"n": 1, "code": 500})
    rc, code, body, _ = curl(["URL" + pods_url()])
    check(code == 500 and json.loads(body)["reason"] == "InternalError",
          "500 Status")
    st, _, _ = api("GET", pods_url(), token="bad")
    check(st == 401, "auth checked before injection")
    f.take_violations()
    f.scenario(slow_list_ms=300)
    t = time.monotonic()
    api("GET", pods_url())
    check(time.monotonic() - t >= 0.3, "slow list")


def token_body(name, uid, aud=("api://AzureADTokenExchange",), secs=3600,
               ref=True):
    spec = {"audiences": list(aud), "expirationSeconds": secs}
    if ref:
        spec["boundObjectRef"] = {"kind": "Pod", "apiVersion": "v1",
                                  "name": name, "uid": uid}
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": spec}


TOKEN_URL = "/api/v1/namespaces/team/serviceaccounts/web-sa/token"


@test
def token_request_ok():
    f = CTX["fake"]
    pod = f.add(name="web", namespace="team", ip="10.244.9.1",
                serviceAccount="web-sa")
    uid = pod["metadata"]["uid"]
    t0 = int(time.time())
    st, _, obj = api("POST", TOKEN_URL, body=token_body("web", uid))
    check(st == 201 and obj["kind"] == "TokenRequest" and
          obj["spec"]["boundObjectRef"]["uid"] == uid, "201 TokenRequest")
    tok = obj["status"]["token"]
    head, claims, sig = tok.split(".")
    h, c = json.loads(b64d(head)), json.loads(b64d(claims))
    check(h["alg"] == "RS256", "RS256")
    check(c["iss"] == "https://kube.test" and
          c["sub"] == "system:serviceaccount:team:web-sa" and
          c["aud"] == ["api://AzureADTokenExchange"] and
          c["kubernetes.io"]["pod"] == {"name": "web", "uid": uid} and
          c["kubernetes.io"]["namespace"] == "team" and
          c["kubernetes.io"]["node"]["name"] == NODE, "claims: %s" % c)
    check(abs(c["exp"] - (t0 + 3600)) <= 2 and c["iat"] >= t0 - 1, "exp")
    exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(c["exp"]))
    check(obj["status"]["expirationTimestamp"] == exp, "RFC 3339 expiry")
    d = os.path.join(CTX["root"], "jwt")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "in"), "wb") as fp:
        fp.write((head + "." + claims).encode())
    with open(os.path.join(d, "sig"), "wb") as fp:
        fp.write(b64d(sig))
    r = subprocess.run(["openssl", "dgst", "-sha256", "-verify",
                        os.path.join(f.state_dir, "sa-signing.pub"),
                        "-signature", os.path.join(d, "sig"),
                        os.path.join(d, "in")], capture_output=True, text=True)
    check(r.returncode == 0 and "Verified OK" in r.stdout,
          "signature verifies with sa-signing.pub: " + r.stdout + r.stderr)
    st, _, jwks = api("GET", "/openid/v1/jwks", token=None)
    check(st == 200 and jwks["keys"][0]["kid"] == h["kid"] and
          jwks["keys"][0]["e"] == "AQAB", "JWKS publishes the kid")
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in",
                          os.path.join(f.state_dir, "sa-signing.pub"),
                          "-outform", "DER"], capture_output=True).stdout
    kid = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=")
    check(h["kid"] == kid.decode(), "kid is the key's SHA-256")
    st, _, oidc = api("GET", "/.well-known/openid-configuration", token=None)
    check(oidc["issuer"] == "https://kube.test", "discovery document")
    f.scenario(token_expiration_override_s=7200)
    st, _, obj = api("POST", TOKEN_URL, body=token_body("web", uid))
    c = json.loads(b64d(obj["status"]["token"].split(".")[1]))
    check(obj["spec"]["expirationSeconds"] == 3600 and
          c["exp"] - c["iat"] == 7200 and obj["status"][
              "expirationTimestamp"] == time.strftime(
              "%Y-%m-%dT%H:%M:%SZ", time.gmtime(c["exp"])),
          "server may grant another lifetime")
    check(len(f.state()["tokens"]) == 2, "tokens recorded")
    check(not f.take_violations(), "good TokenRequests log nothing")


@test
def token_request_rejects():
    f = CTX["fake"]
    uid = f.add(name="web", namespace="team", ip="10.244.9.1",
                serviceAccount="web-sa")["metadata"]["uid"]
    f.add(name="db", namespace="team", ip="10.244.9.2", serviceAccount="db")
    f.add(name="far", namespace="team", node="node-b",
          serviceAccount="web-sa")

    def post(body, url=TOKEN_URL, **kw):
        return api("POST", url, body=body, **kw)
    st, _, obj = post(token_body("web", uid, secs=599))
    check(st == 422 and obj["reason"] == "Invalid" and
          "less than 10 minutes" in obj["message"], "599 s: 422")
    st, _, _ = post(token_body("web", uid, secs=600))
    check(st == 201, "600 s accepted")
    st, _, obj = post(token_body("web", uid, secs=2 ** 32 + 1))
    check(st == 422, "2^32+1 s: 422")
    st, _, obj = post(token_body("db", f.state()["pods"][0]["metadata"]
                                 ["uid"]))
    check(st == 400 and "different serviceaccount" in obj["message"],
          "pod of another SA: 400")
    st, _, obj = post(token_body("ghost", uid))
    check(st == 404 and obj["message"] == 'pods "ghost" not found', "404 pod")
    st, _, obj = post(token_body("web", "0000"))
    check(st == 409 and obj["reason"] == "Conflict", "uid mismatch: 409")
    st, _, obj = post(token_body("web", uid),
                      url="/api/v1/namespaces/team/serviceaccounts/nosa/token")
    check(st == 404 and "serviceaccounts" in obj["message"], "unknown SA")
    st, _, _ = post(json.dumps(token_body("web", uid)),
                    headers={"Content-Type": "text/plain"})
    check(st == 415, "non-JSON content type: 415")
    st, _, _ = post("{not json", headers={"Content-Type": "application/json"})
    check(st == 400, "bad JSON: 400")
    b = token_body("web", uid)
    b["kind"] = "Secret"
    st, _, _ = post(b)
    check(st == 400, "wrong kind: 400")
    b = token_body("web", uid)
    b["spec"]["boundObjectRef"]["kind"] = "Deployment"
    st, _, _ = post(b)
    check(st == 400, "bound to a Deployment: 400")
    st, _, _ = api("GET", TOKEN_URL)
    check(st == 405, "GET token: 405")
    check(len(f.take_violations()) == 11, "every rejection logged")
    st, _, obj = post(token_body("web", uid, ref=False))
    check(st == 201 and "pod" not in json.loads(b64d(obj["status"]["token"]
                                                     .split(".")[1]))
          ["kubernetes.io"], "unbound token issued")
    b = token_body("web", uid)
    del b["spec"]["boundObjectRef"]["uid"]
    del b["spec"]["audiences"]
    st, _, obj = post(b)
    check(st == 201 and obj["spec"]["boundObjectRef"]["uid"] == uid,
          "uid filled in")
    st, _, obj = post(token_body("far", f.state()["pods"][1]["metadata"]
                                 ["uid"]))
    check(st == 201, "pod of another node served")
    v = f.take_violations()
    check(len(v) == 4 and "without boundObjectRef" in v[0] and
          "audiences" in v[1] and "without uid" in v[2] and "node-b" in v[3],
          "lenient cases logged: %s" % v)


@test
def keep_alive_and_http10():
    f = CTX["fake"]
    c = http.client.HTTPSConnection("127.0.0.1", f.port, context=ssl_ctx(),
                                    timeout=10)
    for _ in range(3):
        st, _, _ = api("GET", pods_url(), conn=c)
    sock = c.sock
    st, _, _ = api("GET", pods_url(), conn=c)
    check(st == 200 and c.sock is sock, "connection reused")
    c.close()
    w = Watch(watch_query(list_rv()), version="HTTP/1.0")
    f.ctl("POST", "/watches/close", {"mode": "clean"})
    w.join(30)
    check(any("HTTP/1.0" in v for v in f.take_violations()),
          "HTTP/1.0 logged")
    with socket.create_connection(("127.0.0.1", f.port), timeout=5) as raw:
        with ssl_ctx().wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"GET /api/v1/pods HTTP/9.9\r\nHost: x\r\n\r\n")
            reply = s.recv(100)
    check(reply.startswith(b"HTTP/1.1 505") and
          any("malformed" in v for v in f.take_violations()),
          "unparseable request logged: %r" % reply[:40])
    check(f.state()["internal_errors"] == 0, "no fake bugs hit")


@test
def control_api():
    f = CTX["fake"]
    for bad in ({"name": "x", "colour": "red"}, {"ip": "1.2.3.4"},
                {"name": "x", "phase": "Running!"}):
        c = http.client.HTTPConnection("127.0.0.1", f.cport, timeout=5)
        c.request("POST", "/pods", json.dumps(bad))
        check(c.getresponse().status == 400, "bad pod refused: %s" % bad)
        c.close()
    c = http.client.HTTPConnection("127.0.0.1", f.cport, timeout=5)
    c.request("POST", "/scenario", json.dumps({"no_such": 1}))
    check(c.getresponse().status == 400, "unknown toggle refused")
    c.close()
    a = f.add(name="r", ip="10.244.10.1")
    rv = list_rv()
    f.scenario(disconnect_after_events=2)
    w = Watch(watch_query(rv))
    check(wait_for(lambda: active_watches() == 1), "watch active")
    b = f.add(name="r", ip="10.244.10.2", uid="11111111-2222-3333-4444-"
              "555555555555")
    w.join(30)
    check(w.types() == ["DELETED", "ADDED"] and b["metadata"]["uid"] !=
          a["metadata"]["uid"], "new uid: DELETED then ADDED")
    check(f.ctl("DELETE", "/pods/default/nope").get("error"), "404 delete")


# ------------------------------------------------------------------ main

class Overtime(BaseException):
    """Raised by the watchdog; not an Exception, so no test swallows it."""


# A watchdog for hangs, not a time limit: 40 s were measured on a loaded
# machine (about 20 s idle), and `make sanitize` runs on slower ones.
WATCHDOG_S = 240


def main():
    root = tempfile.mkdtemp(prefix="kube-api-test-")
    CTX["root"] = root
    fakes = []

    def alarm(signum, frame):
        raise Overtime("kube_api_test: over %d s" % WATCHDOG_S)
    signal.signal(signal.SIGALRM, alarm)
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(1))
    signal.alarm(WATCHDOG_S)
    try:
        c = certs.make(os.path.join(root, "certs"))
        CTX["certs"] = c
        fakes.append(Fake(root, "main", c["server.crt"], c["server.key"]))
        fakes.append(Fake(root, "ec", c["server-ec.crt"], c["server-ec.key"],
                          ["--history", "3"]))
        fakes.append(Fake(root, "expired", c["expired.crt"],
                          c["expired.key"]))
        CTX["fake"], CTX["ec"], CTX["expired"] = [x.wait() for x in fakes]
        for fn in TESTS:
            CURRENT[0] = fn.__name__
            before = FAILED
            try:
                CTX["fake"].reset()
                fn()
            except Exception:
                check(False, "exception:\n" + traceback.format_exc())
            print("%s %s" % ("ok  " if FAILED == before else "FAIL",
                             fn.__name__))
    except BaseException as e:
        check(False, "setup: %r" % e)
        traceback.print_exc()
    finally:
        signal.alarm(0)
        for x in fakes:
            x.kill()
        if FAILED:
            for x in fakes:
                print("--- %s stderr:" % x.dir)
                print(open(x.log.name).read()[-3000:])
        shutil.rmtree(root, ignore_errors=True)
    print("%d passed, %d failed" % (PASSED, FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
