#!/bin/sh
# Issue 3: resident memory of podid run and podid pods --watch holding 250
# pods from the fake API server, beside sleep and podid policy check.
# Root and network namespaces: see bench/topo_bench.py.
exec python3 "$(dirname "$0")/topo_bench.py" rss
