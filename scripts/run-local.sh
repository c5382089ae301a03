#!/usr/bin/env bash
# Starts the whole meeting system on this machine on its defaults, in the foreground (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PARLEY_REDIS_URL=${PARLEY_REDIS_URL:-redis://127.0.0.1:6379/0} HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
PORT=${PARLEY_GATEWAY_PORT:-8080}
# One join-token secret for the gateway (issues and checks tokens) and the SFU (checks them).
export PARLEY_JOIN_TOKEN_SECRET=${PARLEY_JOIN_TOKEN_SECRET:-${JOIN_TOKEN_SECRET:-dev-secret-change-me}}
export JOIN_TOKEN_SECRET=$PARLEY_JOIN_TOKEN_SECRET
export PARLEY_DATABASE_URL=${PARLEY_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/parley}
scripts/ensure-redis.sh
scripts/ensure-postgres.sh
.venv/bin/parley-migrate   # alembic upgrade head, before any service starts
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
.venv/bin/parley-stt & pids+=($!)
.venv/bin/parley-translate & pids+=($!)
.venv/bin/parley-persister & pids+=($!)
PARLEY_GATEWAY_PORT=$PORT .venv/bin/parley-gateway & pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
cat <<MSG

  Parley is running:  http://127.0.0.1:$PORT/

  Speak into room "demo" from a file:
    .venv/bin/parley-feeder --room demo --speaker alice --name Alice /usr/share/pocketsphinx/test/data/librivox/*.wav

MSG
wait -n "${pids[@]}"
