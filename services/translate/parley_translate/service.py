"""Translation loop: finals first, partials while it keeps up, once per language per caption."""

from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as aioredis
from parley_common import keys
from parley_common.lanes import FinalsFirst, Lane
from parley_common.log import caption_context
from parley_common.publish import Publisher
from parley_common.routes import Routes
from parley_common.schemas import BackfillJob, Caption, CaptionType
from parley_common.streams import ConsumerGroup
from parley_common.translation import no_engine, translated, untranslated

from parley_translate import metrics
from parley_translate.backfill import BATCH, Backfill, backfill_bad_input
from parley_translate.engines.base import Engine, TranslationError
from parley_translate.settings import TranslateSettings

log = logging.getLogger("parley.translate")


class Translator:
    def __init__(self, r: aioredis.Redis, settings: TranslateSettings, engines: list[Engine]) -> None:
        self.r = r
        self.settings = settings
        self.engines = engines
        consumer = settings.replica_name()

        def group(stream: str) -> ConsumerGroup:
            return ConsumerGroup(
                r, stream, keys.TRANSLATE_GROUP, consumer, min_idle_ms=settings.claim_idle_ms
            )

        def bad(reason: str) -> None:
            metrics.BAD_INPUT.labels(reason).inc()

        self.finals = Lane(group(keys.TRANSLATE_JOBS_FINAL), _parse_caption, bad)
        self.partials = Lane(group(keys.TRANSLATE_JOBS_PARTIAL), _parse_caption, bad)
        self.publisher = Publisher(r)
        self.backfill = Backfill(
            Lane(group(keys.TRANSLATE_JOBS_BACKFILL), BackfillJob.from_fields, backfill_bad_input),
            self.r,
            self.publisher,
            self.translate_texts,
        )
        self.lanes = FinalsFirst(
            finals=self.finals,
            handle_final=lambda eid, caption: self._handle(self.finals, eid, caption),
            partials=self.partials,
            handle_partial=lambda eid, caption: self._handle(self.partials, eid, caption),
            partial_key=lambda caption: caption.id,
            count_dropped=metrics.DROPPED_PARTIALS.inc,
            claim_partials=False,  # a dead replica's partials are stale by now
            background=self.backfill.lane,  # history: after live work
            handle_background=self.backfill.translate,
            background_batch=BATCH,
            # Beats and the rescue of a lost replica's jobs; no speed ordering (nothing is
            # measured): replicas may load different engines, and any of them may be the one
            # that serves a caption's pair.
            dispatch=settings.dispatch(r, "translate"),
        )
        # Every live replica's engines (parley_common.routes), refreshed by the advertiser
        # (__main__.py): a pair only speech translation serves is left to the STT.
        self.routes = Routes([])

    def engine_for(self, source: str, target: str) -> Engine | None:
        return next((e for e in self.engines if e.supports(source, target)), None)

    def set_routes(self, routes: Routes) -> None:
        self.routes = routes

    def speech_translated(self, source: str, target: str) -> bool:
        """Whether an STT replica translates this pair from the speech itself (and no engine here can)."""
        return (
            self.engine_for(source, target) is None
            and self.routes.engine(source, target, "speech") is not None
        )

    async def run(self) -> None:
        """Finals first, the newest partial of each caption while no final is translated, earlier
        finals for a language switch when no live work waits, claims every second (parley_common.lanes)."""
        await self.lanes.run()

    async def _handle(self, lane: Lane[Caption], eid: bytes, caption: Caption) -> None:
        try:
            await self.translate_caption(caption)
        except Exception:
            log.exception("translation failed [caption_id:%s]", caption.id, extra=_ctx(caption))
            return  # left pending: claimed again later
        await lane.group.ack(eid)

    async def translate_texts(
        self, texts: list[str], source: str, target: str, context: str = "", caption: Caption | None = None
    ) -> tuple[list[str], str, str]:
        """The batch path, live and backfill alike: (translations, "", engine), or the originals, why
        and the engine, so every listener still gets every line."""
        engine = self.engine_for(source, target)
        if engine is None:
            if self.speech_translated(source, target):  # live captions come from the STT; not history
                return texts, f"{source}->{target} is translated from the speech, live only", ""
            return texts, no_engine(source, target), ""
        try:
            return await asyncio.to_thread(engine.translate, texts, source, target), "", engine.name
        except TranslationError as exc:
            extra = _ctx(caption) if caption is not None else None
            log.warning("translation error [%s->%s, %s]: %s", source, target, context, exc, extra=extra)
            return texts, str(exc), engine.name

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
        targets = [
            t
            for t in await self.wanted_languages(caption.room)
            if t != caption.source_lang and not self.speech_translated(caption.source_lang, t)
        ]
        if not partial:  # one line per final: where a translation went (or why none was made)
            log.info("final to translate [caption_id:%s] into %s", caption.id, targets, extra=_ctx(caption))
        if not targets:
            return
        start = time.time()
        results = await asyncio.gather(*(self._one(caption, t) for t in targets))
        for target, (text, error, engine_name) in zip(targets, results, strict=True):
            timing = caption.timing.model_copy(update={"translated": time.time()})
            if error:  # the original, labelled as such, for this language's listeners
                out = untranslated(caption, target, error, timing)
            else:
                out = translated(caption, target, text, engine_name, timing)
            if partial:
                await self.publisher.partial(out, translate=False)
            else:
                await self.publisher.once(keys.published_marker(caption.id, "final", target), out)
            metrics.TRANSLATIONS.labels(engine_name or "none", "error" if error else "ok").inc()
        published = caption.timing.published or start
        metrics.JOB_SECONDS.labels(caption.type.value).observe(max(0.0, time.time() - published))

    async def _one(self, caption: Caption, target: str) -> tuple[str, str, str]:
        texts, error, engine = await self.translate_texts(
            [caption.source_text], caption.source_lang, target, f"caption_id:{caption.id}", caption
        )
        return texts[0], error, engine


def _ctx(caption: Caption) -> dict[str, object]:
    return caption_context(caption.room, caption.speaker, caption.id, caption.rev)


def _parse_caption(fields: dict[bytes, bytes]) -> Caption:
    return Caption.from_fields(fields)
