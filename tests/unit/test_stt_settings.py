"""STT settings that would lose speech are refused at start, with the setting's name."""

from __future__ import annotations

import pytest
from parley_stt.settings import SttSettings
from pydantic import ValidationError


def test_an_utterance_longer_than_a_padded_window_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # A padded decode (partials, catch-up finals) reads one 30 s window: the audio of a 40 s
    # utterance past it would be missing from its caption.
    monkeypatch.setenv("PARLEY_STT_MAX_UTTERANCE_S", "40")
    with pytest.raises(ValidationError, match="max_utterance_s"):
        SttSettings()
    monkeypatch.setenv("PARLEY_STT_MAX_UTTERANCE_S", "28")
    assert SttSettings().segmenter_config().max_utterance_s == 28.0
