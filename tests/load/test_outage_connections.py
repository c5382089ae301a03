"""After a Redis restart a service's loop starts again once, not once per stale connection, and
the clean-up after an outage neither breaks the loops beside it nor ends the process.

Every connection a client had pooled died with the old server. Before the pool was emptied on
recovery (parley_common.outage.ride_out), each of them failed its next command with "Connection
closed by server", seconds after Redis was back, and stopped the STT worker's lanes again in the
middle of a final (abandoned, redone after the 3 s claim delay). The first way of emptying it
closed connections that other loops on the same client (the STT replica's segmenter, its route
advertiser) had just taken; the segmenter's clean-up then failed outside the ride-out, and the
replica exited (CI of stop 22: stt-1, exit code 1, a second after Redis came back)."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from parley_common.outage import drop_idle_connections, ride_out
from parley_testkit.procs import free_port
from redis.exceptions import ConnectionError as RedisConnectionError

from bench.load.stack import RedisServer

READS_AT_ONCE = 4  # as the STT worker's lanes: finals, partials, claims, beats side by side


async def reads_at_once(r: aioredis.Redis) -> None:
    await asyncio.gather(*(r.blpop([f"nothing:{i}"], timeout=0.2) for i in range(READS_AT_ONCE)))


async def test_a_loop_restarts_once_after_a_redis_restart_not_per_pooled_connection() -> None:
    server = RedisServer(free_port(), persist=False)
    server.start()
    r = aioredis.from_url(server.url)
    runs = 0

    async def loop() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            await reads_at_once(r)  # the pool now holds READS_AT_ONCE connections
            await asyncio.to_thread(server.restart)
            await r.ping()  # on a connection the old server closed: the loop stops, as in an outage
        await reads_at_once(r)  # back: the work goes on, on every connection it needs

    try:
        await asyncio.wait_for(ride_out("test", r, loop, outage_s=10), 30)
        assert runs == 2, f"the loop was started {runs} times: stale pooled connections stopped it again"
    finally:
        await r.aclose()
        server.cleanup()


async def test_dropping_idle_connections_breaks_no_command_of_another_loop() -> None:
    """The recovering loop drops the idle connections while the other loops on the client go on;
    none of their commands may fail (with ConnectionPool.disconnect(inuse_connections=False) all
    of them did: 'Error UNKNOWN while writing to socket')."""
    server = RedisServer(free_port(), persist=False)
    server.start()
    r = aioredis.from_url(server.url)
    failures: list[str] = []

    async def another_loop() -> None:
        try:
            await r.blpop(["nothing"], timeout=0.05)
            await r.set("k", "v")
        except RedisConnectionError as exc:
            failures.append(str(exc))

    try:
        for _ in range(50):
            await reads_at_once(r)  # idle connections in the pool
            await asyncio.gather(drop_idle_connections(r), another_loop(), another_loop(), another_loop())
        assert failures == [], f"{len(failures)} commands of other loops failed, e.g. {failures[0]}"
        assert await r.get("k") == b"v"
    finally:
        await r.aclose()
        server.cleanup()


async def test_redis_failing_again_during_the_clean_up_is_ridden_out_too() -> None:
    """The segmenter's clean-up (releasing its speakers' leases) talks to Redis; when Redis fails
    again then, the loop waits again rather than ending the process."""
    server = RedisServer(free_port(), persist=False)
    server.start()
    r = aioredis.from_url(server.url)
    runs, clean_ups = 0, 0

    async def loop() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise RedisConnectionError("Connection closed by server.")

    async def release_all() -> None:
        nonlocal clean_ups
        clean_ups += 1
        if clean_ups == 1:  # as a connection that died with the old server fails
            raise RedisConnectionError("Error UNKNOWN while writing to socket. Connection lost.")
        await r.set("released", "1")

    try:
        await asyncio.wait_for(ride_out("segmenter", r, loop, outage_s=10, on_outage=release_all), 30)
        assert (runs, clean_ups) == (2, 2)
        assert await r.get("released") == b"1"
    finally:
        await r.aclose()
        server.cleanup()
