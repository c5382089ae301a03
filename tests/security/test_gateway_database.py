"""A compromised gateway or persister holds the database credentials it runs with: with the
services' own role (data rights only, made by parley-migrate) it can not drop or alter a table."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import pytest
from attack_kit import Deployment
from parley_gateway.db.app_role import ensure_app_role
from security_helpers import DATABASE_URL, GatewayFactory

APP_USER, APP_PASSWORD = "parley_security_app", "app-role-password-0123456789"


def as_app(url: str) -> str:
    return url.replace("postgres@", f"{APP_USER}:{APP_PASSWORD}@", 1)


@pytest.fixture(scope="module")
def app_role(database_url: str) -> str:
    for _ in range(2):  # twice: every upgrade runs it again
        with ThreadPoolExecutor(1) as pool:
            pool.submit(lambda: asyncio.run(ensure_app_role(database_url, APP_USER, APP_PASSWORD))).result()
    return as_app(database_url)


async def test_compromised_gateway_drops_the_transcript_tables(app_role: str) -> None:
    conn = await asyncpg.connect(app_role.replace("+asyncpg", ""))
    refused = []
    try:
        for attempt in (
            "DROP TABLE caption_translations",
            "ALTER TABLE rooms ADD COLUMN evil int",
            "CREATE TABLE evil (x int)",
            "TRUNCATE captions",
            "CREATE ROLE evil LOGIN SUPERUSER",
        ):
            try:
                await conn.execute(attempt)
            except asyncpg.InsufficientPrivilegeError:
                refused.append(attempt)
        rooms = await conn.fetchval("SELECT count(*) FROM rooms")
    finally:
        await conn.close()
    print(
        f"[attack] as the services' role: {len(refused)} of 5 schema changes refused; rows readable: {rooms}"
    )
    assert len(refused) == 5 and rooms is not None


async def test_services_run_with_data_rights_only(
    app_role: str, gateway_with: GatewayFactory, flushed_redis: None
) -> None:
    """The gateway works as that role: log in, make a room, an invite, a guest, a transcript."""
    dep: Deployment = gateway_with("gateway-app-role", PARLEY_DATABASE_URL=app_role)
    room = await dep.new_room("app-role")
    joined = await dep.join_invite(await dep.invite(room))
    transcript = await dep.admin("GET", f"/api/v1/rooms/{room}/transcript")
    assert joined.status_code == 201 and transcript.status_code == 200
    assert DATABASE_URL != app_role
