"""GET /api/config: what the meeting page needs before anyone joins. The SFU's address, and the
caption languages on offer: the room's (?room=slug, or ?invite=code for an invite link) or, with
no room in view, the deployment's; each language the engines cannot deliver is listed apart, with
the reason, so the lobby and the meeting menu show exactly what the caption socket accepts."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from parley_common.schemas import NAME_RE
from sqlalchemy import select

from parley_gateway import languages
from parley_gateway.api.languages import offered, unavailable
from parley_gateway.auth import ratelimit
from parley_gateway.clientaddr import client_address
from parley_gateway.db.models import Invite, Room
from parley_gateway.settings import GatewaySettings

router = APIRouter()
RoomQuery = Annotated[str | None, Query(pattern=NAME_RE.pattern)]
InviteQuery = Annotated[str | None, Query(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


async def _invite_room(request: Request, code: str, settings: GatewaySettings) -> str | None:
    """The room of a live invite (not opened: nothing is counted as a use); None if there is none."""
    r = request.app.state.redis
    address = client_address(request)
    await ratelimit.check(r, "invite-miss", f"ip:{address}", settings.invite_failures_per_10min, 600)
    async with request.app.state.db.sessions() as session:
        row = (
            await session.execute(
                select(Room.slug, Invite.expires_at, Invite.revoked_at)
                .join(Room, Room.id == Invite.room_id)
                .where(Invite.code_hash == hashlib.sha256(code.encode()).hexdigest())
            )
        ).first()
    if row is None or row.revoked_at is not None:
        await ratelimit.count(r, "invite-miss", f"ip:{address}", 600)
        return None
    return str(row.slug) if row.expires_at > datetime.now(UTC) else None


@router.get("/api/config", include_in_schema=False)
async def page_config(
    request: Request, room: RoomQuery = None, invite: InviteQuery = None
) -> dict[str, object]:
    settings: GatewaySettings = request.app.state.settings
    r = request.app.state.redis
    if room is None and invite is not None:
        room = await _invite_room(request, invite, settings)
    offer = await (
        languages.room_offer(r, room, settings) if room else languages.deployment_offer(r, settings)
    )
    return {
        "sfu_url": settings.sfu_url,
        "room": room,
        "spoken": offer.spoken,
        "languages": [x.model_dump() for x in offered(offer)],
        "unavailable": [x.model_dump() for x in unavailable(offer)],
    }
