"""Helpers for the pipeline tests: Redis URLs on test databases, caption listeners, clips."""

from __future__ import annotations

import os
from pathlib import Path

from parley_testkit.caption_client import CaptionClient
from parley_testkit.procs import LocalStack
from parley_testkit.wer import read_transcription

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")


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
