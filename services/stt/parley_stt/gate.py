"""The decoder-evidence gate: a caption is shown as plain text only when Whisper's own evidence
backs it. Whisper writes fluent text from speech it cannot read ("Please subscribe to my channel",
"Thank you for watching" for Vietnamese it could not make out): shown with confidence, that is
worse than no caption.

Evidence, all from the decode that made the text (no second decode): the mean token
log-probability, the compression ratio of the text (a model looping on a phrase compresses
well), the no-speech probability, whether faster-whisper fell back to sampling at a temperature
above 0 (the greedy decode failed its own checks), and, where the language was detected on this
audio, the language probability.

Measured with Whisper base int8 (bench/translate): English speech (LibriVox, Piper meeting set)
decodes at log-probability -0.04 to -0.2, never with a fallback; Vietnamese spoken by espeak-ng at
-0.7 to -1.4, most with a fallback; its "translations" into English at -0.5 to -1.9, nearly all
with a fallback. The defaults sit between.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    SHOW = "show"  # a plain caption
    UNCERTAIN = "uncertain"  # shown, marked as uncertain (Caption.uncertain says why)
    WITHHOLD = "withhold"  # not shown as text at all


@dataclass(frozen=True)
class GateConfig:
    ok_logprob: float = -0.6  # below: uncertain
    withhold_logprob: float = -1.0  # below: withheld
    compression_ratio: float = 2.4  # above: withheld (a loop)
    no_speech: float = 0.6  # above: uncertain (withheld if the log-probability is low too)
    language_prob: float = 0.5  # a language detected on this audio with less: uncertain
    enabled: bool = True


@dataclass(frozen=True)
class Evidence:
    text: str
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    temperature: float  # the highest fallback temperature used (0: greedy decode accepted)
    language_prob: float | None  # None: the language was not detected on this audio


# What Whisper writes when it cannot read the audio: video-caption boilerplate from its training
# data. A speech translation that says it is withheld (a person who really says "see you next
# time" still gets the original, labelled as not translated).
_BOILERPLATE = re.compile(
    r"\b(subscribe|thanks? (you )?for watching|see you (again|next time|in the next)|"
    r"next (video|episode)|like and share|please (like|share)|bell icon|my channel|"
    r"subtitles? by|captions? by|amara\.org)\b",
    re.IGNORECASE,
)


def boilerplate(text: str) -> bool:
    return bool(_BOILERPLATE.search(text))


def judge(ev: Evidence, cfg: GateConfig, *, translation: bool = False) -> tuple[Verdict, str]:
    """The verdict and, unless SHOW, why. A speech translation is either shown or withheld: the
    listener cannot check it against anything, so an uncertain one is withheld."""
    if not cfg.enabled or not ev.text:
        return Verdict.SHOW, ""
    withhold = _withhold(ev, cfg, translation)
    if withhold:
        return Verdict.WITHHOLD, withhold
    doubts = _doubts(ev, cfg)
    if doubts:
        return (Verdict.WITHHOLD if translation else Verdict.UNCERTAIN), "; ".join(doubts)
    return Verdict.SHOW, ""


def _withhold(ev: Evidence, cfg: GateConfig, translation: bool) -> str:
    if ev.compression_ratio > cfg.compression_ratio:
        return f"repetitive text (compression ratio {ev.compression_ratio:.2f} > {cfg.compression_ratio})"
    if ev.avg_logprob < cfg.withhold_logprob:
        return f"log-probability {ev.avg_logprob:.2f} < {cfg.withhold_logprob}"
    if ev.no_speech_prob > cfg.no_speech and ev.avg_logprob < cfg.ok_logprob:
        return f"probably not speech (no-speech probability {ev.no_speech_prob:.2f})"
    if translation and boilerplate(ev.text):
        return "video-caption boilerplate, typical of speech the model could not read"
    return ""


def _doubts(ev: Evidence, cfg: GateConfig) -> list[str]:
    doubts = []
    if ev.avg_logprob < cfg.ok_logprob:
        doubts.append(f"log-probability {ev.avg_logprob:.2f} < {cfg.ok_logprob}")
    if ev.temperature > 0:
        doubts.append(f"decoded by sampling (temperature {ev.temperature:.1f})")
    if ev.no_speech_prob > cfg.no_speech:
        doubts.append(f"no-speech probability {ev.no_speech_prob:.2f}")
    if ev.language_prob is not None and ev.language_prob < cfg.language_prob:
        doubts.append(f"language unclear (probability {ev.language_prob:.2f})")
    return doubts
