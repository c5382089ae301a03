"""Admin login (rate limited) and API keys (stored hashed, shown once). Accounts: accounts.py."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy import func, select

from parley_gateway.api.deps import AdminDep, RedisDep, SessionDep, SettingsDep, password_epoch_of
from parley_gateway.api.errors import ApiError, not_found
from parley_gateway.api.rooms import Limit, Offset
from parley_gateway.api.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, LoginIn, LoginOut, Page
from parley_gateway.auth import backoff, ratelimit, secrets
from parley_gateway.auth.tokens import issue_admin_token
from parley_gateway.clientaddr import client_address
from parley_gateway.db.models import AdminAccount, ApiKey

router = APIRouter(tags=["admin"])


@router.post("/auth/login", response_model=LoginOut)
async def login(
    body: LoginIn, request: Request, session: SessionDep, r: RedisDep, settings: SettingsDep
) -> LoginOut:
    """Exchange an admin's user name and password for a session token (send it as a Bearer token).

    Limits (docs/security.md): attempts per client address, a growing wait per (user name,
    address) after failures, failures per user name; the answer takes as long for a user name
    that does not exist."""
    address = client_address(request)
    await ratelimit.hit(r, "login", f"ip:{address}", settings.login_rate_per_min)
    await backoff.check(r, body.username, address, settings)
    account = (
        await session.execute(select(AdminAccount).where(AdminAccount.username == body.username))
    ).scalar()
    stored = account.password_hash if account is not None and not account.disabled else None
    async with request.app.state.logins:  # scrypt off the event loop, a few at a time
        ok = await asyncio.to_thread(secrets.check_password_or_nothing, body.password, stored)
    if not ok or account is None:
        await backoff.failed(r, body.username, address, settings)
        raise ApiError(401, "wrong user name or password")
    await backoff.succeeded(r, body.username, address)
    token = issue_admin_token(
        settings.admin_session_secret,
        account.username,
        settings.admin_token_ttl_s,
        password_epoch_of(account),
    )
    return LoginOut(access_token=token, expires_in=settings.admin_token_ttl_s)


@router.post("/api-keys", status_code=201, response_model=ApiKeyCreated)
async def create_api_key(body: ApiKeyCreate, session: SessionDep, who: AdminDep) -> ApiKeyCreated:
    key, prefix, key_hash = secrets.new_api_key()
    row = ApiKey(name=body.name, prefix=prefix, key_hash=key_hash, created_by=who.actor)
    session.add(row)
    await session.commit()
    await session.refresh(row)
    return ApiKeyCreated(key=key, **ApiKeyOut.model_validate(row, from_attributes=True).model_dump())


@router.get("/api-keys", response_model=Page[ApiKeyOut])
async def list_api_keys(
    session: SessionDep, _: AdminDep, limit: Limit = 50, offset: Offset = 0
) -> Page[ApiKeyOut]:
    total = (await session.execute(select(func.count()).select_from(ApiKey))).scalar_one()
    rows = (await session.execute(select(ApiKey).order_by(ApiKey.id).limit(limit).offset(offset))).scalars()
    items = [ApiKeyOut.model_validate(x, from_attributes=True) for x in rows]
    return Page[ApiKeyOut](items=items, total=total, limit=limit, offset=offset)


@router.delete("/api-keys/{key_id}", status_code=204, response_class=Response)
async def revoke_api_key(
    key_id: Annotated[int, Path(ge=1, le=2**62)], session: SessionDep, _: AdminDep
) -> Response:
    row = (await session.execute(select(ApiKey).where(ApiKey.id == key_id))).scalar()
    if row is None:
        raise not_found("API key", key_id)
    if row.revoked_at is None:
        row.revoked_at = func.now()
        await session.commit()
    return Response(status_code=204)
