#!/bin/sh
# Issue 3: resident memory of podid run and podid pods --watch holding 250
# pods from the fake API server, beside sleep (bench/topo_bench.py rss;
# root and network namespaces), for two builds of the same tree, one after
# the other in this run: the dynamic $O/podid (glibc, what `make` builds)
# and the shipped one (`make static`: musl, static, stripped; the image's
# /podid).  The goal, <= 2048 KiB with 250 pods, is the shipped binary's.
# Prints both tables, then the VmRSS and RssAnon of each row side by side.
cd "$(dirname "$0")/.." || exit 1
O=${O:-build}
SO=${PODID_STATIC_O:-build/static}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rc=0

if [ ! -x "$O/podid" ]; then
	echo "skipped: $O/podid missing (make first)"
	exit 0
fi
echo "dynamic: $O/podid, glibc, $(wc -c <"$O/podid") bytes"
O=$O python3 bench/topo_bench.py rss | tee "$tmp/dyn" || rc=1
grep -q '^skipped' "$tmp/dyn" && exit "$rc"

# The shipped binary, built as static_test.sh and the Containerfile do.
if ! command -v musl-gcc >/dev/null; then
	echo "static: skipped, musl-gcc missing (deploy/deps.sh)"
	exit "$rc"
fi
if ! make -s O="$SO" OPT="-O2 -g" EXTRA= CFLAGS= static >"$tmp/make.log" \
    2>&1; then
	tail -20 "$tmp/make.log"
	echo "static: make static failed"
	exit 1
fi
mkdir -p "$tmp/static"
cp "$SO/podid-static" "$tmp/static/podid"
echo "static (shipped): $SO/podid-static, musl," \
    "$(wc -c <"$tmp/static/podid") bytes"
O=$tmp/static python3 bench/topo_bench.py rss | tee "$tmp/sta" || rc=1

# Side by side: the rows both tables have, KiB.
rows() { # rows FILE: "name|VmRSS|RssAnon|VmHWM" per table row
	awk '/^  [a-z]/ && NF >= 5 && $NF ~ /^[0-9]+$/ && $(NF-3) ~ /^[0-9]+$/ {
	    n = $1; for (i = 2; i <= NF - 4; i++) n = n " " $i
	    print n "|" $(NF-3) "|" $(NF-2) "|" $NF }' "$1"
}
rows "$tmp/dyn" >"$tmp/dyn.rows"
rows "$tmp/sta" >"$tmp/sta.rows"
if [ -s "$tmp/dyn.rows" ] && [ -s "$tmp/sta.rows" ]; then
	echo "side by side, KiB, dynamic (glibc) | static (musl, shipped);" \
	    "goal for podid run with 250 pods: <= 2048 static VmRSS"
	printf '  %-30s %13s %13s %13s\n' "" "VmRSS" "RssAnon" "VmHWM"
	awk -F'|' 'NR == FNR { v[$1] = $2; a[$1] = $3; h[$1] = $4; next }
	    ($1 in v) { printf "  %-30s %6d|%6d %6d|%6d %6d|%6d\n", $1,
	        v[$1], $2, a[$1], $3, h[$1], $4 }' "$tmp/dyn.rows" \
	    "$tmp/sta.rows"
fi
exit "$rc"
