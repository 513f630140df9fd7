#!/usr/bin/env python3
"""End-to-end tests of `podid rules` in network namespaces of their own.

    O=build python3 tests/e2e/rules_test.py [SCENARIO ...]

    node ns: lo has 169.254.169.254 ("the real IMDS", a python server on :80)
             veth 10.251.0.1/24 ("podid", a python server on :2579)
             an nft table "e2e" with a ct expression, so conntrack tracks
             the pod's connections before podid's rules exist, as it does
             on every Kubernetes node (kube-proxy)
    pod ns:  veth 10.251.0.10/24, default route via the node

Every `podid rules` and `nft` runs inside the node namespace (`ip netns
exec`); the root namespace's rules are never touched.  The expected
ruleset is compared with `nft list table ip podid`, and `podid rules
status` must print the same text.  Prints "ok NAME" or "FAIL NAME: why"
per scenario and ends with "N passed, N failed"; exits 1 on failure.
Needs root, nft and curl.  Everything is removed on exit, after a
failure too, and after 240 s.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from topo import Results, sh, wait_for  # noqa: E402

O = os.environ.get("O", "build")
PODID = os.path.join(O if os.path.isabs(O) else os.path.join(ROOT, O),
                     "podid")
TAG = "pr%x" % (os.getpid() & 0xFFFF)
NODE, POD = TAG + "-node", TAG + "-pod"
NODE_IP, POD_IP, OTHER_IP = "10.251.0.1", "10.251.0.10", "10.251.0.99"
IMDS = "169.254.169.254"
WATCHDOG_S = 240

EXPECTED = ("table ip podid {\n"
            "\tchain prerouting {\n"
            "\t\ttype nat hook prerouting priority dstnat - 10; "
            "policy accept;\n"
            "\t\tip daddr 169.254.169.254 tcp dport 80 dnat to %s:%d\n"
            "\t}\n"
            "}\n")

# An HTTP/1.1 server answering every request with its fixed body, keeping
# connections open: argv = address port body.
SERVER = r"""
import http.server, socketserver, sys
addr, port, body = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
S((addr, port), H).serve_forever()
"""

# A pod's long-lived connection to 169.254.169.254:80: one request at
# start and one per line on stdin, each printing "ok BODY" or "error WHY".
CLIENT = r"""
import socket, sys
s = socket.create_connection(("169.254.169.254", 80), timeout=5)
def ask():
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return "error closed"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        n = [int(l.split(b":")[1]) for l in head.split(b"\r\n")
             if l.lower().startswith(b"content-length:")][0]
        while len(body) < n:
            chunk = s.recv(4096)
            if not chunk:
                return "error closed"
            body += chunk
        return "ok " + body.decode()
    except OSError as e:
        return "error " + type(e).__name__
print(ask(), flush=True)
for line in sys.stdin:
    print(ask(), flush=True)
"""

PROCS = []


def node(*argv, check=True):
    return sh(*argv, ns=NODE, check=check)


def podid(*args):
    """Runs podid rules ARGS in the node namespace: (rc, stdout, stderr)."""
    r = sh(PODID, "rules", *args, ns=NODE, check=False, timeout=30)
    return r.returncode, r.stdout, r.stderr


def nft_list(handles=False):
    argv = ["nft"] + (["-a"] if handles else []) + ["list", "table", "ip",
                                                    "podid"]
    r = node(*argv, check=False)
    return r.stdout if r.returncode == 0 else None


def expected(ip=NODE_IP, port=2579):
    return EXPECTED % (ip, port)


def install(*extra, ip=NODE_IP):
    rc, out, err = podid("install", "--node-ip", ip, *extra)
    assert rc == 0, "install exit %d: %s" % (rc, err)
    return err


def spawn(argv, ns, stdin=None):
    p = subprocess.Popen(["ip", "netns", "exec", ns] + argv,
                         stdin=stdin, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True,
                         start_new_session=True)
    PROCS.append(p)
    return p


def curl(ns, url):
    """The body, or None when the request failed."""
    r = sh("curl", "-s", "-m", "3", url, ns=ns, check=False, timeout=10)
    return r.stdout if r.returncode == 0 else None


# ------------------------------------------------------------- set-up

def up():
    sh("ip", "netns", "add", NODE)
    sh("ip", "netns", "add", POD)
    node("ip", "link", "set", "lo", "up")
    node("ip", "addr", "add", IMDS + "/32", "dev", "lo")
    sh("ip", "link", "add", TAG + "n", "netns", NODE, "type", "veth",
       "peer", "name", TAG + "p", "netns", POD)
    node("ip", "addr", "add", NODE_IP + "/24", "dev", TAG + "n")
    node("ip", "link", "set", TAG + "n", "up")
    sh("ip", "link", "set", "lo", "up", ns=POD)
    sh("ip", "addr", "add", POD_IP + "/24", "dev", TAG + "p", ns=POD)
    sh("ip", "link", "set", TAG + "p", "up", ns=POD)
    sh("ip", "route", "add", "default", "via", NODE_IP, ns=POD)
    track()
    spawn([sys.executable, "-c", SERVER, IMDS, "80", "real-imds"], NODE)
    wait_for(lambda: curl(NODE, "http://%s/" % IMDS) == "real-imds",
             timeout=30, what="the real imds")
    start_standin()


def start_standin():
    """A stand-in for podid on NODE_IP:2579; returns its process."""
    p = spawn([sys.executable, "-c", SERVER, NODE_IP, "2579", "podid"], NODE)
    wait_for(lambda: curl(NODE, "http://%s:2579/" % NODE_IP) == "podid",
             timeout=30, what="the podid stand-in")
    return p


def track():
    """Conntrack on in the node, independently of podid's table."""
    node("nft", "add table ip e2e { chain c { type filter hook prerouting "
         "priority 0; ct state invalid counter; }; }")


def down():
    for p in PROCS:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    for ns in (POD, NODE):
        sh("ip", "netns", "del", ns, check=False)


def fresh():
    """No table ip podid, no conntrack entry: each scenario's start."""
    rc, _, err = podid("remove")
    assert rc == 0, "remove exit %d: %s" % (rc, err)
    node("conntrack", "-F", check=False)


# ------------------------------------------------------------- scenarios

def t_install_exact():
    fresh()
    err = install()
    assert "installed" in err, err
    got = nft_list()
    assert got == expected(), "nft lists:\n%s" % got
    rc, out, _ = podid("status", "--node-ip", NODE_IP)
    assert rc == 0, "status exit %d:\n%s" % (rc, out)
    ruleset = "".join(l + "\n" for l in out.splitlines()
                      if not l.startswith("#"))
    assert ruleset == got, "status prints:\n%s" % out
    assert out.splitlines()[-1].startswith("# match"), out
    install("--port", "8080", ip=OTHER_IP)
    assert nft_list() == expected(OTHER_IP, 8080), nft_list()


def t_idempotent():
    fresh()
    install()
    before = nft_list(handles=True)
    err = install()
    assert "already in place" in err, err
    after = nft_list(handles=True)
    assert after == before, "changed:\n%s\n%s" % (before, after)
    assert after.count("dnat to") == 1, after


def t_install_replaces():
    """Whatever table ip podid held becomes the expected one."""
    fresh()
    node("nft", "add table ip podid { flags dormant; set s { type "
         "ipv4_addr; }; chain prerouting { type nat hook prerouting "
         "priority -100; policy accept; ip daddr 169.254.169.254 tcp dport "
         "80 dnat to 10.251.0.7:1; counter; }; chain x { counter; }; }")
    rc, out, _ = podid("status", "--node-ip", NODE_IP)
    assert rc == 1, "status exit %d:\n%s" % (rc, out)
    install()
    assert nft_list() == expected(), nft_list()
    assert podid("status", "--node-ip", NODE_IP)[0] == 0


TAMPER = [
    ("flush ruleset", "no table ip podid"),
    ("delete chain ip podid prerouting", "no chain prerouting"),
    ("flush chain ip podid prerouting", "has no rule"),
    ("add rule ip podid prerouting counter", "has 2 rules"),
    ("insert rule ip podid prerouting ip saddr 10.251.0.10 accept",
     "expressions, expected 9"),
    ("add table ip podid { flags dormant; }", "dormant"),
    ("add chain ip podid extra", "holds 2 chains"),
    ("add set ip podid s { type ipv4_addr; }", "holds 2 chains"),
]


def t_status_tampering():
    for cmd, why in TAMPER:
        fresh()
        install()
        node("nft", cmd)
        if cmd == "flush ruleset":
            track()
        rc, out, _ = podid("status", "--node-ip", NODE_IP)
        assert rc == 1, "%s: status exit %d:\n%s" % (cmd, rc, out)
        last = out.splitlines()[-1]
        assert last.startswith("# mismatch") and why in last, \
            "%s: %s" % (cmd, last)
        install()
        assert nft_list() == expected(), "%s: %s" % (cmd, nft_list())
    rc, out, _ = podid("status", "--node-ip", OTHER_IP)
    assert rc == 1 and "dnats to %s:2579, expected %s:2579" % (
        NODE_IP, OTHER_IP) in out, out
    rc, out, _ = podid("status", "--port", "2580")
    assert rc == 1 and "expected" in out, out
    assert podid("status")[0] == 0


def t_exit_codes():
    fresh()
    rc, out, _ = podid("status")
    assert rc == 1 and out == "# mismatch: no table ip podid\n", (rc, out)
    for args in (["install"], ["install", "--node-ip", "300.1.1.1"],
                 ["install", "--node-ip", "0.0.0.0"],
                 ["install", "--node-ip", NODE_IP, "--port", "0"],
                 ["install", "--node-ip", NODE_IP, "--port", "65536"],
                 ["install", "--node-ip", NODE_IP, "--port", "12x"],
                 ["install", "--node-ip", NODE_IP, "extra"],
                 ["remove", "--node-ip", NODE_IP], ["frobnicate"], [],
                 ["status", "--bogus"]):
        rc, _, err = podid(*args)
        assert rc == 64, "%s: exit %d" % (args, rc)
        assert "usage: podid rules" in err, args
        if "--port" in args:
            assert 'podid rules: --port: "%s" is not a whole number from ' \
                   '1 to 65535' % args[-1] in err, err
        if args[1:2] == ["--node-ip"] and args[2] != NODE_IP:
            assert 'podid rules: --node-ip: "%s" is not' % args[2] in err, err
    assert nft_list() is None, "a refused command installed rules"
    rc, out, _ = podid("--help")
    assert rc == 0 and "usage: podid rules" in out
    # Without CAP_NET_ADMIN even reading is refused, and said so.
    if shutil.which("setpriv"):
        for args in (["status"], ["install", "--node-ip", NODE_IP],
                     ["remove"]):
            r = sh("setpriv", "--reuid=65534", "--regid=65534",
                   "--clear-groups", "--inh-caps=-all", PODID, "rules",
                   *args, ns=NODE, check=False, timeout=30)
            assert r.returncode == 1, "%s as nobody: exit %d" % (
                args, r.returncode)
            assert "Operation not permitted" in r.stderr, r.stderr
    rc, out, _ = podid("install", "--help")
    assert rc == 0 and "usage: podid rules" in out


def t_remove():
    fresh()
    install()
    rc, _, err = podid("remove")
    assert rc == 0 and "removed" in err, err
    assert nft_list() is None
    rc, _, err = podid("remove")
    assert rc == 0, "second remove exit %d: %s" % (rc, err)
    assert node("nft", "list", "table", "ip", "e2e").returncode == 0


def t_traffic():
    fresh()
    url = "http://%s/" % IMDS
    assert curl(POD, url) == "real-imds", "before install"
    install()
    assert curl(POD, url) == "podid", "after install"
    # The node's own traffic (podid's upstream calls) is not intercepted.
    assert curl(NODE, url) == "real-imds", "the node after install"
    # A kube-proxy-like DNAT in the nat PREROUTING of iptables (-100)
    # comes second: the connection already has podid's mapping.
    node("nft", "add table ip kube { chain p { type nat hook prerouting "
         "priority -100; ip daddr 169.254.169.254 tcp dport 80 dnat to "
         "%s:9; }; }" % NODE_IP)
    try:
        assert curl(POD, url) == "podid", "after a dnat at -100"
    finally:
        node("nft", "delete table ip kube")
    # Fail closed: podid down means refused, not the node's IMDS.
    standin = [p for p in PROCS if "podid" in p.args][-1]
    os.killpg(standin.pid, signal.SIGKILL)
    standin.wait()
    try:
        assert curl(POD, url) is None, "podid down"
        assert nft_list() == expected(), "the rules went with podid"
    finally:
        start_standin()
    podid("remove")
    assert curl(POD, url) == "real-imds", "after remove"


def open_conn():
    p = spawn([sys.executable, "-c", CLIENT], POD, stdin=subprocess.PIPE)
    return p, p.stdout.readline().strip()


def ask(p):
    p.stdin.write("again\n")
    p.stdin.flush()
    return p.stdout.readline().strip()


def close_conn(p):
    p.stdin.close()
    p.wait(timeout=10)


def t_conntrack():
    fresh()
    # Control: the same rules put in by nft alone leave the connection
    # open to the real IMDS: conntrack keeps its unNATed entry.
    p, first = open_conn()
    assert first == "ok real-imds", first
    sh("nft", "-f", "-", ns=NODE, input=expected())
    assert podid("status", "--node-ip", NODE_IP)[0] == 0
    assert ask(p) == "ok real-imds", "control: not still open"
    # podid install finds the rules in place and still cuts it.
    err = install()
    assert "already in place" in err and "cut 1 connection" in err, err
    got = ask(p)
    assert got.startswith("error"), "after install: %s" % got
    close_conn(p)


def t_conntrack_fresh():
    fresh()
    p, first = open_conn()
    assert first == "ok real-imds", first
    err = install()
    assert "installed" in err and "cut 1 connection" in err, err
    got = ask(p)
    assert got.startswith("error"), "after install: %s" % got
    close_conn(p)
    # New connections go to podid, and stay up through a re-install.
    p, first = open_conn()
    assert first == "ok podid", first
    err = install()
    assert "cut 0 connection" in err, err
    assert ask(p) == "ok podid", "an intercepted connection was cut"
    close_conn(p)


SCENARIOS = [
    ("install: nft lists exactly the expected table", t_install_exact),
    ("install twice: nothing changes, one rule", t_idempotent),
    ("install replaces whatever table ip podid held", t_install_replaces),
    ("status reports tampering; install restores", t_status_tampering),
    ("exit codes and bad arguments", t_exit_codes),
    ("remove deletes the table, twice is fine", t_remove),
    ("traffic: pods to podid, the node to IMDS, closed when down",
     t_traffic),
    ("conntrack: control with nft, then podid install cuts", t_conntrack),
    ("conntrack: install cuts, intercepted connections stay",
     t_conntrack_fresh),
]


def main():
    if os.geteuid() != 0:
        print("rules_test: needs root\n0 passed, 1 failed")
        return 1
    if not os.access(PODID, os.X_OK):
        print("rules_test: no %s\n0 passed, 1 failed" % PODID)
        return 1
    want = set(sys.argv[1:])
    res = Results()

    def overtime(*_):
        raise TimeoutError("watchdog: %d s" % WATCHDOG_S)

    signal.signal(signal.SIGALRM, overtime)
    signal.signal(signal.SIGTERM, overtime)
    signal.alarm(WATCHDOG_S)
    try:
        up()
        for name, fn in SCENARIOS:
            if not want or fn.__name__ in want or name in want:
                res.run(name, fn)
    except BaseException as e:  # set-up failed or the watchdog fired
        res.failed += 1
        print("FAIL set-up or watchdog: %s: %s" % (type(e).__name__, e))
    finally:
        signal.alarm(0)
        down()
    return res.done()


if __name__ == "__main__":
    sys.exit(main())
