"""Secrets: admin sessions have their own secret, and outside development the gateway refuses to
start with a weak one (the same rule as the SFU: tests/security/test_sfu_secrets.py)."""

from __future__ import annotations

import gateway_attacks as attacks
import pytest
from attack_kit import Deployment
from parley_gateway.settings import GatewaySettings, PlaceholderSecretError
from pydantic import ValidationError
from security_helpers import GatewayFactory, assert_refused

STRONG = "a-production-join-token-secret-0123456789"
ADMIN_STRONG = "a-production-admin-session-secret-0123456789"


async def test_attacker_forges_an_admin_session_with_the_dev_placeholder(
    gateway_with: GatewayFactory, flushed_redis: None
) -> None:
    dep = gateway_with("gateway-dev-defaults", PARLEY_JOIN_TOKEN_SECRET="dev-secret-change-me")
    assert_refused(await attacks.forge_admin_with_placeholder(dep))


async def test_compromised_sfu_forges_an_admin_session_with_the_join_secret(dep: Deployment) -> None:
    assert_refused(await attacks.forge_admin_with_join_secret(dep))


def production(**overrides: object) -> GatewaySettings:
    base: dict[str, object] = {
        "env": "production",
        "join_token_secret": STRONG,
        "admin_session_secret": ADMIN_STRONG,
        "admin_password": "a-long-production-password",
    }
    return GatewaySettings(**{**base, **overrides})


@pytest.mark.parametrize("env", ["production", "staging"])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("join_token_secret", ""),
        ("join_token_secret", "dev-secret-change-me"),
        ("join_token_secret", "short-secret-0123456789"),
        ("admin_session_secret", ""),
        ("admin_session_secret", "dev-secret-change-me"),
        ("admin_session_secret", "short-secret-0123456789"),
        ("admin_session_secret", STRONG),  # the join-token secret: the SFU holds it
        ("admin_password", "change-me"),
        ("admin_password", "short-pw"),
        ("auth_required", False),
    ],
)
def test_production_refuses_weak_settings(env: str, field: str, value: object) -> None:
    with pytest.raises((PlaceholderSecretError, ValidationError), match=field):
        production(env=env, **{field: value})


def test_production_accepts_strong_settings_and_development_gets_a_random_admin_secret() -> None:
    assert production().admin_session_secret == ADMIN_STRONG
    dev = [GatewaySettings(env="development") for _ in range(2)]
    assert len(dev[0].admin_session_secret) >= 32
    assert dev[0].admin_session_secret != dev[1].admin_session_secret
    assert dev[0].admin_session_secret != dev[0].join_token_secret


async def test_attacker_reads_the_api_internals_from_docs(
    gateway_with: GatewayFactory, flushed_redis: None
) -> None:
    """/docs and /openapi.json describe every admin endpoint; in production they are off."""
    dep = gateway_with(
        "gateway-production",
        PARLEY_ENV="production",
        PARLEY_ADMIN_SESSION_SECRET=ADMIN_STRONG,
        PARLEY_JOIN_TOKEN_SECRET=STRONG,
    )
    codes = {path: (await dep.call("GET", path)).status_code for path in ("/docs", "/redoc", "/openapi.json")}
    print(f"[attack] API docs in production: {codes}")
    assert set(codes.values()) == {404}
