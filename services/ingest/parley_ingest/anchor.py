"""A producer's media timeline, anchored once in Redis and shared by every ingest replica.

The first replica to decode a producer's audio proposes "RTP timestamp T of its first packet is
epoch millisecond W" (when that packet's audio ended, by its clock); a Lua script stores it if no
anchor exists yet (SET NX semantics) and returns whichever anchor is stored, so every replica,
whenever it starts, maps the producer's RTP timestamps to the same times and stream ids. W is
moved past the speaker's newest audio entry so a new producer of the same speaker (a rejoin)
never maps onto ids that stream already used. The anchor is deleted when the producer closes.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from parley_common import keys

FRAME_MS = 20
WRAP = 1 << 32
MIN_AFTER_NEWEST_MS = 2 * FRAME_MS

# KEYS: anchor, the speaker's audio stream. ARGV: rtp timestamp, proposed epoch ms, ttl s, margin ms.
_CLAIM = """
local a = redis.call('GET', KEYS[1])
if a then return a end
local wall = tonumber(ARGV[2])
local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if top[1] then
  local ms = tonumber(string.match(top[1][1], '^(%d+)'))
  if ms + tonumber(ARGV[4]) > wall then wall = ms + tonumber(ARGV[4]) end
end
local v = ARGV[1] .. ':' .. string.format('%.0f', wall)
redis.call('SET', KEYS[1], v, 'EX', ARGV[3])
return v
"""


@dataclass(frozen=True, slots=True)
class Anchor:
    """RTP timestamp `rtp` (32-bit) of a producer is epoch millisecond `wall_ms`."""

    rtp: int
    wall_ms: int
    clock_rate: int = 48000

    def ticks(self, timestamp: int, wall: float) -> int:
        """RTP ticks since the anchor of a packet stamped `timestamp` that arrived at `wall`
        (epoch s): the 32-bit difference, unwrapped to the value nearest the wall clock's, so a
        replica that starts hours into a producer agrees with one that saw its first packet."""
        d = (timestamp - self.rtp) % WRAP
        expected = (wall * 1000 - self.wall_ms) * self.clock_rate / 1000
        return d + round((expected - d) / WRAP) * WRAP

    def frame_ms(self, index: int) -> int:
        """Epoch millisecond (and stream entry id) of frame `index`."""
        return self.wall_ms + FRAME_MS * index


async def claim_anchor(
    r: aioredis.Redis,
    producer: str,
    room: str,
    speaker: str,
    proposal: tuple[int, int],
    clock_rate: int,
    ttl_s: int,
) -> Anchor:
    """The producer's anchor: the stored one, or `proposal` (rtp timestamp, epoch ms) stored now."""
    raw = await r.eval(
        _CLAIM,
        2,
        keys.ingest_anchor(producer),
        keys.audio_stream(room, speaker),
        proposal[0],
        proposal[1],
        ttl_s,
        MIN_AFTER_NEWEST_MS,
    )
    rtp, _, wall_ms = (raw.decode() if isinstance(raw, bytes) else str(raw)).partition(":")
    return Anchor(int(rtp), int(wall_ms), clock_rate)


async def forget_anchor(r: aioredis.Redis, producer: str) -> None:
    await r.delete(keys.ingest_anchor(producer))
