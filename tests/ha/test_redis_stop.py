"""Stopping a Redis replica that is writing its first AOF after a full sync.

Redis 7.0 refuses a SIGTERM then ("Writing initial AOF, can't exit") and runs on; the harness's
RedisServer.stop sent one SIGTERM and waited 30 s, and a CI teardown failed on it (the old master
of tests/ha/test_sentinel.py, just back as a replica). Here the master holds 300 MB, so the
replica's rewrite is long enough for the SIGTERM to land in it; stop() must end the replica soon."""

from __future__ import annotations

import shutil
import time

import pytest
import redis
from parley_testkit.procs import free_port

from bench.load.stack import RedisServer

pytestmark = pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server is not installed")


def test_a_replica_writing_its_first_aof_is_stopped_all_the_same() -> None:
    master = RedisServer(free_port(), persist=False)
    master.start()
    replica = RedisServer(free_port(), replica_of=master.port)
    try:
        pipe = redis.Redis(port=master.port).pipeline(transaction=False)
        for i in range(300):
            pipe.set(f"k{i}", b"x" * 2**20)
        pipe.execute()
        replica.start()
        log = replica.dir / "redis.log"
        deadline = time.monotonic() + 60
        while "Background append only file rewriting started" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.01)
        started = time.monotonic()
        replica.stop()
        took = time.monotonic() - started
        assert replica.proc is not None and replica.proc.poll() is not None
        assert "Writing initial AOF, can't exit" in log.read_text(), "the SIGTERM missed the rewrite"
        assert took < 10, took
    finally:
        replica.cleanup()
        master.cleanup()
