"""The gateway keeps its listeners' languages wanted across a Redis restart.

Translators translate a final only into the languages a gateway still marks as wanted
(`room:{room}:langs`, refreshed every third of its TTL). A refresh that failed used to wait a full
period for the next try: in a load test, one refresh failed during a Redis restart, the next on a
connection the old server had closed, the third during a second restart, the Spanish mark expired
and two finals went untranslated at every Spanish listener. Now a failed refresh is tried again
until it goes through, within a second or two of Redis being back."""

from __future__ import annotations

import asyncio
import time

import redis
import redis.asyncio as aioredis
from parley_common import keys
from parley_gateway.fanout import Fanout
from parley_testkit.procs import free_port

from bench.load.stack import RedisServer

TTL_S = 30.0  # the default: refreshed every 10 s


async def test_a_refresh_missed_while_redis_was_away_is_made_as_soon_as_it_is_back() -> None:
    server = RedisServer(free_port())
    server.start()
    r = aioredis.from_url(server.url)
    fanout = Fanout(r, queue_size=10, language_ttl_s=TTL_S)
    fanout.start()
    try:
        await fanout.subscribe("room", "es")  # marked wanted until now + 30 s
        await asyncio.to_thread(server.stop)
        await asyncio.sleep(TTL_S / 3 + 1)  # the first refresh came while Redis was away
        await asyncio.to_thread(server.start)
        back = time.time()
        await asyncio.sleep(3.0)
        with redis.Redis.from_url(server.url) as fresh:  # the test's own pool went stale too
            until = fresh.zscore(keys.room_languages("room"), "es")
        # Refreshed since Redis came back (before: not until the next period, 10 s after the miss).
        assert until is not None and until >= back + TTL_S - 1, (until, back)
    finally:
        await fanout.stop()
        await r.aclose()
        server.cleanup()
