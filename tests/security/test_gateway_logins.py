"""Logins, invite codes and rate limits: what one attacker can do to everyone else's access."""

from __future__ import annotations

import gateway_attacks as attacks
from attack_kit import Deployment
from security_helpers import GatewayFactory, assert_refused


async def test_attacker_locks_the_admin_out_with_wrong_passwords(dep: Deployment) -> None:
    outcome = await attacks.admin_lockout(dep)
    assert_refused(outcome)


async def test_attacker_behind_the_proxy_locks_every_guest_out(
    gateway_with: GatewayFactory, flushed_redis: None
) -> None:
    proxy = f'["{attacks.PROXY_IP}/32"]'
    dep = gateway_with("gateway-behind-proxy", PARLEY_GATEWAY_TRUSTED_PROXIES=proxy)
    outcome = await attacks.shared_proxy_bucket(dep)
    assert_refused(outcome)


async def test_attacker_guesses_invite_codes(dep: Deployment) -> None:
    outcome = await attacks.invite_enumeration(dep)
    assert_refused(outcome)


async def test_attacker_times_logins_to_learn_user_names(dep: Deployment) -> None:
    outcome = await attacks.login_timing(dep)
    assert_refused(outcome)


async def test_guest_and_listener_call_every_admin_and_host_endpoint(dep: Deployment) -> None:
    assert_refused(await attacks.role_sweep(dep))
