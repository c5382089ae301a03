"""Every migration runs up and down on a real Postgres, and head matches the models."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from api_helpers import PG, plain_dsn, recreate_database, run_sync
from parley_gateway.db import migrate
from parley_gateway.db.models import Base
from sqlalchemy.ext.asyncio import create_async_engine

URL = f"{PG}/parley_test_migrations"


async def _tables(url: str = URL) -> set[str]:
    import asyncpg

    conn = await asyncpg.connect(plain_dsn(url))
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {r["tablename"] for r in rows}


async def _diff() -> list[object]:
    engine = create_async_engine(URL)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
            )
    finally:
        await engine.dispose()


def test_every_migration_up_and_down() -> None:
    run_sync(lambda: recreate_database(URL))
    cfg = migrate.alembic_config(URL)
    revisions = list(reversed(list(ScriptDirectory.from_config(cfg).walk_revisions())))
    assert revisions, "no migrations found"
    for rev in revisions:  # one step at a time, each one down and up again
        command.upgrade(cfg, rev.revision)
        command.downgrade(cfg, rev.down_revision or "base")
        command.upgrade(cfg, rev.revision)
    assert run_sync(_diff) == [], "models and migrations disagree: add a migration"
    assert {"rooms", "captions", "caption_translations", "participants", "api_keys"} <= run_sync(_tables)
    command.downgrade(cfg, "base")
    assert run_sync(_tables) == {"alembic_version"}


def test_the_migrate_job_runs_in_production_with_only_the_database_url() -> None:
    """The stack's one-shot job gets the database password and nothing else."""
    import os
    import subprocess
    import sys

    url = f"{PG}/parley_test_migrate_job"
    run_sync(lambda: recreate_database(url))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(PARLEY_ENV="production", PARLEY_DATABASE_URL=url)
    done = subprocess.run(
        [sys.executable, "-m", "parley_gateway.db.migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "captions" in run_sync(lambda: _tables(url))
