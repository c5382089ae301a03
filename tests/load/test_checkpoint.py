"""The segmenter commits a speaker's checkpoint with every job and otherwise at most every
`checkpoint_s` (found by profiling the 10-room load: a 16 KB checkpoint after every 20 ms read
cost more than the VAD). Real Redis, the real segmenter and VAD, a real clip fed in real time."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from parley_common import keys
from parley_feeder.feeder import load_audio, open_speaker
from parley_stt.segmenter_loop import Segmenter
from parley_stt.settings import SttSettings
from parley_testkit.procs import free_port

from bench.load.stack import RedisServer

CLIP = "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav"


@pytest.mark.parametrize("checkpoint_s", [0.0, 0.5])
async def test_silence_is_checkpointed_sparingly_and_speech_still_makes_jobs(checkpoint_s: float) -> None:
    server = RedisServer(free_port(), persist=False)
    server.start()
    r = aioredis.from_url(server.url)
    try:
        seg = Segmenter(r, SttSettings(redis_url=server.url, checkpoint_s=checkpoint_s))
        commits = 0
        commit = seg.publisher.commit_segmenter

        async def counted(*args: object, **kwargs: object) -> object:
            nonlocal commits
            commits += 1
            return await commit(*args, **kwargs)

        seg.publisher.commit_segmenter = counted  # type: ignore[method-assign]
        task = asyncio.create_task(seg.run())
        sp = await open_speaker(r, "ck", "ana", "Ana", realtime=True, language="en")
        await sp.silence(3.0)
        silent = commits
        await sp.play(load_audio(CLIP))
        await sp.silence(1.0)
        await sp.end()
        for _ in range(100):
            if not seg.owned and await r.xlen(keys.STT_JOBS_FINAL):
                break
            await asyncio.sleep(0.1)
        task.cancel()
        finals = await r.xlen(keys.STT_JOBS_FINAL)
    finally:
        await r.aclose()
        server.cleanup()
    print(
        f"checkpoint_s={checkpoint_s}: {silent} commits in 3 s of silence, {commits} in all, {finals} final jobs"
    )
    assert finals >= 1
    if checkpoint_s:
        assert silent <= 3.0 / checkpoint_s + 2, silent
    else:
        assert silent >= 50, silent  # every read: what the setting saves
