#!/usr/bin/env bash
# Runs a command in mediasoup-node/ with everything the SFU needs in place:
# Node >= 22 first on PATH, the offline-built worker in MEDIASOUP_WORKER_BIN (built or
# taken from the cache), and node_modules installed from package-lock.json (npm ci,
# repeated only when the lock changes).   Usage: scripts/with-env.sh npm test
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

NODE_DIR=$(node22_bin_dir)
export PATH="$NODE_DIR:$PATH"
command -v npm >/dev/null || ensure_debs npm
MEDIASOUP_WORKER_BIN=$(scripts/build-worker.sh)
export MEDIASOUP_WORKER_BIN

stamp=node_modules/.parley-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
	log "npm ci (worker: $MEDIASOUP_WORKER_BIN)"
	# MEDIASOUP_WORKER_BIN makes mediasoup's postinstall skip its download/build.
	npm ci --no-audit --no-fund --loglevel=error >&2
	echo "$want" >"$stamp"
fi
exec "$@"
