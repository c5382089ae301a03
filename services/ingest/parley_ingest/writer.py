"""The ingest's Redis writer: one task, one connection, items in order (registration, frames, ends
never overtake each other), riding out Redis outages and failovers without losing a frame.

While Redis is away (a restart, a Sentinel failover: seconds) each item is retried and new ones
wait in the queue (`queue_max`); past `outage_s` an item is dropped and counted.

Redis replication is asynchronous: a master that dies can take its last acknowledged writes with
it, and a replica promoted while still syncing can lack seconds of them. So the writer keeps what
it wrote until every replica has it — the same guarantee as `WAIT`, without blocking the audio
path: every `confirm_every_s` it reads the master's replication offset and the replicas' acked
offsets (ROLE), and forgets what was written before an offset all replicas have passed
— and after any error or new connection appends the rest again before anything new. Each item
keeps its media-timeline id, so what survived is refused and only what was lost comes back
(`parley_ingest_frames_total{outcome="restored"}`). While a replicated Redis (Sentinel) has no
replica online — the old master has not rejoined yet after a failover — nothing is safe anywhere
else, so it keeps up to `replay_max_s`; against a lone Redis (no Sentinel) it keeps the last
`replay_s` seconds (what an AOF fsync'd every second can lose).

Two replicas append the same frames, and Redis refuses an id below the stream's newest. So a
replica that appends a frame AHEAD of the stream's newest (its first frame of a speaker since it
started, or after a gap it saw) could make Redis refuse the frames in between that another
replica, lagging on a busy machine, has still to append: that audio would be lost. Such a first
frame waits (at most `peer_wait_s`) until the stream's newest frame is the one just before it.
Not after an end of utterance (nothing is in flight then), nor past a gap over `PEER_LOOKBACK_MS`
(no replica lags that much: the speaker was away).

For the same reason a frame a replica made up for packets only IT lost (concealment, silence: a
loss on its own network path) must not be appended before a peer that received them appends the
real audio: Redis would keep the made-up copy. Such a frame (`Frame.made_up`, set only when the
producer has several ingest targets) waits until the stream reaches its id (ours is then refused),
at most `fill_wait_s` after the packet that revealed the loss arrived — so waits never add up
beyond that — and no longer once the stream has stood still for `FILL_STALL_S` (no peer is
writing: it lost the packets too, as with a loss before the SFU, or there is none).

And an end of utterance a replica writes after its own last frame would land mid-stream when a
peer still appends later frames (held by such a wait, or the close overtook its last packets):
with peers, an end waits until the stream stands still for END_STALL_S and ends after its newest
frame (`_end_when_still`), in a task of its own: other speakers' frames go on meanwhile, and only
this speaker's next items wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

import redis.asyncio as aioredis
from parley_common import keys
from parley_common.retry import REDIS_DOWN, Backoff, retrying
from parley_common.schemas import AudioFrame, BadMessage
from parley_common.speakers import append_frame, end_speaker, ensure_room, mark_active, register_speaker
from redis.exceptions import ResponseError

from parley_ingest import metrics
from parley_ingest.anchor import forget_anchor

log = logging.getLogger("parley.ingest")
FRAME_MS = 20
PEER_LOOKBACK_MS = 5000  # a gap this long is a speaker's absence, not a lagging replica (as MAX_FILL_S)
FILL_STALL_S = 0.1  # a made-up frame stops waiting when no replica appended anything for this long
END_STALL_S = 2 * FILL_STALL_S  # an end waits longer: a peer's made-up frames that gave up land first


@dataclass(frozen=True, slots=True)
class Register:
    room: str
    speaker: str
    name: str


@dataclass(frozen=True, slots=True)
class Frame:
    room: str
    speaker: str
    frame: AudioFrame
    entry_id: str
    arrival: float  # monotonic
    made_up: bool = False  # audio made up for packets a peer replica may have received (waits for it)


@dataclass(frozen=True, slots=True)
class End:
    room: str
    speaker: str
    ts: float
    entry_id: str
    peers: bool = False  # another replica receives this producer too (see _end_when_still)


@dataclass(frozen=True, slots=True)
class Active:
    room: str
    speaker: str


@dataclass(frozen=True, slots=True)
class Forget:
    producer: str


Item = Register | Frame | End | Active | Forget


class _Top:
    """The stream's newest frame seen while polling it, and since when: has it stood still?"""

    def __init__(self) -> None:
        self.ms = -1
        self.since = time.monotonic()

    def stood_still(self, top_ms: int, stall_s: float = FILL_STALL_S) -> bool:
        if top_ms != self.ms:
            self.ms, self.since = top_ms, time.monotonic()
        return time.monotonic() - self.since >= stall_s


class RedisWriter:
    def __init__(
        self,
        r: aioredis.Redis,
        *,
        queue_max: int = 20000,
        outage_s: float = 10.0,
        replay_s: float = 2.0,
        replay_max_s: float = 60.0,
        confirm_every_s: float = 0.5,
        peer_wait_s: float = 1.0,
        fill_wait_s: float = 1.0,
        replicated: bool = False,
    ) -> None:
        self.w = r
        self.queue: asyncio.Queue[Item] = asyncio.Queue(queue_max)
        self.outage_s = outage_s
        self.replay_s = replay_s
        self.replay_max_s = replay_max_s
        self.confirm_every_s = confirm_every_s
        self.replicated = replicated  # Redis is meant to have replicas (a sentinel:// URL)
        self._unconfirmed: deque[tuple[float, Frame | End]] = deque()  # (written at, item)
        self._marks: deque[tuple[float, int]] = deque()  # (monotonic time, master offset then)
        self._replay = False
        self._confirmed_at = 0.0
        self._role_refused = False
        self.peer_wait_s = peer_wait_s
        self.fill_wait_s = fill_wait_s
        self._last_ms: dict[tuple[str, str], int] = {}  # (room, speaker) -> the last frame written
        self._no_copy: dict[tuple[str, str], float] = {}  # -> arrival of a loss no peer had (made_up)
        self._ending: dict[tuple[str, str], asyncio.Task[None]] = {}  # -> its end, waiting for peers

    def put(self, item: Item) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            metrics.DROPPED.labels("backlog").inc()

    def reconnected(self) -> None:
        """A new Redis connection was made: the server behind it may lack what was written last."""
        if self._unconfirmed:
            self._replay = True

    async def run(self) -> None:
        while True:
            item = await self.queue.get()
            try:
                key = None if isinstance(item, Forget) else (item.room, item.speaker)
                if key in self._ending:  # this speaker's end first (a resume right after a pause)
                    await asyncio.wait([self._ending[key]])  # (its errors are its own: logged there)
                if isinstance(item, End) and item.peers and self.peer_wait_s > 0:
                    # Its wait must not hold every other speaker's frames: a task of its own.
                    self._ending[item.room, item.speaker] = asyncio.create_task(self._end_when_still(item))
                    continue
                await self._write_logged(item)
            finally:
                self.queue.task_done()

    async def _write_logged(self, item: Item) -> None:
        try:
            await self._write_retrying(item)
        except (OSError, aioredis.RedisError, BadMessage) as exc:
            metrics.DROPPED.labels("redis_error").inc()
            log.warning("rtp: Redis write failed: %s", exc)

    async def drain(self, timeout_s: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.queue.join(), timeout_s)
        if self._ending:
            await asyncio.wait(list(self._ending.values()), timeout=timeout_s)

    async def _write_retrying(self, item: Item) -> None:
        await retrying(
            lambda: self._attempt(item),
            "rtp: Redis write",
            backoff=Backoff(0.1, 0.1),
            give_up_after_s=self.outage_s,
            on_retry=self._failed,
            logger=log,
        )

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, REDIS_DOWN):
            self._replay = True  # the Redis that answers next may lack what we wrote last

    async def _attempt(self, item: Item) -> None:
        await self._check_connection()
        if self._replay:
            await self._replay_unconfirmed()
        await self._write_one(item)
        await self._confirm()

    async def _check_connection(self) -> None:
        """Check a connection out of the pool and back in before writing: a dead one (Redis
        restarted or failed over) is replaced now — asking the sentinels for the master — and
        `reconnected` asks for the replay before this item, not after it (a later id written
        first would make Redis refuse the replay)."""
        pool = self.w.connection_pool
        conn = await pool.get_connection()
        await pool.release(conn)

    async def _replay_unconfirmed(self) -> None:
        """Append again, in order and with their ids, the items no replica was known to have."""
        restored = 0
        for _, item in list(self._unconfirmed):
            if isinstance(item, Frame):
                if await append_frame(self.w, item.room, item.speaker, item.frame, item.entry_id) is not None:
                    restored += 1
            else:
                await end_speaker(self.w, item.room, item.speaker, item.ts, item.entry_id)
        self._replay = False
        metrics.FRAMES.labels("restored").inc(restored)
        if restored:
            log.warning("Redis had lost %d of the frames written last; appended them again", restored)

    async def _confirm(self) -> None:
        """Forget what every replica has acknowledged; without replicas, keep the last `replay_s`."""
        now = time.monotonic()
        if now - self._confirmed_at < self.confirm_every_s:
            return
        self._confirmed_at = now
        try:
            role = await self.w.role()  # [b"master", offset, [[ip, port, acked offset], ...]]
        except ResponseError as exc:  # not allowed (an ACL without +role): keep replay_max_s
            if not self._role_refused:
                log.warning("ROLE refused (%s): frames kept %.0f s for a replay", exc, self.replay_max_s)
                self._role_refused = True
            self._forget_before(now - self.replay_max_s)
            return
        master_offset = int(role[1]) if role and role[0] in (b"master", "master") else 0
        acked = [int(r[2]) for r in (role[2] if len(role) > 2 else [])]
        if not acked:
            self._marks.clear()
            self._forget_before(now - (self.replay_max_s if self.replicated else self.replay_s))
            return
        # Everything written before a mark is in the master's stream at or below its offset.
        self._marks.append((now, master_offset))
        while self._marks and self._marks[0][0] < now - self.replay_max_s:
            self._marks.popleft()
        safe = 0.0
        while self._marks and self._marks[0][1] <= min(acked):
            safe = self._marks.popleft()[0]
        self._forget_before(max(safe, now - self.replay_max_s))

    def _forget_before(self, t: float) -> None:
        while self._unconfirmed and self._unconfirmed[0][0] < t:
            self._unconfirmed.popleft()

    async def _poll_top(
        self, room: str, speaker: str, deadline: float, done: Callable[[int, str], bool]
    ) -> bool:
        """Read the stream's newest id (ms, seq) every frame until `done` says so or the stream is
        empty (True), or until `deadline` (monotonic; False)."""
        stream = keys.audio_stream(room, speaker)
        while True:
            top = await self.w.xrevrange(stream, count=1)
            if not top:
                return True
            top_ms, _, seq = top[0][0].decode().partition("-")
            if done(int(top_ms), seq):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(FRAME_MS / 1000)

    async def _wait_for_peer(self, item: Frame, ms: int) -> None:
        """Until the stream's newest frame is `ms`'s predecessor or later (a lagging replica has
        filled the stream up to here), at most `peer_wait_s`. Returns at once for an empty stream,
        after an end of utterance, or past a gap over PEER_LOOKBACK_MS."""

        def filled(top_ms: int, seq: str) -> bool:
            return seq != "0" or not FRAME_MS < ms - top_ms <= PEER_LOOKBACK_MS

        if not await self._poll_top(item.room, item.speaker, time.monotonic() + self.peer_wait_s, filled):
            log.info(
                "rtp: no replica filled the stream up to a first frame in %.1f s; appending it",
                self.peer_wait_s,
            )

    async def _wait_for_real_copy(self, item: Frame, ms: int) -> None:
        """Until a peer has appended `ms` (the real audio of what we made up), at most until
        `fill_wait_s` after the revealing packet arrived, or until the stream stands still."""
        key = (item.room, item.speaker)
        if self._no_copy.get(key) == item.arrival:
            return  # an earlier frame of this loss found no peer writing: nor will this one
        top = _Top()

        def copied(top_ms: int, _seq: str) -> bool:
            return top.stood_still(top_ms) or top_ms >= ms

        await self._poll_top(item.room, item.speaker, item.arrival + self.fill_wait_s, copied)
        if top.ms < ms:
            self._no_copy[key] = item.arrival

    async def _end_when_still(self, item: End) -> None:
        """A peer replica may still be appending frames after our last one (its writer held by a
        fill wait, its packets late): an end written now would land mid-stream, the peer's last
        frames after it (a second, short utterance). So wait until the stream stands still for
        END_STALL_S (at most `peer_wait_s`), then end after its newest frame if that is past ours."""
        top = _Top()

        def still(top_ms: int, seq: str) -> bool:
            return top.stood_still(top_ms, END_STALL_S) or seq != "0"  # or a peer has ended it

        try:
            with contextlib.suppress(*REDIS_DOWN):  # Redis away: end where we would have
                await self._poll_top(item.room, item.speaker, time.monotonic() + self.peer_wait_s, still)
            if top.ms > int(item.entry_id.partition("-")[0]):
                item = replace(item, ts=(top.ms + FRAME_MS) / 1000, entry_id=f"{top.ms}-1")
            await self._write_logged(item)
        finally:
            self._ending.pop((item.room, item.speaker), None)

    async def _write_one(self, item: Item) -> None:
        if isinstance(item, Frame):
            ms = int(item.entry_id.partition("-")[0])
            last = self._last_ms.get((item.room, item.speaker))
            if self.peer_wait_s > 0 and (last is None or ms - last > FRAME_MS):
                await self._wait_for_peer(item, ms)
            if item.made_up and self.fill_wait_s > 0:
                await self._wait_for_real_copy(item, ms)
            self._last_ms[(item.room, item.speaker)] = ms
            appended = (
                await append_frame(self.w, item.room, item.speaker, item.frame, item.entry_id) is not None
            )
            if item.made_up:
                metrics.MADE_UP.labels("appended" if appended else "refused").inc()
            if not appended:
                metrics.FRAMES.labels("duplicate").inc()
            else:
                metrics.FRAMES.labels("appended").inc()
                metrics.TO_REDIS_SECONDS.observe(time.monotonic() - item.arrival)
            self._unconfirmed.append((time.monotonic(), item))
        elif isinstance(item, Register):
            await ensure_room(self.w, item.room)
            await register_speaker(self.w, item.room, item.speaker, item.name)
        elif isinstance(item, End):
            self._last_ms.pop((item.room, item.speaker), None)
            self._no_copy.pop((item.room, item.speaker), None)
            await end_speaker(self.w, item.room, item.speaker, item.ts, item.entry_id)
            self._unconfirmed.append((time.monotonic(), item))
        elif isinstance(item, Forget):
            await forget_anchor(self.w, item.producer)
        else:
            await mark_active(self.w, item.room, item.speaker)
