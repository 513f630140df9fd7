"""A node and its pods in network namespaces, for podid's end-to-end tests.

    root ns ---veth--- node ns ---veth--- pod ns (one per pod)
    fake API server     podid run           curl, node getToken.js
    (TLS, control)      fake IMDS on 169.254.169.254:80 (lo)

Pods reach 169.254.169.254 through the node; the DNAT rule in the node's
PREROUTING sends that to podid, which sees the pod's own source address.
The node's own traffic to 169.254.169.254 (podid's upstream) goes out
through OUTPUT and reaches the fake IMDS directly.  The fake API server
runs in the root namespace, where the test can reach its control port; the
fake IMDS runs in the node namespace, its control port on the node's
root-side address.

Every namespace, link and process is removed by close(), also after a
failure (use it as a context manager).  Requires root.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FAKES = os.path.join(REPO, "tests", "fakes")
NODE_NAME = "node-1"


def sh(*argv, check=True, ns=None, **kw):
    """Runs argv (in network namespace ns), returns CompletedProcess."""
    if ns:
        argv = ("ip", "netns", "exec", ns) + argv
    return subprocess.run(argv, check=check, capture_output=True, text=True, **kw)


def wait_for(pred, timeout=10.0, step=0.05, what="condition"):
    """Polls pred() until true; raises after timeout."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise TimeoutError("timed out waiting for " + what)


class Topo:
    """One node with npods pod namespaces; tag keeps names unique."""

    def __init__(self, npods=2, tag=None):
        # The whole pid (22 bits at most: link names stay within 15
        # characters): runs side by side never share a name.
        self.tag = tag or "%x" % os.getpid()
        n = _free_subnet(int(self.tag, 16) % 200)
        self.node = "pd%s-node" % self.tag
        self.pods = ["pd%s-p%d" % (self.tag, i) for i in range(npods)]
        self.root_ip = "10.249.%d.1" % n      # root side of root<->node
        self.node_up_ip = "10.249.%d.2" % n   # node side of root<->node
        self.node_ip = "10.248.%d.1" % n      # node side facing pods
        self.pod_ips = ["10.248.%d.%d" % (n, 10 + i) for i in range(npods)]
        self.dir = tempfile.mkdtemp(prefix="podid-e2e-")
        # podid drops to an unprivileged user: it must still read its
        # policy and token here, as it would a mounted volume.
        os.chmod(self.dir, 0o755)
        self.procs = []
        self.links = []
        self.kube_port = self.kube_ctl = self.imds_ctl = None
        self.aad_ctl = self.aad_url = None
        self.podid = None

    # -- set-up -----------------------------------------------------------
    def __enter__(self):
        try:
            self.up()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def up(self):
        sh("ip", "netns", "add", self.node)
        sh("ip", "link", "set", "lo", "up", ns=self.node)
        sh("ip", "addr", "add", "169.254.169.254/32", "dev", "lo", ns=self.node)
        r, nd = "pd%s-r" % self.tag, "pd%s-n" % self.tag
        sh("ip", "link", "add", r, "type", "veth", "peer", "name", nd)
        self.links.append(r)
        sh("ip", "link", "set", nd, "netns", self.node)
        sh("ip", "addr", "add", self.root_ip + "/30", "dev", r)
        sh("ip", "link", "set", r, "up")
        sh("ip", "addr", "add", self.node_up_ip + "/30", "dev", nd, ns=self.node)
        sh("ip", "link", "set", nd, "up", ns=self.node)
        # One bridge in the node for the pods' veths, as a CNI would.
        br = "pd%s-br" % self.tag
        sh("ip", "link", "add", br, "type", "bridge", ns=self.node)
        sh("ip", "addr", "add", self.node_ip + "/24", "dev", br, ns=self.node)
        sh("ip", "link", "set", br, "up", ns=self.node)
        for i, pod in enumerate(self.pods):
            self.add_pod_ns(i, pod, br)

    def add_pod_ns(self, i, pod, br):
        a, b = "pd%s-a%d" % (self.tag, i), "pd%s-b%d" % (self.tag, i)
        sh("ip", "netns", "add", pod)
        sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        sh("ip", "link", "set", a, "netns", self.node)
        sh("ip", "link", "set", b, "netns", pod)
        sh("ip", "link", "set", a, "master", br, ns=self.node)
        sh("ip", "link", "set", a, "up", ns=self.node)
        sh("ip", "link", "set", "lo", "up", ns=pod)
        sh("ip", "addr", "add", self.pod_ips[i] + "/24", "dev", b, ns=pod)
        sh("ip", "link", "set", b, "up", ns=pod)
        sh("ip", "route", "add", "default", "via", self.node_ip, ns=pod)

    def dnat(self, port=2579):
        """The interception rule, as issue 4's tests install it."""
        sh("iptables", "-t", "nat", "-A", "PREROUTING", "-d",
           "169.254.169.254/32", "-p", "tcp", "--dport", "80", "-j", "DNAT",
           "--to-destination", "%s:%d" % (self.node_ip, port), ns=self.node)

    def spawn(self, name, argv, ns=None, env=None):
        log = open(os.path.join(self.dir, name + ".log"), "w")
        if ns:
            argv = ["ip", "netns", "exec", ns] + list(argv)
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=env,
                             start_new_session=True)
        self.procs.append((name, p, log))
        return p

    def log(self, name):
        with open(os.path.join(self.dir, name + ".log")) as f:
            return f.read()

    def start_kube(self):
        certs = os.path.join(self.dir, "certs")
        sh(sys.executable, os.path.join(FAKES, "certs.py"), certs,
           "--ip", self.root_ip, "--ip", "127.0.0.1")
        self.ca = os.path.join(certs, "ca.crt")
        self.token = os.path.join(self.dir, "kube-token")
        with open(self.token, "w") as f:
            f.write("e2e-token-%s\n" % self.tag)
        state = os.path.join(self.dir, "kube-state")
        os.mkdir(state)
        pf, cf = os.path.join(self.dir, "kube.port"), os.path.join(self.dir, "kube.ctl")
        self.spawn("kube", [sys.executable, os.path.join(FAKES, "kube_api.py"),
                            "--listen", self.root_ip + ":0",
                            "--cert", os.path.join(certs, "server.crt"),
                            "--key", os.path.join(certs, "server.key"),
                            "--token-file", self.token, "--node", NODE_NAME,
                            "--state-dir", state, "--port-file", pf,
                            "--control-listen", self.root_ip + ":0",
                            "--control-port-file", cf])
        self.kube_state = state
        self.kube_port = int(wait_for(lambda: _read(pf), timeout=30,
                                      what="kube port"))
        self.kube_ctl = "http://%s:%d" % (self.root_ip, int(wait_for(
            lambda: _read(cf), timeout=30, what="kube control port")))

    def start_imds(self, identities):
        """identities: list of {client_id, object_id, msi_res_id}."""
        idf = os.path.join(self.dir, "identities.json")
        with open(idf, "w") as f:
            json.dump(identities, f)
        state = os.path.join(self.dir, "imds-state")
        os.mkdir(state)
        cf = os.path.join(self.dir, "imds.ctl")
        self.spawn("imds", [sys.executable, os.path.join(FAKES, "imds.py"),
                            "--listen", "169.254.169.254:80",
                            "--state-dir", state, "--identities", idf,
                            "--control-listen", self.node_up_ip + ":0",
                            "--control-port-file", cf], ns=self.node)
        self.imds_state = state
        self.imds_ctl = "http://%s:%d" % (self.node_up_ip, int(wait_for(
            lambda: _read(cf), timeout=30, what="imds control port")))

    def start_aad(self, apps=None):
        """The fake Azure AD (tests/fakes/aad.py) in the root namespace on
        root_ip, serving the certificate start_kube made (call that first),
        so podid trusts it with --ca-file self.ca.  apps: the list its
        --apps takes.  Returns the authority for podid's --aad-authority;
        self.aad_ctl is its control API, self.aad_state its state dir."""
        state = os.path.join(self.dir, "aad-state")
        os.mkdir(state)
        certs = os.path.join(self.dir, "certs")
        argv = [sys.executable, os.path.join(FAKES, "aad.py"),
                "--listen", self.root_ip + ":0", "--state-dir", state,
                "--cert", os.path.join(certs, "server.crt"),
                "--key", os.path.join(certs, "server.key"),
                "--control-listen", self.root_ip + ":0"]
        if apps is not None:
            af = os.path.join(self.dir, "aad-apps.json")
            with open(af, "w") as f:
                json.dump(apps, f)
            argv += ["--apps", af]
        self.spawn("aad", argv)
        self.aad_state = state
        # control-port is written before port: both are there once port is.
        port = int(wait_for(lambda: _read(os.path.join(state, "port")),
                            timeout=30, what="aad port"))
        ctl = int(_read(os.path.join(state, "control-port")))
        self.aad_ctl = "http://%s:%d" % (self.root_ip, ctl)
        self.aad_url = "https://%s:%d" % (self.root_ip, port)
        return self.aad_url

    def add_pod_addrs(self, i, ips):
        """More addresses on pod namespace i's interface (pods sharing a
        namespace, as a bench's many pods do); ips in the pods' /24."""
        dev = "pd%s-b%d" % (self.tag, i)
        for ip in ips:
            sh("ip", "addr", "add", ip + "/24", "dev", dev, ns=self.pods[i])

    def start_podid(self, policy, *extra, rules="off"):
        """podid run in the node; rules="keep" lets it install and keep
        its interception rules (issue 4's tests use dnat() instead)."""
        binary = os.path.join(REPO, os.environ.get("O", "build"), "podid")
        argv = [binary, "run", "--policy", policy, "--rules", rules,
                "--listen", "%s:2579" % self.node_ip,
                "--kube-api", "https://%s:%d" % (self.root_ip, self.kube_port),
                "--kube-token-file", self.token, "--kube-ca-file", self.ca,
                "--node", NODE_NAME, "--log-level", "debug"] + list(extra)
        self.podid = self.spawn("podid", argv, ns=self.node)
        wait_for(lambda: self.ready(), timeout=30, what="podid ready")

    def ready(self):
        r = sh("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
               "-m", "2", "http://%s:2579/readyz" % self.node_ip,
               ns=self.node, check=False)
        if self.podid and self.podid.poll() is not None:
            raise RuntimeError("podid exited: " + self.log("podid")[-2000:])
        return r.stdout == "200"

    # -- the fakes' control APIs -----------------------------------------
    def kube(self, method, path, body=None):
        return _http(method, self.kube_ctl + path, body)

    def imds(self, method, path, body=None):
        return _http(method, self.imds_ctl + path, body)

    def aad(self, method, path, body=None):
        return _http(method, self.aad_ctl + path, body)

    def add_pod(self, i, namespace, name, labels=None, sa="default", **kw):
        pod = {"namespace": namespace, "name": name, "labels": labels or {},
               "ip": self.pod_ips[i], "serviceAccount": sa}
        pod.update(kw)
        return self.kube("POST", "/pods", pod)

    def in_pod(self, i, *argv, timeout=30):
        return sh(*argv, ns=self.pods[i], check=False, timeout=timeout)

    def curl_token(self, i, resource="https://vault.azure.net", extra="",
                   headers=("Metadata: true",)):
        url = ("http://169.254.169.254/metadata/identity/oauth2/token"
               "?api-version=2018-02-01&resource=%s%s" % (resource, extra))
        argv = ["curl", "-s", "-m", "10", "-w", "\n%{http_code}"]
        for h in headers:
            argv += ["-H", h]
        r = self.in_pod(i, *argv, url)
        body, _, code = r.stdout.rpartition("\n")
        try:
            doc = json.loads(body) if body else None
        except ValueError:
            doc = body
        return int(code or 0), doc

    # -- tear-down ----------------------------------------------------------
    def close(self):
        for name, p, log in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                    p.wait(timeout=15)  # a sanitized exit checks leaks
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            log.close()
        for ns in self.pods + [self.node]:
            sh("ip", "netns", "del", ns, check=False)
        for link in self.links:
            sh("ip", "link", "del", link, check=False)
        if os.environ.get("PODID_E2E_KEEP"):
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def _free_subnet(start):
    """A third octet no other run uses now (its root-side address)."""
    used = sh("ip", "-4", "-o", "addr", "show", check=False).stdout
    for k in range(200):
        n = (start + k) % 200 + 20
        if " 10.249.%d.1/" % n not in used:
            return n
    raise RuntimeError("no free test subnet")


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip() or None
    except OSError:
        return None


def _http(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        raw = r.read()
        return json.loads(raw) if raw else None


class Results:
    """ok/FAIL lines and the closing 'N passed, N failed'."""

    def __init__(self):
        self.passed = self.failed = 0

    def run(self, name, fn, *args):
        t0 = time.monotonic()
        try:
            fn(*args)
            self.passed += 1
            print("ok   %s (%.1fs)" % (name, time.monotonic() - t0), flush=True)
        except Exception as e:  # the test goes on to the next case
            self.failed += 1
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e), flush=True)

    def done(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        return 1 if self.failed else 0
