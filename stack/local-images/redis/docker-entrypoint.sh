#!/bin/sh
# As the official redis image's entrypoint: options alone run redis-server; redis-server started as
# root drops to the redis user (after owning its files in the working directory).
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec gosu redis "$0" "$@"
fi
if [ "$1" = redis-server ]; then
	# The official image builds Redis with protected mode off (a container is reached over its
	# network, never over loopback); Debian's keeps it on. A configuration that sets it wins.
	explicit=
	for a in "$@"; do
		case $a in
		--protected-mode) explicit=1 ;;
		*.conf) if [ -r "$a" ] && grep -qiE '^[[:space:]]*protected-mode' "$a"; then explicit=1; fi ;;
		esac
	done
	[ -n "$explicit" ] || set -- "$@" --protected-mode no
	um=$(umask)
	[ "$um" != 0022 ] || umask 0077
fi
exec "$@"
