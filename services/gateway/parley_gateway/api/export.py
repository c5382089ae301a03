"""Transcript renderings: plain text, SubRip (.srt) and WebVTT (.vtt), speaker-attributed."""

from __future__ import annotations

from collections.abc import Sequence

from parley_gateway.db.captions import Line


def _clock(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _one_line(text: str) -> str:
    """Whatever was stored, on one line and with no cue timing arrow: a line break in a name or a
    text would start a cue of its own in .srt/.vtt (or a fake speaker line in .txt)."""
    return " ".join(text.split()).replace("-->", "->")


def _cue_text(line: Line) -> str:
    return _one_line(line.text)


def _speaker(line: Line) -> str:
    return _one_line(line.speaker_name)


def to_txt(lines: Sequence[Line]) -> str:
    return "".join(f"[{_clock(x.start, '.')[:8]}] {_speaker(x)}: {_cue_text(x)}\n" for x in lines)


def to_srt(lines: Sequence[Line]) -> str:
    cues = [
        f"{i}\n{_clock(x.start, ',')} --> {_clock(max(x.end, x.start), ',')}\n{_speaker(x)}: {_cue_text(x)}\n"
        for i, x in enumerate(lines, 1)
    ]
    return "\n".join(cues)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("-->", "--&gt;")


def to_vtt(lines: Sequence[Line]) -> str:
    cues = [
        f"{_clock(x.start, '.')} --> {_clock(max(x.end, x.start), '.')}\n"
        f"<v {_vtt_escape(_speaker(x))}>{_vtt_escape(_cue_text(x))}\n"
        for x in lines
    ]
    return "WEBVTT\n\n" + "\n".join(cues)
