"""Translation loop: finals first, partials while it keeps up, once per language per caption."""

from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as aioredis
from parley_common import keys
from parley_common.publish import Publisher
from parley_common.schemas import BadMessage, Caption, CaptionType
from parley_common.streams import ConsumerGroup, Entry, dead_letter, newest_per_key, read_groups

from parley_translate import metrics
from parley_translate.backfill import BATCH, translate_backfill
from parley_translate.engines.base import Engine, TranslationError
from parley_translate.settings import TranslateSettings

log = logging.getLogger("parley.translate")


class Translator:
    def __init__(self, r: aioredis.Redis, settings: TranslateSettings, engines: list[Engine]) -> None:
        self.r = r
        self.settings = settings
        self.engines = engines
        consumer = settings.replica_name()
        self.finals = ConsumerGroup(
            r, keys.TRANSLATE_JOBS_FINAL, keys.TRANSLATE_GROUP, consumer, min_idle_ms=settings.claim_idle_ms
        )
        self.partials = ConsumerGroup(
            r, keys.TRANSLATE_JOBS_PARTIAL, keys.TRANSLATE_GROUP, consumer, min_idle_ms=settings.claim_idle_ms
        )
        self.backfill = ConsumerGroup(
            r,
            keys.TRANSLATE_JOBS_BACKFILL,
            keys.TRANSLATE_GROUP,
            consumer,
            min_idle_ms=settings.claim_idle_ms,
        )
        self.publisher = Publisher(r)
        self._last_claim = 0.0

    def engine_for(self, source: str, target: str) -> Engine | None:
        return next((e for e in self.engines if e.supports(source, target)), None)

    async def run(self) -> None:
        await self.finals.ensure()
        await self.partials.ensure()
        await self.backfill.ensure()
        while True:
            await self.step()

    async def step(self) -> None:
        if time.monotonic() - self._last_claim > 1.0:
            self._last_claim = time.monotonic()
            for entry in await self.finals.claim_stale():
                await self._handle(self.finals, entry)
            for entry in await self.partials.claim_stale():
                await self.partials.ack(entry[0])  # a dead replica's partials are stale by now
            if stale := await self.backfill.claim_stale():
                await translate_backfill(self, self.backfill, stale)
        finals = await self.finals.read(count=1)
        if finals:
            await self._handle(self.finals, finals[0])
            return
        partials = await self.partials.read(count=50)
        if partials:
            # Only the newest partial of each caption is worth translating.
            newest, superseded = newest_per_key(partials, _caption_id)
            metrics.DROPPED_PARTIALS.inc(len(superseded))
            await self.partials.ack(*superseded)
            for entry in newest:
                await self._handle(self.partials, entry)
            return
        backfill = await self.backfill.read(count=BATCH)  # history: after live work
        if backfill:
            await translate_backfill(self, self.backfill, backfill)
            return
        for group, entry in await read_groups([self.finals, self.partials, self.backfill], block_ms=100):
            if group is self.backfill:
                await translate_backfill(self, group, [entry])
            else:
                await self._handle(group, entry)

    async def _handle(self, group: ConsumerGroup, entry: Entry) -> None:
        eid, fields = entry
        try:
            caption = Caption.from_fields(fields)
        except BadMessage as exc:
            metrics.BAD_INPUT.labels(exc.reason).inc()
            await dead_letter(self.r, group.stream, eid, fields, exc.reason)
            await group.ack(eid)
            return
        try:
            await self.translate_caption(caption)
        except Exception:
            log.exception("translation failed [caption_id:%s]", caption.id)
            return  # left pending: claimed again later
        await group.ack(eid)

    async def wanted_languages(self, room: str) -> list[str]:
        langs = await self.r.zrangebyscore(keys.room_languages(room), time.time(), "+inf")
        return sorted(lang.decode() for lang in langs)

    async def translate_caption(self, caption: Caption) -> None:
        if not caption.text:
            return
        partial = caption.type is CaptionType.PARTIAL
        if partial and time.time() - caption.timing.stt_done > self.settings.partial_max_age_s:
            metrics.DROPPED_PARTIALS.inc()
            return
        targets = [t for t in await self.wanted_languages(caption.room) if t != caption.source_lang]
        if not targets:
            return
        start = time.time()
        results = await asyncio.gather(*(self._one(caption, t) for t in targets))
        for target, (text, error, engine_name) in zip(targets, results, strict=True):
            out = caption.model_copy(
                update={
                    "lang": target,
                    "text": text,
                    "error": error,
                    "timing": caption.timing.model_copy(update={"translated": time.time()}),
                }
            )
            if partial:
                await self.publisher.partial(out, translate=False)
            else:
                await self.publisher.once(keys.published_marker(caption.id, "final", target), out)
            metrics.TRANSLATIONS.labels(engine_name, "error" if error else "ok").inc()
        published = caption.timing.published or start
        metrics.JOB_SECONDS.labels(caption.type.value).observe(max(0.0, time.time() - published))

    async def _one(self, caption: Caption, target: str) -> tuple[str, str, str]:
        engine = self.engine_for(caption.source_lang, target)
        if engine is None:
            # Every listener still gets every final: the original, flagged as untranslated.
            return caption.source_text, f"no translation engine for {caption.source_lang}->{target}", "none"
        try:
            [text] = await asyncio.to_thread(
                engine.translate, [caption.source_text], caption.source_lang, target
            )
            return text, "", engine.name
        except TranslationError as exc:
            log.warning("translation error [caption_id:%s]: %s", caption.id, exc)
            return caption.source_text, str(exc), engine.name


def _caption_id(entry: Entry) -> str | None:
    try:
        return Caption.from_fields(entry[1]).id
    except BadMessage:
        return None
