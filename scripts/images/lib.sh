# shellcheck shell=bash
# Shared helpers for scripts/images/*.sh (sourced). Logs go to stderr.
PARLEY_CACHE=${PARLEY_CACHE:-$HOME/.cache/parley}
IMAGES_CACHE="$PARLEY_CACHE/images"
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The engine docker-host.sh names (PARLEY_DOCKER_HOST, or its own), whatever DOCKER_HOST the caller
# had: that may be a node's engine, which reaches no registry.
ensure_engine() {
	eval "$("$REPO_ROOT/scripts/images/docker-host.sh")"
	export DOCKER_HOST
}

# dbuild ARGS...: `docker build` with BuildKit (the Dockerfiles use RUN --mount and COPY --chmod,
# which the legacy builder lacks). A CLI with buildx runs it as is; a CLI 23+ without buildx has
# only the legacy builder, so then a CLI that still carries BuildKit itself (Debian's docker.io
# 20.10, /usr/bin/docker) runs it. Host networking: the engine from docker-host.sh has no bridge.
dbuild() {
	local cli
	# PARLEY_IMAGES_REFRESH=1: no layer from the cache (takes Debian's security updates again).
	[ "${PARLEY_IMAGES_REFRESH:-0}" != 1 ] || set -- --no-cache "$@"
	if docker buildx version >/dev/null 2>&1; then
		docker build --network host "$@"
		return
	fi
	for cli in docker /usr/bin/docker; do
		command -v "$cli" >/dev/null || continue
		local major
		major=$("$cli" version -f '{{.Client.Version}}' 2>/dev/null | cut -d. -f1)
		if [ -n "$major" ] && [ "$major" -lt 23 ]; then
			DOCKER_BUILDKIT=1 "$cli" build --network host "$@"
			return
		fi
	done
	die "no docker CLI here can build with BuildKit: install buildx, or Debian's docker.io (CLI 20.10)"
}

# image_id REF: the image's id, empty if the engine has no such image.
image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }

# The same engine build log, quiet unless it fails: BUILD_LOG_DIR keeps one log per image.
BUILD_LOG_DIR=${BUILD_LOG_DIR:-$IMAGES_CACHE/logs}
# logged_build NAME ARGS...: dbuild with plain progress into $BUILD_LOG_DIR/NAME.log; tail on failure.
logged_build() {
	local name=$1 start
	shift
	mkdir -p "$BUILD_LOG_DIR"
	start=$(date +%s)
	if ! dbuild --progress plain "$@" >"$BUILD_LOG_DIR/$name.log" 2>&1; then
		tail -40 "$BUILD_LOG_DIR/$name.log" >&2
		die "building $name failed (log: $BUILD_LOG_DIR/$name.log)"
	fi
	log "$name built in $(($(date +%s) - start)) s"
}

# smoked NAME IMAGE CMD...: runs the smoke test CMD unless this very image (same id) passed it
# before, so a warm `make images` does not start every image again. Log in $BUILD_LOG_DIR.
smoked() {
	local name=$1 image=$2 id stamp slog
	shift 2
	id=$(image_id "$image")
	stamp="$BUILD_LOG_DIR/$name.smoke.id"
	slog="$BUILD_LOG_DIR/$name.smoke.log"
	if [ -n "$id" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$id" ]; then
		log "$image: smoke test passed before (same image)"
		return 0
	fi
	rm -f "$stamp"
	"$@" >"$slog" 2>&1 || { cat "$slog" >&2; die "$image: smoke test failed"; }
	echo "$id" >"$stamp"
	log "$image: smoke test passed ($(tail -1 "$slog"))"
}
