"""Keep credentials out of the logs (which are shipped to Loki, read by more people than may join
a meeting): join tokens in `?token=` (caption sockets), invite codes in `/invites/{code}/join`,
`/join/{code}` and `?invite=`. A filter on the root handlers rewrites each record's message."""

from __future__ import annotations

import logging
import re

PATTERNS = (
    (re.compile(r"([?&](?:token|invite)=)[^&\s\"']+"), r"\1[redacted]"),
    (re.compile(r"(/invites/)[^/\s\"'?]+(/join)"), r"\1[redacted]\2"),
    (re.compile(r"(/join/)[^/\s\"'?]+"), r"\1[redacted]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"), "[redacted jwt]"),
)


def redact(text: str) -> str:
    for pattern, repl in PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install() -> None:
    """On every handler of the root logger (call after parley_common.log.setup_logging)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactFilter) for f in handler.filters):
            handler.addFilter(RedactFilter())
