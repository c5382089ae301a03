#!/bin/sh
# Redis Sentinel for Parley (stack services sentinel-*; the tests run the same script).
# Writes the config once into $SENTINEL_DIR (Sentinel rewrites it as it learns the replicas, the
# other sentinels and failovers, so a restarted sentinel remembers them), then runs redis-sentinel.
# Host names are kept as names (resolve/announce-hostnames): Swarm gives a restarted task a new
# address, the name stays.
set -eu
umask 077   # the config may hold the sentinel user's password
dir=${SENTINEL_DIR:-/data}
conf="$dir/sentinel.conf"
name=${SENTINEL_MASTER_NAME:-parley}
mkdir -p "$dir"
if [ ! -s "$conf" ]; then
  {
    echo "port ${SENTINEL_PORT:-26379}"
    echo "bind ${SENTINEL_BIND:-0.0.0.0}"
    echo "protected-mode no"
    echo "dir $dir"
    echo "sentinel resolve-hostnames yes"
    echo "sentinel announce-hostnames yes"
    if [ -n "${SENTINEL_ANNOUNCE_IP:-}" ]; then echo "sentinel announce-ip $SENTINEL_ANNOUNCE_IP"; fi
    echo "sentinel monitor $name ${SENTINEL_MASTER_HOST:-redis} ${SENTINEL_MASTER_PORT:-6379} ${SENTINEL_QUORUM:-2}"
    echo "sentinel down-after-milliseconds $name ${SENTINEL_DOWN_AFTER_MS:-2000}"
    echo "sentinel failover-timeout $name ${SENTINEL_FAILOVER_TIMEOUT_MS:-10000}"
    echo "sentinel parallel-syncs $name 1"
    # The data nodes' user for sentinels (stack/config/redis-users.acl), if they have users.
    if [ -n "${SENTINEL_AUTH_PASS_FILE:-}" ]; then
      echo "sentinel auth-user $name ${SENTINEL_AUTH_USER:-sentinel}"
      echo "sentinel auth-pass $name $(tr -d '\n' < "$SENTINEL_AUTH_PASS_FILE")"
    fi
  } > "$conf"
fi
exec redis-server "$conf" --sentinel   # = redis-sentinel (not installed everywhere)
