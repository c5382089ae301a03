#!/usr/bin/env bash
# Makes sure a Redis answers on 127.0.0.1:6379 for the tests: uses the running one, or
# installs Debian's redis-server and starts a throw-away instance (no persistence).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG) 2>/dev/null; }

redis_up && exit 0
ensure_debs redis-server
log "starting redis-server on 127.0.0.1:6379 (no persistence)"
redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes >&2
for _ in $(seq 50); do redis_up && exit 0; sleep 0.1; done
die "redis did not come up on 127.0.0.1:6379"
