"""The live part of the demo: one node, three pods, the whole flow.

A node and three pod network namespaces (tests/e2e/topo.py), the fake
Kubernetes API server listing the pods, a fake IMDS on 169.254.169.254
holding the node's managed identity, a fake Azure AD knowing a service
principal, and podid run with the policy below, installing its own
interception rules (the DNAT of 169.254.169.254:80) and keeping them.
Then two pods fetch their tokens with curl exactly as an Azure SDK would
(one a managed identity through the node's IMDS, one a service principal
through Azure AD), the third is refused, `podid selftest` checks the live
agent from the node (as `kubectl exec` would), and everything is torn
down.  Run as root from the repository root.
"""

import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "e2e"))
from topo import Topo  # noqa: E402

ORDERS_MI = "5f0c1a52-3a8e-4a55-9d1f-2e7a1b4c9d01"
WEB_SP = "7a2d4c61-0b3e-4f5a-8c9d-1e2f3a4b5c6d"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SECRET = "demo-secret~not.a.real.one"
POLICY = """\
identity orders-mi {
    kind      managed
    client-id "%(mi)s"
}

identity web-sp {
    kind        secret
    tenant      "%(tenant)s"
    client-id   "%(sp)s"
    secret-file "%(dir)s/web-sp.secret"
}

bind orders {
    identity  orders-mi
    namespace shop
    label     app = orders
}

bind web {
    identity  web-sp
    namespace shop
    label     app = web
}
"""
PODID = os.path.join(os.environ.get("O", "build"), "podid")


def say(text):
    print("\n\033[1m# %s\033[0m" % text, flush=True)


def show(code, body):
    if isinstance(body, dict) and "access_token" in body:
        body = dict(body, access_token=body["access_token"][:24] + "...")
    print("HTTP %d %s" % (code, json.dumps(body, indent=None)), flush=True)


def selftest(t, *args):
    say("podid selftest %s(in the node, beside the agent)" %
        "".join(a + " " for a in args))
    r = subprocess.run(["ip", "netns", "exec", t.node, PODID, "selftest"] +
                       list(args), capture_output=True, text=True)
    print(r.stdout + r.stderr, end="", flush=True)
    print("(exit %d)" % r.returncode, flush=True)
    return r.returncode


def main():
    rc = 0
    with Topo(npods=3) as t:
        say("a node namespace, three pod namespaces on veths, the fakes")
        t.start_kube()
        t.start_imds([{
            "client_id": ORDERS_MI,
            "object_id": "8e3b6d1c-2f4a-4c5e-9b7d-0a1c2e3f4a5b",
            "msi_res_id": "/subscriptions/0b1f6471-1bf0-4dda-aec3-"
                          "cb9272f09590/resourceGroups/demo/providers/"
                          "Microsoft.ManagedIdentity/"
                          "userAssignedIdentities/orders"}])
        authority = t.start_aad()
        t.aad("POST", "/apps", {"tenant": TENANT, "client_id": WEB_SP,
                                "secret": SECRET})
        with open(os.path.join(t.dir, "web-sp.secret"), "w") as f:
            f.write(SECRET + "\n")
        policy = os.path.join(t.dir, "policy.pol")
        with open(policy, "w") as f:
            f.write(POLICY % {"mi": ORDERS_MI, "sp": WEB_SP,
                              "tenant": TENANT, "dir": t.dir})
        t.add_pod(0, "shop", "orders-7d9", {"app": "orders"})
        t.add_pod(1, "shop", "web-5c2", {"app": "web"})
        t.add_pod(2, "shop", "batch-1f0", {"app": "batch"})
        say("podid run --policy policy.pol --rules keep (the policy:)")
        with open(policy) as f:
            print(f.read(), end="")
        t.start_podid(policy, "--aad-authority", authority,
                      "--ca-file", t.ca, rules="keep")
        print("podid is ready; its interception rules:", flush=True)
        r = subprocess.run(["ip", "netns", "exec", t.node, PODID, "rules",
                            "status", "--node-ip", t.node_ip],
                           capture_output=True, text=True)
        print(r.stdout + r.stderr, end="", flush=True)
        say("pod shop/orders-7d9 asks 169.254.169.254 for a token "
            "(a managed identity, through the node's IMDS)")
        show(*t.curl_token(0))
        say("pod shop/web-5c2 asks the same address "
            "(a service principal, through Azure AD)")
        show(*t.curl_token(1))
        say("pod shop/batch-1f0, which the policy grants nothing, asks too")
        show(*t.curl_token(2))
        say("the audit lines podid wrote")
        for line in t.log("podid").splitlines():
            if '"stream":"audit"' in line:
                print(line)
        rc |= selftest(t)
        rc |= selftest(t, "--pod", "shop/web-5c2", "--resource",
                       "https://vault.azure.net")
        say("tearing everything down")
    return rc


if __name__ == "__main__":
    sys.exit(main())
