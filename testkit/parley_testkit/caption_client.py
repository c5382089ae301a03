"""A caption WebSocket client that records what it receives, with arrival times: what tests, the
benchmark and load tools use to watch captions the way a listener's screen gets them."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import websockets
from parley_common.caption_messages import SERVER_MESSAGE


class CaptionClient:
    def __init__(self, url: str) -> None:
        self.url = url
        self.received: list[tuple[float, dict[str, Any]]] = []  # (epoch s, message)
        self._ws: websockets.ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def events(self) -> list[dict[str, Any]]:
        return [m for _, m in self.received]

    def captions(self, kind: str | None = None) -> list[dict[str, Any]]:
        out = [m["caption"] for m in self.events if m.get("type") == "caption"]
        return [c for c in out if kind is None or c["type"] == kind]

    def finals(self) -> list[dict[str, Any]]:
        """Finals with text, in arrival order (an empty final only retracts its partials)."""
        return [c for c in self.captions("final") if c["text"]]

    def last_event_id(self) -> str:
        ids = [str(m["event_id"]) for m in self.events if "event_id" in m]
        return ids[-1] if ids else ""

    async def __aenter__(self) -> CaptionClient:
        self._ws = await websockets.connect(self.url, max_size=2**20)
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for raw in self._ws:
                msg = json.loads(raw)
                # Every message must match the contract (parley_common.caption_messages): one that
                # does not ends the reader, and the error comes out of the `async with`.
                SERVER_MESSAGE.validate_python(msg)
                self.received.append((time.time(), msg))
        except websockets.ConnectionClosed:
            pass

    async def send(self, msg: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send(json.dumps(msg))

    async def wait_for(self, predicate: Callable[[CaptionClient], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            await asyncio.sleep(0.1)
        return predicate(self)

    async def wait_finals(self, n: int, timeout: float) -> list[dict[str, Any]]:
        await self.wait_for(lambda c: len(c.finals()) >= n, timeout)
        return self.finals()

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            await self._task
