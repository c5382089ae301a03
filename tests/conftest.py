"""Every test is marked by what it needs, so a tier can run alone (`pytest -m unit` in seconds,
no Redis, no model, no build: `make unit`):

    unit     nothing but Python and the packages: pure logic, parsers, generated files
    redis    a real Redis (and Postgres, for the API): service code without models or builds
    model    the real Whisper / VAD / translation models (and the services that load them)
    media    the built SFU and mediasoup worker, WebRTC, RTP, the load generator
    browser  headless Chromium and the built front-end
    deploy   Docker's CLI, Caddy, Prometheus, coturn, network namespaces

A file's needs come from NEEDS in tests/tiers.py (the most specific path wins, else its folder's); a file can
add its own with `pytestmark`. A new test file in an existing folder gets that folder's needs.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from parley_testkit.aio import task_stacks
from tiers import TIERS, needs

# An async test that hangs prints its loop's tasks this long before pytest-timeout ends it.
TASKS_DUMPED_BEFORE_TIMEOUT_S = 20.0


def pytest_configure(config: pytest.Config) -> None:
    for tier in TIERS:
        config.addinivalue_line("markers", f"{tier}: needs what tests/conftest.py says of the {tier} tier")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for tier in needs(Path(item.fspath)):
            item.add_marker(tier)
        if inspect.iscoroutinefunction(getattr(item, "obj", None)):
            item.fixturenames.append("_tasks_dumped_before_timeout")  # type: ignore[attr-defined]


@pytest.fixture
async def _tasks_dumped_before_timeout(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Near its timeout, an async test's tasks and the lines they wait at go to stderr (shown with the
    failure): pytest-timeout's own dump shows only threads, the test's in the event loop's selector."""
    marker = request.node.get_closest_marker("timeout")
    timeout = (
        float(marker.args[0]) if marker and marker.args else float(request.config.getini("timeout") or 0)
    )
    if timeout <= TASKS_DUMPED_BEFORE_TIMEOUT_S:
        yield
        return
    handle = asyncio.get_running_loop().call_later(
        timeout - TASKS_DUMPED_BEFORE_TIMEOUT_S,
        lambda: print(
            f"tasks {TASKS_DUMPED_BEFORE_TIMEOUT_S:.0f} s before the timeout:\n{task_stacks()}",
            file=sys.stderr,
        ),
    )
    yield
    handle.cancel()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With `-m <one tier>`, files outside the tier are not even imported (the unit tier then
    loads no model library or browser driver: seconds, not a minute)."""
    tier = config.getoption("markexpr", "")
    if tier in TIERS and collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        return tier not in needs(collection_path) or None
    return None
