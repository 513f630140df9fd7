#!/bin/sh
# Installs, from Debian 12 packages, whatever podid's build, tests, fuzzing,
# benchmarks and demo need and this machine lacks.  Run as root; a machine
# that already has everything is left alone (no apt-get update).
set -eu
# python3-yaml, man-db: tests/deploy (manifests, man pages); test tools only.
# prometheus: its promtool lints /metrics (tests/e2e/metrics_test.py).
# musl-tools: musl-gcc, for make static (the shipped binary).
pkgs="make gcc clang libclang-rt-14-dev re2c libbearssl-dev libjsmn-dev
 libcap-ng-dev musl-tools iptables nftables conntrack iproute2 curl openssl python3 nodejs
 wrk nginx-light valgrind cppcheck clang-tidy clang-format python3-yaml man-db
 prometheus"
missing=""
# Debian's npm only where no npm came with nodejs (NodeSource's has one).
command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# The unmodified Azure SDK for JS, exactly as pinned in its package-lock.json.
node_dir=$(dirname "$0")/../tests/e2e/node
if [ ! -d "$node_dir/node_modules/@azure/identity" ]; then
	echo "deps: npm ci in tests/e2e/node"
	(cd "$node_dir" && npm ci --no-audit --no-fund)
fi
echo "deps: all present"
