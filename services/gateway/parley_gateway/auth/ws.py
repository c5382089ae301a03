"""The caption WebSocket's gate: a join token for this room (`?token=`), not removed from it, and
the room not closed (`room:{slug}` status, written by the API)."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from fastapi import WebSocket
from parley_common import keys
from parley_common.tokens import LEEWAY_S, JoinClaims, TokenError, verify_join_token

from parley_gateway.settings import GatewaySettings


@dataclass(frozen=True, slots=True)
class Admission:
    claims: JoinClaims | None  # None: PARLEY_GATEWAY_AUTH_REQUIRED=false
    refused: str | None = None

    @property
    def participant(self) -> str:
        return self.claims.sub if self.claims else ""

    def expires_at(self) -> float | None:
        """When the token stops being accepted (epoch s), as the check at connect counts it."""
        return self.claims.exp + LEEWAY_S if self.claims else None


async def admit(ws: WebSocket, room: str) -> Admission:
    """Whether the socket may listen to `room`: refused carries the message saying why not."""
    settings: GatewaySettings = ws.app.state.settings
    r: aioredis.Redis = ws.app.state.redis
    if not settings.auth_required:
        claims = None
    else:
        try:
            claims = verify_join_token(settings.join_token_secret, ws.query_params.get("token"), room)
        except TokenError as exc:
            return Admission(None, f"unauthorized ({exc.reason}): {exc.message}")
    status = await r.hget(keys.room_info(room), "status")
    if status == b"closed":
        return Admission(claims, "closed: this room is closed")
    if claims is not None and await r.sismember(keys.room_removed(room), claims.sub):
        return Admission(claims, "unauthorized (removed): you were removed from this room")
    return Admission(claims)
