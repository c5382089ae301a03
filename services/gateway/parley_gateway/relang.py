"""A listener switched caption language: their earlier lines, in the new language.

Finals already in that language (spoken in it, or translated for another listener) go to the
listener at once. The others are asked of the translators (translate:jobs:backfill, one entry per
final) and reach the listener as ordinary live captions once translated: the page shows those
lines in the original meanwhile, marked as pending.

The answer comes from each room's `FinalsIndex`, which the room's caption feed keeps as it reads
the stream (fanout.py): a switch costs dictionary lookups, never a read and parse of the whole
stream on the event loop. Bounds (docs/security.md): the index keeps the room's last
`history_finals` finals; one switch asks for at most `backfill_max_lines` translations (the most
recent); a (line, language) already asked for is not asked again for `REQUEST_TTL_S`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

import redis.asyncio as aioredis
from parley_common import keys
from parley_common.publish import TRANSLATE_MAXLEN
from parley_common.schemas import BackfillJob, Caption, CaptionType
from parley_common.streams import id_order

SOURCE = "source"  # a listener who wants captions in whatever language was spoken
REQUEST_TTL_S = 60.0  # a backfill asked for and not delivered within this is asked again
FINAL_MARK = b'"type":"final"'  # in a caption's JSON: partials are skipped without parsing them


def shows(lang: str, caption: Caption) -> bool:
    """Whether a listener reading captions in `lang` gets this event."""
    if lang == SOURCE:
        return caption.is_source
    return caption.listener_lang == lang


def maybe_final(fields: dict[bytes, bytes]) -> bool:
    return FINAL_MARK in fields.get(b"data", b"")


@dataclass
class EarlierLines:
    ready: list[tuple[str, Caption]]  # (event id, final in the new language), in meeting order
    missing: list[Caption]  # source finals with no final in the new language yet


class FinalsIndex:
    """One room's recent finals: the source finals in publish order and, per caption id, the
    final (event id, caption) in each language it exists in."""

    def __init__(self, max_finals: int) -> None:
        self.max_finals = max_finals
        self.sources: OrderedDict[str, Caption] = OrderedDict()
        self.by_lang: dict[str, dict[str, tuple[str, Caption]]] = {}
        self.requested: dict[tuple[str, str], float] = {}  # (caption id, lang) -> when asked

    def seen(self, caption: Caption) -> bool:
        """This final, word for word, is indexed already: a re-publish (after a Redis failover
        lost the first copy and the pipeline redid the job), not news for the listeners."""
        if caption.type is not CaptionType.FINAL:
            return False
        # By the listeners' language, as add() files it: the original labelled for Spanish
        # listeners (lang vi, for_lang es) is not the Vietnamese source final, though its text is.
        hit = self.by_lang.get(caption.id, {}).get(caption.listener_lang)
        return hit is not None and hit[1].text == caption.text and hit[1].for_lang == caption.for_lang

    def add(self, event_id: str, caption: Caption) -> None:
        if caption.type is not CaptionType.FINAL:
            return
        if caption.is_source:
            if not caption.text:  # retracted: noise, never shown
                self.sources.pop(caption.id, None)
                self.by_lang.pop(caption.id, None)
                return
            self.sources[caption.id] = caption
            self.sources.move_to_end(caption.id)
            while len(self.sources) > self.max_finals:
                old, _ = self.sources.popitem(last=False)
                self.by_lang.pop(old, None)
        if caption.text and caption.id in self.sources:
            lang = caption.listener_lang
            self.by_lang.setdefault(caption.id, {})[lang] = (event_id, caption)
            self.requested.pop((caption.id, lang), None)

    def earlier(self, lang: str, max_missing: int) -> EarlierLines:
        """The earlier lines in `lang`; of those still missing, only the last `max_missing`."""
        ready: list[tuple[str, Caption]] = []
        missing: list[Caption] = []
        for cid, source in self.sources.items():
            hit = self.by_lang.get(cid, {}).get(source.lang if lang == SOURCE else lang)
            if hit is not None:
                ready.append(hit)
            else:
                missing.append(source)
        return EarlierLines(ready=ready, missing=missing[-max_missing:] if max_missing > 0 else [])

    def missing_after(self, lang: str, after: tuple[int, int], max_missing: int) -> list[Caption]:
        """The source finals published after stream id `after` that have no final in `lang` yet
        (the last `max_missing`): what a listener resuming with `since` would otherwise never get
        when no listener of `lang` was connected while they were spoken, e.g. the only gateway
        was down longer than the room language's lease, so no translator was asked."""
        missing: list[Caption] = []
        for cid, source in self.sources.items():
            langs = self.by_lang.get(cid, {})
            spoken = langs.get(source.lang)
            if lang not in langs and spoken is not None and id_order(spoken[0]) > after:
                missing.append(source)
        return missing[-max_missing:] if max_missing > 0 else []

    def to_request(self, captions: list[Caption], lang: str) -> list[Caption]:
        """Those of `captions` not already asked of the translators lately; marks them asked."""
        now = time.monotonic()
        self.requested = {k: t for k, t in self.requested.items() if now - t < REQUEST_TTL_S}
        out = [c for c in captions if (c.id, lang) not in self.requested]
        for c in out:
            self.requested[(c.id, lang)] = now
        return out


async def request_translations(r: aioredis.Redis, captions: list[Caption], lang: str) -> None:
    if not captions:
        return
    async with r.pipeline(transaction=False) as pipe:  # one round trip for a long meeting
        for caption in captions:
            fields = BackfillJob(caption, lang).to_fields()
            pipe.xadd(keys.TRANSLATE_JOBS_BACKFILL, fields, maxlen=TRANSLATE_MAXLEN, approximate=True)
        await pipe.execute()
