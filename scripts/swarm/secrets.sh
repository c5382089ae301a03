#!/usr/bin/env bash
# The stack's external secrets, fresh random values for this run (docs/deploy.md, "Secrets"),
# created through the manager named by DOCKER_HOST. Idempotent: an existing secret is kept.
set -euo pipefail
hex() { openssl rand -hex "$1"; }
make_secret() {
  docker secret inspect "$1" >/dev/null 2>&1 || printf %s "$2" | docker secret create "$1" - >/dev/null
}
make_secret parley_join_token_secret "$(hex 32)"
make_secret parley_admin_password "${PARLEY_ADMIN_PASSWORD:-$(hex 16)}"
make_secret parley_admin_session_secret "$(hex 32)"
make_secret parley_db_password "$(hex 24)"
make_secret parley_db_app_password "$(hex 24)"
make_secret parley_turn_secret "$(hex 32)"
for s in gateway stt translate persister ingest sfu replica sentinel; do
  make_secret "parley_redis_$s" "$(hex 32)"
done
make_secret parley_grafana_admin_password "$(hex 16)"
make_secret parley_alert_webhook_token "$(hex 16)"
