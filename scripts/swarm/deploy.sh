#!/usr/bin/env bash
# Carries the images each node runs from the build engine (scripts/images/docker-host.sh's, where
# `make images` built them) to that node's engine, the way an air-gapped site does
# (docker save | docker load; scripts/images/carry.sh skips what a node already has), creates this
# run's secrets, and deploys: docker stack deploy -c stack/docker-stack.yml -c stack/docker-stack.offline.yml.
# Env as the stack reads it (PARLEY_DOMAIN, PARLEY_MEDIA_PUBLIC_IP, ...), set by the caller.
set -euo pipefail
SW_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=scripts/swarm/common.sh
. "$SW_ROOT/scripts/swarm/common.sh"
files=(-c "$SW_ROOT/stack/docker-stack.yml" -c "$SW_ROOT/stack/docker-stack.offline.yml")
manager=${SW_NODES[0]}

# Which images each node runs: the rendered stack's services with replicas, by placement label.
rendered=$(docker stack config "${files[@]}")
plan=$(python3 -c '
import sys, yaml
doc = yaml.safe_load(sys.stdin)
for svc in doc["services"].values():
    d = svc.get("deploy") or {}
    if d.get("replicas") == 0:
        continue
    roles = [c.split("==")[1].strip() for c in (d.get("placement") or {}).get("constraints", [])
             if c.replace(" ", "").startswith("node.labels.parley.role==")]
    for role in roles or sys.argv[1:]:
        print(role, svc["image"])
' "${SW_NODES[@]}" <<<"$rendered" | sort -u)

carry() {
  local node=$1; shift
  "$SW_ROOT/scripts/images/carry.sh" "$(sw_sock "$node")" "$@" | sed "s/^/[swarm] $node: /" >&2
}
t0=$(date +%s)
pids=()
for node in "${SW_NODES[@]}"; do
  mapfile -t imgs < <(awk -v n="$node" '$1 == n {print $2}' <<<"$plan")
  [ ${#imgs[@]} -eq 0 ] || { carry "$node" "${imgs[@]}" & pids+=($!); }
done
for pid in "${pids[@]}"; do wait "$pid"; done   # set -e: a failed carry fails the deploy
sw_log "images carried to ${#SW_NODES[@]} nodes in $(($(date +%s) - t0)) s"

export DOCKER_HOST
DOCKER_HOST=$(sw_sock "$manager")
"$SW_ROOT/scripts/swarm/secrets.sh"
sw_log "Grafana, Loki, promtail: no image of theirs exists offline; stack/docker-stack.offline.yml scales them to 0"
# --resolve-image never: no registry to ask for digests (the CLI would wait on one).
docker stack deploy --resolve-image never "${files[@]}" "$SW_STACK" >/dev/null
sw_log "deployed stack $SW_STACK: $(docker service ls -q | wc -l) services"
