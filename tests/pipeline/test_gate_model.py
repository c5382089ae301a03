"""The decoder-evidence gate on the real model (Whisper base int8, in this process): English
speech is shown as it is; Whisper's "translations" of Vietnamese it cannot read (espeak-ng) are
fluent English that has nothing to do with what was said, and must never be shown."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from faster_whisper import decode_audio
from parley_stt.engine import DecodeOptions, WhisperEngine
from parley_stt.gate import Verdict, judge
from parley_stt.settings import SttSettings
from parley_stt.speech_translate import translate_options, verdict_on
from pipeline_helpers import librivox, needs_espeak

pytestmark = needs_espeak


@pytest.fixture(scope="module")
def engine() -> WhisperEngine:
    return WhisperEngine(SttSettings(cpu_threads=2))


def test_english_finals_pass_the_gate(engine: WhisperEngine) -> None:
    settings = SttSettings()
    for _, path, _ in librivox()[:3]:
        result = engine.transcribe(decode_audio(str(path)), DecodeOptions(window="full", language="en"))
        assert judge(result.evidence(), settings.gate_config()) == (Verdict.SHOW, ""), result


def test_speech_translation_of_unreadable_vietnamese_is_withheld(
    engine: WhisperEngine, tmp_path: Path
) -> None:
    cfg = SttSettings().gate_config()
    for i, text in enumerate(
        ["Cảm ơn anh, phần tóm tắt đó rất hữu ích.", "Hôm nay ai ghi biên bản cuộc họp?"]
    ):
        wav = tmp_path / f"vi{i}.wav"
        subprocess.run(["espeak-ng", "-v", "vi", "-s", "125", "-w", str(wav), text], check=True)
        audio = decode_audio(str(wav))
        transcript = engine.transcribe(audio, DecodeOptions(window="full", language="vi"))
        src_verdict, src_why = judge(transcript.evidence(), cfg)
        assert src_verdict is not Verdict.SHOW, transcript  # about 70 % WER: never a plain caption
        translation = engine.transcribe(audio, translate_options("vi"))
        verdict, why = verdict_on(translation, src_why, cfg)
        assert verdict is Verdict.WITHHOLD and why, (translation.text, why)
        assert translation.temperature == 0.0  # no sampling fallback is paid for a translation
