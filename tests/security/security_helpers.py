"""Helpers for the security tests (import as `from security_helpers import ...`)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import asyncpg
from attack_kit import Deployment, Outcome
from parley_gateway.db import migrate

PG = os.environ.get("PARLEY_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432")
DATABASE_URL = f"{PG}/parley_security"
REDIS_URL = os.environ.get("PARLEY_TEST_SECURITY_REDIS_URL", "redis://127.0.0.1:6379/15")
ADMIN_PASSWORD = "security-test-admin-password"
GatewayFactory = Callable[..., Deployment]  # (name, **PARLEY_* variables) -> a started gateway


def prepare_database(url: str) -> None:
    """Drop and re-create the database, then migrate it to head."""

    async def recreate() -> None:
        name = url.rsplit("/", 1)[1]
        conn = await asyncpg.connect(url.rsplit("/", 1)[0].replace("+asyncpg", "") + "/postgres")
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(recreate())).result()
    migrate.upgrade(url)


def assert_refused(outcome: Outcome) -> None:
    print(f"[attack] {outcome.attack}: {'refused' if outcome.refused else 'NOT REFUSED'}: {outcome.detail}")
    assert outcome.refused, outcome.detail
