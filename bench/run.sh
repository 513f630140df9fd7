#!/bin/sh
# Runs every benchmark: $O/bench/*_bench binaries, then bench/*_bench.sh
# scripts.  Each prints podid's figures beside its anchor's, measured in
# the same run.  Benchmarks never fail on a figure; only a crash fails.
O=${O:-build}
export O
rc=0
for b in "$O"/bench/*_bench; do
	[ -x "$b" ] || continue
	echo "== $(basename "$b")"
	"$b" || rc=1
done
for b in bench/*_bench.sh; do
	[ -f "$b" ] || continue
	echo "== $(basename "$b" .sh)"
	sh "$b" || rc=1
done
exit $rc
