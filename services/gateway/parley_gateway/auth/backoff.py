"""Failed logins: back off per (user name, address), cap per user name.

An attacker who guesses one admin's password from one address waits longer after each failure
from the `login_free_failures`-th on (2, 4, 8 ... s, at most `login_max_backoff_s`); the admin,
from any other address, is not affected. Only failures from very many addresses (more than
`login_user_failures_per_hour` for one user name) stop that user's password logins for everyone
(API keys still work). A success clears its pair's failures. Redis keys (shared by every gateway
replica): `loginfail:{user}:{address}` and `loginlock:{user}:{address}` per pair,
`loginfail:{user}` per user name.
"""

from __future__ import annotations

import hashlib

import redis.asyncio as aioredis

from parley_gateway.auth.ratelimit import RateLimited
from parley_gateway.settings import GatewaySettings

HOUR_S = 3600


def _key(*parts: str) -> str:
    # user names and addresses are hashed into the key: any characters, bounded length
    return ":".join(parts[:1] + tuple(hashlib.sha256(p.encode()).hexdigest()[:24] for p in parts[1:]))


async def check(r: aioredis.Redis, user: str, address: str, settings: GatewaySettings) -> None:
    """Raises RateLimited while this pair must wait, or while the user name is under attack."""
    wait = int(await r.ttl(_key("loginlock", user, address)))
    if wait > 0:
        raise RateLimited("login", wait)
    per_user = await r.get(_key("loginfail", user))
    if per_user is not None and int(per_user) >= settings.login_user_failures_per_hour > 0:
        raise RateLimited("login", max(1, int(await r.ttl(_key("loginfail", user)))))


async def failed(r: aioredis.Redis, user: str, address: str, settings: GatewaySettings) -> None:
    pair, lock, per_user = (
        _key("loginfail", user, address),
        _key("loginlock", user, address),
        _key("loginfail", user),
    )
    async with r.pipeline(transaction=True) as pipe:
        pipe.incr(pair).expire(pair, HOUR_S).incr(per_user).expire(per_user, HOUR_S, nx=True)
        n = int((await pipe.execute())[0])
    over = n - settings.login_free_failures + 1  # the 5th failure already makes the next one wait
    if over > 0:
        await r.set(lock, "1", ex=min(settings.login_max_backoff_s, 2**over))


async def succeeded(r: aioredis.Redis, user: str, address: str) -> None:
    await r.delete(_key("loginfail", user, address), _key("loginlock", user, address))
