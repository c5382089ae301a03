#!/bin/sh
# Entry-point shim: turns Docker secrets into the environment variables the services read, then
# execs the service. For every NAME_FILE=/run/secrets/x in the environment it exports NAME with
# the file's content (trailing newline dropped) and unsets NAME_FILE. If PARLEY_DATABASE_PASSWORD
# is set and PARLEY_DATABASE_URL has no password, the password goes into the URL (URL-quoted).
# The same for the SFU's REDIS_URL (redis://sfu@redis:6379/0) and REDIS_PASSWORD (a hex secret);
# the Python services put PARLEY_REDIS_PASSWORD into PARLEY_REDIS_URL themselves (settings.py).
#   secrets-env.sh parley-gateway
set -eu
for var in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)_FILE=.*$/\1/p'); do
	file=""
	eval "file=\${${var}_FILE}"
	[ -r "$file" ] || { echo "secrets-env: ${var}_FILE=$file is not readable" >&2; exit 78; }
	value=$(cat "$file")
	export "$var=$value"
	unset "${var}_FILE"
done
if [ -n "${PARLEY_DATABASE_PASSWORD:-}" ] && [ -n "${PARLEY_DATABASE_URL:-}" ]; then
	PARLEY_DATABASE_URL=$(python3 - <<'PY'
import os
from urllib.parse import quote, urlsplit, urlunsplit
u = urlsplit(os.environ["PARLEY_DATABASE_URL"])
if u.password is None and u.username:
    host = u.netloc.rsplit("@", 1)[1]
    pw = quote(os.environ["PARLEY_DATABASE_PASSWORD"], safe="")
    u = u._replace(netloc=f"{u.username}:{pw}@{host}")
print(urlunsplit(u))
PY
)
	export PARLEY_DATABASE_URL
	unset PARLEY_DATABASE_PASSWORD
fi
if [ -n "${REDIS_PASSWORD:-}" ] && [ -n "${REDIS_URL:-}" ]; then
	rest=${REDIS_URL#*://}
	case "$rest" in
	*:*@*) ;;  # a password already
	*@*) REDIS_URL="${REDIS_URL%%://*}://${rest%%@*}:${REDIS_PASSWORD}@${rest#*@}"; export REDIS_URL ;;
	esac
	unset REDIS_PASSWORD
fi
exec "$@"
