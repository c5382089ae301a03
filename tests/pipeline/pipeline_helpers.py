"""Helpers for the pipeline tests: Redis URLs on test databases, caption listeners, clips."""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import websockets
from parley_common.procs import LocalStack
from parley_common.wer import read_transcription

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")


def redis_url(db: int) -> str:
    base = os.environ.get("PARLEY_REDIS_URL", "redis://127.0.0.1:6379/0")
    return base.rsplit("/", 1)[0] + f"/{db}"


def librivox() -> list[tuple[str, Path, str]]:
    """(id, wav path, transcript) of the LibriVox clips in Debian's pocketsphinx-testdata."""
    texts = read_transcription(LIBRIVOX)
    return [(k, LIBRIVOX / f"{k}.wav", texts[k]) for k in sorted(texts)]


@dataclass
class CaptionLog:
    events: list[dict[str, object]] = field(default_factory=list)

    def captions(self, kind: str | None = None) -> list[dict[str, object]]:
        out = [e["caption"] for e in self.events if e["type"] == "caption"]
        return [c for c in out if kind is None or c["type"] == kind]  # type: ignore[index]

    def finals(self) -> list[dict[str, object]]:
        return [c for c in self.captions("final") if c["text"]]


class Listener:
    """A caption WebSocket client that records everything it receives."""

    def __init__(self, stack: LocalStack, room: str, lang: str = "source", since: str = "") -> None:
        self.url = stack.caption_url(room, lang, since)
        self.log = CaptionLog()
        self._ws: websockets.ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Listener:
        self._ws = await websockets.connect(self.url)
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for raw in self._ws:
                self.log.events.append(json.loads(raw))
        except websockets.ConnectionClosed:
            pass

    async def send(self, msg: dict[str, object]) -> None:
        assert self._ws is not None
        await self._ws.send(json.dumps(msg))

    async def wait_for(self, predicate: object, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.log):  # type: ignore[operator]
                return True
            await asyncio.sleep(0.1)
        return False

    def last_event_id(self) -> str:
        ids = [str(e["event_id"]) for e in self.log.events if "event_id" in e]
        return ids[-1] if ids else ""

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            await self._task
