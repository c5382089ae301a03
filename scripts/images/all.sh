#!/usr/bin/env bash
# `make images`: the engine (docker-host.sh), the local bases, Parley's four images, the
# third-party stand-ins, each smoke-tested; last line: one JSON object of image sizes (MB), also in
# artifacts/images.json. Idempotent; fast when the engine's cache (under $PARLEY_CACHE) is warm.
set -euo pipefail
# shellcheck source=scripts/images/lib.sh
. "$(dirname "$0")/lib.sh"
ensure_engine
start=$(date +%s%N)
"$REPO_ROOT/scripts/images/bases.sh"
"$REPO_ROOT/scripts/images/build.sh"
"$REPO_ROOT/scripts/images/standins.sh"
# Old builds' untagged images, on the engine docker-host.sh runs (not on an operator's own), so its
# data-root under $PARLEY_CACHE does not grow with every change; build caches stay.
if [ -z "${PARLEY_DOCKER_HOST:-}" ]; then docker image prune -f >/dev/null; fi
IMAGES_SECONDS=$((($(date +%s%N) - start) / 1000000000)) "$REPO_ROOT/scripts/images/sizes.sh"
