#!/bin/sh
# The /metrics exposition passes `promtool check metrics` without a single
# complaint: the largest one metrics_test renders (every series, two
# upstreams, the widest numbers; `metrics_test --dump`).  Broken expositions
# (a counter without _total, a gauge with it, no HELP, a cut line)
# must draw complaints, so the lint is shown able to fail.  Needs promtool
# (Debian package prometheus, deploy/deps.sh) and $O/tests/agent/
# metrics_test.  Ends with "N passed, N failed".
cd "$(dirname "$0")/../.." || exit 1
O=${O:-build}
bin=$O/tests/agent/metrics_test
pass=0 fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() {
	fail=$((fail + 1))
	echo "FAIL $1"
	[ -s "$tmp/why" ] && sed 's/^/    /' "$tmp/why" | head -20
	: >"$tmp/why"
}

# lint FILE: promtool accepts it and says nothing.
lint() {
	promtool check metrics <"$1" >"$tmp/why" 2>&1 && [ ! -s "$tmp/why" ]
}

if ! command -v promtool >/dev/null; then
	echo "promtool not found: run deploy/deps.sh (package prometheus)" \
	    >"$tmp/why"
	bad "promtool present"
	echo "$pass passed, $fail failed"
	exit 1
fi

if "$bin" --dump >"$tmp/m.prom" 2>"$tmp/why" && [ -s "$tmp/m.prom" ]; then
	ok "metrics_test --dump renders"
else
	bad "metrics_test --dump renders"
fi
if lint "$tmp/m.prom"; then ok "promtool: no complaint"; else
	bad "promtool: no complaint"; fi

# Each family has exactly one HELP and one TYPE line.
if [ "$(grep -c '^# HELP ' "$tmp/m.prom")" -eq \
    "$(grep -c '^# TYPE ' "$tmp/m.prom")" ] &&
    [ -z "$(grep '^# HELP ' "$tmp/m.prom" | awk '{print $3}' | sort |
    uniq -d)" ]; then
	ok "one HELP and TYPE per family"
else
	bad "one HELP and TYPE per family"
fi

# The lint must be able to fail.
sed 's/podid_http_timeouts_total/podid_http_timeouts/g' "$tmp/m.prom" \
    >"$tmp/b1.prom"
if lint "$tmp/b1.prom"; then bad "a counter without _total is refused"; else
	ok "a counter without _total is refused"; fi
grep -v '^# HELP podid_pods_max ' "$tmp/m.prom" >"$tmp/b2.prom"
if lint "$tmp/b2.prom"; then bad "a family without HELP is refused"; else
	ok "a family without HELP is refused"; fi
sed 's/podid_pods_max/podid_pods_max_total/g' "$tmp/m.prom" >"$tmp/b3.prom"
if lint "$tmp/b3.prom"; then bad "a gauge named _total is refused"; else
	ok "a gauge named _total is refused"; fi
# An exposition cut mid-line, what metrics_render never hands out.
head -c 2000 "$tmp/m.prom" >"$tmp/b4.prom"
if lint "$tmp/b4.prom"; then bad "a cut exposition is refused"; else
	ok "a cut exposition is refused"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
