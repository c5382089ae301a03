#!/usr/bin/env bash
# Tears down what up.sh made: the engines (their containers stop with them), every process left in
# the namespaces, the namespaces, the bridge and its iptables rule. Safe to run any number of times;
# image layers under $SW_DATA stay for the next run.
set -uo pipefail
SW_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=scripts/swarm/common.sh
. "$SW_ROOT/scripts/swarm/common.sh"

for node in "${SW_NODES[@]}"; do
  pidf=$SW_RUN/$node/dockerd.pid
  [ -f "$pidf" ] && kill -TERM "$(cat "$pidf")" 2>/dev/null
done
for node in "${SW_NODES[@]}"; do
  pidf=$SW_RUN/$node/dockerd.pid
  for _ in $(seq 1 60); do
    { [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; } || break
    sleep 0.5
  done
  [ -f "$pidf" ] && kill -KILL "$(cat "$pidf")" 2>/dev/null
  rm -f "$pidf"
done
for node in "${SW_NODES[@]}" internet; do
  ns=$(sw_ns "$node")
  [ -e "/run/netns/$ns" ] || continue
  pids=$(ip netns pids "$ns" 2>/dev/null)
  # shellcheck disable=SC2086
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null
  ip link del "sw-$node" 2>/dev/null
  ip netns del "$ns"
done
# Mounts of the engines' exec roots (their mount namespaces are gone with them; these are leftovers).
grep -o " $SW_RUN/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
while iptables -D FORWARD -i "$SW_BRIDGE" -o "$SW_BRIDGE" -m comment --comment "$SW_PREFIX" -j ACCEPT 2>/dev/null; do :; done
ip link del "$SW_BRIDGE" 2>/dev/null
rm -rf "${SW_RUN:?}"
true
