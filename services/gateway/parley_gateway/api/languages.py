"""Caption languages through the API: what a room offers and which engine serves each pair, which
engines the replicas have loaded, and the check that refuses a join asking for an undeliverable one."""

from __future__ import annotations

import time

import redis.asyncio as aioredis
from fastapi import APIRouter
from parley_common.routes import Offer, reports

from parley_gateway import languages
from parley_gateway.api.deps import AdminDep, HostDep, RedisDep, SessionDep, SettingsDep, SlugPath
from parley_gateway.api.errors import ApiError
from parley_gateway.api.rooms import get_room
from parley_gateway.api.schemas import (
    EngineOut,
    EnginesOut,
    LanguageOut,
    RoomLanguagesOut,
    RouteOut,
    UnavailableLanguage,
)
from parley_gateway.fanout import SOURCE
from parley_gateway.settings import GatewaySettings

router = APIRouter(tags=["languages"])


def offered(offer: Offer) -> list[LanguageOut]:
    return [LanguageOut(code=c, name=languages.name(c)) for c in offer.languages]


def unavailable(offer: Offer) -> list[UnavailableLanguage]:
    return [UnavailableLanguage(code=c, name=languages.name(c), why=w) for c, w in offer.unavailable.items()]


def room_languages(slug: str, offer: Offer) -> RoomLanguagesOut:
    routes = [
        RouteOut(source=r.source, target=r.target, engine=r.engine, kind=r.kind)
        for r in offer.routes
        if r.kind != "none"
    ]
    return RoomLanguagesOut(
        room=slug, spoken=offer.spoken, offered=offered(offer), unavailable=unavailable(offer), routes=routes
    )


async def check_caption_lang(
    r: aioredis.Redis, settings: GatewaySettings, slug: str, lang: str | None
) -> None:
    """A join asking for captions in a language the room cannot deliver is refused, saying why."""
    if lang is None or lang == SOURCE:
        return
    offer = await languages.room_offer(r, slug, settings)
    if not languages.allowed(lang, offer):
        raise ApiError(422, f"caption_lang: {languages.refusal(lang, offer)}")


@router.get("/rooms/{slug}/languages", response_model=RoomLanguagesOut)
async def get_room_languages(
    slug: SlugPath, session: SessionDep, r: RedisDep, settings: SettingsDep, _: HostDep
) -> RoomLanguagesOut:
    """The caption languages this room offers now, the engine behind each, and why any other of its
    caption languages is not offered (the lobby and the caption socket offer exactly these)."""
    await get_room(session, slug)
    return room_languages(slug, await languages.room_offer(r, slug, settings))


@router.get("/languages", response_model=EnginesOut)
async def get_engines(r: RedisDep, settings: SettingsDep, _: AdminDep) -> EnginesOut:
    """The translation engines every live STT and translate replica reports, and the deployment's
    caption languages they deliver."""
    now = time.time()
    engines = [
        EngineOut(
            replica=rep.replica,
            service=rep.service,
            reported_s_ago=round(now - rep.at, 1),
            **e.model_dump(),
        )
        for rep in await reports(r, settings.engine_report_max_age_s)
        for e in rep.engines
    ]
    offer = await languages.deployment_offer(r, settings)
    return EnginesOut(engines=engines, offered=offered(offer), unavailable=unavailable(offer))
