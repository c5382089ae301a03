"""Which caption languages a room offers a listener: the room's own list (`caption_languages` in
`room:{slug}`, written by the API), else the deployment's (PARLEY_GATEWAY_CAPTION_LANGUAGES), and
the language spoken there. A listener may ask only for these: each language asked for is work for
every caption from then on (a translation, a copy on the stream, a row in Postgres)."""

from __future__ import annotations

import redis.asyncio as aioredis
from parley_common import keys

from parley_gateway.fanout import SOURCE


async def offered(r: aioredis.Redis, room: str, default: list[str]) -> list[str]:
    own, spoken = await r.hmget(keys.room_info(room), ["caption_languages", "language"])
    langs = [x for x in (own or b"").decode().split(",") if x] or list(default)
    said = (spoken or b"").decode()
    if said and said != "auto" and said not in langs:
        langs.append(said)
    return langs


def allowed(lang: str, offer: list[str]) -> bool:
    return lang == SOURCE or lang in offer
