"""One way for every service to reach Redis: a plain URL, or Sentinel, following the master.

    redis://[:password@]host:6379/0                       one server (development, tests)
    sentinel://[:password@]s1:26379,s2:26379,s3:26379/parley/0
                                                          the master Sentinel names `parley`, db 0

With Sentinel the client asks the sentinels (in order, the first that answers) for the master's
address on every new connection. When the master dies, commands on its connections fail with
ConnectionError (what every service already rides out, parley_common.outage); after the
failover the next connection goes to the new master. A connection still open to the old master
after it came back as a replica fails its first write with READONLY, which redis-py turns into a
ConnectionError too, so the client moves. The password in the URL is the data nodes'; the
sentinels' own password, if any, is `?sentinel_password=`. The SFU (ioredis) reads the same URL
(mediasoup-node/src/redis.ts).

A client follows the master a majority of the sentinels name, not the first that answers: a
sentinel cut off with the old master (a network partition) still names it, and a client beside
them would otherwise write to a master that is about to be demoted (its writes then lost, the
captions it published redone with other words). On the minority side no master is found, and the
services wait (parley_common.outage) until the partition heals.

Replication is asynchronous: a master that dies takes the writes it had not yet sent to the
replica with it. Most writes are redone by the pipeline (docs/architecture.md); a write that is
not — a host's mute or removal — goes through `write_replicated`, which answers only once a
replica has it (WAIT), or after `timeout_ms` when none is there to have it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

import redis
import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.asyncio.sentinel import SentinelConnectionPool as AsyncSentinelPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.sentinel import MasterNotFoundError, Sentinel

SCHEME = "sentinel://"
SENTINEL_TIMEOUT_S = 0.5  # per sentinel asked: a dead one must not stall the discovery


@dataclass(frozen=True, slots=True)
class SentinelUrl:
    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None


def parse_sentinel_url(url: str) -> SentinelUrl:
    """`sentinel://[user:password@]host:port,host:port/<master>[/<db>][?sentinel_password=...]`."""
    if not url.startswith(SCHEME):
        raise ValueError(f"not a {SCHEME} URL: {url!r}")
    rest, _, query = url[len(SCHEME) :].partition("?")
    auth, _, rest = rest.rpartition("@")
    hosts, _, path = rest.partition("/")
    parts = [p for p in path.split("/") if p]
    if not parts:
        raise ValueError(f"{url!r}: name the master after the sentinels (…/parley/0)")
    sentinels = []
    for h in hosts.split(","):
        host, sep, port = h.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"{url!r}: sentinel {h!r} is not host:port")
        sentinels.append((host.strip("[]"), int(port)))
    user, _, password = auth.partition(":") if auth else ("", "", "")
    params = parse_qs(query)
    return SentinelUrl(
        tuple(sentinels),
        unquote(parts[0]),
        int(parts[1]) if len(parts) > 1 else 0,
        unquote(user) or None,
        unquote(password) or None,
        unquote(params["sentinel_password"][0]) if "sentinel_password" in params else None,
    )


Address = tuple[str, int]


def _majority(service: str, answers: list[Address | None], sentinels: int) -> Address:
    votes = Counter(a for a in answers if a is not None)
    if votes:
        address, n = votes.most_common(1)[0]
        if n >= sentinels // 2 + 1:
            return address
    raise MasterNotFoundError(
        f"No master a majority of the {sentinels} sentinels agrees on for {service!r}: {dict(votes)}"
    )


class MajoritySentinel(AsyncSentinel):  # type: ignore[misc]  # redis is untyped here (pyproject)
    """Asks every sentinel at once and follows the master a majority of them names."""

    async def discover_master(self, service_name: str) -> Address:
        async def ask(sentinel: aioredis.Redis) -> Address | None:
            try:
                state = (await sentinel.sentinel_masters()).get(service_name)
            except (RedisConnectionError, RedisTimeoutError, OSError):
                return None
            if not state or not self.check_master_state(state, service_name):
                return None
            return str(state["ip"]), int(state["port"])

        answers = await asyncio.gather(*(ask(s) for s in self.sentinels))
        return _majority(service_name, list(answers), len(self.sentinels))


class MajoritySentinelSync(Sentinel):  # type: ignore[misc]
    """The same, blocking (one sentinel after the other)."""

    def discover_master(self, service_name: str) -> Address:
        answers: list[Address | None] = []
        for sentinel in self.sentinels:
            try:
                state = sentinel.sentinel_masters().get(service_name)
            except (RedisConnectionError, RedisTimeoutError, OSError):
                answers.append(None)
                continue
            ok = state and self.check_master_state(state, service_name)
            answers.append((str(state["ip"]), int(state["port"])) if ok else None)
        return _majority(service_name, answers, len(self.sentinels))


def _sentinel_kwargs(u: SentinelUrl) -> dict[str, Any]:
    kw: dict[str, Any] = {"socket_timeout": SENTINEL_TIMEOUT_S, "socket_connect_timeout": SENTINEL_TIMEOUT_S}
    if u.sentinel_password:
        kw["password"] = u.sentinel_password
    return kw


def connect(url: str, **kwargs: Any) -> aioredis.Redis:
    """An asyncio client for `url` (redis:// or sentinel://); kwargs go to the client."""
    if not url.startswith(SCHEME):
        return aioredis.from_url(url, **kwargs)
    u = parse_sentinel_url(url)
    sentinel = MajoritySentinel(list(u.sentinels), sentinel_kwargs=_sentinel_kwargs(u))
    client: aioredis.Redis = sentinel.master_for(
        u.master, db=u.db, username=u.username, password=u.password, **kwargs
    )
    return client


def connect_sync(url: str, **kwargs: Any) -> redis.Redis:
    """The same, blocking (tools and tests)."""
    if not url.startswith(SCHEME):
        return redis.Redis.from_url(url, **kwargs)
    u = parse_sentinel_url(url)
    sentinel = MajoritySentinelSync(list(u.sentinels), sentinel_kwargs=_sentinel_kwargs(u))
    client: redis.Redis = sentinel.master_for(
        u.master, db=u.db, username=u.username, password=u.password, **kwargs
    )
    return client


def is_replicated(r: aioredis.Redis) -> bool:
    """The client follows a master through the sentinels (so the master has a replica to wait for)."""
    return isinstance(r.connection_pool, AsyncSentinelPool)


async def write_replicated(
    r: aioredis.Redis, writes: Callable[[aioredis.Redis], Awaitable[Any]], timeout_ms: int
) -> bool:
    """Run `writes` (given a client bound to one connection: WAIT covers that connection's writes),
    then WAIT until one replica has acknowledged them, at most `timeout_ms`. True once a replica
    has them (or Redis is a lone server: nothing to wait for); False when none acknowledged in time
    — the writes are on the master, but a failover now would lose them."""
    async with r.client() as c:
        await writes(c)
        if not is_replicated(r) or timeout_ms <= 0:
            return True
        acked = await c.wait(1, timeout_ms)
    return int(acked) >= 1
