"""Which engine turns speech in language S into captions in language T, across the running replicas.

Translate replicas advertise their text engines (an apertium pair, a CTranslate2 model's languages);
STT replicas advertise Whisper's speech translation (task="translate": any language it hears, into
English). Each replica writes one report into the hash `lang:engines` (replica -> JSON) when it starts
and every ADVERTISE_EVERY_S after; a report older than `max_age_s` no longer counts (a replica that
restarts keeps its languages on offer meanwhile; one removed for good drops out after max_age_s).

The gateway builds a room's offer from these routes (a language is offered only where every language
spoken in the room reaches it), the translator leaves the pairs that only speech translation serves to
the STT, and the admin API shows which engine serves each pair.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict, ValidationError

from parley_common import keys

log = logging.getLogger("parley.routes")

ADVERTISE_EVERY_S = 10.0
FORGET_AFTER_S = 7 * 24 * 3600.0  # a report this old is deleted by whoever reads it
AS_SPOKEN = "as spoken"  # the "engine" of a pair whose source and target are the same language


class EngineInfo(BaseModel):
    """One loaded engine and the language pairs it serves (Whisper language codes)."""

    model_config = ConfigDict(frozen=True)
    name: str  # apertium | ct2-nllb | ct2-m2m100 | ct2-marian | whisper-translate
    kind: Literal["text", "speech"]  # text: translates caption text; speech: translates the audio
    pairs: list[str] = []  # "en-es": source-target
    languages: list[str] = []  # a many-to-many model: any pair of these
    model: str = ""  # the model it runs, where there is one

    def serves(self, source: str, target: str) -> bool:
        if source == target:
            return False
        if f"{source}-{target}" in self.pairs:
            return True
        return source in self.languages and target in self.languages

    def targets(self) -> set[str]:
        return {p.split("-", 1)[1] for p in self.pairs} | (
            set(self.languages) if len(self.languages) > 1 else set()
        )


class EngineReport(BaseModel):
    """What one replica has loaded, as of `at` (epoch s)."""

    replica: str
    service: Literal["translate", "stt"]
    at: float
    engines: list[EngineInfo]


async def advertise(
    r: aioredis.Redis, service: Literal["translate", "stt"], replica: str, engines: list[EngineInfo]
) -> None:
    report = EngineReport(replica=replica, service=service, at=time.time(), engines=engines)
    await r.hset(keys.LANG_ENGINES, f"{service}/{replica}", report.model_dump_json())


async def keep_advertising(
    r: aioredis.Redis,
    service: Literal["translate", "stt"],
    replica: str,
    engines: list[EngineInfo],
    max_age_s: float,
    on_routes: Callable[[Routes], None],
    advertised: asyncio.Event,
) -> None:
    """A replica's loop: report its engines every ADVERTISE_EVERY_S and hand it every live replica's
    routes (`on_routes`); `advertised` is set after the first report (the replica is healthy then)."""
    while True:
        await advertise(r, service, replica, engines)
        on_routes(await Routes.load(r, max_age_s))
        advertised.set()
        await asyncio.sleep(ADVERTISE_EVERY_S)


async def reports(r: aioredis.Redis, max_age_s: float) -> list[EngineReport]:
    """The reports of replicas seen within max_age_s, oldest first."""
    now = time.time()
    live: list[EngineReport] = []
    forget: list[bytes] = []
    for member, raw in (await r.hgetall(keys.LANG_ENGINES)).items():
        try:
            report = EngineReport.model_validate_json(raw)
        except ValidationError:
            log.warning("unreadable engine report dropped [replica:%s]", member.decode(errors="replace"))
            forget.append(member)
            continue
        if now - report.at > FORGET_AFTER_S:
            forget.append(member)
        elif now - report.at <= max_age_s:
            live.append(report)
    if forget:
        await r.hdel(keys.LANG_ENGINES, *forget)
    return sorted(live, key=lambda rep: rep.at)


@dataclass(frozen=True)
class Route:
    source: str
    target: str
    engine: str  # AS_SPOKEN where source == target
    kind: Literal["text", "speech", "none"]


@dataclass
class Offer:
    """A room's caption languages: those offered, and why each of the others is not."""

    spoken: list[str]  # empty: not known (several languages, detected)
    languages: list[str]  # offered, in the room's order (the spoken language(s) included)
    unavailable: dict[str, str] = field(default_factory=dict)  # language -> why it is not offered
    routes: list[Route] = field(default_factory=list)  # how each offered language is delivered

    def allows(self, lang: str) -> bool:
        return lang in self.languages


class Routes:
    """Every pair the live engines serve. Text engines come first (in the order advertised: a
    translate replica lists them in PARLEY_TRANSLATE_ENGINES order), speech translation after them."""

    def __init__(self, engines: list[EngineInfo]) -> None:
        self.engines = [e for e in engines if e.kind == "text"] + [e for e in engines if e.kind == "speech"]

    @classmethod
    async def load(cls, r: aioredis.Redis, max_age_s: float) -> Routes:
        engines: list[EngineInfo] = []
        for report in await reports(r, max_age_s):
            engines += [e for e in report.engines if e not in engines]
        return cls(engines)

    def engine(self, source: str, target: str, kind: str | None = None) -> EngineInfo | None:
        """The engine that serves source -> target (of `kind`, when given)."""
        return next(
            (e for e in self.engines if (kind is None or e.kind == kind) and e.serves(source, target)), None
        )

    def route(self, source: str, target: str) -> Route:
        if source == target:
            return Route(source, target, AS_SPOKEN, "text")
        engine = self.engine(source, target)
        return (
            Route(source, target, engine.name, engine.kind) if engine else Route(source, target, "", "none")
        )

    def reaches(self, target: str) -> bool:
        return any(target in e.targets() for e in self.engines)

    def offer(self, spoken: list[str], candidates: list[str]) -> Offer:
        """The candidates every spoken language reaches (with `spoken` unknown: those any engine
        reaches, as a caption in an unreachable language then comes untranslated, and says so)."""
        out = Offer(spoken=list(spoken), languages=[])
        for lang in [*spoken, *(c for c in candidates if c not in spoken)]:
            if lang in out.languages:
                continue
            if not spoken:
                if self.reaches(lang):
                    out.languages.append(lang)
                    out.routes += [
                        Route("*", lang, e.name, e.kind) for e in self.engines if lang in e.targets()
                    ]
                else:
                    out.unavailable[lang] = f"no running engine translates into {lang}"
                continue
            routes = [self.route(s, lang) for s in spoken]
            missing = [r.source for r in routes if r.kind == "none"]
            if missing:
                out.unavailable[lang] = "no running engine translates " + ", ".join(
                    f"{s}->{lang}" for s in missing
                )
            else:
                out.languages.append(lang)
                out.routes += [r for r in routes if r.source != r.target]
        return out
