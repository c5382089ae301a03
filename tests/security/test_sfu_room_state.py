"""Close, remove and mute are enforced at the SFU (issue 13): a guest with a still-valid token cannot
rejoin a closed room or come back after a host removed it, and a host's mute sticks until a host
unmutes. Real SFU (mediasoup worker) and Redis; host actions written to Redis as the gateway does."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sfu_attacks import (
    LocalSfu,
    RedisHostActions,
    joined,
    local_sfu,
    next_event,
    overfill_room,
    produce_audio,
    refusal,
    rejoin_after_host_mute,
    rejoin_after_removal,
    rejoin_closed_room,
    resume_after_host_mute,
    sfu_skip_reason,
)

pytestmark = pytest.mark.skipif(sfu_skip_reason() is not None, reason=sfu_skip_reason() or "")


class LateRemovedList(RedisHostActions):
    """The gateway announces `remove` first and writes `room:{slug}:removed` after it; here that
    write comes 3 s late (a slow Redis, or a gateway restart between the two)."""

    async def remove(self, room: str, peer: str) -> None:
        self._command("remove", room, peer)
        asyncio.get_running_loop().call_later(3, self.r.sadd, f"room:{room}:removed", peer)


@pytest.fixture(scope="module")
def sfu() -> Iterator[LocalSfu]:
    with local_sfu("room-state", SFU_MAX_PEERS_PER_ROOM="5") as s:
        yield s


async def test_guest_cannot_rejoin_a_closed_room(sfu: LocalSfu) -> None:
    result = await rejoin_closed_room(sfu.target())
    assert result.refused, result.detail


async def test_removed_guest_cannot_rejoin(sfu: LocalSfu) -> None:
    result = await rejoin_after_removal(sfu.target())
    assert result.refused, result.detail


async def test_removed_guest_cannot_rejoin_before_the_removed_list_is_written(sfu: LocalSfu) -> None:
    target = sfu.target()
    target.host = LateRemovedList(sfu.redis_url)
    result = await rejoin_after_removal(target)
    assert result.refused, result.detail


async def test_muted_guest_cannot_resume_its_audio(sfu: LocalSfu) -> None:
    result = await resume_after_host_mute(sfu.target())
    assert result.refused, result.detail


async def test_muted_guest_stays_muted_after_rejoining(sfu: LocalSfu) -> None:
    result = await rejoin_after_host_mute(sfu.target())
    assert result.refused, result.detail


async def test_host_unmute_lets_the_guest_speak_again(sfu: LocalSfu) -> None:
    target = sfu.target()
    room = target.room("unmute")
    guest = await joined(target, room, "gina")
    try:
        producer = (await produce_audio(guest))["producerId"]
        await sfu.host.mute(room, "gina")
        assert await next_event(guest, "mutedByHost") is not None
        assert await refusal(guest.request("resumeProducer", {"producerId": producer})) == "FORBIDDEN"
        await sfu.host.unmute(room, "gina")
        assert await next_event(guest, "unmutedByHost") == {"by": "host-1"}
        assert await refusal(guest.request("resumeProducer", {"producerId": producer})) is None
    finally:
        await guest.close()


async def test_room_admits_at_most_max_participants(sfu: LocalSfu) -> None:
    target = sfu.target()
    limited = target.room("full")
    sfu.host.r.hset(f"room:{limited}", "max_participants", "3")
    result = await overfill_room(target, limited, 3)
    assert result.refused, result.detail
    # Without max_participants in the room's hash, SFU_MAX_PEERS_PER_ROOM (5 here) applies.
    result = await overfill_room(target, target.room("default-full"), 5)
    assert result.refused, result.detail
