#!/usr/bin/env bash
# WebRTC end to end (test-webrtc/webrtc_e2e.py): an aiortc client does ICE + DTLS-SRTP with
# the SFU and its tone must come out of the gateway PlainTransport. Runs in a network
# namespace with only `lo` up, so nothing leaves the machine. Needs root (ip netns).
# Usage: scripts/with-env.sh scripts/webrtc-e2e.sh   (after npm run build)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	log "skipped: needs root for a network namespace (ip netns)"
	exit 0
fi
ensure_debs iproute2 python3-venv redis-server
VENV="$PARLEY_CACHE/tools/webrtc-venv-$(sha256sum test-webrtc/requirements.txt | cut -c1-12)"
if ! "$VENV/bin/python" -c 'import aiortc, pymediasoup, redis, websockets' 2>/dev/null; then
	log "installing test-webrtc/requirements.txt into $VENV"
	rm -rf "$VENV"
	python3 -m venv "$VENV"
	"$VENV/bin/pip" install -q --disable-pip-version-check -r test-webrtc/requirements.txt >&2 2>"$VENV.log" ||
		{ grep -v '^WARNING: Location' "$VENV.log" >&2; die "pip install failed"; }
fi
NS="parley-e2e-$$"
ip netns add "$NS"
trap 'ip netns del "$NS" 2>/dev/null || true' EXIT
if ! ip netns exec "$NS" true 2>/dev/null; then
	# e.g. inside a chroot, where `ip netns exec` cannot remount /sys
	log "skipped: ip netns exec does not work here"
	exit 0
fi
ip -n "$NS" link set lo up
# Redis of the host is not reachable inside the namespace: start a throw-away one there.
ip netns exec "$NS" redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes \
	--pidfile "/tmp/$NS-redis.pid" >/dev/null
trap 'kill "$(cat /tmp/'"$NS"'-redis.pid 2>/dev/null)" 2>/dev/null || true; ip netns del "$NS" 2>/dev/null || true' EXIT
sleep 0.3
ip netns exec "$NS" env SFU_DIR="$PWD" NODE="$(command -v node)" REDIS_URL=redis://127.0.0.1:6379/0 \
	MEDIASOUP_WORKER_BIN="$MEDIASOUP_WORKER_BIN" "$VENV/bin/python" test-webrtc/webrtc_e2e.py
