"""Ending asyncio tasks for sure.

One `task.cancel()` can be lost on Python 3.11, what the images and CI run: `asyncio.wait_for`,
through which redis-py 8 sends every command, returns the wrapped operation's result and drops a
cancellation that arrives just as that operation completes (CPython gh-86296, fixed in 3.12). The
task then runs on: whoever awaits it hangs (CI: `Fanout.stop()` in test_language_refresh waited
until the 300 s timeout), whoever only cancelled it leaks it (the STT saw a second partial lane
after a Redis outage). So a cancelled task still running is cancelled again until it ends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

RECANCEL_EVERY_S = 0.5


async def cancel_all(
    tasks: Iterable[asyncio.Task[Any]], *, suppress: tuple[type[BaseException], ...] = ()
) -> None:
    """Cancel `tasks` and wait until every one has ended, cancelling again any still running after
    `RECANCEL_EVERY_S`. An exception a task ended with is raised here (the first one), except a
    cancellation and those in `suppress`, as `await task` under `contextlib.suppress` would."""
    tasks = list(tasks)
    running = {t for t in tasks if not t.done()}
    while running:
        for t in running:
            t.cancel()
        _, running = await asyncio.wait(running, timeout=RECANCEL_EVERY_S)
    for t in tasks:
        with contextlib.suppress(asyncio.CancelledError, *suppress):
            await t
