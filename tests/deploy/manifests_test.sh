#!/bin/sh
# The Kubernetes manifests in deploy/kubernetes, checked offline (needs
# PyYAML and $O/podid).  tests/run.sh reads the closing
# "N passed, N failed" line.
cd "$(dirname "$0")/../.." || exit 1
# The python3 on PATH may be another build than Debian's, which is the one
# deploy/deps.sh gives python3-yaml to: take the first that has yaml.
for py in python3 /usr/bin/python3; do
	if "$py" -c 'import yaml' 2>/dev/null; then
		exec "$py" tests/deploy/manifests_test.py
	fi
done
exec python3 tests/deploy/manifests_test.py # reports the missing module
