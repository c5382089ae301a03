#!/usr/bin/env bash
# The official postgres image's start, in short: the same variables, the same first-run
# initialisation, the same drop from root to postgres.
#   POSTGRES_PASSWORD(_FILE)   the superuser's password (required unless POSTGRES_HOST_AUTH_METHOD=trust)
#   POSTGRES_USER(_FILE)       the superuser (postgres)
#   POSTGRES_DB(_FILE)         a database made at first start (= POSTGRES_USER)
#   POSTGRES_INITDB_ARGS       more initdb options; POSTGRES_HOST_AUTH_METHOD (scram-sha-256)
set -Eeo pipefail

# file_env VAR [DEFAULT]: VAR from $VAR or from the file $VAR_FILE (a Docker secret), not both.
file_env() {
	local var=$1 file_var="${1}_FILE" def=${2:-} val
	if [ "${!var:-}" ] && [ "${!file_var:-}" ]; then
		echo >&2 "error: both $var and $file_var are set (but are exclusive)"
		exit 1
	fi
	val=$def
	if [ "${!var:-}" ]; then val=${!var}; elif [ "${!file_var:-}" ]; then val=$(<"${!file_var}"); fi
	export "$var"="$val"
	unset "$file_var"
}

if [ "${1:0:1}" = - ]; then set -- postgres "$@"; fi

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA"
	chown postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	find "$PGDATA" \! -user postgres -exec chown postgres '{}' +
	exec gosu postgres "${BASH_SOURCE[0]}" "$@"
fi

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_USER postgres
	file_env POSTGRES_DB "$POSTGRES_USER"
	file_env POSTGRES_INITDB_ARGS
	auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != trust ]; then
		echo >&2 "error: database is uninitialized and superuser password is not specified."
		echo >&2 "  Set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE), or POSTGRES_HOST_AUTH_METHOD=trust."
		exit 1
	fi
	# The password through a pipe, never on a command line.
	# shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS: several options
	initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
		--encoding=UTF8 --locale=C.UTF-8 $POSTGRES_INITDB_ARGS
	printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
	# First start, local socket only, to make the database and run the init scripts.
	pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
	export PGPASSWORD=$POSTGRES_PASSWORD
	psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
	if [ "$POSTGRES_DB" != postgres ]; then
		"${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<-'SQL'
			CREATE DATABASE :"db" ;
		SQL
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		# shellcheck disable=SC1090  # the operator's own init scripts
		case $f in
		*.sh) echo "running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
		*.sql) echo "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
		*.sql.gz) echo "running $f"; gunzip -c "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" ;;
		*) ;;
		esac
	done
	unset PGPASSWORD
	pg_ctl -D "$PGDATA" -m fast -w stop
	echo "PostgreSQL init process complete; ready for start up."
fi
exec "$@"
