#!/usr/bin/env bash
# Builds Parley's images from stack/images/*/Dockerfile on the local bases (bases.sh), with no
# registry pull, and smoke-tests each one:
#   $PARLEY_REGISTRY/parley/{gateway,stt,translate,sfu}:$PARLEY_VERSION   (local/...:dev by default)
#   scripts/images/build.sh [NAME...]       (all four when none is named)
# Env: PYTHON_IMAGE, NODE_IMAGE (the local bases by default; set them to the official images to
# build as a site with Docker Hub would), PARLEY_REGISTRY (local), PARLEY_VERSION (dev),
# PARLEY_IMAGE_SUFFIX (added to the name, e.g. -all-extras), BUILD_EXTRA_ARGS (more build options).
set -euo pipefail
# shellcheck source=scripts/images/lib.sh
. "$(dirname "$0")/lib.sh"
ensure_engine

REGISTRY=${PARLEY_REGISTRY:-local}
VERSION=${PARLEY_VERSION:-dev}
PYTHON_IMAGE=${PYTHON_IMAGE:-local/python:3.11-bookworm}
NODE_IMAGE=${NODE_IMAGE:-local/node:22-bookworm}
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(gateway stt translate sfu)

# smoke NAME IMAGE: the image's own programs import / start (no network, nothing mounted).
smoke() {
	local run=(docker run --rm --network none)
	case $1 in
	gateway)
		"${run[@]}" "$2" python -c "import parley_gateway.app, parley_gateway.persister, parley_gateway.db.migrate, parley_ingest.__main__; import os; assert os.path.isfile('/app/frontend/index.html'); print('imports ok, UI in /app/frontend')"
		;;
	stt)
		"${run[@]}" --entrypoint python "$2" -c "import parley_stt.__main__, faster_whisper; from parley_stt.models import resolve_model; import os; p = resolve_model('base'); assert os.path.getsize(p + '/model.bin') > 100e6, p; print('whisper base at', p)"
		;;
	translate)
		"${run[@]}" --entrypoint sh "$2" -c "python -c 'import parley_translate.__main__, ctranslate2' && echo hello | apertium eng-spa"
		;;
	sfu)
		# A real mediasoup worker process starts and answers.
		"${run[@]}" "$2" node -e "require('mediasoup').createWorker().then(async w => { const u = await w.getResourceUsage(); console.log('worker', w.pid, 'ok', typeof u.ru_maxrss); w.close(); })"
		;;
	esac
}

# The host's mediasoup workers (build-worker.sh's cache, $PARLEY_CACHE/mediasoup-worker) seed the
# SFU build's (stack/images/sfu/Dockerfile): the image then compiles nothing when the host already
# built the same worker (`make mediasoup-build`; 3 to 18 min cold on 2 cores). Only from a Debian
# bookworm host (the images' libraries); PARLEY_IMAGES_WORKER_SEED=0 compiles in the image anyway.
seed_worker() {
	local seed="$REPO_ROOT/mediasoup-node/.worker-seed" d
	rm -rf "$seed"
	[ "${PARLEY_IMAGES_WORKER_SEED:-1}" = 1 ] || return 0
	grep -qx 'VERSION_CODENAME=bookworm' /etc/os-release 2>/dev/null || return 0
	for d in "$PARLEY_CACHE"/mediasoup-worker/*/; do
		case $(basename "$d") in build-*) continue ;; esac
		[ -x "$d/mediasoup-worker" ] || continue
		mkdir -p "$seed/mediasoup-worker"
		cp -a "$d" "$seed/mediasoup-worker/"
		log "seeding the SFU build with the host's worker $(basename "$d")"
	done
}

for name in "${names[@]}"; do
	image="$REGISTRY/parley/$name${PARLEY_IMAGE_SUFFIX:-}:$VERSION"
	dockerfile="$REPO_ROOT/stack/images/$name/Dockerfile"
	[ -f "$dockerfile" ] || die "no $dockerfile"
	args=(--build-arg "PYTHON_IMAGE=$PYTHON_IMAGE" --build-arg "NODE_IMAGE=$NODE_IMAGE")
	if [ "$name" = sfu ]; then
		# The SFU's runtime stage: a slim Node (official) or the same local base.
		args+=(--build-arg "NODE_RUNTIME_IMAGE=${NODE_RUNTIME_IMAGE:-$NODE_IMAGE}")
		seed_worker
	fi
	# shellcheck disable=SC2086  # BUILD_EXTRA_ARGS: several options
	logged_build "$name${PARLEY_IMAGE_SUFFIX:-}" "${args[@]}" ${BUILD_EXTRA_ARGS:-} -f "$dockerfile" -t "$image" "$REPO_ROOT"
	rm -rf "$REPO_ROOT/mediasoup-node/.worker-seed"
	smoked "$name${PARLEY_IMAGE_SUFFIX:-}" "$image" smoke "$name" "$image"
done
