#!/bin/sh
# Issue 4: a cached token through podid beside nginx (requests/s, p99,
# instructions per request) and podid's resident memory across a million
# requests.  Root and network namespaces: see bench/topo_bench.py.
exec python3 "$(dirname "$0")/topo_bench.py" token
