"""Dependencies shared by the API's routers: the DB session, Redis, settings and who is calling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import redis.asyncio as aioredis
from fastapi import Depends, Path, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from parley_common.schemas import NAME_RE
from parley_common.tokens import Role, TokenError, read_join_token
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley_gateway.api.errors import ApiError
from parley_gateway.auth import secrets
from parley_gateway.auth.tokens import verify_admin_token
from parley_gateway.db.engine import Database
from parley_gateway.db.models import AdminAccount, ApiKey
from parley_gateway.settings import GatewaySettings

_bearer = HTTPBearer(
    auto_error=False,
    description="An admin API key (pk_...), an admin session token from /auth/login, or, for a room's "
    "host actions, that room's host join token.",
)
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An admin API key (pk_...).")


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    db: Database = request.app.state.db
    async with db.sessions() as session:
        yield session


def _redis(request: Request) -> aioredis.Redis:
    r: aioredis.Redis = request.app.state.redis
    return r


def _settings(request: Request) -> GatewaySettings:
    s: GatewaySettings = request.app.state.settings
    return s


SessionDep = Annotated[AsyncSession, Depends(_session)]
RedisDep = Annotated[aioredis.Redis, Depends(_redis)]
SettingsDep = Annotated[GatewaySettings, Depends(_settings)]
SlugPath = Annotated[str, Path(pattern=NAME_RE.pattern, description="room slug")]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an admin (API key or login), or a participant holding a join token."""

    kind: str  # admin | participant
    name: str  # "key:<name>", "user:<username>", or the participant id
    room: str | None = None
    role: Role | None = None

    @property
    def actor(self) -> str:
        return self.name if self.kind == "admin" else f"host:{self.room}/{self.name}"


async def _principal(
    session: SessionDep,
    settings: SettingsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal | None:
    token = api_key or (bearer.credentials if bearer else None)
    if not token:
        return None
    if token.startswith(secrets.KEY_PREFIX):
        return await _api_key_principal(session, token)
    try:
        claims = read_join_token(settings.join_token_secret, token)
        return Principal("participant", claims.sub, room=claims.room, role=claims.role)
    except TokenError as join_error:
        try:
            username, password_epoch = verify_admin_token(settings.admin_session_secret, token)
        except TokenError:
            raise ApiError(401, f"credentials refused: {join_error.message}") from None
    account = (await session.execute(select(AdminAccount).where(AdminAccount.username == username))).scalar()
    if account is None or account.disabled:
        raise ApiError(401, "credentials refused: the admin account no longer exists or is disabled")
    if password_epoch != password_epoch_of(account):
        raise ApiError(
            401, "credentials refused: the password changed since this session began; log in again"
        )
    return Principal("admin", f"user:{username}")


def password_epoch_of(account: AdminAccount) -> float:
    changed = account.password_changed_at
    return changed.timestamp() if changed is not None else 0.0


async def _api_key_principal(session: AsyncSession, key: str) -> Principal:
    prefix = secrets.api_key_prefix(key)
    row = None
    if prefix is not None:
        row = (await session.execute(select(ApiKey).where(ApiKey.prefix == prefix))).scalar()
    if row is None or row.revoked_at is not None or not secrets.check_api_key(key, row.key_hash):
        raise ApiError(401, "credentials refused: unknown or revoked API key")
    await session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=func.now()))
    await session.commit()
    return Principal("admin", f"key:{row.name}")


PrincipalDep = Annotated[Principal | None, Depends(_principal)]


async def _require_admin(principal: PrincipalDep) -> Principal:
    if principal is None:
        raise ApiError(
            401,
            "credentials required: an admin API key or session token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if principal.kind != "admin":
        raise ApiError(403, "this needs an admin credential; a join token is not enough")
    return principal


async def _require_host(slug: SlugPath, principal: PrincipalDep) -> Principal:
    """An admin, or the host of this very room."""
    if principal is None:
        raise ApiError(
            401,
            "credentials required: an admin credential or this room's host token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if principal.kind == "admin":
        return principal
    if principal.room != slug:
        raise ApiError(403, "this join token is for another room")
    if principal.role is not Role.HOST:
        raise ApiError(403, f"only the room's host may do this (token role: {principal.role})")
    return principal


AdminDep = Annotated[Principal, Depends(_require_admin)]
HostDep = Annotated[Principal, Depends(_require_host)]
