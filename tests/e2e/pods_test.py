#!/usr/bin/env python3
"""End-to-end tests of `podid pods` against the strict fake API server.

    O=build python3 tests/e2e/pods_test.py [SCENARIO ...]

Each scenario starts tests/fakes/kube_api.py (TLS on 127.0.0.1, certificates
from tests/fakes/certs.py) and $O/podid pods, changes the fake's pods and
toggles through its control API, and asserts that podid's cache (a dump
asked for with SIGUSR1, and the view rebuilt from its change lines) equals
the fake's pod set, and that the fake logged no protocol violation.
Standard library only.  Prints "ok NAME" or "FAIL NAME: why" per scenario
and ends with "N passed, N failed" (scenarios); exits 1 on failure.  Every
child is killed on exit, on failure, on SIGTERM and after 400 s.
Timeouts are generous (a sanitized podid on a loaded machine); waits poll
for their condition and return as soon as it holds.
"""

import http.client
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import certs  # noqa: E402

O = os.environ.get("O", "build")
PODID = os.path.join(O if os.path.isabs(O) else os.path.join(ROOT, O),
                     "podid")
TEAM_POL = os.path.join(ROOT, "policy", "examples", "team.pol")
NODE = "node-a"
TOKEN = "token-one"
WATCHDOG_S = 400
CHILDREN = []  # every Popen we started, killed by kill_children()
CTX = {}


# ------------------------------------------------------------- harness

class Overtime(BaseException):
    """Raised by the watchdog; not an Exception, so no test swallows it."""


class Scenario:
    def __init__(self, name):
        self.name = name
        self.failures = []

    def check(self, cond, what):
        if not cond:
            self.failures.append(what)
            print("FAIL %s: %s" % (self.name, what), flush=True)
        return cond


SCENARIOS = []


def scenario(fn):
    SCENARIOS.append(fn)
    return fn


def wait_for(pred, timeout):
    """Polls pred until it is true or timeout seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(0.02)


def kill_children():
    for p in CHILDREN:
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


# ------------------------------------------------------------ the fake

class Fake:
    """One kube_api.py with its own state dir, token file and certificate."""

    def __init__(self, name, cert="server", history=None):
        root = CTX["root"]
        self.dir = os.path.join(root, "fake-" + name)
        os.makedirs(self.dir)
        self.token_file = os.path.join(self.dir, "token")
        self.set_token(TOKEN)
        self.state_dir = os.path.join(self.dir, "state")
        self.pf = os.path.join(self.dir, "port")
        self.cf = os.path.join(self.dir, "control-port")
        self.log = open(os.path.join(self.dir, "stderr"), "w")
        c = CTX["certs"]
        args = [sys.executable, os.path.join(ROOT, "tests", "fakes",
                                             "kube_api.py"),
                "--listen", "127.0.0.1:0", "--control-listen", "127.0.0.1:0",
                "--cert", c[cert + ".crt"], "--key", c[cert + ".key"],
                "--token-file", self.token_file, "--node", NODE,
                "--state-dir", self.state_dir, "--port-file", self.pf,
                "--control-port-file", self.cf]
        if history is not None:
            args += ["--history", str(history)]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        CHILDREN.append(self.proc)
        self.port = self.cport = None

    def wait(self):
        if not wait_for(lambda: os.path.exists(self.pf) or
                        self.proc.poll() is not None, 20) or \
                self.proc.poll() is not None:
            raise RuntimeError("fake did not start: see %s" % self.log.name)
        self.port = int(open(self.pf).read())
        self.cport = int(open(self.cf).read())
        return self

    def set_token(self, tok):
        with open(self.token_file + ".tmp", "w") as f:
            f.write(tok + "\n")
        os.replace(self.token_file + ".tmp", self.token_file)

    def ctl(self, method, path, body=None, ok=(200,)):
        """One control request, on a new connection: the fake's replies
        are two writes without TCP_NODELAY, so a kept-alive connection
        waits out a delayed ACK (40 ms) on every request."""
        data = None if body is None else json.dumps(body)
        c = http.client.HTTPConnection("127.0.0.1", self.cport, timeout=30)
        try:
            c.request(method, path, data, {
                "Content-Type": "application/json"} if data else {})
            r = c.getresponse()
            out = json.loads(r.read())
        finally:
            c.close()
        if r.status not in ok:
            raise RuntimeError("control %s %s: %d %s" % (method, path,
                                                         r.status, out))
        return out

    def state(self):
        return self.ctl("GET", "/state")

    def add(self, *specs):
        return self.ctl("POST", "/pods", list(specs))["pods"]

    def delete(self, ns, name):
        return self.ctl("DELETE", "/pods/%s/%s" % (ns, name))

    def scenario(self, **toggles):
        return self.ctl("POST", "/scenario", toggles)

    def compact(self):
        return self.ctl("POST", "/compact", {})["rv"]

    def close_watches(self, mode):
        return self.ctl("POST", "/watches/close", {"mode": mode})["closed"]

    def expected(self, st=None):
        """The node's pods as podid should show them, by uid."""
        st = st or self.state()
        return {p["metadata"]["uid"]: expect(p) for p in st["pods"]
                if p["spec"].get("nodeName") == NODE}

    def logged(self):
        """Lines of the fake's requests.log."""
        with open(os.path.join(self.state_dir, "requests.log")) as f:
            return sum(1 for _ in f)

    def quiet(self, timeout=15):
        """Waits until every request the fake has begun, live watches
        aside, is in its log: it logs a request after answering it, so
        podid may have its answer (and have exited) before that."""
        def done():
            st = self.state()
            begun = st["list_requests"] + st["watch_requests"] + \
                st["token_requests"] - len(st["active_watches"])
            return self.logged() >= begun
        return wait_for(done, timeout)

    def violations(self):
        with open(os.path.join(self.state_dir, "violations.log")) as f:
            return [x for x in f.read().splitlines() if x]

    def watch_rvs(self, st=None):
        """resourceVersion of each watch request the fake still recalls."""
        st = st or self.state()
        out = []
        # A request is logged when it ends: the live watch comes last.
        for r in st["recent_requests"] + [dict(w, path="/api/v1/pods")
                                          for w in st["active_watches"]]:
            q = urllib.parse.parse_qs(r["query"])
            if r["path"] == "/api/v1/pods" and q.get("watch") == ["1"]:
                out.append(int(q["resourceVersion"][0]))
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()


def norm_ip(s):
    return ipaddress.ip_address(s).compressed


def container_net_raw(c):
    """Runtimes grant NET_RAW unless dropped (NET_RAW or ALL); an add or
    privileged gives it back."""
    sc = c.get("securityContext") or {}
    caps = sc.get("capabilities") or {}

    def raw(names):
        return any(re.sub(r"^CAP_", "", n.upper()) in ("NET_RAW", "ALL")
                   for n in names or [])
    return bool(sc.get("privileged")) or raw(caps.get("add")) or \
        not raw(caps.get("drop"))


def expect(pod):
    """What podid's JSON line should say of a Pod object of the fake."""
    m, spec, st = pod["metadata"], pod["spec"], pod["status"]
    phase = st.get("phase", "")
    host = bool(spec.get("hostNetwork"))
    term = "deletionTimestamp" in m
    conts = spec.get("containers", []) + spec.get("initContainers", [])
    return {"uid": m["uid"], "namespace": m["namespace"], "name": m["name"],
            "serviceAccount": spec.get("serviceAccountName", ""),
            "ips": sorted(norm_ip(x["ip"]) for x in st.get("podIPs", [])),
            "phase": phase, "hostNetwork": host, "terminating": term,
            "netRaw": any(container_net_raw(c) for c in conts),
            "live": phase in ("Pending", "Running") and not term and
            not host}


def shown(line):
    """The compared fields of one podid JSON pod line."""
    rec = {k: line[k] for k in ("uid", "namespace", "name", "serviceAccount",
                                "phase", "hostNetwork", "terminating",
                                "netRaw", "live")}
    rec["ips"] = sorted(norm_ip(x) for x in line["ips"])
    return rec


def diff(want, got, limit=6):
    out = []
    for uid in sorted(set(want) - set(got)):
        out.append("missing %s/%s (%s)" % (want[uid]["namespace"],
                                          want[uid]["name"], uid))
    for uid in sorted(set(got) - set(want)):
        out.append("extra %s/%s (%s)" % (got[uid]["namespace"],
                                        got[uid]["name"], uid))
    for uid in sorted(set(want) & set(got)):
        if want[uid] != got[uid]:
            fields = [k for k in want[uid] if want[uid][k] != got[uid].get(k)]
            out.append("%s/%s: %s" % (want[uid]["namespace"],
                                      want[uid]["name"], ", ".join(
                                          "%s want %r got %r" % (
                                              k, want[uid][k],
                                              got[uid].get(k))
                                          for k in fields)))
    more = " (+%d more)" % (len(out) - limit) if len(out) > limit else ""
    return "; ".join(out[:limit]) + more


# ------------------------------------------------------------ podid

class Podid:
    """podid pods --output json against a fake; parses what it prints.

    dumps: every complete dump ({"rv", "pods": {uid: record}, "raw"}).
    view: the pods as the change lines tell them, restarted at each dump
    (podid prints a dump after every complete list, and on SIGUSR1)."""

    def __init__(self, fake, name, watch=True, args=(), token_file=None,
                 ca=None, policy=None):
        self.fake = fake
        self.dir = os.path.join(CTX["root"], "podid-" + name)
        os.makedirs(self.dir)
        self.errpath = os.path.join(self.dir, "stderr")
        self.err = open(self.errpath, "w")
        cmd = [PODID, "pods", "--kube-api", "https://127.0.0.1:%d" %
               fake.port, "--kube-token-file", token_file or fake.token_file,
               "--kube-ca-file", ca or CTX["certs"]["ca.crt"], "--node", NODE,
               "--output", "json", "--log-level", "debug"] + list(args)
        if watch:
            cmd.append("--watch")
        if policy:
            cmd += ["--policy", policy]
        self.cond = threading.Condition()
        self.dumps = []
        self.events = []
        self.view = None
        self.problems = []
        self.cur = None
        self.eof = False
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=self.err, stdin=subprocess.DEVNULL)
        CHILDREN.append(self.proc)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        try:
            for raw in self.proc.stdout:
                self._line(raw.decode("utf-8", "replace").rstrip("\n"))
        finally:
            with self.cond:
                self.eof = True
                self.cond.notify_all()

    def _line(self, text):
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        with self.cond:
            if not isinstance(obj, dict):
                self.problems.append("not a JSON object: %r" % text[:200])
            elif obj.get("dump") == "begin":
                if self.cur is not None:
                    self.problems.append("dump begins inside a dump")
                self.cur = {"rv": obj.get("resourceVersion"), "pods": {},
                            "raw": {}}
            elif obj.get("dump") == "end":
                self._dump_end(obj)
            elif "event" in obj:
                self._event(obj)
            elif self.cur is not None:
                if obj["uid"] in self.cur["pods"]:
                    self.problems.append("uid %s twice in a dump" %
                                         obj["uid"])
                self.cur["pods"][obj["uid"]] = shown(obj)
                self.cur["raw"][obj["uid"]] = obj
            else:
                self.problems.append("pod line outside a dump: %r" %
                                     text[:200])
            self.cond.notify_all()

    def _dump_end(self, obj):
        d, self.cur = self.cur, None
        if d is None:
            self.problems.append("dump end without begin")
            return
        if obj.get("pods") != len(d["pods"]):
            self.problems.append("dump end says %s pods, %d printed" %
                                 (obj.get("pods"), len(d["pods"])))
        self.dumps.append(d)
        self.view = dict(d["pods"])

    def _event(self, obj):
        if self.cur is not None:
            self.problems.append("event inside a dump: %r" % obj)
        self.events.append(obj)
        if self.view is None:
            self.problems.append("event before the first dump: %r" % obj)
            return
        if obj["event"] in ("ADDED", "MODIFIED"):
            self.view[obj["uid"]] = shown(obj)
        elif obj["event"] == "DELETED":
            self.view.pop(obj["uid"], None)
        else:
            self.problems.append("unknown event %r" % obj["event"])

    def wait_dumps(self, n, timeout):
        """Waits until n dumps have been printed; the last one or None."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.dumps) < n and not self.eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.dumps[n - 1] if len(self.dumps) >= n else None

    def dump(self, timeout=10):
        """Asks for a dump (SIGUSR1) and returns it, or None."""
        with self.cond:
            n = len(self.dumps)
        if self.proc.poll() is not None:
            return None
        self.proc.send_signal(signal.SIGUSR1)
        return self.wait_dumps(n + 1, timeout)

    def view_copy(self):
        with self.cond:
            return None if self.view is None else dict(self.view)

    def stderr(self):
        self.err.flush()
        with open(self.errpath) as f:
            return f.read()

    def stop(self):
        """SIGTERM, then the exit code (killed after 20 s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = "killed"
        self.reader.join(5)
        self.err.close()
        return rc


def run_list(fake, name, args=(), timeout_s=10, ca=None, token_file=None):
    """podid pods without --watch: (exit code, dump or None, stderr)."""
    p = Podid(fake, name, watch=False, ca=ca, token_file=token_file,
              args=["--timeout", str(timeout_s)] + list(args))
    try:
        rc = p.proc.wait(timeout=timeout_s + 10)
    except subprocess.TimeoutExpired:
        rc = "hung"
    p.reader.join(5)
    p.err.close()
    with open(p.errpath) as f:
        err = f.read()
    return rc, (p.dumps[-1] if p.dumps else None), err, p


def converge(sc, p, fake, what, timeout=30, stream=True, refused=()):
    """Asserts podid's change stream and then a dump reach the fake's set
    (less the pods named in refused, which podid must not show).

    Retries until a deadline: the fake's set is read again each time, so a
    change still in flight only delays the answer."""
    deadline = time.monotonic() + timeout
    want = got = None

    def expected():
        return {u: r for u, r in fake.expected().items()
                if r["name"] not in refused}
    if stream:
        while True:
            want, got = expected(), p.view_copy()
            if got == want:
                break
            if time.monotonic() >= deadline:
                return sc.check(False, "%s: change lines != fake: %s" % (
                    what, "no dump yet" if got is None else diff(want, got)))
            time.sleep(0.05)
    while True:
        want = expected()
        d = p.dump(max(0.2, min(2, deadline - time.monotonic())))
        got = d["pods"] if d else None
        if got == want:
            return True
        if time.monotonic() >= deadline:
            return sc.check(False, "%s: dump != fake: %s" % (
                what, "no dump (exit %s)" % p.proc.poll() if got is None
                else diff(want, got)))
        time.sleep(0.05)


def clean(sc, p, fake, allowed=()):
    """The closing checks of a scenario: no violation, sane output."""
    v = [x for x in fake.violations()
         if not any(re.search(a, x) for a in allowed)]
    sc.check(not v, "violations.log: %s" % v[:5])
    with p.cond:
        sc.check(not p.problems, "podid output: %s" % p.problems[:5])
    # The fake always listens: no connect fails; every error has a name.
    err = p.stderr()
    odd = re.findall(r".*(?:connect: |Unknown error|unknown tls error).*",
                     err)
    sc.check(not odd, "podid's errors misnamed: %s" % odd[:3])
    st = fake.state()
    sc.check(st["internal_errors"] == 0, "the fake hit its own bugs")


def warnings(p, what):
    """podid's warning lines about what ("watch", "list")."""
    return re.findall(r"podid: warning: kube: %s: .*" % what, p.stderr())


def new_watch(fake, before, timeout=30):
    """Waits for a watch request after `before` watches, now active."""
    return wait_for(lambda: (lambda st: st["watch_requests"] > before and
                             len(st["active_watches"]) == 1)(fake.state()),
                    timeout)


# ------------------------------------------------------------ pods

def pod(i, **kw):
    """A pod spec for the fake, varied by i (all shapes podid decodes)."""
    p = {"name": "pod-%03d" % i, "namespace": ("default", "shop",
                                               "kube-system")[i % 3],
         "ip": kw.pop("ip", "10.244.%d.%d" % (i // 200, i % 200 + 2)),
         "labels": {"app": "a%d" % (i % 5)}}
    shape = i % 9
    if shape == 1:
        p["phase"] = "Pending"
    elif shape == 2:
        p["hostNetwork"] = True
        p.pop("ip")
    elif shape == 3:
        p["netRaw"] = False
    elif shape == 4:
        p["capDrop"] = ["ALL"]
        p["capAdd"] = ["NET_BIND_SERVICE"]
    elif shape == 5:
        p["ips"] = [p.pop("ip"), "fd00:10:244::%x" % (i + 2)]
    elif shape == 6:
        p["deleting"] = True
    elif shape == 7:
        p["serviceAccount"] = "sa-%d" % i
        p["capDrop"] = ["NET_RAW"]
        p["capAdd"] = ["cap_net_raw"]
    elif shape == 8:
        p["phase"] = "Failed"
    p.update(kw)
    return p


# ------------------------------------------------------------ scenarios

@scenario
def plain_list(sc):
    """List mode: 0, 1 and 120 pods, page sizes 1, 7 and 50."""
    f = Fake("list").wait()
    f.add(pod(900, node="node-b"))  # another node's pod: never listed
    have = 0
    for n in (0, 1, 120):
        if n > have:
            f.add(*[pod(i) for i in range(have, n)])
            have = n
        for page in (1, 7, 50):
            st0 = f.state()
            rc, d, err, p = run_list(f, "list-%d-%d" % (n, page),
                                     ["--page-size", str(page)])
            f.quiet()
            st1 = f.state()
            what = "%d pods, page %d" % (n, page)
            sc.check(rc == 0, "%s: exit %s: %s" % (what, rc, err[-500:]))
            got = d["pods"] if d else None
            want = f.expected(st1)
            sc.check(got == want, "%s: dump != fake: %s" % (
                what, "no dump" if got is None else diff(want, got)))
            sc.check(d is not None and d["rv"] == str(st0["rv"]),
                     "%s: dump at the list's resourceVersion" % what)
            pages = st1["list_requests"] - st0["list_requests"]
            sc.check(pages == max(1, -(-n // page)),
                     "%s: %d list requests" % (what, pages))
            sc.check(st1["watch_requests"] == 0, "%s: watched" % what)
            recalled = min(pages, len(st1["recent_requests"]))
            qs = [r["query"] for r in st1["recent_requests"][-recalled:]]
            conts = sum("continue=" in q for q in qs)
            sc.check(conts == recalled - (recalled == pages) and all(
                "limit=%d" % page in q for q in qs),
                "%s: pages and continue tokens: %s" % (what, qs[:3]))
            with p.cond:
                sc.check(not p.problems, "%s: output %s" % (what, p.problems))
    sc.check(not f.violations(), "violations.log: %s" % f.violations()[:5])
    f.stop()


@scenario
def large_pages(sc):
    """Pages too large for podid's buffers (JSON tokens, then bytes) are
    asked for again with half as many pods, until they fit."""
    f = Fake("large").wait()
    f.add(*[pod(i) for i in range(240)])
    rc, d, err, p = run_list(f, "large-tokens", ["--page-size", "240",
                                                 "--max-pods", "1000"])
    want = f.expected()
    sc.check(rc == 0 and d is not None and d["pods"] == want,
             "240 pods a page: exit %s: %s" % (rc, err[-300:] if d is None
                                               else diff(want, d["pods"])))
    sc.check("a list page of 240 pods is larger than" in err and
             "asking for 120 a page" in err, "the smaller pages are "
             "logged: %s" % err[-300:])
    f.quiet()
    limits = [urllib.parse.parse_qs(r["query"])["limit"][0]
              for r in f.state()["recent_requests"]]
    sc.check(limits == ["240", "120", "120"], "limits asked: %s" % limits)
    # Two pods of 1.2 MB each: a page of both is over 2 MiB.
    for r in list(want.values()):
        f.delete(r["namespace"], r["name"])
    big = "x" * (1200 << 10)
    f.add({"name": "big-1", "annotations": {"note": big}, "ip": "10.3.0.1"},
          {"name": "big-2", "annotations": {"note": big}, "ip": "10.3.0.2"},
          {"name": "small", "ip": "10.3.0.3"})
    rc, d, err, p = run_list(f, "large-bytes", ["--page-size", "3"])
    want = f.expected()
    sc.check(rc == 0 and d is not None and d["pods"] == want,
             "1.2 MB pods: exit %s: %s" % (rc, err[-300:] if d is None
                                           else diff(want, d["pods"])))
    sc.check("asking for 1 a page" in err, "pages of one pod: %s" %
             err[-300:])
    sc.check(not f.violations(), "violations.log: %s" % f.violations()[:5])
    f.stop()


@scenario
def watch_changes(sc):
    """Watch: adds, modifies (labels, phase, deletionTimestamp), deletes,
    bookmarks carrying the resourceVersion forward."""
    f = Fake("watch").wait()
    f.scenario(bookmark_every_ms=100)
    specs = {i: pod(i) for i in range(4)}
    f.add(*specs.values())
    p = Podid(f, "watch")
    converge(sc, p, f, "initial list")
    specs.update({i: pod(i) for i in range(4, 9)})
    f.add(*[specs[i] for i in range(4, 9)])
    converge(sc, p, f, "adds")
    # Scheduled without an IP, then running with one; IPv6 only.
    late = {"name": "late", "namespace": "shop", "phase": "Pending"}
    f.add(late, {"name": "six", "ips": ["fd00:10:244:1::7"]})
    converge(sc, p, f, "a pod without an IP, an IPv6-only pod")
    f.add(dict(late, phase="Running", ip="10.244.8.8"))
    converge(sc, p, f, "the IP assigned")
    # Moved to another node: DELETED for this one.
    f.add(dict(late, phase="Running", ip="10.244.8.8", node="node-b"))
    converge(sc, p, f, "a pod moved to another node")
    uid0 = p.view_copy() and [u for u, r in p.view_copy().items()
                              if r["name"] == "pod-000"][0]
    n_ev = len(p.events)
    specs[0]["labels"] = {"app": "relabelled", "tier": "x"}
    f.add(specs[0])
    sc.check(wait_for(lambda: any(e["event"] == "MODIFIED" and
                                  e["uid"] == uid0 for e in p.events[n_ev:]),
                      15), "label change: MODIFIED line")
    specs[3]["phase"] = "Succeeded"
    specs[5]["deleting"] = True
    f.add(specs[3], specs[5])
    converge(sc, p, f, "phase Succeeded and deletionTimestamp")
    d = p.dump()
    by = {r["name"]: r for r in d["pods"].values()} if d else {}
    sc.check(by.get("pod-003", {}).get("live") is False and
             by.get("pod-005", {}).get("terminating") is True,
             "Succeeded and terminating pods are not live")
    for i in (1, 5, 7):
        f.delete(specs[i]["namespace"], specs[i]["name"])
    converge(sc, p, f, "deletes")
    # A pod podid cannot describe (podIP is not podIPs[0]) is refused:
    # kept out of the cache, reported, and taken once it is whole.
    bad = {"name": "odd", "ip": "10.244.9.2",
           "merge": {"status": {"podIP": "10.244.9.3"}}}
    f.add(bad)
    converge(sc, p, f, "a malformed pod", refused={"odd"})
    # The view lacked "odd" before its event came: wait for the refusal.
    sc.check(wait_for(lambda: re.search(
        r"pod default/odd refused: status.podIP or podIPs malformed or "
        r"inconsistent", p.stderr()), 15),
        "the refusal is logged with its reason: %s" % p.stderr()[-300:])
    del bad["merge"]
    f.add(bad)
    converge(sc, p, f, "the malformed pod made whole")
    # Bookmarks: the RV moves without events; podid follows it.
    rv = f.ctl("POST", "/bump", {"n": 7})["rv"]
    sc.check(wait_for(lambda: (lambda d: d and d["rv"] == str(rv))(
        p.dump(3)), 15), "bookmark carries podid to resourceVersion %d" % rv)
    before = f.state()["watch_requests"]
    f.close_watches("clean")
    sc.check(new_watch(f, before) and f.watch_rvs()[-1] == rv,
             "watch resumed from the bookmark's resourceVersion %d: %s" % (
                 rv, f.watch_rvs()[-3:]))
    st = f.state()
    sc.check(st["list_requests"] == 1, "no relist: %d lists" %
             st["list_requests"])
    q = urllib.parse.parse_qs(st["last_watch_query"])
    sc.check(q.get("allowWatchBookmarks") == ["true"] and
             q.get("fieldSelector") == ["spec.nodeName=" + NODE],
             "watch query: %s" % st["last_watch_query"])
    converge(sc, p, f, "after resume")
    clean(sc, p, f)
    sc.check(p.stop() == 0, "SIGTERM: exit 0")
    f.stop()


def gone_scenario(sc, mode):
    f = Fake("410-" + mode).wait()
    f.scenario(watch_410_mode=mode)
    specs = {i: pod(i) for i in range(6)}
    f.add(*specs.values())
    p = Podid(f, "410-" + mode)
    converge(sc, p, f, "%s: initial list" % mode)
    # Overtaken by compaction while watching.
    f.compact()
    specs[6] = pod(6)
    f.add(specs[6])
    sc.check(wait_for(lambda: f.state()["list_requests"] == 2, 15),
             "%s: compaction while watching relists" % mode)
    converge(sc, p, f, "%s: after compaction" % mode)
    why = {"event": r"watch from resourceVersion \d+ expired \(too old "
           r"resource version: \d+ \(\d+\)\): listing again",
           "http": r"watch answered 410 \(too old resource version: \d+ "
           r"\(\d+\)\): listing again"}[mode]
    sc.check(re.search(why, p.stderr()), "%s: the relist is logged with "
             "its reason: %s" % (mode, p.stderr()[-400:]))
    # Deleted while podid was away: only the relist can tell.
    p.proc.send_signal(signal.SIGSTOP)
    try:
        f.close_watches("abrupt")
        sc.check(wait_for(lambda: not f.state()["active_watches"], 15),
                 "%s: watch closed" % mode)
        for i in (0, 2):
            f.delete(specs[i]["namespace"], specs[i]["name"])
        specs[4]["phase"] = "Failed"
        specs[7] = pod(7)
        f.add(specs[4], specs[7])
        f.compact()
    finally:
        p.proc.send_signal(signal.SIGCONT)
    sc.check(wait_for(lambda: f.state()["list_requests"] == 3, 20),
             "%s: the resume got 410 and relisted" % mode)
    converge(sc, p, f, "%s: after relist" % mode)
    d = p.dump()
    names = {r["name"] for r in d["pods"].values()} if d else set()
    sc.check(d and not names & {"pod-000", "pod-002"} and "pod-007" in names,
             "%s: pods deleted while away are gone: %s" % (mode,
                                                         sorted(names)))
    # And the change stream says so, as a watch event would have, once each.
    with p.cond:
        dels = sorted(e["name"] for e in p.events if e["event"] == "DELETED")
    sc.check(dels == ["pod-000", "pod-002"],
             "%s: relist removals are DELETED lines: %s" % (mode, dels))
    clean(sc, p, f)
    p.stop()
    f.stop()


@scenario
def watch_410_event(sc):
    """410 as an ERROR event in a 200 watch: relist, and pods deleted
    while disconnected leave the cache."""
    gone_scenario(sc, "event")


@scenario
def watch_410_http(sc):
    """410 as the HTTP status of the resumed watch: relist, likewise."""
    gone_scenario(sc, "http")


@scenario
def relist_interrupted(sc):
    """A relist whose second page fails starts over: it does not watch from
    the partial list's resourceVersion, keeping pods deleted meanwhile."""
    f = Fake("relist-cut").wait()
    f.scenario(watch_410_mode="http")
    specs = [pod(i, ip="10.244.3.%d" % (i + 2)) for i in range(7)]
    f.add(*specs)
    p = Podid(f, "relist-cut", args=["--page-size", "2"])
    converge(sc, p, f, "initial list")
    p.proc.send_signal(signal.SIGSTOP)
    try:
        f.close_watches("abrupt")
        sc.check(wait_for(lambda: not f.state()["active_watches"], 15),
                 "watch closed")
        for i in (1, 5):
            f.delete(specs[i]["namespace"], specs[i]["name"])
        f.compact()
        # The first page held long enough for the toggle below to be set
        # before podid asks for the second.
        f.scenario(slow_list_ms=1500)
        lists = f.state()["list_requests"]
    finally:
        p.proc.send_signal(signal.SIGCONT)
    # The relist's first page is being served: fail the next request.
    sc.check(wait_for(lambda: f.state()["list_requests"] > lists, 15),
             "relist started")
    f.scenario(fail_next_n_requests_with={"n": 1, "code": 500},
               slow_list_ms=0)
    sc.check(wait_for(lambda: f.state()["counts"].get("injected_failure"),
                      15), "a page of the relist failed")
    converge(sc, p, f, "after the interrupted relist")
    d = p.dump()
    names = {r["name"] for r in d["pods"].values()} if d else set()
    sc.check(d and not names & {"pod-001", "pod-005"},
             "pods deleted while away are gone: %s" % sorted(names))
    clean(sc, p, f)
    p.stop()
    f.stop()


@scenario
def continue_expired(sc):
    """Continue tokens that keep expiring (410 on page 2): the list starts
    over with backoff, not in a hot loop, and completes once they last."""
    f = Fake("continue").wait()
    f.add(*[pod(i) for i in range(5)])
    f.scenario(continue_ttl_ms=0)
    p = Podid(f, "continue", args=["--page-size", "2"])
    t0 = time.monotonic()
    sc.check(wait_for(lambda: f.state()["list_requests"] >= 6, 10),
             "the list is retried")
    time.sleep(max(0, 2 - (time.monotonic() - t0)))  # a window to count in
    n = f.state()["list_requests"]
    sc.check(n <= 16, "%d list requests in 2 s: no backoff" % n)
    sc.check("list answered 410 (The provided continue parameter is too "
             "old" in p.stderr(), "the expired continue token is logged")
    sc.check(not p.dumps, "no dump from an incomplete list")
    f.scenario(continue_ttl_ms=300000)
    converge(sc, p, f, "once continue tokens last", timeout=40)
    clean(sc, p, f)
    p.stop()
    f.stop()


@scenario
def disconnects(sc):
    """A watch ended after N events, and one cut abruptly, resume from the
    last resourceVersion: no relist."""
    f = Fake("disconnect").wait()
    f.add(pod(0), pod(1))
    f.scenario(disconnect_after_events=3)
    p = Podid(f, "disconnect")
    converge(sc, p, f, "initial list")
    r0 = f.state()["rv"]
    for i in range(2, 12):
        f.add(pod(i))  # one event each: RVs r0+1 .. r0+10
    converge(sc, p, f, "after ten single events")
    want = [r0, r0 + 3, r0 + 6, r0 + 9]
    sc.check(wait_for(lambda: f.watch_rvs() == want, 15),
             "watches resumed from the last RV: want %s got %s" % (
                 want, f.watch_rvs()))
    # The server closing a connection as a watch ends is no failure.
    sc.check(not warnings(p, "watch"), "clean ends logged as failures: %s"
             % warnings(p, "watch")[:2])
    f.scenario(disconnect_after_events=None)
    d = p.dump()
    rv = d and d["rv"]
    sc.check(rv == str(r0 + 10), "podid at RV %s, want %d" % (rv, r0 + 10))
    before = f.state()["watch_requests"]
    f.close_watches("abrupt")
    sc.check(new_watch(f, before) and f.watch_rvs()[-1] == r0 + 10,
             "abrupt close: resumed from %d: %s" % (r0 + 10,
                                                    f.watch_rvs()[-3:]))
    f.add(pod(12))
    f.delete(pod(3)["namespace"], pod(3)["name"])
    converge(sc, p, f, "after the abrupt close")
    sc.check(f.state()["list_requests"] == 1, "no relist")
    clean(sc, p, f)
    p.stop()
    f.stop()


@scenario
def chunking(sc):
    """Events split at every byte, in odd-sized chunks straddling events,
    and slowly."""
    f = Fake("chunks").wait()
    f.add(pod(0), pod(1))
    p = Podid(f, "chunks")
    converge(sc, p, f, "initial list")
    nxt = 2
    settings = [{"split_every_byte": True}, {"chunk_bytes": 1},
                {"chunk_bytes": 3}, {"chunk_bytes": 7}, {"chunk_bytes": 101},
                {"chunk_bytes": 4093},
                {"chunk_bytes": 509, "chunk_delay_ms": 15},
                {"chunk_delay_ms": 40}]
    for s in settings:
        f.scenario(reset=True, **s)
        before = f.state()["watch_requests"]
        f.close_watches("clean")
        if not sc.check(new_watch(f, before), "%s: new watch" % s):
            continue
        sc.check(f.state()["scenario"].items() >= s.items(), "toggles set")
        f.add(pod(nxt), pod(nxt + 1, phase="Pending"))
        f.add(pod(nxt, phase="Succeeded"))
        f.delete(pod(nxt - 1)["namespace"], pod(nxt - 1)["name"])
        nxt += 2
        converge(sc, p, f, "%s" % s, timeout=30)
    sc.check(f.state()["list_requests"] == 1, "no relist")
    sc.check(not warnings(p, "watch"), "clean ends logged as failures: %s"
             % warnings(p, "watch")[:2])
    clean(sc, p, f)
    p.stop()
    f.stop()


@scenario
def truncation(sc):
    """Watch connections cut mid-event (no last-chunk, no close_notify):
    the partial event is dropped and the watch resumes."""
    f = Fake("truncate").wait()
    f.add(pod(0))
    p = Podid(f, "truncate")
    converge(sc, p, f, "initial list")
    # Events of one size, so that each cut falls at the same place.
    uniform = [{"name": "trunc-%02d" % i, "ip": "10.9.0.%d" % (10 + i)}
               for i in range(10)]
    size = len(json.dumps({"type": "ADDED", "object": f.add(uniform[0])[0]},
                          separators=(",", ":"))) + 1
    converge(sc, p, f, "one pod")
    n = 1
    for cut in (size * 3 // 2, size + 4, size * 2 + 9):
        f.scenario(truncate_after_bytes=cut)
        before = f.state()["watch_requests"]
        f.close_watches("clean")
        sc.check(new_watch(f, before), "cut %d: new watch" % cut)
        w0 = f.state()["watch_requests"]
        f.add(*uniform[n:n + 3])
        n += 3
        converge(sc, p, f, "cut after %d bytes (events of %d)" % (cut, size),
                 timeout=30)
        sc.check(f.state()["watch_requests"] - w0 >= 1,
                 "cut %d: the watch was cut and resumed" % cut)
    f.scenario(truncate_after_bytes=None)
    sc.check(f.state()["list_requests"] == 1, "no relist")
    clean(sc, p, f)
    p.stop()
    f.stop()


@scenario
def bad_certificates(sc):
    """A server certificate from another CA, and an expired one: no list."""
    fw = Fake("wrong-ca", cert="wrong-ca")
    fe = Fake("expired", cert="expired")
    fw.wait()
    fe.wait()
    for f in (fw, fe):
        f.add(pod(0))
    res = {}

    def go(name, f):
        res[name] = run_list(f, name, timeout_s=3)
    ts = [threading.Thread(target=go, args=a) for a in
          (("wrong-ca", fw), ("expired", fe))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    for name, f, err in (("wrong-ca", fw, "X509_NOT_TRUSTED"),
                         ("expired", fe, "X509_EXPIRED")):
        rc, d, stderr, _ = res.get(name, ("no result", None, "", None))
        sc.check(rc == 1, "%s: exit %s, want 1" % (name, rc))
        sc.check(d is None, "%s: printed a dump" % name)
        sc.check(err in stderr, "%s: stderr does not name %s: %s" % (
            name, err, stderr[-300:]))
        # The fake counts its failed handshake once podid has gone.
        wait_for(lambda: f.state()["tls_failures"] >= 1, 15)
        st = f.state()
        sc.check(st["list_requests"] == 0 and st["tls_failures"] >= 1,
                 "%s: %d lists, %d TLS failures" % (
                     name, st["list_requests"], st["tls_failures"]))
        sc.check(not f.violations(), "%s: violations %s" % (
            name, f.violations()[:3]))
        f.stop()


@scenario
def unauthorized(sc):
    """A token the server refuses (401): no sync; the fixed token file is
    read again on 401 and podid syncs.  Then the token rotates."""
    f = Fake("401").wait()
    f.add(pod(0), pod(1))
    tf = os.path.join(f.dir, "podid-token")
    with open(tf, "w") as fp:
        fp.write("expired-token\n")
    p = Podid(f, "401", token_file=tf)
    sc.check(wait_for(lambda: f.state()["counts"].get("unauthorized", 0) >= 2,
                      15), "podid was refused twice")
    sc.check(not p.dumps, "no dump with a refused token")
    sc.check("list answered 401: Unauthorized" in p.stderr(),
             "the 401 is logged with its Status")
    with open(tf + ".tmp", "w") as fp:
        fp.write(TOKEN + "\n")
    os.replace(tf + ".tmp", tf)
    converge(sc, p, f, "after the token was fixed", timeout=30)
    # Rotation: the server takes only the new token from now on.
    f.set_token("token-two")
    with open(tf + ".tmp", "w") as fp:
        fp.write("token-two\n")
    os.replace(tf + ".tmp", tf)
    u0 = f.state()["counts"].get("unauthorized", 0)
    f.close_watches("clean")
    f.add(pod(2))
    converge(sc, p, f, "after rotation", timeout=30)
    st = f.state()
    sc.check(st["list_requests"] == 1, "rotation: no relist")
    sc.check(st["counts"].get("unauthorized", 0) - u0 <= 1,
             "rotation: at most one 401 before the new token")
    sc.check("Bearer" not in p.stderr() and TOKEN not in p.stderr(),
             "the token is never logged")
    clean(sc, p, f, allowed=[r"bearer token is not the current token"])
    p.stop()
    f.stop()


@scenario
def server_errors(sc):
    """429 with Retry-After, then 500s: podid waits and recovers."""
    f = Fake("5xx").wait()
    f.add(pod(0), pod(1))
    f.scenario(fail_next_n_requests_with={"n": 2, "code": 429,
                                          "retry_after": 1})
    p = Podid(f, "5xx")
    converge(sc, p, f, "after two 429s", timeout=30)
    err = p.stderr()
    sc.check("list answered 429: Too many requests, please try again "
             "later." in err, "the Status message is logged: %s" % err[:300])
    delays = [int(x) for x in re.findall(r"retrying in (\d+) ms", err)]
    sc.check(len(delays) == 2 and min(delays) >= 1000,
             "Retry-After: 1 honoured: delays %s" % delays)
    f.scenario(fail_next_n_requests_with={"n": 3, "code": 500})
    f.close_watches("clean")
    f.add(pod(2))
    f.delete(pod(0)["namespace"], pod(0)["name"])
    converge(sc, p, f, "after three 500s", timeout=30)
    sc.check("watch answered 500: Internal error occurred: injected" in
             p.stderr(), "the 500's Status message is logged")
    # Exponential backoff with jitter: attempt n waits in the upper half
    # of 250 ms * 2^n.
    delays = [int(x) for x in re.findall(r"retrying in (\d+) ms",
                                         p.stderr())][2:]
    sc.check(len(delays) == 3 and all(
        125 << n <= d <= 250 << n for n, d in enumerate(delays)),
        "backoff after three 500s: %s ms" % delays)
    st = f.state()
    sc.check(st["counts"].get("injected_failure") == 5,
             "5 injected failures, %s" % st["counts"].get("injected_failure"))
    sc.check(st["list_requests"] == 1, "a failed request is no list: %d" %
             st["list_requests"])
    clean(sc, p, f)
    p.stop()
    f.stop()


@scenario
def watch_renewal(sc):
    """--watch-timeout 2: watches end at their timeout and are renewed."""
    f = Fake("renew").wait()
    f.add(pod(0))
    p = Podid(f, "renew", args=["--watch-timeout", "2"])
    converge(sc, p, f, "initial list")
    # 8 s: at least three renewals of watches of at most 2 s, with room
    # for a slow renewal on a loaded machine.
    t0, i = time.monotonic(), 1
    while time.monotonic() - t0 < 8:
        f.add(pod(i))
        i += 1
        time.sleep(0.4)
    converge(sc, p, f, "after 8 s of renewals")
    st = f.state()
    sc.check(st["watch_requests"] >= 4, "%d watches in 8 s" %
             st["watch_requests"])
    sc.check(st["list_requests"] == 1, "no relist")
    touts = [int(urllib.parse.parse_qs(r["query"])["timeoutSeconds"][0])
             for r in st["recent_requests"] if "watch=1" in r["query"]]
    sc.check(touts and all(1 <= t <= 2 for t in touts),
             "timeoutSeconds in [1, 2]: %s" % touts)
    sc.check("retrying" not in p.stderr(), "a renewal is no failure")
    clean(sc, p, f)
    p.stop()
    f.stop()


@scenario
def ip_reuse(sc):
    """1,000 pods replaced one after another on 20 recycled IPs."""
    f = Fake("ipreuse", history=10000).wait()
    pool = ["10.250.0.%d" % (i + 1) for i in range(20)]
    holders = {}  # ip -> spec
    for k, ip in enumerate(pool):
        holders[ip] = {"name": "web-%04d" % k, "namespace": "shop",
                       "ip": ip, "labels": {"gen": "0"}}
    f.add(*holders.values())
    p = Podid(f, "ipreuse")
    converge(sc, p, f, "20 pods")
    serial = len(pool)
    for batch in range(50):
        news = []
        for ip in pool:
            old = holders[ip]
            if batch % 2 == 0:
                # A new pod name on the recycled IP: DELETED, then ADDED.
                f.delete(old["namespace"], old["name"])
                new = dict(old, name="web-%04d" % serial)
            else:
                # The same name, a new uid: the fake sends both events.
                new = dict(old, uid="00000000-0000-4000-8000-%012d" % serial)
            new["labels"] = {"gen": str(batch + 1)}
            serial += 1
            holders[ip] = new
            news.append(new)
        f.add(*news)
        p.proc.send_signal(signal.SIGUSR1)  # dumps while replacing
        if batch % 10 == 9:
            converge(sc, p, f, "after %d replacements" % ((batch + 1) * 20),
                     timeout=30)
    sc.check(serial - len(pool) == 1000, "1,000 replacements made")
    converge(sc, p, f, "at the end", timeout=30)
    with p.cond:
        dumps = list(p.dumps)
    shared = []
    for d in dumps:
        seen = {}
        for r in d["pods"].values():
            for ip in r["ips"] if r["live"] else []:
                if ip in seen:
                    shared.append((d["rv"], ip, seen[ip], r["name"]))
                seen[ip] = r["name"]
    sc.check(len(dumps) >= 30 and not shared,
             "%d dumps, none with an IP held by two live pods: %s" % (
                 len(dumps), shared[:3]))
    d = dumps[-1] if dumps else {"pods": {}}
    sc.check(sorted(ip for r in d["pods"].values() for ip in r["ips"]) ==
             sorted(pool) and all(r["live"] for r in d["pods"].values()),
             "the end: each IP of the pool held by one live pod")
    st = f.state()
    sc.check(st["list_requests"] == 1, "tracked by the watch alone: %d "
             "lists" % st["list_requests"])
    clean(sc, p, f)
    p.stop()
    f.stop()


@scenario
def policy_grants(sc):
    """--policy team.pol: grants, an exception and denials, also as labels
    change under watch."""
    f = Fake("policy").wait()
    cases = [
        ({"name": "orders-api", "namespace": "shop", "serviceAccount":
          "orders", "labels": {"app": "orders", "tier": "api"}},
         ("grant", [("orders-mi", "orders")])),
        ({"name": "orders-worker", "namespace": "shop", "serviceAccount":
          "orders", "labels": {"app": "orders", "tier": "worker"}},
         ("grant", [("orders-mi", "orders")])),
        ({"name": "orders-api-default-sa", "namespace": "shop", "labels":
          {"app": "orders", "tier": "api"}}, ("deny", [])),
        ({"name": "orders-api-elsewhere", "namespace": "default",
          "serviceAccount": "orders", "labels": {"app": "orders",
                                                 "tier": "api"}},
         ("deny", [])),
        ({"name": "reports", "namespace": "analytics", "labels":
          {"app": "reports"}}, ("grant", [("reports-mi", "reports")])),
        ({"name": "reports-debug", "namespace": "shop", "labels":
          {"app": "reports", "debug": "1"}}, ("deny", [])),
        ({"name": "konnectivity", "namespace": "kube-system", "labels":
          {"kubernetes.azure.com/managedby": "aks"}}, ("exception", [])),
        ({"name": "coredns", "namespace": "kube-system", "labels":
          {"k8s-app": "kube-dns"}}, ("deny", [])),
    ]
    for k, (spec, _) in enumerate(cases):
        spec["ip"] = "10.244.7.%d" % (k + 2)
    f.add(*[c[0] for c in cases])
    p = Podid(f, "policy", policy=TEAM_POL)

    def grants(raw):
        return (raw["verdict"], [(g["identity"], g["rule"])
                                 for g in raw["identities"]])

    def check_all(what, cases):
        if not converge(sc, p, f, what):
            return
        d = p.dump()
        by = {r["name"]: r for r in d["raw"].values()} if d else {}
        for spec, want in cases:
            got = grants(by[spec["name"]]) if spec["name"] in by else None
            sc.check(got == want, "%s: %s: want %s got %s" % (
                what, spec["name"], want, got))
        exc = by.get("konnectivity", {})
        if ("exception", []) in [w for _, w in cases]:
            sc.check(exc.get("rule") == "aks-addons",
                     "%s: exception names its rule: %s" % (what, exc))
    check_all("listed", cases)
    # Under watch: orders-api loses its tier, then gets it back.
    n_ev = len(p.events)
    cases[0][0]["labels"] = {"app": "orders", "tier": "db"}
    f.add(cases[0][0])
    sc.check(wait_for(lambda: any(
        e["name"] == "orders-api" and e["event"] == "MODIFIED" and
        e["verdict"] == "deny" for e in p.events[n_ev:]), 15),
        "relabelled orders-api: MODIFIED line with verdict deny")
    check_all("relabelled", [(cases[0][0], ("deny", []))] + cases[1:])
    cases[0][0]["labels"] = {"app": "orders", "tier": "api"}
    f.add(cases[0][0])
    check_all("labels back", cases)
    clean(sc, p, f)
    p.stop()
    f.stop()


# ------------------------------------------------------------ main

def main(argv):
    if not os.access(PODID, os.X_OK):
        print("FAIL setup: no podid binary at %s (make O=%s %s)" % (
            PODID, O, PODID))
        print("0 passed, 1 failed")
        return 1
    root = tempfile.mkdtemp(prefix="pods-e2e-")
    CTX["root"] = root
    passed = failed = 0

    def alarm(signum, frame):
        raise Overtime("pods_test: over %d s" % WATCHDOG_S)
    signal.signal(signal.SIGALRM, alarm)
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(1))
    signal.alarm(WATCHDOG_S)
    t0 = time.monotonic()
    try:
        CTX["certs"] = certs.make(os.path.join(root, "certs"),
                                  ips=["127.0.0.1"], dns=["localhost"])
        for fn in SCENARIOS:
            if argv and fn.__name__ not in argv:
                continue
            sc = Scenario(fn.__name__)
            t = time.monotonic()
            try:
                fn(sc)
            except Exception:
                sc.check(False, "exception:\n" + traceback.format_exc())
            finally:
                kill_children()
                CHILDREN.clear()
            if sc.failures:
                failed += 1
            else:
                passed += 1
                print("ok %s (%.1fs)" % (fn.__name__, time.monotonic() - t),
                      flush=True)
    except BaseException as e:
        failed += 1
        print("FAIL setup: %r" % e)
        traceback.print_exc()
    finally:
        signal.alarm(0)
        kill_children()
        if failed == 0 and not os.environ.get("PODID_E2E_KEEP"):
            shutil.rmtree(root, ignore_errors=True)
        else:
            print("logs kept in %s" % root)
    print("ran in %.1fs" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
