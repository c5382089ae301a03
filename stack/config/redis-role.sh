#!/bin/sh
# redis-role.sh ARGS...: prints the redis-server arguments that start a Redis data node in the role
# the sentinels give it now (stack/config/redis-node.sh appends them to the command; later
# arguments override earlier ones):
#   --replicaof HOST PORT   a majority of REDIS_SENTINELS names another node the master
#   --replicaof no one      they name this very node (a master back before they failed it over)
#   (nothing)               no majority answered within REDIS_ROLE_WAIT_S: the command's own role
#                           (the first deploy, when the sentinels are not up yet)
# Why: Swarm restarts a task with its original command. Without this, an old master coming back
# after a failover is a second master with stale data until the sentinels demote it (8-20 s), and
# a promoted replica restarted at once follows its own replica (both replicas: no master at all
# until the sentinels fail over again, ~20 s).
# This node is ARGS' --replica-announce-ip (the name the sentinels know it by; else
# REDIS_SELF_HOST) and --port (6379). REDIS_SENTINELS: host:port,host:port,... (unset: nothing).
set -eu
sentinels=$(printf '%s' "${REDIS_SENTINELS:-}" | tr ',' ' ')
[ -n "$sentinels" ] || exit 0
name=${REDIS_MASTER_NAME:-parley}
wait_s=${REDIS_ROLE_WAIT_S:-5}
self_host=${REDIS_SELF_HOST:-}
self_port=6379
while [ $# -gt 1 ]; do
	case $1 in
		--replica-announce-ip) self_host=$2; shift ;;
		--port) self_port=$2; shift ;;
	esac
	shift
done
n=0
for _ in $sentinels; do n=$((n + 1)); done
need=$((n / 2 + 1))
ask() {  # "host port" of the master sentinel $1 (host:port) names, if it answers
	# shellcheck disable=SC2046  # two words: host, port
	set -- $(timeout 1 redis-cli -h "${1%:*}" -p "${1##*:}" --raw sentinel get-master-addr-by-name "$name" 2>/dev/null || true)
	if [ $# -eq 2 ]; then echo "$1 $2"; fi
}
deadline=$(($(date +%s) + wait_s))
while :; do
	# One line per sentinel that answers: "host port" of the master it names.
	best=$(for s in $sentinels; do ask "$s"; done | sort | uniq -c | sort -rn | head -n 1)
	if [ -n "$best" ]; then
		# shellcheck disable=SC2086  # "count host port"
		set -- $best
		if [ "$1" -ge "$need" ]; then
			if [ "$2" = "$self_host" ] && [ "$3" = "$self_port" ]; then
				echo "redis-role: the sentinels name this node ($2:$3) the master" >&2
				echo "--replicaof no one"
			else
				echo "redis-role: the sentinels name $2:$3 the master; starting as its replica" >&2
				echo "--replicaof $2 $3"
			fi
			exit 0
		fi
	fi
	if [ "$(date +%s)" -ge "$deadline" ]; then
		echo "redis-role: no master a majority of the $n sentinels names; starting as the command says" >&2
		exit 0
	fi
	sleep 0.5
done
