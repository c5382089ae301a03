"""The end-of-speech state machine on real speech and the real VAD, without Redis."""

from __future__ import annotations

import numpy as np
from parley_feeder.feeder import FRAME_SAMPLES, load_audio, to_pcm16
from parley_stt.segmenter_machine import Action, ActionKind, SegmenterConfig, SpeakerSegmenter, SpeakerState
from pipeline_helpers import librivox


def frames(audio: np.ndarray) -> list[tuple[str, float, bytes]]:
    pcm = to_pcm16(audio)
    step = FRAME_SAMPLES * 2
    return [
        (f"{1000 + i}-0", 100.0 + i * 0.02, pcm[off : off + step])
        for i, off in enumerate(range(0, len(pcm), step))
    ]


def speech_with_gaps() -> np.ndarray:
    gap = np.zeros(16000, dtype=np.float32)
    parts = [gap]
    for _, path, _ in librivox()[:3]:
        parts += [load_audio(str(path)), gap]
    return np.concatenate(parts)


def run(seg: SpeakerSegmenter, fs: list[tuple[str, float, bytes]]) -> list[Action]:
    out: list[Action] = []
    for f in fs:
        out += seg.feed(*f)
    return out


def test_one_confirmed_final_per_spoken_clip_with_partials() -> None:
    actions = run(SpeakerSegmenter(SegmenterConfig()), frames(speech_with_gaps()))
    confirms = [a for a in actions if a.kind is ActionKind.CONFIRM]
    assert [a.utt for a in confirms] == [0, 1, 2]
    finals = {(a.utt, a.attempt): a for a in actions if a.kind is ActionKind.FINAL}
    for c in confirms:
        assert (c.utt, c.attempt) in finals  # the confirmed attempt was emitted as a job
        f = finals[(c.utt, c.attempt)]
        assert f.start_id < f.end_id and f.start_ts < f.end_ts
    assert sum(a.kind is ActionKind.PARTIAL for a in actions) >= 10


def test_silence_and_noise_make_no_job() -> None:
    rng = np.random.default_rng(1)
    audio = np.concatenate(
        [np.zeros(16000 * 10, np.float32), rng.normal(0, 0.05, 16000 * 10).astype(np.float32)]
    )
    assert run(SpeakerSegmenter(SegmenterConfig()), frames(audio)) == []


def test_long_speech_is_split_at_a_pause() -> None:
    audio = np.concatenate([load_audio(str(p)) for _, p, _ in librivox()])  # ~27 s with no long gap
    actions = run(SpeakerSegmenter(SegmenterConfig(max_utterance_s=8.0)), frames(audio))
    confirms = [a for a in actions if a.kind is ActionKind.CONFIRM]
    finals = {(a.utt, a.attempt): a for a in actions if a.kind is ActionKind.FINAL}
    assert len(confirms) >= 3
    for c in confirms:
        f = finals[(c.utt, c.attempt)]
        assert f.end_ts - f.start_ts <= 8.5


def test_resuming_from_a_checkpoint_gives_the_same_jobs() -> None:
    """What a replica taking over a speaker does: load the JSON checkpoint and go on."""
    fs = frames(speech_with_gaps())
    straight = run(SpeakerSegmenter(SegmenterConfig()), fs)
    for cut in (137, 301, 420):  # mid-utterance and mid-silence
        first = SpeakerSegmenter(SegmenterConfig())
        resumed_actions = run(first, fs[:cut])
        saved = first.state().to_json()
        second = SpeakerSegmenter(SegmenterConfig(), SpeakerState.from_json(saved))
        resumed_actions += run(second, fs[cut:])
        assert resumed_actions == straight, cut


def test_speech_right_after_long_noise_is_heard_from_its_start() -> None:
    rng = np.random.default_rng(7)
    brown = np.cumsum(rng.normal(0, 0.01, 16000 * 20)).astype(np.float32)
    noise = np.concatenate(
        [rng.normal(0, 0.05, 16000 * 20).astype(np.float32), 0.2 * brown / np.abs(brown).max()]
    )
    clip = load_audio(str(librivox()[1][1]))
    audio = np.concatenate([noise, np.zeros(16000, np.float32), clip, np.zeros(16000, np.float32)])
    actions = run(SpeakerSegmenter(SegmenterConfig()), frames(audio))
    confirms = [a for a in actions if a.kind is ActionKind.CONFIRM]
    assert len(confirms) == 1
    final = next(a for a in actions if a.kind is ActionKind.FINAL and a.attempt == confirms[0].attempt)
    clip_start = 100.0 + (len(noise) + 16000) / 16000
    assert abs(final.start_ts - clip_start) < 0.35, final.start_ts - clip_start


def test_the_first_partials_follow_the_lead_then_every_interval() -> None:
    """On the real VAD: an utterance's first partials come after the gaps of partial_lead_ms (the
    first from the utterance's start, pre-roll included), the next ones partial_interval_ms apart."""
    clip = frames(speech_with_gaps())
    for lead in ((300,), (400, 250, 250)):
        cfg = SegmenterConfig(partial_lead_ms=lead, partial_interval_ms=500)
        seg = SpeakerSegmenter(cfg)
        by_utt: dict[int, list[Action]] = {}
        for a in run(seg, clip):
            if a.kind is ActionKind.PARTIAL:
                by_utt.setdefault(a.utt, []).append(a)
        assert len(by_utt) == 3
        for parts in by_utt.values():
            gaps = np.diff([parts[0].start_ts] + [p.end_ts for p in parts]) * 1000
            want = [*lead, *[500] * (len(gaps) - len(lead))]
            # whole VAD windows (32 ms); longer where a pause held a partial back
            assert all(g >= w - 20 for g, w in zip(gaps, want, strict=True)), gaps
            assert abs(gaps[0] - lead[0]) <= 40 and abs(np.median(gaps[len(lead) :]) - 500) <= 40, gaps
