"""Fixtures for the control-plane tests: a real Postgres database (parley_test, migrated once per
run, emptied before each test) and a real Redis (its own logical database, flushed per test)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
import redis
import redis.asyncio as aioredis
from api_helpers import ADMIN_PASSWORD, PG, REDIS_URL, SECRET, plain_dsn, recreate_database, run_sync
from fastapi.testclient import TestClient
from parley_gateway.app import create_app
from parley_gateway.db import migrate
from parley_gateway.db.engine import Database
from parley_gateway.settings import GatewaySettings

DATABASE_URL = f"{PG}/parley_test"
TABLES = (
    "caption_translations",
    "captions",
    "participant_sessions",
    "participants",
    "invites",
    "host_actions",
    "api_keys",
    "admin_accounts",
    "rooms",
)


@pytest.fixture(scope="session")
def database_url() -> str:
    run_sync(lambda: recreate_database(DATABASE_URL))
    migrate.upgrade(DATABASE_URL)
    return DATABASE_URL


@pytest.fixture
def clean(database_url: str) -> Iterator[None]:
    async def truncate() -> None:
        conn = await asyncpg.connect(plain_dsn(database_url))
        try:
            await conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        finally:
            await conn.close()

    run_sync(truncate)
    redis.Redis.from_url(REDIS_URL).flushdb()
    yield


@pytest.fixture
def settings(clean: None, database_url: str) -> GatewaySettings:
    return GatewaySettings(
        database_url=database_url,
        redis_url=REDIS_URL,
        join_token_secret=SECRET,
        admin_username="admin",
        admin_password=ADMIN_PASSWORD,
        public_url="http://parley.test",
    )


@pytest.fixture
def client(settings: GatewaySettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def admin_key(client: TestClient) -> str:
    login = client.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    created = client.post(
        "/api/v1/api-keys", json={"name": "tests"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert created.status_code == 201, created.text
    key: str = created.json()["key"]
    return key


@pytest.fixture
def admin(admin_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_key}"}


@pytest.fixture
def room(client: TestClient, admin: dict[str, str]) -> str:
    resp = client.post(
        "/api/v1/rooms", json={"name": "Demo", "slug": "demo", "spoken_languages": ["en"]}, headers=admin
    )
    assert resp.status_code == 201, resp.text
    return "demo"


@pytest.fixture
async def db(clean: None, database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, pool_size=2)
    yield database
    await database.close()


@pytest.fixture
async def r(clean: None) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL)
    yield client
    await client.aclose()
