"""parley_common.dispatch on a real Redis, with two lane loops standing in for a fast and a slow
replica (their handlers sleep for their speed): finals go to the fast one while it is free, the
slow one steps in when the fast one is stuck, and takes over at once what a replica that stopped
beating had pending. The same with real Whisper workers, TLS and a cut network:
tests/deploy/test_remote_worker.py."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from parley_common import keys
from parley_common.dispatch import Dispatch
from parley_common.lanes import FinalsFirst, Lane
from parley_common.schemas import BadMessage, WorkerBeat
from parley_common.streams import ConsumerGroup
from parley_common.tasks import cancel_all
from parley_testkit.aio import until
from pipeline_helpers import redis_url

FINALS, PARTIALS = "test:dispatch:finals", "test:dispatch:partials"


def parse(fields: dict[bytes, bytes]) -> str:
    if b"key" not in fields:
        raise BadMessage("missing_key")
    return fields[b"key"].decode()


@pytest.fixture
async def r() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url(6))  # no other test uses database 6
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


class Replica:
    """One pool replica: a lane loop whose finals take `speed_s` (or wait for `stuck`)."""

    def __init__(
        self,
        r: aioredis.Redis,
        name: str,
        speed_s: float,
        min_idle_ms: int = 60_000,
        dead_after_s: float = 0.3,
    ) -> None:
        self.name = name
        self.speed_s = speed_s
        self.done: list[tuple[str, float]] = []  # (key, when it started)
        self.stuck: asyncio.Event | None = None
        self.dispatch = Dispatch(r, "test", name, beat_s=0.05, dead_after_s=dead_after_s, poll_s=0.02)
        self.dispatch.observe(speed_s)

        def lane(stream: str) -> Lane[str]:
            return Lane(ConsumerGroup(r, stream, "g", name, min_idle_ms=min_idle_ms), parse, lambda _: None)

        self.finals, self.partials = lane(FINALS), lane(PARTIALS)

    def handler(self, lane: Lane[str]) -> Callable[[bytes, str], Awaitable[None]]:
        async def handle(eid: bytes, key: str) -> None:
            self.done.append((key, time.monotonic()))
            if self.stuck is not None:
                await self.stuck.wait()
            await asyncio.sleep(self.speed_s)
            await lane.group.ack(eid)

        return handle

    def loop(self) -> FinalsFirst[str, str]:
        return FinalsFirst(
            finals=self.finals,
            handle_final=self.handler(self.finals),
            partials=self.partials,
            handle_partial=self.handler(self.partials),
            partial_key=lambda key: key,
            count_dropped=lambda n: None,
            block_ms=200,
            claim_every_s=0.1,
            dispatch=self.dispatch,
        )


@contextlib.asynccontextmanager
async def running(*replicas: Replica) -> AsyncIterator[dict[str, asyncio.Task[None]]]:
    tasks = {rep.name: asyncio.create_task(rep.loop().run()) for rep in replicas}
    try:
        await asyncio.sleep(0.3)  # they beat and see each other
        yield tasks
    finally:
        await cancel_all(tasks.values())  # one cancel can be lost inside redis-py (parley_common.tasks)


async def test_finals_and_partials_go_to_the_faster_replica_while_it_is_free(r: aioredis.Redis) -> None:
    fast, slow = Replica(r, "fast", 0.05), Replica(r, "slow", 0.2)
    async with running(slow, fast):  # the slow one starts reading first: it still leaves them
        for i in range(6):
            await r.xadd(FINALS if i % 2 else PARTIALS, {"key": f"k{i}"})
            await asyncio.sleep(0.3)
        await until(lambda: len(fast.done) + len(slow.done) == 6)
    assert slow.done == [], slow.done
    assert await r.xpending(FINALS, "g") == {"pending": 0, "min": None, "max": None, "consumers": []}


async def test_the_slower_replica_takes_a_final_when_the_faster_one_would_be_later(
    r: aioredis.Redis,
) -> None:
    # Both alive throughout: a beat late by 0.3 s on a busy machine (CI) made the slow one take over
    # the fast one's stuck final too. Takeover is the next test's; here a beat may be late.
    fast, slow = Replica(r, "fast", 0.1, dead_after_s=2.0), Replica(r, "slow", 0.4, dead_after_s=2.0)
    fast.stuck = asyncio.Event()  # its first final hangs (a long utterance, a CPU spike)
    async with running(fast, slow):
        await r.xadd(FINALS, {"key": "first"})
        await until(lambda: len(fast.done) == 1)
        t = time.monotonic()
        await r.xadd(FINALS, {"key": "second"})
        await until(lambda: len(slow.done) == 1)
        waited = slow.done[0][1] - t
        fast.stuck.set()
    assert [k for k, _ in slow.done] == ["second"]
    # It waits while the fast one could still finish first: |0.1 - elapsed| + 0.1 >= 0.4.
    assert 0.3 <= waited < 1.0, waited


async def test_a_replica_that_stops_beating_is_taken_over_at_once(r: aioredis.Redis) -> None:
    fast, slow = Replica(r, "fast", 0.05), Replica(r, "slow", 0.2)
    fast.stuck = asyncio.Event()
    async with running(fast, slow) as tasks:
        await r.xadd(FINALS, {"key": "mid-job"})
        await until(lambda: len(fast.done) == 1)
        t = time.monotonic()
        tasks["fast"].cancel()  # gone mid-job: no beat, no ack, its entry pending
        await until(lambda: len(slow.done) == 1, 3.0)
        takeover = slow.done[0][1] - t
        await asyncio.sleep(0.3)  # its decode (0.2 s) and ack
        pending = await r.xpending(FINALS, "g")
    assert [k for k, _ in slow.done] == ["mid-job"]
    assert takeover < 1.0, takeover  # dead_after (0.3 s) + a beat and a poll; the bound
    assert pending["pending"] == 0
    assert not await r.sismember(keys.workers("test"), "fast")  # forgotten once nothing was left


async def test_the_claim_pass_leaves_a_live_replica_its_long_job(r: aioredis.Redis) -> None:
    fast, slow = Replica(r, "fast", 0.05), Replica(r, "slow", 5.0, min_idle_ms=100)
    fast.stuck = asyncio.Event()  # a final that takes far longer than the claim pass's min idle
    async with running(fast, slow):
        await r.xadd(FINALS, {"key": "long"})
        await until(lambda: len(fast.done) == 1)
        await asyncio.sleep(1.0)  # ten claim passes
        assert slow.done == []
        fast.stuck.set()
        await asyncio.sleep(0.2)
    assert (await r.xpending(FINALS, "g"))["pending"] == 0


async def test_a_beat_is_bounded_and_an_unreadable_one_means_gone(r: aioredis.Redis) -> None:
    d = Dispatch(r, "test", "me")
    await r.sadd(keys.workers("test"), "peer", "liar")
    await r.set(keys.worker_beat("test", "peer"), WorkerBeat(speed_s=0.1).model_dump_json())
    await r.set(keys.worker_beat("test", "liar"), '{"speed_s": -1}')
    await d.refresh()
    assert d.peers["peer"] == WorkerBeat(speed_s=0.1)
    assert d.gone() == ["liar"]
    assert set(d.faster()) == {"peer"}
