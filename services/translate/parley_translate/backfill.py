"""Earlier finals in a language a listener switched to (requested by the gateway).

The gateway puts one entry per earlier final that has no translation in the new language yet on
translate:jobs:backfill: the source final (`data`) and the target language (`lang`). They are
history, so they wait for live finals and partials, and go through the engine in batches (one
call per language pair). Each translation is published with the same once-marker as a live one:
if the live path translated the same caption meanwhile, only one of them goes out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import TYPE_CHECKING

from parley_common import keys
from parley_common.schemas import BadMessage, Caption, CaptionType, Timing
from parley_common.streams import ConsumerGroup, Entry, dead_letter

from parley_translate import metrics
from parley_translate.engines.base import TranslationError

if TYPE_CHECKING:
    from parley_translate.service import Translator

log = logging.getLogger("parley.translate.backfill")

BATCH = 20  # entries per read: one engine call per pair in it, so live work waits at most one batch


def parse_job(fields: dict[bytes, bytes]) -> tuple[Caption, str]:
    """The source final and target language of one backfill entry; BadMessage if malformed."""
    caption = Caption.from_fields(fields)
    lang = fields.get(b"lang", b"").decode(errors="replace")
    if not 2 <= len(lang) <= 12 or not lang.replace("-", "").replace("_", "").isalpha():
        raise BadMessage("bad_lang", lang[:20])
    if caption.type is not CaptionType.FINAL or caption.is_translation or not caption.text:
        raise BadMessage("not_a_source_final")
    return caption, lang


async def translate_backfill(translator: Translator, group: ConsumerGroup, entries: list[Entry]) -> None:
    by_pair: dict[tuple[str, str], list[Caption]] = defaultdict(list)
    for eid, fields in entries:
        try:
            caption, lang = parse_job(fields)
        except BadMessage as exc:
            metrics.BACKFILLED.labels("bad_input").inc()
            await dead_letter(translator.r, group.stream, eid, fields, exc.reason)
            continue
        if lang != caption.source_lang and not await translator.r.exists(_marker(caption, lang)):
            by_pair[(caption.source_lang, lang)].append(caption)
    for (source, target), captions in by_pair.items():
        texts, error = await _translate(translator, [c.source_text for c in captions], source, target)
        for caption, text in zip(captions, texts, strict=True):
            # No speech timings: latency histograms downstream count live captions only.
            timing = Timing(translated=time.time())
            out = caption.model_copy(update={"lang": target, "text": text, "error": error, "timing": timing})
            published = await translator.publisher.once(_marker(caption, target), out)
            metrics.BACKFILLED.labels("error" if error else "ok" if published else "duplicate").inc()
    await group.ack(*(eid for eid, _ in entries))


async def _translate(
    translator: Translator, texts: list[str], source: str, target: str
) -> tuple[list[str], str]:
    """(translations, ""), or the originals and why (as the live path: every line still arrives)."""
    engine = translator.engine_for(source, target)
    if engine is None:
        return texts, f"no translation engine for {source}->{target}"
    try:
        return await asyncio.to_thread(engine.translate, texts, source, target), ""
    except TranslationError as exc:
        log.warning("backfill translation error [%s->%s, %d lines]: %s", source, target, len(texts), exc)
        return texts, str(exc)


def _marker(caption: Caption, lang: str) -> str:
    return keys.published_marker(caption.id, "final", lang)
