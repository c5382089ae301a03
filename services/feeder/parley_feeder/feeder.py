"""Feed 16 kHz mono PCM frames of a speaker into Redis, paced in real time or as fast as possible."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np
import redis.asyncio as aioredis
from parley_common import keys
from parley_common.schemas import SAMPLE_RATE, AudioFrame, check_name
from parley_common.streams import xadd_bounded

FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
AUDIO_MAXLEN = 6000  # two minutes of 20 ms frames: jobs name ranges that must still be there


def load_audio(path: str) -> np.ndarray:
    """Any file ffmpeg (PyAV) reads, as 16 kHz mono float32."""
    from faster_whisper.audio import decode_audio

    return np.asarray(decode_audio(path, sampling_rate=SAMPLE_RATE), dtype=np.float32)


def to_pcm16(audio: np.ndarray) -> bytes:
    return bytes((np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes())


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
    await r.zadd(keys.SPEAKERS_ACTIVE, {f"{room}/{speaker}": time.time()})


@dataclass
class Speaker:
    r: aioredis.Redis
    room: str
    speaker: str
    realtime: bool = True
    clock: float = 0.0  # epoch s of the next frame's first sample

    @property
    def stream(self) -> str:
        return keys.audio_stream(self.room, self.speaker)

    async def play(self, audio: np.ndarray) -> float:
        """Send `audio`; returns the epoch time of its first sample."""
        if not self.clock:
            self.clock = time.time()
        if self.realtime:
            self.clock = max(self.clock, time.time())  # never pretend to have spoken in the past
        started = self.clock
        pcm = to_pcm16(audio)
        step = FRAME_SAMPLES * 2
        last_seen = 0.0
        for off in range(0, len(pcm), step):
            if self.realtime:
                delay = self.clock - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            frame = AudioFrame(ts=self.clock, pcm=pcm[off : off + step])
            await xadd_bounded(self.r, self.stream, frame.to_fields(), AUDIO_MAXLEN)
            self.clock += frame.samples / SAMPLE_RATE
            if self.clock - last_seen > 1.0:
                last_seen = self.clock
                await self.r.zadd(keys.SPEAKERS_ACTIVE, {f"{self.room}/{self.speaker}": time.time()})
        return started

    async def silence(self, seconds: float) -> None:
        await self.play(np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32))

    async def end(self) -> None:
        """The speaker left: whatever they were saying becomes a final now."""
        await xadd_bounded(
            self.r,
            self.stream,
            AudioFrame(ts=self.clock or time.time(), pcm=b"", eof=True).to_fields(),
            AUDIO_MAXLEN,
        )


async def open_speaker(
    r: aioredis.Redis,
    room: str,
    speaker: str,
    name: str = "",
    *,
    realtime: bool = True,
    language: str | None = None,
) -> Speaker:
    await ensure_room(r, room, language=language)
    await register_speaker(r, room, speaker, name or speaker)
    return Speaker(r, room, speaker, realtime=realtime)
