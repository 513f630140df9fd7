#!/usr/bin/env python3
"""Checks deploy/kubernetes/*.yaml the way the API server would, offline.

    O=build python3 tests/deploy/manifests_test.py

No cluster and no kubectl needed (python3-yaml only).  Each check is a
function of the parsed documents returning its problems; the suite runs
every check on the real manifests (no problem allowed), then on mutated
copies (an added capability, a widened RBAC verb, a flag podid lacks, ...)
where the check must object, so none of them can pass vacuously.

What is checked:
  - every document parses; apiVersion, kind, metadata.name (and namespace)
    are right for the kind; no field Kubernetes does not know (a typo such
    as readOnlyRootFileSystem is silently dropped by a lenient apply);
  - the DaemonSet: selector matches the template labels, container names,
    volumeMounts name volumes (and every volume is used), downward-API
    fieldPaths are ones the kubelet accepts, $(VAR) in args names an env
    var of the same container, probes on the port podid listens on,
    hostNetwork, DNS policy, tolerations, priority, update strategy,
    resources, file modes and the service account token's projection;
  - each container's securityContext exactly as designed (so adding a
    capability fails), and the RBAC rules exactly as designed (so widening
    them fails);
  - the ConfigMap's policy is policy/examples/team.pol and passes
    `$O/podid policy check`; the agent's args use only flags that
    `$O/podid run --help` lists (the init container's likewise against
    `podid rules --help`, once podid has that command);
  - the kustomization lists every manifest (and `kubectl kustomize`
    renders it, where kubectl exists).
Ends with "N passed, N failed"; exits 1 on failure.
"""

import copy
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    print("python3-yaml is missing: sh deploy/deps.sh installs it")
    print("0 passed, 1 failed")
    sys.exit(1)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KDIR = os.path.join(ROOT, "deploy", "kubernetes")
O = os.environ.get("O", "build")
PODID = os.path.join(O if os.path.isabs(O) else os.path.join(ROOT, O),
                     "podid")
TEAM_POL = os.path.join(ROOT, "policy", "examples", "team.pol")
PORT = 2579
NS = "podid"
RESULTS = {"pass": 0, "fail": 0, "skip": 0}

# ------------------------------------------------------ the design, as data

SEC_INIT = {
    "runAsUser": 0,
    "runAsNonRoot": False,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "seccompProfile": {"type": "RuntimeDefault"},
    "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]},
}
SEC_MAIN = {
    "runAsNonRoot": True,
    "runAsUser": 65534,
    "runAsGroup": 65534,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "seccompProfile": {"type": "RuntimeDefault"},
    "capabilities": {"drop": ["ALL"]},
}
RBAC_RULES = [
    {"apiGroups": [""], "resources": ["pods"],
     "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["serviceaccounts/token"],
     "verbs": ["create"]},
]
RESOURCES = {"requests": {"cpu": "10m", "memory": "16Mi"},
             "limits": {"cpu": "100m", "memory": "64Mi"}}
ENV_WANT = {"NODE_NAME": "spec.nodeName", "HOST_IP": "status.hostIP"}

API_VERSION = {
    "Namespace": "v1", "ServiceAccount": "v1", "ConfigMap": "v1",
    "ClusterRole": "rbac.authorization.k8s.io/v1",
    "ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
    "DaemonSet": "apps/v1",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}

# fieldPaths the kubelet resolves for env (pods/v1 EnvVarSource).
ENV_FIELDS = {"metadata.name", "metadata.namespace", "metadata.uid",
              "spec.nodeName", "spec.serviceAccountName", "status.hostIP",
              "status.hostIPs", "status.podIP", "status.podIPs"}
# ... and for downwardAPI volume files.
VOL_FIELDS = {"metadata.name", "metadata.namespace", "metadata.uid",
              "metadata.labels", "metadata.annotations"}

# The fields of the API objects these manifests use (core/v1, apps/v1,
# rbac/v1), for the unknown-field check.  A name maps to a nested schema:
# a dict of the same kind, "list:" + one, "map" (free keys), or None (a
# scalar or a structure not descended into).
S = {}
S["meta"] = {"name": None, "namespace": None, "labels": "map",
             "annotations": "map", "generateName": None}
S["fieldref"] = {"fieldPath": None, "apiVersion": None}
S["env"] = {"name": None, "value": None, "valueFrom": {
    "fieldRef": S["fieldref"], "resourceFieldRef": None,
    "configMapKeyRef": None, "secretKeyRef": None}}
S["caps"] = {"add": None, "drop": None}
S["seccomp"] = {"type": None, "localhostProfile": None}
S["csec"] = {"runAsUser": None, "runAsGroup": None, "runAsNonRoot": None,
             "readOnlyRootFilesystem": None,
             "allowPrivilegeEscalation": None, "privileged": None,
             "capabilities": S["caps"], "seccompProfile": S["seccomp"],
             "seLinuxOptions": None, "procMount": None,
             "appArmorProfile": None, "windowsOptions": None}
S["psec"] = {"runAsUser": None, "runAsGroup": None, "runAsNonRoot": None,
             "fsGroup": None, "fsGroupChangePolicy": None,
             "supplementalGroups": None, "seccompProfile": S["seccomp"],
             "seLinuxOptions": None, "sysctls": None,
             "appArmorProfile": None, "windowsOptions": None}
S["probe"] = {"httpGet": {"path": None, "port": None, "host": None,
                          "scheme": None, "httpHeaders": None},
              "tcpSocket": None, "exec": None, "grpc": None,
              "initialDelaySeconds": None, "periodSeconds": None,
              "timeoutSeconds": None, "successThreshold": None,
              "failureThreshold": None,
              "terminationGracePeriodSeconds": None}
S["resources"] = {"requests": "map", "limits": "map", "claims": None}
S["container"] = {
    "name": None, "image": None, "imagePullPolicy": None, "command": None,
    "args": None, "workingDir": None, "env": "list:env", "envFrom": None,
    "ports": "list:port", "resources": S["resources"],
    "volumeMounts": "list:mount", "livenessProbe": S["probe"],
    "readinessProbe": S["probe"], "startupProbe": S["probe"],
    "securityContext": S["csec"], "lifecycle": None,
    "terminationMessagePath": None, "terminationMessagePolicy": None,
    "stdin": None, "tty": None, "restartPolicy": None,
    "resizePolicy": None, "volumeDevices": None}
S["port"] = {"name": None, "containerPort": None, "hostPort": None,
             "protocol": None, "hostIP": None}
S["mount"] = {"name": None, "mountPath": None, "readOnly": None,
              "subPath": None, "subPathExpr": None,
              "mountPropagation": None, "recursiveReadOnly": None}
S["keypath"] = {"key": None, "path": None, "mode": None}
S["dapi_item"] = {"path": None, "fieldRef": S["fieldref"],
                  "resourceFieldRef": None, "mode": None}
S["projection"] = {
    "serviceAccountToken": {"path": None, "expirationSeconds": None,
                            "audience": None},
    "configMap": {"name": None, "items": "list:keypath", "optional": None},
    "secret": None, "downwardAPI": {"items": "list:dapi_item"},
    "clusterTrustBundle": None}
S["volume"] = {
    "name": None,
    "configMap": {"name": None, "defaultMode": None, "items": "list:keypath",
                  "optional": None},
    "projected": {"defaultMode": None, "sources": "list:projection"},
    "secret": None, "emptyDir": None, "hostPath": None,
    "downwardAPI": None}
S["toleration"] = {"key": None, "operator": None, "value": None,
                   "effect": None, "tolerationSeconds": None}
S["podspec"] = {
    "serviceAccountName": None, "automountServiceAccountToken": None,
    "hostNetwork": None, "hostPID": None, "hostIPC": None,
    "dnsPolicy": None, "priorityClassName": None, "priority": None,
    "terminationGracePeriodSeconds": None, "tolerations": "list:toleration",
    "securityContext": S["psec"], "initContainers": "list:container",
    "containers": "list:container", "volumes": "list:volume",
    "nodeSelector": "map", "affinity": None, "restartPolicy": None,
    "imagePullSecrets": None, "enableServiceLinks": None,
    "dnsConfig": None, "hostname": None, "schedulerName": None,
    "runtimeClassName": None, "shareProcessNamespace": None,
    "topologySpreadConstraints": None}
S["daemonset"] = {
    "selector": {"matchLabels": "map", "matchExpressions": None},
    "updateStrategy": {"type": None, "rollingUpdate": {
        "maxUnavailable": None, "maxSurge": None}},
    "template": {"metadata": S["meta"], "spec": S["podspec"]},
    "minReadySeconds": None, "revisionHistoryLimit": None}
S["rule"] = {"apiGroups": None, "resources": None, "verbs": None,
             "resourceNames": None, "nonResourceURLs": None}
S["subject"] = {"kind": None, "name": None, "namespace": None,
                "apiGroup": None}
TOP = {
    "Namespace": {"spec": None},
    "ServiceAccount": {"automountServiceAccountToken": None,
                       "secrets": None, "imagePullSecrets": None},
    "ConfigMap": {"data": "map", "binaryData": "map", "immutable": None},
    "ClusterRole": {"rules": "list:rule", "aggregationRule": None},
    "ClusterRoleBinding": {"roleRef": {"apiGroup": None, "kind": None,
                                       "name": None},
                           "subjects": "list:subject"},
    "DaemonSet": {"spec": S["daemonset"]},
}


# ------------------------------------------------------------- harness

def result(ok, name, why=""):
    RESULTS["pass" if ok else "fail"] += 1
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + why))


def skip(name, why):
    RESULTS["skip"] += 1
    print("skip " + name + ": " + why)


def load(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def load_all():
    docs = []
    for path in sorted(glob.glob(os.path.join(KDIR, "*.yaml"))):
        if os.path.basename(path) != "kustomization.yaml":
            docs.extend((os.path.basename(path), d) for d in load(path))
    return docs


def one(docs, kind):
    found = [d for _, d in docs if d.get("kind") == kind]
    return found[0] if len(found) == 1 else None


def podspec(docs):
    ds = one(docs, "DaemonSet")
    return ds["spec"]["template"]["spec"]


def containers(docs):
    """(role, container): "init" for init containers, else "main"."""
    spec = podspec(docs)
    return ([("init", c) for c in spec.get("initContainers", [])] +
            [("main", c) for c in spec.get("containers", [])])


def flags_of(help_text):
    return set(re.findall(r"--[a-z][a-z0-9-]*", help_text))


def run(*argv):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


# -------------------------------------------------------------- checks
# Each returns a list of problems (empty: fine).

def unknown_fields(node, schema, where):
    """Fields of node that schema does not know, recursively."""
    if schema is None or schema == "map" or not isinstance(node, dict):
        return []
    out = []
    for k, v in node.items():
        if k not in schema:
            out.append("%s: unknown field %r" % (where, k))
            continue
        sub = schema[k]
        if isinstance(sub, str) and sub.startswith("list:"):
            if not isinstance(v, list):
                out.append("%s.%s: not a list" % (where, k))
                continue
            for i, item in enumerate(v):
                out += unknown_fields(item, S[sub[5:]],
                                      "%s.%s[%d]" % (where, k, i))
        else:
            out += unknown_fields(v, sub, where + "." + k)
    return out


DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUB = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def check_objects(docs):
    out = []
    for fname, d in docs:
        kind = d.get("kind")
        where = "%s %s" % (fname, kind)
        if kind not in API_VERSION:
            out.append("%s: unexpected kind" % where)
            continue
        if d.get("apiVersion") != API_VERSION[kind]:
            out.append("%s: apiVersion %r, want %r" %
                       (where, d.get("apiVersion"), API_VERSION[kind]))
        meta = d.get("metadata") or {}
        name = meta.get("name", "")
        pat = DNS_LABEL if kind in ("Namespace", "ServiceAccount") else DNS_SUB
        if not pat.match(name or ""):
            out.append("%s: bad metadata.name %r" % (where, name))
        if kind in CLUSTER_SCOPED and "namespace" in meta:
            out.append("%s: cluster-scoped but has a namespace" % where)
        if kind not in CLUSTER_SCOPED and meta.get("namespace") != NS:
            out.append("%s: namespace %r, want %r" %
                       (where, meta.get("namespace"), NS))
        schema = dict(TOP[kind], apiVersion=None, kind=None,
                      metadata=S["meta"])
        out += unknown_fields(d, schema, where)
    kinds = sorted(d.get("kind", "") for _, d in docs)
    want = sorted(API_VERSION)
    if kinds != want:
        out.append("kinds %s, want one each of %s" % (kinds, want))
    return out


def check_selector(docs):
    ds = one(docs, "DaemonSet")
    sel = ds["spec"].get("selector", {}).get("matchLabels") or {}
    labels = ds["spec"]["template"].get("metadata", {}).get("labels") or {}
    out = []
    if not sel:
        out.append("DaemonSet selector has no matchLabels")
    for k, v in sel.items():
        if labels.get(k) != v:
            out.append("selector %s=%s not among the template labels" % (k, v))
    return out


def check_containers(docs):
    out, seen = [], set()
    for role, c in containers(docs):
        name = c.get("name", "")
        if not DNS_LABEL.match(name) or name in seen:
            out.append("container name %r invalid or repeated" % name)
        seen.add(name)
        if not c.get("image"):
            out.append("%s: no image" % name)
        env = {e["name"]: e for e in c.get("env", [])}
        for e in c.get("env", []):
            fp = e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
            if fp is not None and fp not in ENV_FIELDS:
                out.append("%s: env %s: fieldPath %r is not one the kubelet "
                           "resolves" % (name, e["name"], fp))
        for a in c.get("args", []) + c.get("command", []):
            for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", str(a)):
                if ref not in env:
                    out.append("%s: $(%s) in args is not an env var of the "
                               "container (it would stay literal)" %
                               (name, ref))
        for var, path in ENV_WANT.items():
            got = env.get(var, {}).get("valueFrom", {}).get(
                "fieldRef", {}).get("fieldPath")
            if var in env and got != path:
                out.append("%s: %s from %r, want %r" % (name, var, got, path))
        if role == "main" and set(ENV_WANT) - set(env):
            out.append("%s: env lacks %s" % (name, set(ENV_WANT) - set(env)))
    return out


def check_volumes(docs):
    spec = podspec(docs)
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    out, used = [], set()
    for _, c in containers(docs):
        for m in c.get("volumeMounts", []):
            if m.get("name") not in vols:
                out.append("%s: volumeMount %r names no volume" %
                           (c["name"], m.get("name")))
            if not m.get("readOnly"):
                out.append("%s: mount %s is not readOnly" %
                           (c["name"], m.get("mountPath")))
            if "subPath" in m:
                out.append("%s: subPath mounts never see ConfigMap updates" %
                           c["name"])
            used.add(m.get("name"))
    for n in vols:
        if n not in used:
            out.append("volume %r is mounted nowhere" % n)
    if len(vols) != len(spec.get("volumes", [])):
        out.append("volume names repeated")
    return out


def sa_dir():
    with open(os.path.join(ROOT, "agent", "kube.h"), encoding="utf-8") as f:
        m = re.search(r'#define KUBE_SA_DIR\s+"([^"]+)"', f.read())
    return m.group(1) if m else None


def main_container(docs):
    return [c for r, c in containers(docs) if r == "main"][0]


def check_policy_volume(docs):
    """The ConfigMap at /etc/podid/policy, 0440, and --policy inside it."""
    spec, c = podspec(docs), main_container(docs)
    cm = one(docs, "ConfigMap")
    vol = [v for v in spec.get("volumes", []) if "configMap" in v]
    out = []
    if len(vol) != 1:
        return ["want exactly one ConfigMap volume"]
    src = vol[0]["configMap"]
    if src.get("name") != cm["metadata"]["name"]:
        out.append("ConfigMap volume names %r, the ConfigMap is %r" %
                   (src.get("name"), cm["metadata"]["name"]))
    if src.get("defaultMode") != 0o440:
        out.append("policy defaultMode %r, want 0440" % src.get("defaultMode"))
    mounts = [m for m in c.get("volumeMounts", [])
              if m["name"] == vol[0]["name"]]
    args = c.get("args", [])
    pol = args[args.index("--policy") + 1] if "--policy" in args[:-1] else ""
    if not mounts or mounts[0]["mountPath"] != "/etc/podid/policy":
        out.append("policy not mounted at /etc/podid/policy")
    elif os.path.dirname(pol) != mounts[0]["mountPath"] or \
            os.path.basename(pol) not in cm.get("data", {}):
        out.append("--policy %r is not a key of the mounted ConfigMap" % pol)
    return out


def check_token_volume(docs):
    spec, c = podspec(docs), main_container(docs)
    sa = one(docs, "ServiceAccount")
    out = []
    if spec.get("serviceAccountName") != sa["metadata"]["name"]:
        out.append("serviceAccountName is not the ServiceAccount's name")
    if spec.get("automountServiceAccountToken") is not False:
        out.append("the pod automounts the token (into the root init "
                   "container too)")
    vol = [v for v in spec.get("volumes", []) if "projected" in v]
    if len(vol) != 1:
        return out + ["want exactly one projected volume"]
    p = vol[0]["projected"]
    if p.get("defaultMode") != 0o440:
        out.append("token defaultMode %r, want 0440" % p.get("defaultMode"))
    files = {}
    for s in p.get("sources", []):
        if "serviceAccountToken" in s:
            t = s["serviceAccountToken"]
            files[t.get("path")] = "token"
            if t.get("expirationSeconds") != 3607 or "audience" in t:
                out.append("token: want expirationSeconds 3607, the "
                           "default audience")
        for it in s.get("configMap", {}).get("items", []):
            if s["configMap"].get("name") == "kube-root-ca.crt":
                files[it.get("path")] = it.get("key")
        for it in s.get("downwardAPI", {}).get("items", []):
            fp = it.get("fieldRef", {}).get("fieldPath")
            if fp not in VOL_FIELDS:
                out.append("downwardAPI fieldPath %r invalid" % fp)
            files[it.get("path")] = fp
    want = {"token": "token", "ca.crt": "ca.crt",
            "namespace": "metadata.namespace"}
    if files != want:
        out.append("projected files %r, want %r" % (files, want))
    cm = [m["mountPath"] for m in c.get("volumeMounts", [])
          if m["name"] == vol[0]["name"]]
    if cm != [sa_dir()]:
        out.append("token not mounted at %s in the agent" % sa_dir())
    for role, cc in containers(docs):
        if role == "init" and any(m["name"] == vol[0]["name"]
                                  for m in cc.get("volumeMounts", [])):
            out.append("the init container mounts the token")
    return out


def check_probes(docs):
    c = main_container(docs)
    args = c.get("args", [])
    listen = args[args.index("--listen") + 1] if "--listen" in args else ""
    out = []
    if listen != "$(HOST_IP):%d" % PORT:
        out.append("--listen %r, want $(HOST_IP):%d" % (listen, PORT))
    ports = [p.get("containerPort") for p in c.get("ports", [])]
    if ports != [PORT]:
        out.append("containerPort %r, want [%d]" % (ports, PORT))
    for key, path in (("livenessProbe", "/healthz"),
                      ("readinessProbe", "/readyz")):
        g = (c.get(key) or {}).get("httpGet") or {}
        if g.get("path") != path or g.get("port") != PORT:
            out.append("%s: %r, want httpGet %s on %d" % (key, g, path, PORT))
        if "host" in g:
            out.append("%s: host set; under hostNetwork the pod IP is the "
                       "host IP" % key)
    return out


def check_pod(docs):
    ds = one(docs, "DaemonSet")
    spec = podspec(docs)
    want = {
        "hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet",
        "priorityClassName": "system-node-critical",
        "tolerations": [{"operator": "Exists"}],
    }
    out = ["%s: %r, want %r" % (k, spec.get(k), v)
           for k, v in want.items() if spec.get(k) != v]
    if spec.get("securityContext", {}).get("fsGroup") != 65534:
        out.append("pod securityContext.fsGroup is not 65534")
    us = ds["spec"].get("updateStrategy")
    if us != {"type": "RollingUpdate",
              "rollingUpdate": {"maxUnavailable": 1}}:
        out.append("updateStrategy %r" % us)
    for role, c in containers(docs):
        if c.get("resources") != RESOURCES:
            out.append("%s: resources %r" % (c["name"], c.get("resources")))
    return out


def check_security(docs):
    """Each container's securityContext is exactly the designed one."""
    out = []
    roles = [r for r, _ in containers(docs)]
    if roles != ["init", "main"]:
        out.append("want one init container and one container, got %r" %
                   roles)
    for role, c in containers(docs):
        want = SEC_INIT if role == "init" else SEC_MAIN
        got = c.get("securityContext")
        if got != want:
            out.append("%s: securityContext %r, want %r" %
                       (c["name"], got, want))
    return out


def check_rbac(docs):
    role = one(docs, "ClusterRole")
    bind = one(docs, "ClusterRoleBinding")
    sa = one(docs, "ServiceAccount")
    out = []
    if role.get("rules") != RBAC_RULES:
        out.append("ClusterRole rules %r, want exactly %r" %
                   (role.get("rules"), RBAC_RULES))
    if bind.get("roleRef") != {"apiGroup": "rbac.authorization.k8s.io",
                               "kind": "ClusterRole",
                               "name": role["metadata"]["name"]}:
        out.append("roleRef %r" % bind.get("roleRef"))
    if bind.get("subjects") != [{"kind": "ServiceAccount",
                                 "name": sa["metadata"]["name"],
                                 "namespace": NS}]:
        out.append("subjects %r" % bind.get("subjects"))
    if sa.get("automountServiceAccountToken") is not False:
        out.append("ServiceAccount automounts its token")
    return out


def check_run_flags(docs, run_help):
    c = main_container(docs)
    args = c.get("args", [])
    out = []
    if args[:1] != ["run"]:
        out.append("the agent's args do not start with run: %r" % args)
    for a in args:
        f = str(a).split("=", 1)[0]
        if f.startswith("--") and f not in run_help:
            out.append("podid run has no flag %s" % f)
    return out


def check_rules_flags(docs, rules_help):
    out = []
    for role, c in containers(docs):
        if role != "init":
            continue
        args = c.get("args", [])
        if args[:2] != ["rules", "install"]:
            out.append("the init container does not run `rules install`")
        opt = dict(zip(args[2::2], args[3::2]))
        if opt.get("--node-ip") != "$(HOST_IP)" or \
                opt.get("--port") != str(PORT):
            out.append("rules install does not send to $(HOST_IP):%d: %r" %
                       (PORT, args))
        for a in args:
            f = str(a).split("=", 1)[0]
            if f.startswith("--") and f not in rules_help:
                out.append("podid rules has no flag %s" % f)
    return out


def check_policy_content(docs):
    cm = one(docs, "ConfigMap")
    data = cm.get("data") or {}
    with open(TEAM_POL, encoding="utf-8") as f:
        team = f.read()
    out = []
    if list(data) != ["policy.pol"]:
        out.append("ConfigMap keys %r, want ['policy.pol']" % list(data))
    if data.get("policy.pol") != team:
        out.append("policy.pol differs from policy/examples/team.pol")
    return out


def policy_check(docs):
    """`podid policy check` on the ConfigMap's policy, from a temp file."""
    text = (one(docs, "ConfigMap").get("data") or {}).get("policy.pol", "")
    d = tempfile.mkdtemp()
    try:
        path = os.path.join(d, "policy.pol")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        rc, msg = run(PODID, "policy", "check", path)
    finally:
        shutil.rmtree(d)
    return [] if rc == 0 else ["podid policy check: exit %d: %s" %
                               (rc, msg.strip())]


def check_kustomization(kust, files):
    out = []
    res = kust.get("resources", [])
    if sorted(res) != sorted(files):
        out.append("kustomization resources %r, files %r" %
                   (sorted(res), sorted(files)))
    if len(set(res)) != len(res):
        out.append("a resource is listed twice")
    if kust.get("namespace") != NS:
        out.append("kustomization namespace %r" % kust.get("namespace"))
    if kust.get("apiVersion") != "kustomize.config.k8s.io/v1beta1" or \
            kust.get("kind") != "Kustomization":
        out.append("kustomization apiVersion/kind")
    return out


# ------------------------------------------------------------ mutations
# (name, check, edit): the edit applied to a copy must make check object.

def _main(d):
    return main_container(d)


def _init(d):
    return [c for r, c in containers(d) if r == "init"][0]


def _ds(d):
    return one(d, "DaemonSet")


MUTATIONS = [
    ("main gains NET_RAW", check_security,
     lambda d: _main(d)["securityContext"]["capabilities"].setdefault(
         "add", []).append("NET_RAW")),
    ("init gains SYS_ADMIN", check_security,
     lambda d: _init(d)["securityContext"]["capabilities"]["add"].append(
         "SYS_ADMIN")),
    ("main privileged", check_security,
     lambda d: _main(d)["securityContext"].update(privileged=True)),
    ("main drops nothing", check_security,
     lambda d: _main(d)["securityContext"]["capabilities"].update(drop=[])),
    ("init escalates", check_security,
     lambda d: _init(d)["securityContext"].update(
         allowPrivilegeEscalation=True)),
    ("pods verbs widened", check_rbac,
     lambda d: one(d, "ClusterRole")["rules"][0]["verbs"].append("delete")),
    ("secrets readable", check_rbac,
     lambda d: one(d, "ClusterRole")["rules"].append(
         {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]})),
    ("misspelt field", check_objects,
     lambda d: _main(d)["securityContext"].update(
         readOnlyRootFileSystem=True)),
    ("wrong apiVersion", check_objects,
     lambda d: _ds(d).update(apiVersion="extensions/v1beta1")),
    ("bad name", check_objects,
     lambda d: one(d, "ServiceAccount")["metadata"].update(name="Podid")),
    ("selector mismatch", check_selector,
     lambda d: _ds(d)["spec"]["selector"]["matchLabels"].update(x="y")),
    ("mount without volume", check_volumes,
     lambda d: _main(d)["volumeMounts"].append(
         {"name": "nope", "mountPath": "/x", "readOnly": True})),
    ("bad fieldPath", check_containers,
     lambda d: _main(d)["env"][0]["valueFrom"]["fieldRef"].update(
         fieldPath="spec.hostIP")),
    ("undefined $(VAR)", check_containers,
     lambda d: _main(d)["args"].append("$(NODE_IP)")),
    ("duplicate container name", check_containers,
     lambda d: _init(d).update(name=_main(d)["name"])),
    ("probe on another port", check_probes,
     lambda d: _main(d)["readinessProbe"]["httpGet"].update(port=8080)),
    ("hostNetwork off", check_pod,
     lambda d: podspec(d).update(hostNetwork=False)),
    ("bigger limits", check_pod,
     lambda d: _main(d)["resources"]["limits"].update(memory="1Gi")),
    ("token automounted", check_token_volume,
     lambda d: podspec(d).update(automountServiceAccountToken=True)),
    ("token world-readable", check_token_volume,
     lambda d: [v for v in podspec(d)["volumes"] if "projected" in v][0][
         "projected"].update(defaultMode=0o644)),
    ("policy key renamed", check_policy_volume,
     lambda d: _main(d)["args"].__setitem__(
         _main(d)["args"].index("--policy") + 1, "/etc/podid/policy/x.pol")),
    ("policy drift", check_policy_content,
     lambda d: one(d, "ConfigMap")["data"].update(
         {"policy.pol": "# nothing\n"})),
    ("broken policy", policy_check,
     lambda d: one(d, "ConfigMap")["data"].update(
         {"policy.pol": "identity x {\n    kind magic\n}\n"})),
]


# -------------------------------------------------------------- main

def main():
    try:
        docs = load_all()
        kust = load(os.path.join(KDIR, "kustomization.yaml"))[0]
    except (OSError, yaml.YAMLError) as e:
        result(False, "parse", str(e))
        return finish()
    result(bool(docs), "parse: %d documents" % len(docs), "none")
    files = [os.path.basename(p) for p in glob.glob(os.path.join(KDIR, "*"))
             if os.path.basename(p) != "kustomization.yaml"]
    result(all(f.endswith(".yaml") for f in files), "only .yaml files",
           repr(files))
    structural = [check_objects, check_selector, check_containers,
                  check_volumes, check_policy_volume, check_token_volume,
                  check_probes, check_pod, check_security, check_rbac,
                  check_policy_content]
    bad = check_objects(docs)
    result(not bad, "check_objects", "; ".join(bad))
    if bad:
        return finish()  # the rest assumes one object of each kind
    for fn in structural[1:]:
        bad = fn(docs)
        result(not bad, fn.__name__, "; ".join(bad))
    bad = check_kustomization(kust, files)
    result(not bad, "check_kustomization", "; ".join(bad))
    run_with_podid(docs)
    for name, fn, edit in MUTATIONS:
        d = copy.deepcopy(docs)
        edit(d)
        result(bool(fn(d)), "mutation objected to: " + name,
               fn.__name__ + " accepted it")
    bad = check_kustomization(dict(kust, resources=kust["resources"][1:]),
                              files)
    result(bool(bad), "mutation objected to: a file left out of the "
           "kustomization", "check_kustomization accepted it")
    kubectl_kustomize(docs)
    return finish()


def run_with_podid(docs):
    if not os.access(PODID, os.X_OK):
        result(False, "podid binary", PODID + " missing: make first")
        return
    bad = policy_check(docs)
    result(not bad, "podid policy check on the ConfigMap", "; ".join(bad))
    rc, text = run(PODID, "run", "--help")
    run_help = flags_of(text)
    result(rc == 0 and "--listen" in run_help, "podid run --help lists flags",
           text)
    bad = check_run_flags(docs, run_help)
    result(not bad, "agent args use podid run's flags", "; ".join(bad))
    d = copy.deepcopy(docs)
    main_container(d)["args"] += ["--no-such-flag", "1"]
    result(bool(check_run_flags(d, run_help)),
           "mutation objected to: an unknown run flag", "accepted")
    rc, text = run(PODID, "--help")
    if not re.search(r"^\s+rules\s", text, re.M):
        skip("init container args", "podid has no rules command yet "
             "(podid --help)")
        return
    rc, text = run(PODID, "rules", "--help")
    rules_help = flags_of(text)
    bad = check_rules_flags(docs, rules_help)
    result(rc == 0 and not bad, "init args use podid rules' flags",
           "; ".join(bad) or text)
    for what, extra in (("an unknown rules flag", ["--no-such-flag", "1"]),
                        ("another port", ["--port", "2580"])):
        d = copy.deepcopy(docs)
        _init(d)["args"] += extra
        result(bool(check_rules_flags(d, rules_help)),
               "mutation objected to: " + what, "accepted")


def kubectl_kustomize(docs):
    """kustomize (YAML 1.2) must read every object as PyYAML (1.1) does:
    the same objects, only the images retagged.  0440 or a bare "on"
    would not survive that comparison."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        skip("kubectl kustomize", "kubectl not installed")
        return
    rc, text = run(kubectl, "kustomize", KDIR)
    if rc != 0:
        result(False, "kubectl kustomize", text[-400:])
        return
    want = {(d["kind"], d["metadata"]["name"]): d for _, d in docs}
    got = {}
    for d in yaml.safe_load_all(text):
        if d is None:
            continue
        d = copy.deepcopy(d)
        if d["kind"] == "DaemonSet":
            spec = d["spec"]["template"]["spec"]
            for c in spec.get("initContainers", []) + spec["containers"]:
                if c.get("image") != "podid:dev":
                    got["image"] = c.get("image")
                c["image"] = "podid"
        got[(d["kind"], d["metadata"]["name"])] = d
    diff = sorted(str(k) for k in set(want) | set(got)
                  if want.get(k) != got.get(k))
    result(not diff, "kubectl kustomize renders the same objects",
           ", ".join(diff))


def finish():
    line = "%d passed, %d failed" % (RESULTS["pass"], RESULTS["fail"])
    if RESULTS["skip"]:
        line += ", %d skipped" % RESULTS["skip"]
    print(line)
    return 1 if RESULTS["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
