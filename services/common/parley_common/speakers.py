"""The live registry of rooms and speakers in Redis, written by whatever brings audio in
(the gateway from RTP, the feeder from files) and read by the segmenters."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from parley_common import keys
from parley_common.schemas import AudioFrame, check_name
from parley_common.streams import xadd_bounded

AUDIO_MAXLEN = 6000  # two minutes of 20 ms frames: jobs name ranges that must still be there


async def ensure_room(r: aioredis.Redis, room: str, *, language: str | None = None) -> float:
    """Create the room's live record if needed; returns its meeting start (t0, epoch s)."""
    check_name(room, "room")
    key = keys.room_info(room)
    await r.hsetnx(key, "t0", repr(time.time()))
    if language:
        await r.hset(key, "language", language)
    return float(await r.hget(key, "t0") or 0.0)


async def register_speaker(r: aioredis.Redis, room: str, speaker: str, name: str) -> None:
    check_name(speaker, "speaker")
    await r.hset(keys.room_speakers(room), speaker, name)
    await mark_active(r, room, speaker)


async def mark_active(r: aioredis.Redis, room: str, speaker: str) -> None:
    """Segmenters pick up speakers marked active in the last minute."""
    await r.zadd(keys.SPEAKERS_ACTIVE, {f"{room}/{speaker}": time.time()})


async def append_frame(r: aioredis.Redis, room: str, speaker: str, frame: AudioFrame) -> bytes:
    return await xadd_bounded(r, keys.audio_stream(room, speaker), frame.to_fields(), AUDIO_MAXLEN)


async def end_speaker(r: aioredis.Redis, room: str, speaker: str, ts: float) -> None:
    """The speaker stopped (left, closed or paused their microphone): their utterance ends now."""
    await append_frame(r, room, speaker, AudioFrame(ts=ts, pcm=b"", eof=True))
