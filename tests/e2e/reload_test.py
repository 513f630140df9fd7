#!/usr/bin/env python3
"""End-to-end tests of issue 7: policy reload from a mounted ConfigMap.

    O=build python3 tests/e2e/reload_test.py

The policy directory is laid out as the kubelet lays out a ConfigMap
volume (DIR/..TIMESTAMP/policy.podid, DIR/..data -> ..TIMESTAMP,
DIR/policy.podid -> ..data/policy.podid) and updated as the kubelet's
AtomicWriter does it (a new timestamped directory, a ..data_tmp symlink
renamed over ..data, the old directory removed).  podid runs with --policy
DIR/policy.podid and notices each swap by itself (no SIGHUP).  Meanwhile
load generators in pod namespaces send token requests, on keep-alive and
fresh connections, and count every answer that is not the pod's token.

    (a) a swap adding a binding: the pod gets the new identity's token
        within 2 s (the settle time is 50 ms, the safety net 60 s); the
        load sees no failure
    (b) a swap to a broken policy: the old one keeps serving, podid logs
        every diagnostic in GNU form, /readyz says so in its detail; a
        swap back clears it
    (c) a swap every 10 ms for 10 s between two valid policies under load:
        no failed request, and podid's log shows the reloads

One topology (tests/e2e/topo.py); standard library only; needs root.
Prints "ok NAME" or "FAIL NAME: why" per case and ends with "N passed, N
failed"; exits 1 on failure.  A watchdog ends the run after 300 s.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from topo import Results, Topo, wait_for  # noqa: E402

WATCHDOG_S = 300
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

IDENTITIES = """\
identity orders-mi {
    kind      managed
    client-id "%s"
}
identity web-mi {
    kind      managed
    client-id "%s"
}
identity batch-mi {
    kind      managed
    client-id "%s"
}
bind web {
    identity  web-mi
    namespace shop
    label     app = web
}
""" % (ORDERS["client_id"], WEB["client_id"], BATCH["client_id"])
BIND_ORDERS = """\
bind orders {
    identity  orders-mi
    namespace shop
    label     app = orders
}
"""
BIND_BATCH = """\
bind batch {
    identity  batch-mi
    namespace batch
    label     app = batch
}
"""
POL_BASE = IDENTITIES                      # web only
POL_ORDERS = IDENTITIES + BIND_ORDERS      # web and orders
POL_ORDERS2 = POL_ORDERS + BIND_BATCH      # the same for both pods, and more
# Two errors, so "every diagnostic" means more than one line.
POL_BROKEN = POL_ORDERS + """\
bind broken {
    identity  nosuch-mi
    namespace shop
    label     app = broken
}
bind {
"""

FILE = "policy.podid"
VAULT = "https://vault.azure.net"
TOKEN_PATH = ("/metadata/identity/oauth2/token?api-version=2018-02-01"
              "&resource=" + urllib.parse.quote(VAULT, safe=""))
P_ORDERS, P_WEB = 0, 1
PODS = {P_ORDERS: ("shop", "orders-1", {"app": "orders"}),
        P_WEB: ("shop", "web-1", {"app": "web"})}

# Runs in a pod namespace: token requests for secs seconds, a fresh
# connection every tenth request, the rest on keep-alive.  Anything but a
# 200 with the expected client_id is a failure, and so is any error.
LOAD = r"""
import http.client, json, sys, time
a = json.loads(sys.argv[1])
end = time.monotonic() + a["secs"]
ok, fail, bad, conn, n = 0, 0, [], None, 0
while time.monotonic() < end:
    try:
        if conn is None or n % 10 == 0:
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection("169.254.169.254", 80,
                                              timeout=5)
        conn.request("GET", a["path"], headers={"Metadata": "true"})
        r = conn.getresponse()
        body = r.read()
        cid = None
        if r.status == 200:
            cid = json.loads(body).get("client_id")
        if cid == a["client_id"]:
            ok += 1
        else:
            fail += 1
            bad.append([r.status, body[:200].decode("latin-1")])
            conn.close()
            conn = None
    except Exception as e:
        fail += 1
        bad.append([0, repr(e)])
        conn = None
    n += 1
    time.sleep(a["gap"])
print(json.dumps({"ok": ok, "fail": fail, "bad": bad[:10]}))
"""


class Fail(Exception):
    pass


def need(cond, what):
    if not cond:
        raise Fail(what)


# ------------------------------------------------------------ the ConfigMap


class ConfigMapDir:
    """A directory kept as the kubelet keeps a ConfigMap volume."""

    def __init__(self, path):
        self.path = path
        self.n = 0
        os.mkdir(path, 0o755)
        os.chmod(path, 0o755)

    def swap(self, files):
        """The kubelet's AtomicWriter: files (name -> text) become the
        volume's content at one rename."""
        now = time.time()
        ts = "..%s.%09d" % (time.strftime("%Y_%m_%d_%H_%M_%S",
                                          time.gmtime(now)), self.n)
        self.n += 1
        new = os.path.join(self.path, ts)
        os.mkdir(new, 0o755)
        os.chmod(new, 0o755)
        for name, text in files.items():
            p = os.path.join(new, name)
            with open(p, "w") as f:
                f.write(text)
            os.chmod(p, 0o644)
        data = os.path.join(self.path, "..data")
        old = os.readlink(data) if os.path.islink(data) else None
        tmp = os.path.join(self.path, "..data_tmp")
        os.symlink(ts, tmp)
        os.rename(tmp, data)
        for name in files:
            link = os.path.join(self.path, name)
            if not os.path.islink(link):
                os.symlink(os.path.join("..data", name), link)
        if old:
            shutil.rmtree(os.path.join(self.path, old))


# ------------------------------------------------------------ the world


class World:
    def __init__(self, t):
        self.t = t
        self.cm = ConfigMapDir(os.path.join(t.dir, "config"))
        self.policy = os.path.join(self.cm.path, FILE)
        self.node_url = "http://%s:2579" % t.node_ip

    def log_lines(self):
        out = []
        for ln in self.t.log("podid").splitlines():
            try:
                out.append(json.loads(ln))
            except ValueError:
                out.append({"msg": ln})
        return out

    def msgs(self):
        return [d.get("msg", "") for d in self.log_lines()
                if d.get("stream") != "audit"]

    def token(self, i):
        """(status, client_id or None) of a token request from pod i."""
        code, doc = self.t.curl_token(i)
        cid = doc.get("client_id") if isinstance(doc, dict) else None
        return code, cid

    def readyz(self):
        r = subprocess.run(["ip", "netns", "exec", self.t.node, "curl", "-s",
                            "-m", "5", "-w", "\n%{http_code}",
                            self.node_url + "/readyz"],
                           capture_output=True, text=True)
        body, _, code = r.stdout.rpartition("\n")
        try:
            return int(code or 0), json.loads(body)
        except ValueError:
            return int(code or 0), body

    def detail(self):
        doc = self.readyz()[1]
        return doc.get("detail") if isinstance(doc, dict) else None

    def ops(self, path):
        """The body of podid's ops listener's path (127.0.0.1:2580)."""
        r = subprocess.run(["ip", "netns", "exec", self.t.node, "curl", "-s",
                            "-m", "5", "http://127.0.0.1:2580" + path],
                           capture_output=True, text=True)
        return r.stdout

    def served(self):
        """Token requests podid has answered 200 so far (/metrics)."""
        key = 'podid_http_requests_total{route="token",code="200"} '
        for ln in self.ops("/metrics").splitlines():
            if ln.startswith(key):
                return int(float(ln[len(key):]))
        return 0

    def under_load(self, n=20):
        """Waits until the load generators just started are running: podid
        has served n more tokens (a generator's start takes a while on a
        loaded machine)."""
        base = self.served()
        wait_for(lambda: self.served() >= base + n, timeout=30,
                 what="the load generators at work")

    def running(self, text):
        """Whether the running policy is text (its sha256 in /status)."""
        try:
            st = json.loads(self.ops("/status"))
        except ValueError:
            return False
        return st["policy"]["sha256"] == hashlib.sha256(
            text.encode()).hexdigest()

    def alive(self):
        need(self.t.podid.poll() is None,
             "podid exited: " + self.t.log("podid")[-1500:])


class Load:
    """A load generator in pod i's namespace for secs seconds."""

    def __init__(self, w, i, client_id, secs, gap=0.002):
        args = {"path": TOKEN_PATH, "client_id": client_id, "secs": secs,
                "gap": gap}
        self.p = subprocess.Popen(
            ["ip", "netns", "exec", w.t.pods[i], sys.executable, "-c", LOAD,
             json.dumps(args)], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self.secs = secs
        self.out = None
        self.th = threading.Thread(target=self._wait, daemon=True)
        self.th.start()

    def _wait(self):
        out, err = self.p.communicate()
        try:
            self.out = json.loads(out)
        except ValueError:
            self.out = {"ok": 0, "fail": -1, "bad": [err[-500:]]}

    def result(self):
        self.th.join(self.secs + 30)
        if self.out is None:
            self.p.kill()
            raise Fail("load generator hung")
        return self.out

    def check(self, what, minimum=20):
        r = self.result()
        need(r["fail"] == 0, "%s: %d failed requests: %r" %
             (what, r["fail"], r["bad"]))
        need(r["ok"] >= minimum, "%s: only %d requests" % (what, r["ok"]))
        return r


# ------------------------------------------------------------ the cases


def c_add_binding(w):
    """A swap adding a binding: the new identity within 1 s, no failure."""
    code, _ = w.token(P_ORDERS)
    need(code == 400, "orders before its binding: %d" % code)
    load = Load(w, P_WEB, WEB["client_id"], 4)
    w.under_load()
    n0 = len(w.msgs())
    t0 = time.monotonic()
    w.cm.swap({FILE: POL_ORDERS})
    got = None
    while time.monotonic() - t0 < 10:
        code, cid = w.token(P_ORDERS)
        if code == 200:
            got = time.monotonic() - t0
            need(cid == ORDERS["client_id"], "client_id %r" % cid)
            break
        time.sleep(0.05)
    need(got is not None, "orders never got its token")
    need(got <= 2.0, "the new binding served after %.2f s" % got)
    load.check("load during the swap")
    msgs = w.msgs()[n0:]
    need(any("changed on disk" in m for m in msgs),
         "no reload logged: %r" % msgs[-10:])
    need(any(m.startswith("policy: %s loaded:" % w.policy) for m in msgs),
         "no load logged: %r" % msgs[-10:])
    w.alive()


def c_broken_policy(w):
    """A swap to a broken policy: the old one serves, GNU diagnostics in
    the log, /readyz's detail says so; a swap back clears it."""
    load = Load(w, P_WEB, WEB["client_id"], 4)
    w.under_load()
    n0 = len(w.msgs())
    w.cm.swap({FILE: POL_BROKEN})
    wait_for(lambda: any("does not load" in m for m in w.msgs()[n0:]),
             timeout=10, what="the failed reload in the log")
    msgs = w.msgs()[n0:]
    gnu = [m for m in msgs if re.match(
        r"policy: %s:\d+:\d+: error: " % re.escape(w.policy), m)]
    need(len(gnu) >= 2, "GNU diagnostics: %r" % msgs)
    need(any("keeping the running one" in m for m in msgs),
         "no 'keeping the running one': %r" % msgs)
    code, doc = w.readyz()
    need(code == 200, "readyz %d %r" % (code, doc))
    need(isinstance(doc, dict) and "does not load" in doc.get("detail", ""),
         "readyz detail: %r" % (doc,))
    code, cid = w.token(P_ORDERS)
    need((code, cid) == (200, ORDERS["client_id"]),
         "the old binding: %d %r" % (code, cid))
    load.check("load during the broken swap")
    # The ops listener's /readyz (127.0.0.1:2580) is the lead's to check.
    w.cm.swap({FILE: POL_ORDERS})
    wait_for(lambda: w.detail() == "", timeout=10,
             what="the detail cleared by a good swap")
    w.alive()


def c_swap_storm(w):
    """A swap every 10 ms for 10 s between two valid policies, under
    load from both pods: no failed request; the log shows reloads."""
    n0 = len(w.msgs())
    loads = [Load(w, P_WEB, WEB["client_id"], 11),
             Load(w, P_ORDERS, ORDERS["client_id"], 11)]
    w.under_load(40)
    end = time.monotonic() + 10
    swaps = 0
    last = None
    while time.monotonic() < end:
        last = POL_ORDERS2 if swaps % 2 == 0 else POL_ORDERS
        w.cm.swap({FILE: last})
        swaps += 1
        time.sleep(0.01)
    for i, load in enumerate(loads):
        load.check("load %d during %d swaps" % (i, swaps), minimum=100)
    # Every reload done: the last swap's policy is the running one.
    wait_for(lambda: w.running(last), timeout=10,
             what="the last swap's policy running")
    msgs = w.msgs()[n0:]
    loaded = sum(1 for m in msgs if " loaded: " in m)
    need(swaps >= 100, "only %d swaps" % swaps)
    need(loaded >= 20, "%d reloads for %d swaps" % (loaded, swaps))
    need(not any("does not load" in m for m in msgs),
         "a valid policy failed to load: %r" %
         [m for m in msgs if "policy" in m][:5])
    print("    %d swaps, %d reloads" % (swaps, loaded), flush=True)
    w.alive()


CASES = [
    ("..data swap adding a binding, under load", c_add_binding),
    ("..data swap to a broken policy, under load", c_broken_policy),
    ("a swap every 10 ms for 10 s, under load", c_swap_storm),
]


def main():
    t0 = time.monotonic()
    res = Results()

    def overtime(*_):
        raise KeyboardInterrupt("watchdog: over %d s" % WATCHDOG_S)
    signal.signal(signal.SIGALRM, overtime)
    signal.signal(signal.SIGTERM, overtime)
    signal.alarm(WATCHDOG_S)
    try:
        with Topo(npods=len(PODS)) as t:
            w = World(t)
            w.cm.swap({FILE: POL_BASE})
            t.start_kube()
            t.start_imds([ORDERS, WEB, BATCH])
            for i, (ns, name, labels) in PODS.items():
                t.add_pod(i, ns, name, labels)
            t.dnat()
            t.start_podid(w.policy)
            wait_for(lambda: w.token(P_WEB) == (200, WEB["client_id"]),
                     timeout=30, what="the web pod's first token")
            for name, fn in CASES:
                if t.podid.poll() is not None:
                    res.failed += 1
                    print("FAIL %s: podid exited" % name, flush=True)
                    continue
                res.run(name, fn, w)
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
