"""parley_common.lanes on a real Redis: malformed entries end in the dead letters, partials are
thinned to the newest of each key, finals go first, a failed entry is retried by the claim pass."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from parley_common import keys
from parley_common.lanes import Accepted, FinalsFirst, Lane
from parley_common.schemas import BadMessage
from parley_common.streams import ConsumerGroup
from parley_testkit.aio import running, until
from pipeline_helpers import redis_url

FINALS, PARTIALS, HISTORY = "test:lanes:finals", "test:lanes:partials", "test:lanes:history"


def parse(fields: dict[bytes, bytes]) -> tuple[str, int]:
    if b"key" not in fields:
        raise BadMessage("missing_key")
    return fields[b"key"].decode(), int(fields.get(b"n", b"0"))


@pytest.fixture
async def r() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url(7))  # flushed before and after each test (tests run one at a time)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


class Recorder:
    def __init__(self, r: aioredis.Redis, *, min_idle_ms: int = 3000) -> None:
        self.bad: list[str] = []
        self.dropped = 0
        self.done: list[tuple[str, str, int]] = []
        self.lanes = {
            s: Lane(ConsumerGroup(r, s, "g", "c1", min_idle_ms=min_idle_ms), parse, self.bad.append)
            for s in (FINALS, PARTIALS, HISTORY)
        }

    def count_dropped(self, n: int) -> None:
        self.dropped += n

    def handler(
        self, name: str, gate: asyncio.Event | None = None
    ) -> Callable[[bytes, Any], Awaitable[None]]:
        async def handle(eid: bytes, msg: tuple[str, int]) -> None:
            self.done.append((name, *msg))
            if gate is not None:
                await gate.wait()
            await self.lanes[FINALS if name == "final" else PARTIALS].group.ack(eid)

        return handle

    def loop(self, **kw: Any) -> FinalsFirst[tuple[str, int], tuple[str, int]]:
        args: dict[str, Any] = {
            "finals": self.lanes[FINALS],
            "handle_final": self.handler("final"),
            "partials": self.lanes[PARTIALS],
            "handle_partial": self.handler("partial"),
            "partial_key": lambda m: m[0],
            "count_dropped": self.count_dropped,
            "block_ms": 50,
            "claim_every_s": 0.1,
        }
        return FinalsFirst(**(args | kw))


async def pending(r: aioredis.Redis, stream: str) -> int:
    return int((await r.xpending(stream, "g"))["pending"])


async def test_a_malformed_entry_is_counted_dead_lettered_and_acknowledged(r: aioredis.Redis) -> None:
    rec = Recorder(r)
    async with running(rec.loop().run):
        await r.xadd(FINALS, {"junk": "1"})
        await r.xadd(FINALS, {"key": "a", "n": "1"})
        await until(lambda: len(rec.done) == 1)
    assert rec.bad == ["missing_key"]
    assert rec.done == [("final", "a", 1)]
    [(_, dead)] = await r.xrange(keys.DEAD_LETTERS)
    assert (dead[b"stream"], dead[b"reason"], dead[b"f:junk"]) == (FINALS.encode(), b"missing_key", b"1")
    assert await pending(r, FINALS) == 0


async def test_only_the_newest_partial_of_each_key_is_handled(r: aioredis.Redis) -> None:
    rec = Recorder(r)
    for key, n in (("a", 1), ("b", 1), ("a", 2), ("a", 3)):
        await r.xadd(PARTIALS, {"key": key, "n": str(n)})
    async with running(rec.loop().run):
        await until(lambda: len(rec.done) == 2)
    assert rec.done == [("partial", "b", 1), ("partial", "a", 3)]
    assert rec.dropped == 2
    assert await pending(r, PARTIALS) == 0


async def test_partials_wait_while_a_final_is_in_progress(r: aioredis.Redis) -> None:
    rec = Recorder(r)
    gate = asyncio.Event()
    async with running(rec.loop(handle_final=rec.handler("final", gate)).run):
        await r.xadd(FINALS, {"key": "f", "n": "1"})
        await until(lambda: rec.done == [("final", "f", 1)])
        await asyncio.sleep(0.2)  # the partial lane has noticed the final and waits
        await r.xadd(PARTIALS, {"key": "p", "n": "1"})
        await asyncio.sleep(0.3)
        assert rec.done == [("final", "f", 1)]  # the final is still decoding: the partial waits
        gate.set()
        await until(lambda: len(rec.done) == 2)
    assert rec.done[1] == ("partial", "p", 1)
    assert rec.dropped == 0


async def test_the_rest_of_a_partial_batch_is_dropped_when_a_final_starts(r: aioredis.Redis) -> None:
    rec = Recorder(r)
    first_partial, final_gate = asyncio.Event(), asyncio.Event()

    async def slow_partial(eid: bytes, msg: tuple[str, int]) -> None:
        rec.done.append(("partial", *msg))
        await first_partial.wait()
        await rec.lanes[PARTIALS].group.ack(eid)

    await r.xadd(PARTIALS, {"key": "a", "n": "1"})
    await r.xadd(PARTIALS, {"key": "b", "n": "1"})
    loop = rec.loop(handle_partial=slow_partial, handle_final=rec.handler("final", final_gate))
    async with running(loop.run):
        await until(lambda: rec.done == [("partial", "a", 1)])
        await r.xadd(FINALS, {"key": "f", "n": "1"})
        await until(lambda: len(rec.done) == 2)  # the final starts beside the partial in progress
        first_partial.set()  # "a" is done; "b" would be late now
        await until(lambda: rec.dropped == 1)
        final_gate.set()
        await asyncio.sleep(0.2)
    assert rec.done == [("partial", "a", 1), ("final", "f", 1)]
    assert await pending(r, PARTIALS) == 0


async def test_a_failed_entry_stays_pending_and_the_claim_pass_retries_it(r: aioredis.Redis) -> None:
    rec = Recorder(r, min_idle_ms=100)
    attempts: list[int] = []

    async def flaky(eid: bytes, msg: tuple[str, int]) -> None:
        attempts.append(msg[1])
        if len(attempts) == 1:
            raise RuntimeError("engine hiccup")
        await rec.lanes[FINALS].group.ack(eid)

    loop = rec.loop(handle_final=flaky)
    async with running(loop.run):
        await r.xadd(FINALS, {"key": "a", "n": "7"})
        await until(lambda: len(attempts) == 2)
        await until(lambda: True, 0.1)
    assert attempts == [7, 7]
    assert await pending(r, FINALS) == 0


async def test_a_job_longer_than_min_idle_is_not_claimed_back_and_done_twice(r: aioredis.Redis) -> None:
    rec = Recorder(r, min_idle_ms=100)
    gate = asyncio.Event()
    async with running(rec.loop(handle_final=rec.handler("final", gate)).run):
        await r.xadd(FINALS, {"key": "long", "n": "1"})
        await until(lambda: len(rec.done) == 1)
        await asyncio.sleep(0.6)  # six claim passes see it idle for longer than min_idle_ms
        gate.set()
        await until(lambda: True, 0.2)
        for _ in range(50):
            if await pending(r, FINALS) == 0:
                break
            await asyncio.sleep(0.02)
    assert rec.done == [("final", "long", 1)]
    assert await pending(r, FINALS) == 0


async def test_a_job_in_progress_is_not_counted_as_redelivered_nor_dead_lettered(r: aioredis.Redis) -> None:
    """A final that takes longer than max_deliveries claim passes (a slow machine, a backlog) is
    this replica's work in progress, not a poison entry: dead-lettered (acknowledged) meanwhile, it
    would be lost if the replica then failed before publishing it."""
    rec = Recorder(r, min_idle_ms=100)
    gate = asyncio.Event()
    async with running(rec.loop(handle_final=rec.handler("final", gate)).run):
        await r.xadd(FINALS, {"key": "long", "n": "1"})
        await until(lambda: len(rec.done) == 1)
        await asyncio.sleep(1.0)  # ten claim passes, each past min_idle_ms since the delivery
        [entry] = await r.xpending_range(FINALS, "g", min="-", max="+", count=10)
        assert entry["times_delivered"] == 1, entry
        assert await r.xlen(keys.DEAD_LETTERS) == 0
        gate.set()
        await until(lambda: True, 0.2)
    assert await pending(r, FINALS) == 0


async def test_claimed_partials_can_be_acknowledged_unread(r: aioredis.Redis) -> None:
    rec = Recorder(r, min_idle_ms=100)
    dead = ConsumerGroup(r, PARTIALS, "g", "dead-replica")
    await dead.ensure()
    await r.xadd(PARTIALS, {"key": "a", "n": "1"})
    assert len(await dead.read(count=10)) == 1  # taken by a replica that then dies
    async with running(rec.loop(claim_partials=False).run):
        await asyncio.sleep(0.1)
        await until(lambda: True, 0.3)
        for _ in range(50):
            if await pending(r, PARTIALS) == 0:
                break
            await asyncio.sleep(0.05)
    assert await pending(r, PARTIALS) == 0
    assert rec.done == []


async def test_history_waits_for_live_work_and_goes_in_batches(r: aioredis.Redis) -> None:
    rec = Recorder(r)
    batches: list[list[int]] = []
    gate = asyncio.Event()

    async def history(batch: list[Accepted[tuple[str, int]]]) -> None:
        batches.append([m[1] for _, m in batch])
        await rec.lanes[HISTORY].group.ack(*(eid for eid, _ in batch))

    loop = rec.loop(
        handle_final=rec.handler("final", gate),
        background=rec.lanes[HISTORY],
        handle_background=history,
        background_batch=3,
    )
    async with running(loop.run):
        await r.xadd(FINALS, {"key": "f", "n": "1"})
        await until(lambda: len(rec.done) == 1)
        await asyncio.sleep(0.2)  # the background lane has noticed the final and waits
        for n in range(5):
            await r.xadd(HISTORY, {"key": "h", "n": str(n)})
        await asyncio.sleep(0.3)
        assert batches == []  # a final is in progress
        gate.set()
        await until(lambda: sum(map(len, batches)) == 5)
    assert batches == [[0, 1, 2], [3, 4]]


async def test_a_long_history_batch_is_neither_done_twice_nor_counted_as_redelivered(
    r: aioredis.Redis,
) -> None:
    """The background lane (speech translations, translator history) is this replica's work in
    progress too: a batch that runs past min_idle_ms is not claimed back by its own claim pass."""
    rec = Recorder(r, min_idle_ms=100)
    batches: list[list[int]] = []
    gate = asyncio.Event()

    async def history(batch: list[Accepted[tuple[str, int]]]) -> None:
        batches.append([m[1] for _, m in batch])
        await gate.wait()
        await rec.lanes[HISTORY].group.ack(*(eid for eid, _ in batch))

    loop = rec.loop(background=rec.lanes[HISTORY], handle_background=history, background_batch=3)
    async with running(loop.run):
        for n in range(2):
            await r.xadd(HISTORY, {"key": "h", "n": str(n)})
        await until(lambda: len(batches) == 1)
        await asyncio.sleep(1.0)  # ten claim passes, each past min_idle_ms since the delivery
        entries = await r.xpending_range(HISTORY, "g", min="-", max="+", count=10)
        assert [e["times_delivered"] for e in entries] == [1, 1], entries
        assert batches == [[0, 1]]
        assert await r.xlen(keys.DEAD_LETTERS) == 0
        gate.set()
        await until(lambda: True, 0.2)
    assert batches == [[0, 1]]
    assert await pending(r, HISTORY) == 0


async def test_finals_that_waited_for_a_busy_lane_are_handed_over_together(r: aioredis.Redis) -> None:
    """With final_batch, finals that arrive while one is in progress are read together (up to the
    batch) when the lane is free: the STT decodes them in one packed window."""
    rec = Recorder(r)
    gate = asyncio.Event()
    batches: list[list[tuple[str, int]]] = []

    async def together(accepted: list[Accepted[tuple[str, int]]]) -> None:
        batches.append([msg for _, msg in accepted])
        await rec.lanes[FINALS].group.ack(*(eid for eid, _ in accepted))

    loop = rec.loop(handle_final=rec.handler("final", gate), final_batch=3, handle_finals=together)
    async with running(loop.run):
        await r.xadd(FINALS, {"key": "a", "n": "1"})
        await until(lambda: rec.done == [("final", "a", 1)])  # a is decoding: the others wait
        for n in range(2, 6):
            await r.xadd(FINALS, {"key": "a", "n": str(n)})
        gate.set()
        await until(lambda: sum(map(len, batches)) + len(rec.done) == 5)
    assert batches[0] == [("a", 2), ("a", 3), ("a", 4)]  # at most final_batch at once, in order
    assert [m for b in batches[1:] for m in b] + [(k, n) for _, k, n in rec.done[1:]] == [("a", 5)]
    assert await pending(r, FINALS) == 0
