#!/usr/bin/env python3
"""Tests of the strict fake Azure IMDS (tests/fakes/imds.py).

Drives the fake with curl, Python's http.client and raw sockets, then with
the unmodified Azure SDK for JS through tests/e2e/node/getToken.js (skipped,
saying so, when tests/e2e/node/node_modules is absent: run deploy/deps.sh).
Ends with the line "N passed, N failed"; exits non-zero on failure.  Every
process it starts is killed on exit, on failure and after 240 s (a watchdog
for hangs: a loaded CI machine under `make sanitize` takes several times the
20 s of an idle one, most of it in node).  Times are asserted only where the
fake's behaviour is about time, with margins of a second or more.
"""

import base64
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NODE_DIR = os.path.join(ROOT, "tests", "e2e", "node")
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import imds  # noqa: E402

PASSED = 0
FAILED = 0
CURRENT = ["-"]
TESTS = []

TENANT = "aaaaaaaa-0000-4000-8000-000000000001"
OTHER_TENANT = "aaaaaaaa-0000-4000-8000-000000000002"
SUB = "55555555-5555-4555-8555-555555555555"


def arm(name):
    return ("/subscriptions/%s/resourceGroups/rg-test/providers/Microsoft."
            "ManagedIdentity/userAssignedIdentities/%s" % (SUB, name))


SYS = {"client_id": "11111111-1111-4111-8111-111111111111",
       "object_id": "22222222-2222-4222-8222-222222222222"}
UA1 = {"client_id": "33333333-3333-4333-8333-333333333333",
       "object_id": "44444444-4444-4444-8444-444444444444",
       "msi_res_id": arm("one")}
UA2 = {"client_id": "66666666-6666-4666-8666-666666666666",
       "object_id": "77777777-7777-4777-8777-777777777777",
       "msi_res_id": arm("two"), "tenant": OTHER_TENANT}
IDS = {"tenant": TENANT, "system_assigned": SYS, "user_assigned": [UA1, UA2]}
UNKNOWN = "99999999-9999-4999-8999-999999999999"
VAULT = "https://vault.azure.net"
TOKEN = "/metadata/identity/oauth2/token"
V = "api-version=2018-02-01"
FIELDS = ["access_token", "refresh_token", "expires_in", "expires_on",
          "ext_expires_in", "not_before", "resource", "token_type",
          "client_id"]


def check(cond, what):
    global PASSED, FAILED
    if cond:
        PASSED += 1
    else:
        FAILED += 1
        print("FAIL %s: %s" % (CURRENT[0], what))
    return cond


def test(fn):
    TESTS.append(fn)
    return fn


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def err(desc, code="invalid_request"):
    return {"error": code, "error_description": desc}


# ------------------------------------------------------------ the server

class Fake:
    """One running imds.py with its own state dir."""

    def __init__(self, root, name, extra=()):
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        self.state_dir = os.path.join(self.dir, "state")
        self.pf = os.path.join(self.dir, "port")
        self.cf = os.path.join(self.dir, "control-port")
        idf = os.path.join(self.dir, "identities.json")
        with open(idf, "w") as f:
            json.dump(IDS, f)
        self.log = open(os.path.join(self.dir, "stderr"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "imds.py"),
             "--listen", "127.0.0.1:0", "--state-dir", self.state_dir,
             "--port-file", self.pf, "--control-port-file", self.cf,
             "--identities", idf] + list(extra),
            stdout=self.log, stderr=self.log)
        self.port = self.cport = None

    def wait(self):
        deadline = time.monotonic() + 30
        while not os.path.exists(self.pf):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("fake did not start: see %s" %
                                   self.log.name)
            time.sleep(0.02)
        self.port = int(open(self.pf).read())
        self.cport = int(open(self.cf).read())
        return self

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()

    def ctl_raw(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.cport, timeout=10)
        data = None if body is None else json.dumps(body)
        c.request(method, path, data,
                  {"Content-Type": "application/json"} if data else {})
        r = c.getresponse()
        out = json.loads(r.read())
        c.close()
        return r.status, out

    def ctl(self, method, path, body=None):
        st, out = self.ctl_raw(method, path, body)
        if st != 200:
            raise RuntimeError("control %s %s: %d %s" % (method, path, st,
                                                         out))
        return out

    def state(self):
        return self.ctl("GET", "/state")

    def scenario(self, **toggles):
        return self.ctl("POST", "/scenario", toggles)

    def identities(self, doc):
        return self.ctl("PUT", "/identities", doc)

    def take_violations(self):
        v = self.state()["violations"]
        self.ctl("DELETE", "/violations")
        return v

    def reset(self):
        """Defaults, but IMDS's rate limits lifted: tests send bursts."""
        sc = self.ctl("POST", "/scenario", {"reset": True})
        CTX["default_limits"] = (sc["rate_limit_per_s"], sc["max_concurrent"])
        self.scenario(rate_limit_per_s=100000, max_concurrent=1000)
        self.identities(IDS)
        self.ctl("DELETE", "/state")


CTX = {}


def get(target, headers=None, method="GET", conn=None, meta=True,
        body=None):
    """One request over http.client: (status, headers, body, json)."""
    c = conn or http.client.HTTPConnection("127.0.0.1", CTX["fake"].port,
                                           timeout=10)
    h = {"Metadata": "true"} if meta else {}
    h.update(headers or {})
    c.request(method, target, body, h)
    r = c.getresponse()
    data = r.read()
    if conn is None:
        c.close()
    try:
        obj = json.loads(data)
    except ValueError:
        obj = None
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data, obj


def token(query, **kw):
    return get(TOKEN + "?" + query, **kw)


def curl(args):
    """Run curl against the fake: (exit code, status, body)."""
    cmd = ["curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}"]
    cmd += [a.replace("URL", "http://127.0.0.1:%d" % CTX["fake"].port)
            for a in args]
    r = subprocess.run(cmd, capture_output=True, text=True)
    body, _, code = r.stdout.rpartition("\n")
    return r.returncode, int(code or 0), body


def raw(data, timeout=15):
    """Send bytes, half-close, read until the server closes."""
    with socket.create_connection(("127.0.0.1", CTX["fake"].port),
                                  timeout=timeout) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def wait_for(cond, timeout=10):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def has(violations, text):
    return any(text in v for v in violations)


# ------------------------------------------------------------------ tests

@test
def startup_files():
    f = CTX["fake"]
    sd = f.state_dir
    check(open(os.path.join(sd, "port")).read() == "%d\n" % f.port,
          "state-dir/port")
    check(open(os.path.join(sd, "control-port")).read() ==
          "%d\n" % f.cport, "state-dir/control-port")
    check(os.path.getsize(os.path.join(sd, "violations.log")) == 0,
          "violations.log created empty")
    ids = f.ctl("GET", "/identities")
    check(ids["system_assigned"]["client_id"] == SYS["client_id"] and
          len(ids["user_assigned"]) == 2 and
          ids["user_assigned"][0]["tenant"] == TENANT and
          ids["user_assigned"][1]["tenant"] == OTHER_TENANT,
          "identities file loaded, tenants defaulted: %s" % ids)
    check(imds.split_addr("169.254.169.254:80") == ("169.254.169.254", 80)
          and imds.split_addr("[::1]:8080") == ("::1", 8080),
          "listen addresses parsed")
    get(TOKEN + "?" + V + "&resource=x")

    def logged():  # written just after the answer: poll a little
        with open(os.path.join(sd, "requests.log")) as fp:
            return fp.read().splitlines()
    check(wait_for(logged), "requests.log written")
    last = json.loads((logged() or ["{}"])[-1])
    check(last.get("path") == TOKEN and last.get("status") == 200,
          "requests.log line: %s" % last)


@test
def token_success_shape():
    f = CTX["fake"]
    rc, st, body = curl(["-H", "Metadata: true", "URL" + TOKEN + "?" + V +
                         "&resource=" + urllib.parse.quote(VAULT, "")])
    check(rc == 0 and st == 200, "curl got 200: %d %d %s" % (rc, st, body))
    obj = json.loads(body)
    check(list(obj) == FIELDS, "exactly the IMDS fields: %s" % list(obj))
    check(all(isinstance(v, str) for v in obj.values()),
          "every field a string")
    now = int(time.time())
    check(obj["token_type"] == "Bearer" and obj["refresh_token"] == "" and
          obj["resource"] == VAULT and obj["client_id"] == SYS["client_id"],
          "fixed fields: %s" % obj)
    check(obj["expires_in"] == "86400" and obj["ext_expires_in"] == "86400"
          and int(obj["expires_on"]) - int(obj["not_before"]) == 86400 and
          abs(int(obj["not_before"]) - now) <= 5, "24 h lifetime")
    parts = obj["access_token"].split(".")
    check(len(parts) == 3, "three JWT parts")
    head, claims = json.loads(b64d(parts[0])), json.loads(b64d(parts[1]))
    check(head["alg"] == "RS256" and head["typ"] == "JWT" and
          len(b64d(parts[2])) == 256, "JWT header and signature size")
    check(claims["aud"] == VAULT and claims["appid"] == SYS["client_id"] and
          claims["oid"] == SYS["object_id"] and claims["tid"] == TENANT and
          claims["exp"] == int(obj["expires_on"]) and
          claims["nbf"] == claims["iat"] == int(obj["not_before"]) and
          "xms_mirid" not in claims, "claims: %s" % claims)
    st, hdr, _, obj2 = token(V + "&resource=" + VAULT)
    check(st == 200 and hdr["content-type"].startswith("application/json"),
          "http.client 200 JSON: %s" % hdr)
    check(obj2["access_token"] != obj["access_token"],
          "a fresh token per issuance")
    c2 = json.loads(b64d(obj2["access_token"].split(".")[1]))
    check(c2["xms_fake_serial"] == claims["xms_fake_serial"] + 1,
          "serial counts up")
    toks = f.state()["tokens"]
    check([t["sha256"] for t in toks] ==
          [hashlib.sha256(o["access_token"].encode()).hexdigest()
           for o in (obj, obj2)], "state records token hashes")
    check(hdr["server"].startswith("IMDS/"), "Server header like IMDS")
    check(f.take_violations() == [], "no violations")


@test
def metadata_header():
    f = CTX["fake"]
    nometa = json.dumps(err("Required metadata header not specified"),
                        separators=(",", ":"))
    rc, st, body = curl(["URL" + TOKEN + "?" + V + "&resource=x"])
    check(st == 400 and body == nometa, "exact body: %d %s" % (st, body))
    check(has(f.take_violations(), "Metadata header missing"),
          "missing Metadata logged")
    for bad in ("True", "false", "1", ""):
        st, _, _, obj = token(V + "&resource=x", headers={"Metadata": bad})
        check(st == 400 and obj == err(imds.MSG_NO_METADATA),
              "Metadata %r refused" % bad)
    check(len(f.take_violations()) == 4, "each wrong value logged")
    st, _, _, _ = token(V + "&resource=x", meta=False,
                        headers={"metadata": "true"})
    check(st == 200, "header name is case-insensitive")
    c = http.client.HTTPConnection("127.0.0.1", f.port, timeout=15)
    c.putrequest("GET", TOKEN + "?" + V + "&resource=x")
    c.putheader("Metadata", "true")
    c.putheader("Metadata", "true")
    c.endheaders()
    r = c.getresponse()
    r.read()
    c.close()
    check(r.status == 400 and has(f.take_violations(), "2 Metadata headers"),
          "two Metadata headers refused and logged")
    # The @azure/identity probe: no query, no Metadata, Accept JSON.
    t0 = time.monotonic()
    st, _, _, obj = get(TOKEN, meta=False,
                        headers={"Accept": "application/json"})
    check(st == 400 and obj == err(imds.MSG_NO_METADATA) and
          time.monotonic() - t0 < 2, "probe answered at once with 400")
    check(f.take_violations() == [] and f.state()["counts"]["probes"] == 1,
          "probe is no violation, but counted")


@test
def forwarded_headers():
    f = CTX["fake"]
    st, _, _, obj = token(V + "&resource=x",
                          headers={"X-Forwarded-For": "10.244.1.5"})
    check(st == 400 and obj == err(imds.MSG_XFF), "XFF refused: %s" % obj)
    check(has(f.take_violations(), "X-Forwarded-For"), "XFF logged")
    st, _, _, obj = get("/metadata/instance?api-version=2021-02-01",
                        headers={"X-Forwarded-For": "10.0.0.1"})
    check(st == 400 and obj == {"error": imds.MSG_XFF} and
          len(f.take_violations()) == 1, "XFF refused on instance routes")
    st, _, _, _ = token(V + "&resource=x", headers={
        "Via": "1.1 proxy", "Forwarded": "for=10.0.0.1"})
    v = f.take_violations()
    check(st == 200 and has(v, "Via") and has(v, "Forwarded"),
          "Via/Forwarded served but logged: %s" % v)


@test
def query_rules():
    f = CTX["fake"]
    for qs in (V + "&resource=x&" + V, V + "&resource=x&api%2Dversion="
               "2018-02-01", V + "&resource=x&resource=y"):
        st, _, _, obj = token(qs)
        check(st == 400 and obj["error"] == "invalid_request" and
              "Duplicate" in obj["error_description"],
              "duplicate refused: %s -> %s" % (qs, obj))
    check(len(f.take_violations()) == 3, "duplicates logged")
    enc = "resource=https%3A%2F%2Fvault.azure.net&" + V
    for qs in (enc, V + "&resource=https://vault.azure.net"):
        st, _, _, obj = token(qs)
        check(st == 200 and obj["resource"] == VAULT and
              json.loads(b64d(obj["access_token"].split(".")[1]))["aud"] ==
              VAULT, "decoded resource from %s" % qs)
    check(f.state()["last_token_request"]["params"]["resource"] == VAULT,
          "state shows decoded params")
    for qs in (V + "&resource=%zz", V + "&resource=%ff"):
        st, _, _, obj = token(qs)
        check(st == 400 and obj["error"] == "invalid_request",
              "malformed query refused: %s" % qs)
    check(len(f.take_violations()) == 2, "malformed queries logged")
    st, _, _, _ = token(V + "&resource=x&&")
    check(st == 200 and has(f.take_violations(), "empty query parameter"),
          "empty parameter served but logged")


@test
def api_version_rules():
    f = CTX["fake"]
    st, _, _, obj = token("resource=x")
    check(st == 400 and obj == err(imds.MSG_NO_VERSION),
          "missing api-version: %s" % obj)
    for v in ("2017-12-01", "2022-01-01", "latest", ""):
        st, _, _, obj = token("api-version=%s&resource=x" % v)
        check(st == 400 and obj == err(imds.MSG_BAD_VERSION),
              "api-version %r refused: %s" % (v, obj))
    for v in ("2018-02-01", "2019-08-01", "2025-04-07"):
        st, _, _, _ = token("api-version=%s&resource=x" % v)
        check(st == 200, "api-version %s accepted" % v)
    check(len(f.take_violations()) == 5, "bad versions logged")


@test
def resource_rules():
    for qs in (V, V + "&resource=", V + "&client_id=" + UA1["client_id"]):
        rc, st, body = curl(["-H", "Metadata:true", "URL" + TOKEN + "?" +
                             qs])
        check(st == 400 and body == '{"error":"invalid_request",'
              '"error_description":"Required query variable \'resource\' '
              'is missing"}', "resource missing: %s -> %s" % (qs, body))


@test
def identity_selection():
    f = CTX["fake"]
    cases = [
        ("client_id=" + UA1["client_id"], UA1),
        ("client_id=" + UA1["client_id"].upper(), UA1),
        ("object_id=" + UA2["object_id"], UA2),
        ("msi_res_id=" + urllib.parse.quote(UA2["msi_res_id"], ""), UA2),
        ("msi_res_id=" + UA2["msi_res_id"].lower(), UA2),
        ("client_id=" + SYS["client_id"], SYS),
        ("", SYS),
    ]
    for sel, want in cases:
        st, _, _, obj = token(V + "&resource=x" + ("&" + sel if sel else ""))
        check(st == 200 and obj["client_id"] == want["client_id"],
              "%s selects %s: %s" % (sel, want["client_id"], obj))
    claims = json.loads(b64d(obj["access_token"].split(".")[1]))
    check(claims["tid"] == TENANT, "system identity's tenant")
    st, _, _, obj = token(V + "&resource=x&object_id=" + UA2["object_id"])
    claims = json.loads(b64d(obj["access_token"].split(".")[1]))
    check(claims["tid"] == OTHER_TENANT and claims["xms_mirid"] ==
          UA2["msi_res_id"] and claims["oid"] == UA2["object_id"],
          "user identity claims: %s" % claims)
    for sel in ("client_id=%s&object_id=%s" % (UA1["client_id"],
                                               UA1["object_id"]),
                "client_id=%s&msi_res_id=%s" % (UA1["client_id"],
                                                UA1["msi_res_id"])):
        st, _, _, obj = token(V + "&resource=x&" + sel)
        check(st == 400 and obj == err(imds.MSG_SELECTORS),
              "two selectors refused: %s" % obj)
    check(len(f.take_violations()) == 2, "two selectors logged")
    for sel in ("client_id=" + UNKNOWN, "object_id=" + UNKNOWN,
                "msi_res_id=" + arm("nope"), "client_id="):
        st, _, _, obj = token(V + "&resource=x&" + sel)
        check(st == 400 and obj == err("Identity not found"),
              "unknown %s: %s" % (sel, obj))
    v = f.take_violations()
    check(len(v) == 1 and "empty client_id" in v[0],
          "unknown identities are no violations, an empty one is: %s" % v)
    st, _, _, obj = token(V + "&resource=x&mi_res_id=" + UA1["msi_res_id"])
    check(st == 200 and obj["client_id"] == SYS["client_id"] and
          has(f.take_violations(), "mi_res_id"),
          "mi_res_id ignored as IMDS does, but logged")
    st, _, _, _ = token(V + "&resource=x&bypass_cache=false")
    check(st == 200 and has(f.take_violations(), "bypass_cache"),
          "bypass_cache=false logged")


@test
def identity_sets():
    f = CTX["fake"]
    f.identities([UA1, UA2])
    rc, st, body = curl(["-H", "Metadata: true", "URL" + TOKEN + "?" + V +
                         "&resource=x"])
    check(st == 400 and json.loads(body) == err(
        "Multiple user assigned identities exist, please specify the "
        "clientId / resourceId of the identity in the token request"),
        "several user-assigned, no selector: %s" % body)
    f.identities([UA1])
    st, _, _, obj = token(V + "&resource=x")
    check(st == 200 and obj["client_id"] == UA1["client_id"],
          "the only user-assigned is the default")
    f.identities([])
    st, _, _, obj = token(V + "&resource=x")
    check(st == 400 and obj == err("Identity not found"), "no identity")
    st, _, _, obj = get("/metadata/identity/info?" + V)
    check(st == 200 and obj == {"tenantId": imds.DEFAULT_TENANT},
          "info falls back to --tenant")
    bad = [
        [{"client_id": "x", "object_id": UNKNOWN, "msi_res_id": arm("a")}],
        [dict(UA1, colour="red")],
        [dict(UA1, msi_res_id="/subscriptions/x")],
        [UA1, dict(UA2, client_id=UA1["client_id"])],
        {"system_assigned": dict(SYS, msi_res_id=arm("s"))},
        {"user_assigned": UA1},
        {"tenant": "nope", "user_assigned": [UA1]},
    ]
    for doc in bad:
        st, out = f.ctl_raw("PUT", "/identities", doc)
        check(st == 400 and "error" in out, "refused: %s -> %s" % (doc, out))
    check(f.ctl("GET", "/identities")["user_assigned"] == [],
          "refused documents change nothing")


@test
def paths_and_methods():
    f = CTX["fake"]
    for path in (TOKEN + "/", "/METADATA/identity/oauth2/token",
                 "/Metadata/identity/oauth2/token/"):
        st, _, _, _ = get(path + "?" + V + "&resource=x")
        check(st == 200, "%s accepted" % path)
    for path in (TOKEN + "s", TOKEN + "//", "/metadata/identity/oauth2",
                 "/metadata/identity/OAUTH2/token", "/metadata/identity"):
        st, _, _, obj = get(path + "?" + V + "&resource=x")
        check(st == 404 and obj and obj.get("error") == "not_found",
              "%s: 404 identity-shaped: %d %s" % (path, st, obj))
    for path in ("/metadata/attested/document", "/metadata/scheduledevents",
                 "/metadata/identityx", "/", "/foo"):
        st, _, _, obj = get(path + "?api-version=2021-02-01")
        check(st == 404 and obj == {"error": "Not found"},
              "%s: 404: %d %s" % (path, st, obj))
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        st, hdr, _, obj = token(V + "&resource=x", method=method, body=b"")
        check(st == 405 and hdr.get("allow") == "GET" and
              obj["error"] == "method_not_allowed", "%s: 405" % method)
    st, hdr, data, _ = token(V + "&resource=x", method="HEAD")
    check(st == 405 and data == b"", "HEAD: 405 without a body")
    st, _, _, obj = get("/metadata/instance?api-version=2021-02-01",
                        method="POST", body=b"")
    check(st == 405 and "error" in obj and len(obj) == 1,
          "instance POST: 405 {error}")
    v = f.take_violations()
    check(len(v) == 5 and all(TOKEN in x for x in v),
          "405 on the token route logged, 404s and others not: %s" % v)


@test
def other_routes():
    f = CTX["fake"]
    st, hdr, _, obj = get("/metadata/instance?api-version=2021-02-01")
    check(st == 200 and set(obj) == {"compute", "network"},
          "instance: compute + network")

    def leaves(node):
        if isinstance(node, dict):
            return [x for v in node.values() for x in leaves(v)]
        if isinstance(node, list):
            return [x for v in node for x in leaves(v)]
        return [node]
    check(all(isinstance(x, str) for x in leaves(obj)),
          "every primitive a string")
    check(obj["network"]["interface"][0]["ipv4"]["ipAddress"][0][
        "publicIpAddress"] == "", "missing values are empty strings")
    for qs in ("", "?api-version=2016-01-01", "?api-version=x"):
        st, _, _, obj = get("/metadata/instance" + qs)
        check(st == 400 and obj == {"error": imds.MSG_INSTANCE_VERSION,
                                    "newest-versions": ["2025-04-07",
                                                        "2024-07-17",
                                                        "2024-03-15"]},
              "instance api-version %r: %s" % (qs, obj))
    st, _, _, obj = get("/metadata/instance?api-version=2021-02-01",
                        meta=False)
    check(st == 400 and obj == {"error": "Bad request. Required metadata "
                                "header not specified"}, "instance Metadata")
    rc, st, body = curl(["-H", "Metadata:true", "URL/metadata/instance/"
                         "compute/location?api-version=2021-01-01&"
                         "format=text"])
    check(st == 200 and body == "westeurope", "location as text: %r" % body)
    st, hdr, _, _ = get("/metadata/instance/compute/location?api-version="
                        "2021-01-01&format=text")
    check(hdr["content-type"].startswith("text/plain"), "text/plain")
    st, _, _, obj = get("/metadata/instance/compute/location?api-version="
                        "2021-01-01")
    check(st == 400, "leaf without format=text refused")
    st, _, data, _ = get("/metadata/instance/network/interface/0/macAddress"
                         "?api-version=2021-02-01&format=text")
    check(st == 200 and data == b"000D3AF806EC", "array index walk")
    st, _, _, obj = get("/metadata/instance/compute?api-version=2021-02-01")
    check(st == 200 and obj["osType"] == "Linux", "compute subtree")
    st, _, _, _ = get("/metadata/instance/compute/nope?api-version="
                      "2021-02-01&format=text")
    check(st == 404, "absent element: 404")
    f.ctl("POST", "/instance", {"compute": {"location": "westus"}})
    st, _, data, _ = get("/metadata/instance/compute/location?api-version="
                         "2021-02-01&format=text")
    check(data == b"westus", "control API merges instance data")
    f.ctl("POST", "/instance", {"compute": {"location": "westeurope"}})
    st, _, _, obj = get("/metadata/versions")
    check(st == 200 and "2018-02-01" in obj["apiVersions"] and
          obj["apiVersions"] == sorted(obj["apiVersions"]), "versions")
    st, _, _, obj = get("/metadata/identity/info?" + V)
    check(st == 200 and obj == {"tenantId": TENANT}, "identity info")
    st, _, _, obj = get("/metadata/identity/info")
    check(st == 400 and obj == err(imds.MSG_NO_VERSION),
          "identity info needs api-version")
    st, _, _, _ = get("/metadata/versions?x=1&&")
    check(st == 200, "versions ignores a query")
    v = f.take_violations()
    check(v == [], "client errors off the token route are no violations: "
          "%s" % v)


@test
def rate_limits():
    f = CTX["fake"]
    check(CTX["default_limits"] == (20, 5), "IMDS's limits by default")
    f.scenario(rate_limit_per_s=20, max_concurrent=5)
    c = http.client.HTTPConnection("127.0.0.1", f.port, timeout=15)
    # 21 requests within 0.9 s: a loaded machine may be slower, and then
    # the first has left the window; the window is left to empty and the
    # flood sent again (a few times at most).
    for _ in range(5):
        t0 = time.monotonic()
        codes = [token(V + "&resource=x", conn=c)[0] for _ in range(21)]
        if time.monotonic() - t0 < 0.9:
            break
        f.take_violations()
        time.sleep(1.05)
    check(time.monotonic() - t0 < 0.9, "21 requests within 0.9 s")
    check(codes == [200] * 20 + [429],
          "21st request within 1 s refused: %s" % codes)
    st, _, _, obj = get("/metadata/identity/info?" + V, conn=c)
    check(st == 429 and obj == err("Too many requests", "too_many_requests"),
          "whole identity category limited")
    check(has(f.take_violations(), "within 1 s"), "flood logged")
    for _ in range(30):
        st = get("/metadata/versions", conn=c)[0]
    check(st == 200, "instance category not limited")
    time.sleep(1.05)
    check(token(V + "&resource=x", conn=c)[0] == 200, "window slides")
    c.close()
    # Held 3 s each: six sent together overlap however slow the machine.
    f.scenario(delay_ms=3000, rate_limit_per_s=1000)
    barrier = threading.Barrier(6)
    results = []

    def one():
        cc = http.client.HTTPConnection("127.0.0.1", f.port, timeout=15)
        cc.connect()
        barrier.wait()
        results.append(token(V + "&resource=x", conn=cc)[0])
        cc.close()
    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    check(sorted(results) == [200] * 5 + [429],
          "6th concurrent request refused: %s" % results)
    st = f.state()
    check(st["max_concurrency"] == 6 and st["in_flight"] == 0 and
          st["counts"]["rate_limited"] >= 1, "concurrency measured")
    check(has(f.take_violations(), "6 identity requests in flight"),
          "concurrency logged")
    f.scenario(delay_ms=0, rate_limit_per_s=2, max_concurrent=1)
    # 3 requests within 0.9 s: on a loaded machine the first may have left
    # the window by the third, which proves nothing; the window is emptied
    # and the three sent again (a few times at most).
    for _ in range(5):
        f.ctl("DELETE", "/state")  # empties the rate window too
        t0 = time.monotonic()
        codes = [token(V + "&resource=x")[0] for _ in range(3)]
        if time.monotonic() - t0 < 0.9:
            break
        print("imds_test: 3 requests took %.2f s, again" %
              (time.monotonic() - t0), file=sys.stderr)
    check(time.monotonic() - t0 < 0.9, "3 requests within 0.9 s")
    check(codes == [200, 200, 429], "limits are toggles: %s" % codes)


@test
def injected_failures():
    f = CTX["fake"]
    f.scenario(fail_next_n={"n": 2, "status": 503, "retry_after": 3})
    st, _, _, obj = token(V + "&resource=x&client_id=" + UNKNOWN)
    check(st == 400, "invalid requests do not consume failures")
    for i in range(2):
        st, hdr, _, obj = token(V + "&resource=x")
        check(st == 503 and hdr.get("retry-after") == "3" and
              obj["error"] == "service_unavailable", "503 #%d: %s" % (i, obj))
    check(token(V + "&resource=x")[0] == 200, "then served")
    for status in (404, 410, 429, 500):
        f.scenario(fail_next_n={"n": 1, "status": status})
        st, hdr, _, obj = token(V + "&resource=x")
        check(st == status and "retry-after" not in hdr and
              set(obj) == {"error", "error_description"},
              "injected %d: %d %s" % (status, st, obj))
    check(f.state()["counts"]["injected_failures"] == 6, "counted")
    for bad in ({"fail_next_n": {"n": 1, "status": 418}},
                {"fail_next_n": {"n": -1, "status": 500}},
                {"delay_ms": "x"}, {"no_such": 1}, {"max_concurrent": 0}):
        st, _ = f.ctl_raw("POST", "/scenario", bad)
        check(st == 400, "bad toggle refused: %s" % bad)
    check(f.take_violations() == [], "no violations")


@test
def resets_delay_lifetime():
    f = CTX["fake"]
    f.scenario(reset_connection_next_n=1)
    rc, st, body = curl(["-H", "Metadata: true", "URL" + TOKEN + "?" + V +
                         "&resource=x"])
    check(rc == 56 and st == 0, "curl sees a reset: rc %d" % rc)
    f.scenario(reset_connection_next_n=1)
    c = http.client.HTTPConnection("127.0.0.1", f.port, timeout=15)
    try:
        token(V + "&resource=x", conn=c)
        check(False, "http.client got an answer")
    except (ConnectionResetError, http.client.RemoteDisconnected):
        check(True, "")
    c.close()
    check(token(V + "&resource=x")[0] == 200, "next one served")
    check(f.state()["counts"]["resets"] == 2, "resets counted")
    # 1.5 s, so that an error answered within 1 s is clearly not delayed.
    f.scenario(delay_ms=1500, token_lifetime_s=3600)
    t0 = time.monotonic()
    st, _, _, obj = token(V + "&resource=x")
    check(st == 200 and time.monotonic() - t0 >= 1.5, "delayed")
    check(obj["expires_in"] == "3600" and int(obj["expires_on"]) -
          int(obj["not_before"]) == 3600, "lifetime toggle")
    t0 = time.monotonic()
    token(V + "&resource=x&client_id=" + UNKNOWN)
    check(time.monotonic() - t0 < 1, "errors are not delayed")


@test
def state_counters():
    f = CTX["fake"]
    token(V + "&resource=" + VAULT)
    token(V + "&resource=" + VAULT)
    token(V + "&resource=https://storage.azure.com&client_id=" +
          UA1["client_id"])
    token(V + "&resource=x", meta=False)
    get(TOKEN, meta=False)
    get("/metadata/versions")
    st = f.state()
    check(st["token_requests"] == 5 and st["tokens_issued"] == 3,
          "totals: %d %d" % (st["token_requests"], st["tokens_issued"]))
    pairs = {(p["client_id"], p["resource"]): (p["requests"], p["issued"])
             for p in st["per_identity_resource"]}
    check(pairs == {(SYS["client_id"], VAULT): (2, 2),
                    (UA1["client_id"], "https://storage.azure.com"):
                    (1, 1)}, "per (client_id, resource): %s" % pairs)
    last = st["last_token_request"]
    check(last["path"] == TOKEN and last["query"] == "" and
          ["Metadata", "true"] not in last["headers"],
          "last token request is the probe: %s" % last)
    check(st["last_request"]["path"] == "/metadata/versions" and
          ["Metadata", "true"] in st["last_request"]["headers"],
          "last request with its headers")
    check(st["counts"]["by_status"] == {"200": 4, "400": 2},
          "statuses: %s" % st["counts"]["by_status"])
    check(len(st["violations"]) == 1 and len(st["recent_requests"]) == 6,
          "violations and recent requests")
    f.ctl("DELETE", "/state")
    st = f.state()
    check(st["token_requests"] == 0 and st["per_identity_resource"] == [] and
          st["violations"] == [] and st["last_token_request"] is None and
          st["max_concurrency"] == 0 and
          os.path.getsize(os.path.join(f.state_dir, "violations.log")) == 0,
          "DELETE /state resets")


@test
def transport_strictness():
    f = CTX["fake"]
    c = http.client.HTTPConnection("127.0.0.1", f.port, timeout=15)
    token(V + "&resource=x", conn=c)
    sock = c.sock
    for _ in range(3):
        st = token(V + "&resource=x", conn=c)[0]
    check(st == 200 and c.sock is sock, "keep-alive connection reused")
    c.close()
    req = "GET %s?%s&resource=x HTTP/1.0\r\nHost: a\r\nMetadata: true\r\n\r\n"
    out = raw((req % (TOKEN, V)).encode())
    check(out.startswith(b"HTTP/1.1 200") and
          has(f.take_violations(), "HTTP/1.0"), "HTTP/1.0 served, logged")
    out = raw(("GET %s?%s&resource=x HTTP/1.1\r\nMetadata: true\r\n\r\n" %
               (TOKEN, V)).encode())
    check(out.startswith(b"HTTP/1.1 400") and
          has(f.take_violations(), "Host"), "missing Host refused, logged")
    out = raw(("GET http://169.254.169.254%s?%s&resource=x HTTP/1.1\r\n"
               "Host: 169.254.169.254\r\nMetadata: true\r\n\r\n" %
               (TOKEN, V)).encode())
    check(out.startswith(b"HTTP/1.1 200") and
          has(f.take_violations(), "absolute-form"), "proxy form logged")
    st, _, _, _ = token(V + "&resource=x", body=b"abc")
    check(st == 200 and has(f.take_violations(), "3-byte body"),
          "body on GET logged")
    out = raw(("GET %s?%s&resource=x HTTP/1.1\r\nHost: a\r\nMetadata: true"
               "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" %
               (TOKEN, V)).encode())
    check(out.startswith(b"HTTP/1.1 400") and
          has(f.take_violations(), "Transfer-Encoding"), "chunked refused")
    out = raw(b"GARBAGE\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 400") and
          has(f.take_violations(), "malformed"), "junk request logged")
    check(f.state()["internal_errors"] == 0, "no fake bugs hit")


# -------------------------------------------------- the real Azure SDK

def node_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AZURE_", "IDENTITY_", "MSI_", "IMDS_"))
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy",
                                 "no_proxy")}
    env["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = \
        "http://127.0.0.1:%d" % CTX["fake"].port
    return env


def get_token(*args):
    r = subprocess.run(["node", os.path.join(NODE_DIR, "getToken.js")] +
                       list(args), capture_output=True, text=True,
                       timeout=90, env=node_env(), cwd=NODE_DIR)
    lines = r.stdout.splitlines()
    try:
        out = json.loads(lines[0]) if len(lines) == 1 else None
    except ValueError:
        out = None
    if out is None:
        print("getToken stdout %r stderr %r" % (r.stdout, r.stderr[-2000:]))
    return r.returncode, out or {}


def last_token(f):
    st = f.state()
    return st["tokens"][-1] if st["tokens"] else {}, st


@test
def azure_sdk_js():
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "@azure",
                                      "identity")):
        print("skip azure_sdk_js: tests/e2e/node/node_modules/@azure/"
              "identity absent (run deploy/deps.sh)")
        return
    f = CTX["fake"]
    f.scenario(reset=True)  # IMDS's own rate limits: the SDK must obey them
    rc, out = get_token(VAULT)
    tok, st = last_token(f)
    check(rc == 0 and out.get("ok") is True and
          out.get("tokenSha256") == tok.get("sha256") and
          tok.get("client_id") == SYS["client_id"],
          "system-assigned token: %s" % out)
    check(abs(out.get("expiresOnTimestamp", 0) - tok.get("expires_on", 0) *
              1000) <= 2000, "expiresOnTimestamp from expires_on")
    last = st["last_token_request"]
    check(last["path"] == TOKEN + "/" and
          last["params"] == {"api-version": "2018-02-01",
                             "resource": VAULT} and
          ["Metadata", "true"] in last["headers"],
          "msal's trailing-slash path and query: %s" % last)
    rc, out = get_token(VAULT, UA1["client_id"])
    tok, st = last_token(f)
    check(rc == 0 and out.get("tokenSha256") == tok.get("sha256") and
          st["last_token_request"]["params"].get("client_id") ==
          UA1["client_id"], "client id: %s" % out)
    rc, out = get_token("https://management.azure.com/", "--resource-id",
                        UA2["msi_res_id"])
    tok, st = last_token(f)
    check(rc == 0 and tok.get("client_id") == UA2["client_id"] and
          tok.get("resource") == "https://management.azure.com/" and
          st["last_token_request"]["params"].get("msi_res_id") ==
          UA2["msi_res_id"], "resource id: %s" % out)
    rc, out = get_token(VAULT, UA1["client_id"], "--default")
    tok, _ = last_token(f)
    check(rc == 0 and out.get("tokenSha256") == tok.get("sha256"),
          "DefaultAzureCredential: %s" % out)
    n = f.state()["tokens_issued"]
    rc, out = get_token(VAULT, UNKNOWN)
    check(rc == 1 and out.get("ok") is False and
          out.get("error") == "CredentialUnavailableError" and
          "Identity not found" in out.get("message", ""),
          "unknown client id: %s" % out)
    check(f.state()["tokens_issued"] == n, "nothing issued")
    f.scenario(fail_next_n={"n": 1, "status": 503, "retry_after": 1})
    before = f.state()["token_requests"]
    rc, out = get_token(VAULT)
    check(rc == 0 and out.get("ok") and
          f.state()["token_requests"] == before + 2,
          "503 + Retry-After retried: %s" % out)
    f.identities([UA1, UA2])
    rc, out = get_token(VAULT)
    check(rc == 1 and "Multiple user assigned identities exist" in
          out.get("message", ""), "several identities, none named: %s" % out)
    check(f.take_violations() == [], "the SDK commits no violation")
    check(f.state()["counts"].get("probes", 0) == 0,
          "no probe when AZURE_POD_IDENTITY_AUTHORITY_HOST is set")


# --------------------------------------- the real address, in a netns

NETNS_SCRIPT = r"""
set -e
ip link set lo up
ip addr add 169.254.169.254/32 dev lo
python3 "$IMDS" --listen 169.254.169.254:80 --state-dir "$D/state" \
    --identities "$D/ids.json" 2>"$D/stderr" &
pid=$!
trap 'rc=$?; kill $pid 2>/dev/null; wait $pid 2>/dev/null || :; exit $rc' EXIT
n=0
while [ ! -f "$D/state/port" ]; do
    n=$((n + 1)); [ $n -lt 1500 ] || exit 3; sleep 0.02
done
curl -sS --max-time 20 -H Metadata:true -o "$D/curl.json" \
    "http://169.254.169.254/metadata/identity/oauth2/token?$V&resource=x"
if [ -n "$NODE" ]; then
    (cd "$NODE" && node getToken.js https://vault.azure.net --default \
        >"$D/default.json" 2>>"$D/stderr") || true
    (cd "$NODE" && node getToken.js https://vault.azure.net "$CLIENT" \
        >"$D/mi.json" 2>>"$D/stderr") || true
fi
curl -sS --max-time 20 -o "$D/state.json" \
    "http://127.0.0.1:$(cat "$D/state/control-port")/state"
"""


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


@test
def real_address_in_netns():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        print("skip real_address_in_netns: needs root and unshare")
        return
    d = tempfile.mkdtemp(prefix="netns-", dir=CTX["root"])
    with open(os.path.join(d, "ids.json"), "w") as f:
        json.dump(IDS, f)
    have_node = os.path.isdir(os.path.join(NODE_DIR, "node_modules"))
    if not have_node:
        print("skip the SDK part of real_address_in_netns: no node_modules")
    env = dict(node_env(), IMDS=os.path.join(HERE, "imds.py"), D=d, V=V,
               NODE=NODE_DIR if have_node else "",
               CLIENT=UA1["client_id"])
    del env["AZURE_POD_IDENTITY_AUTHORITY_HOST"]
    p = subprocess.Popen(["unshare", "-n", "sh", "-c", NETNS_SCRIPT],
                         env=env, start_new_session=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out = p.communicate(timeout=120)[0]
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out = p.communicate()[0]
    if not check(p.returncode == 0, "netns script: rc %s %r" % (
            p.returncode, out[-500:])):
        return
    obj = read_json(os.path.join(d, "curl.json")) or {}
    check(obj.get("client_id") == SYS["client_id"],
          "served on 169.254.169.254:80: %s" % obj)
    st = read_json(os.path.join(d, "state.json")) or {}
    if have_node:
        for name in ("default", "mi"):
            res = read_json(os.path.join(d, name + ".json")) or {}
            check(res.get("ok") is True and res.get("tokenSha256") in
                  [t["sha256"] for t in st.get("tokens", [])],
                  "SDK %s on the real address: %s" % (name, res))
        paths = [r["path"] for r in st.get("recent_requests", [])]
        check(st.get("counts", {}).get("probes") == 1 and
              paths.count(TOKEN) == 4 and TOKEN + "/" not in paths,
              "DefaultAzureCredential probed once, no trailing slash "
              "without the override: %s" % paths)
    check(st.get("violations") == [], "no violations: %s" %
          st.get("violations"))


# ------------------------------------------------------------------ main

WATCHDOG_S = 240


class Overtime(BaseException):
    """Raised by the watchdog; not an Exception, so no test swallows it."""


def main():
    root = tempfile.mkdtemp(prefix="imds-test-")
    CTX["root"] = root
    fakes = []

    def alarm(signum, frame):
        raise Overtime("imds_test: over %d s" % WATCHDOG_S)
    signal.signal(signal.SIGALRM, alarm)
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(1))
    signal.alarm(WATCHDOG_S)
    try:
        fakes.append(Fake(root, "main", ["--tenant", imds.DEFAULT_TENANT]))
        CTX["fake"] = fakes[0].wait()
        for fn in TESTS:
            CURRENT[0] = fn.__name__
            before = FAILED
            t0 = time.monotonic()
            try:
                CTX["fake"].reset()
                fn()
            except Exception:
                check(False, "exception:\n" + traceback.format_exc())
            print("%s %s (%.1f s)" % ("ok  " if FAILED == before else "FAIL",
                                      fn.__name__, time.monotonic() - t0))
    except BaseException as e:
        check(False, "setup: %r" % e)
        traceback.print_exc()
    finally:
        signal.alarm(0)
        for x in fakes:
            x.kill()
        if FAILED:
            for x in fakes:
                print("--- %s stderr:" % x.dir)
                print(open(x.log.name).read()[-3000:])
        shutil.rmtree(root, ignore_errors=True)
    print("%d passed, %d failed" % (PASSED, FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
