"""Riding out a short Redis outage (a restart, a failover) instead of exiting.

A service loop that loses Redis used to end its process, so one Redis restart took every STT and
translate replica down until the orchestrator restarted them (seconds, plus the model load), and
the speech in between waited or was lost. Now the loop waits for Redis and starts again from what
Redis holds (checkpoints, pending jobs); only an outage longer than `outage_s` ends the process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from parley_common.retry import REDIS_DOWN, Backoff, retrying

log = logging.getLogger("parley.outage")

__all__ = ["REDIS_DOWN", "ride_out", "wait_for_redis"]


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
            since = time.monotonic()
            log.warning("%s lost Redis, waiting up to %.0f s for it: %s", name, outage_s, exc)
            await wait_for_redis(r, outage_s)
            if on_outage is not None:
                await on_outage()
            log.info("%s: Redis is back after %.2f s, resuming", name, time.monotonic() - since)
