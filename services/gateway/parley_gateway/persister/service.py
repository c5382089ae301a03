"""The persister's loop: read a batch, upsert it in one transaction, acknowledge after the commit."""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

import redis.asyncio as aioredis
from parley_common import keys
from parley_common.health import serve_health
from parley_common.log import setup_logging
from parley_common.schemas import BadMessage, Caption, CaptionType
from parley_common.settings import BaseServiceSettings
from parley_common.streams import ConsumerGroup, Entry, dead_letter, read_groups
from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from parley_gateway.db import captions as store
from parley_gateway.db.engine import Database
from parley_gateway.persister import metrics
from parley_gateway.settings import DEFAULT_DATABASE_URL

log = logging.getLogger("parley.persister")
PROG_DESCRIPTION = "parley-persister: every final caption and translation into Postgres, once per id."
GROUP = "persist"
SFU_EVENTS = "sfu:events"


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


class Persister:
    def __init__(self, r: aioredis.Redis, db: Database, settings: PersisterSettings) -> None:
        self.r = r
        self.db = db
        self.settings = settings
        consumer = settings.replica_name()
        opts = {"min_idle_ms": settings.claim_idle_ms, "max_deliveries": settings.max_deliveries}
        self.captions = ConsumerGroup(r, keys.PERSIST_CAPTIONS, GROUP, consumer, **opts)
        self.groups = [self.captions]
        if settings.sfu_events:
            self.groups.append(ConsumerGroup(r, SFU_EVENTS, GROUP, consumer, **opts))
        self.healthy = False

    async def ensure(self) -> None:
        for g in self.groups:
            await g.ensure()

    async def run(self) -> None:
        await self.ensure()
        self.healthy = True
        last_claim = 0.0
        backoff = 0.5
        while True:
            try:
                if time.monotonic() - last_claim >= self.settings.claim_every_s:
                    last_claim = time.monotonic()
                    for g in self.groups:
                        await self.process(g, await g.claim_stale(self.settings.batch))
                await self.step(self.settings.block_ms)
                self.healthy = True
                backoff = 0.5
            except (SQLAlchemyError, OSError, aioredis.RedisError) as exc:
                # Unacknowledged entries stay pending; the claim pass retries them.
                self.healthy = False
                metrics.DB_ERRORS.inc()
                log.warning("persist batch failed, retrying in %.1f s: %s", backoff, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

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
        if not entries:
            return
        handle = self._store_caption if group.stream == keys.PERSIST_CAPTIONS else self._store_sfu_event
        done: list[bytes] = []
        async with self.db.session() as session, session.begin():
            for eid, fields in entries:
                try:
                    await handle(session, fields)
                except BadMessage as exc:
                    metrics.BAD_INPUT.labels(exc.reason).inc()
                    log.warning(
                        "bad persist entry dead-lettered [stream:%s, id:%s]: %s", group.stream, eid, exc
                    )
                    await dead_letter(self.r, group.stream, eid, fields, exc.reason)
                done.append(eid)
        await group.ack(*done)

    async def _store_caption(self, session: AsyncSession, fields: dict[bytes, bytes]) -> None:
        caption = Caption.from_fields(fields)
        if caption.type is not CaptionType.FINAL:
            metrics.SKIPPED.labels("partial").inc()
            return
        if not caption.text:
            metrics.SKIPPED.labels("retraction").inc()
            return
        if len(caption.lang) > 16 or len(caption.source_lang) > 16 or len(caption.speaker_name) > 200:
            raise BadMessage("bad_fields", "language code or speaker name too long")
        async with session.begin_nested():
            await store.store_final(session, caption)
        metrics.STORED.labels("translation" if caption.is_translation else "source").inc()

    async def _store_sfu_event(self, session: AsyncSession, fields: dict[bytes, bytes]) -> None:
        f = {k.decode(): v.decode(errors="replace") for k, v in fields.items()}
        kind, room, peer, producer = (
            f.get("type"),
            f.get("room", ""),
            f.get("peer", ""),
            f.get("producer", ""),
        )
        if not (room and peer and producer) or len(room) > 64 or len(peer) > 64:
            raise BadMessage("bad_sfu_event", repr(kind))
        if kind == "producer.open":
            await store.open_sfu_session(session, room, peer, f.get("name", "")[:200], producer[:100])
        elif kind == "producer.close":
            await store.close_sfu_session(session, producer[:100])
        else:
            metrics.SKIPPED.labels("sfu_event").inc()


async def amain(settings: PersisterSettings) -> None:
    r = aioredis.from_url(settings.redis_url)
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
