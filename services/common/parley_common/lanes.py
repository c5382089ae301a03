"""Lanes: how a service consumes its job streams, written once for every service.

A `Lane` is one consumer group (streams.ConsumerGroup) whose entries parse into a message.
`Lane.accept` is the one place a malformed entry is handled: parse -> BadMessage -> count -> log ->
dead letter -> acknowledge. It never crashes the loop and is never retried.

`FinalsFirst` runs a service's lanes (the STT worker's, the translator's) as a few named tasks:

    finals      started the moment they arrive, never behind a partial; read one at a time, or
                (`final_batch` > 1, with `handle_finals`) up to that many of those already waiting
                when the lane is free, handled together (the STT packs them into one window)
    partials    only the newest entry of each key (older ones counted as dropped and acknowledged),
                only while no final is in progress, and abandoned as soon as one starts (unless
                `partials_beside_finals`: cheap partials, from a model of their own, go on)
    background  (optional) history in batches, only while no live work is in progress
    claims      every second each lane takes over the entries a dead consumer left pending
                (a dead replica's partials, when `claim_partials` is off, are acknowledged unread)

With a `dispatch` (parley_common.dispatch) the replicas of a pool also beat, a slower replica
leaves finals and partials to a faster one that would finish them sooner, and a replica that
stops beating has its pending entries taken over within about dead_after_s (the rescue task),
instead of waiting for the claim pass's min_idle_ms.

A handler acknowledges what it finished. One that raises leaves its entry pending: the claim pass
retries it and, after `max_deliveries`, sends it to the dead letters (ConsumerGroup.claim_stale).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from parley_common.dispatch import Dispatch, Kind
from parley_common.retry import REDIS_DOWN
from parley_common.schemas import BadMessage
from parley_common.streams import ConsumerGroup, Entry, dead_letter, newest_per_key
from parley_common.tasks import cancel_all

log = logging.getLogger("parley.lanes")

M = TypeVar("M")
F = TypeVar("F")
P = TypeVar("P")
Accepted = tuple[bytes, M]


class Lane(Generic[M]):
    def __init__(
        self,
        group: ConsumerGroup,
        parse: Callable[[dict[bytes, bytes]], M],
        count_bad: Callable[[str], object],
    ) -> None:
        """`parse` raises BadMessage for a malformed entry; `count_bad(reason)` counts it."""
        self.group = group
        self.parse = parse
        self.count_bad = count_bad

    @property
    def stream(self) -> str:
        return self.group.stream

    async def accept(self, entry: Entry, *, ack: bool = True) -> M | None:
        """The entry's message; None for a malformed one, which is counted, logged, dead-lettered and
        (unless the caller acknowledges its whole batch later: `ack=False`) acknowledged."""
        eid, fields = entry
        try:
            return self.parse(fields)
        except BadMessage as exc:
            self.count_bad(exc.reason)
            log.warning("bad entry dead-lettered [stream:%s, id:%s]: %s", self.stream, eid.decode(), exc)
            await dead_letter(self.group.r, self.stream, eid, fields, exc.reason)
            if ack:
                await self.group.ack(eid)
            return None

    async def accept_all(self, entries: list[Entry], *, ack: bool = True) -> list[Accepted[M]]:
        out: list[Accepted[M]] = []
        for entry in entries:
            msg = await self.accept(entry, ack=ack)
            if msg is not None:
                out.append((entry[0], msg))
        return out

    async def newest(
        self, entries: list[Entry], key: Callable[[M], Hashable], count_dropped: Callable[[int], object]
    ) -> list[Accepted[M]]:
        """The newest message of each key, in stream order; older ones are counted and acknowledged."""
        kept, superseded = newest_per_key(await self.accept_all(entries), lambda a: key(a[1]))
        count_dropped(len(superseded))
        await self.group.ack(*superseded)
        return kept


@dataclass
class FinalsFirst(Generic[F, P]):
    """The finals-first / newest-partial / claim loop (see the module docstring)."""

    finals: Lane[F]
    handle_final: Callable[[bytes, F], Awaitable[None]]
    partials: Lane[P]
    handle_partial: Callable[[bytes, P], Awaitable[None]]
    partial_key: Callable[[P], Hashable]
    count_dropped: Callable[[int], object]
    claim_partials: bool = True
    background: Lane[Any] | None = None
    handle_background: Callable[[list[Accepted[Any]]], Awaitable[None]] | None = None
    background_batch: int = 20
    after_claims: Callable[[], Awaitable[None]] | None = None  # e.g. export the backlog
    block_ms: int = 200
    partial_batch: int = 50
    claim_every_s: float = 1.0
    dispatch: Dispatch | None = None  # speed-aware: see the module docstring
    # Partials are not held back by a final in progress (when they are cheap: a small model).
    partials_beside_finals: bool = False
    # Finals waiting when the lane is free are read together, up to this many, and handed to
    # handle_finals (which acknowledges each). Not while a live peer is idle: it takes them.
    final_batch: int = 1
    handle_finals: Callable[[list[Accepted[F]]], Awaitable[None]] | None = None

    def __post_init__(self) -> None:
        self._finals_busy = 0
        self._partials_busy = False
        # Entries this replica is working on, per lane: the claim pass may hand one back to it (a
        # job that takes longer than min_idle_ms), which is not a reason to do it twice at once.
        self._doing_finals: set[bytes] = set()
        self._doing_partials: set[bytes] = set()
        self._doing_background: set[bytes] = set()

    @property
    def lanes(self) -> list[Lane[Any]]:
        return [self.finals, self.partials, *([self.background] if self.background else [])]

    async def run(self) -> None:
        for lane in self.lanes:
            await lane.group.ensure()
        tasks = [
            asyncio.create_task(self._final_lane(), name="finals"),
            asyncio.create_task(self._partial_lane(), name="partials"),
            asyncio.create_task(self._claim_lane(), name="claims"),
        ]
        if self.background is not None:
            tasks.append(asyncio.create_task(self._background_lane(), name="background"))
        if self.dispatch is not None:
            tasks.append(asyncio.create_task(self.dispatch.run(), name="beats"))
            tasks.append(asyncio.create_task(self._rescue_lane(self.dispatch), name="rescue"))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for t in done:
                t.result()
        finally:
            await cancel_all(tasks, suppress=(Exception,))  # a lane that failed was raised above

    async def _final_lane(self) -> None:
        d = self.dispatch
        while True:
            if d is not None and not await d.may_take("final"):
                await asyncio.sleep(d.poll_s)  # a faster replica will take it sooner
                continue
            block_ms = d.block_ms(self.block_ms) if d is not None else self.block_ms
            count = self.final_batch if self.handle_finals and not (d and d.idle_peer()) else 1
            entries = await self.finals.group.read(count=count, block_ms=block_ms)
            if len(entries) > 1:
                await self._finals_together(entries)
            elif entries:
                await self._final(entries[0])

    def _working(self, kind: Kind) -> contextlib.AbstractContextManager[object]:
        """Tell the speed-aware dispatch this replica is busy with a `kind` job while inside."""
        return self.dispatch.working(kind) if self.dispatch else contextlib.nullcontext()

    @contextlib.contextmanager
    def _finals_in_progress(self, entries: list[Entry]) -> Iterator[list[Entry]]:
        """The finals not already in progress here, in progress (the lane busy) while inside."""
        with _in_progress(self._doing_finals, entries) as fresh:
            self._finals_busy += 1
            try:
                yield fresh
            finally:
                self._finals_busy -= 1

    async def _finals_together(self, entries: list[Entry]) -> None:
        assert self.handle_finals is not None
        with self._finals_in_progress(entries) as fresh:
            if accepted := await self.finals.accept_all(fresh):
                with self._working("final"):
                    await _guarded(self.finals, accepted[0][0], self.handle_finals(accepted))

    async def _final(self, entry: Entry) -> None:
        with self._finals_in_progress([entry]) as fresh:
            if fresh and (msg := await self.finals.accept(entry)) is not None:
                with self._working("final"):
                    await _guarded(self.finals, entry[0], self.handle_final(entry[0], msg))

    async def _partial_lane(self) -> None:
        d = self.dispatch
        while True:
            if self._finals_busy and not self.partials_beside_finals:
                await asyncio.sleep(0.02)
                continue
            if d is not None and not await d.may_take("partial"):
                await asyncio.sleep(d.poll_s)
                continue
            block_ms = d.block_ms(self.block_ms) if d is not None else self.block_ms
            entries = await self.partials.group.read(count=self.partial_batch, block_ms=block_ms)
            if not entries:
                continue
            self._partials_busy = True
            try:
                for eid, msg in await self.partials.newest(entries, self.partial_key, self.count_dropped):
                    if self._finals_busy and not self.partials_beside_finals:  # it would be late
                        self.count_dropped(1)
                        await self.partials.group.ack(eid)
                        continue
                    self._doing_partials.add(eid)
                    try:
                        with self._working("partial"):
                            await _guarded(self.partials, eid, self.handle_partial(eid, msg))
                    finally:
                        self._doing_partials.discard(eid)
            finally:
                self._partials_busy = False

    async def _background_lane(self) -> None:
        assert self.background is not None and self.handle_background is not None
        while True:
            if self._finals_busy or self._partials_busy:
                await asyncio.sleep(0.02)
                continue
            entries = await self.background.group.read(count=self.background_batch, block_ms=self.block_ms)
            await self._background_batch(entries)

    async def _background_batch(self, entries: list[Entry]) -> None:
        assert self.background is not None and self.handle_background is not None
        with _in_progress(self._doing_background, entries) as fresh:
            if accepted := await self.background.accept_all(fresh):
                await _guarded(self.background, accepted[0][0], self.handle_background(accepted))

    async def _claim_lane(self) -> None:
        while True:
            await asyncio.sleep(self.claim_every_s)
            live = self.dispatch.alive() if self.dispatch is not None else ()  # slow, not gone
            # What this replica is still working on is not idle: no claim may count it as
            # delivered again (after max_deliveries it would be dead-lettered mid-work).
            await self.finals.group.touch(self._doing_finals)
            await self.partials.group.touch(self._doing_partials)
            if self.background is not None:
                await self.background.group.touch(self._doing_background)
            for entry in await self.finals.group.claim_stale(leave=live):
                await self._final(entry)
            await self._claimed_partials(await self.partials.group.claim_stale(leave=live))
            if self.background is not None:
                await self._background_batch(await self.background.group.claim_stale())
            if self.after_claims is not None:
                await self.after_claims()

    async def _claimed_partials(self, entries: list[Entry]) -> None:
        for entry in entries:
            if entry[0] in self._doing_partials:
                continue
            if not self.claim_partials:  # a dead replica's partials are stale by now
                await self.partials.group.ack(entry[0])
            elif (msg := await self.partials.accept(entry)) is not None:
                await _guarded(self.partials, entry[0], self.handle_partial(entry[0], msg))

    async def _rescue_lane(self, d: Dispatch) -> None:
        """Take over, at once, the pending entries of a replica that stopped beating."""
        while True:
            await asyncio.sleep(d.poll_s)
            for gone in d.gone():
                if not await d.may_take("final"):  # a faster live replica will rescue them
                    break
                finals = await d.rescue(self.finals.group, gone)
                partials = await d.rescue(self.partials.group, gone)
                if not finals and not partials:
                    await d.forget(gone)
                    continue
                log.warning(
                    "%s stopped beating: took over %d final(s) and %d partial(s) it had pending",
                    gone,
                    len(finals),
                    len(partials),
                )
                for entry in finals:
                    await self._final(entry)
                await self._claimed_partials(partials)


@contextlib.contextmanager
def _in_progress(doing: set[bytes], entries: list[Entry]) -> Iterator[list[Entry]]:
    """The entries not already in `doing` (this replica's work in progress: a claim pass may hand
    one back to it), added to it while inside."""
    fresh = [e for e in entries if e[0] not in doing]
    ids = {e[0] for e in fresh}
    doing |= ids
    try:
        yield fresh
    finally:
        doing -= ids


async def _guarded(lane: Lane[Any], eid: bytes, handling: Awaitable[None]) -> None:
    """Run a handler; one that fails leaves its entry pending for the claim pass. Redis going away
    is not the handler's failure: it ends the loop, for outage.ride_out to wait and start again."""
    try:
        await handling
    except REDIS_DOWN:
        raise
    except Exception:
        log.exception("handler failed, entry left pending [stream:%s, id:%s]", lane.stream, eid.decode())
