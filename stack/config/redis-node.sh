#!/bin/sh
# A Redis data node of the stack (services redis and redis-replica; the rehearsal runs it too):
#   redis-node.sh redis-server ARGS...
# Makes the ACL file redis-server loads (redis-acl.sh: a user per service, from the template and
# the Docker secrets) and a small config with the replication user's credentials — either node
# may be a replica (the replica, or the old master the sentinels demote), and a replica logs in to
# its master as `replica` — then runs redis-server with ARGS (through the image's entrypoint, which
# drops to the redis user, when there is one). It starts in the role the sentinels give the node
# now, not the one its command names (redis-role.sh, with REDIS_SENTINELS: Swarm restarts a task
# with its original command, also after a failover). Paths: REDIS_ACL_TEMPLATE, REDIS_ACL_SCRIPT,
# REDIS_ROLE_SCRIPT, REDIS_SECRETS_DIR, REDIS_RUN_DIR (the stack's defaults below).
set -eu
template=${REDIS_ACL_TEMPLATE:-/etc/redis/redis-users.acl}
script=${REDIS_ACL_SCRIPT:-/etc/redis/redis-acl.sh}
role=${REDIS_ROLE_SCRIPT:-/etc/redis/redis-role.sh}
secrets=${REDIS_SECRETS_DIR:-/run/secrets}
run=${REDIS_RUN_DIR:-/tmp}
[ "${1:-}" = redis-server ] && shift
umask 077
sh "$script" "$template" "$secrets" "$run/users.acl"
conf="$run/redis-node.conf"
: > "$conf"
if [ -r "$secrets/parley_redis_replica" ]; then
	printf 'masteruser replica\nmasterauth %s\n' "$(tr -d '\n' < "$secrets/parley_redis_replica")" > "$conf"
fi
if [ -r "$role" ]; then
	# "--replicaof HOST PORT", "--replicaof no one" or nothing; later arguments win.
	# shellcheck disable=SC2046
	set -- "$@" $(sh "$role" "$@")
fi
if command -v docker-entrypoint.sh > /dev/null; then
	chown redis "$run/users.acl" "$conf"
	exec docker-entrypoint.sh redis-server "$conf" --aclfile "$run/users.acl" "$@"
fi
# Without the image's entrypoint (a stand-in image, the rehearsal): protected mode off as that
# entrypoint does it — it refuses every client from another host while `default` has no password,
# and here `default` may only PING (redis-users.acl). ARGS may turn it on again (the last wins).
exec redis-server "$conf" --aclfile "$run/users.acl" --protected-mode no "$@"
