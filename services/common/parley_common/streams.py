"""The Redis-stream consumer-group contract, in one place for every service.

Create the group idempotently (MKSTREAM, ignore BUSYGROUP); read new entries with XREADGROUP;
XACK only after the handler's output is written; a claim pass (XAUTOCLAIM with a minimum idle
time) takes over the work of a consumer that died; an entry delivered too often goes to the
dead-letter stream instead of being retried forever.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from parley_common import keys

log = logging.getLogger("parley.streams")

Entry = tuple[bytes, dict[bytes, bytes]]
FieldValue = str | bytes | int | float


async def xadd_bounded(
    r: aioredis.Redis, stream: str, fields: Mapping[str, FieldValue], maxlen: int, entry_id: str = "*"
) -> bytes:
    """Every XADD is bounded: approximate MAXLEN keeps trimming cheap. `entry_id` "*" lets Redis
    pick the id; an explicit one must be above the stream's newest (else ResponseError)."""
    added: bytes = await r.xadd(stream, dict(fields), id=entry_id, maxlen=maxlen, approximate=True)
    return added


def is_id_taken(exc: ResponseError) -> bool:
    """XADD refused an explicit id because the stream already holds it or a later one."""
    return "equal or smaller than the target stream top item" in str(exc)


class ConsumerGroup:
    def __init__(
        self,
        r: aioredis.Redis,
        stream: str,
        group: str,
        consumer: str,
        *,
        min_idle_ms: int = 3000,
        max_deliveries: int = 5,
    ) -> None:
        self.r = r
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.min_idle_ms = min_idle_ms
        self.max_deliveries = max_deliveries
        self._claim_cursor = "0-0"

    async def ensure(self) -> None:
        try:
            await self.r.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(self, count: int = 1, block_ms: int | None = None) -> list[Entry]:
        """New entries for this consumer; block_ms=None returns at once."""
        try:
            reply = await self.r.xreadgroup(
                self.group, self.consumer, {self.stream: ">"}, count=count, block=block_ms
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # Redis lost the group (restarted without persistence): recreate it and go on.
            log.warning("consumer group vanished, recreating [stream:%s, group:%s]", self.stream, self.group)
            await self.ensure()
            return []
        return _entries(reply)

    async def read_own_pending(self, count: int = 100, after: str = "0-0") -> list[Entry]:
        """Entries delivered to this consumer and not acknowledged, from after `after` (XREADGROUP
        with an id): what to store again once the store that refused them is back. An entry trimmed
        away meanwhile comes back with no fields."""
        reply = await self.r.xreadgroup(self.group, self.consumer, {self.stream: after}, count=count)
        return _entries(reply)

    async def ack(self, *ids: bytes | str) -> None:
        if ids:
            await self.r.xack(self.stream, self.group, *ids)

    async def touch(self, ids: Collection[bytes]) -> None:
        """Reset the idle time of entries this consumer is still working on, without counting a
        delivery (XCLAIM ... JUSTID): neither a claim pass nor a poison check takes them."""
        if ids:
            await self.r.xclaim(self.stream, self.group, self.consumer, 0, list(ids), justid=True)

    async def claim_stale(self, count: int = 10, leave: Collection[str] = ()) -> list[Entry]:
        """Take over entries another consumer left pending for min_idle_ms; poison ones go to dead
        letters. Entries of the consumers in `leave` (alive, only slow: parley_common.dispatch) stay."""
        await self._dead_letter_poison(count)
        if leave:
            return await self._claim_stale_except(count, set(leave))
        try:
            reply = await self.r.xautoclaim(
                self.stream, self.group, self.consumer, self.min_idle_ms, self._claim_cursor, count=count
            )
        except ResponseError as exc:
            if "NOGROUP" in str(exc):
                await self.ensure()
                return []
            raise
        self._claim_cursor = _decode(reply[0])
        claimed = [(eid, fields) for eid, fields in reply[1] if fields is not None]
        # Entries trimmed away by MAXLEN come back as None: nothing to do but acknowledge them.
        gone = [eid for eid, fields in reply[1] if fields is None]
        if gone:
            await self.ack(*gone)
        return claimed

    async def _claim_stale_except(self, count: int, leave: set[str]) -> list[Entry]:
        try:
            pending: Sequence[Mapping[str, Any]] = await self.r.xpending_range(
                self.stream, self.group, min="-", max="+", count=count * 10, idle=self.min_idle_ms
            )
        except ResponseError as exc:
            if "NOGROUP" in str(exc):
                await self.ensure()
                return []
            raise
        ids = [p["message_id"] for p in pending if _decode(p["consumer"]) not in leave][:count]
        if not ids:
            return []
        reply = await self.r.xclaim(self.stream, self.group, self.consumer, self.min_idle_ms, ids)
        return [(eid, fields) for eid, fields in reply if fields is not None]

    async def backlog(self, count_limit: int = 10_000) -> int:
        """Entries of the stream this group has not acknowledged: delivered and pending, plus not yet
        delivered (the group's lag). The same figure from every consumer of the group."""
        try:
            groups: Sequence[Mapping[str, Any]] = await self.r.xinfo_groups(self.stream)
        except ResponseError:  # the stream is gone (Redis restarted empty): read() recreates it
            return 0
        for g in groups:
            if _decode(g["name"]) != self.group:
                continue
            lag = g.get("lag")
            if lag is None:  # Redis cannot tell after deletions: count what lies past the last delivery
                after = id_after(_decode(g["last-delivered-id"]))
                lag = len(await self.r.xrange(self.stream, min=after, max="+", count=count_limit))
            return int(g["pending"]) + int(lag)
        return 0

    async def _dead_letter_poison(self, count: int) -> None:
        try:
            pending: Sequence[Mapping[str, Any]] = await self.r.xpending_range(
                self.stream, self.group, min="-", max="+", count=count, idle=self.min_idle_ms
            )
        except ResponseError:
            return
        for p in pending:
            if int(p["times_delivered"]) < self.max_deliveries:
                continue
            eid = p["message_id"]
            rows = await self.r.xrange(self.stream, min=eid, max=eid)
            fields = rows[0][1] if rows else {}
            log.warning(
                "entry delivered %d times, dead-lettered [stream:%s, id:%s]",
                int(p["times_delivered"]),
                self.stream,
                _decode(eid),
            )
            await dead_letter(self.r, self.stream, eid, fields, "max_deliveries")
            await self.ack(eid)


async def read_groups(groups: Sequence[ConsumerGroup], block_ms: int) -> list[tuple[ConsumerGroup, Entry]]:
    """Block until any of several groups (same group name and consumer, different streams) has an entry."""
    first = groups[0]
    by_stream = {g.stream: g for g in groups}
    try:
        reply = await first.r.xreadgroup(
            first.group, first.consumer, {g.stream: ">" for g in groups}, count=1, block=block_ms
        )
    except ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        for g in groups:
            await g.ensure()
        return []
    return [(by_stream[_decode(stream)], entry) for stream, entries in reply or [] for entry in entries]


async def dead_letter(
    r: aioredis.Redis, stream: str, entry_id: bytes | str, fields: Mapping[bytes, bytes], reason: str
) -> None:
    record: dict[str, FieldValue] = {
        "stream": stream,
        "id": _decode(entry_id),
        "reason": reason,
        "at": repr(time.time()),
    }
    for k, v in fields.items():
        record[f"f:{_decode(k)}"] = v[:4096]
    await xadd_bounded(r, keys.DEAD_LETTERS, record, maxlen=10_000)


T = TypeVar("T", bound="tuple[bytes, Any]")


def newest_per_key(
    entries: Sequence[T], key_of: Callable[[T], Hashable | None]
) -> tuple[list[T], list[bytes]]:
    """Keep only the newest entry of each key (entries come oldest first, as XREADGROUP gives them).

    Returns (kept, superseded ids): partials of one caption supersede each other, so only the
    newest is worth the work and the older ones are acknowledged unprocessed. An entry whose key
    is None (it does not parse) is kept, so its handler can dead-letter it. Entries are raw stream
    entries or (id, parsed message) pairs.
    """
    newest: dict[Hashable, T] = {}
    kept_unkeyed: list[T] = []
    superseded: list[bytes] = []
    for entry in entries:
        key = key_of(entry)
        if key is None:
            kept_unkeyed.append(entry)
            continue
        if key in newest:
            superseded.append(newest[key][0])
        newest[key] = entry
    kept = sorted([*kept_unkeyed, *newest.values()], key=lambda e: id_order(e[0]))
    return kept, superseded


def id_order(entry_id: bytes | str) -> tuple[int, int]:
    """A stream id as a sortable (milliseconds, sequence) pair: ids compare as numbers, not text."""
    ms, _, seq = _decode(entry_id).partition("-")
    return int(ms), int(seq or 0)


def _entries(reply: Any) -> list[Entry]:
    out: list[Entry] = []
    for _stream, entries in reply or []:
        out.extend(entries)
    return out


def _decode(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


def id_after(entry_id: str) -> str:
    """The smallest stream id strictly greater than entry_id (for exclusive XRANGE starts)."""
    ms, _, seq = entry_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


def id_time(entry_id: bytes | str) -> float:
    """Epoch seconds at which Redis assigned an auto id."""
    return int(_decode(entry_id).partition("-")[0]) / 1000.0
