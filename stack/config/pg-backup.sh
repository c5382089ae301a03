#!/bin/sh
# Postgres backups for Parley (stack service `backup`; `make restore-check` runs it too).
# pg_dump in the custom format every $BACKUP_INTERVAL_S seconds into $BACKUP_DIR, written under a
# temporary name and renamed when complete (a dump that failed halfway is never `latest.dump`),
# keeping the newest $BACKUP_KEEP. BACKUP_ONCE=1: one dump, then exit (its status).
# Connection: the libpq variables (PGHOST, PGPORT, PGUSER, PGDATABASE); the password from
# PGPASSWORD_FILE (a Docker secret). Restore: pg-restore.sh (docs/deploy.md, "Backups").
set -eu
dir=${BACKUP_DIR:-/backups}
keep=${BACKUP_KEEP:-96}
every=${BACKUP_INTERVAL_S:-900}
db=${PGDATABASE:-parley}
if [ -n "${PGPASSWORD_FILE:-}" ]; then PGPASSWORD=$(cat "$PGPASSWORD_FILE"); export PGPASSWORD; fi
mkdir -p "$dir"
# PID 1 in its container: without a handler the shell ignores SIGTERM and every stop or update
# waits out the grace period before a SIGKILL. Sleeps run in the background so the trap runs at once.
trap 'exit 0' TERM INT
pause() { sleep "$1" & wait $! || true; }
while :; do
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  out="$dir/parley-$stamp.dump"
  if pg_dump --format=custom --no-owner --file="$out.partial" "$db"; then
    mv "$out.partial" "$out"
    ln -sfn "parley-$stamp.dump" "$dir/latest.dump"
    echo "backup: $out ($(wc -c < "$out") bytes)"
    # shellcheck disable=SC2012  # our own file names: no spaces, newlines or globs
    ls -1 "$dir"/parley-*.dump | sort | head -n "-$keep" | xargs -r rm -f
  else
    rm -f "$out.partial"
    echo "backup: pg_dump of $db failed" >&2
    if [ "${BACKUP_ONCE:-0}" = 1 ]; then exit 1; fi
    pause 60
    continue
  fi
  if [ "${BACKUP_ONCE:-0}" = 1 ]; then exit 0; fi
  pause "$every"
done
