"""One logging set-up for every service: plain lines for people, JSON lines for Loki.

A log call on a caption's path passes `extra=caption_context(...)`: its JSON line then carries
`room`, `speaker` and `caption_id` as fields (and `attempt` where there is one), so Loki finds
every line of one caption, from its segmenting to its translation, by label."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("room", "speaker", "caption_id", "attempt"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def caption_context(
    room: str, speaker: str = "", caption_id: str = "", attempt: int | None = None
) -> dict[str, Any]:
    """`extra=` for a log call on a caption's path (empty values are left out)."""
    out: dict[str, Any] = {"room": room}
    if speaker:
        out["speaker"] = speaker
    if caption_id:
        out["caption_id"] = caption_id
    if attempt is not None:
        out["attempt"] = attempt
    return out


def setup_logging(level: str = "INFO", json_lines: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
