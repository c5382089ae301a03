"""Word error rate the way the benchmark and tests score captions: lower-cased, punctuation
stripped, numbers written as words, a few spoken abbreviations expanded."""

from __future__ import annotations

import re
from pathlib import Path

ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint", "ok": "okay"}
_PUNCT = re.compile(r"[^\w\s']")
_NUMBER = re.compile(r"\d+(?:st|nd|rd|th)?")


def _number_words(match: re.Match[str]) -> str:
    token = match.group(0)
    try:
        from num2words import num2words
    except ImportError:
        return token
    digits = re.sub(r"\D", "", token)
    return str(num2words(int(digits), to="ordinal" if token[-2:].isalpha() else "cardinal"))


def normalize(text: str) -> list[str]:
    text = text.lower().replace("-", " ").replace("%", " percent")
    text = _NUMBER.sub(_number_words, text)
    text = _PUNCT.sub(" ", text.replace("-", " "))
    return [ABBREVIATIONS.get(w, w) for w in text.replace("'", "").split()]


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def wer(refs: list[str], hyps: list[str]) -> float:
    """Corpus WER: total edits over total reference words."""
    edits = words = 0
    for ref, hyp in zip(refs, hyps, strict=True):
        r, h = normalize(ref), normalize(hyp)
        edits += edit_distance(r, h)
        words += len(r)
    return edits / max(1, words)


def read_transcription(audio_dir: Path) -> dict[str, str]:
    """A pocketsphinx-style `transcription` file: `<s> words </s> (file id)` per line."""
    out: dict[str, str] = {}
    for line in (audio_dir / "transcription").read_text().splitlines():
        m = re.match(r"\s*(?:<s>)?\s*(.*?)\s*(?:</s>)?\s*\(([^)]+)\)\s*$", line)
        if m:
            out[m.group(2)] = m.group(1)
    return out
