"""Attacks through the caption WebSocket, against a real gateway, Redis and Postgres."""

from __future__ import annotations

import gateway_attacks as attacks
from attack_kit import Deployment
from security_helpers import assert_refused


async def test_guest_asks_for_captions_in_made_up_languages(dep: Deployment) -> None:
    outcome = await attacks.made_up_caption_languages(dep)
    assert_refused(outcome)


async def test_guest_switches_caption_language_as_fast_as_it_can(dep: Deployment) -> None:
    outcome = await attacks.language_switch_flood(dep)
    assert_refused(outcome)


async def test_guest_stalls_the_gateway_with_language_switches(dep: Deployment) -> None:
    outcome = await attacks.language_switch_stall(dep)
    assert_refused(outcome)
