"""schemathesis against the app's own OpenAPI schema: no 5xx, and every response matches the schema.

The gateway runs under uvicorn on a free port (one event loop for the DB pool); a bounded number of
examples per operation keeps the run under a minute.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import schemathesis
import uvicorn
from api_helpers import ADMIN_PASSWORD, bearer
from hypothesis import HealthCheck, settings
from parley_gateway.app import create_app
from parley_gateway.settings import GatewaySettings
from schemathesis import checks
from schemathesis.generation.case import Case


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(settings: GatewaySettings) -> Iterator[tuple[str, dict[str, str]]]:
    relaxed = settings.model_copy(update={"token_rate_per_min": 100_000, "login_rate_per_min": 100_000})
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(relaxed), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    import httpx

    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    login = httpx.post(f"{base}/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    token = login.json()["access_token"]
    httpx.post(f"{base}/api/v1/rooms", json={"name": "Demo", "slug": "demo"}, headers=bearer(token))
    try:
        yield base, bearer(token)
    finally:
        server.should_exit = True
        thread.join(10)


schema = schemathesis.openapi.from_dict(create_app(GatewaySettings()).openapi()).include(path_regex="^/api/")


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms(case: Case, served: tuple[str, dict[str, str]]) -> None:
    base, auth = served
    case.call_and_validate(
        base_url=base,
        headers=auth if "authorization" not in {k.lower() for k in (case.headers or {})} else None,
        checks=[
            checks.not_a_server_error,
            checks.response_schema_conformance,
            checks.status_code_conformance,
            checks.content_type_conformance,
        ],
    )
