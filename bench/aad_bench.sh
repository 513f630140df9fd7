#!/bin/sh
# Issue 5: 200 pods asking at once for one service-principal token (the
# upstream requests Azure AD saw: one), and a new pod's time to its first
# token when its identity's token is cached, beside a managed identity's.
# Root and network namespaces: see bench/aad_bench.py.
exec python3 "$(dirname "$0")/aad_bench.py"
