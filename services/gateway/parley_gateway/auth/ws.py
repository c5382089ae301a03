"""The caption WebSocket's gate: a join token for this room (`?token=`), not removed from it."""

from __future__ import annotations

import redis.asyncio as aioredis
from fastapi import WebSocket
from parley_common.tokens import TokenError, verify_join_token

from parley_gateway.settings import GatewaySettings


def removed_key(room: str) -> str:
    return f"room:{room}:removed"


async def refuse_reason(ws: WebSocket, room: str) -> str | None:
    """None when the socket may listen to `room`; otherwise a message saying why not."""
    settings: GatewaySettings = ws.app.state.settings
    if not settings.auth_required:
        return None
    try:
        claims = verify_join_token(settings.join_token_secret, ws.query_params.get("token"), room)
    except TokenError as exc:
        return f"unauthorized ({exc.reason}): {exc.message}"
    r: aioredis.Redis = ws.app.state.redis
    if await r.sismember(removed_key(room), claims.sub):
        return "unauthorized (removed): you were removed from this room"
    return None
