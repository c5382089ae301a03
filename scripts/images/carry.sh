#!/usr/bin/env bash
# Copies images to another engine the way an air-gapped site does: `docker save | docker load`,
# no registry. Images the target already has (same image id) are skipped; the rest go in one
# stream, so shared layers travel once. The source engine: docker-host.sh's (PARLEY_DOCKER_HOST or its own).
#   scripts/images/carry.sh unix:///run/node/docker.sock local/parley/gateway:dev local/redis:bookworm
# Prints one line: how many were carried / skipped, MB and seconds.
set -euo pipefail
# shellcheck source=scripts/images/lib.sh
. "$(dirname "$0")/lib.sh"
[ $# -ge 2 ] || die "usage: $0 TARGET_DOCKER_HOST IMAGE..."
target=$1
shift
ensure_engine
docker -H "$target" info >/dev/null 2>&1 || die "no engine answers on $target"

send=()
skipped=0
bytes=0
for image in "$@"; do
	id=$(image_id "$image")
	[ -n "$id" ] || die "$image: not on the source engine ($DOCKER_HOST)"
	have=$(docker -H "$target" image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
	if [ "$have" = "$id" ]; then
		skipped=$((skipped + 1))
		continue
	fi
	send+=("$image")
	bytes=$((bytes + $(docker image inspect -f '{{.Size}}' "$image")))
done
start=$(date +%s%N)
if [ ${#send[@]} -gt 0 ]; then
	log "carrying ${send[*]} to $target"
	docker save "${send[@]}" | docker -H "$target" load -q >&2
	for image in "${send[@]}"; do
		[ "$(docker -H "$target" image inspect -f '{{.Id}}' "$image" 2>/dev/null)" = "$(image_id "$image")" ] ||
			die "$image did not arrive on $target"
	done
fi
ms=$((($(date +%s%N) - start) / 1000000))
printf 'carry: %s carried, %s already there, %s MB, %s.%03d s (to %s)\n' "${#send[@]}" "$skipped" \
	"$((bytes / 1000000))" "$((ms / 1000))" "$((ms % 1000))" "$target"
