"""When a final in a speaker's kept language is worth a new language detection
(parley_stt/speaker_lang.py, LanguageChoice.dropped): a switch is caught at once, a language the
model reads poorly is not detected again on every utterance."""

from __future__ import annotations

from parley_stt.speaker_lang import DROP_MARGIN, LanguageChoice

OK = -0.5  # the gate's plain-caption log-probability (a final under it is weak)


def kept(baseline: float | None, weak: int = 0, confirmed: bool = True) -> LanguageChoice:
    return LanguageChoice("vi", ("vi", "en"), kept=True, baseline=baseline, weak=weak, confirmed=confirmed)


def test_a_final_that_reads_well_never_detects_again() -> None:
    assert not kept(-0.2).dropped(-0.3, OK)
    assert not LanguageChoice("en", (), kept=False).dropped(-2.0, OK)  # a one-language room


def test_a_speaker_who_read_well_and_drops_is_detected_again() -> None:
    """A switch: finals read well, then one far under the speaker's usual log-probability."""
    assert kept(-0.2, weak=0).dropped(-0.2 - DROP_MARGIN - 0.1, OK)


def test_a_language_guessed_on_a_partial_is_confirmed_on_the_first_weak_final() -> None:
    assert kept(-0.6, confirmed=False).dropped(-0.6, OK)


def test_a_speaker_in_a_weak_streak_is_detected_on_the_8th_16th_weak_final_only() -> None:
    """espeak-ng Vietnamese read by Whisper base: every final weak, their log-probabilities spread
    (-0.6 to -1.5); CI saw 3 detections for 3 finals when each drop counted."""
    detected = []
    baseline = -0.7
    for n in range(1, 33):  # the n-th weak final in a row; the streak before it is n - 1
        logprob = -0.6 if n % 2 else -1.5  # every other one a drop of 0.8 below the baseline
        if kept(baseline, weak=n - 1).dropped(logprob, OK):
            detected.append(n)
    assert detected == [8, 16, 32]
