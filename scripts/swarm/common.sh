# shellcheck shell=bash
# Shared by scripts/swarm/*.sh: a three-node Swarm on one machine, one Docker engine per network
# namespace (media, ai, monitoring) plus an "internet" namespace for the test browsers, all on one
# bridge. Recipe and limits: ../shared/ENVIRONMENT.md, "A real Docker engine and a three-node Swarm".

: "${PARLEY_CACHE:=$HOME/.cache/parley}"
SW_PREFIX=${SW_PREFIX:-parley-sw}
SW_BRIDGE=${SW_BRIDGE:-parleysw0}
SW_NET=${SW_NET:-10.79.0}                    # /24: .1 the host, .11-.13 the nodes, .20 the internet
# shellcheck disable=SC2034  # used by the scripts that source this file
SW_NODES=(media ai monitoring)              # the first is the manager (swarm init)
# shellcheck disable=SC2034
declare -A SW_IP=([media]=$SW_NET.11 [ai]=$SW_NET.12 [monitoring]=$SW_NET.13 [internet]=$SW_NET.20)
SW_RUN=${SW_RUN:-/run/parley-sw}             # sockets, pid files, exec roots, private /var/run/docker
# Data roots: image layers persist between runs (carry.sh then skips what a node already has);
# swarm state, containers and volumes are reset by up.sh.
SW_DATA=${SW_DATA:-$PARLEY_CACHE/swarm}
SW_LOGS=${SW_LOGS:-${SW_ROOT:-.}/artifacts/logs/swarm}
SW_STACK=${SW_STACK:-parley}

sw_ns() { echo "$SW_PREFIX-$1"; }
sw_sock() { echo "unix://$SW_RUN/$1/docker.sock"; }
# The docker CLI (28, /usr/local/bin) against one node's engine.
dk() { local node=$1; shift; docker -H "$(sw_sock "$node")" "$@"; }
sw_log() { printf '[swarm %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
