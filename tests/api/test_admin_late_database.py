"""The gateway started before its database was ready (a deployment: Swarm starts the gateway
beside the migration job that creates the schema and the services' role, in no order): the
configured admin account appears as soon as the database does, without a gateway restart."""

from __future__ import annotations

import time

import asyncpg
from api_helpers import ADMIN_PASSWORD, PG, REDIS_URL, SECRET, plain_dsn, recreate_database, run_sync
from fastapi.testclient import TestClient
from parley_gateway.app import create_app
from parley_gateway.db import migrate
from parley_gateway.settings import GatewaySettings

LATE_URL = f"{PG}/parley_test_late"


async def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(plain_dsn(url.rsplit("/", 1)[0] + "/postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def test_the_admin_account_follows_a_database_that_comes_late() -> None:
    run_sync(lambda: drop_database(LATE_URL))
    settings = GatewaySettings(
        database_url=LATE_URL,
        redis_url=REDIS_URL,
        join_token_secret=SECRET,
        admin_username="admin",
        admin_password=ADMIN_PASSWORD,
        public_url="http://parley.test",
    )
    login = {"username": "admin", "password": ADMIN_PASSWORD}
    try:
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            assert client.post("/api/v1/auth/login", json=login).status_code != 200
            run_sync(lambda: recreate_database(LATE_URL))
            migrate.upgrade(LATE_URL)
            deadline = time.monotonic() + 20
            while (status := client.post("/api/v1/auth/login", json=login).status_code) != 200:
                assert time.monotonic() < deadline, f"no admin account 20 s after the database came: {status}"
                time.sleep(0.5)
    finally:
        run_sync(lambda: drop_database(LATE_URL))
