"""The finals' window, offline: WER and CPU seconds of the stock 30 s window against the padded
window (the audio plus PAD s of silence) for several pads, clip by clip, on one or more audio sets.
WER does not depend on how busy the machine is; the CPU seconds barely do.

  python bench/final_pad.py [--pads 5,10,15] [--sets DIR[,DIR]]

Prints a line per (set, window) and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from parley_feeder.feeder import load_audio
from parley_stt.engine import DecodeOptions, WhisperEngine
from parley_stt.settings import SttSettings
from parley_testkit.wer import read_transcription, wer

ROOT = Path(__file__).resolve().parent.parent
SETS = f"/usr/share/pocketsphinx/test/data/librivox,{ROOT / 'bench' / 'results' / 'meeting-set'}"


def labelled_sets(sets: str) -> Iterator[tuple[Path, list[str], list[np.ndarray], list[str]]]:
    """(folder, clip names, clips, reference texts) of each comma-separated folder of WAVs with a
    `transcription` (a folder without one is skipped, and said so)."""
    for folder in (Path(s) for s in sets.split(",")):
        if not (folder / "transcription").exists():
            print(f"skipped {folder}: no transcription (make meeting-set)")
            continue
        texts = read_transcription(folder)
        names = [n for n in sorted(texts) if (folder / f"{n}.wav").exists()]
        yield folder, names, [load_audio(str(folder / f"{n}.wav")) for n in names], [texts[n] for n in names]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pads", default="5,10,15")
    p.add_argument("--sets", default=SETS, help="comma-separated folders of WAVs + `transcription`")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    engine = WhisperEngine(SttSettings(cpu_threads=args.threads, partial_model=""))
    engine.warm_up("full")
    windows = [("full", 0.0)] + [("padded", float(x)) for x in args.pads.split(",")]
    result: dict[str, object] = {"load_before": round(os.getloadavg()[0], 2), "threads": args.threads}
    for folder, _, clips, refs in labelled_sets(args.sets):
        for window, pad in windows:
            hyps, cpu = [], []
            for audio in clips:
                c0 = time.process_time()
                hyps.append(
                    engine.transcribe(audio, DecodeOptions(window=window, pad_s=pad, language="en")).text
                )
                cpu.append(time.process_time() - c0)
            key = f"{folder.name}/{window}{'' if window == 'full' else f'+{pad:g}s'}"
            figures = {
                "wer": round(wer(refs, hyps), 4),
                "cpu_s_p50": round(statistics.median(cpu), 3),
            }
            result[key] = figures
            print(f"{key:<32} {json.dumps(figures)}", flush=True)
    result["load_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
