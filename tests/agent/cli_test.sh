#!/bin/sh
# The numeric options of `podid run` and `podid pods`, through the real
# binary ($O/podid): a value at its limit gets past option parsing, one
# past it (or not a number at all) exits 64 with one line naming the
# option, the value and the range, before anything starts.
# Ends with "N passed, N failed".
cd "$(dirname "$0")/../.." || exit 1
O=${O:-build}
bin=$O/podid
pass=0 fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'identity a { managed client_id "00000000-0000-0000-0000-000000000001" }\n' >"$tmp/p.pol"

# refused CMD OPT VALUE RANGE: exit 64 and the line "... OPT: "VALUE" ... RANGE".
refused() {
	"$bin" "$1" --policy "$tmp/p.pol" "--$2" "$3" >"$tmp/out" 2>&1
	rc=$?
	if [ $rc -eq 64 ] && grep -qF -- "podid $1: --$2: \"$3\" is not a whole number from $4" "$tmp/out"; then
		pass=$((pass + 1)); echo "ok   $1 --$2 $3 refused"
	else
		fail=$((fail + 1)); echo "FAIL $1 --$2 $3: exit $rc"
		sed 's/^/    /' "$tmp/out" | head -5
	fi
}
# taken CMD OPT VALUE: no complaint about the option (the command may fail
# later for want of an API server: that is past option parsing).
taken() {
	timeout 2 "$bin" "$1" --policy "$tmp/p.pol" "--$2" "$3" --kube-api https://127.0.0.1:1 \
	    --kube-token-file /dev/null --node n1 ${4:-} >"$tmp/out" 2>&1
	rc=$?
	if [ $rc -ne 64 ] && ! grep -q "not a whole number" "$tmp/out"; then
		pass=$((pass + 1)); echo "ok   $1 --$2 $3 taken"
	else
		fail=$((fail + 1)); echo "FAIL $1 --$2 $3 not taken: exit $rc"
		sed 's/^/    /' "$tmp/out" | head -5
	fi
}

refused run max-pods 0 "1 to 8192"
refused run max-pods 8193 "1 to 8192"
refused run max-pods 4294967297 "1 to 8192"
refused run max-pods 12x "1 to 8192"
refused run max-pods -1 "1 to 8192"
refused run max-connections 65537 "1 to 65536"
refused run max-connections "" "1 to 65536"
refused run token-slots 4097 "1 to 4096"
refused run token-slots 0 "1 to 4096"
refused pods max-pods 8193 "1 to 8192"
refused pods page-size 501 "1 to 500"
refused pods page-size 0 "1 to 500"
refused pods watch-timeout 1 "2 to 3600"
refused pods watch-timeout 3601 "2 to 3600"
refused pods timeout 0 "1 to 3600"
refused pods timeout 5s "1 to 3600"
run_off="--rules off --listen 127.0.0.1:0 --ops-listen off --log-level warn"
taken run max-pods 8192 "$run_off"
taken run max-connections 65536 "$run_off"
taken run token-slots 4096 "$run_off"
taken pods max-pods 8192 "--timeout 1"
taken pods page-size 500 "--timeout 1"
taken pods watch-timeout 2 "--timeout 1"
taken pods timeout 1
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
