"""Exactly-once caption publishing: each check-and-append runs as one Lua script inside Redis,
so a retried job (a replica died after publishing, before XACK) can never publish twice."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from parley_common import keys
from parley_common.schemas import Caption

CAPTIONS_MAXLEN = 10_000
TRANSLATE_MAXLEN = 10_000
MARKER_TTL_S = 24 * 3600

# KEYS: marker, stream[, second stream]  ARGV: maxlen, ttl, data
_PUBLISH_ONCE = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then return false end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'v', '1', 'data', ARGV[3])
if KEYS[3] then redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', 'v', '1', 'data', ARGV[3]) end
return id
"""

# A partial goes out only while its utterance has no final yet (finals supersede partials).
# KEYS: utterance hash, captions stream[, translate partial stream]  ARGV: maxlen, data
_PUBLISH_PARTIAL = """
if redis.call('HEXISTS', KEYS[1], 'published') == 1 then return false end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'v', '1', 'data', ARGV[2])
if KEYS[3] then redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', 'v', '1', 'data', ARGV[2]) end
return id
"""

# A final is decoded speculatively when silence begins; it goes out once the end of speech is
# confirmed for the same attempt. Whichever side comes second (decoder or end-of-speech decision)
# publishes, exactly once. A Lua function body shared by the scripts below.
PUBLISH_FINAL_IF_READY_LUA = """
local function publish_final_if_ready(ukey, captions, translate, maxlen, persist)
  local confirmed = redis.call('HGET', ukey, 'confirmed')
  if not confirmed then return false end
  local data = redis.call('HGET', ukey, 'result:' .. confirmed)
  if not data then return false end
  if redis.call('HSETNX', ukey, 'published', confirmed) == 0 then return false end
  local eos = redis.call('HGET', ukey, 'eos') or '0'
  local t = redis.call('TIME')
  local now = string.format('%d.%06d', t[1], t[2])
  local id = redis.call('XADD', captions, 'MAXLEN', '~', maxlen, '*', 'v', '1', 'data', data, 'eos', eos, 'pub', now)
  redis.call('XADD', translate, 'MAXLEN', '~', maxlen, '*', 'v', '1', 'data', data, 'eos', eos, 'pub', now)
  redis.call('XADD', persist, 'MAXLEN', '~', maxlen, '*', 'v', '1', 'data', data, 'eos', eos, 'pub', now)
  return id
end
"""

# KEYS: utterance hash, captions stream, translate final stream, persist stream  ARGV: maxlen, attempt, data, ttl
_STORE_FINAL = (
    PUBLISH_FINAL_IF_READY_LUA
    + """
redis.call('HSET', KEYS[1], 'result:' .. ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return publish_final_if_ready(KEYS[1], KEYS[2], KEYS[3], ARGV[1], KEYS[4])
"""
)


class Publisher:
    def __init__(self, r: aioredis.Redis) -> None:
        self.r = r
        self._once = r.register_script(_PUBLISH_ONCE)
        self._partial = r.register_script(_PUBLISH_PARTIAL)
        self._store_final = r.register_script(_STORE_FINAL)

    async def partial(self, caption: Caption, *, translate: bool) -> bool:
        stamped = caption.model_copy(
            update={"timing": caption.timing.model_copy(update={"published": time.time()})}
        )
        streams = [keys.captions_stream(caption.room)]
        if translate:
            streams.append(keys.TRANSLATE_JOBS_PARTIAL)
        res = await self._partial(
            keys=[keys.utterance_state(caption.id), *streams],
            args=[CAPTIONS_MAXLEN, stamped.model_dump_json()],
        )
        return res is not None

    async def store_final_result(self, caption: Caption, attempt: int) -> bool:
        """Store a decoded final for `attempt`; publish it if its end of speech is already confirmed."""
        res = await self._store_final(
            keys=[
                keys.utterance_state(caption.id),
                keys.captions_stream(caption.room),
                keys.TRANSLATE_JOBS_FINAL,
                keys.PERSIST_CAPTIONS,
            ],
            args=[CAPTIONS_MAXLEN, attempt, caption.model_dump_json(), MARKER_TTL_S],
        )
        return res is not None

    async def once(self, marker: str, caption: Caption) -> bool:
        """Publish a final translation at most once per marker (to the room and the transcript store)."""
        stamped = caption.model_copy(
            update={"timing": caption.timing.model_copy(update={"published": time.time()})}
        )
        res = await self._once(
            keys=[marker, keys.captions_stream(caption.room), keys.PERSIST_CAPTIONS],
            args=[CAPTIONS_MAXLEN, MARKER_TTL_S, stamped.model_dump_json()],
        )
        return res is not None
