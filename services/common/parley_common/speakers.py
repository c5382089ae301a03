"""The live registry of rooms and speakers in Redis, written by whatever brings audio in
(parley-ingest from RTP, the feeder from files) and read by the segmenters.

Audio stream entry ids: the feeder lets Redis pick them ("*"); the RTP ingest gives each frame an
id from the producer's media timeline (`<epoch ms of the frame>-0`, the end of an utterance
`<ms of its last frame>-1`), so when two ingest replicas append the same frame Redis keeps the
first and refuses the second (`append_frame` returns None). Readers treat ids as opaque, ordered
positions (XREAD after an id, XRANGE between two)."""

from __future__ import annotations

import time

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from parley_common import keys
from parley_common.schemas import AudioFrame, check_name
from parley_common.streams import is_id_taken, xadd_bounded

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


async def append_frame(
    r: aioredis.Redis, room: str, speaker: str, frame: AudioFrame, entry_id: str = "*"
) -> bytes | None:
    """Append a frame; with an explicit `entry_id`, None if the stream already holds that id or a
    later one (another ingest replica appended this frame first)."""
    try:
        return await xadd_bounded(
            r, keys.audio_stream(room, speaker), frame.to_fields(), AUDIO_MAXLEN, entry_id
        )
    except ResponseError as exc:
        if entry_id != "*" and is_id_taken(exc):
            return None
        raise


async def end_speaker(
    r: aioredis.Redis, room: str, speaker: str, ts: float, entry_id: str = "*"
) -> bytes | None:
    """The speaker stopped (left, closed or paused their microphone): their utterance ends now."""
    return await append_frame(r, room, speaker, AudioFrame(ts=ts, pcm=b"", eof=True), entry_id)
