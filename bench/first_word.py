"""First words on screen, without the machine's load in the figure: each clip goes through the real
segmenter (Silero VAD, the end-of-speech machine) and every partial it asks for is decoded as the
worker would decode it (the padded window, the partial model), one after the other.

  python bench/first_word.py [--leads "[500];[450,250,250]"] [--partial-models ",tiny.en"]
                             [--partial-pads 2,5] [--beam-sizes 1,5] [--withhold-logprobs=-1,-1.5]
  python bench/first_word.py --floor 0,0.192,0.5 [--partial-models ",tiny.en"]

For each partial-lead schedule and partial model: when the segmenter emits the first partial whose
text shows a word of the clip's reference (audio time from the speech onset, by energy, as
bench/pipeline.py measures it: this part does not depend on the CPU), plus the CPU seconds of the
decodes up to it on this machine (one decode at a time on an idle core takes about that long), plus
a fixed `--overhead-s` (Redis, the gateway, the socket: ~0.03 s in bench/pipeline.py's stage
figures). A partial the decoder-evidence gate withholds (parley_stt.gate, as the worker applies it)
shows nothing. Finals are not touched by these settings (their audio range and decoder are the
same), so neither is WER. Prints one line per setting and one JSON line.

`--floor PREROLLS_S`: no segmenter. For each clip and each pre-roll (seconds of the audio before
the energy onset that the window starts with), the least speech after the onset, in FLOOR_STEP_S
steps, from which a partial decode shows a word of the reference and passes the gate: with that
start, no lead schedule and no CPU shows the first word sooner than that plus the decode.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from parley_common.schemas import SAMPLE_RATE
from parley_stt import gate
from parley_stt.engine import DecodeOptions, Transcript, WhisperEngine
from parley_stt.segmenter_machine import ActionKind, SegmenterConfig, SpeakerSegmenter
from parley_stt.settings import SttSettings
from parley_testkit.wer import normalize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import Clip, load_clips, shows_a_word

ROOT = Path(__file__).resolve().parent.parent
FRAME = 320  # 20 ms, as the RTP ingest and the feeder write them
LEAD_IN_S = 1.0  # silence before each clip (the bench's speakers pause 1-2 s)
FLOOR_STEP_S = 0.02  # one RTP frame
FLOOR_MAX_S = 3.0


def with_lead_in(clip: Clip) -> tuple[np.ndarray, float]:
    """The clip after LEAD_IN_S of silence, and its speech onset in s into that audio."""
    audio = np.concatenate([np.zeros(int(LEAD_IN_S * SAMPLE_RATE), np.float32), clip.audio])
    return audio, LEAD_IN_S + clip.speech_start


def shows_word(result: Transcript, words: set[str], cfg: gate.GateConfig) -> bool:
    """Whether a partial shows a word of `words`. The worker withholds what the decoder-evidence
    gate rejects: such a partial shows nothing."""
    withheld = gate.judge(result.evidence(), cfg)[0] is gate.Verdict.WITHHOLD
    return not withheld and shows_a_word(words, result.text)


class Speaker:
    """A segmenter fed clip after clip, each after LEAD_IN_S of silence. With `carry_over`, one
    segmenter for all (the VAD's state goes on from the last utterance, as a live speaker's does:
    a partial then starts a frame earlier or later than after a fresh start, and a short partial
    can read differently); otherwise a fresh one for each clip."""

    def __init__(self, config: SegmenterConfig, carry_over: bool = False) -> None:
        self.config, self.carry_over = config, carry_over
        self.seg, self.frames = SpeakerSegmenter(config), 0

    def partials(self, clip: Clip) -> list[tuple[float, np.ndarray]]:
        """(when the segmenter asked for it, s from the speech onset; its audio) of each partial."""
        if not self.carry_over:
            self.seg, self.frames = SpeakerSegmenter(self.config), 0
        audio, onset = with_lead_in(clip)
        pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
        base, out = self.frames, []
        for i in range(len(audio) // FRAME):
            n = base + i
            for a in self.seg.feed(
                f"{n}-0", n * FRAME / SAMPLE_RATE, pcm[i * 2 * FRAME : (i + 1) * 2 * FRAME]
            ):
                if a.kind is not ActionKind.PARTIAL:
                    continue
                first = int(a.start_id.split("-")[0]) - base
                if first >= 0:  # not the last clip's utterance
                    last = int(a.end_id.split("-")[0]) - base + 1
                    out.append(((i + 1) * FRAME / SAMPLE_RATE - onset, audio[first * FRAME : last * FRAME]))
        self.frames = base + len(audio) // FRAME
        return out


def first_word(
    engine: WhisperEngine,
    clip: Clip,
    speaker: Speaker,
    overhead_s: float,
    pad_s: float = 2.0,
    gate_config: gate.GateConfig | None = None,
) -> dict[str, object]:
    words = set(normalize(clip.text))
    cpu = 0.0
    partials = speaker.partials(clip)
    for n, (at, audio) in enumerate(partials, 1):
        c0 = time.process_time()
        result = engine.transcribe(
            audio, DecodeOptions(window="padded", pad_s=pad_s, language="en", partial=True)
        )
        took = time.process_time() - c0
        cpu += took
        if shows_word(result, words, gate_config or gate.GateConfig()):
            return {
                "shown_s": round(at + took + overhead_s, 3),
                "emitted_s": round(at, 3),
                "partial": n,
                "cpu_s": round(cpu, 3),
            }
    return {"shown_s": None, "emitted_s": None, "partial": None, "cpu_s": round(cpu, 3)}


def floor(engine: WhisperEngine, clip: Clip, preroll_s: float, cfg: gate.GateConfig) -> float | None:
    """The least speech after the onset from which a partial shows a word of the clip (None: not
    within FLOOR_MAX_S). The pre-roll before the onset is silence when the clip starts with speech."""
    audio, onset_s = with_lead_in(clip)
    onset = int(onset_s * SAMPLE_RATE)
    start, words = onset - int(preroll_s * SAMPLE_RATE), set(normalize(clip.text))
    opts = DecodeOptions(window="padded", language="en", partial=True)
    for k in range(1, int(FLOOR_MAX_S / FLOOR_STEP_S) + 1):
        window = audio[start : onset + int(k * FLOOR_STEP_S * SAMPLE_RATE)]
        if shows_word(engine.transcribe(window, opts), words, cfg):
            return round(k * FLOOR_STEP_S, 3)
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--leads", default="[500];[450,250,250];[300,200,250]", help="JSON lists, ';'-separated")
    p.add_argument("--partial-models", default=",tiny.en", help="'' = the main model (base)")
    p.add_argument(
        "--sets",
        default=f"/usr/share/pocketsphinx/test/data/librivox,{ROOT / 'bench' / 'results' / 'meeting-set'}",
    )
    p.add_argument("--overhead-s", type=float, default=0.03)
    p.add_argument(
        "--segmenter",
        default="{}",
        help="JSON objects of SegmenterConfig fields, ';'-separated, e.g. '{};{\"preroll_ms\": 300}'",
    )
    for flag, field, what in (
        ("--partial-pads", "partial_pad_s", "seconds of silence after a partial's audio"),
        ("--beam-sizes", "beam_size", "the partials' beam (finals are not decoded here)"),
        ("--withhold-logprobs", "gate_withhold_logprob", "the gate's withhold threshold for partials"),
    ):
        default = str(SttSettings.model_fields[field].default)
        p.add_argument(flag, default=default, help=f"{what} (PARLEY_STT_{field.upper()}), ','-separated")
    p.add_argument(
        "--carry-over",
        action="store_true",
        help="one segmenter for all clips, its state going on from clip to clip (as live)",
    )
    p.add_argument(
        "--floor",
        metavar="PREROLLS_S",
        help="each clip's least speech to a shown word, ','-separated pre-rolls",
    )
    args = p.parse_args()
    clips = [
        c for s in args.sets.split(",") if (Path(s) / "transcription").exists() for c in load_clips(Path(s))
    ]
    cfg_default = SttSettings().gate_config()
    result: dict[str, object] = {"clips": len(clips), "load_before": round(os.getloadavg()[0], 2)}
    if args.floor:
        for model in args.partial_models.split(","):
            engine = WhisperEngine(SttSettings(partial_model=model, partial_nice=0))
            for preroll_s in (float(x) for x in args.floor.split(",")):
                floors = {c.name[-8:]: floor(engine, c, preroll_s, cfg_default) for c in clips}
                key = f"{model or 'base'}/preroll {preroll_s:g}/floor_speech_s"
                result[key] = floors
                print(f"{key:<36} {json.dumps(floors)}", flush=True)
        print(json.dumps(result))
        return
    for model, beam in (
        (m, int(b)) for m in args.partial_models.split(",") for b in args.beam_sizes.split(",")
    ):
        engine = WhisperEngine(SttSettings(partial_model=model, partial_nice=0, beam_size=beam))
        settings = [
            (x, y, float(z), float(w))
            for x in args.leads.split(";")
            for y in args.segmenter.split(";")
            for z in args.partial_pads.split(",")
            for w in args.withhold_logprobs.split(",")
        ]
        for raw, seg_raw, pad_s, withhold in settings:
            lead, segmenter = tuple(json.loads(raw)), json.loads(seg_raw)
            cfg = replace(SttSettings().gate_config(), withhold_logprob=withhold)
            speaker = Speaker(SegmenterConfig(**{"partial_lead_ms": lead, **segmenter}), args.carry_over)
            rows = [first_word(engine, c, speaker, args.overhead_s, pad_s, cfg) for c in clips]
            shown = [float(r["shown_s"]) for r in rows if r["shown_s"] is not None]  # type: ignore[arg-type]
            figures = {
                "first_word_p50_s": round(float(np.percentile(shown, 50)), 3),
                "first_word_p95_s": round(float(np.percentile(shown, 95)), 3),
                "first_word_max_s": round(max(shown), 3),
                "never": len(rows) - len(shown),
                "partials_to_first_word_mean": round(
                    statistics.mean(int(r["partial"] or 0) for r in rows), 2
                ),
                "cpu_s_to_first_word_p50": round(statistics.median(float(r["cpu_s"]) for r in rows), 3),  # type: ignore[arg-type]
                "per_clip": {c.name[-8:]: r["shown_s"] for c, r in zip(clips, rows, strict=True)},
            }
            key = (
                f"{model or 'base'}/{raw}"
                + (f"/{seg_raw}" if segmenter else "")
                + f"/pad {pad_s:g}"
                + (f"/beam {beam}" if beam != 1 else "")
                + (f"/withhold {withhold:g}" if withhold != cfg_default.withhold_logprob else "")
                + ("/carry-over" if args.carry_over else "")
            )
            result[key] = figures
            print(
                f"{key:<28} {json.dumps({k: v for k, v in figures.items() if k != 'per_clip'})}", flush=True
            )
    result["load_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
