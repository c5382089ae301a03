#!/bin/sh
# Restore a Parley backup made by pg-backup.sh:   pg-restore.sh DUMP [DATABASE]
# Creates DATABASE (default $PGDATABASE, else parley) if it does not exist, then restores every
# object of DUMP into it, replacing what is there (--clean --if-exists), in one transaction: a
# failed restore leaves the database as it was. Stop what writes to it first (docs/deploy.md).
set -eu
dump=${1:?usage: pg-restore.sh DUMP [DATABASE]}
db=${2:-${PGDATABASE:-parley}}
if [ -n "${PGPASSWORD_FILE:-}" ]; then PGPASSWORD=$(cat "$PGPASSWORD_FILE"); export PGPASSWORD; fi
pg_restore --list "$dump" > /dev/null   # a truncated or foreign file stops here, nothing touched
createdb "$db" 2>/dev/null || true
pg_restore --clean --if-exists --no-owner --single-transaction --exit-on-error --dbname="$db" "$dump"
echo "restore: $dump -> $db"
