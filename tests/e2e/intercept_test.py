"""Issue 6 end to end: podid installs its interception rules itself, keeps
them in place, fails closed, and serves with no privilege at all.

One node and two pod namespaces (tests/e2e/topo.py), the fakes, and
`podid run --rules keep`: no DNAT rule from the harness here.
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from topo import REPO, Results, Topo, sh, wait_for  # noqa: E402

MI = "5f0c1a52-3a8e-4a55-9d1f-2e7a1b4c9d01"
IDENTITY = {
    "client_id": MI,
    "object_id": "11111111-2222-3333-4444-555555555555",
    "msi_res_id": "/subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590/"
                  "resourceGroups/g/providers/Microsoft.ManagedIdentity/"
                  "userAssignedIdentities/orders",
}
POLICY = ('identity orders-mi {\n    kind      managed\n    client-id "%s"\n}\n\n'
          'bind orders {\n    identity  orders-mi\n    namespace shop\n}\n' % MI)
PODID = os.path.join(REPO, os.environ.get("O", "build"), "podid")
CAP_NET_ADMIN = 1 << 12


def nft(t):
    """The installed ruleset of table ip podid, or None."""
    r = sh("nft", "list", "table", "ip", "podid", ns=t.node, check=False)
    return r.stdout if r.returncode == 0 else None


def status_of(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def keeper_pid(t):
    r = sh("pgrep", "-P", str(t.podid.pid), "podid-keeper", check=False)
    if r.returncode != 0:
        # podid runs under `ip netns exec`: look one level down too.
        kids = sh("pgrep", "-P", str(t.podid.pid), check=False).stdout.split()
        for k in kids:
            r = sh("pgrep", "-P", k, "podid-keeper", check=False)
            if r.returncode == 0:
                break
    return int(r.stdout.split()[0]) if r.returncode == 0 else None


def alive(pid):
    """pid runs (a zombie, reaped by nobody yet, does not)."""
    try:
        return status_of(pid).get("State", "Z")[0] not in "ZX"
    except OSError:
        return False


def podid_pid(t):
    """This run's podid: `ip netns exec` execs it, or (older iproute2) its
    child.  Never another run's podid of the same binary, which a search
    by command line finds as well when tests run side by side."""
    pids = [t.podid.pid] + [int(k) for k in sh(
        "pgrep", "-P", str(t.podid.pid), check=False).stdout.split()]
    for p in pids:
        try:
            if status_of(p).get("Name") == "podid":
                return p
        except OSError:
            pass
    return None


def check(cond, what):
    if not cond:
        raise AssertionError(what)


class Case:
    def __init__(self, t, policy):
        self.t = t
        self.policy = policy

    def start(self):
        self.t.start_podid(self.policy, rules="keep")

    # -- cases ------------------------------------------------------------
    def c_rules_and_token(self):
        """podid installs the rules itself; a pod's token flows through them."""
        rs = nft(self.t)
        check(rs is not None, "no table ip podid")
        check("dnat to %s:2579" % self.t.node_ip in rs, "rule: " + rs)
        check(rs.count("dnat to") == 1, "more than one rule: " + rs)
        check("priority dstnat - 10" in rs, "priority: " + rs)
        code, body = self.t.curl_token(0)
        check(code == 200 and "access_token" in body, "token: %r" % ((code, body),))
        iptables = sh("iptables", "-t", "nat", "-S", ns=self.t.node).stdout
        check("DNAT" not in iptables, "podid used iptables: " + iptables)

    def c_no_privileges(self):
        """After start: no capability in any set, no_new_privs, seccomp,
        not root."""
        st = status_of(podid_pid(self.t))
        for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            check(int(st[k], 16) == 0, "%s = %s" % (k, st[k]))
        check(st["NoNewPrivs"] == "1", "NoNewPrivs %s" % st["NoNewPrivs"])
        # A sanitizer build runs without the allowlist (its leak check at
        # exit needs ptrace), and says so; priv_test covers seccomp there.
        want = "0" if "seccomp allowlist off" in self.t.log("podid") else "2"
        check(st["Seccomp"] == want, "Seccomp %s, want %s" % (st["Seccomp"], want))
        check(st["Uid"].split()[0] != "0" and st["Uid"].split()[1] != "0",
              "Uid %s" % st["Uid"])
        check(st["Groups"] == "", "Groups %r" % st["Groups"])
        check("priv: dropped:" in self.t.log("podid"), "no priv log line")

    def c_keeper(self):
        """The keeper holds CAP_NET_ADMIN alone, as an unprivileged user."""
        k = wait_for(lambda: keeper_pid(self.t), timeout=10, what="keeper")
        # podid is ready once it has forked the keeper; the keeper drops
        # its own privileges after that and only then reports "started".
        wait_for(lambda: "rules: keeper started" in self.t.log("podid"),
                 timeout=10, what="the keeper's start report")
        st = status_of(k)
        check(int(st["CapEff"], 16) == CAP_NET_ADMIN, "keeper CapEff %s" % st["CapEff"])
        check(int(st["CapPrm"], 16) == CAP_NET_ADMIN, "keeper CapPrm %s" % st["CapPrm"])
        check(int(st["CapBnd"], 16) == 0, "keeper CapBnd %s" % st["CapBnd"])
        check(st["NoNewPrivs"] == "1", "keeper NoNewPrivs")
        check(st["Uid"].split()[1] != "0", "keeper Uid %s" % st["Uid"])

    def restore_case(self, breaker, what):
        before = nft(self.t)
        m = len(self.t.log("podid"))
        breaker()
        t0 = time.monotonic()
        wait_for(lambda: nft(self.t) == before, timeout=6,
                 what="restoration of " + what)
        took = time.monotonic() - t0
        check(took < 4.5, "restored after %.1fs" % took)
        # The keeper reports after it has installed: the ruleset can be
        # back a moment before podid has written the line.
        try:
            wait_for(lambda: '"rules: restored' in self.t.log("podid")[m:],
                     timeout=10, what="the restoration log line")
        except Exception:
            check(False, "no restoration log line: " + self.t.log("podid")[m:][-500:])
        code, _ = self.t.curl_token(0)
        check(code == 200, "token after restoring %s: %d" % (what, code))

    def c_restore_table(self):
        """A deleted table is put back within the documented 2 s."""
        self.restore_case(lambda: sh("nft", "delete", "table", "ip", "podid",
                                     ns=self.t.node), "the table")

    def c_restore_rule(self):
        """A flushed chain (a resync, an admin) is put back too."""
        self.restore_case(lambda: sh("nft", "flush", "chain", "ip", "podid",
                                     "prerouting", ns=self.t.node), "the rule")

    def c_restore_altered(self):
        """A rule changed to send pods elsewhere is put back."""
        def alter():
            sh("nft", "flush", "chain", "ip", "podid", "prerouting", ns=self.t.node)
            sh("nft", "add", "rule", "ip", "podid", "prerouting", "ip", "daddr",
               "169.254.169.254", "tcp", "dport", "80", "dnat", "to",
               "169.254.169.254:80", ns=self.t.node)
        self.restore_case(alter, "an altered rule")

    def c_status(self):
        """podid rules status: the ruleset, and whether it is podid's."""
        r = sh(PODID, "rules", "status", "--node-ip", self.t.node_ip,
               ns=self.t.node, check=False)
        check(r.returncode == 0, "status exit %d: %s" % (r.returncode, r.stdout + r.stderr))
        check("dnat to %s:2579" % self.t.node_ip in r.stdout, r.stdout)
        r = sh(PODID, "rules", "status", "--node-ip", "10.9.9.9",
               ns=self.t.node, check=False)
        check(r.returncode == 1, "status against another IP: exit %d" % r.returncode)

    def c_kill9_fails_closed(self):
        """kill -9: the rules stay; pods reach neither podid nor IMDS."""
        before = nft(self.t)
        served = self.imds_token_requests()
        pid = podid_pid(self.t)
        keeper = keeper_pid(self.t)
        check(keeper is not None, "no keeper before kill -9")
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: self.t.podid.poll() is not None, timeout=10,
                 what="podid to die")
        # The keeper dies with the agent (PR_SET_PDEATHSIG), a moment
        # after it: until it has, it could still be acting on the rules.
        wait_for(lambda: not alive(keeper), timeout=10,
                 what="the keeper to die with podid")
        time.sleep(2.5)  # past a keeper check: nothing may have moved
        check(nft(self.t) == before, "rules changed after kill -9")
        code, _ = self.t.curl_token(0)
        check(code == 0, "a pod got an answer with podid dead: %d" % code)
        check(self.imds_token_requests() == served, "a pod reached IMDS")

    def c_restart_same_rules(self):
        """A restart serves again; the ruleset is identical, no duplicate."""
        before = nft(self.t)
        self.t.procs = [p for p in self.t.procs if p[0] != "podid"]
        self.start()
        check(nft(self.t) == before, "ruleset changed by the restart")
        check("already in place" in self.t.log("podid"), "install not idempotent")
        code, _ = self.t.curl_token(0)
        check(code == 200, "token after restart: %d" % code)

    def c_warn_first_after_drop(self):
        """At --log-level warn the first line comes after the drop (a rules
        restoration): glibc's time zone set-up must not meet seccomp then."""
        os.kill(podid_pid(self.t), signal.SIGTERM)
        wait_for(lambda: self.t.podid.poll() is not None, timeout=30,
                 what="podid to stop")
        # A clean exit, not a seccomp kill on the way out (keeper_stop).
        check(self.t.podid.returncode == 0,
              "podid exited %s on SIGTERM" % self.t.podid.returncode)
        self.t.procs = [p for p in self.t.procs if p[0] != "podid"]
        self.t.start_podid(self.policy, "--log-level", "warn", rules="keep")
        sh("nft", "delete", "table", "ip", "podid", ns=self.t.node)
        wait_for(lambda: nft(self.t) is not None, timeout=10, what="restore")
        # The keeper reports after installing: podid's line (the first at
        # this level, the one that must not meet seccomp) comes later.
        wait_for(lambda: '"rules: restored' in self.t.log("podid") or
                 self.t.podid.poll() is not None, timeout=10,
                 what="the restoration line, or podid's death")
        check(self.t.podid.poll() is None, "podid died: " + self.t.log("podid")[-300:])
        check('"rules: restored' in self.t.log("podid"),
              "no restoration line: " + self.t.log("podid")[-300:])
        code, _ = self.t.curl_token(0)
        check(code == 200, "token: %d" % code)

    def imds_token_requests(self):
        return self.t.imds("GET", "/state")["token_requests"]


def main():
    res = Results()
    with Topo(npods=2) as t:
        policy = os.path.join(t.dir, "policy.pol")
        with open(policy, "w") as f:
            f.write(POLICY)
        os.chmod(policy, 0o644)
        t.start_kube()
        t.start_imds([IDENTITY])
        t.add_pod(0, "shop", "orders-1")
        t.add_pod(1, "shop", "orders-2")
        # The conntrack cut of pods' earlier connections is shown by
        # tests/e2e/rules_test.py, through the same rules_conntrack_flush.
        c = Case(t, policy)
        c.start()
        for name, fn in (
                ("podid installs its rules; tokens flow", c.c_rules_and_token),
                ("no capability, no_new_privs, seccomp, not root", c.c_no_privileges),
                ("the keeper holds CAP_NET_ADMIN alone", c.c_keeper),
                ("a deleted table is restored", c.c_restore_table),
                ("a flushed chain is restored", c.c_restore_rule),
                ("an altered rule is restored", c.c_restore_altered),
                ("podid rules status", c.c_status),
                ("kill -9: rules stay, pods reach nothing", c.c_kill9_fails_closed),
                ("restart: same ruleset, serves again", c.c_restart_same_rules),
                ("warn-level logs first after the drop", c.c_warn_first_after_drop)):
            res.run(name, fn)
    return res.done()


if __name__ == "__main__":
    sys.exit(main())
