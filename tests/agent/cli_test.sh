#!/bin/sh
# The numeric and address options of `podid run`, `pods`, `rules` (in
# tests/e2e/rules_test.py: it needs nf_tables) and `selftest`, through
# the real binary ($O/podid): a value at its limit gets past option
# parsing, one past it (or not a number or address at all) exits 64 with
# one line naming the option, the value and what it must be, before
# anything starts.
# Ends with "N passed, N failed".
cd "$(dirname "$0")/../.." || exit 1
O=${O:-build}
bin=$O/podid
pass=0 fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj /CN=podid-cli-test -days 1 -keyout "$tmp/ca.key" \
    -out "$tmp/ca.pem" >/dev/null 2>&1 || { echo "openssl failed"; exit 1; }
echo token >"$tmp/token"
printf 'identity a {\n    kind      managed\n    client-id "00000000-0000-0000-0000-000000000001"\n}\n' >"$tmp/p.pol"

# verdict OK NAME: counts one case (OK is 0 when it held) and, when it
# did not, shows the exit status and the start of what the command said.
verdict() {
	if [ "$1" -eq 0 ]; then
		pass=$((pass + 1)); echo "ok   $2"
	else
		fail=$((fail + 1)); echo "FAIL $2: exit $rc"
		sed 's/^/    /' "$tmp/out" | head -5
	fi
}
# usage_err WANT ARGS...: podid ARGS exits 64, its output holding WANT.
usage_err() {
	want=$1; shift
	"$bin" "$@" >"$tmp/out" 2>&1
	rc=$?
	[ $rc -eq 64 ] && grep -qF -- "$want" "$tmp/out"
	verdict $? "$* refused"
}
# refused CMD OPT VALUE RANGE: exit 64, the option, value and range named.
refused() {
	usage_err "podid $1: --$2: \"$3\" is not a whole number from $4" \
	    "$1" --policy "$tmp/p.pol" "--$2" "$3"
}
# bad_addr OPT VALUE WANT: run exits 64 naming the option and its value.
bad_addr() {
	usage_err "run: --$1 $2: not $3" run --policy "$tmp/p.pol" --rules off "--$1" "$2"
}
# taken CMD OPT VALUE [ARGS]: no complaint about the option; run must get
# as far as listening, pods as far as asking the API (either may fail
# later for want of an API server: that is past option parsing).
taken() {
	timeout 2 "$bin" "$1" --policy "$tmp/p.pol" "--$2" "$3" --kube-api https://127.0.0.1:1 \
	    --kube-token-file "$tmp/token" --kube-ca-file "$tmp/ca.pem" \
	    --node n1 ${4:-} >"$tmp/out" 2>&1
	rc=$?
	want="run: listening on"
	[ "$1" = pods ] && want="kube"
	[ $rc -ne 64 ] && ! grep -q "not a whole number\|: not " "$tmp/out" &&
	    grep -q "$want" "$tmp/out"
	verdict $? "$1 --$2 $3 taken"
}

bad_addr listen 127.0.0.1:65536 "IP:PORT"
bad_addr listen 127.0.0.1:12x "IP:PORT"
bad_addr listen localhost:2579 "IP:PORT"
bad_addr ops-listen 127.0.0.1:70000 "IP:PORT or off"
bad_addr imds-endpoint http://169.254.169.254:65536 "http://IP[:PORT]"
bad_addr imds-endpoint https://169.254.169.254 "http://IP[:PORT]"
bad_addr aad-authority ftp://login.example.com "https://HOST[:PORT][/PATH]"
bad_addr aad-authority "https://user@login.example.com" "https://HOST[:PORT][/PATH]"
# --rules keep with no node address to DNAT to: a command-line fault too.
usage_err "run: --rules keep needs --node-ip" run --policy "$tmp/p.pol" \
    --rules keep --listen 0.0.0.0:2579 --kube-api https://127.0.0.1:1 \
    --kube-token-file "$tmp/token" --kube-ca-file "$tmp/ca.pem" --node n1
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
run_off="--rules off --listen 127.0.0.1:32579 --ops-listen off"
taken run listen 127.0.0.1:65535 "--rules off --ops-listen off"
bad_addr listen 127.0.0.1:0 "IP:PORT (port 1 to 65535)"
taken run aad-authority https://login.example.com:8443/base "$run_off"
taken run max-pods 8192 "$run_off"
taken run max-connections 65536 "$run_off"
taken run token-slots 4096 "$run_off"
taken pods max-pods 8192 "--timeout 1"
taken pods page-size 500 "--timeout 1"
taken pods watch-timeout 2 "--timeout 1"
taken pods timeout 1
# selftest: each bad value named, exit 64, before it asks the agent (no
# check line printed).
st_bad() { # st_bad WANT ARGS...
	want=$1; shift
	"$bin" selftest --ops 127.0.0.1:1 "$@" >"$tmp/out" 2>&1
	rc=$?
	[ $rc -eq 64 ] && grep -qF -- "podid selftest: $want" "$tmp/out" &&
	    ! grep -q "^FAIL " "$tmp/out"
	verdict $? "selftest $* refused"
}
st_bad '--ops: "127.0.0.1:65536" is not IP:PORT' --ops 127.0.0.1:65536
st_bad '--pod: "orders" is not NAMESPACE/NAME' --pod orders
st_bad '--pod: "shop/" is not NAMESPACE/NAME' --pod shop/
st_bad '--pod: "/orders" is not NAMESPACE/NAME' --pod /orders
st_bad '--pod: "a/b/c" is not NAMESPACE/NAME' --pod a/b/c
ns63=$(printf '%063d' 0 | tr 0 n)
name253=$(printf '%0253d' 0 | tr 0 p)
res512=https://$(printf '%0504d' 0 | tr 0 r)
st_bad "--pod: \"${ns63}x/orders\" is not NAMESPACE/NAME (at most 63 and 253" --pod "${ns63}x/orders"
st_bad "--pod: \"shop/${name253}x\" is not NAMESPACE/NAME" --pod "shop/${name253}x"
st_bad '--resource: 1 to 512 characters' --pod shop/orders --resource "${res512}x"
st_bad '--resource: 1 to 512 characters' --pod shop/orders --resource ""
st_bad '--resource needs --pod' --resource https://vault.azure.net
st_bad '--max-event-age: "0" is not a whole number from 1 to 86400' --max-event-age 0
st_bad '--max-event-age: "86401" is not a whole number from 1 to 86400' --max-event-age 86401
st_bad '--user: "4294967295" is not a whole number from 0 to 4294967294' --user 4294967295
st_bad '--user: "nobody" is not a whole number' --user nobody
# At their limits they pass parsing: the agent check then fails (nothing
# listens on port 1), exit 1, not 64.
rc=0
[ ${#ns63} -eq 63 ] && [ ${#name253} -eq 253 ] && [ ${#res512} -eq 512 ]
verdict $? "the limit-length arguments are 63, 253 and 512 characters"
"$bin" selftest --ops 127.0.0.1:1 --max-event-age 86400 --user 4294967294 \
    --pod "$ns63/$name253" --resource "$res512" >"$tmp/out" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q "^FAIL  agent" "$tmp/out"
verdict $? "selftest options at their limits taken"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
