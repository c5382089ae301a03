"""ConsumerGroup.backlog: the figure behind parley_stt_jobs_pending, on a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from parley_common.streams import ConsumerGroup
from pipeline_helpers import redis_url

STREAM = "test:backlog"


@pytest.fixture
async def r() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url(7))  # its own key, deleted before and after
    await client.delete(STREAM)
    yield client
    await client.delete(STREAM)
    await client.aclose()


async def test_backlog_counts_pending_and_undelivered_entries_once_for_every_consumer(
    r: aioredis.Redis,
) -> None:
    a = ConsumerGroup(r, STREAM, "g", "a")
    b = ConsumerGroup(r, STREAM, "g", "b")
    await a.ensure()
    assert await a.backlog() == 0
    ids = [await r.xadd(STREAM, {"n": str(i)}) for i in range(5)]
    assert await a.backlog() == 5  # none delivered yet: all lag
    await a.read(count=2)
    assert await a.backlog() == await b.backlog() == 5  # 2 pending + 3 undelivered
    await a.ack(ids[0])
    assert await b.backlog() == 4
    await b.read(count=10)
    await b.ack(*ids[2:])
    assert await a.backlog() == 1  # only a's unacknowledged second entry


async def test_backlog_after_a_deletion_counts_what_lies_past_the_last_delivery(r: aioredis.Redis) -> None:
    g = ConsumerGroup(r, STREAM, "g", "a")
    await g.ensure()
    ids = [await r.xadd(STREAM, {"n": str(i)}) for i in range(6)]
    await g.read(count=1)
    await r.xdel(STREAM, ids[3])  # Redis can no longer tell the group's lag
    info = {row["name"]: row for row in await r.xinfo_groups(STREAM)}
    assert info[b"g"]["lag"] is None
    assert await g.backlog() == 1 + 4


async def test_backlog_of_a_vanished_stream_is_zero(r: aioredis.Redis) -> None:
    g = ConsumerGroup(r, STREAM, "g", "a")
    await g.ensure()
    await r.delete(STREAM)
    assert await g.backlog() == 0
