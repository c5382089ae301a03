"""Ending tasks for sure (parley_common.tasks): on Python 3.11 one cancel can be lost inside
`asyncio.wait_for` (redis-py sends every command through it), and `cancel_all` cancels again."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable

import pytest
from parley_common.tasks import cancel_all
from parley_testkit.aio import until

LOSES_A_CANCEL = sys.version_info < (3, 12)  # CPython gh-86296, fixed in 3.12


async def sender(
    stop: Callable[[asyncio.Task[None]], Awaitable[None]],
) -> tuple[asyncio.Task[None], asyncio.Task[None]]:
    """A loop of `wait_for`-wrapped sends, as redis-py's, and a task running `stop(loop)` started
    as the first send completes: its cancel lands while the loop waits on a send that is done, the
    moment Python 3.11's wait_for drops a cancellation. Returns (the loop, the stopping task)."""
    stopping: list[asyncio.Task[None]] = []

    async def send() -> None:
        if not stopping:
            stopping.append(asyncio.create_task(stop(loop_task)))  # runs before the loop resumes

    async def loop() -> None:
        while True:
            await asyncio.wait_for(send(), 5)
            await asyncio.sleep(0.01)

    loop_task = asyncio.create_task(loop(), name="sender")
    await until(lambda: bool(stopping))
    return loop_task, stopping[0]


async def test_one_cancel_can_be_lost_and_cancel_all_still_ends_the_task() -> None:
    async def cancel_once(task: asyncio.Task[None]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    task, stopping = await sender(cancel_once)
    await asyncio.sleep(1.0)
    if LOSES_A_CANCEL:  # the way Fanout.stop() hung in CI
        assert not task.done() and not stopping.done()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(stopping, 5)

    task, stopping = await sender(lambda t: cancel_all([t]))
    await asyncio.wait_for(stopping, 5)  # its first cancel lost the same way, the second ended it
    assert task.cancelled()


async def test_an_error_a_task_ended_with_is_raised_unless_suppressed() -> None:
    async def fails() -> None:
        raise ValueError("bad")

    async def forever() -> None:
        await asyncio.Event().wait()

    for suppress, raised in (((), True), ((ValueError,), False)):
        tasks = [asyncio.create_task(fails()), asyncio.create_task(forever())]
        await asyncio.sleep(0)
        if raised:
            with pytest.raises(ValueError, match="bad"):
                await cancel_all(tasks, suppress=suppress)
        else:
            await cancel_all(tasks, suppress=suppress)
        assert tasks[1].cancelled()
