"""The decoder-evidence gate's rules (parley_stt/gate.py), on the evidence measured with Whisper base
(bench/translate): English LibriVox and Piper speech, espeak-ng Vietnamese and its "translations"."""

from __future__ import annotations

from parley_stt.gate import Evidence, GateConfig, Verdict, judge

CFG = GateConfig()


def ev(text: str = "He was not an ill-disposed young man.", **kw: float | None) -> Evidence:
    base: dict[str, float | None] = dict(
        avg_logprob=-0.17, compression_ratio=0.82, no_speech_prob=0.06, temperature=0.0, language_prob=None
    )
    base.update(kw)
    return Evidence(text=text, **base)  # type: ignore[arg-type]


def test_english_speech_is_shown() -> None:
    for lp in (-0.04, -0.2, -0.45):  # the range measured on LibriVox and the meeting set, and margin
        assert judge(ev(avg_logprob=lp), CFG) == (Verdict.SHOW, "")


def test_vietnamese_the_model_reads_poorly_is_marked_or_withheld() -> None:
    verdict, why = judge(ev("Cảm ơn anh, phần tổng tạng của mất kỳ", avg_logprob=-0.81), CFG)
    assert verdict is Verdict.UNCERTAIN and "log-probability -0.81" in why
    verdict, why = judge(ev("Bộ ý em psychon đức em sét lái.", avg_logprob=-0.9, temperature=1.0), CFG)
    assert verdict is Verdict.UNCERTAIN and "temperature 1.0" in why
    assert judge(ev("Bụi ký của ta sửa sầm", avg_logprob=-1.2, temperature=1.0), CFG)[0] is Verdict.WITHHOLD


def test_fabricated_translations_are_withheld() -> None:
    """What base "translated" espeak-ng Vietnamese into: never shown as a caption."""
    for text, lp in [
        ("Thank you for watching", -0.53),  # confident, and boilerplate
        ("Please subscribe to my channel.", -0.7),
        ("Goodbye everyone, see you in the next episode.", -0.97),
        ("I will take you to the temple of the Buddha.", -1.84),
    ]:
        verdict, why = judge(ev(text, avg_logprob=lp), CFG, translation=True)
        assert verdict is Verdict.WITHHOLD, (text, why)
    # An uncertain translation is withheld too: the listener has nothing to check it against.
    assert (
        judge(ev("We need two more people.", avg_logprob=-0.7), CFG, translation=True)[0] is Verdict.WITHHOLD
    )
    assert judge(ev("We need two more people.", avg_logprob=-0.3), CFG, translation=True)[0] is Verdict.SHOW


def test_loops_silence_and_unclear_language() -> None:
    loop = "my dear, " * 40
    verdict, why = judge(ev(loop, compression_ratio=17.7, avg_logprob=-0.3), CFG)
    assert verdict is Verdict.WITHHOLD and "compression ratio" in why
    assert judge(ev(no_speech_prob=0.8, avg_logprob=-0.7), CFG)[0] is Verdict.WITHHOLD
    assert judge(ev(no_speech_prob=0.8, avg_logprob=-0.2), CFG)[0] is Verdict.UNCERTAIN
    verdict, why = judge(ev(language_prob=0.3), CFG)
    assert verdict is Verdict.UNCERTAIN and "language unclear" in why
    assert judge(ev(language_prob=0.9), CFG) == (Verdict.SHOW, "")


def test_off_and_empty() -> None:
    assert judge(ev(avg_logprob=-3.0), GateConfig(enabled=False)) == (Verdict.SHOW, "")
    assert judge(ev("", avg_logprob=-3.0), CFG) == (Verdict.SHOW, "")
