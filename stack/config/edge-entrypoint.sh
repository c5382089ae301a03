#!/bin/sh
# The edge's start (stack/config/haproxy.cfg): links the certificate Caddy holds for the TURN name
# ($PARLEY_TURN_HOST, in Caddy's data volume, read-only) where HAProxy reads it, runs HAProxy in
# master-worker mode, and follows Caddy's renewals: a new certificate is a reload (SIGUSR2: the old
# worker keeps its connections, so relayed calls go on). Until Caddy has the certificate (its first
# ACME order, minutes at most), HAProxy runs without the TURN-over-TLS route, so the site never waits
# for it; the first certificate adds the route with a reload too ($EDGE_RUN/turn-tls.cfg, read before
# $EDGE_CONFIG, sets EDGE_TURN_TLS for it). It used to restart HAProxy: every open connection (the
# meetings' signalling and caption sockets, relayed calls) was cut, and new ones were refused until
# the new HAProxy listened (a swarm-check page load failed with ERR_CONNECTION_REFUSED).
#   EDGE_CADDY_DATA   Caddy's data directory (its volume; /caddy-data in the stack)
#   EDGE_RUN          a writable directory for the links and the pid file (/run/edge)
#   EDGE_CONFIG       the HAProxy configuration (/usr/local/etc/haproxy/haproxy.cfg)
#   EDGE_CERT_CHECK_S how often to look for a renewed certificate (default 60)
#   EDGE_HEALTH       where HAProxy answers the healthcheck's GET /healthz (default 127.0.0.1:8405)
set -eu
: "${PARLEY_TURN_HOST:?PARLEY_TURN_HOST is not set}" "${EDGE_CADDY_DATA:?}" "${EDGE_RUN:?}" "${EDGE_CONFIG:?}"
export EDGE_HEALTH="${EDGE_HEALTH:-127.0.0.1:8405}"
check_s=${EDGE_CERT_CHECK_S:-60}
mkdir -p "$EDGE_RUN"

# Caddy keeps certificates under certificates/<issuer>/<name>/<name>.crt|.key; the newest wins.
find_cert() {
	# shellcheck disable=SC2012  # domain names: no odd characters
	ls -t "$EDGE_CADDY_DATA"/caddy/certificates/*/"$PARLEY_TURN_HOST/$PARLEY_TURN_HOST.crt" 2>/dev/null | head -n 1
}
stamp() {
	c=$(find_cert)
	[ -n "$c" ] && [ -f "${c%.crt}.key" ] && echo "$c $(stat -c %Y "$c" "${c%.crt}.key" | tr '\n' ' ')"
	return 0
}
link_cert() {
	c=$(find_cert)
	[ -n "$c" ] && [ -f "${c%.crt}.key" ] || return 1
	ln -sf "$c" "$EDGE_RUN/turn.crt"
	ln -sf "${c%.crt}.key" "$EDGE_RUN/turn.key"
}
# The configuration HAProxy reads first: whether the TURN-over-TLS route is on. HAProxy's own
# `setenv` (not this shell's), so that a reload, which re-reads the files, turns it on.
turn_tls=
turn_tls_config() {
	if link_cert; then
		turn_tls=1
		printf 'global\n    setenv EDGE_TURN_TLS 1\n' >"$EDGE_RUN/turn-tls.cfg"
		echo "edge: TURN over TLS for $PARLEY_TURN_HOST with $(readlink "$EDGE_RUN/turn.crt")"
	else
		printf '# no TURN certificate yet\n' >"$EDGE_RUN/turn-tls.cfg"
		echo "edge: no certificate for $PARLEY_TURN_HOST in $EDGE_CADDY_DATA yet: TURN over TLS waits for it"
	fi
}
pid=
start() {
	unset EDGE_TURN_TLS
	turn_tls_config
	haproxy -W -db -f "$EDGE_RUN/turn-tls.cfg" -f "$EDGE_CONFIG" &
	pid=$!
}
stop() {
	if [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; then wait "$pid" || true; fi
	exit 0
}
trap stop TERM INT

start
seen=$(stamp)
while :; do
	sleep "$check_s" &
	wait $! || true
	if ! kill -0 "$pid" 2>/dev/null; then
		wait "$pid" && rc=0 || rc=$?
		echo "edge: haproxy exited ($rc)"
		exit "$rc"
	fi
	now=$(stamp)
	[ "$now" = "$seen" ] && continue
	seen=$now
	if [ -z "$turn_tls" ]; then
		turn_tls_config
		if [ -n "$turn_tls" ]; then
			echo "edge: reloading with the TURN-over-TLS route"
			kill -USR2 "$pid"
		fi
	elif link_cert; then
		echo "edge: certificate for $PARLEY_TURN_HOST renewed: reloading"
		kill -USR2 "$pid"
	fi
done
