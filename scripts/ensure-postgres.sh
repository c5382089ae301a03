#!/usr/bin/env bash
# Uses the Postgres at $PARLEY_PG_HOST:$PARLEY_PG_PORT (default 127.0.0.1:5432) when it answers;
# otherwise installs postgresql-15 from Debian (if missing) and starts a local cluster with trust
# auth for local connections (development and tests only).
set -euo pipefail
host=${PARLEY_PG_HOST:-127.0.0.1}; port=${PARLEY_PG_PORT:-5432}
ready() { pg_isready -q -h "$host" -p "$port" 2>/dev/null || (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }
if ready; then exit 0; fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
if ! dpkg-query -W -f='${Status}' postgresql-15 2>/dev/null | grep -q "install ok installed"; then
  echo "ensure-postgres: installing postgresql-15"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends postgresql-15
fi
if ! pg_lsclusters -h 2>/dev/null | grep -q "^15 "; then
  $SUDO pg_createcluster 15 main -p "$port" -- --auth-local=trust --auth-host=trust
fi
# A cluster Debian's package created uses peer/scram auth: the local dev/test cluster trusts
# loopback connections, as the machines this project is developed on do.
hba=/etc/postgresql/15/main/pg_hba.conf
if [ -f "$hba" ] && ! grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
  $SUDO sed -i -E 's/^(local|host)(\s+all\s+all\s+.*)(peer|scram-sha-256|md5)$/\1\2trust/' "$hba"
fi
echo "ensure-postgres: starting the 15/main cluster on port $port"
$SUDO pg_ctlcluster 15 main start || true
for _ in $(seq 100); do ready && exit 0; sleep 0.1; done
echo "ensure-postgres: Postgres did not start on $host:$port" >&2; exit 1
