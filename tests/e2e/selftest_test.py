#!/usr/bin/env python3
"""End-to-end tests of `podid selftest` and the ops listener (issue 7).

    O=build python3 tests/e2e/selftest_test.py [CASE...]

One topology (tests/e2e/topo.py): the fake API server in the root
namespace; podid (--rules keep, so its interception rules exist) and the
fake IMDS in the node namespace; two pod namespaces.  `podid selftest`
runs in the node namespace, as `kubectl exec` runs it beside the agent,
against the ops listener on 127.0.0.1:2580.  Each check is seen passing on
the healthy node and failing for its cause: a broken policy after SIGHUP
(also in /readyz), a stalled watch, the API server gone, the rules deleted
without a keeper, an unknown pod; `--pod --resource` fetches a token
through the agent without printing it; `--json` is one JSON object.
Standard library only; needs root.  Prints "ok NAME" or "FAIL NAME: why"
per case and ends with "N passed, N failed"; exits 1 on failure.  A
watchdog ends the run after 200 s; everything is torn down in every case.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from topo import REPO, Results, Topo, sh, wait_for  # noqa: E402

WATCHDOG_S = 400
PODID = os.path.join(REPO, os.environ.get("O", "build"), "podid")
ORDERS = {"client_id": "5f0c1a52-3a8e-4a55-9d1f-2e7a1b4c9d01",
          "object_id": "11111111-2222-3333-4444-555555555501",
          "msi_res_id": "/subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590"
                        "/resourceGroups/e2e/providers/Microsoft."
                        "ManagedIdentity/userAssignedIdentities/orders"}
POLICY = """\
identity orders-mi {
    kind      managed
    client-id "%s"
}
bind orders {
    identity  orders-mi
    namespace shop
    label     app = orders
}
""" % ORDERS["client_id"]
BROKEN = POLICY.replace("identity  orders-mi", "identity  nosuch-mi")
VAULT = "https://vault.azure.net"
CHECKS = ["agent", "policy", "kube", "pods", "rules", "privileges",
          "upstream"]

T = None  # the topology
POLICY_FILE = None


def selftest(*args):
    """Runs podid selftest in the node; returns (rc, {name: (res, why)},
    stdout)."""
    r = sh(PODID, "selftest", *args, ns=T.node, check=False, timeout=60)
    checks = {}
    if "--json" not in args:
        for line in r.stdout.splitlines():
            res, _, rest = line.partition("  ")
            name, _, why = rest.strip().partition("  ")
            checks[name.strip()] = (res, why.strip())
    return r.returncode, checks, r.stdout + r.stderr


def expect(checks, name, res, *words):
    got = checks.get(name)
    assert got is not None, "no %s line in %s" % (name, checks)
    assert got[0] == res, "%s: %s, want %s" % (name, got, res)
    for w in words:
        assert w in got[1], "%s: %r lacks %r" % (name, got[1], w)


def ops_get(path, host="127.0.0.1", ns=None):
    r = sh("curl", "-s", "-m", "5", "-w", "\n%{http_code}",
           "http://%s:2580%s" % (host, path), ns=ns or T.node, check=False)
    body, _, code = r.stdout.rpartition("\n")
    return int(code or 0), body.rstrip("\n")


def write_policy(text):
    tmp = POLICY_FILE + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.rename(tmp, POLICY_FILE)


def hup():
    os.kill(T.podid.pid, signal.SIGHUP)


def keepers():
    """The pids of podid's keeper (its children)."""
    r = sh("pgrep", "-P", str(T.podid.pid), check=False)
    return [int(p) for p in r.stdout.split()]


def gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rpartition(")")[2].split()[0] in "ZX"
    except OSError:
        return True


def restart_podid(*extra, rules="keep"):
    old = keepers()
    os.killpg(T.podid.pid, signal.SIGTERM)
    T.podid.wait(timeout=30)
    # The keeper dies with podid, a moment after it: until then it could
    # put back rules a case removes.
    wait_for(lambda: all(gone(k) for k in old), timeout=10,
             what="the old keeper to end")
    T.start_podid(POLICY_FILE, *extra, rules=rules)


# -- cases ----------------------------------------------------------------

def healthy():
    rc, checks, out = selftest()
    assert rc == 0, out
    for name in CHECKS:
        expect(checks, name, "PASS")
    expect(checks, "rules", "PASS", T.node_ip + ":2579", "keeper alive")
    expect(checks, "privileges", "PASS", "uid 65534", "no capabilities")
    expect(checks, "policy", "PASS", "1 identities")
    expect(checks, "kube", "PASS", "watching")


def json_output():
    rc, _, out = selftest("--json")
    assert rc == 0, out
    doc = json.loads(out)
    assert doc["ok"] is True, doc
    names = [c["name"] for c in doc["checks"]]
    assert names == CHECKS, names
    assert all(set(c) == {"name", "result", "reason"} for c in doc["checks"])


def status_document():
    code, body = ops_get("/status")
    assert code == 200, (code, body)
    st = json.loads(body)
    assert st["pid"] == T.podid.pid, st
    assert st["uid"] == 65534 and st["gid"] == 65534, st
    assert len(st["policy"]["sha256"]) == 64, st
    assert st["policy"]["file"] == POLICY_FILE, st
    assert st["kube"]["synced"] is True, st
    assert st["pods"]["cached"] == 2 and st["pods"]["max"] == 512, st
    assert st["rules"]["mode"] == "keep", st
    assert st["upstream"]["aad"] == "https://login.microsoftonline.com", st
    code, body = ops_get("/healthz")
    assert (code, body) == (200, "ok"), (code, body)
    code, body = ops_get("/readyz")
    assert (code, body) == (200, "ok"), (code, body)


def metrics():
    code, body = ops_get("/metrics")
    assert code == 200, (code, body[:200])
    for name in ("podid_pods_cached 2", "podid_policy_identities 1",
                 "podid_rules_keeper_alive 1", "podid_kube_synced 1"):
        assert name in body, name
    if shutil.which("promtool"):
        r = subprocess.run(["promtool", "check", "metrics"], input=body + "\n",
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def pod_token():
    rc, checks, out = selftest("--pod", "shop/orders-1", "--resource", VAULT)
    assert rc == 0, out
    expect(checks, "pod", "PASS", "orders-mi (managed, rule orders)",
           "token for orders-mi", "bytes", "expires in")
    # The token itself never shows: not in the output, not in /status/pod.
    toks = T.imds("GET", "/state")["tokens"]
    assert toks, "the fake IMDS issued no token"
    code, body = ops_get("/status/pod?ns=shop&name=orders-1&resource=" +
                         VAULT)
    assert code == 200, (code, body)
    doc = json.loads(body)
    assert doc["token"]["status"] == 200 and doc["token"]["length"] > 100
    assert "access_token" not in body and "eyJ" not in body, body
    assert "eyJ" not in out, out


def pod_without_identity():
    rc, checks, out = selftest("--pod", "shop/plain-1")
    assert rc == 0, out
    expect(checks, "pod", "WARN", "deny")
    rc, checks, out = selftest("--pod", "shop/nosuch")
    assert rc == 1, out
    expect(checks, "pod", "FAIL", "not in the agent's pod cache")


def bad_policy():
    write_policy(BROKEN)
    hup()
    wait_for(lambda: "policy:" in ops_get("/readyz")[1], timeout=30,
             what="the failed reload in /readyz")
    code, body = ops_get("/readyz")
    assert code == 200, (code, body)  # an older policy still serves
    assert POLICY_FILE in body and "error:" in body, body
    rc, checks, out = selftest()
    assert rc == 1, out
    expect(checks, "policy", "FAIL", "does not load", POLICY_FILE + ":",
           "error:")
    st = json.loads(ops_get("/status")[1])["policy"]
    assert st["last_failed"] is True and st["reloads_failed"] >= 1, st
    assert "podid_policy_last_reload_success 0" in ops_get("/metrics")[1]
    # Tokens still come: the old policy serves.
    code, _ = T.curl_token(0)
    assert code == 200, code
    write_policy(POLICY)
    hup()
    wait_for(lambda: selftest()[0] == 0, timeout=30, what="policy PASS")
    rc, checks, out = selftest()
    expect(checks, "policy", "PASS")
    assert ops_get("/readyz") == (200, "ok")


def policy_not_running():
    """The file differs from the running policy, though it loads."""
    write_policy(POLICY + "# a comment\n")
    try:
        rc, checks, out = selftest()
        if checks["policy"][0] == "FAIL":  # no watcher reloaded it yet
            assert rc == 1, out
            expect(checks, "policy", "FAIL",
                   "on-disk policy is not the running one")
    finally:
        write_policy(POLICY)
        hup()
        wait_for(lambda: selftest()[0] == 0, timeout=30, what="policy PASS")


def watch_stalled():
    time.sleep(2.2)  # no pod changes, no bookmarks: the watch is silent
    rc, checks, out = selftest("--max-event-age", "2")
    assert rc == 1, out
    expect(checks, "kube", "FAIL", "stalled", "limit 2 s")
    T.add_pod(1, "shop", "plain-1", {"app": "plain", "rev": "2"})
    wait_for(lambda: selftest("--max-event-age", "2")[0] == 0, timeout=20,
             what="an event refreshes the watch")


def keeper_restores():
    sh(PODID, "rules", "remove", ns=T.node)
    wait_for(lambda: json.loads(ops_get("/status")[1])["rules"]["restored"]
             >= 1, timeout=20, what="the keeper's restoration")
    rc, checks, out = selftest()
    assert rc == 0, out
    expect(checks, "rules", "PASS", "keeper alive", "1 restorations")


def rules_deleted():
    restart_podid("--ops-listen", "0.0.0.0:2580", rules="install")
    rc, checks, out = selftest()
    assert rc == 0, out
    expect(checks, "rules", "PASS", "no keeper (--rules install)")
    sh(PODID, "rules", "remove", ns=T.node)
    rc, checks, out = selftest()
    assert rc == 1, out
    expect(checks, "rules", "FAIL", "DNAT rule missing", "no table")


def status_loopback_only():
    """The ops listener on a node address: probes yes, /status no."""
    r = T.in_pod(0, "curl", "-s", "-m", "5", "-w", " %{http_code}",
                 "http://%s:2580/healthz" % T.node_ip)
    assert r.stdout == "ok\n 200", r.stdout
    for path in ("/status", "/status/pod?ns=shop&name=orders-1"):
        r = T.in_pod(0, "curl", "-s", "-m", "5", "-o", "/dev/null", "-w",
                     "%{http_code}", "http://%s:2580%s" % (T.node_ip, path))
        assert r.stdout == "403", (path, r.stdout)


def api_server_gone():
    for name, p, _ in T.procs:
        if name == "kube":
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=5)
    T.kube_ctl = None

    def failing():
        rc, checks, _ = selftest()
        return rc == 1 and checks.get("kube", ("",))[0] == "FAIL"
    wait_for(failing, timeout=30, what="kube FAIL")
    _, checks, _ = selftest()
    expect(checks, "kube", "FAIL", "not answering")


def agent_down():
    rc, checks, out = selftest("--ops", "127.0.0.1:2581")
    assert rc == 1, out
    expect(checks, "agent", "FAIL", "127.0.0.1:2581")
    assert list(checks) == ["agent"], checks


def usage():
    r = sh(PODID, "selftest", "--resource", VAULT, check=False)
    assert r.returncode == 64, r
    r = sh(PODID, "selftest", "--help", check=False)
    assert r.returncode == 0 and "--pod NS/NAME" in r.stdout, r


SCENARIOS = [
    ("selftest passes on a healthy node", healthy),
    ("selftest --json", json_output),
    ("/status, /healthz, /readyz on the ops port", status_document),
    ("/metrics on the ops port", metrics),
    ("--pod --resource: a token through the agent, not shown", pod_token),
    ("--pod: no identity, unknown pod", pod_without_identity),
    ("a broken policy: FAIL, /readyz detail, old policy serves", bad_policy),
    ("a policy file that is not the running one", policy_not_running),
    ("a stalled watch", watch_stalled),
    ("the keeper restores deleted rules", keeper_restores),
    ("rules deleted with no keeper", rules_deleted),
    ("/status answers loopback only", status_loopback_only),
    ("the API server gone", api_server_gone),
    ("no agent", agent_down),
    ("usage", usage),
]


def up():
    global T, POLICY_FILE
    T = Topo(npods=2)
    T.up()
    POLICY_FILE = os.path.join(T.dir, "policy.pol")
    write_policy(POLICY)
    T.start_kube()
    T.start_imds([ORDERS])
    T.add_pod(0, "shop", "orders-1", {"app": "orders"})
    T.add_pod(1, "shop", "plain-1", {"app": "plain"})
    T.start_podid(POLICY_FILE, rules="keep")


def main():
    if os.geteuid() != 0:
        print("selftest_test: needs root\n0 passed, 1 failed")
        return 1
    if not os.access(PODID, os.X_OK):
        print("selftest_test: no %s\n0 passed, 1 failed" % PODID)
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
        if T is not None:
            if res.failed and os.environ.get("PODID_E2E_VERBOSE"):
                print(T.log("podid")[-3000:])
            T.close()
    return res.done()


if __name__ == "__main__":
    sys.exit(main())
