"""What reached Redis of each speaker's audio during a run: lost audio (a gap between consecutive
frames of a stream) and frames stored twice (two frames less than 20 ms apart). The load speakers
send RTP without pause (a clip, else silence), so every speaker's stream must be gap-free from its
first frame; an end of utterance (a producer paused or closed) starts a new stretch.

Read every few seconds (a stream keeps its last 6000 frames, two minutes) with XRANGE after the
last id seen; the frame ids are the ingest's media timeline (`<epoch ms>-0`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from parley_common import redisconn

FRAME_MS = 20


@dataclass
class AudioAudit:
    redis_url: str
    streams: list[str]
    frames: dict[str, list[tuple[int, bool]]] = field(default_factory=dict)  # stream -> (ms, eof)
    _last: dict[str, str] = field(default_factory=dict)

    async def run(self, interval: float = 5.0) -> None:
        while True:
            await self.poll()
            await asyncio.sleep(interval)

    async def poll(self) -> None:
        r = redisconn.connect(self.redis_url)
        try:
            for s in self.streams:
                while True:
                    last = self._last.get(s)
                    rows: list[Any] = await r.xrange(s, min=f"({last}" if last else "-", max="+", count=5000)
                    for eid, fields in rows:
                        self._last[s] = eid.decode()
                        self.frames.setdefault(s, []).append(
                            (int(eid.split(b"-")[0]), fields.get(b"eof") == b"1")
                        )
                    if len(rows) < 5000:
                        break
        except (OSError, aioredis.RedisError):
            pass  # Redis restarting (a fault): the next poll reads on from the last id
        finally:
            await r.aclose()

    def report(self) -> dict[str, Any]:
        lost_ms = 0
        twice = 0
        gaps: list[dict[str, Any]] = []
        for s, frames in self.frames.items():
            prev: int | None = None
            for ms, eof in frames:
                if eof:
                    prev = None
                    continue
                if prev is not None:
                    step = ms - prev
                    if step > FRAME_MS:
                        lost_ms += step - FRAME_MS
                        gaps.append({"stream": s, "at_ms": prev + FRAME_MS, "lost_ms": step - FRAME_MS})
                    elif step < FRAME_MS:
                        twice += 1
                prev = ms
        return {
            "lost_audio_ms": lost_ms,
            "duplicate_frames": twice,
            "audio_frames": sum(sum(1 for _, eof in f if not eof) for f in self.frames.values()),
            "audio_gaps": gaps[:20],
        }
