"""What a scenario measured, per listener: every spoken clip must yield exactly one final at every
listener of its room. Clips are matched to finals the way bench/pipeline.py does it (audio overlap,
same room and speaker); a caption id delivered twice to one listener is a duplicate."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from .users import User

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipeline import SAMPLE_RATE, Received, Spoken, audio_span, first_word_at, lag_drift, match, pct


def finals_of(user: User) -> list[Received]:
    assert user.captions is not None
    return [
        Received(at, m["caption"], user.room)
        for at, m in user.captions.received
        if m.get("type") == "caption" and m["caption"]["type"] == "final" and m["caption"]["text"]
    ]


def partials_of(user: User) -> list[Received]:
    assert user.captions is not None
    return [
        Received(at, m["caption"], user.room)
        for at, m in user.captions.received
        if m.get("type") == "caption" and m["caption"]["type"] == "partial"
    ]


def duplicates(finals: list[Received]) -> int:
    per_id = Counter((str(f.caption["id"]), str(f.caption["lang"])) for f in finals)
    return sum(n - 1 for n in per_id.values() if n > 1)


def missing(user: User, spoken: list[Spoken]) -> int:
    """Clips of the user's room with no final at this user yet."""
    mine = [s for s in spoken if s.room == user.room]
    by_clip = match(mine, finals_of(user))
    return sum(1 for got in by_clip.values() if not got)


def describe_lost(user: User, clip: Spoken, finals: list[Received]) -> str:
    """A clip with no final at `user`, and the finals of its speaker there with the audio span each
    claims (as `match` reads it), in seconds from the clip's start."""
    spans = []
    for f in finals:
        if f.caption["speaker"] != clip.speaker:
            continue
        lo, hi = (t - clip.start_wall for t in audio_span(f.caption))
        spans.append(f"{f.caption['id'].rsplit('/', 1)[-1]}:[{lo:.1f},{hi:.1f}]")
    length = len(clip.clip.audio) / SAMPLE_RATE
    return (
        f"{user.sub} ({user.lang}) got no final for {clip.speaker}'s {clip.clip.name} "
        f"[0,{length:.1f}]; that speaker's finals there: {' '.join(spans) or 'none'}"
    )


def analyse(users: list[User], spoken: list[Spoken]) -> dict[str, Any]:
    e2e: list[float] = []
    e2e_tr: list[float] = []
    series: list[tuple[float, float]] = []  # (speech end, latency) of source finals
    first_partial: list[float] = []
    first_word: list[float] = []  # speech onset -> first caption showing a word of the clip
    cadence: list[float] = []
    queued: list[float] = []  # final job emitted -> a worker took it
    decode: list[float] = []  # the worker's decode
    lost = dups = 0
    lost_clips: list[str] = []  # where a lost final went (the first few)
    for u in users:
        mine = [s for s in spoken if s.room == u.room]
        finals = finals_of(u)
        dups += duplicates(finals)
        by_clip = match(mine, finals)
        part_by_clip = match(mine, partials_of(u))
        for i, s in enumerate(mine):
            got = by_clip[i]
            if not got:
                lost += 1
                if len(lost_clips) < 8:
                    lost_clips.append(describe_lost(u, s, finals))
                continue
            last = max(got, key=lambda g: g.at)
            latency = last.at - s.speech_end
            if u.lang == "source":
                t = last.caption["timing"]
                if t.get("stt_start") and t.get("job"):
                    queued.append(t["stt_start"] - t["job"])
                    decode.append(t["stt_done"] - t["stt_start"])
                e2e.append(latency)
                series.append((s.speech_end, latency))
                if (shown := first_word_at(s.clip.text, part_by_clip[i] + got)) is not None:
                    first_word.append(shown - s.speech_start)
                parts = sorted(g.at for g in part_by_clip[i])
                if parts:
                    first_partial.append(parts[0] - s.speech_start)
                    cadence.extend(np.diff(parts).tolist())
            else:
                e2e_tr.append(latency)
    return {
        "utterances": len(spoken),
        "listener_finals_expected": sum(sum(1 for s in spoken if s.room == u.room) for u in users),
        "lost_finals": lost,
        "lost_clips": lost_clips,
        "duplicate_finals": dups,
        "e2e_final_p50_s": _r(pct(e2e, 50)),
        "e2e_final_p95_s": _r(pct(e2e, 95)),
        "e2e_final_max_s": _r(max(e2e, default=float("nan"))),
        "e2e_translated_p50_s": _r(pct(e2e_tr, 50)),
        "e2e_translated_p95_s": _r(pct(e2e_tr, 95)),
        "e2e_drift_s": _r(lag_drift(series)),
        "e2e_by_third_p50_s": [_r(pct([v for _, v in part], 50)) for part in thirds(series)],
        "stt_final_queued_p50_s": _r(pct(queued, 50)),
        "stt_final_queued_p95_s": _r(pct(queued, 95)),
        "stt_final_decode_p50_s": _r(pct(decode, 50)),
        "first_partial_p50_s": _r(pct(first_partial, 50)),
        "first_word_p50_s": _r(pct(first_word, 50)),
        "first_word_p95_s": _r(pct(first_word, 95)),
        "partial_interval_p50_s": _r(pct(cadence, 50)),
        "partial_interval_p95_s": _r(pct(cadence, 95)),
        "join_p50_s": _r(pct([u.join_s for u in users], 50), 4),
        "join_p95_s": _r(pct([u.join_s for u in users], 95), 4),
        "join_max_s": _r(max((u.join_s for u in users), default=float("nan")), 4),
    }


def thirds(series: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    s = sorted(series)
    n = len(s)
    return [s[: n // 3], s[n // 3 : 2 * n // 3], s[2 * n // 3 :]]


def late_after(
    users: list[User], spoken: list[Spoken], since: float, until: float, threshold: float
) -> tuple[float, int, float]:
    """For finals of clips whose speech ended in [since, until]: when the last one that came later
    than `threshold` after its speech end arrived (epoch s, 0 if none), how many were late, and
    the worst latency."""
    last, late, worst = 0.0, 0, 0.0
    for u in users:
        mine = [s for s in spoken if s.room == u.room]
        by_clip = match(mine, finals_of(u))
        for i, s in enumerate(mine):
            if not (since <= s.speech_end <= until) or not by_clip[i]:
                continue
            at = max(g.at for g in by_clip[i])
            worst = max(worst, at - s.speech_end)
            if at - s.speech_end > threshold:
                late += 1
                last = max(last, at)
    return last, late, worst


def lost_between(users: list[User], spoken: list[Spoken], since: float, until: float) -> int:
    """(listener, clip) pairs with no final, for clips whose speech ended in [since, until]."""
    lost = 0
    for u in users:
        mine = [s for s in spoken if s.room == u.room]
        by_clip = match(mine, finals_of(u))
        lost += sum(1 for i, s in enumerate(mine) if since <= s.speech_end <= until and not by_clip[i])
    return lost


def _r(v: float, nd: int = 3) -> float | None:
    return None if v != v else round(float(v), nd)  # NaN -> null in the JSON
