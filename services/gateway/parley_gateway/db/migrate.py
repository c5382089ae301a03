"""parley-migrate: wait for Postgres, create the database if it is missing, then `alembic upgrade head`,
then (when configured) the services' own role with data rights only (db/app_role.py).

Run it as its own step before the services start (scripts/run-local.sh, the stack's one-shot job).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from parley_common.log import setup_logging
from parley_common.settings import BaseServiceSettings
from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict
from sqlalchemy.engine import make_url

from parley_gateway.db.app_role import ensure_app_role
from parley_gateway.settings import DEFAULT_DATABASE_URL

log = logging.getLogger("parley.migrate")


class MigrateSettings(BaseServiceSettings):
    """Only the database: the one-shot job needs none of the gateway's secrets."""

    model_config = SettingsConfigDict(env_prefix="PARLEY_MIGRATE_", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL, validation_alias=AliasChoices("PARLEY_DATABASE_URL")
    )
    # migrations/ (alembic.ini and versions/); empty: ./migrations or the one beside the source tree.
    migrations_dir: str = Field(default="", validation_alias=AliasChoices("PARLEY_MIGRATIONS_DIR"))
    # The services' own role (db/app_role.py): made or updated after the migrations when both are set.
    app_user: str = Field(default="", validation_alias=AliasChoices("PARLEY_DATABASE_APP_USER"))
    app_password: str = Field(default="", validation_alias=AliasChoices("PARLEY_DATABASE_APP_PASSWORD"))


def alembic_config(url: str, migrations_dir: str = "") -> Config:
    """Alembic's config for migrations/ (`migrations_dir`, ./migrations, or beside the source tree)."""
    candidates = [
        migrations_dir,
        "migrations",
        str(Path(__file__).parents[4] / "migrations"),
    ]
    folder = next(Path(c) for c in candidates if c and (Path(c) / "alembic.ini").is_file())
    cfg = Config(str(folder / "alembic.ini"))
    cfg.set_main_option("script_location", str(folder))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logging"] = False
    return cfg


async def ensure_database(url: str, wait_s: float = 30.0) -> None:
    """Wait until the server answers; create the database when it does not exist yet."""
    u = make_url(url)
    dsn = u.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            conn = await asyncpg.connect(dsn)
            break
        except (OSError, asyncpg.PostgresError) as exc:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"parley-migrate: Postgres did not answer at {u.host}:{u.port}: {exc}"
                ) from exc
            await asyncio.sleep(0.5)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", u.database):
            log.info("creating database %s", u.database)
            await conn.execute(f'CREATE DATABASE "{u.database}"')
    finally:
        await conn.close()


def upgrade(url: str, revision: str = "head", migrations_dir: str = "") -> None:
    command.upgrade(alembic_config(url, migrations_dir), revision)


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Wait for Postgres, create the database, alembic upgrade head."
    )
    parser.add_argument("--url", help="database URL (default: PARLEY_DATABASE_URL)")
    args = parser.parse_args()
    settings = MigrateSettings()
    setup_logging(settings.log_level, settings.log_json)
    url = args.url or settings.database_url
    asyncio.run(ensure_database(url))
    upgrade(url, migrations_dir=settings.migrations_dir)
    log.info("database at head")
    if settings.app_user:
        asyncio.run(ensure_app_role(url, settings.app_user, settings.app_password))


if __name__ == "__main__":
    main()
