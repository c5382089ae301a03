"""Helpers shared by the control-plane tests (import as `from api_helpers import ...`)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import asyncpg
import jwt
from parley_common.tokens import issue_join_token

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


def plain_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def recreate_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(plain_dsn(url.rsplit("/", 1)[0] + "/postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


PG = os.environ.get("PARLEY_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432")
ADMIN_PASSWORD = "test-admin-password"
T = TypeVar("T")


def run_sync(fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, whether or not a loop runs in this thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(fn())).result()
