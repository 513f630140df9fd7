#!/bin/sh
# Runs every test and adds up their closing "N passed, N failed" lines.
#   $O/tests/*/*_test      unit tests
#   $O/replay/*            fuzz corpus and regression replay
#   tests/*/*_test.sh      script tests (golden files, CLI)
#   tests/e2e/*_test.*     end-to-end tests in network namespaces (root;
#                          skipped with PODID_NO_E2E=1)
# Each test's own output goes to $O/test-logs/NAME.log and is shown when it
# fails.  The last line is the total.
O=${O:-build}
export O
logs=$O/test-logs
mkdir -p "$logs"
pass=0 fail=0 broken=""

run_one() {
	name=$1; shift
	log=$logs/$(echo "$name" | tr '/' '_').log
	start=$(date +%s)
	"$@" >"$log" 2>&1
	rc=$?
	line=$(grep -E '^([A-Za-z-]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
	p=$(echo "$line" | sed -nE 's/^([A-Za-z-]+: )?([0-9]+) passed, ([0-9]+) failed.*/\2/p')
	f=$(echo "$line" | sed -nE 's/^([A-Za-z-]+: )?([0-9]+) passed, ([0-9]+) failed.*/\3/p')
	if [ -z "$p" ]; then
		p=0; f=1
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	pass=$((pass + p)); fail=$((fail + f))
	secs=$(( $(date +%s) - start ))
	extra=$(grep -E '^replayed [0-9]+ inputs' "$log" | tail -1)
	if [ "$f" -ne 0 ]; then
		echo "FAIL $name ($p passed, $f failed, exit $rc, ${secs}s)"
		tail -40 "$log" | sed 's/^/    /'
		broken="$broken $name"
	else
		echo "ok   $name ($p passed${extra:+, $extra}, ${secs}s)"
	fi
}

for t in "$O"/tests/*/*_test; do
	[ -x "$t" ] && run_one "${t#"$O"/}" "$t"
done
for t in "$O"/replay/*; do
	[ -x "$t" ] || continue
	n=$(basename "$t")
	run_one "replay/$n" "$t" "fuzz/corpus/$n" "fuzz/regression/$n"
done
for t in tests/*/*_test.sh; do
	case $t in tests/e2e/*) continue ;; esac
	[ -f "$t" ] && run_one "$t" sh "$t"
done
if [ "${PODID_NO_E2E:-0}" != 1 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "FAIL e2e: end-to-end tests need root (or PODID_NO_E2E=1)"
		fail=$((fail + 1))
	else
		for t in tests/e2e/*_test.sh tests/e2e/*_test.py; do
			[ -f "$t" ] || continue
			case $t in
			*.sh) run_one "$t" sh "$t" ;;
			*.py) run_one "$t" python3 "$t" ;;
			esac
		done
	fi
fi
[ -n "$broken" ] && echo "failed:$broken"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
