"""Earlier finals in a language a listener switched to (requested by the gateway): the translator's
batch path for history.

The gateway puts one entry per earlier final that has no translation in the new language yet on
translate:jobs:backfill (schemas.BackfillJob): the source final and the target language. They are
history, so they wait for live finals and partials (the translator runs them as the background
lane of parley_common.lanes), and go through the engine in batches (one call per language pair).
Each translation is published with the same once-marker as a live one: if the live path
translated the same caption meanwhile, only one of them goes out.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from parley_common import keys
from parley_common.lanes import Accepted, Lane
from parley_common.publish import Publisher
from parley_common.schemas import BackfillJob, Caption, Timing
from parley_common.translation import translated, untranslated

from parley_translate import metrics

BATCH = 20  # entries per read: one engine call per pair in it, so live work waits at most one batch

# (texts, source, target, log context) -> (translations or the originals, error, engine name)
TranslateTexts = Callable[[list[str], str, str, str], Awaitable[tuple[list[str], str, str]]]


def backfill_bad_input(_reason: str) -> None:
    metrics.BACKFILLED.labels("bad_input").inc()


class Backfill:
    def __init__(
        self,
        lane: Lane[BackfillJob],
        r: aioredis.Redis,
        publisher: Publisher,
        translate_texts: TranslateTexts,
    ) -> None:
        self.lane = lane
        self.r = r
        self.publisher = publisher
        self.translate_texts = translate_texts

    async def translate(self, jobs: list[Accepted[BackfillJob]]) -> None:
        """Translate and publish a batch of accepted backfill entries, then acknowledge them."""
        by_pair: dict[tuple[str, str], list[Caption]] = defaultdict(list)
        for _eid, job in jobs:
            caption, lang = job.caption, job.lang
            if lang != caption.source_lang and not await self.r.exists(_marker(caption, lang)):
                by_pair[(caption.source_lang, lang)].append(caption)
        for (source, target), captions in by_pair.items():
            texts, error, engine = await self.translate_texts(
                [c.source_text for c in captions], source, target, f"backfill, {len(captions)} lines"
            )
            for caption, text in zip(captions, texts, strict=True):
                # No speech timings: latency histograms downstream count live captions only.
                timing = Timing(translated=time.time())
                if error:  # the original, labelled as such
                    out = untranslated(caption, target, error, timing)
                else:
                    out = translated(caption, target, text, engine, timing)
                published = await self.publisher.once(_marker(caption, target), out)
                metrics.BACKFILLED.labels("error" if error else "ok" if published else "duplicate").inc()
        await self.lane.group.ack(*(eid for eid, _ in jobs))


def _marker(caption: Caption, lang: str) -> str:
    return keys.published_marker(caption.id, "final", lang)
