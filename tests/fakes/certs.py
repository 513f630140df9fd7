#!/usr/bin/env python3
"""Test certificates for podid's fakes, made with the openssl CLI.

    python3 tests/fakes/certs.py DIR [--ip 127.0.0.1 --ip 10.0.0.1
                                      --dns kube.test ...]

or, from Python, ``certs.make(DIR, ips=[...], dns=[...])`` (returns a dict
name -> path).  Files written in DIR:

    ca.crt, ca.key                  test CA (RSA 2048), the one clients trust
    server.crt, server.key          RSA server cert signed by ca.crt, with the
                                    requested DNS and IP subjectAltNames
    server-ec.crt, server-ec.key    the same, with an EC P-256 key (signed by
                                    the RSA test CA: ECDHE_ECDSA suites)
    expired.crt, expired.key        server cert signed by ca.crt with the same
                                    SANs, valid only 2020-01-01..2020-01-02
    wrong-ca.crt, wrong-ca.key      server cert (same SANs) signed by an
                                    unrelated CA: present it to test rejection
    wrong-ca-root.crt, .key         that unrelated CA
    certs.json                      what was made and for which SANs

Defaults: --ip 127.0.0.1 --ip ::1 --dns localhost --dns kube.test.

Idempotent: when certs.json matches the requested SANs and every file exists,
nothing is regenerated.  A lock file serialises concurrent callers.  OpenSSL
3.0's `x509`/`req` cannot set notBefore, so the expired certificate is issued
with `openssl ca -startdate/-enddate` from a throw-away CA database.
"""

import argparse
import fcntl
import json
import os
import subprocess
import sys
import tempfile

DEFAULT_IPS = ["127.0.0.1", "::1"]
DEFAULT_DNS = ["localhost", "kube.test"]
FILES = [
    "ca.crt", "ca.key", "server.crt", "server.key", "server-ec.crt",
    "server-ec.key", "expired.crt", "expired.key", "wrong-ca.crt",
    "wrong-ca.key", "wrong-ca-root.crt", "wrong-ca-root.key",
]

# One private config so the system openssl.cnf (which may add CA:TRUE to
# every `req -x509` certificate) never leaks into ours.
CONFIG = """\
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = {san}
[ ca ]
default_ca = backdated
[ backdated ]
dir = {tmp}
database = {tmp}/index.txt
new_certs_dir = {tmp}
rand_serial = yes
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[ any ]
commonName = supplied
"""


def _run(args, cwd):
    res = subprocess.run(["openssl"] + args, cwd=cwd, capture_output=True,
                         text=True)
    if res.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" %
                           (" ".join(args), res.stderr.strip()))


def _keys(cwd):
    """Generate every private key at once: RSA key generation dominates."""
    procs = []
    for f in FILES:
        if not f.endswith(".key"):
            continue
        alg = ["EC", "-pkeyopt", "ec_paramgen_curve:P-256"] if "-ec" in f \
            else ["RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
        procs.append(subprocess.Popen(
            ["openssl", "genpkey", "-algorithm"] + alg + ["-out", f], cwd=cwd,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    for p in procs:
        err = p.communicate()[1]
        if p.returncode != 0:
            raise RuntimeError("openssl genpkey failed: %s" % err.strip())


def _ca(name, cn, cnf, cwd):
    _run(["req", "-config", cnf, "-new", "-x509", "-key", name + ".key",
          "-subj", "/CN=" + cn, "-days", "3650", "-sha256",
          "-extensions", "v3_ca", "-out", name + ".crt"], cwd)


def _server(name, ca, cnf, cwd):
    _run(["req", "-config", cnf, "-new", "-x509", "-key", name + ".key",
          "-CA", ca + ".crt", "-CAkey", ca + ".key", "-subj",
          "/CN=kube-apiserver", "-days", "825", "-sha256",
          "-extensions", "server", "-out", name + ".crt"], cwd)


def _expired(name, ca, cnf, tmp, cwd):
    csr = os.path.join(tmp, "expired.csr")
    _run(["req", "-config", cnf, "-new", "-key", name + ".key", "-subj",
          "/CN=kube-apiserver", "-out", csr], cwd)
    open(os.path.join(tmp, "index.txt"), "w").close()
    _run(["ca", "-config", cnf, "-batch", "-notext", "-in", csr,
          "-cert", ca + ".crt", "-keyfile", ca + ".key",
          "-startdate", "20200101000000Z", "-enddate", "20200102000000Z",
          "-extensions", "server", "-out", name + ".crt"], cwd)


def _san(ips, dns):
    return ",".join(["DNS:" + d for d in dns] + ["IP:" + i for i in ips])


def _generate(d, ips, dns):
    with tempfile.TemporaryDirectory(prefix="certs-") as tmp:
        cnf = os.path.join(tmp, "openssl.cnf")
        with open(cnf, "w") as f:
            f.write(CONFIG.replace("{san}", _san(ips, dns))
                    .replace("{tmp}", tmp))
        _keys(d)
        _ca("ca", "podid test CA", cnf, d)
        _ca("wrong-ca-root", "unrelated CA", cnf, d)
        _server("server", "ca", cnf, d)
        _server("server-ec", "ca", cnf, d)
        _server("wrong-ca", "wrong-ca-root", cnf, d)
        _expired("expired", "ca", cnf, tmp, d)
    for f in FILES:
        if f.endswith(".key"):
            os.chmod(os.path.join(d, f), 0o600)


def make(d, ips=None, dns=None):
    """Create (or reuse) the certificates in directory d; return paths."""
    ips = list(ips or DEFAULT_IPS)
    dns = list(dns or DEFAULT_DNS)
    os.makedirs(d, exist_ok=True)
    want = {"ips": ips, "dns": dns, "files": FILES}
    manifest = os.path.join(d, "certs.json")
    with open(os.path.join(d, ".certs.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(manifest) as f:
                have = json.load(f)
        except (OSError, ValueError):
            have = None
        complete = all(os.path.exists(os.path.join(d, f)) for f in FILES)
        if have != want or not complete:
            if os.path.exists(manifest):
                os.unlink(manifest)
            _generate(d, ips, dns)
            with open(manifest + ".tmp", "w") as f:
                json.dump(want, f, indent=1)
            os.replace(manifest + ".tmp", manifest)
    return {f: os.path.join(d, f) for f in FILES}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--ip", action="append", help="IP subjectAltName")
    ap.add_argument("--dns", action="append", help="DNS subjectAltName")
    a = ap.parse_args(argv)
    try:
        make(a.dir, a.ip, a.dns)
    except RuntimeError as e:
        print("certs: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
