"""The warm apertium pipeline translates exactly as the `apertium` command does, in milliseconds."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest
from parley_translate.engines import apertium
from parley_translate.engines.apertium import ApertiumEngine
from parley_translate.engines.base import TranslationError

pytestmark = pytest.mark.skipif(
    shutil.which("apertium") is None, reason="needs apertium-eng-spa (bootstrap installs it)"
)

TEXTS = [
    "He was not an ill-disposed young man.",
    "And Mr. John Dashwood had then leisure to consider how much there might be prudently in his power to do for them.",
    "Let's take a 5 minute break & come back at 10:30 [really] <maybe> $5 #1 100% a/b \\ ^x$ @y {z}",
    "Zorblax went to the qwertz store!",
    "our budget for the third quarter is still under review",
    "Is it? Yes. No...",
]


def reference(text: str) -> str:
    out = subprocess.run(
        ["apertium", "-u", "eng-spa"], input=text, capture_output=True, text=True, check=True
    )
    return " ".join(out.stdout.split())  # the engine also folds apertium's double spaces


def test_warm_pipeline_matches_the_apertium_command() -> None:
    engine = ApertiumEngine()
    try:
        assert engine.supports("en", "es") and not engine.supports("en", "vi")
        assert engine.translate(TEXTS, "en", "es") == [reference(t) for t in TEXTS]
        start = time.perf_counter()
        engine.translate(TEXTS, "en", "es")
        assert (time.perf_counter() - start) / len(TEXTS) < 0.1  # warm: no pair loading per caption
    finally:
        engine.close()


def test_a_dead_or_stuck_pipeline_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apertium, "TIMEOUT_S", 1.0)
    engine = ApertiumEngine()
    try:
        first = engine.translate(TEXTS[:1], "en", "es")
        pipe = engine._pipelines["eng-spa"]
        assert pipe.proc is not None
        dead = pipe.proc.pid
        os.killpg(dead, signal.SIGKILL)
        pipe.proc.wait()
        assert engine.translate(TEXTS[:1], "en", "es") == first
        assert pipe.proc.pid != dead
        # A stage that stops answering: the call fails clearly, the next one gets a fresh pipeline.
        os.killpg(pipe.proc.pid, signal.SIGSTOP)
        stuck = pipe.proc.pid
        with pytest.raises(TranslationError):
            engine.translate(TEXTS[:1], "en", "es")
        assert engine.translate(TEXTS[:1], "en", "es") == first
        assert pipe.proc.pid != stuck
    finally:
        engine.close()


def test_reports_the_pairs_of_the_installed_modes() -> None:
    """What a translate replica advertises (parley_common.routes): a pair per installed mode, in
    Whisper codes, both spellings of apertium's names (eng-spa, en-gl), and no variant modes."""
    engine = ApertiumEngine()
    info = engine.info()
    assert info.name == "apertium" and info.kind == "text" and {"en-es", "es-en"} <= set(info.pairs)
    modes = {m for m in engine.modes if "_" not in m}
    # Each plain mode gives its pair(s); eng-cat_valencia and the like give none.
    assert {engine._mode(*pair.split("-")) for pair in info.pairs} == modes
    for pair in info.pairs:
        source, target = pair.split("-")
        assert engine.supports(source, target) and info.serves(source, target)
    assert not info.serves("en", "vi") and not info.serves("en", "en")
