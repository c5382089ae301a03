#!/usr/bin/env bash
# scripts/swarm/engine.sh restart|stop|start NODE: one node's Docker engine (as a host reboot or a
# dockerd upgrade does it: its containers stop with it; Swarm starts its tasks again when it is back).
set -euo pipefail
SW_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=scripts/swarm/common.sh
. "$SW_ROOT/scripts/swarm/common.sh"
action=$1 node=$2
case $action in
  stop) stop_engine "$node" ;;
  start) start_engine "$node"; wait_engine "$node" ;;
  restart) stop_engine "$node"; start_engine "$node"; wait_engine "$node" ;;
  *) echo "usage: $0 restart|stop|start NODE" >&2; exit 2 ;;
esac
