"""Fixed-window rate limits kept in Redis, so every gateway replica shares one count."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

# KEYS: counter  ARGV: window seconds. Returns the count in this window and its TTL.
_HIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('TTL', KEYS[1])}
"""


class RateLimited(Exception):
    def __init__(self, what: str, retry_after_s: int) -> None:
        super().__init__(f"too many {what} requests; retry in {retry_after_s} s")
        self.what = what
        self.retry_after_s = retry_after_s


async def hit(r: aioredis.Redis, what: str, who: str, limit: int, window_s: int = 60) -> None:
    """Count one request of kind `what` by `who`; raises RateLimited past `limit` per window."""
    if limit <= 0:
        return
    window = int(time.time() // window_s)
    key = f"ratelimit:{what}:{who}:{window}"
    n, ttl = await r.eval(_HIT, 1, key, str(window_s))
    if int(n) > limit:
        raise RateLimited(what, max(1, int(ttl)))


async def check(r: aioredis.Redis, what: str, who: str, limit: int, window_s: int = 60) -> None:
    """Raises RateLimited when `who` already has `limit` of `what` in this window, as counted by
    `count`: for limits on failures, which are counted only once they have happened."""
    if limit <= 0:
        return
    key = f"ratelimit:{what}:{who}:{int(time.time() // window_s)}"
    n = await r.get(key)
    if n is not None and int(n) >= limit:
        raise RateLimited(what, max(1, int(await r.ttl(key))))


async def count(r: aioredis.Redis, what: str, who: str, window_s: int = 60) -> None:
    """Count one `what` by `who` in this window (see `check`)."""
    key = f"ratelimit:{what}:{who}:{int(time.time() // window_s)}"
    await r.eval(_HIT, 1, key, str(window_s))
