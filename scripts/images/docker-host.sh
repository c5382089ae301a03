#!/usr/bin/env bash
# Ensures a Docker engine on this host for building Parley's images, and prints the
# `export DOCKER_HOST=...` line that points at it (eval-able; logs go to stderr). Idempotent.
#
#   eval "$(scripts/images/docker-host.sh)"
#
# Order: PARLEY_DOCKER_HOST if set (an operator's own engine, used as it is); else the engine on
# PARLEY_DOCKER_SOCK if `docker info` answers there; else install docker.io if missing and start
# dockerd by hand (no systemd here) with its data under $PARLEY_CACHE/docker-host, outside the
# clone, so layers and build caches survive between CI runs on a fresh clone.
#
# The engine started here leaves the host's firewall alone (--iptables=false, no bridge): a
# host dockerd otherwise sets the FORWARD policy to DROP and loads br_netfilter, which cuts the
# bridged network namespaces other tests build. Builds and smoke runs use --network host.
#
# Env: PARLEY_CACHE (~/.cache/parley), PARLEY_DOCKER_SOCK (/run/parley-docker/host.sock),
#      PARLEY_DOCKER_HOST (use this engine instead), PARLEY_DOCKER_START_TIMEOUT_S (60),
#      PARLEY_DOCKER_BUILD_CACHE (8GB: the build cache the engine keeps, least recently used
#      pruned first; the images themselves are not counted).
#   scripts/images/docker-host.sh --stop   stops the engine this script started.
set -euo pipefail
PARLEY_CACHE=${PARLEY_CACHE:-$HOME/.cache/parley}
SOCK=${PARLEY_DOCKER_SOCK:-/run/parley-docker/host.sock}
RUN_DIR=$(dirname "$SOCK")
PIDFILE="$RUN_DIR/host.pid"
DATA_ROOT="$PARLEY_CACHE/docker-host"
TIMEOUT=${PARLEY_DOCKER_START_TIMEOUT_S:-60}

log() { printf '[docker-host] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
answers() { docker -H "$1" info >/dev/null 2>&1; }

if [ "${1:-}" = --stop ]; then
	[ -f "$PIDFILE" ] || { log "no engine started here"; exit 0; }
	pid=$(cat "$PIDFILE")
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
	log "stopped dockerd $pid"
	exit 0
fi

if [ -n "${PARLEY_DOCKER_HOST:-}" ]; then
	answers "$PARLEY_DOCKER_HOST" || die "no engine answers on PARLEY_DOCKER_HOST=$PARLEY_DOCKER_HOST"
	echo "export DOCKER_HOST=$PARLEY_DOCKER_HOST"
	exit 0
fi

HOST="unix://$SOCK"
mkdir -p "$RUN_DIR"
exec 9>"$RUN_DIR/host.lock"
flock 9 # two callers at once: the second waits, then finds the engine up

if ! answers "$HOST"; then
	if ! command -v dockerd >/dev/null; then
		log "apt-get install docker.io"
		apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
			--no-install-recommends docker.io >&2
	fi
	command -v docker >/dev/null || die "no docker CLI"
	mkdir -p "$DATA_ROOT" "$RUN_DIR/host-exec"
	# A dockerd killed hard leaves its pidfile; dockerd refuses to start while the pid lives.
	if [ -f "$PIDFILE" ] && ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then rm -f "$PIDFILE"; fi
	# Build cache garbage collection: CI builds on every run, the cache must not grow without end.
	printf '{"builder": {"gc": {"enabled": true, "defaultKeepStorage": "%s"}}}\n' \
		"${PARLEY_DOCKER_BUILD_CACHE:-8GB}" >"$RUN_DIR/host-daemon.json"
	log "starting dockerd (data-root $DATA_ROOT, socket $SOCK)"
	# setsid: the engine outlives the make that started it (the next steps and tests reuse it);
	# 9>&-: it must not hold the lock.
	setsid dockerd --config-file "$RUN_DIR/host-daemon.json" --data-root "$DATA_ROOT" --exec-root "$RUN_DIR/host-exec" \
		--pidfile "$PIDFILE" -H "$HOST" --iptables=false --ip-masq=false --bridge=none \
		--storage-driver overlay2 >"$RUN_DIR/host.log" 2>&1 </dev/null 9>&- &
	for _ in $(seq 1 "$TIMEOUT"); do
		answers "$HOST" && break
		sleep 1
	done
	answers "$HOST" || { tail -20 "$RUN_DIR/host.log" >&2; die "dockerd did not answer in ${TIMEOUT}s"; }
	log "dockerd up: $(docker -H "$HOST" version -f '{{.Server.Version}}')"
fi
echo "export DOCKER_HOST=$HOST"
