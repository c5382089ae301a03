#!/bin/sh
# redis-acl.sh TEMPLATE SECRETS_DIR OUT: the ACL file redis-server loads (--aclfile OUT), from the
# users and rules in TEMPLATE (stack/config/redis-users.acl) and each user's password in
# SECRETS_DIR/parley_redis_<user> (only its SHA-256 goes into OUT). A user without a password file
# is written `off` (it can not log in). `default` keeps the rules the template gives it. A user
# ending in `-*` is a family: a user <family>-<name> for each secret parley_redis_<family>-<name>
# (names: letters, digits, _ . -), `{name}` in its rules replaced by <name>.
set -eu
template=$1; secrets=$2; out=$3
umask 077
: > "$out"
grep -v '^[[:space:]]*\(#\|$\)' "$template" | while read -r user rules; do
	case $user in *-\*)  # a family: one user per secret parley_redis_<family>-<name>
		family=${user%\*}
		for f in "$secrets/parley_redis_$family"*; do
			name=${f#"$secrets/parley_redis_$family"}
			case $name in ''|*[!A-Za-z0-9_.-]*) continue ;; esac
			[ -r "$f" ] || continue
			hash=$(tr -d '\n' < "$f" | sha256sum | cut -d' ' -f1)
			echo "user $family$name on #$hash resetchannels $(printf '%s' "$rules" | sed "s/{name}/$name/g")" >> "$out"
		done
		continue ;;
	esac
	if [ "$user" = default ]; then
		echo "user default on $rules" >> "$out"
	elif [ -r "$secrets/parley_redis_$user" ]; then
		hash=$(tr -d '\n' < "$secrets/parley_redis_$user" | sha256sum | cut -d' ' -f1)
		echo "user $user on #$hash resetchannels $rules" >> "$out"
	else
		echo "user $user off $rules" >> "$out"
	fi
done
