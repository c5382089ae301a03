"""Which speaker each SSRC is, from the SFU's announcements on the Redis stream `sfu:events`.

A producer is sent to every ingest target, each on its own PlainTransport consumer, so it has one
SSRC per target (`ssrcs`, comma-separated; `ssrc` is the first, for older readers). A repeated
`producer.open` for a live producer updates its SSRCs (the SFU re-sent it to a moved target).
Cold start: replay the stream from `0` up to its newest entry, keeping the producers whose last
entry is not `producer.close`; then follow it with XREAD BLOCK from there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import redis.asyncio as aioredis
from parley_common import keys
from parley_common.retry import Backoff, retrying
from parley_common.schemas import SfuEvent

from parley_ingest import metrics

STREAM = keys.SFU_EVENTS
log = logging.getLogger("parley.ingest")


@dataclass(frozen=True, slots=True)
class Producer:
    room: str
    peer: str
    name: str
    producer: str
    ssrcs: tuple[int, ...]
    pt: int
    clock_rate: int

    @property
    def has_peers(self) -> bool:
        """One SSRC per ingest target: another replica receives this producer too."""
        return len(self.ssrcs) > 1


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    producer: Producer


class EventSink(Protocol):
    async def on_event(self, event: Event, replay: bool) -> None: ...


def parse_event(fields: dict[bytes, bytes]) -> Event:
    """One entry, by the one parser of the contract (schemas.SfuEvent); ValueError (BadMessage) if
    malformed, or if it names no SSRC (nothing the ingest could receive)."""
    e = SfuEvent.from_fields(fields)
    if not e.ssrcs:
        raise ValueError(f"no ssrc for producer {e.producer!r}")
    p = Producer(e.room, e.peer, e.name or e.peer, e.producer, tuple(e.ssrcs), e.pt, e.clock_rate)
    return Event(e.type.value, p)


async def follow(r: aioredis.Redis, sink: EventSink, stream: str = STREAM, block_ms: int = 1000) -> None:
    """Replay then follow `stream` forever, handing each valid event to `sink`."""
    last = "0"
    # Any Redis error is retried every second (a misconfigured stream too: it is logged, not fatal).
    backoff, also = Backoff(1.0, 1.0), (aioredis.RedisError,)
    newest: list[Any] = await retrying(
        lambda: r.xrevrange(stream, count=1), "sfu:events", backoff=backoff, also=also, logger=log
    )
    if newest:
        end = newest[0][0]
        live: dict[str, Event] = {}  # by producer id
        paused: set[str] = set()
        while True:
            entries: list[Any] = await r.xrange(
                stream, min=f"({last}" if last != "0" else "-", max=end, count=500
            )
            for entry_id, fields in entries:
                last = entry_id.decode()
                ev = _parse(fields)
                if ev is None:
                    continue
                pid = ev.producer.producer
                if ev.type == "producer.open":
                    live[pid] = ev
                    paused.discard(pid)
                elif ev.type == "producer.close":
                    live.pop(pid, None)
                    paused.discard(pid)
                elif ev.type == "producer.pause":
                    paused.add(pid)
                else:
                    paused.discard(pid)
            if len(entries) < 500:
                break
        last = end.decode()
        for pid, ev in live.items():
            await sink.on_event(ev, replay=True)
            if pid in paused:
                await sink.on_event(Event("producer.pause", ev.producer), replay=True)
        log.info("sfu:events: %d live producers after replay", len(live))
    while True:
        reply: list[Any] = await retrying(
            partial(r.xread, {stream: last}, block=block_ms, count=100),
            "sfu:events",
            backoff=backoff,
            also=also,
            logger=log,
        )
        for _, entries in reply or []:
            for entry_id, fields in entries:
                last = entry_id.decode()
                ev = _parse(fields)
                if ev is not None:
                    await sink.on_event(ev, replay=False)


def _parse(fields: dict[bytes, bytes]) -> Event | None:
    try:
        return parse_event(fields)
    except (KeyError, ValueError) as exc:
        metrics.DROPPED.labels("bad_event").inc()
        log.warning("sfu:events: skipped entry: %s", exc)
        return None
