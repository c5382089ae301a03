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

from pathlib import Path

import pytest
from tiers import TIERS, needs


def pytest_configure(config: pytest.Config) -> None:
    for tier in TIERS:
        config.addinivalue_line("markers", f"{tier}: needs what tests/conftest.py says of the {tier} tier")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for tier in needs(Path(item.fspath)):
            item.add_marker(tier)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With `-m <one tier>`, files outside the tier are not even imported (the unit tier then
    loads no model library or browser driver: seconds, not a minute)."""
    tier = config.getoption("markexpr", "")
    if tier in TIERS and collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        return tier not in needs(collection_path) or None
    return None
