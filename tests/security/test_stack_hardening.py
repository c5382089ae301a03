"""The stack file (stack/docker-stack.yml) gives no secret away and opens no admin door: checks of
the file itself (the stack runs for real in tests/deploy)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

STACK = Path(__file__).resolve().parents[2] / "stack" / "docker-stack.yml"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    out: dict[str, Any] = yaml.safe_load(STACK.read_text())["services"]
    return out


def command_line(svc: dict[str, Any]) -> str:
    parts = []
    for key in ("entrypoint", "command"):
        value = svc.get(key) or []
        parts += value if isinstance(value, list) else [value]
    return " ".join(str(p) for p in parts)


def test_no_secret_on_a_command_line(services: dict[str, Any]) -> None:
    """`ps` on the node shows every argument: coturn's --static-auth-secret="$(cat ...)" did."""
    for name, svc in services.items():
        line = command_line(svc)
        assert not re.search(r"--(static-auth-secret|requirepass|password)\b", line), (name, line)


def test_secrets_come_from_files(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        for key, value in (svc.get("environment") or {}).items():
            if re.search(r"(SECRET|PASSWORD|TOKEN)$", key):
                pytest.fail(f"{name}: {key}={value!r} in the environment; use {key}_FILE and a Docker secret")


def test_prometheus_cannot_be_shut_down_over_http(services: dict[str, Any]) -> None:
    """--web.enable-lifecycle lets anything that reaches Prometheus POST /-/quit."""
    assert "--web.enable-lifecycle" not in command_line(services["prometheus"])


def test_gateway_trusts_only_the_proxy_network(services: dict[str, Any]) -> None:
    trusted = services["gateway"]["environment"]["PARLEY_GATEWAY_TRUSTED_PROXIES"]
    networks = yaml.safe_load(STACK.read_text())["networks"]
    edge = networks["edge"]["ipam"]["config"][0]["subnet"]
    assert trusted == f'["{edge}"]'


def test_proxy_logs_no_tokens_or_invite_codes() -> None:
    """Caddy logs every request URI: a caption socket's ?token= and an invite code in the path are
    credentials (the gateway's own log redacts them: test_gateway_input.py)."""
    caddyfile = (STACK.parent / "config" / "Caddyfile").read_text()
    m = re.search(r'request>uri regexp "([^"]+)" "([^"]+)"', caddyfile)
    assert m, "the access log filters request>uri"
    pattern, repl = m.group(1), m.group(2).replace("${1}", r"\1")
    for uri in (
        "/ws/rooms/demo/captions?lang=es&token=eyJhbGciOi.eyJyb29t.sig",
        "/api/v1/invites/Xy9_abc-DEF123456/join",
        "/join/Xy9_abc-DEF123456",
        "/rooms/demo?invite=Xy9_abc-DEF123456",
    ):
        clean = re.sub(pattern, repl, uri)
        assert "eyJ" not in clean and "Xy9_abc" not in clean, clean
