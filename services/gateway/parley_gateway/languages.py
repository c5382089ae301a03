"""Which caption languages a room offers a listener: of the room's own list (`caption_languages` in
`room:{slug}`, written by the API), else the deployment's (PARLEY_GATEWAY_CAPTION_LANGUAGES), those
the running engines deliver from every language spoken there (parley_common.routes), and the spoken
language itself. A listener may ask only for these: each language asked for is work for every caption
from then on (a translation, a copy on the stream, a row in Postgres), and one no engine delivers
would be the original under another language's name.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from parley_common import keys
from parley_common.routes import Offer, Routes

from parley_gateway.fanout import SOURCE
from parley_gateway.settings import GatewaySettings

# Names the page shows for caption languages (Whisper codes); a code it lacks is shown as the code.
NAMES = {
    "en": "English",
    "es": "Spanish",
    "ca": "Catalan",
    "gl": "Galician",
    "vi": "Vietnamese",
    "pt": "Portuguese",
    "fr": "French",
    "de": "German",
    "it": "Italian",
    "eu": "Basque",
    "eo": "Esperanto",
    "is": "Icelandic",
    "mk": "Macedonian",
    "hr": "Croatian",
    "sr": "Serbian",
    "bs": "Bosnian",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "th": "Thai",
    "id": "Indonesian",
    "ru": "Russian",
    "uk": "Ukrainian",
    "ar": "Arabic",
    "hi": "Hindi",
    "nl": "Dutch",
    "pl": "Polish",
    "tr": "Turkish",
}


def name(code: str) -> str:
    return NAMES.get(code, code)


async def spoken(r: aioredis.Redis, room: str) -> list[str]:
    """The languages spoken in the room; empty when not known (several, or `auto`: detected)."""
    listed, language = await r.hmget(keys.room_info(room), ["spoken_languages", "language"])
    langs = [x for x in (listed or b"").decode().split(",") if x]
    said = (language or b"").decode()
    return langs or ([said] if said and said != "auto" else [])


async def room_offer(r: aioredis.Redis, room: str, settings: GatewaySettings) -> Offer:
    own = (await r.hget(keys.room_info(room), "caption_languages") or b"").decode()
    candidates = [x for x in own.split(",") if x] or list(settings.caption_languages)
    routes = await Routes.load(r, settings.engine_report_max_age_s)
    return routes.offer(await spoken(r, room), candidates)


async def deployment_offer(r: aioredis.Redis, settings: GatewaySettings) -> Offer:
    """The deployment's caption languages any running engine delivers (no room in view)."""
    routes = await Routes.load(r, settings.engine_report_max_age_s)
    return routes.offer([], list(settings.caption_languages))


def allowed(lang: str, offer: Offer) -> bool:
    return lang == SOURCE or offer.allows(lang)


def refusal(lang: str, offer: Offer) -> str:
    """Why `lang` may not be asked for here, in words a listener (and a developer) can act on."""
    why = offer.unavailable.get(lang, "it is not one of this room's caption languages")
    offered = ", ".join([SOURCE, *offer.languages])
    return f"captions in {name(lang)} ({lang!r}) are not available in this room: {why} (offered: {offered})"
