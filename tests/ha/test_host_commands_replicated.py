"""A host's command (mute, removal, close) is what nothing in the pipeline redoes: written to a
master that dies before its replica has it, it would be undone silently by the failover (a removed
participant's entry gone from room:{slug}:removed). So the API answers only once a replica has it
(WAIT; parley_common.redisconn.write_replicated), against Redis as the stack runs it (master,
replica, three sentinels). The replica is frozen (SIGSTOP) while the host acts: the answer waits
for it to come back, or gives up after PARLEY_REDIS_REPLICA_WAIT_MS and says so."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from parley_common import keys
from parley_common.redisconn import connect
from parley_gateway.api.live import announce
from parley_testkit.procs import free_port

from bench.load.redis_ha import RedisHA
from bench.load.stack import RedisServer

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


@pytest.fixture
def ha() -> Iterator[RedisHA]:
    h = RedisHA()
    try:
        h.start()
        yield h
    finally:
        h.cleanup()


def frozen(server: RedisServer, seconds: float) -> threading.Timer:
    """SIGSTOP `server` now, SIGCONT after `seconds`."""
    assert server.proc is not None
    pid = server.proc.pid
    os.kill(pid, signal.SIGSTOP)
    timer = threading.Timer(seconds, os.kill, (pid, signal.SIGCONT))
    timer.start()
    return timer


async def test_a_host_command_is_answered_once_the_replica_has_it(ha: RedisHA) -> None:
    r = connect(ha.url)
    replica = next(s for s in ha.servers if s.port != ha.master_port())
    await r.ping()

    timer = frozen(replica, 0.6)
    t = time.monotonic()
    assert await announce(r, "remove", "ha-room", "mallory", "host", wait_ms=5000)
    waited = time.monotonic() - t
    timer.join()
    print(f"answered {waited:.2f} s after the host asked (the replica was frozen 0.6 s)")
    assert waited >= 0.5, "answered before the replica had the removal"
    assert redis.Redis(port=replica.port).sismember(keys.room_removed("ha-room"), "mallory")

    # No replica to acknowledge in time: the answer comes after wait_ms, and says so.
    timer = frozen(replica, 1.5)
    t = time.monotonic()
    assert not await announce(r, "mute", "ha-room", "eve", "host", wait_ms=300)
    assert 0.25 < time.monotonic() - t < 1.4
    timer.join()
    await r.aclose()


async def test_a_lone_redis_answers_at_once() -> None:
    """Without sentinels there is no replica to wait for (development, tests)."""
    server = RedisServer(free_port(), persist=False)
    server.start()
    try:
        r = connect(server.url)
        t = time.monotonic()
        assert await announce(r, "remove", "solo", "p1", "host", wait_ms=5000)
        assert time.monotonic() - t < 0.5
        assert await r.sismember(keys.room_removed("solo"), "p1")
        await r.aclose()
    finally:
        server.cleanup()
