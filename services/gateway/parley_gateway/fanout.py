"""One Redis reader per room, fanning caption events out to that room's listeners.

A listener that reconnects with the last event id it saw first gets the backlog from the
stream, then the live events, so nothing is missed and nothing is shown twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial

import redis.asyncio as aioredis
from parley_common import keys
from parley_common.retry import Backoff, retrying
from parley_common.schemas import Caption, CaptionType
from parley_common.streams import id_order
from parley_common.tasks import cancel_all

from parley_gateway import metrics
from parley_gateway.relang import SOURCE, FinalsIndex, maybe_final, shows

__all__ = ["SOURCE", "Fanout", "Listener", "captions_of", "parse_id", "shows"]
log = logging.getLogger("parley.gateway.fanout")
HISTORY_PAGE = 500  # stream entries read (and finals parsed) per step while indexing a room's history
REPLAY_PAGE = 20  # stream entries read and parsed per step of a `since=` replay (each socket holds one page)


parse_id = id_order  # stream ids compare as (ms, seq) numbers: the one ordering, parley_common.streams


@dataclass(eq=False)
class Listener:
    room: str
    lang: str
    queue: asyncio.Queue[tuple[str, Caption]]
    overflowed: bool = False

    def wants(self, caption: Caption) -> bool:
        return shows(self.lang, caption)

    def offer(self, event_id: str, caption: Caption) -> None:
        try:
            self.queue.put_nowait((event_id, caption))
        except asyncio.QueueFull:
            metrics.DROPPED.labels(caption.type.value).inc()
            if caption.type is CaptionType.FINAL:
                self.overflowed = True  # the socket closes; the client resumes from its last id


@dataclass
class RoomFeed:
    room: str
    index: FinalsIndex
    listeners: set[Listener] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    indexed: asyncio.Event = field(default_factory=asyncio.Event)  # the history is in `index`
    idle_since: float = 0.0  # monotonic time its last listener left (0: it has listeners)


class Fanout:
    def __init__(
        self,
        r: aioredis.Redis,
        *,
        queue_size: int,
        language_ttl_s: float,
        history_finals: int = 2000,
        linger_s: float = 60.0,
    ) -> None:
        self.r = r
        self.queue_size = queue_size
        self.language_ttl_s = language_ttl_s
        self.history_finals = history_finals
        self.linger_s = linger_s  # a room's reader and index outlive its last listener this long
        self.rooms: dict[str, RoomFeed] = {}
        self._refresher: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._refresher = asyncio.create_task(self._refresh_languages(), name="language-refresh")

    async def stop(self) -> None:
        tasks = [f.task for f in self.rooms.values() if f.task] + (
            [self._refresher] if self._refresher else []
        )
        await cancel_all(tasks)

    async def subscribe(self, room: str, lang: str) -> Listener:
        listener = Listener(room, lang, asyncio.Queue(self.queue_size))
        feed = self.rooms.get(room)
        if feed is None:
            feed = self.rooms[room] = RoomFeed(room, FinalsIndex(self.history_finals))
            start = await self._last_id(room)
            feed.task = asyncio.create_task(self._read(feed, start), name=f"room-feed-{room}")
        feed.listeners.add(listener)
        feed.idle_since = 0.0
        await self.want_language(room, lang)
        metrics.LISTENERS.inc()
        self._count_rooms()
        return listener

    async def unsubscribe(self, listener: Listener) -> None:
        """The listener is gone; a room left without listeners keeps its reader and finals index
        for `linger_s` (a reconnect does not read the room's history again), then it is dropped."""
        metrics.LISTENERS.dec()
        feed = self.rooms.get(listener.room)
        if feed is None:
            return
        feed.listeners.discard(listener)
        if not feed.listeners:
            feed.idle_since = time.monotonic()
            if self.linger_s <= 0:
                self._drop(feed)
        self._count_rooms()

    def _drop(self, feed: RoomFeed) -> None:
        if self.rooms.get(feed.room) is feed:
            del self.rooms[feed.room]
        if feed.task:
            feed.task.cancel()

    def _drop_idle(self) -> None:
        now = time.monotonic()
        for feed in list(self.rooms.values()):
            if not feed.listeners and feed.idle_since and now - feed.idle_since >= self.linger_s:
                self._drop(feed)
        self._count_rooms()

    def _count_rooms(self) -> None:
        metrics.ROOMS.set(sum(1 for f in self.rooms.values() if f.listeners))

    async def want_language(self, room: str, lang: str) -> None:
        """Tell the translators this room needs `lang` (kept alive while listeners want it)."""
        if lang != SOURCE:
            await self.r.zadd(keys.room_languages(room), {lang: time.time() + self.language_ttl_s})

    async def backlog(
        self, room: str, since: str, limit: int, gate: asyncio.Semaphore
    ) -> AsyncIterator[list[tuple[str, Caption]]]:
        """The events after `since`, at most `limit`, a page at a time: one page per socket is held
        in memory, and `gate` bounds how many pages are read and parsed at once on this gateway."""
        start, left = f"({since}", limit
        while left > 0:
            async with gate:
                rows = await self.r.xrange(
                    keys.captions_stream(room), min=start, max="+", count=min(REPLAY_PAGE, left)
                )
                page = [(eid.decode(), c) for eid, c in captions_of(rows)]
            if page:
                yield page
            if len(rows) < min(REPLAY_PAGE, left):
                return
            left -= len(rows)
            start = "(" + rows[-1][0].decode()

    async def finals(self, room: str) -> FinalsIndex:
        """The room's finals index, once its history is read (the room must have a listener)."""
        feed = self.rooms[room]
        await feed.indexed.wait()
        return feed.index

    async def _index_history(self, feed: RoomFeed, until_id: str) -> None:
        """Index the room's last finals up to `until_id`, newest first, a page at a time (only
        finals are parsed), so the event loop serves other sockets in between."""
        stream = keys.captions_stream(feed.room)
        rows: list[tuple[bytes, dict[bytes, bytes]]] = []
        top = until_id
        while len(rows) < self.history_finals:
            page = await self.r.xrevrange(stream, max=top, min="-", count=HISTORY_PAGE)
            rows.extend(row for row in page if maybe_final(row[1]))
            if len(page) < HISTORY_PAGE:
                break
            top = "(" + page[-1][0].decode()  # exclusive: the next page starts below this one
            await asyncio.sleep(0)
        rows.reverse()
        for i in range(0, len(rows), HISTORY_PAGE):
            for eid, caption in captions_of(rows[i : i + HISTORY_PAGE]):
                feed.index.add(eid.decode(), caption)
            await asyncio.sleep(0)

    async def _last_id(self, room: str) -> str:
        rows = await self.r.xrevrange(keys.captions_stream(room), count=1)
        return rows[0][0].decode() if rows else "0-0"

    async def _read(self, feed: RoomFeed, last_id: str) -> None:
        stream = keys.captions_stream(feed.room)
        if last_id != "0-0":
            await retrying(
                lambda: self._index_history(feed, last_id),
                f"caption history [room:{feed.room}]",
                backoff=Backoff(0.5, 0.5),
                logger=log,
            )
        feed.indexed.set()
        backoff = Backoff(0.5, 0.5)
        # A dropped feed ends here even if the cancel `_drop` sent it was lost (parley_common.tasks).
        while self.rooms.get(feed.room) is feed:
            # Redis away (redis-py 8 also times a read out after 5 s: a network partition): retried.
            reply = await retrying(
                partial(self.r.xread, {stream: last_id}, count=100, block=1000),
                f"caption feed [room:{feed.room}]",
                backoff=backoff,
                logger=log,
            )
            for _stream, rows in reply or []:
                last_id = rows[-1][0].decode()
                for eid, caption in captions_of(rows):
                    if feed.index.seen(caption):
                        continue  # listeners have it (issue 15: a final re-published after a failover)
                    feed.index.add(eid.decode(), caption)
                    for listener in list(feed.listeners):
                        if listener.wants(caption):
                            listener.offer(eid.decode(), caption)

    async def _refresh_languages(self) -> None:
        """Every third of the languages' TTL. A refresh that fails is tried again within a second or
        two until it goes through, not a period later: two missed periods let a language expire,
        and translators translate a final only into the languages still wanted when it comes
        (a Redis restart, then the next refresh failing on a connection the old server closed,
        then a second restart: finals went untranslated for 10 s in a load test)."""
        while True:
            await asyncio.sleep(min(self.language_ttl_s, self.linger_s or self.language_ttl_s) / 3)
            self._drop_idle()
            try:
                await retrying(
                    self._want_languages, "language refresh", backoff=Backoff(0.5, 2.0), logger=log
                )
            except Exception:  # not Redis being away: the next period tries again
                log.exception("language refresh failed")

    async def _want_languages(self) -> None:
        for feed in list(self.rooms.values()):
            for lang in {listener.lang for listener in feed.listeners}:
                await self.want_language(feed.room, lang)


def captions_of(rows: list[tuple[bytes, dict[bytes, bytes]]]) -> list[tuple[bytes, Caption]]:
    out: list[tuple[bytes, Caption]] = []
    for eid, fields in rows:
        try:
            caption = Caption.from_fields(fields)
        except ValueError as exc:  # BadMessage, and anything else malformed: one bad entry never ends a feed
            log.warning("bad caption event skipped [id:%s]: %s", eid.decode(), exc)
            continue
        assert isinstance(caption, Caption)
        out.append((eid, caption))
    return out
