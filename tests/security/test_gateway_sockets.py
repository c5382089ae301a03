"""Caption sockets: how many one guest may hold, what a replay may cost, and that removal and
closing a room end the sockets already open (real gateway, Redis, Postgres)."""

from __future__ import annotations

import gateway_attacks as attacks
from attack_kit import Deployment
from security_helpers import assert_refused


async def test_guest_opens_caption_sockets_without_limit(dep: Deployment) -> None:
    outcome = await attacks.caption_socket_flood(dep)
    assert_refused(outcome)


async def test_guests_replay_the_caption_history_on_many_sockets(dep: Deployment) -> None:
    outcome = await attacks.history_replay_flood(dep)
    assert_refused(outcome)


async def test_removed_guest_keeps_reading_captions(dep: Deployment) -> None:
    outcome = await attacks.removed_guest_keeps_listening(dep)
    assert_refused(outcome)


async def test_guest_keeps_reading_captions_after_the_room_is_closed(dep: Deployment) -> None:
    outcome = await attacks.closed_room_keeps_listening(dep)
    assert_refused(outcome)


async def test_removed_guest_reopens_the_invite_link(dep: Deployment) -> None:
    outcome = await attacks.removed_guest_reopens_invite(dep)
    assert_refused(outcome)


async def test_guest_uses_an_invite_link_the_host_revoked(dep: Deployment) -> None:
    outcome = await attacks.revoked_invite_still_admits(dep)
    assert_refused(outcome)
