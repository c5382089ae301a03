"""Fixtures for the pipeline tests: real Redis, the real Whisper model, real service processes."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from parley_testkit.procs import LocalStack
from pipeline_helpers import redis_url

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "logs"
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    """One STT, one translate and one gateway process on Redis database 13, for the whole run."""
    url = redis_url(13)
    redis.Redis.from_url(url).flushdb()
    s = LocalStack(url, ARTIFACTS / "stack", env={"PARLEY_STT_PARTIAL_MAX_AGE_S": "2.0"})
    s.start_default()
    yield s
    s.stop()


@pytest.fixture
async def r(stack: LocalStack) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(stack.redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def scratch_redis() -> AsyncIterator[aioredis.Redis]:
    """Redis database 14, empty, for a worker driven in this process (no stack): flushed before
    and after the test."""
    client = aioredis.from_url(redis_url(14))
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()
