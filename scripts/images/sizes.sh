#!/usr/bin/env bash
# Image sizes (MB, 10^6 bytes, as `docker images` shows them) as one JSON line on stdout and in
# artifacts/images.json:
#   {"images": {"gateway": MB, ...}, "before_split": {...}, "tags": {...}, "seconds": S}
# before_split: the Python images built with every service's extras (make images-before), if present.
# Env: IMAGES_SECONDS (how long make images took, for the record).
set -euo pipefail
# shellcheck source=scripts/images/lib.sh
. "$(dirname "$0")/lib.sh"
ensure_engine
REGISTRY=${PARLEY_REGISTRY:-local}
VERSION=${PARLEY_VERSION:-dev}
python3 - "$REGISTRY" "$VERSION" "${IMAGES_SECONDS:-}" "$REPO_ROOT/artifacts/images.json" <<'PY'
import json, os, subprocess, sys

registry, version, seconds, out = sys.argv[1:5]
parley = {n: f"{registry}/parley/{n}:{version}" for n in ("gateway", "stt", "translate", "sfu")}
before = {n: f"{registry}/parley/{n}-all-extras:{version}" for n in ("gateway", "stt", "translate")}
standins = {"redis": "local/redis:bookworm", "postgres": "local/postgres:bookworm",
            "caddy": "local/caddy:2.9.1", "haproxy": "local/haproxy:bookworm",
            "coturn": "local/coturn:bookworm", "prometheus": "local/prometheus:bookworm",
            "alertmanager": "local/alertmanager:bookworm"}

def size_mb(ref):
    r = subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}", ref], capture_output=True, text=True)
    return round(int(r.stdout) / 1e6, 1) if r.returncode == 0 else None

doc = {"images": {}, "before_split": {}, "tags": {}}
for group, key in ((parley, "images"), (standins, "images"), (before, "before_split")):
    for name, ref in group.items():
        mb = size_mb(ref)
        if mb is not None:
            doc[key][name] = mb
            doc["tags"][name if key == "images" else name + "-all-extras"] = ref
if seconds:
    doc["seconds"] = round(float(seconds), 1)
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w") as f:
    json.dump(doc, f, indent=1)
print(json.dumps(doc, separators=(", ", ": ")))
PY
