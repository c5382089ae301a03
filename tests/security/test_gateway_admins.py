"""Admin accounts: rotating the configured password, changing it, disabling an account."""

from __future__ import annotations

import gateway_attacks as attacks
from attack_kit import Deployment
from security_helpers import GatewayFactory, assert_refused


async def test_rotated_admin_password_replaces_the_old_one(
    gateway_with: GatewayFactory, flushed_redis: None
) -> None:
    """The operator rotates PARLEY_ADMIN_PASSWORD (the Docker secret) and restarts: the leaked old
    password must stop working, the new one must work."""
    env = {"PARLEY_ADMIN_USERNAME": "rotating-admin"}
    first = gateway_with("gateway-rotate-1", PARLEY_ADMIN_PASSWORD="first-admin-password", **env)
    assert (await attacks.login(first, "rotating-admin", "first-admin-password")).status_code == 200
    second = gateway_with("gateway-rotate-2", PARLEY_ADMIN_PASSWORD="second-admin-password", **env)
    old = (
        await attacks.login(second, "rotating-admin", "first-admin-password", source="127.0.0.70")
    ).status_code
    new = (await attacks.login(second, "rotating-admin", "second-admin-password")).status_code
    print(f"[attack] leaked admin password after rotation: old password HTTP {old}, new one HTTP {new}")
    assert (old, new) == (401, 200)


async def test_stolen_admin_session_outlives_a_password_change(dep: Deployment) -> None:
    assert_refused(await attacks.session_outlives_password_change(dep))


async def test_disabled_admin_account_keeps_working(dep: Deployment) -> None:
    assert_refused(await attacks.disabled_admin_keeps_working(dep))


async def test_admin_sets_a_guessable_password(dep: Deployment) -> None:
    assert_refused(await attacks.short_admin_password(dep))
