#!/bin/sh
# Tests of the test fakes themselves (Python standard library + openssl CLI
# + curl): the fake API server, then the fake Azure AD.  Each prints its own
# "N passed, N failed"; the last line adds them up for tests/run.sh.
cd "$(dirname "$0")/../.." || exit 1
p=0 f=0 rc=0
for t in tests/fakes/kube_api_test.py tests/fakes/aad_test.py; do
	out=$(python3 "$t" 2>&1) || rc=1
	printf '%s\n' "$out"
	line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -1)
	[ -n "$line" ] || { f=$((f + 1)); rc=1; continue; }
	p=$((p + ${line%% passed*}))
	n=${line#*passed, }
	f=$((f + ${n%% failed*}))
done
echo "$p passed, $f failed"
exit $rc
