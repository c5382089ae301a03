"""Benchmark of the live speech pipeline: real speech played in real time, captions read from the
gateway's WebSocket as a listener sees them.

  python bench/pipeline.py [--speakers 1] [--audio-dir DIR] [--duration 180] [--translate es]

Prints a table, then one JSON line. Latency is measured from the true end of speech in each clip
(energy envelope of the clip itself) to the final caption's arrival on a listener's socket; first
words from the clip's true speech onset (the same envelope) to the first caption, partial or
final, that shows a word of the clip's reference text.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import redis.asyncio as aioredis
from parley_common import redisconn
from parley_common.schemas import SAMPLE_RATE
from parley_feeder.feeder import load_audio, open_speaker
from parley_testkit.caption_client import CaptionClient
from parley_testkit.machine import cpu_summary
from parley_testkit.procs import LocalStack
from parley_testkit.wer import normalize, read_transcription, wer

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Clip:
    name: str
    text: str
    audio: np.ndarray
    speech_start: float  # s into the clip
    speech_end: float


@dataclass
class Spoken:
    room: str
    speaker: str
    clip: Clip
    start_wall: float  # epoch s of the clip's first sample

    @property
    def speech_start(self) -> float:
        return self.start_wall + self.clip.speech_start

    @property
    def speech_end(self) -> float:
        return self.start_wall + self.clip.speech_end


@dataclass
class Received:
    at: float
    caption: dict[str, Any]
    room: str


@dataclass
class Listener:
    room: str
    lang: str
    client: CaptionClient | None = None

    @property
    def got(self) -> list[Received]:
        if self.client is None:
            return []
        return [
            Received(at, m["caption"], self.room)
            for at, m in self.client.received
            if m.get("type") == "caption"
        ]


def speech_bounds(audio: np.ndarray) -> tuple[float, float]:
    """First and last 10 ms frame whose level is within 35 dB of the clip's loudest frame."""
    hop = SAMPLE_RATE // 100
    frames = audio[: len(audio) // hop * hop].reshape(-1, hop)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    voiced = np.nonzero(level > max(level.max() - 35, -60))[0]
    return float(voiced[0] * hop / SAMPLE_RATE), float((voiced[-1] + 1) * hop / SAMPLE_RATE)


def load_clips(audio_dir: Path) -> list[Clip]:
    texts = read_transcription(audio_dir)
    clips = []
    for name, text in sorted(texts.items()):
        path = audio_dir / f"{name}.wav"
        if not path.exists():
            continue
        audio = load_audio(str(path))
        start, end = speech_bounds(audio)
        clips.append(Clip(name, text, audio, start, end))
    if not clips:
        raise SystemExit(f"no WAVs with transcripts in {audio_dir}")
    return clips


async def listen(stack: LocalStack, listener: Listener, stop: asyncio.Event) -> None:
    listener.client = CaptionClient(stack.caption_url(listener.room, listener.lang))
    async with listener.client:
        await stop.wait()


async def speak(
    r: aioredis.Redis,
    room: str,
    speaker: str,
    clips: list[Clip],
    until: float,
    passes: int,
    seed: int,
    log: list[Spoken],
) -> None:
    rng = random.Random(seed)
    sp = await open_speaker(r, room, speaker, speaker.title(), realtime=True, language="en")
    await sp.silence(0.5)
    n = 0
    while True:
        order = clips[:]
        rng.shuffle(order)
        for clip in order:
            started = await sp.play(clip.audio)
            log.append(Spoken(room, speaker, clip, started))
            await sp.silence(rng.uniform(1.0, 2.0))
        n += 1
        if n >= passes and time.time() >= until:
            break
    await sp.silence(1.0)
    await sp.end()


def audio_span(caption: dict[str, Any]) -> tuple[float, float]:
    """The wall-clock span (epoch s) of the audio a caption covers: its length, ending at its speech end."""
    timing = caption["timing"]
    assert isinstance(timing, dict)
    hi = float(timing["speech_end"])
    return hi - (float(caption["end"]) - float(caption["start"])), hi


def match(spoken: list[Spoken], finals: list[Received]) -> dict[int, list[Received]]:
    """Assign each final to the clip its audio overlaps most (same room and speaker)."""
    out: dict[int, list[Received]] = {i: [] for i in range(len(spoken))}
    for rec in finals:
        c = rec.caption
        lo, hi = audio_span(c)
        best, best_overlap = None, 0.0
        for i, s in enumerate(spoken):
            if s.room != rec.room or s.speaker != c["speaker"]:
                continue
            overlap = min(hi, s.start_wall + len(s.clip.audio) / SAMPLE_RATE) - max(lo, s.start_wall)
            if overlap > best_overlap:
                best, best_overlap = i, overlap
        if best is not None:
            out[best].append(rec)
    return out


def shows_a_word(words: set[str], text: str) -> bool:
    """Whether caption `text` shows one of `words` (a reference's, normalised as WER normalises)."""
    return bool(words & set(normalize(text)))


def first_word_at(reference: str, captions: list[Received]) -> float | None:
    """When the first of `captions` (a clip's partials and finals) that shows a word of the clip's
    reference text arrived; None if none does."""
    words = set(normalize(reference))
    for got in sorted(captions, key=lambda g: g.at):
        if shows_a_word(words, str(got.caption["text"])):
            return got.at
    return None


def lag_drift(series: list[tuple[float, float]]) -> float:
    """Median latency of the last third minus the first third, (when, latency) pairs in time order."""
    values = [v for _, v in sorted(series)]
    third = max(1, len(values) // 3)
    return statistics.median(values[-third:]) - statistics.median(values[:third]) if len(values) >= 3 else 0.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return float(np.percentile(values, q))


async def warm_up(r: aioredis.Redis, stack: LocalStack, clip: Clip) -> None:
    """Load the models and let every service see one utterance before measuring."""
    listener = Listener("warmup", "es")
    stop = asyncio.Event()
    task = asyncio.create_task(listen(stack, listener, stop))
    await asyncio.sleep(0.5)
    sp = await open_speaker(r, "warmup", "w", "Warm", realtime=False, language="en")
    await sp.play(clip.audio)
    await sp.silence(1.0)
    await sp.end()
    deadline = time.time() + 60
    while time.time() < deadline and not any(g.caption["type"] == "final" for g in listener.got):
        await asyncio.sleep(0.1)
    stop.set()
    await task


async def run(args: argparse.Namespace) -> dict[str, object]:
    clips = load_clips(args.audio_dir)
    redis_url = args.redis_url
    r = redisconn.connect(redis_url)
    await r.flushdb()
    stack = LocalStack(redis_url, ROOT / "bench" / "results" / "logs")
    stack.start_default()
    try:
        await warm_up(r, stack, clips[0])
        rooms = [f"room{i}" for i in range(max(1, args.speakers // 2))] if args.speakers > 1 else ["room0"]
        listeners = [Listener(room, lang) for room in rooms for lang in ("source", args.translate)]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(listen(stack, li, stop)) for li in listeners]
        await asyncio.sleep(1.0)
        cpu0 = {n: p.cpu_seconds() for n, p in stack.procs.items()}
        t0 = time.time()
        spoken: list[Spoken] = []
        passes = args.passes if args.speakers == 1 else 1
        until = t0 + (args.duration if args.speakers > 1 else 0)
        await asyncio.gather(
            *(
                speak(r, rooms[i % len(rooms)], f"spk{i}", clips, until, passes, i, spoken)
                for i in range(args.speakers)
            )
        )
        # Wait for the last finals (and their translations) to arrive.
        await asyncio.sleep(6.0)
        stop.set()
        await asyncio.gather(*tasks)
        wall = time.time() - t0
        cpu = {n: p.cpu_seconds() - cpu0[n] for n, p in stack.procs.items()}
        rss = {n: p.peak_rss_mb() for n, p in stack.procs.items()}
    finally:
        stack.stop()
        await r.aclose()
    return report(args, clips, spoken, listeners, wall, cpu, rss)


def report(
    args: argparse.Namespace,
    clips: list[Clip],
    spoken: list[Spoken],
    listeners: list[Listener],
    wall: float,
    cpu: dict[str, float],
    rss: dict[str, float],
) -> dict[str, object]:
    source = [g for li in listeners if li.lang == "source" for g in li.got]
    translated = [g for li in listeners if li.lang != "source" for g in li.got]
    finals = [g for g in source if g.caption["type"] == "final"]
    partials = [g for g in source if g.caption["type"] == "partial"]
    by_clip = match(spoken, finals)
    tr_by_clip = match(spoken, [g for g in translated if g.caption["type"] == "final"])
    part_by_clip = match(spoken, partials)
    first_word: list[float] = []
    detail: list[dict[str, object]] = []  # per utterance, for --detail

    e2e, e2e_tr, first_partial, eos, stt, fanout, translation, lost = [], [], [], [], [], [], [], 0
    decode: list[float] = []
    queued: list[float] = []
    refs, hyps, e2e_series = [], [], []
    for i, s in enumerate(spoken):
        got = sorted(by_clip[i], key=lambda g: g.at)
        refs.append(s.clip.text)
        hyps.append(" ".join(str(g.caption["text"]) for g in got))
        if not got:
            lost += 1
            continue
        last = got[-1]
        timing = last.caption["timing"]
        assert isinstance(timing, dict)
        e2e.append(last.at - s.speech_end)
        e2e_series.append((s.speech_end, last.at - s.speech_end))
        eos.append(timing["eos"] - s.speech_end)
        stt.append(max(0.0, timing["published"] - timing["eos"]))
        decode.append(timing["stt_done"] - timing["stt_start"])
        queued.append(timing["stt_start"] - timing["job"])
        fanout.append(last.at - timing["published"])
        if tr_by_clip[i]:
            tr_last = max(tr_by_clip[i], key=lambda g: g.at)
            tt = tr_last.caption["timing"]
            assert isinstance(tt, dict)
            e2e_tr.append(tr_last.at - s.speech_end)
            translation.append(tt["published"] - timing["published"])
        if part_by_clip[i]:
            first_partial.append(min(g.at for g in part_by_clip[i]) - s.speech_start)
        if (shown := first_word_at(s.clip.text, part_by_clip[i] + got)) is not None:
            first_word.append(shown - s.speech_start)
        detail.append(
            {
                "clip": s.clip.name,
                "speaker": s.speaker,
                "first_word_s": round(shown - s.speech_start, 3) if shown is not None else None,
                "partials": [
                    (round(g.at - s.speech_start, 3), g.caption["text"])
                    for g in sorted(part_by_clip[i], key=lambda g: g.at)
                ],
                "final_s": round(last.at - s.speech_end, 3),
                "final_decode_s": round(timing["stt_done"] - timing["stt_start"], 3),
            }
        )
    audio_s = sum(len(s.clip.audio) for s in spoken) / SAMPLE_RATE
    drift = lag_drift(e2e_series)

    wer_live = wer(refs, hyps)
    wer_stock = stock_wer(clips) if not args.skip_stock else float("nan")
    result: dict[str, object] = {
        "cpu": cpu_summary(),
        "speakers": args.speakers,
        "audio_set": args.audio_dir.name,
        "utterances": len(spoken),
        "final_window": os.environ.get("PARLEY_STT_FINAL_WINDOW", "full"),
        "e2e_final_p50_s": round(pct(e2e, 50), 3),
        "e2e_final_p95_s": round(pct(e2e, 95), 3),
        "e2e_final_max_s": round(max(e2e, default=float("nan")), 3),
        "e2e_translated_p50_s": round(pct(e2e_tr, 50), 3),
        "e2e_translated_p95_s": round(pct(e2e_tr, 95), 3),
        "first_partial_p50_s": round(pct(first_partial, 50), 3),
        "first_partial_p95_s": round(pct(first_partial, 95), 3),
        "first_word_p50_s": round(pct(first_word, 50), 3),
        "first_word_p95_s": round(pct(first_word, 95), 3),
        "stage_eos_decision_p50_s": round(pct(eos, 50), 3),
        "stage_stt_after_eos_p50_s": round(pct(stt, 50), 3),
        "stt_final_decode_p50_s": round(pct(decode, 50), 3),
        "stt_final_queued_p50_s": round(pct(queued, 50), 3),
        "stage_translation_p50_s": round(pct(translation, 50), 3),
        "stage_fanout_p50_s": round(pct(fanout, 50), 4),
        "lag_drift_s": round(drift, 3),
        "lost_finals": lost,  # a final the decoder-evidence gate withheld counts here too
        "uncertain_finals": sum(1 for g in finals if g.caption.get("uncertain")),
        "gate": os.environ.get("PARLEY_STT_GATE", "true"),
        "wer": round(wer_live, 4),
        "wer_stock": round(wer_stock, 4),
        "cpu_s_per_audio_s": {n: round(v / max(audio_s, 1e-9), 3) for n, v in cpu.items()},
        "peak_rss_mb": {n: round(v, 1) for n, v in rss.items()},
        "wall_s": round(wall, 1),
    }
    if args.detail is not None:
        args.detail.write_text(json.dumps(detail, indent=1))
    print_table(result)
    return result


def stock_wer(clips: list[Clip]) -> float:
    """The same clips through the stock faster-whisper 30 s path, for the accuracy bound."""
    from parley_stt.engine import DecodeOptions, WhisperEngine
    from parley_stt.settings import SttSettings

    engine = WhisperEngine(SttSettings(final_window="full"))
    hyps = [engine.transcribe(c.audio, DecodeOptions(window="full", language="en")).text for c in clips]
    return wer([c.text for c in clips], hyps)


def print_table(res: dict[str, object]) -> None:
    rows = [
        (
            "speech end -> final caption (p50 / p95 / max)",
            f"{res['e2e_final_p50_s']} / {res['e2e_final_p95_s']} / {res['e2e_final_max_s']} s",
        ),
        (
            "speech end -> translated final (p50 / p95)",
            f"{res['e2e_translated_p50_s']} / {res['e2e_translated_p95_s']} s",
        ),
        (
            "speech start -> first partial (p50 / p95)",
            f"{res['first_partial_p50_s']} / {res['first_partial_p95_s']} s",
        ),
        (
            "speech start -> first word shown (p50 / p95)",
            f"{res['first_word_p50_s']} / {res['first_word_p95_s']} s",
        ),
        ("  stage: end-of-speech decision (p50)", f"{res['stage_eos_decision_p50_s']} s"),
        ("  stage: STT after the decision (p50)", f"{res['stage_stt_after_eos_p50_s']} s"),
        ("    of which: final waiting for the worker (p50)", f"{res['stt_final_queued_p50_s']} s"),
        ("    of which: final decode (p50)", f"{res['stt_final_decode_p50_s']} s"),
        ("  stage: translation (p50)", f"{res['stage_translation_p50_s']} s"),
        ("  stage: fan-out (p50)", f"{res['stage_fanout_p50_s']} s"),
        ("lag drift (last third - first third, p50)", f"{res['lag_drift_s']} s"),
        ("WER finals / stock 30 s path", f"{res['wer']:.2%} / {res['wer_stock']:.2%}"),  # type: ignore[str-format]
        ("lost finals", str(res["lost_finals"])),
        (f"finals marked uncertain (gate {res['gate']})", str(res["uncertain_finals"])),
        ("CPU s per audio s", json.dumps(res["cpu_s_per_audio_s"])),
        ("peak RSS MB", json.dumps(res["peak_rss_mb"])),
    ]
    print(
        f"\nParley pipeline benchmark: {res['speakers']} speaker(s), {res['utterances']} utterances, "
        f"audio set {res['audio_set']}, final window {res['final_window']}"
    )
    for k, v in rows:
        print(f"  {k:<46} {v}")
    print()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--speakers", type=int, default=1)
    p.add_argument("--audio-dir", type=Path, default=Path("/usr/share/pocketsphinx/test/data/librivox"))
    p.add_argument("--duration", type=float, default=180.0, help="seconds of speech (multi-speaker runs)")
    p.add_argument("--passes", type=int, default=3, help="passes over the clips (1 speaker)")
    p.add_argument("--translate", default="es", help="the second listener's caption language")
    p.add_argument(
        "--redis-url", default=os.environ.get("PARLEY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    p.add_argument("--skip-stock", action="store_true", help="do not compute the stock path's WER")
    p.add_argument("--detail", type=Path, help="write each utterance's partials and latencies here (JSON)")
    args = p.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
