"""Helpers for the pipeline tests: Redis URLs on test databases, caption listeners, clips."""

from __future__ import annotations

import os
import shutil
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import redis
import redis.asyncio as aioredis
from parley_common import keys
from parley_common.schemas import AudioFrame, JobKind, SttJob
from parley_testkit.caption_client import CaptionClient
from parley_testkit.procs import LocalStack
from parley_testkit.wer import read_transcription

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "logs"
needs_apertium = pytest.mark.skipif(shutil.which("apertium") is None, reason="needs apertium-eng-spa")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")


def redis_url(db: int) -> str:
    base = os.environ.get("PARLEY_REDIS_URL", "redis://127.0.0.1:6379/0")
    return base.rsplit("/", 1)[0] + f"/{db}"


def librivox() -> list[tuple[str, Path, str]]:
    """(id, wav path, transcript) of the LibriVox clips in Debian's pocketsphinx-testdata."""
    texts = read_transcription(LIBRIVOX)
    return [(k, LIBRIVOX / f"{k}.wav", texts[k]) for k in sorted(texts)]


async def spoken_job(
    r: aioredis.Redis,
    room: str,
    speaker: str,
    audio: np.ndarray,
    spoken_at: float,
    kind: JobKind = JobKind.FINAL,
    created: float | None = None,
) -> SttJob:
    """The audio in the speaker's stream as the ingest writes it (20 ms frames), and an STT job of
    `kind` for it (utterance 0), made at `created` (default: when the speech ended)."""
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    ids = []
    for i in range(0, len(pcm), 320):
        frame = AudioFrame(ts=spoken_at + i / 16000, pcm=pcm[i : i + 320].tobytes())
        ids.append((await r.xadd(keys.audio_stream(room, speaker), frame.to_fields())).decode())
    end = spoken_at + len(audio) / 16000
    return SttJob(
        kind=kind,
        room=room,
        speaker=speaker,
        utt=0,
        attempt=0,
        start_id=ids[0],
        end_id=ids[-1],
        start_ts=spoken_at,
        end_ts=end,
        created=end if created is None else created,
    )


def metric_lines(stack: LocalStack, name: str) -> list[str]:
    """The samples of metric `name` on the stack's STT replica."""
    port = stack.procs["stt-1"].health_port
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return [line for line in text.splitlines() if line.startswith(name + "{")]


def metric(stack: LocalStack, name: str, having: str = "") -> float:
    """The sum of metric `name`'s samples (those whose labels contain `having`)."""
    return sum(float(line.split()[-1]) for line in metric_lines(stack, name) if having in line)


def Listener(stack: LocalStack, room: str, lang: str = "source", since: str = "") -> CaptionClient:
    """A caption WebSocket client for `room`, with a listener's join token."""
    return CaptionClient(stack.caption_url(room, lang, since))


@contextmanager
def translate_and_gateway(db: int, name: str) -> Iterator[LocalStack]:
    """A translate replica (apertium) and a gateway on Redis database `db`, flushed first."""
    url = redis_url(db)
    redis.Redis.from_url(url).flushdb()
    s = LocalStack(url, ARTIFACTS / name)
    s.start("translate-1", "parley_translate")
    s.start("gateway", "parley_gateway")
    try:
        s.wait_healthy()
        yield s
    finally:
        s.stop()
