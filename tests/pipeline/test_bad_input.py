"""Malformed frames and jobs are dropped and counted; the worker keeps going."""

from __future__ import annotations

import json
import re
import urllib.request

import redis.asyncio as aioredis
from parley_common import keys
from parley_common.schemas import JobKind, SttJob
from parley_feeder.feeder import load_audio, open_speaker
from parley_testkit.procs import LocalStack
from pipeline_helpers import Listener, librivox


def bad_input_counts(stack: LocalStack) -> dict[str, float]:
    port = stack.procs["stt-1"].health_port
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(r'parley_stt_bad_input_total\{reason="(\w+)"\} (\S+)', text)
    }


async def test_malformed_frames_and_jobs_are_dropped_counted_and_harmless(
    stack: LocalStack, r: aioredis.Redis
) -> None:
    before = bad_input_counts(stack)
    sp = await open_speaker(r, "bad", "mallory", "Mallory", realtime=False, language="en")
    stream = keys.audio_stream("bad", "mallory")
    await r.xadd(stream, {"v": "1", "ts": "1.0", "pcm": b"\x01\x02\x03"})  # odd length
    await r.xadd(stream, {"v": "1", "ts": "1.0", "pcm": b"\x00" * 70_000})  # over one second
    await r.xadd(stream, {"v": "1", "ts": "soon", "pcm": b"\x00\x00"})  # bad timestamp
    await r.xadd(stream, {"v": "9", "ts": "1.0", "pcm": b"\x00\x00"})  # unknown schema version
    # Audio for a room nobody created.
    await r.xadd(keys.audio_stream("ghost", "casper"), {"v": "1", "ts": "1.0", "pcm": b"\x00" * 640})
    await r.zadd(keys.SPEAKERS_ACTIVE, {"ghost/casper": 9e9})
    # Jobs: no payload, not JSON, a bad field, oversized, and a well-formed one for an unknown room.
    await r.xadd(keys.STT_JOBS_FINAL, {"v": "1"})
    await r.xadd(keys.STT_JOBS_FINAL, {"v": "1", "data": "{not json"})
    await r.xadd(
        keys.STT_JOBS_FINAL, {"v": "1", "data": json.dumps({"kind": "final", "room": "bad", "utt": -1})}
    )
    await r.xadd(keys.STT_JOBS_FINAL, {"v": "1", "data": "x" * 70_000})
    ghost = SttJob(
        kind=JobKind.FINAL,
        room="ghost",
        speaker="casper",
        utt=0,
        attempt=0,
        start_id="0-0",
        end_id="+",
        start_ts=0,
        end_ts=1,
        created=0,
    )
    await r.xadd(keys.STT_JOBS_FINAL, ghost.to_fields())

    async with Listener(stack, "bad", "source") as li:
        await sp.play(load_audio(str(librivox()[1][1])))
        await sp.silence(1.0)
        await sp.end()
        assert await li.wait_for(lambda c: len(c.finals()) == 1, 60), "the worker stopped working"
    after = bad_input_counts(stack)
    grew = {k for k in after if after[k] > before.get(k, 0.0)}
    assert {
        "bad_frame_length",
        "bad_ts",
        "bad_version",
        "unknown_room",
        "missing_data",
        "bad_fields",
        "oversized",
    } <= grew, after
    assert li.finals()[0]["text"] == "He was not an ill-disposed young man."
    assert await r.xlen(keys.DEAD_LETTERS) >= 4
