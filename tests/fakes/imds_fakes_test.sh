#!/bin/sh
# Tests of the fake IMDS (tests/fakes/imds.py) and of the Azure SDK for JS
# runner (tests/e2e/node/getToken.js) against it: Python standard library,
# curl, and node when tests/e2e/node/node_modules exists.  tests/run.sh
# picks the "N passed, N failed" line out of this.
cd "$(dirname "$0")/../.." || exit 1
exec python3 tests/fakes/imds_test.py
