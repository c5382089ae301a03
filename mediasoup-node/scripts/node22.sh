#!/usr/bin/env bash
# Prints a PATH prefix under which `node` is Node >= 22 and `npm` works with it
# (installs Node 22 from the npm registry into ${PARLEY_CACHE:-~/.cache/parley} if needed).
# Usage: PATH="$(scripts/node22.sh):$PATH" npm ci
set -euo pipefail
. "$(dirname "$0")/lib.sh"
node22_bin_dir
