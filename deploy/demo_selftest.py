"""The live demo (deploy/demo_node.py) with `podid selftest` at its end.

Runs demo_node.py's whole flow unchanged and, once the pods have fetched
their tokens and before everything is torn down, runs `podid selftest`
in the node's network namespace (beside the agent, as `kubectl exec`
would), then once more for the orders pod with a token fetched through
the agent.  Run as root from the repository root (deploy/demo.sh does).
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
sys.dont_write_bytecode = True
import demo_node  # noqa: E402
import topo  # noqa: E402

PODID = os.path.join(os.environ.get("O", "build"), "podid")
state = {"topo": None, "done": False}


def selftest(t, *args):
    demo_node.say("podid selftest %s(in the node, beside the agent)" %
                  ("".join(a + " " for a in args)))
    r = subprocess.run(["ip", "netns", "exec", t.node, PODID, "selftest"] +
                       list(args), capture_output=True, text=True)
    print(r.stdout + r.stderr, end="", flush=True)
    print("(exit %d)" % r.returncode, flush=True)


def run_selftests():
    t = state["topo"]
    if t is None or state["done"]:
        return
    state["done"] = True
    selftest(t)
    selftest(t, "--pod", "shop/orders-7d9", "--resource",
             "https://vault.azure.net")


def hook():
    """Selftest just before the teardown: wraps Topo.start_podid (to know
    the topology) and demo_node.say (to know the moment)."""
    start, say = topo.Topo.start_podid, demo_node.say

    def start_podid(self, *a, **kw):
        start(self, *a, **kw)
        state["topo"] = self

    def say_then(text):
        if text.startswith("tearing everything down"):
            run_selftests()
        say(text)

    topo.Topo.start_podid = start_podid
    demo_node.Topo.start_podid = start_podid
    demo_node.say = say_then


if __name__ == "__main__":
    hook()
    rc = demo_node.main()
    if not state["done"]:
        print("demo_selftest: demo_node.py changed: selftest did not run")
        rc = 1
    sys.exit(rc)
