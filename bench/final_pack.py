"""Packed finals, offline: WER, encoder passes and CPU seconds of finals decoded one by one in the
stock 30 s window against the same clips decoded N at a time in one packed window
(WhisperEngine.transcribe_packed, as the STT worker does when finals wait for a replica), clips a
packed decode could not place decoded alone as the worker does. WER does not depend on the load.

  python bench/final_pack.py [--pack 2,3,4] [--gap 1.0] [--sets DIR[,DIR]]

Prints a line per (set, pack size) and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from parley_stt import engine as engine_module
from parley_stt.engine import DecodeOptions, WhisperEngine, pack_fits
from parley_stt.settings import SttSettings
from parley_testkit.wer import wer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from final_pad import SETS, labelled_sets

FULL = DecodeOptions(window="full", language="en")


def groups(lengths: list[float], size: int, shift: int) -> list[list[int]]:
    """Clip indices in packs of up to `size` that fit a window, in order from `shift` (rotating the
    order puts each clip at other places in its pack)."""
    order = [*range(len(lengths))][shift:] + [*range(len(lengths))][:shift]
    out: list[list[int]] = [[]]
    for i in order:
        if out[-1] and (len(out[-1]) >= size or not pack_fits([lengths[j] for j in [*out[-1], i]])):
            out.append([])
        out[-1].append(i)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pack", default="2,3,4")
    p.add_argument("--gap", type=float, default=engine_module.PACK_GAP_S)
    p.add_argument("--sets", default=SETS, help="comma-separated folders of WAVs + `transcription`")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    engine_module.PACK_GAP_S = args.gap
    engine = WhisperEngine(SttSettings(cpu_threads=args.threads, partial_model=""))
    engine.warm_up("full")
    passes: list[int] = []
    encode = engine.model.encode
    engine.model.encode = lambda features: (passes.append(1), encode(features))[1]  # type: ignore[method-assign]
    result: dict[str, object] = {"load_before": round(os.getloadavg()[0], 2), "gap_s": args.gap}
    for folder, names, clips, refs in labelled_sets(args.sets):
        lengths = [len(c) / 16000 for c in clips]
        passes.clear()
        c0 = time.process_time()
        alone = [engine.transcribe(c, FULL).text for c in clips]
        result[f"{folder.name}/alone"] = figures = {
            "wer": round(wer(refs, alone), 4),
            "cpu_s_per_clip": round((time.process_time() - c0) / len(clips), 3),
            "encoder_passes_per_clip": round(len(passes) / len(clips), 2),
        }
        print(f"{folder.name + '/alone':<28} {json.dumps(figures)}", flush=True)
        for size in (int(x) for x in args.pack.split(",")):
            for shift in range(2):
                passes.clear()
                hyps, placed_alone = [""] * len(clips), 0
                c0 = time.process_time()
                for pack in groups(lengths, size, shift):
                    got = (
                        engine.transcribe_packed([clips[i] for i in pack], FULL) if len(pack) > 1 else [None]
                    )
                    for i, t in zip(pack, got, strict=True):
                        if t is None:
                            placed_alone += len(pack) > 1
                            t = engine.transcribe(clips[i], FULL)
                        hyps[i] = t.text
                key = f"{folder.name}/pack{size}/order{shift}"
                result[key] = figures = {
                    "wer": round(wer(refs, hyps), 4),
                    "cpu_s_per_clip": round((time.process_time() - c0) / len(clips), 3),
                    "encoder_passes_per_clip": round(len(passes) / len(clips), 2),
                    "decoded_alone_after_packing": placed_alone,
                    "differs_from_alone": [n for n, a, b in zip(names, alone, hyps, strict=True) if a != b],
                }
                print(f"{key:<28} {json.dumps(figures)}", flush=True)
                for n, a, b in zip(names, alone, hyps, strict=True):
                    if a != b:
                        print(f"    {n}: alone {a!r}\n    {' ' * len(n)}  packed {b!r}")
    result["load_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
