"""The interface every translation engine implements."""

from __future__ import annotations

from typing import Protocol

from parley_common.routes import EngineInfo


class TranslationError(RuntimeError):
    pass


class Engine(Protocol):
    name: str

    def supports(self, source: str, target: str) -> bool:
        """Whether this engine translates Whisper language `source` into `target`."""

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        """Translate a batch (blocking; the service runs it in a thread)."""

    def info(self) -> EngineInfo:
        """The pairs it serves, as the replica advertises them (parley_common.routes)."""
