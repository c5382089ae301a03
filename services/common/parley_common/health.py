"""/healthz and /metrics for the worker services (the gateway serves its own through FastAPI)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger("parley.health")


async def serve_health(
    port: int,
    healthy: Callable[[], bool],
    host: str = "127.0.0.1",
    info: Callable[[], dict[str, Any]] | None = None,
) -> int:
    """A tiny HTTP server: GET /healthz (200 or 503) and GET /metrics. Returns the bound port.
    With `info`, /healthz answers JSON: {"status": "ok"|"unhealthy", **info()} (e.g. the engines loaded)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            path = line.split(b" ")[1] if line.count(b" ") >= 2 else b"/"
            if path == b"/metrics":
                status, ctype, body = "200 OK", CONTENT_TYPE_LATEST, generate_latest()
            elif path == b"/healthz":
                ok = healthy()
                status = "200 OK" if ok else "503 Service Unavailable"
                ctype, body = "text/plain", (b"ok\n" if ok else b"unhealthy\n")
                if info is not None:
                    ctype = "application/json"
                    body = json.dumps({"status": "ok" if ok else "unhealthy", **info()}).encode() + b"\n"
            else:
                status, ctype, body = "404 Not Found", "text/plain", b"not found\n"
            head = f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port)
    bound: int = server.sockets[0].getsockname()[1]
    log.info("health and metrics on http://%s:%d", host, bound)
    return bound
