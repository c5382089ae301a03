"""The deployment the attacks are aimed at: a real gateway process on a real Postgres (database
parley_security, migrated once per run) and a real Redis (database 15, flushed before each test).
Each test makes its own rooms, so one gateway serves the whole run; `gateway_with` starts one with
other settings."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from attack_kit import Deployment
from parley_common import keys
from parley_common.routes import EngineReport
from parley_testkit.procs import LocalStack
from parley_translate.engines.apertium import ApertiumEngine
from security_helpers import ADMIN_PASSWORD, DATABASE_URL, REDIS_URL, GatewayFactory, prepare_database

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "logs" / "security"


@pytest.fixture(scope="session")
def database_url() -> str:
    prepare_database(DATABASE_URL)
    return DATABASE_URL


@pytest.fixture(scope="session")
def gateway_with(database_url: str) -> Iterator[GatewayFactory]:
    """start(name, **env) -> a Deployment of a gateway started with these extra PARLEY_* variables."""
    stacks: list[LocalStack] = []

    def start(name: str = "gateway", **env: str) -> Deployment:
        stack = LocalStack(
            REDIS_URL,
            ARTIFACTS / name,
            env={
                "PARLEY_ENV": "development",
                "PARLEY_DATABASE_URL": database_url,
                "PARLEY_ADMIN_USERNAME": "admin",
                "PARLEY_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "PARLEY_GATEWAY_RTP_PORT": "0",
                **env,
            },
        )
        proc = stack.start(name, "parley_gateway")
        stack.wait_healthy(60)
        stacks.append(stack)
        return Deployment(
            http=f"http://127.0.0.1:{stack.gateway_port}",
            sfu_ws=os.environ.get("PARLEY_SECURITY_SFU_WS", ""),
            redis_url=REDIS_URL,
            admin_user="admin",
            admin_password=ADMIN_PASSWORD,
            join_token_secret=env.get("PARLEY_JOIN_TOKEN_SECRET", stack.join_token_secret),
            log_path=proc.log_path,
        )

    yield start
    for stack in stacks:
        stack.stop()


@pytest.fixture(scope="session")
def _default_gateway(gateway_with: GatewayFactory) -> Deployment:
    return gateway_with("gateway")


@pytest.fixture
def flushed_redis() -> None:
    """No rate-limit counts or room state left over from another test; the apertium engine's pairs
    reported as a translate replica reports them (rooms offer only what an engine delivers)."""
    r = redis.Redis.from_url(REDIS_URL)
    r.flushdb()
    report = EngineReport(
        replica="security", service="translate", at=time.time(), engines=[ApertiumEngine().info()]
    )
    r.hset(keys.LANG_ENGINES, "translate/security", report.model_dump_json())


@pytest.fixture
def dep(_default_gateway: Deployment, flushed_redis: None) -> Deployment:
    """The shared gateway, on a flushed Redis."""
    return Deployment(**{**_default_gateway.__dict__, "_admin_token": ""})
