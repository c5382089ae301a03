#!/usr/bin/env bash
# Starts the whole meeting system on this machine on its defaults, in the foreground (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PARLEY_REDIS_URL=${PARLEY_REDIS_URL:-redis://127.0.0.1:6379/0} HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
PORT=${PARLEY_GATEWAY_PORT:-8080}
# The SFU sends every audio producer as RTP to parley-ingest's RTP port (docs/media.md).
export PARLEY_INGEST_RTP_HOST=${PARLEY_INGEST_RTP_HOST:-127.0.0.1} PARLEY_INGEST_RTP_PORT=${PARLEY_INGEST_RTP_PORT:-5004}
SFU_WS_PORT=${SFU_WS_PORT:-4443}
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
PARLEY_INGEST_METRICS_PORT=${PARLEY_INGEST_METRICS_PORT:-9105} .venv/bin/parley-ingest & pids+=($!)  # make attack reads its /metrics
PARLEY_GATEWAY_PORT=$PORT PARLEY_GATEWAY_SFU_URL=${PARLEY_GATEWAY_SFU_URL:-ws://127.0.0.1:$SFU_WS_PORT/ws} \
  .venv/bin/parley-gateway & pids+=($!)
[ -f mediasoup-node/dist/src/main.js ] || make --no-print-directory mediasoup-build
(cd mediasoup-node && GATEWAY_RTP_HOST=$PARLEY_INGEST_RTP_HOST GATEWAY_RTP_PORT=$PARLEY_INGEST_RTP_PORT \
  REDIS_URL=$PARLEY_REDIS_URL SFU_WS_PORT=$SFU_WS_PORT exec scripts/with-env.sh node dist/src/main.js) & pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
# A listener's join token for the caption viewer (the caption socket refuses anonymous listeners).
VIEWER_TOKEN=$(.venv/bin/python -c "import os; from parley_common.tokens import issue_join_token as t; print(t(os.environ['PARLEY_JOIN_TOKEN_SECRET'], 'demo', 'viewer', 'Viewer', 'listener', 12 * 3600))")
# The meeting UI (frontend/): room "demo" and an invite link to it, through the admin API.
INVITE=$(.venv/bin/python - "http://127.0.0.1:$PORT" <<'PY' || true
import json, os, sys, urllib.error, urllib.request
base = sys.argv[1] + "/api/v1"
def post(path, body, token=""):
    headers = {"content-type": "application/json", **({"authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(base + path, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())
admin = post("/auth/login", {"username": os.environ.get("PARLEY_ADMIN_USERNAME", "admin"),
                             "password": os.environ.get("PARLEY_ADMIN_PASSWORD", "change-me")})["access_token"]
try:
    post("/rooms", {"name": "Demo", "slug": "demo", "spoken_languages": ["en"]}, admin)
except urllib.error.HTTPError as exc:
    if exc.code != 409:  # 409: the room exists already
        raise
print(post("/rooms/demo/invites", {"ttl_s": 7 * 24 * 3600}, admin)["code"])
PY
)
cat <<MSG

  Parley is running. Open the meeting (share this link; each person picks a name in the lobby):
    http://127.0.0.1:$PORT/rooms/demo?invite=$INVITE

  Listen only (a listener token in the link):  http://127.0.0.1:$PORT/rooms/demo#token=$VIEWER_TOKEN

  Speak into room "demo" from a file:
    .venv/bin/parley-feeder --room demo --speaker alice --name Alice /usr/share/pocketsphinx/test/data/librivox/*.wav

  Or through the SFU and WebRTC, as a participant (ws://127.0.0.1:$SFU_WS_PORT/ws):
    .venv/bin/parley-bot --sfu ws://127.0.0.1:$SFU_WS_PORT/ws --room demo --id bob --name Bob --loopback-ice \
      --token-secret "\$PARLEY_JOIN_TOKEN_SECRET" /usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav

MSG
wait -n "${pids[@]}"
