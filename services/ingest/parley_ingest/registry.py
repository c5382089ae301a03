"""Which speaker each SSRC is, from the SFU's announcements on the Redis stream `sfu:events`.

A producer is sent to every ingest target, each on its own PlainTransport consumer, so it has one
SSRC per target (`ssrcs`, comma-separated; `ssrc` is the first, for older readers). A repeated
`producer.open` for a live producer updates its SSRCs (the SFU re-sent it to a moved target).
Cold start: replay the stream from `0` up to its newest entry, keeping the producers whose last
entry is not `producer.close`; then follow it with XREAD BLOCK from there.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import redis.asyncio as aioredis
from parley_common.retry import Backoff, retrying
from parley_common.schemas import NAME_RE

from parley_ingest import metrics

STREAM = "sfu:events"
EVENT_TYPES = ("producer.open", "producer.pause", "producer.resume", "producer.close")
log = logging.getLogger("parley.ingest")
PRODUCER_RE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
MAX_SSRCS = 8  # ingest targets a producer may be sent to


@dataclass(frozen=True, slots=True)
class Producer:
    room: str
    peer: str
    name: str
    producer: str
    ssrcs: tuple[int, ...]
    pt: int
    clock_rate: int


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    producer: Producer


class EventSink(Protocol):
    async def on_event(self, event: Event, replay: bool) -> None: ...


def parse_event(fields: dict[bytes, bytes]) -> Event:
    f = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in fields.items()}
    if f.get("v") != "1" or f.get("type") not in EVENT_TYPES:
        raise ValueError(f"unknown version/type: {f.get('v')!r} {f.get('type')!r}")
    room, peer = f.get("room", ""), f.get("peer", "")
    if not NAME_RE.match(room) or not NAME_RE.match(peer):
        raise ValueError(f"bad room/peer {room!r} {peer!r}")
    producer = f.get("producer", "")
    if not PRODUCER_RE.match(producer):
        raise ValueError(f"bad producer id {producer[:120]!r}")
    raw = f.get("ssrcs") or f["ssrc"]
    ssrcs = tuple(dict.fromkeys(int(x) for x in raw.split(",") if x.strip()))
    pt, rate = int(f["pt"]), int(f.get("clock_rate") or 48000)
    if len(ssrcs) > MAX_SSRCS or any(not 0 < x < 2**32 for x in ssrcs):
        raise ValueError(f"bad ssrcs {raw[:120]!r}")
    if not 0 <= pt < 128 or rate <= 0:
        raise ValueError(f"bad pt/clock_rate {pt} {rate}")
    name = f.get("name") or peer
    return Event(f["type"], Producer(room, peer, name[:200], producer, ssrcs, pt, rate))


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
