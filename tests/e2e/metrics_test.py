#!/usr/bin/env python3
"""End-to-end tests of /metrics (issue 7) on a live podid.

    O=build python3 tests/e2e/metrics_test.py [CASE...]

One topology (tests/e2e/topo.py): the fake API server in the root
namespace; podid (--rules keep) and the fake IMDS in the node namespace;
two pod namespaces, one pod with an identity and one without.  The ops
listener's /metrics is scraped with curl inside the node namespace, as a
node-local Prometheus would, and piped to `promtool check metrics`, which
must print nothing.  Then: every family the operations guide lists is
there; the gauges say what the node is (2 pods of 512, synced, 1 identity,
the keeper alive); a pod's token request moves
podid_http_requests_total{route="token",code="200"}, the upstream ok count
and latency histogram, and a second one is a cache hit that leaves the
upstream alone; an IMDS 500 answered after 300 ms is a retry and an
error latency above 250 ms; a refused request moves its own code; a broken policy
moves the failed reloads and clears last_reload_success; no pod name,
namespace, identity or address ever shows in the page.  Standard library
and promtool; needs root.  Prints "ok NAME" or "FAIL NAME: why" per case
and ends with "N passed, N failed"; exits 1 on failure.  A watchdog ends
the run after 300 s; everything is torn down in every case.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from topo import REPO, Results, Topo, sh, wait_for  # noqa: E402

WATCHDOG_S = 300
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

# Every family of docs/operations.md's Metrics section.
FAMILIES = """
podid_http_requests_total podid_http_connections_accepted_total
podid_http_connections_refused_total podid_http_connections_open
podid_http_connections_max podid_http_timeouts_total
podid_http_bad_requests_total podid_http_accept_errors_total
podid_token_cache_hits_total podid_token_cache_misses_total
podid_token_cache_coalesced_total podid_token_cache_refreshes_total
podid_token_cache_evictions_total podid_token_cache_drops_total
podid_token_cache_full_total podid_token_fetches_total
podid_token_cache_slots_used podid_token_cache_slots_max
podid_upstream_requests_total podid_upstream_request_duration_seconds
podid_pods_cached podid_pods_max podid_pods_refused_total
podid_pod_ips_quarantined podid_policy_reloads_total
podid_policy_last_reload_success podid_policy_loaded_timestamp_seconds
podid_policy_identities podid_policy_bindings podid_policy_exceptions
podid_rules_restored_total podid_rules_keeper_alive podid_rules_info
podid_kube_lists_total podid_kube_list_pages_total podid_kube_watches_total
podid_kube_relists_total podid_kube_errors_total podid_kube_events_total
podid_kube_bookmarks_total podid_kube_pods_refused_total podid_kube_synced
podid_kube_last_event_age_seconds podid_start_time_seconds podid_build_info
""".split()

T = None  # the topology
POLICY_FILE = None
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


class Fail(Exception):
    pass


def scrape():
    """(status, content type, body) of /metrics, from inside the node."""
    r = sh("curl", "-s", "-m", "5", "-D", "-", "-w", "\n%{http_code}",
           "http://127.0.0.1:2580/metrics", ns=T.node, check=False)
    # text=True has turned the head's CRLFs into LFs.
    head, _, rest = r.stdout.partition("\n\n")
    body, _, code = rest.rpartition("\n")
    ctype = ""
    for ln in head.split("\n"):
        k, _, v = ln.partition(":")
        if k.lower() == "content-type":
            ctype = v.strip()
    return int(code or 0), ctype, body


def samples(body):
    """{'name{labels}': float} of every sample line; raises on others."""
    out = {}
    for ln in body.splitlines():
        if ln.startswith("# HELP ") or ln.startswith("# TYPE "):
            continue
        m = SAMPLE.match(ln)
        if m is None:
            raise Fail("not a sample line: %r" % ln)
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def metrics():
    code, ctype, body = scrape()
    if code != 200:
        raise Fail("/metrics answered %d: %s" % (code, body[:200]))
    return ctype, body, samples(body)


def val(s, key):
    if key not in s:
        raise Fail("no series %s" % key)
    return s[key]


def eq(got, want, what):
    if got != want:
        raise Fail("%s: %r, want %r" % (what, got, want))


TOKEN_200 = 'podid_http_requests_total{route="token",code="200"}'
UP_OK = 'podid_upstream_requests_total{target="imds",outcome="ok"}'
UP_DUR_OK = ('podid_upstream_request_duration_seconds_count'
             '{target="imds",outcome="ok"}')
UP_DUR_INF = ('podid_upstream_request_duration_seconds_bucket'
              '{target="imds",outcome="ok",le="+Inf"}')
HITS = "podid_token_cache_hits_total"


# -- cases ----------------------------------------------------------------

def promtool_clean():
    ctype, body, _ = metrics()
    eq(ctype, "text/plain; version=0.0.4; charset=utf-8", "Content-Type")
    r = subprocess.run(["promtool", "check", "metrics"], input=body,
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0 or r.stdout or r.stderr:
        raise Fail("promtool (%d): %s%s" % (r.returncode, r.stdout,
                                             r.stderr))


def families():
    _, body, _ = metrics()
    helps = [ln.split()[2] for ln in body.splitlines()
             if ln.startswith("# HELP ")]
    missing = [f for f in FAMILIES if f not in helps]
    if missing:
        raise Fail("families missing: %s" % missing)
    extra = [f for f in helps if f not in FAMILIES]
    if extra:
        raise Fail("families not in the guide: %s" % extra)


def gauges():
    _, _, s = metrics()
    eq(val(s, "podid_pods_cached"), 2, "pods cached")
    eq(val(s, "podid_pods_max"), 512, "pods max")
    eq(val(s, "podid_kube_synced"), 1, "synced")
    eq(val(s, "podid_policy_identities"), 1, "identities")
    eq(val(s, "podid_policy_bindings"), 1, "bindings")
    eq(val(s, "podid_policy_last_reload_success"), 1, "last reload")
    eq(val(s, "podid_rules_keeper_alive"), 1, "keeper alive")
    eq(val(s, 'podid_rules_info{mode="keep"}'), 1, "rules mode")
    eq(val(s, "podid_token_cache_slots_max"), 256, "token slots")
    eq(val(s, "podid_http_connections_max"), 256, "connection slots")
    eq(val(s, 'podid_upstream_requests_total{target="imds",'
           'outcome="rejected"}'), 0, "rejected")
    start = val(s, "podid_start_time_seconds")
    if not time.time() - 120 < start <= time.time():
        raise Fail("start time %s" % start)
    if not 0 <= val(s, "podid_kube_last_event_age_seconds") < 120:
        raise Fail("last event age %s" % s)
    if val(s, "podid_kube_lists_total") < 1 or \
            val(s, "podid_kube_watches_total") < 1:
        raise Fail("no list or watch counted")
    r = sh("curl", "-s", "-m", "5", "http://127.0.0.1:2580/status",
           ns=T.node, check=False)
    version = json.loads(r.stdout)["version"]
    eq(val(s, 'podid_build_info{version="%s"}' % version), 1,
       "build_info, the version /status gives")
    # The Azure AD client runs (the system CA bundle loads): its series
    # are there, zero, before any identity of the policy needs it.
    eq(val(s, 'podid_upstream_requests_total{target="aad",outcome="ok"}'),
       0, "aad requests before any service-principal identity")
    eq(val(s, 'podid_upstream_request_duration_seconds_count'
              '{target="aad",outcome="ok"}'), 0, "aad latency count")


def token_moves():
    _, _, s0 = metrics()
    code, doc = T.curl_token(0)
    eq(code, 200, "token status (%r)" % (doc,))
    _, _, s1 = metrics()
    eq(val(s1, TOKEN_200), val(s0, TOKEN_200) + 1, "token 200")
    eq(val(s1, UP_OK), val(s0, UP_OK) + 1, "upstream ok")
    eq(val(s1, UP_DUR_OK), val(s0, UP_DUR_OK) + 1, "latency count")
    eq(val(s1, UP_DUR_INF), val(s1, UP_DUR_OK), "+Inf bucket = count")
    # The same token again: from the cache, IMDS not asked.
    code, doc = T.curl_token(0)
    eq(code, 200, "second token status (%r)" % (doc,))
    _, _, s2 = metrics()
    eq(val(s2, TOKEN_200), val(s1, TOKEN_200) + 1, "token 200 again")
    eq(val(s2, HITS), val(s1, HITS) + 1, "cache hit")
    eq(val(s2, UP_OK), val(s1, UP_OK), "upstream untouched")
    # The buckets are cumulative and end at the count.
    prev = 0
    for le in ("0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
               "0.25", "0.5", "1", "2.5", "5", "+Inf"):
        v = val(s2, 'podid_upstream_request_duration_seconds_bucket'
                '{target="imds",outcome="ok",le="%s"}' % le)
        if v < prev:
            raise Fail("bucket le=%s: %s < %s" % (le, v, prev))
        prev = v
    eq(prev, val(s2, UP_DUR_OK), "last bucket")


def upstream_error():
    """IMDS answers 500 once, slowly: a retry, an error latency, then ok."""
    def key(outcome, le=None):
        if le is None:
            return ('podid_upstream_requests_total{target="imds",'
                    'outcome="%s"}' % outcome)
        return ('podid_upstream_request_duration_seconds_bucket{target='
                '"imds",outcome="%s",le="%s"}' % (outcome, le))
    err_sum = ('podid_upstream_request_duration_seconds_sum'
               '{target="imds",outcome="error"}')
    _, _, s0 = metrics()
    T.imds("POST", "/scenario", {"fail_next_n": {"n": 1, "status": 500},
                                 "delay_ms": 300})
    try:
        code, doc = T.curl_token(0, resource="https://storage.azure.com")
    finally:
        T.imds("POST", "/scenario", {"reset": True})
    eq(code, 200, "token status after a retry (%r)" % (doc,))
    _, _, s1 = metrics()
    for k, d in ((key("retry"), 1), (key("ok"), 1), (key("error"), 0),
                 (key("error", "+Inf"), 1), (key("ok", "+Inf"), 1),
                 # 300 ms each: never in a bucket of 250 ms or less.
                 (key("error", "0.25"), 0), (key("ok", "0.25"), 0)):
        eq(val(s1, k) - val(s0, k), d, k)
    if val(s1, err_sum) - val(s0, err_sum) < 0.3:
        raise Fail("error latency sum grew by less than 300 ms")


def refused_moves():
    code, _ = T.curl_token(1)
    if code in (0, 200):
        raise Fail("a pod without identity got %d" % code)
    key = 'podid_http_requests_total{route="token",code="%d"}' % code
    _, _, s0 = metrics()
    before = s0.get(key, 0)
    T.curl_token(1)
    _, _, s1 = metrics()
    eq(val(s1, key), before + 1, key)


def bounded_labels():
    _, body, _ = metrics()
    for word in ("orders", "shop", "plain", T.pod_ips[0], T.pod_ips[1],
                 ORDERS["client_id"], POLICY_FILE, "vault"):
        if word in body:
            raise Fail("%r in /metrics" % word)


def reload_failed():
    _, _, s0 = metrics()
    failed = 'podid_policy_reloads_total{result="failed"}'
    good = 'podid_policy_reloads_total{result="ok"}'
    # The policy file's watch reloads on the write, SIGHUP once more:
    # one or two attempts each time.
    write_policy(BROKEN)
    os.kill(T.podid.pid, signal.SIGHUP)
    wait_for(lambda: metrics()[2].get(failed, 0) >= val(s0, failed) + 1,
             timeout=30, what="a failed reload counted")
    _, _, s1 = metrics()
    eq(val(s1, "podid_policy_last_reload_success"), 0, "last reload")
    eq(val(s1, "podid_policy_identities"), 1, "old policy serves")
    write_policy(POLICY)
    os.kill(T.podid.pid, signal.SIGHUP)
    wait_for(lambda: metrics()[2].get(good, 0) >= val(s0, good) + 1,
             timeout=30, what="a good reload counted")
    _, _, s2 = metrics()
    eq(val(s2, "podid_policy_last_reload_success"), 1, "last reload")
    if val(s2, "podid_policy_loaded_timestamp_seconds") < \
            val(s0, "podid_policy_loaded_timestamp_seconds"):
        raise Fail("loaded_at went back")


def write_policy(text):
    tmp = POLICY_FILE + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.rename(tmp, POLICY_FILE)


SCENARIOS = [
    ("promtool check metrics: no complaint", promtool_clean),
    ("every family of the guide, no other", families),
    ("gauges say what the node is", gauges),
    ("a token moves token/200, upstream ok, latency; a hit does not",
     token_moves),
    ("IMDS fails once, slowly: retry, error latency, then ok",
     upstream_error),
    ("a refused token request moves its code", refused_moves),
    ("no pod, namespace, identity or address in labels", bounded_labels),
    ("a broken policy: failed reload counted, success 0, then 1",
     reload_failed),
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
    wait_for(lambda: scrape()[0] == 200 and
             "podid_pods_cached 2\n" in scrape()[2],
             timeout=30, what="both pods in /metrics")


def main():
    if os.geteuid() != 0:
        print("metrics_test: needs root\n0 passed, 1 failed")
        return 1
    for need in (PODID, shutil.which("promtool") or "promtool"):
        if not os.access(need, os.X_OK):
            print("metrics_test: no %s (deploy/deps.sh)\n0 passed, 1 failed"
                  % need)
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
