#!/usr/bin/env bash
# Uses the Redis at $PARLEY_REDIS_URL when it answers; otherwise starts a local one (no persistence).
set -euo pipefail
url=${PARLEY_REDIS_URL:-redis://127.0.0.1:6379/0}
if redis-cli -u "$url" ping >/dev/null 2>&1; then exit 0; fi
hostport=${url#redis://}; hostport=${hostport%%/*}; port=${hostport##*:}
echo "ensure-redis: no Redis at $url, starting one on 127.0.0.1:$port"
mkdir -p "${PARLEY_RUN_DIR:-/tmp/parley-run}"
redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
  --dir "${PARLEY_RUN_DIR:-/tmp/parley-run}" --logfile "${PARLEY_RUN_DIR:-/tmp/parley-run}/redis.log"
for _ in $(seq 50); do redis-cli -u "$url" ping >/dev/null 2>&1 && exit 0; sleep 0.1; done
echo "ensure-redis: Redis did not start" >&2; exit 1
