#!/bin/sh
# ktoken against the strict fake API server over TLS (no root needed): the
# fake and its CA are made here, one pod added through its control API,
# then `ktoken_test --live` mints, caches and wipes that pod's token.
# Ends with the binary's "N passed, N failed".
cd "$(dirname "$0")/../.." || exit 1
O=${O:-build}
dir=$(mktemp -d) || exit 1
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
python3 tests/fakes/certs.py "$dir/certs" --ip 127.0.0.1 >/dev/null || exit 1
echo "live-test-token" >"$dir/token"
mkdir "$dir/state"
python3 tests/fakes/kube_api.py --listen 127.0.0.1:0 \
	--cert "$dir/certs/server.crt" --key "$dir/certs/server.key" \
	--token-file "$dir/token" --node node-a --state-dir "$dir/state" \
	--port-file "$dir/port" --control-listen 127.0.0.1:0 \
	--control-port-file "$dir/ctl" 2>"$dir/kube.log" &
pid=$!
i=0
# 30 s: the fake loads its keys in Python, slow on a loaded machine.
while [ ! -s "$dir/port" ] || [ ! -s "$dir/ctl" ]; do
	i=$((i + 1))
	if [ $i -gt 300 ]; then
		cat "$dir/kube.log"
		echo "0 passed, 1 failed"
		exit 1
	fi
	sleep 0.1
done
uid=$(python3 - "$(cat "$dir/ctl")" <<'PY'
import json, sys, urllib.request
body = json.dumps({"name": "app-1", "namespace": "team-a",
                   "serviceAccount": "app-sa", "ip": "10.1.0.5"}).encode()
req = urllib.request.Request("http://127.0.0.1:%s/pods" % sys.argv[1], body,
                             {"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(req))["pods"][0]["metadata"]["uid"])
PY
) || exit 1
"$O/tests/agent/ktoken_test" --live "https://127.0.0.1:$(cat "$dir/port")" \
	"$dir/token" "$dir/certs/ca.crt" "$uid"
rc=$?
# The two refusals the test provokes are the only violations allowed.
v=$(grep -vc -e "uid mismatch" -e "no-such-sa not found" \
	"$dir/state/violations.log")
if [ "$v" != 0 ]; then
	echo "FAIL the fake API server saw $v unexpected violations:"
	cat "$dir/state/violations.log"
	echo "0 passed, 1 failed"
	exit 1
fi
exit $rc
