#!/bin/sh
# Golden-file tests of the policy language's command line, run from the
# repository root by tests/run.sh with $O set (the binary is $O/podid):
#
#   tests/golden/policy/NNN-name.pol   `podid policy check FILE`; the .out
#                                      is its stdout and stderr, then the
#                                      line "exit N"
#   tests/golden/policy/NNN-name.gen   a sh script writing a large input to
#                                      stdout; it is checked as
#                                      $O/golden/policy/NNN-name.pol and the
#                                      .out spells that path with a literal $O
#   tests/golden/explain/NAME.args     `podid policy explain ...`: line 1 the
#                                      policy file, then one option a line
#                                      ("--label app=orders"); .out as above
#   tests/golden/fmt/NAME.pol          `podid policy fmt FILE`; the .out is
#                                      the canonical form, exit 0, nothing
#                                      on stderr
#
# The size in the summary line of `check` ("N bytes compiled") depends on
# struct layout, so it is compared as "N".  Every fmt input and example
# policy is also formatted twice: fmt(fmt(x)) must equal fmt(x).
#
# GOLDEN_UPDATE=1 rewrites the .out files from what the binary prints, and
# GOLDEN_CASES='policy/03*' (a shell pattern over "policy/NAME",
# "explain/NAME", "fmt/NAME" and "fmt-idempotent/PATH") limits a run to
# some cases.  Some .out files state what should be printed where the
# binary is known to be wrong (the commit that added them lists those), so
# review `git diff tests/golden` after an update rather than blessing
# whatever is printed.
# The last line is "N passed, N failed"; the exit status is 1 on failure.
O=${O:-build}
bin=$O/podid
dir=tests/golden
tmp=$O/golden
pass=0 fail=0

if [ ! -x "$bin" ]; then
	echo "golden: $bin not built"
	echo "0 passed, 1 failed"
	exit 1
fi
mkdir -p "$tmp/policy" "$tmp/explain" "$tmp/fmt" || exit 1

# Stable output: the build directory as "$O", the compiled size as "N".
normalize() {
	awk -v o="$tmp/" '{
		out = ""
		while ((i = index($0, o)) > 0) {
			out = out substr($0, 1, i - 1) "$O/golden/"
			$0 = substr($0, i + length(o))
		}
		$0 = out $0
		sub(/, [0-9]+ bytes compiled$/, ", N bytes compiled")
		print
	}'
}

# want NAME: is this case selected by GOLDEN_CASES?
want() {
	[ -z "${GOLDEN_CASES:-}" ] && return 0
	# shellcheck disable=SC2254 # the pattern is meant to match as one
	case $1 in
	$GOLDEN_CASES) return 0 ;;
	esac
	return 1
}

# compare NAME GOLDEN ACTUAL: diff, or rewrite the golden file.
compare() {
	if [ "${GOLDEN_UPDATE:-0}" = 1 ]; then
		cmp -s "$3" "$2" || { cp "$3" "$2"; echo "updated $2"; }
		pass=$((pass + 1))
		return
	fi
	# The diff goes through cat -v: invalid UTF-8 in it would make grep
	# in tests/run.sh take the log for binary and miss the summary line.
	if [ -f "$2" ] && diff -u "$2" "$3" >"$tmp/diff"; then
		echo "ok $1"
		pass=$((pass + 1))
	else
		cat -v "$tmp/diff"
		[ -f "$2" ] || echo "golden: $2 missing"
		echo "FAIL $1"
		fail=$((fail + 1))
	fi
}

# run_check NAME INPUT GOLDEN
run_check() {
	"$bin" policy check "$2" >"$tmp/raw" 2>&1
	rc=$?
	echo "exit $rc" >>"$tmp/raw"
	normalize <"$tmp/raw" >"$tmp/policy/$1.out"
	compare "policy/$1" "$3" "$tmp/policy/$1.out"
}

for f in "$dir"/policy/*; do
	case $f in
	*.pol | *.gen) ;;
	*) continue ;;
	esac
	base=${f%.*}
	name=${base##*/}
	want "policy/$name" || continue
	in=$f
	case $f in
	*.gen)
		in=$tmp/policy/$name.pol
		if ! sh "$f" >"$in"; then
			echo "FAIL policy/$name: generator failed"
			fail=$((fail + 1))
			continue
		fi
		;;
	esac
	run_check "$name" "$in" "$base.out"
done

# explain: the .args file holds the command line, one option a line.
for f in "$dir"/explain/*.args; do
	[ -f "$f" ] || continue
	name=${f##*/}
	name=${name%.args}
	want "explain/$name" || continue
	set --
	first=1
	while IFS= read -r line || [ -n "$line" ]; do
		[ -n "$line" ] || continue
		if [ $first = 1 ]; then
			set -- "$line"
			first=0
			continue
		fi
		case $line in
		*" "*) set -- "$@" "${line%% *}" "${line#* }" ;;
		*) set -- "$@" "$line" ;;
		esac
	done <"$f"
	"$bin" policy explain "$@" >"$tmp/raw" 2>&1
	echo "exit $?" >>"$tmp/raw"
	normalize <"$tmp/raw" >"$tmp/explain/$name.out"
	compare "explain/$name" "${f%.args}.out" "$tmp/explain/$name.out"
done

# fmt_once IN OUT ERR: formats IN; false unless exit 0 and stderr empty.
fmt_once() {
	"$bin" policy fmt "$1" >"$2" 2>"$3" && [ ! -s "$3" ]
}

for f in "$dir"/fmt/*.pol; do
	[ -f "$f" ] || continue
	name=${f##*/}
	name=${name%.pol}
	want "fmt/$name" || continue
	if ! fmt_once "$f" "$tmp/fmt/$name.out" "$tmp/fmt/$name.err"; then
		cat -v "$tmp/fmt/$name.err"
		echo "FAIL fmt/$name: fmt failed"
		fail=$((fail + 1))
		continue
	fi
	compare "fmt/$name" "${f%.pol}.out" "$tmp/fmt/$name.out"
done

# Idempotence over the fmt inputs and the examples.
for f in "$dir"/fmt/*.pol policy/examples/*.pol; do
	[ -f "$f" ] || continue
	name=$(echo "${f%.pol}" | tr '/' '_')
	want "fmt-idempotent/$f" || continue
	if fmt_once "$f" "$tmp/fmt/$name.1" "$tmp/fmt/$name.err" &&
	    fmt_once "$tmp/fmt/$name.1" "$tmp/fmt/$name.2" \
	    "$tmp/fmt/$name.err" &&
	    diff -u "$tmp/fmt/$name.1" "$tmp/fmt/$name.2"; then
		echo "ok fmt-idempotent $f"
		pass=$((pass + 1))
	else
		cat -v "$tmp/fmt/$name.err"
		echo "FAIL fmt-idempotent $f"
		fail=$((fail + 1))
	fi
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
