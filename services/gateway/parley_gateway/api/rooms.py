"""Rooms: create, list, get, update, close."""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parley_gateway.api.deps import AdminDep, HostDep, RedisDep, SessionDep, SettingsDep, SlugPath
from parley_gateway.api.errors import ApiError, not_found
from parley_gateway.api.live import announce, write_room_state
from parley_gateway.api.schemas import Page, RoomCreate, RoomOut, RoomUpdate
from parley_gateway.db.models import HostAction, Room
from parley_gateway.settings import GatewaySettings

router = APIRouter(tags=["rooms"])
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


async def get_room(session: AsyncSession, slug: str, *, lock: bool = False) -> Room:
    q = select(Room).where(Room.slug == slug)
    room = (await session.execute(q.with_for_update() if lock else q)).scalar()
    if room is None:
        raise not_found("room", slug)
    return room


def room_out(room: Room) -> RoomOut:
    return RoomOut.model_validate(room, from_attributes=True)


def _slugify(name: str) -> str:
    base = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()[:48] or "room"
    return f"{base}-{secrets.token_hex(3)}"


def _check_languages(langs: list[str] | None, settings: GatewaySettings) -> None:
    if langs is not None and len(set(langs)) > settings.max_caption_languages:
        raise ApiError(
            422,
            f"caption_languages: at most {settings.max_caption_languages} languages per room "
            "(PARLEY_GATEWAY_MAX_CAPTION_LANGUAGES)",
        )


@router.post("/rooms", status_code=201, response_model=RoomOut)
async def create_room(
    body: RoomCreate, session: SessionDep, r: RedisDep, settings: SettingsDep, _: AdminDep
) -> RoomOut:
    _check_languages(body.caption_languages, settings)
    room = Room(slug=body.slug or _slugify(body.name), **body.model_dump(exclude={"slug"}))
    session.add(room)
    try:
        await session.commit()
    except IntegrityError:
        raise ApiError(409, f"a room with slug {room.slug!r} already exists") from None
    await session.refresh(room)
    await write_room_state(r, room)
    return room_out(room)


@router.get("/rooms", response_model=Page[RoomOut])
async def list_rooms(
    session: SessionDep,
    _: AdminDep,
    status: Literal["open", "closed"] | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[RoomOut]:
    q = select(Room)
    if status is not None:
        q = q.where(Room.status == status)
    total = (await session.execute(select(func.count()).select_from(q.subquery()))).scalar_one()
    rows = (
        await session.execute(q.order_by(Room.created_at.desc(), Room.id.desc()).limit(limit).offset(offset))
    ).scalars()
    return Page[RoomOut](items=[room_out(x) for x in rows], total=total, limit=limit, offset=offset)


@router.get("/rooms/{slug}", response_model=RoomOut)
async def get_room_route(slug: SlugPath, session: SessionDep, _: HostDep) -> RoomOut:
    return room_out(await get_room(session, slug))


@router.patch("/rooms/{slug}", response_model=RoomOut)
async def update_room(
    slug: SlugPath, body: RoomUpdate, session: SessionDep, r: RedisDep, settings: SettingsDep, _: AdminDep
) -> RoomOut:
    _check_languages(body.caption_languages, settings)
    room = await get_room(session, slug, lock=True)
    if room.status == "closed":
        raise ApiError(409, f"room {slug!r} is closed; it can no longer be changed")
    for field, value in body.model_dump(exclude_unset=True).items():
        if value is None and field in ("name", "spoken_languages", "caption_languages", "glossary", "prompt"):
            raise ApiError(422, f"{field} may not be null")
        setattr(room, field, value)
    room.updated_at = func.now()
    await session.commit()
    await session.refresh(room)
    await write_room_state(r, room)
    return room_out(room)


@router.post("/rooms/{slug}/close", response_model=RoomOut)
async def close_room(
    slug: SlugPath, session: SessionDep, r: RedisDep, who: HostDep, settings: SettingsDep
) -> RoomOut:
    """Close the room: no new tokens, and the SFU is told to end every connection.

    Closing twice is harmless."""
    room = await get_room(session, slug, lock=True)
    if room.status != "closed":
        room.status = "closed"
        room.closed_at = func.now()
        room.updated_at = func.now()
        session.add(HostAction(room_id=room.id, action="close", actor=who.actor))
        await session.commit()
        await session.refresh(room)
        await write_room_state(r, room)
        await announce(r, "close", slug, "", who.actor, settings.redis_replica_wait_ms)
    return room_out(room)
