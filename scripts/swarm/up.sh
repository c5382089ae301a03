#!/usr/bin/env bash
# Three Docker engines in network namespaces $SW_PREFIX-{media,ai,monitoring} on bridge $SW_BRIDGE,
# joined into one Swarm (three managers: losing one node keeps the quorum), each node labelled
# parley.role=<its name> as stack/docker-stack.yml places services; plus $SW_PREFIX-internet, a
# namespace with nothing but a link to the bridge, where the test browsers run.
# Leftovers of an earlier run are torn down first (scripts/swarm/down.sh). Needs root.
set -euo pipefail
SW_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=scripts/swarm/common.sh
. "$SW_ROOT/scripts/swarm/common.sh"
mkdir -p "$SW_LOGS"

if ! command -v dockerd >/dev/null; then
  sw_log "installing docker.io (the engine; the CLI 28 in /usr/local/bin stays first on PATH)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io >/dev/null
fi

"$SW_ROOT/scripts/swarm/down.sh" >/dev/null 2>&1 || true

ip link add "$SW_BRIDGE" type bridge
ip addr add "$SW_NET.1/24" dev "$SW_BRIDGE"
ip link set "$SW_BRIDGE" up
# A dockerd on the host sets FORWARD to DROP; with br_netfilter bridged frames meet that chain.
iptables -I FORWARD -i "$SW_BRIDGE" -o "$SW_BRIDGE" -m comment --comment "$SW_PREFIX" -j ACCEPT

for node in "${SW_NODES[@]}" internet; do
  ns=$(sw_ns "$node")
  ip netns add "$ns"
  ip link add "sw-$node" type veth peer name eth0 netns "$ns"
  ip link set "sw-$node" master "$SW_BRIDGE" up
  ip -n "$ns" addr add "${SW_IP[$node]}/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  # No default route: nothing beyond the bridge is reachable (as an air-gapped site), so the
  # engines' image pull before every task start fails at once instead of waiting on DNS.
done

for node in "${SW_NODES[@]}"; do rm -rf "${SW_DATA:?}/$node/swarm"; start_engine "$node"; done  # a fresh Swarm every run; image layers stay
for node in "${SW_NODES[@]}"; do
  wait_engine "$node"
  # What an earlier run left: containers of its tasks, its volumes (a deployment starts empty).
  ids=$(dk "$node" ps -aq)
  # shellcheck disable=SC2086  # one id per word
  [ -z "$ids" ] || dk "$node" rm -f $ids >/dev/null
  vols=$(dk "$node" volume ls -q)
  # shellcheck disable=SC2086
  [ -z "$vols" ] || dk "$node" volume rm -f $vols >/dev/null
done

manager=${SW_NODES[0]}
dk "$manager" swarm init --advertise-addr "${SW_IP[$manager]}" --listen-addr "${SW_IP[$manager]}:2377" >/dev/null
token=$(dk "$manager" swarm join-token -q manager)
for node in "${SW_NODES[@]:1}"; do
  dk "$node" swarm join --token "$token" --advertise-addr "${SW_IP[$node]}" \
    --listen-addr "${SW_IP[$node]}:2377" "${SW_IP[$manager]}:2377" >/dev/null
done
for node in "${SW_NODES[@]}"; do
  dk "$manager" node update --label-add "parley.role=$node" "$node" >/dev/null
done
sw_log "swarm of ${#SW_NODES[@]} nodes: $(dk "$manager" node ls --format '{{.Hostname}}:{{.Status}}/{{.ManagerStatus}}' | tr '\n' ' ')"
