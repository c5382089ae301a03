"""The services' own database role: data, not schema.

`parley-migrate` (the database owner) creates or updates it after the migrations when
PARLEY_DATABASE_APP_USER and PARLEY_DATABASE_APP_PASSWORD are set: LOGIN with that password,
CONNECT on the database, SELECT/INSERT/UPDATE/DELETE on every table and USAGE/SELECT on every
sequence of `public`, now and for tables later migrations create. No CREATE, ALTER, DROP,
TRUNCATE or ownership: a compromised gateway or persister can read and write rows, never drop a
table or change the schema. The gateway and the persister then connect as this role (the stack
does); without it (`make run`, tests) they connect as the owner, as before.
"""

from __future__ import annotations

import logging

import asyncpg
from parley_common.schemas import NAME_RE
from sqlalchemy.engine import make_url

log = logging.getLogger("parley.migrate")
DML = "SELECT, INSERT, UPDATE, DELETE"


async def ensure_app_role(owner_url: str, user: str, password: str) -> None:
    if not NAME_RE.match(user) or "." in user:
        raise ValueError(f"bad database role name {user!r}")
    if not password:
        raise ValueError("the app role needs a password (PARLEY_DATABASE_APP_PASSWORD)")
    u = make_url(owner_url)
    conn = await asyncpg.connect(u.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        async with conn.transaction():
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", user)
            verb = "ALTER" if exists else "CREATE"
            await conn.execute(
                await conn.fetchval(
                    "SELECT format('%s ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L', "
                    "$1::text, $2::text, $3::text)",
                    verb,
                    user,
                    password,
                )
            )
            owner = await conn.fetchval("SELECT current_user")
            statements = [
                "GRANT CONNECT ON DATABASE %I TO %I",
                "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
                "GRANT USAGE ON SCHEMA public TO %2$I",
                f"GRANT {DML} ON ALL TABLES IN SCHEMA public TO %2$I",
                "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %2$I",
                f"ALTER DEFAULT PRIVILEGES FOR ROLE %3$I IN SCHEMA public GRANT {DML} ON TABLES TO %2$I",
                "ALTER DEFAULT PRIVILEGES FOR ROLE %3$I IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO %2$I",
            ]
            for template in statements:
                sql = await conn.fetchval(
                    "SELECT format($1::text, $2::text, $3::text, $4::text)", template, u.database, user, owner
                )
                await conn.execute(sql)
    finally:
        await conn.close()
    log.info("database role %s: data rights only (%s), no schema rights", user, DML)
