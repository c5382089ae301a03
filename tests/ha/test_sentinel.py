"""Redis as the stack runs it (master, replica, three sentinels; real processes on 127.0.0.1) and the
one client factory every service uses (parley_common.redisconn): the client follows the master
through a failover, and the old master comes back as a replica."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator

import pytest
import redis
from parley_common.outage import REDIS_DOWN
from parley_common.redisconn import _majority, connect, connect_sync, parse_sentinel_url
from redis.sentinel import MasterNotFoundError

from bench.load.redis_ha import RedisHA


def test_sentinel_url() -> None:
    u = parse_sentinel_url("sentinel://:s3cret@sentinel-ai:26379,sentinel-media:26379/parley/2")
    assert u.sentinels == (("sentinel-ai", 26379), ("sentinel-media", 26379))
    assert (u.master, u.db, u.username, u.password) == ("parley", 2, None, "s3cret")
    u = parse_sentinel_url("sentinel://[::1]:26379/m?sentinel_password=p%40ss")
    assert (u.sentinels, u.master, u.db, u.sentinel_password) == ((("::1", 26379),), "m", 0, "p@ss")
    for bad in ("redis://x:1/0", "sentinel://h:26379", "sentinel://h/parley/0", "sentinel://h:x/parley"):
        with pytest.raises(ValueError):
            parse_sentinel_url(bad)


def test_clients_follow_the_master_a_majority_names() -> None:
    """A sentinel cut off with the old master still names it: one voice of three is not enough."""
    new, old = ("10.0.0.2", 6379), ("10.0.0.1", 6379)
    assert _majority("parley", [old, new, new], 3) == new
    assert _majority("parley", [None, new, new], 3) == new  # one sentinel unreachable
    for answers in ([old, None, None], [old, new, None], [None, None, None]):
        with pytest.raises(MasterNotFoundError):
            _majority("parley", answers, 3)  # the minority side of a partition finds no master
    assert _majority("parley", [old], 1) == old


@pytest.fixture
def ha() -> Iterator[RedisHA]:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    h = RedisHA()
    try:
        h.start()
        yield h
    finally:
        h.cleanup()


async def test_a_client_follows_the_master_through_a_failover(ha: RedisHA) -> None:
    r = connect(ha.url)
    old = ha.master_port()
    for i in range(100):
        await r.xadd("s", {"i": str(i)})
    assert await r.wait(1, 2000) == 1  # replicated: the writes that matter wait for the replica
    t_kill = time.monotonic()
    killed = ha.kill_master()
    i, first_ok = 100, 0.0
    while time.monotonic() - t_kill < 30:
        try:
            await r.xadd("s", {"i": str(i)})
            i += 1
            if not first_ok:
                first_ok = time.monotonic()
            if i >= 110:
                break
        except REDIS_DOWN:
            await asyncio.sleep(0.05)
    failover_s = first_ok - t_kill
    print(f"writes go on {failover_s:.2f} s after the master was killed")
    assert first_ok and failover_s < 10, failover_s
    assert ha.master_port() == ha.servers[1].port != old
    # Nothing that was acknowledged and replicated (WAIT) is lost; the new writes follow.
    assert [f[b"i"] for _, f in await r.xrange("s")] == [str(n).encode() for n in range(110)]
    await r.aclose()

    # The old master comes back (its own AOF, a master's command): it asks the sentinels first
    # (stack/config/redis-role.sh) and starts as the new master's replica, never a second master.
    killed.start()
    assert redis.Redis(port=old).role()[0] == b"slave"
    deadline = time.monotonic() + 30
    while redis.Redis(port=old).info("replication")["master_link_status"] != "up":
        assert time.monotonic() < deadline, "the old master did not sync from the new one"
        await asyncio.sleep(0.2)
    assert connect_sync(ha.url).xlen("s") == 110
    assert redis.Redis(port=old).xlen("s") == 110
