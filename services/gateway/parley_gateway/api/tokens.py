"""Join tokens and invite links (rate limited per client address and per room)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from parley_common.tokens import issue_join_token
from sqlalchemy import exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley_gateway.api.deps import (
    AdminDep,
    HostDep,
    RedisDep,
    SessionDep,
    SettingsDep,
    SlugPath,
)
from parley_gateway.api.errors import ApiError, not_found
from parley_gateway.api.languages import check_caption_lang
from parley_gateway.api.rooms import Limit, Offset, get_room
from parley_gateway.api.schemas import (
    InviteCreate,
    InviteInfo,
    InviteJoin,
    InviteOut,
    JoinTokenOut,
    JoinTokenRequest,
    Page,
)
from parley_gateway.auth import ratelimit
from parley_gateway.auth.secrets import new_invite_code
from parley_gateway.clientaddr import client_address
from parley_gateway.db.models import Invite, Participant, ParticipantSession, Room
from parley_gateway.settings import GatewaySettings

router = APIRouter(tags=["tokens"])
InviteCode = Annotated[str, Path(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
InviteId = Annotated[int, Path(ge=1, le=2**62)]


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
    invite: Invite | None = None,
    address: str | None = None,
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
        # Full means that many people are in it now (an open SFU session), not that many tokens were
        # ever issued: an invite opened again and again must not fill a room nobody is in. The SFU
        # enforces the same limit on the peers actually joined (room:{slug} max_participants).
        in_room = exists().where(
            ParticipantSession.participant_id == Participant.id, ParticipantSession.left_at.is_(None)
        )
        count = (
            await session.execute(
                select(func.count()).where(
                    Participant.room_id == room.id, Participant.removed_at.is_(None), in_room
                )
            )
        ).scalar_one()
        if count >= room.max_participants:
            raise ApiError(409, f"room {room.slug!r} is full ({room.max_participants} participants)")
    stmt = insert(Participant).values(
        room_id=room.id,
        key=pid,
        display_name=name,
        role=role,
        caption_lang=caption_lang,
        invite_id=invite.id if invite else None,
        joined_from=address,
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
    await check_caption_lang(r, settings, slug, body.caption_lang)
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
    row = Invite(
        room_id=room.id,
        code_hash=_hash_code(code),
        created_by=who.actor,
        expires_at=expires,
        max_uses=body.max_uses,
    )
    session.add(row)
    await session.commit()
    url = f"{settings.public_url.rstrip('/')}/join/{code}"
    return InviteOut(id=row.id, code=code, url=url, room=slug, expires_at=expires, max_uses=body.max_uses)


@router.get("/rooms/{slug}/invites", response_model=Page[InviteInfo])
async def list_invites(
    slug: SlugPath, session: SessionDep, _: HostDep, limit: Limit = 50, offset: Offset = 0
) -> Page[InviteInfo]:
    """The room's invites, newest first (codes are never shown again)."""
    room = await get_room(session, slug)
    q = select(Invite).where(Invite.room_id == room.id)
    total = (await session.execute(select(func.count()).select_from(q.subquery()))).scalar_one()
    rows = (await session.execute(q.order_by(Invite.id.desc()).limit(limit).offset(offset))).scalars()
    items = [InviteInfo.model_validate(x, from_attributes=True) for x in rows]
    return Page[InviteInfo](items=items, total=total, limit=limit, offset=offset)


@router.delete("/rooms/{slug}/invites/{invite_id}", status_code=204, response_class=Response)
async def revoke_invite(slug: SlugPath, invite_id: InviteId, session: SessionDep, _: HostDep) -> Response:
    """Revoke an invite: opening it is refused from now on (tokens already issued stay valid;
    remove those participants to end them). Revoking twice is harmless."""
    room = await get_room(session, slug)
    await revoke(session, room.id, invite_id)
    await session.commit()
    return Response(status_code=204)


async def revoke(session: AsyncSession, room_id: int, invite_id: int) -> None:
    invite = (
        await session.execute(select(Invite).where(Invite.id == invite_id, Invite.room_id == room_id))
    ).scalar()
    if invite is None:
        raise not_found("invite", invite_id)
    if invite.revoked_at is None:
        invite.revoked_at = func.now()


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
    address = client_address(request)
    await ratelimit.hit(r, "invite", f"ip:{address}", settings.token_rate_per_min)
    await ratelimit.check(r, "invite-miss", f"ip:{address}", settings.invite_failures_per_10min, 600)
    invite = (
        await session.execute(select(Invite).where(Invite.code_hash == _hash_code(code)).with_for_update())
    ).scalar()
    if invite is None or invite.revoked_at is not None:
        await ratelimit.count(r, "invite-miss", f"ip:{address}", 600)
        raise ApiError(404, "no such invite")
    if invite.expires_at <= datetime.now(UTC):
        raise ApiError(409, "this invite has expired")
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        raise ApiError(409, "this invite has been used up")
    removed_here = exists().where(
        Participant.invite_id == invite.id,
        Participant.joined_from == address,
        Participant.removed_at.is_not(None),
    )
    if (await session.execute(select(removed_here))).scalar():
        raise ApiError(403, "you were removed from this room; ask the host for a new invitation")
    room = (await session.execute(select(Room).where(Room.id == invite.room_id))).scalar_one()
    await ratelimit.hit(r, "token", f"room:{room.slug}", settings.token_rate_per_min * 10)
    await check_caption_lang(r, settings, room.slug, body.caption_lang)
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
        invite=invite,
        address=address,
    )
