"""The persister's loop: read a batch, upsert it in one transaction, acknowledge after the commit.

While Postgres is away (a restart, a failover, an outage of minutes) it stops reading: the entries
it had read stay pending in the consumer group, and new finals wait in the `persist:captions`
stream (~10 000 entries: half an hour of ten busy rooms). It asks Postgres again with backoff (at
least every `db_retry_max_s`); once it answers, it stores its own pending entries, then reads on.
Nothing is stored twice (an upsert per caption id and language) and nothing is dead-lettered for
an outage (redelivering entries to a database that is down would count them as poison). It stays
healthy meanwhile: restarting it would not bring Postgres back."""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

import redis.asyncio as aioredis
from parley_common import keys, redisconn
from parley_common.health import serve_health
from parley_common.lanes import Lane
from parley_common.log import setup_logging
from parley_common.retry import Backoff, retrying
from parley_common.schemas import BadMessage, Caption, CaptionType, SfuEvent, SfuEventType
from parley_common.settings import BaseServiceSettings
from parley_common.streams import ConsumerGroup, Entry, read_groups
from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from parley_gateway.db import captions as store
from parley_gateway.db.engine import Database
from parley_gateway.persister import metrics
from parley_gateway.settings import DEFAULT_DATABASE_URL

log = logging.getLogger("parley.persister")
PROG_DESCRIPTION = "parley-persister: every final caption and translation into Postgres, once per id."
GROUP = "persist"
SFU_EVENTS = keys.SFU_EVENTS


class PersisterSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_PERSISTER_", extra="ignore", populate_by_name=True)

    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("PARLEY_PERSISTER_REDIS_URL", "PARLEY_REDIS_URL"),
    )
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL, validation_alias=AliasChoices("PARLEY_DATABASE_URL")
    )
    batch: int = 100
    block_ms: int = 1000
    claim_idle_ms: int = 10_000
    claim_every_s: float = 5.0
    max_deliveries: int = 10
    sfu_events: bool = True  # also record participant sessions from the SFU's producer events
    db_retry_max_s: float = 5.0  # while Postgres is away, asked at least this often


def parse_caption(fields: dict[bytes, bytes]) -> Caption:
    """A caption to store; BadMessage if malformed (a final too long for its columns, too)."""
    caption = Caption.from_fields(fields)
    too_long = len(caption.lang) > 16 or len(caption.source_lang) > 16 or len(caption.speaker_name) > 200
    if caption.type is CaptionType.FINAL and caption.text and too_long:
        raise BadMessage("bad_fields", "language code or speaker name too long")
    return caption


class DatabaseDown(Exception):
    """A batch could not be committed because Postgres did not answer."""


def unreachable(exc: BaseException) -> bool:
    """Postgres is away (refused, dropped, timed out, shutting down), as opposed to refusing this
    data (which is retried, then dead-lettered after max_deliveries, as before)."""
    if isinstance(exc, OSError | TimeoutError | OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class Persister:
    def __init__(self, r: aioredis.Redis, db: Database, settings: PersisterSettings) -> None:
        self.r = r
        self.db = db
        self.settings = settings
        consumer = settings.replica_name()
        opts = {"min_idle_ms": settings.claim_idle_ms, "max_deliveries": settings.max_deliveries}
        self.captions = ConsumerGroup(r, keys.PERSIST_CAPTIONS, GROUP, consumer, **opts)
        self.groups = [self.captions]
        self.lanes: dict[str, Lane[Caption | SfuEvent]] = {
            keys.PERSIST_CAPTIONS: Lane(self.captions, parse_caption, self._bad_input)
        }
        if settings.sfu_events:
            sfu = ConsumerGroup(r, SFU_EVENTS, GROUP, consumer, **opts)
            self.groups.append(sfu)
            self.lanes[SFU_EVENTS] = Lane(sfu, SfuEvent.from_fields, self._bad_input)
        self.healthy = False
        self._last_claim = 0.0

    async def ensure(self) -> None:
        for g in self.groups:
            await g.ensure()

    async def run(self) -> None:
        await self.ensure()
        self.healthy = True
        metrics.DB_UP.set(1)
        backoff = Backoff(0.5, 10.0)
        while True:
            # Any other database or Redis error retries the batch (backoff 0.5 s doubling to 10 s):
            # its entries stay pending, and the claim pass turns a batch that never commits into
            # dead letters after max_deliveries.
            try:
                await retrying(
                    self._round,
                    "persist batch",
                    backoff=backoff,
                    also=(SQLAlchemyError, aioredis.RedisError),
                    on_retry=self._failed,
                    logger=log,
                )
            except DatabaseDown as exc:
                metrics.DB_ERRORS.inc()
                await self.wait_for_database(exc)
                await self.store_own_pending()
            self.healthy = True

    async def wait_for_database(self, exc: BaseException) -> None:
        """Read nothing more until Postgres answers again."""
        metrics.DB_UP.set(0)
        since = time.monotonic()
        log.warning("Postgres is away; holding the finals in Redis until it answers: %s", exc)
        backoff = Backoff(0.25, self.settings.db_retry_max_s)
        while True:
            await backoff.wait()
            try:
                async with self.db.session() as session:
                    await session.execute(text("select 1"))
                break
            except (SQLAlchemyError, OSError, TimeoutError):
                continue
        metrics.DB_UP.set(1)
        log.info("Postgres is back after %.1f s; storing what waited", time.monotonic() - since)

    async def store_own_pending(self) -> None:
        """Store the entries this consumer read but could not commit (its pending list)."""
        for g in self.groups:
            after = "0-0"
            while True:
                entries = await g.read_own_pending(self.settings.batch, after)
                if not entries:
                    break
                after = entries[-1][0].decode()
                gone = [eid for eid, fields in entries if not fields]  # trimmed away meanwhile
                await g.ack(*gone)
                await self.process(g, [(eid, fields) for eid, fields in entries if fields])
                metrics.PENDING_RETRIED.inc(len(entries) - len(gone))

    async def _round(self) -> None:
        if time.monotonic() - self._last_claim >= self.settings.claim_every_s:
            self._last_claim = time.monotonic()
            for g in self.groups:
                await self.process(g, await g.claim_stale(self.settings.batch))
        await self.step(self.settings.block_ms)

    def _failed(self, _exc: BaseException) -> None:
        self.healthy = False
        metrics.DB_ERRORS.inc()

    async def step(self, block_ms: int | None = None) -> int:
        """Read and store one batch of new entries; returns how many were read."""
        got = await read_groups(self.groups, block_ms or 1) if len(self.groups) > 1 else None
        if got is None:
            entries = await self.captions.read(self.settings.batch, block_ms)
            await self.process(self.captions, entries)
            return len(entries)
        by_group: dict[str, list[Entry]] = {}
        for g, entry in got:
            by_group.setdefault(g.stream, []).append(entry)
        for g in self.groups:
            more = await g.read(self.settings.batch) if g.stream in by_group else []
            await self.process(g, by_group.get(g.stream, []) + more)
        return len(got)

    async def process(self, group: ConsumerGroup, entries: list[Entry]) -> None:
        """Store a batch in one transaction; acknowledge it, malformed entries included, after the commit."""
        if not entries:
            return
        accepted = await self.lanes[group.stream].accept_all(entries, ack=False)
        try:
            async with self.db.session() as session, session.begin():
                for _eid, msg in accepted:
                    if isinstance(msg, Caption):
                        await self._store_caption(session, msg)
                    else:
                        await self._store_sfu_event(session, msg)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            if unreachable(exc):
                raise DatabaseDown(str(exc)) from exc
            raise
        await group.ack(*(eid for eid, _ in entries))

    @staticmethod
    def _bad_input(reason: str) -> None:
        metrics.BAD_INPUT.labels(reason).inc()

    async def _store_caption(self, session: AsyncSession, caption: Caption) -> None:
        if caption.type is not CaptionType.FINAL:
            metrics.SKIPPED.labels("partial").inc()
            return
        if not caption.text:
            metrics.SKIPPED.labels("retraction").inc()
            return
        if caption.for_lang:  # the original again, for listeners of a language no engine reaches
            metrics.SKIPPED.labels("untranslated").inc()
            return
        async with session.begin_nested():
            await store.store_final(session, caption)
        metrics.STORED.labels("translation" if caption.is_translation else "source").inc()

    async def _store_sfu_event(self, session: AsyncSession, event: SfuEvent) -> None:
        if event.type is SfuEventType.OPEN:
            await store.open_sfu_session(session, event.room, event.peer, event.name, event.producer)
        elif event.type is SfuEventType.CLOSE:
            await store.close_sfu_session(session, event.producer)
        else:
            metrics.SKIPPED.labels("sfu_event").inc()


async def amain(settings: PersisterSettings) -> None:
    r = redisconn.connect(settings.redis_url)
    db = Database(settings.database_url, pool_size=2)
    persister = Persister(r, db, settings)
    await serve_health(settings.metrics_port, lambda: persister.healthy, settings.metrics_host)
    log.info(
        "persisting finals [stream:%s, group:%s, consumer:%s]",
        keys.PERSIST_CAPTIONS,
        GROUP,
        persister.captions.consumer,
    )
    try:
        await persister.run()
    finally:
        await db.close()
        await r.aclose()


def main() -> None:
    argparse.ArgumentParser(description=PROG_DESCRIPTION).parse_args()
    settings = PersisterSettings()
    setup_logging(settings.log_level, settings.log_json)
    asyncio.run(amain(settings))
