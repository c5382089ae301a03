"""Speed-aware dispatch inside a pool of replicas (the STT workers; the translators).

Finals go to the fastest live replica. A slower one takes a final only when every faster one is
busy and would finish it later than the slower one would, or is gone; and it takes over, within
about `dead_after_s`, the jobs of a replica that stopped beating (killed, or cut off from Redis).

Each replica beats every `beat_s`, and at once when it starts or ends a job:

    SET worker:{service}:{replica} <schemas.WorkerBeat JSON> PX <dead_after_ms>   its liveness
    SADD workers:{service} <replica>                                             who to look for

A beat says how long a final takes this replica (its own measurements: a GPU box, a 2-thread or a
1-thread CPU replica each measure themselves), whether it is working on a final and for about how
much longer, and whether a partial is in progress. Liveness is the key's expiry, kept by Redis:
no clocks are compared between hosts.

Before reading a final a replica asks `may_take`: is there a live peer faster than it (by more
than `margin`) that would finish the final sooner, because it is idle or has less of its current
job left than the difference? Then it waits `poll_s` and asks again, while that peer's blocking
read takes the final. A replica with no faster peer reads as before, blocking. Partials: the
same, where "would finish sooner" is "idle" (no final and no partial in progress).

A replica still in the set whose beat has expired is gone. The first live replica allowed to take
a final claims what that consumer had pending (CLAIM_FROM: XPENDING of that consumer and XCLAIM in
one script, so two rescuers never both take an entry) and redoes it. The utterance protocol
(publish.py) makes a late result from the lost replica harmless: the final is published once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import redis.asyncio as aioredis
from pydantic import ValidationError

from parley_common import keys
from parley_common.schemas import WorkerBeat
from parley_common.streams import ConsumerGroup, Entry

log = logging.getLogger("parley.dispatch")

Kind = Literal["final", "partial"]

# KEYS: stream  ARGV: group, gone consumer, new consumer, count
# The gone consumer's pending entries move to the new one (min idle 0), atomically.
CLAIM_FROM = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', ARGV[4], ARGV[2])
if #pending == 0 then return {} end
local ids = {}
for i, p in ipairs(pending) do ids[i] = p[1] end
return redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, unpack(ids))
"""

# KEYS: the pool's set  ARGV: the beat key prefix. Every member and its beat (nil: none), in one
# round trip (a remote replica may be far from Redis).
BEATS = """
local out = {}
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  out[#out + 1] = name
  out[#out + 1] = redis.call('GET', ARGV[1] .. name)
end
return out
"""
SPEED_WEIGHT = 0.3  # of a new measurement in the moving average


@dataclass
class Dispatch:
    r: aioredis.Redis
    service: str
    replica: str
    beat_s: float = 0.15
    dead_after_s: float = 0.6
    poll_s: float = 0.05
    margin: float = 0.2  # a peer is faster only when it takes less than (1 - margin) of our time
    speed_s: float = 1.0  # seconds a final takes here: a prior until the first measurement
    measured: int = 0
    peers: dict[str, WorkerBeat | None] = field(default_factory=dict)  # None: no beat, gone
    _finals: int = 0
    _partials: int = 0
    _final_started: float = 0.0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._claim = self.r.register_script(CLAIM_FROM)
        self._beats = self.r.register_script(BEATS)
        self.key = keys.worker_beat(self.service, self.replica)

    # --- this replica ---------------------------------------------------------------------------

    def observe(self, seconds: float) -> None:
        """A final took `seconds` here (the model, and the reads and writes around it)."""
        if seconds <= 0:
            return
        self.speed_s = (
            seconds if not self.measured else (1 - SPEED_WEIGHT) * self.speed_s + SPEED_WEIGHT * seconds
        )
        self.measured += 1

    @contextlib.contextmanager
    def working(self, kind: Kind) -> Iterator[None]:
        """Around a job: peers learn at once that this replica is busy, and when it is free."""
        if kind == "final":
            self._finals += 1
            self._final_started = time.monotonic()
        else:
            self._partials += 1
        self._wake.set()
        try:
            yield
        finally:
            if kind == "final":
                self._finals -= 1
            else:
                self._partials -= 1
            self._wake.set()

    def beat(self) -> WorkerBeat:
        busy = None
        if self._finals:
            # Before the usual time: what is left of it. Past it, the job is overrunning: it is
            # taken to need as much again as it has overrun, so slower peers step in in time.
            busy = round(abs(self.speed_s - (time.monotonic() - self._final_started)), 3)
        return WorkerBeat(speed_s=round(self.speed_s, 4), final_left_s=busy, partial=self._partials > 0)

    async def run(self) -> None:
        """Beat, and keep the view of the peers fresh, until cancelled."""
        while True:
            self._wake.clear()
            pipe = self.r.pipeline(transaction=False)
            pipe.set(self.key, self.beat().model_dump_json(), px=int(self.dead_after_s * 1000))
            pipe.sadd(keys.workers(self.service), self.replica)
            await pipe.execute()
            await self.refresh()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.beat_s)

    # --- the peers ------------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Read who the peers are and their beats."""
        reply = await self._beats(
            keys=[keys.workers(self.service)], args=[keys.worker_beat(self.service, "")]
        )
        names = [n.decode() for n in reply[::2]]
        self.peers = {
            n: _parse_beat(n, b) for n, b in zip(names, reply[1::2], strict=True) if n != self.replica
        }

    def faster(self) -> dict[str, WorkerBeat]:
        """Live peers that take less than (1 - margin) of this replica's time for a final."""
        limit = self.speed_s * (1 - self.margin)
        return {n: b for n, b in self.peers.items() if b is not None and b.speed_s < limit}

    def alive(self) -> set[str]:
        """Peers beating now: what they have pending is theirs, however long it takes them."""
        return {n for n, b in self.peers.items() if b is not None}

    def idle_peer(self) -> bool:
        """Whether a live peer is working on no final: finals waiting are for it too."""
        return any(b is not None and b.final_left_s is None for b in self.peers.values())

    def gone(self) -> list[str]:
        return [n for n, b in self.peers.items() if b is None]

    async def may_take(self, kind: Kind) -> bool:
        """Whether this replica should read a job of `kind` now (see the module docstring)."""
        if not self.faster():
            return True
        await self.refresh()  # a faster peer may have just become busy or free: ask Redis
        for beat in self.faster().values():
            if kind == "partial":
                if beat.final_left_s is None and not beat.partial:
                    return False
            elif beat.final_left_s is None or beat.final_left_s + beat.speed_s < self.speed_s:
                return False
        return True

    def block_ms(self, default_ms: int) -> int:
        """How long a read may block: short while a faster peer exists (it may become free)."""
        return min(default_ms, int(self.poll_s * 1000)) if self.faster() else default_ms

    async def rescue(self, group: ConsumerGroup, gone: str, count: int = 10) -> list[Entry]:
        """Claim what consumer `gone` left pending in `group`'s stream."""
        reply = await self._claim(keys=[group.stream], args=[group.group, gone, group.consumer, count])
        return [(eid, _fields(fields)) for eid, fields in reply or [] if fields]

    async def forget(self, gone: str) -> None:
        """`gone` left nothing pending: stop looking for it (it is added back if it beats again)."""
        await self.r.srem(keys.workers(self.service), gone)
        self.peers.pop(gone, None)


def _parse_beat(name: str, raw: bytes | None) -> WorkerBeat | None:
    if raw is None:
        return None
    try:
        return WorkerBeat.model_validate_json(raw)
    except ValidationError:
        log.warning("unreadable beat of %s ignored (counted as gone)", name)
        return None


def _fields(raw: object) -> dict[bytes, bytes]:
    """A stream entry's fields from a script reply: a flat [k1, v1, k2, v2, ...] list."""
    if isinstance(raw, dict):
        return raw
    assert isinstance(raw, list)
    return {raw[i]: raw[i + 1] for i in range(0, len(raw), 2)}
