"""The live part of the demo: one node, two pods, the whole flow.

A node and two pod network namespaces (tests/e2e/topo.py), the fake
Kubernetes API server listing the pods, a fake IMDS on 169.254.169.254
holding the node's managed identity, podid run with an example policy, the
DNAT rule; then a pod fetches its token with curl exactly as an Azure SDK
would, the other pod is refused, and everything is torn down.  Run as
root from the repository root.
"""

import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "e2e"))
from topo import Topo  # noqa: E402

ORDERS_MI = "5f0c1a52-3a8e-4a55-9d1f-2e7a1b4c9d01"
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
""" % ORDERS_MI


def say(text):
    print("\n\033[1m# %s\033[0m" % text, flush=True)


def show(code, body):
    if isinstance(body, dict) and "access_token" in body:
        body = dict(body, access_token=body["access_token"][:24] + "...")
    print("HTTP %d %s" % (code, json.dumps(body, indent=None)), flush=True)


def main():
    with tempfile.NamedTemporaryFile("w", suffix=".pol", delete=False) as f:
        f.write(POLICY)
        policy = f.name
    try:
        with Topo(npods=2) as t:
            say("a node namespace, two pod namespaces on veths, the fakes")
            t.start_kube()
            t.start_imds([{
                "client_id": ORDERS_MI,
                "object_id": "8e3b6d1c-2f4a-4c5e-9b7d-0a1c2e3f4a5b",
                "msi_res_id": "/subscriptions/0b1f6471-1bf0-4dda-aec3-"
                              "cb9272f09590/resourceGroups/demo/providers/"
                              "Microsoft.ManagedIdentity/"
                              "userAssignedIdentities/orders"}])
            t.add_pod(0, "shop", "orders-7d9", {"app": "orders"})
            t.add_pod(1, "shop", "web-5c2", {"app": "web"})
            t.dnat()
            say("podid run --policy (the policy:)")
            print(POLICY, end="")
            t.start_podid(policy)
            print("podid is ready", flush=True)
            say("pod shop/orders-7d9 asks 169.254.169.254 for a token")
            show(*t.curl_token(0))
            say("pod shop/web-5c2, which the policy grants nothing, asks too")
            show(*t.curl_token(1))
            say("the audit lines podid wrote")
            for line in t.log("podid").splitlines():
                if '"stream":"audit"' in line:
                    print(line)
            say("tearing everything down")
    finally:
        os.unlink(policy)
    return 0


if __name__ == "__main__":
    sys.exit(main())
