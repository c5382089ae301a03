"""The one retry policy (parley_common.retry): which errors are retried, the backoff, giving up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest
from parley_common.retry import Backoff, ParleyError, retryable, retrying
from redis.exceptions import BusyLoadingError, ReadOnlyError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import IntegrityError, OperationalError


def test_errors_say_whether_trying_again_can_help() -> None:
    assert retryable(RedisConnectionError("gone"))
    assert retryable(BusyLoadingError("loading"))
    assert retryable(ReadOnlyError("a replica during a failover"))
    assert retryable(ConnectionResetError())
    assert retryable(OperationalError("SELECT 1", {}, Exception("server closed the connection")))
    assert retryable(ParleyError("engine busy", retryable=True))
    assert not retryable(ParleyError("bad pair"))
    assert not retryable(ResponseError("WRONGTYPE"))
    assert not retryable(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not retryable(ValueError("a bug"))


def test_the_backoff_doubles_to_its_cap_and_starts_again_after_a_success() -> None:
    b = Backoff(0.1, 0.5)
    assert [b.next_delay() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    b.reset()
    assert b.next_delay() == 0.1


def flaky(failures: list[BaseException]) -> tuple[list[int], Callable[[], Awaitable[str]]]:
    calls: list[int] = []

    async def op() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return "ok"

    return calls, op


async def test_retryable_errors_are_retried_until_the_operation_succeeds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls, op = flaky([RedisConnectionError("a"), RedisConnectionError("b")])
    backoff = Backoff(0.001, 0.002)
    with caplog.at_level(logging.DEBUG, "parley.retry"):
        assert await retrying(op, "read", backoff=backoff) == "ok"
    assert len(calls) == 3
    assert backoff.attempt == 0  # reset after the success
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].attempt == 1  # type: ignore[attr-defined]


async def test_a_non_retryable_error_is_raised_at_once_unless_the_caller_names_it() -> None:
    calls, op = flaky([ResponseError("WRONGTYPE")])
    with pytest.raises(ResponseError):
        await retrying(op, "read", backoff=Backoff(0.001))
    assert len(calls) == 1
    calls, op = flaky([ResponseError("WRONGTYPE")])
    seen: list[BaseException] = []
    got = await retrying(op, "read", backoff=Backoff(0.001), also=(ResponseError,), on_retry=seen.append)
    assert got == "ok" and len(seen) == 1


async def test_it_gives_up_after_the_outage_limit() -> None:
    calls, op = flaky([RedisConnectionError("down")] * 1000)
    with pytest.raises(RedisConnectionError):
        await asyncio.wait_for(
            retrying(op, "write", backoff=Backoff(0.01, 0.01), give_up_after_s=0.05),
            2,
        )
    assert 3 <= len(calls) <= 10
