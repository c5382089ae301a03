"""One retry policy for every service: errors say whether they are retryable, one backoff.

`retryable(exc)` answers for any exception (livekit/agents' `APIError.retryable` is the model):
a `ParleyError` carries its own flag; a lost or not yet ready connection (Redis going away,
loading, a read-only replica during a failover, a socket error, Postgres connection errors) is
retryable; anything else is not, since retrying a bug or bad input only repeats it.

`Backoff` is the delay between attempts: it doubles from `initial_s` to `max_s` and starts again
from `initial_s` after a success. `retrying(op, ...)` runs an operation until it succeeds: a
retryable error waits and tries again (the attempt number goes into the log record's `extra`),
past `give_up_after_s` it is raised, and a non-retryable error is raised at once. A loop that
deliberately retries more (the persister: any database error, since the claim pass turns a
poison batch into dead letters) names those errors in `also`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, TryAgainError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("parley.retry")
T = TypeVar("T")

# Redis has gone away or cannot serve yet. BusyLoadingError ("loading the dataset") is a
# ConnectionError in redis-py; a replica promoted late answers READONLY for a moment.
REDIS_DOWN: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ReadOnlyError,
    TryAgainError,
    ConnectionError,
)


class ParleyError(Exception):
    """An error that says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


def retryable(exc: BaseException) -> bool:
    if isinstance(exc, ParleyError):
        return exc.retryable
    if isinstance(exc, REDIS_DOWN) or isinstance(exc, OSError):
        return True
    return _database_connection_lost(exc)


def _database_connection_lost(exc: BaseException) -> bool:
    """SQLAlchemy's OperationalError, or a DBAPIError that invalidated its connection. Matched by
    name and attribute: parley_common does not depend on SQLAlchemy (only the gateway's image has it)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return "OperationalError" in names or bool(getattr(exc, "connection_invalidated", False))


@dataclass
class Backoff:
    initial_s: float = 0.1
    max_s: float = 1.0
    attempt: int = field(default=0, init=False)

    def next_delay(self) -> float:
        delay = min(self.max_s, self.initial_s * 2.0**self.attempt)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0

    async def wait(self) -> None:
        await asyncio.sleep(self.next_delay())


async def retrying(
    op: Callable[[], Awaitable[T]],
    what: str,
    *,
    backoff: Backoff | None = None,
    give_up_after_s: float | None = None,
    also: tuple[type[BaseException], ...] = (),
    on_retry: Callable[[BaseException], object] | None = None,
    logger: logging.Logger = log,
) -> T:
    """`op()`'s result, retried while its errors are retryable (or in `also`). The first failure of
    a run is logged as a warning, the attempts after it at debug level."""
    backoff = backoff or Backoff()
    since: float | None = None
    while True:
        try:
            result = await op()
        except Exception as exc:
            if not (retryable(exc) or isinstance(exc, also)):
                raise
            since = since if since is not None else time.monotonic()
            if give_up_after_s is not None and time.monotonic() - since > give_up_after_s:
                raise
            if on_retry is not None:
                on_retry(exc)
            delay = backoff.next_delay()
            level = logging.WARNING if backoff.attempt == 1 else logging.DEBUG
            logger.log(
                level,
                "%s failed, retrying in %.1f s: %s",
                what,
                delay,
                exc,
                extra={"attempt": backoff.attempt},
            )
            await asyncio.sleep(delay)
            continue
        backoff.reset()
        return result
