"""make bench-translate: every offline language path this deployment offers, scored.

- offer: the caption languages a room spoken in English and one spoken in Vietnamese offer (the
  gateway's function, over the routes the real engines report), each checked by making one
  caption with the engine the route names; `offered_undeliverable` counts those that fail.
- text pairs: apertium en->es, en->ca, en->gl on meeting sentences (bench/translate/sets.py),
  chrF (sacrebleu) against reference translations written for this benchmark, ms per sentence.
- vi->en: Vietnamese meeting sentences voiced by espeak-ng at two speeds, through the STT's own
  engine as a room spoken in Vietnamese decodes them (Whisper base int8, full window): the
  transcript (WER against the Vietnamese text), then Whisper's speech translation, both judged by
  the decoder-evidence gate. `shown` / `withheld` count the translations; chrF scores every
  translation the model made, shown or not; `fabricated_shown` counts shown ones with a sentence
  chrF under 10.

Prints one line per item and, last, one JSON line. Timings on a shared machine are noisy.

  python -m bench.translate [--speeds 160,125] [--model base]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from faster_whisper import decode_audio
from parley_common.routes import Routes
from parley_gateway.settings import GatewaySettings
from parley_stt import gate
from parley_stt.engine import DecodeOptions, WhisperEngine
from parley_stt.settings import SttSettings
from parley_stt.speech_translate import engine_info, translate_options, verdict_on
from parley_testkit.wer import wer
from parley_translate.engines.apertium import ApertiumEngine
from sacrebleu.metrics import CHRF

from bench.translate.sets import EN, VI

CHRF_METRIC = CHRF()
FABRICATED_CHRF = 10.0


def chrf(hyps: list[str], refs: list[str]) -> float:
    return round(CHRF_METRIC.corpus_score(hyps, [refs]).score, 1) if hyps else 0.0


def text_pairs(apertium: ApertiumEngine) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    english = [en for en, _ in EN]
    for target in ("es", "ca", "gl"):
        if not apertium.supports("en", target):
            print(f"en-{target}: no apertium pair installed (apt-get install apertium-...)")
            continue
        apertium.translate(english[:1], "en", target)  # warm the pipeline
        hyps, times = [], []
        for text in english:
            t0 = time.perf_counter()
            [hyp] = apertium.translate([text], "en", target)
            times.append((time.perf_counter() - t0) * 1000)
            hyps.append(hyp)
        refs = [r[target] for _, r in EN]
        out[f"en-{target}"] = {"chrf": chrf(hyps, refs), "p50_ms": round(statistics.median(times), 1)}
        for text, hyp in zip(english, hyps, strict=True):
            print(f"en-{target}  {text!r} -> {hyp!r}")
    return out


def voice(text: str, speed: int, path: Path) -> Path:
    subprocess.run(["espeak-ng", "-v", "vi", "-s", str(speed), "-w", str(path), text], check=True)
    return path


def speech(
    engine: WhisperEngine, cfg: gate.GateConfig, speeds: list[int], tmp: Path
) -> tuple[dict[str, float], int]:
    vi_refs, vi_hyps, en_refs, en_hyps = [], [], [], []
    shown = withheld = fabricated = 0
    transcript_verdicts: dict[str, int] = {}
    for i, (vi, en) in enumerate(VI):
        for speed in speeds:
            audio = decode_audio(str(voice(vi, speed, tmp / f"vi{i}-{speed}.wav")))
            source = engine.transcribe(audio, DecodeOptions(window="full", language="vi"))
            src_verdict, src_why = gate.judge(source.evidence(), cfg)
            transcript_verdicts[src_verdict.value] = transcript_verdicts.get(src_verdict.value, 0) + 1
            vi_refs.append(vi)
            vi_hyps.append(source.text)
            result = engine.transcribe(audio, translate_options("vi"))
            verdict, why = verdict_on(result, src_why if src_verdict is gate.Verdict.UNCERTAIN else "", cfg)
            if src_verdict is gate.Verdict.WITHHOLD:
                verdict, why = gate.Verdict.WITHHOLD, "no transcript (withheld)"
            score = CHRF_METRIC.sentence_score(result.text, [en]).score
            en_refs.append(en)
            en_hyps.append(result.text)
            if verdict is gate.Verdict.SHOW:
                shown += 1
                fabricated += score < FABRICATED_CHRF
            else:
                withheld += 1
            print(
                f"vi-en {i:2d} speed {speed}: transcript {src_verdict.value:9s} {source.text!r} | "
                f"translation {verdict.value:8s} chrF {score:5.1f} {result.text!r} {why}"
            )
    print(f"vi transcripts by gate verdict: {transcript_verdicts}")
    result_line = {
        "chrf": chrf(en_hyps, en_refs),
        "wer_vi": round(wer(vi_refs, vi_hyps), 3),
        "shown": shown,
        "withheld": withheld,
    }
    return result_line, fabricated


def offered_undeliverable(routes: Routes, apertium: ApertiumEngine, engine: WhisperEngine, tmp: Path) -> int:
    """Offer languages as the gateway does; make one caption with each offered route's engine."""
    candidates = GatewaySettings().caption_languages
    bad = 0
    for spoken in ("en", "vi"):
        offer = routes.offer([spoken], candidates)
        print(f"room spoken in {spoken}: offers {offer.languages}; not {offer.unavailable}")
        for target in offer.languages:
            route = routes.route(spoken, target)
            ok = route.kind != "none"
            if route.engine == "apertium":
                [out] = apertium.translate([EN[0][0]], spoken, target)
                ok = bool(out) and out != EN[0][0]
            elif route.engine == "whisper-translate":
                audio = decode_audio(str(voice(VI[0][0], 160, tmp / "offer.wav")))
                engine.transcribe(audio, translate_options(spoken))
            bad += not ok
            print(f"  {spoken}->{target} via {route.engine}: {'delivered' if ok else 'NOT DELIVERED'}")
    return bad


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--speeds", default="160,125", help="espeak-ng words per minute, one run each")
    parser.add_argument("--model", default="base", help="Whisper model (PARLEY_STT_MODEL)")
    args = parser.parse_args()
    settings = SttSettings(model=args.model)
    cfg = settings.gate_config()
    apertium = ApertiumEngine()
    engine = WhisperEngine(settings)
    routes = Routes([apertium.info(), engine_info(args.model)])
    with tempfile.TemporaryDirectory(prefix="bench-translate-") as tmp:
        undeliverable = offered_undeliverable(routes, apertium, engine, Path(tmp))
        pairs = text_pairs(apertium)
        vi_en, fabricated = speech(engine, cfg, [int(s) for s in args.speeds.split(",")], Path(tmp))
    apertium.close()
    print(
        json.dumps(
            {
                "offered_undeliverable": undeliverable,
                "pairs": pairs,
                "vi-en": vi_en,
                "fabricated_shown": fabricated,
            }
        )
    )


if __name__ == "__main__":
    main()
