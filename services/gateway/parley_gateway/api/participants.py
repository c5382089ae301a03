"""Participants of a room (live and past), and the host's mute / remove."""

from __future__ import annotations

import time
from typing import Annotated, Literal

import redis.asyncio as aioredis
from fastapi import APIRouter, Path, Query
from parley_common import keys
from parley_common.schemas import NAME_RE
from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley_gateway.api.deps import HostDep, RedisDep, SessionDep, SettingsDep, SlugPath
from parley_gateway.api.errors import ApiError, not_found
from parley_gateway.api.live import announce
from parley_gateway.api.rooms import Limit, Offset, get_room
from parley_gateway.api.schemas import HostActionOut, Page, ParticipantOut, SessionOut
from parley_gateway.api.tokens import revoke
from parley_gateway.db.models import HostAction, Participant, ParticipantSession, Room
from parley_gateway.settings import GatewaySettings

router = APIRouter(tags=["participants"])
ParticipantPath = Annotated[str, Path(pattern=NAME_RE.pattern, description="participant id (token sub)")]
ACTIVE_WINDOW_S = 10.0  # a speaker whose audio arrived this recently counts as live


async def _speaking(r: aioredis.Redis, room: str) -> set[str]:
    members = await r.zrangebyscore(keys.SPEAKERS_ACTIVE, time.time() - ACTIVE_WINDOW_S, "+inf")
    out = set()
    for m in members:
        rm, speaker = keys.split_speaker_member(m.decode() if isinstance(m, bytes) else str(m))
        if rm == room:
            out.add(speaker)
    return out


def _out(p: Participant, speaking: set[str]) -> ParticipantOut:
    sessions = [SessionOut(source=s.source, joined_at=s.joined_at, left_at=s.left_at) for s in p.sessions]
    live = p.removed_at is None and (p.key in speaking or any(s.left_at is None for s in p.sessions))
    return ParticipantOut(
        participant_id=p.key,
        name=p.display_name,
        role=p.role,
        caption_lang=p.caption_lang,
        live=live,
        muted=p.muted_at is not None,
        removed=p.removed_at is not None,
        created_at=p.created_at,
        sessions=sessions,
    )


@router.get("/rooms/{slug}/participants", response_model=Page[ParticipantOut])
async def list_participants(
    slug: SlugPath,
    session: SessionDep,
    r: RedisDep,
    _: HostDep,
    live: Annotated[bool | None, Query(description="true: only live; false: only past")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[ParticipantOut]:
    room = await get_room(session, slug)
    speaking = await _speaking(r, slug)
    q = select(Participant).where(Participant.room_id == room.id)
    if live is not None:
        open_session = exists().where(
            ParticipantSession.participant_id == Participant.id, ParticipantSession.left_at.is_(None)
        )
        is_live = Participant.removed_at.is_(None) & (open_session | Participant.key.in_(speaking))
        q = q.where(is_live if live else ~is_live)
    total = (await session.execute(select(func.count()).select_from(q.subquery()))).scalar_one()
    rows = (
        await session.execute(q.order_by(Participant.created_at, Participant.id).limit(limit).offset(offset))
    ).scalars()
    return Page[ParticipantOut](
        items=[_out(p, speaking) for p in rows], total=total, limit=limit, offset=offset
    )


async def _participant(session: AsyncSession, room_id: int, slug: str, pid: str) -> Participant:
    p = (
        await session.execute(
            select(Participant)
            .where(Participant.room_id == room_id, Participant.key == pid)
            .with_for_update()
        )
    ).scalar()
    if p is None:
        raise not_found(f"participant in room {slug!r}", pid)
    return p


async def _present_participant(session: AsyncSession, slug: str, pid: str) -> tuple[Room, Participant]:
    """The room (open) and the participant (not removed) a mute or unmute is for; 409 otherwise."""
    room = await get_room(session, slug)
    if room.status == "closed":
        raise ApiError(409, f"room {slug!r} is closed")
    p = await _participant(session, room.id, slug, pid)
    if p.removed_at is not None:
        raise ApiError(409, f"participant {pid!r} was removed")
    return room, p


async def _set_muted(
    session: AsyncSession,
    r: aioredis.Redis,
    actor: str,
    settings: GatewaySettings,
    slug: str,
    pid: str,
    action: Literal["mute", "unmute"],
) -> HostActionOut:
    """Record a mute or unmute (room open, participant present), then announce it to the SFU."""
    room, p = await _present_participant(session, slug, pid)
    p.muted_at = func.now() if action == "mute" else None
    session.add(HostAction(room_id=room.id, action=action, participant_key=pid, actor=actor))
    await session.commit()
    await announce(r, action, slug, pid, actor, settings.redis_replica_wait_ms)
    return HostActionOut(room=slug, action=action, participant_id=pid, announced=True)


@router.post("/rooms/{slug}/participants/{participant_id}/mute", response_model=HostActionOut)
async def mute_participant(
    slug: SlugPath,
    participant_id: ParticipantPath,
    session: SessionDep,
    r: RedisDep,
    who: HostDep,
    settings: SettingsDep,
) -> HostActionOut:
    """Record the mute and tell the SFU (sfu:commands) to pause the participant's audio."""
    return await _set_muted(session, r, who.actor, settings, slug, participant_id, "mute")


@router.post("/rooms/{slug}/participants/{participant_id}/unmute", response_model=HostActionOut)
async def unmute_participant(
    slug: SlugPath,
    participant_id: ParticipantPath,
    session: SessionDep,
    r: RedisDep,
    who: HostDep,
    settings: SettingsDep,
) -> HostActionOut:
    """Lift a mute: the participant may resume their audio (unmute on sfu:commands)."""
    return await _set_muted(session, r, who.actor, settings, slug, participant_id, "unmute")


@router.delete("/rooms/{slug}/participants/{participant_id}", response_model=HostActionOut)
async def remove_participant(
    slug: SlugPath,
    participant_id: ParticipantPath,
    session: SessionDep,
    r: RedisDep,
    who: HostDep,
    settings: SettingsDep,
    revoke_invite: Annotated[
        bool, Query(description="also revoke the invite link they came through, for everyone")
    ] = False,
) -> HostActionOut:
    """Remove a participant: the SFU drops them, their open caption sockets close, no new token is
    issued to them, and the invite they came through no longer admits them from that address."""
    room = await get_room(session, slug)
    p = await _participant(session, room.id, slug, participant_id)
    if p.removed_at is None:
        p.removed_at = func.now()
        session.add(
            HostAction(room_id=room.id, action="remove", participant_key=participant_id, actor=who.actor)
        )
    if revoke_invite and p.invite_id is not None:
        await revoke(session, room.id, p.invite_id)
    await session.commit()
    await announce(r, "remove", slug, participant_id, who.actor, settings.redis_replica_wait_ms)
    return HostActionOut(room=slug, action="remove", participant_id=participant_id, announced=True)
