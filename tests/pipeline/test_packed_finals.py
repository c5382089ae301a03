"""Finals packed into one window (issue 16's knee): when several finals wait for a free STT
replica, those of one language are decoded together in one stock 30 s window, one encoder pass for
all. On the real model, each clip's share of a packed decode says what a decode of the clip alone
says (the stock window's accuracy), and a clip Whisper finds no speech in comes back for a decode
of its own; through the real services, four speakers who stop talking at the same moment each get
exactly one final with their own words, and the replica decoded some of them packed."""

from __future__ import annotations

import asyncio
import re
import urllib.request
from collections.abc import Iterator

import numpy as np
import pytest
import redis.asyncio as aioredis
from parley_feeder.feeder import load_audio, open_speaker
from parley_stt.engine import DecodeOptions, WhisperEngine, pack_fits
from parley_stt.settings import SttSettings
from parley_testkit.procs import LocalStack
from parley_testkit.wer import wer
from pipeline_helpers import Listener, librivox

CLIPS = librivox()  # 0870 (7.1 s), 0880 (3.0 s), 0890 (5.3 s), 0920 (6.1 s), 0930 (3.3 s)
FULL = DecodeOptions(window="full", language="en")


@pytest.fixture(scope="module")
def engine() -> WhisperEngine:
    return WhisperEngine(SttSettings(cpu_threads=2))


@pytest.fixture
def encoder_passes(engine: WhisperEngine) -> Iterator[list[int]]:
    """Counts the model's encoder passes (faster-whisper's WhisperModel.encode)."""
    calls: list[int] = []
    original = engine.model.encode

    def counting(features: object) -> object:
        calls.append(1)
        return original(features)  # type: ignore[arg-type]

    engine.model.encode = counting  # type: ignore[method-assign]
    yield calls
    engine.model.encode = original  # type: ignore[method-assign]


def test_each_packed_clip_reads_as_it_does_alone(engine: WhisperEngine, encoder_passes: list[int]) -> None:
    clips = [load_audio(str(path)) for _, path, _ in CLIPS[1:]]  # 0880 0890 0920 0930: 17.7 s
    refs = [text for _, _, text in CLIPS[1:]]
    assert pack_fits([len(c) / 16000 for c in clips])
    alone = [engine.transcribe(c, FULL).text for c in clips]
    passes_alone = len(encoder_passes)
    packed = engine.transcribe_packed(clips, FULL)
    # One encoder pass, or two where Whisper ends its first window early and decodes the rest in a
    # second (as it does for long audio): half or less of the four passes alone.
    assert len(encoder_passes) - passes_alone <= len(clips) // 2, len(encoder_passes) - passes_alone
    assert all(p is not None for p in packed), packed
    texts = [p.text for p in packed if p is not None]
    assert wer(refs, texts) <= wer(refs, alone), (texts, alone)
    for text, ref in zip(texts, refs, strict=True):  # each clip got its own words, not a neighbour's
        assert wer([ref], [text]) <= 0.15, (ref, text)


def test_a_clip_without_speech_comes_back_for_a_decode_of_its_own(engine: WhisperEngine) -> None:
    speech = load_audio(str(CLIPS[1][1]))
    hiss = np.random.default_rng(1).normal(0, 0.002, 3 * 16000).astype(np.float32)
    packed = engine.transcribe_packed([speech, hiss], FULL)
    assert packed[0] is not None and wer([CLIPS[1][2]], [packed[0].text]) <= 0.15, packed[0]
    assert packed[1] is None or not packed[1].text.strip(" .")  # no words of the neighbour's


def test_pack_fits_whispers_window() -> None:
    assert pack_fits([14.0, 14.0])  # + 1 s apart: 29 s
    assert not pack_fits([15.0, 14.5])
    assert pack_fits([6.0, 6.0, 6.0, 6.0])


def packed_total(stack: LocalStack) -> float:
    port = stack.procs["stt-1"].health_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    found = re.search(r"^parley_stt_finals_packed_total (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_speakers_who_stop_together_each_get_their_own_final(stack: LocalStack) -> None:
    clips = CLIPS[:4]
    audio = [load_audio(str(path)) for _, path, _ in clips]
    longest = max(len(a) for a in audio) / 16000

    async def go() -> list[dict[str, object]]:
        before = packed_total(stack)
        async with Listener(stack, "pack", "source") as src:
            r = aioredis.from_url(stack.redis_url)
            speakers = [
                await open_speaker(r, "pack", f"s{i}", f"Speaker {i}", realtime=True, language="en")
                for i in range(len(clips))
            ]

            async def speak(i: int) -> None:  # each starts so that all stop at the same moment
                await speakers[i].silence(longest - len(audio[i]) / 16000 + 0.3)
                await speakers[i].play(audio[i])
                await speakers[i].silence(1.5)
                await speakers[i].end()

            await asyncio.gather(*(speak(i) for i in range(len(clips))))
            await src.wait_for(lambda c: len(c.finals()) >= len(clips), 60)
            await asyncio.sleep(2.0)  # a second final for an utterance would arrive by now
            await r.aclose()
        assert packed_total(stack) - before >= 2  # some of them were decoded together
        return src.finals()

    finals = asyncio.run(go())
    assert len(finals) == len(clips), [(f["speaker"], f["text"]) for f in finals]
    by_speaker = {str(f["speaker"]): str(f["text"]) for f in finals}
    for i, (_, _, ref) in enumerate(clips):
        assert wer([ref], [by_speaker[f"s{i}"]]) <= 0.15, (ref, by_speaker)
