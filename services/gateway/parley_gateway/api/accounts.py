"""Admin accounts: the configured one (created, and its password rotated, from settings at
start), others made through the API, password changes, disabling.

A password change or rotation ends every session issued before it (the session's `pwe` claim);
disabling an account ends its sessions and revokes the API keys it made.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from parley_common.schemas import NAME_RE
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parley_gateway.api.deps import AdminDep, RedisDep, SessionDep, SettingsDep
from parley_gateway.api.errors import ApiError, not_found
from parley_gateway.api.rooms import Limit, Offset
from parley_gateway.api.schemas import (
    AdminAccountCreate,
    AdminAccountOut,
    AdminAccountUpdate,
    Page,
    PasswordChange,
)
from parley_gateway.auth import backoff, secrets
from parley_gateway.clientaddr import client_address
from parley_gateway.db.models import AdminAccount, ApiKey

router = APIRouter(tags=["admin"])
Username = Annotated[str, Path(pattern=NAME_RE.pattern)]


async def ensure_admin(session: AsyncSession, username: str, password: str) -> None:
    """The configured admin account: created on first start; when the configured password is not
    the one last applied (the operator rotated the secret), it replaces the stored password,
    ends older sessions and enables the account again."""
    account = (await session.execute(select(AdminAccount).where(AdminAccount.username == username))).scalar()
    if account is None:
        hashed = await asyncio.to_thread(secrets.hash_password, password)
        session.add(AdminAccount(username=username, password_hash=hashed, configured_password_hash=hashed))
        await session.commit()
        return
    applied = account.configured_password_hash or account.password_hash
    if await asyncio.to_thread(secrets.check_password, password, applied):
        if account.configured_password_hash is None:
            account.configured_password_hash = account.password_hash
            await session.commit()
        return
    hashed = await asyncio.to_thread(secrets.hash_password, password)
    account.password_hash = account.configured_password_hash = hashed
    account.password_changed_at = func.now()
    account.disabled = False
    await session.commit()


def _out(account: AdminAccount) -> AdminAccountOut:
    return AdminAccountOut.model_validate(account, from_attributes=True)


async def _account(session: AsyncSession, username: str) -> AdminAccount:
    account = (await session.execute(select(AdminAccount).where(AdminAccount.username == username))).scalar()
    if account is None:
        raise not_found("admin account", username)
    return account


@router.post("/admin-accounts", status_code=201, response_model=AdminAccountOut)
async def create_account(body: AdminAccountCreate, session: SessionDep, _: AdminDep) -> AdminAccountOut:
    hashed = await asyncio.to_thread(secrets.hash_password, body.password)
    account = AdminAccount(username=body.username, password_hash=hashed)
    session.add(account)
    try:
        await session.commit()
    except IntegrityError:
        raise ApiError(409, f"an admin account {body.username!r} already exists") from None
    await session.refresh(account)
    return _out(account)


@router.get("/admin-accounts", response_model=Page[AdminAccountOut])
async def list_accounts(
    session: SessionDep, _: AdminDep, limit: Limit = 50, offset: Offset = 0
) -> Page[AdminAccountOut]:
    total = (await session.execute(select(func.count()).select_from(AdminAccount))).scalar_one()
    rows = (
        await session.execute(select(AdminAccount).order_by(AdminAccount.id).limit(limit).offset(offset))
    ).scalars()
    return Page[AdminAccountOut](items=[_out(a) for a in rows], total=total, limit=limit, offset=offset)


@router.patch("/admin-accounts/{username}", response_model=AdminAccountOut)
async def update_account(
    username: Username, body: AdminAccountUpdate, session: SessionDep, _: AdminDep
) -> AdminAccountOut:
    """Disable (or enable) an account, or set its password; either ends its sessions."""
    account = await _account(session, username)
    if body.password is not None:
        account.password_hash = await asyncio.to_thread(secrets.hash_password, body.password)
        account.password_changed_at = func.now()
    if body.disabled is not None and body.disabled != account.disabled:
        account.disabled = body.disabled
        if body.disabled:
            await session.execute(
                update(ApiKey)
                .where(ApiKey.created_by == f"user:{username}", ApiKey.revoked_at.is_(None))
                .values(revoked_at=func.now())
            )
    await session.commit()
    await session.refresh(account)
    return _out(account)


@router.post("/auth/password", status_code=204, response_class=Response)
async def change_password(
    body: PasswordChange,
    request: Request,
    session: SessionDep,
    r: RedisDep,
    settings: SettingsDep,
    who: AdminDep,
) -> Response:
    """Change the password of the admin this session belongs to (not with an API key); every
    session issued before, this one included, ends: log in again."""
    if not who.name.startswith("user:"):
        raise ApiError(403, "only a logged-in admin changes their own password (an API key has none)")
    username = who.name.removeprefix("user:")
    address = client_address(request)
    await backoff.check(r, username, address, settings)
    account = await _account(session, username)
    async with request.app.state.logins:
        ok = await asyncio.to_thread(secrets.check_password, body.current_password, account.password_hash)
    if not ok:
        await backoff.failed(r, username, address, settings)
        raise ApiError(403, "the current password is wrong")
    account.password_hash = await asyncio.to_thread(secrets.hash_password, body.new_password)
    account.password_changed_at = func.now()
    await session.commit()
    return Response(status_code=204)
