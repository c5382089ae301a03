"""asyncio helpers for tests that drive a service's loop in their own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from parley_common.tasks import cancel_all


@contextlib.asynccontextmanager
async def running(loop: Callable[[], Awaitable[None]]) -> AsyncIterator[None]:
    """`loop()` as a task while inside; cancelled, and awaited, on the way out."""
    task = asyncio.ensure_future(loop())
    try:
        yield
    finally:
        await cancel_all([task])


async def until(check: Callable[[], bool], timeout: float = 5.0, every: float = 0.01) -> None:
    """Poll `check` every `every` s until it holds; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(every)


def task_stacks() -> str:
    """Every task of the running loop with the line it waits at: what a hung test was waiting for
    (pytest-timeout's dump shows threads, and an async test's main thread sits in the selector)."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        task.print_stack(file=out)
    return out.getvalue()
