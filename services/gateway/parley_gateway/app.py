"""The gateway's FastAPI app: wiring only."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from parley_common import redisconn
from parley_common.tasks import cancel_all
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from parley_gateway import api, captions_ws, commands, page_config
from parley_gateway.api.accounts import ensure_admin
from parley_gateway.body_limit import BodyLimit
from parley_gateway.db.engine import Database
from parley_gateway.fanout import Fanout
from parley_gateway.headers import SecurityHeaders
from parley_gateway.settings import GatewaySettings
from parley_gateway.sockets import SocketRegistry

STATIC = Path(__file__).parent / "static"
FRONTEND_DIST = Path(__file__).resolve().parents[3] / "frontend" / "dist"
log = logging.getLogger("parley.gateway")
ADMIN_RETRY_MAX_S = 5.0  # the admin account is retried this often while the database is not ready


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        r = redisconn.connect(settings.redis_url)
        app.state.redis = r
        app.state.fanout = Fanout(
            r,
            queue_size=settings.queue_size,
            language_ttl_s=settings.language_ttl_s,
            history_finals=settings.history_finals,
            linger_s=settings.feed_linger_s,
        )
        app.state.fanout.start()
        app.state.sockets = SocketRegistry(
            per_participant=settings.caption_sockets_per_participant,
            per_address=settings.caption_sockets_per_address,
            total=settings.caption_sockets_total,
            replay_events_per_min=settings.replay_events_per_min,
        )
        app.state.replays = asyncio.Semaphore(max(1, settings.replays_at_once))
        app.state.logins = asyncio.Semaphore(max(1, settings.logins_at_once))
        commands_task = asyncio.create_task(commands.follow(r, app.state.sockets), name="sfu-commands")
        app.state.db = Database(settings.database_url)
        admin_task = None
        if not await _ensure_admin(app.state.db, settings):
            # A deployment starts the gateway beside the migration job that makes the schema and
            # the services' role: the admin account follows as soon as the database lets it.
            admin_task = asyncio.create_task(_ensure_admin_later(app.state.db, settings), name="admin")
        try:
            yield
        finally:
            await cancel_all([commands_task] + ([admin_task] if admin_task is not None else []))
            await app.state.fanout.stop()
            await app.state.db.close()
            await r.aclose()

    docs = settings.api_docs if settings.api_docs is not None else settings.env == "development"
    app = FastAPI(
        title="Parley gateway",
        version="1",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.settings = settings
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders, sfu_url=settings.sfu_url)
    app.include_router(captions_ws.router)
    app.include_router(api.router)
    app.include_router(page_config.router)
    api.install_error_handlers(app)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        await app.state.redis.ping()
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    _mount_frontend(app, Path(settings.frontend_dir) if settings.frontend_dir else FRONTEND_DIST)
    return app


async def _ensure_admin(db: Database, settings: GatewaySettings) -> bool:
    try:
        async with db.session() as session:
            await ensure_admin(session, settings.admin_username, settings.admin_password)
        return True
    except (OSError, SQLAlchemyError) as exc:
        log.warning("database not ready (run parley-migrate); the admin API will fail until it is: %s", exc)
        return False


async def _ensure_admin_later(db: Database, settings: GatewaySettings) -> None:
    delay = 1.0
    while True:
        await asyncio.sleep(delay)
        if await _ensure_admin(db, settings):
            log.info("admin account %s ready", settings.admin_username)
            return
        delay = min(delay * 2, ADMIN_RETRY_MAX_S)


def _mount_frontend(app: FastAPI, dist: Path) -> None:
    """The browser UI (frontend/, `make frontend-build`) at / and its deep links; without a build, the
    tiny caption viewer at /."""
    page = dist / "index.html"

    if not page.is_file():
        log.info("no frontend build at %s: serving the static caption viewer", dist)

        @app.get("/", include_in_schema=False)
        async def viewer() -> FileResponse:
            return FileResponse(STATIC / "index.html")

        @app.get("/viewer.js", include_in_schema=False)
        async def viewer_js() -> FileResponse:
            return FileResponse(STATIC / "viewer.js", media_type="text/javascript")

        @app.get("/viewer.css", include_in_schema=False)
        async def viewer_css() -> FileResponse:
            return FileResponse(STATIC / "viewer.css", media_type="text/css")

        return

    app.mount("/assets", StaticFiles(directory=dist / "assets"), name="assets")

    @app.get("/", include_in_schema=False)
    @app.get("/rooms/{slug}", include_in_schema=False)
    @app.get("/join/{code}", include_in_schema=False)
    async def frontend() -> FileResponse:
        return FileResponse(page, headers={"Cache-Control": "no-cache"})
