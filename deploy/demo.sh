#!/bin/sh
# The local demo: the policy language offline (every example checked, a
# few pods explained, one file formatted), then the whole flow on this
# machine as root (deploy/demo_node.py): node and pod network namespaces,
# the fakes, podid run installing its interception rules, pods fetching
# tokens with curl (a managed identity and a service principal), then
# `podid selftest` beside the agent, then everything torn down.
set -eu
O=${O:-build}
podid=$O/podid
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

say podid policy check policy/examples/*.pol
$podid policy check policy/examples/*.pol 2>/dev/null

say podid policy explain policy/examples/team.pol --namespace shop \
    --label app=orders --label tier=api --service-account orders --name orders-7d9
$podid policy explain policy/examples/team.pol --namespace shop \
    --label app=orders --label tier=api --service-account orders --name orders-7d9

say podid policy explain policy/examples/team.pol --namespace shop \
    --label app=orders --label tier=db --name orders-db-0
$podid policy explain policy/examples/team.pol --namespace shop \
    --label app=orders --label tier=db --name orders-db-0

say podid policy explain policy/examples/team.pol --namespace kube-system \
    --label kubernetes.azure.com/managedby=aks --name coredns-1
$podid policy explain policy/examples/team.pol --namespace kube-system \
    --label kubernetes.azure.com/managedby=aks --name coredns-1

say podid policy explain policy/examples/multitenant.pol --namespace monitoring \
    --label app.kubernetes.io/name=node-exporter --host-network --name exporter-x
$podid policy explain policy/examples/multitenant.pol --namespace monitoring \
    --label app.kubernetes.io/name=node-exporter --host-network --name exporter-x 2>/dev/null

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
printf 'identity  x{\nkind managed # the kind\n  client-id "00000000-0000-4000-8000-000000000001"}\n' >"$tmp"
say "podid policy check (a broken policy)"
$podid policy check "$tmp" || echo "(exit $?)"
printf 'identity  x{\nkind managed # the kind\n  client-id "00000000-0000-4000-8000-000000000001"\n}\nbind b {\nidentity x\n namespace   a,b\nlabel app==web,!debug\n}\n' >"$tmp"
say "podid policy fmt (a messy policy)"
cat "$tmp"
echo "--- formatted:"
$podid policy fmt "$tmp"

if [ "$(id -u)" -eq 0 ]; then
	python3 deploy/demo_node.py
else
	echo "(the live part of the demo needs root: network namespaces)"
fi
