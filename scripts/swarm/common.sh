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

# Starts NODE's engine in its namespace (detached); its swarm state, if any, is kept.
start_engine() {
  local node=$1 run=$SW_RUN/$1 data=$SW_DATA/$1
  mkdir -p "$run/varrun" "$run/exec" "$data" /var/run/docker
  echo '{}' >"$run/daemon.json"   # not /etc/docker/daemon.json: the host's engine may have one
  # The node's resolver (scripts/swarm/nxdns.py): answers at once, as a host's own resolver would.
  echo 'nameserver 127.0.0.1' >"$run/resolv.conf"
  if ! { [ -f "$run/nxdns.pid" ] && kill -0 "$(cat "$run/nxdns.pid")" 2>/dev/null; }; then
    setsid nsenter --net="/run/netns/$(sw_ns "$node")" python3 "$SW_ROOT/scripts/swarm/nxdns.py" \
      >>"$SW_LOGS/nxdns-$node.log" 2>&1 </dev/null &
    echo $! >"$run/nxdns.pid"
  fi
  # A private /var/run/docker per engine: libnetwork keeps overlay sandboxes under that fixed path.
  # nsenter, not `ip netns exec` (that remounts /sys, and dockerd then finds no cgroups).
  setsid nsenter --net="/run/netns/$(sw_ns "$node")" unshare --uts --mount --propagation private \
    sh -c "mount --bind '$run/varrun' /var/run/docker && mount --bind '$run/resolv.conf' /etc/resolv.conf && hostname '$node' && exec dockerd \
      --config-file '$run/daemon.json' --data-root '$data' --exec-root '$run/exec' \
      -H '$(sw_sock "$node")' --pidfile '$run/dockerd.pid' --log-level warn" \
    >>"$SW_LOGS/dockerd-$node.log" 2>&1 </dev/null &
}

wait_engine() {
  local node=$1
  for _ in $(seq 1 120); do
    dk "$node" info >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  sw_log "the $node engine did not start:"; tail -20 "$SW_LOGS/dockerd-$node.log" >&2
  return 1
}

# Stops NODE's engine (SIGTERM: it stops its containers first; SIGKILL after 30 s).
stop_engine() {
  local pidf=$SW_RUN/$1/dockerd.pid pid
  [ -f "$pidf" ] || return 0
  pid=$(cat "$pidf")
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  kill -KILL "$pid" 2>/dev/null
}
