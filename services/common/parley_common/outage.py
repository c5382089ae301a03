"""Riding out a short Redis outage (a restart, a failover) instead of exiting.

A service loop that loses Redis used to end its process, so one Redis restart took every STT and
translate replica down until the orchestrator restarted them (seconds, plus the model load), and
the speech in between waited or was lost. Now the loop waits for Redis and starts again from what
Redis holds (checkpoints, pending jobs); only an outage longer than `outage_s` ends the process.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from parley_common.retry import REDIS_DOWN, Backoff, retrying

log = logging.getLogger("parley.outage")

__all__ = ["REDIS_DOWN", "drop_idle_connections", "ride_out", "wait_for_redis"]


async def wait_for_redis(r: aioredis.Redis, outage_s: float) -> None:
    """Ping with backoff (0.1 s doubling to 1 s) until Redis answers; raise after `outage_s`."""
    await retrying(r.ping, "Redis ping", backoff=Backoff(0.1, 1.0), give_up_after_s=outage_s, logger=log)


async def ride_out(
    name: str,
    r: aioredis.Redis,
    loop: Callable[[], Awaitable[None]],
    *,
    outage_s: float = 60.0,
    on_outage: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Run `loop`; when it fails because Redis went away, wait for Redis, call `on_outage` (drop
    what the loop held in memory), and run it again."""
    while True:
        try:
            await loop()
            return
        except REDIS_DOWN as exc:
            log.warning("%s lost Redis, waiting up to %.0f s for it: %s", name, outage_s, exc)
            await _recover(name, r, outage_s, on_outage)


async def _recover(
    name: str, r: aioredis.Redis, outage_s: float, on_outage: Callable[[], Awaitable[None]] | None
) -> None:
    """Wait for Redis, then clean up. Redis failing again during the clean-up (it flapped, or its
    connection died with the old server) is the same outage, not the end of the process: a
    segmenter whose `release_all` raised here used to exit (stt-1 exit code 1, CI of stop 22)."""
    since = time.monotonic()
    while True:
        await wait_for_redis(r, max(0.0, outage_s - (time.monotonic() - since)))
        await drop_idle_connections(r)
        try:
            if on_outage is not None:
                await on_outage()
        except REDIS_DOWN as again:
            log.warning("%s: Redis failed again while recovering, waiting: %s", name, again)
            continue
        log.info("%s: Redis is back after %.2f s, resuming", name, time.monotonic() - since)
        return


async def drop_idle_connections(r: aioredis.Redis) -> None:
    """Close the connections idle in `r`'s pool. They died with the old server: each would fail
    its next command ("Connection closed by server") and stop the loop again, seconds later, in
    the middle of a job. They are taken out of the pool first, under its lock, and closed after:
    `ConnectionPool.disconnect(inuse_connections=False)` closes them in place, so a task of another
    loop on the same client (the segmenter beside the worker) that had just taken one failed its
    command with a ConnectionError. (The pool's lock and list are private, stable since redis-py 4.2.)"""
    pool = r.connection_pool
    async with pool._lock:
        idle = list(pool._available_connections)
        pool._available_connections.clear()
    for conn in idle:
        with contextlib.suppress(OSError, aioredis.RedisError):  # closing a dead socket
            await conn.disconnect(nowait=True)
