#!/bin/sh
# redis-acl.sh TEMPLATE SECRETS_DIR OUT: the ACL file redis-server loads (--aclfile OUT), from the
# users and rules in TEMPLATE (stack/config/redis-users.acl) and each user's password in
# SECRETS_DIR/parley_redis_<user> (only its SHA-256 goes into OUT). A user without a password file
# is written `off` (it can not log in). `default` keeps the rules the template gives it.
set -eu
template=$1; secrets=$2; out=$3
umask 077
: > "$out"
grep -v '^[[:space:]]*\(#\|$\)' "$template" | while read -r user rules; do
	if [ "$user" = default ]; then
		echo "user default on $rules" >> "$out"
	elif [ -r "$secrets/parley_redis_$user" ]; then
		hash=$(tr -d '\n' < "$secrets/parley_redis_$user" | sha256sum | cut -d' ' -f1)
		echo "user $user on #$hash resetchannels $rules" >> "$out"
	else
		echo "user $user off $rules" >> "$out"
	fi
done
