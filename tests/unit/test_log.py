"""JSON log lines carry a caption's room, speaker and caption id as fields (for Loki's labels)."""

from __future__ import annotations

import json
import logging

from parley_common.log import JsonFormatter, caption_context


def test_a_caption_path_log_line_names_its_room_speaker_and_caption() -> None:
    record = logging.LogRecord("parley.stt.worker", logging.WARNING, __file__, 1, "job failed", (), None)
    for key, value in caption_context("demo", "alice", "demo/alice/3", 1).items():
        setattr(record, key, value)  # what `extra=` does
    line = json.loads(JsonFormatter().format(record))
    assert (line["room"], line["speaker"], line["caption_id"], line["attempt"]) == (
        "demo",
        "alice",
        "demo/alice/3",
        1,
    )
    assert line["msg"] == "job failed" and line["level"] == "warning"


def test_empty_context_values_are_left_out() -> None:
    assert caption_context("demo") == {"room": "demo"}
