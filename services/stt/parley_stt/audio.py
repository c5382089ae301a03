"""A job's audio: the frames it names, read back from the speaker's stream as 16 kHz float32."""

from __future__ import annotations

import logging

import numpy as np
import redis.asyncio as aioredis
from parley_common import keys
from parley_common.schemas import AudioFrame, BadMessage, SttJob

log = logging.getLogger("parley.stt.audio")


async def job_audio(r: aioredis.Redis, job: SttJob) -> np.ndarray | None:
    """None when the frames are gone (trimmed from the stream)."""
    rows = await r.xrange(keys.audio_stream(job.room, job.speaker), min=job.start_id, max=job.end_id)
    chunks = []
    for _eid, fields in rows:
        try:
            chunks.append(AudioFrame.from_fields(fields).pcm)
        except BadMessage:
            continue
    if not chunks:
        log.warning(
            "audio of a job is gone (trimmed?) [room:%s, speaker:%s, utt:%d]", job.room, job.speaker, job.utt
        )
        return None
    return np.frombuffer(b"".join(chunks), dtype="<i2").astype(np.float32) / 32768.0
