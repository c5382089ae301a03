"""The gateway's room feeds end when told, even when the cancel is lost inside redis-py.

On Python 3.11 `asyncio.wait_for`, through which redis-py sends every command, drops a cancel that
arrives just as the send completes (CPython gh-86296). A room feed sends XREAD about once a second,
so a cancel from `Fanout.stop()` or from a room's last listener leaving sometimes lands there: CI
saw `Fanout.stop()` wait until a 300 s test timeout. Here the cancel is made to land there, against
a real Redis and redis-py's own send, and the feed must end all the same."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

import pytest
import redis.asyncio as aioredis
from api_helpers import REDIS_URL
from parley_gateway.fanout import Fanout
from parley_testkit.aio import until
from redis.asyncio.connection import AbstractConnection

ROOM = f"fanout-stop-{uuid.uuid4().hex[:8]}"  # the shared Redis: a room of its own


@pytest.fixture
async def r() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


async def as_the_next_xread_is_sent(
    monkeypatch: pytest.MonkeyPatch, action: Callable[[], Awaitable[None]]
) -> asyncio.Task[None]:
    """Start `action` as redis-py's send of the next XREAD completes, so that the cancel it sends
    reaches the feed while the feed's `wait_for` holds a finished send. Returns the action's task."""
    send = AbstractConnection._send_packed_command
    started: list[asyncio.Task[None]] = []

    async def send_then_act(self: AbstractConnection, command: Iterable[bytes]) -> None:
        await send(self, command)
        if not started and b"XREAD" in b"".join(command):
            started.append(asyncio.create_task(action()))  # runs before the feed resumes

    monkeypatch.setattr(AbstractConnection, "_send_packed_command", send_then_act)
    await until(lambda: bool(started))
    return started[0]


async def test_stop_ends_a_feed_whose_cancel_was_lost(
    monkeypatch: pytest.MonkeyPatch, r: aioredis.Redis
) -> None:
    fanout = Fanout(r, queue_size=10, language_ttl_s=30.0)
    fanout.start()
    await fanout.subscribe(ROOM, "es")
    feed = fanout.rooms[ROOM].task
    assert feed is not None
    stopping = await as_the_next_xread_is_sent(monkeypatch, fanout.stop)
    # Not wait_for: its cancel at the timeout would reach the feed through stop() and end it.
    await asyncio.wait({stopping}, timeout=5)
    assert stopping.done() and feed.cancelled()  # before: stop() waited for ever


async def test_a_dropped_feed_ends_even_if_its_cancel_was_lost(
    monkeypatch: pytest.MonkeyPatch, r: aioredis.Redis
) -> None:
    fanout = Fanout(r, queue_size=10, language_ttl_s=30.0, linger_s=0)  # dropped as its last listener leaves
    fanout.start()
    try:
        listener = await fanout.subscribe(ROOM, "es")
        feed = fanout.rooms[ROOM].task
        assert feed is not None
        await (await as_the_next_xread_is_sent(monkeypatch, lambda: fanout.unsubscribe(listener)))
        assert ROOM not in fanout.rooms
        await asyncio.wait({feed}, timeout=5)
        assert feed.done()  # before: it read the room for ever
    finally:
        await fanout.stop()
