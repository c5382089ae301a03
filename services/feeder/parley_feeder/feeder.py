"""Feed 16 kHz mono PCM frames of a speaker into Redis, paced in real time or as fast as possible."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np
import redis.asyncio as aioredis
from parley_common import keys
from parley_common.schemas import SAMPLE_RATE, AudioFrame
from parley_common.speakers import append_frame, end_speaker, ensure_room, mark_active, register_speaker

FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000


def load_audio(path: str) -> np.ndarray:
    """Any file ffmpeg (PyAV) reads, as 16 kHz mono float32."""
    from faster_whisper.audio import decode_audio

    return np.asarray(decode_audio(path, sampling_rate=SAMPLE_RATE), dtype=np.float32)


def to_pcm16(audio: np.ndarray) -> bytes:
    return bytes((np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes())


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
            await append_frame(self.r, self.room, self.speaker, frame)
            self.clock += frame.samples / SAMPLE_RATE
            if self.clock - last_seen > 1.0:
                last_seen = self.clock
                await mark_active(self.r, self.room, self.speaker)
        return started

    async def silence(self, seconds: float) -> None:
        await self.play(np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32))

    async def end(self) -> None:
        """The speaker left: whatever they were saying becomes a final now."""
        await end_speaker(self.r, self.room, self.speaker, self.clock or time.time())


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
