#!/bin/sh
# The Kubernetes manifests in deploy/kubernetes, checked offline (needs
# python3-yaml and $O/podid).  tests/run.sh reads the closing
# "N passed, N failed" line.
cd "$(dirname "$0")/../.." || exit 1
exec python3 tests/deploy/manifests_test.py
