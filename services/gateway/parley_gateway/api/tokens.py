"""Join tokens and invite links (rate limited per client address and per room)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Request
from parley_common.tokens import issue_join_token
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley_gateway.api.deps import (
    AdminDep,
    HostDep,
    RedisDep,
    SessionDep,
    SettingsDep,
    SlugPath,
    client_address,
)
from parley_gateway.api.errors import ApiError
from parley_gateway.api.rooms import get_room
from parley_gateway.api.schemas import InviteCreate, InviteJoin, InviteOut, JoinTokenOut, JoinTokenRequest
from parley_gateway.auth import ratelimit
from parley_gateway.auth.secrets import new_invite_code
from parley_gateway.db.models import Invite, Participant, Room
from parley_gateway.settings import GatewaySettings

router = APIRouter(tags=["tokens"])
InviteCode = Annotated[str, Path(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def _hash_code(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


async def _limit(r: RedisDep, settings: GatewaySettings, request: Request, room: str) -> None:
    await ratelimit.hit(r, "token", f"ip:{client_address(request)}", settings.token_rate_per_min)
    await ratelimit.hit(r, "token", f"room:{room}", settings.token_rate_per_min * 10)


async def _issue(
    session: AsyncSession,
    settings: GatewaySettings,
    room: Room,
    *,
    name: str,
    role: str,
    participant_id: str | None,
    caption_lang: str | None,
    ttl_s: int | None,
) -> JoinTokenOut:
    if room.status == "closed":
        raise ApiError(409, f"room {room.slug!r} is closed")
    pid = participant_id or f"p-{secrets.token_hex(6)}"
    existing = (
        await session.execute(
            select(Participant).where(Participant.room_id == room.id, Participant.key == pid)
        )
    ).scalar()
    if existing is not None and existing.removed_at is not None:
        raise ApiError(403, f"participant {pid!r} was removed from room {room.slug!r}")
    if existing is None and room.max_participants is not None:
        count = (
            await session.execute(
                select(func.count()).where(Participant.room_id == room.id, Participant.removed_at.is_(None))
            )
        ).scalar_one()
        if count >= room.max_participants:
            raise ApiError(409, f"room {room.slug!r} is full ({room.max_participants} participants)")
    stmt = insert(Participant).values(
        room_id=room.id, key=pid, display_name=name, role=role, caption_lang=caption_lang
    )
    await session.execute(
        stmt.on_conflict_do_update(
            constraint="uq_participants_room_key",
            set_={"display_name": name, "role": role, "caption_lang": caption_lang},
        )
    )
    await session.commit()
    ttl = ttl_s or settings.join_token_ttl_s
    token = issue_join_token(settings.join_token_secret, room.slug, pid, name, role, ttl)
    return JoinTokenOut(
        token=token,
        room=room.slug,
        participant_id=pid,
        name=name,
        role=role,
        expires_at=datetime.now(UTC) + timedelta(seconds=ttl),
        captions_url=f"/ws/rooms/{room.slug}/captions?token={token}",
    )


@router.post("/rooms/{slug}/tokens", status_code=201, response_model=JoinTokenOut)
async def issue_token(
    slug: SlugPath,
    body: JoinTokenRequest,
    request: Request,
    session: SessionDep,
    r: RedisDep,
    settings: SettingsDep,
    _: AdminDep,
) -> JoinTokenOut:
    """A join token for the SFU and the caption socket (JWT HS256; see docs/api.md for its claims)."""
    await _limit(r, settings, request, slug)
    room = await get_room(session, slug)
    return await _issue(session, settings, room, **body.model_dump())


@router.post("/rooms/{slug}/invites", status_code=201, response_model=InviteOut)
async def create_invite(
    slug: SlugPath, body: InviteCreate, session: SessionDep, settings: SettingsDep, who: HostDep
) -> InviteOut:
    """An invite link (the code is shown once): opening it issues a guest token for this room only."""
    room = await get_room(session, slug)
    if room.status == "closed":
        raise ApiError(409, f"room {slug!r} is closed")
    code = new_invite_code()
    expires = datetime.now(UTC) + timedelta(seconds=body.ttl_s or settings.invite_ttl_s)
    session.add(
        Invite(
            room_id=room.id,
            code_hash=_hash_code(code),
            created_by=who.actor,
            expires_at=expires,
            max_uses=body.max_uses,
        )
    )
    await session.commit()
    url = f"{settings.public_url.rstrip('/')}/join/{code}"
    return InviteOut(code=code, url=url, room=slug, expires_at=expires, max_uses=body.max_uses)


@router.post("/invites/{code}/join", status_code=201, response_model=JoinTokenOut)
async def join_by_invite(
    code: InviteCode,
    body: InviteJoin,
    request: Request,
    session: SessionDep,
    r: RedisDep,
    settings: SettingsDep,
) -> JoinTokenOut:
    """Open an invite link: a guest token for the invite's room (no other credential needed)."""
    await ratelimit.hit(r, "invite", f"ip:{client_address(request)}", settings.token_rate_per_min)
    invite = (
        await session.execute(select(Invite).where(Invite.code_hash == _hash_code(code)).with_for_update())
    ).scalar()
    if invite is None or invite.revoked_at is not None:
        raise ApiError(404, "no such invite")
    if invite.expires_at <= datetime.now(UTC):
        raise ApiError(409, "this invite has expired")
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        raise ApiError(409, "this invite has been used up")
    room = (await session.execute(select(Room).where(Room.id == invite.room_id))).scalar_one()
    await ratelimit.hit(r, "token", f"room:{room.slug}", settings.token_rate_per_min * 10)
    await session.execute(update(Invite).where(Invite.id == invite.id).values(uses=Invite.uses + 1))
    return await _issue(
        session,
        settings,
        room,
        name=body.name,
        role="guest",
        participant_id=None,
        caption_lang=body.caption_lang,
        ttl_s=None,
    )
