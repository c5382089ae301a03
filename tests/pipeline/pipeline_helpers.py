"""Helpers for the pipeline tests: Redis URLs on test databases, caption listeners, clips."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
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
