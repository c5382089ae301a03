"""A listener switched caption language: their earlier lines, in the new language.

Finals already in that language (spoken in it, or translated for another listener) are in the
room's captions stream and go to the listener at once. The others are asked of the translators
(translate:jobs:backfill, one entry per final) and reach the listener as ordinary live captions
once translated: the page shows those lines in the original meanwhile, marked as pending.
Lines older than the stream keeps (CAPTIONS_MAXLEN events) stay as the listener received them.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from parley_common import keys
from parley_common.publish import CAPTIONS_MAXLEN, TRANSLATE_MAXLEN
from parley_common.schemas import Caption, CaptionType

from parley_gateway.fanout import captions_of, shows


@dataclass
class EarlierLines:
    ready: list[tuple[str, Caption]]  # (event id, final in the new language), in meeting order
    missing: list[Caption]  # source finals with no final in the new language yet


async def earlier_lines(r: aioredis.Redis, room: str, lang: str) -> EarlierLines:
    rows = await r.xrevrange(keys.captions_stream(room), count=CAPTIONS_MAXLEN)
    rows.reverse()
    sources: dict[str, Caption] = {}  # caption id -> its source final, in publish order
    found: dict[str, tuple[str, Caption]] = {}
    for eid, caption in captions_of(rows):
        if caption.type is not CaptionType.FINAL:
            continue
        if not caption.is_translation:
            if caption.text:
                sources[caption.id] = caption
            else:  # retracted: noise, never shown
                sources.pop(caption.id, None)
        if caption.text and shows(lang, caption):
            found[caption.id] = (eid.decode(), caption)
    return EarlierLines(
        ready=[found[cid] for cid in sources if cid in found],
        missing=[c for cid, c in sources.items() if cid not in found],
    )


async def request_translations(r: aioredis.Redis, captions: list[Caption], lang: str) -> None:
    if not captions:
        return
    async with r.pipeline(transaction=False) as pipe:  # one round trip for a long meeting
        for caption in captions:
            fields = {"v": "1", **caption.to_fields(), "lang": lang}
            pipe.xadd(keys.TRANSLATE_JOBS_BACKFILL, fields, maxlen=TRANSLATE_MAXLEN, approximate=True)
        await pipe.execute()
