#!/bin/sh
# Tests of the test fakes themselves (Python standard library + openssl CLI
# + curl).  tests/run.sh picks the "N passed, N failed" line out of this.
cd "$(dirname "$0")/../.." || exit 1
exec python3 tests/fakes/kube_api_test.py
