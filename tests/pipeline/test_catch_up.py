"""A final that waited for a worker (after a Redis outage, behind a backlog) is decoded with the
cheaper padded window to catch up; when that window finds no words, the stock window decides. On
the real model (Whisper base int8) and a real Redis: LibriVox 0880 after 5 s of silence reads as
nothing in the padded window (its repetition into the padding trips the compression gate) and as
"He was not an ill-disposed young man." in the stock one. Before, that utterance got an empty final
(lost at every listener)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import redis.asyncio as aioredis
from parley_common import keys
from parley_feeder.feeder import load_audio
from parley_stt import gate
from parley_stt.engine import DecodeOptions, WhisperEngine
from parley_stt.settings import SttSettings
from parley_stt.worker import Worker
from parley_testkit.wer import wer
from pipeline_helpers import librivox, spoken_job
from prometheus_client import REGISTRY

ROOM, SPEAKER = "catchup", "alice"


@pytest.fixture(scope="module")
def engine() -> WhisperEngine:
    return WhisperEngine(SttSettings(cpu_threads=2))


def finals_gated() -> float:
    """parley_stt_gate_total for finals, all verdicts."""
    return sum(
        REGISTRY.get_sample_value("parley_stt_gate_total", {"kind": "final", "verdict": v.value}) or 0.0
        for v in gate.Verdict
    )


async def test_an_empty_catch_up_final_is_decoded_again_in_the_stock_window(
    scratch_redis: aioredis.Redis, engine: WhisperEngine
) -> None:
    r = scratch_redis
    _, path, reference = librivox()[1]  # 0880
    audio = np.concatenate([np.zeros(5 * 16000, np.float32), load_audio(str(path))])
    padded = engine.transcribe(audio, DecodeOptions(window="padded", language="en", pad_s=5.0))
    assert padded.text == "", padded  # what made this utterance's final empty before

    settings = SttSettings(cpu_threads=2, catch_up_after_s=1.0, speech_translate=False)
    worker = Worker(r, settings, engine)
    spoken_at = time.time() - 20
    await r.hset(keys.room_info(ROOM), mapping={"t0": spoken_at, "language": "en"})
    # It waited 3 s for a worker: catch-up.
    job = await spoken_job(r, ROOM, SPEAKER, audio, spoken_at, created=time.time() - 3)
    gated_before = finals_gated()
    assert await worker._do(job) == "published"
    assert finals_gated() - gated_before == 1  # one caption, one verdict: the redo is not counted twice
    state = await r.hgetall(keys.utterance_state(keys.caption_id(ROOM, SPEAKER, 0)))
    caption = json.loads(state[b"result:0"])
    assert wer([reference], [caption["text"]]) <= 0.15, caption["text"]
