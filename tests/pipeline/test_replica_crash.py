"""Two STT replicas; the one segmenting the speaker is SIGKILLed mid-utterance: nothing is lost,
nothing is shown twice."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from parley_common import keys
from parley_feeder.feeder import load_audio, open_speaker
from parley_testkit.procs import LocalStack
from parley_testkit.wer import wer
from pipeline_helpers import Listener, librivox, redis_url

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "logs"


@pytest.fixture
def two_replicas() -> Iterator[LocalStack]:
    url = redis_url(12)
    redis.Redis.from_url(url).flushdb()
    fast_failover = {"PARLEY_STT_LEASE_MS": "1500", "PARLEY_STT_CLAIM_IDLE_MS": "1500"}
    s = LocalStack(url, ARTIFACTS / "crash", env=fast_failover)
    s.start("stt-1", "parley_stt")
    s.start("stt-2", "parley_stt")
    s.start("translate-1", "parley_translate")
    s.start("gateway", "parley_gateway")
    s.wait_healthy()
    yield s
    s.stop()


async def test_killed_replica_loses_no_final_and_duplicates_none(two_replicas: LocalStack) -> None:
    stack = two_replicas
    clips = librivox()[2:5]
    r = aioredis.from_url(stack.redis_url)
    killed = ""
    async with Listener(stack, "crash", "source") as li:
        sp = await open_speaker(r, "crash", "speaker", "Speaker", realtime=True, language="en")

        async def killer() -> None:
            nonlocal killed
            # Mid-utterance: as soon as the first partial of the first clip is on screen.
            assert await li.wait_for(lambda c: len(c.captions("partial")) >= 1, 30)
            owner = await r.get(keys.segmenter_lease("crash", "speaker"))
            assert owner is not None
            killed = owner.decode()
            stack.procs[killed].kill(signal.SIGKILL)

        kill_task = asyncio.create_task(killer())
        for _, path, _ in clips:
            await sp.play(load_audio(str(path)))
            await sp.silence(1.5)
        await sp.end()
        await kill_task
        assert await li.wait_for(lambda c: len(c.finals()) >= len(clips), 60)
        await asyncio.sleep(3.0)  # time for a duplicate to show up, if one were coming
    await r.aclose()
    assert killed in ("stt-1", "stt-2")
    finals = li.finals()
    per_id = Counter(str(f["id"]) for f in finals)
    assert all(n == 1 for n in per_id.values()), per_id
    assert len(finals) == len(clips), [f["text"] for f in finals]
    assert wer([t for _, _, t in clips], [str(f["text"]) for f in finals]) <= 0.05
