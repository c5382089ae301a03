"""Helpers shared by the control-plane tests (import as `from api_helpers import ...`)."""

from __future__ import annotations

import os
import time
from typing import Any

import jwt
from parley_gateway.auth.tokens import issue_join_token

SECRET = "test-join-token-secret-0123456789abcdef"
REDIS_URL = os.environ.get("PARLEY_TEST_API_REDIS_URL", "redis://127.0.0.1:6379/11")


def join_token(
    room: str, sub: str = "alice", role: str = "guest", ttl_s: int = 600, secret: str = SECRET
) -> str:
    if ttl_s <= 0:  # an already expired token
        now = int(time.time())
        claims = {
            "room": room,
            "sub": sub,
            "name": sub.title(),
            "role": role,
            "iat": now - 3600,
            "exp": now + ttl_s,
        }
        return jwt.encode(claims, secret, algorithm="HS256")
    return issue_join_token(secret, room, sub, sub.title(), role, ttl_s)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(resp: Any, status: int, code: str) -> dict[str, Any]:
    """The one error shape: {"error": {"code", "message", "details"}}."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]
    return body["error"]  # type: ignore[no-any-return]
