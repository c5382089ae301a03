#!/usr/bin/env bash
# Static checks: TypeScript strict typecheck (src + tests) and shellcheck on these scripts.
# Run through scripts/with-env.sh (needs node_modules).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
ensure_debs shellcheck
shellcheck -x -P scripts scripts/*.sh
npx --no-install tsc -p tsconfig.json --noEmit
log "lint clean"
